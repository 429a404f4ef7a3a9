//! Property-based fuzzing of the prompts (proptest) with the real GPT-2 tokenizer
//! (static/gpt2-tokenizer.json): any unicode words and templates through Prompts::new never
//! panic; every prompt has tokens; a word flagged single_token is one token; what the editor
//! shows (token_strings) has one string per id. Cases: PROPTEST_CASES (default 256).

use std::sync::LazyLock;

use proptest::prelude::*;
use qk_lens::experiment::{Category, Experiment};
use qk_lens::model::{Gpt2Tokenizer, Prompts};

fn config(cases: u32) -> ProptestConfig {
    crate::fuzz_common::config(cases, "proptest-regressions/fuzz_tokenizer.txt")
}

static TOKENIZER: LazyLock<Gpt2Tokenizer> = LazyLock::new(|| {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static/gpt2-tokenizer.json");
    Gpt2Tokenizer::from_bytes(&std::fs::read(path).unwrap()).unwrap()
});

/// Words of any script, marks, emoji, control and bidi characters, spaces inside, digits.
fn word() -> BoxedStrategy<String> {
    prop_oneof![
        "[a-z]{1,12}",
        " ?[A-Za-z]{1,10}",
        "\\PC{1,12}",
        ".{1,6}",
        "[\u{300}-\u{36f}\u{200b}-\u{200f}\u{202a}-\u{202e}\u{feff}a]{1,6}",
        "[\u{1f300}-\u{1faff}\u{4e00}-\u{4e50}\u{0600}-\u{0650}]{1,4}",
        "[0-9]{1,8}",
        "\\s*[a-z]+\\s+[a-z]+\\s*",
        proptest::sample::select(vec!["galaxy", "watermelon", "<|endoftext|>", "{word}", "'s", "\u{0}", "\r\n"])
            .prop_map(String::from),
    ]
    .boxed()
}

fn template() -> impl Strategy<Value = String> {
    let side = prop_oneof![
        Just(String::new()),
        Just("The next word is ".to_string()),
        Just("The next word is".to_string()),
        "\\PC{0,10}",
        "[a-z ]{0,10}",
    ];
    (side.clone(), side).prop_map(|(a, b)| format!("{a}{{word}}{b}"))
}

/// An experiment of `words` (distinct, non-blank, as validation wants) in two categories.
fn experiment(template: String, words: Vec<String>) -> Option<Experiment> {
    let mut seen = std::collections::HashSet::new();
    let words: Vec<String> = words
        .into_iter()
        .filter(|w| !w.trim().is_empty() && seen.insert(w.clone()))
        .collect();
    let half = words.len() / 2;
    let e = Experiment {
        model: "fixture".into(),
        layer: 0,
        template,
        categories: vec![
            Category {
                name: "a".into(),
                words: words[..half].to_vec(),
            },
            Category {
                name: "b".into(),
                words: words[half..].to_vec(),
            },
        ],
    };
    e.validate().is_ok().then_some(e)
}

fn check_prompts(e: &Experiment) -> Result<(), TestCaseError> {
    let prompts = Prompts::new(e, &*TOKENIZER).map_err(|err| TestCaseError::fail(format!("{err}")))?;
    prop_assert_eq!(prompts.items.len(), e.words().count());
    prop_assert_eq!(&prompts.labels, &e.labels());
    for (p, (_, w)) in prompts.items.iter().zip(e.words()) {
        prop_assert_eq!(&p.word, w);
        prop_assert_eq!(&p.prompt, &e.prompt(w));
        prop_assert!(!p.token_ids.is_empty(), "{:?} has no tokens", p.prompt);
        prop_assert!(!p.word_token_ids.is_empty(), "{:?}: the word has no tokens", p.word);
        if p.single_token {
            prop_assert_eq!(p.word_token_ids.len(), 1, "{:?}", p);
            prop_assert!(p.token_ids.contains(&p.word_token_ids[0]), "{:?}", p);
        }
        prop_assert_eq!(TOKENIZER.token_strings(&p.token_ids).len(), p.token_ids.len());
    }
    prop_assert!(prompts.max_len() >= 1);
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    /// The lecture's template with any words.
    #[test]
    fn any_words_lecture_template(words in proptest::collection::vec(word(), 2..8)) {
        if let Some(e) = experiment("The next word is {word}".into(), words) {
            check_prompts(&e)?;
        }
    }

    /// Any template around {word} (text before, after, none), any words.
    #[test]
    fn any_words_any_template(t in template(), words in proptest::collection::vec(word(), 2..6)) {
        if let Some(e) = experiment(t, words) {
            check_prompts(&e)?;
        }
    }

    /// Prompts::new is public: an experiment that skipped validation (no placeholder, blank or
    /// duplicate words, no categories) is an error or a result, never a panic.
    #[test]
    fn unvalidated_experiments(t in "\\PC{0,12}", words in proptest::collection::vec("\\PC{0,4}", 0..4)) {
        let e = Experiment {
            model: String::new(),
            layer: 0,
            template: t,
            categories: vec![Category { name: String::new(), words }],
        };
        let _ = Prompts::new(&e, &*TOKENIZER);
    }

    /// Tokenizer files that are not one: an error, not a panic.
    #[test]
    fn tokenizer_json_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..256), keep in 0..4096usize) {
        prop_assert!(Gpt2Tokenizer::from_bytes(&bytes).is_err());
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static/gpt2-tokenizer.json");
        let real = std::fs::read(path).unwrap();
        prop_assert!(Gpt2Tokenizer::from_bytes(&real[..keep]).is_err(), "a cut tokenizer.json loaded");
    }
}

/// Known cases: "watermelon" is two tokens (" water" + "melon"), " galaxy" is one.
#[test]
fn known_words() {
    let e = experiment("The next word is {word}".into(), vec!["galaxy".into(), "watermelon".into()]).unwrap();
    let p = Prompts::new(&e, &*TOKENIZER).unwrap();
    assert!(p.items[0].single_token && p.items[0].word_token_ids.len() == 1);
    assert!(!p.items[1].single_token && p.items[1].word_token_ids.len() == 2);
}

// ---------- regressions: inputs the fuzzing found (each panicked before its fix) ----------

/// Prompts::new sliced the template 6 bytes past a placeholder it did not have.
#[test]
fn regression_template_without_placeholder() {
    for template in ["🟰0", "", "The next word is"] {
        let e = Experiment {
            model: String::new(),
            layer: 0,
            template: template.into(),
            categories: vec![Category {
                name: "a".into(),
                words: vec!["x".into(), "y".into()],
            }],
        };
        let err = Prompts::new(&e, &*TOKENIZER).expect_err("refused").to_string();
        assert_eq!(err, format!("experiment: template {template:?} has no {{word}} placeholder"));
    }
}

/// tokenizers panics (`expect("Helper")`) on a tokenizer.json cut inside its "decoder".
#[test]
fn regression_tokenizer_json_cut_in_the_decoder() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static/gpt2-tokenizer.json");
    let real = std::fs::read(path).unwrap();
    let decoder = real
        .windows(10)
        .position(|w| w == b"\"decoder\":")
        .expect("a decoder section");
    let err = Gpt2Tokenizer::from_bytes(&real[..decoder + 20])
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.starts_with("tokenizer: cannot load tokenizer.json: invalid JSON: EOF while parsing"),
        "{err}"
    );
}

/// The same `expect("Helper")` on valid JSON whose "decoder" is nested past serde_json's limit.
#[test]
fn regression_tokenizer_json_with_a_deep_decoder() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static/gpt2-tokenizer.json");
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let deep: serde_json::Value = serde_json::from_str(&format!("{}{}", "[".repeat(127), "]".repeat(127))).unwrap();
    json["decoder"] = deep;
    let err = Gpt2Tokenizer::from_bytes(json.to_string().as_bytes())
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("recursion limit exceeded"), "{err}");
}

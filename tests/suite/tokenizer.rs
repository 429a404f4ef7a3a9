//! The real GPT-2 tokenizer through qk_lens::model: prompts, token ids and single_token, with
//! expectations from the fixture README, the PyTorch goldens and the vocabulary table itself.

use crate::common::*;
use qk_lens::model::{Gpt2Tokenizer, Prompts};
use qk_lens::{Category, Experiment};
use serde_json::Value;

const PREFIX: [u32; 4] = [464, 1306, 1573, 318]; // "The", " next", " word", " is"

fn fixture_tokenizer_bytes() -> Vec<u8> {
    read(&model_dir("tiny-gpt2-hub").join("tokenizer.json"))
}

fn static_tokenizer_bytes() -> Vec<u8> {
    read(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static/gpt2-tokenizer.json"))
}

fn tokenizer() -> Gpt2Tokenizer {
    Gpt2Tokenizer::from_bytes(&fixture_tokenizer_bytes()).unwrap()
}

/// The BPE vocabulary straight from tokenizer.json (byte-level: "Ġ" is a leading space).
fn vocab() -> Value {
    let json: Value = serde_json::from_slice(&fixture_tokenizer_bytes()).unwrap();
    json["model"]["vocab"].clone()
}

fn vocab_id(v: &Value, token: &str) -> Option<u32> {
    v.get(token).and_then(Value::as_u64).map(|id| id as u32)
}

fn experiment(template: &str, categories: &[(&str, &[&str])]) -> Experiment {
    Experiment {
        model: "fixture".into(),
        layer: 1,
        template: template.into(),
        categories: categories
            .iter()
            .map(|(name, words)| Category {
                name: name.to_string(),
                words: words.iter().map(|w| w.to_string()).collect(),
            })
            .collect(),
    }
}

#[test]
fn bundled_tokenizer_is_byte_identical_to_fixture() {
    assert!(
        fixture_tokenizer_bytes() == static_tokenizer_bytes(),
        "static/gpt2-tokenizer.json differs from the fixture's tokenizer.json"
    );
}

#[test]
fn galaxy_prompt_ids() {
    for bytes in [fixture_tokenizer_bytes(), static_tokenizer_bytes()] {
        let tok = Gpt2Tokenizer::from_bytes(&bytes).unwrap();
        assert_eq!(
            tok.encode("The next word is galaxy").unwrap(),
            vec![464, 1306, 1573, 318, 16161]
        );
    }
    assert_eq!(
        tokenizer().token_strings(&[464, 16161]),
        vec!["The".to_string(), "Ġgalaxy".to_string()]
    );
}

#[test]
fn lecture_words_are_single_tokens_after_the_prefix() {
    let exp = Experiment::lecture();
    let prompts = Prompts::new(&exp, &tokenizer()).unwrap();
    let v = vocab();
    assert_eq!(prompts.items.len(), 34);
    assert_eq!(prompts.labels, [vec![0; 10], vec![1; 13], vec![2; 11]].concat());
    for p in &prompts.items {
        assert_eq!(p.prompt, format!("The next word is {}", p.word));
        assert_eq!(p.token_ids.len(), 5, "{}: {:?}", p.word, p.token_ids);
        assert_eq!(p.token_ids[..4], PREFIX, "{}", p.word);
        // The last id is the vocabulary's entry for " word".
        assert_eq!(Some(p.token_ids[4]), vocab_id(&v, &format!("Ġ{}", p.word)), "{}", p.word);
        assert!(p.single_token, "{} is one token", p.word);
    }
    assert!(prompts.multi_token_words().is_empty());
    assert_eq!(prompts.max_len(), 5);
    // And the same ids as the PyTorch oracle's tokenizer, word for word.
    let g = golden("tiny-gpt2-hub.L1");
    let words: Vec<String> = serde_json::from_value(g["words"].clone()).unwrap();
    let ids: Vec<Vec<u32>> = serde_json::from_value(g["token_ids"].clone()).unwrap();
    assert_eq!(prompts.items.iter().map(|p| p.word.clone()).collect::<Vec<_>>(), words);
    assert_eq!(prompts.token_ids(), ids);
}

#[test]
fn multi_token_words_are_flagged() {
    let exp = experiment(
        "The next word is {word}",
        &[("fruit", &["pear", "watermelon", "pomegranate"])],
    );
    let prompts = Prompts::new(&exp, &tokenizer()).unwrap();
    let want: [(&str, &[u32], bool); 3] = [
        ("pear", &[25286], true),
        ("watermelon", &[1660, 45690], false),
        ("pomegranate", &[279, 462, 46324, 378], false),
    ];
    for (p, (word, tail, single)) in prompts.items.iter().zip(want) {
        assert_eq!(p.word, word);
        assert_eq!(p.token_ids, [&PREFIX[..], tail].concat(), "{word}");
        assert_eq!(p.single_token, single, "{word}");
    }
    let multi: Vec<&str> = prompts.multi_token_words().iter().map(|p| p.word.as_str()).collect();
    assert_eq!(multi, vec!["watermelon", "pomegranate"]);
    assert_eq!(prompts.max_len(), 8);
}

/// The mixed golden (4 categories, 5- to 8-token prompts): ids equal the oracle's, and
/// single_token holds exactly for the 5-token prompts.
#[test]
fn mixed_golden_ids_and_single_token() {
    let g = golden("tiny-gpt2-hub.mixed.L2");
    let exp = experiment_of(&g);
    let prompts = Prompts::new(&exp, &tokenizer()).unwrap();
    let ids: Vec<Vec<u32>> = serde_json::from_value(g["token_ids"].clone()).unwrap();
    assert_eq!(prompts.token_ids(), ids);
    for p in &prompts.items {
        assert_eq!(p.single_token, p.token_ids.len() == 5, "{}: {:?}", p.word, p.token_ids);
    }
    let multi: Vec<&str> = prompts.multi_token_words().iter().map(|p| p.word.as_str()).collect();
    assert_eq!(
        multi,
        vec![
            "supernova",
            "chandelier",
            "watermelon",
            "pomegranate",
            "screwdriver",
            "chisel"
        ]
    );
}

#[test]
fn template_without_space_before_word() {
    let v = vocab();
    // The independent premise: "moon" is a vocabulary entry without a leading space, "galaxy" is
    // not (only "Ġgalaxy" is), so after ":" moon is one token and galaxy is several.
    assert_eq!(vocab_id(&v, "moon"), Some(22977));
    assert_eq!(vocab_id(&v, "Ġgalaxy"), Some(16161));
    assert_eq!(vocab_id(&v, "galaxy"), None);
    let (word, colon) = (vocab_id(&v, "word").unwrap(), vocab_id(&v, ":").unwrap());

    let exp = experiment("word:{word}", &[("space", &["moon", "galaxy"])]);
    assert!(!exp.word_follows_space());
    let prompts = Prompts::new(&exp, &tokenizer()).unwrap();
    let (moon, galaxy) = (&prompts.items[0], &prompts.items[1]);
    assert_eq!(moon.prompt, "word:moon");
    assert_eq!(moon.token_ids, vec![word, colon, 22977]);
    assert!(moon.single_token, "moon after ':' is one token");
    assert_eq!(galaxy.token_ids[..2], [word, colon]);
    assert!(
        galaxy.token_ids.len() > 3,
        "galaxy after ':' is split: {:?}",
        galaxy.token_ids
    );
    assert!(!galaxy.single_token, "galaxy after ':' is not one token (' galaxy' would be)");

    // The same words after "word: " are the space-prefixed tokens.
    let exp = experiment("word: {word}", &[("space", &["moon", "galaxy"])]);
    assert!(exp.word_follows_space());
    let prompts = Prompts::new(&exp, &tokenizer()).unwrap();
    assert_eq!(prompts.items[0].token_ids, vec![word, colon, 8824]);
    assert_eq!(prompts.items[1].token_ids, vec![word, colon, 16161]);
    assert!(prompts.items.iter().all(|p| p.single_token));

    // Word first: "moon is next" starts with the unspaced token.
    let exp = experiment("{word} is next", &[("space", &["moon", "galaxy"])]);
    let prompts = Prompts::new(&exp, &tokenizer()).unwrap();
    assert_eq!(prompts.items[0].token_ids[0], 22977);
    assert!(prompts.items[0].single_token);
    assert!(!prompts.items[1].single_token);
}

/// single_token promises "the word is one GPT-2 token where it stands in the template", but it is
/// decided by encoding the word alone. When the template glues letters to the word, the prompt
/// contains no token for the word at all: "The next word is un{word}" encodes "moon" as
/// " unm" + "oon", and "The next word is {word}s" as " moons"; yet single_token is true.
#[test]

fn single_token_means_the_word_is_a_token_of_the_prompt() {
    let v = vocab();
    let (moon, space_moon) = (vocab_id(&v, "moon").unwrap(), vocab_id(&v, "Ġmoon").unwrap());
    for template in [
        "The next word is {word}",
        "word:{word}",
        "The next word is un{word}",
        "The next word is {word}s",
    ] {
        let exp = experiment(template, &[("space", &["moon", "star"])]);
        let p = &Prompts::new(&exp, &tokenizer()).unwrap().items[0];
        let has_word_token = p.token_ids.contains(&moon) || p.token_ids.contains(&space_moon);
        assert_eq!(
            p.single_token, has_word_token,
            "{template:?}: ids {:?}, single_token {}",
            p.token_ids, p.single_token
        );
    }
}

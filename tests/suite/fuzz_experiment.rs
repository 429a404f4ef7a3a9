//! Property-based fuzzing of the experiment JSON (what files, imports and share links' `?exp=`
//! carry): arbitrary JSON values and strings into Experiment::from_json never panic and fail with
//! one line; valid experiments round-trip through to_json_pretty / from_json unchanged; hostile
//! names (HTML, script, quotes, control and bidi characters) are kept verbatim as data; huge
//! inputs are answered quickly. Cases: PROPTEST_CASES (default 256).

use std::time::{Duration, Instant};

use proptest::prelude::*;
use qk_lens::experiment::{model_base_url, parse_words, Category, Experiment};
use qk_lens::Error;
use serde_json::{json, Value};

fn config(cases: u32) -> ProptestConfig {
    crate::fuzz_common::config(cases, "proptest-regressions/fuzz_experiment.txt")
}

/// Strings a class or an attacker might type: markup, quotes, escapes, bidi and control
/// characters, emoji, the placeholder itself, and any printable text.
fn hostile_text() -> BoxedStrategy<String> {
    let fixed = proptest::sample::select(vec![
        "<script>alert(1)</script>",
        "</script><script>alert(document.cookie)</script>",
        "<img src=x onerror=alert(1)>",
        "\"quoted\" and 'single'",
        "back\\slash",
        "{word}",
        "{{word}}",
        "\u{202e}gnp.exe",
        "zero\u{200b}width",
        "e\u{301}",
        "🍐🍇",
        "line\nbreak",
        "tab\there",
        "nul\u{0}byte",
        "&amp;&lt;&gt;",
        "javascript:alert(1)",
        "%22%3E%3Cscript%3E",
        "ﷺ",
        "\u{feff}bom",
    ]);
    prop_oneof![fixed.prop_map(String::from), "\\PC{1,16}", ".{1,8}", "[a-z]{1,10}"].boxed()
}

/// Any JSON value, with the experiment's keys likely so that deep parts of it are reached.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        hostile_text().prop_map(Value::from),
    ];
    let key = prop_oneof![
        proptest::sample::select(vec!["model", "layer", "template", "categories", "name", "words"]).prop_map(String::from),
        hostile_text(),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid experiment: 1-5 categories of 1-6 distinct words, hostile names and templates.
fn valid_experiment() -> impl Strategy<Value = Experiment> {
    let category = (hostile_text(), proptest::collection::vec(hostile_text(), 1..6));
    (
        hostile_text(),
        any::<u32>(),
        hostile_text(),
        hostile_text(),
        proptest::collection::vec(category, 1..5),
    )
        .prop_map(|(model, layer, before, after, cats)| {
            let mut seen = std::collections::HashSet::new();
            let categories = cats
                .into_iter()
                .enumerate()
                .map(|(i, (name, words))| Category {
                    name: format!("{name}#{i}"),
                    words: words
                        .into_iter()
                        .enumerate()
                        .map(|(j, w)| format!("{w}{i}.{j}"))
                        .filter(|w| seen.insert(w.clone()))
                        .collect(),
                })
                .collect::<Vec<_>>();
            let mut e = Experiment {
                model,
                layer: layer as usize,
                template: format!("{before}{{word}}{after}"),
                categories,
            };
            if e.words().count() < 2 {
                e.categories[0].words.push("spare word".into());
            }
            e
        })
}

/// Every failure is an experiment error on one line (the CLI prints one `error: ` line).
fn check_parse(text: &str) -> Result<Option<Experiment>, TestCaseError> {
    match Experiment::from_json(text) {
        Ok(e) => {
            prop_assert!(e.validate().is_ok());
            let again = Experiment::from_json(&e.to_json_pretty()).ok();
            prop_assert_eq!(again.as_ref(), Some(&e), "round trip");
            Ok(Some(e))
        }
        Err(Error::Experiment(msg)) => {
            prop_assert!(!msg.contains('\n') && !msg.contains('\r'), "two lines: {msg:?}");
            Ok(None)
        }
        Err(other) => Err(TestCaseError::fail(format!("not an experiment error: {other}"))),
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_json_values(v in any_json()) {
        check_parse(&v.to_string())?;
    }

    #[test]
    fn arbitrary_strings(s in "\\PC{0,64}|.{0,64}", bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        check_parse(&s)?;
        check_parse(&String::from_utf8_lossy(&bytes))?;
    }

    /// A valid experiment with one field replaced by any value, or broken into a prefix.
    #[test]
    fn damaged_experiments(e in valid_experiment(), path in 0..7usize, v in any_json(), cut in any::<usize>()) {
        let mut j = serde_json::to_value(&e).unwrap();
        match path {
            0 => j["layer"] = v,
            1 => j["template"] = v,
            2 => j["categories"] = v,
            3 => j["categories"][0]["words"] = v,
            4 => j["categories"][0]["name"] = v,
            5 => j["categories"][0]["words"][0] = v,
            _ => j["model"] = v,
        }
        let text = j.to_string();
        check_parse(&text)?;
        let cut = cut % (text.len() + 1);
        if text.is_char_boundary(cut) {
            check_parse(&text[..cut])?;
        }
    }

    /// Valid experiments survive export and import (files, share links) exactly, hostile names
    /// and words included: they stay data, neither escaped nor stripped.
    #[test]
    fn round_trip_keeps_hostile_text_verbatim(e in valid_experiment()) {
        prop_assert!(e.validate().is_ok(), "{:?}", e.validate());
        let text = e.to_json_pretty();
        let back = check_parse(&text)?;
        prop_assert_eq!(back.as_ref(), Some(&e));
        let raw: Value = serde_json::from_str(&text).unwrap();
        for (c, cat) in e.categories.iter().enumerate() {
            prop_assert_eq!(raw["categories"][c]["name"].as_str(), Some(cat.name.as_str()));
        }
        prop_assert_eq!(e.words().count(), e.labels().len());
        // The prompt is the template with every placeholder (the hostile `before` and `after`
        // may hold more) replaced by the word, verbatim: nothing added, dropped, trimmed or
        // escaped. Built here without str::replace, so a builder that appends the word, replaces
        // only the first placeholder or alters the word fails.
        let pieces: Vec<&str> = e.template.split(qk_lens::experiment::WORD_PLACEHOLDER).collect();
        prop_assert!(pieces.len() >= 2, "the template holds the placeholder");
        for (_, w) in e.words() {
            let mut want = String::from(pieces[0]);
            for piece in &pieces[1..] {
                want.push_str(w);
                want.push_str(piece);
            }
            let got = e.prompt(w);
            prop_assert_eq!(&got, &want, "prompt of {:?} in {:?}", w, &e.template);
            prop_assert!(got.starts_with(pieces[0]) && got.ends_with(pieces[pieces.len() - 1]));
        }
    }

    #[test]
    fn word_lists_and_model_locations(text in "\\PC{0,80}|[a-z, \\n]{0,40}") {
        for w in parse_words(&text) {
            prop_assert!(!w.is_empty() && w == w.trim() && !w.contains(',') && !w.contains('\n'));
        }
        prop_assert!(model_base_url(&text).ends_with('/'));
    }
}

fn experiment_json(words_per_category: usize, categories: usize) -> String {
    let cats: Vec<Value> = (0..categories)
        .map(|c| json!({"name": format!("c{c}"), "words": (0..words_per_category).map(|w| format!("w{c}x{w}")).collect::<Vec<_>>()}))
        .collect();
    json!({"layer": 1, "categories": cats}).to_string()
}

/// Slow parsing of a pasted or linked experiment freezes the page: huge inputs must be quick.
#[test]
fn huge_experiments_are_quick() {
    for (n, cats) in [(600, 2), (50_000, 2), (1, 20_000)] {
        let text = experiment_json(n, cats);
        let t = Instant::now();
        let e = Experiment::from_json(&text).unwrap();
        let took = t.elapsed();
        assert_eq!(e.words().count(), n * cats);
        assert!(took < Duration::from_secs(2), "{} words: {took:?}", n * cats);
    }
    // One duplicate at the very end of 100 000 words is still found, and quickly.
    let mut e = Experiment::from_json(&experiment_json(50_000, 2)).unwrap();
    e.categories[1].words.push("w0x0".into());
    let t = Instant::now();
    let err = e.validate().unwrap_err().to_string();
    assert!(err.contains(r#"word "w0x0" appears twice (in "c0" and "c1")"#), "{err}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // 8 MB of name and 100 000-deep nesting.
    let big = json!({"categories": [{"name": "n".repeat(8 << 20), "words": ["a", "b"]}]}).to_string();
    assert_eq!(Experiment::from_json(&big).unwrap().categories[0].name.len(), 8 << 20);
    let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let words = r#""categories": [{"name": "a", "words": ["x", "y"]}]"#;
    // Deep where a value is expected fails at the first wrong type; under a key that is ignored
    // (newer files' fields) it is skipped without recursion, so no stack overflows either way.
    let err = Experiment::from_json(&nest(100_000)).unwrap_err().to_string();
    assert!(err.starts_with("experiment: invalid JSON: invalid type: sequence"), "{err}");
    let err = Experiment::from_json(&format!("{{\"categories\": {}}}", nest(100_000)))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("experiment: invalid JSON: invalid type: sequence"), "{err}");
    let ignored = format!("{{\"future\": {}, {words}}}", nest(1_000_000));
    assert_eq!(Experiment::from_json(&ignored).unwrap().words().count(), 2);
}

#[test]
fn wrong_types_name_the_field() {
    let cases = [
        (
            r#"{"layer": "5", "categories": []}"#,
            "invalid type: string \"5\", expected usize",
        ),
        (
            r#"{"layer": -1, "categories": []}"#,
            "invalid value: integer `-1`, expected usize",
        ),
        (
            r#"{"layer": 1.5, "categories": []}"#,
            "invalid type: floating point `1.5`, expected usize",
        ),
        (r#"{"categories": {"a": ["x"]}}"#, "invalid type: map, expected a sequence"),
        (
            r#"{"categories": [{"name": "a", "words": "x y"}]}"#,
            "invalid type: string \"x y\", expected a sequence",
        ),
        (
            r#"{"categories": [{"name": 7, "words": ["x", "y"]}]}"#,
            "invalid type: integer `7`, expected a string",
        ),
        (r#"{"categories": [{"words": ["x", "y"]}]}"#, "missing field `name`"),
        // serde also reads a struct from an array of its fields in order; too short is an error.
        ("[]", "invalid length 3, expected struct Experiment with 4 elements"),
        ("", "EOF while parsing a value"),
    ];
    for (json, needle) in cases {
        let err = Experiment::from_json(json).unwrap_err().to_string();
        assert!(
            err.starts_with("experiment: invalid JSON: ") && err.contains(needle),
            "{json}: {err}"
        );
    }
}

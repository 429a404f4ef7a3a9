//! The experiment JSON: defaults, validation rules, round trip, model locations.

use qk_lens::experiment::{model_base_url, Experiment};
use qk_lens::Error;

#[test]
fn lecture_experiment_is_the_notebooks() {
    let e = Experiment::lecture();
    assert_eq!(e.model, "openai-community/gpt2-medium");
    assert_eq!(e.layer, 5);
    assert_eq!(e.template, "The next word is {word}");
    let sizes: Vec<(String, usize)> = e.categories.iter().map(|c| (c.name.clone(), c.words.len())).collect();
    assert_eq!(
        sizes,
        vec![("space".into(), 10), ("interior".into(), 13), ("fruit".into(), 11)]
    );
    assert_eq!(e.categories[0].words[0], "galaxy");
    assert_eq!(e.categories[2].words[10], "fruit");
    e.validate().unwrap();
}

#[test]
fn json_round_trip_and_defaults() {
    let e = Experiment::lecture();
    assert_eq!(Experiment::from_json(&e.to_json_pretty()).unwrap(), e);
    // Only categories are required; the rest defaults to the lecture's.
    let minimal = Experiment::from_json(r#"{"categories":[{"name":"a","words":["x","y"]}]}"#).unwrap();
    assert_eq!(
        (minimal.model.as_str(), minimal.layer, minimal.template.as_str()),
        ("openai-community/gpt2-medium", 5, "The next word is {word}")
    );
    // Unknown keys are ignored, so newer experiment files still load.
    Experiment::from_json(r#"{"categories":[{"name":"a","words":["x","y"]}],"future":1}"#).unwrap();
}

fn rejects(json: &str, needle: &str) {
    match Experiment::from_json(json) {
        Err(Error::Experiment(msg)) => assert!(msg.contains(needle), "{msg:?} should mention {needle:?}"),
        other => panic!("{json}: expected an experiment error, got {other:?}"),
    }
}

#[test]
fn validation_rules() {
    rejects(
        r#"{"template":"no placeholder","categories":[{"name":"a","words":["x","y"]}]}"#,
        "{word}",
    );
    rejects(r#"{"categories":[]}"#, "no categories");
    rejects(
        r#"{"categories":[{"name":"a","words":["x","y"]},{"name":"b","words":[]}]}"#,
        "\"b\" has no words",
    );
    rejects(r#"{"categories":[{"name":" ","words":["x","y"]}]}"#, "empty name");
    rejects(
        r#"{"categories":[{"name":"a","words":["x"]},{"name":"a","words":["y"]}]}"#,
        "used twice",
    );
    rejects(r#"{"categories":[{"name":"a","words":["x","  "]}]}"#, "empty word");
    rejects(
        r#"{"categories":[{"name":"a","words":["x"]},{"name":"b","words":["x"]}]}"#,
        "appears twice",
    );
    rejects(r#"{"categories":[{"name":"a","words":["x"]}]}"#, "at least two words");
    rejects(
        r#"{"layer":-1,"categories":[{"name":"a","words":["x","y"]}]}"#,
        "invalid JSON",
    );
    rejects(r#"{"categories":[{"name":"a","words":"x y"}]}"#, "invalid JSON");
    rejects("not json", "invalid JSON");
}

#[test]
fn model_locations() {
    assert_eq!(
        model_base_url("openai-community/gpt2-medium"),
        "https://huggingface.co/openai-community/gpt2-medium/resolve/main/"
    );
    assert_eq!(
        model_base_url("distilbert/distilgpt2"),
        "https://huggingface.co/distilbert/distilgpt2/resolve/main/"
    );
    assert_eq!(model_base_url("/models/tiny"), "/models/tiny/");
    assert_eq!(model_base_url("./models/tiny/"), "./models/tiny/");
    assert_eq!(model_base_url("http://127.0.0.1:8000/m"), "http://127.0.0.1:8000/m/");
}

#[test]
fn words_typed_as_text() {
    use qk_lens::experiment::parse_words;
    assert_eq!(parse_words("galaxy, comet,\n moon ,,"), vec!["galaxy", "comet", "moon"]);
    assert_eq!(
        parse_words("ice cream, jam"),
        vec!["ice cream", "jam"],
        "a word may hold a space"
    );
    assert!(parse_words(" , \n").is_empty());
}

#[test]
fn presets_cover_every_gpt2_size() {
    use qk_lens::presets::{human_bytes, preset, PRESETS};
    let repos: Vec<&str> = PRESETS.iter().map(|p| p.repo).collect();
    for repo in [
        "openai-community/gpt2",
        "openai-community/gpt2-medium",
        "openai-community/gpt2-large",
        "openai-community/gpt2-xl",
        "distilbert/distilgpt2",
    ] {
        assert!(repos.contains(&repo), "{repo}");
    }
    assert_eq!(preset("openai-community/gpt2-medium").unwrap().n_layer, 24);
    assert_eq!(human_bytes(1_520_000_000), "1.52 GB");
    assert_eq!(human_bytes(548_000_000), "548 MB");
}

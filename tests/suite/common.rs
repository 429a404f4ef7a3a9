//! Shared helpers for the native tests: fixture paths, golden files, tolerances.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use qk_lens::run::{run_local, LocalModel, Prepared};
use qk_lens::{Category, Experiment, RunResult};
use serde_json::Value;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn model_dir(name: &str) -> PathBuf {
    fixtures().join("models").join(name)
}

pub fn golden(name: &str) -> Value {
    let path = fixtures().join("golden").join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The experiment a golden file describes: its words, categories, template and layer.
pub fn experiment_of(g: &Value) -> Experiment {
    let words: Vec<String> = serde_json::from_value(g["words"].clone()).unwrap();
    let labels: Vec<usize> = serde_json::from_value(g["labels"].clone()).unwrap();
    let names: Vec<String> = match g.get("category_names") {
        Some(v) if !v.is_null() => serde_json::from_value(v.clone()).unwrap(),
        _ => vec!["space".into(), "interior".into(), "fruit".into()],
    };
    let categories = names
        .iter()
        .enumerate()
        .map(|(c, name)| Category {
            name: name.clone(),
            words: words
                .iter()
                .zip(&labels)
                .filter(|(_, &l)| l == c + 1)
                .map(|(w, _)| w.clone())
                .collect(),
        })
        .collect();
    let template = g["prompt_template"]
        .as_str()
        .unwrap_or("The next word is {}")
        .replace("{}", "{word}");
    Experiment {
        model: "fixture".into(),
        layer: g["layer"].as_u64().unwrap() as usize,
        template,
        categories,
    }
}

pub fn run_model(model: &str, experiment: &Experiment) -> qk_lens::Result<RunResult> {
    let dir = model_dir(model);
    let (config, tokenizer, weights) = (
        read(&dir.join("config.json")),
        read(&dir.join("tokenizer.json")),
        read(&dir.join("model.safetensors")),
    );
    run_local(
        experiment,
        None,
        &LocalModel {
            config: &config,
            tokenizer: &tokenizer,
            weights: &weights,
            threads: 1,
        },
    )
}

pub fn f64s(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

pub fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(f64s).collect()
}

pub fn opt_f64s(v: &Value) -> Vec<Option<f64>> {
    v.as_array().unwrap().iter().map(|x| x.as_f64()).collect()
}

pub fn assert_close(what: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want} (|diff| {} > {tol})",
        (got - want).abs()
    );
}

/// Vectors equal within `rel` of the largest magnitude in the golden vectors.
pub fn assert_vectors_close(what: &str, got: &[Vec<f32>], want: &[Vec<f64>], rel: f64) {
    assert_eq!(got.len(), want.len(), "{what}: row count");
    let scale = want.iter().flatten().fold(0.0f64, |m, x| m.max(x.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.len(), w.len(), "{what}[{i}]: length");
        for (j, (a, b)) in g.iter().zip(w).enumerate() {
            assert!((*a as f64 - b).abs() <= rel * scale, "{what}[{i}][{j}]: got {a}, want {b}");
        }
    }
}

pub fn assert_matrix_close(what: &str, got: &[Vec<f64>], want: &[Vec<f64>], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: size");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.len(), w.len(), "{what}[{i}]: row length");
        for (j, (a, b)) in g.iter().zip(w).enumerate() {
            assert_close(&format!("{what}[{i}][{j}]"), *a, *b, tol);
        }
    }
}

/// A run with the options beyond the lecture, by the run's own stages (prepare, load, forward,
/// analyse); also returns the captures (every layer's for a sweep).
#[allow(dead_code)]
pub fn run_with_options(
    model: &str,
    experiment: &Experiment,
    options: &qk_lens::analysis::report::ExtendedOptions,
) -> (RunResult, Vec<qk_lens::model::Capture>) {
    use qk_lens::model::plan::{Header, WholeFile};
    use qk_lens::model::shard::{Alone, Shard};
    let dir = model_dir(model);
    let prepared = prepare(&dir, experiment, Some(options));
    let plan = prepared.forward_plan();
    let file = read(&dir.join("model.safetensors"));
    let header = Header::from_file(&file).unwrap();
    let weights = plan.load(&header, &WholeFile(&file), Shard::WHOLE).unwrap();
    let captures =
        qk_lens::model::capture_blocking(&weights, &plan.config, plan.top_layer, &plan.prompts, plan.taps, &mut Alone).unwrap();
    (qk_lens::run::analyse(&prepared, &captures).unwrap(), captures)
}

/// The run before the weights: the model folder's config and tokenizer with `experiment`.
pub fn prepare(dir: &Path, experiment: &Experiment, options: Option<&qk_lens::analysis::report::ExtendedOptions>) -> Prepared {
    let config = qk_lens::model::Gpt2Config::from_json(&read(&dir.join("config.json"))).unwrap();
    let tokenizer = qk_lens::model::Gpt2Tokenizer::from_bytes(&read(&dir.join("tokenizer.json"))).unwrap();
    Prepared::new(experiment, options, config, &tokenizer).unwrap()
}

/// The forward of one worker alone, as the tests name its uses.
pub fn capture_taps(
    weights: &qk_lens::model::LayerWeights,
    config: &qk_lens::model::Gpt2Config,
    ids: &[Vec<u32>],
    taps: qk_lens::model::Taps,
) -> qk_lens::Result<Vec<qk_lens::model::Capture>> {
    qk_lens::model::capture_blocking(weights, config, weights.layer, ids, taps, &mut qk_lens::model::shard::Alone)
}

/// Layer L's capture (L = `weights.layer`).
pub fn capture_last_token(
    weights: &qk_lens::model::LayerWeights,
    config: &qk_lens::model::Gpt2Config,
    ids: &[Vec<u32>],
) -> qk_lens::Result<qk_lens::model::Capture> {
    Ok(capture_taps(weights, config, ids, Default::default())?.remove(0))
}

/// Every layer's capture, 0..=L.
pub fn capture_all_layers(
    weights: &qk_lens::model::LayerWeights,
    config: &qk_lens::model::Gpt2Config,
    ids: &[Vec<u32>],
) -> qk_lens::Result<Vec<qk_lens::model::Capture>> {
    let taps = qk_lens::model::Taps {
        all_layers: true,
        whole_prompts: false,
    };
    capture_taps(weights, config, ids, taps)
}

/// Layer L's capture with every prompt run whole (no shared prefix reused).
pub fn capture_without_prefix(
    weights: &qk_lens::model::LayerWeights,
    config: &qk_lens::model::Gpt2Config,
    ids: &[Vec<u32>],
) -> qk_lens::Result<qk_lens::model::Capture> {
    let taps = qk_lens::model::Taps {
        all_layers: false,
        whole_prompts: true,
    };
    Ok(capture_taps(weights, config, ids, taps)?.remove(0))
}

//! The qk-lens binary on bad inputs (one "error: " line, non-zero exit, no panic) and on good
//! ones (the result JSON contract, notes on stderr, results equal to the PyTorch goldens).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::*;
use serde_json::{json, Value};

const STAT_TOL: f64 = 1e-5;
const COS_TOL: f64 = 1e-5;
const VEC_REL: f64 = 1e-4;

/// Single-token words, layer 1 of the 4-layer fixture.
const SMALL: &str = r#"{"model": "fixture", "layer": 1, "template": "The next word is {word}",
  "categories": [{"name": "space", "words": ["galaxy", "moon", "star"]},
                 {"name": "fruit", "words": ["pear", "apple", "lime"]}]}"#;

/// A fresh directory under the system temp dir, removed on drop.
struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let name = format!("qk-lens-cli-{}-{n}-{tag}", std::process::id());
        let dir = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Tmp(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn hub() -> PathBuf {
    model_dir("tiny-gpt2-hub")
}

fn hub_file(file: &str) -> Vec<u8> {
    read(&hub().join(file))
}

/// `qk-lens run EXPERIMENT --model-dir DIR [extra...]`.
fn qk(experiment: &Path, model: &Path, extra: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_qk-lens"));
    cmd.arg("run").arg(experiment).arg("--model-dir").arg(model);
    cmd.args(extra).output().expect("the qk-lens binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Non-zero exit, no panic, and stderr is one "error: " line containing `needle`.
fn assert_error(out: &Output, needle: &str) {
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().collect();
    let ok = !out.status.success()
        && !err.contains("panicked")
        && lines.len() == 1
        && lines[0].starts_with("error: ")
        && lines[0].contains(needle);
    let status = out.status;
    assert!(ok, "want 'error: ' + {needle:?}; {status}: {err:?}");
}

fn assert_ok(out: &Output) {
    let err = stderr(out);
    let ok = out.status.success() && !err.contains("error") && !err.contains("panicked");
    assert!(ok, "want success; got {}: {err}", out.status);
}

/// A model dir holding the fixture's tokenizer.json plus the given config and weights.
fn model(tmp: &Tmp, config: Option<&[u8]>, weights: Option<&[u8]>) -> PathBuf {
    tmp.write("model/tokenizer.json", hub_file("tokenizer.json"));
    if let Some(c) = config {
        tmp.write("model/config.json", c);
    }
    if let Some(w) = weights {
        tmp.write("model/model.safetensors", w);
    }
    tmp.path("model")
}

/// Runs SMALL on `dir` and expects an error naming `needle`.
fn run_fails(tmp: &Tmp, dir: &Path, extra: &[&str], needle: &str) {
    let exp = tmp.write("exp.json", SMALL);
    assert_error(&qk(&exp, dir, extra), needle);
}

fn exp_fails(experiment_json: &str, needle: &str) {
    let tmp = Tmp::new("exp");
    let exp = tmp.write("exp.json", experiment_json);
    assert_error(&qk(&exp, &hub(), &[]), needle);
}

/// The fixture's config with `weights` as model.safetensors.
fn weights_fail(weights: &[u8], needle: &str) {
    let tmp = Tmp::new("weights");
    let dir = model(&tmp, Some(&hub_file("config.json")), Some(weights));
    run_fails(&tmp, &dir, &[], needle);
}

fn config_fails(config: &[u8], needle: &str) {
    let tmp = Tmp::new("config");
    let dir = model(&tmp, Some(config), Some(&hub_file("model.safetensors")));
    run_fails(&tmp, &dir, &[], needle);
}

/// A safetensors file by hand: u64 LE header length, JSON header, `data`, then zeros up to
/// `data_len` bytes of data (set_len, so large tensors cost no disk).
fn sparse_weights_fail(header: &str, data: &[u8], data_len: usize, needle: &str) {
    let tmp = Tmp::new("sparse");
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    let dir = model(&tmp, Some(&hub_file("config.json")), Some(&bytes));
    let path = dir.join("model.safetensors");
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len((8 + header.len() + data_len) as u64).unwrap();
    run_fails(&tmp, &dir, &[], needle);
}

/// A one-tensor header: wte.weight with this dtype, shape and byte length.
fn wte_header(dtype: &str, shape: [usize; 2], len: usize) -> String {
    let t = json!({"wte.weight": {"dtype": dtype, "shape": shape, "data_offsets": [0, len]}});
    t.to_string()
}

// ---------- experiment errors ----------

#[test]
fn missing_experiment_file() {
    let tmp = Tmp::new("missing-exp");
    let out = qk(&tmp.path("no-such-experiment.json"), &hub(), &[]);
    assert_error(&out, "no-such-experiment.json");
}

#[test]
fn malformed_experiment_json() {
    let truncated = r#"{"categories": [{"name": "space", "words": ["galaxy", "moon"]}"#;
    exp_fails(truncated, "experiment: invalid JSON");
    exp_fails(r#"{"categories": "space"}"#, "experiment: invalid JSON");
    let tmp = Tmp::new("utf8");
    let exp = tmp.write("exp.json", [0xff, 0xfe, b'{', b'}']);
    assert_error(&qk(&exp, &hub(), &[]), "not UTF-8");
}

#[test]
fn empty_category() {
    let empty = SMALL.replace(r#"["pear", "apple", "lime"]"#, "[]");
    exp_fails(&empty, r#"category "fruit" has no words"#);
    let none = r#"{"layer": 1, "categories": []}"#;
    exp_fails(none, "there are no categories");
    let one = r#"{"layer": 1, "categories": [{"name": "a", "words": ["moon"]}]}"#;
    exp_fails(one, "at least two words");
}

#[test]
fn template_without_placeholder() {
    let exp = SMALL.replace("The next word is {word}", "The next word is");
    exp_fails(&exp, "no {word} placeholder");
}

#[test]
fn duplicate_word() {
    let exp = SMALL.replace(r#""pear", "apple""#, r#""pear", "moon""#);
    exp_fails(&exp, r#"word "moon" appears twice"#);
}

#[test]
fn prompt_longer_than_the_model_positions() {
    let template = format!("{}{{word}}", "word ".repeat(70));
    let exp = SMALL.replace("The next word is {word}", &template);
    let want = "a prompt has 71 tokens; the model has only 64 positions";
    exp_fails(&exp, want);
}

// ---------- model folder, config and tokenizer errors ----------

#[test]
fn missing_model_dir_or_config() {
    let tmp = Tmp::new("no-dir");
    let dir = tmp.path("no-such-model");
    run_fails(&tmp, &dir, &[], "no-such-model/config.json");
    let tmp = Tmp::new("no-config");
    let dir = model(&tmp, None, Some(&hub_file("model.safetensors")));
    run_fails(&tmp, &dir, &[], "config.json");
}

#[test]
fn config_not_gpt2() {
    let llama = br#"{"model_type": "llama", "vocab_size": 32000, "hidden_size": 64}"#;
    config_fails(llama, r#"config.json: model_type is "llama""#);
    let no_embd = br#"{"vocab_size": 50257, "n_positions": 64, "n_layer": 4, "n_head": 4}"#;
    let want = "config.json: not a GPT-2 config: missing field `n_embd`";
    config_fails(no_embd, want);
    config_fails(b"{ not json", "config.json: invalid JSON");
}

#[test]
fn layer_out_of_range() {
    let tmp = Tmp::new("layer");
    let needle = "layer 9 is out of range: this model has layers 0..=3";
    run_fails(&tmp, &hub(), &["--layer", "9"], needle);
}

#[test]
fn malformed_tokenizer() {
    let tmp = Tmp::new("bad-tokenizer");
    let (config, weights) = (hub_file("config.json"), hub_file("model.safetensors"));
    let dir = model(&tmp, Some(&config), Some(&weights));
    tmp.write("model/tokenizer.json", "{}");
    run_fails(&tmp, &dir, &[], "tokenizer: cannot load tokenizer.json");
}

#[test]
fn out_path_not_writable() {
    let tmp = Tmp::new("bad-out");
    let bad = tmp.path("no-such-dir/result.json");
    let args = ["--out", bad.to_str().unwrap()];
    run_fails(&tmp, &hub(), &args, "no-such-dir");
}

// ---------- weights errors ----------

#[test]
fn missing_or_empty_safetensors() {
    let tmp = Tmp::new("no-weights");
    let dir = model(&tmp, Some(&hub_file("config.json")), None);
    run_fails(&tmp, &dir, &[], "model.safetensors");
    weights_fail(b"", "model.safetensors");
}

#[test]
fn truncated_safetensors() {
    let full = hub_file("model.safetensors");
    let want = "model.safetensors: the header describes 13752576 bytes but the file has 6876288: truncated or inconsistent";
    weights_fail(&full[..full.len() / 2], want);
}

#[test]
fn lying_safetensors_header() {
    // The header claims 1 MB; the file has 10 bytes.
    let mut bytes = 1_000_000u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    let want = "model.safetensors: truncated inside the header";
    weights_fail(&bytes, want);
    // 2x2 F32 claims data bytes 0..16; the file has 8.
    let needle = "model.safetensors: the header describes 90 bytes but the file has 82: truncated or inconsistent";
    sparse_weights_fail(&wte_header("F32", [2, 2], 16), &[0; 8], 8, needle);
}

#[test]
fn tensor_with_wrong_shape() {
    let needle = "tensor wte.weight has shape [2, 2], expected [50257, 64]";
    sparse_weights_fail(&wte_header("F32", [2, 2], 16), &[0; 16], 16, needle);
}

#[test]
fn tensor_with_unsupported_dtype() {
    let n = 50257 * 64 * 8;
    let header = wte_header("I64", [50257, 64], n);
    sparse_weights_fail(&header, &[], n, "wte.weight has dtype I64");
}

#[test]
fn tensor_missing() {
    let n = 50257 * 64 * 4;
    let header = wte_header("F32", [50257, 64], n);
    sparse_weights_fail(&header, &[], n, "wpe.weight is missing");
}

// ---------- successful runs ----------

fn run_ok(tmp: &Tmp, experiment_json: &str, dir: &Path, extra: &[&str]) -> (Value, String) {
    let exp = tmp.write("exp.json", experiment_json);
    let out = qk(&exp, dir, extra);
    assert_ok(&out);
    let result = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (result, stderr(&out))
}

fn golden_exp(name: &str) -> (Value, String) {
    let g = golden(name);
    let json = experiment_of(&g).to_json_pretty();
    (g, json)
}

/// The CLI's result equals the golden: the vectors (1e-4 of their largest magnitude) and every
/// cosine (1e-5), not only the summaries (an erf GELU moves selectivity by 2.3e-6 only, well
/// inside 1e-5, but the vectors and cosines by far more than their tolerances).
fn assert_matches_golden(r: &Value, g: &Value) {
    let ids: Vec<Vec<u32>> = serde_json::from_value(g["token_ids"].clone()).unwrap();
    let words = r["words"].as_array().unwrap();
    let got: Vec<Value> = words.iter().map(|w| w["token_ids"].clone()).collect();
    assert_eq!(Value::from(got), json!(ids), "token ids");
    for key in ["Q", "K"] {
        let space = &r[key.to_lowercase()];
        let vectors: Vec<Vec<f32>> = serde_json::from_value(space["vectors"].clone()).unwrap();
        assert_vectors_close(key, &vectors, &matrix(&g[format!("{key}_last")]), VEC_REL);
        assert_matrix_close(
            &format!("C{key}"),
            &matrix(&space["cosine"]),
            &matrix(&g[format!("C{key}")]),
            COS_TOL,
        );
    }
    for key in ["Q", "K"] {
        let sel = r[key.to_lowercase()]["selectivity"].as_f64().unwrap();
        let want = g[format!("selectivity_{key}")].as_f64().unwrap();
        assert_close(&format!("selectivity {key}"), sel, want, STAT_TOL);
    }
    let want = g["rsa_r"].as_f64().unwrap();
    assert_close("rsa r", r["rsa"]["r"].as_f64().unwrap(), want, STAT_TOL);
}

fn check_space(s: &Value, n: usize) {
    let cos = s["cosine"].as_array().unwrap();
    assert_eq!(cos.len(), n);
    for (i, row) in cos.iter().enumerate() {
        assert_eq!(row.as_array().unwrap().len(), n);
        assert_close("diagonal", row[i].as_f64().unwrap(), 1.0, 1e-9);
    }
    assert!(s["selectivity"].is_number());
    let counts: Vec<u64> = serde_json::from_value(s["histogram"]["counts"].clone()).unwrap();
    assert_eq!(counts.len(), 20);
    assert_eq!(counts.iter().sum::<u64>(), (n * (n - 1) / 2) as u64);
    assert_eq!(s["histogram"]["edges"].as_array().unwrap().len(), 21);
}

#[test]
fn out_file_has_the_contract() {
    let tmp = Tmp::new("out");
    let (g, exp) = golden_exp("tiny-gpt2-hub.L1");
    let out_path = tmp.path("result.json");
    let (stdout, _) = run_ok(&tmp, &exp, &hub(), &["--out", out_path.to_str().unwrap()]);
    assert_eq!(stdout, Value::Null, "with --out nothing goes to stdout");
    let r: Value = serde_json::from_slice(&read(&out_path)).unwrap();
    assert_eq!(r["experiment"]["categories"].as_array().unwrap().len(), 3);
    let m = &r["model"];
    let dims = json!([m["n_layer"], m["n_embd"], m["n_head"]]);
    assert_eq!(dims, json!([4, 64, 4]), "n_layer, n_embd, n_head");
    let words = r["words"].as_array().unwrap();
    assert_eq!(words.len(), 34);
    let (a, z) = (&words[0], &words[33]);
    let ends = json!([a["word"], a["category"], z["word"], z["category"]]);
    assert_eq!(ends, json!(["galaxy", "space", "fruit", "fruit"]));
    assert!(words.iter().all(|w| w["single_token"] == json!(true)));
    check_space(&r["q"], 34);
    check_space(&r["k"], 34);
    let per = r["rsa"]["per_category"].as_array().unwrap();
    let names: Vec<&Value> = per.iter().map(|c| &c["category"]).collect();
    assert_eq!(json!(names), json!(["space", "interior", "fruit"]));
    for (c, w) in per.iter().zip(f64s(&g["rsa_r_per_category"])) {
        assert_close("per-category r", c["r"].as_f64().unwrap(), w, STAT_TOL);
    }
    assert_matches_golden(&r, &g);
}

#[test]
fn stdout_without_out_and_layer_override() {
    // The experiment says layer 1; --layer 3 must win.
    let (_, exp) = golden_exp("tiny-gpt2-hub.L1");
    let (r, _) = run_ok(&Tmp::new("stdout"), &exp, &hub(), &["--layer", "3"]);
    assert_eq!(r["layer"], json!(3));
    assert_matches_golden(&r, &golden("tiny-gpt2-hub.L3"));
}

#[test]
fn multi_token_word_is_noted_and_flagged() {
    let exp = SMALL.replace(r#""apple""#, r#""watermelon""#);
    let (r, err) = run_ok(&Tmp::new("multi"), &exp, &hub(), &[]);
    assert!(err.contains("note:") && err.contains("watermelon"), "{err}");
    for w in r["words"].as_array().unwrap() {
        let multi = w["word"] == "watermelon";
        assert_eq!(w["single_token"], json!(!multi), "{w}");
        if multi {
            assert_eq!(w["token_ids"], json!([464, 1306, 1573, 318, 1660, 45690]));
        }
    }
    assert!(r["q"]["selectivity"].is_number());
}

/// "watermelon" is 2 tokens (" water" + "melon"), but the notes give the prompt's length (6).
#[test]

fn multi_token_note_counts_the_word_tokens() {
    let exp = SMALL.replace(r#""apple""#, r#""watermelon""#);
    let (r, err) = run_ok(&Tmp::new("multi-count"), &exp, &hub(), &[]);
    assert!(err.contains("2 tokens") && !err.contains("6 tokens"), "{err}");
    let notes = r["notes"].as_array().unwrap();
    let want = "\"watermelon\" is 2 tokens";
    let said = notes.iter().any(|n| n.as_str().unwrap().contains(want));
    assert!(said, "notes: {notes:?}");
}

#[test]
fn one_word_category_gives_nulls_and_a_note() {
    let (g, exp) = golden_exp("tiny-gpt2-hub.single.L1");
    let (r, err) = run_ok(&Tmp::new("single"), &exp, &hub(), &[]);
    let noted = err.contains("note:") && err.contains("\"interior\"");
    assert!(noted, "stderr notes the one-word category: {err}");
    for space in ["q", "k"] {
        let within = &r[space]["within_means"];
        assert_eq!(within[1]["category"], json!("interior"));
        assert!(within[1]["mean"].is_null(), "{space}: {within}");
        assert!(within[0]["mean"].is_number() && within[2]["mean"].is_number());
    }
    let per = &r["rsa"]["per_category"];
    assert_eq!(per[1]["category"], json!("interior"));
    assert!(per[1]["r"].is_null() && per[0]["r"].is_number() && per[2]["r"].is_number());
    assert_matches_golden(&r, &g);
}

#[test]
fn model_dir_without_tokenizer_uses_the_bundled_one() {
    let tmp = Tmp::new("no-tokenizer");
    tmp.write("model/config.json", hub_file("config.json"));
    tmp.write("model/model.safetensors", hub_file("model.safetensors"));
    let (g, exp) = golden_exp("tiny-gpt2-hub.L1");
    let (r, err) = run_ok(&tmp, &exp, &tmp.path("model"), &[]);
    assert!(err.contains("bundled"), "{err}");
    assert_matches_golden(&r, &g);
}

/// A valid file whose header length is odd: every tensor's data starts unaligned in the mapping.
#[test]
fn unaligned_data_section_still_works() {
    let tmp = Tmp::new("unaligned");
    let full = hub_file("model.safetensors");
    let n = u64::from_le_bytes(full[..8].try_into().unwrap()) as usize;
    let pad = if n.is_multiple_of(2) { 1 } else { 2 };
    let mut bytes = ((n + pad) as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&full[8..8 + n]);
    bytes.extend_from_slice(&b"  "[..pad]);
    bytes.extend_from_slice(&full[8 + n..]);
    let dir = model(&tmp, Some(&hub_file("config.json")), Some(&bytes));
    let (g, exp) = golden_exp("tiny-gpt2-hub.L1");
    let (r, _) = run_ok(&tmp, &exp, &dir, &[]);
    assert_matches_golden(&r, &g);
}

/// The hub's original GPT-2 configs (gpt2, gpt2-medium, -large, -xl) carry both "n_ctx" and
/// "n_positions" (1024 each); Gpt2Config aliases n_ctx to n_positions, and serde then rejects
/// the second key as a duplicate field.
#[test]

fn hub_config_with_n_ctx_and_n_positions() {
    let tmp = Tmp::new("n-ctx");
    let mut cfg: Value = serde_json::from_slice(&hub_file("config.json")).unwrap();
    cfg["n_ctx"] = json!(64);
    let (cfg, weights) = (cfg.to_string(), hub_file("model.safetensors"));
    let dir = model(&tmp, Some(cfg.as_bytes()), Some(&weights));
    let (g, exp) = golden_exp("tiny-gpt2-hub.L1");
    let (r, _) = run_ok(&tmp, &exp, &dir, &[]);
    assert_matches_golden(&r, &g);
}

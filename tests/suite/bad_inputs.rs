//! The rows of docs/reliability.md that tests/cli_errors.rs does not already run, through the
//! qk-lens binary: what a user sees for each bad input (one `error: ` line, exit 1, no panic) or
//! how a run treats it (notes, nulls), on the tiny fixture model.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::*;
use qk_lens::model::plan::Header;
use serde_json::{json, Value};

/// A directory of its own under the system temp dir, removed on drop.
struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("qk-lens-bad-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Tmp(dir)
    }
    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }
    /// A model folder: the fixture's files, with `replace` (name, bytes) instead.
    fn model(&self, replace: &[(&str, &[u8])]) -> PathBuf {
        for file in ["config.json", "model.safetensors", "tokenizer.json"] {
            let bytes = match replace.iter().find(|(n, _)| *n == file) {
                Some((_, b)) => b.to_vec(),
                None => hub_file(file),
            };
            self.write(&format!("model/{file}"), bytes);
        }
        self.0.join("model")
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn hub_file(file: &str) -> Vec<u8> {
    read(&model_dir("tiny-gpt2-hub").join(file))
}

fn qk(tmp: &Tmp, experiment: &str, model: &Path) -> Output {
    let exp = tmp.write("exp.json", experiment);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_qk-lens"));
    cmd.arg("run").arg(exp).arg("--model-dir").arg(model);
    cmd.output().expect("the qk-lens binary runs")
}

/// Exit 1, and stderr is exactly `want` (one line, no panic).
fn assert_error(out: &Output, want: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end(), want);
}

fn run_ok(out: &Output) -> (Value, String) {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    (serde_json::from_slice(&out.stdout).unwrap(), err)
}

fn experiment(categories: Value) -> String {
    json!({"model": "fixture", "layer": 1, "categories": categories}).to_string()
}

const TWO: &str =
    r#"[{"name": "space", "words": ["galaxy", "moon", "star"]}, {"name": "fruit", "words": ["pear", "apple", "lime"]}]"#;

fn two_categories() -> Value {
    serde_json::from_str(TWO).unwrap()
}

#[test]
fn empty_word() {
    let tmp = Tmp::new("empty-word");
    let mut cats = two_categories();
    cats[1]["words"][1] = json!("  ");
    let out = qk(&tmp, &experiment(cats), &tmp.model(&[]));
    assert_error(&out, r#"error: experiment: category "fruit" has an empty word (#2)"#);
}

#[test]
fn single_category_has_no_selectivity() {
    let tmp = Tmp::new("single-category");
    let cats = json!([{"name": "space", "words": ["galaxy", "moon", "star", "comet"]}]);
    let (r, err) = run_ok(&qk(&tmp, &experiment(cats), &tmp.model(&[])));
    for space in ["q", "k"] {
        assert!(
            r[space]["selectivity"].is_null() && r[space]["across_mean"].is_null(),
            "{}",
            r[space]
        );
        assert!(r[space]["within_mean"].is_number());
    }
    assert!(r["rsa"]["r"].is_number());
    assert!(!err.contains("error"), "{err}");
}

/// 600 words (w0 .. w599: several tokens each, so each is analysed at its last token and
/// noted) on the 4-layer fixture, in bounded time.
#[test]
fn six_hundred_words() {
    let tmp = Tmp::new("600");
    let words = |from: usize| (from..from + 300).map(|i| format!("w{i}")).collect::<Vec<_>>();
    let cats = json!([{"name": "a", "words": words(0)}, {"name": "b", "words": words(300)}]);
    let t = Instant::now();
    let (r, _) = run_ok(&qk(&tmp, &experiment(cats), &tmp.model(&[])));
    let took = t.elapsed();
    assert_eq!(r["words"].as_array().unwrap().len(), 600);
    assert_eq!(r["q"]["cosine"].as_array().unwrap().len(), 600);
    assert!(r["q"]["selectivity"].is_number() && r["rsa"]["r"].is_number());
    eprintln!("600 words: {took:?}");
    assert!(took < Duration::from_secs(60), "{took:?}");
}

/// Names and words are data: markup and quotes come back verbatim in the result JSON.
#[test]
fn hostile_names_are_kept_verbatim() {
    let tmp = Tmp::new("hostile");
    let names = ["</script><script>alert(1)</script>", "\"q\" & <b>'s</b>\u{202e}"];
    let cats = json!([{"name": names[0], "words": ["galaxy", "moon"]}, {"name": names[1], "words": ["pear", "<img src=x onerror=alert(1)>"]}]);
    let (r, _) = run_ok(&qk(&tmp, &experiment(cats), &tmp.model(&[])));
    assert_eq!(r["experiment"]["categories"][0]["name"], json!(names[0]));
    assert_eq!(r["words"][3]["word"], json!("<img src=x onerror=alert(1)>"));
    assert_eq!(r["words"][3]["category"], json!(names[1]));
    assert_eq!(r["rsa"]["per_category"][1]["category"], json!(names[1]));
}

/// 100 000 words with a duplicate at the end: refused at once (validation was quadratic: 36 s).
#[test]
fn huge_experiment_is_refused_quickly() {
    let tmp = Tmp::new("huge");
    let words = |c: usize| (0..50_000).map(|i| format!("w{c}x{i}")).collect::<Vec<_>>();
    let mut cats = json!([{"name": "a", "words": words(0)}, {"name": "b", "words": words(1)}]);
    cats[1]["words"].as_array_mut().unwrap().push(json!("w0x7"));
    let t = Instant::now();
    let out = qk(&tmp, &experiment(cats), &tmp.model(&[]));
    assert_error(&out, r#"error: experiment: word "w0x7" appears twice (in "a" and "b")"#);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

#[test]
fn config_sizes_beyond_any_gpt2() {
    let tmp = Tmp::new("config-size");
    let mut config: Value = serde_json::from_slice(&hub_file("config.json")).unwrap();
    config["n_embd"] = json!(6148914691236517206u64);
    config["n_head"] = json!(1);
    let out = qk(
        &tmp,
        &experiment(two_categories()),
        &tmp.model(&[("config.json", config.to_string().as_bytes())]),
    );
    let want = "error: config.json: n_embd 6148914691236517206 is larger than any GPT-2 (at most 16777216)";
    assert_error(&out, want);
}

/// A header of one tensor (with the length that header implies unless `data` says otherwise).
fn one_tensor_file(entries: Value, data: usize) -> Vec<u8> {
    let json = entries.to_string();
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json.as_bytes());
    bytes.resize(bytes.len() + data, 0);
    bytes
}

#[test]
fn overlapping_or_out_of_bounds_offsets() {
    let tmp = Tmp::new("offsets");
    let overlapping = json!({"wte.weight": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                             "wpe.weight": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}});
    let file = one_tensor_file(overlapping, 12);
    let out = qk(
        &tmp,
        &experiment(two_categories()),
        &tmp.model(&[("model.safetensors", &file)]),
    );
    let want = "error: model.safetensors: invalid header: tensor wpe.weight is not where the previous one ends";
    assert_error(&out, want);
    let beyond = json!({"wte.weight": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}});
    let file = one_tensor_file(beyond, 4);
    let out = qk(
        &tmp,
        &experiment(two_categories()),
        &tmp.model(&[("model.safetensors", &file)]),
    );
    let want = "error: model.safetensors: the header describes 79 bytes but the file has 75: truncated or inconsistent";
    assert_error(&out, want);
}

#[test]
fn unknown_dtype() {
    let tmp = Tmp::new("dtype");
    let file = one_tensor_file(
        json!({"wte.weight": {"dtype": "F99", "shape": [2], "data_offsets": [0, 8]}}),
        8,
    );
    let out = qk(
        &tmp,
        &experiment(two_categories()),
        &tmp.model(&[("model.safetensors", &file)]),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    let want = "error: model.safetensors: invalid header: tensor wte.weight: unknown variant `F99`, expected one of `BOOL`, `F4`";
    assert!(err.starts_with(want) && err.lines().count() == 1, "{err}");
}

/// Zero query and key weights at layer 0: every Q and K vector is zero, so no cosine exists.
#[test]
fn zero_vector() {
    let tmp = Tmp::new("zero");
    let mut file = hub_file("model.safetensors");
    let header = Header::from_file(&file).unwrap();
    for (name, shape) in [("h.0.attn.c_attn.weight", vec![64, 192]), ("h.0.attn.c_attn.bias", vec![192])] {
        let loc = header.locate(name, &shape).unwrap();
        file[loc.start as usize..loc.end as usize].fill(0);
    }
    let exp = experiment(two_categories()).replace("\"layer\":1", "\"layer\":0");
    let out = qk(&tmp, &exp, &tmp.model(&[("model.safetensors", &file)]));
    assert_error(
        &out,
        "error: analysis: vector #1 has norm 0: its cosine similarity is undefined",
    );
}

/// A tokenizer.json cut short (a partial copy): an error, where tokenizers used to panic.
#[test]
fn tokenizer_json_cut_short() {
    let tmp = Tmp::new("tokenizer");
    let full = hub_file("tokenizer.json");
    let at = full.windows(10).position(|w| w == b"\"decoder\":").unwrap() + 20;
    let out = qk(
        &tmp,
        &experiment(two_categories()),
        &tmp.model(&[("tokenizer.json", &full[..at])]),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let want = "error: tokenizer: cannot load tokenizer.json: invalid JSON: EOF while parsing";
    assert!(err.starts_with(want) && err.lines().count() == 1, "{err}");
}

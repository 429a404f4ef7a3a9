//! The engine against PyTorch: every golden file in tests/fixtures/golden, at the tolerances of
//! tests/fixtures/README.md (Q/K 1e-4 relative, cosine 1e-5, selectivity and r 1e-5, counts equal).

use crate::common::*;
use qk_lens::RunResult;
use serde_json::Value;

const VEC_REL: f64 = 1e-4;
const COS_TOL: f64 = 1e-5;
const STAT_TOL: f64 = 1e-5;

pub fn check(result: &RunResult, g: &Value) {
    let token_ids: Vec<Vec<u32>> = serde_json::from_value(g["token_ids"].clone()).unwrap();
    assert_eq!(
        result.words.iter().map(|w| w.token_ids.clone()).collect::<Vec<_>>(),
        token_ids,
        "token ids"
    );
    assert_vectors_close("Q", &result.q.vectors, &matrix(&g["Q_last"]), VEC_REL);
    assert_vectors_close("K", &result.k.vectors, &matrix(&g["K_last"]), VEC_REL);
    assert_matrix_close("CQ", &result.q.cosine, &matrix(&g["CQ"]), COS_TOL);
    assert_matrix_close("CK", &result.k.cosine, &matrix(&g["CK"]), COS_TOL);
    for (space, key) in [(&result.q, "Q"), (&result.k, "K")] {
        assert_close(
            &format!("selectivity {key}"),
            space.selectivity.unwrap(),
            g[format!("selectivity_{key}")].as_f64().unwrap(),
            STAT_TOL,
        );
        let within: Vec<Option<f64>> = space.within_means.iter().map(|m| m.mean).collect();
        let want_within = opt_f64s(&g[format!("within_means_{key}")]);
        assert_eq!(within.len(), want_within.len(), "within means {key}");
        for (c, (a, b)) in within.iter().zip(&want_within).enumerate() {
            match (a, b) {
                (Some(a), Some(b)) => assert_close(&format!("within mean {key}[{c}]"), *a, *b, STAT_TOL),
                (None, None) => {}
                _ => panic!("within mean {key}[{c}]: got {a:?}, want {b:?}"),
            }
        }
        let across: Vec<f64> = space.across_means.iter().map(|m| m.mean).collect();
        let want_across = f64s(&g[format!("across_means_{key}")]);
        assert_eq!(across.len(), want_across.len(), "across means {key}");
        for (c, (a, b)) in across.iter().zip(&want_across).enumerate() {
            assert_close(&format!("across mean {key}[{c}]"), *a, *b, STAT_TOL);
        }
        let counts: Vec<u64> = serde_json::from_value(g[format!("hist_{key}_counts")].clone()).unwrap();
        assert_eq!(space.histogram.counts, counts, "histogram counts {key}");
        let want_edges = f64s(&g[format!("hist_{key}_edges")]);
        assert_eq!(space.histogram.edges.len(), want_edges.len(), "histogram edges {key}: count");
        for (a, b) in space.histogram.edges.iter().zip(want_edges) {
            assert_close(&format!("histogram edge {key}"), *a, b, COS_TOL);
        }
    }
    assert_close("RSA r", result.rsa.r.unwrap(), g["rsa_r"].as_f64().unwrap(), STAT_TOL);
    let per_cat = opt_f64s(&g["rsa_r_per_category"]);
    assert_eq!(result.rsa.per_category.len(), per_cat.len());
    for (got, want) in result.rsa.per_category.iter().zip(per_cat) {
        match (got.r, want) {
            (Some(a), Some(b)) => assert_close(&format!("RSA r {}", got.category), a, b, STAT_TOL),
            (None, None) => {}
            (a, b) => panic!("RSA r {}: got {a:?}, want {b:?}", got.category),
        }
    }
}

fn golden_case(model: &str, golden_name: &str) {
    let g = golden(golden_name);
    let result = run_model(model, &experiment_of(&g)).unwrap_or_else(|e| panic!("{golden_name}: {e}"));
    assert_eq!(result.layer as u64, g["layer"].as_u64().unwrap());
    check(&result, &g);
}

#[test]
fn hub_fp32_layer1() {
    golden_case("tiny-gpt2-hub", "tiny-gpt2-hub.L1");
}
#[test]
fn hub_fp32_layer3() {
    golden_case("tiny-gpt2-hub", "tiny-gpt2-hub.L3");
}
#[test]
fn hub_fp16_layer1() {
    golden_case("tiny-gpt2-hub-fp16", "tiny-gpt2-hub-fp16.L1");
}
#[test]
fn hub_fp16_layer3() {
    golden_case("tiny-gpt2-hub-fp16", "tiny-gpt2-hub-fp16.L3");
}
/// bf16 weights (the fp32 hub model's tensors rounded to bfloat16; its own golden, PyTorch
/// upcasting them to float32 as it does fp16): the same tolerances as fp16, as the engine
/// decodes bf16 exactly into f32 and computes in f32 from there.
#[test]
fn hub_bf16_layer1() {
    golden_case("tiny-gpt2-hub-bf16", "tiny-gpt2-hub-bf16.L1");
}
#[test]
fn hub_bf16_layer3() {
    golden_case("tiny-gpt2-hub-bf16", "tiny-gpt2-hub-bf16.L3");
}
#[test]
fn savepretrained_layer1() {
    golden_case("tiny-gpt2-savepretrained", "tiny-gpt2-savepretrained.L1");
}
#[test]
fn savepretrained_layer3() {
    golden_case("tiny-gpt2-savepretrained", "tiny-gpt2-savepretrained.L3");
}
/// Layer 0 runs no block before the capture: embeddings straight into ln_1.
#[test]
fn hub_fp32_layer0() {
    golden_case("tiny-gpt2-hub", "tiny-gpt2-hub.L0");
}
#[test]
fn hub_fp32_layer2() {
    golden_case("tiny-gpt2-hub", "tiny-gpt2-hub.L2");
}
/// Prompts of 5 to 8 tokens in one run, 4 categories (general selectivity rule).
#[test]
fn mixed_token_lengths_four_categories() {
    golden_case("tiny-gpt2-hub", "tiny-gpt2-hub.mixed.L2");
}
/// A one-word category: its within mean and r are null, the rest is computed.
#[test]
fn one_word_category() {
    golden_case("tiny-gpt2-hub", "tiny-gpt2-hub.single.L1");
}

/// All three files hold the same numbers, so all three give identical results.
#[test]
fn fixture_variants_agree_exactly() {
    let exp = experiment_of(&golden("tiny-gpt2-hub.L3"));
    let a = run_model("tiny-gpt2-hub", &exp).unwrap();
    let b = run_model("tiny-gpt2-hub-fp16", &exp).unwrap();
    let c = run_model("tiny-gpt2-savepretrained", &exp).unwrap();
    assert_eq!(a.q.vectors, b.q.vectors);
    assert_eq!(a.q.vectors, c.q.vectors);
    assert_eq!(a.k.vectors, b.k.vectors);
    assert_eq!(a.k.vectors, c.k.vectors);
    assert_eq!(a.rsa, c.rsa);
}

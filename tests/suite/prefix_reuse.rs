//! Running the prompts' shared prefix once and reusing its keys and values equals running every
//! prompt whole (to 1e-5), for one-token and multi-token suffixes.

use crate::common::*;
use qk_lens::model::{shared_prefix_len, Gpt2Config, LayerWeights};

fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len(), "row count");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(x.len(), y.len(), "row {i}: length");
    }
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn compare(golden_name: &str) {
    let g = golden(golden_name);
    let ids: Vec<Vec<u32>> = serde_json::from_value(g["token_ids"].clone()).unwrap();
    let layer = g["layer"].as_u64().unwrap() as usize;
    let dir = model_dir("tiny-gpt2-hub");
    let config = Gpt2Config::from_json(&read(&dir.join("config.json"))).unwrap();
    let weights = LayerWeights::from_safetensors(&read(&dir.join("model.safetensors")), &config, layer, &ids).unwrap();
    assert!(shared_prefix_len(&ids) >= 4, "the prompts share `The next word is`");
    let reused = capture_last_token(&weights, &config, &ids).unwrap();
    let whole = capture_without_prefix(&weights, &config, &ids).unwrap();
    for (name, a, b) in [
        ("q", &reused.q, &whole.q),
        ("k", &reused.k, &whole.k),
        ("v", &reused.v, &whole.v),
    ] {
        let d = max_abs_diff(a, b);
        assert!(
            d <= 1e-5,
            "{golden_name} {name}: prefix reuse differs from the whole forward by {d}"
        );
    }
}

#[test]
fn lecture_prompts_layer3() {
    compare("tiny-gpt2-hub.L3");
}

#[test]
fn mixed_lengths_layer2() {
    compare("tiny-gpt2-hub.mixed.L2");
}

#[test]
fn shared_prefix_leaves_every_prompt_a_token() {
    assert_eq!(shared_prefix_len(&[vec![1, 2, 3], vec![1, 2, 4]]), 2);
    assert_eq!(
        shared_prefix_len(&[vec![1, 2], vec![1, 2, 4]]),
        1,
        "a prompt equal to the prefix keeps its last token"
    );
    assert_eq!(shared_prefix_len(&[vec![5, 2], vec![1, 2]]), 0);
    assert_eq!(shared_prefix_len(&[vec![1, 2, 3]]), 2);
    assert_eq!(shared_prefix_len(&[]), 0);
}

/// A run cut into passes (each pass's activations smaller: wasm memory never shrinks) equals
/// one pass bit for bit, every layer, in the prompts' order.
#[test]
fn passes_equal_one_pass_bit_for_bit() {
    use futures::FutureExt;
    use qk_lens::model::passes::capture_in_passes;
    use qk_lens::model::shard::Alone;
    use qk_lens::model::Taps;
    let g = golden("tiny-gpt2-hub.mixed.L2");
    let ids: Vec<Vec<u32>> = serde_json::from_value(g["token_ids"].clone()).unwrap();
    let layer = g["layer"].as_u64().unwrap() as usize;
    let dir = model_dir("tiny-gpt2-hub");
    let config = Gpt2Config::from_json(&read(&dir.join("config.json"))).unwrap();
    let weights = LayerWeights::from_safetensors(&read(&dir.join("model.safetensors")), &config, layer, &ids).unwrap();
    let taps = Taps {
        all_layers: true,
        whole_prompts: false,
    };
    let run = |max_rows| {
        capture_in_passes(&weights, &config, layer, &ids, taps, &mut Alone, max_rows)
            .now_or_never()
            .expect("a blocking exchange")
            .unwrap()
    };
    let one = run(usize::MAX);
    assert!(ids.len() >= 6, "enough prompts for several passes");
    for max_rows in [1, 3, 7] {
        let cut = run(max_rows);
        assert_eq!(cut.len(), layer + 1, "every layer");
        for (a, b) in one.iter().zip(&cut) {
            assert_eq!(a.layer, b.layer);
            assert!(
                a.q == b.q && a.k == b.k && a.v == b.v,
                "layer {}: passes of {max_rows} rows differ",
                a.layer
            );
        }
    }
}

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

/// A golden's token ids and layer.
fn golden_ids(name: &str) -> (Vec<Vec<u32>>, usize) {
    let g = golden(name);
    let ids = serde_json::from_value(g["token_ids"].clone()).unwrap();
    (ids, g["layer"].as_u64().unwrap() as usize)
}

/// tiny-gpt2-hub's config, and its weights up to `layer` for `ids`.
fn tiny_weights(layer: usize, ids: &[Vec<u32>]) -> (Gpt2Config, LayerWeights) {
    let dir = model_dir("tiny-gpt2-hub");
    let config = Gpt2Config::from_json(&read(&dir.join("config.json"))).unwrap();
    let weights = LayerWeights::from_safetensors(&read(&dir.join("model.safetensors")), &config, layer, ids).unwrap();
    (config, weights)
}

fn compare(golden_name: &str) {
    let (ids, layer) = golden_ids(golden_name);
    let (config, weights) = tiny_weights(layer, &ids);
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
    let (ids, layer) = golden_ids("tiny-gpt2-hub.mixed.L2");
    let (config, weights) = tiny_weights(layer, &ids);
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

/// The prefix's keys and values kept from a run: a later run of one prompt (a live edit) uses
/// them as its prefix and runs only the prompt's own rows, and its captures equal that prompt's
/// in the run that kept them, bit for bit (the same split of the prompt, the same arithmetic),
/// for one-token and multi-token words. Kept keys and values replaced by zeros change the
/// captures: the run does use them. A prompt that does not start with the kept prefix (another
/// template) computes and keeps its own.
#[test]
fn a_kept_prefix_is_used_by_the_next_run_and_changes_no_bit() {
    let (ids, layer) = golden_ids("tiny-gpt2-hub.mixed.L2");
    let other_template: Vec<u32> = ids[0][1..].to_vec();
    let mut all_ids = ids.clone();
    all_ids.push(other_template.clone());
    let (config, weights) = tiny_weights(layer, &all_ids);
    let prefix = shared_prefix_len(&ids);
    assert!(prefix >= 4, "the prompts share `The next word is`");
    assert_eq!(weights.prefix_kv.tokens(), None, "nothing kept before a run");

    let full = capture_last_token(&weights, &config, &ids).unwrap();
    assert_eq!(
        weights.prefix_kv.tokens().as_deref(),
        Some(&ids[0][..prefix]),
        "the run keeps its prefix"
    );
    let multi = ids.iter().position(|p| p.len() > prefix + 1).expect("a multi-token word");
    for i in [0, multi, ids.len() - 1] {
        let one = capture_last_token(&weights, &config, &[ids[i].clone()]).unwrap();
        assert!(
            one.q[0] == full.q[i] && one.k[0] == full.k[i] && one.v[0] == full.v[i],
            "prompt {i} alone, with the kept prefix, differs from the run that kept it"
        );
    }

    // Zeros in place of the kept keys and values: the next run reads them.
    let kv = weights.prefix_kv.usable(&ids, prefix, layer).expect("usable");
    let zeros = kv
        .blocks
        .iter()
        .map(|(k, v)| (k.zeros_like().unwrap(), v.zeros_like().unwrap()))
        .collect();
    let tokens = kv.tokens.clone();
    weights
        .prefix_kv
        .keep(std::sync::Arc::new(qk_lens::model::prefix_kv::PrefixKv {
            tokens,
            blocks: zeros,
        }));
    let poisoned = capture_last_token(&weights, &config, &[ids[multi].clone()]).unwrap();
    assert_ne!(
        poisoned.q[0], full.q[multi],
        "the kept keys and values are what the run attends to"
    );

    // Another template: its own prefix, computed (the zeros are not used) and kept.
    let other = capture_last_token(&weights, &config, &[other_template.clone(), other_template.clone()]).unwrap();
    let (_, fresh) = tiny_weights(layer, &all_ids);
    let expected = capture_last_token(&fresh, &config, &[other_template.clone(), other_template.clone()]).unwrap();
    assert_eq!(other, expected, "a prompt without the kept prefix computes its own");
    assert_eq!(
        weights.prefix_kv.tokens().as_deref(),
        Some(&other_template[..other_template.len() - 1]),
        "and keeps it"
    );
}

//! The tensor-parallel forward (each rank holding its columns of every weight, swapping
//! activations) gives the one-worker captures bit for bit, on every fixture model and layer,
//! for even and uneven head splits, with and without the layer sweep.

use crate::common::*;
use qk_lens::model::plan::Header;
use qk_lens::model::shard::{Alone, Shard, ThreadExchange};
use qk_lens::model::{capture_blocking, Capture, Gpt2Config, LayerWeights, Taps};
use qk_lens::run::{run_local, LocalModel};

fn lecture_ids() -> Vec<Vec<u32>> {
    serde_json::from_value(golden("tiny-gpt2-hub.L1")["token_ids"].clone()).unwrap()
}

/// Every rank's captures from `ranks` threads, each loading its share of the file.
fn sharded(file: &[u8], config: &Gpt2Config, layer: usize, ids: &[Vec<u32>], ranks: usize, all: bool) -> Vec<Vec<Capture>> {
    // As the page's second worker gets it: the header handed over as JSON.
    let header = Header::from_wire(&Header::from_file(file).unwrap().to_wire()).unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = ThreadExchange::ranks(ranks)
            .into_iter()
            .enumerate()
            .map(|(rank, mut exchange)| {
                let header = &header;
                s.spawn(move || {
                    let shard = Shard::new(rank, ranks).unwrap();
                    let weights =
                        LayerWeights::load_shard(header, &qk_lens::model::plan::WholeFile(file), config, layer, ids, shard)
                            .unwrap();
                    let taps = Taps {
                        all_layers: all,
                        whole_prompts: false,
                    };
                    capture_blocking(&weights, config, layer, ids, taps, &mut exchange).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn ranks_equal_one_worker_bit_for_bit() {
    let ids = lecture_ids();
    for model in ["tiny-gpt2-hub", "tiny-gpt2-hub-fp16", "tiny-gpt2-savepretrained"] {
        let dir = model_dir(model);
        let config = Gpt2Config::from_json(&read(&dir.join("config.json"))).unwrap();
        let file = read(&dir.join("model.safetensors"));
        // 2 ranks split the 4 heads evenly, 3 unevenly (2, 1, 1).
        assert_every_split_equals_one_rank(model, &file, &config, &ids);
    }
}

/// At every layer, every rank of 2 and of 3 gets the one-rank captures exactly; with the sweep
/// too (rank 0's).
fn assert_every_split_equals_one_rank(what: &str, file: &[u8], config: &Gpt2Config, ids: &[Vec<u32>]) {
    for layer in 0..config.n_layer {
        let whole = LayerWeights::from_safetensors(file, config, layer, ids).unwrap();
        let one = capture_last_token(&whole, config, ids).unwrap();
        let sweep = capture_all_layers(&whole, config, ids).unwrap();
        for ranks in [2, 3] {
            for (rank, got) in sharded(file, config, layer, ids, ranks, false).into_iter().enumerate() {
                assert_eq!(got, vec![one.clone()], "{what} L{layer}, rank {rank} of {ranks}");
            }
            let got = sharded(file, config, layer, ids, ranks, true).swap_remove(0);
            assert_eq!(got, sweep, "{what} L{layer} sweep, {ranks} ranks");
        }
    }
}

/// The CLI's run: any number of threads gives one thread's result (the layer sweep and heads
/// included), and the threads are capped at one per head.
#[test]
fn the_run_on_threads_equals_one_thread() {
    let dir = model_dir("tiny-gpt2-hub");
    let experiment = experiment_of(&golden("tiny-gpt2-hub.L3"));
    let (config, tokenizer, file) = (
        read(&dir.join("config.json")),
        read(&dir.join("tokenizer.json")),
        read(&dir.join("model.safetensors")),
    );
    let options = qk_lens::analysis::report::ExtendedOptions {
        all_layers: true,
        heads: true,
        v: true,
        ..Default::default()
    };
    let run = |threads: usize| {
        let model = LocalModel {
            config: &config,
            tokenizer: &tokenizer,
            weights: &file,
            threads,
        };
        let mut result = run_local(&experiment, Some(&options), &model).unwrap();
        let ranks = result.stats.take().and_then(|s| s.forward_ranks).unwrap();
        (result, ranks as usize)
    };
    let (one, _) = run(1);
    assert_eq!(one.layers.as_ref().map(Vec::len), Some(4), "the sweep ran");
    for threads in [2, 4, 64] {
        let (got, ranks) = run(threads);
        assert_eq!(ranks, threads.min(config_heads(&dir)), "threads are capped at one per head");
        assert_eq!(got, one, "{threads} threads");
    }
}

fn config_heads(dir: &std::path::Path) -> usize {
    Gpt2Config::from_json(&read(&dir.join("config.json"))).unwrap().n_head
}

#[test]
fn a_share_run_alone_is_an_error_not_a_wrong_result() {
    let dir = model_dir("tiny-gpt2-hub");
    let config = Gpt2Config::from_json(&read(&dir.join("config.json"))).unwrap();
    let file = read(&dir.join("model.safetensors"));
    let ids = lecture_ids();
    let header = Header::from_file(&file).unwrap();
    let half = LayerWeights::load_shard(
        &header,
        &qk_lens::model::plan::WholeFile(&file),
        &config,
        1,
        &ids,
        Shard::new(0, 2).unwrap(),
    )
    .unwrap();
    let err = capture_blocking(&half, &config, 1, &ids, Taps::default(), &mut Alone).unwrap_err();
    assert!(err.to_string().contains("1 of the forward's 2 ranks answered"), "{err}");
}

#[test]
fn a_file_that_fails_to_load_ends_every_thread_with_its_error() {
    let dir = model_dir("tiny-gpt2-hub");
    let (config, tokenizer, file) = (
        read(&dir.join("config.json")),
        read(&dir.join("tokenizer.json")),
        read(&dir.join("model.safetensors")),
    );
    // Every tensor declared I32 (same header length): each rank's load refuses it and
    // reports it; none waits forever at the barrier or in an exchange.
    let header_len = 8 + u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8(file[8..header_len].to_vec())
        .unwrap()
        .replace("\"F32\"", "\"I32\"");
    let mut broken = file[..8].to_vec();
    broken.extend_from_slice(header.as_bytes());
    broken.extend_from_slice(&file[header_len..]);
    let model = LocalModel {
        config: &config,
        tokenizer: &tokenizer,
        weights: &broken,
        threads: 2,
    };
    let err = run_local(&experiment_of(&golden("tiny-gpt2-hub.L1")), None, &model).expect_err("a file of integers fails");
    assert!(err.to_string().contains("I32"), "{err}");
}

/// A random GPT-2 in hub layout with 3 heads of 8 (C = 24): unlike the fixtures (d_head 16, one
/// kernel panel per head), a rank's queries, keys and values share panels with other columns.
fn odd_heads_model() -> (Gpt2Config, Vec<u8>) {
    use safetensors::tensor::TensorView;
    let (c, layers, vocab, positions) = (24usize, 3usize, 40usize, 12usize);
    let config = format!(
        r#"{{"vocab_size": {vocab}, "n_positions": {positions}, "n_embd": {c}, "n_layer": {layers}, "n_head": 3, "activation_function": "gelu_new"}}"#
    );
    let mut seed = 7u64;
    let mut random = |n: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5).to_le_bytes()
            })
            .collect()
    };
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = vec![
        ("wte.weight".into(), vec![vocab, c], random(vocab * c)),
        ("wpe.weight".into(), vec![positions, c], random(positions * c)),
        ("ln_f.weight".into(), vec![c], random(c)),
        ("ln_f.bias".into(), vec![c], random(c)),
    ];
    for l in 0..layers {
        for (name, shape) in [
            ("ln_1.weight", vec![c]),
            ("ln_1.bias", vec![c]),
            ("attn.c_attn.weight", vec![c, 3 * c]),
            ("attn.c_attn.bias", vec![3 * c]),
            ("attn.c_proj.weight", vec![c, c]),
            ("attn.c_proj.bias", vec![c]),
            ("ln_2.weight", vec![c]),
            ("ln_2.bias", vec![c]),
            ("mlp.c_fc.weight", vec![c, 4 * c]),
            ("mlp.c_fc.bias", vec![4 * c]),
            ("mlp.c_proj.weight", vec![4 * c, c]),
            ("mlp.c_proj.bias", vec![c]),
        ] {
            let n = shape.iter().product();
            tensors.push((format!("h.{l}.{name}"), shape, random(n)));
        }
    }
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(name, shape, data)| {
            (
                name.clone(),
                TensorView::new(safetensors::Dtype::F32, shape.clone(), data).unwrap(),
            )
        })
        .collect();
    let file = safetensors::serialize(views, None).unwrap();
    (Gpt2Config::from_json(config.as_bytes()).unwrap(), file)
}

#[test]
fn heads_that_share_kernel_panels_split_exactly_too() {
    let (config, file) = odd_heads_model();
    // A shared prefix of 3 tokens, then words of 1 and 2 tokens.
    let ids: Vec<Vec<u32>> = (0..9u32)
        .map(|i| [vec![1, 2, 3], (0..1 + i % 2).map(|j| 4 + i + j).collect()].concat())
        .collect();
    assert_every_split_equals_one_rank("3 heads of 8", &file, &config, &ids);
}

/// Each rank keeps its heads' share of the prefix's keys and values: a second run of one
/// prompt on two ranks uses them and equals one worker bit for bit. A rank that lost its kept
/// prefix while the other kept it makes the run an error on both (the page then falls back to
/// one worker), never numbers from activations of other shapes.
#[test]
fn ranks_keep_the_prefix_together_or_the_run_is_an_error() {
    let ids = lecture_ids();
    let dir = model_dir("tiny-gpt2-hub");
    let config = Gpt2Config::from_json(&read(&dir.join("config.json"))).unwrap();
    let file = read(&dir.join("model.safetensors"));
    let layer = 2;
    let whole = LayerWeights::from_safetensors(&file, &config, layer, &ids).unwrap();
    let edit = vec![ids[5].clone()];
    let one = capture_last_token(&whole, &config, &edit).unwrap();
    let header = Header::from_file(&file).unwrap();
    let taps = Taps::default();
    // Per rank: the lecture run, the edit, then (rank 1's prefix forgotten) the edit again.
    let outcomes: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = ThreadExchange::ranks(2)
            .into_iter()
            .enumerate()
            .map(|(rank, mut exchange)| {
                let (header, config, ids, edit, file) = (&header, &config, &ids, &edit, &file);
                s.spawn(move || {
                    let shard = Shard::new(rank, 2).unwrap();
                    let weights =
                        LayerWeights::load_shard(header, &qk_lens::model::plan::WholeFile(file), config, layer, ids, shard)
                            .unwrap();
                    capture_blocking(&weights, config, layer, ids, taps, &mut exchange).unwrap();
                    let kept = weights.prefix_kv.tokens();
                    let edited = capture_blocking(&weights, config, layer, edit, taps, &mut exchange).unwrap();
                    if rank == 1 {
                        weights.prefix_kv.clear();
                    }
                    let desync = capture_blocking(&weights, config, layer, edit, taps, &mut exchange);
                    (kept, edited, desync.err().map(|e| e.to_string()))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (rank, (kept, edited, desync)) in outcomes.into_iter().enumerate() {
        let prefix = qk_lens::model::shared_prefix_len(&ids);
        assert_eq!(kept.as_deref(), Some(&ids[0][..prefix]), "rank {rank} keeps the prefix");
        assert_eq!(edited[0], one, "rank {rank}: the edit with the kept prefix equals one worker");
        let why = desync.unwrap_or_else(|| panic!("rank {rank}: a run with one rank's prefix forgotten must fail"));
        assert!(why.contains("disagree on its rows"), "rank {rank}: {why}");
    }
}

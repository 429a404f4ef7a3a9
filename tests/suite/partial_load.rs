//! Loading only the planned byte pieces gives exactly the result of loading the whole file, and
//! the plan leaves out what a capture at layer L does not need.

use crate::common::*;
use qk_lens::model::matmul::PackedLinear;
use qk_lens::model::plan::{coalesce, needs, plan, ByteSource, FetchedRanges, Header, Need, WholeFile};
use qk_lens::model::shard::Shard;
use qk_lens::model::weights::tokens_used;
use qk_lens::model::{Gpt2Config, LayerWeights, Prepacked};

fn lecture_ids() -> Vec<Vec<u32>> {
    serde_json::from_value(golden("tiny-gpt2-hub.L1")["token_ids"].clone()).unwrap()
}

/// Fetches only the planned pieces (coalesced), as the page does with Range requests.
fn fetch_planned(file: &[u8], header: &Header, config: &Gpt2Config, layer: usize, ids: &[Vec<u32>]) -> FetchedRanges {
    let (rows, n_pos) = tokens_used(config, ids).unwrap();
    let pieces = plan(header, &needs(config, layer, &rows, n_pos)).unwrap();
    let ranges = coalesce(pieces.iter().map(|p| p.range.clone()), 4096);
    FetchedRanges::new(
        ranges
            .into_iter()
            .map(|r| (r.start, file[r.start as usize..r.end as usize].to_vec()))
            .collect(),
    )
}

#[test]
fn partial_equals_whole_for_every_layer_and_dtype() {
    let ids = lecture_ids();
    for model in ["tiny-gpt2-hub", "tiny-gpt2-hub-fp16", "tiny-gpt2-savepretrained"] {
        let dir = model_dir(model);
        let config = Gpt2Config::from_json(&read(&dir.join("config.json"))).unwrap();
        let file = read(&dir.join("model.safetensors"));
        let n = Header::json_len(&file[..8]).unwrap() as usize;
        let header = Header::parse(&file[8..8 + n], file.len() as u64).unwrap();
        for layer in 0..config.n_layer {
            let fetched = fetch_planned(&file, &header, &config, layer, &ids);
            assert!(
                fetched.total_bytes() < file.len() as u64 / 2,
                "{model} L{layer}: {} bytes fetched",
                fetched.total_bytes()
            );
            let partial = LayerWeights::load(&header, &fetched, &config, layer, &ids).unwrap();
            let whole = LayerWeights::from_safetensors(&file, &config, layer, &ids).unwrap();
            let a = capture_last_token(&partial, &config, &ids).unwrap();
            let b = capture_last_token(&whole, &config, &ids).unwrap();
            assert_eq!(a, b, "{model} L{layer}: partial and whole loads differ");
        }
    }
}

#[test]
fn plan_needs_only_the_layers_below_and_the_rows_used() {
    let dir = model_dir("tiny-gpt2-hub");
    let config = Gpt2Config::from_json(&read(&dir.join("config.json"))).unwrap();
    let header = Header::from_file(&read(&dir.join("model.safetensors"))).unwrap();
    let ids = lecture_ids();
    let (rows, n_pos) = tokens_used(&config, &ids).unwrap();
    assert_eq!(
        (rows.len(), n_pos),
        (4 + 34, 5),
        "4 shared prefix tokens + 34 words, 5 positions"
    );
    let pieces = plan(&header, &needs(&config, 1, &rows, n_pos)).unwrap();
    let keys: Vec<&str> = pieces.iter().map(|p| p.key.as_str()).collect();
    assert!(
        keys.contains(&"h.0.mlp.c_proj.weight") && keys.contains(&"h.1.attn.c_attn.bias") && keys.contains(&"h.1.ln_1.weight")
    );
    assert!(keys.contains(&"wte.weight[16161]"), "galaxy's embedding row");
    for absent in [
        "h.1.attn.c_proj.weight",
        "h.1.ln_2.weight",
        "h.2.ln_1.weight",
        "ln_f.weight",
        "h.0.attn.bias",
        "wpe.weight[5]",
    ] {
        assert!(!keys.contains(&absent), "{absent} is not needed at layer 1");
    }
    assert_eq!(keys.iter().filter(|k| k.starts_with("wte.weight[")).count(), 38);
    // Rows are 64 f32 = 256 bytes each; pieces are in file order and never overlap.
    let row = pieces.iter().find(|p| p.key == "wte.weight[464]").unwrap();
    assert_eq!(row.range.end - row.range.start, 256);
    assert!(pieces.windows(2).all(|w| w[0].range.end <= w[1].range.start));
}

#[test]
fn coalesce_merges_close_ranges_only() {
    assert_eq!(coalesce([0..10, 12..20, 100..110], 2), vec![0..20, 100..110]);
    assert_eq!(coalesce([0..10, 13..20], 2), vec![0..10, 13..20]);
    assert_eq!(coalesce([0..10, 5..8, 8..30], 0), vec![0..30]);
    assert!(coalesce(Vec::new(), 10).is_empty());
}

#[test]
fn fetched_ranges_serve_only_what_was_fetched() {
    let f = FetchedRanges::new(vec![(100, vec![1, 2, 3, 4]), (10, vec![9, 8])]);
    assert_eq!(&*f.bytes(101..103).unwrap(), &[2, 3]);
    assert_eq!(&*f.bytes(10..12).unwrap(), &[9, 8]);
    assert!(f.bytes(102..105).is_err(), "runs past the fetched part");
    assert!(f.bytes(0..2).is_err(), "before any part");
    assert!(f.bytes(50..52).is_err(), "between parts");
    assert_eq!(f.total_bytes(), 6);
}

#[test]
fn header_rejects_lies() {
    assert!(Header::json_len(&[1, 2, 3]).is_err(), "fewer than 8 bytes");
    assert!(Header::json_len(&u64::MAX.to_le_bytes()).is_err(), "an absurd header length");
    let json = br#"{"wte.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#;
    let file_len = 8 + json.len() as u64 + 16;
    assert!(Header::parse(json, file_len).is_ok());
    assert!(
        Header::parse(json, file_len - 1).is_err(),
        "file shorter than the header says"
    );
    let overlapping = br#"{"wte.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"wpe.weight":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
    assert!(
        Header::parse(overlapping, 8 + overlapping.len() as u64 + 12).is_err(),
        "overlapping tensors"
    );
    let wrong_size = br#"{"wte.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}"#;
    assert!(
        Header::parse(wrong_size, 8 + wrong_size.len() as u64 + 12).is_err(),
        "size disagrees with shape"
    );
    let unknown_dtype = br#"{"wte.weight":{"dtype":"F99","shape":[2],"data_offsets":[0,8]}}"#;
    assert!(
        Header::parse(unknown_dtype, 8 + unknown_dtype.len() as u64 + 8).is_err(),
        "unknown dtype"
    );
}

/// The size the page shows before a run (Prepared::needed_bytes): grows with the layer, the
/// layer sweep needs what the top layer needs, and a run downloads no less.
#[test]
fn needed_bytes_before_a_run() {
    use qk_lens::analysis::report::ExtendedOptions;
    use qk_lens::Experiment;
    let dir = model_dir("tiny-gpt2-hub");
    let file = read(&dir.join("model.safetensors"));
    let header = Header::from_file(&file).unwrap();
    let mut exp = experiment_of(&golden("tiny-gpt2-hub.L1"));
    let at = |exp: &Experiment, options: Option<&ExtendedOptions>| prepare(&dir, exp, options).needed_bytes(&header).unwrap();
    let sizes: Vec<u64> = (0..4)
        .map(|l| {
            exp.layer = l;
            at(&exp, None)
        })
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    assert!(sizes[3] < file.len() as u64);
    exp.layer = 1;
    let sweep = ExtendedOptions {
        all_layers: true,
        ..Default::default()
    };
    assert_eq!(at(&exp, Some(&sweep)), sizes[3]);
}

/// The pieces of `needs` less every Conv1D (weight and bias): what a run reads when the browser
/// keeps them packed.
fn fetch_without_conv1ds(file: &[u8], header: &Header, config: &Gpt2Config, layer: usize, ids: &[Vec<u32>]) -> FetchedRanges {
    let (rows, n_pos) = tokens_used(config, ids).unwrap();
    let mut wanted = needs(config, layer, &rows, n_pos);
    let convs = ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"];
    wanted.retain(|n| {
        let (Need::Whole { name, .. } | Need::Rows { name, .. }) = n;
        !convs
            .iter()
            .any(|c| name.ends_with(&format!("{c}.weight")) || name.ends_with(&format!("{c}.bias")))
    });
    let pieces = plan(header, &wanted).unwrap();
    FetchedRanges::new(
        pieces
            .iter()
            .map(|p| (p.range.start, file[p.range.start as usize..p.range.end as usize].to_vec()))
            .collect(),
    )
}

#[test]
fn conv1ds_kept_packed_load_without_their_bytes_and_give_the_same_captures() {
    let ids = lecture_ids();
    let dir = model_dir("tiny-gpt2-hub");
    let config = Gpt2Config::from_json(&read(&dir.join("config.json"))).unwrap();
    let file = read(&dir.join("model.safetensors"));
    let header = Header::from_file(&file).unwrap();
    let layer = 3;
    for shard in [Shard::WHOLE, Shard::new(1, 2).unwrap()] {
        let packed = LayerWeights::load_shard(&header, &WholeFile(&file), &config, layer, &ids, shard).unwrap();
        // What a store gives back: each Conv1D's panels and bias, copied.
        let kept: Prepacked = packed
            .conv1ds()
            .into_iter()
            .map(|(name, l)| {
                let (k, n) = (l.in_features(), l.out_features());
                (
                    name,
                    PackedLinear::from_panels(k, n, l.panels().to_vec(), l.bias().to_vec()).unwrap(),
                )
            })
            .collect();
        assert_eq!(kept.len(), 4 * layer + 1);
        let source = fetch_without_conv1ds(&file, &header, &config, layer, &ids);
        // The bytes are not there: without the kept panels the load fails.
        assert!(LayerWeights::load_shard(&header, &source, &config, layer, &ids, shard).is_err());
        let from_store = LayerWeights::load_prepacked(&header, &source, &config, layer, &ids, shard, kept).unwrap();
        assert_eq!(from_store.held_bytes(), packed.held_bytes());
        for ((a, x), (b, y)) in from_store.conv1ds().into_iter().zip(packed.conv1ds()) {
            assert_eq!((&a, x.panels(), x.bias()), (&b, y.panels(), y.bias()));
        }
        if shard == Shard::WHOLE {
            let a = capture_last_token(&from_store, &config, &ids).unwrap();
            let b = capture_last_token(&packed, &config, &ids).unwrap();
            assert_eq!(a, b);
        }
    }
    // A kept share of the wrong shape (another split) is an error, not a misread.
    let half = LayerWeights::load_shard(&header, &WholeFile(&file), &config, 1, &ids, Shard::new(0, 2).unwrap()).unwrap();
    let wrong: Prepacked = half
        .conv1ds()
        .into_iter()
        .map(|(name, l)| {
            (
                name,
                PackedLinear::from_panels(l.in_features(), l.out_features(), l.panels().to_vec(), l.bias().to_vec()).unwrap(),
            )
        })
        .collect();
    let source = fetch_without_conv1ds(&file, &header, &config, 1, &ids);
    assert!(LayerWeights::load_prepacked(&header, &source, &config, 1, &ids, Shard::WHOLE, wrong).is_err());
    // Panels of the wrong length are refused.
    assert!(PackedLinear::from_panels(4, 16, vec![0.0; 63], vec![0.0; 16]).is_none());
}

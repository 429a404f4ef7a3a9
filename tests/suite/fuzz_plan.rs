//! Property-based fuzzing of the byte plan (proptest): plan() with needs no config would make
//! on headers of any dtypes and shapes (zero and huge dimensions), config.json with hostile
//! sizes and types, and the byte-range helpers (coalesce, FetchedRanges) at the ends of u64.
//! Ok or Err, never a panic or an allocation out of proportion; what is planned or served lies
//! inside the file and is exactly what was asked. Cases: PROPTEST_CASES (default 256).

use crate::fuzz_common::*;
use proptest::prelude::*;
use qk_lens::model::plan::{needs, plan, FetchedRanges, Header, Need};
use qk_lens::model::{Gpt2Config, LayerWeights};
use serde_json::{json, Map, Value};

fn config(cases: u32) -> ProptestConfig {
    crate::fuzz_common::config(cases, "proptest-regressions/fuzz_plan.txt")
}

proptest! {
    #![proptest_config(config(256))]

    /// plan() with needs that no config would make (any names, shapes and rows), on headers
    /// laid out consistently from arbitrary dtypes and shapes (zero and huge dimensions).
    #[test]
    fn plan_with_arbitrary_needs(
        specs in proptest::collection::vec((0..4usize, usable_dtype(), dims()), 1..5),
        wants in proptest::collection::vec((0..4usize, prop_oneof![3 => Just(None), 1 => dims().prop_map(Some)],
            proptest::option::weighted(0.75, proptest::collection::vec(hostile_u64(), 0..4))), 1..4),
    ) {
        let names = ["wte.weight", "wpe.weight", "h.0.ln_1.weight", "h.0.attn.c_attn.weight"];
        let mut tensors: Vec<Tensor> = specs.iter().map(|(i, d, s)| Tensor {
            name: names[*i].into(), dtype: json!(d), shape: json!(s), offsets: json!([0, 0]),
        }).collect();
        tensors.dedup_by(|a, b| a.name == b.name);
        relayout(&mut tensors);
        let end = tensors.iter().filter_map(|t| t.offsets[1].as_u64()).max().unwrap_or(0);
        let header: Map<String, Value> = tensors.iter().map(|t| {
            (t.name.clone(), json!({"dtype": t.dtype, "shape": t.shape, "data_offsets": t.offsets}))
        }).collect();
        let json = Value::Object(header).to_string().into_bytes();
        // Huge tensors are described, not written: parse() is told the length the header implies.
        let file_len = (8 + json.len() as u64).saturating_add(end);
        let Ok(header) = Header::parse(&json, file_len) else { return Ok(()) };
        let needs: Vec<Need> = wants.into_iter().map(|(i, shape, rows)| {
            let name = names[i].to_string();
            let own = tensors.iter().find(|t| t.name == name).map(|t| t.shape.clone());
            let shape: Vec<usize> = match (shape, own) {
                (Some(s), _) => s.iter().map(|&d| d as usize).collect(),
                (None, Some(v)) => serde_json::from_value(v).unwrap_or_default(),
                (None, None) => vec![],
            };
            match rows {
                None => Need::Whole { name, shape },
                Some(rows) => Need::Rows {
                    name,
                    shape: [shape.first().copied().unwrap_or(0), shape.get(1).copied().unwrap_or(0)],
                    rows: rows.iter().map(|&r| r as usize).collect(),
                },
            }
        }).collect();
        if let Ok(pieces) = bounded(json.len(), || plan(&header, &needs))? {
            for p in pieces {
                let r = &p.range;
                prop_assert!(8 + json.len() as u64 <= r.start && r.start <= r.end && r.end <= file_len, "{p:?}");
            }
        }
    }
}

/// Sizes a GPT-2 could have: n_embd a multiple of n_head, every size within the limits
/// (vocab_size, n_positions, n_embd, n_layer, n_head, n_inner).
fn plausible_sizes() -> impl Strategy<Value = Vec<Value>> {
    (
        prop_oneof![1..=64u64, 1..=60_000u64],
        1..=2048u64,
        1..=8u64,
        prop_oneof![1..=16u64, Just(128u64)],
        1..=48u64,
        proptest::option::of(1..=4096u64),
    )
        .prop_map(|(vocab, positions, heads, d_head, layers, inner)| {
            vec![
                json!(vocab),
                json!(positions),
                json!(heads * d_head),
                json!(layers),
                json!(heads),
                inner.map_or(Value::Null, |i| json!(i)),
            ]
        })
}

/// config.json text for `hostile_config`: plausible sizes (5 in 6), sometimes one of them
/// replaced by a hostile number or a wrong type, or hostile sizes throughout (1 in 6); a
/// model_type that is mostly "gpt2"; sometimes an extra key of a wrong type.
fn config_text() -> impl Strategy<Value = String> {
    let hostile_value = || prop_oneof![hostile_u64().prop_map(|v| json!(v)), wrong_type()];
    let hostile_sizes = proptest::collection::vec(
        prop_oneof![
            Just(json!(1)),
            Just(json!(4)),
            hostile_u64().prop_map(|v| json!(v)),
            wrong_type()
        ],
        6,
    );
    (
        prop_oneof![5 => plausible_sizes(), 1 => hostile_sizes],
        proptest::option::weighted(0.15, (0..6usize, hostile_value())),
        prop_oneof![12 => Just(json!("gpt2")), 1 => Just(json!("llama")), 1 => wrong_type()],
        proptest::option::weighted(0.2, ("[a-z_]{1,12}", wrong_type())),
    )
        .prop_map(|(mut sizes, damage, model_type, extra)| {
            if let Some((i, v)) = damage {
                sizes[i] = v;
            }
            let mut c = json!({"model_type": model_type, "vocab_size": sizes[0], "n_positions": sizes[1],
                "n_embd": sizes[2], "n_layer": sizes[3], "n_head": sizes[4], "n_inner": sizes[5]});
            if let Some((k, v)) = extra {
                c[k] = v;
            }
            c.to_string()
        })
}

/// The share of `config_text` cases that Gpt2Config accepts: at least half (so the checks after
/// acceptance run), and not all (so rejection is fuzzed too).
#[test]
fn hostile_config_is_mostly_accepted() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = config_text();
    let n = 4000;
    let accepted = (0..n)
        .filter(|_| {
            let text = strategy.new_tree(&mut runner).unwrap().current();
            Gpt2Config::from_json(text.as_bytes()).is_ok()
        })
        .count();
    let share = accepted as f64 / n as f64;
    eprintln!("hostile_config: {accepted} of {n} cases accepted ({:.1} %)", 100.0 * share);
    assert!((0.5..0.9).contains(&share), "accepted share {share}");
}

proptest! {
    #![proptest_config(config(256))]

    /// config.json with hostile sizes and types: Ok or Err, and an accepted config plans its
    /// highest layer without an allocation out of proportion (needs() lists every block below).
    /// Most cases are accepted (see `hostile_config_is_mostly_accepted`), so the checks after
    /// acceptance run on most cases, not on ~1 % of them.
    #[test]
    fn hostile_config(text in config_text()) {
        if let Ok(config) = bounded(text.len(), || Gpt2Config::from_json(text.as_bytes()))? {
            let top = config.n_layer - 1;
            prop_assert!(config.check_layer(top).is_ok() && config.check_layer(config.n_layer).is_err());
            let rows = [0, config.vocab_size as u32 - 1];
            let wants = bounded(0, || needs(&config, top, &rows, config.n_positions.min(4)))?;
            prop_assert_eq!(wants.len(), 2 + 12 * top + 4);
            let (file, _) = &*FIXTURE;
            let _ = bounded(file.len(), || LayerWeights::from_safetensors(file, &config, top, &[vec![0]]))?;
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// coalesce and FetchedRanges with any ranges: what is served is exactly the bytes asked.
    #[test]
    fn fetched_ranges_serve_exactly_what_was_asked(
        parts in proptest::collection::vec((hostile_u64(), proptest::collection::vec(any::<u8>(), 0..16)), 0..5),
        asks in proptest::collection::vec((hostile_u64(), hostile_u64()), 0..8),
        gap in hostile_u64(),
    ) {
        use qk_lens::model::plan::{coalesce, ByteSource};
        let mut ranges: Vec<std::ops::Range<u64>> = asks.iter().map(|&(a, b)| a.min(b)..a.max(b)).collect();
        ranges.sort_by_key(|r| r.start);
        let merged = coalesce(ranges.clone(), gap);
        prop_assert!(merged.len() <= ranges.len());
        for r in &ranges {
            prop_assert!(merged.iter().any(|m| m.start <= r.start && r.end <= m.end), "{r:?} lost");
        }
        let fetched = FetchedRanges::new(parts.clone());
        for &(a, b) in &asks {
            if let Ok(bytes) = fetched.bytes(a..b) {
                prop_assert_eq!(bytes.len() as u64, b - a);
                let from_a_part = parts.iter().any(|(s, p)| {
                    *s <= a && b - s <= p.len() as u64 && *bytes == p[(a - s) as usize..(b - s) as usize]
                });
                prop_assert!(from_a_part, "{a}..{b}: {bytes:?}");
            }
        }
    }
}

// ---------- regressions: inputs the fuzzing found (each panicked before its fix) ----------

/// Rows of a tensor with no rows: shape[1] x bitsize overflowed before any row was checked.
#[test]
fn regression_rows_of_an_empty_huge_tensor() {
    let json = br#"{"wte.weight":{"dtype":"F32","shape":[0,576460752303423488],"data_offsets":[0,0]}}"#;
    let header = Header::parse(json, 8 + json.len() as u64).unwrap();
    let shape = [0, 576460752303423488];
    let rows = |rows: Vec<usize>| {
        plan(
            &header,
            &[Need::Rows {
                name: "wte.weight".into(),
                shape,
                rows,
            }],
        )
    };
    assert_eq!(rows(vec![]).unwrap(), vec![]);
    let err = rows(vec![0]).unwrap_err().to_string();
    assert_eq!(err, "model.safetensors: row 0 of wte.weight is out of range (0 rows)");
}

/// A config.json with n_embd near usize::MAX / 3 passed the checks, then 3 x n_embd overflowed
/// in needs(); one with n_layer 2^40 made needs() list 12 tensors for each of 2^40 blocks.
#[test]
fn regression_config_sizes_beyond_any_gpt2() {
    let config = |embd: u64, layers: u64, inner: Option<u64>| {
        let c =
            json!({"vocab_size": 50257, "n_positions": 1024, "n_embd": embd, "n_layer": layers, "n_head": 1, "n_inner": inner});
        Gpt2Config::from_json(c.to_string().as_bytes()).map_err(|e| e.to_string())
    };
    let err = config(6148914691236517206, 1, None).unwrap_err();
    assert_eq!(
        err,
        "config.json: n_embd 6148914691236517206 is larger than any GPT-2 (at most 16777216)"
    );
    let err = config(64, 1 << 40, None).unwrap_err();
    assert_eq!(
        err,
        "config.json: n_layer 1099511627776 is larger than any GPT-2 (at most 4096)"
    );
    assert_eq!(config(64, 4, Some(0)).unwrap_err(), "config.json: n_inner must be positive");
    assert_eq!(
        config(64, 4, Some(u64::MAX)).unwrap_err(),
        format!(
            "config.json: n_inner {} is larger than any GPT-2 (at most 16777216)",
            u64::MAX
        )
    );
    let xl = config(1600, 48, None).unwrap();
    let top = bounded(0, || needs(&xl, 47, &[0, 50256], 1024)).unwrap();
    assert_eq!(top.len(), 2 + 12 * 47 + 4);
}

/// The byte-range helpers at the ends of u64, and a reversed range.
#[test]
fn regression_ranges_at_the_limits() {
    use qk_lens::model::plan::{coalesce, ByteSource};
    assert_eq!(coalesce([0..u64::MAX, 5..6], 1), vec![0..u64::MAX]);
    assert_eq!(coalesce([0..10, 20..30], u64::MAX), vec![0..30]);
    let f = FetchedRanges::new(vec![(u64::MAX - 2, vec![1, 2]), (0, vec![0; 10])]);
    assert_eq!(&*f.bytes(u64::MAX - 2..u64::MAX).unwrap(), &[1, 2]);
    #[allow(clippy::reversed_empty_ranges)]
    let reversed = f.bytes(5..3);
    assert!(reversed.is_err());
    assert!(f.bytes(u64::MAX - 1..u64::MAX).is_ok());
}

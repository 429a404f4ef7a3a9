//! Property-based fuzzing of model.safetensors parsing (proptest): arbitrary bytes, and valid
//! tiny GPT-2 files with hostile mutations (lying lengths, overlapping or out-of-bounds offsets,
//! unknown dtypes, huge or wrong shapes, non-UTF-8 and deep JSON). Header::json_len,
//! Header::parse, Header::from_file, plan and LayerWeights::from_safetensors must answer Ok or
//! Err, never panic, never make an allocation out of proportion to the input; and when parsing
//! succeeds every planned piece lies inside the file. Cases: PROPTEST_CASES (default 256).

use crate::fuzz_common::*;
use proptest::prelude::*;
use qk_lens::model::plan::{needs, plan, FetchedRanges, Header};
use qk_lens::model::{Gpt2Config, LayerWeights};
use serde_json::{json, Map, Value};

fn config(cases: u32) -> ProptestConfig {
    crate::fuzz_common::config(cases, "proptest-regressions/fuzz_header.txt")
}

// ---------- mutations of a tiny GPT-2 file ----------

#[derive(Clone, Debug)]
enum Mutation {
    Dtype(usize, &'static str),
    Shape(usize, Vec<u64>),
    Offsets(usize, u64, u64),
    ShiftEnd(usize, i64),
    Field(usize, usize, Value),
    Remove(usize),
    Rename(usize, String),
    Add(String, &'static str, Vec<u64>, u64, u64),
    /// Offsets recomputed back to back from dtypes and shapes (so shape lies become consistent).
    Relayout,
    Metadata(Value),
    DataLen(i64),
    HeaderLen(i64),
    JsonByte(usize, u8),
    Pad(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let i = any::<usize>();
    let dtype = proptest::sample::select(DTYPES);
    let shape = proptest::collection::vec(hostile_u64(), 0..4);
    prop_oneof![
        (i, dtype.clone()).prop_map(|(i, d)| Mutation::Dtype(i, d)),
        (i, shape.clone()).prop_map(|(i, s)| Mutation::Shape(i, s)),
        (i, hostile_u64(), hostile_u64()).prop_map(|(i, a, b)| Mutation::Offsets(i, a, b)),
        (i, -16i64..16).prop_map(|(i, d)| Mutation::ShiftEnd(i, d)),
        (i, 0..4usize, wrong_type()).prop_map(|(i, f, v)| Mutation::Field(i, f, v)),
        i.prop_map(Mutation::Remove),
        (i, "[a-z._0-9]{0,12}|\\PC{0,6}").prop_map(|(i, n)| Mutation::Rename(i, n)),
        ("[a-z.]{0,8}", dtype, shape, hostile_u64(), hostile_u64()).prop_map(|(n, d, s, a, b)| Mutation::Add(n, d, s, a, b)),
        Just(Mutation::Relayout),
        prop_oneof![wrong_type(), Just(json!({"format": "pt"})), Just(json!({"a": {"b": 1}}))].prop_map(Mutation::Metadata),
        (-64i64..64).prop_map(Mutation::DataLen),
        prop_oneof![-8i64..8, Just(1 << 40), Just(-(1 << 40))].prop_map(Mutation::HeaderLen),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::JsonByte(i, b)),
        (0..64usize).prop_map(Mutation::Pad),
    ]
}

/// A tiny GPT-2 file (tensors F32/F16/BF16, hub or save_pretrained names) after `mutations`.
fn tiny_file(prefix: bool, dtypes: &[usize], mutations: &[Mutation], seed: u8) -> Vec<u8> {
    let pre = if prefix { "transformer." } else { "" };
    let mut tensors: Vec<Tensor> = tiny_tensors()
        .into_iter()
        .zip(dtypes.iter().cycle())
        .map(|((name, shape), &d)| Tensor {
            name: format!("{pre}{name}"),
            dtype: json!(["F32", "F16", "BF16"][d % 3]),
            shape: json!(shape),
            offsets: Value::Null,
        })
        .collect();
    relayout(&mut tensors);
    let (mut metadata, mut data_delta, mut len_delta, mut edits, mut pad) = (None, 0i64, 0i64, vec![], 0);
    for m in mutations.iter().cloned() {
        let n = tensors.len().max(1);
        let target = match &m {
            Mutation::Dtype(i, _) | Mutation::Shape(i, _) | Mutation::Offsets(i, _, _) => *i % n,
            Mutation::ShiftEnd(i, _) | Mutation::Field(i, _, _) | Mutation::Rename(i, _) => *i % n,
            _ => usize::MAX,
        };
        if let Some(t) = tensors.get_mut(target) {
            match m {
                Mutation::Dtype(_, d) => t.dtype = json!(d),
                Mutation::Shape(_, s) => t.shape = json!(s),
                Mutation::Offsets(_, a, b) => t.offsets = json!([a, b]),
                Mutation::ShiftEnd(_, d) => {
                    if let Some(e) = t.offsets[1].as_u64() {
                        t.offsets[1] = json!(e.saturating_add_signed(d));
                    }
                }
                Mutation::Field(_, 0, v) => t.dtype = v,
                Mutation::Field(_, 1, v) => t.shape = v,
                Mutation::Field(_, 2, v) => t.offsets = v,
                Mutation::Field(_, _, v) => t.name = v.to_string(),
                Mutation::Rename(_, name) => t.name = name,
                _ => {}
            }
            continue;
        }
        match m {
            Mutation::Remove(i) if !tensors.is_empty() => drop(tensors.remove(i % n)),
            Mutation::Add(name, d, s, a, b) => tensors.push(Tensor {
                name,
                dtype: json!(d),
                shape: json!(s),
                offsets: json!([a, b]),
            }),
            Mutation::Relayout => relayout(&mut tensors),
            Mutation::Metadata(v) => metadata = Some(v),
            Mutation::DataLen(d) => data_delta = d,
            Mutation::HeaderLen(d) => len_delta = d,
            Mutation::JsonByte(i, b) => edits.push((i, b)),
            Mutation::Pad(p) => pad = p,
            _ => {}
        }
    }
    let mut header = Map::new();
    if let Some(m) = metadata {
        header.insert("__metadata__".into(), m);
    }
    let data_len = tensors.iter().filter_map(|t| t.offsets[1].as_u64()).max().unwrap_or(0);
    for t in tensors {
        let entry = json!({"dtype": t.dtype, "shape": t.shape, "data_offsets": t.offsets});
        header.insert(t.name, entry);
    }
    let mut json = Value::Object(header).to_string().into_bytes();
    json.extend(std::iter::repeat_n(b' ', pad));
    for (i, b) in edits {
        let n = json.len();
        json[i % n] = b;
    }
    let data_len = (data_len.min(1 << 20) as i64 + data_delta).max(0) as usize;
    let mut bytes = (json.len() as u64).saturating_add_signed(len_delta).to_le_bytes().to_vec();
    bytes.extend_from_slice(&json);
    bytes.extend((0..data_len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    bytes
}

// ---------- the properties ----------

/// Parses `bytes` every way there is; if the header parses, every planned piece lies inside the
/// file and loading succeeds exactly when planning does (whole file and planned pieces alike).
fn check_file(bytes: &[u8], config: &Gpt2Config, layer: usize, ids: &[Vec<u32>]) -> Result<(), TestCaseError> {
    bounded(bytes.len(), || -> Result<(), TestCaseError> {
        let _ = Header::json_len(bytes);
        let loaded = LayerWeights::from_safetensors(bytes, config, layer, ids);
        let header = match Header::from_file(bytes) {
            Ok(h) => h,
            Err(_) => {
                prop_assert!(loaded.is_err(), "a file whose header fails loaded");
                return Ok(());
            }
        };
        prop_assert_eq!(header.file_len(), bytes.len() as u64);
        let data_start = 8 + Header::json_len(bytes).unwrap();
        let mut rows: Vec<u32> = ids.iter().flatten().copied().collect();
        rows.sort_unstable();
        rows.dedup();
        let n_pos = ids.iter().map(Vec::len).max().unwrap_or(0);
        let pieces = match plan(&header, &needs(config, layer, &rows, n_pos)) {
            Ok(p) => p,
            Err(_) => {
                prop_assert!(loaded.is_err(), "a file whose plan fails loaded");
                return Ok(());
            }
        };
        for p in &pieces {
            let r = &p.range;
            prop_assert!(
                data_start <= r.start && r.start <= r.end && r.end <= bytes.len() as u64,
                "{p:?}"
            );
        }
        prop_assert!(
            pieces.windows(2).all(|w| w[0].range.end <= w[1].range.start),
            "overlapping pieces"
        );
        prop_assert!(loaded.is_ok(), "planned but not loaded: {:?}", loaded.err());
        let parts = pieces
            .iter()
            .map(|p| (p.range.start, bytes[p.range.start as usize..p.range.end as usize].to_vec()));
        let fetched = FetchedRanges::new(parts.collect());
        let partial = LayerWeights::load(&header, &fetched, config, layer, ids);
        prop_assert!(partial.is_ok(), "planned pieces do not load: {:?}", partial.err());
        Ok(())
    })?
}

fn tiny_ids() -> impl Strategy<Value = Vec<Vec<u32>>> {
    proptest::collection::vec(proptest::collection::vec(0..V as u32, 1..=P as usize), 1..4)
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048), ids in tiny_ids()) {
        check_file(&bytes, &TINY, 1, &ids)?;
    }

    #[test]
    fn arbitrary_json_behind_a_true_length(body in proptest::collection::vec(any::<u8>(), 0..2048), ids in tiny_ids()) {
        let mut bytes = (body.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(&body);
        check_file(&bytes, &TINY, 0, &ids)?;
    }

    #[test]
    fn mutated_tiny_gpt2(
        prefix in any::<bool>(),
        dtypes in proptest::collection::vec(0..3usize, 1..8),
        mutations in proptest::collection::vec(mutation(), 0..5),
        seed in any::<u8>(),
        layer in 0..LAYERS as usize,
        ids in tiny_ids(),
    ) {
        let bytes = tiny_file(prefix, &dtypes, &mutations, seed);
        check_file(&bytes, &TINY, layer, &ids)?;
        if mutations.is_empty() {
            prop_assert!(LayerWeights::from_safetensors(&bytes, &TINY, layer, &ids).is_ok());
        }
    }

    /// parse() trusts no total length either (the page gets it from the server's Content-Range).
    #[test]
    fn parse_with_any_claimed_file_length(
        mutations in proptest::collection::vec(mutation(), 0..4),
        claimed in prop_oneof![hostile_u64(), 0..4096u64],
    ) {
        let bytes = tiny_file(false, &[0], &mutations, 0);
        let n = Header::json_len(&bytes).unwrap_or(0) as usize;
        let json = bytes.get(8..8 + n).unwrap_or_default();
        if let Ok(h) = bounded(bytes.len(), || Header::parse(json, claimed))? {
            prop_assert_eq!(h.file_len(), claimed);
            for (name, shape) in tiny_tensors() {
                let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
                if let Ok(loc) = h.locate(&name, &shape) {
                    prop_assert!(8 + n as u64 <= loc.start && loc.start <= loc.end && loc.end <= claimed, "{name}: {loc:?}");
                }
            }
        }
    }

    /// Many tensors whose sizes reach the arithmetic limits (2^61 bytes each, up to 2^64 in all).
    #[test]
    fn huge_consistent_offsets(
        sizes in proptest::collection::vec(prop_oneof![4 => Just((1u64 << 61) - 1), 1 => 0..8u64], 1..12),
        claimed in prop_oneof![Just(None), any::<u64>().prop_map(Some)],
    ) {
        let mut header = Map::new();
        let mut at = 0u64;
        for (i, n) in sizes.iter().enumerate() {
            let Some(end) = at.checked_add(*n) else { break };
            let name = if i == 0 { "wte.weight".to_string() } else { format!("t{i}") };
            header.insert(name, json!({"dtype": "U8", "shape": [n], "data_offsets": [at, end]}));
            at = end;
        }
        let json = Value::Object(header).to_string().into_bytes();
        let file_len = claimed.unwrap_or((8 + json.len() as u64).wrapping_add(at));
        if let Ok(h) = bounded(json.len(), || Header::parse(&json, file_len))? {
            let loc = h.locate("wte.weight", &[sizes[0] as usize]);
            prop_assert!(loc.is_err() || loc.unwrap().end <= file_len);
        }
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// The real fixture (13.7 MB) with bytes of its header overwritten, or cut short.
    #[test]
    fn corrupted_fixture_header(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in proptest::option::of(any::<usize>()),
        layer in 0..4usize,
    ) {
        let (file, config) = &*FIXTURE;
        let n = 8 + Header::json_len(file).unwrap() as usize;
        let mut bytes = file.clone();
        for (i, b) in edits {
            bytes[i % n] = b;
        }
        if let Some(c) = cut {
            bytes.truncate(c % (bytes.len() + 1));
        }
        check_file(&bytes, config, layer, &[vec![464, 1306, 1573, 318, 16161]])?;
    }
}

#[test]
fn deep_json_is_an_error_not_a_stack_overflow() {
    for depth in [129, 10_000, 1_000_000] {
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            let deep = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            for json in [
                deep.clone(),
                format!("{{\"wte.weight\":{deep}}}"),
                format!("{{\"__metadata__\":{deep}}}"),
                format!("{{\"wte.weight\":{{\"dtype\":\"F32\",\"shape\":{deep},\"data_offsets\":[0,0]}}}}"),
            ] {
                let bytes = with_length(json.as_bytes());
                assert!(Header::from_file(&bytes).is_err(), "depth {depth}");
            }
        }
    }
}

// ---------- regressions: inputs the fuzzing found (each panicked before its fix) ----------

/// Eight U8 tensors of 2^61 - 1 bytes: the data section ends 8 bytes short of 2^64, so
/// 8 + header + data overflowed u64 (a panic; wrapped in release, where a lying total length
/// could then pass with every tensor outside the file).
#[test]
fn regression_data_length_near_u64_max() {
    let n = (1u64 << 61) - 1;
    let header: Map<String, Value> = (0..8u64)
        .map(|i| {
            let name = if i == 0 { "wte.weight".to_string() } else { format!("t{i}") };
            (
                name,
                json!({"dtype": "U8", "shape": [n], "data_offsets": [i * n, (i + 1) * n]}),
            )
        })
        .collect();
    let json = Value::Object(header).to_string().into_bytes();
    let wrapped = (8 + json.len() as u64).wrapping_add(8 * n);
    for claimed in [wrapped, json.len() as u64, u64::MAX] {
        let err = Header::parse(&json, claimed).err().expect("refused").to_string();
        assert!(err.ends_with("truncated or inconsistent"), "{err}");
    }
    assert!(Header::from_file(&with_length(&json)).is_err());
}

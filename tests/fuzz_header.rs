//! Property-based fuzzing of model.safetensors parsing (proptest): arbitrary bytes, and valid
//! tiny GPT-2 files with hostile mutations (lying lengths, overlapping or out-of-bounds offsets,
//! unknown dtypes, huge or wrong shapes, non-UTF-8 and deep JSON). Header::json_len,
//! Header::parse, Header::from_file, plan and LayerWeights::from_safetensors must answer Ok or
//! Err, never panic, never make an allocation out of proportion to the input; and when parsing
//! succeeds every planned piece lies inside the file. Cases: PROPTEST_CASES (default 256).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::LazyLock;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use qk_lens::model::plan::{needs, plan, FetchedRanges, Header, Need};
use qk_lens::model::{Gpt2Config, LayerWeights};
use serde_json::{json, Map, Value};

// ---------- the largest single allocation, per thread ----------

struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|m| m.set(m.get().max(size)));
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Tracking = Tracking;

/// Runs `f`, then fails if any single allocation on this thread exceeded 1 MiB + 16 x `input`.
fn bounded<T>(input: usize, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    LARGEST.with(|m| m.set(0));
    let out = f();
    let largest = LARGEST.with(|m| m.get());
    let limit = (1 << 20) + 16 * input;
    prop_assert!(
        largest <= limit,
        "allocated {largest} bytes at once for {input} bytes of input"
    );
    Ok(out)
}

fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    let file = "proptest-regressions/fuzz_header.txt";
    let persistence = Some(Box::new(FileFailurePersistence::Direct(file)) as _);
    ProptestConfig {
        cases,
        failure_persistence: persistence,
        ..ProptestConfig::default()
    }
}

// ---------- a tiny GPT-2 file and its mutations ----------

const V: u64 = 5;
const P: u64 = 4;
const C: u64 = 2;
const LAYERS: u64 = 2;

static TINY: LazyLock<Gpt2Config> = LazyLock::new(|| {
    let c = json!({"model_type": "gpt2", "vocab_size": V, "n_positions": P, "n_embd": C, "n_layer": LAYERS, "n_head": 1});
    Gpt2Config::from_json(c.to_string().as_bytes()).unwrap()
});

/// Every tensor of a tiny GPT-2 checkpoint (hub names, file order).
fn tiny_tensors() -> Vec<(String, Vec<u64>)> {
    let mut t = vec![("wte.weight".to_string(), vec![V, C]), ("wpe.weight".into(), vec![P, C])];
    for l in 0..LAYERS {
        let mut add = |name: &str, shape: Vec<u64>| t.push((format!("h.{l}.{name}"), shape));
        add("ln_1.weight", vec![C]);
        add("ln_1.bias", vec![C]);
        add("attn.c_attn.weight", vec![C, 3 * C]);
        add("attn.c_attn.bias", vec![3 * C]);
        add("attn.c_proj.weight", vec![C, C]);
        add("attn.c_proj.bias", vec![C]);
        add("ln_2.weight", vec![C]);
        add("ln_2.bias", vec![C]);
        add("mlp.c_fc.weight", vec![C, 4 * C]);
        add("mlp.c_fc.bias", vec![4 * C]);
        add("mlp.c_proj.weight", vec![4 * C, C]);
        add("mlp.c_proj.bias", vec![C]);
    }
    t.push(("ln_f.weight".into(), vec![C]));
    t.push(("ln_f.bias".into(), vec![C]));
    t
}

const DTYPES: &[&str] = &[
    "F32", "F16", "BF16", "F64", "I64", "U8", "I8", "BOOL", "F4", "F6_E2M3", "F8_E4M3", "C64", "F99", "f32", "",
];
const HUGE: &[u64] = &[
    0,
    1,
    2,
    3,
    5,
    64,
    50257,
    1 << 31,
    1 << 32,
    (1 << 61) - 1,
    1 << 61,
    1 << 62,
    u64::MAX - 1,
    u64::MAX,
];

fn hostile_u64() -> BoxedStrategy<u64> {
    prop_oneof![proptest::sample::select(HUGE), 0..200u64, any::<u64>()].boxed()
}

fn wrong_type() -> impl Strategy<Value = Value> {
    proptest::sample::select(vec![
        json!(null),
        json!("2"),
        json!(-1),
        json!(1.5),
        json!(1e300),
        json!([[]]),
        json!({}),
        json!(true),
        json!([0, 1, 2]),
        json!([-4, 4]),
    ])
}

/// One tensor as it will be written: each field a JSON value, so any field can lie.
#[derive(Clone, Debug)]
struct Tensor {
    name: String,
    dtype: Value,
    shape: Value,
    offsets: Value,
}

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
        (i.clone(), dtype.clone()).prop_map(|(i, d)| Mutation::Dtype(i, d)),
        (i.clone(), shape.clone()).prop_map(|(i, s)| Mutation::Shape(i, s)),
        (i.clone(), hostile_u64(), hostile_u64()).prop_map(|(i, a, b)| Mutation::Offsets(i, a, b)),
        (i.clone(), -16i64..16).prop_map(|(i, d)| Mutation::ShiftEnd(i, d)),
        (i.clone(), 0..4usize, wrong_type()).prop_map(|(i, f, v)| Mutation::Field(i, f, v)),
        i.clone().prop_map(Mutation::Remove),
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

fn bits(dtype: &Value) -> Option<u64> {
    let d: safetensors::Dtype = serde_json::from_value(dtype.clone()).ok()?;
    Some(d.bitsize() as u64)
}

fn byte_size(t: &Tensor) -> Option<u64> {
    let shape: Vec<u64> = serde_json::from_value(t.shape.clone()).ok()?;
    let n = shape.iter().try_fold(1u64, |a, &b| a.checked_mul(b))?;
    n.checked_mul(bits(&t.dtype)?).map(|b| b / 8)
}

fn relayout(tensors: &mut [Tensor]) {
    let mut at = 0u64;
    for t in tensors {
        if let Some(end) = byte_size(t).and_then(|n| at.checked_add(n)) {
            t.offsets = json!([at, end]);
            at = end;
        }
    }
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

static FIXTURE: LazyLock<(Vec<u8>, Gpt2Config)> = LazyLock::new(|| {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/tiny-gpt2-hub");
    let config = Gpt2Config::from_json(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    (std::fs::read(dir.join("model.safetensors")).unwrap(), config)
});

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

proptest! {
    #![proptest_config(config(256))]

    /// config.json with hostile sizes and types: Ok or Err, and an accepted config plans its
    /// highest layer without an allocation out of proportion (needs() lists every block below).
    #[test]
    fn hostile_config(
        sizes in proptest::collection::vec(prop_oneof![Just(json!(1)), Just(json!(4)), hostile_u64().prop_map(|v| json!(v)), wrong_type()], 6),
        model_type in prop_oneof![Just(json!("gpt2")), Just(json!("llama")), wrong_type()],
        extra in proptest::option::of(("[a-z_]{1,12}", wrong_type())),
    ) {
        let mut c = json!({"model_type": model_type, "vocab_size": sizes[0], "n_positions": sizes[1],
            "n_embd": sizes[2], "n_layer": sizes[3], "n_head": sizes[4], "n_inner": sizes[5]});
        if let Some((k, v)) = extra {
            c[k] = v;
        }
        let text = c.to_string();
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

/// Mostly two dimensions (what Rows needs), often 0, 1, 2, sometimes at the limits.
fn dims() -> BoxedStrategy<Vec<u64>> {
    let dim = prop_oneof![Just(0u64), Just(1), Just(2), hostile_u64()];
    prop_oneof![3 => proptest::collection::vec(dim.clone(), 2), 1 => proptest::collection::vec(dim, 0..4)].boxed()
}

/// Mostly the dtypes plan() accepts, so the planning behind the dtype check runs.
fn usable_dtype() -> impl Strategy<Value = &'static str> {
    prop_oneof![3 => proptest::sample::select(&DTYPES[..3]), 1 => proptest::sample::select(DTYPES)]
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

fn with_length(json: &[u8]) -> Vec<u8> {
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json);
    bytes
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

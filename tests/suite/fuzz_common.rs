//! Shared by the proptest fuzz tests (tests/fuzz_*.rs): the case count (PROPTEST_CASES,
//! default per test), failure seeds kept in proptest-regressions/, a global allocator that
//! records the largest single allocation per thread, a tiny GPT-2 checkpoint's tensors, and
//! hostile sizes, dtypes and JSON values.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::LazyLock;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use qk_lens::model::Gpt2Config;
use serde_json::{json, Value};

/// `cases` unless PROPTEST_CASES says otherwise; failures are kept in `seeds`
/// (proptest-regressions/NAME.txt, replayed first on every run: check them in).
pub fn config(cases: u32, seeds: &'static str) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    let persistence = Some(Box::new(FileFailurePersistence::Direct(seeds)) as _);
    ProptestConfig {
        cases,
        failure_persistence: persistence,
        ..ProptestConfig::default()
    }
}

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
pub fn bounded<T>(input: usize, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
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

pub const V: u64 = 5;
pub const P: u64 = 4;
pub const C: u64 = 2;
pub const LAYERS: u64 = 2;

pub static TINY: LazyLock<Gpt2Config> = LazyLock::new(|| {
    let c = json!({"model_type": "gpt2", "vocab_size": V, "n_positions": P, "n_embd": C, "n_layer": LAYERS, "n_head": 1});
    Gpt2Config::from_json(c.to_string().as_bytes()).unwrap()
});

/// Every tensor of a tiny GPT-2 checkpoint (hub names, file order).
pub fn tiny_tensors() -> Vec<(String, Vec<u64>)> {
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

pub const DTYPES: &[&str] = &[
    "F32", "F16", "BF16", "F64", "I64", "U8", "I8", "BOOL", "F4", "F6_E2M3", "F8_E4M3", "C64", "F99", "f32", "",
];
pub const HUGE: &[u64] = &[
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

pub fn hostile_u64() -> BoxedStrategy<u64> {
    prop_oneof![proptest::sample::select(HUGE), 0..200u64, any::<u64>()].boxed()
}

pub fn wrong_type() -> impl Strategy<Value = Value> {
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
pub struct Tensor {
    pub name: String,
    pub dtype: Value,
    pub shape: Value,
    pub offsets: Value,
}

pub fn bits(dtype: &Value) -> Option<u64> {
    let d: safetensors::Dtype = serde_json::from_value(dtype.clone()).ok()?;
    Some(d.bitsize() as u64)
}

pub fn byte_size(t: &Tensor) -> Option<u64> {
    let shape: Vec<u64> = serde_json::from_value(t.shape.clone()).ok()?;
    let n = shape.iter().try_fold(1u64, |a, &b| a.checked_mul(b))?;
    n.checked_mul(bits(&t.dtype)?).map(|b| b / 8)
}

pub fn relayout(tensors: &mut [Tensor]) {
    let mut at = 0u64;
    for t in tensors {
        if let Some(end) = byte_size(t).and_then(|n| at.checked_add(n)) {
            t.offsets = json!([at, end]);
            at = end;
        }
    }
}

pub static FIXTURE: LazyLock<(Vec<u8>, Gpt2Config)> = LazyLock::new(|| {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/tiny-gpt2-hub");
    let config = Gpt2Config::from_json(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    (std::fs::read(dir.join("model.safetensors")).unwrap(), config)
});

pub fn with_length(json: &[u8]) -> Vec<u8> {
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json);
    bytes
}

/// Mostly two dimensions (what Rows needs), often 0, 1, 2, sometimes at the limits.
pub fn dims() -> BoxedStrategy<Vec<u64>> {
    let dim = prop_oneof![Just(0u64), Just(1), Just(2), hostile_u64()];
    prop_oneof![3 => proptest::collection::vec(dim.clone(), 2), 1 => proptest::collection::vec(dim, 0..4)].boxed()
}

/// Mostly the dtypes plan() accepts, so the planning behind the dtype check runs.
pub fn usable_dtype() -> impl Strategy<Value = &'static str> {
    prop_oneof![3 => proptest::sample::select(&DTYPES[..3]), 1 => proptest::sample::select(DTYPES)]
}

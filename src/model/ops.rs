//! Element-wise operations of the forward pass written so the compiler vectorises them
//! (simd128 in wasm32): GPT-2's tanh GELU, whose libm `tanhf` per element was a visible share
//! of the browser's forward.

const SQRT_2_OVER_PI: f32 = 0.797_884_6;

/// GELU, tanh form, in place: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), computed as the equal
/// x / (1 + exp(-2·√(2/π)·(x + 0.044715·x³))), which has no cancellation for negative x.
/// Within a few f32 ulps of the exact value (tests/matmul.rs).
pub fn gelu_tanh_in_place(xs: &mut [f32]) {
    // In pieces: a small function called often gets V8's optimised code after its first calls
    // (see `block` in matmul.rs), one long call would run in the baseline compiler's code.
    for piece in xs.chunks_mut(1024) {
        gelu_piece(piece);
    }
}

#[inline(never)]
fn gelu_piece(xs: &mut [f32]) {
    for x in xs.iter_mut() {
        let v = *x;
        let u = SQRT_2_OVER_PI * v * (1.0 + 0.044_715 * v * v);
        *x = v / (1.0 + exp(-2.0 * u));
    }
}

/// e^x for f32 without branches (Cephes' expf: 2^n · e^r with |r| ≤ ln2/2 and a degree-6
/// polynomial; about 1 ulp). Inputs are clamped to [-87.3, 88.3]: beyond, the result saturates
/// at ~1e-38 and ~2e38, which the GELU above turns into its limits 0 and x.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23: adding and subtracting rounds to an integer
                                     // Not clamp: max/min send NaN to the lower bound, and the kernel never yields NaN.
    #[allow(clippy::manual_clamp)]
    let x = x.max(-87.3).min(88.3);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * C1 - n * C2;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_2e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5e-1; // the fit's 5.000_000_1e-1, which is 0.5 in f32
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

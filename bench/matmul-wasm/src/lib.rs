//! The kernel of src/model/matmul.rs alone, with a C ABI for node (wasm32) and a native timer.

#[path = "../../../src/model/matmul.rs"]
#[allow(dead_code)]
mod matmul;

use matmul::PackedLinear;

static mut STATE: Option<(PackedLinear, Vec<f32>, usize, Vec<f32>)> = None;

fn rnd(seed: &mut u64) -> f32 {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    ((*seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
}

/// Makes a random W [k, n], bias and x [m, k].
#[no_mangle]
pub extern "C" fn setup(m: usize, k: usize, n: usize) {
    let mut s = 1u64;
    let w: Vec<f32> = (0..k * n).map(|_| rnd(&mut s)).collect();
    let b: Vec<f32> = (0..n).map(|_| rnd(&mut s)).collect();
    let x: Vec<f32> = (0..m * k).map(|_| rnd(&mut s)).collect();
    let p = PackedLinear::pack(&w, k, n, b);
    unsafe { STATE = Some((p, x, m, w)) };
}

/// One y = x W + b; returns y[0][0] + y[m-1][n-1] so nothing is optimised away.
#[no_mangle]
pub extern "C" fn run() -> f32 {
    #[allow(static_mut_refs)]
    let (p, x, m, _) = unsafe { STATE.as_ref().unwrap() };
    let y = p.forward(x, *m);
    y[0] + y[y.len() - 1]
}

/// Largest |y - y_ref| / (1 + |y_ref|) against an f64 reference.
#[no_mangle]
pub extern "C" fn check() -> f64 {
    #[allow(static_mut_refs)]
    let (p, x, m, w) = unsafe { STATE.as_ref().unwrap() };
    let (k, n) = (p.in_features(), p.out_features());
    let y = p.forward(x, *m);
    let mut worst = 0.0f64;
    for i in 0..*m {
        for j in 0..n {
            let mut s = p.bias()[j] as f64;
            for kk in 0..k {
                s += x[i * k + kk] as f64 * w[kk * n + j] as f64;
            }
            worst = worst.max((y[i * n + j] as f64 - s).abs() / (1.0 + s.abs()));
        }
    }
    worst
}

/// candle's f32 GELU (tanh form) over n values, as the forward's MLP runs it.
#[no_mangle]
pub extern "C" fn gelu_candle(n: usize) -> f32 {
    const SQRT_TWO_OVER_PI_F32: f32 = 0.79788456080286535587989211986876373;
    let mut s = 3u64;
    let xs: Vec<f32> = (0..n).map(|_| 8.0 * rnd(&mut s)).collect();
    let ys: Vec<f32> = xs
        .iter()
        .map(|&v| 0.5 * v * (1.0 + f32::tanh(SQRT_TWO_OVER_PI_F32 * v * (1.0 + 0.044715 * v * v))))
        .collect();
    ys.iter().sum()
}

static mut MANY: Vec<PackedLinear> = Vec::new();

/// `count` different random W [k, n] (more than the caches hold), and x [m, k].
#[no_mangle]
pub extern "C" fn setup_many(m: usize, k: usize, n: usize, count: usize) {
    let mut s = 9u64;
    #[allow(static_mut_refs)]
    unsafe {
        MANY.clear();
        for _ in 0..count {
            let w: Vec<f32> = (0..k * n).map(|_| rnd(&mut s)).collect();
            let b: Vec<f32> = (0..n).map(|_| rnd(&mut s)).collect();
            MANY.push(PackedLinear::pack(&w, k, n, b));
        }
        let x: Vec<f32> = (0..m * k).map(|_| rnd(&mut s)).collect();
        STATE = Some((PackedLinear::pack(&[0.0], 1, 1, vec![0.0]), x, m, Vec::new()));
    }
}

/// y = x W_i + b_i for each of the W of `setup_many`, in turn (each read once, from memory).
#[no_mangle]
pub extern "C" fn run_many() -> f32 {
    #[allow(static_mut_refs)]
    let (_, x, m, _) = unsafe { STATE.as_ref().unwrap() };
    let mut acc = 0.0;
    #[allow(static_mut_refs)]
    for p in unsafe { MANY.iter() } {
        acc += p.forward(x, *m)[0];
    }
    acc
}

//! The packed Conv1D kernel (src/model/matmul.rs) against a naive f64 reference, on shapes that
//! are not multiples of its blocks, and its arithmetic contract (each row's result independent of
//! the other rows).

use qk_lens::model::matmul::{PackF32Le, PackedLinear, KC, MR, NR};
// In wasm32 the tests run under wasm-bindgen-test (node): its attribute stands in for #[test].
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn rnd(seed: &mut u64) -> f32 {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

fn random(n: usize, seed: &mut u64) -> Vec<f32> {
    (0..n).map(|_| rnd(seed)).collect()
}

/// y = x W + b in f64, element by element.
fn reference(x: &[f32], w: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut y = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = b[j] as f64;
            for kk in 0..k {
                s += x[i * k + kk] as f64 * w[kk * n + j] as f64;
            }
            y[i * n + j] = s;
        }
    }
    y
}

/// The f32 sum the kernel promises: y = bias; per block of KC k's, y += (products summed from
/// zero in k order).
fn sequential_f32(x: &[f32], w: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut y = vec![0.0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = b[j];
            for k0 in (0..k).step_by(KC) {
                let mut s = 0.0f32;
                for kk in k0..k.min(k0 + KC) {
                    s += x[i * k + kk] * w[kk * n + j];
                }
                acc += s;
            }
            y[i * n + j] = acc;
        }
    }
    y
}

#[test]
fn matches_f64_reference_on_odd_shapes() {
    let mut seed = 7;
    let ks = [1, 3, 17, 64, KC - 1, KC + 1, 2 * KC + 5, 1030];
    let ns = [1, 5, NR - 1, NR + 3, 37, 130];
    for &m in &[1usize, 2, 3, MR + 1, 34, 65] {
        for &k in &ks {
            for &n in &ns {
                let w = random(k * n, &mut seed);
                let b = random(n, &mut seed);
                let x = random(m * k, &mut seed);
                let p = PackedLinear::pack(&w, k, n, b.clone());
                assert_eq!((p.in_features(), p.out_features()), (k, n));
                let y = p.forward(&x, m);
                assert_eq!(y.len(), m * n);
                let want = reference(&x, &w, &b, m, k, n);
                // Inputs in [-1, 1): |error| of an f32 sum of k products is well under k · 2^-23.
                let tol = 4.0 * k as f64 * f32::EPSILON as f64;
                for (i, (&got, &want)) in y.iter().zip(&want).enumerate() {
                    assert!(
                        (got as f64 - want).abs() <= tol * (1.0 + want.abs()),
                        "m={m} k={k} n={n} element {i}: {got} vs {want}"
                    );
                }
                // And exactly the f32 sum in k order.
                assert_eq!(y, sequential_f32(&x, &w, &b, m, k, n), "m={m} k={k} n={n}");
            }
        }
    }
}

#[test]
fn gpt2_medium_shapes_with_the_lecture_rows() {
    let mut seed = 11;
    for (k, n) in [(1024, 3072), (4096, 1024)] {
        let w = random(k * n, &mut seed);
        let b = random(n, &mut seed);
        let x = random(34 * k, &mut seed);
        let y = PackedLinear::pack(&w, k, n, b.clone()).forward(&x, 34);
        assert_eq!(y, sequential_f32(&x, &w, &b, 34, k, n));
    }
}

#[test]
fn rows_do_not_depend_on_each_other() {
    let (k, n) = (300, 45);
    let mut seed = 3;
    let w = random(k * n, &mut seed);
    let b = random(n, &mut seed);
    let x = random(9 * k, &mut seed);
    let p = PackedLinear::pack(&w, k, n, b);
    let all = p.forward(&x, 9);
    for i in 0..9 {
        assert_eq!(p.forward(&x[i * k..(i + 1) * k], 1), all[i * n..(i + 1) * n], "row {i}");
    }
}

#[test]
fn unpack_round_trips_and_empty_shapes() {
    let mut seed = 5;
    let (k, n) = (13, 2 * NR + 1);
    let w = random(k * n, &mut seed);
    let p = PackedLinear::pack(&w, k, n, vec![0.5; n]);
    assert_eq!(p.unpack(), w);
    assert_eq!(p.bias(), &vec![0.5; n][..]);
    assert!(p.forward(&[], 0).is_empty());
    // k = 0: y is the bias.
    let p = PackedLinear::pack(&[], 0, 3, vec![1.0, 2.0, 3.0]);
    assert_eq!(p.forward(&[], 2), vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
}

#[test]
fn gelu_and_exp_match_f64() {
    use qk_lens::model::ops::{exp, gelu_tanh_in_place};
    let mut xs: Vec<f32> = (-4000..=4000).map(|i| i as f32 * 0.005).collect();
    xs.extend([-1e4, -100.0, -30.0, -11.0, -1e-30, 0.0, 1e-30, 1e-7, 11.0, 30.0, 100.0, 1e4]);
    let mut ys = xs.clone();
    gelu_tanh_in_place(&mut ys);
    for (&x, &y) in xs.iter().zip(&ys) {
        let v = x as f64;
        let u = (2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v * v * v);
        // 0.5·v·(1 + tanh u) = v·σ(2u), without f64 tanh's saturation at -1.
        let want = v / (1.0 + (-2.0 * u).exp());
        // f32 rounding of u is amplified by exp's condition number |2u| for negative x.
        let tol = 1e-6 * (1.0 + 2.0 * u.abs().min(100.0)) * want.abs() + 1e-30;
        assert!((y as f64 - want).abs() <= tol, "gelu({x}) = {y}, want {want}");
    }
    for i in -870..=880 {
        let x = i as f32 * 0.1;
        let want = (x as f64).exp();
        let got = exp(x) as f64;
        assert!((got - want).abs() <= 3e-7 * want, "exp({x}) = {got}, want {want}");
    }
    assert!(exp(-1000.0) >= 0.0 && exp(-1000.0) < 1e-37);
    assert!(exp(1000.0) > 1e38 && exp(1000.0).is_finite());
}

#[test]
fn packing_from_file_bytes_equals_packing_floats() {
    let mut seed = 13;
    for (k, n) in [(1, 1), (5, NR - 3), (17, NR), (40, 2 * NR + 5), (KC + 20, 37)] {
        let w = random(k * n, &mut seed);
        let bytes: Vec<u8> = w.iter().flat_map(|v| v.to_le_bytes()).collect();
        let from_bytes = PackedLinear::pack_f32_le(&bytes, k, n, vec![0.25; n]);
        assert_eq!(from_bytes.unpack(), w, "k={k} n={n}");
        let x = random(3 * k, &mut seed);
        assert_eq!(
            from_bytes.forward(&x, 3),
            PackedLinear::pack(&w, k, n, vec![0.25; n]).forward(&x, 3)
        );
    }
}

#[test]
#[allow(clippy::single_range_in_vec_init)] // one range of columns is a case
fn packing_chosen_columns_from_row_blocks_equals_packing_them_whole() {
    let mut seed = 29;
    // Ranges aligned on panels (contiguous runs), unaligned (panels spanning two ranges), and
    // out of order, read in row blocks of several sizes.
    let (k, n_file) = (KC + 21, 5 * NR + 7);
    let w = random(k * n_file, &mut seed);
    let bytes: Vec<u8> = w.iter().flat_map(|v| v.to_le_bytes()).collect();
    for cols in [
        vec![0..n_file],
        vec![NR..3 * NR],
        vec![3..NR + 5, 2 * NR + 1..4 * NR + 2],
        vec![4 * NR..n_file, 0..NR],
    ] {
        let kept: Vec<usize> = cols.iter().flat_map(|c| c.clone()).collect();
        let n = kept.len();
        let chosen: Vec<f32> = (0..k)
            .flat_map(|kk| kept.iter().map(move |&j| (kk, j)))
            .map(|(kk, j)| w[kk * n_file + j])
            .collect();
        let bias: Vec<f32> = (0..n).map(|j| j as f32).collect();
        let want = PackedLinear::pack(&chosen, k, n, bias.clone());
        for block in [1, 16, 64, k] {
            let mut packer = PackF32Le::new(k, n_file, &cols, bias.clone());
            for k0 in (0..k).step_by(block) {
                let k1 = k.min(k0 + block);
                packer.rows(k0, &bytes[4 * k0 * n_file..4 * k1 * n_file]);
            }
            let got = packer.finish();
            assert_eq!(got.unpack(), chosen, "{cols:?}, blocks of {block}");
            assert_eq!(got.bias(), &bias[..]);
            let x = random(3 * k, &mut seed);
            assert_eq!(got.forward(&x, 3), want.forward(&x, 3), "{cols:?}");
        }
    }
}

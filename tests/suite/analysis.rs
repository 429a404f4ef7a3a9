//! Unit tests of qk_lens::analysis against hand-computed numbers, known identities, numpy's
//! histogram rules and the lecture's own mask-product trick (re-implemented here).
// Symmetric-matrix checks read m[i][j] beside m[j][i]: index loops say that best.
#![allow(clippy::needless_range_loop)]

use std::f64::consts::FRAC_1_SQRT_2;

use crate::common::*;
use qk_lens::analysis::rsa::rsa;
use qk_lens::analysis::selectivity::{median, pair_medians, selectivity};
use qk_lens::analysis::{cosine_matrix, pearson, upper_triangle, Grouping, Histogram, Matrix, HISTOGRAM_BINS};
use qk_lens::Error;

const EPS: f64 = 1e-12;

/// Tiny deterministic generator (LCG), values in [-1, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
    fn vectors(&mut self, n: usize, d: usize) -> Vec<Vec<f32>> {
        (0..n).map(|_| (0..d).map(|_| self.next() as f32).collect()).collect()
    }
    /// A symmetric matrix with unit diagonal (selectivity and RSA need nothing more).
    fn symmetric(&mut self, n: usize) -> Matrix {
        let mut m = vec![vec![1.0; n]; n];
        for i in 0..n {
            for j in i + 1..n {
                let v = self.next();
                m[i][j] = v;
                m[j][i] = v;
            }
        }
        m
    }
}

fn close(what: &str, got: f64, want: f64) {
    assert_close(what, got, want, EPS);
}

fn opt_close(what: &str, got: Option<f64>, want: Option<f64>) {
    match (got, want) {
        (Some(g), Some(w)) => close(what, g, w),
        (None, None) => {}
        _ => panic!("{what}: got {got:?}, want {want:?}"),
    }
}

/// The lecture's trick: mask = triu(outer(labels1, labels1), 1) with 1-based labels; within =
/// mean over the mask values `within` of the mean of C where mask == v; across likewise.
fn mask_trick(c: &Matrix, labels1: &[usize], within: &[usize], across: &[usize]) -> f64 {
    let n = c.len();
    let mean_at = |v: usize| {
        let vals: Vec<f64> = (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .filter(|&(i, j)| labels1[i] * labels1[j] == v)
            .map(|(i, j)| c[i][j])
            .collect();
        vals.iter().sum::<f64>() / vals.len() as f64
    };
    let avg = |vs: &[usize]| vs.iter().map(|&v| mean_at(v)).sum::<f64>() / vs.len() as f64;
    avg(within) / avg(across)
}

fn permuted(m: &Matrix, p: &[usize]) -> Matrix {
    p.iter().map(|&i| p.iter().map(|&j| m[i][j]).collect()).collect()
}

// ---------- cosine ----------

#[test]
fn cosine_hand_computed() {
    let rows = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [3.0, 4.0]].map(|r| r.to_vec());
    let c = cosine_matrix(&rows).unwrap();
    // [3,4]/5: with e1 0.6, with e2 0.8, with [1,1]/sqrt2 7/(5 sqrt2).
    let s = 7.0 / (5.0 * 2f64.sqrt());
    let want = [
        [1.0, 0.0, FRAC_1_SQRT_2, 0.6],
        [0.0, 1.0, FRAC_1_SQRT_2, 0.8],
        [FRAC_1_SQRT_2, FRAC_1_SQRT_2, 1.0, s],
        [0.6, 0.8, s, 1.0],
    ];
    let want: Vec<Vec<f64>> = want.iter().map(|r| r.to_vec()).collect();
    assert_matrix_close("C", &c, &want, EPS);
}

#[test]
fn cosine_symmetric_unit_diagonal_and_bounded() {
    let rows = Lcg(7).vectors(12, 16);
    let c = cosine_matrix(&rows).unwrap();
    assert_eq!(c.len(), 12);
    for i in 0..12 {
        close(&format!("C[{i}][{i}]"), c[i][i], 1.0);
        for j in 0..12 {
            assert_eq!(c[i][j], c[j][i], "C[{i}][{j}] symmetric");
            assert!(c[i][j].abs() <= 1.0 + EPS, "|C[{i}][{j}]| <= 1");
        }
    }
}

#[test]
fn cosine_scale_invariant() {
    let rows = Lcg(11).vectors(6, 10);
    let base = cosine_matrix(&rows).unwrap();
    // Powers of two scale f32 exactly, so any change would be the code's, not rounding's.
    for (row, scale) in [(0, 4.0f32), (2, 2f32.powi(-60)), (5, 2f32.powi(60))] {
        let mut scaled = rows.clone();
        scaled[row].iter_mut().for_each(|x| *x *= scale);
        let c = cosine_matrix(&scaled).unwrap();
        assert_matrix_close(&format!("row {row} x {scale}"), &c, &base, EPS);
    }
    // A negative scale flips the sign of that row and column only.
    let mut neg = rows.clone();
    neg[1].iter_mut().for_each(|x| *x = -*x);
    let c = cosine_matrix(&neg).unwrap();
    for j in 0..6 {
        let want = if j == 1 { 1.0 } else { -base[1][j] };
        close(&format!("C[1][{j}]"), c[1][j], want);
    }
}

#[test]
fn cosine_zero_or_nan_vector_is_an_analysis_error_naming_it() {
    match cosine_matrix(&[vec![1.0, 2.0], vec![0.0, 0.0], vec![3.0, 1.0]]) {
        Err(Error::Analysis(msg)) => assert!(msg.contains("#2"), "message names vector #2: {msg}"),
        other => panic!("want Err(Error::Analysis), got {other:?}"),
    }
    match cosine_matrix(&[vec![1.0, 2.0], vec![3.0, 1.0], vec![f32::NAN, 1.0]]) {
        Err(Error::Analysis(msg)) => assert!(msg.contains("#3"), "message names vector #3: {msg}"),
        other => panic!("want Err(Error::Analysis), got {other:?}"),
    }
}

// ---------- pearson / upper triangle ----------

#[test]
fn pearson_hand_computed() {
    // x - 2.5 = [-1.5,-.5,.5,1.5], y - 2.5 = [-.5,-1.5,1.5,.5]: sxy = 3, sxx = syy = 5 -> 0.6.
    let r = pearson(&[1.0, 2.0, 3.0, 4.0], &[2.0, 1.0, 4.0, 3.0]);
    close("r", r.unwrap(), 0.6);
    // Two points always correlate perfectly.
    close("r2", pearson(&[0.0, 1.0], &[5.0, -3.0]).unwrap(), -1.0);
}

#[test]
fn pearson_linear_is_plus_or_minus_one() {
    let x: Vec<f64> = (0..20).map(|i| (i as f64 * 0.37).sin()).collect();
    let up: Vec<f64> = x.iter().map(|v| 3.0 * v + 2.0).collect();
    let down: Vec<f64> = x.iter().map(|v| -0.5 * v + 7.0).collect();
    close("r up", pearson(&x, &up).unwrap(), 1.0);
    close("r down", pearson(&x, &down).unwrap(), -1.0);
    // Symmetric in its arguments.
    close("r sym", pearson(&up, &x).unwrap(), 1.0);
}

#[test]
fn pearson_undefined_cases_are_none() {
    assert_eq!(pearson(&[2.0; 3], &[1.0, 2.0, 3.0]), None, "constant x");
    assert_eq!(pearson(&[1.0, 2.0, 3.0], &[-4.0; 3]), None, "constant y");
    assert_eq!(pearson(&[1.0], &[2.0]), None, "n = 1");
    assert_eq!(pearson(&[], &[]), None, "n = 0");
}

/// A constant side whose mean is not exactly representable: 0.1+0.1+0.1 = 0.30000000000000004, so
/// the mean is 0.10000000000000002, the deviations are ~1e-17 instead of 0, and `sxx == 0.0` misses.
#[test]

fn pearson_constant_non_dyadic_side_is_none() {
    assert_eq!(pearson(&[0.1, 0.1, 0.1], &[1.0, 2.0, 4.0]), None);
    assert_eq!(pearson(&[1.0, 2.0, 4.0, 3.0, 0.0, 5.0], &[0.2; 6]), None);
}

#[test]
fn upper_triangle_is_row_major_i_lt_j() {
    let m: Matrix = (0..4).map(|i| (0..4).map(|j| (10 * i + j) as f64).collect()).collect();
    assert_eq!(upper_triangle(&m), vec![1.0, 2.0, 3.0, 12.0, 13.0, 23.0]);
    assert_eq!(upper_triangle(&vec![vec![1.0]]), Vec::<f64>::new());
    let pairs: Vec<(usize, usize)> = Grouping::new(vec![0, 0, 1, 1], 2).pairs().collect();
    assert_eq!(pairs, vec![(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]);
}

// ---------- selectivity ----------

/// The pooled pair medians of the hand matrix, counted by hand: within {0.9, 0.7, 0.8 | 0.6 |
/// 0.5} -> 0.7; the 16 across values sorted have 0.3 in 8th and 9th place -> 0.3.
#[test]
fn pair_medians_by_hand() {
    let (within, across) = pair_medians(&hand_matrix(), &Grouping::new(vec![0, 0, 0, 1, 1, 2, 2], 3));
    close("within median", within.unwrap(), 0.7);
    close("across median", across.unwrap(), 0.3);
    // One category: no across pairs; one-word categories: no within pairs.
    assert_eq!(pair_medians(&hand_matrix(), &Grouping::new(vec![0; 7], 1)).1, None);
    assert_eq!(pair_medians(&hand_matrix(), &Grouping::new((0..7).collect(), 7)).0, None);
    // numpy's rule for an even count: the mean of the two middle values.
    close("even median", median(vec![4.0, 1.0, 3.0, 2.0]).unwrap(), 2.5);
    assert_eq!(median(Vec::new()), None);
}

/// Words a0 a1 a2 | b0 b1 | c0 c1 (labels 0,0,0,1,1,2,2).
fn hand_matrix() -> Matrix {
    #[rustfmt::skip]
    let m = vec![
        //    a0   a1   a2   b0   b1   c0   c1
        vec![1.0, 0.9, 0.7, 0.2, 0.4, 0.1, 0.3],
        vec![0.9, 1.0, 0.8, 0.3, 0.1, 0.2, 0.2],
        vec![0.7, 0.8, 1.0, 0.0, 0.2, 0.4, 0.6],
        vec![0.2, 0.3, 0.0, 1.0, 0.6, 0.5, 0.5],
        vec![0.4, 0.1, 0.2, 0.6, 1.0, 0.3, 0.3],
        vec![0.1, 0.2, 0.4, 0.5, 0.3, 1.0, 0.5],
        vec![0.3, 0.2, 0.6, 0.5, 0.3, 0.5, 1.0],
    ];
    for i in 0..7 {
        for j in 0..7 {
            assert_eq!(m[i][j], m[j][i], "hand matrix is symmetric");
        }
    }
    m
}

#[test]
fn selectivity_three_categories_hand_computed() {
    // within a: (.9+.7+.8)/3 = .8; b: .6; c: .5 -> within = 1.9/3.
    // across ab: (.2+.4+.3+.1+.0+.2)/6 = .2; ac: (.1+.3+.2+.2+.4+.6)/6 = .3;
    //        bc: (.5+.5+.3+.3)/4 = .4 -> across = .3; index = (1.9/3)/.3 = 19/9.
    // (Pair-weighted pooling would give within .7 and across .2875 instead.)
    let s = selectivity(&hand_matrix(), &Grouping::new(vec![0, 0, 0, 1, 1, 2, 2], 3));
    opt_close("within", s.within, Some(1.9 / 3.0));
    opt_close("across", s.across, Some(0.3));
    opt_close("index", s.index, Some(19.0 / 9.0));
    let want_within = [0.8, 0.6, 0.5];
    assert_eq!(s.within_means.len(), 3);
    for (c, (g, w)) in s.within_means.iter().zip(want_within).enumerate() {
        opt_close(&format!("within mean {c}"), *g, Some(w));
    }
    let want_across = [((0, 1), 0.2), ((0, 2), 0.3), ((1, 2), 0.4)];
    assert_eq!(s.across_means.len(), 3);
    for ((gp, g), (wp, w)) in s.across_means.iter().zip(want_across) {
        assert_eq!(*gp, wp);
        close(&format!("across {wp:?}"), *g, w);
    }
    // The lecture's trick agrees for three categories.
    let labels1 = [1, 1, 1, 2, 2, 3, 3];
    let trick = mask_trick(&hand_matrix(), &labels1, &[1, 4, 9], &[2, 3, 6]);
    close("trick", trick, 19.0 / 9.0);
}

#[test]
fn selectivity_equals_mask_trick_on_golden_cosines() {
    for name in ["tiny-gpt2-hub.L1", "tiny-gpt2-hub.L3"] {
        let g = golden(name);
        let labels1: Vec<usize> = serde_json::from_value(g["labels"].clone()).unwrap();
        let grouping = Grouping::new(labels1.iter().map(|l| l - 1).collect(), 3);
        for key in ["Q", "K"] {
            let c = matrix(&g[format!("C{key}")]);
            let got = selectivity(&c, &grouping).index.unwrap();
            let trick = mask_trick(&c, &labels1, &[1, 4, 9], &[2, 3, 6]);
            close(&format!("{name} {key} vs trick"), got, trick);
            let want = g[format!("selectivity_{key}")].as_f64().unwrap();
            close(&format!("{name} {key} vs golden"), got, want);
        }
    }
}

#[test]
fn selectivity_four_categories_where_the_trick_collides() {
    // Two words per category; block constants: within A .9, B .8, C .7, D .6; across AB .1,
    // AC .2, AD .3, BC .4, BD .5, CD 0. General rule: within 3/4 = .75, across 1.5/6 = .25, index 3.
    // Trick (labels 1..4): mask 4 holds B's 1 within pair (.8) and AD's 4 pairs (.3) -> .4, so
    // within (.9+.4+.7+.6)/4 = .65, across (.1+.2+.4+.4+.5+0)/6 = 1.6/6 -> 2.4375.
    let labels = vec![0, 0, 1, 1, 2, 2, 3, 3];
    let within = [0.9, 0.8, 0.7, 0.6];
    // Category-level similarity: within on the diagonal, across off it.
    #[rustfmt::skip]
    let block = [
        [0.9, 0.1, 0.2, 0.3],
        [0.1, 0.8, 0.4, 0.5],
        [0.2, 0.4, 0.7, 0.0],
        [0.3, 0.5, 0.0, 0.6],
    ];
    let entry = |i: usize, j: usize| {
        if i == j {
            1.0
        } else {
            block[labels[i]][labels[j]]
        }
    };
    let c: Matrix = (0..8).map(|i| (0..8).map(|j| entry(i, j)).collect()).collect();
    let labels1: Vec<usize> = labels.iter().map(|l| l + 1).collect();
    let trick = mask_trick(&c, &labels1, &[1, 4, 9, 16], &[2, 3, 4, 6, 8, 12]);
    close("the trick is wrong here", trick, 2.4375);
    let s = selectivity(&c, &Grouping::new(labels, 4));
    opt_close("within", s.within, Some(0.75));
    opt_close("across", s.across, Some(0.25));
    opt_close("index", s.index, Some(3.0));
    for (k, w) in within.iter().enumerate() {
        opt_close(&format!("within mean {k}"), s.within_means[k], Some(*w));
    }
    let pairs: Vec<(usize, usize)> = s.across_means.iter().map(|(p, _)| *p).collect();
    assert_eq!(pairs, vec![(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]);
    for ((a, b), m) in &s.across_means {
        close(&format!("across ({a},{b})"), *m, block[*a][*b]);
    }
}

#[test]
fn selectivity_one_word_category() {
    // hand_matrix without c1: labels 0,0,0,1,1,2 (c has one word).
    // within: a .8, b .6, c None -> .7. across ab .2, ac (.1+.2+.4)/3 = .7/3, bc (.5+.3)/2 = .4
    // -> across (.2 + .7/3 + .4)/3 = 2.5/9, index .7 * 9 / 2.5 = 2.52.
    let c: Matrix = hand_matrix()[..6].iter().map(|r| r[..6].to_vec()).collect();
    let s = selectivity(&c, &Grouping::new(vec![0, 0, 0, 1, 1, 2], 3));
    opt_close("within a", s.within_means[0], Some(0.8));
    opt_close("within b", s.within_means[1], Some(0.6));
    opt_close("within c", s.within_means[2], None);
    opt_close("within", s.within, Some(0.7));
    opt_close("across", s.across, Some(2.5 / 9.0));
    opt_close("index", s.index, Some(2.52));
    close("across ac", s.across_means[1].1, 0.7 / 3.0);
}

#[test]
fn selectivity_single_category_has_no_index() {
    let c: Matrix = hand_matrix()[..3].iter().map(|r| r[..3].to_vec()).collect();
    let s = selectivity(&c, &Grouping::new(vec![0, 0, 0], 1));
    opt_close("within", s.within, Some(0.8));
    opt_close("across", s.across, None);
    opt_close("index", s.index, None);
    assert!(s.across_means.is_empty());
}

#[test]
fn selectivity_and_rsa_are_permutation_invariant() {
    let mut rng = Lcg(42);
    let (a, b) = (rng.symmetric(9), rng.symmetric(9));
    let labels = vec![0, 0, 0, 1, 1, 1, 2, 2, 2];
    let base = Grouping::new(labels.clone(), 3);
    let (s0, r0) = (selectivity(&a, &base), rsa(&a, &b, &base));
    // Within categories only (labels unchanged), then a shuffle across categories.
    let within_only = [2, 0, 1, 4, 5, 3, 8, 6, 7];
    for p in [within_only, [7, 3, 0, 5, 8, 1, 4, 2, 6]] {
        let g = Grouping::new(p.iter().map(|&i| labels[i]).collect(), 3);
        let (pa, pb) = (permuted(&a, &p), permuted(&b, &p));
        let (s, r) = (selectivity(&pa, &g), rsa(&pa, &pb, &g));
        opt_close("index", s.index, s0.index);
        opt_close("within", s.within, s0.within);
        opt_close("across", s.across, s0.across);
        for k in 0..3 {
            opt_close("within mean", s.within_means[k], s0.within_means[k]);
            assert_eq!(s.across_means[k].0, s0.across_means[k].0);
            close("across mean", s.across_means[k].1, s0.across_means[k].1);
            assert_eq!(r.per_category[k].1, 3);
            opt_close("rsa per category", r.per_category[k].0, r0.per_category[k].0);
        }
        opt_close("rsa r", r.r, r0.r);
    }
}

// ---------- RSA ----------

#[test]
fn rsa_identical_matrices_is_one() {
    let c = cosine_matrix(&Lcg(3).vectors(9, 8)).unwrap();
    let out = rsa(&c, &c, &Grouping::new(vec![0, 0, 0, 1, 1, 1, 2, 2, 2], 3));
    opt_close("r", out.r, Some(1.0));
    for (k, (r, n)) in out.per_category.iter().enumerate() {
        opt_close(&format!("r {k}"), *r, Some(1.0));
        assert_eq!(*n, 3);
    }
}

#[test]
fn rsa_hand_computed() {
    #[rustfmt::skip]
    let a = vec![
        vec![1.0, 0.9, 0.7, 0.1],
        vec![0.9, 1.0, 0.8, 0.2],
        vec![0.7, 0.8, 1.0, 0.3],
        vec![0.1, 0.2, 0.3, 1.0],
    ];
    #[rustfmt::skip]
    let b = vec![
        vec![1.0, 0.2, 0.6, 0.5],
        vec![0.2, 1.0, 0.1, 0.5],
        vec![0.6, 0.1, 1.0, 0.5],
        vec![0.5, 0.5, 0.5, 1.0],
    ];
    let out = rsa(&a, &b, &Grouping::new(vec![0, 0, 0, 1], 2));
    // All pairs: x = [.9,.7,.1,.8,.2,.3] (mean .5), y = [.2,.6,.5,.1,.5,.5] (mean .4):
    // sxy = -.22, sxx = .58, syy = .20.
    opt_close("r", out.r, Some(-0.22 / (0.58f64 * 0.20).sqrt()));
    // Category 0: x = [.9,.7,.8], y = [.2,.6,.1]: sxy = -.04, sxx = .02, syy = .14 -> -2/sqrt7.
    opt_close("r cat 0", out.per_category[0].0, Some(-2.0 / 7f64.sqrt()));
    assert_eq!(out.per_category[0].1, 3);
    // Category 1 has one word: no pairs, no r.
    assert_eq!(out.per_category[1], (None, 0));
}

// ---------- histogram ----------

#[test]
fn histogram_numpy_hand_checked() {
    let h = Histogram::new(&[0.0, 1.0, 2.0, 3.0, 4.0], 4);
    assert_eq!(h.counts, vec![1, 1, 1, 2], "4 lands in the closed last bin");
    assert_eq!(h.edges, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
    // Value exactly at max goes into the last bin; the rest stay empty.
    let h = Histogram::new(&[0.0, 10.0], 5);
    assert_eq!(h.counts, vec![1, 0, 0, 0, 1]);
    assert_eq!(h.edges, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
    // Values on interior edges go right (bins are half-open [e_i, e_i+1)).
    let h = Histogram::new(&[-1.0, -0.5, 0.0, 0.5, 1.0], 4);
    assert_eq!(h.counts, vec![1, 1, 1, 2]);
}

#[test]
fn histogram_all_equal_values_use_v_plus_minus_half() {
    let h = Histogram::new(&[2.0; 5], 2);
    assert_eq!(h.edges, vec![1.5, 2.0, 2.5]);
    assert_eq!(h.counts, vec![0, 5], "2.0 is on the interior edge: bin 1");
    let h = Histogram::new(&[0.3; 4], 3);
    let want = [-0.2, -0.2 + 1.0 / 3.0, -0.2 + 2.0 / 3.0, 0.8];
    for (g, w) in h.edges.iter().zip(want) {
        close("edge", *g, w);
    }
    assert_eq!(h.counts, vec![0, 4, 0]);
    // No values at all: numpy's range [0, 1].
    let h = Histogram::new(&[], 4);
    assert_eq!(h.edges, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    assert_eq!(h.counts, vec![0; 4]);
}

#[test]
fn histogram_follows_its_own_f64_edges() {
    // numpy's edges are i*step + lo: edge 3 of linspace(0, 1, 11) is 3*0.1 = 0.30000000000000004,
    // so 0.3 lies below it and numpy counts it in bin 2, not bin 3.
    let h = Histogram::new(&[0.0, 0.3, 1.0], 10);
    assert_eq!(h.edges[3], 3.0 * 0.1);
    assert_eq!(h.counts, vec![1, 0, 1, 0, 0, 0, 0, 0, 0, 1]);
    // Every value lies in [e_i, e_i+1) of its bin (last bin closed), values on edges included.
    let mut rng = Lcg(5);
    let mut values: Vec<f64> = (0..500).map(|_| rng.next() * 0.9).collect();
    let h0 = Histogram::new(&values, 20);
    values.extend(h0.edges.iter().copied());
    let h = Histogram::new(&values, 20);
    assert_eq!(h.counts.iter().sum::<u64>(), values.len() as u64);
    let mut want = vec![0u64; 20];
    for v in &values {
        let inside = |i: usize| *v >= h.edges[i] && (*v < h.edges[i + 1] || i == 19);
        let i = (0..20).find(|&i| inside(i)).unwrap();
        want[i] += 1;
    }
    assert_eq!(h.counts, want);
}

#[test]
fn histogram_matches_golden_numpy_histograms() {
    for name in ["tiny-gpt2-hub.L1", "tiny-gpt2-hub.L3"] {
        let g = golden(name);
        assert_eq!(g["hist_bins"].as_u64().unwrap() as usize, HISTOGRAM_BINS);
        for key in ["Q", "K"] {
            let values = upper_triangle(&matrix(&g[format!("C{key}")]));
            let h = Histogram::new(&values, HISTOGRAM_BINS);
            let counts = g[format!("hist_{key}_counts")].clone();
            let counts: Vec<u64> = serde_json::from_value(counts).unwrap();
            assert_eq!(h.counts, counts, "{name} {key} counts");
            let edges = f64s(&g[format!("hist_{key}_edges")]);
            assert_eq!(h.edges.len(), edges.len());
            for (i, (a, b)) in h.edges.iter().zip(&edges).enumerate() {
                close(&format!("{name} {key} edge {i}"), *a, *b);
            }
        }
    }
}

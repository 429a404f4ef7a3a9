//! The statistics: against an independent numpy/scipy reference that draws the same random
//! sequences (oracle-ext/stats_ref.py → tests/fixtures/golden/stats.*.json: p-values equal
//! exactly, Spearman, intervals and histograms to 1e-12), and on cases with known answers.

use crate::common::*;
use qk_lens::analysis::bootstrap::{bootstrap_selectivity, Resamples};
use qk_lens::analysis::report::{statistics, StatOptions};
use qk_lens::analysis::rng::Rng;
use qk_lens::analysis::selectivity::selectivity;
use qk_lens::analysis::stats::*;
use qk_lens::analysis::{cosine_matrix, pearson, upper_triangle, Grouping, Matrix};
use serde_json::Value;

const EXACT: f64 = 1e-12;

fn grouping_of(g: &Value) -> Grouping {
    let labels: Vec<usize> = serde_json::from_value::<Vec<usize>>(g["labels"].clone())
        .unwrap()
        .into_iter()
        .map(|l| l - 1)
        .collect();
    let n = labels.iter().max().unwrap() + 1;
    Grouping::new(labels, n)
}

fn check_test(what: &str, want: &Value, n: usize, observed: Option<f64>, p: Option<f64>, ci: Option<[f64; 2]>) {
    assert_close(
        &format!("{what} observed"),
        observed.unwrap(),
        want["observed"].as_f64().unwrap(),
        EXACT,
    );
    // The exact count behind p (serde_json's float parsing may be one ulp off numpy's repr).
    let p = p.unwrap();
    let exceed = (p * (n + 1) as f64).round() as u64 - 1;
    assert_eq!(exceed, want["exceed"].as_u64().unwrap(), "{what}: count of null >= observed");
    assert_close(&format!("{what} p"), p, want["p"].as_f64().unwrap(), 1e-15);
    if let Some(w) = want.get("ci").filter(|w| !w.is_null()) {
        let (ci, w) = (ci.unwrap(), f64s(w));
        assert_close(&format!("{what} ci lo"), ci[0], w[0], EXACT);
        assert_close(&format!("{what} ci hi"), ci[1], w[1], EXACT);
    }
}

fn check_histogram(what: &str, got: &qk_lens::analysis::Histogram, want: &Value) {
    let counts: Vec<u64> = serde_json::from_value(want["null_hist_counts"].clone()).unwrap();
    assert_eq!(got.counts, counts, "{what} null histogram");
    for (a, b) in got.edges.iter().zip(f64s(&want["null_hist_edges"])) {
        assert_close(&format!("{what} null edge"), *a, b, EXACT);
    }
}

fn reference_case(name: &str) {
    let r = golden(name);
    let src = golden(r["source"].as_str().unwrap().trim_end_matches(".json"));
    let grouping = grouping_of(&src);
    let (cq, ck, cv) = (matrix(&src["CQ"]), matrix(&src["CK"]), matrix(&src["CV"]));
    let n = r["permutations"].as_u64().unwrap() as usize;
    let seed = r["seed"].as_u64().unwrap();
    // The random sequences themselves.
    let mut rng = Rng::new(seed);
    let first: Vec<String> = (0..4).map(|_| rng.next_u64().to_string()).collect();
    assert_eq!(first, serde_json::from_value::<Vec<String>>(r["first_u64"].clone()).unwrap());
    let perms = Permutations::new(grouping.len(), n, seed);
    let want_perms: Vec<Vec<usize>> = serde_json::from_value(r["first_permutations"].clone()).unwrap();
    assert_eq!(perms.perms[..3], want_perms[..]);
    let options = StatOptions {
        permutations: n,
        bootstrap: n,
        seed,
        confidence: 0.95,
    };
    let res = Resamples::stratified(&grouping, 1, options.bootstrap_seed());
    assert_eq!(
        res.samples[0],
        serde_json::from_value::<Vec<usize>>(r["first_resample"].clone()).unwrap()
    );

    let s = statistics(
        src["layer"].as_u64().unwrap() as usize,
        false,
        [&cq, &ck, &cv],
        &grouping,
        &options,
    );
    for (x, space) in [("Q", &s.q), ("K", &s.k), ("V", &s.v)] {
        let sel = &space.selectivity;
        let want = &r[format!("selectivity_{x}")];
        check_test(&format!("{name} selectivity {x}"), want, n, sel.observed, sel.p, sel.ci);
        check_histogram(&format!("{name} selectivity {x}"), &sel.null_histogram, want);
        assert_close(
            "null mean",
            sel.null_mean.unwrap(),
            want["null_mean"].as_f64().unwrap(),
            EXACT,
        );
        assert_eq!(sel.bootstrap_undefined as u64, want["bootstrap_undefined"].as_u64().unwrap());
    }
    for (x, m) in [
        ("Q", &s.category_model.q),
        ("K", &s.category_model.k),
        ("V", &s.category_model.v),
    ] {
        check_test(
            &format!("{name} category model {x}"),
            &r[format!("category_model_{x}")],
            n,
            m.r,
            m.p,
            None,
        );
    }
    let (pe, sp) = (&s.rsa.pearson, &s.rsa.spearman);
    check_test(&format!("{name} RSA pearson"), &r["rsa_pearson"], n, pe.r, pe.p, pe.ci);
    check_histogram(&format!("{name} RSA pearson"), &pe.null_histogram, &r["rsa_pearson"]);
    check_test(&format!("{name} RSA spearman"), &r["rsa_spearman"], n, sp.rho, sp.p, sp.ci);
    check_histogram(&format!("{name} RSA spearman"), &sp.null_histogram, &r["rsa_spearman"]);
}

/// 34 lecture words, 3 categories, 999 permutations, seed 42.
#[test]
fn reference_lecture_words_layer2() {
    reference_case("stats.L2");
}
/// 4 categories, 500 permutations, seed 7.
#[test]
fn reference_four_categories() {
    reference_case("stats.mixed.L2");
}
/// A one-word category (no within mean: resamples keep the same shape), 300 permutations.
#[test]
fn reference_one_word_category() {
    reference_case("stats.single.L1");
}

/// xoshiro256** known answer (state 1, 2, 3, 4) and an unbiased, in-range below().
#[test]
fn rng_known_answer() {
    let mut rng = Rng::from_state([1, 2, 3, 4]);
    let got: Vec<u64> = (0..4).map(|_| rng.next_u64()).collect();
    assert_eq!(got, vec![11520, 0, 1509978240, 1215971899390074240]);
    let mut rng = Rng::new(9);
    let mut counts = [0usize; 3];
    for _ in 0..30_000 {
        counts[rng.below(3)] += 1;
    }
    assert!(counts.iter().all(|&c| (9_500..10_500).contains(&c)), "{counts:?}");
    let mut p = Rng::new(1).permutation(50);
    p.sort_unstable();
    assert_eq!(p, (0..50).collect::<Vec<_>>());
}

/// Deterministic pseudo-random vectors: `categories` centroids (scaled by `signal`) plus noise.
fn planted(sizes: &[usize], signal: f32, seed: u64) -> (Matrix, Grouping) {
    let mut rng = Rng::new(seed);
    let mut gauss = move || {
        // Sum of 12 uniforms - 6: close enough to normal for test data.
        (0..12)
            .map(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
            .sum::<f64>() as f32
            - 6.0
    };
    let dim = 32;
    // A direction every word shares (as GPT-2's Q and K have), so across-category similarities
    // are positive and the selectivity ratio is well defined.
    let shared: Vec<f32> = (0..dim).map(|_| 1.0 + 0.2 * gauss()).collect();
    let centroids: Vec<Vec<f32>> = sizes.iter().map(|_| (0..dim).map(|_| gauss()).collect()).collect();
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for (c, &size) in sizes.iter().enumerate() {
        for _ in 0..size {
            rows.push(
                centroids[c]
                    .iter()
                    .zip(&shared)
                    .map(|(m, s)| s + signal * m + gauss())
                    .collect::<Vec<f32>>(),
            );
            labels.push(c);
        }
    }
    (cosine_matrix(&rows).unwrap(), Grouping::new(labels, sizes.len()))
}

/// Identical matrices: r = rho = 1, and only the identity permutation reaches it: p = 1/(N+1).
#[test]
fn identical_matrices_r_one_p_minimal() {
    let (c, _) = planted(&[10, 13, 11], 0.5, 3);
    let perms = Permutations::new(c.len(), 999, 11);
    for kind in [Correlation::Pearson, Correlation::Spearman] {
        let t = mantel_test(&c, &c, &perms, kind);
        assert_eq!(t.observed, Some(1.0), "{kind:?}");
        assert_eq!(t.p, Some(1.0 / 1000.0), "{kind:?}");
        assert!(t.null.iter().all(|&r| r < 0.999));
    }
}

/// A planted category structure: selectivity and the category model are significant (p < 0.01)
/// and the bootstrap interval of the selectivity lies above 1.
#[test]
fn planted_structure_is_significant() {
    let (c, grouping) = planted(&[10, 13, 11], 0.6, 5);
    let options = StatOptions {
        permutations: 999,
        bootstrap: 999,
        seed: 1,
        confidence: 0.95,
    };
    let s = statistics(0, false, [&c, &c, &c], &grouping, &options);
    let sel = &s.q.selectivity;
    assert!(sel.observed.unwrap() > 1.2, "planted selectivity {:?}", sel.observed);
    assert!(sel.p.unwrap() < 0.01, "p {:?}", sel.p);
    assert!(sel.ci.unwrap()[0] > 1.0, "ci {:?}", sel.ci);
    let model = &s.category_model.q;
    assert!(model.r.unwrap() > 0.3 && model.p.unwrap() < 0.01, "category model {model:?}");
    // The fast observed value equals the lecture's selectivity bit for bit.
    assert_eq!(sel.observed, selectivity(&c, &grouping).index);
}

/// Labels shuffled at random (no relation to the planted structure): over 200 seeds the
/// p-values are roughly uniform (Kolmogorov-Smirnov distance and tail rates).
#[test]
fn shuffled_labels_give_uniform_p() {
    let (c, grouping) = planted(&[10, 13, 11], 0.6, 5);
    let mut ps: Vec<f64> = (0..200u64)
        .map(|seed| {
            let mut labels = grouping.labels.clone();
            Rng::new(1000 + seed).shuffle(&mut labels);
            let shuffled = Grouping::new(labels, 3);
            selectivity_test(&c, &shuffled, &Permutations::new(c.len(), 199, seed))
                .p
                .unwrap()
        })
        .collect();
    ps.sort_by(f64::total_cmp);
    let n = ps.len() as f64;
    let ks = ps
        .iter()
        .enumerate()
        .map(|(i, &p)| (p - i as f64 / n).abs().max((p - (i + 1) as f64 / n).abs()))
        .fold(0.0, f64::max);
    assert!(ks < 0.12, "KS distance {ks} (5% critical value for n = 200: 0.096)");
    let below = |a: f64| ps.iter().filter(|&&p| p <= a).count() as f64 / n;
    assert!(
        below(0.05) < 0.12 && below(0.5) > 0.35 && below(0.5) < 0.65,
        "{} {}",
        below(0.05),
        below(0.5)
    );
}

/// The Mantel null permutes rows and columns together: each null value equals the correlation
/// with the explicitly permuted matrix.
#[test]
fn mantel_null_is_rows_and_columns_permuted() {
    let (a, _) = planted(&[6, 7], 0.3, 21);
    let (b, _) = planted(&[6, 7], 0.3, 22);
    let perms = Permutations::new(a.len(), 25, 4);
    let t = mantel_test(&a, &b, &perms, Correlation::Pearson);
    let ts = mantel_test(&a, &b, &perms, Correlation::Spearman);
    for (k, p) in perms.perms.iter().enumerate() {
        let bp: Matrix = p.iter().map(|&i| p.iter().map(|&j| b[i][j]).collect()).collect();
        let (ua, ub) = (upper_triangle(&a), upper_triangle(&bp));
        assert_close("mantel null", t.null[k], pearson(&ua, &ub).unwrap(), EXACT);
        assert_close("mantel rank null", ts.null[k], spearman(&ua, &ub).unwrap(), EXACT);
    }
}

/// p = (count of null >= observed + 1) / (N + 1); ties count.
#[test]
fn p_value_formula() {
    assert_eq!(p_value(&[0.1, 0.5, 0.5, 0.9], 0.5, 4), 0.8);
    assert_eq!(p_value(&[0.1, 0.2], 0.5, 2), 1.0 / 3.0);
    assert!(at_least(0.5 - 1e-15, 0.5) && !at_least(0.5 - 1e-9, 0.5));
}

/// Average ranks for ties (scipy's rankdata); rho is invariant under monotone transforms.
#[test]
fn ranks_and_spearman() {
    assert_eq!(ranks(&[3.0, 1.0, 2.0, 2.0]), vec![4.0, 1.0, 2.5, 2.5]);
    let x = [0.3, -1.0, 2.5, 0.7, 0.1];
    let y = [1.0, 0.2, 3.0, 0.5, 0.9];
    let ey: Vec<f64> = y.iter().map(|v: &f64| v.exp()).collect();
    assert_close("monotone", spearman(&x, &y).unwrap(), spearman(&x, &ey).unwrap(), EXACT);
    // scipy.stats.spearmanr([0.3,-1,2.5,0.7,0.1], [1,0.2,3,0.5,0.9]).statistic
    assert_close("scipy", spearman(&x, &y).unwrap(), 0.7, EXACT);
    assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), None);
}

/// np.percentile(values, [2.5, 97.5]) with linear interpolation.
#[test]
fn percentile_interval_is_numpys() {
    let ci = percentile_interval(&[4.0, 1.0, 3.0, 2.0], 0.95).unwrap();
    assert_close("lo", ci[0], 1.075, EXACT);
    assert_close("hi", ci[1], 3.925, EXACT);
    assert_eq!(percentile_interval(&[], 0.95), None);
}

/// Pairs of a word with its own copy are dropped: with two words per category, a resample that
/// drew the same word twice for a category has no within pair there and is undefined.
#[test]
fn bootstrap_drops_self_pairs() {
    let (c, grouping) = planted(&[2, 2, 2], 0.5, 8);
    let res = Resamples::stratified(&grouping, 400, 3);
    let collapsed = res
        .samples
        .iter()
        .filter(|s| (0..3).any(|cat| s[2 * cat] == s[2 * cat + 1]))
        .count();
    let boot = bootstrap_selectivity(&c, &grouping, &res);
    assert_eq!(boot.undefined, collapsed);
    assert_eq!(boot.values.len(), 400 - collapsed);
    assert!(
        collapsed > 250,
        "most resamples of 2-word categories collapse one ({collapsed})"
    );
    // Every sample keeps each position's category.
    for s in &res.samples {
        for (i, &w) in s.iter().enumerate() {
            assert_eq!(grouping.labels[w], grouping.labels[i]);
        }
    }
}

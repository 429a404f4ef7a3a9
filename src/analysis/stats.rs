//! Valid statistics for the lecture's numbers. The strictly-upper-triangle entries of a
//! similarity matrix are not independent (every word is in n-1 pairs), so the p-values come from
//! permuting words, never from treating pairs as samples:
//!
//! - selectivity: a label-permutation test (the category labels shuffled over the words, category
//!   sizes kept; the index recomputed by the general rule);
//! - RSA r and rho: a Mantel test (the words of the second matrix permuted, rows and columns
//!   together, so each permuted matrix is again a similarity matrix of the same words);
//! - the category model: the correlation of a similarity matrix's upper triangle with the ideal
//!   same/different-category matrix (1 same, 0 different); its null permutes the labels.
//!
//! p = (number of null values >= observed + 1) / (N + 1), one-sided (a larger value is the
//! effect), N the number of permutations. A null value within 1e-12 (absolute, relative above 1)
//! below the observed counts as >=, so summation order cannot decide a tie. Permutations whose
//! statistic is undefined count as not >=.

use super::rng::Rng;
use super::{cosine::Matrix, pearson, upper_triangle, Grouping, Histogram, HISTOGRAM_BINS};

/// N permutations of n words, drawn once (seeded) and shared by every test that uses them, so
/// every layer, head and space is tested against the same permutations.
#[derive(Clone, Debug)]
pub struct Permutations {
    pub seed: u64,
    pub perms: Vec<Vec<usize>>,
}

impl Permutations {
    /// `count` permutations of 0..n, each `Rng::permutation` from one `Rng::new(seed)` in order.
    pub fn new(n: usize, count: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        Permutations {
            seed,
            perms: (0..count).map(|_| rng.permutation(n)).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.perms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.perms.is_empty()
    }
}

/// A one-sided permutation test of a statistic.
#[derive(Clone, Debug, PartialEq)]
pub struct PermutationTest {
    pub observed: Option<f64>,
    /// The defined null values, in permutation order.
    pub null: Vec<f64>,
    /// Null values >= observed.
    pub exceed: usize,
    /// Number of permutations N (defined or not).
    pub permutations: usize,
    /// (exceed + 1) / (N + 1); None when the observed value is undefined.
    pub p: Option<f64>,
}

impl PermutationTest {
    fn new(observed: Option<f64>, null: Vec<Option<f64>>) -> Self {
        let permutations = null.len();
        let null: Vec<f64> = null.into_iter().flatten().collect();
        let exceed = observed.map_or(0, |o| null.iter().filter(|&&x| at_least(x, o)).count());
        PermutationTest {
            p: observed.map(|_| (exceed + 1) as f64 / (permutations + 1) as f64),
            observed,
            null,
            exceed,
            permutations,
        }
    }

    /// 20-bin histogram of the null distribution (numpy's binning).
    pub fn null_histogram(&self) -> Histogram {
        Histogram::new(&self.null, HISTOGRAM_BINS)
    }

    pub fn null_mean(&self) -> Option<f64> {
        (!self.null.is_empty()).then(|| self.null.iter().sum::<f64>() / self.null.len() as f64)
    }
}

/// x >= observed, with ties within 1e-12 (absolute; relative above 1) counted as >=.
pub fn at_least(x: f64, observed: f64) -> bool {
    x >= observed - 1e-12 * observed.abs().max(1.0)
}

/// The p-value of a permutation test: (count of null >= observed + 1) / (N + 1).
pub fn p_value(null: &[f64], observed: f64, permutations: usize) -> f64 {
    let exceed = null.iter().filter(|&&x| at_least(x, observed)).count();
    (exceed + 1) as f64 / (permutations + 1) as f64
}

/// Sums for the general selectivity rule: within[c] and across[a * g + b] (a < b).
pub(crate) struct PairSums {
    g: usize,
    within: Vec<(f64, usize)>,
    across: Vec<(f64, usize)>,
}

impl PairSums {
    pub(crate) fn new(g: usize) -> Self {
        PairSums {
            g,
            within: vec![(0.0, 0); g],
            across: vec![(0.0, 0); g * g],
        }
    }

    pub(crate) fn clear(&mut self) {
        self.within.fill((0.0, 0));
        self.across.fill((0.0, 0));
    }

    pub(crate) fn add(&mut self, la: usize, lb: usize, value: f64) {
        let slot = if la == lb {
            &mut self.within[la]
        } else {
            let (a, b) = if la < lb { (la, lb) } else { (lb, la) };
            &mut self.across[a * self.g + b]
        };
        slot.0 += value;
        slot.1 += 1;
    }

    /// Which within and across means exist (a bootstrap sample must have the observed ones).
    pub(crate) fn shape(&self) -> Vec<bool> {
        self.within.iter().chain(&self.across).map(|s| s.1 > 0).collect()
    }

    /// within / across by the general rule, with the same summation order as
    /// [`super::selectivity::selectivity`] (so the observed values are equal bit for bit).
    pub(crate) fn index(&self) -> Option<f64> {
        let mean = |it: &mut dyn Iterator<Item = f64>| {
            let (s, n) = it.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
            (n > 0).then(|| s / n as f64)
        };
        let within = mean(&mut self.within.iter().filter(|s| s.1 > 0).map(|s| s.0 / s.1 as f64));
        let g = self.g;
        let mut across_iter = (0..g)
            .flat_map(|a| (a + 1..g).map(move |b| a * g + b))
            .map(|i| self.across[i])
            .filter(|s| s.1 > 0)
            .map(|s| s.0 / s.1 as f64);
        let across = mean(&mut across_iter);
        match (within, across) {
            (Some(w), Some(a)) if a != 0.0 => Some(w / a),
            _ => None,
        }
    }
}

/// Pairs i < j, row-major, with their values in `c`.
fn upper_pairs(c: &Matrix) -> Vec<(usize, usize, f64)> {
    let n = c.len();
    (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j, c[i][j]))).collect()
}

fn selectivity_with_labels(pairs: &[(usize, usize, f64)], labels: &[usize], sums: &mut PairSums) -> Option<f64> {
    sums.clear();
    for &(i, j, v) in pairs {
        sums.add(labels[i], labels[j], v);
    }
    sums.index()
}

/// `statistic` on the true labels, and on each permutation of them (labels[perm[i]] is word i's
/// permuted label): the shared body of the label-permutation tests.
fn label_permutation_test(
    grouping: &Grouping,
    perms: &Permutations,
    mut statistic: impl FnMut(&[usize]) -> Option<f64>,
) -> PermutationTest {
    let observed = statistic(&grouping.labels);
    let mut permuted = vec![0; grouping.len()];
    let null = perms
        .perms
        .iter()
        .map(|p| {
            for (i, &src) in p.iter().enumerate() {
                permuted[i] = grouping.labels[src];
            }
            statistic(&permuted)
        })
        .collect();
    PermutationTest::new(observed, null)
}

/// Label-permutation test of the selectivity index: `labels[perm[i]]` is word i's permuted label.
pub fn selectivity_test(c: &Matrix, grouping: &Grouping, perms: &Permutations) -> PermutationTest {
    let pairs = upper_pairs(c);
    let mut sums = PairSums::new(grouping.n_categories);
    label_permutation_test(grouping, perms, |labels| selectivity_with_labels(&pairs, labels, &mut sums))
}

/// Which correlation a Mantel test or a bootstrap uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Correlation {
    Pearson,
    /// Pearson of the ranks (ties get their average rank), as scipy.stats.spearmanr.
    Spearman,
}

/// Ranks 1..n of the values, ties sharing their average rank (scipy's rankdata "average").
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            r[o] = avg;
        }
        i = j + 1;
    }
    r
}

/// Spearman's rho; None when undefined (fewer than 2 points or a constant side).
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    assert_eq!(x.len(), y.len(), "spearman needs paired samples");
    pearson(&ranks(x), &ranks(y))
}

/// Correlation of two paired samples.
pub fn correlation(x: &[f64], y: &[f64], kind: Correlation) -> Option<f64> {
    match kind {
        Correlation::Pearson => pearson(x, y),
        Correlation::Spearman => spearman(x, y),
    }
}

/// Mantel test of the correlation of two similarity matrices' upper triangles: the words of `b`
/// are permuted (`b[perm[i]][perm[j]]`), `a` stays. The null uses the centred sums once: only the
/// cross term changes under a permutation.
pub fn mantel_test(a: &Matrix, b: &Matrix, perms: &Permutations, kind: Correlation) -> PermutationTest {
    let n = a.len();
    assert_eq!(n, b.len(), "mantel needs matrices of the same words");
    let (ua, ub) = (upper_triangle(a), upper_triangle(b));
    let observed = correlation(&ua, &ub, kind);
    let (xa, yb) = match kind {
        Correlation::Pearson => (ua, ub),
        Correlation::Spearman => (ranks(&ua), ranks(&ub)),
    };
    let null = match centred(&xa).zip(centred(&yb)) {
        Some(((xc, sxx), (yc, syy))) => {
            // The centred second side as a full symmetric matrix, to be read through perm.
            let mut ym = vec![vec![0.0; n]; n];
            for (&(i, j, _), &v) in upper_pairs(b).iter().zip(&yc) {
                ym[i][j] = v;
                ym[j][i] = v;
            }
            let denom = (sxx * syy).sqrt();
            perms
                .perms
                .iter()
                .map(|p| {
                    let mut k = 0;
                    let mut sxy = 0.0;
                    for (i, &pi) in p.iter().enumerate() {
                        let row = &ym[pi];
                        for &pj in &p[i + 1..] {
                            sxy += xc[k] * row[pj];
                            k += 1;
                        }
                    }
                    Some((sxy / denom).clamp(-1.0, 1.0))
                })
                .collect()
        }
        None => vec![None; perms.len()],
    };
    PermutationTest::new(observed, null)
}

/// Values minus their mean and the sum of squares; None when constant or fewer than 2.
fn centred(x: &[f64]) -> Option<(Vec<f64>, f64)> {
    if x.len() < 2 || x.iter().all(|&v| v == x[0]) {
        return None;
    }
    let m = x.iter().sum::<f64>() / x.len() as f64;
    let c: Vec<f64> = x.iter().map(|v| v - m).collect();
    let ss: f64 = c.iter().map(|v| v * v).sum();
    (ss > 0.0).then_some((c, ss))
}

/// The ideal category model over the upper triangle: 1 for a same-category pair, 0 otherwise.
pub fn category_model(labels: &[usize]) -> Vec<f64> {
    let n = labels.len();
    (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .map(|(i, j)| if labels[i] == labels[j] { 1.0 } else { 0.0 })
        .collect()
}

/// Pearson r of a similarity matrix with the category model (None with a single category or
/// all words in different categories: the model is constant).
pub fn category_model_r(c: &Matrix, grouping: &Grouping) -> Option<f64> {
    pearson(&upper_triangle(c), &category_model(&grouping.labels))
}

/// Permutation test of the category-model correlation: the labels are permuted (this is the
/// Mantel test with the model matrix as the permuted side).
pub fn category_model_test(c: &Matrix, grouping: &Grouping, perms: &Permutations) -> PermutationTest {
    let u = upper_triangle(c);
    label_permutation_test(grouping, perms, |labels| pearson(&u, &category_model(labels)))
}

/// numpy's default percentile (linear interpolation between closest ranks), q in [0, 100].
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let h = (v.len() - 1) as f64 * (q / 100.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    let frac = h - lo as f64;
    Some(v[lo] + frac * (v[hi] - v[lo]))
}

/// Percentile interval [lo, hi] holding `confidence` (e.g. 0.95) of the values.
pub fn percentile_interval(values: &[f64], confidence: f64) -> Option<[f64; 2]> {
    let tail = (1.0 - confidence) / 2.0 * 100.0;
    Some([percentile(values, tail)?, percentile(values, 100.0 - tail)?])
}

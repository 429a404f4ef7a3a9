//! Category selectivity: mean within-category similarity over mean across-category similarity.
//!
//! within = mean over categories of the mean similarity of pairs inside the category;
//! across = mean over category pairs of the mean similarity of pairs straddling them.
//! For three categories this equals the lecture's mask-product trick (masks 1,4,9 vs 2,3,6);
//! the trick itself collides from four categories on (1x4 = 2x2), so it is not used.

use super::{cosine::Matrix, Grouping};

#[derive(Clone, Debug, PartialEq)]
pub struct Selectivity {
    /// within / across; None when either side has no pairs.
    pub index: Option<f64>,
    pub within: Option<f64>,
    pub across: Option<f64>,
    /// Mean within each category; None for a one-word category (no pairs).
    pub within_means: Vec<Option<f64>>,
    /// Mean across each category pair (a < b).
    pub across_means: Vec<((usize, usize), f64)>,
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

pub fn selectivity(c: &Matrix, grouping: &Grouping) -> Selectivity {
    let g = grouping.n_categories;
    let within_means: Vec<Option<f64>> = (0..g).map(|k| mean(grouping.within_pairs(k).map(|(i, j)| c[i][j]))).collect();
    let across_means: Vec<((usize, usize), f64)> = (0..g)
        .flat_map(|a| (a + 1..g).map(move |b| (a, b)))
        .filter_map(|(a, b)| mean(grouping.across_pairs(a, b).map(|(i, j)| c[i][j])).map(|m| ((a, b), m)))
        .collect();
    let within = mean(within_means.iter().flatten().copied());
    let across = mean(across_means.iter().map(|(_, m)| *m));
    let index = match (within, across) {
        (Some(w), Some(a)) if a != 0.0 => Some(w / a),
        _ => None,
    };
    Selectivity {
        index,
        within,
        across,
        within_means,
        across_means,
    }
}

/// Medians of the pooled within-category and across-category pair similarities: the middle of
/// each distribution the lecture's histograms show, less moved by a few outlying pairs than
/// the means. None where a side has no pairs.
pub fn pair_medians(c: &Matrix, grouping: &Grouping) -> (Option<f64>, Option<f64>) {
    let g = grouping.n_categories;
    let within: Vec<f64> = (0..g).flat_map(|k| grouping.within_pairs(k)).map(|(i, j)| c[i][j]).collect();
    let across: Vec<f64> = (0..g)
        .flat_map(|a| (a + 1..g).map(move |b| (a, b)))
        .flat_map(|(a, b)| grouping.across_pairs(a, b))
        .map(|(i, j)| c[i][j])
        .collect();
    (median(within), median(across))
}

/// numpy's median: the middle value, or the mean of the two middle values.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

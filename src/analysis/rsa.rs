//! Representational similarity analysis: Pearson correlation of two similarity structures.

use super::{cosine::Matrix, Grouping};

/// Strictly-upper-triangle entries, row-major (i < j).
pub fn upper_triangle(m: &Matrix) -> Vec<f64> {
    let n = m.len();
    (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .map(|(i, j)| m[i][j])
        .collect()
}

/// Pearson r; None when it is undefined (fewer than 2 points or a constant side).
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    assert_eq!(x.len(), y.len(), "pearson needs paired samples");
    let n = x.len();
    // A constant side has no variance; tested on the values, as a rounded mean may not be exact.
    let constant = |v: &[f64]| v.iter().all(|&a| a == v[0]);
    if n < 2 || constant(x) || constant(y) {
        return None;
    }
    let mx = x.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return None;
    }
    Some((sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0))
}

/// RSA r over all word pairs, and over each category's within pairs.
#[derive(Clone, Debug, PartialEq)]
pub struct Rsa {
    pub r: Option<f64>,
    /// Per category: r (None with fewer than 2 within pairs) and the number of pairs.
    pub per_category: Vec<(Option<f64>, usize)>,
}

pub fn rsa(a: &Matrix, b: &Matrix, grouping: &Grouping) -> Rsa {
    let r = pearson(&upper_triangle(a), &upper_triangle(b));
    let per_category = (0..grouping.n_categories)
        .map(|c| {
            let (xa, xb): (Vec<f64>, Vec<f64>) = grouping.within_pairs(c).map(|(i, j)| (a[i][j], b[i][j])).unzip();
            (pearson(&xa, &xb), xa.len())
        })
        .collect();
    Rsa { r, per_category }
}

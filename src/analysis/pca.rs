//! A 2-D map of the words: PCA of the vectors by power iteration on the n x n Gram matrix of
//! the centred rows (n words is small; the vector width can be 1024+), with deflation.
//! Coordinates are U·S of the centred data (as numpy's SVD gives), each component's sign chosen
//! so its largest-magnitude coordinate is positive.

use serde::{Deserialize, Serialize};

use super::vectors::center;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pca {
    /// One [pc1, pc2] per word.
    pub coords: Vec<[f64; 2]>,
    /// Share of the total variance on each component.
    pub explained_variance_ratio: [f64; 2],
}

const MAX_ITERATIONS: usize = 20_000;

/// Leading eigenvector and eigenvalue of a symmetric positive semi-definite matrix.
fn power_iteration(g: &[Vec<f64>]) -> (Vec<f64>, f64) {
    let n = g.len();
    // A fixed start with no special structure (the all-ones vector is in the null space of a
    // centred Gram matrix, so it would never move).
    let mut v: Vec<f64> = (0..n).map(|i| ((i as f64 + 1.0) * 0.754_877_666).sin() + 0.1).collect();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nv = norm(&v);
    v.iter_mut().for_each(|x| *x /= nv);
    let mut lambda = 0.0;
    for _ in 0..MAX_ITERATIONS {
        let w: Vec<f64> = g.iter().map(|row| row.iter().zip(&v).map(|(a, b)| a * b).sum()).collect();
        let nw = norm(&w);
        if nw == 0.0 {
            return (v, 0.0);
        }
        let w: Vec<f64> = w.into_iter().map(|x| x / nw).collect();
        let change = w.iter().zip(&v).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        v = w;
        lambda = nw;
        if change < 1e-14 {
            break;
        }
    }
    (v, lambda)
}

/// The first two principal components of the rows (None with fewer than 2 rows or no variance).
pub fn pca_2d(rows: &[Vec<f64>]) -> Option<Pca> {
    let n = rows.len();
    if n < 2 {
        return None;
    }
    let x = center(rows);
    let mut g: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| x[i].iter().zip(&x[j]).map(|(a, b)| a * b).sum()).collect())
        .collect();
    let total: f64 = (0..n).map(|i| g[i][i]).sum();
    if total <= 0.0 {
        return None;
    }
    let mut coords = vec![[0.0; 2]; n];
    let mut ratio = [0.0; 2];
    for c in 0..2 {
        let (mut u, lambda) = power_iteration(&g);
        let lambda = lambda.max(0.0);
        // Sign: the largest-magnitude coordinate positive.
        let big = u.iter().copied().fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
        if big < 0.0 {
            u.iter_mut().for_each(|x| *x = -*x);
        }
        let s = lambda.sqrt();
        for i in 0..n {
            coords[i][c] = u[i] * s;
        }
        ratio[c] = lambda / total;
        for i in 0..n {
            for j in 0..n {
                g[i][j] -= lambda * u[i] * u[j];
            }
        }
    }
    Some(Pca {
        coords,
        explained_variance_ratio: ratio,
    })
}

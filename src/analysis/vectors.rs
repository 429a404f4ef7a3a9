//! Vector-level helpers for the extended analyses: f64 rows, mean-centering, splitting into
//! attention heads, cosine of f64 rows, and the Q·K cross matrix of a head.

use super::cosine::Matrix;
use crate::error::{Error, Result};

/// Rows as f64 (exact).
pub fn to_f64(rows: &[Vec<f32>]) -> Vec<Vec<f64>> {
    rows.iter().map(|r| r.iter().map(|&x| x as f64).collect()).collect()
}

/// Rows minus their mean row (the mean over words, per coordinate): removes the direction all
/// words share, which dominates raw cosines in GPT-2's Q and K.
pub fn center(rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let Some(first) = rows.first() else { return Vec::new() };
    let n = rows.len() as f64;
    let mut mean = vec![0.0; first.len()];
    for r in rows {
        for (m, x) in mean.iter_mut().zip(r) {
            *m += x;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    rows.iter()
        .map(|r| r.iter().zip(&mean).map(|(x, m)| x - m).collect())
        .collect()
}

/// Head h of every row: the contiguous slice h*d_head..(h+1)*d_head (GPT-2's split of c_attn's
/// q, k and v into n_head heads). Returns `heads[h][word]`.
pub fn split_heads(rows: &[Vec<f64>], n_head: usize) -> Result<Vec<Vec<Vec<f64>>>> {
    let width = rows.first().map_or(0, Vec::len);
    if n_head == 0 || !width.is_multiple_of(n_head) {
        return Err(Error::Analysis(format!("{width} values do not split into {n_head} heads")));
    }
    let d = width / n_head;
    Ok((0..n_head)
        .map(|h| rows.iter().map(|r| r[h * d..(h + 1) * d].to_vec()).collect())
        .collect())
}

/// Cosine similarity of f64 rows: [`super::cosine_matrix`] (bit for bit the same on rows
/// converted from f32). A zero row is an error naming its index.
pub fn cosine_rows(rows: &[Vec<f64>]) -> Result<Matrix> {
    super::cosine_matrix(rows)
}

/// The Q·K cross matrix of one head: `scores[i][j] = q_i · k_j / sqrt(d_head)`, the attention
/// logit word i's last-token query would give word j's last-token key (not symmetric).
pub fn qk_scores(q: &[Vec<f64>], k: &[Vec<f64>]) -> Matrix {
    let d = q.first().map_or(1, Vec::len).max(1) as f64;
    let scale = d.sqrt();
    q.iter()
        .map(|qi| {
            k.iter()
                .map(|kj| qi.iter().zip(kj).map(|(a, b)| a * b).sum::<f64>() / scale)
                .collect()
        })
        .collect()
}

/// Mean of the off-diagonal entries (i != j) of a square matrix over same-category pairs and
/// over different-category pairs (both orders), for a non-symmetric matrix such as Q·K.
pub fn off_diagonal_means(m: &Matrix, labels: &[usize]) -> (Option<f64>, Option<f64>) {
    let (mut ws, mut wn, mut as_, mut an) = (0.0, 0usize, 0.0, 0usize);
    for (i, row) in m.iter().enumerate() {
        for (j, &x) in row.iter().enumerate() {
            if i == j {
                continue;
            }
            if labels[i] == labels[j] {
                ws += x;
                wn += 1;
            } else {
                as_ += x;
                an += 1;
            }
        }
    }
    ((wn > 0).then(|| ws / wn as f64), (an > 0).then(|| as_ / an as f64))
}

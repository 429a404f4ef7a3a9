//! Cosine similarity of row vectors: rows are L2-normalised, then C = Xn Xn^T (as the lecture).

use crate::error::{Error, Result};

/// A dense row-major square matrix.
pub type Matrix = Vec<Vec<f64>>;

/// Rows scaled to unit length; a zero row has no direction and is an error naming its index.
pub fn normalise_rows<T: Copy + Into<f64>>(rows: &[Vec<T>]) -> Result<Vec<Vec<f64>>> {
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let v: Vec<f64> = r.iter().map(|&x| x.into()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm.is_nan() || norm <= 0.0 || !norm.is_finite() {
                return Err(Error::Analysis(format!(
                    "vector #{} has norm {norm}: its cosine similarity is undefined",
                    i + 1
                )));
            }
            Ok(v.into_iter().map(|x| x / norm).collect())
        })
        .collect()
}

/// Cosine similarity of rows (f32 as captured, or f64 after centring or splitting into heads).
pub fn cosine_matrix<T: Copy + Into<f64>>(rows: &[Vec<T>]) -> Result<Matrix> {
    let unit = normalise_rows(rows)?;
    let n = unit.len();
    let mut c = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in i..n {
            let d: f64 = unit[i].iter().zip(&unit[j]).map(|(a, b)| a * b).sum();
            c[i][j] = d;
            c[j][i] = d;
        }
    }
    Ok(c)
}

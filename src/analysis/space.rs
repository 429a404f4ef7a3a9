//! One representation's analysis (Q, K or V: cosine, selectivity with its means, histogram) and
//! RSA between two, as the result JSON reports them with category names.

use serde::{Deserialize, Serialize};

use super::{cosine_matrix, rsa, selectivity, upper_triangle, Grouping, Histogram, Matrix, HISTOGRAM_BINS};
use crate::error::Result;

/// The analysis of one representation (Q or K).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpaceResult {
    /// Cosine similarity of every word pair.
    pub cosine: Vec<Vec<f64>>,
    /// Mean within-category / mean across-category similarity; null when undefined.
    pub selectivity: Option<f64>,
    pub within_mean: Option<f64>,
    pub across_mean: Option<f64>,
    /// Median of the pooled within-category pair similarities; null without such pairs.
    #[serde(default)]
    pub within_median: Option<f64>,
    /// Median of the pooled across-category pair similarities; null without such pairs.
    #[serde(default)]
    pub across_median: Option<f64>,
    pub within_means: Vec<CategoryMean>,
    pub across_means: Vec<PairMean>,
    /// 20-bin histogram of the strictly-upper-triangle similarities, numpy's default range.
    pub histogram: Histogram,
    /// The captured last-token vectors (f32, as the model computed them).
    pub vectors: Vec<Vec<f32>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CategoryMean {
    pub category: String,
    pub mean: Option<f64>,
    pub pairs: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairMean {
    pub categories: [String; 2],
    pub mean: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RsaResult {
    /// Pearson r of the Q and K similarity structures over all word pairs.
    pub r: Option<f64>,
    pub per_category: Vec<CategoryR>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CategoryR {
    pub category: String,
    pub r: Option<f64>,
    pub pairs: usize,
}

pub fn space(vectors: &[Vec<f32>], grouping: &Grouping, names: &[String]) -> Result<SpaceResult> {
    Ok(space_of(cosine_matrix(vectors)?, vectors.to_vec(), grouping, names))
}

pub fn space_of(cosine: Matrix, vectors: Vec<Vec<f32>>, grouping: &Grouping, names: &[String]) -> SpaceResult {
    let sel = selectivity::selectivity(&cosine, grouping);
    let (within_median, across_median) = selectivity::pair_medians(&cosine, grouping);
    SpaceResult {
        histogram: Histogram::new(&upper_triangle(&cosine), HISTOGRAM_BINS),
        selectivity: sel.index,
        within_mean: sel.within,
        across_mean: sel.across,
        within_median,
        across_median,
        within_means: sel
            .within_means
            .iter()
            .enumerate()
            .map(|(c, m)| CategoryMean {
                category: names[c].clone(),
                mean: *m,
                pairs: grouping.within_pairs(c).count(),
            })
            .collect(),
        across_means: sel
            .across_means
            .iter()
            .map(|&((a, b), mean)| PairMean {
                categories: [names[a].clone(), names[b].clone()],
                mean,
            })
            .collect(),
        cosine,
        vectors,
    }
}

pub fn rsa_of(q: &Matrix, k: &Matrix, grouping: &Grouping, names: &[String]) -> RsaResult {
    let rsa = rsa::rsa(q, k, grouping);
    RsaResult {
        r: rsa.r,
        per_category: rsa
            .per_category
            .iter()
            .enumerate()
            .map(|(c, &(r, pairs))| CategoryR {
                category: names[c].clone(),
                r,
                pairs,
            })
            .collect(),
    }
}

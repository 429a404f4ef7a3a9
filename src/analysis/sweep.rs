//! The layer sweep and the per-head analysis: selectivity of Q, K and V and RSA (Q vs K) for
//! every captured layer and for every head of it, plus the Q·K cross matrices of a layer's heads.
//! With permutations, each summary also carries its permutation p-value (see [`super::stats`]);
//! every layer and head is tested against the same permutations.

use serde::{Deserialize, Serialize};

use super::stats::{mantel_test, selectivity_test, spearman, Correlation, Permutations};
use super::vectors::{center, cosine_rows, off_diagonal_means, qk_scores, split_heads, to_f64};
use super::{cosine::Matrix, pearson, selectivity::selectivity, upper_triangle, Grouping};
use crate::error::Result;

/// Q, K and V of one layer (one row per word) as f64, mean-centred when asked.
#[derive(Clone, Debug)]
pub struct LayerVectors {
    pub layer: usize,
    pub q: Vec<Vec<f64>>,
    pub k: Vec<Vec<f64>>,
    pub v: Vec<Vec<f64>>,
}

impl LayerVectors {
    pub fn new(layer: usize, q: &[Vec<f32>], k: &[Vec<f32>], v: &[Vec<f32>], centre: bool) -> Self {
        let prep = |x: &[Vec<f32>]| {
            let x = to_f64(x);
            if centre {
                center(&x)
            } else {
                x
            }
        };
        LayerVectors {
            layer,
            q: prep(q),
            k: prep(k),
            v: prep(v),
        }
    }

    /// Head h's slices of Q, K and V.
    pub fn heads(&self, n_head: usize) -> Result<Vec<LayerVectors>> {
        let (q, k, v) = (
            split_heads(&self.q, n_head)?,
            split_heads(&self.k, n_head)?,
            split_heads(&self.v, n_head)?,
        );
        Ok(q.into_iter()
            .zip(k)
            .zip(v)
            .map(|((q, k), v)| LayerVectors {
                layer: self.layer,
                q,
                k,
                v,
            })
            .collect())
    }
}

/// Selectivity of one space (and its label-permutation p with permutations).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpaceSummary {
    pub selectivity: Option<f64>,
    pub within_mean: Option<f64>,
    pub across_mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<f64>,
}

/// RSA of Q vs K: Pearson r, Spearman rho (and the Mantel p of r with permutations).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RsaSummary {
    pub r: Option<f64>,
    pub rho: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerSummary {
    pub layer: usize,
    pub q: SpaceSummary,
    pub k: SpaceSummary,
    pub v: SpaceSummary,
    pub rsa: RsaSummary,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadSummary {
    pub layer: usize,
    pub head: usize,
    pub q: SpaceSummary,
    pub k: SpaceSummary,
    pub v: SpaceSummary,
    pub rsa: RsaSummary,
}

/// The Q·K cross matrix of one head: `scores[i][j] = q_i·k_j / sqrt(d_head)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QkHead {
    pub layer: usize,
    pub head: usize,
    pub scores: Matrix,
    /// Mean score over i != j in the same category, and across categories.
    pub within_mean: Option<f64>,
    pub across_mean: Option<f64>,
}

fn space(c: &Matrix, grouping: &Grouping, perms: Option<&Permutations>) -> SpaceSummary {
    let s = selectivity(c, grouping);
    SpaceSummary {
        selectivity: s.index,
        within_mean: s.within,
        across_mean: s.across,
        p: perms.and_then(|p| selectivity_test(c, grouping, p).p),
    }
}

/// Selectivity of Q, K, V and RSA of Q vs K for one set of vectors (a layer or a head).
pub fn summarise(
    x: &LayerVectors,
    grouping: &Grouping,
    perms: Option<&Permutations>,
) -> Result<(SpaceSummary, SpaceSummary, SpaceSummary, RsaSummary)> {
    let (cq, ck, cv) = (cosine_rows(&x.q)?, cosine_rows(&x.k)?, cosine_rows(&x.v)?);
    let (uq, uk) = (upper_triangle(&cq), upper_triangle(&ck));
    let rsa = RsaSummary {
        r: pearson(&uq, &uk),
        rho: spearman(&uq, &uk),
        p: perms.and_then(|p| mantel_test(&cq, &ck, p, Correlation::Pearson).p),
    };
    Ok((
        space(&cq, grouping, perms),
        space(&ck, grouping, perms),
        space(&cv, grouping, perms),
        rsa,
    ))
}

/// One summary per layer, in the order given.
pub fn layer_summaries(layers: &[LayerVectors], grouping: &Grouping, perms: Option<&Permutations>) -> Result<Vec<LayerSummary>> {
    layers
        .iter()
        .map(|x| {
            let (q, k, v, rsa) = summarise(x, grouping, perms)?;
            Ok(LayerSummary {
                layer: x.layer,
                q,
                k,
                v,
                rsa,
            })
        })
        .collect()
}

/// One summary per layer and head (layer-major, heads in order).
pub fn head_summaries(
    layers: &[LayerVectors],
    n_head: usize,
    grouping: &Grouping,
    perms: Option<&Permutations>,
) -> Result<Vec<HeadSummary>> {
    let mut out = Vec::with_capacity(layers.len() * n_head);
    for x in layers {
        for (head, h) in x.heads(n_head)?.iter().enumerate() {
            let (q, k, v, rsa) = summarise(h, grouping, perms)?;
            out.push(HeadSummary {
                layer: x.layer,
                head,
                q,
                k,
                v,
                rsa,
            });
        }
    }
    Ok(out)
}

/// The Q·K cross matrix of every head of a layer.
pub fn qk_heads(x: &LayerVectors, n_head: usize, grouping: &Grouping) -> Result<Vec<QkHead>> {
    Ok(x.heads(n_head)?
        .iter()
        .enumerate()
        .map(|(head, h)| {
            let scores = qk_scores(&h.q, &h.k);
            let (within_mean, across_mean) = off_diagonal_means(&scores, &grouping.labels);
            QkHead {
                layer: x.layer,
                head,
                scores,
                within_mean,
                across_mean,
            }
        })
        .collect())
}

//! The lecture's arithmetic, pure and in f64: cosine matrices, category selectivity, RSA and
//! histograms; and beyond the lecture: layer and head sweeps, V, Q·K, PCA, and permutation and
//! bootstrap statistics. Nothing here knows about models or the web.

pub mod bootstrap;
pub mod cosine;
pub mod histogram;
pub mod pca;
pub mod report;
pub mod rng;
pub mod rsa;
pub mod selectivity;
pub mod space;
pub mod stats;
pub mod sweep;
pub mod vectors;

pub use cosine::{cosine_matrix, Matrix};
pub use histogram::Histogram;
pub use rsa::{pearson, upper_triangle};
pub use selectivity::Selectivity;

/// Bins of the lecture's similarity histograms.
pub const HISTOGRAM_BINS: usize = 20;

/// Which words belong to which category: `labels[i]` is the category index of word i.
#[derive(Clone, Debug, PartialEq)]
pub struct Grouping {
    pub labels: Vec<usize>,
    pub n_categories: usize,
}

impl Grouping {
    pub fn new(labels: Vec<usize>, n_categories: usize) -> Self {
        debug_assert!(labels.iter().all(|&l| l < n_categories));
        Self { labels, n_categories }
    }

    /// Pairs i < j (row-major) of words in category `c`.
    pub fn within_pairs(&self, c: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.pairs().filter(move |&(i, j)| self.labels[i] == c && self.labels[j] == c)
    }

    /// Pairs i < j (row-major) with one word in category `a` and the other in `b` (a != b).
    pub fn across_pairs(&self, a: usize, b: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.pairs().filter(move |&(i, j)| {
            let (li, lj) = (self.labels[i], self.labels[j]);
            (li == a && lj == b) || (li == b && lj == a)
        })
    }

    /// All pairs i < j, row-major (the order of numpy's `np.nonzero(np.triu(C, 1))`).
    pub fn pairs(&self) -> impl Iterator<Item = (usize, usize)> {
        let n = self.labels.len();
        (0..n).flat_map(move |i| (i + 1..n).map(move |j| (i, j)))
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

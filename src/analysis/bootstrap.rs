//! Bootstrap confidence intervals over words.
//!
//! A resample draws every word with replacement from its own category (category sizes kept, so
//! every category stays present): position i gets a word of word i's category, `members[below(m)]`
//! with `members` that category's words in order, positions 0..n in order, from one
//! `Rng::new(seed)`. The statistic is then computed over the resample's pairs of positions
//! a < b, row-major, EXCEPT pairs whose two positions hold the same word: a word's similarity
//! with its own copy is 1 by construction, not an observation, so those pairs are dropped.
//! Duplicated words otherwise count once per copy (a pair of copies of two different words is
//! kept once per pair of copies). A resample whose statistic is undefined, or (selectivity) that
//! lacks a within or across mean the observed data has, is counted as undefined and left out.
//! The interval is numpy's percentile interval of the defined values.

use super::rng::Rng;
use super::stats::{correlation, percentile_interval, Correlation, PairSums};
use super::{cosine::Matrix, Grouping};

/// Bootstrap resamples of the words (each a list of word indices, one per position).
#[derive(Clone, Debug)]
pub struct Resamples {
    pub seed: u64,
    pub samples: Vec<Vec<usize>>,
}

impl Resamples {
    /// `count` resamples within categories (see the module docs), from `Rng::new(seed)`.
    pub fn stratified(grouping: &Grouping, count: usize, seed: u64) -> Self {
        let members: Vec<Vec<usize>> = (0..grouping.n_categories)
            .map(|c| (0..grouping.len()).filter(|&i| grouping.labels[i] == c).collect())
            .collect();
        let mut rng = Rng::new(seed);
        let samples = (0..count)
            .map(|_| {
                grouping
                    .labels
                    .iter()
                    .map(|&c| members[c][rng.below(members[c].len())])
                    .collect()
            })
            .collect();
        Resamples { seed, samples }
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

/// The defined bootstrap values of a statistic and how many resamples left it undefined.
#[derive(Clone, Debug, PartialEq)]
pub struct Bootstrap {
    pub values: Vec<f64>,
    pub undefined: usize,
}

impl Bootstrap {
    fn from(values: Vec<Option<f64>>) -> Self {
        let undefined = values.iter().filter(|v| v.is_none()).count();
        Bootstrap {
            values: values.into_iter().flatten().collect(),
            undefined,
        }
    }

    /// Percentile interval holding `confidence` of the defined values.
    pub fn interval(&self, confidence: f64) -> Option<[f64; 2]> {
        percentile_interval(&self.values, confidence)
    }
}

/// Position pairs a < b (row-major) of a resample, without pairs of a word with its own copy.
fn kept_pairs(sample: &[usize]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let n = sample.len();
    (0..n)
        .flat_map(move |a| (a + 1..n).map(move |b| (a, b)))
        .filter(move |&(a, b)| sample[a] != sample[b])
}

/// Bootstrap of the selectivity index (general rule) of the similarity matrix `c`.
pub fn bootstrap_selectivity(c: &Matrix, grouping: &Grouping, resamples: &Resamples) -> Bootstrap {
    let labels = &grouping.labels;
    let mut sums = PairSums::new(grouping.n_categories);
    let identity: Vec<usize> = (0..grouping.len()).collect();
    for (a, b) in kept_pairs(&identity) {
        sums.add(labels[a], labels[b], c[a][b]);
    }
    let shape = sums.shape();
    Bootstrap::from(
        resamples
            .samples
            .iter()
            .map(|s| {
                sums.clear();
                for (a, b) in kept_pairs(s) {
                    sums.add(labels[s[a]], labels[s[b]], c[s[a]][s[b]]);
                }
                if sums.shape() == shape {
                    sums.index()
                } else {
                    None
                }
            })
            .collect(),
    )
}

/// Bootstrap of the correlation of two similarity matrices over the resample's kept pairs.
pub fn bootstrap_correlation(a: &Matrix, b: &Matrix, resamples: &Resamples, kind: Correlation) -> Bootstrap {
    Bootstrap::from(
        resamples
            .samples
            .iter()
            .map(|s| {
                let (x, y): (Vec<f64>, Vec<f64>) = kept_pairs(s).map(|(i, j)| (a[s[i]][s[j]], b[s[i]][s[j]])).unzip();
                correlation(&x, &y, kind)
            })
            .collect(),
    )
}

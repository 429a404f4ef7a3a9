//! The statistics block of the result: permutation p-values, null histograms and bootstrap
//! intervals for the selectivity of Q, K and V, RSA (Pearson and Spearman) of Q vs K, and the
//! category-model correlations, at the analysed layer. Methods: [`super::stats`] and
//! [`super::bootstrap`].

use serde::{Deserialize, Serialize};

use super::bootstrap::{bootstrap_correlation, bootstrap_selectivity, Resamples};
use super::stats::{category_model_test, mantel_test, selectivity_test, Correlation, PermutationTest, Permutations};
use super::{cosine::Matrix, Grouping, Histogram};

/// What to compute, as the CLI's flags set it; recorded in the result as "options".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExtendedOptions {
    /// Layer sweep: every layer of the model, one forward pass.
    pub all_layers: bool,
    /// Per-head summaries (of every swept layer, or of the analysed layer alone).
    pub heads: bool,
    /// V analysed beside Q and K at the analysed layer.
    pub v: bool,
    /// Q·K cross matrices of the analysed layer's heads (from raw, never centred, vectors).
    pub qk: bool,
    /// Mean-centre the vectors (over words) before cosine: applies to "centered", "layers",
    /// "heads", "pca" and "statistics"; "q", "k" and "v" stay raw.
    pub center: bool,
    /// 2-D PCA of the analysed layer's Q, K and V.
    pub pca: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistics: Option<StatOptions>,
}

/// A flag is on when present as `k`, `k=1`, `k=true` or `k=yes`.
fn flag(value: Option<String>) -> bool {
    matches!(value.as_deref(), Some("") | Some("1") | Some("true") | Some("yes"))
}

impl ExtendedOptions {
    /// The options a page query asks for (`get` reads one parameter), named and read as the
    /// CLI's flags: `all-layers`, `heads`, `v`, `qk`, `center`, `pca` (`k`, `k=1`, `k=true`),
    /// `stats`, `permutations=N`, `bootstrap=B`, `seed=S` (each of the last three implies stats).
    pub fn from_query(get: impl Fn(&str) -> Option<String>) -> Result<Option<ExtendedOptions>, String> {
        let number = |k: &str| -> Result<Option<u64>, String> {
            get(k)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .map_err(|_| format!("{k}={v:?} is not a whole number"))
                })
                .transpose()
        };
        let (permutations, bootstrap, seed) = (number("permutations")?, number("bootstrap")?, number("seed")?);
        if permutations == Some(0) {
            return Err("permutations=0: at least 1 permutation is needed".into());
        }
        let stats = flag(get("stats")) || permutations.is_some() || bootstrap.is_some() || seed.is_some();
        let d = StatOptions::default();
        let permutations = permutations.map_or(d.permutations, |n| n as usize);
        let options = ExtendedOptions {
            all_layers: flag(get("all-layers")),
            heads: flag(get("heads")),
            v: flag(get("v")),
            qk: flag(get("qk")),
            center: flag(get("center")),
            pca: flag(get("pca")),
            statistics: stats.then(|| StatOptions {
                permutations,
                bootstrap: bootstrap.map_or(permutations, |b| b as usize),
                seed: seed.unwrap_or(d.seed),
                ..d
            }),
        };
        Ok((options != ExtendedOptions::default()).then_some(options))
    }

    /// The query parameters that ask for these options (the inverse of [`Self::from_query`]).
    pub fn to_query(&self) -> Vec<(&'static str, String)> {
        let mut q: Vec<(&'static str, String)> = [
            ("all-layers", self.all_layers),
            ("heads", self.heads),
            ("v", self.v),
            ("qk", self.qk),
            ("center", self.center),
            ("pca", self.pca),
        ]
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(k, _)| (k, "1".to_string()))
        .collect();
        if let Some(s) = &self.statistics {
            q.push(("permutations", s.permutations.to_string()));
            q.push(("bootstrap", s.bootstrap.to_string()));
            q.push(("seed", s.seed.to_string()));
        }
        q
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatOptions {
    pub permutations: usize,
    pub bootstrap: usize,
    pub seed: u64,
    pub confidence: f64,
}

impl Default for StatOptions {
    fn default() -> Self {
        StatOptions {
            permutations: 1000,
            bootstrap: 1000,
            seed: 0,
            confidence: 0.95,
        }
    }
}

impl StatOptions {
    /// The bootstrap draws from its own stream, so it is independent of the permutations.
    pub fn bootstrap_seed(&self) -> u64 {
        self.seed ^ 0xB007_5743_A11D_5EED
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SelectivityStat {
    pub observed: Option<f64>,
    /// Label-permutation p-value.
    pub p: Option<f64>,
    pub null_histogram: Histogram,
    pub null_mean: Option<f64>,
    /// Bootstrap percentile interval over words.
    pub ci: Option<[f64; 2]>,
    pub bootstrap_undefined: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpaceStat {
    pub selectivity: SelectivityStat,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PearsonStat {
    pub r: Option<f64>,
    /// Mantel p-value.
    pub p: Option<f64>,
    pub null_histogram: Histogram,
    pub ci: Option<[f64; 2]>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpearmanStat {
    pub rho: Option<f64>,
    /// Mantel p-value (on ranks).
    pub p: Option<f64>,
    pub null_histogram: Histogram,
    pub ci: Option<[f64; 2]>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RsaStat {
    pub pearson: PearsonStat,
    pub spearman: SpearmanStat,
}

/// Correlation with the ideal same/different-category matrix, and its label-permutation p.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelStat {
    pub r: Option<f64>,
    pub p: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CategoryModelStat {
    pub q: ModelStat,
    pub k: ModelStat,
    pub v: ModelStat,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Statistics {
    pub layer: usize,
    /// Whether the vectors were mean-centred before cosine.
    pub centered: bool,
    pub q: SpaceStat,
    pub k: SpaceStat,
    pub v: SpaceStat,
    pub rsa: RsaStat,
    pub category_model: CategoryModelStat,
    pub permutations: usize,
    pub bootstrap: usize,
    pub seed: u64,
    pub confidence: f64,
    pub method: String,
}

const METHOD: &str = "one-sided permutation tests, p = (count of null >= observed + 1) / (N + 1); \
selectivity and category model: category labels permuted over the words (sizes kept); RSA: Mantel \
test (the words of K's matrix permuted, rows and columns together); Spearman: the same on ranks. \
Intervals: percentile bootstrap over words, resampled with replacement within their category; \
pairs of a word with its own copy are dropped; resamples missing a within or across mean are left \
out (bootstrap_undefined). Permutations: xoshiro256** seeded by SplitMix64(seed), Fisher-Yates.";

fn selectivity_stat(test: &PermutationTest, c: &Matrix, grouping: &Grouping, r: &Resamples, conf: f64) -> SelectivityStat {
    let boot = bootstrap_selectivity(c, grouping, r);
    SelectivityStat {
        observed: test.observed,
        p: test.p,
        null_histogram: test.null_histogram(),
        null_mean: test.null_mean(),
        ci: boot.interval(conf),
        bootstrap_undefined: boot.undefined,
    }
}

/// The statistics of the analysed layer from its cosine matrices of Q, K and V.
pub fn statistics(
    layer: usize,
    centered: bool,
    [cq, ck, cv]: [&Matrix; 3],
    grouping: &Grouping,
    options: &StatOptions,
) -> Statistics {
    let perms = Permutations::new(grouping.len(), options.permutations, options.seed);
    let resamples = Resamples::stratified(grouping, options.bootstrap, options.bootstrap_seed());
    let conf = options.confidence;
    let space = |c: &Matrix| SpaceStat {
        selectivity: selectivity_stat(&selectivity_test(c, grouping, &perms), c, grouping, &resamples, conf),
    };
    let model = |c: &Matrix| {
        let t = category_model_test(c, grouping, &perms);
        ModelStat { r: t.observed, p: t.p }
    };
    let pearson = mantel_test(cq, ck, &perms, Correlation::Pearson);
    let spearman = mantel_test(cq, ck, &perms, Correlation::Spearman);
    Statistics {
        layer,
        centered,
        q: space(cq),
        k: space(ck),
        v: space(cv),
        rsa: RsaStat {
            pearson: PearsonStat {
                r: pearson.observed,
                p: pearson.p,
                null_histogram: pearson.null_histogram(),
                ci: bootstrap_correlation(cq, ck, &resamples, Correlation::Pearson).interval(conf),
            },
            spearman: SpearmanStat {
                rho: spearman.observed,
                p: spearman.p,
                null_histogram: spearman.null_histogram(),
                ci: bootstrap_correlation(cq, ck, &resamples, Correlation::Spearman).interval(conf),
            },
        },
        category_model: CategoryModelStat {
            q: model(cq),
            k: model(ck),
            v: model(cv),
        },
        permutations: options.permutations,
        bootstrap: options.bootstrap,
        seed: options.seed,
        confidence: conf,
        method: METHOD.into(),
    }
}

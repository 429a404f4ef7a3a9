//! The result of a run: the JSON contract shared by the CLI's RESULT.json and the page's
//! `#qk-result`. Fields may be added; existing ones keep their names and meaning.

use serde::{Deserialize, Serialize};

use crate::analysis::pca::{pca_2d, Pca};
use crate::analysis::report::{statistics, ExtendedOptions, Statistics};
use crate::analysis::stats::Permutations;
use crate::analysis::sweep::{head_summaries, layer_summaries, qk_heads, HeadSummary, LayerSummary, LayerVectors, QkHead};
use crate::analysis::vectors::cosine_rows;
use crate::analysis::{self, cosine_matrix, upper_triangle, Grouping, Histogram, Matrix, HISTOGRAM_BINS};
use crate::error::Result;
use crate::experiment::Experiment;
use crate::model::{Capture, Gpt2Config, Prompts};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub experiment: Experiment,
    pub model: ModelInfo,
    /// The block whose attention input was captured.
    pub layer: usize,
    /// TransformerLens-style names of the captured activations.
    pub hooks: Vec<String>,
    pub words: Vec<WordInfo>,
    pub q: SpaceResult,
    pub k: SpaceResult,
    pub rsa: RsaResult,
    /// Things the user should know (multi-token words, categories without pairs).
    pub notes: Vec<String>,
    /// How the run went (bytes, times, memory), where the runner measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<RunStats>,
    // Beyond the lecture (CLI flags; each absent unless asked for): see [`ExtendedOptions`].
    /// V at the analysed layer, analysed like Q and K (`--v`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<SpaceResult>,
    /// Q, K (and V) and RSA of mean-centred vectors at the analysed layer (`--center`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub centered: Option<CenteredResult>,
    /// Selectivity of Q, K, V and RSA of Q vs K at every layer (`--all-layers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<LayerSummary>>,
    /// The same per layer and head (`--heads`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heads: Option<Vec<HeadSummary>>,
    /// Q·K cross matrices of the analysed layer's heads (`--qk`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qk: Option<Vec<QkHead>>,
    /// 2-D PCA maps of the analysed layer's Q, K and V (`--pca`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pca: Option<PcaResult>,
    /// Permutation p-values and bootstrap intervals (`--permutations N`, `--seed S`, `--stats`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistics: Option<Statistics>,
    /// The options the extended analyses ran with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<ExtendedOptions>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CenteredResult {
    pub q: SpaceResult,
    pub k: SpaceResult,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<SpaceResult>,
    pub rsa: RsaResult,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PcaResult {
    pub q: Option<Pca>,
    pub k: Option<Pca>,
    pub v: Option<Pca>,
}

/// Measurements of a run; each is absent where the runner could not measure it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_file_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_downloaded: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_from_cache: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_requests: Option<u32>,
    /// False when the server ignored Range requests and the whole file was downloaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_download: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_ms: Option<f64>,
    /// Workers (page) or threads (CLI) the forward ran on, each with its share of the weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_ranks: Option<u32>,
    /// Size of the wasm linear memory after the run (it only grows: the peak), summed over the
    /// engine's workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm_memory_bytes: Option<u64>,
    /// Peak resident memory of the native process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_head: usize,
    pub n_positions: usize,
    pub vocab_size: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WordInfo {
    pub word: String,
    pub category: String,
    pub prompt: String,
    pub token_ids: Vec<u32>,
    pub word_token_ids: Vec<u32>,
    pub single_token: bool,
}

/// The analysis of one representation (Q or K).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpaceResult {
    /// Cosine similarity of every word pair.
    pub cosine: Vec<Vec<f64>>,
    /// Mean within-category / mean across-category similarity; null when undefined.
    pub selectivity: Option<f64>,
    pub within_mean: Option<f64>,
    pub across_mean: Option<f64>,
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

fn space(vectors: &[Vec<f32>], grouping: &Grouping, names: &[String]) -> Result<SpaceResult> {
    Ok(space_of(cosine_matrix(vectors)?, vectors.to_vec(), grouping, names))
}

pub(crate) fn space_of(cosine: Matrix, vectors: Vec<Vec<f32>>, grouping: &Grouping, names: &[String]) -> SpaceResult {
    let sel = analysis::selectivity::selectivity(&cosine, grouping);
    SpaceResult {
        histogram: Histogram::new(&upper_triangle(&cosine), HISTOGRAM_BINS),
        selectivity: sel.index,
        within_mean: sel.within,
        across_mean: sel.across,
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

pub(crate) fn rsa_of(q: &Matrix, k: &Matrix, grouping: &Grouping, names: &[String]) -> RsaResult {
    let rsa = analysis::rsa::rsa(q, k, grouping);
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

impl RunResult {
    /// Analyses a capture: the last step of every run, native or in the page.
    pub fn analyse(experiment: &Experiment, config: &Gpt2Config, prompts: &Prompts, capture: &Capture) -> Result<Self> {
        let names = experiment.category_names();
        let grouping = Grouping::new(prompts.labels.clone(), names.len());
        let q = space(&capture.q, &grouping, &names)?;
        let k = space(&capture.k, &grouping, &names)?;
        let rsa = analysis::rsa::rsa(&q.cosine, &k.cosine, &grouping);
        let mut notes: Vec<String> = prompts
            .multi_token_words()
            .iter()
            .map(|p| {
                format!(
                    "{:?} is {} tokens, not one: analysed at its prompt's last token",
                    p.word,
                    p.word_token_ids.len()
                )
            })
            .collect();
        for (c, (_, pairs)) in rsa.per_category.iter().enumerate() {
            if *pairs == 0 {
                notes.push(format!(
                    "category {:?} has one word: no within-category pairs, its within mean and r are null",
                    names[c]
                ));
            } else if *pairs == 1 {
                notes.push(format!(
                    "category {:?} has one within-category pair: its r is undefined (null)",
                    names[c]
                ));
            }
        }
        if names.len() < 2 {
            notes.push("only one category: no across-category pairs, selectivity is null".into());
        }
        Ok(RunResult {
            experiment: experiment.clone(),
            model: ModelInfo {
                n_layer: config.n_layer,
                n_embd: config.n_embd,
                n_head: config.n_head,
                n_positions: config.n_positions,
                vocab_size: config.vocab_size,
            },
            layer: capture.layer,
            hooks: vec![Capture::hook_name(capture.layer, "q"), Capture::hook_name(capture.layer, "k")],
            words: prompts
                .items
                .iter()
                .map(|p| WordInfo {
                    word: p.word.clone(),
                    category: p.category.clone(),
                    prompt: p.prompt.clone(),
                    token_ids: p.token_ids.clone(),
                    word_token_ids: p.word_token_ids.clone(),
                    single_token: p.single_token,
                })
                .collect(),
            rsa: rsa_of(&q.cosine, &k.cosine, &grouping, &names),
            q,
            k,
            notes,
            stats: None,
            v: None,
            centered: None,
            layers: None,
            heads: None,
            qk: None,
            pca: None,
            statistics: None,
            options: None,
        })
    }

    /// Adds the analyses `options` asks for. `captures` holds the analysed layer's capture and,
    /// for the layer sweep, every layer's (in layer order).
    pub fn add_extended(
        &mut self,
        prompts: &Prompts,
        captures: &[Capture],
        n_head: usize,
        options: &ExtendedOptions,
    ) -> Result<()> {
        let names = self.experiment.category_names();
        let grouping = Grouping::new(prompts.labels.clone(), names.len());
        let top = captures
            .iter()
            .find(|c| c.layer == self.layer)
            .ok_or_else(|| crate::Error::Analysis(format!("layer {} was not captured", self.layer)))?;
        let centre = options.center;
        let vectors = |c: &Capture| LayerVectors::new(c.layer, &c.q, &c.k, &c.v, centre);
        let here = vectors(top);
        if options.v {
            self.v = Some(space(&top.v, &grouping, &names)?);
        }
        if centre {
            let f32s = |x: &[Vec<f64>]| x.iter().map(|r| r.iter().map(|&v| v as f32).collect()).collect();
            let (cq, ck) = (cosine_rows(&here.q)?, cosine_rows(&here.k)?);
            self.centered = Some(CenteredResult {
                rsa: rsa_of(&cq, &ck, &grouping, &names),
                q: space_of(cq, f32s(&here.q), &grouping, &names),
                k: space_of(ck, f32s(&here.k), &grouping, &names),
                v: match options.v {
                    true => Some(space_of(cosine_rows(&here.v)?, f32s(&here.v), &grouping, &names)),
                    false => None,
                },
            });
        }
        if let Some(c) = &self.centered {
            let spaces = [Some(&c.q), Some(&c.k), c.v.as_ref()];
            if spaces.iter().flatten().any(|s| s.across_mean.is_some_and(|a| a <= 0.0)) {
                self.notes.push(
                    "after mean-centring an across-category mean is 0 or below, so the selectivity ratio (within / across) \
                     does not measure grouping there; read the within and across means, or the category-model r"
                        .into(),
                );
            }
        }
        let stat = options.statistics.as_ref();
        let perms = stat.map(|s| Permutations::new(grouping.len(), s.permutations, s.seed));
        let swept: Vec<LayerVectors> = match options.all_layers {
            true => captures.iter().map(vectors).collect(),
            false => vec![here.clone()],
        };
        if options.all_layers {
            self.layers = Some(layer_summaries(&swept, &grouping, perms.as_ref())?);
        }
        if options.heads {
            self.heads = Some(head_summaries(&swept, n_head, &grouping, perms.as_ref())?);
        }
        if options.qk {
            let raw = LayerVectors::new(top.layer, &top.q, &top.k, &top.v, false);
            self.qk = Some(qk_heads(&raw, n_head, &grouping)?);
        }
        if options.pca {
            self.pca = Some(PcaResult {
                q: pca_2d(&here.q),
                k: pca_2d(&here.k),
                v: pca_2d(&here.v),
            });
        }
        if stat.is_some() && (options.all_layers || options.heads) {
            self.notes
                .push("the p-values of \"layers\" and \"heads\" are per test, not corrected for multiple comparisons".into());
        }
        if let Some(s) = stat {
            let (cq, ck, cv) = (cosine_rows(&here.q)?, cosine_rows(&here.k)?, cosine_rows(&here.v)?);
            self.statistics = Some(statistics(self.layer, centre, [&cq, &ck, &cv], &grouping, s));
        }
        self.options = Some(options.clone());
        Ok(())
    }

    /// Each word's category as an index into `experiment.category_names()` (the figures' colours,
    /// the views' grouping).
    pub fn category_indices(&self) -> Vec<usize> {
        let names = self.experiment.category_names();
        self.words
            .iter()
            .map(|w| names.iter().position(|n| *n == w.category).unwrap_or(0))
            .collect()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a result always serialises")
    }
}

//! The result of a run: the JSON contract shared by the CLI's RESULT.json and the page's
//! `#qk-result`. Fields may be added; existing ones keep their names and meaning.

use serde::{Deserialize, Serialize};

use crate::analysis::{self, cosine_matrix, upper_triangle, Grouping, Histogram, HISTOGRAM_BINS};
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
    /// Size of the wasm linear memory after the run (it only grows: the peak).
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
    let cosine = cosine_matrix(vectors)?;
    let sel = analysis::selectivity::selectivity(&cosine, grouping);
    Ok(SpaceResult {
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
        vectors: vectors.to_vec(),
    })
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
            rsa: RsaResult {
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
            },
            q,
            k,
            notes,
            stats: None,
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a result always serialises")
    }
}

//! The result of a run: the JSON contract shared by the CLI's RESULT.json and the page's
//! `#qk-result`. Fields may be added; existing ones keep their names and meaning. Data only:
//! the run fills it (`run::analyse`) from the analyses in `analysis/`.

use serde::{Deserialize, Serialize};

use crate::analysis::pca::Pca;
use crate::analysis::report::{ExtendedOptions, Statistics};
use crate::analysis::sweep::{HeadSummary, LayerSummary, QkHead};
use crate::experiment::Experiment;

pub use crate::analysis::space::{CategoryMean, CategoryR, PairMean, RsaResult, SpaceResult};
// The page's views (result_view.rs) analyse slices of a result with the same functions.
pub(crate) use crate::analysis::space::{rsa_of, space_of};

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
    /// Reading and parsing the model's config and tokenizer (a run that opened the model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_ms: Option<f64>,
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
    /// The model (config, tokenizer, weights) was in memory from an earlier run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_resident: Option<bool>,
    /// Prompts that ran the forward (the others' captures came from earlier runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompts_forwarded: Option<u32>,
    /// Bytes of the weights file read (from the network or storage) for this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_bytes_read: Option<u64>,
    /// Weight matrices converted and packed for this run (by each rank).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensors_packed: Option<u32>,
    /// Weight matrices taken already packed from the browser's store of an earlier visit
    /// (by each rank; absent when none): neither read from the file nor packed again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensors_from_store: Option<u32>,
    /// This run parsed tokenizer.json (false: its prompts' token ids were remembered from an
    /// earlier run or visit, or the resident model's tokenizer was parsed already).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer_parsed: Option<bool>,
    /// The weights this run read (a new word's embedding row) were read ahead, while the page
    /// waited for a pause in typing: the run found them read. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_read_ahead: Option<bool>,
    /// Of `prompts_forwarded`, those whose forward ran ahead, while the page waited for a pause
    /// in typing (a small edit: a word typed), and how long that forward took (its loading
    /// included). `load_ms` and `forward_ms` are then this run's own (0 when all ran ahead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompts_forwarded_ahead: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_ahead_ms: Option<f64>,
    /// Bytes of weights held in memory after the run, over every rank.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resident_weight_bytes: Option<u64>,
    /// The page's number for the run (each live edit is a new run): the result, the summary
    /// and every figure carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<u64>,
    /// The model's revision (a hub commit, else the server's ETag...) the run read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// How that revision was found: "online", "stored (offline)" or "pinned" (`@commit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_source: Option<String>,
    /// Times the hub's rate limit (429) held the download back, and the seconds waited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_waits: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_wait_s: Option<u32>,
    /// Presigned CDN links found expired (403) and asked for again at the hub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired_links: Option<u32>,
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

impl RunResult {
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

//! The messages between the page and the engine worker: plain data with serde, no web types, so
//! the page's state and its tests are native code. The page sends a [`RunRequest`]; the engine
//! answers with a stream of [`EngineEvent`]s ending in `Done` or `Failed`.

use serde::{Deserialize, Serialize};

use crate::analysis::report::ExtendedOptions;
use crate::experiment::Experiment;
use crate::result::RunResult;

/// Bytes received so far and the total when the server says it (Content-Length).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub done: u64,
    pub total: Option<u64>,
}

/// Absolute URLs of a model's three files (a hub folder, a custom folder, or local files).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelFiles {
    pub config: String,
    pub weights: String,
    pub tokenizer: String,
    /// Tried when `tokenizer` is not found (404): the GPT-2 tokenizer shipped with the site.
    pub fallback_tokenizer: Option<String>,
}

impl ModelFiles {
    /// The three files under a folder URL ending in `/`.
    pub fn in_folder(base: &str, fallback_tokenizer: Option<String>) -> Self {
        ModelFiles {
            config: format!("{base}config.json"),
            weights: format!("{base}model.safetensors"),
            tokenizer: format!("{base}tokenizer.json"),
            fallback_tokenizer,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    pub experiment: Experiment,
    pub model: ModelFiles,
    /// The analyses beyond the lecture (layer sweep, heads, V, statistics...); None: the lecture's.
    #[serde(default)]
    pub options: Option<ExtendedOptions>,
    /// At most this many workers for the forward pass (None: two where the machine has two
    /// cores; 1: the engine worker alone).
    #[serde(default)]
    pub workers: Option<u32>,
}

/// What a run is doing now.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Stage {
    Config,
    Tokenizer,
    Weights,
    Convert,
    Forward,
    Analysis,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::Config => "Downloading config.json",
            Stage::Tokenizer => "Downloading tokenizer.json",
            Stage::Weights => "Downloading the weights this layer needs",
            Stage::Convert => "Preparing the weights",
            Stage::Forward => "Running GPT-2 up to the layer",
            Stage::Analysis => "Computing similarities, selectivity and RSA",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EngineEvent {
    Stage(Stage),
    Progress(Progress),
    Done(Box<RunResult>),
    Failed(String),
}

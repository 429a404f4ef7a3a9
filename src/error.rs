//! One error type for the whole core: every variant says what went wrong and where, in one line,
//! so the CLI can print it and the page can show it next to the control that caused it.

use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    /// A file could not be read (CLI) or fetched (page).
    #[error("{what}: {detail}")]
    Input { what: String, detail: String },
    /// A download failed: `status` is the HTTP status when there was one; `retryable` says
    /// whether trying again may help (network faults, 5xx) or not (404, bad answers).
    #[error("{what}: {detail}")]
    Fetch {
        what: String,
        detail: String,
        status: Option<u16>,
        retryable: bool,
    },
    /// The experiment JSON is malformed or breaks a rule.
    #[error("experiment: {0}")]
    Experiment(String),
    /// config.json is missing, malformed, or not a GPT-2 config.
    #[error("config.json: {0}")]
    Config(String),
    /// model.safetensors is truncated, inconsistent, or lacks a tensor.
    #[error("model.safetensors: {0}")]
    Weights(String),
    /// tokenizer.json could not be loaded or a prompt could not be encoded.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The requested layer does not exist in this model.
    #[error("layer {layer} is out of range: this model has layers 0..={last}", last = n_layer.saturating_sub(1))]
    LayerOutOfRange { layer: usize, n_layer: usize },
    /// A prompt does not fit the model (too long, unknown token id).
    #[error("prompt {prompt:?}: {detail}")]
    Prompt { prompt: String, detail: String },
    /// The forward pass failed inside candle.
    #[error("model: {0}")]
    Model(String),
    /// The analysis cannot be computed (a zero vector, too few words).
    #[error("analysis: {0}")]
    Analysis(String),
    /// The page engine's second worker (the forward's other half) failed or could not start.
    #[error("the engine's second worker: {0}")]
    Worker(String),
}

impl Error {
    pub fn input(what: impl Into<String>, detail: impl ToString) -> Self {
        Error::Input {
            what: what.into(),
            detail: detail.to_string(),
        }
    }
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Model(e.to_string())
    }
}

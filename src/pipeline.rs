//! The whole run as a chain of plain steps, shared by the CLI and the page. The page awaits
//! between steps (to show progress); the CLI calls [`run`].

use crate::error::Result;
use crate::experiment::Experiment;
use crate::model::plan::{needs, ByteSource, Header, Need, WholeFile};
use crate::model::weights::tokens_used;
use crate::model::{capture_last_token, Capture, Gpt2Config, Gpt2Tokenizer, LayerWeights, Prompts};
use crate::result::RunResult;

/// A model's three files, as bytes (read from disk, mapped, or downloaded).
pub struct ModelFiles<'a> {
    pub config: &'a [u8],
    pub tokenizer: &'a [u8],
    pub weights: &'a [u8],
}

/// Step 1: everything that needs no weights: config, layer check, prompts and their tokens.
pub struct Prepared {
    pub experiment: Experiment,
    pub config: Gpt2Config,
    pub prompts: Prompts,
}

pub fn prepare(experiment: &Experiment, config_json: &[u8], tokenizer_json: &[u8]) -> Result<Prepared> {
    experiment.validate()?;
    let config = Gpt2Config::from_json(config_json)?;
    config.check_layer(experiment.layer)?;
    let tokenizer = Gpt2Tokenizer::from_bytes(tokenizer_json)?;
    let prompts = Prompts::new(experiment, &tokenizer)?;
    Ok(Prepared {
        experiment: experiment.clone(),
        config,
        prompts,
    })
}

impl Prepared {
    /// Step 2 (page): which tensors and rows of model.safetensors the run needs.
    pub fn weight_needs(&self) -> Result<Vec<Need>> {
        let (rows, n_pos) = tokens_used(&self.config, &self.prompts.token_ids())?;
        Ok(needs(&self.config, self.experiment.layer, &rows, n_pos))
    }

    /// Step 3: the weights the layer needs, converted to f32, from the bytes behind `header`.
    pub fn load_weights(&self, header: &Header, source: &dyn ByteSource) -> Result<LayerWeights> {
        LayerWeights::load(header, source, &self.config, self.experiment.layer, &self.prompts.token_ids())
    }

    /// Step 4: the forward pass up to the layer's c_attn.
    pub fn capture(&self, weights: &LayerWeights) -> Result<Capture> {
        capture_last_token(weights, &self.config, &self.prompts.token_ids())
    }

    /// Step 5: the analysis.
    pub fn analyse(&self, capture: &Capture) -> Result<RunResult> {
        RunResult::analyse(&self.experiment, &self.config, &self.prompts, capture)
    }
}

/// Steps 3-5 on a whole model.safetensors in memory (read or mapped).
pub fn run_prepared(prepared: &Prepared, weights: &[u8]) -> Result<RunResult> {
    let header = Header::from_file(weights)?;
    let layer_weights = prepared.load_weights(&header, &WholeFile(weights))?;
    let capture = prepared.capture(&layer_weights)?;
    drop(layer_weights);
    prepared.analyse(&capture)
}

pub fn run(experiment: &Experiment, files: &ModelFiles) -> Result<RunResult> {
    let prepared = prepare(experiment, files.config, files.tokenizer)?;
    run_prepared(&prepared, files.weights)
}

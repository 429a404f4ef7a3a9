//! The whole run as a chain of plain steps, shared by the CLI and the page. The page awaits
//! between steps (to show progress); the CLI calls [`run`].

use crate::error::Result;
use crate::experiment::Experiment;
use crate::model::{capture_last_token, Gpt2Config, Gpt2Tokenizer, LayerWeights, Prompts};
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

/// Steps 2-4: load what the layer needs, run the forward pass, analyse.
pub fn run_prepared(prepared: &Prepared, weights: &[u8]) -> Result<RunResult> {
    let Prepared {
        experiment,
        config,
        prompts,
    } = prepared;
    let ids = prompts.token_ids();
    let layer_weights = LayerWeights::from_safetensors(weights, config, experiment.layer, &ids)?;
    let capture = capture_last_token(&layer_weights, config, &ids)?;
    drop(layer_weights);
    RunResult::analyse(experiment, config, prompts, &capture)
}

pub fn run(experiment: &Experiment, files: &ModelFiles) -> Result<RunResult> {
    let prepared = prepare(experiment, files.config, files.tokenizer)?;
    run_prepared(&prepared, files.weights)
}

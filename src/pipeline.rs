//! The whole run as a chain of plain steps, shared by the CLI and the page. The page awaits
//! between steps (to show progress); the CLI calls [`run`].

use crate::analysis::report::ExtendedOptions;
use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::model::gpt2::capture_all_layers;
use crate::model::plan::{needs, plan, ByteSource, Header, Need, WholeFile};
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
    /// The analyses beyond the lecture (None: the lecture's numbers only).
    pub options: Option<ExtendedOptions>,
}

pub fn prepare(experiment: &Experiment, config_json: &[u8], tokenizer_json: &[u8]) -> Result<Prepared> {
    prepare_with(experiment, None, config_json, tokenizer_json)
}

/// [`prepare`] for a run that also computes `options`.
pub fn prepare_with(
    experiment: &Experiment,
    options: Option<&ExtendedOptions>,
    config_json: &[u8],
    tokenizer_json: &[u8],
) -> Result<Prepared> {
    // The experiment's own mistakes are reported before the model's.
    experiment.validate()?;
    let config = Gpt2Config::from_json(config_json)?;
    let tokenizer = Gpt2Tokenizer::from_bytes(tokenizer_json)?;
    prepare_valid(experiment, options, config, &tokenizer)
}

/// [`prepare_with`] from a parsed config and tokenizer (the page keeps both).
pub fn prepare_parsed(
    experiment: &Experiment,
    options: Option<&ExtendedOptions>,
    config: Gpt2Config,
    tokenizer: &Gpt2Tokenizer,
) -> Result<Prepared> {
    experiment.validate()?;
    prepare_valid(experiment, options, config, tokenizer)
}

/// The common end of both: `experiment` is already validated.
fn prepare_valid(
    experiment: &Experiment,
    options: Option<&ExtendedOptions>,
    config: Gpt2Config,
    tokenizer: &Gpt2Tokenizer,
) -> Result<Prepared> {
    config.check_layer(experiment.layer)?;
    let prompts = Prompts::new(experiment, tokenizer)?;
    Ok(Prepared {
        experiment: experiment.clone(),
        config,
        prompts,
        options: options.cloned(),
    })
}

impl Prepared {
    fn sweep(&self) -> bool {
        self.options.as_ref().is_some_and(|o| o.all_layers)
    }

    /// The deepest block the run reaches: the analysed layer, or the top one for a layer sweep
    /// (every layer's c_attn is captured on the way up).
    pub fn top_layer(&self) -> usize {
        match self.sweep() {
            true => self.config.n_layer.saturating_sub(1),
            false => self.experiment.layer,
        }
    }

    /// Step 2 (page): which tensors and rows of model.safetensors the run needs.
    pub fn weight_needs(&self) -> Result<Vec<Need>> {
        let (rows, n_pos) = tokens_used(&self.config, &self.prompts.token_ids())?;
        Ok(needs(&self.config, self.top_layer(), &rows, n_pos))
    }

    /// How many bytes of the file the run reads (before neighbouring pieces are merged).
    pub fn needed_bytes(&self, header: &Header) -> Result<u64> {
        Ok(plan(header, &self.weight_needs()?)?
            .iter()
            .map(|p| p.range.end - p.range.start)
            .sum())
    }

    /// Step 3: the weights the run needs, converted to f32, from the bytes behind `header`.
    pub fn load_weights(&self, header: &Header, source: &dyn ByteSource) -> Result<LayerWeights> {
        LayerWeights::load(header, source, &self.config, self.top_layer(), &self.prompts.token_ids())
    }

    /// Step 4 with the options: the analysed layer's capture, or every layer's for a sweep.
    pub fn capture_layers(&self, weights: &LayerWeights) -> Result<Vec<Capture>> {
        match self.sweep() {
            true => capture_all_layers(weights, &self.config, &self.prompts.token_ids()),
            false => Ok(vec![self.capture(weights)?]),
        }
    }

    /// Step 5 with the options: the lecture's analysis of the analysed layer, then the rest.
    pub fn analyse_layers(&self, captures: &[Capture]) -> Result<RunResult> {
        let layer = self.experiment.layer;
        let capture = captures
            .iter()
            .find(|c| c.layer == layer)
            .ok_or_else(|| Error::Model(format!("layer {layer} was not captured")))?;
        let mut result = self.analyse(capture)?;
        if let Some(options) = &self.options {
            result.add_extended(&self.prompts, captures, self.config.n_head, options)?;
        }
        Ok(result)
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

//! The whole run as a chain of plain steps, shared by the CLI and the page. The page awaits
//! between steps (to show progress); the CLI calls [`run`].

use crate::analysis::report::ExtendedOptions;
use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::model::gpt2::{capture_all_layers, capture_sharded};
use crate::model::plan::{needs, plan, ByteSource, Header, Need, WholeFile};
use crate::model::shard::{Exchange, Shard};
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
    /// Whether the run captures every layer (the layer sweep).
    pub fn sweep(&self) -> bool {
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

    /// Step 3 for one rank of a tensor-parallel forward: its share of the weights.
    pub fn load_weights_shard(&self, header: &Header, source: &dyn ByteSource, shard: Shard) -> Result<LayerWeights> {
        LayerWeights::load_shard(
            header,
            source,
            &self.config,
            self.top_layer(),
            &self.prompts.token_ids(),
            shard,
        )
    }

    /// Step 4 with the options: the analysed layer's capture, or every layer's for a sweep.
    pub fn capture_layers(&self, weights: &LayerWeights) -> Result<Vec<Capture>> {
        match self.sweep() {
            true => capture_all_layers(weights, &self.config, &self.prompts.token_ids()),
            false => Ok(vec![self.capture(weights)?]),
        }
    }

    /// [`Self::capture_layers`] by one rank of a tensor-parallel forward (`weights` from
    /// [`Self::load_weights_shard`]); every rank gets the whole captures.
    pub async fn capture_layers_sharded<E: Exchange>(&self, weights: &LayerWeights, exchange: &mut E) -> Result<Vec<Capture>> {
        // Without the sweep the top layer is the analysed one, the only one captured.
        capture_sharded(weights, &self.config, &self.prompts.token_ids(), self.sweep(), exchange).await
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

/// Steps 3-4 on native threads, one rank of a tensor-parallel forward each (the CLI).
#[cfg(not(target_arch = "wasm32"))]
pub struct ThreadedCapture {
    pub captures: Vec<Capture>,
    /// Loading every rank's share (in parallel), then the forward, in milliseconds.
    pub load_ms: f64,
    pub forward_ms: f64,
    pub ranks: usize,
}

#[cfg(not(target_arch = "wasm32"))]
impl Prepared {
    /// Loads and runs the forward on `threads` threads (at most one per head), each holding its
    /// share of the weights: the captures are the same, bit for bit, as on one thread.
    pub fn capture_on_threads(&self, header: &Header, file: &[u8], threads: usize) -> Result<ThreadedCapture> {
        use crate::model::gpt2::capture_blocking;
        use crate::model::shard::ThreadExchange;
        use std::panic::{catch_unwind, AssertUnwindSafe};
        use std::time::Instant;

        let ranks = threads.clamp(1, self.config.n_head.max(1));
        let barrier = std::sync::Barrier::new(ranks);
        let t0 = Instant::now();
        let outcomes: Vec<Result<(Vec<Capture>, Instant)>> = std::thread::scope(|s| {
            let handles: Vec<_> = ThreadExchange::ranks(ranks)
                .into_iter()
                .enumerate()
                .map(|(rank, mut exchange)| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        // A panic must not leave the other ranks at the barrier for ever.
                        let weights = catch_unwind(AssertUnwindSafe(|| {
                            Shard::new(rank, ranks).and_then(|shard| self.load_weights_shard(header, &WholeFile(file), shard))
                        }))
                        .unwrap_or_else(|_| Err(Error::Model("loading the weights panicked".into())));
                        // Every rank waits here, loaded or not, so the forward is timed alone.
                        barrier.wait();
                        let t_forward = Instant::now();
                        let ids = self.prompts.token_ids();
                        let captures = capture_blocking(&weights?, &self.config, &ids, self.sweep(), &mut exchange)?;
                        Ok((captures, t_forward))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::Model("a forward thread panicked".into())))
                })
                .collect()
        });
        let t_end = Instant::now();
        // A rank's own error, rather than another's "a rank stopped" it caused.
        let mut errors: Vec<Error> = Vec::new();
        let mut first = None;
        for outcome in outcomes {
            match outcome {
                Ok(done) => {
                    first.get_or_insert(done);
                }
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            let own = errors.iter().position(|e| !crate::model::shard::is_peer_gone(e)).unwrap_or(0);
            return Err(errors.swap_remove(own));
        }
        let (captures, t_forward) = first.ok_or_else(|| Error::Model("no forward thread ran".into()))?;
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
        Ok(ThreadedCapture {
            captures,
            load_ms: ms(t0, t_forward),
            forward_ms: ms(t_forward, t_end),
            ranks,
        })
    }
}

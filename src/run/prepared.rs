//! A run before it touches the weights: the experiment checked against the model, the prompts
//! tokenised, and the plan every rank of the forward follows.

use serde::{Deserialize, Serialize};

use crate::analysis::report::ExtendedOptions;
use crate::error::Result;
use crate::experiment::Experiment;
use crate::model::plan::{needs, plan, ByteSource, Header, Need};
use crate::model::shard::{Exchange, Shard};
use crate::model::weights::{tokens_used, Prepacked};
use crate::model::{capture, Capture, Encode, Gpt2Config, LayerWeights, Prompts, Taps};

/// Everything that needs no weights: config, layer check, prompts and their tokens.
pub struct Prepared {
    pub experiment: Experiment,
    pub config: Gpt2Config,
    pub prompts: Prompts,
    /// The analyses beyond the lecture (None: the lecture's numbers only).
    pub options: Option<ExtendedOptions>,
}

impl Prepared {
    /// Checks the experiment (its own mistakes first, then against the model) and tokenises
    /// its prompts.
    pub fn new(
        experiment: &Experiment,
        options: Option<&ExtendedOptions>,
        config: Gpt2Config,
        tokenizer: &impl Encode,
    ) -> Result<Self> {
        experiment.validate()?;
        config.check_layer(experiment.layer)?;
        let prompts = Prompts::new(experiment, tokenizer)?;
        Ok(Prepared {
            experiment: experiment.clone(),
            config,
            prompts,
            options: options.cloned(),
        })
    }

    /// What every rank of the forward needs to know.
    pub fn forward_plan(&self) -> ForwardPlan {
        let all_layers = self.options.as_ref().is_some_and(|o| o.all_layers);
        ForwardPlan {
            config: self.config.clone(),
            // A sweep captures every layer's c_attn on the way up to the top one.
            top_layer: match all_layers {
                true => self.config.n_layer.saturating_sub(1),
                false => self.experiment.layer,
            },
            taps: Taps {
                all_layers,
                whole_prompts: false,
            },
            prompts: self.prompts.token_ids(),
        }
    }

    /// Which tensors and rows of model.safetensors the run needs.
    pub fn weight_needs(&self) -> Result<Vec<Need>> {
        self.forward_plan().weight_needs()
    }

    /// How many bytes of the file the run reads (before neighbouring pieces are merged).
    pub fn needed_bytes(&self, header: &Header) -> Result<u64> {
        Ok(plan(header, &self.weight_needs()?)?
            .iter()
            .map(|p| p.range.end - p.range.start)
            .sum())
    }
}

/// The forward of a run, as every rank runs it (the page's second worker receives it whole).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForwardPlan {
    pub config: Gpt2Config,
    /// The deepest block reached: the analysed layer, or the top one for a layer sweep.
    pub top_layer: usize,
    pub taps: Taps,
    /// Every prompt's token ids.
    pub prompts: Vec<Vec<u32>>,
}

impl ForwardPlan {
    pub fn weight_needs(&self) -> Result<Vec<Need>> {
        let (rows, n_pos) = tokens_used(&self.config, &self.prompts)?;
        Ok(needs(&self.config, self.top_layer, &rows, n_pos))
    }

    /// `shard`'s part of the weights the forward needs, converted to f32 from the bytes behind
    /// `header`.
    pub fn load(&self, header: &Header, source: &dyn ByteSource, shard: Shard) -> Result<LayerWeights> {
        LayerWeights::load_shard(header, source, &self.config, self.top_layer, &self.prompts, shard)
    }

    /// [`Self::load`] into what a rank holds: only what `held` lacks is read from the bytes,
    /// but for the Conv1Ds in `prepacked`, taken as they are.
    pub fn load_into(
        &self,
        held: &mut Option<LayerWeights>,
        header: &Header,
        source: &dyn ByteSource,
        shard: Shard,
        prepacked: Prepacked,
    ) -> Result<()> {
        let (config, layer, prompts) = (&self.config, self.top_layer, &self.prompts);
        match held {
            Some(weights) => weights.extend(header, source, config, layer, prompts, prepacked),
            None => {
                *held = Some(LayerWeights::load_prepacked(
                    header, source, config, layer, prompts, shard, prepacked,
                )?);
                Ok(())
            }
        }
    }

    /// One rank's forward over its `weights` (from [`Self::load`]); every rank gets the whole
    /// captures.
    pub async fn forward<E: Exchange>(&self, weights: &LayerWeights, exchange: &mut E) -> Result<Vec<Capture>> {
        capture(weights, &self.config, self.top_layer, &self.prompts, self.taps, exchange).await
    }
}

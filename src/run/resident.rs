//! The model a [`super::Session`] keeps between runs: its config and tokenizer (or the token ids
//! remembered for it), and every prompt's captures at every layer a forward passed, within a
//! budget. The ranks' weights are the host's.

use std::collections::HashMap;

use super::{ForwardPlan, HostReport, Prepared, RunHost};
use crate::analysis::report::ExtendedOptions;
use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::model::plan::{missing_needs, Coverage, Need};
use crate::model::token_memo::Remembering;
use crate::model::weights::tokens_used;
use crate::model::{Capture, Gpt2Config, Gpt2Tokenizer, Taps, TokenMemo};

pub(super) struct ResidentModel {
    /// The host's name for the model's files ([`RunHost::model_key`]).
    pub(super) key: String,
    pub(super) config: Gpt2Config,
    /// Parsed when a run needed it: a reload whose texts are all remembered parses nothing.
    pub(super) tokenizer: Option<Gpt2Tokenizer>,
    /// tokenizer.json while it is not parsed.
    pub(super) tokenizer_json: Vec<u8>,
    /// The token ids every run so far encoded (and earlier visits', from the host, and the
    /// page's, which encodes with the same tokenizer: see [`RunHost::supplied_token_ids`]).
    pub(super) memo: TokenMemo,
    /// A prompt's token ids -> its last-token [q, k, v] at layers 0..=n (index = layer).
    pub(super) captures: HashMap<Vec<u32>, Kept>,
    /// Runs so far: a capture's `used` is the last run that needed it.
    pub(super) runs: u64,
    /// tokenizer.json was parsed by a read-ahead: the next run's stats say so.
    pub(super) parsed_ahead: bool,
    /// Forwards run ahead since the last run (see [`super::Session::read_ahead`]).
    pub(super) ahead: Vec<Ahead>,
}

/// A forward run ahead of the run that needs it, while the page waited for a pause in typing:
/// that run counts these prompts, and what was read and reported for them, as its own.
pub(super) struct Ahead {
    pub(super) prompts: Vec<Vec<u32>>,
    pub(super) bytes_read: u64,
    /// Loading its rows and the forward.
    pub(super) ms: f64,
    pub(super) ranks: Option<u32>,
    /// What its host reported: how its rows came, every rank's memory (a run that forwards
    /// nothing hears from the engine worker only), notes (a second worker that failed).
    pub(super) report: HostReport,
}

pub(super) struct Kept {
    pub(super) layers: Vec<[Vec<f32>; 3]>,
    pub(super) used: u64,
}

impl Kept {
    pub(super) fn bytes(&self) -> usize {
        self.layers.iter().flatten().map(|x| x.len() * 4).sum()
    }
}

impl ResidentModel {
    /// Parses tokenizer.json, unless done.
    pub(super) fn parse_tokenizer(&mut self) -> Result<()> {
        if self.tokenizer.is_none() {
            self.tokenizer = Some(Gpt2Tokenizer::from_bytes(&self.tokenizer_json)?);
            self.tokenizer_json = Vec::new();
        }
        Ok(())
    }

    /// [`Self::prepare`] after learning the ids `host` supplies; the memo is given to the host
    /// to keep when it grew. Returns the run, and whether tokenizer.json was parsed for it.
    pub(super) fn prepare_on<H: RunHost>(
        &mut self,
        experiment: &Experiment,
        options: Option<&ExtendedOptions>,
        host: &mut H,
    ) -> Result<(Prepared, bool)> {
        let supplied = host.supplied_token_ids().is_some_and(|s| self.memo.learn_from(s));
        let (prepared, memo_grew, parsed) = self.prepare(experiment, options)?;
        if supplied || memo_grew {
            host.keep_token_memo(&self.memo);
        }
        Ok((prepared, parsed))
    }

    /// The run before the weights, its prompts encoded from the memo, or by the tokenizer
    /// (parsed now if a text is new). Returns it, whether the memo grew, and whether
    /// tokenizer.json was parsed for it.
    pub(super) fn prepare(
        &mut self,
        experiment: &Experiment,
        options: Option<&ExtendedOptions>,
    ) -> Result<(Prepared, bool, bool)> {
        let mut parsed = false;
        loop {
            let encoder = Remembering::new(&self.memo, self.tokenizer.as_ref());
            match Prepared::new(experiment, options, self.config.clone(), &encoder) {
                Err(_) if encoder.missed() && !parsed => {
                    self.parse_tokenizer()?;
                    parsed = true;
                }
                outcome => {
                    let prepared = outcome?;
                    let grew = self.memo.learn(encoder.encoded());
                    return Ok((prepared, grew, parsed));
                }
            }
        }
    }

    pub(super) fn captured(&self, prompt: &[u32], layer: usize) -> bool {
        self.captures.get(prompt).is_some_and(|kept| kept.layers.len() > layer)
    }

    /// The forward `plan` still needs: over its prompts without captures at its top layer,
    /// capturing every layer up to the top on the way (the sweep's taps: a lower layer later
    /// needs no forward at all), and the pieces of weights it needs beyond `held`. None when
    /// every prompt is captured.
    pub(super) fn missing(&self, plan: &ForwardPlan, held: Option<&Coverage>) -> Result<Option<(ForwardPlan, Vec<Need>)>> {
        let top = plan.top_layer;
        let mut todo: Vec<Vec<u32>> = plan.prompts.iter().filter(|p| !self.captured(p, top)).cloned().collect();
        todo.sort_unstable();
        todo.dedup();
        if todo.is_empty() {
            return Ok(None);
        }
        let sub = ForwardPlan {
            config: plan.config.clone(),
            top_layer: top,
            taps: Taps {
                all_layers: true,
                whole_prompts: plan.taps.whole_prompts,
            },
            prompts: todo,
        };
        let (rows, n_pos) = tokens_used(&sub.config, &sub.prompts)?;
        let missing = missing_needs(&sub.config, held, top, &rows, n_pos);
        Ok(Some((sub, missing)))
    }

    /// Keeps a forward's captures (every layer 0..=top of each of `prompts`), moved, not
    /// copied: a copy beside them was the engine's high-water mark after a 34-prompt forward.
    pub(super) fn keep(&mut self, prompts: &[Vec<u32>], mut captures: Vec<Capture>) {
        let take = std::mem::take::<Vec<f32>>;
        for (i, prompt) in prompts.iter().enumerate() {
            let layers = captures
                .iter_mut()
                .map(|c| [take(&mut c.q[i]), take(&mut c.k[i]), take(&mut c.v[i])])
                .collect();
            self.captures.insert(prompt.clone(), Kept { layers, used: self.runs });
        }
    }

    /// Marks `prompts` as needed by this run, then drops the least recently used captures of
    /// other runs until all, with `incoming` bytes of captures still to come, fit the budget
    /// (see `KEPT_BYTES_FLOOR` in session.rs).
    pub(super) fn trim(&mut self, prompts: &[Vec<u32>], floor: usize, incoming: usize) {
        let now = self.runs;
        let mut current = incoming;
        for p in prompts {
            if let Some(kept) = self.captures.get_mut(p) {
                kept.used = now;
            }
        }
        let mut others: Vec<(u64, usize, Vec<u32>)> = Vec::new();
        for (p, kept) in &self.captures {
            if kept.used == now {
                current += kept.bytes();
            } else {
                others.push((kept.used, kept.bytes(), p.clone()));
            }
        }
        let room = floor.max(current) - current;
        let mut total: usize = others.iter().map(|o| o.1).sum();
        others.sort_unstable_by_key(|o| o.0);
        for (_, bytes, prompt) in others {
            if total <= room {
                break;
            }
            self.captures.remove(&prompt);
            total -= bytes;
        }
    }

    /// Bytes of every kept capture.
    pub(super) fn kept_bytes(&self) -> usize {
        self.captures.values().map(Kept::bytes).sum()
    }

    /// The captures of `layers` for `prompts`, in their order, as one forward returns them.
    pub(super) fn assemble(&self, prompts: &[Vec<u32>], layers: std::ops::RangeInclusive<usize>) -> Result<Vec<Capture>> {
        layers
            .map(|layer| {
                let mut capture = Capture {
                    layer,
                    q: Vec::with_capacity(prompts.len()),
                    k: Vec::with_capacity(prompts.len()),
                    v: Vec::with_capacity(prompts.len()),
                };
                for prompt in prompts {
                    let [q, k, v] = self
                        .captures
                        .get(prompt)
                        .and_then(|kept| kept.layers.get(layer))
                        .ok_or_else(|| Error::Model(format!("layer {layer} of a prompt was not captured")))?;
                    capture.q.push(q.clone());
                    capture.k.push(k.clone());
                    capture.v.push(v.clone());
                }
                Ok(capture)
            })
            .collect()
    }
}

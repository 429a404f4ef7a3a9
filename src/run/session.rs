//! A model kept in memory between runs, for the live lab: its config and tokenizer here, its
//! weights with the host's ranks (as far up the layers and over as many words as runs have
//! needed), and every prompt's captures at every layer a forward passed. A run then reads only
//! what no earlier run read (often nothing, or a new word's embedding row) and runs the forward
//! only for prompts it has never seen (removing a word or lowering the layer runs none).
//!
//! Each prompt's capture does not depend on the other prompts of its forward (prompts are
//! batched without padding: see `model/gpt2.rs`), so captures from different runs combine.

use std::collections::HashMap;

use super::{analyse, ForwardPlan, ModelFile, Prepared, RunHost, Stage};
use crate::analysis::report::ExtendedOptions;
use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::model::plan::{missing_needs, plan as plan_pieces};
use crate::model::weights::tokens_used;
use crate::model::{Capture, Gpt2Config, Gpt2Tokenizer, Taps};
use crate::result::{RunResult, RunStats};

/// Prompts whose captures are kept, at most (the lecture has 30; each prompt costs
/// 12·n_embd bytes per layer: 1.2 MB for gpt2-medium's 24 layers).
const MAX_PROMPTS_KEPT: usize = 4096;

/// Runs that share what earlier runs of the same model loaded and computed.
#[derive(Default)]
pub struct Session {
    model: Option<ResidentModel>,
}

struct ResidentModel {
    /// The host's name for the model's files ([`RunHost::model_key`]).
    key: String,
    config: Gpt2Config,
    tokenizer: Gpt2Tokenizer,
    /// A prompt's token ids -> its last-token [q, k, v] at layers 0..=n (index = layer).
    captures: HashMap<Vec<u32>, Vec<[Vec<f32>; 3]>>,
}

impl ResidentModel {
    fn captured(&self, prompt: &[u32], layer: usize) -> bool {
        self.captures.get(prompt).is_some_and(|layers| layers.len() > layer)
    }

    /// Keeps a forward's captures (every layer 0..=top of each of `prompts`).
    fn keep(&mut self, prompts: &[Vec<u32>], captures: &[Capture]) {
        if self.captures.len() + prompts.len() > MAX_PROMPTS_KEPT {
            self.captures.clear();
        }
        for (i, prompt) in prompts.iter().enumerate() {
            let layers = captures
                .iter()
                .map(|c| [c.q[i].clone(), c.k[i].clone(), c.v[i].clone()])
                .collect();
            self.captures.insert(prompt.clone(), layers);
        }
    }

    /// The captures of `layers` for `prompts`, in their order, as one forward returns them.
    fn assemble(&self, prompts: &[Vec<u32>], layers: std::ops::RangeInclusive<usize>) -> Result<Vec<Capture>> {
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
                        .and_then(|layers| layers.get(layer))
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

/// What the forward stage of a run did, for its stats.
#[derive(Default)]
struct ForwardFigures {
    prompts: u32,
    bytes_read: u64,
    tensors_packed: u32,
    ranks: Option<u32>,
    /// Host clock: loading began, the forward began, the forward ended.
    t_load: Option<f64>,
    t_forward: Option<f64>,
    t_end: Option<f64>,
    t_download: Option<f64>,
}

impl Session {
    /// Runs `experiment` (with the analyses `options` asks for) on the host's model, reusing
    /// what earlier runs of the same model left in memory.
    pub async fn run<H: RunHost>(
        &mut self,
        experiment: &Experiment,
        options: Option<&ExtendedOptions>,
        host: &mut H,
    ) -> Result<RunResult> {
        // The experiment's own mistakes are reported before anything is read.
        experiment.validate()?;
        let t_start = host.now_ms();
        let resident = self.open(host).await?;
        let model = self.model.as_mut().expect("opened");
        let prepared = Prepared::new(experiment, options, model.config.clone(), &model.tokenizer)?;
        let plan = prepared.forward_plan();
        let figures = match forward_missing(model, &plan, host).await {
            Ok(figures) => figures,
            Err(e) => {
                // Whatever the ranks hold may be half extended: start again next time.
                self.model = None;
                host.forget();
                return Err(e);
            }
        };
        host.stage(Stage::Analysis).await;
        let t_analysis = host.now_ms();
        let first = if plan.taps.all_layers { 0 } else { plan.top_layer };
        let captures = model.assemble(&plan.prompts, first..=plan.top_layer)?;
        let mut result = analyse(&prepared, &captures)?;
        let t_end = host.now_ms();
        let report = host.report();
        let download = report.download.as_ref();
        result.notes.extend(report.notes.iter().cloned());
        result.stats = Some(RunStats {
            model_file_bytes: report.model_file_bytes,
            bytes_downloaded: download.map(|d| d.bytes_downloaded),
            bytes_from_cache: download.map(|d| d.bytes_from_cache),
            http_requests: download.map(|d| d.requests),
            partial_download: download.map(|d| d.partial),
            download_ms: figures.t_download.zip(figures.t_load).map(|(a, b)| b - a),
            load_ms: Some(figures.t_forward.zip(figures.t_load).map_or(0.0, |(f, l)| f - l)),
            forward_ms: Some(figures.t_end.zip(figures.t_forward).map_or(0.0, |(e, f)| e - f)),
            analysis_ms: Some(t_end - t_analysis),
            total_ms: Some(t_end - t_start),
            forward_ranks: figures.ranks,
            wasm_memory_bytes: report.wasm_memory_bytes,
            peak_rss_bytes: report.peak_rss_bytes,
            model_resident: Some(resident),
            prompts_forwarded: Some(figures.prompts),
            weight_bytes_read: Some(figures.bytes_read),
            tensors_packed: Some(figures.tensors_packed),
            resident_weight_bytes: report.resident_weight_bytes,
            run_id: None,
            ..RunStats::default()
        });
        Ok(result)
    }

    /// Makes the host's model the resident one: kept if it already is (returns true), else
    /// what was resident is dropped first (its memory reused) and the config and tokenizer read.
    async fn open<H: RunHost>(&mut self, host: &mut H) -> Result<bool> {
        let key = host.model_key();
        if self.model.as_ref().is_some_and(|m| m.key == key) {
            return Ok(true);
        }
        self.model = None;
        host.forget();
        host.stage(Stage::Config).await;
        let config = Gpt2Config::from_json(&host.read(ModelFile::Config).await?)?;
        host.stage(Stage::Tokenizer).await;
        let tokenizer = Gpt2Tokenizer::from_bytes(&host.read(ModelFile::Tokenizer).await?)?;
        self.model = Some(ResidentModel {
            key,
            config,
            tokenizer,
            captures: HashMap::new(),
        });
        Ok(false)
    }

    /// Drops the resident model (its weights with the host's [`RunHost::forget`]).
    pub fn forget(&mut self) {
        self.model = None;
    }
}

/// Runs the forward for the prompts of `plan` without captures at every layer it needs,
/// after the ranks read what they lack; keeps the captures.
async fn forward_missing<H: RunHost>(model: &mut ResidentModel, plan: &ForwardPlan, host: &mut H) -> Result<ForwardFigures> {
    let top = plan.top_layer;
    let mut todo: Vec<Vec<u32>> = plan.prompts.iter().filter(|p| !model.captured(p, top)).cloned().collect();
    todo.sort_unstable();
    todo.dedup();
    if todo.is_empty() {
        return Ok(ForwardFigures::default());
    }
    // Every layer up to the top is captured on the way (the sweep's taps): a lower layer
    // later needs no forward at all.
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
    let missing = missing_needs(&sub.config, host.held().as_ref(), top, &rows, n_pos);
    let mut figures = ForwardFigures {
        prompts: sub.prompts.len() as u32,
        tensors_packed: missing
            .iter()
            .filter(|n| matches!(n, crate::model::plan::Need::Whole { shape, .. } if shape.len() == 2))
            .count() as u32,
        ..ForwardFigures::default()
    };
    let loaded = if missing.is_empty() {
        None
    } else {
        host.stage(Stage::Weights).await;
        figures.t_download = Some(host.now_ms());
        let (header, bytes) = host.weights(&sub, &missing).await?;
        figures.bytes_read = plan_pieces(&header, &missing)?
            .iter()
            .map(|p| p.range.end - p.range.start)
            .sum();
        Some((header, bytes))
    };
    host.stage(Stage::Convert).await;
    figures.t_load = Some(host.now_ms());
    let forwarded = host.forward(&sub, loaded).await?;
    figures.t_forward = Some(forwarded.started_ms);
    figures.t_end = Some(host.now_ms());
    figures.ranks = Some(forwarded.ranks);
    model.keep(&sub.prompts, &forwarded.captures);
    Ok(figures)
}

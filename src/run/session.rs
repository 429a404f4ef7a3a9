//! A model kept in memory between runs, for the live lab: its config and tokenizer here, its
//! weights with the host's ranks (as far up the layers and over as many words as runs have
//! needed), and every prompt's captures at every layer a forward passed. A run then reads only
//! what no earlier run read (often nothing, or a new word's embedding row) and runs the forward
//! only for prompts it has never seen (removing a word or lowering the layer runs none).
//!
//! Each prompt's capture does not depend on the other prompts of its forward (prompts are
//! batched without padding: see `model/gpt2.rs`), so captures from different runs combine.

use std::collections::HashMap;

use super::resident::{Ahead, ResidentModel};
use super::{analyse, Download, ForwardPlan, HostReport, ModelFile, RunHost, Stage};
use crate::analysis::report::ExtendedOptions;
use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::model::plan::{plan as plan_pieces, Need};
use crate::model::token_memo::tokenizer_id;
use crate::model::{Gpt2Config, Gpt2Tokenizer, TokenMemo};
use crate::result::{RunResult, RunStats};

/// Captures are kept up to this many bytes in all, this run's and earlier runs', or as many as
/// this run's alone if those are more (each prompt costs 12·n_embd bytes per layer: 72 KB at
/// gpt2-medium's layer 5); the least recently used go first, and before a forward, so the new
/// captures never lie beside more than the budget. The current run's are always kept. 5 MB
/// holds two lecture runs at gpt2-medium's layer 5: undoing an edit costs no forward, and a
/// class session of many templates does not grow memory (wasm memory never shrinks).
const KEPT_BYTES_FLOOR: usize = 5 << 20;

/// A read-ahead runs the forward too when it has at most this many new prompts (a word typed:
/// ~50 ms at gpt2-medium's layer 5, within the pause the page waits for). More (a new template:
/// every prompt) would keep the engine busy past the pause, and typing makes many of them.
const AHEAD_MAX_PROMPTS: usize = 2;

/// Runs that share what earlier runs of the same model loaded and computed.
pub struct Session {
    model: Option<ResidentModel>,
    kept_bytes_floor: usize,
}

impl Default for Session {
    fn default() -> Self {
        Session::with_kept_bytes(KEPT_BYTES_FLOOR)
    }
}

/// What the forward stage of a run did, for its stats.
#[derive(Default)]
struct ForwardFigures {
    prompts: u32,
    bytes_read: u64,
    tensors_packed: u32,
    tensors_from_store: u32,
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
        // Resident: this model's weights are held from an earlier run (not only its config).
        let (kept, parsed_on_open) = self.open(host).await?;
        let resident = kept && host.held().is_some();
        let t_opened = host.now_ms();
        let model = self.model.as_mut().expect("opened");
        let (prepared, parsed) = model.prepare_on(experiment, options, host)?;
        let tokenizer_parsed = parsed_on_open || parsed || std::mem::take(&mut model.parsed_ahead);
        let plan = prepared.forward_plan();
        model.runs += 1;
        let mut figures = match forward_missing(model, &plan, self.kept_bytes_floor, host).await {
            Ok(figures) => figures,
            // A download that failed (or was cancelled) changed nothing held: the model stays.
            Err(Failed::Reading(e)) => return Err(e),
            Err(Failed::Holding(e)) => {
                // Whatever the ranks hold may be half extended: start again next time.
                self.model = None;
                host.forget();
                return Err(e);
            }
        };
        let ahead = take_ahead(model, &plan);
        let (prompts_ahead, ahead_ms) = count_ahead(&ahead, &mut figures);
        host.stage(Stage::Analysis).await;
        let t_analysis = host.now_ms();
        let first = if plan.taps.all_layers { 0 } else { plan.top_layer };
        model.trim(&plan.prompts, self.kept_bytes_floor, 0);
        let captures = model.assemble(&plan.prompts, first..=plan.top_layer)?;
        let mut result = analyse(&prepared, &captures)?;
        let t_end = host.now_ms();
        let mut report = host.report();
        for a in ahead {
            merge_report(&mut report, a.report);
        }
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
            open_ms: Some(t_opened - t_start).filter(|_| !resident),
            forward_ranks: figures.ranks,
            wasm_memory_bytes: report.wasm_memory_bytes,
            peak_rss_bytes: report.peak_rss_bytes,
            model_resident: Some(resident),
            prompts_forwarded: Some(figures.prompts),
            weight_bytes_read: Some(figures.bytes_read + report.weight_bytes_read_again),
            tensors_packed: Some(figures.tensors_packed + report.tensors_packed_again),
            tensors_from_store: Some(figures.tensors_from_store).filter(|&n| n > 0),
            resident_weight_bytes: report.resident_weight_bytes,
            tokenizer_parsed: Some(tokenizer_parsed),
            weights_read_ahead: Some(true).filter(|_| report.weights_read_ahead),
            prompts_forwarded_ahead: Some(prompts_ahead).filter(|&n| n > 0),
            forward_ahead_ms: Some(ahead_ms).filter(|_| prompts_ahead > 0),
            run_id: None,
            ..RunStats::default()
        });
        Ok(result)
    }

    /// Makes the host's model the resident one: kept if it already is, else what was resident
    /// is dropped first (its memory reused) and the config and tokenizer read. Returns whether
    /// it was kept, and whether tokenizer.json was parsed.
    async fn open<H: RunHost>(&mut self, host: &mut H) -> Result<(bool, bool)> {
        let key = host.model_key();
        if self.model.as_ref().is_some_and(|m| m.key == key) {
            return Ok((true, false));
        }
        self.model = None;
        host.forget();
        host.stage(Stage::Config).await;
        let config = Gpt2Config::from_json(&host.read(ModelFile::Config).await?)?;
        host.stage(Stage::Tokenizer).await;
        let json = host.read(ModelFile::Tokenizer).await?;
        let id = tokenizer_id(&json);
        // Remembered token ids, or the page's of the same file, put off the parsing; without
        // either it is done now, as it checks the file.
        let memo = host.token_memo(&id).await;
        let supplied = host.supplied_token_ids().is_some_and(|s| s.tokenizer == id);
        let (tokenizer, tokenizer_json) = match memo.is_some() || supplied {
            true => (None, json),
            false => (Some(Gpt2Tokenizer::from_bytes(&json)?), Vec::new()),
        };
        let parsed = tokenizer.is_some();
        let memo = memo.unwrap_or_else(|| TokenMemo::new(id));
        self.model = Some(ResidentModel {
            key,
            config,
            tokenizer,
            tokenizer_json,
            memo,
            captures: HashMap::new(),
            runs: 0,
            parsed_ahead: false,
            ahead: Vec::new(),
        });
        Ok((false, parsed))
    }

    /// Works ahead, while the page waits for a pause in typing, on what a run of `experiment`
    /// would do beyond what the resident model holds and has captured, when that needs rows
    /// only (a new word's embedding row: see [`RunHost::read_ahead`]): reads them, and for at
    /// most two new prompts (`AHEAD_MAX_PROMPTS`) runs their forward too, keeping the captures as
    /// a run does. The next run that needs those prompts then counts them as its own
    /// (`prompts_forwarded_ahead`). Returns whether anything was done. Nothing for a model
    /// other than the resident one, nor for whole tensors (a higher layer's matrices: the run
    /// reads those).
    pub async fn read_ahead<H: RunHost>(
        &mut self,
        experiment: &Experiment,
        options: Option<&ExtendedOptions>,
        host: &mut H,
    ) -> Result<bool> {
        experiment.validate()?;
        let key = host.model_key();
        let Some(model) = self.model.as_mut().filter(|m| m.key == key) else {
            return Ok(false);
        };
        let Some(held) = host.held() else {
            return Ok(false);
        };
        let (prepared, parsed) = model.prepare_on(experiment, options, host)?;
        model.parsed_ahead |= parsed;
        let plan = prepared.forward_plan();
        let Some((sub, missing)) = model.missing(&plan, Some(&held))? else {
            return Ok(false);
        };
        if missing.iter().any(|n| matches!(n, Need::Whole { .. })) {
            return Ok(false);
        }
        if !missing.is_empty() {
            host.read_ahead(&sub, &missing).await?;
        }
        if sub.prompts.len() > AHEAD_MAX_PROMPTS {
            return Ok(!missing.is_empty());
        }
        match forward_missing(model, &plan, self.kept_bytes_floor, host).await {
            Ok(figures) => model.ahead.push(Ahead {
                prompts: sub.prompts,
                bytes_read: figures.bytes_read,
                ms: figures.t_end.zip(figures.t_load).map_or(0.0, |(e, l)| e - l),
                ranks: figures.ranks,
                report: host.report(),
            }),
            Err(Failed::Reading(e)) => return Err(e),
            Err(Failed::Holding(e)) => {
                self.model = None;
                host.forget();
                return Err(e);
            }
        }
        Ok(true)
    }

    /// A session that keeps captures up to `floor` bytes in all (or this run's, if more); the
    /// default keeps 5 MB.
    pub fn with_kept_bytes(floor: usize) -> Self {
        Session {
            model: None,
            kept_bytes_floor: floor,
        }
    }

    /// Bytes of the captures kept for later runs (0 with no resident model).
    pub fn kept_capture_bytes(&self) -> usize {
        self.model.as_ref().map_or(0, ResidentModel::kept_bytes)
    }

    /// Drops the resident model (its weights with the host's [`RunHost::forget`]).
    pub fn forget(&mut self) {
        self.model = None;
    }
}

/// The forwards run ahead for `plan`'s prompts: the run counts them as its own. The others are
/// dropped (stale: the edit went on after them).
fn take_ahead(model: &mut ResidentModel, plan: &ForwardPlan) -> Vec<Ahead> {
    std::mem::take(&mut model.ahead)
        .into_iter()
        .filter(|a| a.prompts.iter().all(|p| plan.prompts.contains(p)))
        .collect()
}

/// Adds the forwards run ahead to the run's `figures` (prompts, bytes read, ranks); returns how
/// many prompts they forwarded and how long they took.
fn count_ahead(ahead: &[Ahead], figures: &mut ForwardFigures) -> (u32, f64) {
    let (mut prompts, mut ms) = (0, 0.0);
    for a in ahead {
        prompts += a.prompts.len() as u32;
        ms += a.ms;
        figures.bytes_read += a.bytes_read;
        // The fewest ranks any part of the run's forward ran on.
        figures.ranks = match (figures.ranks, a.ranks) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
    }
    figures.prompts += prompts;
    (prompts, ms)
}

/// Adds what a forward ahead's host reported to the run's report: its download, its rows read
/// ahead, its notes, and its memory where larger (wasm memory never shrinks, and it heard from
/// every rank).
fn merge_report(into: &mut HostReport, ahead: HostReport) {
    if let Some(more) = ahead.download {
        let d = into.download.get_or_insert_with(Download::default);
        d.bytes_downloaded += more.bytes_downloaded;
        d.bytes_from_cache += more.bytes_from_cache;
        d.requests += more.requests;
        d.partial |= more.partial;
    }
    into.weights_read_ahead |= ahead.weights_read_ahead;
    into.wasm_memory_bytes = into.wasm_memory_bytes.max(ahead.wasm_memory_bytes);
    into.resident_weight_bytes = into.resident_weight_bytes.max(ahead.resident_weight_bytes);
    for note in ahead.notes {
        if !into.notes.contains(&note) {
            into.notes.push(note);
        }
    }
}

/// Where a run failed: reading what it lacked (nothing held was changed), or after (the ranks
/// may hold half of an extension).
enum Failed {
    Reading(Error),
    Holding(Error),
}

/// Runs the forward for the prompts of `plan` without captures at every layer it needs,
/// after the ranks read what they lack and older captures made room (`floor`: see
/// [`KEPT_BYTES_FLOOR`]); keeps the captures.
async fn forward_missing<H: RunHost>(
    model: &mut ResidentModel,
    plan: &ForwardPlan,
    floor: usize,
    host: &mut H,
) -> std::result::Result<ForwardFigures, Failed> {
    let Some((sub, mut missing)) = model.missing(plan, host.held().as_ref()).map_err(Failed::Reading)? else {
        return Ok(ForwardFigures::default());
    };
    // q, k and v at layers 0..=top for each new prompt.
    let incoming = sub.prompts.len() * (sub.top_layer + 1) * 3 * plan.config.n_embd * 4;
    model.trim(&plan.prompts, floor, incoming);
    let anything_missing = !missing.is_empty();
    let t_ask = host.now_ms();
    // Conv1Ds the ranks can take already packed: neither their weight nor their bias is read.
    // (An edit that lacks only a new word's embedding row does not ask.)
    let is_matrix = |n: &Need| matches!(n, Need::Whole { shape, .. } if shape.len() == 2);
    let stored = match missing.iter().any(is_matrix) {
        true => host.stored_packed(&sub, &missing).await,
        false => Vec::new(),
    };
    missing.retain(|n| {
        let (Need::Whole { name, .. } | Need::Rows { name, .. }) = n;
        let conv = name.strip_suffix(".weight").or_else(|| name.strip_suffix(".bias"));
        !conv.is_some_and(|c| stored.iter().any(|s| s == c))
    });
    let mut figures = ForwardFigures {
        prompts: sub.prompts.len() as u32,
        tensors_packed: missing.iter().filter(|n| is_matrix(n)).count() as u32,
        tensors_from_store: stored.len() as u32,
        ..ForwardFigures::default()
    };
    let loaded = if !anything_missing {
        None
    } else {
        host.stage(Stage::Weights).await;
        // Asking the packed store counts as reading.
        figures.t_download = Some(t_ask);
        let (header, bytes) = host.weights(&sub, &missing).await.map_err(Failed::Reading)?;
        figures.bytes_read = plan_pieces(&header, &missing)
            .map_err(Failed::Reading)?
            .iter()
            .map(|p| p.range.end - p.range.start)
            .sum();
        Some((header, bytes))
    };
    host.stage(Stage::Convert).await;
    figures.t_load = Some(host.now_ms());
    let forwarded = host.forward(&sub, loaded).await.map_err(Failed::Holding)?;
    figures.t_forward = Some(forwarded.started_ms);
    figures.t_end = Some(host.now_ms());
    figures.ranks = Some(forwarded.ranks);
    model.keep(&sub.prompts, forwarded.captures);
    Ok(figures)
}

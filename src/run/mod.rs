//! The one run path, shared by the CLI and the page's engine worker:
//! tokenise -> plan -> load -> forward -> analyse, with [`RunStats`] filled in one place.
//!
//! What differs between them is a [`RunHost`]: where the bytes come from (files mapped from
//! disk, or downloaded with a cache), how the forward's ranks run (native threads, or two
//! workers), and the clock. [`run`] drives the stages over any host.

mod analyse;
#[cfg(not(target_arch = "wasm32"))]
mod local;
mod prepared;

use std::future::Future;

pub use analyse::analyse;
#[cfg(not(target_arch = "wasm32"))]
pub use local::{run_local, LocalModel};
pub use prepared::{ForwardPlan, Prepared};

use crate::analysis::report::ExtendedOptions;
use crate::error::Result;
use crate::experiment::Experiment;
use crate::model::plan::{ByteSource, Header};
use crate::model::{Capture, Gpt2Config, Gpt2Tokenizer};
use crate::result::{RunResult, RunStats};
use serde::{Deserialize, Serialize};

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

/// A model's small files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelFile {
    Config,
    Tokenizer,
}

/// The forward's captures, when the forward began (after loading, on the host's clock) and
/// on how many ranks it ran.
pub struct Forwarded {
    pub captures: Vec<Capture>,
    pub started_ms: f64,
    pub ranks: u32,
}

/// What the host measured that the run itself cannot see, and what it wants the reader told.
#[derive(Debug, Default)]
pub struct HostReport {
    pub model_file_bytes: Option<u64>,
    /// Bytes moved over the network and from the cache (absent where nothing is downloaded).
    pub download: Option<Download>,
    pub wasm_memory_bytes: Option<u64>,
    pub peak_rss_bytes: Option<u64>,
    pub notes: Vec<String>,
}

/// A download's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Download {
    pub bytes_downloaded: u64,
    pub bytes_from_cache: u64,
    pub requests: u32,
    /// False when the server ignored Range requests and the whole file came.
    pub partial: bool,
}

/// Where a run gets its bytes and runs its forward: the CLI's files and threads, the page's
/// downloads and workers.
pub trait RunHost {
    /// The weight bytes the host holds after [`Self::weights`].
    type Bytes: ByteSource;

    /// Milliseconds on the host's clock.
    fn now_ms(&self) -> f64;

    /// A stage begins (the page shows it; it may let queued messages out first).
    fn stage(&mut self, stage: Stage) -> impl Future<Output = ()>;

    /// config.json or tokenizer.json.
    fn read(&mut self, file: ModelFile) -> impl Future<Output = Result<Vec<u8>>>;

    /// The weights file's header and the bytes of the pieces the forward needs
    /// ([`ForwardPlan::weight_needs`]; a host may hold more, e.g. the whole file).
    fn weights(&mut self, plan: &ForwardPlan) -> impl Future<Output = Result<(Header, Self::Bytes)>>;

    /// Loads each rank's share of the weights ([`ForwardPlan::load`]) and runs the forward on
    /// every rank ([`ForwardPlan::forward`]); reports [`Stage::Forward`] when loading is done.
    fn forward(&mut self, plan: &ForwardPlan, header: &Header, bytes: Self::Bytes) -> impl Future<Output = Result<Forwarded>>;

    /// Called once at the end of a run that succeeded.
    fn report(&mut self) -> HostReport;
}

/// Runs `experiment` (with the analyses `options` asks for) on the host's model.
pub async fn run<H: RunHost>(experiment: &Experiment, options: Option<&ExtendedOptions>, host: &mut H) -> Result<RunResult> {
    // The experiment's own mistakes are reported before anything is read.
    experiment.validate()?;
    let t_start = host.now_ms();
    host.stage(Stage::Config).await;
    let config = Gpt2Config::from_json(&host.read(ModelFile::Config).await?)?;
    host.stage(Stage::Tokenizer).await;
    // The tokenizer (a few MB) is dropped before the weights load: it is not needed after this.
    let prepared = {
        let tokenizer = Gpt2Tokenizer::from_bytes(&host.read(ModelFile::Tokenizer).await?)?;
        Prepared::new(experiment, options, config, &tokenizer)?
    };
    let plan = prepared.forward_plan();
    host.stage(Stage::Weights).await;
    let t_download = host.now_ms();
    let (header, bytes) = host.weights(&plan).await?;
    host.stage(Stage::Convert).await;
    let t_load = host.now_ms();
    let forwarded = host.forward(&plan, &header, bytes).await?;
    host.stage(Stage::Analysis).await;
    let t_analysis = host.now_ms();
    let mut result = analyse(&prepared, &forwarded.captures)?;
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
        download_ms: download.map(|_| t_load - t_download),
        load_ms: Some(forwarded.started_ms - t_load),
        forward_ms: Some(t_analysis - forwarded.started_ms),
        analysis_ms: Some(t_end - t_analysis),
        total_ms: Some(t_end - t_start),
        forward_ranks: Some(forwarded.ranks),
        wasm_memory_bytes: report.wasm_memory_bytes,
        peak_rss_bytes: report.peak_rss_bytes,
    });
    Ok(result)
}

//! The one run path, shared by the CLI and the page's engine worker:
//! tokenise -> plan -> load -> forward -> analyse, with [`RunStats`](crate::result::RunStats) filled in one place
//! ([`Session::run`]).
//!
//! What differs between them is a [`RunHost`]: where the bytes come from (files mapped from
//! disk, or downloaded with a cache), how the forward's ranks run and hold their weights
//! (native threads, or two workers), and the clock. A [`Session`] keeps a model in memory
//! between runs (the live lab); [`run`] is one run from nothing.

mod analyse;
#[cfg(not(target_arch = "wasm32"))]
mod local;
mod prepared;
mod resident;
mod session;

use std::future::Future;

pub use analyse::analyse;
#[cfg(not(target_arch = "wasm32"))]
pub use local::{run_local, LocalEngine, LocalModel};
pub use prepared::{ForwardPlan, Prepared};
pub use session::Session;

use crate::analysis::report::ExtendedOptions;
use crate::error::Result;
use crate::experiment::Experiment;
use crate::model::plan::{ByteSource, Coverage, Header, Need};
use crate::model::{Capture, TokenMemo};
use crate::result::RunResult;
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
    /// Bytes of weights the ranks hold after the run, summed over them.
    pub resident_weight_bytes: Option<u64>,
    /// The run's [`RunHost::weights`] returned what [`RunHost::read_ahead`] read.
    pub weights_read_ahead: bool,
    /// A rank that failed left the run to the others, which read and packed again: the
    /// matrices and the bytes (counted beside the run's own).
    pub tensors_packed_again: u32,
    pub weight_bytes_read_again: u64,
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
/// downloads and workers. The ranks keep their weights between runs until [`Self::forget`].
pub trait RunHost {
    /// The weight bytes the host holds after [`Self::weights`].
    type Bytes: ByteSource;

    /// Milliseconds on the host's clock.
    fn now_ms(&self) -> f64;

    /// Names the model's files: a run of another key drops what the session and ranks hold.
    fn model_key(&self) -> String;

    /// A stage begins (the page shows it; it may let queued messages out first).
    fn stage(&mut self, stage: Stage) -> impl Future<Output = ()>;

    /// config.json or tokenizer.json.
    fn read(&mut self, file: ModelFile) -> impl Future<Output = Result<Vec<u8>>>;

    /// The token ids kept for the tokenizer `id` (see `model/token_memo.rs`): a run whose
    /// texts are all there does not parse tokenizer.json. None by default.
    fn token_memo(&mut self, id: &str) -> impl Future<Output = Option<TokenMemo>> {
        let _ = id;
        async { None }
    }

    /// Token ids the one who asked for the run encoded with its own tokenizer (the page's):
    /// used where they are the model's tokenizer's (the same [`TokenMemo::tokenizer`]).
    fn supplied_token_ids(&self) -> Option<&TokenMemo> {
        None
    }

    /// Keeps `memo` for later visits (the host may write it after the run). Nothing by default.
    fn keep_token_memo(&mut self, memo: &TokenMemo) {
        let _ = memo;
    }

    /// What the ranks' weights hold (the same on every rank), None when they hold nothing.
    fn held(&self) -> Option<Coverage>;

    /// The Conv1Ds among `needs` (by name, `h.0.mlp.c_fc`) that every rank of `plan`'s forward
    /// can take already packed, from a store an earlier visit filled: their bytes are neither
    /// read nor packed again. None by default.
    fn stored_packed(&mut self, plan: &ForwardPlan, needs: &[Need]) -> impl Future<Output = Vec<String>> {
        let _ = (plan, needs);
        async { Vec::new() }
    }

    /// The weights file's header and the bytes of the pieces `needs` lists (what `plan`'s
    /// forward needs beyond [`Self::held`]; a host may hold more, e.g. the whole file).
    fn weights(&mut self, plan: &ForwardPlan, needs: &[Need]) -> impl Future<Output = Result<(Header, Self::Bytes)>>;

    /// Reads the pieces `needs` lists (rows of `plan`'s forward beyond [`Self::held`]) ahead
    /// of the run, while the page waits for a pause in typing: the next [`Self::weights`] for
    /// the same needs then returns them without reading. Nothing by default (files on disk).
    fn read_ahead(&mut self, plan: &ForwardPlan, needs: &[Need]) -> impl Future<Output = Result<()>> {
        let _ = (plan, needs);
        async { Ok(()) }
    }

    /// Every rank adds its share of `loaded` to what it holds ([`ForwardPlan::load_into`]) and
    /// runs the forward ([`ForwardPlan::forward`]); reports [`Stage::Forward`] when loading
    /// is done.
    fn forward(&mut self, plan: &ForwardPlan, loaded: Option<(Header, Self::Bytes)>) -> impl Future<Output = Result<Forwarded>>;

    /// The ranks drop their weights (another model, or a failed run).
    fn forget(&mut self);

    /// Called once at the end of a run that succeeded.
    fn report(&mut self) -> HostReport;
}

/// Runs `experiment` (with the analyses `options` asks for) on the host's model, from nothing.
pub async fn run<H: RunHost>(experiment: &Experiment, options: Option<&ExtendedOptions>, host: &mut H) -> Result<RunResult> {
    Session::default().run(experiment, options, host).await
}

//! The native host: a model's files in memory (read or mapped), the forward on threads, one
//! rank each, each keeping its weights between runs (the CLI, the tests, the benchmark).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Barrier;
use std::time::Instant;

use futures::FutureExt;

use super::{ForwardPlan, Forwarded, HostReport, ModelFile, RunHost, Stage};
use crate::analysis::report::ExtendedOptions;
use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::model::plan::{Coverage, Header, Need, WholeFile};
use crate::model::shard::{is_peer_gone, Shard, ThreadExchange};
use crate::model::{Capture, LayerWeights, Prepacked, TokenMemo};
use crate::result::RunResult;

/// A model's three files as bytes, and the threads its forward may use.
pub struct LocalModel<'a> {
    pub config: &'a [u8],
    pub tokenizer: &'a [u8],
    pub weights: &'a [u8],
    /// At most this many threads (and one per head), each holding its share of the weights;
    /// the result does not depend on it.
    pub threads: usize,
}

/// Runs `experiment` on a model in memory; blocks until done.
pub fn run_local(experiment: &Experiment, options: Option<&ExtendedOptions>, model: &LocalModel) -> Result<RunResult> {
    LocalEngine::new(model).run(experiment, options)
}

/// Runs on a model in memory that keep what earlier runs loaded and computed (a
/// [`super::Session`] over threads that hold their weights).
pub struct LocalEngine<'a> {
    session: super::Session,
    host: LocalHost<'a>,
}

impl<'a> LocalEngine<'a> {
    pub fn new(model: &'a LocalModel<'a>) -> Self {
        LocalEngine {
            session: super::Session::default(),
            host: LocalHost {
                model,
                clock: Instant::now(),
                ranks: Vec::new(),
                memo: None,
                supplied: None,
                ahead: None,
                ahead_used: false,
            },
        }
    }

    /// Keeps earlier runs' captures up to `floor` bytes (see [`super::Session::with_kept_bytes`]).
    pub fn with_kept_bytes(mut self, floor: usize) -> Self {
        self.session = super::Session::with_kept_bytes(floor);
        self
    }

    /// Starts with the token ids `memo` remembers, as a page does after a reload (see
    /// `model/token_memo.rs`): a run whose texts it holds does not parse tokenizer.json.
    pub fn with_token_memo(mut self, memo: TokenMemo) -> Self {
        self.host.memo = Some(memo);
        self
    }

    /// The next runs come with `ids`, as the page's do (its tokenizer's encodings of the
    /// experiment: `model::token_memo::encodings_of`).
    pub fn supply_token_ids(&mut self, ids: Option<TokenMemo>) {
        self.host.supplied = ids;
    }

    /// The token ids remembered so far (what a page keeps for its next visit).
    pub fn token_memo(&self) -> Option<&TokenMemo> {
        self.host.memo.as_ref()
    }

    /// Reads ahead for `experiment` (see [`super::Session::read_ahead`]): whether the host was
    /// asked to. The next run whose needs are the same says so in its stats
    /// (`weights_read_ahead`).
    pub fn read_ahead(&mut self, experiment: &Experiment, options: Option<&ExtendedOptions>) -> Result<bool> {
        self.session
            .read_ahead(experiment, options, &mut self.host)
            .now_or_never()
            .unwrap_or_else(|| Err(Error::Model("a local read-ahead waited".into())))
    }

    /// Bytes of the captures kept for later runs.
    pub fn kept_capture_bytes(&self) -> usize {
        self.session.kept_capture_bytes()
    }

    /// Runs on another model from now on (what the old one left is dropped at the next run).
    pub fn switch(&mut self, model: &'a LocalModel<'a>) {
        self.host.model = model;
    }

    /// Runs `experiment`; blocks until done.
    pub fn run(&mut self, experiment: &Experiment, options: Option<&ExtendedOptions>) -> Result<RunResult> {
        // Nothing in this host waits, so the run finishes in one poll.
        self.session
            .run(experiment, options, &mut self.host)
            .now_or_never()
            .unwrap_or_else(|| Err(Error::Model("a local run waited".into())))
    }
}

struct LocalHost<'a> {
    model: &'a LocalModel<'a>,
    clock: Instant,
    /// Each thread's weights (one per rank), kept between runs.
    ranks: Vec<Option<LayerWeights>>,
    /// The token ids kept for a later visit (the page keeps them in Cache Storage).
    memo: Option<TokenMemo>,
    /// Token ids that come with the runs (see [`LocalEngine::supply_token_ids`]).
    supplied: Option<TokenMemo>,
    /// The needs read ahead (the whole file is in memory: only which, to check the session's
    /// asking), and whether this run's weights were those.
    ahead: Option<Vec<Need>>,
    ahead_used: bool,
}

impl LocalHost<'_> {
    fn ms(&self, t: Instant) -> f64 {
        (t - self.clock).as_secs_f64() * 1e3
    }
}

impl<'a> RunHost for LocalHost<'a> {
    type Bytes = WholeFile<'a>;

    fn now_ms(&self) -> f64 {
        self.ms(Instant::now())
    }

    /// The same bytes in memory are the same model.
    fn model_key(&self) -> String {
        format!("{:p}+{}", self.model.weights.as_ptr(), self.model.weights.len())
    }

    async fn stage(&mut self, _stage: Stage) {}

    async fn read(&mut self, file: ModelFile) -> Result<Vec<u8>> {
        Ok(match file {
            ModelFile::Config => self.model.config,
            ModelFile::Tokenizer => self.model.tokenizer,
        }
        .to_vec())
    }

    async fn token_memo(&mut self, id: &str) -> Option<TokenMemo> {
        self.memo.clone().filter(|m| m.tokenizer == id)
    }

    fn supplied_token_ids(&self) -> Option<&TokenMemo> {
        self.supplied.as_ref()
    }

    fn keep_token_memo(&mut self, memo: &TokenMemo) {
        self.memo = Some(memo.clone());
    }

    fn held(&self) -> Option<Coverage> {
        self.ranks.first()?.as_ref().map(LayerWeights::coverage)
    }

    async fn weights(&mut self, _plan: &ForwardPlan, needs: &[Need]) -> Result<(Header, WholeFile<'a>)> {
        self.ahead_used = self.ahead.take().is_some_and(|a| a == needs);
        Ok((Header::from_file(self.model.weights)?, WholeFile(self.model.weights)))
    }

    async fn forward(&mut self, plan: &ForwardPlan, loaded: Option<(Header, WholeFile<'a>)>) -> Result<Forwarded> {
        if self.ranks.is_empty() {
            let ranks = self.model.threads.clamp(1, plan.config.n_head.max(1));
            self.ranks = (0..ranks).map(|_| None).collect();
        }
        let (captures, started) = on_threads(plan, loaded.as_ref(), &mut self.ranks)?;
        Ok(Forwarded {
            captures,
            started_ms: self.ms(started),
            ranks: self.ranks.len() as u32,
        })
    }

    async fn read_ahead(&mut self, _plan: &ForwardPlan, needs: &[Need]) -> Result<()> {
        self.ahead = Some(needs.to_vec());
        Ok(())
    }

    fn forget(&mut self) {
        self.ranks.clear();
        self.ahead = None;
    }

    fn report(&mut self) -> HostReport {
        HostReport {
            model_file_bytes: Some(self.model.weights.len() as u64),
            peak_rss_bytes: peak_rss_bytes(),
            resident_weight_bytes: Some(self.ranks.iter().flatten().map(LayerWeights::held_bytes).sum()),
            weights_read_ahead: std::mem::take(&mut self.ahead_used),
            ..HostReport::default()
        }
    }
}

/// Each rank adds its share of `loaded` to what it holds, then runs the forward on its own
/// thread: the captures are the same, bit for bit, as on one thread. Returns them and when the
/// forward began (every rank loaded).
fn on_threads(
    plan: &ForwardPlan,
    loaded: Option<&(Header, WholeFile)>,
    held: &mut [Option<LayerWeights>],
) -> Result<(Vec<Capture>, Instant)> {
    let ranks = held.len();
    let barrier = Barrier::new(ranks);
    let outcomes: Vec<Result<(Vec<Capture>, Instant)>> = std::thread::scope(|s| {
        let handles: Vec<_> = ThreadExchange::ranks(ranks)
            .into_iter()
            .zip(held.iter_mut())
            .enumerate()
            .map(|(rank, (mut exchange, weights))| {
                let barrier = &barrier;
                s.spawn(move || {
                    // A panic must not leave the other ranks at the barrier for ever.
                    let loading = catch_unwind(AssertUnwindSafe(|| match loaded {
                        Some((header, bytes)) => {
                            plan.load_into(weights, header, bytes, Shard::new(rank, ranks)?, Prepacked::new())
                        }
                        None => Ok(()),
                    }))
                    .unwrap_or_else(|_| Err(Error::Model("loading the weights panicked".into())));
                    // Every rank waits here, loaded or not, so the forward is timed alone.
                    barrier.wait();
                    let started = Instant::now();
                    loading?;
                    let weights = weights
                        .as_ref()
                        .ok_or_else(|| Error::Model("a forward with no weights loaded".into()))?;
                    let captures = plan
                        .forward(weights, &mut exchange)
                        .now_or_never()
                        .unwrap_or_else(|| Err(Error::Model("a forward pass with a blocking exchange waited".into())))?;
                    Ok((captures, started))
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
    // A rank's own error, rather than another's "a rank stopped" it caused.
    let (done, mut errors): (Vec<_>, Vec<_>) = outcomes.into_iter().partition(Result::is_ok);
    if !errors.is_empty() {
        let own = errors
            .iter()
            .position(|e| e.as_ref().is_err_and(|e| !is_peer_gone(e)))
            .unwrap_or(0);
        return errors.swap_remove(own);
    }
    done.into_iter()
        .next()
        .unwrap_or_else(|| Err(Error::Model("no forward thread ran".into())))
}

/// Peak resident memory of this process (Linux: VmHWM), for the benchmark.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

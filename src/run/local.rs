//! The native host: a model's files in memory (read or mapped), the forward on threads, one
//! rank each (the CLI, the tests, the benchmark).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Barrier;
use std::time::Instant;

use futures::FutureExt;

use super::{ForwardPlan, Forwarded, HostReport, ModelFile, RunHost, Stage};
use crate::analysis::report::ExtendedOptions;
use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::model::plan::{Header, WholeFile};
use crate::model::shard::{is_peer_gone, Shard, ThreadExchange};
use crate::model::Capture;
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
    let mut host = LocalHost {
        model,
        clock: Instant::now(),
    };
    // Nothing in this host waits, so the run finishes in one poll.
    super::run(experiment, options, &mut host)
        .now_or_never()
        .unwrap_or_else(|| Err(Error::Model("a local run waited".into())))
}

struct LocalHost<'a> {
    model: &'a LocalModel<'a>,
    clock: Instant,
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

    async fn stage(&mut self, _stage: Stage) {}

    async fn read(&mut self, file: ModelFile) -> Result<Vec<u8>> {
        Ok(match file {
            ModelFile::Config => self.model.config,
            ModelFile::Tokenizer => self.model.tokenizer,
        }
        .to_vec())
    }

    async fn weights(&mut self, _plan: &ForwardPlan) -> Result<(Header, WholeFile<'a>)> {
        Ok((Header::from_file(self.model.weights)?, WholeFile(self.model.weights)))
    }

    async fn forward(&mut self, plan: &ForwardPlan, header: &Header, bytes: WholeFile<'a>) -> Result<Forwarded> {
        let ranks = self.model.threads.clamp(1, plan.config.n_head.max(1));
        let (captures, started) = on_threads(plan, header, &bytes, ranks)?;
        Ok(Forwarded {
            captures,
            started_ms: self.ms(started),
            ranks: ranks as u32,
        })
    }

    fn report(&mut self) -> HostReport {
        HostReport {
            model_file_bytes: Some(self.model.weights.len() as u64),
            peak_rss_bytes: peak_rss_bytes(),
            ..HostReport::default()
        }
    }
}

/// Loads and runs the forward on `ranks` threads, each holding its share of the weights: the
/// captures are the same, bit for bit, as on one thread. Returns them and when the forward
/// began (every rank loaded).
fn on_threads(plan: &ForwardPlan, header: &Header, bytes: &WholeFile, ranks: usize) -> Result<(Vec<Capture>, Instant)> {
    let barrier = Barrier::new(ranks);
    let outcomes: Vec<Result<(Vec<Capture>, Instant)>> = std::thread::scope(|s| {
        let handles: Vec<_> = ThreadExchange::ranks(ranks)
            .into_iter()
            .enumerate()
            .map(|(rank, mut exchange)| {
                let barrier = &barrier;
                s.spawn(move || {
                    // A panic must not leave the other ranks at the barrier for ever.
                    let weights = catch_unwind(AssertUnwindSafe(|| plan.load(header, bytes, Shard::new(rank, ranks)?)))
                        .unwrap_or_else(|_| Err(Error::Model("loading the weights panicked".into())));
                    // Every rank waits here, loaded or not, so the forward is timed alone.
                    barrier.wait();
                    let started = Instant::now();
                    let captures = plan
                        .forward(&weights?, &mut exchange)
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

//! The engine in a Web Worker: the run (`run::run`) over a host that downloads the model's
//! files (cached) and runs the forward on two workers, reporting each stage and the download's
//! progress, so the page never freezes. The page sends a
//! [`RunRequest`]; the worker answers with a stream of [`EngineEvent`]s ending in Done or Failed.

use futures::{SinkExt, StreamExt};
use gloo::worker::reactor::{reactor, ReactorScope};
use gloo::worker::Codec;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

use futures::channel::mpsc::UnboundedSender;

use super::hub::{fetch_cached, load_weight_bytes, DownloadStats, WeightBytes};
use super::peer::{wasm_memory_bytes, SecondWorker};
use crate::error::{Error, Result};
use crate::model::plan::{Header, Need};
use crate::model::shard::{Alone, Shard};
use crate::result::RunResult;
use crate::run::{Download, ForwardPlan, Forwarded, HostReport, ModelFile, RunHost};

pub use crate::protocol::{EngineEvent, ModelFiles, Progress, RunRequest, Stage};

/// Messages as JSON text: results hold optional fields that a binary codec cannot skip.
pub struct JsonCodec;

impl Codec for JsonCodec {
    fn encode<I: Serialize>(input: I) -> JsValue {
        JsValue::from_str(&serde_json::to_string(&input).expect("engine messages serialise"))
    }

    fn decode<O: for<'de> Deserialize<'de>>(input: JsValue) -> O {
        serde_json::from_str(&input.as_string().unwrap_or_default()).expect("engine messages deserialise")
    }
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

#[reactor]
pub async fn Engine(mut scope: ReactorScope<RunRequest, EngineEvent>) {
    while let Some(request) = scope.next().await {
        // Events are queued while a step computes and flushed at the next await.
        let (tx, mut rx) = futures::channel::mpsc::unbounded::<EngineEvent>();
        let run = run(&request, tx);
        let forward = async {
            while let Some(event) = rx.next().await {
                if scope.send(event).await.is_err() {
                    break;
                }
            }
        };
        let (outcome, _) = futures::join!(run, forward);
        let last = match outcome {
            Ok(result) => EngineEvent::Done(Box::new(result)),
            Err(e) => EngineEvent::Failed(e.to_string()),
        };
        if scope.send(last).await.is_err() {
            break;
        }
    }
}

/// Lets queued messages go out before a long synchronous step.
async fn yield_now() {
    gloo::timers::future::TimeoutFuture::new(0).await;
}

async fn run(request: &RunRequest, events: UnboundedSender<EngineEvent>) -> Result<RunResult> {
    let mut host = WebHost {
        request,
        events,
        second: None,
        needs: Vec::new(),
        download: DownloadStats::default(),
        notes: Vec::new(),
        peer_memory: 0,
    };
    crate::run::run(&request.experiment, request.options.as_ref(), &mut host).await
}

/// The page's host of a run: files downloaded (and cached) from the request's URLs, the
/// forward on this worker and a second one.
struct WebHost<'a> {
    request: &'a RunRequest,
    events: UnboundedSender<EngineEvent>,
    /// Started with the download, so it gets ready (and warm) meanwhile.
    second: Option<SecondWorker>,
    /// What the run needs from the weights, to read them again if the second worker fails.
    needs: Vec<Need>,
    download: DownloadStats,
    notes: Vec<String>,
    peer_memory: u64,
}

impl WebHost<'_> {
    fn send(&self, event: EngineEvent) {
        let _ = self.events.unbounded_send(event);
    }

    /// A throttled progress reporter for a download: ten updates a second are plenty.
    fn progress(&self) -> impl FnMut(Progress) + '_ {
        let mut last_ms = 0.0;
        move |p: Progress| {
            let t = now_ms();
            if t - last_ms > 100.0 || Some(p.done) == p.total {
                last_ms = t;
                self.send(EngineEvent::Progress(p));
            }
        }
    }

    /// The forward on this worker alone (a second worker that failed leaves a note).
    async fn forward_alone(&mut self, plan: &ForwardPlan, header: &Header, bytes: &WeightBytes) -> Result<Forwarded> {
        let weights = plan.load(header, bytes, Shard::WHOLE)?;
        self.stage(Stage::Forward).await;
        let started_ms = now_ms();
        Ok(Forwarded {
            captures: plan.forward(&weights, &mut Alone).await?,
            started_ms,
            ranks: 1,
        })
    }

    /// Nothing is lost when the second worker fails: the run goes on in this worker alone,
    /// with the bytes read again if they went to the second worker (the cache has them, else
    /// the network).
    async fn fall_back(&mut self, why: Error, plan: &ForwardPlan, bytes: Option<(&Header, &WeightBytes)>) -> Result<Forwarded> {
        self.notes.push(format!(
            "the forward pass ran on one core: the second worker failed ({})",
            worker_failure(why)?
        ));
        self.second = None;
        if let Some((header, bytes)) = bytes {
            return self.forward_alone(plan, header, bytes).await;
        }
        let (header, bytes, again) = load_weight_bytes(&self.request.model.weights, &self.needs, self.progress()).await?;
        self.download.bytes_downloaded += again.bytes_downloaded;
        self.download.requests += again.requests;
        self.forward_alone(plan, &header, &bytes).await
    }
}

impl RunHost for WebHost<'_> {
    type Bytes = WeightBytes;

    fn now_ms(&self) -> f64 {
        now_ms()
    }

    async fn stage(&mut self, stage: Stage) {
        self.send(EngineEvent::Stage(stage));
        // Before a long synchronous step, the queued messages go out first.
        if matches!(stage, Stage::Convert | Stage::Forward | Stage::Analysis) {
            yield_now().await;
        }
    }

    async fn read(&mut self, file: ModelFile) -> Result<Vec<u8>> {
        let model = &self.request.model;
        match file {
            ModelFile::Config => Ok(fetch_cached(&model.config).await?.0),
            ModelFile::Tokenizer => match (fetch_cached(&model.tokenizer).await, &model.fallback_tokenizer) {
                (Ok((t, _)), _) => Ok(t),
                // GPT-2 sizes share one tokenizer: use the site's when the folder has none.
                (Err(Error::Fetch { status: Some(404), .. }), Some(fallback)) => Ok(fetch_cached(fallback).await?.0),
                (Err(e), _) => Err(e),
            },
        }
    }

    async fn weights(&mut self, plan: &ForwardPlan) -> Result<(Header, WeightBytes)> {
        self.needs = plan.weight_needs()?;
        // Started now, the second worker starts and warms up while the weights download. No
        // second worker for a one-head model: there is nothing to split.
        let two = self.request.workers.unwrap_or(2) >= 2 && super::peer::cores() >= 2 && plan.config.n_head >= 2;
        self.second = two.then(SecondWorker::spawn).and_then(|s| s.ok());
        let download = load_weight_bytes(&self.request.model.weights, &self.needs, self.progress());
        // This worker's hot code gets optimised before the forward (see model/warm.rs), while
        // its requests are under way. Only a speed-up: its failure would not stop the run.
        let warm = async {
            yield_now().await;
            let _ = crate::model::warm::warm_up(12, now_ms);
        };
        let (downloaded, ()) = futures::join!(download, warm);
        let (header, bytes, stats) = downloaded?;
        self.download = stats;
        Ok((header, bytes))
    }

    async fn forward(&mut self, plan: &ForwardPlan, header: &Header, bytes: WeightBytes) -> Result<Forwarded> {
        let Some(mut peer) = self.second.take() else {
            return self.forward_alone(plan, header, &bytes).await;
        };
        // A second worker that never got ready leaves the bytes here, for this worker alone.
        if let Err(e) = peer.ready().await {
            return self.fall_back(e, plan, Some((header, &bytes))).await;
        }
        match forward_on_two(self, plan, header, bytes, &mut peer).await {
            Ok(forwarded) => Ok(forwarded),
            Err(e) => self.fall_back(e, plan, None).await,
        }
    }

    fn report(&mut self) -> HostReport {
        let d = &self.download;
        if d.not_cached > 0 {
            self.notes.push(format!(
                "the browser's storage is full: {} downloaded pieces could not be kept, so the next visit downloads them again (free space in the storage panel)",
                d.not_cached
            ));
        }
        HostReport {
            model_file_bytes: Some(d.file_bytes),
            download: Some(Download {
                bytes_downloaded: d.bytes_downloaded,
                bytes_from_cache: d.bytes_from_cache,
                requests: d.requests,
                partial: d.partial,
            }),
            wasm_memory_bytes: Some(wasm_memory_bytes() + self.peer_memory),
            peak_rss_bytes: None,
            notes: std::mem::take(&mut self.notes),
        }
    }
}

/// Why the second worker failed, for the note; any other error ends the run.
fn worker_failure(e: Error) -> Result<String> {
    match e {
        Error::Worker(why) => Ok(why),
        other => Err(other),
    }
}

/// This worker loads its half of the weights, hands the bytes to the second worker (moved, not
/// copied), which loads its half; then both run the forward. `peer` is ready.
async fn forward_on_two(
    host: &mut WebHost<'_>,
    plan: &ForwardPlan,
    header: &Header,
    bytes: WeightBytes,
    peer: &mut SecondWorker,
) -> Result<Forwarded> {
    let weights = plan.load(header, &bytes, Shard::new(0, 2)?)?;
    peer.start(header, plan, bytes)?;
    peer.loaded().await?;
    host.stage(Stage::Forward).await;
    let started_ms = now_ms();
    let captures = plan.forward(&weights, &mut peer.exchange()).await?;
    drop(weights);
    // The captures are complete here: a failure now only loses the second worker's memory size.
    host.peer_memory = peer.done().await.unwrap_or(0);
    Ok(Forwarded {
        captures,
        started_ms,
        ranks: 2,
    })
}

/// Where a dying worker reports its panic (a worker cannot unwind, and the bridge would wait).
pub const CRASH_CHANNEL: &str = "qk-lens-engine-crash";

pub fn report_crash(message: &str) {
    if let Ok(channel) = web_sys::BroadcastChannel::new(CRASH_CHANNEL) {
        let _ = channel.post_message(&JsValue::from_str(message));
    }
}

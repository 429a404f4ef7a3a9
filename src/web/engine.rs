//! The engine in a Web Worker: it downloads the model's files and runs the pipeline, reporting
//! each stage and the download's progress, so the page never freezes. The page sends a
//! [`RunRequest`]; the worker answers with a stream of [`EngineEvent`]s ending in Done or Failed.

use futures::{SinkExt, StreamExt};
use gloo::worker::reactor::{reactor, ReactorScope};
use gloo::worker::Codec;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

use super::hub::{fetch_cached, load_weight_bytes, WeightBytes};
use super::peer::{wasm_memory_bytes, SecondWorker};
use crate::error::{Error, Result};
use crate::model::plan::Header;
use crate::model::shard::Shard;
use crate::model::Capture;
use crate::pipeline::{self, Prepared};
use crate::result::{RunResult, RunStats};

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

async fn run(request: &RunRequest, events: futures::channel::mpsc::UnboundedSender<EngineEvent>) -> Result<RunResult> {
    let send = |e: EngineEvent| {
        let _ = events.unbounded_send(e);
    };
    let RunRequest {
        experiment,
        model,
        options,
        workers,
    } = request;
    experiment.validate()?;
    let t_start = now_ms();
    send(EngineEvent::Stage(Stage::Config));
    let (config, _) = fetch_cached(&model.config).await?;
    send(EngineEvent::Stage(Stage::Tokenizer));
    let tokenizer = match (fetch_cached(&model.tokenizer).await, &model.fallback_tokenizer) {
        (Ok((t, _)), _) => t,
        // GPT-2 sizes share one tokenizer: use the site's when the folder has none.
        (Err(Error::Fetch { status: Some(404), .. }), Some(fallback)) => fetch_cached(fallback).await?.0,
        (Err(e), _) => return Err(e),
    };
    let prepared = pipeline::prepare_with(experiment, options.as_ref(), &config, &tokenizer)?;
    send(EngineEvent::Stage(Stage::Weights));
    let t_download = now_ms();
    let needs = prepared.weight_needs()?;
    // Started now, the second worker starts and warms up while the weights download.
    let two = workers.unwrap_or(2) >= 2 && super::peer::cores() >= 2 && prepared.config.n_head >= 2;
    let mut second = two.then(SecondWorker::spawn).and_then(|s| s.ok());
    let download = load_weight_bytes(&model.weights, &needs, progress_events(&send));
    // This worker's hot code gets optimised before the forward (see model/warm.rs), while its
    // requests are under way (the browser receives the bytes meanwhile). Only a speed-up: its
    // failure would not stop the run.
    let warm = async {
        yield_now().await;
        let _ = crate::model::warm::warm_up(12, now_ms);
    };
    let (downloaded, ()) = futures::join!(download, warm);
    let (header, bytes, mut download) = downloaded?;
    send(EngineEvent::Stage(Stage::Convert));
    yield_now().await;
    let t_load = now_ms();
    let mut fell_back = None;
    // A second worker that never got ready leaves the bytes here, for this worker alone.
    if let Some(peer) = second.as_mut() {
        if let Err(e) = peer.ready().await {
            fell_back = Some(worker_failure(e)?);
            second = None;
        }
    }
    let forwarded = match second.as_mut() {
        Some(peer) => match forward_on_two(&prepared, &header, bytes, peer, &send).await {
            Err(e) => {
                // Nothing is lost: the run goes on in this worker alone, with the bytes read
                // again (they went to the second worker; the cache has them, else the network).
                fell_back = Some(worker_failure(e)?);
                second = None;
                let (header, bytes, again) = load_weight_bytes(&model.weights, &needs, progress_events(&send)).await?;
                download.bytes_downloaded += again.bytes_downloaded;
                download.requests += again.requests;
                forward_alone(&prepared, &header, &bytes, &send).await?
            }
            Ok(forwarded) => forwarded,
        },
        None => forward_alone(&prepared, &header, &bytes, &send).await?,
    };
    drop(second);
    let Forwarded {
        captures,
        t_forward,
        ranks,
        other_memory,
    } = forwarded;
    send(EngineEvent::Stage(Stage::Analysis));
    yield_now().await;
    let t_analysis = now_ms();
    let mut result = prepared.analyse_layers(&captures)?;
    if let Some(why) = fell_back {
        result
            .notes
            .push(format!("the forward pass ran on one core: the second worker failed ({why})"));
    }
    if download.not_cached > 0 {
        result.notes.push(format!(
            "the browser's storage is full: {} downloaded pieces could not be kept, so the next visit downloads them again (free space in the storage panel)",
            download.not_cached
        ));
    }
    let t_end = now_ms();
    result.stats = Some(RunStats {
        model_file_bytes: Some(download.file_bytes),
        bytes_downloaded: Some(download.bytes_downloaded),
        bytes_from_cache: Some(download.bytes_from_cache),
        http_requests: Some(download.requests),
        partial_download: Some(download.partial),
        download_ms: Some(t_load - t_download),
        load_ms: Some(t_forward - t_load),
        forward_ms: Some(t_analysis - t_forward),
        analysis_ms: Some(t_end - t_analysis),
        total_ms: Some(t_end - t_start),
        forward_ranks: Some(ranks),
        wasm_memory_bytes: Some(wasm_memory_bytes() + other_memory),
        peak_rss_bytes: None,
    });
    Ok(result)
}

/// A throttled progress reporter for a download.
fn progress_events(send: &impl Fn(EngineEvent)) -> impl FnMut(Progress) + '_ {
    let mut last_ms = 0.0;
    move |p: Progress| {
        // Ten updates a second are plenty for a progress bar.
        let t = now_ms();
        if t - last_ms > 100.0 || Some(p.done) == p.total {
            last_ms = t;
            send(EngineEvent::Progress(p));
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

/// The forward's captures, when it started (after loading), and on how many workers.
struct Forwarded {
    captures: Vec<Capture>,
    t_forward: f64,
    ranks: u32,
    /// The second worker's wasm memory.
    other_memory: u64,
}

async fn forward_alone(
    prepared: &Prepared,
    header: &Header,
    bytes: &WeightBytes,
    send: &impl Fn(EngineEvent),
) -> Result<Forwarded> {
    let weights = prepared.load_weights(header, bytes)?;
    send(EngineEvent::Stage(Stage::Forward));
    yield_now().await;
    let t_forward = now_ms();
    Ok(Forwarded {
        captures: prepared.capture_layers(&weights)?,
        t_forward,
        ranks: 1,
        other_memory: 0,
    })
}

/// This worker loads its half of the weights, hands the bytes to the second worker (moved, not
/// copied), which loads its half; then both run the forward. `peer` is ready.
async fn forward_on_two(
    prepared: &Prepared,
    header: &Header,
    bytes: WeightBytes,
    peer: &mut SecondWorker,
    send: &impl Fn(EngineEvent),
) -> Result<Forwarded> {
    let ids = prepared.prompts.token_ids();
    let weights = prepared.load_weights_shard(header, &bytes, Shard::new(0, 2)?)?;
    peer.start(header, &prepared.config, prepared.top_layer(), prepared.sweep(), &ids, bytes)?;
    peer.loaded().await?;
    send(EngineEvent::Stage(Stage::Forward));
    yield_now().await;
    let t_forward = now_ms();
    let captures = prepared.capture_layers_sharded(&weights, &mut peer.exchange()).await?;
    drop(weights);
    // The captures are complete here: a failure now only loses the second worker's memory size.
    let other_memory = peer.done().await.unwrap_or(0);
    Ok(Forwarded {
        captures,
        t_forward,
        ranks: 2,
        other_memory,
    })
}

/// Where a dying worker reports its panic (a worker cannot unwind, and the bridge would wait).
pub const CRASH_CHANNEL: &str = "qk-lens-engine-crash";

pub fn report_crash(message: &str) {
    if let Ok(channel) = web_sys::BroadcastChannel::new(CRASH_CHANNEL) {
        let _ = channel.post_message(&JsValue::from_str(message));
    }
}

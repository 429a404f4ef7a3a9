//! The engine in a Web Worker: it downloads the model's files and runs the pipeline, reporting
//! each stage and the download's progress, so the page never freezes. The page sends a
//! [`RunRequest`]; the worker answers with a stream of [`EngineEvent`]s ending in Done or Failed.

use futures::{SinkExt, StreamExt};
use gloo::worker::reactor::{reactor, ReactorScope};
use gloo::worker::Codec;
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};

use super::fetch::Progress;
use super::hub::{fetch_cached, load_weight_bytes};
use crate::analysis::report::ExtendedOptions;
use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::pipeline;
use crate::result::{RunResult, RunStats};

/// Absolute URLs of a model's three files (a hub folder, a custom folder, or local files).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelFiles {
    pub config: String,
    pub weights: String,
    pub tokenizer: String,
    /// Tried when `tokenizer` is not found (404): the GPT-2 tokenizer shipped with the site.
    pub fallback_tokenizer: Option<String>,
}

impl ModelFiles {
    /// The three files under a folder URL ending in `/`.
    pub fn in_folder(base: &str, fallback_tokenizer: Option<String>) -> Self {
        ModelFiles {
            config: format!("{base}config.json"),
            weights: format!("{base}model.safetensors"),
            tokenizer: format!("{base}tokenizer.json"),
            fallback_tokenizer,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    pub experiment: Experiment,
    pub model: ModelFiles,
    /// The analyses beyond the lecture (layer sweep, heads, V, statistics...); None: the lecture's.
    #[serde(default)]
    pub options: Option<ExtendedOptions>,
}

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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EngineEvent {
    Stage(Stage),
    Progress(Progress),
    Done(Box<RunResult>),
    Failed(String),
}

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
    let mut last_ms = 0.0;
    let (header, bytes, download) = load_weight_bytes(&model.weights, &prepared.weight_needs()?, |p: Progress| {
        // Ten updates a second are plenty for a progress bar.
        let t = now_ms();
        if t - last_ms > 100.0 || Some(p.done) == p.total {
            last_ms = t;
            send(EngineEvent::Progress(p));
        }
    })
    .await?;
    send(EngineEvent::Stage(Stage::Convert));
    yield_now().await;
    let t_load = now_ms();
    let weights = prepared.load_weights(&header, &bytes)?;
    drop(bytes);
    send(EngineEvent::Stage(Stage::Forward));
    yield_now().await;
    let t_forward = now_ms();
    let captures = prepared.capture_layers(&weights)?;
    drop(weights);
    send(EngineEvent::Stage(Stage::Analysis));
    yield_now().await;
    let t_analysis = now_ms();
    let mut result = prepared.analyse_layers(&captures)?;
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
        wasm_memory_bytes: Some(wasm_memory_bytes()),
        peak_rss_bytes: None,
    });
    Ok(result)
}

/// Current size of the wasm linear memory; it never shrinks, so after a run it is the peak.
fn wasm_memory_bytes() -> u64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    memory.buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length() as u64
}

/// Where a dying worker reports its panic (a worker cannot unwind, and the bridge would wait).
pub const CRASH_CHANNEL: &str = "qk-lens-engine-crash";

pub fn report_crash(message: &str) {
    if let Ok(channel) = web_sys::BroadcastChannel::new(CRASH_CHANNEL) {
        let _ = channel.post_message(&JsValue::from_str(message));
    }
}

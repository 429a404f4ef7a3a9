//! One run in the page: download the model's files, then the same pipeline as the CLI.
//! The page stays in charge between steps, so progress is painted as it happens.

use std::rc::Rc;

use gloo::timers::future::TimeoutFuture;
use yew::UseReducerDispatcher as Dispatcher;

use super::state::{Action, Stage, State};
use crate::error::{Error, Result};
use crate::experiment::Experiment;
use crate::pipeline;
use crate::result::{RunResult, RunStats};
use crate::web::fetch::{fetch_bytes, fetch_text, Progress};
use crate::web::hub::load_weight_bytes;
use crate::web::params::absolute_url;
use wasm_bindgen::JsCast;

/// The GPT-2 tokenizer shipped with the site, for model folders without tokenizer.json.
const BUNDLED_TOKENIZER: &str = "gpt2-tokenizer.json";

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Lets the browser paint before the next step.
async fn next_frame() {
    TimeoutFuture::new(16).await;
}

pub async fn load_experiment(url: &str) -> Result<Experiment> {
    let text = fetch_text(url).await?;
    Experiment::from_json(&text)
}

pub async fn run(experiment: Experiment, base: String, dispatch: Dispatcher<State>) {
    let outcome = run_steps(&experiment, &base, &dispatch).await;
    match outcome {
        Ok(result) => dispatch.dispatch(Action::Finished(Rc::new(result), now_ms())),
        Err(e) => dispatch.dispatch(Action::Failed(e.to_string())),
    }
}

async fn run_steps(experiment: &Experiment, base: &str, dispatch: &Dispatcher<State>) -> Result<RunResult> {
    experiment.validate()?;
    let t_start = now_ms();
    dispatch.dispatch(Action::Stage(Stage::Config, now_ms()));
    let config = fetch_bytes(&format!("{base}config.json"), |_| {}).await?;
    dispatch.dispatch(Action::Stage(Stage::Tokenizer, now_ms()));
    let tokenizer = match fetch_bytes(&format!("{base}tokenizer.json"), |_| {}).await {
        Ok(t) => t,
        // GPT-2 sizes share one tokenizer: fall back to ours when the folder has none.
        Err(Error::Input { detail, .. }) if detail.starts_with("HTTP 404") => {
            fetch_bytes(&absolute_url(BUNDLED_TOKENIZER), |_| {}).await?
        }
        Err(e) => return Err(e),
    };
    let prepared = pipeline::prepare(experiment, &config, &tokenizer)?;
    dispatch.dispatch(Action::Stage(Stage::Weights, now_ms()));
    let t_download = now_ms();
    let mut last_ms = 0.0;
    let (header, bytes, download) = load_weight_bytes(
        &format!("{base}model.safetensors"),
        &prepared.weight_needs()?,
        |p: Progress| {
            // A re-render per chunk would cost more than the download: ten updates a second.
            let t = now_ms();
            if t - last_ms > 100.0 || Some(p.done) == p.total {
                last_ms = t;
                dispatch.dispatch(Action::Progress(p));
            }
        },
    )
    .await?;
    dispatch.dispatch(Action::Stage(Stage::Compute, now_ms()));
    next_frame().await;
    let t_load = now_ms();
    let weights = prepared.load_weights(&header, &bytes)?;
    drop(bytes);
    let t_forward = now_ms();
    let capture = prepared.capture(&weights)?;
    drop(weights);
    let t_analysis = now_ms();
    let mut result = prepared.analyse(&capture)?;
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

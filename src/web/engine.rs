//! The engine in a Web Worker: runs (`run::Session`) over a host that downloads the model's
//! files (cached) and runs the forward on two workers, reporting each stage and the download's
//! progress, so the page never freezes. The model stays in memory between runs (the live lab):
//! an edit reads and packs only what no earlier run did. The page sends a run
//! ([`EngineRequest::Run`]); the worker answers with a stream of [`EngineEvent`]s ending in
//! Done or Failed. While the page waits for a pause in typing it may send a read-ahead
//! ([`EngineRequest::ReadAhead`]), answered with nothing.

use futures::StreamExt;
use wasm_bindgen::{JsCast, JsValue};

use futures::channel::mpsc::UnboundedSender;

use super::engine_bridge::EngineScope;
use super::revision::{self, Resolved};
use super::web_host::{Ranks, WebHost};
use crate::error::Result;
use crate::result::RunResult;
use crate::run::Session;

pub use crate::protocol::{EngineEvent, EngineRequest, ModelFiles, Progress, RunRequest, Stage, TestFault};

pub(super) fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// The engine worker's life: it listens at once, then answers requests one at a time.
pub fn serve() {
    let scope = EngineScope::listen();
    wasm_bindgen_futures::spawn_local(serve_requests(scope));
}

async fn serve_requests(mut scope: EngineScope) {
    // Kept between runs: the live lab's edits reuse the model, its weights and its captures.
    let mut session = Session::default();
    let mut ranks = Ranks::default();
    // The revision found for the model of the last run: the live lab's edits reuse it (the
    // model stays resident) instead of asking the hub again.
    let mut resolved: Option<(ModelFiles, Resolved)> = None;
    while let Some(request) = scope.next().await {
        let request = match request {
            EngineRequest::Run(request) => request,
            EngineRequest::ReadAhead(request) => {
                // Typing sends one per edit: only the last of those waiting is worth its work
                // (a forward ahead of a run that has already been asked for would delay it).
                if !scope.more_waiting() {
                    read_ahead(&mut session, &mut ranks, &resolved, &request).await;
                }
                continue;
            }
        };
        // Events are queued while a step computes and flushed at the next await.
        let (tx, mut rx) = futures::channel::mpsc::unbounded::<EngineEvent>();
        let run = run(&mut session, &mut ranks, &mut resolved, &request, tx);
        let forward = async {
            while let Some(event) = rx.next().await {
                scope.send(&event);
            }
        };
        let (outcome, _) = futures::join!(run, forward);
        let last = match outcome {
            Ok(mut result) => {
                if let Some(stats) = result.stats.as_mut() {
                    stats.run_id = request.run_id;
                }
                EngineEvent::Done(Box::new(result))
            }
            Err(e) => EngineEvent::Failed(e.to_string()),
        };
        scope.send(&last);
        // After the result is out: what this worker packed is kept for the next visit.
        ranks.keep_packed().await;
    }
}

/// Works ahead for `request` (see [`Session::read_ahead`]) when its model is the one the last
/// run resolved; a failure is only logged: the run reads and forwards as usual.
async fn read_ahead(session: &mut Session, ranks: &mut Ranks, resolved: &Option<(ModelFiles, Resolved)>, request: &RunRequest) {
    let Some(found) = found_for(resolved, request) else {
        return;
    };
    let request = &at_revision(request, found);
    // Nobody listens: a read-ahead reports no stage and no progress.
    let (events, _) = futures::channel::mpsc::unbounded::<EngineEvent>();
    let mut host = WebHost::new(request, events, ranks);
    if let Err(e) = session
        .read_ahead(&request.experiment, request.options.as_ref(), &mut host)
        .await
    {
        web_sys::console::warn_1(&format!("QK Lens: reading ahead failed (the run will read): {e}").into());
    }
}

/// The revision found for `request`'s model by an earlier run, if its model was the same.
fn found_for<'a>(resolved: &'a Option<(ModelFiles, Resolved)>, request: &RunRequest) -> Option<&'a Resolved> {
    resolved
        .as_ref()
        .filter(|(asked, _)| *asked == request.model)
        .map(|(_, found)| found)
}

/// `request` with its model's files at the revision found.
fn at_revision(request: &RunRequest, found: &Resolved) -> RunRequest {
    RunRequest {
        model: found.files.clone(),
        ..request.clone()
    }
}

/// Lets queued messages go out before a long synchronous step.
pub(super) async fn yield_now() {
    gloo::timers::future::TimeoutFuture::new(0).await;
}

/// Lets the worker's other tasks run, without the 4 ms a chain of timers waits for (a message
/// to itself is a new task at once).
pub(super) async fn next_task() {
    let Ok(channel) = web_sys::MessageChannel::new() else {
        return yield_now().await;
    };
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    let woken = wasm_bindgen::closure::Closure::once(move || {
        let _ = tx.send(());
    });
    channel.port2().set_onmessage(Some(woken.as_ref().unchecked_ref()));
    if channel.port1().post_message(&JsValue::NULL).is_err() {
        return yield_now().await;
    }
    let _ = rx.await;
    channel.port2().set_onmessage(None);
}

async fn run(
    session: &mut Session,
    ranks: &mut Ranks,
    resolved: &mut Option<(ModelFiles, Resolved)>,
    request: &RunRequest,
    events: UnboundedSender<EngineEvent>,
) -> Result<RunResult> {
    let notice = events.clone();
    revision::on_wait(Some(Box::new(move |p| {
        let _ = notice.unbounded_send(EngineEvent::Progress(p));
    })));
    let outcome = run_at_revision(session, ranks, resolved, request, events).await;
    // Drops the notice's sender: the page's event stream ends with the run.
    let counts = revision::counts();
    revision::on_wait(None);
    let mut result = outcome?;
    let stats = result.stats.get_or_insert_with(Default::default);
    stats.rate_limit_waits = Some(counts.rate_limit_waits).filter(|&n| n > 0);
    stats.rate_limit_wait_s = Some(counts.rate_limit_wait_s).filter(|_| counts.rate_limit_waits > 0);
    stats.expired_links = Some(counts.expired_links).filter(|&n| n > 0);
    Ok(result)
}

/// The run at the model's revision (found once per model, see [`revision::resolve`]).
async fn run_at_revision(
    session: &mut Session,
    ranks: &mut Ranks,
    resolved: &mut Option<(ModelFiles, Resolved)>,
    request: &RunRequest,
    events: UnboundedSender<EngineEvent>,
) -> Result<RunResult> {
    let found = match found_for(resolved, request) {
        Some(found) => found.clone(),
        None => {
            let found = revision::resolve(&request.model).await?;
            *resolved = Some((request.model.clone(), found.clone()));
            found
        }
    };
    let request = &at_revision(request, &found);
    let mut host = WebHost::new(request, events, ranks);
    let mut result = session.run(&request.experiment, request.options.as_ref(), &mut host).await?;
    if let (Some(rev), Some(source)) = (&found.files.revision, found.source) {
        let stats = result.stats.get_or_insert_with(Default::default);
        stats.revision = Some(rev.clone());
        stats.revision_source = Some(source.to_string());
        result.notes.push(match source {
            revision::SOURCE_OFFLINE => {
                format!("offline: the hub could not be reached, so this used revision {rev}, the newest kept in this browser")
            }
            _ => format!("model revision {rev} ({source})"),
        });
    }
    Ok(result)
}

/// Where a dying worker reports its panic (a worker cannot unwind, and the bridge would wait).
pub const CRASH_CHANNEL: &str = "qk-lens-engine-crash";

/// Also closes this worker: its wasm is poisoned now, and would only panic again at the next
/// message (the page's goodbye among them) and report a second crash.
pub fn report_crash(message: &str) {
    if let Ok(channel) = web_sys::BroadcastChannel::new(CRASH_CHANNEL) {
        let _ = channel.post_message(&JsValue::from_str(message));
    }
    if let Ok(scope) = js_sys::global().dyn_into::<web_sys::DedicatedWorkerGlobalScope>() {
        scope.close();
    }
}

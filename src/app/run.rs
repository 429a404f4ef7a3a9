//! Runs in the page's name: the engine works in a Web Worker; its events become actions.

use std::cell::RefCell;
use std::rc::Rc;

use futures::channel::oneshot;
use futures::{FutureExt, StreamExt};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use yew::UseReducerDispatcher as Dispatcher;

use super::state::{Action, State};
use crate::experiment::Experiment;
use crate::model::token_memo::encodings_of;
use crate::web::engine::{EngineEvent, EngineRequest, Progress, RunRequest, Stage, CRASH_CHANNEL};
use crate::web::engine_bridge::EngineBridge;
use crate::web::fetch::js_message;
use crate::web::params::{absolute_url, PageParams};

/// Trunk's loader for the worker build (src/bin/worker.rs).
const WORKER_LOADER: &str = "worker_loader.js";

/// The shell reads the clock; the reducer gets the time in the action.
fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Cancels the run under way (a new run replaces it).
pub type CancelSlot = Rc<RefCell<Option<oneshot::Sender<()>>>>;

/// A fresh cancel switch for a new run (replacing the previous run's).
pub fn cancel_on(slot: &CancelSlot) -> oneshot::Receiver<()> {
    let (tx, rx) = oneshot::channel();
    *slot.borrow_mut() = Some(tx);
    rx
}

pub fn cancel(slot: &CancelSlot) {
    if let Some(tx) = slot.borrow_mut().take() {
        let _ = tx.send(());
    }
}

/// The engine worker, kept between runs: the model stays in memory with it (the live lab).
/// A run takes it out and puts it back when it ends well; a cancelled, crashed or stopped
/// engine is dropped, and the next run starts a new one.
pub type EngineSlot = Rc<RefCell<Option<KeptEngine>>>;

/// The engine worker and the weights file its runs opened (none yet: a new engine).
pub struct KeptEngine {
    bridge: EngineBridge,
    model: Option<String>,
}

impl KeptEngine {
    /// A new engine worker.
    pub fn spawn() -> Option<Self> {
        let bridge = spawn_engine().ok()?;
        Some(KeptEngine { bridge, model: None })
    }

    /// The kept engine for a run of the model whose weights are `model`: another model gets a
    /// new worker (the kept one is dropped). Wasm memory never shrinks, so the memory of the
    /// model held before goes back to the system only with its worker; a model switch then
    /// holds what that model alone needs, whatever was held before.
    fn for_model(kept: Option<Self>, model: &str) -> Result<EngineBridge, String> {
        match kept {
            Some(k) if k.model.as_deref().is_none_or(|m| m == model) => Ok(k.bridge),
            _ => spawn_engine(),
        }
    }
}

/// What a run needs from the app besides the state.
#[derive(Clone)]
pub struct Runner {
    pub cancel: CancelSlot,
    pub engine: EngineSlot,
}

/// A run of `experiment` on the state's model and options, as the next run.
fn request_for(state: &State, experiment: Experiment) -> RunRequest {
    // The engine need not parse its own tokenizer for texts the page's encoded.
    let encodings = state.tokenizer.as_ref().and_then(|t| encodings_of(&experiment, &t.0, &t.1));
    RunRequest {
        experiment,
        model: state.model_files(absolute_url),
        options: state.run_options(),
        workers: PageParams::from_location().workers,
        run_id: Some(state.runs + 1),
        fault: crate::web::fault::for_run(Some(state.runs + 1)),
        encodings,
    }
}

/// Asks the kept engine, if idle, to work ahead on a run of the state's experiment while the
/// live lab waits for a pause in typing: it reads what the run would read beyond the resident
/// model (a new word's row) and forwards a new word's prompt, so the run finds both done.
pub fn read_ahead(state: &State, runner: &Runner) {
    if let Some(KeptEngine { bridge, .. }) = runner.engine.borrow().as_ref().filter(|_| !state.busy()) {
        let request = request_for(state, state.experiment.clone());
        // A test's fault must meet the run's own work, not work done ahead of it.
        if request.fault.is_none() {
            bridge.send(&EngineRequest::ReadAhead(request));
        }
    }
}

/// Runs `experiment` on the state's model and options, unless a run is under way.
pub fn start(state: &State, dispatch: Dispatcher<State>, runner: &Runner, experiment: Experiment) {
    if !state.busy() {
        let request = request_for(state, experiment);
        let cancel = cancel_on(&runner.cancel);
        yew::platform::spawn_local(run(request, dispatch, runner.engine.clone(), cancel));
    }
}

/// Listens for the panic message of a dying engine worker while a run is under way.
struct CrashWatch {
    channel: Option<web_sys::BroadcastChannel>,
    _on_message: Option<Closure<dyn FnMut(web_sys::MessageEvent)>>,
    reports: futures::channel::mpsc::UnboundedReceiver<String>,
}

impl CrashWatch {
    fn new() -> Self {
        let (tx, reports) = futures::channel::mpsc::unbounded::<String>();
        let channel = web_sys::BroadcastChannel::new(CRASH_CHANNEL).ok();
        let on_message = channel.as_ref().map(|ch| {
            let f = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                let _ = tx.unbounded_send(e.data().as_string().unwrap_or_default());
            });
            ch.set_onmessage(Some(f.as_ref().unchecked_ref()));
            f
        });
        CrashWatch {
            channel,
            _on_message: on_message,
            reports,
        }
    }
}

impl Drop for CrashWatch {
    fn drop(&mut self) {
        if let Some(ch) = &self.channel {
            ch.set_onmessage(None);
            ch.close();
        }
    }
}

/// A new engine worker.
fn spawn_engine() -> Result<EngineBridge, String> {
    EngineBridge::spawn(&absolute_url(WORKER_LOADER))
        .map_err(|e| format!("this browser could not start the engine's Web Worker: {}", js_message(&e)))
}

/// A run's stages and progress show once it has lasted this long: a live edit's stages come
/// and go within it (nothing anyone could read), and each one shown renders the page again, on
/// the two cores the workers' forward needs.
const QUIET_MS: u32 = 150;

/// The latest stage and progress of a run not shown yet, with when they came.
#[derive(Default)]
struct Held {
    stage: Option<(Stage, f64)>,
    progress: Option<(Progress, f64)>,
}

impl Held {
    fn show(self, dispatch: &Dispatcher<State>) {
        if let Some((stage, at)) = self.stage {
            dispatch.dispatch(Action::Stage(stage, at));
        }
        if let Some((p, at)) = self.progress {
            dispatch.dispatch(Action::Progress(p, at));
        }
    }
}

/// Sends `request` to the engine (the kept one, or a new one), dispatching its progress, until
/// it ends or `cancel` fires (the worker is then dropped: downloads stop; complete pieces stay
/// cached).
pub async fn run(request: RunRequest, dispatch: Dispatcher<State>, engine: EngineSlot, cancel: oneshot::Receiver<()>) {
    dispatch.dispatch(Action::Started(now_ms()));
    let model = request.model.weights.clone();
    let mut bridge = match KeptEngine::for_model(engine.borrow_mut().take(), &model) {
        Ok(bridge) => bridge,
        Err(why) => return dispatch.dispatch(Action::Failed(why)),
    };
    bridge.send(&EngineRequest::Run(request));
    let mut cancel = cancel.fuse();
    let mut crashed = CrashWatch::new();
    let mut quiet = gloo::timers::future::TimeoutFuture::new(QUIET_MS).fuse();
    let mut held = Some(Held::default());
    loop {
        let event = futures::select! {
            event = bridge.next().fuse() => event,
            _ = cancel => {
                drop(bridge);
                dispatch.dispatch(Action::Cancelled);
                return;
            }
            message = crashed.reports.next() => {
                let detail = message.unwrap_or_default();
                dispatch.dispatch(Action::Failed(format!("internal error in the engine: it crashed (please report it; Run to try again): {detail}")));
                return;
            }
            () = quiet => {
                held.take().unwrap_or_default().show(&dispatch);
                continue;
            }
        };
        let event = match event {
            Some(Ok(event)) => event,
            // The worker is dropped with the bridge: the next run starts a new one.
            Some(Err(why)) => {
                return dispatch.dispatch(Action::Failed(format!(
                    "internal error: the engine sent {why} (please report it; Run to try again)"
                )))
            }
            None => break,
        };
        match (event, held.as_mut()) {
            (EngineEvent::Stage(stage), Some(held)) => (held.stage, held.progress) = (Some((stage, now_ms())), None),
            (EngineEvent::Progress(p), Some(held)) => held.progress = Some((p, now_ms())),
            (EngineEvent::Stage(stage), None) => dispatch.dispatch(Action::Stage(stage, now_ms())),
            (EngineEvent::Progress(p), None) => dispatch.dispatch(Action::Progress(p, now_ms())),
            (EngineEvent::Done(result), _) => {
                *engine.borrow_mut() = Some(KeptEngine {
                    bridge,
                    model: Some(model),
                });
                dispatch.dispatch(Action::Finished(Rc::new(*result), now_ms()));
                return;
            }
            (EngineEvent::Failed(msg), _) => {
                *engine.borrow_mut() = Some(KeptEngine {
                    bridge,
                    model: Some(model),
                });
                dispatch.dispatch(Action::Failed(msg));
                return;
            }
        }
    }
    dispatch.dispatch(Action::Failed(
        "the engine stopped unexpectedly (see the browser console)".into(),
    ));
}

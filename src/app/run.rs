//! Runs in the page's name: the engine works in a Web Worker; its events become actions.

use std::rc::Rc;

use futures::channel::oneshot;
use futures::{FutureExt, StreamExt};
use gloo::worker::Spawnable;
use yew::UseReducerDispatcher as Dispatcher;

use super::state::{Action, State};
use crate::error::Result;
use crate::experiment::Experiment;
use crate::web::engine::{Engine, EngineEvent, JsonCodec, ModelFiles, RunRequest};
use crate::web::fetch::fetch_text;
use crate::web::params::absolute_url;

/// Trunk's loader for the worker build (src/bin/worker.rs).
const WORKER_LOADER: &str = "worker_loader.js";

fn now_ms() -> f64 {
    js_sys::Date::now()
}

pub async fn load_experiment(url: &str) -> Result<Experiment> {
    let text = fetch_text(url).await?;
    Experiment::from_json(&text)
}

/// Runs `experiment` on `model` in a fresh worker, dispatching its progress, until it ends or
/// `cancel` fires (the worker is then dropped: downloads stop; complete pieces stay cached).
pub async fn run(experiment: Experiment, model: ModelFiles, dispatch: Dispatcher<State>, cancel: oneshot::Receiver<()>) {
    let request = RunRequest { experiment, model };
    dispatch.dispatch(Action::Started(now_ms()));
    let mut bridge = Engine::spawner()
        .encoding::<JsonCodec>()
        .spawn_with_loader(&absolute_url(WORKER_LOADER));
    bridge.send_input(request);
    let mut cancel = cancel.fuse();
    loop {
        let event = futures::select! {
            event = bridge.next() => event,
            _ = cancel => {
                drop(bridge);
                dispatch.dispatch(Action::Cancelled);
                return;
            }
        };
        let Some(event) = event else { break };
        match event {
            EngineEvent::Stage(stage) => dispatch.dispatch(Action::Stage(stage)),
            EngineEvent::Progress(p) => dispatch.dispatch(Action::Progress(p)),
            EngineEvent::Done(result) => {
                dispatch.dispatch(Action::Finished(Rc::new(*result), now_ms()));
                return;
            }
            EngineEvent::Failed(msg) => {
                dispatch.dispatch(Action::Failed(msg));
                return;
            }
        }
    }
    dispatch.dispatch(Action::Failed(
        "the engine stopped unexpectedly (see the browser console)".into(),
    ));
}

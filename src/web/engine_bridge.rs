//! The page's line to the engine worker, and the engine's end of it: JSON text over
//! `postMessage` (results hold optional fields that a binary codec cannot skip).
//!
//! The page may find the engine already started: index.html starts it at navigation when the
//! page will run at once (`&run=1`), so the engine's wasm loads while the page's does. The
//! worker's loader (scripts/hash-worker.sh) holds requests that come before the engine's wasm
//! listens, and index.html holds events that come before the page's does.

use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent, Worker};

use crate::protocol::{EngineEvent, EngineRequest};

/// Where index.html leaves the engine it started early: `{ worker, held }`, `held` being the
/// message events that came before the page listened.
const EARLY_ENGINE: &str = "qkEarlyEngine";

fn encode(message: &impl Serialize) -> JsValue {
    JsValue::from_str(&serde_json::to_string(message).expect("engine messages serialise"))
}

fn decode<T: DeserializeOwned>(data: &JsValue) -> Result<T, String> {
    let text = data.as_string().ok_or("a message that is not text")?;
    serde_json::from_str(&text).map_err(|e| format!("a message that does not parse ({e})"))
}

/// Messages become items of a stream: a message that does not decode ends it with why.
fn listener<T: DeserializeOwned + 'static>(tx: UnboundedSender<Result<T, String>>) -> Closure<dyn FnMut(MessageEvent)> {
    Closure::new(move |e: MessageEvent| {
        let data = e.data();
        if data.is_instance_of::<js_sys::WebAssembly::Module>() {
            return hold_module(&data);
        }
        let _ = tx.unbounded_send(decode(&data));
    })
}

/// Where the page holds the engine's compiled module (see [`EngineScope::listen`]).
const HELD_MODULE: &str = "qkEngineModule";

/// The page holds the engine's module for as long as it lives, and a little after: V8 shares
/// the machine code of a module compiled twice in one process while the first is alive, with
/// what its optimising compiler made of it. A reload's new engine then starts with the code
/// the last one optimised, instead of baseline code to warm up again (`model/warm.rs`).
fn hold_module(module: &JsValue) {
    if let Some(window) = web_sys::window() {
        let _ = js_sys::Reflect::set(&window, &HELD_MODULE.into(), module);
    }
}

/// The page's end: requests out, the engine's events in. Dropping it stops the worker (and
/// the second worker it started): downloads stop, the memory goes back to the system.
pub struct EngineBridge {
    worker: Worker,
    events: UnboundedReceiver<Result<EngineEvent, String>>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl EngineBridge {
    /// The engine index.html started (once), or a new worker from `loader`.
    pub fn spawn(loader: &str) -> Result<Self, JsValue> {
        let (tx, events) = unbounded();
        let on_message = listener(tx);
        let (worker, held) = match take_early() {
            Some(early) => early,
            None => (Worker::new(loader)?, js_sys::Array::new()),
        };
        let handler: &js_sys::Function = on_message.as_ref().unchecked_ref();
        worker.set_onmessage(Some(handler));
        // What came before the page listened, first (nothing can come in between).
        for e in held.iter() {
            let _ = handler.call1(&JsValue::NULL, &e);
        }
        Ok(EngineBridge {
            worker,
            events,
            _on_message: on_message,
        })
    }

    pub fn send(&self, request: &EngineRequest) {
        let _ = self.worker.post_message(&encode(request));
    }

    /// The next event; `Err` when a message did not decode (the bridge is then done).
    pub async fn next(&mut self) -> Option<Result<EngineEvent, String>> {
        self.events.next().await
    }
}

impl Drop for EngineBridge {
    fn drop(&mut self) {
        self.worker.set_onmessage(None);
        self.worker.terminate();
    }
}

/// The early engine and the events it sent so far, taken out of the page's globals.
fn take_early() -> Option<(Worker, js_sys::Array)> {
    let window = web_sys::window()?;
    let early = js_sys::Reflect::get(&window, &EARLY_ENGINE.into()).ok()?;
    if early.is_undefined() || early.is_null() {
        return None;
    }
    let _ = js_sys::Reflect::delete_property(&window, &EARLY_ENGINE.into());
    let worker = js_sys::Reflect::get(&early, &"worker".into())
        .ok()?
        .dyn_into::<Worker>()
        .ok()?;
    let held = js_sys::Reflect::get(&early, &"held".into())
        .ok()
        .and_then(|h| h.dyn_into::<js_sys::Array>().ok())
        .unwrap_or_default();
    Some((worker, held))
}

fn skipped(why: &str) {
    web_sys::console::error_1(&format!("QK Lens engine: skipped {why}").into());
}

/// The engine's end, in its worker: the page's requests in, events out.
pub struct EngineScope {
    scope: DedicatedWorkerGlobalScope,
    requests: UnboundedReceiver<Result<EngineRequest, String>>,
    /// A request taken out of `requests` by [`Self::more_waiting`], next in line.
    queued: Option<EngineRequest>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl EngineScope {
    /// Listens now (before any await), so no request is missed.
    pub fn listen() -> Self {
        let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        let (tx, requests) = unbounded();
        let on_message = listener(tx);
        scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        // The page keeps this worker's compiled module (see `hold_module`).
        let _ = scope.post_message(&wasm_bindgen::module());
        EngineScope {
            scope,
            requests,
            queued: None,
            _on_message: on_message,
        }
    }

    /// The next request; a message that does not decode is logged and skipped.
    pub async fn next(&mut self) -> Option<EngineRequest> {
        if let Some(request) = self.queued.take() {
            return Some(request);
        }
        loop {
            match self.requests.next().await? {
                Ok(request) => return Some(request),
                Err(e) => skipped(&e),
            }
        }
    }

    /// Whether another request has arrived already (it stays next in line).
    pub fn more_waiting(&mut self) -> bool {
        while self.queued.is_none() {
            match self.requests.try_recv() {
                Ok(Ok(request)) => self.queued = Some(request),
                Ok(Err(e)) => skipped(&e),
                // Nothing yet, or the page is gone.
                Err(_) => return false,
            }
        }
        true
    }

    pub fn send(&self, event: &EngineEvent) {
        let _ = self.scope.post_message(&encode(event));
    }
}

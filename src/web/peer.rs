//! The engine's second worker, for a forward pass on two cores (see `model/shard.rs`): the
//! engine worker (rank 0) starts it beside itself (the same wasm, told apart by its worker
//! name), hands it the downloaded bytes, and both load their half of every weight and run the
//! forward, swapping activations by postMessage. The weights are in memory once, split in two.
//!
//! The messages are [`PeerMessage`]s, posted as an array: the message as JSON text, then the
//! byte buffers it carries (moved, in its transfer list). `decode` reads them, in one place.

use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures::{FutureExt, StreamExt};
use js_sys::{Array, Float32Array, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DedicatedWorkerGlobalScope, Event, MessageEvent, Worker, WorkerGlobalScope, WorkerOptions};

use super::fetch::js_message;
use super::hub::{JsBytes, WeightBytes};
use super::packed_store::{self, PackedStore};
use crate::error::{Error, Result};
use crate::model::plan::{FetchedRanges, Header};
use crate::model::shard::{Exchange, Shard};
use crate::model::LayerWeights;
use crate::protocol::{PeerMessage, StoredConv, TestFault};
use crate::run::ForwardPlan;

/// How long the engine waits for the second worker to start once it needs it (it started when
/// the download did, so it normally is ready already).
const READY_TIMEOUT_MS: u32 = 20_000;

/// The worker name that makes the engine's wasm serve as rank 1 (see `bin/worker.rs`).
pub const SECOND_WORKER_NAME: &str = "qk-lens-engine-rank-1";

enum Inbound {
    Message(JsValue),
    /// The other worker died (an uncaught error: out of memory, a trap).
    Stopped(String),
}

fn worker_error(detail: impl Into<String>) -> Error {
    Error::Worker(detail.into())
}

fn field(msg: &JsValue, key: &str) -> JsValue {
    Reflect::get(msg, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// A message on the wire: `[json, ...buffers]`, each buffer's ArrayBuffer moved once.
fn encode(msg: &PeerMessage, buffers: &[JsValue]) -> Result<(Array, Array)> {
    let json = serde_json::to_string(msg).map_err(|e| worker_error(format!("`{}` did not encode: {e}", msg.kind())))?;
    let wire = Array::of1(&json.into());
    let transfer = Array::new();
    for b in buffers {
        wire.push(b);
        let buffer = field(b, "buffer");
        // Cached pieces may share one buffer: transfer it once.
        if !buffer.is_undefined() && !transfer.includes(&buffer, 0) {
            transfer.push(&buffer);
        }
    }
    Ok((wire, transfer))
}

/// The message and its buffers, from what [`encode`] posted.
fn decode(wire: &JsValue) -> Result<(PeerMessage, Vec<JsValue>)> {
    let parts: Array = wire
        .dyn_ref::<Array>()
        .cloned()
        .ok_or_else(|| worker_error("a message that is not an array"))?;
    let json = parts
        .get(0)
        .as_string()
        .ok_or_else(|| worker_error("a message without its text"))?;
    let msg = serde_json::from_str(&json).map_err(|e| worker_error(format!("a message did not decode: {e}")))?;
    Ok((msg, parts.iter().skip(1).collect()))
}

/// postMessage(message, transfer) to the other worker.
type Post = Box<dyn Fn(&JsValue, &JsValue) -> std::result::Result<(), JsValue>>;

/// One side of the link between the two workers: how to post, and what has arrived.
struct Link {
    post: Post,
    inbox: UnboundedReceiver<Inbound>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Option<Closure<dyn FnMut(Event)>>,
}

fn on_message(tx: UnboundedSender<Inbound>) -> Closure<dyn FnMut(MessageEvent)> {
    Closure::new(move |e: MessageEvent| {
        let _ = tx.unbounded_send(Inbound::Message(e.data()));
    })
}

impl Link {
    fn send(&self, msg: &PeerMessage, buffers: &[JsValue]) -> Result<()> {
        let (wire, transfer) = encode(msg, buffers)?;
        (self.post)(&wire, &transfer).map_err(|e| worker_error(format!("could not send `{}`: {}", msg.kind(), js_message(&e))))
    }

    /// The next message, with its buffers; the other side's failure is an error.
    async fn next(&mut self) -> Result<(PeerMessage, Vec<JsValue>)> {
        let wire = match self.inbox.next().await {
            Some(Inbound::Message(m)) => m,
            Some(Inbound::Stopped(why)) => return Err(worker_error(format!("it stopped: {why}"))),
            None => return Err(worker_error("it is gone")),
        };
        match decode(&wire)? {
            (PeerMessage::Failed { message }, _) => Err(worker_error(message)),
            answer => Ok(answer),
        }
    }

    /// The next message, which must be of `kind`.
    async fn expect(&mut self, kind: &str) -> Result<(PeerMessage, Vec<JsValue>)> {
        match self.next().await? {
            (msg, buffers) if msg.kind() == kind => Ok((msg, buffers)),
            (other, _) => Err(worker_error(format!("expected `{kind}`, got `{}`", other.kind()))),
        }
    }
}

/// Swaps activation columns with the other worker over their link.
pub struct PeerExchange<'a> {
    link: &'a mut Link,
    rank: usize,
}

impl Exchange for PeerExchange<'_> {
    async fn all_gather(&mut self, mine: Vec<f32>) -> Result<Vec<Vec<f32>>> {
        self.link
            .send(&PeerMessage::Part, &[Float32Array::from(mine.as_slice()).into()])?;
        let (_, buffers) = self.link.expect("part").await?;
        let theirs = buffers
            .first()
            .and_then(|b| b.dyn_ref::<Float32Array>())
            .ok_or_else(|| worker_error("a part without data"))?
            .to_vec();
        Ok(match self.rank {
            0 => vec![mine, theirs],
            _ => vec![theirs, mine],
        })
    }
}

/// The machine's cores as the browser reports them (navigator.hardwareConcurrency; 1 if unknown).
pub fn cores() -> u32 {
    Reflect::get(&js_sys::global(), &"navigator".into())
        .and_then(|n| Reflect::get(&n, &"hardwareConcurrency".into()))
        .ok()
        .and_then(|v| v.as_f64())
        .map_or(1, |n| n as u32)
}

/// Size of this worker's wasm memory (it never shrinks: after a run, its peak).
pub fn wasm_memory_bytes() -> u64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    memory.buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length() as u64
}

/// The engine's handle on its second worker (terminated when dropped).
pub struct SecondWorker {
    worker: Worker,
    link: Link,
    ready: bool,
    /// It runs the engine's compiled module: code optimised in either worker serves both.
    pub shares_code: bool,
}

impl SecondWorker {
    /// Starts the second worker from the engine's own script; it gets ready while the engine
    /// downloads.
    pub fn spawn() -> Result<Self> {
        let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
        // The engine's own script, marked (`rank=1`) so a server log tells the two apart.
        let script = scope.location().href();
        let script = format!("{script}{}rank=1", if script.contains('?') { '&' } else { '?' });
        let options = WorkerOptions::new();
        options.set_name(SECOND_WORKER_NAME);
        let worker = Worker::new_with_options(&script, &options)
            .map_err(|e| worker_error(format!("could not start: {}", js_message(&e))))?;
        let (tx, rx) = unbounded();
        let on_message = on_message(tx.clone());
        // An ErrorEvent for an uncaught error in the worker, a plain Event when its script
        // could not be loaded: read `message` without assuming which.
        let on_error = Closure::new(move |e: Event| {
            e.prevent_default();
            let why = field(&e, "message")
                .as_string()
                .unwrap_or_else(|| "its script could not be loaded".into());
            let _ = tx.unbounded_send(Inbound::Stopped(why));
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        // Its loader waits for this module (scripts/hash-worker.sh): one compile, shared code.
        // A browser that cannot send it gets `null`, and the worker loads the wasm itself.
        let shares_code = worker.post_message(&wasm_bindgen::module()).is_ok();
        if !shares_code {
            worker
                .post_message(&JsValue::NULL)
                .map_err(|e| worker_error(format!("could not start: {}", js_message(&e))))?;
        }
        let post_to = worker.clone();
        Ok(SecondWorker {
            worker,
            link: Link {
                post: Box::new(move |m, t| post_to.post_message_with_transfer(m, t)),
                inbox: rx,
                _on_message: on_message,
                _on_error: Some(on_error),
            },
            ready: false,
            shares_code,
        })
    }

    /// Waits until rank 1 listens (it started with the run, and warmed up meanwhile). A worker
    /// whose wasm fails to instantiate rejects a promise inside itself: no error event, no
    /// message. So this waits `READY_TIMEOUT_MS` at most.
    pub async fn ready(&mut self) -> Result<()> {
        if !self.ready {
            let timeout = gloo::timers::future::TimeoutFuture::new(READY_TIMEOUT_MS);
            futures::select! {
                answer = self.link.expect("ready").fuse() => answer?,
                _ = timeout.fuse() => {
                    return Err(worker_error(format!("it did not start within {} s", READY_TIMEOUT_MS / 1000)));
                }
            };
            self.ready = true;
        }
        Ok(())
    }

    /// Tells rank 1 how many bytes of its weights the coming run takes from the packed store.
    pub fn prefault(&self, bytes: u64) -> Result<()> {
        self.link.send(&PeerMessage::Prefault { bytes }, &[])
    }

    /// Sends the run, with the bytes moved to rank 1 (transferred, not copied: this worker
    /// has loaded its share already). Copying them instead took ~150 ms for gpt2-medium's
    /// layer 5 (265 MB), structured cloning ~500 ms.
    /// Without bytes, rank 1 runs on what it holds.
    /// `fault`: the e2e tests' hook (`web/fault.rs`).
    pub fn start(
        &self,
        header: Option<&Header>,
        plan: &ForwardPlan,
        bytes: Option<WeightBytes>,
        (store, stored): (Option<String>, &[StoredConv]),
        fault: Option<TestFault>,
    ) -> Result<()> {
        let parts = bytes.as_ref().map_or(&[][..], |b| b.parts());
        let msg = PeerMessage::Run {
            header: header.map(Header::to_wire),
            plan: Box::new(plan.clone()),
            starts: parts.iter().map(|(s, _)| *s).collect(),
            store,
            stored: stored.to_vec(),
            panic: fault == Some(TestFault::PanicPeer),
        };
        let buffers: Vec<JsValue> = parts.iter().map(|(_, b)| b.array().clone().into()).collect();
        self.link.send(&msg, &buffers)
    }

    /// Waits until rank 1 holds its share.
    pub async fn loaded(&mut self) -> Result<()> {
        self.link.expect("loaded").await.map(drop)
    }

    /// Rank 0's side of the forward's exchanges.
    pub fn exchange(&mut self) -> PeerExchange<'_> {
        PeerExchange {
            link: &mut self.link,
            rank: 0,
        }
    }

    /// Waits for rank 1's end; returns its wasm memory and the bytes of weights it holds.
    pub async fn done(&mut self) -> Result<(u64, u64)> {
        match self.link.expect("done").await? {
            (PeerMessage::Done { memory, held }, _) => Ok((memory, held)),
            _ => Ok((0, 0)),
        }
    }
}

impl Drop for SecondWorker {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

/// Whether this worker was started as rank 1.
pub fn is_second_worker() -> bool {
    js_sys::global()
        .dyn_into::<DedicatedWorkerGlobalScope>()
        .is_ok_and(|scope| scope.name() == SECOND_WORKER_NAME)
}

/// Tells the engine that rank 1 failed (its panic hook calls this: the engine then runs alone).
pub fn report_failure(message: &str) {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let failed = PeerMessage::Failed {
        message: message.to_string(),
    };
    if let Ok((wire, _)) = encode(&failed, &[]) {
        let _ = scope.post_message(&wire);
    }
}

/// Rank 1's life: say ready, then serve runs until the engine goes.
pub fn serve() {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let (tx, rx) = unbounded();
    let on_message = on_message(tx);
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    let post_to = scope.clone();
    let mut link = Link {
        post: Box::new(move |m, t| post_to.post_message_with_transfer(m, t)),
        inbox: rx,
        _on_message: on_message,
        _on_error: None,
    };
    wasm_bindgen_futures::spawn_local(async move {
        // While the engine downloads, this worker's hot code gets optimised (model/warm.rs).
        let _ = crate::model::warm::warm_up(12, js_sys::Date::now);
        if link.send(&PeerMessage::Ready, &[]).is_err() {
            return;
        }
        // Rank 1's weights, kept between runs like rank 0's.
        let mut held = None;
        while let Ok(message) = link.next().await {
            if let (PeerMessage::Prefault { bytes }, _) = message {
                packed_store::prefault(bytes as usize);
            } else if let Err(e) = serve_run(&mut link, &mut held, message).await {
                let _ = link.send(&PeerMessage::Failed { message: e.to_string() }, &[]);
                return;
            }
        }
    });
}

/// Rank 1's part of one forward: add its share of the bytes that came with the run to what it
/// holds, run the forward beside the engine, say done.
async fn serve_run(link: &mut Link, held: &mut Option<LayerWeights>, (run, buffers): (PeerMessage, Vec<JsValue>)) -> Result<()> {
    let PeerMessage::Run {
        header,
        plan,
        starts,
        store,
        stored,
        panic,
    } = run
    else {
        return Err(worker_error("expected a run"));
    };
    if panic {
        super::fault::panic_now(TestFault::PanicPeer);
    }
    if starts.len() != buffers.len() {
        return Err(worker_error(format!(
            "a run with {} offsets and {} pieces",
            starts.len(),
            buffers.len()
        )));
    }
    let store = match store {
        Some(name) => PackedStore::open_folder(&name).await,
        None => None,
    };
    let loads = header.is_some();
    if let Some(header) = header {
        let header = Header::from_wire(&header)?;
        let pieces = starts
            .into_iter()
            .zip(buffers)
            .map(|(s, b)| {
                Ok((
                    s,
                    JsBytes::new(
                        b.dyn_into::<Uint8Array>()
                            .map_err(|_| worker_error("a piece that is not bytes"))?,
                    ),
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let shard = Shard::new(1, 2)?;
        let prepacked = packed_store::take(store.as_ref(), &plan.config, &stored, shard).await?;
        plan.load_into(held, &header, &FetchedRanges::new(pieces), shard, prepacked)?;
    }
    link.send(&PeerMessage::Loaded, &[])?;
    let weights = held.as_ref().ok_or_else(|| worker_error("a run without weights"))?;
    plan.forward(weights, &mut PeerExchange { link, rank: 1 }).await?;
    link.send(
        &PeerMessage::Done {
            memory: wasm_memory_bytes(),
            held: weights.held_bytes(),
        },
        &[],
    )?;
    // After the forward: what this worker packed is kept for the next visit.
    if let (true, Some(store)) = (loads, store) {
        if let Err(e) = store.keep(weights).await {
            web_sys::console::warn_1(&format!("QK Lens: packed weights not kept: {e}").into());
        }
    }
    Ok(())
}

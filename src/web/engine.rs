//! The engine in a Web Worker: runs (`run::Session`) over a host that downloads the model's
//! files (cached) and runs the forward on two workers, reporting each stage and the download's
//! progress, so the page never freezes. The model stays in memory between runs (the live lab):
//! an edit reads and packs only what no earlier run did. The page sends a
//! [`RunRequest`]; the worker answers with a stream of [`EngineEvent`]s ending in Done or Failed.

use futures::{SinkExt, StreamExt};
use gloo::worker::reactor::{reactor, ReactorScope};
use gloo::worker::Codec;
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};

use futures::channel::mpsc::UnboundedSender;

use super::hub::{fetch_cached, load_weight_bytes, DownloadStats, JsBytes, WeightBytes};
use super::packed_store::{self, PackedStore};
use super::peer::{wasm_memory_bytes, SecondWorker};
use super::revision::{self, Resolved};
use crate::error::{Error, Result};
use crate::model::plan::{Coverage, FetchedRanges, Header, Need};
use crate::model::shard::{Alone, Shard};
use crate::model::{LayerWeights, Prepacked};
use crate::protocol::StoredConv;
use crate::result::RunResult;
use crate::run::{Download, ForwardPlan, Forwarded, HostReport, ModelFile, RunHost, Session};

pub use crate::protocol::{EngineEvent, ModelFiles, Progress, RunRequest, Stage, TestFault};

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

/// The result's note when the browser stores nothing for this page.
const NO_STORAGE_NOTE: &str = "the browser gives this page no storage (Cache Storage), so the model was not stored: \
the next visit downloads it again and the lab does not work offline. Browsers give storage only to secure pages: \
serve the lab over https, or open it at localhost";

fn now_ms() -> f64 {
    js_sys::Date::now()
}

#[reactor]
pub async fn Engine(mut scope: ReactorScope<RunRequest, EngineEvent>) {
    // Kept between runs: the live lab's edits reuse the model, its weights and its captures.
    let mut session = Session::default();
    let mut ranks = Ranks::default();
    // The revision found for the model of the last run: the live lab's edits reuse it (the
    // model stays resident) instead of asking the hub again.
    let mut resolved: Option<(ModelFiles, Resolved)> = None;
    while let Some(request) = scope.next().await {
        // Events are queued while a step computes and flushed at the next await.
        let (tx, mut rx) = futures::channel::mpsc::unbounded::<EngineEvent>();
        let run = run(&mut session, &mut ranks, &mut resolved, &request, tx);
        let forward = async {
            while let Some(event) = rx.next().await {
                if scope.send(event).await.is_err() {
                    break;
                }
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
        if scope.send(last).await.is_err() {
            break;
        }
        // After the result is out: what this worker packed is kept for the next visit.
        if let (Some(store), Some(mine)) = (ranks.to_keep.take(), ranks.mine.as_ref()) {
            if let Err(e) = store.keep(mine).await {
                web_sys::console::warn_1(&format!("QK Lens: packed weights not kept: {e}").into());
            }
        }
    }
}

/// Lets queued messages go out before a long synchronous step.
async fn yield_now() {
    gloo::timers::future::TimeoutFuture::new(0).await;
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
    let found = match resolved.as_ref().filter(|(asked, _)| *asked == request.model) {
        Some((_, found)) => found.clone(),
        None => {
            let found = revision::resolve(&request.model).await?;
            *resolved = Some((request.model.clone(), found.clone()));
            found
        }
    };
    let request = &RunRequest {
        model: found.files.clone(),
        ..request.clone()
    };
    let mut host = WebHost {
        request,
        events,
        ranks,
        needs: Vec::new(),
        download: None,
        notes: Vec::new(),
        peer_memory: 0,
        peer_held: 0,
        again: (0, 0),
        store: None,
        stored: Vec::new(),
    };
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

/// The forward's ranks, kept between runs: this worker's weights and the second worker with
/// its own half.
#[derive(Default)]
struct Ranks {
    /// This worker's weights: half of every Conv1D beside a second worker, else whole.
    mine: Option<LayerWeights>,
    second: Option<SecondWorker>,
    /// The packed store to write this worker's new Conv1Ds to once the result is out.
    to_keep: Option<PackedStore>,
}

/// The page's host of a run: files downloaded (and cached) from the request's URLs, the
/// forward on this worker and a second one.
struct WebHost<'a> {
    request: &'a RunRequest,
    events: UnboundedSender<EngineEvent>,
    ranks: &'a mut Ranks,
    /// Everything the run's forward needs, to read again if the second worker fails.
    needs: Vec<Need>,
    download: Option<DownloadStats>,
    notes: Vec<String>,
    peer_memory: u64,
    peer_held: u64,
    /// What the fall-back to this worker alone read and packed again (matrices, bytes).
    again: (u32, u64),
    /// The packed store of this model's revision, and the Conv1Ds every rank takes from it.
    store: Option<PackedStore>,
    stored: Vec<StoredConv>,
}

impl WebHost<'_> {
    /// Before a first load: the second worker starts and warms up while the weights are read.
    /// None for a one-head model: there is nothing to split.
    fn spawn_second(&mut self, plan: &ForwardPlan) {
        if self.ranks.mine.is_none() && self.ranks.second.is_none() {
            let two = self.request.workers.unwrap_or(2) >= 2 && super::peer::cores() >= 2 && plan.config.n_head >= 2;
            self.ranks.second = two.then(SecondWorker::spawn).and_then(|s| s.ok());
        }
    }

    /// This worker's share of the Conv1Ds taken from the packed store.
    async fn take_stored(&self, plan: &ForwardPlan, shard: Shard) -> Result<Prepacked> {
        packed_store::take(self.store.as_ref(), &plan.config, &self.stored, shard).await
    }

    /// The forward on both workers (or this one alone), after they add `loaded` to what they hold.
    async fn forward_ranks(&mut self, plan: &ForwardPlan, loaded: Option<(Header, WeightBytes)>) -> Result<Forwarded> {
        if let Some(fault @ TestFault::PanicEngine) = self.request.fault {
            super::fault::panic_now(fault);
        }
        let Some(mut peer) = self.ranks.second.take() else {
            return self.forward_alone(plan, loaded.as_ref().map(|(h, b)| (h, b))).await;
        };
        // A second worker that never got ready leaves the bytes here, for this worker alone.
        if let Err(e) = peer.ready().await {
            let (header, bytes) = loaded.ok_or_else(|| Error::Model("a first run without weights".into()))?;
            return self.fall_back(e, plan, Some((&header, &bytes))).await;
        }
        match forward_on_two(self, plan, loaded, &mut peer).await {
            Ok(forwarded) => {
                self.ranks.second = Some(peer);
                Ok(forwarded)
            }
            Err(e) => self.fall_back(e, plan, None).await,
        }
    }

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

    /// The forward on this worker alone, after it adds `loaded` to what it holds.
    async fn forward_alone(&mut self, plan: &ForwardPlan, loaded: Option<(&Header, &WeightBytes)>) -> Result<Forwarded> {
        if let Some((header, bytes)) = loaded {
            let stored = self.take_stored(plan, Shard::WHOLE).await?;
            plan.load_into(&mut self.ranks.mine, header, bytes, Shard::WHOLE, stored)?;
        }
        self.stage(Stage::Forward).await;
        let started_ms = now_ms();
        let weights = self
            .ranks
            .mine
            .as_ref()
            .ok_or_else(|| Error::Model("a forward with no weights loaded".into()))?;
        Ok(Forwarded {
            captures: plan.forward(weights, &mut Alone).await?,
            started_ms,
            ranks: 1,
        })
    }

    /// Nothing is lost when the second worker fails: the run goes on in this worker alone,
    /// which drops its half and reads everything the forward needs again (the cache has it,
    /// else the network), or uses `first` (the bytes of a first load, still here).
    async fn fall_back(&mut self, why: Error, plan: &ForwardPlan, first: Option<(&Header, &WeightBytes)>) -> Result<Forwarded> {
        self.notes.push(format!(
            "the forward pass ran on one core: the second worker failed ({})",
            worker_failure(why)?
        ));
        self.ranks.second = None;
        self.ranks.mine = None;
        // The stored shares are halves: alone, this worker reads and packs everything.
        let first = first.filter(|_| self.stored.is_empty());
        self.stored.clear();
        if let Some(loaded) = first {
            let forwarded = self.forward_alone(plan, Some(loaded)).await?;
            self.again.0 = self.ranks.mine.as_ref().map_or(0, |w| w.conv1ds().len() as u32);
            return Ok(forwarded);
        }
        let (header, bytes, again) = load_weight_bytes(
            &self.request.model.weights,
            self.request.model.revision.as_deref(),
            &self.needs,
            self.progress(),
        )
        .await?;
        let download = self.download.get_or_insert_with(DownloadStats::default);
        download.bytes_downloaded += again.bytes_downloaded;
        download.bytes_from_cache += again.bytes_from_cache;
        download.requests += again.requests;
        let forwarded = self.forward_alone(plan, Some((&header, &bytes))).await?;
        let packed = self.ranks.mine.as_ref().map_or(0, |w| w.conv1ds().len() as u32);
        self.again = (packed, again.bytes_downloaded + again.bytes_from_cache);
        Ok(forwarded)
    }
}

impl RunHost for WebHost<'_> {
    type Bytes = WeightBytes;

    fn now_ms(&self) -> f64 {
        now_ms()
    }

    fn model_key(&self) -> String {
        let m = &self.request.model;
        format!("{} {} {}", m.config, m.tokenizer, m.weights)
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
            ModelFile::Config => Ok(fetch_cached(&model.config, model.revision.as_deref()).await?.0),
            ModelFile::Tokenizer => match (
                fetch_cached(&model.tokenizer, model.revision.as_deref()).await,
                &model.fallback_tokenizer,
            ) {
                (Ok((t, _)), _) => Ok(t),
                // GPT-2 sizes share one tokenizer: use the site's when the folder has none.
                (Err(Error::Fetch { status: Some(404), .. }), Some(fallback)) => Ok(fetch_cached(fallback, None).await?.0),
                (Err(e), _) => Err(e),
            },
        }
    }

    fn held(&self) -> Option<Coverage> {
        self.ranks.mine.as_ref().map(LayerWeights::coverage)
    }

    async fn stored_packed(&mut self, plan: &ForwardPlan, needs: &[Need]) -> Vec<String> {
        self.spawn_second(plan);
        let model = &self.request.model;
        self.store = PackedStore::open(&model.weights, model.revision.as_deref()).await;
        let ranks = if self.ranks.second.is_some() { 2 } else { 1 };
        self.stored = match &self.store {
            Some(store) => packed_store::find(store, &plan.config, needs, ranks).await,
            None => Vec::new(),
        };
        self.stored.iter().map(|c| c.name.clone()).collect()
    }

    async fn weights(&mut self, plan: &ForwardPlan, needs: &[Need]) -> Result<(Header, WeightBytes)> {
        self.needs = plan.weight_needs()?;
        let first = self.ranks.mine.is_none();
        self.spawn_second(plan);
        let download = load_weight_bytes(
            &self.request.model.weights,
            self.request.model.revision.as_deref(),
            needs,
            self.progress(),
        );
        // This worker's hot code gets optimised before its first forward (see model/warm.rs),
        // while its requests are under way. Only a speed-up: its failure would not stop the run.
        let warm = async {
            if first {
                yield_now().await;
                let _ = crate::model::warm::warm_up(12, now_ms);
            }
        };
        let (downloaded, ()) = futures::join!(download, warm);
        let (header, bytes, stats) = downloaded?;
        self.download = Some(stats);
        Ok((header, bytes))
    }

    async fn forward(&mut self, plan: &ForwardPlan, loaded: Option<(Header, WeightBytes)>) -> Result<Forwarded> {
        let packs = loaded.is_some();
        let forwarded = self.forward_ranks(plan, loaded).await?;
        if packs {
            self.ranks.to_keep = self.store.take();
        }
        Ok(forwarded)
    }

    fn forget(&mut self) {
        self.ranks.mine = None;
        self.ranks.second = None;
        self.ranks.to_keep = None;
    }

    fn report(&mut self) -> HostReport {
        if let Some(d) = self.download.as_ref().filter(|d| d.not_cached > 0) {
            self.notes.push(format!(
                "the browser's storage is full: {} downloaded pieces could not be kept, so the next visit downloads them again (free space in the storage panel)",
                d.not_cached
            ));
        }
        if self.download.as_ref().is_some_and(|d| d.no_storage) {
            self.notes.push(NO_STORAGE_NOTE.into());
        }
        let mine = self.ranks.mine.as_ref().map_or(0, LayerWeights::held_bytes);
        HostReport {
            model_file_bytes: self.download.as_ref().map(|d| d.file_bytes),
            download: Some(self.download.as_ref().map_or_else(Download::default, |d| Download {
                bytes_downloaded: d.bytes_downloaded,
                bytes_from_cache: d.bytes_from_cache,
                requests: d.requests,
                partial: d.partial,
            })),
            wasm_memory_bytes: Some(wasm_memory_bytes() + self.peer_memory),
            peak_rss_bytes: None,
            resident_weight_bytes: Some(mine + self.peer_held),
            tensors_packed_again: self.again.0,
            weight_bytes_read_again: self.again.1,
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

/// Bytes handed to the second worker as a copy before this worker loads (see [`forward_on_two`]).
const COPY_FIRST_BYTES: u64 = 8 << 20;

fn copy_of(bytes: &WeightBytes) -> WeightBytes {
    let parts = bytes.parts().iter();
    FetchedRanges::new(
        parts
            .map(|(at, b)| (*at, JsBytes::new(b.array().slice(0, b.array().length()))))
            .collect(),
    )
}

/// This worker adds its half of `loaded` to what it holds, hands the bytes to the second
/// worker (moved, not copied), which adds its half; then both run the forward. `peer` is ready.
async fn forward_on_two(
    host: &mut WebHost<'_>,
    plan: &ForwardPlan,
    loaded: Option<(Header, WeightBytes)>,
    peer: &mut SecondWorker,
) -> Result<Forwarded> {
    let store = host.store.as_ref().map(|s| s.name().to_string());
    match loaded {
        // Few bytes (the Conv1Ds come packed from the store): the second worker gets a copy
        // first and loads while this one does.
        Some((header, bytes)) if bytes.total_bytes() <= COPY_FIRST_BYTES => {
            peer.start(
                Some(&header),
                plan,
                Some(copy_of(&bytes)),
                (store, &host.stored),
                host.request.fault,
            )?;
            let stored = host.take_stored(plan, Shard::new(0, 2)?).await?;
            plan.load_into(&mut host.ranks.mine, &header, &bytes, Shard::new(0, 2)?, stored)?;
        }
        // Else this worker takes its half first, then moves the bytes (a copy would cost more).
        Some((header, bytes)) => {
            let stored = host.take_stored(plan, Shard::new(0, 2)?).await?;
            plan.load_into(&mut host.ranks.mine, &header, &bytes, Shard::new(0, 2)?, stored)?;
            peer.start(Some(&header), plan, Some(bytes), (store, &host.stored), host.request.fault)?;
        }
        None => peer.start(None, plan, None, (None, &[]), host.request.fault)?,
    }
    peer.loaded().await?;
    host.stage(Stage::Forward).await;
    let started_ms = now_ms();
    let weights = host
        .ranks
        .mine
        .as_ref()
        .ok_or_else(|| Error::Model("a forward with no weights loaded".into()))?;
    let captures = plan.forward(weights, &mut peer.exchange()).await?;
    // The captures are complete here: a failure now only loses the second worker's figures.
    (host.peer_memory, host.peer_held) = peer.done().await.unwrap_or((0, 0));
    Ok(Forwarded {
        captures,
        started_ms,
        ranks: 2,
    })
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

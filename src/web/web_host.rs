//! The engine worker's host of a run (`run::RunHost`): the model's files downloaded and cached
//! (Cache Storage, and the packed weights in the origin's file system), the forward on this
//! worker and a second one, falling back to this one alone when the second fails.

use futures::channel::mpsc::UnboundedSender;

use super::engine::{now_ms, yield_now};
use super::hub::{fetch_cached, load_weight_bytes, read_token_memo, write_token_memo, DownloadStats, JsBytes, WeightBytes};
use super::packed_store::{self, PackedStore};
use super::peer::{wasm_memory_bytes, SecondWorker};
use crate::error::{Error, Result};
use crate::model::plan::{Coverage, FetchedRanges, Header, Need};
use crate::model::shard::{Alone, Shard};
use crate::model::{LayerWeights, TokenMemo};
use crate::protocol::{EngineEvent, Progress, RunRequest, Stage, StoredConv, TestFault};
use crate::run::{Download, ForwardPlan, Forwarded, HostReport, ModelFile, RunHost};

/// The result's note when the browser stores nothing for this page.
const NO_STORAGE_NOTE: &str = "the browser gives this page no storage (Cache Storage), so the model was not stored: \
the next visit downloads it again and the lab does not work offline. Browsers give storage only to secure pages: \
serve the lab over https, or open it at localhost";

/// The forward's ranks, kept between runs: this worker's weights and the second worker with
/// its own half.
#[derive(Default)]
pub(super) struct Ranks {
    /// This worker's weights: half of every Conv1D beside a second worker, else whole.
    mine: Option<LayerWeights>,
    second: Option<SecondWorker>,
    /// The packed store to write this worker's new Conv1Ds to once the result is out.
    to_keep: Option<PackedStore>,
    /// Rows read ahead for the next run (see `RunHost::read_ahead`).
    ahead: Option<ReadAhead>,
}

/// Pieces read before the run that needs them: which file, which needs, and what came.
struct ReadAhead {
    weights: String,
    revision: Option<String>,
    needs: Vec<Need>,
    header: Header,
    bytes: WeightBytes,
    stats: DownloadStats,
}

/// The page's host of a run: files downloaded (and cached) from the request's URLs, the
/// forward on this worker and a second one.
pub(super) struct WebHost<'a> {
    request: &'a RunRequest,
    events: UnboundedSender<EngineEvent>,
    ranks: &'a mut Ranks,
    download: Option<DownloadStats>,
    /// [`Self::weights`] found its pieces read ahead.
    read_ahead_used: bool,
    notes: Vec<String>,
    peer_memory: u64,
    peer_held: u64,
    /// What the fall-back to this worker alone read and packed again (matrices, bytes).
    again: (u32, u64),
    /// The packed store of this model's revision, and the Conv1Ds every rank takes from it.
    store: Option<PackedStore>,
    stored: Vec<StoredConv>,
}

impl Ranks {
    /// Writes what this worker packed in the last run to the packed store (once its result is
    /// out); a failure only costs the next visit a packing.
    pub(super) async fn keep_packed(&mut self) {
        if let (Some(store), Some(mine)) = (self.to_keep.take(), self.mine.as_ref()) {
            if let Err(e) = store.keep(mine).await {
                web_sys::console::warn_1(&format!("QK Lens: packed weights not kept: {e}").into());
            }
        }
    }
}

impl<'a> WebHost<'a> {
    pub(super) fn new(request: &'a RunRequest, events: UnboundedSender<EngineEvent>, ranks: &'a mut Ranks) -> Self {
        WebHost {
            request,
            events,
            ranks,
            download: None,
            read_ahead_used: false,
            notes: Vec::new(),
            peer_memory: 0,
            peer_held: 0,
            again: (0, 0),
            store: None,
            stored: Vec::new(),
        }
    }
}

impl WebHost<'_> {
    /// Before a first load (as the model opens): the second worker starts, and boots and warms
    /// up while the config, the tokenizer and the weights are read.
    fn spawn_second(&mut self) {
        if self.ranks.mine.is_none() && self.ranks.second.is_none() {
            let two = self.request.workers.unwrap_or(2) >= 2 && super::peer::cores() >= 2;
            self.ranks.second = two.then(SecondWorker::spawn).and_then(|s| s.ok());
        }
    }

    /// [`Self::spawn_second`], then no second worker for a one-head model: nothing to split.
    fn second_for(&mut self, plan: &ForwardPlan) {
        self.spawn_second();
        if plan.config.n_head < 2 && self.ranks.mine.is_none() {
            self.ranks.second = None;
        }
    }

    /// Adds `shard`'s part of what `plan` needs to what this worker holds: the Conv1Ds the
    /// packed store has from the store, the rest from `bytes`.
    async fn load_mine(&mut self, plan: &ForwardPlan, header: &Header, bytes: &WeightBytes, shard: Shard) -> Result<()> {
        let stored = packed_store::take(self.store.as_ref(), &plan.config, &self.stored, shard).await?;
        plan.load_into(&mut self.ranks.mine, header, bytes, shard, stored)
    }

    /// This worker's weights, for a forward.
    fn mine(&self) -> Result<&LayerWeights> {
        self.ranks
            .mine
            .as_ref()
            .ok_or_else(|| Error::Model("a forward with no weights loaded".into()))
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
            self.load_mine(plan, header, bytes, Shard::WHOLE).await?;
        }
        self.stage(Stage::Forward).await;
        let started_ms = now_ms();
        Ok(Forwarded {
            captures: plan.forward(self.mine()?, &mut Alone).await?,
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
            &plan.weight_needs()?,
            false,
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
        if stage == Stage::Config {
            self.spawn_second();
        }
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

    async fn token_memo(&mut self, id: &str) -> Option<TokenMemo> {
        let model = &self.request.model;
        read_token_memo(&model.tokenizer, model.revision.as_deref(), id).await
    }

    fn supplied_token_ids(&self) -> Option<&TokenMemo> {
        self.request.encodings.as_ref()
    }

    /// Written beside the tokenizer while the run goes on.
    fn keep_token_memo(&mut self, memo: &TokenMemo) {
        let (url, rev, json) = (
            self.request.model.tokenizer.clone(),
            self.request.model.revision.clone(),
            memo.to_json(),
        );
        wasm_bindgen_futures::spawn_local(async move { write_token_memo(&url, rev.as_deref(), &json).await });
    }

    fn held(&self) -> Option<Coverage> {
        self.ranks.mine.as_ref().map(LayerWeights::coverage)
    }

    async fn stored_packed(&mut self, plan: &ForwardPlan, needs: &[Need]) -> Vec<String> {
        self.second_for(plan);
        let model = &self.request.model;
        self.store = PackedStore::open(&model.weights, model.revision.as_deref()).await;
        let ranks = if self.ranks.second.is_some() { 2 } else { 1 };
        self.stored = match &self.store {
            Some(store) => packed_store::find(store, &plan.config, needs, ranks).await,
            None => Vec::new(),
        };
        if let Some(second) = self.ranks.second.as_ref().filter(|_| !self.stored.is_empty()) {
            // Only a speed-up: a lost hint leaves rank 1 to fault its pages in as it reads.
            let _ = second.prefault(packed_store::share_bytes(
                &plan.config,
                &self.stored,
                Shard { rank: 1, ranks: 2 },
            ));
        }
        self.stored.iter().map(|c| c.name.clone()).collect()
    }

    async fn weights(&mut self, plan: &ForwardPlan, needs: &[Need]) -> Result<(Header, WeightBytes)> {
        let model = &self.request.model;
        if let Some(ahead) = self
            .ranks
            .ahead
            .take()
            .filter(|a| a.needs == needs && a.weights == model.weights && a.revision == model.revision)
        {
            self.download = Some(ahead.stats);
            self.read_ahead_used = true;
            return Ok((ahead.header, ahead.bytes));
        }
        let first = self.ranks.mine.is_none();
        self.second_for(plan);
        let download = load_weight_bytes(
            &self.request.model.weights,
            self.request.model.revision.as_deref(),
            needs,
            first,
            self.progress(),
        );
        // This worker's hot code gets optimised before its first forward (see model/warm.rs),
        // while its requests are under way. Only a speed-up: its failure would not stop the run.
        // A second worker running the same compiled module warms up for both; this one then
        // maps the memory its share from the packed store will fill (`packed_store::prefault`).
        let prefault = match &self.ranks.second {
            Some(second) if second.shares_code && !self.stored.is_empty() => Some(packed_store::share_bytes(
                &plan.config,
                &self.stored,
                Shard { rank: 0, ranks: 2 },
            )),
            _ => None,
        };
        let warm = async {
            if first {
                yield_now().await;
                match prefault {
                    Some(bytes) => packed_store::prefault_in_slices(bytes as usize).await,
                    None => drop(crate::model::warm::warm_up(12, now_ms)),
                }
            }
        };
        let (downloaded, ()) = futures::join!(download, warm);
        let (header, bytes, stats) = downloaded?;
        self.download = Some(stats);
        Ok((header, bytes))
    }

    /// Kept in the ranks for the next run's [`Self::weights`] (a later read-ahead replaces it).
    async fn read_ahead(&mut self, _plan: &ForwardPlan, needs: &[Need]) -> Result<()> {
        self.ranks.ahead = None;
        let model = &self.request.model;
        let (header, bytes, stats) = load_weight_bytes(&model.weights, model.revision.as_deref(), needs, false, |_| {}).await?;
        self.ranks.ahead = Some(ReadAhead {
            weights: model.weights.clone(),
            revision: model.revision.clone(),
            needs: needs.to_vec(),
            header,
            bytes,
            stats,
        });
        Ok(())
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
        self.ranks.ahead = None;
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
            weights_read_ahead: self.read_ahead_used,
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
            host.load_mine(plan, &header, &bytes, Shard::new(0, 2)?).await?;
        }
        // Else this worker takes its half first, then moves the bytes (a copy would cost more).
        Some((header, bytes)) => {
            host.load_mine(plan, &header, &bytes, Shard::new(0, 2)?).await?;
            peer.start(Some(&header), plan, Some(bytes), (store, &host.stored), host.request.fault)?;
        }
        None => peer.start(None, plan, None, (None, &[]), host.request.fault)?,
    }
    peer.loaded().await?;
    host.stage(Stage::Forward).await;
    let started_ms = now_ms();
    let captures = plan.forward(host.mine()?, &mut peer.exchange()).await?;
    // The captures are complete here: a failure now only loses the second worker's figures.
    (host.peer_memory, host.peer_held) = peer.done().await.unwrap_or((0, 0));
    Ok(Forwarded {
        captures,
        started_ms,
        ranks: 2,
    })
}

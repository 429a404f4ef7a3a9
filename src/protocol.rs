//! The messages between the page and the engine worker: plain data with serde, no web types, so
//! the page's state and its tests are native code. The page sends an [`EngineRequest`]: a run,
//! answered with a stream of [`EngineEvent`]s ending in `Done` or `Failed`, or a read-ahead,
//! answered with nothing.

use serde::{Deserialize, Serialize};

use crate::analysis::report::ExtendedOptions;
use crate::experiment::Experiment;
use crate::result::RunResult;

/// Bytes received so far and the total when the server says it (Content-Length).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub done: u64,
    pub total: Option<u64>,
    /// Set while the hub's rate limit (429) holds the download back: the seconds it asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_s: Option<u32>,
}

/// A Conv1D every rank finds already packed in the browser's store: its name (`h.0.mlp.c_fc`)
/// and whole shape [n_in, n_out] (each rank's share follows from it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredConv {
    pub name: String,
    pub n_in: usize,
    pub n_out: usize,
}

/// Absolute URLs of a model's three files (a hub folder, a custom folder, or local files).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelFiles {
    pub config: String,
    pub weights: String,
    pub tokenizer: String,
    /// Tried when `tokenizer` is not found (404): the GPT-2 tokenizer shipped with the site.
    pub fallback_tokenizer: Option<String>,
    /// The revision the files were resolved at (a hub commit, an ETag...): cache keys carry it,
    /// so pieces of two versions are never mixed. None: keyed by URL alone.
    #[serde(default)]
    pub revision: Option<String>,
}

impl ModelFiles {
    /// The three files under a folder URL ending in `/`.
    pub fn in_folder(base: &str, fallback_tokenizer: Option<String>) -> Self {
        ModelFiles {
            config: format!("{base}config.json"),
            weights: format!("{base}model.safetensors"),
            tokenizer: format!("{base}tokenizer.json"),
            fallback_tokenizer,
            revision: None,
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
    /// At most this many workers for the forward pass (None: two where the machine has two
    /// cores; 1: the engine worker alone).
    #[serde(default)]
    pub workers: Option<u32>,
    /// The page's number for this run, returned in the result's stats.
    #[serde(default)]
    pub run_id: Option<u64>,
    /// A fault to provoke in this run: the e2e tests' hook only (see `web/fault.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<TestFault>,
    /// The experiment's texts as the page's tokenizer encodes them (the site's GPT-2
    /// tokenizer): the engine uses them where the model's tokenizer.json is the same file, and
    /// then never parses its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encodings: Option<crate::model::TokenMemo>,
}

/// What the page asks of the engine worker, which takes requests one at a time, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "request", rename_all = "snake_case")]
pub enum EngineRequest {
    Run(RunRequest),
    /// While the live lab waits for a pause in typing: read what a run of this request would
    /// read beyond what the resident model holds (a new word's embedding row), so the run that
    /// follows finds it read. Only for the resident model, only rows; no answer, and a failure
    /// costs nothing (the run reads as usual).
    ReadAhead(RunRequest),
}

/// Faults the e2e tests provoke through the page's `?fault=` (served from this machine only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestFault {
    /// The engine worker panics at its forward pass.
    PanicEngine,
    /// The second worker panics at its forward pass.
    PanicPeer,
}

/// What a run is doing now (the run's stages, reported as it enters each).
pub use crate::run::Stage;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EngineEvent {
    Stage(Stage),
    Progress(Progress),
    Done(#[serde(with = "vectors_as_bits")] Box<RunResult>),
    Failed(String),
}

/// A finished result on its way to the page: its Q, K and V vectors (~90 % of its JSON at
/// gpt2-medium, 0.8 MB) travel as base64 of their little-endian f32 bits, exact, and ~4x
/// quicker to write and read than JSON numbers; the rest as it is. `#qk-result` still
/// shows them as numbers (the result's own serde).
mod vectors_as_bits {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::result::RunResult;

    #[derive(Serialize, Deserialize)]
    struct Wire {
        result: RunResult,
        /// Q, K, V: each [rows, cols, base64].
        vectors: Vec<(usize, usize, String)>,
    }

    fn pack(rows: Vec<Vec<f32>>) -> (usize, usize, String) {
        let cols = rows.first().map_or(0, Vec::len);
        let bytes: Vec<u8> = rows.iter().flatten().flat_map(|x| x.to_le_bytes()).collect();
        (rows.len(), cols, base64::encode(bytes))
    }

    fn unpack((rows, cols, text): (usize, usize, String)) -> Result<Vec<Vec<f32>>, String> {
        let bytes = base64::decode(text).map_err(|e| e.to_string())?;
        if bytes.len() != rows * cols * 4 {
            return Err(format!("{} bytes for {rows} x {cols} f32", bytes.len()));
        }
        if cols == 0 {
            return Ok(vec![Vec::new(); rows]);
        }
        let floats: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(floats.chunks(cols).map(<[f32]>::to_vec).collect())
    }

    pub fn serialize<S: Serializer>(result: &RunResult, s: S) -> Result<S::Ok, S::Error> {
        let mut bare = result.clone();
        let mut vectors = vec![
            pack(std::mem::take(&mut bare.q.vectors)),
            pack(std::mem::take(&mut bare.k.vectors)),
        ];
        if let Some(v) = bare.v.as_mut() {
            vectors.push(pack(std::mem::take(&mut v.vectors)));
        }
        Wire { result: bare, vectors }.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Box<RunResult>, D::Error> {
        let Wire { mut result, vectors } = Wire::deserialize(d)?;
        let mut vectors = vectors.into_iter().map(unpack);
        let mut next = || vectors.next().transpose().map_err(serde::de::Error::custom);
        result.q.vectors = next()?.unwrap_or_default();
        result.k.vectors = next()?.unwrap_or_default();
        if let Some(v) = result.v.as_mut() {
            v.vectors = next()?.unwrap_or_default();
        }
        Ok(Box::new(result))
    }
}

/// The messages between the engine worker (rank 0) and its second worker (rank 1), which run
/// the forward pass together (see `model/shard.rs`). Byte buffers never go through serde: they
/// travel beside the message, in its transfer list, in the order the message says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PeerMessage {
    /// 1 -> 0: listening (and warmed up).
    Ready,
    /// 0 -> 1: a forward to run. Rank 1 keeps its weights between runs; what it lacks comes
    /// with the run: the weights' header in its wire form, then one buffer per entry of
    /// `starts` (the piece's offset in the file). No header: it holds everything already.
    Run {
        header: Option<String>,
        plan: Box<crate::run::ForwardPlan>,
        starts: Vec<u64>,
        /// The packed store's folder (see `web/packed_store.rs`), where rank 1 finds the
        /// Conv1Ds of `stored` and keeps what it packs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        store: Option<String>,
        /// Conv1Ds rank 1 takes from the store: their bytes do not come with the run.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        stored: Vec<StoredConv>,
        /// The e2e tests' hook: rank 1 panics at this forward (see `web/fault.rs`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        panic: bool,
    },
    /// 0 -> 1, before a run that takes `bytes` of rank 1's weights from the packed store:
    /// rank 1 maps that much memory while it waits (see `packed_store::prefault`).
    Prefault { bytes: u64 },
    /// 1 -> 0: rank 1 holds its share of the weights.
    Loaded,
    /// Either way: this rank's columns of an activation, as the one f32 buffer that follows.
    Part,
    /// 1 -> 0: the forward is done; rank 1's wasm memory and the weights it holds, in bytes.
    Done {
        memory: u64,
        #[serde(default)]
        held: u64,
    },
    /// 1 -> 0: rank 1 failed (its panic hook sends this too); the engine runs alone.
    Failed { message: String },
}

impl PeerMessage {
    /// The message's kind, as the wire names it (for errors).
    pub fn kind(&self) -> &'static str {
        match self {
            PeerMessage::Ready => "ready",
            PeerMessage::Run { .. } => "run",
            PeerMessage::Prefault { .. } => "prefault",
            PeerMessage::Loaded => "loaded",
            PeerMessage::Part => "part",
            PeerMessage::Done { .. } => "done",
            PeerMessage::Failed { .. } => "failed",
        }
    }
}

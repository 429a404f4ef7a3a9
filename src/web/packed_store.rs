//! The packed weights kept in the browser, in its Origin Private File System: after a run packs
//! a Conv1D, the rank that holds it writes its share there, and a later visit reads the panels
//! straight into wasm memory: neither Cache Storage nor the packing is touched again.
//!
//! One folder per weights file, revision and panel layout ([`folder_name`]), so a new revision
//! or layout packs again and never misreads; one file per Conv1D and rank, named with the
//! share's shape. A file is complete when its size is exactly the share's (panels, then bias):
//! a write cut short is smaller, and is written again. Reading and writing use synchronous
//! access handles, which only dedicated workers have (the engine and the second worker); where
//! the browser has none, or the page no storage, there is no store and runs pack as before.

use futures::future::join_all;
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    FileSystemDirectoryHandle, FileSystemFileHandle, FileSystemGetDirectoryOptions, FileSystemGetFileOptions,
    FileSystemReadWriteOptions, FileSystemRemoveOptions, FileSystemSyncAccessHandle, StorageManager,
};

use super::fetch::has_object;
use crate::error::{Error, Result};
use crate::model::matmul::{PackedLinear, LAYOUT};
use crate::model::plan::Need;
use crate::model::shard::Shard;
use crate::model::weights::share_columns;
use crate::model::{Gpt2Config, LayerWeights, Prepacked};
use crate::protocol::StoredConv;

/// How long a read waits for a file another tab is writing: 20 × 50 ms.
const LOCKED_TRIES: u32 = 20;
const LOCKED_WAIT_MS: u32 = 50;

/// The store's top folder in the origin's file system.
const ROOT: &str = "qk-lens-packed";

/// The folder of one weights file at one revision, in the current layout: a hash, as file
/// names cannot hold every URL's characters. Keyed like Cache Storage's pieces: a file with no
/// revision (a custom folder; the hub's files have one) by its URL alone.
pub fn folder_name(weights_url: &str, revision: Option<&str>) -> String {
    // FNV-1a, 64 bits: a name, not a defence (the store is the origin's own).
    let key = crate::revision::cache_key(weights_url, revision, LAYOUT);
    let hash = key
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
    format!("{hash:016x}")
}

fn file_name(conv: &str, shard: Shard, k: usize, n: usize) -> String {
    format!("{conv}.rank{}of{}.{k}x{n}", shard.rank, shard.ranks)
}

/// Bytes of a stored share [k, n]: its panels, then its bias.
fn stored_len(k: usize, n: usize) -> u64 {
    4 * (PackedLinear::panels_len(k, n) + n) as u64
}

fn js_error(what: &str, e: JsValue) -> Error {
    let text = e
        .dyn_ref::<js_sys::Error>()
        .map_or_else(|| format!("{e:?}"), |e| String::from(e.message()));
    Error::input("packed weights store", format!("{what}: {text}"))
}

async fn promised<T: JsCast>(what: &str, p: js_sys::Promise) -> Result<T> {
    JsFuture::from(p)
        .await
        .map_err(|e| js_error(what, e))?
        .dyn_into::<T>()
        .map_err(|_| js_error(what, JsValue::from_str("unexpected answer")))
}

/// The origin's file system root, where the browser has one (secure contexts only).
async fn root() -> Option<FileSystemDirectoryHandle> {
    let global = js_sys::global();
    let navigator = Reflect::get(&global, &"navigator".into()).ok()?;
    if !has_object(&navigator, "storage") {
        return None;
    }
    let storage: StorageManager = Reflect::get(&navigator, &"storage".into()).ok()?.unchecked_into();
    if !Reflect::get(&storage, &"getDirectory".into()).is_ok_and(|f| f.is_function()) {
        return None;
    }
    promised("opening the origin's file system", storage.get_directory())
        .await
        .ok()
}

async fn subfolder(parent: &FileSystemDirectoryHandle, name: &str, create: bool) -> Option<FileSystemDirectoryHandle> {
    let options = FileSystemGetDirectoryOptions::new();
    options.set_create(create);
    promised("opening a folder", parent.get_directory_handle_with_options(name, &options))
        .await
        .ok()
}

/// One weights file's packed shares at one revision.
pub struct PackedStore {
    folder: FileSystemDirectoryHandle,
    name: String,
}

impl PackedStore {
    /// The store of `weights_url` at `revision` (created if need be); None outside a worker or
    /// where the browser keeps no such files.
    pub async fn open(weights_url: &str, revision: Option<&str>) -> Option<Self> {
        Self::open_folder(&folder_name(weights_url, revision)).await
    }

    /// The store in folder `name` (from [`Self::name`], as the engine hands it to the second worker).
    pub async fn open_folder(name: &str) -> Option<Self> {
        // Sync access handles exist in dedicated workers only.
        if !Reflect::get(&js_sys::global(), &"FileSystemSyncAccessHandle".into()).is_ok_and(|c| c.is_function()) {
            return None;
        }
        let top = subfolder(&root().await?, ROOT, true).await?;
        Some(PackedStore {
            folder: subfolder(&top, name, true).await?,
            name: name.to_string(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    async fn file(&self, name: &str, create: bool) -> Result<FileSystemFileHandle> {
        let options = FileSystemGetFileOptions::new();
        options.set_create(create);
        promised("opening a file", self.folder.get_file_handle_with_options(name, &options)).await
    }

    /// Whether `shard`'s share [k, n] of `conv` is stored whole.
    pub async fn has(&self, conv: &str, shard: Shard, k: usize, n: usize) -> bool {
        let Ok(handle) = self.file(&file_name(conv, shard, k, n), false).await else {
            return false;
        };
        match promised::<web_sys::File>("reading a file's size", handle.get_file()).await {
            Ok(file) => file.size() as u64 == stored_len(k, n),
            Err(_) => false,
        }
    }

    async fn access(&self, name: &str, create: bool) -> Result<FileSystemSyncAccessHandle> {
        let handle = self.file(name, create).await?;
        promised("opening a file for access", handle.create_sync_access_handle()).await
    }

    /// [`Self::access`] to read, waiting a little while another tab of the page holds the file
    /// (a handle is exclusive: that tab is writing it, for a few milliseconds).
    async fn access_to_read(&self, name: &str) -> Result<FileSystemSyncAccessHandle> {
        let mut tries = 0;
        loop {
            match self.access(name, false).await {
                Err(_) if tries < LOCKED_TRIES => {
                    tries += 1;
                    gloo::timers::future::TimeoutFuture::new(LOCKED_WAIT_MS).await;
                }
                outcome => return outcome,
            }
        }
    }

    /// Writes every Conv1D `weights` hold that the store lacks (or holds cut short); returns
    /// how many it wrote.
    pub async fn keep(&self, weights: &LayerWeights) -> Result<usize> {
        let mut written = 0;
        for (conv, linear) in weights.conv1ds() {
            let (k, n) = (linear.in_features(), linear.out_features());
            if self.has(&conv, weights.shard, k, n).await {
                continue;
            }
            let name = file_name(&conv, weights.shard, k, n);
            let access = self.access(&name, true).await?;
            let outcome = write_share(&access, linear);
            access.close();
            if let Err(e) = outcome {
                // A share cut short (storage full) would only take space.
                remove_entry(&self.folder, &name).await;
                return Err(js_error(&format!("writing {conv}"), e));
            }
            written += 1;
        }
        Ok(written)
    }
}

fn at(offset: u64) -> FileSystemReadWriteOptions {
    let options = FileSystemReadWriteOptions::new();
    options.set_at(offset as f64);
    options
}

/// Reads a share straight into its vectors' memory (views, no copy through JS).
fn read_share(access: &FileSystemSyncAccessHandle, k: usize, n: usize) -> std::result::Result<PackedLinear, JsValue> {
    let expected = stored_len(k, n);
    if access.get_size()? as u64 != expected {
        return Err(JsValue::from_str("the stored share has the wrong size"));
    }
    let mut panels = vec![0.0f32; PackedLinear::panels_len(k, n)];
    let mut bias = vec![0.0f32; n];
    let mut offset = 0u64;
    for part in [&mut panels[..], &mut bias[..]] {
        let bytes = 4 * part.len();
        let options = at(offset);
        // SAFETY: the view covers exactly `part`'s bytes and is used by the one synchronous
        // read below, before anything can allocate (and move wasm memory); f32 has no invalid
        // bit patterns and wasm is little-endian, the stored order.
        let view = unsafe { Uint8Array::view_mut_raw(part.as_mut_ptr() as *mut u8, bytes) };
        let read = access.read_with_buffer_source_and_options(&view, &options)? as u64;
        if read != bytes as u64 {
            return Err(JsValue::from_str("the stored share ended early"));
        }
        offset += bytes as u64;
    }
    PackedLinear::from_panels(k, n, panels, bias).ok_or_else(|| JsValue::from_str("a share of the wrong shape"))
}

fn write_share(access: &FileSystemSyncAccessHandle, linear: &PackedLinear) -> std::result::Result<(), JsValue> {
    access.truncate_with_f64(0.0)?;
    let mut offset = 0u64;
    for part in [linear.panels(), linear.bias()] {
        // SAFETY: plain f32s seen as their bytes, for the one synchronous write below.
        let bytes = unsafe { std::slice::from_raw_parts(part.as_ptr() as *const u8, 4 * part.len()) };
        let written = access.write_with_u8_array_and_options(bytes, &at(offset))? as u64;
        if written != bytes.len() as u64 {
            return Err(JsValue::from_str("the storage took only part of the share (full?)"));
        }
        offset += written;
    }
    access.flush()
}

async fn remove_entry(parent: &FileSystemDirectoryHandle, name: &str) {
    let options = FileSystemRemoveOptions::new();
    options.set_recursive(true);
    let _ = JsFuture::from(parent.remove_entry_with_options(name, &options)).await;
}

/// Deletes one weights file's packed shares at one revision (the storage panel frees it).
pub async fn remove_folder(name: &str) {
    if let Some(top) = async { subfolder(&root().await?, ROOT, false).await }.await {
        remove_entry(&top, name).await;
    }
}

/// Deletes every packed share (the storage panel's "free everything").
pub async fn remove_all() {
    if let Some(root) = root().await {
        remove_entry(&root, ROOT).await;
    }
}

/// The Conv1Ds among `needs` whose share the store holds whole for every one of `ranks`.
pub async fn find(store: &PackedStore, config: &Gpt2Config, needs: &[Need], ranks: usize) -> Vec<StoredConv> {
    let convs: Vec<StoredConv> = needs
        .iter()
        .filter_map(|need| match need {
            Need::Whole { name, shape } => match (name.strip_suffix(".weight"), &shape[..]) {
                (Some(conv), &[n_in, n_out]) => Some(StoredConv {
                    name: conv.to_string(),
                    n_in,
                    n_out,
                }),
                _ => None,
            },
            Need::Rows { .. } => None,
        })
        .collect();
    // Every (Conv1D, rank) asked at once: each answer waits on the browser's storage.
    let asks = convs.iter().flat_map(|c| {
        (0..ranks).map(move |rank| {
            let shard = Shard { rank, ranks };
            store.has(&c.name, shard, c.n_in, share_width(config, c, shard))
        })
    });
    let held = join_all(asks).await;
    convs
        .into_iter()
        .zip(held.chunks(ranks.max(1)))
        .filter(|(_, every)| every.iter().all(|&h| h))
        .map(|(c, _)| c)
        .collect()
}

fn share_width(config: &Gpt2Config, c: &StoredConv, shard: Shard) -> usize {
    share_columns(config, &c.name, c.n_out, shard).iter().map(|r| r.len()).sum()
}

/// The bytes [`take`] reads for `shard`'s share of `convs`.
pub fn share_bytes(config: &Gpt2Config, convs: &[StoredConv], shard: Shard) -> u64 {
    convs
        .iter()
        .map(|c| {
            let n = share_width(config, c, shard);
            4 * (PackedLinear::panels_len(c.n_in, n) + n) as u64
        })
        .sum()
}

/// Writes to every page of `bytes` of fresh memory, then frees it. The first write to a page
/// of new wasm memory costs a page fault in the OS: ~130 ms for the 135 MB of a gpt2-medium
/// share here, more than reading them. Done while a worker would wait anyway, [`take`] then
/// fills pages that are already there.
pub fn prefault(bytes: usize) {
    let mut pages: Vec<u8> = Vec::with_capacity(bytes);
    touch(pages.spare_capacity_mut());
    std::hint::black_box(&pages);
}

/// [`prefault`] a slice at a time, letting the worker's other tasks (the reads of a download)
/// go on between slices: the engine maps its share while it reads what the store lacks.
pub async fn prefault_in_slices(bytes: usize) {
    let mut pages: Vec<u8> = Vec::with_capacity(bytes);
    for slice in pages.spare_capacity_mut().chunks_mut(PREFAULT_SLICE) {
        touch(slice);
        super::engine::next_task().await;
    }
    std::hint::black_box(&pages);
}

/// ~15-25 ms of page faults here.
const PREFAULT_SLICE: usize = 16 << 20;

/// One write per page (memory not written yet: only its pages matter).
fn touch(slice: &mut [std::mem::MaybeUninit<u8>]) {
    for byte in slice.iter_mut().step_by(4096) {
        byte.write(1);
    }
}

/// `shard`'s share of each of `convs`, read from the store. A failed read removes the store's
/// folder (the next run packs again) and fails the run.
pub async fn take(store: Option<&PackedStore>, config: &Gpt2Config, convs: &[StoredConv], shard: Shard) -> Result<Prepacked> {
    let mut out = Prepacked::new();
    if convs.is_empty() {
        return Ok(out);
    }
    let store = store.ok_or_else(|| Error::input("packed weights store", "it is gone"))?;
    // The files opened at once (each opening waits on the browser), then read one by one.
    let opened = join_all(convs.iter().map(|c| {
        let name = file_name(&c.name, shard, c.n_in, share_width(config, c, shard));
        async move { store.access_to_read(&name).await }
    }))
    .await;
    let mut failed = None;
    for (c, access) in convs.iter().zip(opened) {
        let read = access.and_then(|access| {
            // Only read while nothing failed; every handle is closed either way.
            let share = match failed {
                None => read_share(&access, c.n_in, share_width(config, c, shard))
                    .map_err(|e| js_error(&format!("reading {}", c.name), e)),
                Some(_) => Err(Error::input("packed weights store", "skipped")),
            };
            access.close();
            share
        });
        match read {
            Ok(linear) => {
                out.insert(c.name.clone(), linear);
            }
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
    }
    match failed {
        None => Ok(out),
        Some(e) => {
            remove_folder(store.name()).await;
            Err(Error::Model(format!(
                "the packed weights kept in this browser could not be read ({e}); they were removed, so Run again packs them anew"
            )))
        }
    }
}

/// The handles a folder lists (none where the browser cannot list one).
async fn listed(dir: &FileSystemDirectoryHandle) -> Vec<JsValue> {
    let mut out = Vec::new();
    if !Reflect::get(dir, &"values".into()).is_ok_and(|f| f.is_function()) {
        return out;
    }
    let entries = dir.values();
    while let Ok(step) = entries.next() {
        let Ok(step) = JsFuture::from(step).await else { break };
        if Reflect::get(&step, &"done".into()).ok().and_then(|d| d.as_bool()) != Some(false) {
            break;
        }
        if let Ok(value) = Reflect::get(&step, &"value".into()) {
            out.push(value);
        }
    }
    out
}

/// Bytes and files the store holds over every model and revision, for the storage panel; None
/// where the browser gives the page no file system, or nothing is stored.
pub async fn usage() -> Option<(u64, usize)> {
    let top = subfolder(&root().await?, ROOT, false).await?;
    let (mut bytes, mut files) = (0u64, 0usize);
    for folder in listed(&top).await {
        let Ok(folder) = folder.dyn_into::<FileSystemDirectoryHandle>() else {
            continue;
        };
        for file in listed(&folder).await {
            let Ok(file) = file.dyn_into::<FileSystemFileHandle>() else {
                continue;
            };
            if let Ok(file) = promised::<web_sys::File>("reading a file's size", file.get_file()).await {
                bytes += file.size() as u64;
                files += 1;
            }
        }
    }
    (files > 0).then_some((bytes, files))
}

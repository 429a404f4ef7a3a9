//! Downloads only the bytes of model.safetensors that a capture at layer L needs: the header by
//! HTTP Range, then the planned pieces (coalesced into few ranges, several in flight). Every
//! piece is kept in Cache Storage under the file's URL, its revision (see `revision.rs`: pieces of
//! two versions are never mixed) and its byte range, so a repeat run
//! downloads nothing and a run at a higher layer downloads only the difference. A server that
//! ignores Range (status 200) gets one full download instead.
//!
//! Downloaded bytes stay in JavaScript memory; tensors are copied into wasm one at a time, so
//! wasm memory (which never shrinks) holds the f32 weights and little else.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::ops::Range;

use futures::stream::{self, StreamExt};
use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, Response};

use super::fetch::{fetch_range, fetch_whole, get, read_body, with_retries, Progress, RangeAnswer};
use super::first_load;
use crate::error::{Error, Result};
use crate::model::plan::{coalesce, plan, FetchedRanges, Header, Need, Part};
use crate::model::TokenMemo;

/// Ranges closer than this are fetched as one request (fewer round trips, a few wasted bytes).
const COALESCE_GAP: u64 = 64 * 1024;
/// Requests in flight at once: latency, not bandwidth, dominates many small ranges.
const PARALLEL_REQUESTS: usize = 6;
/// Cache Storage reads in flight at once.
const PARALLEL_CACHE_READS: usize = 32;
pub(super) const CACHE_NAME: &str = "qk-lens-weights-v1";

/// How the weights were obtained, for the page and the benchmark.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DownloadStats {
    pub file_bytes: u64,
    pub bytes_downloaded: u64,
    pub bytes_from_cache: u64,
    pub requests: u32,
    /// False when the server ignored Range and the whole file came down.
    pub partial: bool,
    /// Pieces the browser refused to store (storage full): kept in memory for this run only.
    pub not_cached: u32,
    /// The browser gives this page no Cache Storage (not a secure context): nothing is kept.
    pub no_storage: bool,
}

/// A downloaded range, kept in JavaScript memory.
pub struct JsBytes(Uint8Array);

impl JsBytes {
    pub fn new(bytes: Uint8Array) -> Self {
        JsBytes(bytes)
    }

    pub fn array(&self) -> &Uint8Array {
        &self.0
    }
}

impl Part for JsBytes {
    fn len(&self) -> u64 {
        self.0.length() as u64
    }
    fn slice(&self, a: usize, b: usize) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.subarray(a as u32, b as u32).to_vec())
    }
}

/// The weights' bytes: the planned pieces, or the whole file from a server without Range.
pub type WeightBytes = FetchedRanges<JsBytes>;

/// A step that may find the server ignoring Range: its result, or the 200 answer to read whole.
enum Answered<T> {
    Range(T),
    WholeFile(Response),
}

/// The browser's cache for `url`, or None where Cache Storage is unavailable (then everything
/// downloads) or pointless (blob: URLs of local files live for one page only).
pub(super) async fn open_cache(url: &str) -> Option<Cache> {
    if !is_http(url) {
        return None;
    }
    let caches = super::fetch::global_caches()?;
    JsFuture::from(caches.open(CACHE_NAME)).await.ok()?.dyn_into().ok()
}

fn is_http(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

use crate::revision::cache_key;

fn range_key(url: &str, rev: Option<&str>, range: &Range<u64>) -> String {
    cache_key(url, rev, &format!("bytes={}-{}", range.start, range.end))
}

pub(super) async fn cache_get(cache: &Cache, key: &str) -> Option<Uint8Array> {
    let found = JsFuture::from(cache.match_with_str(key)).await.ok()?;
    let resp: Response = found.dyn_into().ok()?;
    let buf = JsFuture::from(resp.array_buffer().ok()?).await.ok()?;
    Some(Uint8Array::new(&buf))
}

/// Stores `bytes` under `key`; false when the browser refused (storage full, quota exceeded):
/// the run goes on from memory, and only the next visit downloads again.
pub(super) async fn cache_put(cache: &Cache, key: &str, bytes: &Uint8Array) -> bool {
    match Response::new_with_opt_buffer_source(Some(bytes)) {
        Ok(resp) => JsFuture::from(cache.put_with_str(key, &resp)).await.is_ok(),
        Err(_) => false,
    }
}

/// Total file length from a 206's `Content-Range: bytes a-b/TOTAL`.
fn total_from_content_range(resp: &Response) -> Option<u64> {
    resp.headers()
        .get("content-range")
        .ok()
        .flatten()?
        .rsplit('/')
        .next()?
        .parse()
        .ok()
}

/// Reads the header: from the cache, else by two Range requests (length, then JSON).
async fn load_header(url: &str, rev: Option<&str>, cache: Option<&Cache>, stats: &mut DownloadStats) -> Result<Answered<Header>> {
    let key = cache_key(url, rev, "header");
    // Cached as 8 bytes of file length + the JSON, so it parses without the network.
    if let Some(entry) = match cache {
        Some(c) => cache_get(c, &key).await.map(|b| b.to_vec()),
        None => None,
    } {
        if entry.len() > 8 {
            let file_len = u64::from_le_bytes(entry[..8].try_into().expect("8 bytes"));
            if let Ok(h) = Header::parse(&entry[8..], file_len) {
                return Ok(Answered::Range(h));
            }
        }
    }
    // The first 8 bytes give the header's length; the answer's Content-Range, the file's.
    let probe = with_retries(|| async {
        let resp = get(url, Some(0..8)).await?;
        if resp.status() == 200 {
            return Ok(Err(resp));
        }
        let file_len = total_from_content_range(&resp)
            .ok_or_else(|| Error::input(format!("GET {url}"), "the server's 206 answer has no Content-Range total"))?;
        Ok(Ok((file_len, read_body(url, &resp, |_| {}).await?.to_vec())))
    })
    .await?;
    let (file_len, first) = match probe {
        Ok(p) => p,
        Err(resp) => return Ok(Answered::WholeFile(resp)),
    };
    let n = Header::json_len(&first)?;
    let json = match fetch_range(url, 8..8 + n, &mut |_| {}).await? {
        RangeAnswer::Bytes(json) => json.to_vec(),
        RangeAnswer::WholeFile(resp) => return Ok(Answered::WholeFile(resp)),
    };
    stats.requests += 2;
    stats.bytes_downloaded += 8 + n;
    let header = Header::parse(&json, file_len)?;
    if let Some(cache) = cache {
        let mut entry = file_len.to_le_bytes().to_vec();
        entry.extend_from_slice(&json);
        cache_put(cache, &key, &Uint8Array::from(entry.as_slice())).await;
    }
    Ok(Answered::Range(header))
}

/// The header of the model.safetensors at `url` (cached, so the run that follows reuses it); None
/// when the server ignores Range requests (the header would cost the whole file).
pub async fn remote_header(url: &str) -> Result<Option<Header>> {
    let cache = open_cache(url).await;
    let mut stats = DownloadStats::default();
    Ok(match load_header(url, None, cache.as_ref(), &mut stats).await? {
        Answered::Range(h) => Some(h),
        Answered::WholeFile(_) => None,
    })
}

/// A small file (config.json, tokenizer.json) from the cache, else downloaded and cached once
/// complete: a second visit downloads nothing, and the app works offline.
pub async fn fetch_cached(url: &str, rev: Option<&str>) -> Result<(Vec<u8>, bool)> {
    let cache = open_cache(url).await;
    let key = cache_key(url, rev, "file");
    if let Some(bytes) = match &cache {
        Some(c) => cache_get(c, &key).await,
        None => None,
    } {
        return Ok((bytes.to_vec(), true));
    }
    let bytes = fetch_whole(url).await?;
    if let Some(c) = &cache {
        cache_put(c, &key, &bytes).await;
    }
    Ok((bytes.to_vec(), false))
}

/// The token ids remembered beside the tokenizer at `url` for the tokenizer `id`
/// (`model/token_memo.rs`), if this browser keeps them.
pub async fn read_token_memo(url: &str, rev: Option<&str>, id: &str) -> Option<TokenMemo> {
    let cache = open_cache(url).await?;
    let json = cache_get(&cache, &cache_key(url, rev, TOKEN_MEMO)).await?;
    TokenMemo::from_json(&json.to_vec(), id)
}

/// Keeps `json` (a [`TokenMemo`]) beside the tokenizer at `url`; a failure only costs the next
/// visit a parse.
pub async fn write_token_memo(url: &str, rev: Option<&str>, json: &[u8]) {
    if let Some(cache) = open_cache(url).await {
        cache_put(&cache, &cache_key(url, rev, TOKEN_MEMO), &Uint8Array::from(json)).await;
    }
}

/// What the token memo's cache key names.
const TOKEN_MEMO: &str = "token-ids";

/// Everything `needs` asks for, from the cache and the network; progress counts network bytes.
/// A `first_load` (nothing held yet: what a reload repeats) read wholly from the cache is kept
/// again as one entry, read at once next time (see `first_load.rs`).
pub async fn load_weight_bytes(
    url: &str,
    rev: Option<&str>,
    needs: &[Need],
    first_load: bool,
    on_progress: impl FnMut(Progress),
) -> Result<(Header, WeightBytes, DownloadStats)> {
    let cache = open_cache(url).await;
    let mut stats = DownloadStats {
        partial: true,
        no_storage: cache.is_none() && is_http(url),
        ..Default::default()
    };
    let header = match load_header(url, rev, cache.as_ref(), &mut stats).await? {
        Answered::Range(h) => h,
        Answered::WholeFile(resp) => return whole_file(url, resp, stats, on_progress).await,
    };
    stats.file_bytes = header.file_len();
    let pieces: Vec<Range<u64>> = plan(&header, needs)?.into_iter().map(|p| p.range).collect();
    if let (true, Some(c)) = (first_load, &cache) {
        if let Some(parts) = first_load::read(c, url, rev, &pieces).await {
            stats.bytes_from_cache = pieces.iter().map(|r| r.end - r.start).sum();
            return Ok((header, FetchedRanges::new(parts), stats));
        }
    }
    let (mut parts, missing) = from_cache(url, rev, cache.as_ref(), &pieces, &mut stats).await?;
    if let (true, Some(c), true) = (first_load, &cache, missing.is_empty()) {
        first_load::keep(c, url, rev, &pieces, &parts);
    }
    let ranges = coalesce(missing.iter().cloned(), COALESCE_GAP);
    let total: u64 = ranges.iter().map(|r| r.end - r.start).sum();
    let done = Cell::new(0u64);
    let progress = RefCell::new(on_progress);
    (progress.borrow_mut())(Progress {
        done: 0,
        total: Some(total),
        wait_s: None,
    });
    let answers: Vec<Result<(Range<u64>, RangeAnswer)>> = stream::iter(ranges)
        .map(|range| {
            let (done, progress) = (&done, &progress);
            async move {
                let answer = fetch_range(url, range.clone(), &mut |n| {
                    done.set(done.get() + n);
                    (progress.borrow_mut())(Progress {
                        done: done.get(),
                        total: Some(total),
                        wait_s: None,
                    });
                })
                .await?;
                Ok((range, answer))
            }
        })
        .buffer_unordered(PARALLEL_REQUESTS)
        .collect()
        .await;
    let on_progress = progress.into_inner();
    // Ranges that arrived are cached even when another failed, so a retry resumes from there.
    let mut first_error = None;
    for answer in answers {
        let (range, bytes) = match answer {
            Ok((range, RangeAnswer::Bytes(bytes))) => (range, bytes),
            Ok((_, RangeAnswer::WholeFile(resp))) => return whole_file(url, resp, stats, on_progress).await,
            Err(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        stats.requests += 1;
        stats.bytes_downloaded += bytes.length() as u64;
        if let Some(c) = &cache {
            for piece in missing.iter().filter(|p| p.start >= range.start && p.end <= range.end) {
                let slice = bytes.subarray((piece.start - range.start) as u32, (piece.end - range.start) as u32);
                if !cache_put(c, &range_key(url, rev, piece), &slice).await {
                    stats.not_cached += 1;
                }
            }
        }
        parts.push((range.start, JsBytes(bytes)));
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok((header, FetchedRanges::new(parts), stats)),
    }
}

/// The `pieces` the cache holds, and those it misses.
async fn from_cache(
    url: &str,
    rev: Option<&str>,
    cache: Option<&Cache>,
    pieces: &[Range<u64>],
    stats: &mut DownloadStats,
) -> Result<(Vec<(u64, JsBytes)>, Vec<Range<u64>>)> {
    let (mut parts, mut missing) = (Vec::new(), Vec::new());
    // Several reads in flight: each entry's read waits on the browser's storage process, so one
    // at a time leaves it idle between them (a reload of gpt2-medium reads ~100 entries).
    let reads = stream::iter(pieces.iter().cloned())
        .map(|piece| async move {
            let len = piece.end - piece.start;
            let cached = match cache {
                // A wrong-sized entry is corrupt: fetch it again.
                Some(c) => cache_get(c, &range_key(url, rev, &piece))
                    .await
                    .filter(|b| b.length() as u64 == len),
                None => None,
            };
            (piece, len, cached)
        })
        .buffered(PARALLEL_CACHE_READS)
        .collect::<Vec<_>>()
        .await;
    for (piece, len, cached) in reads {
        match cached {
            Some(bytes) => {
                stats.bytes_from_cache += len;
                parts.push((piece.start, JsBytes(bytes)));
            }
            None => missing.push(piece),
        }
    }
    Ok((parts, missing))
}

/// The server ignored Range: read the whole file from the 200 answer already under way.
async fn whole_file(
    url: &str,
    resp: Response,
    mut stats: DownloadStats,
    on_progress: impl FnMut(Progress),
) -> Result<(Header, WeightBytes, DownloadStats)> {
    let progress = RefCell::new(on_progress);
    let report = |p: Progress| (progress.borrow_mut())(p);
    let bytes = match read_body(url, &resp, report).await {
        Ok(b) => b,
        // Cut off: a server without Range cannot resume, so download it again from the start.
        Err(Error::Fetch { retryable: true, .. }) => {
            with_retries(|| async { read_body(url, &get(url, None).await?, report).await }).await?
        }
        Err(e) => return Err(e),
    };
    let n = Header::json_len(&bytes.subarray(0, 8.min(bytes.length())).to_vec())?;
    let json = bytes
        .subarray(8.min(bytes.length()), (8 + n).min(bytes.length() as u64) as u32)
        .to_vec();
    let header = Header::parse(&json, bytes.length() as u64)?;
    stats = DownloadStats {
        partial: false,
        requests: stats.requests + 1,
        bytes_downloaded: stats.bytes_downloaded + bytes.length() as u64,
        file_bytes: bytes.length() as u64,
        ..stats
    };
    Ok((header, FetchedRanges::new(vec![(0, JsBytes(bytes))]), stats))
}

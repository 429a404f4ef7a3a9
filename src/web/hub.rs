//! Downloads only the bytes of model.safetensors that a capture at layer L needs: the header by
//! HTTP Range, then the planned pieces (coalesced into few ranges). Every piece is kept in Cache
//! Storage under the file's URL plus its byte range, so a repeat run downloads nothing and a run
//! at a higher layer downloads only the difference. A server that ignores Range (status 200)
//! gets one full download instead.

use std::cell::{Cell, RefCell};
use std::ops::Range;

use futures::stream::{self, StreamExt};

use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, Response};

use super::fetch::{get, read_body, Progress};
use crate::error::{Error, Result};
use crate::model::plan::{coalesce, plan, ByteSource, FetchedRanges, Header, Need, WholeFile};

/// Ranges closer than this are fetched as one request (fewer round trips, a few wasted bytes).
const COALESCE_GAP: u64 = 64 * 1024;
const CACHE_NAME: &str = "qk-lens-weights-v1";
const PARALLEL_REQUESTS: usize = 6;

/// How the weights were obtained, for the page and the benchmark.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DownloadStats {
    pub file_bytes: u64,
    pub bytes_downloaded: u64,
    pub bytes_from_cache: u64,
    pub requests: u32,
    /// False when the server ignored Range and the whole file came down.
    pub partial: bool,
}

/// The weights' bytes: the planned pieces, or the whole file from a server without Range.
pub enum WeightBytes {
    Pieces(FetchedRanges),
    Whole(Vec<u8>),
}

impl WeightBytes {
    pub fn source(&self) -> Box<dyn ByteSource + '_> {
        match self {
            WeightBytes::Pieces(p) => Box::new(PiecesRef(p)),
            WeightBytes::Whole(b) => Box::new(WholeFile(b)),
        }
    }
}

struct PiecesRef<'a>(&'a FetchedRanges);
impl ByteSource for PiecesRef<'_> {
    fn bytes(&self, range: Range<u64>) -> Result<&[u8]> {
        self.0.bytes(range)
    }
}

/// The browser's cache, or None where Cache Storage is unavailable (then everything downloads).
async fn open_cache() -> Option<Cache> {
    let caches = web_sys::window()?.caches().ok()?;
    JsFuture::from(caches.open(CACHE_NAME)).await.ok()?.dyn_into().ok()
}

fn cache_key(url: &str, range: &Range<u64>) -> String {
    // A query, not a fragment: Cache Storage ignores fragments when matching.
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}qk-bytes={}-{}", range.start, range.end)
}

async fn cache_get(cache: &Cache, key: &str, expected_len: u64) -> Option<Vec<u8>> {
    // A wrong-sized entry is corrupt: ignore it and fetch again.
    cache_get_any(cache, key).await.filter(|b| b.len() as u64 == expected_len)
}

async fn cache_put(cache: &Cache, key: &str, bytes: &[u8]) {
    let mut copy = bytes.to_vec();
    if let Ok(resp) = Response::new_with_opt_u8_array(Some(&mut copy)) {
        // A full cache only costs a re-download next time.
        let _ = JsFuture::from(cache.put_with_str(key, &resp)).await;
    }
}

/// Fetches `range` with a Range request; Ok(None) when the server answered 200 (ignores Range),
/// with the full response handed back for a whole-file download.
async fn fetch_range(
    url: &str,
    range: Range<u64>,
    on_bytes: &mut dyn FnMut(u64),
) -> Result<std::result::Result<Vec<u8>, Response>> {
    let resp = get(url, Some(range.clone())).await?;
    if resp.status() == 200 {
        return Ok(Err(resp));
    }
    let mut last = 0;
    let bytes = read_body(url, &resp, |p: Progress| {
        on_bytes(p.done - last);
        last = p.done;
    })
    .await?;
    if bytes.len() as u64 != range.end - range.start {
        return Err(Error::input(
            format!("GET {url}"),
            format!("asked for bytes {range:?}, got {} bytes", bytes.len()),
        ));
    }
    Ok(Ok(bytes))
}

/// Total file length from a 206's `Content-Range: bytes a-b/TOTAL`.
fn total_from_content_range(resp_headers: &web_sys::Headers) -> Option<u64> {
    resp_headers
        .get("content-range")
        .ok()
        .flatten()?
        .rsplit('/')
        .next()?
        .parse()
        .ok()
}

/// Reads the header: from the cache, else by two Range requests (length, then JSON).
async fn load_header(
    url: &str,
    cache: Option<&Cache>,
    stats: &mut DownloadStats,
) -> Result<std::result::Result<Header, Response>> {
    let key = format!("{url}?qk-header");
    if let Some(cache) = cache {
        if let Some(bytes) = cache_get_any(cache, &key).await {
            if bytes.len() > 16 {
                let (len_bytes, rest) = bytes.split_at(8);
                let file_len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
                if let Ok(h) = Header::parse(rest, file_len) {
                    return Ok(Ok(h));
                }
            }
        }
    }
    let resp = get(url, Some(0..8)).await?;
    if resp.status() == 200 {
        return Ok(Err(resp));
    }
    let file_len = total_from_content_range(&resp.headers())
        .ok_or_else(|| Error::input(format!("GET {url}"), "the server's 206 answer has no Content-Range total"))?;
    let first = read_body(url, &resp, |_| {}).await?;
    stats.requests += 1;
    let n = Header::json_len(&first)?;
    let json = match fetch_range(url, 8..8 + n, &mut |_| {}).await? {
        Ok(json) => json,
        Err(full) => return Ok(Err(full)),
    };
    stats.requests += 1;
    stats.bytes_downloaded += 8 + n;
    let header = Header::parse(&json, file_len)?;
    if let Some(cache) = cache {
        // Stored as file length + JSON, so the cached copy parses without the network.
        let mut entry = file_len.to_le_bytes().to_vec();
        entry.extend_from_slice(&json);
        cache_put(cache, &key, &entry).await;
    }
    Ok(Ok(header))
}

async fn cache_get_any(cache: &Cache, key: &str) -> Option<Vec<u8>> {
    let found = JsFuture::from(cache.match_with_str(key)).await.ok()?;
    let resp: Response = found.dyn_into().ok()?;
    let buf = JsFuture::from(resp.array_buffer().ok()?).await.ok()?;
    Some(Uint8Array::new(&buf).to_vec())
}

/// Everything `needs` asks for, from the cache and the network; progress counts network bytes.
pub async fn load_weight_bytes(
    url: &str,
    needs: &[Need],
    on_progress: impl FnMut(Progress),
) -> Result<(Header, WeightBytes, DownloadStats)> {
    let cache = open_cache().await;
    let mut stats = DownloadStats {
        partial: true,
        ..Default::default()
    };
    let header = match load_header(url, cache.as_ref(), &mut stats).await? {
        Ok(h) => h,
        Err(full) => return whole_file(url, full, stats, on_progress).await,
    };
    stats.file_bytes = header.file_len();
    let pieces = plan(&header, needs)?;
    let mut parts: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut missing = Vec::new();
    for piece in &pieces {
        let cached = match &cache {
            Some(c) => cache_get(c, &cache_key(url, &piece.range), piece.range.end - piece.range.start).await,
            None => None,
        };
        match cached {
            Some(bytes) => {
                stats.bytes_from_cache += bytes.len() as u64;
                parts.push((piece.range.start, bytes));
            }
            None => missing.push(piece.range.clone()),
        }
    }
    let ranges = coalesce(missing.iter().cloned(), COALESCE_GAP);
    let total: u64 = ranges.iter().map(|r| r.end - r.start).sum();
    let done = Cell::new(0u64);
    let progress = RefCell::new(on_progress);
    (progress.borrow_mut())(Progress {
        done: 0,
        total: Some(total),
    });
    // A few requests in flight at once: latency, not bandwidth, dominates many small ranges.
    let results: Vec<Result<(Range<u64>, std::result::Result<Vec<u8>, Response>)>> = stream::iter(ranges)
        .map(|range| {
            let (done, progress) = (&done, &progress);
            async move {
                let fetched = fetch_range(url, range.clone(), &mut |n| {
                    done.set(done.get() + n);
                    (progress.borrow_mut())(Progress {
                        done: done.get(),
                        total: Some(total),
                    });
                })
                .await?;
                Ok((range, fetched))
            }
        })
        .buffer_unordered(PARALLEL_REQUESTS)
        .collect()
        .await;
    let mut on_progress = progress.into_inner();
    // Ranges that arrived are cached even when another failed, so a retry resumes from there.
    let mut first_error = None;
    for result in results {
        let (range, fetched) = match result {
            Ok(r) => r,
            Err(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        let bytes = match fetched {
            Ok(b) => b,
            Err(full) => return whole_file(url, full, stats, on_progress).await,
        };
        stats.requests += 1;
        stats.bytes_downloaded += bytes.len() as u64;
        // Cache piece by piece, only after the whole range arrived intact.
        if let Some(c) = &cache {
            for piece in missing.iter().filter(|p| p.start >= range.start && p.end <= range.end) {
                let slice = &bytes[(piece.start - range.start) as usize..(piece.end - range.start) as usize];
                cache_put(c, &cache_key(url, piece), slice).await;
            }
        }
        parts.push((range.start, bytes));
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    on_progress(Progress {
        done: total,
        total: Some(total),
    });
    Ok((header, WeightBytes::Pieces(FetchedRanges::new(parts)), stats))
}

/// The server ignored Range: read the whole file from the 200 answer already under way.
async fn whole_file(
    url: &str,
    resp: Response,
    mut stats: DownloadStats,
    on_progress: impl FnMut(Progress),
) -> Result<(Header, WeightBytes, DownloadStats)> {
    let bytes = read_body(url, &resp, on_progress).await?;
    let header = Header::from_file(&bytes)?;
    stats.partial = false;
    stats.requests += 1;
    stats.bytes_downloaded += bytes.len() as u64;
    stats.file_bytes = bytes.len() as u64;
    Ok((header, WeightBytes::Whole(bytes), stats))
}

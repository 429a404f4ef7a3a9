//! A model's first load, again: the pieces a run read from Cache Storage with nothing held
//! (what a reload reads: the small tensors and the words' embedding rows, ~100 pieces for
//! gpt2-medium, its matrices coming packed from the origin's file system) are kept once more as
//! one entry. The next load of the same pieces reads that one entry instead of each piece:
//! every Cache Storage read waits on the browser's storage process, and on two cores a hundred
//! of them took 60-120 ms of a reload.
//!
//! Entry: u32 LE count n, n × (u64 LE start, u64 LE end) of the pieces, then their bytes in
//! that order. One per file and revision (the last such load's); used only when it lists
//! exactly the pieces asked for, else the pieces are read one by one.

use std::ops::Range;

use js_sys::Uint8Array;
use web_sys::Cache;

use super::hub::{cache_get, cache_put, JsBytes};
use crate::revision::cache_key;

/// Loads larger than this are not kept twice (a first visit's whole model never is).
const MAX_BYTES: u64 = 16 << 20;

/// The bytes of `pieces` in all, if a load of them is kept as one entry.
fn kept_bytes(pieces: &[Range<u64>]) -> Option<u64> {
    let total: u64 = pieces.iter().map(|r| r.end - r.start).sum();
    (!pieces.is_empty() && total <= MAX_BYTES).then_some(total)
}

fn key(url: &str, rev: Option<&str>) -> String {
    cache_key(url, rev, "first-load")
}

fn index(pieces: &[Range<u64>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 16 * pieces.len());
    out.extend_from_slice(&(pieces.len() as u32).to_le_bytes());
    for r in pieces {
        out.extend_from_slice(&r.start.to_le_bytes());
        out.extend_from_slice(&r.end.to_le_bytes());
    }
    out
}

/// The bytes of `pieces`, each at its start, if the kept entry holds exactly them.
pub(super) async fn read(cache: &Cache, url: &str, rev: Option<&str>, pieces: &[Range<u64>]) -> Option<Vec<(u64, JsBytes)>> {
    let total = kept_bytes(pieces)?;
    let want = index(pieces);
    let entry = cache_get(cache, &key(url, rev)).await?;
    if entry.length() as u64 != want.len() as u64 + total || entry.subarray(0, want.len() as u32).to_vec() != want {
        return None;
    }
    let mut at = want.len() as u32;
    Some(
        pieces
            .iter()
            .map(|r| {
                let len = (r.end - r.start) as u32;
                at += len;
                (r.start, JsBytes::new(entry.subarray(at - len, at)))
            })
            .collect(),
    )
}

/// Keeps `parts` (the pieces of `pieces`, in their order, as read from the cache) as the entry,
/// written in the background: the run does not wait, and a failure only costs the next load
/// its reads.
pub(super) fn keep(cache: &Cache, url: &str, rev: Option<&str>, pieces: &[Range<u64>], parts: &[(u64, JsBytes)]) {
    let Some(total) = kept_bytes(pieces).filter(|_| parts.len() == pieces.len()) else {
        return;
    };
    let head = index(pieces);
    let entry = Uint8Array::new_with_length(head.len() as u32 + total as u32);
    entry.subarray(0, head.len() as u32).copy_from(&head);
    let mut at = head.len() as u32;
    for (r, (start, part)) in pieces.iter().zip(parts) {
        if *start != r.start || part.array().length() as u64 != r.end - r.start {
            return;
        }
        entry.set(part.array(), at);
        at += part.array().length();
    }
    let (cache, key) = (cache.clone(), key(url, rev));
    wasm_bindgen_futures::spawn_local(async move {
        cache_put(&cache, &key, &entry).await;
    });
}

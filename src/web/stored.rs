//! What Cache Storage holds of the models, per file and revision, for the storage panel: list
//! it (from the keys alone: no body is loaded), free one file at one revision (an old version
//! of a model, with its packed weights: see `packed_store.rs`), or free everything.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::Cache;

use super::hub::{open_cache, CACHE_NAME};
use crate::error::{Error, Result};

/// What Cache Storage holds for one model file at one revision.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedFile {
    pub url: String,
    /// The revision its pieces are keyed by (None: stored by URL alone).
    pub revision: Option<String>,
    pub pieces: usize,
    pub bytes: u64,
}

/// The cache's keys (model pieces, not the manifest) with the file, revision and entry each names.
async fn cache_keys(cache: &Cache) -> Result<Vec<(web_sys::Request, (String, Option<String>, String))>> {
    let keys = JsFuture::from(cache.keys())
        .await
        .map_err(|e| Error::input("Cache Storage", format!("{e:?}")))?;
    Ok(js_sys::Array::from(&keys)
        .iter()
        .filter_map(|k| k.dyn_into::<web_sys::Request>().ok())
        .filter(|r| r.url() != super::revision::MANIFEST_KEY)
        .map(|r| {
            let parts = crate::revision::split_cache_key(&r.url());
            (r, parts)
        })
        .collect())
}

/// The cached model files per revision with their sizes (read from the keys: no body is loaded).
pub async fn cached_files() -> Result<Vec<CachedFile>> {
    let Some(cache) = open_cache("https://").await else {
        return Ok(Vec::new());
    };
    let mut files: Vec<CachedFile> = Vec::new();
    for (_, (file, revision, what)) in cache_keys(&cache).await? {
        let bytes = what
            .strip_prefix("bytes=")
            .and_then(|r| r.split_once('-'))
            .map_or(0, |(a, b)| {
                b.parse::<u64>().unwrap_or(0).saturating_sub(a.parse().unwrap_or(0))
            });
        match files.iter_mut().find(|f| f.url == file && f.revision == revision) {
            Some(f) => {
                f.pieces += 1;
                f.bytes += bytes;
            }
            None => files.push(CachedFile {
                url: file,
                revision,
                pieces: 1,
                bytes,
            }),
        }
    }
    Ok(files)
}

/// Deletes what the cache holds of one file at one revision (an old version of a model), and
/// the revision from the manifest when it is the weights.
pub async fn free_file(file: &CachedFile) -> Result<()> {
    let cache = open_cache("https://")
        .await
        .ok_or_else(|| Error::input("Cache Storage", "not available"))?;
    for (request, (url, revision, _)) in cache_keys(&cache).await? {
        if url == file.url && revision == file.revision {
            let _ = JsFuture::from(cache.delete_with_request(&request)).await;
        }
    }
    if let (Some(r), Some(rev)) = (crate::revision::ResolveUrl::parse(&file.url), &file.revision) {
        if r.file == "model.safetensors" {
            super::revision::forget(&r.model_key(), rev).await;
        }
    }
    let packed = super::packed_store::folder_name(&file.url, file.revision.as_deref());
    super::packed_store::remove_folder(&packed).await;
    Ok(())
}

/// Deletes every cached model piece and every packed weight (the app shell stays).
pub async fn clear_cache() -> Result<()> {
    super::packed_store::remove_all().await;
    let caches = super::fetch::global_caches().ok_or_else(|| Error::input("Cache Storage", "not available"))?;
    JsFuture::from(caches.delete(CACHE_NAME))
        .await
        .map_err(|e| Error::input("Cache Storage", format!("{e:?}")))?;
    Ok(())
}

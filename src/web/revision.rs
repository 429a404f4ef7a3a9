//! Which revision of a hub model a run reads: one cheap request (the first byte of config.json)
//! names it (`X-Repo-Commit`, else `ETag`, else `Last-Modified` and length), and the run then
//! reads `resolve/{commit}/`, so a repository updated mid-run cannot mix two versions and the
//! cache (keyed by revision) never serves an old version's pieces. Offline, the newest revision
//! stored (the manifest in Cache Storage) is used, and the result says so. Also where the
//! download's waits for the hub's rate limit and its expired presigned links are counted.

use std::cell::{Cell, RefCell};

use gloo::timers::future::TimeoutFuture;
use js_sys::Uint8Array;

use super::fetch::get;
use super::hub::{cache_get, cache_put, open_cache};
use crate::error::{Error, Result};
use crate::protocol::{ModelFiles, Progress};
use crate::revision::{is_commit, revision_from_headers, Manifest, ResolveUrl};

/// Where the manifest (model -> stored revisions) lives in the weights' cache.
pub const MANIFEST_KEY: &str = "https://qk-lens.invalid/revisions.json";

/// How the run's revision was found.
pub const SOURCE_ONLINE: &str = "online";
pub const SOURCE_OFFLINE: &str = "stored (offline)";
pub const SOURCE_PINNED: &str = "pinned";

/// Waits for the hub's rate limit and presigned links found expired, during the current run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HubCounts {
    pub rate_limit_waits: u32,
    pub rate_limit_wait_s: u32,
    pub expired_links: u32,
}

/// Where a wait for the hub is reported.
pub type WaitNotice = Box<dyn Fn(Progress)>;

thread_local! {
    static COUNTS: Cell<HubCounts> = Cell::new(HubCounts::default());
    /// Tells the page why the download stands still (set by the engine for one run).
    static WAIT_NOTICE: RefCell<Option<WaitNotice>> = RefCell::new(None);
}

/// Sets (or with None, drops) where waits are reported, and starts the counts afresh.
pub fn on_wait(notice: Option<WaitNotice>) {
    WAIT_NOTICE.with(|n| *n.borrow_mut() = notice);
    COUNTS.with(|c| c.set(HubCounts::default()));
}

pub fn counts() -> HubCounts {
    COUNTS.with(Cell::get)
}

/// The hub answered 429: say so, then wait `seconds` as its Retry-After asked.
pub async fn wait_for_rate_limit(seconds: u32) {
    COUNTS.with(|c| {
        let mut n = c.get();
        n.rate_limit_waits += 1;
        n.rate_limit_wait_s += seconds;
        c.set(n);
    });
    WAIT_NOTICE.with(|n| {
        if let Some(notice) = n.borrow().as_ref() {
            notice(Progress {
                done: 0,
                total: None,
                wait_s: Some(seconds),
            });
        }
    });
    TimeoutFuture::new(seconds * 1000).await;
}

pub fn count_expired_link() {
    COUNTS.with(|c| {
        let mut n = c.get();
        n.expired_links += 1;
        c.set(n);
    });
}

/// A model's files at the revision a run uses.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    pub files: ModelFiles,
    /// How the revision was found ([`SOURCE_ONLINE`]...); None: the files are not versioned.
    pub source: Option<&'static str>,
}

/// The files at `revision`: hub URLs move to `resolve/{commit}/` when it is a commit.
fn at_revision(files: &ModelFiles, revision: &str) -> ModelFiles {
    let move_to = |url: &str| match ResolveUrl::parse(url) {
        Some(r) if is_commit(revision) => r.at(revision),
        _ => url.to_string(),
    };
    ModelFiles {
        config: move_to(&files.config),
        weights: move_to(&files.weights),
        tokenizer: move_to(&files.tokenizer),
        fallback_tokenizer: files.fallback_tokenizer.clone(),
        revision: Some(revision.to_string()),
    }
}

/// Finds the revision of a hub model's files (other folders are read by URL, as they are).
pub async fn resolve(files: &ModelFiles) -> Result<Resolved> {
    let unversioned = Resolved {
        files: files.clone(),
        source: None,
    };
    let Some(hub_url) = ResolveUrl::parse(&files.config) else {
        return Ok(unversioned);
    };
    let model = hub_url.model_key();
    if is_commit(&hub_url.revision) {
        record(&model, &hub_url.revision, false).await;
        return Ok(Resolved {
            files: at_revision(files, &hub_url.revision),
            source: Some(SOURCE_PINNED),
        });
    }
    match probe(&files.config).await {
        Ok(Some(revision)) => {
            record(&model, &revision, true).await;
            Ok(Resolved {
                files: at_revision(files, &revision),
                source: Some(SOURCE_ONLINE),
            })
        }
        Ok(None) => Ok(unversioned),
        // No network: the newest revision kept, if any (else the run fails as it would have).
        Err(Error::Fetch { status: None, .. }) => Ok(match read_manifest().await.newest(&model) {
            Some(stored) => Resolved {
                files: at_revision(files, &stored.revision),
                source: Some(SOURCE_OFFLINE),
            },
            None => unversioned,
        }),
        // An HTTP error: the run's own request of the file says what it is.
        Err(_) => Ok(unversioned),
    }
}

/// The revision the server names for `url`, from a one-byte Range request.
async fn probe(url: &str) -> Result<Option<String>> {
    let resp = get(url, Some(0..1)).await?;
    let header = |name: &str| resp.headers().get(name).ok().flatten();
    let length = header("content-range")
        .and_then(|v| v.rsplit('/').next()?.parse().ok())
        .or_else(|| super::fetch::content_length(&resp));
    let revision = revision_from_headers(
        header("x-repo-commit").as_deref(),
        header("etag").as_deref(),
        header("last-modified").as_deref(),
        length,
    );
    // The one byte is not needed; dropping the body lets the connection go.
    if let Some(body) = resp.body() {
        let _ = body.cancel();
    }
    Ok(revision)
}

async fn read_manifest() -> Manifest {
    let Some(cache) = open_cache(MANIFEST_KEY).await else {
        return Manifest::default();
    };
    match cache_get(&cache, MANIFEST_KEY).await {
        Some(bytes) => Manifest::from_json(&String::from_utf8_lossy(&bytes.to_vec())),
        None => Manifest::default(),
    }
}

/// Notes in the manifest that `revision` of `model` is being stored; `touch`: as the newest
/// (a pinned old commit does not become what offline runs pick).
async fn record(model: &str, revision: &str, touch: bool) {
    let Some(cache) = open_cache(MANIFEST_KEY).await else { return };
    let mut manifest = read_manifest().await;
    let known = manifest
        .models
        .get(model)
        .is_some_and(|l| l.iter().any(|r| r.revision == revision));
    if known && !touch {
        return;
    }
    manifest.record(model, revision, if touch { js_sys::Date::now() } else { 0.0 });
    let json = manifest.to_json();
    let _ = cache_put(&cache, MANIFEST_KEY, &Uint8Array::from(json.as_bytes())).await;
}

/// Removes `revision` of `model` from the manifest (its pieces are deleted by the caller).
pub async fn forget(model: &str, revision: &str) {
    let Some(cache) = open_cache(MANIFEST_KEY).await else { return };
    let mut manifest = read_manifest().await;
    manifest.remove(model, revision);
    let _ = cache_put(&cache, MANIFEST_KEY, &Uint8Array::from(manifest.to_json().as_bytes())).await;
}

//! HTTP GET of a model's files: byte progress, bounded retries with backoff for faults that may
//! pass (network errors, 5xx, connections cut mid-download: resumed from the last byte received),
//! and errors that say what failed and why.

use std::ops::Range;

use gloo::timers::future::TimeoutFuture;
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, ReadableStreamDefaultReader, Request, RequestInit, Response};

use crate::error::{Error, Result};

/// Attempts per request before giving up, and the first wait between them (doubled each time).
pub const MAX_ATTEMPTS: u32 = 5;
const FIRST_BACKOFF_MS: u32 = 300;
/// A 429's Retry-After is honoured up to this long, at most this many times per request.
const MAX_RETRY_AFTER_S: u32 = 60;
const MAX_RATE_LIMIT_WAITS: u32 = 5;

pub use crate::protocol::Progress;

/// What a thrown JS value says: an Error's message, a string, or its debug form.
pub(crate) fn js_message(v: &JsValue) -> String {
    v.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| v.as_string())
        .unwrap_or_else(|| format!("{v:?}"))
}

fn fetch_error(url: &str, detail: impl Into<String>, status: Option<u16>, retryable: bool) -> Error {
    Error::Fetch {
        what: format!("GET {url}"),
        detail: detail.into(),
        status,
        retryable,
    }
}

fn retryable(e: &Error) -> bool {
    matches!(e, Error::Fetch { retryable: true, .. })
}

/// Waits before attempt `attempt` (1-based retries): 300 ms, 600 ms, 1.2 s, 2.4 s.
async fn backoff(attempt: u32) {
    TimeoutFuture::new(FIRST_BACKOFF_MS << (attempt - 1).min(6)).await;
}

/// `fetch` of the page or of the worker, whichever this code runs in.
pub(super) fn global_fetch(request: &Request) -> Result<js_sys::Promise> {
    let global = js_sys::global();
    if let Some(w) = global.dyn_ref::<web_sys::Window>() {
        Ok(w.fetch_with_request(request))
    } else if let Some(w) = global.dyn_ref::<web_sys::WorkerGlobalScope>() {
        Ok(w.fetch_with_request(request))
    } else {
        Err(Error::input(request.url(), "no fetch in this context"))
    }
}

/// Whether `target.name` is an object: web-sys's getters for optional browser features (Cache
/// Storage, StorageManager) are unchecked, and calling through an undefined one throws out of wasm.
pub fn has_object(target: &JsValue, name: &str) -> bool {
    Reflect::get(target, &name.into()).is_ok_and(|v| v.is_object())
}

/// Cache Storage of the page or of the worker; None where the browser gives it none: outside a
/// secure context (an http:// address other than localhost) `caches` is undefined, and calling
/// through web-sys's unchecked binding would throw out of the wasm call.
pub fn global_caches() -> Option<web_sys::CacheStorage> {
    let global = js_sys::global();
    if !has_object(&global, "caches") {
        return None;
    }
    if let Some(w) = global.dyn_ref::<web_sys::Window>() {
        w.caches().ok()
    } else {
        global.dyn_ref::<web_sys::WorkerGlobalScope>()?.caches().ok()
    }
}

thread_local! {
    /// A hub URL -> where it last redirected a range request (a presigned CDN link).
    static REDIRECTS: std::cell::RefCell<std::collections::HashMap<String, String>> = Default::default();
}

fn redirected(url: &str) -> Option<String> {
    REDIRECTS.with(|m| m.borrow().get(url).cloned())
}

fn remember_redirect(url: &str, to: &str) {
    if !to.is_empty() && to != url {
        REDIRECTS.with(|m| m.borrow_mut().insert(url.to_string(), to.to_string()));
    }
}

fn forget_redirect(url: &str) {
    REDIRECTS.with(|m| m.borrow_mut().remove(url));
}

/// One GET of `url`, or only `range` of it (a single `bytes=a-b` range: CORS-safelisted, no
/// preflight). Fails on network errors and non-2xx statuses, with a hint for the usual ones.
pub async fn get(url: &str, range: Option<Range<u64>>) -> Result<Response> {
    let init = RequestInit::new();
    // The app keeps its own cache; the browser's HTTP cache only gets in the way here: for
    // parallel Range requests on one URL, Chromium's aborts and re-sends them (twice the bytes).
    init.set_cache(web_sys::RequestCache::NoStore);
    if let Some(r) = &range {
        let headers = Headers::new().map_err(|e| Error::input(url, js_message(&e)))?;
        headers
            .set("Range", &format!("bytes={}-{}", r.start, r.end.saturating_sub(1)))
            .map_err(|e| Error::input(url, js_message(&e)))?;
        init.set_headers(&headers);
    }
    let mut waits = 0;
    loop {
        // A range of a file the hub redirected: straight to where it sent us (one request, not
        // a hub request and a CDN request each time; a class behind one address shares the
        // hub's per-address limit). Whole files ask the hub, which they rarely do.
        let target = range
            .as_ref()
            .and_then(|_| redirected(url))
            .unwrap_or_else(|| url.to_string());
        let resp = get_once(&target, &init).await?;
        // The hub's rate limit: wait as long as it says (capped), then ask again.
        if resp.status() == 429 && waits < MAX_RATE_LIMIT_WAITS {
            waits += 1;
            super::revision::wait_for_rate_limit(retry_after_s(&resp)).await;
            continue;
        }
        if resp.ok() && resp.redirected() {
            remember_redirect(url, &resp.url());
        } else if !resp.ok() && target != url {
            // Refused where we were sent (an expired presigned link): back to the hub's URL.
            forget_redirect(url);
        }
        return check_status(url, resp);
    }
}

/// Seconds a 429's `Retry-After` asks for (a number; dates and nonsense count as 1 s), at most
/// [`MAX_RETRY_AFTER_S`].
fn retry_after_s(resp: &Response) -> u32 {
    let asked = resp.headers().get("retry-after").ok().flatten();
    asked
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(1)
        .clamp(1, MAX_RETRY_AFTER_S)
}

async fn get_once(url: &str, init: &RequestInit) -> Result<Response> {
    let request = Request::new_with_str_and_init(url, init).map_err(|e| Error::input(url, js_message(&e)))?;
    let resp = match JsFuture::from(global_fetch(&request)?).await {
        Ok(resp) => resp,
        // fetch rejects only on network-level failures, and hides which one: probe (web/cors.rs).
        Err(e) => {
            let (detail, retryable) = super::cors::network_failure(url, &js_message(&e)).await;
            return Err(fetch_error(url, detail, None, retryable));
        }
    };
    resp.dyn_into().map_err(|_| Error::input(url, "not a Response"))
}

/// The answer, or an error that says what its status means.
fn check_status(url: &str, resp: Response) -> Result<Response> {
    if !resp.ok() {
        let status = resp.status();
        // A 403 from where the hub redirected us (another origin): the presigned link expired.
        // Asking the hub's URL again brings a fresh one.
        if status == 403 && origin(&resp.url()) != origin(url) {
            super::revision::count_expired_link();
            return Err(fetch_error(
                url,
                "HTTP 403 from the CDN: its presigned link expired; asking the hub again",
                Some(403),
                true,
            ));
        }
        let hint = match status {
            404 => " (not found: check the model URL)",
            401 | 403 => " (access denied)",
            s if s >= 500 => " (server error)",
            _ => "",
        };
        return Err(fetch_error(
            url,
            format!("HTTP {status} {}{hint}", resp.status_text()),
            Some(status),
            status >= 500 || status == 429,
        ));
    }
    Ok(resp)
}

/// `scheme://host:port` of a URL (the whole text when it has no path).
fn origin(url: &str) -> &str {
    let start = url.find("://").map_or(0, |i| i + 3);
    url[start..].find('/').map_or(url, |i| &url[..start + i])
}

pub fn content_length(resp: &Response) -> Option<u64> {
    resp.headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<u64>().ok())
}

/// Streams a body into `buf` from `offset` on; returns how many bytes arrived, and the error
/// that cut the stream short if one did (what arrived is kept either way).
async fn read_into(
    url: &str,
    resp: &Response,
    buf: &Uint8Array,
    offset: u64,
    on_bytes: &mut dyn FnMut(u64),
) -> (u64, Result<()>) {
    let Some(body) = resp.body() else { return (0, Ok(())) };
    let reader: ReadableStreamDefaultReader = match body.get_reader().dyn_into() {
        Ok(r) => r,
        Err(e) => {
            return (
                0,
                Err(fetch_error(
                    url,
                    format!("cannot read the body: {}", js_message(&e.into())),
                    None,
                    true,
                )),
            )
        }
    };
    let mut got = 0u64;
    loop {
        let chunk = match JsFuture::from(reader.read()).await {
            Ok(c) => c,
            Err(e) => {
                return (
                    got,
                    Err(fetch_error(
                        url,
                        format!("connection lost mid-download: {}", js_message(&e)),
                        None,
                        true,
                    )),
                )
            }
        };
        if Reflect::get(&chunk, &"done".into()).map(|v| v.is_truthy()).unwrap_or(true) {
            return (got, Ok(()));
        }
        let Ok(value) = Reflect::get(&chunk, &"value".into()) else {
            return (got, Err(fetch_error(url, "bad chunk", None, true)));
        };
        let value: Uint8Array = value.unchecked_into();
        let n = value.length() as u64;
        if offset + got + n > buf.length() as u64 {
            return (
                got,
                Err(fetch_error(url, "the server sent more bytes than announced", None, false)),
            );
        }
        buf.set(&value, (offset + got) as u32);
        got += n;
        on_bytes(n);
    }
}

/// Reads a whole response's body into JavaScript memory (not wasm's: large downloads would
/// otherwise stay in wasm memory for good), calling `on_progress` as chunks arrive.
pub async fn read_body(url: &str, resp: &Response, mut on_progress: impl FnMut(Progress)) -> Result<Uint8Array> {
    let total = content_length(resp);
    let mut done = 0u64;
    on_progress(Progress {
        done,
        total,
        wait_s: None,
    });
    match total {
        Some(t) => {
            let buf = Uint8Array::new_with_length(t as u32);
            let (got, outcome) = read_into(url, resp, &buf, 0, &mut |n| {
                done += n;
                on_progress(Progress {
                    done,
                    total,
                    wait_s: None,
                });
            })
            .await;
            outcome?;
            if got != t {
                return Err(fetch_error(
                    url,
                    format!("download incomplete: {got} of {t} bytes"),
                    None,
                    true,
                ));
            }
            Ok(buf)
        }
        None => {
            // No announced size: read into a growing list of chunks, then join them.
            let bytes = JsFuture::from(
                resp.array_buffer()
                    .map_err(|e| fetch_error(url, js_message(&e), None, true))?,
            )
            .await
            .map_err(|e| fetch_error(url, format!("connection lost mid-download: {}", js_message(&e)), None, true))?;
            let buf = Uint8Array::new(&bytes);
            on_progress(Progress {
                done: buf.length() as u64,
                total: Some(buf.length() as u64),
                wait_s: None,
            });
            Ok(buf)
        }
    }
}

/// Runs `step` again after faults that may pass, with backoff, at most [`MAX_ATTEMPTS`] times.
pub async fn with_retries<T, Fut: std::future::Future<Output = Result<T>>>(mut step: impl FnMut() -> Fut) -> Result<T> {
    let mut attempt = 0;
    loop {
        match step().await {
            Err(e) if retryable(&e) && attempt + 1 < MAX_ATTEMPTS => {
                attempt += 1;
                backoff(attempt).await;
            }
            Err(e) if retryable(&e) => return Err(gave_up(e, MAX_ATTEMPTS)),
            other => return other,
        }
    }
}

/// Downloads `url` whole, retrying faults that may pass (from scratch: small files).
pub async fn fetch_whole(url: &str) -> Result<Uint8Array> {
    with_retries(|| async { read_body(url, &get(url, None).await?, |_| {}).await }).await
}

fn gave_up(e: Error, attempts: u32) -> Error {
    match e {
        Error::Fetch {
            what, detail, status, ..
        } => Error::Fetch {
            what,
            detail: format!("{detail} (gave up after {attempts} attempts; Run to try again)"),
            status,
            retryable: false,
        },
        other => other,
    }
}

pub async fn fetch_bytes(url: &str) -> Result<Vec<u8>> {
    Ok(fetch_whole(url).await?.to_vec())
}

pub async fn fetch_text(url: &str) -> Result<String> {
    String::from_utf8(fetch_bytes(url).await?).map_err(|_| Error::input(format!("GET {url}"), "not UTF-8 text"))
}

/// What a Range request brought: the bytes asked for, or a 200 answer with the whole file.
pub enum RangeAnswer {
    Bytes(Uint8Array),
    WholeFile(Response),
}

/// Fetches `range` of `url`; a connection cut mid-way resumes from the last byte received and
/// faults that may pass are retried with backoff, at most [`MAX_ATTEMPTS`] times in all.
pub async fn fetch_range(url: &str, range: Range<u64>, on_bytes: &mut dyn FnMut(u64)) -> Result<RangeAnswer> {
    let len = range.end - range.start;
    let buf = Uint8Array::new_with_length(len as u32);
    let (mut got, mut attempt) = (0u64, 0u32);
    loop {
        let error = match get(url, Some(range.start + got..range.end)).await {
            // The server ignores Range: hand its whole-file answer back (only before any bytes
            // arrived; after a resume a 200 means the file cannot be resumed).
            Ok(resp) if resp.status() == 200 && got == 0 => return Ok(RangeAnswer::WholeFile(resp)),
            Ok(resp) if resp.status() == 200 => fetch_error(url, "the server stopped honouring Range requests", Some(200), false),
            Ok(resp) => {
                let (n, outcome) = read_into(url, &resp, &buf, got, on_bytes).await;
                got += n;
                match outcome {
                    Ok(()) if got == len => return Ok(RangeAnswer::Bytes(buf)),
                    Ok(()) => fetch_error(url, format!("asked for bytes {range:?}, got {got} of {len}"), None, true),
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        attempt += 1;
        if !retryable(&error) {
            return Err(error);
        }
        if attempt >= MAX_ATTEMPTS {
            return Err(gave_up(error, MAX_ATTEMPTS));
        }
        backoff(attempt).await;
    }
}

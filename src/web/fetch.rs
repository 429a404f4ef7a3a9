//! HTTP GET of a model's files with byte progress, errors that say what failed and why.

use js_sys::{Reflect, Uint8Array};
use std::ops::Range;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use web_sys::{Headers, ReadableStreamDefaultReader, Request, RequestInit, Response};

use crate::error::{Error, Result};

/// Bytes received so far and the total when the server says it (Content-Length).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    pub done: u64,
    pub total: Option<u64>,
}

fn js_message(v: &JsValue) -> String {
    v.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| v.as_string())
        .unwrap_or_else(|| format!("{v:?}"))
}

/// `fetch` of the page or of the worker, whichever this code runs in.
fn global_fetch(request: &Request) -> Result<js_sys::Promise> {
    let global = js_sys::global();
    if let Some(w) = global.dyn_ref::<web_sys::Window>() {
        Ok(w.fetch_with_request(request))
    } else if let Some(w) = global.dyn_ref::<web_sys::WorkerGlobalScope>() {
        Ok(w.fetch_with_request(request))
    } else {
        Err(Error::input(request.url(), "no fetch in this context"))
    }
}

/// Cache Storage of the page or of the worker.
pub fn global_caches() -> Option<web_sys::CacheStorage> {
    let global = js_sys::global();
    if let Some(w) = global.dyn_ref::<web_sys::Window>() {
        w.caches().ok()
    } else {
        global.dyn_ref::<web_sys::WorkerGlobalScope>()?.caches().ok()
    }
}

/// GET `url`, or only `range` of it (a single `bytes=a-b` range: CORS-safelisted, no preflight).
/// Fails on network errors and non-2xx statuses, with a hint for the usual ones.
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
    let request = Request::new_with_str_and_init(url, &init).map_err(|e| Error::input(url, js_message(&e)))?;
    let resp = JsFuture::from(global_fetch(&request)?).await.map_err(|e| {
        // fetch rejects only on network-level failures; the browser hides which one.
        Error::input(
            format!("GET {url}"),
            format!(
                "network error ({}): offline, blocked by CORS, or the server is down",
                js_message(&e)
            ),
        )
    })?;
    let resp: Response = resp.dyn_into().map_err(|_| Error::input(url, "not a Response"))?;
    if !resp.ok() {
        let hint = match resp.status() {
            404 => " (not found: check the model URL)",
            401 | 403 => " (access denied)",
            s if s >= 500 => " (server error: try again later)",
            _ => "",
        };
        return Err(Error::input(
            format!("GET {url}"),
            format!("HTTP {} {}{hint}", resp.status(), resp.status_text()),
        ));
    }
    Ok(resp)
}

/// Downloads `url` whole, calling `on_progress` as chunks arrive.
pub async fn fetch_bytes(url: &str, on_progress: impl FnMut(Progress)) -> Result<Vec<u8>> {
    let resp = get(url, None).await?;
    Ok(read_body(url, &resp, on_progress).await?.to_vec())
}

pub fn content_length(resp: &Response) -> Option<u64> {
    resp.headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<u64>().ok())
}

/// Reads a response's body into JavaScript memory (not wasm's: large downloads would otherwise
/// stay in wasm memory for good), calling `on_progress` as chunks arrive; checks Content-Length.
pub async fn read_body(url: &str, resp: &Response, mut on_progress: impl FnMut(Progress)) -> Result<Uint8Array> {
    let total = content_length(resp);
    let fail = |what: &str, e: JsValue| Error::input(format!("GET {url}"), format!("{what}: {}", js_message(&e)));
    let Some(body) = resp.body() else {
        return Ok(Uint8Array::new_with_length(0));
    };
    let reader: ReadableStreamDefaultReader = body
        .get_reader()
        .dyn_into()
        .map_err(|e| fail("cannot read the body", e.into()))?;
    // Chunks are copied into one buffer of the announced size, or kept and joined at the end.
    let mut buffer = total.map(|t| Uint8Array::new_with_length(t as u32));
    let chunks = js_sys::Array::new();
    let mut done_bytes: u64 = 0;
    on_progress(Progress { done: 0, total });
    loop {
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(|e| fail("connection lost mid-download", e))?;
        if Reflect::get(&chunk, &"done".into()).map(|v| v.is_truthy()).unwrap_or(true) {
            break;
        }
        let value: Uint8Array = Reflect::get(&chunk, &"value".into())
            .map_err(|e| fail("bad chunk", e))?
            .unchecked_into();
        let n = value.length() as u64;
        match &buffer {
            Some(buf) if done_bytes + n <= buf.length() as u64 => buf.set(&value, done_bytes as u32),
            Some(_) => {
                return Err(Error::input(
                    format!("GET {url}"),
                    "the server sent more bytes than its Content-Length",
                ))
            }
            None => {
                chunks.push(&value);
            }
        }
        done_bytes += n;
        on_progress(Progress { done: done_bytes, total });
    }
    if let Some(t) = total {
        if t != done_bytes {
            return Err(Error::input(
                format!("GET {url}"),
                format!("download incomplete: {done_bytes} of {t} bytes"),
            ));
        }
    }
    Ok(match buffer.take() {
        Some(buf) => buf,
        None => {
            let joined = Uint8Array::new_with_length(done_bytes as u32);
            let mut at = 0u32;
            for c in chunks.iter() {
                let c: Uint8Array = c.unchecked_into();
                joined.set(&c, at);
                at += c.length();
            }
            joined
        }
    })
}

pub async fn fetch_text(url: &str) -> Result<String> {
    let bytes = fetch_bytes(url, |_| {}).await?;
    String::from_utf8(bytes).map_err(|_| Error::input(format!("GET {url}"), "not UTF-8 text"))
}

//! What a failed fetch means. `fetch` rejects with the same bare TypeError whether the server is
//! down, the browser is offline or the answer was withheld by CORS; a second request in
//! `no-cors` mode tells them apart: its opaque answer arrives when the server is up (so CORS
//! withheld the first), and it fails too when the server cannot be reached.

use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestInit};

/// Why a fetch of `url` rejected with `error`, learnt by probing the server; and whether a
/// retry may help (not when the server answers but withholds its answer from this page).
pub async fn network_failure(url: &str, error: &str) -> (String, bool) {
    let origin = web_sys::Url::new(url).map_or_else(|_| url.to_string(), |u| u.origin());
    if answers_opaquely(url).await {
        let detail = format!(
            "the server at {origin} answered but does not allow this page to read it (CORS): it must \
             send Access-Control-Allow-Origin (and expose Content-Range) for this site ({error})"
        );
        (detail, false)
    } else {
        let detail = format!("network error ({error}): the server at {origin} is unreachable, or this browser is offline");
        (detail, true)
    }
}

/// Whether a `no-cors` GET of `url` gets any answer (opaque: status and body hidden).
async fn answers_opaquely(url: &str) -> bool {
    let init = RequestInit::new();
    // Set as a plain field: one web-sys feature fewer to build.
    if js_sys::Reflect::set(&init, &"mode".into(), &"no-cors".into()).is_err() {
        return false;
    }
    init.set_cache(web_sys::RequestCache::NoStore);
    let Ok(request) = Request::new_with_str_and_init(url, &init) else {
        return false;
    };
    let Ok(promise) = super::fetch::global_fetch(&request) else {
        return false;
    };
    // Only whether an answer came matters (opaque: nothing in it is readable).
    JsFuture::from(promise).await.is_ok_and(|r: JsValue| r.is_object())
}

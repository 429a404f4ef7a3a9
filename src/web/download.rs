//! Saving files from the page (export): a Blob, an object URL and a click on a download link.

use wasm_bindgen::JsCast;
use web_sys::{Blob, BlobPropertyBag, HtmlAnchorElement, Url};

use crate::error::{Error, Result};

/// Saves what a URL points at (e.g. a canvas's `data:` PNG) under `filename`.
pub fn save_url(filename: &str, url: &str) -> Result<()> {
    let fail = |e: wasm_bindgen::JsValue| Error::input(format!("saving {filename}"), format!("{e:?}"));
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| Error::input("saving", "no document"))?;
    let a: HtmlAnchorElement = doc.create_element("a").map_err(fail)?.unchecked_into();
    a.set_href(url);
    a.set_download(filename);
    a.click();
    Ok(())
}

pub fn save_text(filename: &str, mime: &str, text: &str) -> Result<()> {
    let fail = |e: wasm_bindgen::JsValue| Error::input(format!("saving {filename}"), format!("{e:?}"));
    let parts = js_sys::Array::of1(&text.into());
    let opts = BlobPropertyBag::new();
    opts.set_type(mime);
    let blob = Blob::new_with_str_sequence_and_options(&parts, &opts).map_err(fail)?;
    let url = Url::create_object_url_with_blob(&blob).map_err(fail)?;
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| Error::input("saving", "no document"))?;
    let a: HtmlAnchorElement = doc.create_element("a").map_err(fail)?.unchecked_into();
    a.set_href(&url);
    a.set_download(filename);
    a.click();
    Url::revoke_object_url(&url).map_err(fail)?;
    Ok(())
}

//! The page's query parameters (a contract for tests and share links):
//! `?model=BASE_URL` (relative or absolute), `&experiment=URL`, `&run=1`.

use web_sys::{Url, UrlSearchParams};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PageParams {
    /// Absolute base URL of the model folder, ending in `/`.
    pub model: Option<String>,
    /// Absolute URL of an experiment JSON.
    pub experiment: Option<String>,
    pub run: bool,
}

/// Resolves `href` against the page's address, as a link would.
pub fn absolute_url(href: &str) -> String {
    let base = web_sys::window().and_then(|w| w.location().href().ok()).unwrap_or_default();
    Url::new_with_base(href, &base)
        .map(|u| u.href())
        .unwrap_or_else(|_| href.to_string())
}

impl PageParams {
    pub fn from_location() -> Self {
        let search = web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default();
        let Ok(q) = UrlSearchParams::new_with_str(&search) else {
            return Self::default();
        };
        let non_empty = |k: &str| q.get(k).filter(|v| !v.trim().is_empty());
        PageParams {
            model: non_empty("model").map(|m| {
                let url = absolute_url(&m);
                if url.ends_with('/') {
                    url
                } else {
                    url + "/"
                }
            }),
            experiment: non_empty("experiment").map(|e| absolute_url(&e)),
            run: matches!(q.get("run").as_deref(), Some("1") | Some("true") | Some("yes")),
        }
    }
}

//! The page's query parameters (a contract for tests and share links):
//! `?model=BASE_URL` (relative or absolute), `&experiment=URL` (an experiment JSON to fetch),
//! `&exp=JSON` (the experiment itself, as share links carry it), `&run=1`.

use web_sys::{Url, UrlSearchParams};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PageParams {
    /// Absolute base URL of the model folder, ending in `/`.
    pub model: Option<String>,
    /// Absolute URL of an experiment JSON.
    pub experiment: Option<String>,
    /// An experiment's JSON text carried in the link itself.
    pub inline_experiment: Option<String>,
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
            inline_experiment: non_empty("exp"),
            run: matches!(q.get("run").as_deref(), Some("1") | Some("true") | Some("yes")),
        }
    }
}

/// A link that reopens the page with this experiment and model (the URL holds all of it).
pub fn share_url(experiment_json: &str, model_override: Option<&str>) -> String {
    let location = web_sys::window().map(|w| w.location());
    let base = location
        .and_then(|l| Some(format!("{}{}", l.origin().ok()?, l.pathname().ok()?)))
        .unwrap_or_default();
    let Ok(q) = UrlSearchParams::new() else { return base };
    if let Some(m) = model_override {
        q.append("model", m);
    }
    q.append("exp", experiment_json);
    format!("{base}?{}", String::from(q.to_string()))
}

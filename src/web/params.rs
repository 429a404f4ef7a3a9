//! The page's query parameters (a contract for tests and share links):
//! `?model=BASE_URL` (relative or absolute), `&experiment=URL` (an experiment JSON to fetch),
//! `&exp=JSON` (the experiment itself, as share links carry it), `&run=1`; and the analyses
//! beyond the lecture, named as the CLI's flags: `&all-layers=1&heads=1&v=1&qk=1&center=1&pca=1`,
//! `&stats=1`, `&permutations=N`, `&bootstrap=B`, `&seed=S` (any of the last three implies stats);
//! `&workers=1` runs the forward pass in one worker instead of two (for comparison);
//! `&live=0` turns the live lab off (edits then wait for Run); `&mode=lecture&step=N` opens step
//! N (1-based) of the guided lab, `&present=1` in presenter mode; `&hub=URL` the hub endpoint
//! (like `HF_ENDPOINT`; default `https://huggingface.co`): with it, or with `@REV`, `?model=org/repo`
//! or `org/repo@REV` (branch, tag or commit) names a hub repository's `resolve/{REV}/` folder.

use web_sys::{Url, UrlSearchParams};

use crate::analysis::report::ExtendedOptions;
use crate::plots::{ColourScale, Look, Theme};
use crate::revision::{share_params, HubModel, DEFAULT_HUB};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PageParams {
    /// Absolute base URL of the model folder, ending in `/`.
    pub model: Option<String>,
    /// Absolute URL of an experiment JSON.
    pub experiment: Option<String>,
    /// An experiment's JSON text carried in the link itself.
    pub inline_experiment: Option<String>,
    pub run: bool,
    /// The analyses beyond the lecture the link asks for (None: none).
    pub options: Option<ExtendedOptions>,
    /// Why an option in the link was ignored.
    pub options_error: Option<String>,
    /// At most this many workers for the forward pass (`&workers=N`, N ≥ 1).
    pub workers: Option<u32>,
    /// Edits run by themselves once a model has run (`&live=0`: off).
    pub live: bool,
    /// The guided lab's step (`&mode=lecture`, `&step=N`, 1-based; step 1 without `step`).
    pub lecture_step: Option<usize>,
    /// Presenter mode (`&present=1`): one step fills the screen.
    pub present: bool,
    /// The figures' colour scale (`&colours=cividis`) and theme (`&theme=dark`).
    pub look: Look,
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
        let hub = non_empty("hub").map(|h| h.trim().trim_end_matches('/').to_string());
        PageParams {
            model: non_empty("model").map(|m| {
                // A repository id is a hub model when the link names a hub or a revision;
                // otherwise `a/b` stays a folder relative to the page, as before.
                if let Some(repo) = HubModel::parse(&m).filter(|_| hub.is_some() || m.contains('@')) {
                    return repo.folder_url(hub.as_deref().unwrap_or(DEFAULT_HUB));
                }
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
            workers: q.get("workers").and_then(|w| w.trim().parse().ok()).filter(|&w: &u32| w >= 1),
            live: !matches!(q.get("live").as_deref(), Some("0") | Some("false") | Some("no")),
            lecture_step: (q.get("mode").as_deref() == Some("lecture") || q.get("present").is_some())
                .then(|| q.get("step").and_then(|n| n.trim().parse().ok()).unwrap_or(1)),
            present: matches!(q.get("present").as_deref(), Some("1") | Some("true") | Some("yes")),
            look: Look {
                scale: q.get("colours").and_then(|c| ColourScale::parse(&c)).unwrap_or_default(),
                theme: q.get("theme").and_then(|t| Theme::parse(&t)).unwrap_or_default(),
            },
            ..Self::default()
        }
        .with_options(|k| q.get(k))
    }

    fn with_options(mut self, get: impl Fn(&str) -> Option<String>) -> Self {
        match ExtendedOptions::from_query(get) {
            Ok(options) => self.options = options,
            Err(e) => self.options_error = Some(e),
        }
        self
    }
}

/// A link that reopens the page with this experiment and model (the URL holds all of it), and
/// the guided lab's step when one is open. A hub model is linked as `org/repo@COMMIT` with the
/// commit the last run read (`revision`), and its hub when not the default.
pub fn share_url(
    experiment_json: &str,
    model_override: Option<&str>,
    revision: Option<&str>,
    options: Option<&ExtendedOptions>,
    lecture_step: Option<usize>,
) -> String {
    let location = web_sys::window().map(|w| w.location());
    let base = location
        .and_then(|l| Some(format!("{}{}", l.origin().ok()?, l.pathname().ok()?)))
        .unwrap_or_default();
    let Ok(q) = UrlSearchParams::new() else { return base };
    match model_override.map(|m| (m, share_params(m, revision))) {
        Some((_, Some((hub, model)))) => {
            if let Some(hub) = hub {
                q.append("hub", &hub);
            }
            q.append("model", &model);
        }
        Some((m, None)) => q.append("model", m),
        None => {}
    }
    q.append("exp", experiment_json);
    for (k, v) in options.map(ExtendedOptions::to_query).unwrap_or_default() {
        q.append(k, &v);
    }
    if let Some(step) = lecture_step {
        q.append("mode", "lecture");
        q.append("step", &step.to_string());
    }
    format!("{base}?{}", String::from(q.to_string()))
}

/// Puts the guided lab's step (or none) and the figures' look into the address bar, so a reload
/// or a copied address opens the same step, as it looked.
pub fn show_step_in_address(lecture_step: Option<usize>, present: bool, look: Look) {
    let Some(window) = web_sys::window() else { return };
    let Ok(url) = Url::new(&window.location().href().unwrap_or_default()) else {
        return;
    };
    let q = url.search_params();
    for key in ["mode", "step", "present", "colours", "theme"] {
        q.delete(key);
    }
    if let Some(step) = lecture_step {
        q.append("mode", "lecture");
        q.append("step", &step.to_string());
        if present {
            q.append("present", "1");
        }
    }
    if look.scale != ColourScale::default() {
        q.append("colours", look.scale.name());
    }
    if look.theme != Theme::default() {
        q.append("theme", look.theme.name());
    }
    url.set_search(&String::from(q.to_string()));
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url.href()));
    }
}

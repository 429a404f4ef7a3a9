//! Run, and the experiment's way in and out: import/export JSON and a share link.

use wasm_bindgen_futures::JsFuture;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use super::filter;
use crate::analysis::report::ExtendedOptions;
use crate::experiment::Experiment;
use crate::web::download::save_text;
use crate::web::params::share_url;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub busy: bool,
    /// Why the experiment cannot run as it is.
    pub invalid: Option<AttrValue>,
    /// Why an imported or linked experiment could not be used.
    pub error: Option<AttrValue>,
    /// What export and the share link carry.
    pub experiment: Experiment,
    pub model_override: Option<String>,
    /// The revision the last run read (a share link of a hub model pins it).
    #[prop_or_default]
    pub revision: Option<String>,
    pub options: Option<ExtendedOptions>,
    /// The guided lab's open step, which the share link carries.
    pub lecture_step: Option<usize>,
    pub on_run: Callback<()>,
    /// Live lab: edits run by themselves once a model has run.
    pub live: bool,
    pub on_live: Callback<bool>,
    pub on_import: Callback<Experiment>,
    /// An import or export that failed, in words.
    pub on_error: Callback<String>,
}

async fn read_file(input: &HtmlInputElement) -> Result<String, String> {
    let file = input.files().and_then(|f| f.get(0)).ok_or("no file chosen")?;
    let text = JsFuture::from(file.text())
        .await
        .map_err(|e| format!("cannot read {}: {e:?}", file.name()))?;
    text.as_string().ok_or_else(|| format!("{} is not text", file.name()))
}

/// Reads the chosen file as an experiment, then clears the input (the same file can come again).
async fn import(input: HtmlInputElement, on_import: Callback<Experiment>, on_error: Callback<String>) {
    match read_file(&input)
        .await
        .and_then(|text| Experiment::from_json(&text).map_err(|e| e.to_string()))
    {
        Ok(exp) => on_import.emit(exp),
        Err(msg) => on_error.emit(format!("import: {msg}")),
    }
    input.set_value("");
}

/// A link that restores the experiment, model and options; copied to the clipboard when allowed.
fn share(
    experiment: &Experiment,
    model: Option<&str>,
    revision: Option<&str>,
    options: Option<&ExtendedOptions>,
    step: Option<usize>,
) -> String {
    let json = serde_json::to_string(experiment).expect("an experiment serialises");
    let url = share_url(&json, model, revision, options, step);
    if let Some(clipboard) = web_sys::window().map(|w| w.navigator().clipboard()) {
        // Best effort: the link is also shown for copying by hand.
        let _ = clipboard.write_text(&url);
    }
    url
}

#[function_component(Controls)]
pub fn controls(props: &Props) -> Html {
    let shared = use_state(|| None::<String>);
    let on_export = {
        let exp = props.experiment.clone();
        filter(&props.on_error, move |_: MouseEvent| {
            save_text("experiment.json", "application/json", &exp.to_json_pretty())
                .err()
                .map(|e| e.to_string())
        })
    };
    let on_import = {
        let (on_import, on_error) = (props.on_import.clone(), props.on_error.clone());
        Callback::from(move |e: Event| {
            yew::platform::spawn_local(import(e.target_unchecked_into(), on_import.clone(), on_error.clone()))
        })
    };
    let on_share = {
        let (exp, model, revision, options, step, shared) = (
            props.experiment.clone(),
            props.model_override.clone(),
            props.revision.clone(),
            props.options.clone(),
            props.lecture_step,
            shared.clone(),
        );
        Callback::from(move |_| {
            shared.set(Some(share(
                &exp,
                model.as_deref(),
                revision.as_deref(),
                options.as_ref(),
                step,
            )))
        })
    };
    html! {
        <div class="controls">
            <div class="row">
                <button id="qk-run" onclick={props.on_run.reform(|_| ())} disabled={props.busy || props.invalid.is_some()}>
                    { if props.busy { "Running…" } else { "Run" } }
                </button>
                <label class="button secondary" for="qk-import">{ "Import JSON" }</label>
                <input id="qk-import" type="file" accept=".json,application/json" onchange={on_import} hidden=true />
                <button class="secondary" id="qk-export" onclick={on_export}>{ "Export JSON" }</button>
                <button class="secondary" id="qk-share" onclick={on_share}>{ "Share link" }</button>
                <label class="live" title="Once a model has run, every edit runs again by itself: the model stays in memory">
                    <input id="qk-live" type="checkbox" checked={props.live}
                        onchange={props.on_live.reform(|e: Event| e.target_unchecked_into::<HtmlInputElement>().checked())} />
                    { " Live: redraw on every edit" }
                </label>
            </div>
            if let Some(msg) = &props.invalid { <div class="field-error" id="qk-invalid">{ msg }</div> }
            if let Some(msg) = &props.error { <div class="error field-error" id="qk-experiment-error">{ msg }</div> }
            if let Some(url) = &*shared {
                <div class="row"><input id="qk-share-url" type="text" readonly=true value={url.clone()} size="80" />
                <span class="hint">{ "copied: this link restores the experiment and model" }</span></div>
            }
        </div>
    }
}

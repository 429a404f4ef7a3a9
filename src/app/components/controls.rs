//! Run, and the experiment's way in and out: import/export JSON and a share link.

use wasm_bindgen_futures::JsFuture;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use super::super::state::{Action, State};
use crate::experiment::Experiment;
use crate::web::download::save_text;
use crate::web::params::share_url;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub state: UseReducerHandle<State>,
    pub on_run: Callback<()>,
}

async fn read_file(input: &HtmlInputElement) -> Result<String, String> {
    let file = input.files().and_then(|f| f.get(0)).ok_or("no file chosen")?;
    let text = JsFuture::from(file.text())
        .await
        .map_err(|e| format!("cannot read {}: {e:?}", file.name()))?;
    text.as_string().ok_or_else(|| format!("{} is not text", file.name()))
}

#[function_component(Controls)]
pub fn controls(props: &Props) -> Html {
    let state = &props.state;
    let share = use_state(|| None::<String>);
    let invalid = state.experiment.validate().err().map(|e| e.to_string());
    let on_run = {
        let on_run = props.on_run.clone();
        Callback::from(move |_| on_run.emit(()))
    };
    let on_export = {
        let exp = state.experiment.clone();
        let d = state.dispatcher();
        Callback::from(move |_| {
            if let Err(e) = save_text("experiment.json", "application/json", &exp.to_json_pretty()) {
                d.dispatch(Action::ExperimentFailed(e.to_string()));
            }
        })
    };
    let on_import = {
        let d = state.dispatcher();
        Callback::from(move |e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            let d = d.clone();
            yew::platform::spawn_local(async move {
                match read_file(&input)
                    .await
                    .and_then(|text| Experiment::from_json(&text).map_err(|e| e.to_string()))
                {
                    Ok(exp) => d.dispatch(Action::ExperimentLoaded(exp)),
                    Err(msg) => d.dispatch(Action::ExperimentFailed(format!("import: {msg}"))),
                }
                input.set_value("");
            });
        })
    };
    let on_share = {
        let (exp, model, share) = (state.experiment.clone(), state.model_override.clone(), share.clone());
        let options = state.run_options();
        Callback::from(move |_| {
            let url = share_url(
                &serde_json::to_string(&exp).expect("an experiment serialises"),
                model.as_deref(),
                options.as_ref(),
            );
            if let Some(clipboard) = web_sys::window().map(|w| w.navigator().clipboard()) {
                // Best effort: the link is also shown for copying by hand.
                let _ = clipboard.write_text(&url);
            }
            share.set(Some(url));
        })
    };
    html! {
        <div class="controls">
            <div class="row">
                <button id="qk-run" onclick={on_run} disabled={state.busy() || invalid.is_some()}>
                    { if state.busy() { "Running…" } else { "Run" } }
                </button>
                <label class="button secondary" for="qk-import">{ "Import JSON" }</label>
                <input id="qk-import" type="file" accept=".json,application/json" onchange={on_import} hidden=true />
                <button class="secondary" id="qk-export" onclick={on_export}>{ "Export JSON" }</button>
                <button class="secondary" id="qk-share" onclick={on_share}>{ "Share link" }</button>
            </div>
            if let Some(msg) = invalid { <div class="field-error" id="qk-invalid">{ msg }</div> }
            if let Some(msg) = &state.experiment_error { <div class="error field-error" id="qk-experiment-error">{ msg }</div> }
            if let Some(url) = &*share {
                <div class="row"><input id="qk-share-url" type="text" readonly=true value={url.clone()} size="80" />
                <span class="hint">{ "copied: this link restores the experiment and model" }</span></div>
            }
        </div>
    }
}

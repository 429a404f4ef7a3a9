//! Which model: a GPT-2 size from the hub (with its download size), a custom folder URL, or
//! files from disk (picked or dropped: config.json, model.safetensors, tokenizer.json).

use web_sys::{DragEvent, FileList, HtmlInputElement, HtmlSelectElement, Url};
use yew::prelude::*;

use std::rc::Rc;

use super::super::state::{Action, LocalModel, State, BUNDLED_TOKENIZER};
use crate::model::plan::Header;
use crate::model::Gpt2Config;
use crate::presets::{human_bytes, preset, PRESETS};
use crate::run::Prepared;
use crate::web::engine::ModelFiles;
use crate::web::hub::{fetch_cached, remote_header};
use crate::web::params::absolute_url;

/// A custom folder's config and weight header, read before any run (a few KB).
#[derive(Clone)]
enum Checked {
    Reading,
    Found(Rc<(Gpt2Config, Option<Header>)>),
    Failed(String),
}

async fn check_folder(base: String) -> Checked {
    let files = ModelFiles::in_folder(&absolute_url(&base), None);
    let config = match fetch_cached(&files.config)
        .await
        .map_err(|e| e.to_string())
        .and_then(|(bytes, _)| Gpt2Config::from_json(&bytes).map_err(|e| format!("config.json: {e}")))
    {
        Ok(c) => c,
        Err(e) => return Checked::Failed(e),
    };
    match remote_header(&files.weights).await {
        Ok(header) => Checked::Found(Rc::new((config, header))),
        Err(e) => Checked::Failed(e.to_string()),
    }
}

/// What a checked folder holds and what this run would download of it.
fn size_text(state: &State, config: &Gpt2Config, header: Option<&Header>) -> String {
    let shape = format!("{} layers, {} heads, width {}", config.n_layer, config.n_head, config.n_embd);
    let Some(header) = header else {
        return format!("{shape}; the server ignores Range requests, so the whole model.safetensors is downloaded");
    };
    let file = header.file_len();
    let needed = state.tokenizer.as_ref().map(|t| {
        Prepared::new(&state.experiment, state.run_options().as_ref(), config.clone(), &t.0).and_then(|p| p.needed_bytes(header))
    });
    match needed {
        Some(Ok(n)) => format!(
            "model.safetensors {} ({shape}); this run downloads ≈ {} ({:.1} %), once",
            human_bytes(file),
            human_bytes(n),
            100.0 * n as f64 / file.max(1) as f64
        ),
        Some(Err(e)) => format!("model.safetensors {} ({shape}); {e}", human_bytes(file)),
        None => format!("model.safetensors {} ({shape})", human_bytes(file)),
    }
}

const CUSTOM: &str = "custom";
const LOCAL: &str = "local";

#[derive(Properties, PartialEq)]
pub struct Props {
    pub state: UseReducerHandle<State>,
}

/// The three files from a picked or dropped set, as blob: URLs the worker can fetch.
fn local_model(files: &FileList) -> Result<LocalModel, String> {
    let all: Vec<web_sys::File> = (0..files.length()).filter_map(|i| files.get(i)).collect();
    let find = |pred: &dyn Fn(&str) -> bool| all.iter().find(|f| pred(&f.name().to_lowercase()));
    let config = find(&|n| n == "config.json")
        .ok_or("config.json is missing: choose config.json and model.safetensors (and tokenizer.json)")?;
    let weights = find(&|n| n.ends_with(".safetensors"))
        .ok_or("model.safetensors is missing: choose config.json and model.safetensors (and tokenizer.json)")?;
    let tokenizer = find(&|n| n == "tokenizer.json");
    let url = |f: &web_sys::File| Url::create_object_url_with_blob(f).map_err(|e| format!("cannot open {}: {e:?}", f.name()));
    let bundled = absolute_url(BUNDLED_TOKENIZER);
    Ok(LocalModel {
        files: ModelFiles {
            config: url(config)?,
            weights: url(weights)?,
            tokenizer: match tokenizer {
                Some(t) => url(t)?,
                None => bundled.clone(),
            },
            fallback_tokenizer: Some(bundled),
        },
        names: [Some(config), Some(weights), tokenizer]
            .into_iter()
            .flatten()
            .map(|f| f.name())
            .collect(),
        bytes: [Some(config), Some(weights), tokenizer]
            .into_iter()
            .flatten()
            .map(|f| f.size() as u64)
            .sum(),
    })
}

#[function_component(ModelPicker)]
pub fn model_picker(props: &Props) -> Html {
    let state = &props.state;
    let choosing_local = use_state(|| false);
    let local = state.local_model.is_some() || *choosing_local;
    let custom = !local && (state.model_override.is_some() || preset(&state.experiment.model).is_none());
    let selected = if local {
        LOCAL.to_string()
    } else if custom {
        CUSTOM.to_string()
    } else {
        state.experiment.model.clone()
    };
    let on_select = {
        let (d, url, choosing_local) = (state.dispatcher(), state.model_url(), choosing_local.clone());
        Callback::from(move |e: Event| {
            let value = e.target_unchecked_into::<HtmlSelectElement>().value();
            choosing_local.set(value == LOCAL);
            match value.as_str() {
                LOCAL => {}
                CUSTOM => d.dispatch(Action::SetModelUrl(Some(url.clone()))),
                repo => d.dispatch(Action::SetHubModel(repo.to_string())),
            }
        })
    };
    let on_url = {
        let d = state.dispatcher();
        Callback::from(move |e: InputEvent| {
            d.dispatch(Action::SetModelUrl(Some(
                e.target_unchecked_into::<HtmlInputElement>().value(),
            )))
        })
    };
    let take_files = {
        let d = state.dispatcher();
        Callback::from(move |files: FileList| match local_model(&files) {
            Ok(m) => d.dispatch(Action::SetLocalModel(m)),
            Err(msg) => d.dispatch(Action::ModelFailed(msg)),
        })
    };
    let on_files = {
        let take_files = take_files.clone();
        Callback::from(move |e: Event| {
            if let Some(files) = e.target_unchecked_into::<HtmlInputElement>().files() {
                take_files.emit(files);
            }
        })
    };
    let on_drop = {
        let (take_files, choosing_local) = (take_files.clone(), choosing_local.clone());
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            if let Some(files) = e.data_transfer().and_then(|t| t.files()) {
                choosing_local.set(true);
                take_files.emit(files);
            }
        })
    };
    let on_drag_over = Callback::from(|e: DragEvent| e.prevent_default());
    let checked = use_state(|| None::<(String, Checked)>);
    let on_check = {
        let (checked, base) = (checked.clone(), state.model_url());
        Callback::from(move |_| {
            let (checked, base) = (checked.clone(), base.clone());
            checked.set(Some((base.clone(), Checked::Reading)));
            yew::platform::spawn_local(async move {
                let outcome = check_folder(base.clone()).await;
                checked.set(Some((base, outcome)));
            });
        })
    };
    // A check holds for the folder it read, not for one typed since.
    let checked_now = checked
        .as_ref()
        .filter(|(base, _)| *base == state.model_url())
        .map(|(_, c)| c.clone());
    let checked_text = checked_now.map(|c| match c {
        Checked::Reading => "reading config.json and the weights' header…".to_string(),
        Checked::Found(found) => size_text(state, &found.0, found.1.as_ref()),
        Checked::Failed(e) => format!("cannot read this folder: {e}"),
    });
    let size = (!custom && !local)
        .then(|| preset(&state.experiment.model))
        .flatten()
        .map(|p| {
            format!(
                "model.safetensors ≈ {}; only the part up to the chosen layer is downloaded",
                human_bytes(p.weights_bytes)
            )
        });
    html! {
        <div class="model-picker" ondrop={on_drop} ondragover={on_drag_over}>
            <div class="row">
                <label for="qk-model-choice">{ "Model" }</label>
                <select id="qk-model-choice" onchange={on_select}>
                    { for PRESETS.iter().map(|p| html! { <option value={p.repo} selected={selected == p.repo}>{ p.label }</option> }) }
                    <option value={CUSTOM} selected={custom}>{ "Custom folder URL…" }</option>
                    <option value={LOCAL} selected={local}>{ "Files on this computer…" }</option>
                </select>
                if custom {
                    <input id="qk-model" type="url" value={state.model_url()} oninput={on_url} size="60"
                        placeholder="https://…/ (holds config.json, model.safetensors, tokenizer.json)" />
                    <button class="secondary" id="qk-check-model" onclick={on_check}>{ "Check size" }</button>
                }
                if local {
                    <input id="qk-local-files" type="file" multiple=true accept=".json,.safetensors" onchange={on_files} />
                }
                if let Some(size) = size { <span class="hint">{ size }</span> }
            </div>
            if let (true, Some(text)) = (custom, checked_text) {
                <div class="hint" id="qk-model-size">{ text }</div>
            }
            if local {
                <div class="hint drop-hint">{
                    match &state.local_model {
                        Some(m) => format!("Using {} ({})", m.names.join(", "), human_bytes(m.bytes)),
                        None => "Choose or drop config.json, model.safetensors and tokenizer.json (a USB copy works offline).".into(),
                    }
                }</div>
            }
            if let Some(msg) = &state.model_error { <div class="error field-error" id="qk-model-error">{ msg }</div> }
        </div>
    }
}

//! Which model: a GPT-2 size from the hub (with its download size), a custom folder URL (with a
//! size check), or files from disk (picked or dropped: config.json, model.safetensors,
//! tokenizer.json).

use web_sys::{DragEvent, FileList, HtmlInputElement, Url};
use yew::prelude::*;

use super::model_size::{check_folder, checked_text, Checked, Plan};
use super::{filter, value};
use crate::page::{LocalModel, BUNDLED_TOKENIZER};
use crate::presets::{human_bytes, preset, PRESETS};
use crate::web::engine::ModelFiles;
use crate::web::params::absolute_url;

const CUSTOM: &str = "custom";
const LOCAL: &str = "local";

#[derive(Properties, PartialEq)]
pub struct Props {
    /// The experiment's hub model (a repo id).
    pub hub_model: AttrValue,
    /// The model folder a run uses (the custom one, or the hub model's).
    pub url: AttrValue,
    /// Whether a custom folder is chosen.
    pub custom_url: bool,
    pub local: Option<LocalModel>,
    pub error: Option<AttrValue>,
    /// What the size check plans a download for.
    pub plan: Plan,
    pub on_hub: Callback<String>,
    /// Some(url): a custom folder; None: the hub model.
    pub on_url: Callback<Option<String>>,
    pub on_local: Callback<Result<LocalModel, String>>,
}

/// The three files from a picked or dropped set, as blob: URLs the worker can fetch.
fn local_model(files: &FileList) -> Result<LocalModel, String> {
    let all: Vec<web_sys::File> = (0..files.length()).filter_map(|i| files.get(i)).collect();
    let find = |pred: &dyn Fn(&str) -> bool| all.iter().find(|f| pred(&f.name().to_lowercase()));
    let missing = |what: &str| format!("{what} is missing: choose config.json and model.safetensors (and tokenizer.json)");
    let config = find(&|n| n == "config.json").ok_or_else(|| missing("config.json"))?;
    let weights = find(&|n| n.ends_with(".safetensors")).ok_or_else(|| missing("model.safetensors"))?;
    let tokenizer = find(&|n| n == "tokenizer.json");
    let url = |f: &web_sys::File| Url::create_object_url_with_blob(f).map_err(|e| format!("cannot open {}: {e:?}", f.name()));
    let bundled = absolute_url(BUNDLED_TOKENIZER);
    let chosen = || [Some(config), Some(weights), tokenizer].into_iter().flatten();
    Ok(LocalModel {
        files: ModelFiles {
            revision: None,
            config: url(config)?,
            weights: url(weights)?,
            tokenizer: tokenizer.map_or_else(|| Ok(bundled.clone()), url)?,
            fallback_tokenizer: Some(bundled),
        },
        names: chosen().map(|f| f.name()).collect(),
        bytes: chosen().map(|f| f.size() as u64).sum(),
    })
}

/// The hint under files from disk: what is used, or what to choose.
fn local_hint(local: Option<&LocalModel>) -> String {
    match local {
        Some(m) => format!("Using {} ({})", m.names.join(", "), human_bytes(m.bytes)),
        None => "Choose or drop config.json, model.safetensors and tokenizer.json (a USB copy works offline).".into(),
    }
}

/// The model list: a hub size, or the custom folder (starting from the current one), or files.
fn on_choice(props: &Props, choosing_local: UseStateHandle<bool>) -> Callback<Event> {
    let (on_hub, on_url, url) = (props.on_hub.clone(), props.on_url.clone(), props.url.clone());
    Callback::from(move |e: Event| {
        let value = value(&e);
        choosing_local.set(value == LOCAL);
        match value.as_str() {
            LOCAL => {}
            CUSTOM => on_url.emit(Some(url.to_string())),
            repo => on_hub.emit(repo.to_string()),
        }
    })
}

/// Reads the folder's config and weight header, remembering which folder the answer is for.
fn check_on_click(checked: UseStateHandle<Option<(String, Checked)>>, base: String) -> Callback<MouseEvent> {
    Callback::from(move |_| {
        let (checked, base) = (checked.clone(), base.clone());
        checked.set(Some((base.clone(), Checked::Reading)));
        yew::platform::spawn_local(async move { checked.set(Some((base.clone(), check_folder(base).await))) });
    })
}

#[function_component(ModelPicker)]
pub fn model_picker(props: &Props) -> Html {
    let choosing_local = use_state(|| false);
    let checked = use_state(|| None::<(String, Checked)>);
    let local = props.local.is_some() || *choosing_local;
    let custom = !local && (props.custom_url || preset(&props.hub_model).is_none());
    let selected = match (local, custom) {
        (true, _) => LOCAL,
        (_, true) => CUSTOM,
        _ => props.hub_model.as_str(),
    };
    let on_select = on_choice(props, choosing_local.clone());
    let on_files = filter(&props.on_local, |e: Event| {
        e.target_unchecked_into::<HtmlInputElement>().files().map(|f| local_model(&f))
    });
    let on_drop = {
        let choosing_local = choosing_local.clone();
        filter(&props.on_local, move |e: DragEvent| {
            e.prevent_default();
            let files = e.data_transfer()?.files()?;
            choosing_local.set(true);
            Some(local_model(&files))
        })
    };
    let on_check = check_on_click(checked.clone(), props.url.to_string());
    // A check holds for the folder it read, not for one typed since.
    let checked_now = checked
        .as_ref()
        .filter(|(base, _)| *base == *props.url)
        .map(|(_, c)| c.clone());
    let checked_line = use_memo((checked_now, props.plan.clone()), |(c, plan)| {
        c.as_ref().map(|c| checked_text(c, plan))
    });
    let size = (!custom && !local).then(|| preset(&props.hub_model)).flatten().map(|p| {
        format!(
            "model.safetensors ≈ {}; only the part up to the chosen layer is downloaded",
            human_bytes(p.weights_bytes)
        )
    });
    html! {
        <div class="model-picker" ondrop={on_drop} ondragover={Callback::from(|e: DragEvent| e.prevent_default())}>
            <div class="row">
                <label for="qk-model-choice">{ "Model" }</label>
                <select id="qk-model-choice" onchange={on_select}>
                    { for PRESETS.iter().map(|p| html! { <option value={p.repo} selected={selected == p.repo}>{ p.label }</option> }) }
                    <option value={CUSTOM} selected={custom}>{ "Custom folder URL…" }</option>
                    <option value={LOCAL} selected={local}>{ "Files on this computer…" }</option>
                </select>
                if custom {
                    <input id="qk-model" type="url" value={props.url.clone()} oninput={props.on_url.reform(|e: InputEvent| Some(value(&e)))} size="60"
                        placeholder="https://…/ (holds config.json, model.safetensors, tokenizer.json)" />
                    <button class="secondary" id="qk-check-model" onclick={on_check}>{ "Check size" }</button>
                }
                if local {
                    <input id="qk-local-files" type="file" multiple=true accept=".json,.safetensors" onchange={on_files} />
                }
                if let Some(size) = size { <span class="hint">{ size }</span> }
            </div>
            if let (true, Some(text)) = (custom, (*checked_line).clone()) {
                <div class="hint" id="qk-model-size">{ text }</div>
            }
            if local { <div class="hint drop-hint">{ local_hint(props.local.as_ref()) }</div> }
            if let Some(msg) = &props.error { <div class="error field-error" id="qk-model-error">{ msg }</div> }
        </div>
    }
}

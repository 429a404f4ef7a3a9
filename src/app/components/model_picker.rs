//! Which model: a GPT-2 size from the hub (with its download size), or a custom folder URL.

use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use super::super::state::{Action, State};
use crate::presets::{human_bytes, preset, PRESETS};

const CUSTOM: &str = "custom";

#[derive(Properties, PartialEq)]
pub struct Props {
    pub state: UseReducerHandle<State>,
}

#[function_component(ModelPicker)]
pub fn model_picker(props: &Props) -> Html {
    let state = &props.state;
    let custom = state.model_override.is_some() || preset(&state.experiment.model).is_none();
    let selected = if custom {
        CUSTOM.to_string()
    } else {
        state.experiment.model.clone()
    };
    let on_select = {
        let (d, url) = (state.dispatcher(), state.model_url());
        Callback::from(move |e: Event| {
            let value = e.target_unchecked_into::<HtmlSelectElement>().value();
            if value == CUSTOM {
                d.dispatch(Action::SetModelUrl(Some(url.clone())));
            } else {
                d.dispatch(Action::SetHubModel(value));
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
    let size = (!custom).then(|| preset(&state.experiment.model)).flatten().map(|p| {
        format!(
            "model.safetensors ≈ {}; only the part up to the chosen layer is downloaded",
            human_bytes(p.weights_bytes)
        )
    });
    html! {
        <div class="row model-picker">
            <label for="qk-model-choice">{ "Model" }</label>
            <select id="qk-model-choice" onchange={on_select}>
                { for PRESETS.iter().map(|p| html! { <option value={p.repo} selected={selected == p.repo}>{ p.label }</option> }) }
                <option value={CUSTOM} selected={custom}>{ "Custom folder URL…" }</option>
            </select>
            if custom {
                <input id="qk-model" type="url" value={state.model_url()} oninput={on_url} size="60"
                    placeholder="https://…/ (holds config.json, model.safetensors, tokenizer.json)" />
            }
            if let Some(size) = size { <span class="hint">{ size }</span> }
        </div>
    }
}

//! Model folder, layer and the words of the experiment, with the Run button.

use web_sys::HtmlInputElement;
use yew::prelude::*;

use super::super::state::{Action, State};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub state: UseReducerHandle<State>,
    pub on_run: Callback<()>,
}

#[function_component(ExperimentPanel)]
pub fn experiment_panel(props: &Props) -> Html {
    let state = &props.state;
    let exp = &state.experiment;
    let on_model = {
        let d = state.dispatcher();
        Callback::from(move |e: InputEvent| {
            d.dispatch(Action::SetModelUrl(e.target_unchecked_into::<HtmlInputElement>().value()))
        })
    };
    let on_layer = {
        let d = state.dispatcher();
        Callback::from(move |e: InputEvent| {
            if let Ok(layer) = e.target_unchecked_into::<HtmlInputElement>().value().parse::<usize>() {
                d.dispatch(Action::SetLayer(layer));
            }
        })
    };
    let max_layer = state.result.as_ref().map(|r| r.model.n_layer.saturating_sub(1).to_string());
    let on_click = {
        let on_run = props.on_run.clone();
        Callback::from(move |_| on_run.emit(()))
    };
    html! {
        <section class="panel experiment">
            <div class="row">
                <label for="qk-model">{ "Model folder" }</label>
                <input id="qk-model" type="url" value={state.model_url()} oninput={on_model} size="60"
                    title="Base URL holding config.json, model.safetensors and tokenizer.json" />
            </div>
            <div class="row">
                <label for="qk-layer">{ "Layer" }</label>
                <input id="qk-layer" type="number" min="0" max={max_layer} value={exp.layer.to_string()} oninput={on_layer} />
                <span class="template">{ "Prompt: " }<code>{ &exp.template }</code></span>
                <button id="qk-run" onclick={on_click} disabled={state.busy()}>{ if state.busy() { "Running…" } else { "Run" } }</button>
            </div>
            if let Some(err) = &state.experiment_error {
                <div class="error field-error">{ err }</div>
            }
            <div class="categories">
                { for exp.categories.iter().map(|c| html! {
                    <div class="category">
                        <span class="name">{ &c.name }</span>
                        <span class="words">{ c.words.join(", ") }</span>
                    </div>
                }) }
            </div>
        </section>
    }
}

//! The experiment editor: layer, template, and the categories (one [`CategoryEntry`] each).

use yew::prelude::*;

use super::category::CategoryEntry;
use super::{filter, value};
use crate::page::CategoryEdit;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub layer: usize,
    /// The model's last layer (or 47 while the model is unknown).
    pub max_layer: usize,
    pub template: AttrValue,
    pub categories: Vec<CategoryEdit>,
    pub on_layer: Callback<usize>,
    pub on_template: Callback<String>,
    pub on_name: Callback<(usize, String)>,
    pub on_words: Callback<(usize, String)>,
    pub on_add: Callback<()>,
    pub on_remove: Callback<usize>,
}

#[function_component(Editor)]
pub fn editor(props: &Props) -> Html {
    let (layer, max_layer) = (props.layer, props.max_layer);
    let on_layer = filter(&props.on_layer, |e: InputEvent| value(&e).parse().ok());
    let layer_note = (layer > max_layer).then(|| format!("this model has layers 0–{max_layer}"));
    html! {
        <div class="editor">
            <div class="row">
                <label for="qk-layer">{ "Layer" }</label>
                <input id="qk-layer-slider" aria-label="Layer (slider)" type="range" min="0" max={max_layer.to_string()} value={layer.to_string()} oninput={on_layer.clone()} />
                <input id="qk-layer" type="number" min="0" max={max_layer.to_string()} value={layer.to_string()} oninput={on_layer} />
                <span class="hint">{ format!("blocks.{layer}.attn.hook_q / hook_k") }</span>
                if let Some(n) = layer_note { <span class="field-error">{ n }</span> }
            </div>
            <div class="row">
                <label for="qk-template">{ "Prompt" }</label>
                <input id="qk-template" type="text" value={props.template.clone()} size="40"
                    oninput={props.on_template.reform(|e: InputEvent| value(&e))} />
                <span class="hint">{ "{word} is replaced by each word; Q and K are read at the prompt's last token" }</span>
            </div>
            <div class="categories">
                { for props.categories.iter().enumerate().map(|(i, c)| html! {
                    <CategoryEntry index={i} category={c.clone()} on_name={props.on_name.clone()}
                        on_words={props.on_words.clone()} on_remove={props.on_remove.clone()} />
                }) }
            </div>
            <button class="secondary" id="qk-add-category" onclick={props.on_add.reform(|_| ())}>{ "+ Add category" }</button>
        </div>
    }
}

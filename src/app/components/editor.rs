//! The experiment editor: layer, template, categories and their words, each word with its tokens.

use web_sys::{HtmlInputElement, HtmlTextAreaElement};
use yew::prelude::*;

use super::super::state::{Action, State, TokenizerRef};
use crate::experiment::Experiment;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub state: UseReducerHandle<State>,
}

/// How a word tokenizes where the template puts it.
fn word_chip(tokenizer: Option<&TokenizerRef>, exp: &Experiment, word: &str) -> Html {
    let Some(t) = tokenizer else {
        return html! { <span class="chip">{ word }</span> };
    };
    let space = if exp.word_follows_space() { " " } else { "" };
    match t.0.encode(&format!("{space}{word}")) {
        Ok(ids) if ids.len() == 1 => html! { <span class="chip one" title={format!("one token: {}", ids[0])}>{ word }</span> },
        Ok(ids) => {
            let pieces =
                t.0.token_strings(&ids)
                    .into_iter()
                    .map(|p| p.replace('Ġ', "␣"))
                    .collect::<Vec<_>>()
                    .join(" · ");
            html! {
                <span class="chip many" title="not one token: the analysis uses the prompt's last token, as the lecture does">
                    { word }<small>{ format!(" {} tokens: {pieces}", ids.len()) }</small>
                </span>
            }
        }
        Err(e) => html! { <span class="chip bad" title={e.to_string()}>{ word }</span> },
    }
}

#[function_component(Editor)]
pub fn editor(props: &Props) -> Html {
    let state = &props.state;
    let exp = &state.experiment;
    let d = state.dispatcher();
    let max_layer = state.n_layer().map(|n| n.saturating_sub(1)).unwrap_or(47);
    let on_layer = {
        let d = d.clone();
        Callback::from(move |e: InputEvent| {
            if let Ok(l) = e.target_unchecked_into::<HtmlInputElement>().value().parse::<usize>() {
                d.dispatch(Action::SetLayer(l));
            }
        })
    };
    let on_template = {
        let d = d.clone();
        Callback::from(move |e: InputEvent| {
            d.dispatch(Action::SetTemplate(e.target_unchecked_into::<HtmlInputElement>().value()))
        })
    };
    let on_add = {
        let d = d.clone();
        Callback::from(move |_| d.dispatch(Action::AddCategory))
    };
    let layer_note = (exp.layer > max_layer).then(|| format!("this model has layers 0–{max_layer}"));
    html! {
        <div class="editor">
            <div class="row">
                <label for="qk-layer">{ "Layer" }</label>
                <input id="qk-layer-slider" type="range" min="0" max={max_layer.to_string()} value={exp.layer.to_string()} oninput={on_layer.clone()} />
                <input id="qk-layer" type="number" min="0" max={max_layer.to_string()} value={exp.layer.to_string()} oninput={on_layer} />
                <span class="hint">{ format!("blocks.{}.attn.hook_q / hook_k", exp.layer) }</span>
                if let Some(n) = layer_note { <span class="field-error">{ n }</span> }
            </div>
            <div class="row">
                <label for="qk-template">{ "Prompt" }</label>
                <input id="qk-template" type="text" value={exp.template.clone()} oninput={on_template} size="40" />
                <span class="hint">{ "{word} is replaced by each word; Q and K are read at the prompt's last token" }</span>
            </div>
            <div class="categories">
                { for exp.categories.iter().enumerate().map(|(i, c)| {
                    let on_name = { let d = d.clone(); Callback::from(move |e: InputEvent| d.dispatch(Action::SetCategoryName(i, e.target_unchecked_into::<HtmlInputElement>().value()))) };
                    let on_words = { let d = d.clone(); Callback::from(move |e: InputEvent| d.dispatch(Action::SetCategoryWords(i, e.target_unchecked_into::<HtmlTextAreaElement>().value()))) };
                    let on_remove = { let d = d.clone(); Callback::from(move |_| d.dispatch(Action::RemoveCategory(i))) };
                    html! {
                        <div class="category" data-category={i.to_string()}>
                            <input class="name" type="text" value={c.name.clone()} oninput={on_name} aria-label="category name" />
                            <textarea class="words" rows="2" value={state.words_text.get(i).cloned().unwrap_or_default()} oninput={on_words}
                                aria-label={format!("words of {}", c.name)} placeholder="words, separated by commas" />
                            <button class="remove" title="remove this category" onclick={on_remove}>{ "×" }</button>
                            <div class="chips">{ for c.words.iter().map(|w| word_chip(state.tokenizer.as_ref(), exp, w)) }</div>
                        </div>
                    }
                }) }
            </div>
            <button class="secondary" id="qk-add-category" onclick={on_add}>{ "+ Add category" }</button>
        </div>
    }
}

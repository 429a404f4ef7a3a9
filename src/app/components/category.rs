//! One category in the editor: its name, its words as typed, and each word's tokens (computed by
//! the reducer; this only shows them).

use yew::prelude::*;

use super::value;
use crate::page::{CategoryEdit, Chip, Tokens};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub index: usize,
    pub category: CategoryEdit,
    pub on_name: Callback<(usize, String)>,
    pub on_words: Callback<(usize, String)>,
    pub on_remove: Callback<usize>,
}

/// How a word tokenizes where the template puts it.
fn chip(chip: &Chip) -> Html {
    let word = &chip.word;
    match &chip.tokens {
        Tokens::Unknown => html! { <span class="chip">{ word }</span> },
        Tokens::One(id) => html! { <span class="chip one" title={format!("one token: {id}")}>{ word }</span> },
        Tokens::Many(pieces) => html! {
            <span class="chip many" title="not one token: the analysis uses the prompt's last token, as the lecture does">
                { word }<small>{ format!(" {} tokens: {}", pieces.len(), pieces.join(" · ")) }</small>
            </span>
        },
        Tokens::Bad(e) => html! { <span class="chip bad" title={e.clone()}>{ word }</span> },
    }
}

#[function_component(CategoryEntry)]
pub fn category_entry(props: &Props) -> Html {
    let (i, c) = (props.index, &props.category);
    html! {
        <div class="category" data-category={i.to_string()}>
            <input class="name" type="text" value={c.name.clone()} aria-label="category name"
                oninput={props.on_name.reform(move |e: InputEvent| (i, value(&e)))} />
            <textarea class="words" rows="2" value={c.text.clone()} aria-label={format!("words of {}", c.name)}
                placeholder="words, separated by commas" oninput={props.on_words.reform(move |e: InputEvent| (i, value(&e)))} />
            <button class="remove" title="remove this category" onclick={props.on_remove.reform(move |_| i)}>{ "×" }</button>
            <div class="chips">{ for c.chips.iter().map(chip) }</div>
        </div>
    }
}

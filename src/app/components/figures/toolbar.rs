//! Above the figures: colour limits, exports, the head shown, the head grid's space, the word
//! pair under the pointer; and the line that says which view the figures show.

use yew::prelude::*;

use crate::plots::figure::Space;

use super::super::value;

#[derive(Properties, PartialEq)]
pub struct ToolbarProps {
    pub lecture_limits: bool,
    pub on_limits: Callback<Event>,
    pub on_csv: Callback<MouseEvent>,
    pub on_json: Callback<MouseEvent>,
    pub on_notebook: Callback<MouseEvent>,
    pub n_head: usize,
    pub head: Option<usize>,
    pub on_head: Callback<Event>,
    /// The head grid's space, when the run has a head grid.
    pub grid_space: Option<Space>,
    pub on_space: Callback<Space>,
    pub pair_info: Option<String>,
}

#[function_component(FigureToolbar)]
pub fn figure_toolbar(p: &ToolbarProps) -> Html {
    let on_space = p.on_space.reform(|e: Event| match value(&e).as_str() {
        "K" => Space::K,
        "V" => Space::V,
        _ => Space::Q,
    });
    let pair = p
        .pair_info
        .clone()
        .unwrap_or_else(|| "Hover a heatmap cell or a scatter point to mark its word pair everywhere.".into());
    html! {
        <div class="row figure-options">
            <label><input type="checkbox" id="qk-lecture-limits" checked={p.lecture_limits} onchange={p.on_limits.clone()} />
                { " Lecture colour limits (Q 0.60–0.85, K 0.82–0.95)" }</label>
            <button class="secondary" id="qk-export-csv" onclick={p.on_csv.clone()}>{ "Matrices and vectors (CSV)" }</button>
            <button class="secondary" id="qk-export-json" onclick={p.on_json.clone()}>{ "Result (JSON)" }</button>
            <button class="secondary" id="qk-export-notebook" onclick={p.on_notebook.clone()}
                title="A Jupyter notebook that repeats this run with PyTorch and transformers and checks every number">
                { "Check it in Python" }</button>
            <label>{ "Heads: " }<select id="qk-head" onchange={p.on_head.clone()}>
                <option value="" selected={p.head.is_none()}>{ "whole layer" }</option>
                { for (0..p.n_head).map(|h| html! { <option value={h.to_string()} selected={p.head == Some(h)}>{ format!("head {h}") }</option> }) }
            </select></label>
            if let Some(space) = p.grid_space {
                <label>{ "Head grid: " }<select id="qk-grid-space" onchange={on_space}>
                    { for [Space::Q, Space::K, Space::V].iter().map(|s| html! { <option value={s.name()} selected={space == *s}>{ format!("{} selectivity", s.name()) }</option> }) }
                </select></label>
            }
            <span class="hint" id="qk-pair">{ pair }</span>
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct ViewLineProps {
    pub layer: usize,
    pub head: Option<usize>,
    pub centered: bool,
    pub numbers: String,
    pub on_whole_layer: Callback<MouseEvent>,
}

/// Which view the figures show (the whole layer or a head) and its numbers.
#[function_component(ViewLine)]
pub fn view_line(p: &ViewLineProps) -> Html {
    let title = match p.head {
        Some(h) => format!("Showing head {h} of layer {} (its slice of Q, K and V)", p.layer),
        None => format!("Showing the whole layer {}", p.layer),
    };
    html! {
        <p class="view-title" id="qk-view">{ title }{ if p.centered { ", mean-centred vectors" } else { "" } }{ ": " }
            <span id="qk-view-numbers">{ p.numbers.clone() }</span>
            if p.head.is_some() {
                <button class="link" id="qk-whole-layer" onclick={p.on_whole_layer.clone()}>{ "back to the whole layer" }</button>
            }
        </p>
    }
}

//! The guided lab's page (`?mode=lecture&step=N`): one step of `crate::lecture` with its
//! explanation, formula, the notebook's lines, the live figures (the children) and a
//! predict-first question; Left/Right/Space/Home/End move between steps.

use gloo::events::EventListener;
use wasm_bindgen::JsCast;
use web_sys::KeyboardEvent;
use yew::prelude::*;

use crate::lecture::{Step, Suggestion, STEPS};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub step: Step,
    pub revealed: bool,
    pub present: bool,
    /// Move by +1/-1, or to the first (i32::MIN) or last (i32::MAX) step.
    pub on_move: Callback<i32>,
    pub on_step: Callback<usize>,
    pub on_reveal: Callback<()>,
    pub on_present: Callback<bool>,
    /// Back to the workbench.
    pub on_close: Callback<()>,
    pub on_suggest: Callback<Suggestion>,
    /// The step's figures.
    #[prop_or_default]
    pub children: Html,
}

/// The move a key asks for, unless the key is typed into a field.
fn key_move(e: &KeyboardEvent) -> Option<i32> {
    let typing = e
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
    if typing || e.ctrl_key() || e.alt_key() || e.meta_key() {
        return None;
    }
    match e.key().as_str() {
        "ArrowRight" | " " | "PageDown" => Some(1),
        "ArrowLeft" | "PageUp" => Some(-1),
        "Home" => Some(i32::MIN),
        "End" => Some(i32::MAX),
        _ => None,
    }
}

fn fullscreen() {
    if let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        let _ = el.request_fullscreen();
    }
}

#[function_component(LectureView)]
pub fn lecture_view(props: &Props) -> Html {
    {
        let on_move = props.on_move.clone();
        use_effect_with((), move |_| {
            let listener = web_sys::window().map(|w| {
                EventListener::new(&w, "keydown", move |e| {
                    let Some(e) = e.dyn_ref::<KeyboardEvent>() else { return };
                    if let Some(by) = key_move(e) {
                        e.prevent_default();
                        on_move.emit(by);
                    }
                })
            });
            move || drop(listener)
        });
    }
    let s = &props.step;
    let n = s.number;
    html! {
        <section class="panel lecture" data-step={n.to_string()} aria-labelledby="qk-step-title">
            <nav class="lecture-nav" aria-label="Steps of the guided lab">
                <button class="secondary" id="qk-step-prev" onclick={props.on_move.reform(|_| -1)} disabled={n == 1}>{ "← Back" }</button>
                <ol class="step-dots">
                    { for (1..=STEPS).map(|i| html! {
                        <li><button class={classes!("dot", (i == n).then_some("current"))} aria-label={format!("Step {i}")}
                            aria-current={(i == n).then_some("step")} onclick={props.on_step.reform(move |_| i)}>{ i }</button></li>
                    }) }
                </ol>
                <button id="qk-step-next" onclick={props.on_move.reform(|_| 1)} disabled={n == STEPS}>{ "Next →" }</button>
                <span class="lecture-tools">
                    <button class="secondary" id="qk-present" aria-pressed={props.present.to_string()}
                        onclick={props.on_present.reform({ let p = props.present; move |_| !p })}>
                        { if props.present { "Leave presenter mode" } else { "Present" } }</button>
                    if props.present { <button class="secondary" id="qk-fullscreen" onclick={Callback::from(|_| fullscreen())}>{ "Fullscreen" }</button> }
                    <button class="secondary" id="qk-lecture-close" onclick={props.on_close.reform(|_| ())}>{ "Back to the lab" }</button>
                </span>
            </nav>
            <div class="step-body">
                <div class="step-text">
                    <h2 id="qk-step-title">{ format!("{n}. {}", s.title) }</h2>
                    { for s.text.iter().map(|p| html! { <p>{ p }</p> }) }
                    if let Some(f) = &s.formula { <pre class="formula" aria-label="The formula with this run's numbers">{ f }</pre> }
                    if let Some(q) = &s.question {
                        <div class="predict">
                            <p class="ask">{ &q.ask }</p>
                            if props.revealed {
                                <p class="answer" id="qk-answer" role="status">{ &q.answer }</p>
                            } else {
                                <button id="qk-reveal" onclick={props.on_reveal.reform(|_| ())}>{ "Reveal this run's answer" }</button>
                            }
                        </div>
                    }
                    if !s.next.is_empty() {
                        <ul class="next">{ for s.next.iter().map(|g| {
                            let g2 = g.clone();
                            html! { <li><button class="link" onclick={props.on_suggest.reform(move |_| g2.clone())}>{ &g.label }</button></li> }
                        }) }</ul>
                    }
                    if let Some(code) = s.code {
                        <details class="code" open={!props.present}>
                            <summary>{ "The notebook's PyTorch lines" }</summary>
                            <pre><code>{ code }</code></pre>
                        </details>
                    }
                </div>
                if !s.figures.is_empty() { <div class="step-figures">{ props.children.clone() }</div> }
            </div>
        </section>
    }
}

//! What the page is doing: stage, bytes downloaded, speed and time left.

use yew::prelude::*;

use super::super::state::Phase;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub phase: Phase,
    pub on_cancel: Callback<()>,
}

#[function_component(ProgressView)]
pub fn progress_view(props: &Props) -> Html {
    match &props.phase {
        Phase::LoadingExperiment => html! { <section class="progress" id="qk-progress">{ "Loading the experiment…" }</section> },
        Phase::Busy(run) => {
            let (label, detail) = (run.label(), run.detail());
            html! {
                <section class="progress" id="qk-progress" aria-live="polite">
                    <span class="stage">{ label }{ "…" }</span>
                    if let Some((fraction, text)) = detail {
                        <progress max="1" value={fraction.map(|f| f.to_string())}></progress>
                        <span class="bytes">{ text }</span>
                    }
                    <button class="secondary" id="qk-cancel" onclick={props.on_cancel.reform(|_| ())}>{ "Cancel" }</button>
                </section>
            }
        }
        Phase::Cancelled => {
            html! { <section class="progress" id="qk-cancelled">{ "Cancelled. What had fully arrived is kept; Run again continues from there." }</section> }
        }
        Phase::Done { seconds } => html! { <section class="progress done">{ format!("Done in {seconds:.2} s.") }</section> },
        _ => html! {},
    }
}

//! What the page is doing: stage, bytes downloaded, speed and time left.

use yew::prelude::*;

use super::super::state::Phase;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub phase: Phase,
    pub on_cancel: Callback<()>,
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

#[function_component(ProgressView)]
pub fn progress_view(props: &Props) -> Html {
    match &props.phase {
        Phase::LoadingExperiment => html! { <section class="progress" id="qk-progress">{ "Loading the experiment…" }</section> },
        Phase::Busy {
            stage,
            progress,
            stage_started_ms,
            ..
        } => {
            let label = stage.map(|s| s.label()).unwrap_or("Starting the engine");
            let detail = progress.map(|p| {
                let secs = ((js_sys::Date::now() - stage_started_ms) / 1000.0).max(1e-3);
                let speed = p.done as f64 / secs;
                match p.total {
                    Some(t) if t > 0 => {
                        let left = (t.saturating_sub(p.done)) as f64 / speed.max(1.0);
                        (
                            Some(p.done as f64 / t as f64),
                            format!("{} of {} · {}/s · {:.0} s left", mb(p.done), mb(t), mb(speed as u64), left),
                        )
                    }
                    _ => (None, format!("{} · {}/s", mb(p.done), mb(speed as u64))),
                }
            });
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

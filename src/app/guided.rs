//! The guided lab in the app: the steps of `crate::lecture` for the state's experiment and last
//! result (computed when they change, not in every render), the open step's figures, and what
//! its links set up.

use std::rc::Rc;

use yew::prelude::*;

use super::components::{Figures, LectureView};
use crate::experiment::Experiment;
use crate::lecture::{steps, Suggestion};
use crate::result::RunResult;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub experiment: Experiment,
    pub result: Option<Rc<RunResult>>,
    pub step: usize,
    pub revealed: bool,
    pub present: bool,
    pub head: Option<usize>,
    pub on_move: Callback<i32>,
    pub on_step: Callback<usize>,
    pub on_reveal: Callback<()>,
    pub on_present: Callback<bool>,
    pub on_close: Callback<()>,
    pub on_suggest: Callback<Suggestion>,
    pub on_select: Callback<(usize, Option<usize>)>,
    pub on_head: Callback<Option<usize>>,
    /// MODEL of the "Check it in Python" notebook (see `Figures`).
    pub model: AttrValue,
    /// The figures' colour scale and theme.
    pub look: crate::plots::Look,
}

/// The result compared by pointer (a new run is a new result).
#[derive(Clone)]
struct Shown(Option<Rc<RunResult>>);

impl PartialEq for Shown {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Rc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

#[function_component(Guided)]
pub fn guided(props: &Props) -> Html {
    let all = use_memo((props.experiment.clone(), Shown(props.result.clone())), |(e, r)| {
        steps(e, r.0.as_deref())
    });
    let Some(step) = all.get(props.step.saturating_sub(1)).cloned() else {
        return Html::default();
    };
    let figures = match &props.result {
        Some(result) if !step.figures.is_empty() => html! {
            <Figures result={result.clone()} head={props.head} only={Some(step.figures.clone())}
                on_select={props.on_select.clone()} on_head={props.on_head.clone()} model={props.model.clone()} look={props.look} />
        },
        _ if !step.figures.is_empty() => html! { <p class="hint">{ "Run the lab to draw this step's figures." }</p> },
        _ => Html::default(),
    };
    html! {
        <LectureView {step} revealed={props.revealed} present={props.present} on_move={props.on_move.clone()}
            on_step={props.on_step.clone()} on_reveal={props.on_reveal.clone()} on_present={props.on_present.clone()}
            on_close={props.on_close.clone()} on_suggest={props.on_suggest.clone()}>
            { figures }
        </LectureView>
    }
}

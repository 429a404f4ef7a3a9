//! Every change to the page's state, as an [`Action`], and the one pure function that applies it.

use std::rc::Rc;

use super::{CategoryEdit, LocalModel, Phase, Run, State, TokenizerRef};
use crate::analysis::report::ExtendedOptions;
use crate::experiment::{Category, Experiment};
use crate::lecture::STEPS;
use crate::protocol::{Progress, Stage};
use crate::result::RunResult;

/// What happened in the page. Times (`f64`, ms since the epoch) come with the actions that need
/// them, read by the shell, so [`reduce`] is pure.
#[derive(Clone, Debug)]
pub enum Action {
    /// Some(url): a custom model folder; None: back to the experiment's hub model.
    SetModelUrl(Option<String>),
    SetHubModel(String),
    SetLocalModel(LocalModel),
    ModelFailed(String),
    SetLayer(usize),
    SetOptions(ExtendedOptions),
    /// Show one head's slice in the detailed figures (None: the whole layer).
    SelectHead(Option<usize>),
    SetTemplate(String),
    SetCategoryName(usize, String),
    /// A category's words as typed (kept verbatim; the experiment gets them parsed).
    SetCategoryWords(usize, String),
    AddCategory,
    RemoveCategory(usize),
    ExperimentLoaded(Experiment),
    ExperimentFailed(String),
    TokenizerLoaded(TokenizerRef),
    /// Live lab on or off.
    SetLive(bool),
    /// Open the guided lab at a step (clamped to 1..=STEPS), or close it (None).
    LectureStep(Option<usize>),
    /// A step forward (+1) or back (-1), or to the first (i32::MIN) or last (i32::MAX).
    LectureMove(i32),
    SetPresent(bool),
    /// The figures' colour scale and theme.
    SetLook(crate::plots::Look),
    /// Reveal the answer of the shown step's question.
    Reveal,
    LoadingExperiment,
    /// A run began (its number is `runs + 1`).
    Started(f64),
    Stage(Stage, f64),
    Progress(Progress, f64),
    Finished(Rc<RunResult>, f64),
    Failed(String),
    Cancelled,
    Idle,
}

/// The state after `action`: the old one is left as it was (the app keeps it until it renders).
pub fn reduce(state: &State, action: Action) -> State {
    let mut s = state.clone();
    let typed = matches!(
        action,
        Action::SetCategoryWords(..) | Action::SetCategoryName(..) | Action::SetTemplate(_)
    );
    match action {
        Action::SetModelUrl(url) => s.choose_model(url),
        Action::SetHubModel(repo) => {
            s.experiment.model = repo;
            s.choose_model(None);
        }
        Action::SetLocalModel(local) => {
            s.local_model = Some(local);
            s.model_error = None;
        }
        Action::ModelFailed(msg) => s.model_error = Some(msg),
        Action::SetLayer(layer) => s.experiment.layer = layer,
        Action::SetOptions(options) => s.options = options,
        Action::SelectHead(head) => s.head = head,
        Action::SetTemplate(t) => s.experiment.template = t,
        Action::SetCategoryName(i, name) => s.rename(i, name),
        Action::SetCategoryWords(i, text) => s.set_words(i, text),
        Action::AddCategory => s.add_category(),
        Action::RemoveCategory(i) => s.remove_category(i),
        Action::ExperimentLoaded(exp) => {
            s.categories = exp.categories.iter().map(CategoryEdit::of).collect();
            s.experiment = exp;
            s.experiment_error = None;
        }
        Action::ExperimentFailed(msg) => s.experiment_error = Some(msg),
        Action::TokenizerLoaded(t) => s.tokenizer = Some(t),
        Action::SetLive(on) => s.live = on,
        Action::LectureStep(step) => s.lecture_step = step.map(|n| n.clamp(1, STEPS)),
        Action::LectureMove(by) => {
            s.lecture_step = s.lecture_step.map(|n| match by {
                i32::MIN => 1,
                i32::MAX => STEPS,
                by => (n as i64 + by as i64).clamp(1, STEPS as i64) as usize,
            })
        }
        Action::SetPresent(on) => {
            s.present = on;
            if on && s.lecture_step.is_none() {
                s.lecture_step = Some(1);
            }
        }
        Action::SetLook(look) => s.look = look,
        Action::Reveal => {
            if let Some(n) = s.lecture_step.filter(|n| !s.revealed.contains(n)) {
                s.revealed.push(n);
            }
        }
        action => s.phase = run_phase(&mut s, action),
    }
    if s.experiment != state.experiment || s.options != state.options {
        s.edits += 1;
        s.edit_typed = typed;
    }
    s.refresh(Some(state));
    s
}

/// The run's lifecycle: the phase after a run action (and the result and head it brings).
fn run_phase(s: &mut State, action: Action) -> Phase {
    let mut phase = std::mem::replace(&mut s.phase, Phase::Idle);
    match (action, &mut phase) {
        (Action::LoadingExperiment, _) => Phase::LoadingExperiment,
        (Action::Started(now_ms), _) => {
            s.runs += 1;
            s.edits_run = s.edits;
            s.model_run = Some(s.model_key());
            Phase::Busy(Run::new(now_ms, s.model_source()))
        }
        (Action::Stage(stage, now_ms), Phase::Busy(run)) => {
            run.stage = Some(stage);
            run.progress = None;
            run.stage_started_ms = now_ms;
            phase
        }
        (Action::Progress(p, now_ms), Phase::Busy(run)) => {
            run.progress = Some(p);
            run.progress_ms = now_ms;
            phase
        }
        (Action::Finished(result, now_ms), _) => {
            let (seconds, model) = match phase {
                Phase::Busy(run) => ((now_ms - run.started_ms) / 1000.0, run.model),
                _ => (0.0, s.model_source()),
            };
            s.result_model = Some(model);
            // A head chosen before the run stays chosen when the new model has it.
            s.head = s.head.filter(|&h| h < result.model.n_head);
            s.result = Some(result);
            Phase::Done { seconds }
        }
        (Action::Failed(msg), _) => Phase::Failed(msg),
        (Action::Cancelled, _) => Phase::Cancelled,
        (Action::Idle, _) => Phase::Idle,
        // A stage or progress report with no run under way (a late message) changes nothing.
        _ => phase,
    }
}

impl State {
    /// A custom folder (Some) or the experiment's hub model (None); files from disk are dropped.
    fn choose_model(&mut self, url: Option<String>) {
        self.model_override = url;
        self.local_model = None;
        self.model_error = None;
    }

    fn rename(&mut self, i: usize, name: String) {
        if let (Some(c), Some(e)) = (self.experiment.categories.get_mut(i), self.categories.get_mut(i)) {
            c.name = name.clone();
            e.name = name;
        }
    }

    fn set_words(&mut self, i: usize, text: String) {
        if let (Some(c), Some(e)) = (self.experiment.categories.get_mut(i), self.categories.get_mut(i)) {
            e.text = text;
            c.words = e.words();
        }
    }

    /// A new empty category named "category N", N the smallest free number.
    fn add_category(&mut self) {
        let taken = |n: &String| self.experiment.categories.iter().any(|c| &c.name == n);
        let name = (1..)
            .map(|n| format!("category {n}"))
            .find(|n| !taken(n))
            .expect("a free name");
        let category = Category { name, words: Vec::new() };
        self.categories.push(CategoryEdit::of(&category));
        self.experiment.categories.push(category);
    }

    fn remove_category(&mut self, i: usize) {
        if i < self.experiment.categories.len() {
            self.experiment.categories.remove(i);
            self.categories.remove(i);
        }
    }
}

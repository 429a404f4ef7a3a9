//! The page's one state and the actions that change it (a reducer, as in yew's todomvc).

use std::rc::Rc;

use yew::Reducible;

use crate::experiment::{model_base_url, Experiment};
use crate::result::RunResult;
use crate::web::engine::Stage;
use crate::web::fetch::Progress;

#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    Idle,
    LoadingExperiment,
    /// A run: the engine's current stage (None until it reports one) and download progress.
    Busy {
        stage: Option<Stage>,
        progress: Option<Progress>,
        started_ms: f64,
        stage_started_ms: f64,
    },
    Failed(String),
    Done {
        seconds: f64,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct State {
    pub experiment: Experiment,
    /// Why the experiment from `?experiment=` could not be used.
    pub experiment_error: Option<String>,
    /// The model folder the user typed or `?model=` gave; else derived from the experiment.
    pub model_override: Option<String>,
    pub phase: Phase,
    /// The last finished result; kept while a new run is under way or after it fails.
    pub result: Option<Rc<RunResult>>,
}

impl State {
    pub fn new(model_override: Option<String>) -> Self {
        State {
            experiment: Experiment::lecture(),
            experiment_error: None,
            model_override,
            phase: Phase::Idle,
            result: None,
        }
    }

    pub fn model_url(&self) -> String {
        self.model_override
            .clone()
            .unwrap_or_else(|| model_base_url(&self.experiment.model))
    }

    pub fn busy(&self) -> bool {
        matches!(self.phase, Phase::Busy { .. } | Phase::LoadingExperiment)
    }
}

pub enum Action {
    SetModelUrl(String),
    SetLayer(usize),
    ExperimentLoaded(Experiment),
    ExperimentFailed(String),
    LoadingExperiment,
    Started(f64),
    Stage(Stage),
    Progress(Progress),
    Finished(Rc<RunResult>, f64),
    Failed(String),
    Idle,
}

impl Reducible for State {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            Action::SetModelUrl(url) => s.model_override = Some(url),
            Action::SetLayer(layer) => s.experiment.layer = layer,
            Action::ExperimentLoaded(exp) => {
                s.experiment = exp;
                s.experiment_error = None;
            }
            Action::ExperimentFailed(msg) => s.experiment_error = Some(msg),
            Action::LoadingExperiment => s.phase = Phase::LoadingExperiment,
            Action::Started(now_ms) => {
                s.phase = Phase::Busy {
                    stage: None,
                    progress: None,
                    started_ms: now_ms,
                    stage_started_ms: now_ms,
                };
            }
            Action::Stage(stage) => {
                if let Phase::Busy {
                    stage: current,
                    progress,
                    stage_started_ms,
                    ..
                } = &mut s.phase
                {
                    *current = Some(stage);
                    *progress = None;
                    *stage_started_ms = js_sys::Date::now();
                }
            }
            Action::Progress(p) => {
                if let Phase::Busy { progress, .. } = &mut s.phase {
                    *progress = Some(p);
                }
            }
            Action::Finished(result, now_ms) => {
                let seconds = match s.phase {
                    Phase::Busy { started_ms, .. } => (now_ms - started_ms) / 1000.0,
                    _ => 0.0,
                };
                s.result = Some(result);
                s.phase = Phase::Done { seconds };
            }
            Action::Failed(msg) => s.phase = Phase::Failed(msg),
            Action::Idle => s.phase = Phase::Idle,
        }
        Rc::new(s)
    }
}

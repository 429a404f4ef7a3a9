//! The page's one state and the actions that change it (a reducer, as in yew's todomvc).

use std::fmt;
use std::rc::Rc;

use yew::Reducible;

use crate::analysis::report::ExtendedOptions;
use crate::experiment::{model_base_url, parse_words, Category, Experiment};
use crate::model::Gpt2Tokenizer;
use crate::presets::preset;
use crate::result::RunResult;
use crate::web::engine::{ModelFiles, Stage};
use crate::web::params::absolute_url;

/// The GPT-2 tokenizer shipped with the site, for model folders without tokenizer.json.
pub const BUNDLED_TOKENIZER: &str = "gpt2-tokenizer.json";
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
    Cancelled,
    Done {
        seconds: f64,
    },
}

/// The GPT-2 tokenizer, loaded once in the page to show each word's tokens as it is typed.
#[derive(Clone)]
pub struct TokenizerRef(pub Rc<Gpt2Tokenizer>);

impl PartialEq for TokenizerRef {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for TokenizerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenizerRef")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct State {
    pub experiment: Experiment,
    /// Each category's words as the user typed them (kept verbatim: nothing typed is lost).
    pub words_text: Vec<String>,
    /// Why an imported or linked experiment could not be used.
    pub experiment_error: Option<String>,
    /// A custom model folder (typed, or `?model=`); None: the experiment's hub model.
    pub model_override: Option<String>,
    pub phase: Phase,
    /// The last finished result; kept while a new run is under way or after it fails.
    pub result: Option<Rc<RunResult>>,
    pub tokenizer: Option<TokenizerRef>,
    /// Model files picked from disk (a classroom without internet, a USB copy).
    pub local_model: Option<LocalModel>,
    /// Why the picked model files cannot be used.
    pub model_error: Option<String>,
    /// The analyses beyond the lecture the next run computes.
    pub options: ExtendedOptions,
    /// The head whose slice the detailed figures show (None: the whole layer).
    pub head: Option<usize>,
}

/// Model files chosen from disk, reachable by the worker through blob: URLs.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalModel {
    pub files: ModelFiles,
    pub names: Vec<String>,
    pub bytes: u64,
}

fn words_text(exp: &Experiment) -> Vec<String> {
    exp.categories.iter().map(|c| c.words.join(", ")).collect()
}

impl State {
    pub fn new(model_override: Option<String>) -> Self {
        let experiment = Experiment::lecture();
        State {
            words_text: words_text(&experiment),
            experiment,
            experiment_error: None,
            model_override,
            phase: Phase::Idle,
            result: None,
            tokenizer: None,
            local_model: None,
            model_error: None,
            options: ExtendedOptions::default(),
            head: None,
        }
    }

    /// The options a run sends (None when it computes the lecture's numbers only).
    pub fn run_options(&self) -> Option<ExtendedOptions> {
        (self.options != ExtendedOptions::default()).then(|| self.options.clone())
    }

    pub fn model_url(&self) -> String {
        self.model_override
            .clone()
            .unwrap_or_else(|| model_base_url(&self.experiment.model))
    }

    /// The model's three files, as absolute URLs the worker can fetch.
    pub fn model_files(&self) -> ModelFiles {
        match &self.local_model {
            Some(local) => local.files.clone(),
            None => ModelFiles::in_folder(&absolute_url(&self.model_url()), Some(absolute_url(BUNDLED_TOKENIZER))),
        }
    }

    pub fn busy(&self) -> bool {
        matches!(self.phase, Phase::Busy { .. } | Phase::LoadingExperiment)
    }

    /// Layers of the chosen model, when known (a preset, or the last result's model).
    pub fn n_layer(&self) -> Option<usize> {
        match (&self.model_override, preset(&self.experiment.model)) {
            (None, Some(p)) => Some(p.n_layer),
            _ => self.result.as_ref().map(|r| r.model.n_layer),
        }
    }
}

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
    SetCategoryWords(usize, String),
    AddCategory,
    RemoveCategory(usize),
    ExperimentLoaded(Experiment),
    ExperimentFailed(String),
    TokenizerLoaded(TokenizerRef),
    LoadingExperiment,
    Started(f64),
    Stage(Stage),
    Progress(Progress),
    Finished(Rc<RunResult>, f64),
    Failed(String),
    Cancelled,
    Idle,
}

impl Reducible for State {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            Action::SetModelUrl(url) => {
                s.model_override = url;
                s.local_model = None;
                s.model_error = None;
            }
            Action::SetHubModel(repo) => {
                s.experiment.model = repo;
                s.model_override = None;
                s.local_model = None;
                s.model_error = None;
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
            Action::SetCategoryName(i, name) => {
                if let Some(c) = s.experiment.categories.get_mut(i) {
                    c.name = name;
                }
            }
            Action::SetCategoryWords(i, text) => {
                if let (Some(c), Some(t)) = (s.experiment.categories.get_mut(i), s.words_text.get_mut(i)) {
                    c.words = parse_words(&text);
                    *t = text;
                }
            }
            Action::AddCategory => {
                let name = (1..)
                    .map(|n| format!("category {n}"))
                    .find(|n| s.experiment.categories.iter().all(|c| &c.name != n))
                    .expect("a free name");
                s.experiment.categories.push(Category { name, words: Vec::new() });
                s.words_text.push(String::new());
            }
            Action::RemoveCategory(i) => {
                if i < s.experiment.categories.len() {
                    s.experiment.categories.remove(i);
                    s.words_text.remove(i);
                }
            }
            Action::ExperimentLoaded(exp) => {
                s.words_text = words_text(&exp);
                s.experiment = exp;
                s.experiment_error = None;
            }
            Action::ExperimentFailed(msg) => s.experiment_error = Some(msg),
            Action::TokenizerLoaded(t) => s.tokenizer = Some(t),
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
                // A head chosen before the run stays chosen when the new model has it.
                s.head = s.head.filter(|&h| h < result.model.n_head);
                s.result = Some(result);
                s.phase = Phase::Done { seconds };
            }
            Action::Failed(msg) => s.phase = Phase::Failed(msg),
            Action::Idle => s.phase = Phase::Idle,
            Action::Cancelled => s.phase = Phase::Cancelled,
        }
        Rc::new(s)
    }
}

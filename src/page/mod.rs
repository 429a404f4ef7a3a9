//! The page's state and the actions that change it, as plain data and one pure function
//! ([`reduce`]), in the shape of yew's todomvc. No web types and no clock: times and resolved URLs
//! arrive in the actions and arguments, so it is tested natively (`tests/page_state.rs`); the app
//! only wraps [`reduce`] in `yew::Reducible` and turns events into [`Action`]s.

mod progress;
mod reduce;
mod words;

use std::rc::Rc;

pub use progress::{Phase, Run};
pub use reduce::{reduce, Action};
pub use words::{chips, CategoryEdit, Chip, TokenizerRef, Tokens};

use crate::analysis::report::ExtendedOptions;
use crate::experiment::{is_hub_repo, model_base_url, Experiment};
use crate::plots::Look;
use crate::presets::preset;
use crate::protocol::ModelFiles;
use crate::result::RunResult;

/// The GPT-2 tokenizer shipped with the site (relative to the page), for model folders without
/// tokenizer.json.
pub const BUNDLED_TOKENIZER: &str = "gpt2-tokenizer.json";

/// Model files chosen from disk (a classroom without internet, a USB copy), as blob: URLs.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalModel {
    pub files: ModelFiles,
    pub names: Vec<String>,
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct State {
    pub experiment: Experiment,
    /// The editor's view of each category: words as typed (nothing typed is lost) and their tokens.
    pub categories: Vec<CategoryEdit>,
    /// Why the experiment cannot run as it is (kept with the experiment, not computed in render).
    pub invalid: Option<String>,
    /// Why an imported or linked experiment could not be used.
    pub experiment_error: Option<String>,
    /// A custom model folder (typed, or `?model=`); None: the experiment's hub model.
    pub model_override: Option<String>,
    pub phase: Phase,
    /// The last finished result; kept while a new run is under way or after it fails.
    pub result: Option<Rc<RunResult>>,
    pub tokenizer: Option<TokenizerRef>,
    pub local_model: Option<LocalModel>,
    /// Why the picked model files cannot be used.
    pub model_error: Option<String>,
    /// The analyses beyond the lecture the next run computes.
    pub options: ExtendedOptions,
    /// The head whose slice the detailed figures show (None: the whole layer).
    pub head: Option<usize>,
    /// Live lab: once a model has run, every edit of the experiment runs again by itself.
    pub live: bool,
    /// Edits of the experiment or the options so far, and how many of them the last run saw.
    pub edits: u64,
    pub edits_run: u64,
    /// The last edit was typed text (words, names, template): a live run waits for a pause.
    pub edit_typed: bool,
    /// Runs started so far: the last one's number (its result carries it as `stats.run_id`).
    pub runs: u64,
    /// The model the last run used ([`State::model_key`]).
    pub model_run: Option<String>,
    /// The guided lab's step (1-based; None: the lab as a workbench).
    pub lecture_step: Option<usize>,
    /// Presenter mode: one step fills the screen, large type.
    pub present: bool,
    /// The figures' colour scale and theme (`&colours=`, `&theme=`).
    pub look: Look,
    /// Steps whose predict-first answer was revealed.
    pub revealed: Vec<usize>,
    /// The model `result` came from (recorded when its run started).
    pub result_model: Option<ModelSource>,
}

/// Where a run's model comes from, as the "Check it in Python" notebook names it.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSource {
    /// The experiment's model: a hub repository id (or a folder URL or path the experiment names).
    Hub(String),
    /// A custom model folder's URL, as typed or linked (may be relative to the page).
    Folder(String),
    /// Files picked from disk: the page knows no path to them.
    Files,
}

impl ModelSource {
    /// The notebook's MODEL: a hub id as it is; a folder's URL made absolute by `resolve`; empty
    /// for files from disk (the notebook then asks for their folder).
    pub fn notebook_model(&self, resolve: impl Fn(&str) -> String) -> String {
        match self {
            ModelSource::Hub(repo) if is_hub_repo(repo) => repo.trim().to_string(),
            ModelSource::Hub(folder) => resolve(&model_base_url(folder)),
            ModelSource::Folder(url) => resolve(url),
            ModelSource::Files => String::new(),
        }
    }
}

impl State {
    pub fn new(model_override: Option<String>) -> Self {
        let experiment = Experiment::lecture();
        let mut state = State {
            categories: experiment.categories.iter().map(CategoryEdit::of).collect(),
            invalid: None,
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
            live: true,
            edits: 0,
            edits_run: 0,
            edit_typed: false,
            runs: 0,
            model_run: None,
            lecture_step: None,
            present: false,
            look: Look::default(),
            revealed: Vec::new(),
            result_model: None,
        };
        state.refresh(None);
        state
    }

    /// The options a run sends (None when it computes the lecture's numbers only).
    pub fn run_options(&self) -> Option<ExtendedOptions> {
        (self.options != ExtendedOptions::default()).then(|| self.options.clone())
    }

    /// The model folder as chosen (may be relative to the page).
    pub fn model_url(&self) -> String {
        model_url(self.model_override.as_deref(), &self.experiment)
    }

    /// The model's three files; `resolve` makes a URL absolute (the shell's job: the worker
    /// fetches from another base than the page).
    pub fn model_files(&self, resolve: impl Fn(&str) -> String) -> ModelFiles {
        match &self.local_model {
            Some(local) => local.files.clone(),
            None => folder_files(&self.model_url(), resolve),
        }
    }

    /// Names the model a run would use (a folder URL, or the picked files).
    pub fn model_key(&self) -> String {
        match &self.local_model {
            Some(local) => local.files.weights.clone(),
            None => self.model_url(),
        }
    }

    /// Whether the live lab should run now: live, the model of the last finished run still
    /// chosen (a model switch waits for Run: it downloads), edits it has not seen, an
    /// experiment that can run, and no run under way.
    pub fn live_due(&self) -> bool {
        self.live
            && self.result.is_some()
            && self.model_run.as_deref() == Some(self.model_key().as_str())
            && self.edits > self.edits_run
            && self.invalid.is_none()
            && !self.busy()
    }

    /// Where the model chosen now comes from.
    pub fn model_source(&self) -> ModelSource {
        match (&self.local_model, &self.model_override) {
            (Some(_), _) => ModelSource::Files,
            (None, Some(url)) => ModelSource::Folder(url.clone()),
            (None, None) => ModelSource::Hub(self.experiment.model.clone()),
        }
    }

    pub fn busy(&self) -> bool {
        matches!(self.phase, Phase::Busy(_) | Phase::LoadingExperiment)
    }

    /// Layers of the chosen model, when known (a preset, or the last result's model).
    pub fn n_layer(&self) -> Option<usize> {
        match (&self.model_override, preset(&self.experiment.model)) {
            (None, Some(p)) => Some(p.n_layer),
            _ => self.result.as_ref().map(|r| r.model.n_layer),
        }
    }

    /// The highest layer the editor offers (47, gpt2-xl's last, while the model is unknown).
    pub fn max_layer(&self) -> usize {
        self.n_layer().map(|n| n.saturating_sub(1)).unwrap_or(47)
    }

    /// The size of the hub model's weights, when it is a known preset (what a sweep downloads).
    pub fn hub_weights_bytes(&self) -> Option<u64> {
        let hub = self.model_override.is_none();
        hub.then(|| preset(&self.experiment.model)).flatten().map(|p| p.weights_bytes)
    }

    /// The message of a failed run.
    pub fn error(&self) -> Option<&str> {
        match &self.phase {
            Phase::Failed(msg) => Some(msg),
            _ => None,
        }
    }

    /// Changes with every finished run (0 otherwise), so the cache panel shows what it stored.
    pub fn generation(&self) -> u64 {
        match &self.phase {
            Phase::Done { seconds } => seconds.to_bits(),
            _ => 0,
        }
    }

    /// Recomputes what is derived from the experiment and tokenizer, only where it changed:
    /// stale chips (their words differ, or the tokenizer or the template's space did) and
    /// the validation message.
    fn refresh(&mut self, old: Option<&State>) {
        let space = self.experiment.word_follows_space();
        let retokenize = old.is_none_or(|o| o.tokenizer != self.tokenizer || o.experiment.word_follows_space() != space);
        for (edit, category) in self.categories.iter_mut().zip(&self.experiment.categories) {
            if retokenize || !edit.shows(&category.words) {
                edit.chips = chips(&category.words, self.tokenizer.as_ref(), space);
            }
        }
        if old.is_none_or(|o| o.experiment != self.experiment) {
            self.invalid = self.experiment.validate().err().map(|e| e.to_string());
        }
    }
}

/// The model folder: `model_override`, else the experiment's hub model's folder.
pub fn model_url(model_override: Option<&str>, experiment: &Experiment) -> String {
    model_override.map_or_else(|| model_base_url(&experiment.model), str::to_string)
}

/// A folder's three files, with the site's tokenizer as the fallback, made absolute by `resolve`.
pub fn folder_files(base: &str, resolve: impl Fn(&str) -> String) -> ModelFiles {
    ModelFiles::in_folder(&resolve(base), Some(resolve(BUNDLED_TOKENIZER)))
}

//! What the page does once on load: the editor's tokenizer; the experiment from `?exp=` or
//! `?experiment=`; the options of the link; then, with `?run=1`, a run at once.

use std::rc::Rc;

use yew::UseReducerDispatcher as Dispatcher;

use super::run::{self, Runner};
use super::state::{folder_files, model_url, Action, State, TokenizerRef, BUNDLED_TOKENIZER};
use crate::error::Result;
use crate::experiment::Experiment;
use crate::model::Gpt2Tokenizer;
use crate::protocol::RunRequest;
use crate::web::fetch::{fetch_bytes, fetch_text};
use crate::web::params::{absolute_url, PageParams};

pub async fn open(params: Rc<PageParams>, dispatch: Dispatcher<State>, runner: Runner) {
    if !params.run {
        yew::platform::spawn_local(load_tokenizer(dispatch.clone()));
        return apply(params, dispatch, runner).await;
    }
    // With `?run=1` the engine has started booting already (with the page: see `App`), and the
    // editor's tokenizer waits for the run's end: parsing it on the page's thread would hold
    // up the first figures (the engine has its own).
    apply(params, dispatch.clone(), runner).await;
    // ... and for the figures to be drawn: the result's render and this parse share a thread.
    gloo::timers::future::TimeoutFuture::new(TOKENIZER_AFTER_RESULT_MS).await;
    load_tokenizer(dispatch).await;
}

/// With `?run=1`, the editor's tokenizer is parsed this long after the result arrived.
const TOKENIZER_AFTER_RESULT_MS: u32 = 250;

/// The link's settings and experiment, then its run (`?run=1`).
async fn apply(params: Rc<PageParams>, dispatch: Dispatcher<State>, runner: Runner) {
    if !params.live {
        dispatch.dispatch(Action::SetLive(false));
    }
    if let Some(step) = params.lecture_step {
        dispatch.dispatch(Action::LectureStep(Some(step)));
    }
    if params.present {
        dispatch.dispatch(Action::SetPresent(true));
    }
    if params.look != Default::default() {
        dispatch.dispatch(Action::SetLook(params.look));
    }
    if let Some(options) = &params.options {
        dispatch.dispatch(Action::SetOptions(options.clone()));
    }
    if let Some(e) = &params.options_error {
        dispatch.dispatch(Action::ExperimentFailed(format!("an option of the link was ignored: {e}")));
    }
    let loaded = match (&params.inline_experiment, &params.experiment) {
        (Some(json), _) => Some(Experiment::from_json(json)),
        (None, Some(url)) => {
            dispatch.dispatch(Action::LoadingExperiment);
            Some(load_experiment(url).await)
        }
        (None, None) => None,
    };
    let experiment = match loaded {
        Some(Ok(exp)) => {
            dispatch.dispatch(Action::ExperimentLoaded(exp.clone()));
            exp
        }
        Some(Err(e)) => {
            dispatch.dispatch(Action::ExperimentFailed(e.to_string()));
            dispatch.dispatch(Action::Failed(format!("the experiment could not be loaded: {e}")));
            return;
        }
        None => Experiment::lecture(),
    };
    if !params.run {
        return dispatch.dispatch(Action::Idle);
    }
    // The state the actions above make is not readable here yet: the files come from the same
    // pure functions the state uses.
    let request = RunRequest {
        model: folder_files(&model_url(params.model.as_deref(), &experiment), absolute_url),
        experiment,
        options: params.options.clone(),
        workers: params.workers,
        run_id: Some(1),
        fault: crate::web::fault::for_run(Some(1)),
        // The page's tokenizer is parsed after this run.
        encodings: None,
    };
    let cancelled = run::cancel_on(&runner.cancel);
    run::run(request, dispatch, runner.engine, cancelled).await;
}

pub async fn load_experiment(url: &str) -> Result<Experiment> {
    let text = fetch_text(url).await?;
    Experiment::from_json(&text)
}

/// The site's GPT-2 tokenizer, for showing each word's tokens as it is typed (and offline).
async fn load_tokenizer(dispatch: Dispatcher<State>) {
    // Without it the editor still works; words are just not checked as they are typed.
    if let Ok(bytes) = fetch_bytes(&absolute_url(BUNDLED_TOKENIZER)).await {
        if let Ok(t) = Gpt2Tokenizer::from_bytes(&bytes) {
            let id = crate::model::token_memo::tokenizer_id(&bytes);
            dispatch.dispatch(Action::TokenizerLoaded(TokenizerRef(Rc::new(t), id.into())));
        }
    }
}

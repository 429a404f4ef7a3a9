//! The page: Yew function components over one reducer state.

mod components;
mod run;
mod state;

use wasm_bindgen::JsCast;
use yew::prelude::*;

use std::cell::RefCell;
use std::rc::Rc;

use futures::channel::oneshot;

use components::{CachePanel, Controls, Editor, Figures, ModelPicker, OptionsPanel, ProgressView, Summary};
use state::{Action, Phase, State};

use crate::web::params::PageParams;

#[function_component(App)]
fn app() -> Html {
    let params = use_memo((), |_| PageParams::from_location());
    let state = use_reducer(|| State::new(params.model.clone()));
    // Cancels the run under way (a new run replaces it).
    let cancel = use_mut_ref(|| None::<oneshot::Sender<()>>);

    // On load: the tokenizer for the editor; the experiment from `?exp=` or `?experiment=`;
    // then, with `?run=1`, a run at once.
    {
        let dispatch = state.dispatcher();
        let params = params.clone();
        let model_override = state.model_override.clone();
        let cancel_slot = cancel.clone();
        use_effect_with((), move |_| {
            yew::platform::spawn_local(load_tokenizer(dispatch.clone()));
            if let Some(options) = &params.options {
                dispatch.dispatch(Action::SetOptions(options.clone()));
            }
            if let Some(e) = &params.options_error {
                dispatch.dispatch(Action::ExperimentFailed(format!("an option of the link was ignored: {e}")));
            }
            yew::platform::spawn_local(async move {
                let mut experiment = crate::experiment::Experiment::lecture();
                let loaded = match (&params.inline_experiment, &params.experiment) {
                    (Some(json), _) => Some(crate::experiment::Experiment::from_json(json)),
                    (None, Some(url)) => {
                        dispatch.dispatch(Action::LoadingExperiment);
                        Some(run::load_experiment(url).await)
                    }
                    (None, None) => None,
                };
                match loaded {
                    Some(Ok(exp)) => {
                        experiment = exp.clone();
                        dispatch.dispatch(Action::ExperimentLoaded(exp));
                    }
                    Some(Err(e)) => {
                        dispatch.dispatch(Action::ExperimentFailed(e.to_string()));
                        dispatch.dispatch(Action::Failed(format!("the experiment could not be loaded: {e}")));
                        return;
                    }
                    None => {}
                }
                if params.run {
                    let base = model_override.unwrap_or_else(|| crate::experiment::model_base_url(&experiment.model));
                    let files = crate::web::engine::ModelFiles::in_folder(
                        &crate::web::params::absolute_url(&base),
                        Some(crate::web::params::absolute_url(state::BUNDLED_TOKENIZER)),
                    );
                    let cancelled = cancel_on(&cancel_slot);
                    run::run(experiment, files, params.options.clone(), dispatch, cancelled).await;
                } else {
                    dispatch.dispatch(Action::Idle);
                }
            });
            || ()
        });
    }

    let on_run = {
        let (state, cancel) = (state.clone(), cancel.clone());
        Callback::from(move |_| {
            if !state.busy() {
                yew::platform::spawn_local(run::run(
                    state.experiment.clone(),
                    state.model_files(),
                    state.run_options(),
                    state.dispatcher(),
                    cancel_on(&cancel),
                ));
            }
        })
    };
    // A layer (and head) picked in the sweep or head figures: a head of the shown layer is a
    // view of its vectors; another layer is a new run (its weights are cached by the sweep).
    let on_select = {
        let (state, cancel) = (state.clone(), cancel.clone());
        Callback::from(move |(layer, head): (usize, Option<usize>)| {
            state.dispatch(Action::SelectHead(head));
            let shown = state.result.as_ref().map(|r| r.layer);
            if shown != Some(layer) && !state.busy() {
                state.dispatch(Action::SetLayer(layer));
                let mut experiment = state.experiment.clone();
                experiment.layer = layer;
                yew::platform::spawn_local(run::run(
                    experiment,
                    state.model_files(),
                    state.run_options(),
                    state.dispatcher(),
                    cancel_on(&cancel),
                ));
            }
        })
    };
    let on_cancel = {
        let cancel = cancel.clone();
        Callback::from(move |_| {
            if let Some(tx) = cancel.borrow_mut().take() {
                let _ = tx.send(());
            }
        })
    };
    // Bumped by every finished run, so the cache panel shows what the run stored.
    let generation = match &state.phase {
        Phase::Done { seconds } => seconds.to_bits(),
        _ => 0,
    };
    let error = match &state.phase {
        Phase::Failed(msg) => Some(msg.clone()),
        _ => None,
    };

    html! {
        <main class="qk">
            <header>
                <h1>{ "QK Lens" }</h1>
                <p class="tagline">{ "How GPT-2's attention queries and keys group words by meaning." }</p>
            </header>
            <section class="panel experiment">
                <ModelPicker state={state.clone()} />
                <Editor state={state.clone()} />
                <OptionsPanel state={state.clone()} />
                <Controls state={state.clone()} on_run={on_run} />
            </section>
            <ProgressView phase={state.phase.clone()} on_cancel={on_cancel} />
            if let Some(msg) = error {
                <div id="qk-error" class="error" role="alert">{ msg }</div>
            }
            if let Some(result) = state.result.clone() {
                <Summary result={result.clone()} />
                <Figures result={result.clone()} head={state.head} on_select={on_select}
                    on_head={Callback::from({ let d = state.dispatcher(); move |h| d.dispatch(Action::SelectHead(h)) })} />
                <script type="application/json" id="qk-result">{ result.to_json() }</script>
            }
            <CachePanel generation={generation} />
        </main>
    }
}

/// A fresh cancel switch for a new run (replacing the previous run's).
fn cancel_on(slot: &Rc<RefCell<Option<oneshot::Sender<()>>>>) -> oneshot::Receiver<()> {
    let (tx, rx) = oneshot::channel();
    *slot.borrow_mut() = Some(tx);
    rx
}

/// The site's GPT-2 tokenizer, for showing each word's tokens as it is typed (and offline).
async fn load_tokenizer(dispatch: yew::UseReducerDispatcher<State>) {
    let url = crate::web::params::absolute_url("gpt2-tokenizer.json");
    // Without it the editor still works; words are just not checked as they are typed.
    if let Ok(bytes) = crate::web::fetch::fetch_bytes(&url).await {
        if let Ok(t) = crate::model::Gpt2Tokenizer::from_bytes(&bytes) {
            dispatch.dispatch(Action::TokenizerLoaded(state::TokenizerRef(std::rc::Rc::new(t))));
        }
    }
}

/// Shows a panic in the page (wasm cannot unwind: the app is dead after one, so say so).
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        let el = doc.get_element_by_id("qk-error").or_else(|| {
            let el = doc.create_element("div").ok()?;
            el.set_id("qk-error");
            el.set_class_name("error");
            doc.body()?.prepend_with_node_1(&el).ok()?;
            Some(el)
        });
        if let Some(el) = el.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
            el.set_inner_text(&format!("Internal error, please reload the page: {info}"));
        }
    }));
}

pub fn start() {
    install_panic_hook();
    yew::Renderer::<App>::new().render();
}

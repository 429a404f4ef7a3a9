//! The page: Yew function components over one reducer state.

mod components;
mod run;
mod state;

use wasm_bindgen::JsCast;
use yew::prelude::*;

use components::{ExperimentPanel, Figures, ProgressView, Summary};
use state::{Action, Phase, State};

use crate::web::params::PageParams;

#[function_component(App)]
fn app() -> Html {
    let params = use_memo((), |_| PageParams::from_location());
    let state = use_reducer(|| State::new(params.model.clone()));

    // On load: fetch `?experiment=`, then start at once with `?run=1`.
    {
        let dispatch = state.dispatcher();
        let params = params.clone();
        let model_override = state.model_override.clone();
        use_effect_with((), move |_| {
            yew::platform::spawn_local(async move {
                let mut experiment = crate::experiment::Experiment::lecture();
                if let Some(url) = &params.experiment {
                    dispatch.dispatch(Action::LoadingExperiment);
                    match run::load_experiment(url).await {
                        Ok(exp) => {
                            experiment = exp.clone();
                            dispatch.dispatch(Action::ExperimentLoaded(exp));
                        }
                        Err(e) => {
                            dispatch.dispatch(Action::ExperimentFailed(e.to_string()));
                            dispatch.dispatch(Action::Failed(format!("the experiment could not be loaded: {e}")));
                            return;
                        }
                    }
                }
                if params.run {
                    let base = model_override.unwrap_or_else(|| crate::experiment::model_base_url(&experiment.model));
                    run::run(experiment, base, dispatch).await;
                } else {
                    dispatch.dispatch(Action::Idle);
                }
            });
            || ()
        });
    }

    let on_run = {
        let state = state.clone();
        Callback::from(move |_| {
            if !state.busy() {
                yew::platform::spawn_local(run::run(state.experiment.clone(), state.model_url(), state.dispatcher()));
            }
        })
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
            <ExperimentPanel state={state.clone()} on_run={on_run} />
            <ProgressView phase={state.phase.clone()} />
            if let Some(msg) = error {
                <div id="qk-error" class="error" role="alert">{ msg }</div>
            }
            if let Some(result) = state.result.clone() {
                <Summary result={result.clone()} />
                <Figures result={result.clone()} />
                <script type="application/json" id="qk-result">{ result.to_json() }</script>
            }
        </main>
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

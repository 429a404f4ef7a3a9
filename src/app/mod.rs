//! The page: Yew function components over one reducer state (`crate::page`, pure). This shell
//! reads the clock and the page's address, talks to the engine worker, and turns events into
//! actions.

mod components;
mod guided;
mod load;
mod run;
mod state;

use wasm_bindgen::JsCast;
use yew::prelude::*;

use components::{
    CachePanel, ClassPanel, Controls, Editor, Figures, LookControls, ModelPicker, OptionsPanel, Plan, ProgressView, ResultJson,
    Summary,
};
use state::{Action, State};

use crate::lecture::Suggestion;
use crate::plots::Theme;
use crate::web::params::{absolute_url, show_step_in_address, PageParams};

#[function_component(App)]
fn app() -> Html {
    let params = use_memo((), |_| PageParams::from_location());
    let state = use_reducer(|| State::new(params.model.clone()));
    let runner = run::Runner {
        cancel: use_mut_ref(|| None),
        // With `?run=1` the engine worker starts booting now, before the page's first render.
        engine: use_mut_ref(|| params.run.then(run::KeptEngine::spawn).flatten()),
    };
    {
        let (params, dispatch, runner) = (params.clone(), state.dispatcher(), runner.clone());
        use_effect_with((), move |_| yew::platform::spawn_local(load::open(params, dispatch, runner)));
    }
    use_live_runs(&state, &runner);
    use_step_in_address(&state);
    let act = state.dispatcher().to_callback();
    let on_run = {
        let (state, runner) = (state.clone(), runner.clone());
        Callback::from(move |_| run::start(&state, state.dispatcher(), &runner, state.experiment.clone()))
    };
    let on_select = select(&state, &runner);
    let s = &*state;
    let model = notebook_model(s);
    let plan = Plan {
        experiment: s.experiment.clone(),
        options: s.run_options(),
        tokenizer: s.tokenizer.clone(),
    };
    html! {
        <main class={classes!("qk", s.present.then_some("present"), s.lecture_step.is_some().then_some("lecture-mode"),
            (s.look.theme == Theme::Dark).then_some("dark"))}>
            <header>
                <h1>{ "QK Lens" }</h1>
                <p class="tagline">{ "How GPT-2's attention queries and keys group words by meaning." }</p>
                <button class="secondary" id="qk-lecture" aria-pressed={s.lecture_step.is_some().to_string()}
                    onclick={act.reform({ let open = s.lecture_step.is_some(); move |_| Action::LectureStep((!open).then_some(1)) })}>
                    { if s.lecture_step.is_some() { "Lab" } else { "Lecture" } }</button>
                if !s.present { <LookControls look={s.look} on_look={act.reform(Action::SetLook)} /> }
            </header>
            // The header is hidden on the presenter's screen: the look's controls float there.
            if s.present { <div class="look-bar"><LookControls look={s.look} on_look={act.reform(Action::SetLook)} /></div> }
            if let Some(step) = s.lecture_step {
                <guided::Guided experiment={s.experiment.clone()} result={s.result.clone()} {step} revealed={s.revealed.contains(&step)}
                    present={s.present} head={s.head} on_move={act.reform(Action::LectureMove)}
                    on_step={act.reform(|n| Action::LectureStep(Some(n)))} on_reveal={act.reform(|_| Action::Reveal)}
                    on_present={act.reform(Action::SetPresent)} on_close={act.reform(|_| Action::LectureStep(None))}
                    on_suggest={suggest(&state)} on_select={on_select.clone()} on_head={act.reform(Action::SelectHead)}
                    model={model.clone()} look={s.look} />
            }
            <section class="panel experiment">
                <ModelPicker hub_model={s.experiment.model.clone()} url={s.model_url()} custom_url={s.model_override.is_some()}
                    local={s.local_model.clone()} error={s.model_error.clone()} {plan}
                    on_hub={act.reform(Action::SetHubModel)} on_url={act.reform(Action::SetModelUrl)}
                    on_local={act.reform(|m: Result<_, _>| m.map_or_else(Action::ModelFailed, Action::SetLocalModel))} />
                <Editor layer={s.experiment.layer} max_layer={s.max_layer()} template={s.experiment.template.clone()}
                    categories={s.categories.clone()} on_layer={act.reform(Action::SetLayer)} on_template={act.reform(Action::SetTemplate)}
                    on_name={act.reform(|(i, n)| Action::SetCategoryName(i, n))} on_words={act.reform(|(i, w)| Action::SetCategoryWords(i, w))}
                    on_add={act.reform(|_| Action::AddCategory)} on_remove={act.reform(Action::RemoveCategory)} />
                <OptionsPanel options={s.options.clone()} sweep_bytes={s.hub_weights_bytes()} on_change={act.reform(Action::SetOptions)} />
                <Controls busy={s.busy()} invalid={s.invalid.clone()} error={s.experiment_error.clone()} experiment={s.experiment.clone()}
                    model_override={s.model_override.clone()}
                    revision={s.result.as_ref().and_then(|r| r.stats.as_ref()?.revision.clone())} options={s.run_options()} lecture_step={s.lecture_step} {on_run}
                    live={s.live} on_live={act.reform(Action::SetLive)}
                    on_import={act.reform(Action::ExperimentLoaded)} on_error={act.reform(Action::ExperimentFailed)} />
            </section>
            <ProgressView phase={s.phase.clone()} on_cancel={Callback::from(move |_| run::cancel(&runner.cancel))} />
            if let Some(msg) = s.error() {
                <div id="qk-error" class="error" role="alert">{ msg }</div>
            }
            if let Some(result) = s.result.clone() {
                <Summary result={result.clone()} />
                // In the guided lab the open step shows its own figures.
                if s.lecture_step.is_none() {
                    <Figures result={result.clone()} head={s.head} {on_select} on_head={act.reform(Action::SelectHead)} {model} look={s.look} />
                }
                <ResultJson result={result.clone()} />
            }
            <ClassPanel />
            <CachePanel generation={s.generation()} />
        </main>
    }
}

/// MODEL of the shown result's "Check it in Python" notebook (empty: files from disk).
fn notebook_model(s: &State) -> AttrValue {
    let model = s.result_model.as_ref().map(|m| m.notebook_model(absolute_url));
    model.unwrap_or_default().into()
}

/// A layer (and head) picked in the sweep or head figures: a head of the shown layer is a view
/// of its vectors; another layer is a new run (its weights are cached by the sweep).
fn select(state: &UseReducerHandle<State>, runner: &run::Runner) -> Callback<(usize, Option<usize>)> {
    let (state, runner) = (state.clone(), runner.clone());
    Callback::from(move |(layer, head): (usize, Option<usize>)| {
        state.dispatch(Action::SelectHead(head));
        if state.result.as_ref().map(|r| r.layer) != Some(layer) && !state.busy() {
            state.dispatch(Action::SetLayer(layer));
            let experiment = crate::experiment::Experiment {
                layer,
                ..state.experiment.clone()
            };
            run::start(&state, state.dispatcher(), &runner, experiment);
        }
    })
}

/// The open step is in the address: a reload or a copied address opens it again.
#[hook]
fn use_step_in_address(state: &UseReducerHandle<State>) {
    let (step, present, look) = (state.lecture_step, state.present, state.look);
    use_effect_with((step, present, look), move |&(step, present, look)| {
        show_step_in_address(step, present, look)
    });
}

/// What a "try next" link of the guided lab sets up: another layer (shown on the heatmaps'
/// step), or the sweep or heads (the lab's figures), or the editor for new categories. The live
/// lab runs it.
fn suggest(state: &UseReducerHandle<State>) -> Callback<Suggestion> {
    let state = state.clone();
    Callback::from(move |g: Suggestion| {
        if let Some(layer) = g.layer.filter(|_| !g.all_layers) {
            state.dispatch(Action::SetLayer(layer));
            state.dispatch(Action::LectureStep(Some(6)));
        }
        if g.all_layers || g.heads {
            let mut options = state.options.clone();
            options.all_layers |= g.all_layers;
            options.heads |= g.heads;
            state.dispatch(Action::SetOptions(options));
        }
        if g.all_layers || g.heads || g.edit {
            state.dispatch(Action::LectureStep(None));
        }
    })
}

/// Pause after the last typed edit before a live run: typing a word is one run, not one per
/// key. Other edits (the layer slider, a checkbox) run at once.
const LIVE_DEBOUNCE_MS: u32 = 100;

/// The live lab: once a model has run, each edit runs again by itself after a short pause
/// (see [`State::live_due`]); an edit during a run waits for its end.
#[hook]
fn use_live_runs(state: &UseReducerHandle<State>, runner: &run::Runner) {
    let (state, runner) = (state.clone(), runner.clone());
    let key = (state.edits, state.busy(), state.live);
    use_effect_with(key, move |_| {
        let timer = state.live_due().then(|| {
            let pause = if state.edit_typed { LIVE_DEBOUNCE_MS } else { 0 };
            if state.edit_typed {
                run::read_ahead(&state, &runner);
            }
            gloo::timers::callback::Timeout::new(pause, move || {
                run::start(&state, state.dispatcher(), &runner, state.experiment.clone());
            })
        });
        move || drop(timer)
    });
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

//! The analyses beyond the lecture, chosen before a run: the layer sweep, heads, V, Q·K,
//! mean-centring, PCA and the permutation statistics (the CLI's flags, the page's query keys).

use web_sys::HtmlInputElement;
use yew::prelude::*;

use super::super::state::{Action, State};
use crate::analysis::report::{ExtendedOptions, StatOptions};
use crate::presets::{human_bytes, preset};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub state: UseReducerHandle<State>,
}

/// One checkbox: its id, label, hint, and the option it sets.
struct Flag {
    id: &'static str,
    label: &'static str,
    hint: &'static str,
    get: fn(&ExtendedOptions) -> bool,
    set: fn(&mut ExtendedOptions, bool),
}

const FLAGS: [Flag; 7] = [
    Flag {
        id: "qk-opt-all-layers",
        label: "Every layer",
        hint: "selectivity and RSA of every layer from one forward pass (downloads every block)",
        get: |o| o.all_layers,
        set: |o, on| o.all_layers = on,
    },
    Flag {
        id: "qk-opt-heads",
        label: "Heads",
        hint: "selectivity and RSA per attention head (of every layer with \u{201c}Every layer\u{201d})",
        get: |o| o.heads,
        set: |o, on| o.heads = on,
    },
    Flag {
        id: "qk-opt-v",
        label: "V",
        hint: "the values beside queries and keys",
        get: |o| o.v,
        set: |o, on| o.v = on,
    },
    Flag {
        id: "qk-opt-qk",
        label: "Q·K",
        hint: "per head: does a word's query meet same-category keys? (q\u{b7}k/\u{221a}d)",
        get: |o| o.qk,
        set: |o, on| o.qk = on,
    },
    Flag {
        id: "qk-opt-center",
        label: "Mean-centre",
        hint: "subtract the mean vector before cosine (removes the direction all words share)",
        get: |o| o.center,
        set: |o, on| o.center = on,
    },
    Flag {
        id: "qk-opt-pca",
        label: "PCA map",
        hint: "the words on the first two principal components of Q, K and V",
        get: |o| o.pca,
        set: |o, on| o.pca = on,
    },
    Flag {
        id: "qk-opt-stats",
        label: "Statistics",
        hint: "permutation p-values, bootstrap intervals, Spearman \u{3c1}, category-model fit",
        get: |o| o.statistics.is_some(),
        set: |o, on| o.statistics = on.then(StatOptions::default),
    },
];

#[function_component(OptionsPanel)]
pub fn options_panel(props: &Props) -> Html {
    let state = &props.state;
    let options = state.options.clone();
    let update = {
        let (d, options) = (state.dispatcher(), options.clone());
        move |change: Box<dyn Fn(&mut ExtendedOptions)>| {
            let mut o = options.clone();
            change(&mut o);
            d.dispatch(Action::SetOptions(o));
        }
    };
    let number = |id: &'static str, value: u64, min: u64, set: fn(&mut StatOptions, u64)| {
        let update = update.clone();
        let onchange = Callback::from(move |e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            // An unreadable number keeps the last good one (the field shows what was typed).
            if let Some(n) = input.value().trim().parse::<u64>().ok().filter(|&n| n >= min) {
                update(Box::new(move |o| {
                    if let Some(s) = o.statistics.as_mut() {
                        set(s, n)
                    }
                }));
            }
        });
        html! { <input type="number" id={id} min={min.to_string()} value={value.to_string()} {onchange} /> }
    };
    html! {
        <fieldset class="options" id="qk-options">
            <legend>{ "Beyond the lecture" }</legend>
            <div class="row">
                { for FLAGS.iter().map(|f| {
                    let (update, set) = (update.clone(), f.set);
                    let onchange = Callback::from(move |e: Event| {
                        let on = e.target_unchecked_into::<HtmlInputElement>().checked();
                        update(Box::new(move |o| set(o, on)));
                    });
                    html! {
                        <label title={f.hint}><input type="checkbox" id={f.id} checked={(f.get)(&options)} {onchange} />{ format!(" {}", f.label) }</label>
                    }
                }) }
            </div>
            if let (true, None, Some(p)) = (options.all_layers, &state.model_override, preset(&state.experiment.model)) {
                <div class="hint" id="qk-sweep-size">{ format!(
                    "Every layer needs the whole model: about {} the first time (then it is cached).",
                    human_bytes(p.weights_bytes)) }</div>
            }
            if let Some(s) = &options.statistics {
                <div class="row stat-options">
                    <label>{ "permutations " }{ number("qk-opt-permutations", s.permutations as u64, 1, |s, n| { s.permutations = n as usize; s.bootstrap = n as usize; }) }</label>
                    <label>{ "seed " }{ number("qk-opt-seed", s.seed, 0, |s, n| s.seed = n) }</label>
                    <span class="hint">{ format!("{} bootstrap resamples, {:.0} % intervals", s.bootstrap, s.confidence * 100.0) }</span>
                </div>
            }
        </fieldset>
    }
}

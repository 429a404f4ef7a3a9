//! The analyses beyond the lecture, chosen before a run: the layer sweep, heads, V, Q·K,
//! mean-centring, PCA and the permutation statistics (the CLI's flags, the page's query keys).

use yew::prelude::*;

use super::{checked, filter, value};
use crate::analysis::report::{ExtendedOptions, StatOptions};
use crate::presets::human_bytes;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub options: ExtendedOptions,
    /// The whole hub model's size, when known: what the layer sweep downloads.
    pub sweep_bytes: Option<u64>,
    pub on_change: Callback<ExtendedOptions>,
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

/// A checkbox that sets one flag of the options.
fn flag(f: &Flag, options: &ExtendedOptions, on_change: &Callback<ExtendedOptions>) -> Html {
    let (o, set) = (options.clone(), f.set);
    let onchange = on_change.reform(move |e: Event| {
        let mut o = o.clone();
        set(&mut o, checked(&e));
        o
    });
    html! {
        <label title={f.hint}><input type="checkbox" id={f.id} checked={(f.get)(options)} {onchange} />{ format!(" {}", f.label) }</label>
    }
}

/// A number of the statistics (at least `min`); one that does not parse keeps the last good one
/// (the field shows what was typed).
fn number(
    id: &'static str,
    value_now: u64,
    min: u64,
    set: fn(&mut StatOptions, u64),
    options: &ExtendedOptions,
    on_change: &Callback<ExtendedOptions>,
) -> Html {
    let o = options.clone();
    let onchange = filter(on_change, move |e: Event| {
        let n = value(&e).trim().parse::<u64>().ok().filter(|&n| n >= min)?;
        let mut o = o.clone();
        if let Some(s) = o.statistics.as_mut() {
            set(s, n);
        }
        Some(o)
    });
    html! { <input type="number" id={id} min={min.to_string()} value={value_now.to_string()} {onchange} /> }
}

#[function_component(OptionsPanel)]
pub fn options_panel(props: &Props) -> Html {
    let (options, on_change) = (&props.options, &props.on_change);
    html! {
        <fieldset class="options" id="qk-options">
            <legend>{ "Beyond the lecture" }</legend>
            <div class="row">{ for FLAGS.iter().map(|f| flag(f, options, on_change)) }</div>
            if let (true, Some(bytes)) = (options.all_layers, props.sweep_bytes) {
                <div class="hint" id="qk-sweep-size">{ format!(
                    "Every layer needs the whole model: about {} the first time (then it is cached).",
                    human_bytes(bytes)) }</div>
            }
            if let Some(s) = &options.statistics {
                <div class="row stat-options">
                    <label>{ "permutations " }{ number("qk-opt-permutations", s.permutations as u64, 1, |s, n| { s.permutations = n as usize; s.bootstrap = n as usize; }, options, on_change) }</label>
                    <label>{ "seed " }{ number("qk-opt-seed", s.seed, 0, |s, n| s.seed = n, options, on_change) }</label>
                    <span class="hint">{ format!("{} bootstrap resamples, {:.0} % intervals", s.bootstrap, s.confidence * 100.0) }</span>
                </div>
            }
        </fieldset>
    }
}

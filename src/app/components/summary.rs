//! The lecture's numbers: selectivity of Q and K (with the means behind them) and RSA r; with
//! the options, V beside them, the mean-centred numbers, and each number's permutation p-value
//! and bootstrap interval.

use yew::prelude::*;

use super::fmt_opt;
use super::ResultProps as Props;
use crate::analysis::report::{ModelStat, SelectivityStat, Statistics};
use crate::result::SpaceResult;

fn fmt_p(p: Option<f64>) -> String {
    match p {
        Some(p) if p < 0.001 => format!("{p:.1e}"),
        Some(p) => format!("{p:.3}"),
        None => "—".into(),
    }
}

fn fmt_ci(ci: Option<[f64; 2]>) -> String {
    ci.map(|[a, b]| format!("[{a:.4}, {b:.4}]")).unwrap_or_else(|| "—".into())
}

fn cells(spaces: &[(&str, &SpaceResult)], value: impl Fn(&SpaceResult) -> String, class: &str) -> Html {
    spaces
        .iter()
        .map(|(name, s)| html! { <td class={format!("{class}-{}", name.to_lowercase())}>{ value(s) }</td> })
        .collect()
}

/// The statistics of the space named "Q", "K" or "V": its selectivity test and category-model fit.
fn space_stats<'a>(stats: &'a Statistics, name: &str) -> (&'a SelectivityStat, &'a ModelStat) {
    match name {
        "Q" => (&stats.q.selectivity, &stats.category_model.q),
        "K" => (&stats.k.selectivity, &stats.category_model.k),
        _ => (&stats.v.selectivity, &stats.category_model.v),
    }
}

fn stat_cells(stats: &Statistics, names: &[&str], value: impl Fn(&SelectivityStat) -> String, id: &str) -> Html {
    names
        .iter()
        .map(|name| html! { <td id={format!("{id}-{}", name.to_lowercase())}>{ value(space_stats(stats, name).0) }</td> })
        .collect()
}

#[function_component(Summary)]
pub fn summary(props: &Props) -> Html {
    let r = &props.result;
    let mut spaces = vec![("Q", &r.q), ("K", &r.k)];
    if let Some(v) = &r.v {
        spaces.push(("V", v));
    }
    let names: Vec<&str> = spaces.iter().map(|(n, _)| *n).collect();
    let stats = r.statistics.as_ref();
    let conf = stats.map_or(95.0, |s| s.confidence * 100.0);
    let model_fit = |s: &Statistics, name: &str| {
        let m = space_stats(s, name).1;
        format!("{} (p = {})", fmt_opt(m.r, 3), fmt_p(m.p))
    };
    html! {
        <section class="panel summary" id="qk-summary" data-run-id={super::figures::run_id(r)}>
            <h2>{ format!("Layer {} of {} · {} words", r.layer, r.model.n_layer, r.words.len()) }</h2>
            <table>
                <thead><tr><th></th>{ for names.iter().map(|n| html! { <th>{ *n }</th> }) }</tr></thead>
                <tbody>
                    <tr><th>{ "Selectivity index" }</th>{ cells(&spaces, |s| fmt_opt(s.selectivity, 4), "sel") }</tr>
                    if let Some(s) = stats {
                        <tr class="stat"><th>{ "p (category labels permuted)" }</th>
                            { stat_cells(s, &names, |x| fmt_p(x.p), "qk-sel-p") }</tr>
                        <tr class="stat"><th>{ format!("{conf:.0} % interval (bootstrap over words)") }</th>
                            { stat_cells(s, &names, |x| fmt_ci(x.ci), "qk-sel-ci") }</tr>
                    }
                    <tr><th>{ "mean within-category similarity" }</th>{ cells(&spaces, |s| fmt_opt(s.within_mean, 4), "within") }</tr>
                    <tr><th>{ "mean across-category similarity" }</th>{ cells(&spaces, |s| fmt_opt(s.across_mean, 4), "across") }</tr>
                    <tr><th>{ "median within / across similarity" }</th>
                        { cells(&spaces, |s| format!("{} / {}", fmt_opt(s.within_median, 4), fmt_opt(s.across_median, 4)), "median") }</tr>
                    if let Some(c) = &r.centered {
                        <tr class="centered"><th>{ "Selectivity, mean-centred vectors" }</th>
                            <td id="qk-centered-q">{ fmt_opt(c.q.selectivity, 4) }</td>
                            <td id="qk-centered-k">{ fmt_opt(c.k.selectivity, 4) }</td>
                            if names.len() > 2 { <td>{ fmt_opt(c.v.as_ref().and_then(|v| v.selectivity), 4) }</td> }
                        </tr>
                    }
                    if let Some(s) = stats {
                        <tr class="stat"><th>{ "fit to the category model (r, p)" }</th>
                            { for names.iter().map(|n| html! { <td>{ model_fit(s, n) }</td> }) }</tr>
                    }
                </tbody>
            </table>
            <p class="rsa">{ "RSA (Pearson r of Q vs K similarities): " }<strong id="qk-rsa">{ fmt_opt(r.rsa.r, 4) }</strong>
                if let Some(s) = stats {
                    <span class="stat">{ " · Mantel p = " }<span id="qk-rsa-p">{ fmt_p(s.rsa.pearson.p) }</span>
                        { format!(" · {conf:.0} % interval ") }<span id="qk-rsa-ci">{ fmt_ci(s.rsa.pearson.ci) }</span>
                        { " · Spearman ρ = " }<span id="qk-rho">{ fmt_opt(s.rsa.spearman.rho, 4) }</span>
                        { format!(" (p = {}, interval {})", fmt_p(s.rsa.spearman.p), fmt_ci(s.rsa.spearman.ci)) }</span>
                }
            </p>
            if let Some(c) = &r.centered {
                <p class="rsa centered">{ "RSA of the mean-centred vectors: " }<strong id="qk-centered-rsa">{ fmt_opt(c.rsa.r, 4) }</strong></p>
            }
            <ul class="rsa-categories">
                { for r.rsa.per_category.iter().map(|c| html! {
                    <li>{ format!("{}: r = {} ({} pairs)", c.category, fmt_opt(c.r, 4), c.pairs) }</li>
                }) }
            </ul>
            if let Some(s) = stats {
                <p class="hint" id="qk-stat-method">{ format!(
                    "{} permutations, {} bootstrap resamples, seed {}{}. The Pearson p-value of the lecture's r is not valid (the pairs are not independent); these are. {}",
                    s.permutations, s.bootstrap, s.seed,
                    if s.centered { ", on mean-centred vectors" } else { "" },
                    s.method) }</p>
            }
            if !r.notes.is_empty() {
                <ul class="notes">{ for r.notes.iter().map(|n| html! { <li>{ n }</li> }) }</ul>
            }
        </section>
    }
}

//! The lecture's numbers: selectivity of Q and K (with the means behind them) and RSA r.

use yew::prelude::*;

use super::fmt_opt;

use super::ResultProps as Props;

#[function_component(Summary)]
pub fn summary(props: &Props) -> Html {
    let r = &props.result;
    html! {
        <section class="panel summary" id="qk-summary">
            <h2>{ format!("Layer {} of {} · {} words", r.layer, r.model.n_layer, r.words.len()) }</h2>
            <table>
                <thead><tr><th></th><th>{ "Q" }</th><th>{ "K" }</th></tr></thead>
                <tbody>
                    <tr><th>{ "Selectivity index" }</th>
                        <td class="sel-q">{ fmt_opt(r.q.selectivity, 4) }</td><td class="sel-k">{ fmt_opt(r.k.selectivity, 4) }</td></tr>
                    <tr><th>{ "mean within-category similarity" }</th>
                        <td>{ fmt_opt(r.q.within_mean, 4) }</td><td>{ fmt_opt(r.k.within_mean, 4) }</td></tr>
                    <tr><th>{ "mean across-category similarity" }</th>
                        <td>{ fmt_opt(r.q.across_mean, 4) }</td><td>{ fmt_opt(r.k.across_mean, 4) }</td></tr>
                </tbody>
            </table>
            <p class="rsa">{ "RSA (Pearson r of Q vs K similarities): " }<strong id="qk-rsa">{ fmt_opt(r.rsa.r, 4) }</strong></p>
            <ul class="rsa-categories">
                { for r.rsa.per_category.iter().map(|c| html! {
                    <li>{ format!("{}: r = {} ({} pairs)", c.category, fmt_opt(c.r, 4), c.pairs) }</li>
                }) }
            </ul>
            if !r.notes.is_empty() {
                <ul class="notes">{ for r.notes.iter().map(|n| html! { <li>{ n }</li> }) }</ul>
            }
        </section>
    }
}

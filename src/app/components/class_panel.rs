//! The class view: students' result JSON files (picked or dropped) compared, one row each, with
//! their selectivity of Q and K and RSA r as numbers and as bars on one scale.

use std::rc::Rc;

use wasm_bindgen_futures::JsFuture;
use web_sys::{DragEvent, FileList, HtmlInputElement};
use yew::prelude::*;

use super::fmt_opt;
use crate::class_view::{class_rows, value_range, ClassRow};

/// Every file's name and text.
async fn read_all(files: FileList) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for i in 0..files.length() {
        let Some(file) = files.get(i) else { continue };
        let text = JsFuture::from(file.text())
            .await
            .ok()
            .and_then(|t| t.as_string())
            .unwrap_or_default();
        out.push((file.name(), text));
    }
    out
}

/// A bar from the scale's zero to `v`, as a share of the scale (`lo..hi`).
fn bar(v: Option<f64>, (lo, hi): (f64, f64), class: &'static str) -> Html {
    let Some(v) = v else {
        return html! { <span class="bar none">{ "—" }</span> };
    };
    let span = hi - lo;
    let (a, b) = (((0f64.max(lo).min(v) - lo) / span), ((v.max(0f64.max(lo)) - lo) / span));
    let style = format!("margin-left: {:.1}%; width: {:.1}%", 100.0 * a, 100.0 * (b - a).max(0.002));
    html! { <span class={classes!("bar", class)} {style} aria-hidden="true"></span> }
}

fn row(r: &ClassRow, scale: (f64, f64)) -> Html {
    html! {
        <tr>
            <th scope="row">{ &r.who }</th>
            <td>{ &r.model }</td><td>{ r.layer }</td><td>{ &r.template }</td><td>{ &r.categories }</td>
            <td class="num">{ fmt_opt(r.selectivity_q, 3) }</td>
            <td class="num">{ fmt_opt(r.selectivity_k, 3) }</td>
            <td class="num">{ fmt_opt(r.rsa_r, 3) }</td>
            <td class="bars">
                <div class="bar-line">{ bar(r.selectivity_q, scale, "q") }</div>
                <div class="bar-line">{ bar(r.selectivity_k, scale, "k") }</div>
                <div class="bar-line">{ bar(r.rsa_r, scale, "r") }</div>
            </td>
        </tr>
    }
}

#[function_component(ClassPanel)]
pub fn class_panel() -> Html {
    let rows = use_state(|| Rc::new((Vec::<ClassRow>::new(), Vec::<String>::new())));
    let load = {
        let rows = rows.clone();
        Callback::from(move |files: FileList| {
            let rows = rows.clone();
            yew::platform::spawn_local(async move { rows.set(Rc::new(class_rows(&read_all(files).await))) });
        })
    };
    let on_pick = {
        let load = load.clone();
        Callback::from(move |e: Event| {
            if let Some(files) = e.target_unchecked_into::<HtmlInputElement>().files() {
                load.emit(files);
            }
        })
    };
    let on_drop = Callback::from(move |e: DragEvent| {
        e.prevent_default();
        if let Some(files) = e.data_transfer().and_then(|d| d.files()) {
            load.emit(files);
        }
    });
    let (list, errors) = &**rows;
    let scale = value_range(list);
    html! {
        <details class="panel class-panel" id="qk-class">
            <summary>{ "Class view: compare the class's results" }</summary>
            <div class="drop" ondragover={Callback::from(|e: DragEvent| e.prevent_default())} ondrop={on_drop}>
                <label for="qk-class-files">{ "Result JSON files (Export JSON of each student's run), picked or dropped here: " }</label>
                <input id="qk-class-files" type="file" multiple=true accept=".json,application/json" onchange={on_pick} />
            </div>
            { for errors.iter().map(|e| html! { <div class="field-error">{ e }</div> }) }
            if !list.is_empty() {
                <div class="class-table">
                <table id="qk-class-table">
                    <caption>{ format!("{} results; bars from {:.2} to {:.2}: selectivity Q, selectivity K, RSA r", list.len(), scale.0, scale.1) }</caption>
                    <thead><tr><th scope="col">{ "who" }</th><th scope="col">{ "model" }</th><th scope="col">{ "layer" }</th>
                        <th scope="col">{ "template" }</th><th scope="col">{ "categories" }</th><th scope="col">{ "selectivity Q" }</th>
                        <th scope="col">{ "selectivity K" }</th><th scope="col">{ "RSA r" }</th><th scope="col">{ "plotted" }</th></tr></thead>
                    <tbody>{ for list.iter().map(|r| row(r, scale)) }</tbody>
                </table>
                </div>
            }
        </details>
    }
}

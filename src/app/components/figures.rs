//! Every figure of the lecture on canvas, drawn by the same code the exports and native tests
//! render to SVG. Hovering a heatmap cell marks that word pair in every figure.

use std::collections::HashMap;

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::{HtmlCanvasElement, HtmlInputElement, MouseEvent};
use yew::prelude::*;

use crate::export::csv_files;
use crate::plots::figure::{draw_figure, figure_svg, Figure, FigureOptions, HitMap};
use crate::result::RunResult;
use crate::web::download::{save_text, save_url};

use super::ResultProps as Props;

fn draw(
    canvas: &HtmlCanvasElement,
    figure: Figure,
    result: &RunResult,
    options: &FigureOptions,
) -> Result<Option<HitMap>, String> {
    let backend = CanvasBackend::with_canvas_object(canvas.clone()).ok_or("no 2-D canvas context")?;
    let root = backend.into_drawing_area();
    let grid = draw_figure(&root, figure, result, options)?;
    root.present().map_err(|e| e.to_string())?;
    Ok(grid)
}

/// The word pair under the pointer, from the event's position scaled to the canvas's pixels.
fn pair_under(e: &MouseEvent, hits: &HitMap) -> Option<(usize, usize)> {
    let canvas: HtmlCanvasElement = e.target_dyn_into()?;
    let scale = canvas.width() as f64 / canvas.client_width().max(1) as f64;
    hits.pair_at(e.offset_x() as f64 * scale, e.offset_y() as f64 * scale)
}

#[function_component(Figures)]
pub fn figures(props: &Props) -> Html {
    let result = props.result.clone();
    let refs = use_memo((), |_| Figure::ALL.map(|f| (f, NodeRef::default())));
    let grids = use_mut_ref(HashMap::<Figure, HitMap>::new);
    let lecture_limits = use_state(|| false);
    let highlight = use_state(|| None::<(usize, usize)>);
    let error = use_state(|| None::<String>);
    let options = FigureOptions {
        lecture_limits: *lecture_limits,
        highlight: *highlight,
        ..Default::default()
    };
    {
        let (refs, grids, error, result) = (refs.clone(), grids.clone(), error.clone(), result.clone());
        use_effect_with((props.clone(), options), move |(_, options)| {
            for (figure, node) in refs.iter() {
                if let Some(canvas) = node.cast::<HtmlCanvasElement>() {
                    match draw(&canvas, *figure, &result, options) {
                        Ok(Some(grid)) => {
                            grids.borrow_mut().insert(*figure, grid);
                        }
                        Ok(None) => {}
                        Err(e) => error.set(Some(format!("{}: {e}", figure.id()))),
                    }
                }
            }
            || ()
        });
    }
    let on_limits = {
        let lecture_limits = lecture_limits.clone();
        Callback::from(move |e: Event| lecture_limits.set(e.target_unchecked_into::<HtmlInputElement>().checked()))
    };
    let on_csv = {
        let (result, error) = (result.clone(), error.clone());
        Callback::from(move |_| {
            for (name, text) in csv_files(&result) {
                if let Err(e) = save_text(&name, "text/csv", &text) {
                    error.set(Some(e.to_string()));
                }
            }
        })
    };
    let on_json = {
        let (result, error) = (result.clone(), error.clone());
        Callback::from(move |_| {
            if let Err(e) = save_text(
                &format!("qk-lens-result-L{}.json", result.layer),
                "application/json",
                &result.to_json(),
            ) {
                error.set(Some(e.to_string()));
            }
        })
    };
    let pair_info = highlight.map(|(i, j)| {
        let w = &result.words;
        format!(
            "{} × {}: Q {:.4}, K {:.4}",
            w[i].word, w[j].word, result.q.cosine[i][j], result.k.cosine[i][j]
        )
    });
    let n_categories = result.experiment.categories.len();
    html! {
        <section class="panel figures-panel">
            <div class="row figure-options">
                <label><input type="checkbox" id="qk-lecture-limits" checked={*lecture_limits} onchange={on_limits} />
                    { " Lecture colour limits (Q 0.60–0.85, K 0.82–0.95)" }</label>
                <button class="secondary" id="qk-export-csv" onclick={on_csv}>{ "Matrices and vectors (CSV)" }</button>
                <button class="secondary" id="qk-export-json" onclick={on_json}>{ "Result (JSON)" }</button>
                <span class="hint" id="qk-pair">{ pair_info.unwrap_or_else(|| "Hover a heatmap cell or a scatter point to mark its word pair everywhere.".into()) }</span>
            </div>
            if let Some(e) = &*error { <div class="error">{ format!("A figure could not be drawn or saved: {e}") }</div> }
            <div class="figures">
                { for refs.iter().map(|(figure, node)| {
                    let figure = *figure;
                    let (w, h) = figure.size(n_categories);
                    let hoverable = matches!(figure, Figure::HeatmapQ | Figure::HeatmapK | Figure::RsaScatter);
                    let on_move = {
                        let (grids, highlight) = (grids.clone(), highlight.clone());
                        Callback::from(move |e: MouseEvent| {
                            let cell = grids.borrow().get(&figure).and_then(|g| pair_under(&e, g));
                            if cell != *highlight { highlight.set(cell); }
                        })
                    };
                    let on_leave = { let highlight = highlight.clone(); Callback::from(move |_| highlight.set(None)) };
                    let on_png = {
                        let (node, error) = (node.clone(), error.clone());
                        Callback::from(move |_| {
                            let url = node.cast::<HtmlCanvasElement>().and_then(|c| c.to_data_url().ok());
                            if let Err(e) = url.ok_or_else(|| "no canvas".to_string()).and_then(|u| save_url(&format!("{}.png", figure.id()), &u).map_err(|e| e.to_string())) {
                                error.set(Some(e));
                            }
                        })
                    };
                    let on_svg = {
                        let (result, error) = (result.clone(), error.clone());
                        Callback::from(move |_| {
                            let saved = figure_svg(figure, &result, &options).and_then(|svg| save_text(&format!("{}.svg", figure.id()), "image/svg+xml", &svg).map_err(|e| e.to_string()));
                            if let Err(e) = saved { error.set(Some(e)); }
                        })
                    };
                    html! {
                        <figure class="figure" id={format!("qk-figure-{}", figure.id())}>
                            <canvas id={format!("qk-{}", figure.id())} ref={node.clone()} width={w.to_string()} height={h.to_string()}
                                onmousemove={hoverable.then_some(on_move)} onmouseleave={hoverable.then_some(on_leave)}></canvas>
                            <figcaption>
                                <button class="link" onclick={on_png}>{ "PNG" }</button>
                                <button class="link" onclick={on_svg}>{ "SVG" }</button>
                            </figcaption>
                        </figure>
                    }
                }) }
            </div>
        </section>
    }
}

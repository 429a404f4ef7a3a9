//! Every figure of the lecture on canvas, drawn by the same code the exports and native tests
//! render to SVG. Hovering a heatmap cell marks that word pair in every figure. Beyond the
//! lecture: clicking a layer of the sweep selects that layer, clicking a cell of the head grid
//! shows that head's own heatmaps and RSA scatter (a view of the layer's vectors).

use std::collections::{BTreeMap, HashMap};

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::{HtmlCanvasElement, HtmlInputElement, MouseEvent};
use yew::prelude::*;

use crate::export::csv_files;
use crate::plots::figure::{draw_figure, figure_svg, Figure, FigureOptions, HitMap, Space};
use crate::result::RunResult;
use crate::result_view::{View, ViewedResult};
use crate::web::canvas_image::paint_cells;
use crate::web::download::{save_text, save_url};

use super::{fmt_opt, value, ResultProps};

#[derive(Properties, PartialEq, Clone)]
pub struct Props {
    pub result: std::rc::Rc<RunResult>,
    /// The head the detailed figures show (None: the whole layer).
    pub head: Option<usize>,
    /// A layer (and head) clicked in the sweep or the head grid.
    pub on_select: Callback<(usize, Option<usize>)>,
    /// A head chosen from the list (None: the whole layer).
    pub on_head: Callback<Option<usize>>,
}

fn draw(
    canvas: &HtmlCanvasElement,
    figure: Figure,
    result: &ViewedResult,
    options: &FigureOptions,
) -> Result<Option<HitMap>, String> {
    let backend = CanvasBackend::with_canvas_object(canvas.clone()).ok_or("no 2-D canvas context")?;
    let root = backend.into_drawing_area();
    let drawn = draw_figure(&root, figure, result, options)?;
    if let Some(cells) = &drawn.cells {
        paint_cells(canvas, &root, cells)?;
    }
    root.present().map_err(|e| e.to_string())?;
    if let Some(HitMap::Cells(grid) | HitMap::QkCells(grid)) = &drawn.hits {
        // Where the cells are (x0,y0,x1,y1 in the canvas's pixels), for tests and tools.
        let rect = format!(
            "{},{},{},{}",
            grid.top_left.0, grid.top_left.1, grid.bottom_right.0, grid.bottom_right.1
        );
        let _ = canvas.set_attribute("data-cells", &rect);
    }
    Ok(drawn.hits)
}

/// A shown result compared by pointer: redraw when another one arrives, not on equal contents.
struct ByPointer(std::rc::Rc<ViewedResult>);

impl PartialEq for ByPointer {
    fn eq(&self, other: &Self) -> bool {
        std::rc::Rc::ptr_eq(&self.0, &other.0)
    }
}

/// The event's position in the canvas's pixels (the canvas may be shown scaled).
fn canvas_xy(e: &MouseEvent) -> Option<(f64, f64)> {
    let canvas: HtmlCanvasElement = e.target_dyn_into()?;
    let scale = canvas.width() as f64 / canvas.client_width().max(1) as f64;
    Some((e.offset_x() as f64 * scale, e.offset_y() as f64 * scale))
}

/// A pixel inside each click target of a sweep or head grid (key "L" or "L,H"), as JSON. The
/// hit map is probed on a 3-pixel lattice; each target gets its probe nearest to its centroid
/// (for the head grid, within the left heatmap). Tests and tools click these (`data-targets`).
fn click_targets(hits: &HitMap, (w, h): (u32, u32)) -> String {
    let mut points: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for y in (1..h).step_by(3) {
        for x in (1..w).step_by(3) {
            let (x, y) = (x as f64, y as f64);
            let key = match (hits.layer_at(x, y), hits.head_at(x, y)) {
                (Some(l), _) => l.to_string(),
                (_, Some((l, head))) if x < w as f64 / 2.0 => format!("{l},{head}"),
                _ => continue,
            };
            points.entry(key).or_default().push((x, y));
        }
    }
    let centres: BTreeMap<String, [f64; 2]> = points
        .into_iter()
        .map(|(key, p)| {
            let n = p.len() as f64;
            let (cx, cy) = (p.iter().map(|q| q.0).sum::<f64>() / n, p.iter().map(|q| q.1).sum::<f64>() / n);
            let d = |q: &(f64, f64)| (q.0 - cx).powi(2) + (q.1 - cy).powi(2);
            let best = p.iter().min_by(|a, b| d(a).total_cmp(&d(b))).copied().unwrap_or((cx, cy));
            (key, [best.0, best.1])
        })
        .collect();
    serde_json::to_string(&centres).unwrap_or_default()
}

/// The word pair under the pointer.
fn pair_under(e: &MouseEvent, hits: &HitMap) -> Option<(usize, usize)> {
    canvas_xy(e).and_then(|(x, y)| hits.pair_at(x, y))
}

// Over 80 lines: to be split once the plots rework of its figure calls has landed (shared file).
#[function_component(Figures)]
pub fn figures(props: &Props) -> Html {
    let full = ResultProps {
        result: props.result.clone(),
    };
    let view = View {
        head: props.head,
        // The figures follow the run's choice: its sweep, heads and statistics are centred too.
        centered: props.result.options.as_ref().is_some_and(|o| o.center),
    };
    // What the figures show: the layer, or one head's slice of it.
    let shown = use_memo((full, view), |(full, view)| full.result.view(*view).map(std::rc::Rc::new));
    let result = match &*shown {
        Ok(r) => r.clone(),
        Err(_) => std::rc::Rc::new(ViewedResult::from(props.result.as_ref().clone())),
    };
    let refs = use_memo((), |_| {
        Figure::ALL
            .iter()
            .chain(Figure::EXTENDED.iter())
            .map(|&f| (f, NodeRef::default()))
            .collect::<Vec<_>>()
    });
    let grids = use_mut_ref(HashMap::<Figure, HitMap>::new);
    let lecture_limits = use_state(|| false);
    let highlight = use_state(|| None::<(usize, usize)>);
    let grid_space = use_state(|| Space::Q);
    let error = use_state(|| None::<String>);
    let options = FigureOptions {
        lecture_limits: *lecture_limits,
        highlight: *highlight,
        head: props.head,
        grid_space: *grid_space,
    };
    {
        let (refs, grids, error, result) = (refs.clone(), grids.clone(), error.clone(), result.clone());
        // Redrawn when the shown result (compared by pointer) or the options change.
        let drawn = ByPointer(result.clone());
        use_effect_with((drawn, options), move |(_, options)| {
            for (figure, node) in refs.iter() {
                if let Some(canvas) = node.cast::<HtmlCanvasElement>() {
                    let started = js_sys::Date::now();
                    let drawn = draw(&canvas, *figure, &result, options);
                    // How long the figure took to draw, for tests and tools (`data-draw-ms`).
                    let _ = canvas.set_attribute("data-draw-ms", &format!("{:.0}", js_sys::Date::now() - started));
                    match drawn {
                        Ok(Some(grid)) => {
                            if matches!(figure, Figure::LayerSweep | Figure::HeadGrid) {
                                let targets = click_targets(&grid, (canvas.width(), canvas.height()));
                                let _ = canvas.set_attribute("data-targets", &targets);
                            }
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
    let on_click = |figure: Figure| {
        let (grids, on_select) = (grids.clone(), props.on_select.clone());
        let head = props.head;
        Callback::from(move |e: MouseEvent| {
            let Some((x, y)) = canvas_xy(&e) else { return };
            let grids = grids.borrow();
            let Some(hits) = grids.get(&figure) else { return };
            match figure {
                // A layer keeps the chosen head (its figures then show that head of the layer).
                Figure::LayerSweep => hits.layer_at(x, y).into_iter().for_each(|l| on_select.emit((l, head))),
                Figure::HeadGrid => hits.head_at(x, y).into_iter().for_each(|(l, h)| on_select.emit((l, Some(h)))),
                _ => {}
            }
        })
    };
    let on_head = props.on_head.reform(|e: Event| value(&e).parse::<usize>().ok());
    let on_space = {
        let grid_space = grid_space.clone();
        Callback::from(move |e: Event| {
            let value = e.target_unchecked_into::<web_sys::HtmlSelectElement>().value();
            grid_space.set(match value.as_str() {
                "K" => Space::K,
                "V" => Space::V,
                _ => Space::Q,
            });
        })
    };
    let n_head = props.result.model.n_head;
    let view_title = match props.head {
        Some(h) => format!("Showing head {h} of layer {} (its slice of Q, K and V)", props.result.layer),
        None => format!("Showing the whole layer {}", props.result.layer),
    };
    let view_numbers = format!(
        "selectivity Q {}, K {}{}; RSA r {}",
        fmt_opt(result.q.selectivity, 4),
        fmt_opt(result.k.selectivity, 4),
        result
            .v
            .as_ref()
            .map(|v| format!(", V {}", fmt_opt(v.selectivity, 4)))
            .unwrap_or_default(),
        fmt_opt(result.rsa.r, 4)
    );
    let view_error = shown.as_ref().as_ref().err().map(|e| e.to_string());
    let pair_info = highlight.map(|(i, j)| {
        let w = &result.words;
        format!(
            "{} × {}: Q {:.4}, K {:.4}",
            w[i].word, w[j].word, result.q.cosine[i][j], result.k.cosine[i][j]
        )
    });
    html! {
        <section class="panel figures-panel">
            <div class="row figure-options">
                <label><input type="checkbox" id="qk-lecture-limits" checked={*lecture_limits} onchange={on_limits} />
                    { " Lecture colour limits (Q 0.60–0.85, K 0.82–0.95)" }</label>
                <button class="secondary" id="qk-export-csv" onclick={on_csv}>{ "Matrices and vectors (CSV)" }</button>
                <button class="secondary" id="qk-export-json" onclick={on_json}>{ "Result (JSON)" }</button>
                <label>{ "Heads: " }<select id="qk-head" onchange={on_head}>
                    <option value="" selected={props.head.is_none()}>{ "whole layer" }</option>
                    { for (0..n_head).map(|h| html! { <option value={h.to_string()} selected={props.head == Some(h)}>{ format!("head {h}") }</option> }) }
                </select></label>
                if Figure::HeadGrid.available(&result) {
                    <label>{ "Head grid: " }<select id="qk-grid-space" onchange={on_space}>
                        { for [Space::Q, Space::K, Space::V].iter().map(|s| html! { <option value={s.name()} selected={*grid_space == *s}>{ format!("{} selectivity", s.name()) }</option> }) }
                    </select></label>
                }
                <span class="hint" id="qk-pair">{ pair_info.unwrap_or_else(|| "Hover a heatmap cell or a scatter point to mark its word pair everywhere.".into()) }</span>
            </div>
            <p class="view-title" id="qk-view">{ view_title }{ if view.centered { ", mean-centred vectors" } else { "" } }{ ": " }
                <span id="qk-view-numbers">{ view_numbers }</span>
                if props.head.is_some() {
                    <button class="link" id="qk-whole-layer" onclick={props.on_head.reform(|_| None)}>{ "back to the whole layer" }</button>
                }
            </p>
            if let Some(e) = view_error { <div class="error">{ format!("This view cannot be shown: {e}") }</div> }
            if let Some(e) = &*error { <div class="error">{ format!("A figure could not be drawn or saved: {e}") }</div> }
            <div class="figures">
                { for refs.iter().filter(|(f, _)| f.available(&result)).map(|(figure, node)| {
                    let figure = *figure;
                    let (w, h) = figure.size_for(&result);
                    let hoverable = matches!(figure, Figure::HeatmapQ | Figure::HeatmapK | Figure::HeatmapV | Figure::QkMatrix | Figure::RsaScatter);
                    let clickable = matches!(figure, Figure::LayerSweep | Figure::HeadGrid);
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
                            let saved = figure_svg(figure, &*result, &options).and_then(|svg| save_text(&format!("{}.svg", figure.id()), "image/svg+xml", &svg).map_err(|e| e.to_string()));
                            if let Err(e) = saved { error.set(Some(e)); }
                        })
                    };
                    html! {
                        <figure class="figure" id={format!("qk-figure-{}", figure.id())}>
                            <canvas id={format!("qk-{}", figure.id())} ref={node.clone()} width={w.to_string()} height={h.to_string()}
                                class={clickable.then_some("clickable")}
                                onmousemove={hoverable.then_some(on_move)} onmouseleave={hoverable.then_some(on_leave)}
                                onclick={clickable.then(|| on_click(figure))}></canvas>
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

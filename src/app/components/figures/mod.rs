//! Every figure of the lecture on canvas, drawn by the same code the exports and native tests
//! render to SVG. Hovering a heatmap cell marks that word pair in every figure. Beyond the
//! lecture: clicking a layer of the sweep selects that layer, clicking a cell of the head grid
//! shows that head's own heatmaps and RSA scatter (a view of the layer's vectors).

use std::collections::{BTreeMap, HashMap};

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::{HtmlCanvasElement, MouseEvent};
use yew::prelude::*;

use crate::export::{csv_files, notebook_file_name, notebook_ipynb};
use crate::plots::figure::{draw_figure, Figure, FigureOptions, HitMap, Space};
use crate::result::RunResult;
use crate::result_view::{View, ViewedResult};
use crate::web::canvas_image::paint_cells;
use crate::web::download::save_text;

use super::{checked, fmt_opt, value, ResultProps};

mod card;
mod toolbar;

use card::{figure_card, Card};
use toolbar::{FigureToolbar, ViewLine};

#[derive(Properties, PartialEq, Clone)]
pub struct Props {
    pub result: std::rc::Rc<RunResult>,
    /// The head the detailed figures show (None: the whole layer).
    pub head: Option<usize>,
    /// A layer (and head) clicked in the sweep or the head grid.
    pub on_select: Callback<(usize, Option<usize>)>,
    /// Only these figures (the guided lab's step); None: every figure the result has.
    #[prop_or_default]
    pub only: Option<Vec<Figure>>,
    /// A head chosen from the list (None: the whole layer).
    pub on_head: Callback<Option<usize>>,
    /// MODEL of the "Check it in Python" notebook: the run's hub id or folder URL (empty when
    /// the model came from files on disk).
    pub model: AttrValue,
    /// The viewer's colour scale and theme.
    #[prop_or_default]
    pub look: crate::plots::Look,
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

/// Canvases of every figure, keyed by figure.
type Canvases = std::rc::Rc<Vec<(Figure, NodeRef)>>;
/// The hit map of every drawn figure (what is under the pointer).
type Grids = std::rc::Rc<std::cell::RefCell<HashMap<Figure, HitMap>>>;

/// What a canvas shows: the canvas element, the result (held, so that its address is not
/// reused, and compared by pointer) and the options it was drawn with.
type Shows = std::rc::Rc<std::cell::RefCell<HashMap<Figure, (HtmlCanvasElement, std::rc::Rc<ViewedResult>, FigureOptions)>>>;

/// Draws every figure whose canvas is on the page and does not show the result (compared by
/// pointer) with the options yet, and keeps their hit maps. A canvas already on the page at the
/// size it keeps is drawn during the render, so that the result, the summary and the figures
/// change in one task: Yew may give the browser a frame between a render and its effects, and
/// that frame would show the new numbers beside the old figures. New canvases (a new result's,
/// or the guided lab's next step's) and resized ones (a size set by the render clears a canvas)
/// are drawn after the render.
#[hook]
fn use_drawn_figures(
    refs: Canvases,
    grids: Grids,
    error: UseStateHandle<Option<String>>,
    result: std::rc::Rc<ViewedResult>,
    options: FigureOptions,
) {
    let shows: Shows = use_mut_ref(HashMap::new);
    let canvases = Drawn {
        refs,
        grids,
        error,
        shows,
    };
    canvases.draw_stale(&result, &options, true);
    // After every render: what each canvas shows says whether anything is left to draw.
    use_effect(move || canvases.draw_stale(&result, &options, false));
}

/// The canvases and what they show, for [`use_drawn_figures`].
struct Drawn {
    refs: Canvases,
    grids: Grids,
    error: UseStateHandle<Option<String>>,
    shows: Shows,
}

impl Drawn {
    /// Draws each canvas on the page that does not show `result` with `options` yet; `in_render`:
    /// only those whose size the render keeps.
    fn draw_stale(&self, result: &std::rc::Rc<ViewedResult>, options: &FigureOptions, in_render: bool) {
        for (figure, node) in self.refs.iter() {
            let Some(canvas) = node.cast::<HtmlCanvasElement>() else {
                continue;
            };
            let shown = self
                .shows
                .borrow()
                .get(figure)
                .is_some_and(|(c, r, o)| *c == canvas && std::rc::Rc::ptr_eq(r, result) && o == options);
            if shown {
                continue;
            }
            if in_render && (canvas.width(), canvas.height()) != figure.size_for(result) {
                continue;
            }
            self.draw_one(&canvas, *figure, result, options);
            self.shows.borrow_mut().insert(*figure, (canvas, result.clone(), *options));
        }
    }

    fn draw_one(&self, canvas: &HtmlCanvasElement, figure: Figure, result: &ViewedResult, options: &FigureOptions) {
        let started = js_sys::Date::now();
        let drawn = draw(canvas, figure, result, options);
        // How long the figure took to draw, and which run it shows, for tests and tools.
        let _ = canvas.set_attribute("data-draw-ms", &format!("{:.0}", js_sys::Date::now() - started));
        let _ = canvas.set_attribute("data-run-id", &run_id(result));
        match drawn {
            Ok(Some(grid)) => {
                if matches!(figure, Figure::LayerSweep | Figure::HeadGrid) {
                    let targets = click_targets(&grid, (canvas.width(), canvas.height()));
                    let _ = canvas.set_attribute("data-targets", &targets);
                }
                self.grids.borrow_mut().insert(figure, grid);
            }
            Ok(None) => {}
            Err(e) => self.error.set(Some(format!("{}: {e}", figure.id()))),
        }
    }
}

/// The run a result came from (`stats.run_id`), as the page's attributes carry it.
pub fn run_id(result: &RunResult) -> String {
    result
        .stats
        .as_ref()
        .and_then(|s| s.run_id)
        .map(|id| id.to_string())
        .unwrap_or_default()
}

/// A callback that sets `state` to what `f` makes of the event.
fn set_state<E: 'static, T: 'static>(state: &UseStateHandle<T>, f: impl Fn(E) -> T + 'static) -> Callback<E> {
    let state = state.clone();
    Callback::from(move |e: E| state.set(f(e)))
}

/// Saves every CSV table of the shown result.
fn save_csv(result: &ViewedResult) -> Result<(), String> {
    for (name, text) in csv_files(result) {
        save_text(&name, "text/csv", &text).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn save_json(result: &ViewedResult) -> Result<(), String> {
    let name = format!("qk-lens-result-L{}.json", result.layer);
    save_text(&name, "application/json", &result.to_json()).map_err(|e| e.to_string())
}

/// A click that saves the notebook repeating the run in Python (the whole run, whichever head
/// is shown), reporting a failure.
fn notebook_saver(props: &Props, report: &Callback<Result<(), String>>) -> Callback<MouseEvent> {
    let (run, model) = (props.result.clone(), props.model.clone());
    report.reform(move |_: MouseEvent| {
        let notebook = notebook_ipynb(&run, &model);
        save_text(&notebook_file_name(&run), "application/x-ipynb+json", &notebook).map_err(|e| e.to_string())
    })
}

/// The selectivities and RSA r of the shown view, in one line.
fn view_numbers(result: &ViewedResult) -> String {
    let v = result.v.as_ref().map(|v| format!(", V {}", fmt_opt(v.selectivity, 4)));
    format!(
        "selectivity Q {}, K {}{}; RSA r {}",
        fmt_opt(result.q.selectivity, 4),
        fmt_opt(result.k.selectivity, 4),
        v.unwrap_or_default(),
        fmt_opt(result.rsa.r, 4)
    )
}

/// The word pair under the pointer, with its two similarities.
fn pair_info(result: &ViewedResult, pair: Option<(usize, usize)>) -> Option<String> {
    let (i, j) = pair?;
    let w = &result.words;
    Some(format!(
        "{} × {}: Q {:.4}, K {:.4}",
        w[i].word, w[j].word, result.q.cosine[i][j], result.k.cosine[i][j]
    ))
}

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
    let refs: Canvases = use_memo((), |_| {
        Figure::ALL
            .iter()
            .chain(Figure::EXTENDED.iter())
            .map(|&f| (f, NodeRef::default()))
            .collect::<Vec<_>>()
    });
    let grids: Grids = use_mut_ref(HashMap::<Figure, HitMap>::new);
    let lecture_limits = use_state(|| false);
    let highlight = use_state(|| None::<(usize, usize)>);
    let grid_space = use_state(|| Space::Q);
    let error = use_state(|| None::<String>);
    let options = FigureOptions {
        lecture_limits: *lecture_limits,
        highlight: *highlight,
        head: props.head,
        grid_space: *grid_space,
        look: props.look,
    };
    use_drawn_figures(refs.clone(), grids.clone(), error.clone(), result.clone(), options);
    let report = {
        let error = error.clone();
        Callback::from(move |outcome: Result<(), String>| {
            if let Err(e) = outcome {
                error.set(Some(e));
            }
        })
    };
    let saving = |save: fn(&ViewedResult) -> Result<(), String>| {
        let result = result.clone();
        report.reform(move |_: MouseEvent| save(&result))
    };
    let grid_spaces = Figure::HeadGrid.available(&result).then_some(*grid_space);
    let card = Card {
        result: result.clone(),
        options,
        grids,
        highlight: highlight.clone(),
        head: props.head,
        on_select: props.on_select.clone(),
        report: report.clone(),
    };
    html! {
        <section class="panel figures-panel">
            <FigureToolbar lecture_limits={*lecture_limits} on_limits={set_state(&lecture_limits, |e: Event| checked(&e))}
                on_csv={saving(save_csv)} on_json={saving(save_json)} on_notebook={notebook_saver(props, &report)}
                n_head={props.result.model.n_head} head={props.head}
                on_head={props.on_head.reform(|e: Event| value(&e).parse::<usize>().ok())}
                grid_space={grid_spaces} on_space={set_state(&grid_space, |s: Space| s)}
                pair_info={pair_info(&result, *highlight)} />
            <ViewLine layer={props.result.layer} head={props.head} centered={view.centered}
                numbers={view_numbers(&result)} on_whole_layer={props.on_head.reform(|_| None)} />
            if let Some(e) = shown.as_ref().as_ref().err() { <div class="error">{ format!("This view cannot be shown: {e}") }</div> }
            if let Some(e) = &*error { <div class="error">{ format!("A figure could not be drawn or saved: {e}") }</div> }
            <div class="figures">
                { for refs.iter()
                    .filter(|(f, _)| f.available(&result) && props.only.as_ref().is_none_or(|only| only.contains(f)))
                    .map(|(figure, node)| figure_card(&card, *figure, node)) }
            </div>
        </section>
    }
}

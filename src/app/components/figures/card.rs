//! One figure on the page: its canvas (hover marks a word pair, a click on the sweep or head
//! grid selects a layer or head) and its PNG and SVG exports.

use std::rc::Rc;

use web_sys::{HtmlCanvasElement, MouseEvent};
use yew::prelude::*;

use crate::plots::figure::{figure_svg, Figure, FigureOptions};
use crate::result_view::ViewedResult;
use crate::web::download::{save_text, save_url};

use super::{canvas_xy, pair_under, Grids};

/// What every figure's card shares.
pub struct Card {
    pub result: Rc<ViewedResult>,
    pub options: FigureOptions,
    pub grids: Grids,
    pub highlight: UseStateHandle<Option<(usize, usize)>>,
    pub head: Option<usize>,
    pub on_select: Callback<(usize, Option<usize>)>,
    /// Where a failed export is said.
    pub report: Callback<Result<(), String>>,
}

impl Card {
    /// Marks the word pair under the pointer in every figure.
    fn on_move(&self, figure: Figure) -> Callback<MouseEvent> {
        let (grids, highlight) = (self.grids.clone(), self.highlight.clone());
        Callback::from(move |e: MouseEvent| {
            let cell = grids.borrow().get(&figure).and_then(|g| pair_under(&e, g));
            if cell != *highlight {
                highlight.set(cell);
            }
        })
    }

    /// A click on the layer sweep or the head grid selects that layer (and head).
    fn on_click(&self, figure: Figure) -> Callback<MouseEvent> {
        let (grids, on_select, head) = (self.grids.clone(), self.on_select.clone(), self.head);
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
    }

    fn on_png(&self, figure: Figure, node: &NodeRef) -> Callback<MouseEvent> {
        let node = node.clone();
        self.report.reform(move |_| {
            let url = node.cast::<HtmlCanvasElement>().and_then(|c| c.to_data_url().ok());
            let url = url.ok_or_else(|| "no canvas".to_string())?;
            save_url(&format!("{}.png", figure.id()), &url).map_err(|e| e.to_string())
        })
    }

    fn on_svg(&self, figure: Figure) -> Callback<MouseEvent> {
        let (result, options) = (self.result.clone(), self.options);
        self.report.reform(move |_| {
            let svg = figure_svg(figure, &*result, &options)?;
            save_text(&format!("{}.svg", figure.id()), "image/svg+xml", &svg).map_err(|e| e.to_string())
        })
    }
}

pub fn figure_card(card: &Card, figure: Figure, node: &NodeRef) -> Html {
    let (w, h) = figure.size_for(&card.result);
    let hoverable = matches!(
        figure,
        Figure::HeatmapQ | Figure::HeatmapK | Figure::HeatmapV | Figure::QkMatrix | Figure::RsaScatter
    );
    let clickable = matches!(figure, Figure::LayerSweep | Figure::HeadGrid);
    let on_leave = {
        let highlight = card.highlight.clone();
        Callback::from(move |_| highlight.set(None))
    };
    html! {
        <figure class="figure" key={figure.id()} id={format!("qk-figure-{}", figure.id())}>
            <canvas id={format!("qk-{}", figure.id())} ref={node.clone()} width={w.to_string()} height={h.to_string()}
                style={format!("--ar: {:.4}", w as f64 / h.max(1) as f64)}
                role="img" aria-label={crate::plots::describe::describe(figure, &card.result)}
                class={clickable.then_some("clickable")}
                onmousemove={hoverable.then(|| card.on_move(figure))} onmouseleave={hoverable.then_some(on_leave)}
                onclick={match (clickable, hoverable) {
                    (true, _) => Some(card.on_click(figure)),
                    // A tap on a phone marks the pair as hovering does.
                    (false, true) => Some(card.on_move(figure)),
                    _ => None,
                }}></canvas>
            <figcaption>
                <button class="link" onclick={card.on_png(figure, node)}>{ "PNG" }</button>
                <button class="link" onclick={card.on_svg(figure)}>{ "SVG" }</button>
            </figcaption>
        </figure>
    }
}

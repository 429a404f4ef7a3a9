//! The Q and K cosine heatmaps, drawn on canvas by the same code the native tests render to SVG.

use std::rc::Rc;

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::HtmlCanvasElement;
use yew::prelude::*;

use crate::plots::{draw_cosine_heatmap, ColourRange, HeatmapSpec};
use crate::result::RunResult;

#[derive(Properties, Clone)]
pub struct Props {
    pub result: Rc<RunResult>,
}

impl PartialEq for Props {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.result, &other.result)
    }
}

fn draw(canvas: &HtmlCanvasElement, result: &RunResult, q: bool) -> Result<(), String> {
    let backend = CanvasBackend::with_canvas_object(canvas.clone()).ok_or("no 2-D canvas context")?;
    let root = backend.into_drawing_area();
    let labels: Vec<String> = result.words.iter().map(|w| w.word.clone()).collect();
    let categories = result.experiment.labels();
    let (matrix, title) = if q {
        (&result.q.cosine, "Q cosine similarity")
    } else {
        (&result.k.cosine, "K cosine similarity")
    };
    let spec = HeatmapSpec {
        title,
        matrix,
        labels: &labels,
        categories: &categories,
        range: ColourRange::Auto,
        highlight: None,
    };
    draw_cosine_heatmap(&root, &spec)?;
    root.present().map_err(|e| e.to_string())
}

#[function_component(Figures)]
pub fn figures(props: &Props) -> Html {
    let q_ref = use_node_ref();
    let k_ref = use_node_ref();
    let error = use_state(|| None::<String>);
    {
        let (q_ref, k_ref, error) = (q_ref.clone(), k_ref.clone(), error.clone());
        use_effect_with(props.clone(), move |props| {
            for (node, is_q) in [(&q_ref, true), (&k_ref, false)] {
                if let Some(canvas) = node.cast::<HtmlCanvasElement>() {
                    if let Err(e) = draw(&canvas, &props.result, is_q) {
                        error.set(Some(e));
                    }
                }
            }
            || ()
        });
    }
    html! {
        <section class="panel figures">
            if let Some(e) = &*error { <div class="error">{ format!("A figure could not be drawn: {e}") }</div> }
            <canvas id="qk-heatmap-q" ref={q_ref} width="560" height="520"></canvas>
            <canvas id="qk-heatmap-k" ref={k_ref} width="560" height="520"></canvas>
        </section>
    }
}

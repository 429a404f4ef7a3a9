//! The head grid: two heatmaps side by side, rows the swept layers and columns the heads; left
//! the selectivity of one space (Q, K or V), right RSA r of Q vs K. The analysed layer's row is
//! outlined, and the selected head in it.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::colour_bar::draw_colour_bar_between;
use super::drawing::{drawing_error, ring, DrawResult};
use super::hits::{HeadCells, PixelRect};
use super::look::{font, paper};
use super::options::Space;
use super::palette::EMPTY_GREY;
use super::scale::{colour, extent};
use crate::analysis::sweep::HeadSummary;

pub struct HeadGridSpec<'a> {
    pub heads: &'a [HeadSummary],
    /// The space of the left heatmap.
    pub space: Space,
    /// The analysed layer (its row is outlined).
    pub analysed: usize,
    /// The selected head (its cell in the analysed row is outlined).
    pub selected: Option<usize>,
}

/// The layers present, ascending: the rows.
pub fn layers_of(heads: &[HeadSummary]) -> Vec<usize> {
    let mut layers: Vec<usize> = heads.iter().map(|h| h.layer).collect();
    layers.sort_unstable();
    layers.dedup();
    layers
}

/// Pixel size for `rows` layers: 18 pixels a row plus titles and labels, within 260..=960.
pub fn size(rows: usize) -> (u32, u32) {
    (900, (120 + 18 * rows as u32).clamp(260, 960))
}

/// The selectivity the left panel shows for one head, and its permutation p.
fn selectivity(h: &HeadSummary, space: Space) -> (Option<f64>, Option<f64>) {
    let s = match space {
        Space::Q => &h.q,
        Space::K => &h.k,
        Space::V => &h.v,
    };
    (s.selectivity, s.p)
}

/// Cells whose permutation p is below this get a dot.
pub const ALPHA: f64 = 0.05;

fn limits(values: &[Option<f64>]) -> (f64, f64) {
    extent(values.iter().flatten().copied())
}

struct Panel<'a> {
    title: String,
    /// values[row][head]
    values: &'a [Vec<Option<f64>>],
    /// Permutation p of each value, when tested.
    p: &'a [Vec<Option<f64>>],
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    layers: &[usize],
    heads: usize,
    outline: (Option<usize>, Option<usize>),
) -> Result<PixelRect, String> {
    let (rows, cols) = (layers.len(), heads);
    let flat: Vec<Option<f64>> = panel.values.iter().flatten().copied().collect();
    let (lo, hi) = limits(&flat);
    let (w, _) = area.dim_in_pixel();
    let (main, bar) = area.split_horizontally(w.saturating_sub(64));
    let mut chart = ChartBuilder::on(&main)
        .caption(&panel.title, font(14))
        .margin(6)
        .x_label_area_size(36)
        .y_label_area_size(40)
        .build_cartesian_2d(0f64..cols.max(1) as f64, 0f64..rows.max(1) as f64)
        .map_err(drawing_error)?;
    let y = |r: usize| (rows - r) as f64;
    chart
        .draw_series((0..rows).flat_map(|r| (0..cols).map(move |c| (r, c))).map(|(r, c)| {
            let fill = match panel.values[r].get(c).copied().flatten().filter(|v| v.is_finite()) {
                Some(v) => colour(v, lo, hi),
                None => EMPTY_GREY,
            };
            Rectangle::new([(c as f64, y(r)), (c as f64 + 1.0, y(r + 1))], fill.filled())
        }))
        .map_err(drawing_error)?;
    let plot = chart.plotting_area();
    let base = main.get_base_pixel();
    let px = |x: f64, y: f64| {
        let (a, b) = plot.map_coordinate(&(x, y));
        (a - base.0, b - base.1)
    };
    let step = cols.div_ceil(16).max(1);
    for c in (0..cols).step_by(step) {
        let (x, y0) = px(c as f64 + 0.5, 0.0);
        let style = font(11).pos(Pos::new(HPos::Center, VPos::Top));
        main.draw_text(&c.to_string(), &style, (x, y0 + 4)).map_err(drawing_error)?;
    }
    // Tested cells below ALPHA: a white dot with a black rim, visible on any colour.
    let significant = (0..rows)
        .flat_map(|r| (0..cols).map(move |c| (r, c)))
        .filter(|&(r, c)| panel.p[r].get(c).copied().flatten().is_some_and(|p| p < ALPHA));
    for (r, c) in significant {
        let at = px(c as f64 + 0.5, y(r) - 0.5);
        main.draw(&Circle::new(at, 3, WHITE.filled())).map_err(drawing_error)?;
        main.draw(&Circle::new(at, 3, BLACK.stroke_width(1))).map_err(drawing_error)?;
    }
    let (x_mid, y0) = px(cols as f64 / 2.0, 0.0);
    if panel.p.iter().flatten().any(Option::is_some) {
        let (x0, _) = px(0.0, 0.0);
        let note = font(10).pos(Pos::new(HPos::Left, VPos::Top));
        main.draw_text(&format!("○ p < {ALPHA}, per test"), &note, (x0 - 36, y0 + 20))
            .map_err(drawing_error)?;
    }
    let desc = font(12).pos(Pos::new(HPos::Center, VPos::Top));
    main.draw_text("Head", &desc, (x_mid, y0 + 18)).map_err(drawing_error)?;
    let row_px = (px(0.0, 0.0).1 - px(0.0, rows as f64).1) as f64 / rows.max(1) as f64;
    let row_step = (12.0 / row_px.max(1.0)).ceil().max(1.0) as usize;
    for r in (0..rows).step_by(row_step) {
        let (x0, yc) = px(0.0, y(r) - 0.5);
        let style = font(11).pos(Pos::new(HPos::Right, VPos::Center));
        main.draw_text(&format!("L{}", layers[r]), &style, (x0 - 4, yc))
            .map_err(drawing_error)?;
    }
    draw_outline(&main, &px, rows, cols, outline)?;
    draw_colour_bar_between(&bar, lo, hi, (26, 42))?;
    let (xr, yr) = plot.get_pixel_range();
    Ok([(xr.start, yr.start), (xr.end, yr.end)])
}

/// The analysed layer's row outlined in black, and the selected head's cell in it in red.
fn draw_outline<DB: DrawingBackend>(
    main: &DrawingArea<DB, Shift>,
    px: &dyn Fn(f64, f64) -> (i32, i32),
    rows: usize,
    cols: usize,
    outline: (Option<usize>, Option<usize>),
) -> DrawResult {
    let y = |r: usize| (rows - r) as f64;
    if let Some(r) = outline.0 {
        let (a, b) = (px(0.0, y(r)), px(cols as f64, y(r + 1)));
        main.draw(&PathElement::new(ring(a, b, 1), BLACK.stroke_width(2)))
            .map_err(drawing_error)?;
        if let Some(c) = outline.1.filter(|&c| c < cols) {
            let (a, b) = (px(c as f64, y(r)), px(c as f64 + 1.0, y(r + 1)));
            main.draw(&PathElement::new(ring(a, b, 1), RED.stroke_width(3)))
                .map_err(drawing_error)?;
            main.draw(&PathElement::new(ring(a, b, -1), WHITE.stroke_width(1)))
                .map_err(drawing_error)?;
        }
    }
    Ok(())
}

/// Draws both heatmaps; returns where their cells are.
pub fn draw_head_grid<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, spec: &HeadGridSpec) -> Result<HeadCells, String> {
    area.fill(&paper()).map_err(drawing_error)?;
    let layers = layers_of(spec.heads);
    let heads = spec.heads.iter().map(|h| h.head + 1).max().unwrap_or(0);
    let mut sel = vec![vec![None; heads]; layers.len()];
    let (mut r, mut sel_p, mut r_p) = (sel.clone(), sel.clone(), sel.clone());
    for h in spec.heads {
        let row = layers.iter().position(|&l| l == h.layer).unwrap_or(0);
        (sel[row][h.head], sel_p[row][h.head]) = selectivity(h, spec.space);
        (r[row][h.head], r_p[row][h.head]) = (h.rsa.r, h.rsa.p);
    }
    let outline = (layers.iter().position(|&l| l == spec.analysed), spec.selected);
    let (w, _) = area.dim_in_pixel();
    let (left, right) = area.split_horizontally(w / 2);
    let name = spec.space.name();
    let panels = [
        Panel {
            title: format!("{name} selectivity by layer and head"),
            values: &sel,
            p: &sel_p,
        },
        Panel {
            title: "RSA r (Q vs K) by layer and head".into(),
            values: &r,
            p: &r_p,
        },
    ];
    let a = draw_panel(&left, &panels[0], &layers, heads, outline)?;
    let b = draw_panel(&right, &panels[1], &layers, heads, outline)?;
    Ok(HeadCells {
        layers,
        heads,
        panels: vec![a, b],
    })
}

//! The drawing code, rendered natively to SVG from golden data.

use crate::common::*;
use plotters::style::colors::colormaps::{ColorMap, ViridisRGB};
use qk_lens::plots::{draw_cosine_heatmap, to_svg, ColourRange, HeatmapSpec};

fn lecture_heatmap(range: ColourRange) -> (String, usize) {
    let g = golden("tiny-gpt2-hub.L1");
    let cq = matrix(&g["CQ"]);
    let words: Vec<String> = serde_json::from_value(g["words"].clone()).unwrap();
    let labels: Vec<usize> = serde_json::from_value(g["labels"].clone()).unwrap();
    let spec = HeatmapSpec {
        title: "Q cossim matrix",
        matrix: &cq,
        labels: &words,
        categories: &labels,
        range,
        highlight: None,
    };
    let svg = to_svg((560, 520), |area| draw_cosine_heatmap(area, &spec)?.paint_as_rectangles(area)).unwrap();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("plots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("heatmap-q.svg"), &svg).unwrap();
    (svg, words.len())
}

#[test]
fn heatmap_draws_every_cell_label_and_title() {
    let (svg, n) = lecture_heatmap(ColourRange::Auto);
    assert!(svg.contains("Q cossim matrix"));
    for word in ["galaxy", "ceiling", "fruit", "wall"] {
        // Each word labels a row and a column.
        assert!(svg.matches(&format!("\n{word}\n</text>")).count() >= 2, "label {word}");
    }
    // n*n cells plus the 64 colour-bar steps, as filled rectangles.
    let rects = svg.matches("<rect").count();
    assert!(rects >= n * n + 64, "{rects} rects for {n} words");
}

/// The SVG attribute of a rectangle filled with `c`.
fn fill(c: plotters::style::RGBColor) -> String {
    format!("fill=\"#{:02X}{:02X}{:02X}\"", c.0, c.1, c.2)
}

#[test]
fn fixed_limits_clip_like_imshow() {
    // The lecture's Q limits: values above 0.85 take the top colour, values below 0.6 the bottom
    // one, as imshow clips them. For this fixture 320 cells are above (the 34 diagonal cells
    // among them) and 14 below; a renderer that ignored the limits would give each extreme colour
    // to one cell only.
    let cq = matrix(&golden("tiny-gpt2-hub.L1")["CQ"]);
    let (svg, n) = lecture_heatmap(ColourRange::Fixed(0.6, 0.85));
    let above = cq.iter().flatten().filter(|&&v| v >= 0.85).count();
    let below = cq.iter().flatten().filter(|&&v| v <= 0.6).count();
    assert_eq!((above, below), (320, 14), "the fixture's cells above and below the limits");
    // The cells are the last n² rectangles (painted after the frame and the colour bar).
    let rects: Vec<&str> = svg.lines().filter(|l| l.trim_start().starts_with("<rect")).collect();
    assert!(rects.len() >= n * n);
    let cells = &rects[rects.len() - n * n..];
    let (top, bottom) = (ViridisRGB.get_color(1.0f32), ViridisRGB.get_color(0.0f32));
    let coloured = |c: plotters::style::RGBColor, keep: &dyn Fn(f64) -> bool| {
        let cq = &cq;
        cells
            .iter()
            .enumerate()
            .filter(|&(k, r)| keep(cq[k / n][k % n]) && r.contains(&fill(c)))
            .count()
    };
    assert_eq!(
        coloured(top, &|v| v >= 0.85),
        320,
        "the cells above 0.85 in the top colour {}",
        fill(top)
    );
    assert_eq!(
        coloured(bottom, &|v| v <= 0.6),
        14,
        "the cells below 0.6 in the bottom colour {}",
        fill(bottom)
    );
    // Four cells just under the limit (0.8497..0.8499) round to the top colour too.
    assert_eq!(coloured(top, &|_| true), 324, "cells in the top colour");
    assert_eq!(coloured(bottom, &|_| true), 14, "cells in the bottom colour");
    // And each cell between the limits its own colour, row by row.
    for (k, rect) in cells.iter().enumerate() {
        let v = cq[k / n][k % n];
        let want = ViridisRGB.get_color_normalized(v.clamp(0.6, 0.85) as f32, 0.6, 0.85);
        assert!(rect.contains(&fill(want)), "cell ({}, {}) = {v}: {rect}", k / n, k % n);
    }
    let spec = HeatmapSpec {
        title: "",
        matrix: &[vec![1.0, 0.2], vec![0.2, 1.0]],
        labels: &[],
        categories: &[],
        range: ColourRange::Auto,
        highlight: None,
    };
    let (lo, hi) = spec.limits();
    assert!(
        (lo + 0.3).abs() < 1e-12 && (hi - 0.7).abs() < 1e-12,
        "a constant off-diagonal gets a unit range around it: {lo}..{hi}"
    );
}

/// 260 words in a 560-pixel heatmap (cells of ~1.7 pixels; 520 words run in the browser test):
/// the labels thin out (every k-th word, evenly) instead of overlapping; the 34 lecture words
/// all keep theirs (above).
#[test]
fn labels_thin_out_when_cells_are_smaller_than_a_label() {
    let n = 260;
    let words: Vec<String> = (0..n).map(|i| format!("w{i}x")).collect();
    let categories: Vec<usize> = (0..n).map(|i| 1 + i * 3 / n).collect();
    let matrix: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    if i == j {
                        1.0
                    } else {
                        0.5 + ((i * 7 + j * 3) % 40) as f64 / 100.0
                    }
                })
                .collect()
        })
        .collect();
    let spec = HeatmapSpec {
        title: "Q",
        matrix: &matrix,
        labels: &words,
        categories: &categories,
        range: ColourRange::Auto,
        highlight: None,
    };
    let svg = to_svg((560, 520), |area| draw_cosine_heatmap(area, &spec)?.paint_as_rectangles(area)).unwrap();
    let shown: Vec<usize> = (0..n).filter(|i| svg.contains(&format!("\nw{i}x\n</text>"))).collect();
    assert!(shown.len() >= 20 && shown.len() <= 50, "{} of {n} labels", shown.len());
    assert_eq!(shown[0], 0);
    let step = shown[1] - shown[0];
    assert!(shown.windows(2).all(|w| w[1] - w[0] == step), "evenly thinned: {shown:?}");
}

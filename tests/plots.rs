//! The drawing code, rendered natively to SVG from golden data.

mod common;

use common::*;
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
    let svg = to_svg((560, 520), |area| draw_cosine_heatmap(area, &spec).map(|_| ())).unwrap();
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

#[test]
fn fixed_limits_clip_like_imshow() {
    // With the lecture's Q limits every value above 0.85 (the diagonal) takes the top colour.
    let spec_top = ColourRange::Fixed(0.6, 0.85);
    let (svg, _) = lecture_heatmap(spec_top);
    let top = ViridisRGB.get_color(1.0f32);
    let top = format!("#{:02X}{:02X}{:02X}", top.0, top.1, top.2);
    assert!(
        svg.matches(&format!("fill=\"{top}\"")).count() >= 34,
        "the diagonal is drawn in the top colour {top}"
    );
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

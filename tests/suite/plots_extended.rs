//! The figures beyond the lecture (V heatmap, layer sweep, head grid, Q·K matrix, PCA map, null
//! distributions), drawn from a real result of the fixture model with every extended analysis,
//! through the dispatch point the page and the exports use; their hit maps; and the lecture's
//! figures with and without V. The SVGs are kept in CARGO_TARGET_TMPDIR/plots-extended.

use std::sync::OnceLock;

use crate::common::*;
use qk_lens::analysis::report::{ExtendedOptions, StatOptions};
use qk_lens::plots::figure::{draw_figure, figure_svg, Figure, FigureOptions, HitMap, Space};
use qk_lens::plots::to_svg;
use qk_lens::RunResult;

const LAYER: usize = 2;

/// The lecture's result of the fixture model at layer 2 (the sweep golden's words).
fn lecture() -> &'static RunResult {
    static R: OnceLock<RunResult> = OnceLock::new();
    R.get_or_init(|| {
        let mut exp = experiment_of(&golden("tiny-gpt2-hub.sweep"));
        exp.layer = LAYER;
        run_model("tiny-gpt2-hub", &exp).unwrap()
    })
}

/// The same run with every analysis beyond the lecture, as the CLI makes it with
/// `--all-layers --heads --v --qk --pca --permutations 99 --seed 7`.
fn extended() -> &'static RunResult {
    static R: OnceLock<RunResult> = OnceLock::new();
    R.get_or_init(|| {
        let mut exp = experiment_of(&golden("tiny-gpt2-hub.sweep"));
        exp.layer = LAYER;
        let options = ExtendedOptions {
            all_layers: true,
            heads: true,
            v: true,
            qk: true,
            center: false,
            pca: true,
            statistics: Some(StatOptions {
                permutations: 99,
                bootstrap: 99,
                seed: 7,
                confidence: 0.95,
            }),
        };
        run_with_options("tiny-gpt2-hub", &exp, &options).0
    })
}

fn save(name: &str, svg: &str) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("plots-extended");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), svg).unwrap();
}

fn svg_of(figure: Figure, result: &RunResult, options: &FigureOptions) -> String {
    let svg = figure_svg(figure, result, options).unwrap_or_else(|e| panic!("{}: {e}", figure.id()));
    save(&format!("{}.svg", figure.id()), &svg);
    svg
}

/// The text elements' contents (plotters writes each on its own line).
fn has_text(svg: &str, s: &str) -> bool {
    svg.contains(&format!("\n{s}\n</text>"))
}

fn hits(figure: Figure, result: &RunResult, options: &FigureOptions) -> HitMap {
    let mut hits = None;
    to_svg(figure.size_for(result), |area| {
        hits = draw_figure(area, figure, result, options)?.hits;
        Ok(())
    })
    .unwrap();
    hits.unwrap_or_else(|| panic!("{} reports a hit map", figure.id()))
}

fn hex(c: plotters::style::RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

#[test]
fn ids_list_and_availability() {
    let ids: Vec<&str> = Figure::EXTENDED.iter().map(|f| f.id()).collect();
    assert_eq!(
        ids,
        [
            "heatmap-v",
            "layer-sweep",
            "head-grid",
            "qk-matrix",
            "pca-map",
            "null-distributions"
        ]
    );
    assert_eq!(Figure::ALL.len(), 7);
    for f in Figure::ALL {
        assert!(f.available(lecture()) && f.available(extended()), "{}", f.id());
    }
    for f in Figure::EXTENDED {
        assert!(!f.available(lecture()), "{}: a lecture result has no data for it", f.id());
        assert!(f.available(extended()), "{}", f.id());
        let err = figure_svg(f, lecture(), &FigureOptions::default()).unwrap_err();
        assert!(err.contains(f.id()), "{err}");
    }
    let o = FigureOptions::default();
    assert_eq!(
        (o.lecture_limits, o.highlight, o.head, o.grid_space),
        (false, None, None, Space::Q)
    );
}

/// The value of attribute `key` of an SVG element written on one line.
fn attr<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = &line[line.find(&format!(" {key}=\""))? + key.len() + 3..];
    Some(&rest[..rest.find('"')?])
}

/// Centres (cx, cy) of the circles drawn with `stroke`.
fn circles(svg: &str, stroke: &str) -> Vec<(f64, f64)> {
    svg.lines()
        .filter(|l| l.trim_start().starts_with("<circle") && l.contains(&format!("stroke=\"{stroke}\"")))
        .filter_map(|l| Some((attr(l, "cx")?.parse().ok()?, attr(l, "cy")?.parse().ok()?)))
        .collect()
}

#[test]
fn layer_sweep_draws_both_panels_and_finds_layers() {
    let r = extended();
    let options = FigureOptions::default();
    let svg = svg_of(Figure::LayerSweep, r, &options);
    for t in [
        "Selectivity (within / across) by layer",
        "RSA r (Q vs K) by layer",
        "Layer",
        "Q",
        "K",
        "V",
        "p &lt; 0.05",
        "p ≥ 0.05",
        &format!("analysed layer {LAYER}"),
    ] {
        assert!(has_text(&svg, t), "text {t:?}");
    }
    let HitMap::Layers(columns) = hits(Figure::LayerSweep, r, &options) else {
        panic!("layer columns expected")
    };
    let layers = r.layers.as_ref().unwrap();
    assert_eq!(columns.layers, (0..4).collect::<Vec<_>>());
    assert_eq!(columns.panels.len(), 2);
    // Each Q point (and its legend-free markers) lies in its layer's column, in the top panel;
    // the RSA points in the bottom one.
    let q_points = circles(&svg, &hex(qk_lens::plots::palette::Q_COLOUR));
    assert_eq!(q_points.len(), layers.len(), "one Q marker per layer");
    let mut q_points = q_points;
    q_points.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (l, &(x, y)) in q_points.iter().enumerate() {
        assert_eq!(columns.layer_at(x, y), Some(l), "Q point of layer {l}");
        // The whole column, at the top and bottom of both panels.
        for p in &columns.panels {
            assert_eq!(columns.layer_at(x, p[0].1 as f64 + 1.0), Some(l));
            assert_eq!(columns.layer_at(x, p[1].1 as f64 - 1.0), Some(l));
        }
        // Centred on the column: half a column either side stays in it.
        let w = (columns.panels[0][1].0 - columns.panels[0][0].0) as f64 / 4.0;
        assert_eq!(columns.layer_at(x - 0.45 * w, y), Some(l));
        assert_eq!(columns.layer_at(x + 0.45 * w, y), Some(l));
    }
    let hit = HitMap::Layers(columns.clone());
    let (top, bottom) = (columns.panels[0], columns.panels[1]);
    assert_eq!(hit.layer_at(q_points[1].0, (bottom[0].1 + bottom[1].1) as f64 / 2.0), Some(1));
    assert_eq!(hit.layer_at(top[0].0 as f64 - 3.0, q_points[0].1), None, "left of the axes");
    assert_eq!(hit.layer_at(top[1].0 as f64 + 3.0, q_points[0].1), None, "right of the axes");
    assert_eq!(
        hit.layer_at(q_points[0].0, top[0].1 as f64 - 3.0),
        None,
        "above the top panel"
    );
    assert_eq!(
        hit.layer_at(q_points[0].0, bottom[1].1 as f64 + 3.0),
        None,
        "below the bottom panel"
    );
    assert_eq!(hit.pair_at(q_points[0].0, q_points[0].1), None);
    assert_eq!(hit.head_at(q_points[0].0, q_points[0].1), None);
    // Filled markers are exactly the points with p < 0.05.
    let significant = layers.iter().filter(|l| l.q.p.is_some_and(|p| p < 0.05)).count();
    let filled = svg
        .lines()
        .filter(|l| l.contains("<circle") && l.contains(&format!("fill=\"{}\"", hex(qk_lens::plots::palette::Q_COLOUR))))
        .count();
    assert_eq!(filled, significant, "filled Q markers");
}

#[test]
fn head_grid_draws_two_heatmaps_and_finds_heads() {
    let r = extended();
    let options = FigureOptions {
        head: Some(1),
        ..Default::default()
    };
    let svg = svg_of(Figure::HeadGrid, r, &options);
    for t in [
        "Q selectivity by layer and head",
        "RSA r (Q vs K) by layer and head",
        "Head",
        "L0",
        "L3",
    ] {
        assert!(has_text(&svg, t), "text {t:?}");
    }
    assert!(svg.contains("stroke=\"#FF0000\""), "the selected head is outlined");
    let k = figure_svg(
        Figure::HeadGrid,
        r,
        &FigureOptions {
            grid_space: Space::K,
            ..options
        },
    )
    .unwrap();
    assert!(has_text(&k, "K selectivity by layer and head"));
    let none = figure_svg(Figure::HeadGrid, r, &FigureOptions::default()).unwrap();
    assert!(!none.contains("stroke=\"#FF0000\""), "no head selected, no head outline");
    // A dot on each tested cell with p < 0.05, in both heatmaps.
    let heads = r.heads.as_ref().unwrap();
    let significant = heads.iter().filter(|h| h.q.p.is_some_and(|p| p < 0.05)).count()
        + heads.iter().filter(|h| h.rsa.p.is_some_and(|p| p < 0.05)).count();
    let dots = svg
        .lines()
        .filter(|l| l.contains("<circle") && l.contains("r=\"3\"") && l.contains("fill=\"#FFFFFF\""))
        .count();
    assert!(significant > 0, "the fixture has significant heads");
    assert_eq!(dots, significant, "dots on the cells with p < 0.05");
    assert!(has_text(&svg, "○ p &lt; 0.05, per test"));
    let hit = hits(Figure::HeadGrid, r, &options);
    let HitMap::HeadCells(cells) = &hit else {
        panic!("head cells expected")
    };
    assert_eq!(
        (cells.layers.clone(), cells.heads, cells.panels.len()),
        (vec![0, 1, 2, 3], 4, 2)
    );
    for p in &cells.panels {
        let (w, h) = ((p[1].0 - p[0].0) as f64 / 4.0, (p[1].1 - p[0].1) as f64 / 4.0);
        for row in 0..4 {
            for head in 0..4 {
                let (x, y) = (
                    p[0].0 as f64 + (head as f64 + 0.5) * w,
                    p[0].1 as f64 + (row as f64 + 0.5) * h,
                );
                assert_eq!(hit.head_at(x, y), Some((row, head)), "row {row} head {head}");
            }
        }
        assert_eq!(hit.head_at(p[0].0 as f64 - 2.0, p[0].1 as f64 + 2.0), None);
        assert_eq!(hit.head_at(p[1].0 as f64 + 1.0, p[0].1 as f64 + 2.0), None);
        assert_eq!(hit.head_at(p[0].0 as f64 + 2.0, p[1].1 as f64 + 1.0), None);
    }
    assert_eq!(
        hit.layer_at(cells.panels[0][0].0 as f64 + 2.0, cells.panels[0][0].1 as f64 + 2.0),
        None
    );
    assert!(
        cells.panels[0][1].0 < cells.panels[1][0].0,
        "left panel left of the right one"
    );
    assert_eq!(Figure::HeadGrid.size_for(r), (900, 260));
}

/// (x, y, fill) of every `<rect>`.
fn rects(svg: &str) -> Vec<(f64, f64, String)> {
    svg.lines()
        .filter(|l| l.trim_start().starts_with("<rect"))
        .filter_map(|l| {
            Some((
                attr(l, "x")?.parse().ok()?,
                attr(l, "y")?.parse().ok()?,
                attr(l, "fill")?.to_string(),
            ))
        })
        .collect()
}

#[test]
fn qk_matrix_draws_the_selected_head_and_finds_query_key_cells() {
    use plotters::style::colors::colormaps::{ColorMap, ViridisRGB};
    let r = extended();
    let options = FigureOptions {
        head: Some(1),
        ..Default::default()
    };
    let svg = svg_of(Figure::QkMatrix, r, &options);
    let head = &r.qk.as_ref().unwrap()[1];
    assert_eq!((head.layer, head.head), (LAYER, 1));
    assert!(has_text(&svg, "Q·K/√d, layer 2 head 1 (rows: queries, columns: keys)"));
    let means = format!(
        "within-category mean {:.3}, across {:.3} (i ≠ j)",
        head.within_mean.unwrap(),
        head.across_mean.unwrap()
    );
    assert!(has_text(&svg, &means), "{means}");
    let head0 = figure_svg(Figure::QkMatrix, r, &FigureOptions::default()).unwrap();
    assert!(
        has_text(&head0, "Q·K/√d, layer 2 head 0 (rows: queries, columns: keys)"),
        "head 0 by default"
    );
    let err = figure_svg(
        Figure::QkMatrix,
        r,
        &FigureOptions {
            head: Some(99),
            ..options
        },
    )
    .unwrap_err();
    assert!(err.contains("no head 99"), "{err}");

    let hit = hits(Figure::QkMatrix, r, &options);
    let HitMap::QkCells(grid) = &hit else {
        panic!("Q·K cells expected")
    };
    let n = r.words.len();
    assert_eq!(grid.n, n);
    let (w, h) = (
        (grid.bottom_right.0 - grid.top_left.0) as f64 / n as f64,
        (grid.bottom_right.1 - grid.top_left.1) as f64 / n as f64,
    );
    let centre = |i: usize, j: usize| {
        (
            grid.top_left.0 as f64 + (j as f64 + 0.5) * w,
            grid.top_left.1 as f64 + (i as f64 + 0.5) * h,
        )
    };
    let (x, y) = centre(3, 5);
    assert_eq!(hit.cell_at(x, y), Some((3, 5)), "row = query, column = key");
    assert_eq!(hit.pair_at(x, y), Some((3, 5)));
    let (x, y) = centre(4, 4);
    assert_eq!(hit.cell_at(x, y), Some((4, 4)), "the diagonal is a cell of its own");
    assert_eq!(hit.pair_at(x, y), None, "but no word pair");
    assert_eq!(hit.cell_at(grid.top_left.0 as f64 - 2.0, y), None);
    // Not symmetric: cells (3, 5) and (5, 3) take the colours of their own scores.
    let (lo, hi) = qk_lens::plots::qk_matrix::qk_limits(&head.scores);
    let cells = rects(&svg);
    for (i, j) in [(3, 5), (5, 3)] {
        let (x0, y0) = (grid.top_left.0 as f64 + j as f64 * w, grid.top_left.1 as f64 + i as f64 * h);
        let fill = &cells
            .iter()
            .find(|(x, y, _)| (x - x0).abs() <= 1.0 && (y - y0).abs() <= 1.0)
            .unwrap_or_else(|| panic!("a cell at ({i}, {j})"))
            .2;
        let c = ViridisRGB.get_color_normalized(head.scores[i][j] as f32, lo as f32, hi as f32);
        assert_eq!(fill, &hex(c), "cell ({i}, {j})");
    }
}

#[test]
fn pca_map_draws_a_labelled_panel_per_space() {
    let r = extended();
    let options = FigureOptions::default();
    let svg = svg_of(Figure::PcaMap, r, &options);
    let pca = r.pca.as_ref().unwrap();
    for (name, p) in [("Q", &pca.q), ("K", &pca.k), ("V", &pca.v)] {
        let p = p.as_ref().unwrap();
        assert!(has_text(&svg, &format!("{name} (PCA)")), "{name} panel");
        let [a, b] = p.explained_variance_ratio;
        for t in [format!("PC1 ({:.1} %)", 100.0 * a), format!("PC2 ({:.1} %)", 100.0 * b)] {
            assert!(has_text(&svg, &t), "{name}: axis title {t}");
        }
    }
    for w in &r.words {
        assert!(
            svg.matches(&format!("\n{}\n</text>", w.word)).count() >= 3,
            "{} labelled in each panel",
            w.word
        );
    }
    for name in r.experiment.category_names() {
        assert!(has_text(&svg, &name), "legend entry {name}");
    }
    let picked = figure_svg(
        Figure::PcaMap,
        r,
        &FigureOptions {
            highlight: Some((3, 20)),
            ..options
        },
    )
    .unwrap();
    let rings = |svg: &str| svg.matches("stroke=\"#FF0000\"").count();
    assert_eq!(
        rings(&picked),
        rings(&svg) + 6,
        "the picked pair's two words ringed in each panel"
    );
    let mut no_v = r.clone();
    no_v.pca.as_mut().unwrap().v = None;
    let svg = figure_svg(Figure::PcaMap, &no_v, &options).unwrap();
    assert!(
        has_text(&svg, "K (PCA)") && !has_text(&svg, "V (PCA)"),
        "a missing map is skipped"
    );
    assert_eq!(Figure::PcaMap.size_for(&no_v), (640, 360));
    assert_eq!(Figure::PcaMap.size_for(r), (960, 360));
}

#[test]
fn null_distributions_show_each_test_with_its_observed_value() {
    use qk_lens::plots::null_distributions::{format_confidence, stat_title};
    assert_eq!(
        stat_title("Q selectivity", Some(1.0834), Some(0.001), Some([1.05, 1.12]), 0.95),
        "Q selectivity 1.083, p = 0.001, 95% CI [1.050, 1.120]"
    );
    assert_eq!(stat_title("RSA r", None, None, None, 0.9), "RSA r n/a, p = n/a, 90% CI n/a");
    assert_eq!(format_confidence(0.975), "97.5%");
    let r = extended();
    let s = r.statistics.as_ref().unwrap();
    let svg = svg_of(Figure::NullDistributions, r, &FigureOptions::default());
    let title = |what: &str, v: Option<f64>, p: Option<f64>, ci: Option<[f64; 2]>| {
        let [a, b] = ci.unwrap();
        format!("{what} {:.3}, p = {:.3}, 95% CI [{a:.3}, {b:.3}]", v.unwrap(), p.unwrap())
    };
    let (pe, sp) = (&s.rsa.pearson, &s.rsa.spearman);
    for t in [
        title(
            "Q selectivity",
            s.q.selectivity.observed,
            s.q.selectivity.p,
            s.q.selectivity.ci,
        ),
        title(
            "K selectivity",
            s.k.selectivity.observed,
            s.k.selectivity.p,
            s.k.selectivity.ci,
        ),
        title(
            "V selectivity",
            s.v.selectivity.observed,
            s.v.selectivity.p,
            s.v.selectivity.ci,
        ),
        title("RSA r", pe.r, pe.p, pe.ci),
        title("Spearman ρ", sp.rho, sp.p, sp.ci),
        "99 permutations, seed 7".to_string(),
        format!("Null distributions, layer {LAYER}"),
    ] {
        assert!(has_text(&svg, &t), "text {t:?}");
    }
    // The observed values agree with the lecture's numbers of the same layer.
    assert_eq!(s.q.selectivity.observed, r.q.selectivity);
    // One bar per null bin in each of the five panels, one observed line each.
    let bins: usize = [
        &s.q.selectivity.null_histogram,
        &s.k.selectivity.null_histogram,
        &s.v.selectivity.null_histogram,
        &pe.null_histogram,
        &sp.null_histogram,
    ]
    .iter()
    .map(|h| h.counts.len())
    .sum();
    assert!(svg.matches("<rect").count() >= bins, "bars");
    let observed_lines = svg
        .lines()
        .filter(|l| l.contains("<polyline") && l.contains("stroke=\"#000000\"") && l.contains("stroke-width=\"2\""))
        .count();
    assert_eq!(observed_lines, 5, "an observed line per panel");
}

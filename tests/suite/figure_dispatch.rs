//! Every figure drawn from a real result through the one dispatch point the page and the exports
//! use; hover hit-testing and pair indexing; V in the lecture's figures when the run has it.

use crate::common::*;
use qk_lens::analysis::report::ExtendedOptions;
use qk_lens::analysis::upper_triangle;
use qk_lens::plots::figure::{draw_figure, figure_svg, pair_index, Figure, FigureOptions, HitMap};
use qk_lens::plots::palette::V_COLOUR;
use qk_lens::plots::to_svg;
use qk_lens::RunResult;

#[test]
fn every_figure_renders_from_a_result() {
    let result = run_model("tiny-gpt2-hub", &experiment_of(&golden("tiny-gpt2-hub.L1"))).unwrap();
    let options = FigureOptions {
        lecture_limits: false,
        highlight: None,
        ..Default::default()
    };
    for figure in Figure::ALL {
        let svg = figure_svg(figure, &result, &options).unwrap_or_else(|e| panic!("{}: {e}", figure.id()));
        assert!(
            svg.len() > 2000 && svg.contains("<svg"),
            "{} drew almost nothing",
            figure.id()
        );
    }
    let scatter = figure_svg(Figure::RsaScatter, &result, &options).unwrap();
    assert!(scatter.contains("r = 0.824"), "the RSA title carries r");
}

#[test]
fn a_picked_pair_is_marked_in_the_scatters() {
    let result = run_model("tiny-gpt2-hub", &experiment_of(&golden("tiny-gpt2-hub.L1"))).unwrap();
    let plain = FigureOptions {
        lecture_limits: true,
        highlight: None,
        ..Default::default()
    };
    let picked = FigureOptions {
        lecture_limits: true,
        highlight: Some((3, 20)),
        ..Default::default()
    };
    for figure in [Figure::RsaScatter, Figure::RsaPerCategory] {
        let a = figure_svg(figure, &result, &plain).unwrap();
        let b = figure_svg(figure, &result, &picked).unwrap();
        assert_eq!(
            a.matches("<circle").count() + if figure == Figure::RsaScatter { 2 } else { 6 },
            b.matches("<circle").count(),
            "{}: two rings per panel",
            figure.id()
        );
    }
}

#[test]
fn heatmap_cells_are_found_under_the_pointer() {
    let result = run_model("tiny-gpt2-hub", &experiment_of(&golden("tiny-gpt2-hub.L1"))).unwrap();
    let options = FigureOptions {
        lecture_limits: false,
        highlight: None,
        ..Default::default()
    };
    let mut grid = None;
    to_svg(Figure::HeatmapQ.size(3), |area| {
        grid = draw_figure(area, Figure::HeatmapQ, &result, &options)?.hits;
        Ok(())
    })
    .unwrap();
    let grid = match grid.expect("a heatmap reports its cells") {
        HitMap::Cells(grid) => grid,
        other => panic!("a heatmap's hit map is its cells, got {other:?}"),
    };
    assert_eq!(grid.n, 34);
    let (x0, y0) = (grid.top_left.0 as f64, grid.top_left.1 as f64);
    let cell_w = (grid.bottom_right.0 - grid.top_left.0) as f64 / 34.0;
    let cell_h = (grid.bottom_right.1 - grid.top_left.1) as f64 / 34.0;
    assert_eq!(grid.cell_at(x0 + 0.5 * cell_w, y0 + 0.5 * cell_h), Some((0, 0)));
    assert_eq!(
        grid.cell_at(x0 + 20.5 * cell_w, y0 + 3.5 * cell_h),
        Some((3, 20)),
        "x is the column, y the row"
    );
    assert_eq!(grid.cell_at(x0 - 2.0, y0 + 1.0), None, "left of the grid");
    assert_eq!(grid.cell_at(x0 + 34.5 * cell_w, y0), None, "right of the grid");
}

#[test]
fn pair_index_follows_the_upper_triangle_order() {
    let m: Vec<Vec<f64>> = (0..5).map(|i| (0..5).map(|j| (10 * i + j) as f64).collect()).collect();
    let upper = upper_triangle(&m);
    for i in 0..5 {
        for j in 0..5 {
            match pair_index(5, i, j) {
                Some(p) => assert_eq!(upper[p], m[i.min(j)][i.max(j)], "pair ({i}, {j})"),
                None => assert_eq!(i, j, "only the diagonal has no pair"),
            }
        }
    }
    assert_eq!(pair_index(5, 0, 5), None);
}

#[test]
fn scatter_points_are_found_under_the_pointer() {
    let result = run_model("tiny-gpt2-hub", &experiment_of(&golden("tiny-gpt2-hub.L1"))).unwrap();
    let options = FigureOptions {
        lecture_limits: false,
        highlight: None,
        ..Default::default()
    };
    let mut hits = None;
    to_svg(Figure::RsaScatter.size(3), |area| {
        hits = draw_figure(area, Figure::RsaScatter, &result, &options)?.hits;
        Ok(())
    })
    .unwrap();
    let hits = hits.expect("the scatter reports its points");
    let HitMap::Points { n, points } = &hits else {
        panic!("points expected")
    };
    assert_eq!((*n, points.len()), (34, 561));
    // The pair with the lowest Q similarity is the leftmost point.
    let upper = upper_triangle(&result.q.cosine);
    let lowest = (0..upper.len()).min_by(|&a, &b| upper[a].total_cmp(&upper[b])).unwrap();
    let leftmost = (0..points.len()).min_by_key(|&p| points[p].0).unwrap();
    assert_eq!(lowest, leftmost);
    let (x, y) = points[pair_index(34, 3, 20).unwrap()];
    assert_eq!(
        hits.pair_at(x as f64 + 1.0, y as f64 - 1.0),
        Some((3, 20)),
        "a point just off-centre is still picked"
    );
    assert_eq!(hits.pair_at(-50.0, -50.0), None);
}

/// The L1 golden run with V (`--v`), and the same run without.
fn with_and_without_v() -> (RunResult, RunResult) {
    let exp = experiment_of(&golden("tiny-gpt2-hub.L1"));
    let options = ExtendedOptions {
        v: true,
        ..Default::default()
    };
    let with = run_with_options("tiny-gpt2-hub", &exp, &options).0;
    let mut without = with.clone();
    without.v = None;
    without.options = None;
    (with, without)
}

fn has_text(svg: &str, s: &str) -> bool {
    svg.contains(&format!("\n{s}\n</text>"))
}

#[test]
fn lecture_figures_show_v_only_when_the_result_has_it() {
    let (with, without) = with_and_without_v();
    let options = FigureOptions::default();
    let v_colour = format!("#{:02X}{:02X}{:02X}", V_COLOUR.0, V_COLOUR.1, V_COLOUR.2);
    for figure in Figure::ALL {
        let svg = figure_svg(figure, &without, &options).unwrap();
        assert!(!has_text(&svg, "V"), "{}: no V label without V", figure.id());
        assert_eq!(
            svg,
            figure_svg(figure, &run_model_l1(), &options).unwrap(),
            "{}: as a lecture run's",
            figure.id()
        );
    }
    let sel = figure_svg(Figure::Selectivity, &with, &options).unwrap();
    let want = format!(", V = {:.3}", with.v.as_ref().unwrap().selectivity.unwrap());
    assert!(sel.contains(&want), "the title gives V's index: {want}");
    assert!(has_text(&sel, "V"), "a V group of bars");
    let hist = figure_svg(Figure::Histograms, &with, &options).unwrap();
    assert!(has_text(&hist, "V") && hist.contains(&v_colour), "a V line in its colour");
    assert!(!figure_svg(Figure::Histograms, &without, &options)
        .unwrap()
        .contains(&v_colour));
}

fn run_model_l1() -> RunResult {
    run_model("tiny-gpt2-hub", &experiment_of(&golden("tiny-gpt2-hub.L1"))).unwrap()
}

#[test]
fn v_heatmap_draws_and_finds_cells() {
    let (with, without) = with_and_without_v();
    let options = FigureOptions::default();
    assert!(Figure::HeatmapV.available(&with) && !Figure::HeatmapV.available(&without));
    let svg = figure_svg(Figure::HeatmapV, &with, &options).unwrap();
    assert!(has_text(&svg, "V cosine similarity"));
    let n = with.words.len();
    assert!(svg.matches("<rect").count() >= n * n + 64);
    let mut hits = None;
    to_svg(Figure::HeatmapV.size_for(&with), |area| {
        hits = draw_figure(area, Figure::HeatmapV, &with, &options)?.hits;
        Ok(())
    })
    .unwrap();
    let Some(HitMap::Cells(grid)) = hits else {
        panic!("cells expected")
    };
    assert_eq!(grid.n, n);
}

/// The viewer's look reaches every figure: dark paper and light ink in the dark theme, the
/// heatmaps' cells on cividis when chosen, and nothing of the look left behind after a draw.
#[test]
fn the_look_reaches_every_figure_and_ends_with_the_draw() {
    use qk_lens::plots::{ColourScale, Look, Theme};
    let result = run_model("tiny-gpt2-hub", &experiment_of(&golden("tiny-gpt2-hub.L1"))).unwrap();
    let light = FigureOptions::default();
    let dark = FigureOptions {
        look: Look {
            scale: ColourScale::Cividis,
            theme: Theme::Dark,
        },
        ..Default::default()
    };
    // plotters writes colours as upper-case hex; paper #1E2228, ink #E8EAED.
    for figure in Figure::ALL {
        let svg = figure_svg(figure, &result, &dark).unwrap();
        assert!(svg.contains("#1E2228"), "{}: no dark paper", figure.id());
        if figure != Figure::GroupMask {
            assert!(svg.contains("#E8EAED"), "{}: no light ink", figure.id());
        }
        let plain = figure_svg(figure, &result, &light).unwrap();
        assert!(
            !plain.contains("#1E2228") && !plain.contains("#E8EAED"),
            "{}: the dark look leaked",
            figure.id()
        );
    }
    // Every colour of each scale, as plotters writes it.
    let hexes = |scale: ColourScale| -> std::collections::HashSet<String> {
        (0..=4096)
            .map(|k| {
                let c = scale.at(k as f64 / 4096.0);
                format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
            })
            .collect()
    };
    let (on_viridis, on_cividis) = (hexes(ColourScale::Viridis), hexes(ColourScale::Cividis));
    let count = |svg: &str, set: &std::collections::HashSet<String>| {
        svg.match_indices("fill=\"#")
            .filter(|(i, _)| set.contains(&svg[i + 6..i + 13]))
            .count()
    };
    let cividis = figure_svg(Figure::HeatmapQ, &result, &dark).unwrap();
    let viridis = figure_svg(Figure::HeatmapQ, &result, &light).unwrap();
    // Cells and colour bar: 64 bar steps at least; the other scale's colours at most by chance.
    assert!(
        count(&cividis, &on_cividis) >= 64 && count(&cividis, &on_viridis) <= 2,
        "cividis"
    );
    assert!(
        count(&viridis, &on_viridis) >= 64 && count(&viridis, &on_cividis) <= 2,
        "viridis"
    );
}

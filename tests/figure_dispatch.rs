//! Every figure drawn from a real result through the one dispatch point the page and the exports
//! use; hover hit-testing and pair indexing.

mod common;

use common::*;
use qk_lens::analysis::upper_triangle;
use qk_lens::plots::figure::{draw_figure, figure_svg, pair_index, Figure, FigureOptions, HitMap};
use qk_lens::plots::to_svg;

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
        grid = draw_figure(area, Figure::HeatmapQ, &result, &options)?;
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
        hits = draw_figure(area, Figure::RsaScatter, &result, &options)?;
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

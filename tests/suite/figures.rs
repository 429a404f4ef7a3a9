//! The lecture's other figures (group mask, histograms, selectivity, RSA scatter and per
//! category), rendered natively to SVG from the golden data and the fixture model's result.
//! The SVGs are kept in CARGO_TARGET_TMPDIR/plots for looking at.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::common::*;
use plotters::style::colors::colormaps::{ColorMap, ViridisRGB};
use plotters::style::RGBColor;
use qk_lens::analysis::upper_triangle;
use qk_lens::plots::palette::{CONTEXT_GREY, EMPTY_GREY, GRID_GREY, K_COLOUR, Q_COLOUR};
use qk_lens::plots::selectivity::{ACROSS_GREY, WITHIN_GREY};
use qk_lens::plots::*;
use qk_lens::RunResult;
use serde_json::Value;

const GOLDEN: &str = "tiny-gpt2-hub.L1";

fn l1_golden() -> &'static Value {
    static G: OnceLock<Value> = OnceLock::new();
    G.get_or_init(|| golden(GOLDEN))
}

/// The fixture model's result for the golden experiment (run once per test binary).
fn l1_result() -> &'static RunResult {
    static R: OnceLock<RunResult> = OnceLock::new();
    R.get_or_init(|| run_model("tiny-gpt2-hub", &experiment_of(l1_golden())).unwrap())
}

fn words(r: &RunResult) -> Vec<String> {
    r.words.iter().map(|w| w.word.clone()).collect()
}

fn save(name: &str, svg: &str) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("plots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), svg).unwrap();
}

fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// The attributes of every `<tag …/>` element (plotters writes one element per line).
fn elements(svg: &str, tag: &str) -> Vec<HashMap<String, String>> {
    let open = format!("<{tag} ");
    svg.lines()
        .filter_map(|line| line.trim_start().strip_prefix(open.as_str()))
        .map(|rest| {
            rest.split("\" ")
                .filter_map(|kv| kv.split_once("=\""))
                .map(|(k, v)| (k.to_string(), v.trim_end_matches("\"/>").trim_end_matches('"').to_string()))
                .collect()
        })
        .collect()
}

fn with(elems: &[HashMap<String, String>], key: &str, value: &str) -> usize {
    elems.iter().filter(|e| e.get(key).map(String::as_str) == Some(value)).count()
}

fn points(e: &HashMap<String, String>) -> Vec<(i32, i32)> {
    e["points"]
        .split_whitespace()
        .map(|p| {
            let (x, y) = p.split_once(',').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect()
}

fn text(svg: &str, s: &str) -> usize {
    svg.matches(&format!("\n{s}\n</text>")).count()
}

fn within_pairs(labels: &[usize], c: usize) -> usize {
    let m = labels.iter().filter(|&&l| l == c).count();
    m * m.saturating_sub(1) / 2
}

#[test]
fn group_mask_marks_within_pairs_with_category_plus_one() {
    assert_eq!(
        group_mask(&[0, 0, 1, 2, 1]),
        vec![
            vec![0, 1, 0, 0, 0],
            vec![0, 0, 0, 0, 0],
            vec![0, 0, 0, 0, 2],
            vec![0, 0, 0, 0, 0],
            vec![0, 0, 0, 0, 0],
        ]
    );
    assert!(group_mask(&[]).is_empty());
    // The lecture's mask holds (c+1)^2 on within pairs and products on across pairs.
    let g = l1_golden();
    let lecture: Vec<Vec<f64>> = matrix(&g["groupmask"]);
    let labels: Vec<usize> = serde_json::from_value::<Vec<usize>>(g["labels"].clone())
        .unwrap()
        .iter()
        .map(|l| l - 1)
        .collect();
    let within: Vec<f64> = f64s(&g["within_mask_values"]);
    let mask = group_mask(&labels);
    for (i, row) in lecture.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            let want = if within.contains(&v) { v.sqrt() as u32 } else { 0 };
            assert_eq!(mask[i][j], want, "mask[{i}][{j}] (lecture {v})");
        }
    }
}

#[test]
fn category_colours_are_okabe_ito_and_repeat_after_seven() {
    assert_eq!(hex(category_colour(0)), "#E69F00");
    assert_eq!(hex(category_colour(1)), "#56B4E9");
    assert_eq!(hex(category_colour(2)), "#009E73");
    let first: Vec<String> = (0..7).map(|c| hex(category_colour(c))).collect();
    for (a, x) in first.iter().enumerate() {
        for y in &first[a + 1..] {
            assert_ne!(x, y);
        }
    }
    assert_eq!(category_colour(7), category_colour(0));
}

#[test]
fn group_mask_figure_colours_each_categorys_pairs_and_has_a_legend() {
    let r = l1_result();
    let (words, labels, names) = (words(r), r.experiment.labels(), r.experiment.category_names());
    let spec = GroupMaskSpec {
        title: "Group mask",
        labels: &words,
        categories: &labels,
        category_names: &names,
    };
    let svg = to_svg((620, 520), |a| draw_group_mask(a, &spec)?.paint_as_rectangles(a)).unwrap();
    save("group-mask.svg", &svg);
    assert_eq!(text(&svg, "Group mask"), 1);
    for w in ["galaxy", "ceiling", "lime"] {
        assert_eq!(text(&svg, w), 2, "{w} labels a row and a column");
    }
    for name in ["space", "interior", "fruit", "other pairs"] {
        assert!(text(&svg, name) >= 1, "legend entry {name}");
    }
    let rects = elements(&svg, "rect");
    let mut coloured = 0;
    for c in 0..names.len() {
        // One cell per within pair, plus the legend swatch.
        let n = with(&rects, "fill", &hex(category_colour(c)));
        assert_eq!(n, within_pairs(&labels, c) + 1, "cells of category {c}");
        coloured += n - 1;
    }
    assert_eq!(coloured, 45 + 78 + 55);
    assert_eq!(with(&rects, "fill", &hex(EMPTY_GREY)), 34 * 34 - coloured + 1);
}

fn heatmap_svg(highlight: Option<(usize, usize)>) -> (String, (f64, f64)) {
    let g = l1_golden();
    let cq = matrix(&g["CQ"]);
    let words: Vec<String> = serde_json::from_value(g["words"].clone()).unwrap();
    let labels: Vec<usize> = serde_json::from_value(g["labels"].clone()).unwrap();
    let spec = HeatmapSpec {
        title: "Q cossim matrix",
        matrix: &cq,
        labels: &words,
        categories: &labels,
        range: ColourRange::Auto,
        highlight,
    };
    (
        to_svg((560, 520), |a| draw_cosine_heatmap(a, &spec)?.paint_as_rectangles(a)).unwrap(),
        spec.limits(),
    )
}

#[test]
fn heatmap_highlight_outlines_exactly_the_chosen_cell() {
    let (plain, _) = heatmap_svg(None);
    let (svg, (lo, hi)) = heatmap_svg(Some((3, 20)));
    save("heatmap-q-highlight.svg", &svg);
    let ring = |svg: &str, colour: &str, width: &str| -> Vec<Vec<(i32, i32)>> {
        elements(svg, "polyline")
            .iter()
            .filter(|e| e["stroke"] == colour && e["stroke-width"] == width)
            .map(points)
            .collect()
    };
    assert!(ring(&plain, "#000000", "2").is_empty() && ring(&plain, "#FFFFFF", "1").is_empty());
    let (outer, inner) = (ring(&svg, "#000000", "2"), ring(&svg, "#FFFFFF", "1"));
    assert_eq!((outer.len(), inner.len()), (1, 1), "one outline, black with white inside");
    let outer = &outer[0];
    assert_eq!(outer.len(), 5);
    assert_eq!(outer[0], outer[4], "closed");
    // The cell under the outline (1 px inside it) is cell (3, 20): its colour says so.
    let (x, y) = ((outer[0].0 + 1).to_string(), (outer[0].1 + 1).to_string());
    let cell = elements(&svg, "rect")
        .into_iter()
        .find(|e| e["x"] == x && e["y"] == y)
        .expect("a cell where the outline starts");
    let cq = matrix(&l1_golden()["CQ"]);
    let c = ViridisRGB.get_color_normalized(cq[3][20] as f32, lo as f32, hi as f32);
    assert_eq!(cell["fill"], hex(c));
    let w: i32 = cell["width"].parse().unwrap();
    assert!((outer[2].0 - outer[0].0 - w - 2).abs() <= 1, "the outline hugs the cell");
}

#[test]
fn histograms_draw_q_and_k_counts_at_the_left_edges() {
    let r = l1_result();
    let spec = HistogramSpec {
        title: "Distributions of similarities",
        q: &r.q.histogram,
        k: &r.k.histogram,
    };
    let svg = to_svg((520, 400), |a| draw_similarity_histograms(a, &spec)).unwrap();
    save("histograms.svg", &svg);
    for s in ["Distributions of similarities", "Similarity", "Count", "Q", "K"] {
        assert_eq!(text(&svg, s), 1, "{s}");
    }
    let lines = elements(&svg, "polyline");
    for (name, colour, h) in [("Q", Q_COLOUR, &r.q.histogram), ("K", K_COLOUR, &r.k.histogram)] {
        let series: Vec<Vec<(i32, i32)>> = lines.iter().filter(|e| e["stroke"] == hex(colour)).map(points).collect();
        // The curve and its legend sample.
        assert_eq!(series.len(), 2, "{name}");
        let curve = series
            .iter()
            .find(|p| p.len() == 20)
            .unwrap_or_else(|| panic!("{name}: a 20-point line"));
        assert!(curve.windows(2).all(|w| w[0].0 < w[1].0), "{name}: x increasing");
        for a in 0..20 {
            for b in 0..20 {
                if h.counts[a] > h.counts[b] {
                    assert!(curve[a].1 < curve[b].1, "{name}: bin {a} above bin {b}");
                }
            }
        }
    }
}

fn bars<'a>(r: &RunResult, q: &'a [Option<f64>], k: &'a [Option<f64>]) -> [SelectivityBars<'a>; 2] {
    [
        SelectivityBars {
            name: "Q",
            index: r.q.selectivity,
            within: r.q.within_mean,
            across: r.q.across_mean,
            within_by_category: q,
        },
        SelectivityBars {
            name: "K",
            index: r.k.selectivity,
            within: r.k.within_mean,
            across: r.k.across_mean,
            within_by_category: k,
        },
    ]
}

#[test]
fn selectivity_shows_both_indices_means_and_category_dots() {
    let r = l1_result();
    let g = l1_golden();
    let q: Vec<Option<f64>> = r.q.within_means.iter().map(|m| m.mean).collect();
    let k: Vec<Option<f64>> = r.k.within_means.iter().map(|m| m.mean).collect();
    let names = r.experiment.category_names();
    let spaces = bars(r, &q, &k);
    let spec = SelectivitySpec {
        spaces: &spaces,
        category_names: &names,
    };
    let svg = to_svg((560, 420), |a| draw_selectivity(a, &spec)).unwrap();
    save("selectivity.svg", &svg);
    let title = format!(
        "Selectivity index: Q = {:.3}, K = {:.3}",
        g["selectivity_Q"].as_f64().unwrap(),
        g["selectivity_K"].as_f64().unwrap()
    );
    assert_eq!(text(&svg, &title), 1, "{title}");
    assert_eq!(text(&svg, "within"), 2);
    assert_eq!(text(&svg, "across"), 2);
    assert_eq!(text(&svg, "n/a"), 0);
    for v in [r.q.within_mean, r.q.across_mean, r.k.within_mean, r.k.across_mean] {
        assert!(text(&svg, &format!("{:.3}", v.unwrap())) >= 1, "value label {v:?}");
    }
    let rects = elements(&svg, "rect");
    // Two bars of each kind plus the legend swatch.
    assert_eq!(with(&rects, "fill", &hex(WITHIN_GREY)), 3);
    assert_eq!(with(&rects, "fill", &hex(ACROSS_GREY)), 3);
    // Bars start at 0: their heights are in the ratio of the means (Q within, Q across, K …).
    let heights: Vec<f64> = rects
        .iter()
        .filter(|e| [hex(WITHIN_GREY), hex(ACROSS_GREY)].contains(&e["fill"]) && e["height"] != "12")
        .map(|e| e["height"].parse().unwrap())
        .collect();
    let means = [r.q.within_mean, r.q.across_mean, r.k.within_mean, r.k.across_mean].map(Option::unwrap);
    assert_eq!(heights.len(), 4);
    for (h, m) in heights.iter().zip(means) {
        assert!(
            (h / heights[1] - m / means[1]).abs() < 0.01,
            "bar heights {heights:?} for means {means:?}"
        );
    }
    let circles = elements(&svg, "circle");
    for c in 0..names.len() {
        assert_eq!(
            with(&circles, "fill", &hex(category_colour(c))),
            3,
            "category {c}: Q, K and legend"
        );
    }
}

#[test]
fn selectivity_draws_na_for_undefined_values() {
    let names = vec!["a".to_string(), "b".to_string()];
    let q = [Some(0.8), None];
    let k = [None, None];
    let spaces = [
        SelectivityBars {
            name: "Q",
            index: None,
            within: Some(0.8),
            across: None,
            within_by_category: &q,
        },
        SelectivityBars {
            name: "K",
            index: None,
            within: None,
            across: None,
            within_by_category: &k,
        },
    ];
    let spec = SelectivitySpec {
        spaces: &spaces,
        category_names: &names,
    };
    let svg = to_svg((480, 360), |a| draw_selectivity(a, &spec)).unwrap();
    save("selectivity-na.svg", &svg);
    assert_eq!(text(&svg, "Selectivity index: Q = n/a, K = n/a"), 1);
    assert_eq!(text(&svg, "n/a"), 3, "the three missing bars");
    let rects = elements(&svg, "rect");
    assert_eq!(with(&rects, "fill", &hex(WITHIN_GREY)), 2, "one bar + legend");
    assert_eq!(with(&rects, "fill", &hex(ACROSS_GREY)), 1, "legend only");
    let circles = elements(&svg, "circle");
    assert_eq!(with(&circles, "fill", &hex(category_colour(0))), 2);
    assert_eq!(with(&circles, "fill", &hex(category_colour(1))), 1, "legend only");
}

#[test]
fn rsa_scatter_has_every_pair_the_score_and_a_dashed_grid() {
    let r = l1_result();
    let (q, k) = (upper_triangle(&r.q.cosine), upper_triangle(&r.k.cosine));
    let spec = RsaScatterSpec {
        q: &q,
        k: &k,
        r: r.rsa.r,
        highlight: None,
    };
    let svg = to_svg((600, 500), |a| draw_rsa_scatter(a, &spec).map(|_| ())).unwrap();
    save("rsa-scatter.svg", &svg);
    let want = format!("Correlation (RSA score): r = {:.3}", l1_golden()["rsa_r"].as_f64().unwrap());
    assert_eq!(want, "Correlation (RSA score): r = 0.824");
    assert_eq!(text(&svg, &want), 1);
    assert_eq!(text(&svg, "Q cosine similarities"), 1);
    assert_eq!(text(&svg, "K cosine similarities"), 1);
    let faces: Vec<_> = elements(&svg, "rect")
        .into_iter()
        .filter(|e| e["fill"] == "#E6B3B3" && e["opacity"] == "0.5")
        .collect();
    assert_eq!(faces.len(), 34 * 33 / 2);
    // Faces come in pair order: the largest Q is furthest right, the largest K highest.
    let arg = |v: &[f64], max: bool| (0..v.len()).reduce(|a, b| if (v[b] > v[a]) == max { b } else { a }).unwrap();
    let xs: Vec<f64> = faces.iter().map(|e| e["x"].parse().unwrap()).collect();
    let ys: Vec<f64> = faces.iter().map(|e| -e["y"].parse::<f64>().unwrap()).collect();
    assert_eq!(xs[arg(&q, true)], xs[arg(&xs, true)]);
    assert_eq!(xs[arg(&q, false)], xs[arg(&xs, false)]);
    assert_eq!(ys[arg(&k, true)], ys[arg(&ys, true)]);
    let dashes = with(&elements(&svg, "polyline"), "stroke", &hex(GRID_GREY));
    assert!(dashes > 60, "a dashed grid is many short strokes, got {dashes}");
    assert!(draw_rsa_scatter_err(&q[1..], &k));
}

fn draw_rsa_scatter_err(q: &[f64], k: &[f64]) -> bool {
    to_svg((100, 100), |a| {
        draw_rsa_scatter(
            a,
            &RsaScatterSpec {
                q,
                k,
                r: None,
                highlight: None,
            },
        )
        .map(|_| ())
    })
    .is_err()
}

fn per_category(r: &RunResult, file: &str) -> String {
    let (q, k) = (upper_triangle(&r.q.cosine), upper_triangle(&r.k.cosine));
    let labels = r.experiment.labels();
    let names = r.experiment.category_names();
    let rs: Vec<Option<f64>> = r.rsa.per_category.iter().map(|c| c.r).collect();
    let spec = RsaCategoriesSpec {
        q: &q,
        k: &k,
        categories: &labels,
        category_names: &names,
        r: &rs,
        highlight: None,
    };
    let svg = to_svg((1200, 400), |a| draw_rsa_per_category(a, &spec)).unwrap();
    save(file, &svg);
    svg
}

#[test]
fn rsa_per_category_highlights_each_categorys_pairs() {
    let r = l1_result();
    let svg = per_category(r, "rsa-per-category.svg");
    let g = l1_golden();
    let rs = opt_f64s(&g["rsa_r_per_category"]);
    for (name, r) in ["space", "interior", "fruit"].iter().zip(&rs) {
        let title = format!("RSA ({name}): r = {:.3}", r.unwrap());
        assert_eq!(text(&svg, &title), 1, "{title}");
    }
    assert_eq!(text(&svg, "RSA (space): r = 0.863"), 1);
    assert_eq!(text(&svg, "Q cosine similarities"), 3);
    assert_eq!(text(&svg, "no within-category pairs"), 0);
    let rects = elements(&svg, "rect");
    assert_eq!(with(&rects, "fill", &hex(CONTEXT_GREY)), 3 * 561, "all pairs in every panel");
    let labels = r.experiment.labels();
    for c in 0..3 {
        assert_eq!(
            with(&rects, "fill", &hex(category_colour(c))),
            within_pairs(&labels, c),
            "category {c}"
        );
    }
    let bad = RsaCategoriesSpec {
        q: &[0.1, 0.2],
        k: &[0.1, 0.2],
        categories: &[0, 0, 1],
        category_names: &["a".to_string(), "b".to_string()],
        r: &[None, None],
        highlight: None,
    };
    assert!(
        to_svg((300, 200), |a| draw_rsa_per_category(a, &bad)).is_err(),
        "3 words make 3 pairs"
    );
}

#[test]
fn rsa_per_category_says_when_a_category_has_no_pairs() {
    let g = golden("tiny-gpt2-hub.single.L1");
    let r = run_model("tiny-gpt2-hub", &experiment_of(&g)).unwrap();
    let svg = per_category(&r, "rsa-per-category-single.svg");
    assert_eq!(r.rsa.per_category[1].pairs, 0);
    assert_eq!(text(&svg, "RSA (interior): r = n/a"), 1);
    assert_eq!(text(&svg, "no within-category pairs"), 1);
    assert_eq!(with(&elements(&svg, "rect"), "fill", &hex(category_colour(1))), 0);
    assert_eq!(
        text(&svg, &format!("RSA (space): r = {:.3}", r.rsa.per_category[0].r.unwrap())),
        1
    );
}

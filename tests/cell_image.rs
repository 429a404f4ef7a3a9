//! Big word × word grids drawn for the page's canvas (`draw_figure_with_cell_image`): the cells
//! come back as one RGBA image plus the lines to draw over it, and painting the image then the
//! overlay gives exactly the pixels of the n² rectangles `draw_figure` (and the SVG export) draws,
//! with the same separators, labels and highlight. Small grids are drawn as before.

mod common;

use common::*;
use qk_lens::analysis::report::ExtendedOptions;
use qk_lens::plots::figure::{draw_figure, draw_figure_with_cell_image, figure_svg, Figure, FigureOptions, HitMap};
use qk_lens::plots::{draw_overlay, to_svg, CellImage, CellLayer, IMAGE_MIN_WORDS};
use qk_lens::{Category, Experiment, RunResult};

/// `sizes` categories of words w0, w1, ... on the tiny model, with V and the Q·K matrices.
fn result_of(sizes: &[usize]) -> RunResult {
    let mut next = 0;
    let categories = sizes
        .iter()
        .enumerate()
        .map(|(c, &size)| {
            let words = (next..next + size).map(|i| format!("w{i}")).collect();
            next += size;
            Category {
                name: format!("c{c}"),
                words,
            }
        })
        .collect();
    let experiment = Experiment {
        model: "fixture".into(),
        layer: 1,
        template: "The next word is {word}".into(),
        categories,
    };
    let options = ExtendedOptions {
        v: true,
        qk: true,
        ..Default::default()
    };
    run_with_options("tiny-gpt2-hub", &experiment, &options).0
}

/// An SVG's elements: filled opaque rectangles apart (to paint), everything else as text.
#[derive(Default)]
struct Parsed {
    rects: Vec<(i32, i32, i32, i32, [u8; 3])>,
    others: Vec<String>,
}

fn attr<'a>(element: &'a str, name: &str) -> Option<&'a str> {
    let start = element.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = element[start..].find('"')?;
    Some(&element[start..start + len])
}

fn parse(svg: &str) -> Parsed {
    let mut parsed = Parsed::default();
    for element in svg.split('<').map(str::trim).filter(|e| !e.is_empty()) {
        let fill = attr(element, "fill").filter(|f| f.len() == 7 && f.starts_with('#'));
        let opaque = attr(element, "opacity").is_none_or(|o| o == "1");
        match (element.starts_with("rect "), fill) {
            (true, Some(fill)) if opaque => {
                let num = |n: &str| attr(element, n).unwrap().parse::<i32>().unwrap();
                let hex = |k: usize| u8::from_str_radix(&fill[1 + 2 * k..3 + 2 * k], 16).unwrap();
                parsed
                    .rects
                    .push((num("x"), num("y"), num("width"), num("height"), [hex(0), hex(1), hex(2)]));
            }
            _ => parsed.others.push(element.to_string()),
        }
    }
    parsed
}

/// Paints the rectangles as a canvas fills them: columns x..x+w, rows y..y+h, later over earlier.
fn raster(rects: &[(i32, i32, i32, i32, [u8; 3])], (w, h): (u32, u32)) -> Vec<Option<[u8; 3]>> {
    let mut pixels = vec![None; (w * h) as usize];
    for &(x, y, rw, rh, rgb) in rects {
        for py in y.max(0)..(y + rh).min(h as i32) {
            for px in x.max(0)..(x + rw).min(w as i32) {
                pixels[(py as u32 * w + px as u32) as usize] = Some(rgb);
            }
        }
    }
    pixels
}

fn paste(pixels: &mut [Option<[u8; 3]>], (w, h): (u32, u32), image: &CellImage) {
    let (iw, ih) = image.size;
    assert_eq!(image.rgba.len(), (iw * ih * 4) as usize);
    for r in 0..ih as i32 {
        for c in 0..iw as i32 {
            let (x, y) = (image.pos.0 + c, image.pos.1 + r);
            assert!(
                x >= 0 && y >= 0 && x < w as i32 && y < h as i32,
                "image pixel ({x}, {y}) off the figure"
            );
            let k = ((r * iw as i32 + c) * 4) as usize;
            assert_eq!(image.rgba[k + 3], 255, "the image is opaque");
            pixels[(y as u32 * w + x as u32) as usize] = Some([image.rgba[k], image.rgba[k + 1], image.rgba[k + 2]]);
        }
    }
}

/// The figure drawn as the page draws it: the grid's image painted, then its overlay.
fn drawn_with_image(figure: Figure, result: &RunResult, options: &FigureOptions) -> (String, Option<HitMap>, Option<CellLayer>) {
    let mut out = None;
    let svg = to_svg(figure.size_for(result), |area| {
        let drawn = draw_figure_with_cell_image(area, figure, result, options)?;
        if let Some(cells) = &drawn.cells {
            draw_overlay(area, cells)?;
        }
        out = Some((drawn.hits, drawn.cells));
        Ok(())
    })
    .unwrap();
    let (hits, cells) = out.unwrap();
    (svg, hits, cells)
}

fn check_same_pixels(figure: Figure, result: &RunResult, options: &FigureOptions) {
    let what = figure.id();
    let size = figure.size_for(result);
    let mut hits_plain = None;
    let plain_svg = to_svg(size, |area| {
        hits_plain = draw_figure(area, figure, result, options)?;
        Ok(())
    })
    .unwrap();
    assert_eq!(
        plain_svg,
        figure_svg(figure, result, options).unwrap(),
        "{what}: the export is draw_figure"
    );
    let (image_svg, hits, cells) = drawn_with_image(figure, result, options);
    assert_eq!(hits, hits_plain, "{what}: the same hit map");
    let cells = cells.unwrap_or_else(|| panic!("{what}: {} words give a cell image", result.words.len()));
    let (plain, image) = (parse(&plain_svg), parse(&image_svg));
    let n = result.words.len();
    assert!(plain.rects.len() >= n * n, "{what}: the export draws a rectangle per cell");
    assert!(image.rects.len() < 1000, "{what}: no rectangle per cell with the image");
    let want = raster(&plain.rects, size);
    let mut got = raster(&image.rects, size);
    paste(&mut got, size, &cells.image);
    let differing = want.iter().zip(&got).filter(|(a, b)| a != b).count();
    assert_eq!(
        differing, 0,
        "{what}: {differing} pixels differ between the rectangles and the image"
    );
    // Everything else (title, labels, separators, highlight, colour bar or legend) is drawn too.
    let (mut a, mut b) = (plain.others.clone(), image.others.clone());
    a.sort();
    b.sort();
    assert_eq!(a, b, "{what}: the same lines and text");
    if let Some(HitMap::Cells(grid) | HitMap::QkCells(grid)) = &hits {
        assert_eq!(cells.image.pos, grid.top_left, "{what}: the image starts at the first cell");
        assert_eq!(
            (
                cells.image.pos.0 + cells.image.size.0 as i32,
                cells.image.pos.1 + cells.image.size.1 as i32
            ),
            grid.bottom_right,
            "{what}: the image ends at the last cell"
        );
    }
}

#[test]
fn a_big_grid_as_one_image_has_the_pixels_of_its_rectangles() {
    // 450 words: cells under a pixel wide (some own no pixel); three categories, separators at
    // 180 and 330.
    let result = result_of(&[180, 150, 120]);
    assert_eq!(result.words.len(), 450);
    let plain = FigureOptions::default();
    let picked = FigureOptions {
        highlight: Some((20, 300)),
        lecture_limits: true,
        head: Some(1),
        ..Default::default()
    };
    for (figure, options) in [
        (Figure::HeatmapQ, &plain),
        (Figure::HeatmapK, &picked),
        (Figure::HeatmapV, &picked),
        (Figure::GroupMask, &plain),
        (Figure::QkMatrix, &picked),
    ] {
        check_same_pixels(figure, &result, options);
    }
}

#[test]
fn a_mid_sized_grid_with_cells_of_several_pixels() {
    let result = result_of(&[40, 30, 31]);
    let options = FigureOptions {
        highlight: Some((7, 77)),
        ..Default::default()
    };
    for figure in [Figure::HeatmapQ, Figure::GroupMask, Figure::QkMatrix] {
        check_same_pixels(figure, &result, &options);
    }
}

#[test]
fn the_cell_image_has_each_cells_colour() {
    // Edges 0, 2, 2, 5 (the middle cell owns no pixel) by 10, 11, 13.
    let image = CellImage::from_edges(&[0, 2, 2, 5], &[10, 11, 13], |i, j| {
        qk_lens::plots::category_colour(i * 3 + j)
    });
    assert_eq!((image.pos, image.size), ((0, 10), (5, 3)));
    let at = |x: usize, y: usize| {
        let k = (y * 5 + x) * 4;
        plotters::style::RGBColor(image.rgba[k], image.rgba[k + 1], image.rgba[k + 2])
    };
    let colour = |i: usize, j: usize| qk_lens::plots::category_colour(i * 3 + j);
    for (x, j) in [(0, 0), (1, 0), (2, 2), (3, 2), (4, 2)] {
        assert_eq!(at(x, 0), colour(0, j), "row 0, pixel column {x}");
        assert_eq!(at(x, 1), colour(1, j), "row 1, pixel column {x}");
        assert_eq!(at(x, 2), colour(1, j), "row 1 (second pixel row), pixel column {x}");
    }
}

#[test]
fn small_grids_are_drawn_as_rectangles_as_before() {
    let result = run_model("tiny-gpt2-hub", &experiment_of(&golden("tiny-gpt2-hub.L1"))).unwrap();
    assert!(result.words.len() < IMAGE_MIN_WORDS);
    let options = FigureOptions {
        highlight: Some((3, 20)),
        ..Default::default()
    };
    for figure in Figure::ALL {
        let (svg, _, cells) = drawn_with_image(figure, &result, &options);
        assert!(
            cells.is_none(),
            "{}: no cell image under {IMAGE_MIN_WORDS} words",
            figure.id()
        );
        assert_eq!(
            svg,
            figure_svg(figure, &result, &options).unwrap(),
            "{}: drawn as before",
            figure.id()
        );
    }
}

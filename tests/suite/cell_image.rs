//! Word × word grids return their cells as data (`CellLayer`) for the backend to paint: painted as
//! one RGBA image then the overlay (the page's canvas from `IMAGE_MIN_WORDS` words on), they give
//! exactly the pixels of the n² rectangles the SVG export writes, with the same separators, labels
//! and highlight; and the export's rectangles have the colours this file computes from the result
//! on its own. Small grids are painted as rectangles, as the export is.

use crate::common::*;
use plotters::style::colors::colormaps::{ColorMap, ViridisRGB};
use plotters::style::RGBColor;
use qk_lens::analysis::report::ExtendedOptions;
use qk_lens::plots::figure::{draw_figure, figure_svg, Figure, FigureOptions, HitMap};
use qk_lens::plots::palette::EMPTY_GREY;
use qk_lens::plots::{category_colour, to_svg, CellImage, CellLayer, IMAGE_MIN_WORDS};
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

/// The figure drawn as the page's canvas draws it: a big grid's cells as one image (kept aside,
/// as `putImageData` would paint it), then its overlay; a small grid's as rectangles.
struct PageDrawing {
    svg: String,
    hits: Option<HitMap>,
    cells: Option<CellLayer>,
    image: Option<CellImage>,
}

fn drawn_as_the_page_does(figure: Figure, result: &RunResult, options: &FigureOptions) -> PageDrawing {
    let mut out = None;
    let mut image = None;
    let svg = to_svg(figure.size_for(result), |area| {
        let drawn = draw_figure(area, figure, result, options)?;
        match &drawn.cells {
            Some(cells) if cells.wants_image() => cells.paint_as_image(area, |i| {
                image = Some(i.clone());
                Ok(())
            })?,
            Some(cells) => cells.paint_as_rectangles(area)?,
            None => {}
        }
        out = Some(drawn);
        Ok(())
    })
    .unwrap();
    let drawn = out.unwrap();
    PageDrawing {
        svg,
        hits: drawn.hits,
        cells: drawn.cells,
        image,
    }
}

/// Colour limits from the data: min..max off the diagonal (`off_diagonal`) or of every value.
fn extent(matrix: &[Vec<f64>], off_diagonal: bool) -> (f64, f64) {
    let values = matrix
        .iter()
        .enumerate()
        .flat_map(|(i, row)| row.iter().enumerate().filter(move |&(j, _)| !off_diagonal || i != j))
        .map(|(_, &v)| v);
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    assert!(lo < hi, "the fixtures have distinct values");
    (lo, hi)
}

/// The colour of cell (i, j) of `figure`, worked out here from the result alone (viridis clipped
/// to the limits, as imshow does; the group mask's category colours).
fn expected_cell_colours(figure: Figure, result: &RunResult, options: &FigureOptions) -> Vec<RGBColor> {
    let viridis = |m: &[Vec<f64>], (lo, hi): (f64, f64)| -> Vec<RGBColor> {
        m.iter()
            .flatten()
            .map(|&v| ViridisRGB.get_color_normalized(v.clamp(lo, hi) as f32, lo as f32, hi as f32))
            .collect()
    };
    let heatmap = |m: &[Vec<f64>], lecture: Option<(f64, f64)>| {
        let limits = lecture.filter(|_| options.lecture_limits).unwrap_or_else(|| extent(m, true));
        viridis(m, limits)
    };
    let categories = result.category_indices();
    match figure {
        Figure::HeatmapQ => heatmap(&result.q.cosine, Some((0.6, 0.85))),
        Figure::HeatmapK => heatmap(&result.k.cosine, Some((0.82, 0.95))),
        Figure::HeatmapV => heatmap(&result.v.as_ref().unwrap().cosine, None),
        Figure::QkMatrix => {
            let h = options.head.unwrap_or(0);
            let head = result.qk.as_ref().unwrap().iter().find(|q| q.head == h).unwrap();
            viridis(&head.scores, extent(&head.scores, false))
        }
        Figure::GroupMask => {
            let n = categories.len();
            (0..n * n)
                .map(|k| (k / n, k % n))
                .map(|(i, j)| match i < j && categories[i] == categories[j] {
                    true => category_colour(categories[i]),
                    false => EMPTY_GREY,
                })
                .collect()
        }
        _ => panic!("{} has no cells", figure.id()),
    }
}

/// The export's cells are n² rectangles tiling the grid row by row, each at its place and in its
/// cell's colour as worked out here from the result (not by the drawing code).
fn check_export_cells(figure: Figure, result: &RunResult, options: &FigureOptions) -> (String, HitMap) {
    let what = figure.id();
    let svg = figure_svg(figure, result, options).unwrap();
    let mut hits = None;
    to_svg(figure.size_for(result), |area| {
        hits = draw_figure(area, figure, result, options)?.hits;
        Ok(())
    })
    .unwrap();
    let hits = hits.unwrap_or_else(|| panic!("{what}: a grid reports its cells"));
    let (HitMap::Cells(grid) | HitMap::QkCells(grid)) = &hits else {
        panic!("{what}: a grid's hit map, got {hits:?}")
    };
    let ((x0, y0), (x1, y1)) = (grid.top_left, grid.bottom_right);
    let inside = |&&(x, y, _, _, _): &&(i32, i32, i32, i32, [u8; 3])| x >= x0 && x <= x1 && y >= y0 && y <= y1;
    let cells: Vec<_> = parse(&svg).rects.iter().filter(inside).copied().collect();
    let n = result.words.len();
    assert_eq!(cells.len(), n * n, "{what}: a rectangle per cell in the grid");
    let want = expected_cell_colours(figure, result, options);
    let (cw, ch) = ((x1 - x0) as f64 / n as f64, (y1 - y0) as f64 / n as f64);
    for (k, &(x, y, _, _, rgb)) in cells.iter().enumerate() {
        let (i, j) = (k / n, k % n);
        let RGBColor(r, g, b) = want[k];
        assert_eq!(rgb, [r, g, b], "{what}: colour of cell ({i}, {j})");
        let (wx, wy) = (x0 as f64 + j as f64 * cw, y0 as f64 + i as f64 * ch);
        assert!(
            (x as f64 - wx).abs() <= 1.0 && (y as f64 - wy).abs() <= 1.0,
            "{what}: cell ({i}, {j}) at ({x}, {y}), not at ({wx:.1}, {wy:.1})"
        );
    }
    (svg, hits)
}

fn check_same_pixels(figure: Figure, result: &RunResult, options: &FigureOptions) {
    let what = figure.id();
    let size = figure.size_for(result);
    let (plain_svg, hits_plain) = check_export_cells(figure, result, options);
    let page = drawn_as_the_page_does(figure, result, options);
    assert_eq!(page.hits, Some(hits_plain), "{what}: the same hit map");
    let cells = page.cells.unwrap_or_else(|| panic!("{what}: a grid returns its cells"));
    let image = page
        .image
        .unwrap_or_else(|| panic!("{what}: {} words give a cell image", result.words.len()));
    let (plain, painted) = (parse(&plain_svg), parse(&page.svg));
    let n = result.words.len();
    assert!(plain.rects.len() >= n * n, "{what}: the export draws a rectangle per cell");
    assert!(painted.rects.len() < 1000, "{what}: no rectangle per cell with the image");
    let want = raster(&plain.rects, size);
    let mut got = raster(&painted.rects, size);
    paste(&mut got, size, &image);
    let differing = want.iter().zip(&got).filter(|(a, b)| a != b).count();
    assert_eq!(
        differing, 0,
        "{what}: {differing} pixels differ between the rectangles and the image"
    );
    // Everything else (title, labels, separators, highlight, colour bar or legend) is drawn too.
    let (mut a, mut b) = (plain.others.clone(), painted.others.clone());
    a.sort();
    b.sort();
    assert_eq!(a, b, "{what}: the same lines and text");
    let grid = cells.grid();
    assert_eq!(image.pos, grid.top_left, "{what}: the image starts at the first cell");
    assert_eq!(
        (image.pos.0 + image.size.0 as i32, image.pos.1 + image.size.1 as i32),
        grid.bottom_right,
        "{what}: the image ends at the last cell"
    );
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
    let image = CellImage::from_edges(&[0, 2, 2, 5], &[10, 11, 13], |i, j| category_colour(i * 3 + j));
    assert_eq!((image.pos, image.size), ((0, 10), (5, 3)));
    let at = |x: usize, y: usize| {
        let k = (y * 5 + x) * 4;
        RGBColor(image.rgba[k], image.rgba[k + 1], image.rgba[k + 2])
    };
    let colour = |i: usize, j: usize| category_colour(i * 3 + j);
    for (x, j) in [(0, 0), (1, 0), (2, 2), (3, 2), (4, 2)] {
        assert_eq!(at(x, 0), colour(0, j), "row 0, pixel column {x}");
        assert_eq!(at(x, 1), colour(1, j), "row 1, pixel column {x}");
        assert_eq!(at(x, 2), colour(1, j), "row 1 (second pixel row), pixel column {x}");
    }
}

#[test]
fn small_grids_are_drawn_as_rectangles_as_the_export_is() {
    let result = run_model("tiny-gpt2-hub", &experiment_of(&golden("tiny-gpt2-hub.L1"))).unwrap();
    assert!(result.words.len() < IMAGE_MIN_WORDS);
    let options = FigureOptions {
        highlight: Some((3, 20)),
        lecture_limits: true,
        ..Default::default()
    };
    for figure in Figure::ALL {
        let page = drawn_as_the_page_does(figure, &result, &options);
        assert!(
            page.image.is_none() && page.cells.as_ref().is_none_or(|c| !c.wants_image()),
            "{}: no cell image under {IMAGE_MIN_WORDS} words",
            figure.id()
        );
        assert_eq!(
            page.svg,
            figure_svg(figure, &result, &options).unwrap(),
            "{}: drawn as the export",
            figure.id()
        );
    }
    for figure in [Figure::GroupMask, Figure::HeatmapQ, Figure::HeatmapK] {
        check_export_cells(figure, &result, &options);
    }
}

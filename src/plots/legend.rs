//! A legend column drawn beside a figure: a mark and a name per entry.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::drawing::{drawing_error, DrawResult};
use super::look::{font, paper};

#[derive(Clone, Copy)]
pub(crate) enum Mark {
    Square(RGBColor),
    Dot(RGBColor),
    /// A short line in the colour (a series).
    Line(RGBColor),
    /// A dashed line (a marker line).
    Dashed(RGBColor),
    /// A hollow circle in the colour.
    Ring(RGBColor),
}

const MARK: i32 = 12;

/// Pixels a legend column needs for these names (at most a third of the area's width).
pub(crate) fn legend_width<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, names: &[(String, Mark)]) -> u32 {
    let font = font(12);
    let text = names
        .iter()
        .map(|(name, _)| area.estimate_text_size(name, &font).map_or(0, |(w, _)| w))
        .max()
        .unwrap_or(0);
    (text + MARK as u32 + 34).clamp(60, area.dim_in_pixel().0 / 3)
}

/// Draws the entries one per row from `top` pixels down.
pub(crate) fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, entries: &[(String, Mark)], top: i32) -> DrawResult {
    let outline = RGBColor(90, 90, 90);
    for (row, (name, mark)) in entries.iter().enumerate() {
        let y = top + row as i32 * 20;
        match *mark {
            Mark::Square(c) => {
                area.draw(&Rectangle::new([(4, y), (4 + MARK, y + MARK)], c.filled()))
                    .map_err(drawing_error)?;
                area.draw(&Rectangle::new([(4, y), (4 + MARK, y + MARK)], outline))
                    .map_err(drawing_error)?;
            }
            Mark::Dot(c) => {
                let centre = (4 + MARK / 2, y + MARK / 2);
                area.draw(&Circle::new(centre, MARK / 2 - 1, c.filled()))
                    .map_err(drawing_error)?;
                area.draw(&Circle::new(centre, MARK / 2 - 1, outline))
                    .map_err(drawing_error)?;
            }
            Mark::Line(c) => {
                let y = y + MARK / 2;
                area.draw(&PathElement::new(vec![(2, y), (4 + MARK + 2, y)], c.stroke_width(2)))
                    .map_err(drawing_error)?;
            }
            Mark::Dashed(c) => {
                let y = y + MARK / 2;
                for x in [2, 8, 14] {
                    area.draw(&PathElement::new(vec![(x, y), (x + 3, y)], c.stroke_width(2)))
                        .map_err(drawing_error)?;
                }
            }
            Mark::Ring(c) => {
                let centre = (4 + MARK / 2, y + MARK / 2);
                area.draw(&Circle::new(centre, MARK / 2 - 2, paper().filled()))
                    .map_err(drawing_error)?;
                area.draw(&Circle::new(centre, MARK / 2 - 2, c.stroke_width(2)))
                    .map_err(drawing_error)?;
            }
        }
        area.draw_text(name, &font(12), (4 + MARK + 6, y)).map_err(drawing_error)?;
    }
    Ok(())
}

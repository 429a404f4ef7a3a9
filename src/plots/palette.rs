//! Colours shared by the figures: one colour per category (Okabe-Ito, colour-blind friendly),
//! the Q and K series colours, and the neutral greys.

use plotters::style::RGBColor;

/// Okabe & Ito's palette without black, yellow last (it is faint on white).
const CATEGORY_COLOURS: [RGBColor; 7] = [
    RGBColor(0xE6, 0x9F, 0x00), // orange
    RGBColor(0x56, 0xB4, 0xE9), // sky blue
    RGBColor(0x00, 0x9E, 0x73), // bluish green
    RGBColor(0xCC, 0x79, 0xA7), // reddish purple
    RGBColor(0x00, 0x72, 0xB2), // blue
    RGBColor(0xD5, 0x5E, 0x00), // vermillion
    RGBColor(0xF0, 0xE4, 0x42), // yellow
];

/// The colour of category `i` (0-based), the same in every figure; repeats after 7 categories.
pub fn category_colour(i: usize) -> RGBColor {
    CATEGORY_COLOURS[i % CATEGORY_COLOURS.len()]
}

/// Series colours of the representations (Okabe-Ito blue, vermillion and bluish green).
pub const Q_COLOUR: RGBColor = RGBColor(0x00, 0x72, 0xB2);
pub const K_COLOUR: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
pub const V_COLOUR: RGBColor = RGBColor(0x00, 0x9E, 0x73);

/// The lecture's grid colour, `[.8, .8, .8]`.
pub const GRID_GREY: RGBColor = RGBColor(204, 204, 204);
/// Points that are context, not the subject (all pairs behind a category's pairs).
pub const CONTEXT_GREY: RGBColor = RGBColor(190, 190, 190);
/// Cells or bars with no category (a group mask's zeros).
pub const EMPTY_GREY: RGBColor = RGBColor(238, 238, 238);

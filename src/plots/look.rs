//! How figures look on this screen: the colour scale of the heatmaps (viridis, or cividis for
//! viewers with a red-green colour-vision deficiency) and the theme (dark paper for a dim room).
//! A leaf: it imports no figure.
//!
//! The look is set for the span of one `draw_figure` call (`with_look`) and read by the leaves
//! that choose a colour (`paper`, `ink`, `font`, `scale::colour`). It reaches every caption,
//! axis and cell of every figure; passing it through each figure's spec would change every
//! signature for what is one choice of the viewer, not data. Outside `with_look` (tests that
//! call a figure directly) the look is the default: light, viridis.

use std::cell::Cell;

use plotters::chart::MeshStyle;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;

/// The heatmaps' sequential colour scale.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ColourScale {
    /// matplotlib's default, the lecture's.
    #[default]
    Viridis,
    /// Blue to yellow, readable with red-green colour blindness (Nuñez et al. 2018).
    Cividis,
}

/// The figures' paper and ink.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Theme {
    #[default]
    Light,
    Dark,
}

impl ColourScale {
    pub const ALL: [ColourScale; 2] = [ColourScale::Viridis, ColourScale::Cividis];

    /// The name in page addresses and menus (`viridis`, `cividis`).
    pub fn name(self) -> &'static str {
        match self {
            ColourScale::Viridis => "viridis",
            ColourScale::Cividis => "cividis",
        }
    }

    pub fn parse(s: &str) -> Option<ColourScale> {
        ColourScale::ALL.into_iter().find(|c| c.name().eq_ignore_ascii_case(s.trim()))
    }

    /// The colour at `t` in 0..=1 (clamped).
    pub fn at(self, t: f64) -> RGBColor {
        self.between(t, 0.0, 1.0)
    }

    /// The colour of `v` on a scale from `lo` to `hi` (clamped).
    pub fn between(self, v: f64, lo: f64, hi: f64) -> RGBColor {
        match self {
            // In f32 as plotters computes it, so the lecture's colours stay bit-for-bit.
            ColourScale::Viridis => ViridisRGB.get_color_normalized(v as f32, lo as f32, hi as f32),
            ColourScale::Cividis => {
                let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
                interpolate(&CIVIDIS, if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 })
            }
        }
    }
}

impl Theme {
    pub fn name(self) -> &'static str {
        match self {
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    pub fn parse(s: &str) -> Option<Theme> {
        [Theme::Light, Theme::Dark]
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s.trim()))
    }
}

/// matplotlib's cividis sampled at 17 even steps (0, 1/16, ..., 1), rounded to 8 bits.
const CIVIDIS: [RGBColor; 17] = [
    RGBColor(0, 34, 78),
    RGBColor(0, 46, 106),
    RGBColor(26, 56, 111),
    RGBColor(50, 67, 109),
    RGBColor(67, 78, 108),
    RGBColor(83, 90, 109),
    RGBColor(97, 101, 111),
    RGBColor(111, 112, 115),
    RGBColor(125, 124, 120),
    RGBColor(140, 136, 120),
    RGBColor(155, 148, 118),
    RGBColor(171, 160, 114),
    RGBColor(188, 174, 108),
    RGBColor(205, 187, 99),
    RGBColor(222, 201, 88),
    RGBColor(240, 216, 70),
    RGBColor(254, 232, 56),
];

fn interpolate(stops: &[RGBColor], t: f64) -> RGBColor {
    let x = t * (stops.len() - 1) as f64;
    let i = (x.floor() as usize).min(stops.len() - 2);
    let f = x - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (stops[i], stops[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// What the viewer chose for the figures' look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Look {
    pub scale: ColourScale,
    pub theme: Theme,
}

thread_local! {
    static CURRENT: Cell<Look> = const { Cell::new(Look { scale: ColourScale::Viridis, theme: Theme::Light }) };
}

/// Runs `draw` with `look` in force, and restores the previous look after (also on error).
pub(crate) fn with_look<T>(look: Look, draw: impl FnOnce() -> T) -> T {
    struct Restore(Look);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.replace(look)));
    draw()
}

pub(crate) fn current() -> Look {
    CURRENT.with(Cell::get)
}

/// The background of a figure.
pub(crate) fn paper() -> RGBColor {
    match current().theme {
        Theme::Light => WHITE,
        // Not black: a projector's black is grey anyway, and pure white text on it glares.
        Theme::Dark => RGBColor(0x1e, 0x22, 0x28),
    }
}

/// Text, axes and outlines.
pub(crate) fn ink() -> RGBColor {
    match current().theme {
        Theme::Light => BLACK,
        Theme::Dark => RGBColor(0xe8, 0xea, 0xed),
    }
}

/// Sans-serif text of `px` pixels in the ink colour.
pub(crate) fn font(px: u32) -> TextStyle<'static> {
    // By field: `TextStyle::color` would tie the style's lifetime to a borrowed colour.
    TextStyle {
        color: ink().to_backend_color(),
        ..TextStyle::from(("sans-serif", px).into_font())
    }
}

/// Gives a chart's mesh the ink colour (plotters' defaults are black on any paper).
pub(crate) fn inked<'a, 'b, X, Y, XT, YT, DB>(mesh: &'b mut MeshStyle<'a, 'b, X, Y, DB>) -> &'b mut MeshStyle<'a, 'b, X, Y, DB>
where
    X: Ranged<ValueType = XT> + ValueFormatter<XT>,
    Y: Ranged<ValueType = YT> + ValueFormatter<YT>,
    DB: DrawingBackend,
{
    let ink = ink();
    // The same mixes as plotters' defaults, so the light look is unchanged.
    mesh.axis_style(ink)
        .bold_line_style(ink.mix(0.2))
        .light_line_style(ink.mix(0.1))
        .label_style(font(12))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cividis_ends_match_matplotlib_and_viridis_is_plotters() {
        assert_eq!(ColourScale::Cividis.at(0.0), RGBColor(0, 34, 78));
        assert_eq!(ColourScale::Cividis.at(1.0), RGBColor(254, 232, 56));
        assert_eq!(ColourScale::Cividis.at(0.5), RGBColor(125, 124, 120));
        assert_eq!(ColourScale::Viridis.at(0.0), ViridisRGB.get_color(0.0));
        // Monotone in brightness, which is what makes it readable without hue.
        let lum = |c: RGBColor| 0.2126 * c.0 as f64 + 0.7152 * c.1 as f64 + 0.0722 * c.2 as f64;
        let l: Vec<f64> = (0..=64).map(|i| lum(ColourScale::Cividis.at(i as f64 / 64.0))).collect();
        assert!(l.windows(2).all(|w| w[1] >= w[0]), "{l:?}");
    }

    #[test]
    fn a_look_holds_only_inside_with_look() {
        let dark = Look {
            scale: ColourScale::Cividis,
            theme: Theme::Dark,
        };
        let inside = with_look(dark, || (current(), paper(), ink()));
        assert_eq!(inside.0, dark);
        assert_ne!(inside.1, WHITE);
        assert_eq!(current(), Look::default());
        assert_eq!(paper(), WHITE);
        assert_eq!(ink(), BLACK);
    }

    #[test]
    fn names_round_trip() {
        for c in ColourScale::ALL {
            assert_eq!(ColourScale::parse(c.name()), Some(c));
        }
        assert_eq!(Theme::parse("DARK"), Some(Theme::Dark));
        assert_eq!(ColourScale::parse("jet"), None);
    }
}

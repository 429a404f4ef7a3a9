//! What the user chose for the figures (colour limits, a picked pair, a head, the head grid's
//! space). A leaf: it imports no figure.

/// A representation: which one the head grid's left heatmap shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Space {
    #[default]
    Q,
    K,
    V,
}

impl Space {
    pub fn name(self) -> &'static str {
        match self {
            Space::Q => "Q",
            Space::K => "K",
            Space::V => "V",
        }
    }
}

/// The lecture's colour limits for gpt2-medium, layer 5.
pub const LECTURE_Q_RANGE: (f64, f64) = (0.6, 0.85);
pub const LECTURE_K_RANGE: (f64, f64) = (0.82, 0.95);

/// What the user chose for the figures.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FigureOptions {
    /// Auto limits from the data, or the lecture's fixed ones.
    pub lecture_limits: bool,
    /// A word pair (i, j) picked by the pointer, marked in every figure.
    pub highlight: Option<(usize, usize)>,
    /// The selected head: the Q·K matrix shown (None: head 0) and the cell outlined in the head grid.
    pub head: Option<usize>,
    /// The space of the head grid's left heatmap.
    pub grid_space: Space,
    /// The colour scale and theme the viewer chose.
    pub look: super::look::Look,
}

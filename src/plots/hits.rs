//! Where a figure's items landed on screen, in the backend's pixels: for finding the word pair,
//! layer or head under the pointer. A leaf: it imports no figure.

/// Where a grid's cells landed, in the backend's pixels: for finding the cell under a pointer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CellGrid {
    pub n: usize,
    /// Top-left corner of cell (0, 0) and bottom-right corner of cell (n-1, n-1).
    pub top_left: (i32, i32),
    pub bottom_right: (i32, i32),
}

impl CellGrid {
    /// The (row, column) under pixel (x, y), if any.
    pub fn cell_at(&self, x: f64, y: f64) -> Option<(usize, usize)> {
        let (x0, y0) = (self.top_left.0 as f64, self.top_left.1 as f64);
        let (w, h) = (
            (self.bottom_right.0 - self.top_left.0) as f64,
            (self.bottom_right.1 - self.top_left.1) as f64,
        );
        if self.n == 0 || w <= 0.0 || h <= 0.0 || x < x0 || y < y0 || x >= x0 + w || y >= y0 + h {
            return None;
        }
        let col = ((x - x0) / w * self.n as f64) as usize;
        let row = ((y - y0) / h * self.n as f64) as usize;
        Some((row.min(self.n - 1), col.min(self.n - 1)))
    }
}

/// The index of the point nearest to pixel (x, y), if one lies within `radius` pixels.
pub fn nearest_point(points: &[(i32, i32)], x: f64, y: f64, radius: f64) -> Option<usize> {
    points
        .iter()
        .enumerate()
        .map(|(i, &(px, py))| (i, (px as f64 - x).powi(2) + (py as f64 - y).powi(2)))
        .filter(|&(_, d2)| d2 <= radius * radius)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

/// A plotting area's rectangle: top-left corner (inclusive) and bottom-right corner (exclusive).
pub type PixelRect = [(i32, i32); 2];

fn inside(r: &PixelRect, x: f64, y: f64) -> bool {
    let ([x0, y0], [x1, y1]) = ([r[0].0 as f64, r[0].1 as f64], [r[1].0 as f64, r[1].1 as f64]);
    x1 > x0 && y1 > y0 && x >= x0 && x < x1 && y >= y0 && y < y1
}

/// The layer columns of the layer sweep: one or more panels sharing the x axis, whose data x
/// range is `x_range` (layer L's column spans L - 0.5 .. L + 0.5).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerColumns {
    pub layers: Vec<usize>,
    pub x_range: (f64, f64),
    pub panels: Vec<PixelRect>,
}

impl LayerColumns {
    /// The layer whose column holds pixel (x, y), in any panel.
    pub fn layer_at(&self, x: f64, y: f64) -> Option<usize> {
        let panel = self.panels.iter().find(|r| inside(r, x, y))?;
        let (x0, x1) = (panel[0].0 as f64, panel[1].0 as f64);
        let data = self.x_range.0 + (x - x0) / (x1 - x0) * (self.x_range.1 - self.x_range.0);
        let layer = (data + 0.5).floor();
        (layer >= 0.0).then_some(layer as usize).filter(|l| self.layers.contains(l))
    }
}

/// The cells of the head grid's heatmaps: rows are `layers` (top to bottom), columns heads
/// 0..heads; each panel one heatmap.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadCells {
    pub layers: Vec<usize>,
    pub heads: usize,
    pub panels: Vec<PixelRect>,
}

impl HeadCells {
    /// (layer, head) of the cell under pixel (x, y), in any panel.
    pub fn head_at(&self, x: f64, y: f64) -> Option<(usize, usize)> {
        let panel = self.panels.iter().find(|r| inside(r, x, y))?;
        let (rows, cols) = (self.layers.len(), self.heads);
        if rows == 0 || cols == 0 {
            return None;
        }
        let fx = (x - panel[0].0 as f64) / (panel[1].0 - panel[0].0) as f64;
        let fy = (y - panel[0].1 as f64) / (panel[1].1 - panel[0].1) as f64;
        let col = ((fx * cols as f64) as usize).min(cols - 1);
        let row = ((fy * rows as f64) as usize).min(rows - 1);
        Some((self.layers[row], col))
    }
}

/// Where a figure's word pairs (or layers, or heads) are on screen.
#[derive(Clone, Debug, PartialEq)]
pub enum HitMap {
    /// A cosine heatmap's (or the group mask's) cells (row, column) = word pair; the diagonal is
    /// no pair.
    Cells(CellGrid),
    /// Pixel position of each upper-triangle pair (i < j, row-major).
    Points { n: usize, points: Vec<(i32, i32)> },
    /// A Q·K matrix's cells: (query i, key j), the diagonal included (q_i·k_i is a score).
    QkCells(CellGrid),
    /// The layer sweep's layer columns.
    Layers(LayerColumns),
    /// The head grid's (layer, head) cells.
    HeadCells(HeadCells),
}

impl HitMap {
    /// The word pair (i, j), i != j, under pixel (x, y).
    pub fn pair_at(&self, x: f64, y: f64) -> Option<(usize, usize)> {
        match self {
            HitMap::Cells(grid) | HitMap::QkCells(grid) => grid.cell_at(x, y).filter(|(i, j)| i != j),
            HitMap::Points { n, points } => {
                let k = nearest_point(points, x, y, 8.0)?;
                (0..*n).flat_map(|i| (i + 1..*n).map(move |j| (i, j))).nth(k)
            }
            HitMap::Layers(_) | HitMap::HeadCells(_) => None,
        }
    }

    /// The cell (row, column) of a heatmap under pixel (x, y), the diagonal included; for a Q·K
    /// matrix (query, key).
    pub fn cell_at(&self, x: f64, y: f64) -> Option<(usize, usize)> {
        match self {
            HitMap::Cells(grid) | HitMap::QkCells(grid) => grid.cell_at(x, y),
            _ => None,
        }
    }

    /// The layer under pixel (x, y) in the layer sweep.
    pub fn layer_at(&self, x: f64, y: f64) -> Option<usize> {
        match self {
            HitMap::Layers(columns) => columns.layer_at(x, y),
            _ => None,
        }
    }

    /// (layer, head) under pixel (x, y) in the head grid.
    pub fn head_at(&self, x: f64, y: f64) -> Option<(usize, usize)> {
        match self {
            HitMap::HeadCells(cells) => cells.head_at(x, y),
            _ => None,
        }
    }
}

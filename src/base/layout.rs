//! Grid maths for device tiles: pure, shared by the renderer and the tests.

/// A rectangle in pixels, origin at the top-left of the screen, y down.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

impl Rect {
    /// Centre point.
    pub fn center(&self) -> (f32, f32) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }
}

/// Height of the top bar for a screen of `height` pixels.
pub fn bar_height(height: f32) -> f32 {
    (height * 0.06).clamp(36.0, 160.0)
}

/// The tile area below the bar.
pub fn tile_area(width: f32, height: f32) -> Rect {
    let bar = bar_height(height);
    let margin = (height * 0.012).max(4.0);
    Rect { x: margin, y: bar + margin, w: (width - 2.0 * margin).max(1.0), h: (height - bar - 2.0 * margin).max(1.0) }
}

/// The rectangle of a panel placed at `at` (column, row) spanning `span`
/// cells of a `grid` (columns, rows) laid over `area`, with a gap between
/// neighbours.
pub fn cell_rect(area: Rect, grid: (u8, u8), at: (u8, u8), span: (u8, u8)) -> Rect {
    let (cols, rows) = (f32::from(grid.0.max(1)), f32::from(grid.1.max(1)));
    let (cw, ch) = (area.w / cols, area.h / rows);
    let gap = if grid == (1, 1) { 0.0 } else { (area.h * 0.015).max(4.0) };
    let x = area.x + f32::from(at.0) * cw;
    let y = area.y + f32::from(at.1) * ch;
    let right_edge = at.0 + span.0 >= grid.0;
    let bottom_edge = at.1 + span.1 >= grid.1;
    Rect {
        x,
        y,
        w: (f32::from(span.0) * cw - if right_edge { 0.0 } else { gap }).max(1.0),
        h: (f32::from(span.1) * ch - if bottom_edge { 0.0 } else { gap }).max(1.0),
    }
}

/// A square grid for `n` tiles in `area`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    /// Area the grid fills.
    pub area: Rect,
    /// Columns.
    pub cols: usize,
    /// Rows.
    pub rows: usize,
    /// Side of one cell.
    pub cell: f32,
    /// Gap between tiles inside a cell.
    pub gap: f32,
}

impl Grid {
    /// The largest square cells that fit `n` tiles into `area`.
    pub fn fit(n: usize, area: Rect) -> Self {
        let n = n.max(1);
        let mut best = Grid { area, cols: 1, rows: n, cell: 0.0, gap: 0.0 };
        for cols in 1..=n {
            let rows = n.div_ceil(cols);
            let cell = (area.w / cols as f32).min(area.h / rows as f32);
            if cell > best.cell {
                best = Grid { area, cols, rows, cell, gap: 0.0 };
            }
            if rows == 1 {
                break;
            }
        }
        best.gap = (best.cell * 0.08).clamp(1.0, 12.0);
        best
    }

    /// The index of the tile under pixel `(x, y)` (top-left origin), if any
    /// of the first `n` tiles is there (gaps hit nothing).
    pub fn at(&self, x: f32, y: f32, n: usize) -> Option<usize> {
        let slack = (self.area.w - self.cols as f32 * self.cell).max(0.0) / 2.0;
        let (fx, fy) = ((x - self.area.x - slack) / self.cell, (y - self.area.y) / self.cell);
        if fx < 0.0 || fy < 0.0 || fx >= self.cols as f32 || fy >= self.rows as f32 {
            return None;
        }
        let i = fy as usize * self.cols + fx as usize;
        let t = self.tile(i);
        (i < n && x >= t.x && x < t.x + t.w && y >= t.y && y < t.y + t.h).then_some(i)
    }

    /// The tile index `(dx, dy)` tiles away from `i` (arrow keys), kept inside the first `n`.
    pub fn step(&self, i: usize, dx: i32, dy: i32, n: usize) -> usize {
        let (c, r) = ((i % self.cols) as i64, (i / self.cols) as i64);
        let c = (c + i64::from(dx)).clamp(0, self.cols as i64 - 1);
        let r = (r + i64::from(dy)).clamp(0, self.rows as i64 - 1);
        ((r * self.cols as i64 + c) as usize).min(n.saturating_sub(1))
    }

    /// The tile rectangle of index `i` (row-major).
    pub fn tile(&self, i: usize) -> Rect {
        let (c, r) = (i % self.cols, i / self.cols);
        let side = (self.cell - self.gap).max(1.0);
        // Centre the grid horizontally when the rows limit the cell size.
        let slack = (self.area.w - self.cols as f32 * self.cell).max(0.0) / 2.0;
        Rect {
            x: self.area.x + slack + c as f32 * self.cell + self.gap / 2.0,
            y: self.area.y + r as f32 * self.cell + self.gap / 2.0,
            w: side,
            h: side,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_finds_its_tile_and_arrows_stay_inside() {
        let g = Grid::fit(10, tile_area(1920.0, 1080.0));
        for i in 0..10 {
            let t = g.tile(i);
            assert_eq!(g.at(t.x + t.w / 2.0, t.y + t.h / 2.0, 10), Some(i));
        }
        let t = g.tile(0);
        assert_eq!(g.at(t.x - g.gap / 4.0, t.y + 1.0, 10), None, "the gap is no tile");
        assert_eq!(g.at(-5.0, -5.0, 10), None);
        assert_eq!(g.step(0, -1, -1, 10), 0);
        assert_eq!(g.step(0, 1, 0, 10), 1);
        assert_eq!(g.step(0, 0, 1, 10), g.cols.min(9));
        assert_eq!(g.step(9, 1, 1, 10), 9, "past the last tile stays on it");
    }

    #[test]
    fn tiles_fit_inside_the_area_without_overlap() {
        let area = tile_area(1920.0, 1080.0);
        for n in [1, 7, 500, 10_000] {
            let g = Grid::fit(n, area);
            assert!(g.cols * g.rows >= n);
            let last = g.tile(n - 1);
            assert!(last.x + last.w <= area.x + area.w + 0.01, "n={n}");
            assert!(last.y + last.h <= area.y + area.h + 0.01, "n={n}");
            if n > 1 {
                let (a, b) = (g.tile(0), g.tile(1));
                assert!(a.x + a.w <= b.x || a.y + a.h <= b.y, "tiles 0 and 1 overlap at n={n}");
            }
        }
    }

    #[test]
    fn panel_cells_split_the_area_with_gaps_and_reach_its_edges() {
        let area = tile_area(1920.0, 1080.0);
        let whole = cell_rect(area, (1, 1), (0, 0), (1, 1));
        assert_eq!(whole, area);
        let left = cell_rect(area, (2, 2), (0, 0), (1, 2));
        let top_right = cell_rect(area, (2, 2), (1, 0), (1, 1));
        let bottom_right = cell_rect(area, (2, 2), (1, 1), (1, 1));
        assert!(left.x + left.w < top_right.x, "a gap between columns");
        assert!(top_right.y + top_right.h < bottom_right.y, "a gap between rows");
        assert!((bottom_right.x + bottom_right.w - (area.x + area.w)).abs() < 0.01, "the right edge is reached");
        assert!((left.y + left.h - (area.y + area.h)).abs() < 0.01, "the bottom edge is reached");
    }

    #[test]
    fn wide_screens_get_more_columns_than_rows() {
        let g = Grid::fit(500, tile_area(1920.0, 1080.0));
        assert!(g.cols > g.rows);
        assert!(g.cell > 40.0, "500 tiles on 1080p stay readable, cell {}", g.cell);
    }
}

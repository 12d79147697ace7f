//! Integral images (summed-area tables) of term images.
//!
//! Window sums in O(1) are what make the sliding-window map O(H x W) per
//! stride instead of O(windows x window area).

use crate::measure::{Term, WindowSum};

/// Summed-area table with a zero first row and column.
pub(crate) struct Integral<A> {
    w: usize,
    data: Vec<A>,
}

impl<A: WindowSum> Integral<A> {
    /// Sums `rows x cols` values read by `get(y, x)`.
    fn build(rows: usize, cols: usize, get: impl Fn(usize, usize) -> f64) -> Self {
        let w = cols + 1;
        let mut data = vec![A::ZERO; (rows + 1) * w];
        for y in 0..rows {
            let mut run = A::ZERO;
            for x in 0..cols {
                run = run.add(A::from_term(get(y, x)));
                data[(y + 1) * w + x + 1] = data[y * w + x + 1].add(run);
            }
        }
        Integral { w, data }
    }

    /// Sum over rows `[y0, y1)` and columns `[x0, x1)`; empty ranges sum to 0.
    #[inline]
    fn rect(&self, y0: usize, y1: usize, x0: usize, x1: usize) -> A {
        if y1 <= y0 || x1 <= x0 {
            return A::ZERO;
        }
        let d = &self.data;
        let w = self.w;
        d[y1 * w + x1]
            .sub(d[y0 * w + x1])
            .sub(d[y1 * w + x0])
            .add(d[y0 * w + x0])
    }
}

/// The window-sum machinery of one term: one table for step 1, one per
/// (row parity, column parity) for the step-2 Haar blocks.
pub(crate) struct TermSums<A> {
    ky: usize,
    kx: usize,
    step: usize,
    tables: Vec<Integral<A>>,
}

impl<A: WindowSum> TermSums<A> {
    pub(crate) fn new(t: &Term) -> Self {
        let (th, tw) = t.values.dim();
        let v = &t.values;
        let tables = if t.step == 1 {
            vec![Integral::build(th, tw, |y, x| v[(y, x)])]
        } else {
            let mut tables = Vec::with_capacity(4);
            for py in 0..2 {
                for px in 0..2 {
                    let rows = th.saturating_sub(py).div_ceil(2);
                    let cols = tw.saturating_sub(px).div_ceil(2);
                    tables.push(Integral::build(rows, cols, |y, x| {
                        v[(py + 2 * y, px + 2 * x)]
                    }));
                }
            }
            tables
        };
        TermSums {
            ky: t.ky,
            kx: t.kx,
            step: t.step,
            tables,
        }
    }

    /// Sum of the terms whose stencil lies inside window `[y0,y1) x [x0,x1)`.
    #[inline]
    pub(crate) fn window(&self, y0: usize, y1: usize, x0: usize, x1: usize) -> A {
        // Anchors run over [y0, y1 - ky] (inclusive) when the stencil fits.
        let (Some(ye), Some(xe)) = ((y1 + 1).checked_sub(self.ky), (x1 + 1).checked_sub(self.kx))
        else {
            return A::ZERO;
        };
        if self.step == 1 {
            return self.tables[0].rect(y0, ye, x0, xe);
        }
        if ye <= y0 || xe <= x0 {
            return A::ZERO;
        }
        // Step 2: anchors y0, y0+2, ... live in the table of y0's parity.
        let table = &self.tables[(y0 % 2) * 2 + (x0 % 2)];
        let (ny, nx) = ((ye - y0).div_ceil(2), (xe - x0).div_ceil(2));
        table.rect(y0 / 2, y0 / 2 + ny, x0 / 2, x0 / 2 + nx)
    }
}

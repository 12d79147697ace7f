//! Focus-score maps: the paper's sliding-window scheme.
//!
//! For each stride `s`, windows of size `w` start on the lattice
//! `y0 in {0, s, 2s, ...} < H` (and likewise in x) and are clipped to the
//! image at the right and bottom edges. Each window's score is *added* onto
//! every pixel it covers; the map of a slice is the pixel-wise maximum over
//! the strides. That is exactly the published notebook's
//! `slidingStackQuality`, computed here in O(H x W) per stride:
//!
//! 1. term images and their integral images, once per slice (all strides
//!    share them), give each window's sums in O(1);
//! 2. the windows covering pixel `(y, x)` are a rectangle of the window grid
//!    (rows `ceil((y-w+1)/s) ..= y/s`, columns likewise), so a pixel's total
//!    is a rectangle sum of the grid, taken from per-row-band prefix sums.
//!
//! Entropy is not a sum of pixel terms: its windows are scored from a
//! histogram slid along each row of windows (remove the columns that leave,
//! add those that enter), O(H x W x w / s) per stride.
//!
//! Slices are independent and run in parallel; nothing depends on the number
//! of threads, so results are bit-identical for any pool size.

mod integral;

use crate::error::{Error, Result};
use crate::measure::{Compensated, Measure, WindowSum, entropy_bins, entropy_of_counts, terms};
use crate::progress::{Counter, Progress};
use crate::stack::StackView;
use integral::TermSums;
use ndarray::{Array2, Array3, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

/// What the sliding-window map computes.
#[derive(Clone, Debug, PartialEq)]
pub struct MapParams {
    pub measure: Measure,
    /// Side of the square window, in pixels.
    pub window: usize,
    /// Window steps; the map is the maximum over them.
    pub strides: Vec<usize>,
}

impl MapParams {
    /// The paper's notebook: std, window 128, strides 8, 10, ..., 36.
    pub fn paper() -> Self {
        MapParams {
            measure: Measure::Std,
            window: 128,
            strides: (8..=36).step_by(2).collect(),
        }
    }

    /// Rejects parameters that define no map.
    pub fn validate(&self) -> Result<()> {
        if self.window == 0 {
            return Err(Error::invalid("window must be at least 1 pixel"));
        }
        if self.strides.is_empty() {
            return Err(Error::invalid(
                "the stride list is empty; give at least one stride, e.g. 8",
            ));
        }
        if let Some(s) = self.strides.iter().find(|&&s| s == 0) {
            return Err(Error::invalid(format!(
                "stride {s} is not allowed; strides must be at least 1"
            )));
        }
        Ok(())
    }
}

/// The focus-score map (f32, Z x H x W) of a stack.
///
/// Reports one unit per finished slice; a cancel from `progress` stops the
/// call with [`Error::Cancelled`].
pub fn focus_map(stack: StackView, params: &MapParams, progress: &Progress) -> Result<Array3<f32>> {
    stack.validate()?;
    params.validate()?;
    let (z, h, w) = stack.dim();
    let range = stack.min_max();
    let mut out = Array3::<f32>::zeros((z, h, w));
    let counter = Counter::new(progress, z as u64);
    counter.check()?;
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .try_for_each(|(k, mut slice_out)| {
            counter.check()?;
            slice_map(&stack, k, range, params, slice_out.view_mut());
            counter.add(1)
        })?;
    Ok(out)
}

/// The map of slice `k` into `out` (H x W).
pub(crate) fn slice_map(
    stack: &StackView,
    k: usize,
    range: (f64, f64),
    p: &MapParams,
    mut out: ArrayViewMut2<f32>,
) {
    out.fill(f32::NEG_INFINITY);
    let (_, h, w) = stack.dim();
    let grids: Box<dyn Fn(usize) -> Array2<f64> + Sync> = match p.measure {
        Measure::Entropy => {
            let bins = entropy_bins(stack, k, range);
            let win = p.window;
            Box::new(move |s| entropy_grid(bins.view(), win, s))
        }
        m => {
            let slice = stack.slice_f64(k);
            if stack.pixel_type().is_integer() {
                sum_grids::<i64>(m, slice.view(), true, p.window)
            } else {
                sum_grids::<Compensated>(m, slice.view(), false, p.window)
            }
        }
    };
    for &s in &p.strides {
        spread_max(&grids(s), p.window, s, h, w, out.view_mut());
    }
}

/// The window-score grid maker of a sum measure: build the integral images
/// once, then score the windows of any stride from them.
fn sum_grids<A: WindowSum>(
    m: Measure,
    slice: ArrayView2<f64>,
    integer: bool,
    win: usize,
) -> Box<dyn Fn(usize) -> Array2<f64> + Sync> {
    let (h, w) = slice.dim();
    let tables: Vec<TermSums<A>> = terms(m, slice, integer).iter().map(TermSums::new).collect();
    Box::new(move |s| {
        let mut sums = vec![A::ZERO; tables.len()];
        Array2::from_shape_fn((h.div_ceil(s), w.div_ceil(s)), |(i, j)| {
            let (y0, x0) = (i * s, j * s);
            let (y1, x1) = ((y0 + win).min(h), (x0 + win).min(w));
            for (sum, t) in sums.iter_mut().zip(&tables) {
                *sum = t.window(y0, y1, x0, x1);
            }
            m.score(((y1 - y0) * (x1 - x0)) as u64, &sums)
        })
    })
}

/// Entropy of every window of stride `s`, sliding a histogram along each row
/// of windows.
fn entropy_grid(bins: ArrayView2<u8>, win: usize, s: usize) -> Array2<f64> {
    let (h, w) = bins.dim();
    let (ny, nx) = (h.div_ceil(s), w.div_ceil(s));
    let mut grid = Array2::zeros((ny, nx));
    grid.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(i, mut row)| {
            let (y0, y1) = (i * s, (i * s + win).min(h));
            let mut hist = [0u32; 256];
            let cols = |hist: &mut [u32; 256], x0: usize, x1: usize, add: bool| {
                for y in y0..y1 {
                    for &b in bins.row(y).slice(ndarray::s![x0..x1]) {
                        if add {
                            hist[b as usize] += 1
                        } else {
                            hist[b as usize] -= 1
                        }
                    }
                }
            };
            let end = |j: usize| (j * s + win).min(w);
            cols(&mut hist, 0, end(0), true);
            for j in 0..nx {
                if j > 0 {
                    let (prev_end, start) = (end(j - 1), j * s);
                    cols(&mut hist, (j - 1) * s, prev_end.min(start), false);
                    cols(&mut hist, prev_end.max(start), end(j), true);
                }
                let n = ((y1 - y0) * (end(j) - j * s)) as u64;
                row[j] = entropy_of_counts(&hist, n);
            }
        });
    grid
}

/// Adds each window's score onto the pixels it covers and keeps the
/// pixel-wise maximum with what `out` already holds.
fn spread_max(
    grid: &Array2<f64>,
    win: usize,
    s: usize,
    h: usize,
    w: usize,
    mut out: ArrayViewMut2<f32>,
) {
    let (ny, nx) = grid.dim();
    // Windows covering coordinate c: lattice indices ceil((c+1-win)/s) ..= c/s.
    let cover = |c: usize, n: usize| {
        (
            (c + 1).saturating_sub(win).div_ceil(s),
            (c / s).min(n - 1) + 1,
        )
    };
    let cols: Vec<(usize, usize)> = (0..w).map(|x| cover(x, nx)).collect();
    // Rows with the same window rows share one prefix-sum line.
    let mut runs: Vec<(usize, usize, (usize, usize))> = Vec::new();
    for y in 0..h {
        let band = cover(y, ny);
        match runs.last_mut() {
            Some((_, len, b)) if *b == band => *len += 1,
            _ => runs.push((y, 1, band)),
        }
    }
    let mut rest = out.as_slice_mut().expect("map slices are contiguous");
    let mut chunks = Vec::with_capacity(runs.len());
    for &(_, len, band) in &runs {
        let (chunk, tail) = rest.split_at_mut(len * w);
        chunks.push((chunk, band));
        rest = tail;
    }
    chunks.into_par_iter().for_each(|(chunk, (ilo, ihi))| {
        let mut prefix = vec![0.0f64; nx + 1];
        for j in 0..nx {
            let col: f64 = (ilo..ihi).map(|i| grid[(i, j)]).sum();
            prefix[j + 1] = prefix[j] + col;
        }
        for row in chunk.chunks_exact_mut(w) {
            for (o, &(jlo, jhi)) in row.iter_mut().zip(&cols) {
                let v = if jhi > jlo {
                    (prefix[jhi] - prefix[jlo]) as f32
                } else {
                    0.0
                };
                *o = o.max(v);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::Stack;

    /// The notebook's loop, literally: every window, every covered pixel.
    fn literal_std_map(img: &Array2<f64>, win: usize, strides: &[usize]) -> Array2<f64> {
        let (h, w) = img.dim();
        let mut best = Array2::from_elem((h, w), f64::NEG_INFINITY);
        for &s in strides {
            let mut acc = Array2::<f64>::zeros((h, w));
            for y0 in (0..h).step_by(s) {
                for x0 in (0..w).step_by(s) {
                    let win = img.slice(ndarray::s![y0..(y0 + win).min(h), x0..(x0 + win).min(w)]);
                    let mean = win.mean().unwrap();
                    let sd = win.mapv(|v| (v - mean).powi(2)).mean().unwrap().sqrt();
                    acc.slice_mut(ndarray::s![y0..(y0 + win.nrows()), x0..(x0 + win.ncols())])
                        .mapv_inplace(|a| a + sd);
                }
            }
            ndarray::Zip::from(&mut best)
                .and(&acc)
                .for_each(|b, &a| *b = b.max(a));
        }
        best
    }

    #[test]
    fn std_map_matches_the_literal_loop() {
        let img = Array2::from_shape_fn((37, 53), |(y, x)| ((y * 31 + x * 17 + y * x) % 251) as u8);
        let stack = Stack::U8(img.clone().insert_axis(Axis(0)));
        let p = MapParams {
            measure: Measure::Std,
            window: 16,
            strides: vec![3, 5, 7],
        };
        let fast = focus_map(stack.view(), &p, &Progress::none()).unwrap();
        let slow = literal_std_map(&img.mapv(f64::from), 16, &[3, 5, 7]);
        for ((y, x), &v) in slow.indexed_iter() {
            let f = f64::from(fast[(0, y, x)]);
            assert!(
                (f - v).abs() <= 1e-6 * v.abs().max(1e-30),
                "({y},{x}): {f} vs {v}"
            );
        }
    }

    #[test]
    fn cancel_stops_the_map() {
        let stack = Stack::U8(Array3::zeros((4, 8, 8)));
        let p = MapParams {
            measure: Measure::Std,
            window: 4,
            strides: vec![2],
        };
        let err = focus_map(stack.view(), &p, &Progress::new(|done, _| done < 1)).unwrap_err();
        assert!(matches!(err, Error::Cancelled));
    }
}

//! Focus-score maps: the paper's sliding-window scheme.
//!
//! For each stride `s`, windows of size `w` start on the lattice
//! `y0 in {0, s, 2s, ...} < H` (and likewise in x) and are clipped to the
//! image at the right and bottom edges. Each window's score is *added* onto
//! every pixel it covers; the map of a slice is the pixel-wise maximum over
//! the strides. That is exactly the published notebook's
//! `slidingStackQuality`, computed here in O(H x W) per slice plus a cheap
//! O(H x W) maximum per stride:
//!
//! 1. window scores ([`sums`]): one sweep down the slice keeps running column
//!    sums of each term and, at window-edge rows only, turns them into the
//!    integral-image row and reads it at the window-edge columns of every
//!    stride; entropy ([`entropy`]) uses histograms instead;
//! 2. spreading ([`spread`]): for one stride the map is piecewise constant,
//!    rows with the same band of window rows are identical and each row is
//!    constant between consecutive window edges, so each stride's row is
//!    built once per band by filling runs, and the output row is the
//!    element-wise maximum of the strides' rows.
//!
//! Slices are independent and run in parallel, and so do blocks of output
//! rows when there are too few slices; no result depends on how the work is
//! split, so maps are bit-identical for any number of threads. The hot
//! loops also run as AVX2 builds where the CPU has them ([`crate::simd`]), with
//! the same bits.

mod entropy;
mod lattice;
mod spread;
mod sums;

use crate::error::{Error, Result};
use crate::measure::{EntropyBins, Measure};
use crate::progress::{Counter, Progress};
use crate::stack::StackView;
use ndarray::{Array3, ArrayView2, ArrayViewMut3, Axis};
use rayon::prelude::*;
use sums::{Float, Int, Pixel, sum_grids};

/// The window scores of one stride, row-major (`ny` rows of `nx`).
pub(crate) struct Grid {
    #[allow(dead_code)]
    pub ny: usize,
    pub nx: usize,
    pub v: Vec<f64>,
}

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
    let range = stack_range(stack, params);
    let mut out = zeroed(stack.dim());
    focus_map_into(stack, range, params, progress, out.view_mut())?;
    Ok(out)
}

/// A zeroed output array. On Linux its pages are asked to be huge pages, so
/// that writing a large map faults in 2 MiB at a time instead of 4 KiB.
fn zeroed(dim: (usize, usize, usize)) -> Array3<f32> {
    let len = dim.0 * dim.1 * dim.2;
    let v = vec![0.0f32; len];
    #[cfg(target_os = "linux")]
    if std::env::var_os("INFOCUS_NO_THP").is_none() && len * 4 >= 4 << 20 {
        let page = 4096usize;
        let start = (v.as_ptr() as usize).next_multiple_of(page);
        let end = (v.as_ptr() as usize + len * 4) & !(page - 1);
        if end > start {
            // Advisory only: failure leaves ordinary pages.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    Array3::from_shape_vec(dim, v).expect("length matches the shape")
}

/// The `(min, max)` a map of `stack` needs: the whole stack's range for
/// entropy on u16 and f32 stacks (their 256 bins span it), else unused.
pub fn stack_range(stack: StackView, params: &MapParams) -> (f64, f64) {
    if params.measure == Measure::Entropy && !matches!(stack, StackView::U8(_)) {
        stack.min_max()
    } else {
        (0.0, 0.0)
    }
}

/// The focus-score map of `part` into `out` (same shape). `part` may be a
/// run of slices of a larger stack: `range` is the whole stack's, as given
/// by [`stack_range`], so that a stack mapped part by part (streaming) gives
/// exactly the map of the whole.
pub fn focus_map_into(
    part: StackView,
    range: (f64, f64),
    params: &MapParams,
    progress: &Progress,
    mut out: ArrayViewMut3<f32>,
) -> Result<()> {
    part.validate()?;
    params.validate()?;
    if out.dim() != part.dim() {
        return Err(Error::invalid(format!(
            "output has shape {:?} but the stack has shape {:?}",
            out.dim(),
            part.dim()
        )));
    }
    let counter = Counter::new(progress, part.dim().0 as u64);
    counter.check()?;
    let binner = (params.measure == Measure::Entropy).then(|| EntropyBins::new(&part, range));
    // Slices run in parallel; split a slice's rows between threads too only
    // when there are too few slices to keep every thread busy (splitting
    // costs each block a fresh start).
    let (z, h) = (part.dim().0, part.dim().1);
    let chunk = if z < 2 * rayon::current_num_threads() {
        spread::CHUNK
    } else {
        h
    };
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .try_for_each(|(k, mut slice_out)| {
            counter.check()?;
            let (h, w) = slice_out.dim();
            let cpu = || {
                let mut t = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
                t.tv_sec as f64 * 1e3 + t.tv_nsec as f64 * 1e-6
            };
            let t0 = cpu();
            let grids = slice_grids(&part, k, range, binner.as_ref(), params);
            let t1 = cpu();
            match slice_out.as_slice_mut() {
                Some(o) => {
                    spread::spread_max(&grids, params.window, &params.strides, (h, w), chunk, o)
                }
                None => {
                    let mut o = vec![0.0f32; h * w];
                    spread::spread_max(
                        &grids,
                        params.window,
                        &params.strides,
                        (h, w),
                        chunk,
                        &mut o,
                    );
                    for (d, s) in slice_out.iter_mut().zip(&o) {
                        *d = *s;
                    }
                }
            }
            if std::env::var_os("INFOCUS_PROF").is_some() {
                eprintln!(
                    "slice {k}: grids {:.2} ms, spread {:.2} ms",
                    t1 - t0,
                    cpu() - t1
                );
            }
            counter.add(1)
        })
}

/// The window-score grids of slice `k`, one per stride; `binner` is the
/// stack's entropy bins over `range` when the measure is entropy.
fn slice_grids(
    stack: &StackView,
    k: usize,
    range: (f64, f64),
    binner: Option<&EntropyBins>,
    p: &MapParams,
) -> Vec<Grid> {
    fn ints<P: Pixel>(img: ArrayView2<P>, p: &MapParams) -> Vec<Grid> {
        sum_grids::<P, Int>(img, p.measure, p.window, &p.strides, 0)
    }
    match (p.measure, stack) {
        (Measure::Entropy, _) => {
            let fallback;
            let binner = match binner {
                Some(b) => b,
                None => {
                    fallback = EntropyBins::new(stack, range);
                    &fallback
                }
            };
            let bins = binner.of_slice(stack, k);
            entropy::entropy_grids(bins.view(), p.window, &p.strides)
        }
        (_, StackView::U8(a)) => ints(a.index_axis(Axis(0), k), p),
        (_, StackView::U16(a)) => ints(a.index_axis(Axis(0), k), p),
        (m, StackView::F32(a)) => {
            let img = a.index_axis(Axis(0), k);
            // std and variance are shift-invariant: sum deviations from the
            // slice mean so the sums carry no large constant.
            let offset = if matches!(m, Measure::Std | Measure::Variance) {
                img.iter().map(|&v| f64::from(v)).sum::<f64>() / img.len() as f64
            } else {
                0.0
            };
            sum_grids::<f32, Float>(img, m, p.window, &p.strides, offset)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::Stack;
    use ndarray::Array2;

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

    /// The AVX2 and the baseline builds of the hot loops give the same bits,
    /// for every measure and pixel type, on one slice (rows split between
    /// threads) and on many (one task per slice).
    #[test]
    fn avx2_and_baseline_maps_are_identical() {
        let px = |z: usize, y: usize, x: usize| (z * 7919 + y * 131 + x * 31 + y * x * 17) % 65521;
        for z in [1, 9] {
            let dim = (z, 150, 170);
            let stacks = [
                Stack::U8(Array3::from_shape_fn(dim, |(k, y, x)| {
                    (px(k, y, x) % 256) as u8
                })),
                Stack::U16(Array3::from_shape_fn(dim, |(k, y, x)| px(k, y, x) as u16)),
                Stack::F32(Array3::from_shape_fn(dim, |(k, y, x)| {
                    px(k, y, x) as f32 * 0.37
                })),
            ];
            for stack in &stacks {
                for m in Measure::ALL {
                    let p = MapParams {
                        measure: m,
                        window: 40,
                        strides: vec![4, 6, 9, 13],
                    };
                    let run = |on: bool| {
                        crate::simd::force_avx2(on);
                        let map = focus_map(stack.view(), &p, &Progress::none()).unwrap();
                        map.iter().map(|v| v.to_bits()).collect::<Vec<u32>>()
                    };
                    let (base, avx2) = (run(false), run(true));
                    assert!(base == avx2, "{m:?} {:?} differs", stack.dim());
                }
            }
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

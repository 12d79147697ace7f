//! Per-pixel terms of the sum measures, and the histogram bins of entropy.

use super::Measure;
use crate::stack::StackView;
use ndarray::{Array2, ArrayView2};

/// A term image: `values[(y, x)]` is the term of the stencil whose top-left
/// pixel is `(y, x)`. `step` is 2 for the Haar blocks of the DWT, which tile
/// the window from its origin instead of sliding over every pixel.
pub(crate) struct Term {
    pub ky: usize,
    pub kx: usize,
    pub step: usize,
    pub values: Array2<f64>,
}

/// Builds a term image of a `ky x kx` stencil over an `h x w` slice.
fn term(
    h: usize,
    w: usize,
    ky: usize,
    kx: usize,
    step: usize,
    f: impl Fn(usize, usize) -> f64,
) -> Term {
    let th = (h + 1).saturating_sub(ky);
    let tw = (w + 1).saturating_sub(kx);
    let values = Array2::from_shape_fn((th, tw), |(y, x)| f(y, x));
    Term {
        ky,
        kx,
        step,
        values,
    }
}

/// The terms of `m` on one slice, in the order [`Measure::score`] expects.
///
/// `integer` says the slice holds integers, so the terms are exact integers
/// too (summed exactly in `i64`); float slices get their mean subtracted for
/// the shift-invariant std and variance.
pub(crate) fn terms(m: Measure, s: ArrayView2<f64>, integer: bool) -> Vec<Term> {
    let (h, w) = s.dim();
    let i = |y: usize, x: usize| s[(y, x)];
    match m {
        Measure::Std | Measure::Variance => {
            let offset = if integer {
                0.0
            } else {
                s.mean().unwrap_or(0.0)
            };
            vec![
                term(h, w, 1, 1, 1, |y, x| i(y, x) - offset),
                term(h, w, 1, 1, 1, |y, x| (i(y, x) - offset).powi(2)),
            ]
        }
        Measure::Brenner => vec![term(h, w, 1, 2, 1, |y, x| (i(y, x + 1) - i(y, x)).powi(2))],
        Measure::Tenengrad => vec![term(h, w, 3, 3, 1, |y, x| {
            let sx = (i(y, x + 2) + 2.0 * i(y + 1, x + 2) + i(y + 2, x + 2))
                - (i(y, x) + 2.0 * i(y + 1, x) + i(y + 2, x));
            let sy = (i(y + 2, x) + 2.0 * i(y + 2, x + 1) + i(y + 2, x + 2))
                - (i(y, x) + 2.0 * i(y, x + 1) + i(y, x + 2));
            sx * sx + sy * sy
        })],
        Measure::Laplacian => vec![
            term(h, w, 1, 3, 1, |y, x| {
                (i(y, x) - 2.0 * i(y, x + 1) + i(y, x + 2)).abs()
            }),
            term(h, w, 3, 1, 1, |y, x| {
                (i(y, x) - 2.0 * i(y + 1, x) + i(y + 2, x)).abs()
            }),
        ],
        Measure::Smd => vec![
            term(h, w, 2, 1, 1, |y, x| (i(y + 1, x) - i(y, x)).abs()),
            term(h, w, 1, 2, 1, |y, x| (i(y, x) - i(y, x + 1)).abs()),
        ],
        Measure::Vollath => vec![
            term(h, w, 1, 2, 1, |y, x| i(y, x) * i(y, x + 1)),
            term(h, w, 1, 3, 1, |y, x| i(y, x) * i(y, x + 2)),
        ],
        Measure::Dwt => {
            // Unnormalised Haar: the 1/2 factors cancel in the ratio and the
            // sums stay integers for integer stacks.
            let haar = |y: usize, x: usize| {
                let (p, q, r, t) = (i(y, x), i(y, x + 1), i(y + 1, x), i(y + 1, x + 1));
                (p + q + r + t, p + q - r - t, p - q + r - t, p - q - r + t)
            };
            vec![
                term(h, w, 2, 2, 2, |y, x| {
                    let (_, lh, hl, hh) = haar(y, x);
                    lh * lh + hl * hl + hh * hh
                }),
                term(h, w, 2, 2, 2, |y, x| haar(y, x).0.powi(2)),
            ]
        }
        Measure::Entropy => unreachable!("entropy is computed from histograms"),
    }
}

/// The entropy histogram bin of every pixel of slice `z`.
///
/// u8 stacks use their raw values; other stacks are cut into 256 equal bins
/// over the whole stack's `range` so all slices share one scale.
pub(crate) fn entropy_bins(stack: &StackView, z: usize, range: (f64, f64)) -> Array2<u8> {
    if let StackView::U8(a) = stack {
        return a.index_axis(ndarray::Axis(0), z).to_owned();
    }
    let (lo, hi) = range;
    let span = hi - lo;
    stack.slice_f64(z).mapv(|v| {
        if span > 0.0 {
            (256.0 * (v - lo) / span).floor().clamp(0.0, 255.0) as u8
        } else {
            0
        }
    })
}

/// Shannon entropy in bits of a histogram of `n` counts.
pub(crate) fn entropy_of_counts(hist: &[u32; 256], n: u64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let n = n as f64;
    let h: f64 = hist
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    // A one-bin histogram sums -0.0 terms: report a clean 0.
    if h > 0.0 { h } else { 0.0 }
}

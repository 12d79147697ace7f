//! A picture a person can check at a glance: rows are slices, columns are
//! the image, the truth and each prediction. Prediction tiles colour true
//! positives green, false positives red and misses blue.

use crate::stack::StackView;
use ndarray::{Array3, ArrayView3};

const GAP: usize = 4;

/// A column of the montage: `None` shows the truth itself, `Some` a
/// prediction coloured against the truth.
pub struct Column<'a> {
    pub mask: Option<ArrayView3<'a, u8>>,
}

/// Builds the montage (H x W x 3, RGB) of `slices`.
pub fn montage(
    stack: StackView,
    slices: &[usize],
    truth: Option<ArrayView3<u8>>,
    columns: &[Column],
) -> Array3<u8> {
    let (_, h, w) = stack.dim();
    let (lo, hi) = stack.min_max();
    let span = if hi > lo { hi - lo } else { 1.0 };
    let ncol = columns.len() + 1;
    let (rows, cols) = (slices.len() * (h + GAP) + GAP, ncol * (w + GAP) + GAP);
    let mut out = Array3::<u8>::from_elem((rows, cols, 3), 255);
    for (r, &k) in slices.iter().enumerate() {
        for c in 0..ncol {
            let (oy, ox) = (GAP + r * (h + GAP), GAP + c * (w + GAP));
            for y in 0..h {
                for x in 0..w {
                    let g = (255.0 * (stack.get_f64(k, y, x) - lo) / span) as f64;
                    let t = truth.map(|t| t[[k, y, x]] != 0);
                    let p = if c == 0 {
                        None
                    } else {
                        columns[c - 1].mask.map(|m| m[[k, y, x]] != 0)
                    };
                    let tint = match (c, t, p) {
                        (0, _, _) => None,
                        (_, Some(true), Some(true)) | (_, Some(true), None) => {
                            Some([0.0, 255.0, 0.0])
                        }
                        (_, Some(false) | None, Some(true)) => Some([255.0, 0.0, 0.0]),
                        (_, Some(true), Some(false)) => Some([0.0, 96.0, 255.0]),
                        _ => None,
                    };
                    let px = match tint {
                        Some(col) => [0, 1, 2].map(|i| (0.5 * g + 0.5 * col[i]) as u8),
                        None => [g as u8; 3],
                    };
                    for (i, v) in px.into_iter().enumerate() {
                        out[[oy + y, ox + x, i]] = v;
                    }
                }
            }
        }
    }
    out
}

/// Up to `n` slices spread evenly over the stack.
pub fn pick_slices(z: usize, n: usize) -> Vec<usize> {
    let n = n.min(z).max(1);
    (0..n)
        .map(|i| {
            if n == 1 {
                z / 2
            } else {
                (i * (z - 1) + (n - 1) / 2) / (n - 1)
            }
        })
        .collect()
}

//! Entropy window scores: histograms, not sums of pixel terms.

use super::Grid;
use super::lattice::Axis1;
use crate::measure::Entropy;
use ndarray::ArrayView2;
use rayon::prelude::*;

/// Entropy of every window of every stride, sliding a histogram along each
/// row of windows.
pub(crate) fn entropy_grids(bins: ArrayView2<u8>, win: usize, strides: &[usize]) -> Vec<Grid> {
    let (h, w) = bins.dim();
    let ent = Entropy::new();
    strides
        .iter()
        .map(|&s| {
            let (ay, ax) = (Axis1::new(h, win, s), Axis1::new(w, win, s));
            let (ny, nx) = (ay.n, ax.n);
            let mut v = vec![0.0; ny * nx];
            v.par_chunks_mut(nx).enumerate().for_each(|(i, row)| {
                let (y0, y1) = ay.window(i);
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
                let end = |j: usize| ax.window(j).1;
                cols(&mut hist, 0, end(0), true);
                for j in 0..nx {
                    if j > 0 {
                        let (prev_end, start) = (end(j - 1), j * s);
                        cols(&mut hist, (j - 1) * s, prev_end.min(start), false);
                        cols(&mut hist, prev_end.max(start), end(j), true);
                    }
                    let n = ((y1 - y0) * (end(j) - j * s)) as u64;
                    row[j] = ent.of_counts(&hist, n);
                }
            });
            Grid { ny, nx, v }
        })
        .collect()
}

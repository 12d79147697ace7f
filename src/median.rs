//! The masked median filter of the `default` preset's depth map, by sliding
//! rank histograms.
//!
//! A box median that sorts (or selects in) every window costs O(r^2) per
//! pixel with a large constant: for the 17 x 17 depth smoothing it was a
//! quarter of the preset's time. Here every value is first replaced by its
//! rank among the image's distinct values (an order-preserving relabelling,
//! so the median of ranks is the rank of the median, exactly), and a
//! histogram of ranks slides along each row (Huang): entering and leaving
//! columns cost O(r) per pixel, and the median is found from the previous
//! one in a two-level histogram, which moves little between neighbours.
//! The output is bit-identical to selecting the middle element of the sorted
//! window (`select_nth_unstable(len / 2)` under `f32::total_cmp`).

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

/// Fine bins per coarse bin of the rank histogram: the median search scans at
/// most this many fine bins once the coarse bin is found.
const FINE: usize = 32;

/// `f32` bits mapped to `u32` so that integer order is `f32::total_cmp`'s.
#[inline]
fn total_order_key(v: f32) -> u32 {
    let b = v.to_bits();
    if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    }
}

/// Dense ranks (0, 1, ... in `total_cmp` order, equal values share a rank)
/// of the pixels where `keep` is set, and the value of each rank. Pixels not
/// kept get rank `u32::MAX` (never read).
fn dense_ranks(img: &[f32], keep: &[bool]) -> (Vec<u32>, Vec<f32>) {
    // One sort of (key, index) pairs: the index makes every key distinct, so
    // the unstable sort is deterministic.
    let mut order: Vec<u64> = img
        .iter()
        .zip(keep)
        .enumerate()
        .filter(|(_, (_, k))| **k)
        .map(|(i, (&v, _))| (u64::from(total_order_key(v)) << 32) | i as u64)
        .collect();
    order.par_sort_unstable();
    let mut ranks = vec![u32::MAX; img.len()];
    let mut values: Vec<f32> = Vec::new();
    let mut last = None;
    for &o in &order {
        let (key, i) = ((o >> 32) as u32, (o & 0xffff_ffff) as usize);
        if last != Some(key) {
            values.push(img[i]);
            last = Some(key);
        }
        ranks[i] = (values.len() - 1) as u32;
    }
    (ranks, values)
}

/// A histogram of ranks in two levels (coarse bins of [`FINE`] ranks), with
/// the position of the last median found, so that the next search starts
/// where the last one ended.
struct RankHistogram {
    fine: Vec<u16>,
    coarse: Vec<u16>,
    /// Elements in the window.
    n: usize,
    /// Coarse bin of the last median, and the count of elements below it.
    at: usize,
    below: usize,
}

impl RankHistogram {
    fn new(levels: usize) -> Self {
        let nc = levels.div_ceil(FINE).max(1);
        RankHistogram {
            fine: vec![0; nc * FINE],
            coarse: vec![0; nc],
            n: 0,
            at: 0,
            below: 0,
        }
    }

    #[inline]
    fn add(&mut self, r: u32) {
        let r = r as usize;
        self.fine[r] += 1;
        self.coarse[r / FINE] += 1;
        self.n += 1;
        if r / FINE < self.at {
            self.below += 1;
        }
    }

    #[inline]
    fn remove(&mut self, r: u32) {
        let r = r as usize;
        self.fine[r] -= 1;
        self.coarse[r / FINE] -= 1;
        self.n -= 1;
        if r / FINE < self.at {
            self.below -= 1;
        }
    }

    /// The rank at sorted position `n / 2` (the window must not be empty).
    fn median(&mut self) -> usize {
        let t = self.n / 2;
        // Move the coarse bin until it holds position t.
        while self.below > t {
            self.at -= 1;
            self.below -= usize::from(self.coarse[self.at]);
        }
        while self.below + usize::from(self.coarse[self.at]) <= t {
            self.below += usize::from(self.coarse[self.at]);
            self.at += 1;
        }
        let mut seen = self.below;
        let base = self.at * FINE;
        for (j, &c) in self.fine[base..base + FINE].iter().enumerate() {
            seen += usize::from(c);
            if seen > t {
                return base + j;
            }
        }
        unreachable!("the coarse bin holds position t")
    }
}

/// Median filter over the (2r+1)^2 box restricted to pixels where `keep` is
/// set: depth is smoothed within the specimen without bleeding across its
/// edge. Pixels not kept keep their value. Of an even count, the upper of the
/// two middle values. Rows run in parallel; each value is computed the same
/// way on any thread.
pub(crate) fn masked_median(img: ArrayView2<f32>, keep: ArrayView2<bool>, r: usize) -> Array2<f32> {
    let (h, w) = img.dim();
    let mut out = img.to_owned();
    if r == 0 || h == 0 || w == 0 {
        return out;
    }
    let src = img.as_standard_layout();
    let keep = keep.as_standard_layout();
    let keep = keep.as_slice().expect("standard layout");
    let (ranks, values) = dense_ranks(src.as_slice().expect("standard layout"), keep);
    if values.is_empty() {
        return out;
    }
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each_init(
            || RankHistogram::new(values.len()),
            |hist, (y, mut row)| {
                let rows = y.saturating_sub(r)..(y + r + 1).min(h);
                // The column x of the window's rows, kept pixels only.
                let column = |x: usize| rows.clone().map(move |yy| yy * w + x).filter(|&i| keep[i]);
                for x in 0..r.min(w) {
                    column(x).for_each(|i| hist.add(ranks[i]));
                }
                for x in 0..w {
                    if x + r < w {
                        column(x + r).for_each(|i| hist.add(ranks[i]));
                    }
                    if x > r {
                        column(x - r - 1).for_each(|i| hist.remove(ranks[i]));
                    }
                    if keep[y * w + x] {
                        row[x] = values[hist.median()];
                    }
                }
                // Leave the histogram empty for the next row.
                for x in w.saturating_sub(r + 1)..w {
                    column(x).for_each(|i| hist.remove(ranks[i]));
                }
                hist.at = 0;
                hist.below = 0;
            },
        );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition: sort the kept window, take element len / 2.
    fn reference(img: ArrayView2<f32>, keep: ArrayView2<bool>, r: usize) -> Array2<f32> {
        let (h, w) = img.dim();
        let mut out = img.to_owned();
        for y in 0..h {
            for x in 0..w {
                if !keep[(y, x)] {
                    continue;
                }
                let mut buf = Vec::new();
                for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
                    for xx in x.saturating_sub(r)..(x + r + 1).min(w) {
                        if keep[(yy, xx)] {
                            buf.push(img[(yy, xx)]);
                        }
                    }
                }
                buf.sort_by(f32::total_cmp);
                out[(y, x)] = buf[buf.len() / 2];
            }
        }
        out
    }

    #[test]
    fn matches_the_sorted_window_exactly() {
        let mut state = 99u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u32
        };
        for (h, w, r, levels) in [
            (1, 1, 1, 3),
            (9, 7, 2, 5),
            (23, 31, 3, 1000),
            (40, 33, 8, 70),
            (5, 60, 8, 4000),
        ] {
            let img = Array2::from_shape_fn((h, w), |_| (next() % levels) as f32 * 0.37 - 3.0);
            let keep = Array2::from_shape_fn((h, w), |_| next() % 5 != 0);
            let fast = masked_median(img.view(), keep.view(), r);
            let slow = reference(img.view(), keep.view(), r);
            assert_eq!(fast, slow, "{h} x {w}, r {r}");
        }
    }

    #[test]
    fn total_order_keys_sort_like_total_cmp() {
        let mut v = [
            1.5f32,
            -0.0,
            0.0,
            -2.0,
            f32::INFINITY,
            -f32::INFINITY,
            3e-40,
            -3e-40,
        ];
        let mut by_key = v;
        v.sort_by(f32::total_cmp);
        by_key.sort_by_key(|&x| total_order_key(x));
        assert_eq!(v.map(f32::to_bits), by_key.map(f32::to_bits));
    }
}

//! Entropy window scores: histograms, not sums of pixel terms.
//!
//! A window's entropy needs its whole 256-bin histogram, so there is no
//! integral-image shortcut; the work is shared between strides instead:
//!
//! * The rows of windows of every stride start at the union of the strides'
//!   lattices (`y0` in `0, s, 2s, ...` for any `s`). Walking those origins in
//!   order, the band of rows `[y0, y0 + w)` only slides down, so one set of
//!   band histograms is kept up to date by adding the rows that enter and
//!   removing those that leave: every pixel is counted in and out once per
//!   slice, whatever the number of strides.
//! * The band histograms are kept per *fine column segment*: the columns
//!   between consecutive window edges of any stride. At each origin their
//!   running sums along x (cumulative histograms at every window edge) make
//!   each window's histogram one difference of two rows.
//! * A window's entropy is `log2 n - (sum_b c_b log2 c_b) / n`, with
//!   `c log2 c` from a table ([`Entropy`]). The difference of the two rows
//!   is taken 8 or 16 bins at a time with vector instructions, which also
//!   find the empty groups of 8 bins; only the others are looked up.
//! * A window at an origin shared by several strides (`x0` on several
//!   lattices) is the same window in each: it is scored once.
//!
//! Counts are exact integers and each window's sum runs in one fixed order
//! (that of [`Entropy::of_counts`]), so nothing depends on the order of the
//! work; blocks of origins run in parallel, each starting its band from
//! scratch.

use super::Grid;
use super::lattice::Axis1;
use crate::measure::Entropy;
use ndarray::ArrayView2;
use rayon::prelude::*;

/// Window-row origins per parallel block.
const BLOCK: usize = 48;

/// Entropy of every window of every stride (one grid per stride).
pub(crate) fn entropy_grids(bins: ArrayView2<u8>, win: usize, strides: &[usize]) -> Vec<Grid> {
    let (h, w) = bins.dim();
    let axes: Vec<(Axis1, Axis1)> = strides
        .iter()
        .map(|&s| (Axis1::new(h, win, s), Axis1::new(w, win, s)))
        .collect();

    // Fine column segments: between consecutive window edges of any stride.
    let mut edges: Vec<usize> = vec![0, w];
    for (_, ax) in &axes {
        for j in 0..ax.n {
            let (x0, x1) = ax.window(j);
            edges.push(x0);
            edges.push(x1);
        }
    }
    edges.sort_unstable();
    edges.dedup();
    let segs = edges.len() - 1;
    let mut edge_index = vec![0u32; w + 1];
    for (k, &e) in edges.iter().enumerate() {
        edge_index[e] = k as u32;
    }
    let mut seg_of = vec![0u32; w];
    for k in 0..segs {
        seg_of[edges[k]..edges[k + 1]].fill(k as u32);
    }
    // Per stride: each window's (left, right) edge indices and width.
    let windows: Vec<Vec<(u32, u32, u32)>> = axes
        .iter()
        .map(|(_, ax)| {
            (0..ax.n)
                .map(|j| {
                    let (x0, x1) = ax.window(j);
                    (edge_index[x0], edge_index[x1], (x1 - x0) as u32)
                })
                .collect()
        })
        .collect();

    // Every row of windows, by origin: (y0, stride index, window row).
    let mut rows: Vec<(usize, usize, usize)> = Vec::new();
    for (si, (ay, _)) in axes.iter().enumerate() {
        for i in 0..ay.n {
            rows.push((ay.window(i).0, si, i));
        }
    }
    rows.sort_unstable();
    let mut origins: Vec<(usize, std::ops::Range<usize>)> = Vec::new();
    for (k, &(y0, _, _)) in rows.iter().enumerate() {
        match origins.last_mut() {
            Some((y, r)) if *y == y0 => r.end = k + 1,
            _ => origins.push((y0, k..k + 1)),
        }
    }

    let ent = Entropy::new();
    // Counts are kept modulo 2^16 when no window holds 2^16 pixels: a
    // window's count, the difference of two cumulative counts, is then
    // still exact, and the tables are half the size.
    let n_max = win.min(h) * win.min(w);
    let ctx = Ctx {
        bins,
        seg_of: &seg_of,
        rows: &rows,
        windows: &windows,
        win,
        segs,
        ent: &ent,
    };
    let scored: Vec<Vec<(usize, usize, Vec<f64>)>> = if n_max < 1 << 16 {
        score_origins::<u16>(&ctx, &origins)
    } else {
        score_origins::<u32>(&ctx, &origins)
    };

    let mut grids: Vec<Grid> = axes
        .iter()
        .map(|(ay, ax)| Grid {
            ny: ay.n,
            nx: ax.n,
            v: vec![0.0; ay.n * ax.n],
        })
        .collect();
    for (si, i, v) in scored.into_iter().flatten() {
        let nx = grids[si].nx;
        grids[si].v[i * nx..(i + 1) * nx].copy_from_slice(&v);
    }
    grids
}

/// What every block of origins shares.
struct Ctx<'a> {
    bins: ArrayView2<'a, u8>,
    seg_of: &'a [u32],
    rows: &'a [(usize, usize, usize)],
    windows: &'a [Vec<(u32, u32, u32)>],
    win: usize,
    segs: usize,
    ent: &'a Entropy,
}

/// The entropies of every row of windows, by blocks of origins in parallel:
/// `(stride index, window row, scores)`.
fn score_origins<T: Count>(
    c: &Ctx,
    origins: &[(usize, std::ops::Range<usize>)],
) -> Vec<Vec<(usize, usize, Vec<f64>)>> {
    let h = c.bins.nrows();
    origins
        .par_chunks(BLOCK)
        // One band per worker, not per block: its tables are large, and
        // fresh ones would cost page faults on every block.
        .map_init(
            || {
                let memo = vec![(0u32, 0.0f64); c.segs + 1];
                (Band::<T>::new(c.segs), vec![0u32; c.segs + 1], memo, 0u32)
            },
            |(band, needed, memo, stamp), block| {
                band.reset();
                let mut out = Vec::new();
                for (y0, range) in block {
                    let y1 = (y0 + c.win).min(h);
                    band.move_to(c.bins, c.seg_of, *y0, y1);
                    // Only the edges of this origin's windows are read.
                    *stamp += 1;
                    for &(_, si, _) in &c.rows[range.clone()] {
                        for &(a, b, _) in &c.windows[si] {
                            needed[a as usize] = *stamp;
                            needed[b as usize] = *stamp;
                        }
                    }
                    band.cumulate(needed, *stamp);
                    for &(_, si, i) in &c.rows[range.clone()] {
                        let height = (y1 - y0) as u64;
                        // A window at the same origin in several strides (its
                        // left edge `a` fixes its columns) is scored once.
                        let v: Vec<f64> = c.windows[si]
                            .iter()
                            .map(|&(a, b, width)| {
                                let m = &mut memo[a as usize];
                                if m.0 != *stamp {
                                    let n = height * u64::from(width);
                                    *m = (
                                        *stamp,
                                        band.window_entropy(c.ent, a as usize, b as usize, n),
                                    );
                                }
                                m.1
                            })
                            .collect();
                        out.push((si, i, v));
                    }
                }
                out
            },
        )
        .collect()
}

/// A count kept modulo 2^16 or 2^32.
trait Count: Copy + Default + Send + Sync + 'static {
    fn inc(self) -> Self;
    fn dec(self) -> Self;
    fn plus(self, o: Self) -> Self;
    /// `self - o` as the exact count it stands for.
    fn minus(self, o: Self) -> u32;
    /// The entropy of the histogram `hi - lo` (`n` pixels), bin by bin.
    #[inline]
    fn entropy_of_difference(ent: &Entropy, hi: &[Self], lo: &[Self], n: u64) -> f64 {
        ent.of_difference(hi, lo, n, |h, l| h.minus(l))
    }
}

impl Count for u16 {
    #[inline(always)]
    fn inc(self) -> Self {
        self.wrapping_add(1)
    }
    #[inline(always)]
    fn dec(self) -> Self {
        self.wrapping_sub(1)
    }
    #[inline(always)]
    fn plus(self, o: Self) -> Self {
        self.wrapping_add(o)
    }
    #[inline(always)]
    fn minus(self, o: Self) -> u32 {
        u32::from(self.wrapping_sub(o))
    }
    /// The vector path: 16-bit counts are what the paper's windows use.
    #[inline]
    fn entropy_of_difference(ent: &Entropy, hi: &[Self], lo: &[Self], n: u64) -> f64 {
        ent.of_difference_u16(hi, lo, n)
    }
}

impl Count for u32 {
    #[inline(always)]
    fn inc(self) -> Self {
        self.wrapping_add(1)
    }
    #[inline(always)]
    fn dec(self) -> Self {
        self.wrapping_sub(1)
    }
    #[inline(always)]
    fn plus(self, o: Self) -> Self {
        self.wrapping_add(o)
    }
    #[inline(always)]
    fn minus(self, o: Self) -> u32 {
        self.wrapping_sub(o)
    }
}

/// Histograms of a band of rows per fine column segment, and their running
/// sums along x.
struct Band<T> {
    /// Rows `[top, bottom)` are counted.
    top: usize,
    bottom: usize,
    /// `segs x 256` counts.
    hist: Vec<T>,
    /// `(segs + 1) x 256`: row `k` sums the segments left of edge `k`.
    cum: Vec<T>,
}

impl<T: Count> Band<T> {
    fn new(segs: usize) -> Self {
        Band {
            top: 0,
            bottom: 0,
            hist: vec![T::default(); segs * 256],
            cum: vec![T::default(); (segs + 1) * 256],
        }
    }

    /// Empties the band, so the next origin is counted from scratch.
    fn reset(&mut self) {
        self.top = 0;
        self.bottom = 0;
    }

    /// Counts rows `[y0, y1)` (both only ever grow).
    fn move_to(&mut self, bins: ArrayView2<u8>, seg_of: &[u32], y0: usize, y1: usize) {
        let (top, bottom) = (self.top, self.bottom);
        if y0 >= bottom {
            // Disjoint from the band: start afresh (cheaper than removing).
            self.hist.fill(T::default());
            self.rows(bins, seg_of, y0..y1, true);
        } else {
            self.rows(bins, seg_of, top..y0, false);
            self.rows(bins, seg_of, bottom.max(y0)..y1, true);
        }
        self.top = y0;
        self.bottom = y1;
    }

    #[inline(never)]
    fn rows(
        &mut self,
        bins: ArrayView2<u8>,
        seg_of: &[u32],
        ys: std::ops::Range<usize>,
        add: bool,
    ) {
        let hist = &mut self.hist[..];
        for y in ys {
            let row = bins.row(y);
            let row = row.as_slice().expect("entropy bins are contiguous");
            if add {
                for (&b, &k) in row.iter().zip(seg_of) {
                    let c = &mut hist[k as usize * 256 + b as usize];
                    *c = c.inc();
                }
            } else {
                for (&b, &k) in row.iter().zip(seg_of) {
                    let c = &mut hist[k as usize * 256 + b as usize];
                    *c = c.dec();
                }
            }
        }
    }

    /// `cum[k] = hist[0] + ... + hist[k - 1]`, bin by bin.
    /// Only at the edges `k` with `needed[k] == stamp`; the running sum
    /// stays in a small buffer, so the rest costs one pass over `hist`.
    fn cumulate(&mut self, needed: &[u32], stamp: u32) {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2() {
            // SAFETY: the CPU has AVX2 (checked at run time).
            return unsafe { self.cumulate_avx2(needed, stamp) };
        }
        self.cumulate_impl(needed, stamp);
    }

    /// [`Band::cumulate`] compiled for AVX2 ([`crate::simd`]).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline(never)]
    unsafe fn cumulate_avx2(&mut self, needed: &[u32], stamp: u32) {
        self.cumulate_impl(needed, stamp);
    }

    #[inline(always)]
    fn cumulate_impl(&mut self, needed: &[u32], stamp: u32) {
        let mut run = [T::default(); 256];
        for (k, seg) in self.hist.chunks_exact(256).enumerate() {
            if needed[k] == stamp {
                self.cum[k * 256..(k + 1) * 256].copy_from_slice(&run);
            }
            for (r, &s) in run.iter_mut().zip(seg) {
                *r = r.plus(s);
            }
        }
        let k = self.hist.len() / 256;
        if needed[k] == stamp {
            self.cum[k * 256..(k + 1) * 256].copy_from_slice(&run);
        }
    }

    /// Entropy of the columns between edges `a` and `b` (`n` pixels).
    #[inline]
    fn window_entropy(&mut self, ent: &Entropy, a: usize, b: usize, n: u64) -> f64 {
        let lo = &self.cum[a * 256..(a + 1) * 256];
        let hi = &self.cum[b * 256..(b + 1) * 256];
        T::entropy_of_difference(ent, hi, lo, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, s};
    use proptest::prelude::*;

    /// The obvious way: each window's histogram counted pixel by pixel, its
    /// entropy by [`Entropy::of_counts`], the reference formula.
    fn slow_grids(bins: &Array2<u8>, win: usize, strides: &[usize]) -> Vec<Vec<f64>> {
        let (h, w) = bins.dim();
        let ent = Entropy::new();
        strides
            .iter()
            .map(|&st| {
                let (ay, ax) = (Axis1::new(h, win, st), Axis1::new(w, win, st));
                let mut v = Vec::new();
                for i in 0..ay.n {
                    let (y0, y1) = ay.window(i);
                    for j in 0..ax.n {
                        let (x0, x1) = ax.window(j);
                        let mut counts = [0u32; 256];
                        for &b in bins.slice(s![y0..y1, x0..x1]) {
                            counts[usize::from(b)] += 1;
                        }
                        v.push(ent.of_counts(&counts, ((y1 - y0) * (x1 - x0)) as u64));
                    }
                }
                v
            })
            .collect()
    }

    /// Bins with runs of equal values and a chosen spread, so histograms
    /// range from one full bin to many scattered ones.
    fn bins_strategy() -> impl Strategy<Value = Array2<u8>> {
        (1usize..40, 1usize..40, 0u8..=255, any::<u64>()).prop_map(|(h, w, spread, seed)| {
            let mut x = seed | 1;
            Array2::from_shape_fn((h, w), |_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let r = (x % (u64::from(spread) + 1)) as u8;
                // Some runs of one value: empty and full groups of bins.
                if x % 5 == 0 {
                    0
                } else {
                    r.wrapping_mul((x >> 40) as u8 | 1)
                }
            })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// The shared-band, cumulative, vector path is the slow histogram's
        /// entropy bit for bit, for any window and strides.
        #[test]
        fn grids_equal_the_slow_histograms(
            bins in bins_strategy(),
            win in 1usize..24,
            strides in proptest::collection::vec(1usize..12, 1..5),
        ) {
            let fast = entropy_grids(bins.view(), win, &strides);
            let slow = slow_grids(&bins, win, &strides);
            for (g, v) in fast.iter().zip(&slow) {
                let a: Vec<u64> = g.v.iter().map(|x| x.to_bits()).collect();
                let b: Vec<u64> = v.iter().map(|x| x.to_bits()).collect();
                prop_assert_eq!(a, b);
            }
        }
    }

    /// Windows of 2^16 pixels or more count in 32 bits (the generic path).
    #[test]
    fn large_windows_equal_the_slow_histograms() {
        let bins =
            Array2::from_shape_fn((263, 270), |(y, x)| ((y * 7 + x * 13 + y * x) % 97) as u8);
        let strides = [100, 130, 7];
        let fast = entropy_grids(bins.view(), 256, &strides);
        let slow = slow_grids(&bins, 256, &strides);
        for (g, v) in fast.iter().zip(&slow) {
            let a: Vec<u64> = g.v.iter().map(|x| x.to_bits()).collect();
            let b: Vec<u64> = v.iter().map(|x| x.to_bits()).collect();
            assert_eq!(a, b);
        }
    }
}

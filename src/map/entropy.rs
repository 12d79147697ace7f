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
//!   `c log2 c` from a table ([`Entropy`]).
//!
//! Counts are exact integers, so nothing depends on the order of the work;
//! blocks of origins run in parallel, each starting its band from scratch.

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
        .map(|block| {
            let mut band = Band::<T>::new(c.segs);
            let mut out = Vec::new();
            let mut needed = vec![0u32; c.segs + 1];
            let mut stamp = 0u32;
            for (y0, range) in block {
                let y1 = (y0 + c.win).min(h);
                band.move_to(c.bins, c.seg_of, *y0, y1);
                // Only the edges of this origin's windows are read.
                stamp += 1;
                for &(_, si, _) in &c.rows[range.clone()] {
                    for &(a, b, _) in &c.windows[si] {
                        needed[a as usize] = stamp;
                        needed[b as usize] = stamp;
                    }
                }
                band.cumulate(&needed, stamp);
                for &(_, si, i) in &c.rows[range.clone()] {
                    let height = (y1 - y0) as u64;
                    let v: Vec<f64> = c.windows[si]
                        .iter()
                        .map(|&(a, b, width)| {
                            band.window_entropy(
                                c.ent,
                                a as usize,
                                b as usize,
                                height * u64::from(width),
                            )
                        })
                        .collect();
                    out.push((si, i, v));
                }
            }
            out
        })
        .collect()
}

/// A count kept modulo 2^16 or 2^32.
trait Count: Copy + Default + Send + Sync + 'static {
    fn inc(self) -> Self;
    fn dec(self) -> Self;
    fn plus(self, o: Self) -> Self;
    /// `self - o` as the exact count it stands for.
    fn minus(self, o: Self) -> u32;
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
        ent.of_difference(hi, lo, n, |h, l| h.minus(l))
    }
}

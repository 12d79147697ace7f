//! "Add each window's score onto the pixels it covers, keep the maximum over
//! strides", without touching a pixel once per window.
//!
//! For one stride, the windows covering pixel `(y, x)` are the rectangle of
//! the window grid `rows lo(y)..hi(y)` x `cols lo(x)..hi(x)`. So every output
//! row whose row band `lo(y)..hi(y)` is the same is the same row, and along
//! a row the value is constant on the runs of columns between consecutive
//! window edges. A row of a stride's map is therefore built once per band:
//! sum the band's grid rows (column totals), prefix-sum them, and fill each
//! run of columns with one value. The output row is then the element-wise
//! maximum of each stride's current row, a loop the compiler vectorises.
//! Rows that no stride's band changes are copies of the row above.

use super::Grid;
use super::lattice::Axis1;
use rayon::prelude::*;

/// Output rows per parallel task when a slice is split between threads.
pub(crate) const CHUNK: usize = 128;

/// Slack after a row buffer, so that runs are filled 16 values at a time.
const PAD: usize = 16;

/// The current row of one stride's map, rebuilt when its band changes.
struct StrideRow<'a> {
    grid: &'a Grid,
    rows: Axis1,
    runs: &'a [(usize, usize, usize, usize)],
    band: Option<(usize, usize)>,
    cols: Vec<f64>,
    prefix: Vec<f64>,
    /// `w + PAD` values; the first `w` are the row.
    values: Vec<f32>,
}

impl StrideRow<'_> {
    /// Moves to output row `y`; says whether the row's values changed.
    #[inline]
    fn at(&mut self, y: usize) -> bool {
        let band = self.rows.cover(y);
        if self.band == Some(band) {
            return false;
        }
        self.band = Some(band);
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2() {
            // SAFETY: the CPU has AVX2 (checked at run time).
            unsafe { self.rebuild_avx2(band) };
            return true;
        }
        self.rebuild(band);
        true
    }

    /// [`StrideRow::rebuild`] compiled for AVX2 ([`crate::simd`]).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline(never)]
    unsafe fn rebuild_avx2(&mut self, band: (usize, usize)) {
        self.rebuild(band);
    }

    /// The row's values for the band of window rows `band`.
    #[inline(always)]
    fn rebuild(&mut self, band: (usize, usize)) {
        let (ilo, ihi) = band;
        let nx = self.grid.nx;
        let g = &self.grid.v;
        if ihi > ilo {
            self.cols.copy_from_slice(&g[ilo * nx..(ilo + 1) * nx]);
            for i in ilo + 1..ihi {
                for (c, &v) in self.cols.iter_mut().zip(&g[i * nx..(i + 1) * nx]) {
                    *c += v;
                }
            }
        } else {
            self.cols.fill(0.0);
        }
        prefix_sums(&self.cols, &mut self.prefix);
        let values = &mut self.values[..];
        let prefix = &self.prefix[..];
        for &(x0, x1, jlo, jhi) in self.runs {
            let v = if jhi > jlo {
                (prefix[jhi] - prefix[jlo]) as f32
            } else {
                0.0
            };
            // Runs are short (about s / 2, never empty): store 16 at a
            // time, most runs in one go; what spills past the run is
            // overwritten by the next one (or lands in PAD).
            let mut x = x0;
            loop {
                values[x..x + PAD].copy_from_slice(&[v; PAD]);
                x += PAD;
                if x >= x1 {
                    break;
                }
            }
        }
    }
}

/// The map of one slice: for each stride `strides[k]`, `grids[k]` holds the
/// window scores; writes the pixel-wise maximum over strides of the summed
/// scores into `out` (H x W, row-major, contiguous).
///
/// The maximum is kept in a binary tree over the strides' rows, so a row in
/// which one stride's band changed costs about log2(strides) row maxima
/// rather than one per stride.
///
/// Blocks of `chunk` output rows run in parallel; each starts its strides'
/// rows afresh, so the result does not depend on `chunk`. A stack of many
/// slices, already parallel over slices, passes `h` and builds each row
/// once.
pub(crate) fn spread_max(
    grids: &[Grid],
    win: usize,
    strides: &[usize],
    (h, w): (usize, usize),
    chunk: usize,
    out: &mut [f32],
) {
    debug_assert_eq!(out.len(), h * w);
    if h == 0 || w == 0 {
        return;
    }
    let col_runs: Vec<Vec<(usize, usize, usize, usize)>> = strides
        .iter()
        .map(|&s| Axis1::new(w, win, s).runs())
        .collect();
    let rows_per_task = chunk.max(1);
    out.par_chunks_mut(rows_per_task * w)
        .enumerate()
        .for_each(|(c, chunk)| {
            let mut leaves: Vec<StrideRow> = grids
                .iter()
                .zip(strides)
                .zip(&col_runs)
                .map(|((g, &s), runs)| StrideRow {
                    grid: g,
                    rows: Axis1::new(h, win, s),
                    runs,
                    band: None,
                    cols: vec![0.0; g.nx],
                    prefix: vec![0.0; g.nx + 1],
                    values: vec![0.0; w + PAD],
                })
                .collect();
            let mut tree = Tree::new(leaves.len(), w);
            let mut dirty = vec![false; leaves.len()];
            // The current output row; rows whose bands did not change for
            // any stride are copies of it.
            let mut root = vec![0.0f32; w];
            let y0 = c * rows_per_task;
            for (k, row) in chunk.chunks_exact_mut(w).enumerate() {
                let mut changed = false;
                for (d, leaf) in dirty.iter_mut().zip(leaves.iter_mut()) {
                    *d = leaf.at(y0 + k);
                    changed |= *d;
                }
                // (The chunk's first row always changes: its bands start unset.)
                if changed {
                    tree.update(&leaves, &dirty, &mut root);
                }
                row.copy_from_slice(&root);
            }
        });
}

/// Row maxima of the strides' rows, level by level: `levels[0]` pairs the
/// leaves, each later level pairs the one below, the root is the output.
struct Tree {
    levels: Vec<Vec<Vec<f32>>>,
    dirty: Vec<Vec<bool>>,
}

impl Tree {
    fn new(leaves: usize, w: usize) -> Self {
        let mut levels = Vec::new();
        let mut dirty = Vec::new();
        let mut n = leaves;
        // Internal levels above the leaves, excluding the root.
        while n > 2 {
            n = n.div_ceil(2);
            levels.push(vec![vec![0.0f32; w]; n]);
            dirty.push(vec![true; n]);
        }
        Tree { levels, dirty }
    }

    /// Recomputes the nodes above dirty leaves and the output row `out`.
    #[inline(never)]
    fn update(&mut self, leaves: &[StrideRow], leaf_dirty: &[bool], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2() {
            // SAFETY: the CPU has AVX2 (checked at run time).
            return unsafe { self.update_avx2(leaves, leaf_dirty, out) };
        }
        self.update_impl(leaves, leaf_dirty, out);
    }

    /// [`Tree::update`] compiled for AVX2 ([`crate::simd`]).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn update_avx2(&mut self, leaves: &[StrideRow], leaf_dirty: &[bool], out: &mut [f32]) {
        self.update_impl(leaves, leaf_dirty, out);
    }

    #[inline(always)]
    fn update_impl(&mut self, leaves: &[StrideRow], leaf_dirty: &[bool], out: &mut [f32]) {
        let w = out.len();
        let leaf = |i: usize| &leaves[i].values[..w];
        if leaves.len() == 1 {
            out.copy_from_slice(leaf(0));
            return;
        }
        for l in 0..self.levels.len() {
            let (done, rest) = self.levels.split_at_mut(l);
            let level = &mut rest[0];
            let (dd, drest) = self.dirty.split_at_mut(l);
            let dirty = &mut drest[0];
            let below_dirty: &[bool] = if l == 0 { leaf_dirty } else { &dd[l - 1] };
            let count = below_dirty.len();
            for (j, node) in level.iter_mut().enumerate() {
                let (a, b) = (2 * j, 2 * j + 1);
                let d = below_dirty[a] || (b < count && below_dirty[b]);
                dirty[j] = d;
                if !d {
                    continue;
                }
                let src = |i: usize| -> &[f32] { if l == 0 { leaf(i) } else { &done[l - 1][i] } };
                if b < count {
                    max2(node, src(a), src(b));
                } else {
                    node.copy_from_slice(src(a));
                }
            }
        }
        let (top, count): (Vec<&[f32]>, usize) = match self.levels.last() {
            Some(level) => (level.iter().map(|v| v.as_slice()).collect(), level.len()),
            None => ((0..leaves.len()).map(leaf).collect(), leaves.len()),
        };
        debug_assert_eq!(count, 2);
        max2(out, top[0], top[1]);
    }
}

/// `prefix[j] = cols[0] + ... + cols[j - 1]` (`prefix` one longer).
///
/// Four running sums over the quarters at once (the additions' latency, not
/// their number, is what costs), then each quarter shifted by the total
/// before it. A range of zero columns still gives two equal prefixes, so a
/// pixel that only zero-score windows cover is exactly 0.
#[inline(always)]
fn prefix_sums(cols: &[f64], prefix: &mut [f64]) {
    let n = cols.len();
    prefix[0] = 0.0;
    let q = n / 4;
    if q < 8 {
        let mut run = 0.0;
        for (p, &c) in prefix[1..=n].iter_mut().zip(cols) {
            run += c;
            *p = run;
        }
        return;
    }
    let (mut a, mut b, mut c, mut d) = (0.0, 0.0, 0.0, 0.0);
    for t in 0..q {
        a += cols[t];
        b += cols[q + t];
        c += cols[2 * q + t];
        d += cols[3 * q + t];
        prefix[t + 1] = a;
        prefix[q + t + 1] = b;
        prefix[2 * q + t + 1] = c;
        prefix[3 * q + t + 1] = d;
    }
    for t in 4 * q..n {
        d += cols[t];
        prefix[t + 1] = d;
    }
    for k in 1..4 {
        let off = prefix[k * q];
        let end = if k == 3 { n } else { (k + 1) * q };
        for p in &mut prefix[k * q + 1..=end] {
            *p += off;
        }
    }
}

#[inline(always)]
fn max2(out: &mut [f32], a: &[f32], b: &[f32]) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = if x > y { x } else { y };
    }
}

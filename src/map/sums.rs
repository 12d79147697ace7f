//! Window sums of the sum measures for every stride, in one sweep down the
//! slice.
//!
//! A window's term sum is a rectangle of the term image, so it is
//! `I(rb, cb) - I(ra, cb) - I(rb, ca) + I(ra, ca)` with `I` the integral image
//! (summed-area table). Only the integral rows at window edges are ever
//! read, and only at window-edge columns, so the integral image is never
//! stored: the sweep keeps one running sum per column (the column sums of
//! the term rows above), and at a window edge row turns them into that
//! integral row by a prefix sum and reads it at the window-edge columns of
//! every stride. Each window's sum is kept as `-(top edge)` until its
//! bottom edge adds the rest. Memory is O(W) plus the window grids; time is
//! O(H x W) per term plus O(W) per edge row.
//!
//! Integer stacks sum exact `i64` terms with wrapping arithmetic (the wrap
//! cancels in the differences), so window sums are exact whatever the image
//! size; float stacks use compensated (double-double) sums.

use super::Grid;
use super::lattice::Axis1;
use crate::measure::{Compensated, Measure, Num, TermSpec, WindowSum, add_term_row, term_specs};
use ndarray::ArrayView2;

/// A pixel type of a stack.
pub(crate) trait Pixel: Copy + Send + Sync + 'static {
    fn to_i64(self) -> i64;
    /// The square as an integer (u8 and u16 only).
    fn square_i64(self) -> i64 {
        let v = self.to_i64();
        v * v
    }
    fn to_f64(self) -> f64;
}

impl Pixel for u8 {
    #[inline(always)]
    fn to_i64(self) -> i64 {
        i64::from(self)
    }
    #[inline(always)]
    fn square_i64(self) -> i64 {
        // 32 x 32 -> 64-bit: one vector multiply per lane pair.
        let v = u64::from(u32::from(self));
        (v * v) as i64
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Pixel for u16 {
    #[inline(always)]
    fn to_i64(self) -> i64 {
        i64::from(self)
    }
    #[inline(always)]
    fn square_i64(self) -> i64 {
        // 32 x 32 -> 64-bit: one vector multiply per lane pair.
        let v = u64::from(u32::from(self));
        (v * v) as i64
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Pixel for f32 {
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self as i64
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

/// Integer (exact) or float (compensated) arithmetic.
pub(crate) trait Domain: Send + Sync + 'static {
    type N: Num;
    type A: WindowSum;
    fn of<P: Pixel>(p: P) -> Self::N;
    fn acc(n: Self::N) -> Self::A;
    /// `(v, v^2)` with `v = p - offset`.
    #[inline(always)]
    fn point<P: Pixel>(p: P, offset: Self::N) -> (Self::N, Self::N) {
        let v = Self::of(p) - offset;
        (v, v * v)
    }
}

pub(crate) struct Int;
pub(crate) struct Float;

impl Domain for Int {
    type N = i64;
    type A = i64;
    #[inline(always)]
    fn of<P: Pixel>(p: P) -> i64 {
        p.to_i64()
    }
    #[inline(always)]
    fn acc(n: i64) -> i64 {
        n
    }
    /// Integer stacks are never offset.
    #[inline(always)]
    fn point<P: Pixel>(p: P, _offset: i64) -> (i64, i64) {
        (p.to_i64(), p.square_i64())
    }
}

impl Domain for Float {
    type N = f64;
    type A = Compensated;
    #[inline(always)]
    fn of<P: Pixel>(p: P) -> f64 {
        p.to_f64()
    }
    #[inline(always)]
    fn acc(n: f64) -> Compensated {
        Compensated::from_term(n)
    }
}

/// The window-score grids (one per stride) of sum measure `m` on `img`.
/// `offset` is subtracted from the pixels of std/variance (float stacks use
/// the slice mean, so the sums do not carry a large constant).
pub(crate) fn sum_grids<P: Pixel, D: Domain>(
    img: ArrayView2<P>,
    m: Measure,
    win: usize,
    strides: &[usize],
    offset: D::N,
) -> Vec<Grid> {
    let (h, w) = img.dim();
    let sums = window_sums::<P, D>(img, m, win, strides, offset);
    strides
        .iter()
        .enumerate()
        .map(|(si, &s)| {
            let (ay, ax) = (Axis1::new(h, win, s), Axis1::new(w, win, s));
            let widths: Vec<u64> = (0..ax.n)
                .map(|j| {
                    let (x0, x1) = ax.window(j);
                    (x1 - x0) as u64
                })
                .collect();
            let mut v = vec![0.0; ay.n * ax.n];
            let mut n = vec![0u64; ax.n];
            for (i, out) in v.chunks_exact_mut(ax.n).enumerate() {
                let (y0, y1) = ay.window(i);
                for (n, &wd) in n.iter_mut().zip(&widths) {
                    *n = (y1 - y0) as u64 * wd;
                }
                let rows: Vec<&[D::A]> = sums
                    .iter()
                    .map(|t| &t[si][i * ax.n..(i + 1) * ax.n])
                    .collect();
                m.score_row(&n, &rows, out);
            }
            Grid {
                ny: ay.n,
                nx: ax.n,
                v,
            }
        })
        .collect()
}

/// Where a window `[o, e)` of the pixels reads the integral image of a term
/// along one axis: positions `(a, b)`, the sum being `I(b) - I(a)`. `tlen`
/// is the number of term anchors along the axis; positions run `0..=tlen+1`.
#[inline]
fn span(o: usize, e: usize, k: usize, step: usize, tlen: usize) -> (usize, usize) {
    if step == 1 {
        // Anchors o ..= e - k.
        let end = (e + 1).saturating_sub(k);
        if end > o {
            (o, end)
        } else {
            (o.min(tlen), o.min(tlen))
        }
    } else {
        // Blocks at o, o + 2, ... lying inside: floor((e - o) / 2) of them.
        let nb = (e - o) / 2;
        if nb > 0 {
            (o, o + 2 * nb)
        } else {
            (o.min(tlen), o.min(tlen))
        }
    }
}

/// One term's part of the sweep.
struct TermSweep<A> {
    spec: TermSpec,
    /// Anchor rows and columns of the term image.
    th: usize,
    tw: usize,
    /// Per stride: the integral-image columns `(a, b)` of each window column.
    cols: Vec<(Vec<usize>, Vec<usize>)>,
    /// `(position, bottom edge?, stride, window row)`, sorted.
    events: Vec<(usize, bool, u32, u32)>,
    next: usize,
    /// Running column sums of the term rows above (two for step-2 terms,
    /// one per row parity).
    colsum: [Vec<A>; 2],
    /// Per stride, the window sums (row-major).
    out: Vec<Vec<A>>,
}

impl<A: WindowSum> TermSweep<A> {
    fn new(spec: TermSpec, h: usize, w: usize, win: usize, strides: &[usize]) -> Self {
        let TermSpec { ky, kx, step } = spec;
        let th = (h + 1).saturating_sub(ky);
        let tw = (w + 1).saturating_sub(kx);
        let mut cols = Vec::with_capacity(strides.len());
        let mut out = Vec::with_capacity(strides.len());
        let mut events = Vec::new();
        for (si, &s) in strides.iter().enumerate() {
            let (ay, ax) = (Axis1::new(h, win, s), Axis1::new(w, win, s));
            cols.push(
                (0..ax.n)
                    .map(|j| {
                        let (x0, x1) = ax.window(j);
                        span(x0, x1, kx, step, tw)
                    })
                    .unzip(),
            );
            out.push(vec![A::ZERO; ay.n * ax.n]);
            for i in 0..ay.n {
                let (y0, y1) = ay.window(i);
                let (ra, rb) = span(y0, y1, ky, step, th);
                events.push((ra, false, si as u32, i as u32));
                events.push((rb, true, si as u32, i as u32));
            }
        }
        // At a shared position a window's top edge comes before its bottom.
        events.sort_unstable();
        TermSweep {
            spec,
            th,
            tw,
            cols,
            events,
            next: 0,
            colsum: [
                vec![A::ZERO; tw],
                vec![A::ZERO; if step == 2 { tw } else { 0 }],
            ],
            out,
        }
    }

    /// Whether a window edge lies at integral position `r`.
    #[inline]
    fn has_edges(&self, r: usize) -> bool {
        self.events.get(self.next).is_some_and(|e| e.0 == r)
    }

    /// Reads the window edges at integral position `r` (before term row `r`
    /// is added), using `prefix` as scratch.
    #[inline]
    fn edges(&mut self, r: usize, prefix: &mut [A]) {
        if !self.has_edges(r) {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2() {
            // SAFETY: the CPU has AVX2 (checked at run time).
            return unsafe { self.edges_avx2(r, prefix) };
        }
        self.edges_impl(r, prefix);
    }

    /// [`TermSweep::edges`] compiled for AVX2 ([`crate::simd`]).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline(never)]
    unsafe fn edges_avx2(&mut self, r: usize, prefix: &mut [A]) {
        self.edges_impl(r, prefix);
    }

    #[inline(always)]
    fn edges_impl(&mut self, r: usize, prefix: &mut [A]) {
        let tw = self.tw;
        let prefix = &mut prefix[..tw + 2];
        // prefix[c] = sum of the column sums left of c (of c's parity for
        // step-2 terms).
        if self.spec.step == 2 {
            let col = &self.colsum[r % 2];
            prefix[0] = A::ZERO;
            prefix[1] = A::ZERO;
            let (mut even, mut odd) = (A::ZERO, A::ZERO);
            for (k, pair) in col.chunks(2).enumerate() {
                even = even.add(pair[0]);
                prefix[2 * k + 2] = even;
                if let Some(&o) = pair.get(1) {
                    odd = odd.add(o);
                    prefix[2 * k + 3] = odd;
                }
            }
        } else {
            prefix[0] = A::ZERO;
            A::prefix_sums(&self.colsum[0], &mut prefix[1..=tw]);
            prefix[tw + 1] = prefix[tw];
        }
        self.sample(r, prefix);
    }

    /// Adds (bottom edges) or starts (top edges) the sums of the windows with
    /// an edge at `r`, from the integral row `prefix`.
    #[inline(always)]
    fn sample(&mut self, r: usize, prefix: &[A]) {
        while let Some(&(_, bottom, si, i)) = self.events.get(self.next).filter(|e| e.0 == r) {
            self.next += 1;
            let (ca, cb) = &self.cols[si as usize];
            let nx = ca.len();
            let row = &mut self.out[si as usize][i as usize * nx..(i as usize + 1) * nx];
            if bottom {
                for ((o, &a), &b) in row.iter_mut().zip(ca).zip(cb) {
                    *o = o.add(prefix[b].sub(prefix[a]));
                }
            } else {
                for ((o, &a), &b) in row.iter_mut().zip(ca).zip(cb) {
                    *o = prefix[a].sub(prefix[b]);
                }
            }
        }
    }
}

/// The sums of every term of `m` over every window of every stride:
/// `[term][stride]`, row-major windows.
/// The AVX2 build of the sweep where the CPU has it ([`crate::simd`]).
#[inline(never)]
fn window_sums<P: Pixel, D: Domain>(
    img: ArrayView2<P>,
    m: Measure,
    win: usize,
    strides: &[usize],
    offset: D::N,
) -> Vec<Vec<Vec<D::A>>> {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::avx2() {
        // SAFETY: the CPU has AVX2 (checked at run time).
        return unsafe { window_sums_avx2::<P, D>(img, m, win, strides, offset) };
    }
    window_sums_impl::<P, D>(img, m, win, strides, offset)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn window_sums_avx2<P: Pixel, D: Domain>(
    img: ArrayView2<P>,
    m: Measure,
    win: usize,
    strides: &[usize],
    offset: D::N,
) -> Vec<Vec<Vec<D::A>>> {
    window_sums_impl::<P, D>(img, m, win, strides, offset)
}

#[inline(always)]
fn window_sums_impl<P: Pixel, D: Domain>(
    img: ArrayView2<P>,
    m: Measure,
    win: usize,
    strides: &[usize],
    offset: D::N,
) -> Vec<Vec<Vec<D::A>>> {
    let (h, w) = img.dim();
    let mut terms: Vec<TermSweep<D::A>> = term_specs(m)
        .iter()
        .map(|&spec| TermSweep::new(spec, h, w, win, strides))
        .collect();
    let mut prefix = vec![D::A::ZERO; w + 2];
    // The last three pixel rows, converted (rows y live at y % 3).
    let mut conv: Vec<Vec<D::N>> = vec![vec![D::N::ZERO; w]; 3];
    let convert = |y: usize, buf: &mut [D::N]| {
        let row = img.row(y);
        match row.as_slice() {
            Some(r) => {
                for (b, &p) in buf.iter_mut().zip(r) {
                    *b = D::of(p);
                }
            }
            None => {
                for (b, &p) in buf.iter_mut().zip(row.iter()) {
                    *b = D::of(p);
                }
            }
        }
    };
    if matches!(m, Measure::Std | Measure::Variance) {
        // Both terms sit on single pixels: add them straight from the pixel
        // row, in one pass, without a converted copy.
        let (t0, t1) = terms.split_at_mut(1);
        let (t0, t1) = (&mut t0[0], &mut t1[0]);
        for r in 0..=h + 1 {
            t0.edges(r, &mut prefix);
            t1.edges(r, &mut prefix);
            if r < h {
                let row = img.row(r);
                let (c0, c1) = (&mut t0.colsum[0], &mut t1.colsum[0]);
                let add = |(a, b): (&mut D::A, &mut D::A), p: P| {
                    let (v, v2) = D::point(p, offset);
                    *a = a.add(D::acc(v));
                    *b = b.add(D::acc(v2));
                };
                match row.as_slice() {
                    Some(px) => c0
                        .iter_mut()
                        .zip(c1.iter_mut())
                        .zip(px)
                        .for_each(|(ab, &p)| add(ab, p)),
                    None => c0
                        .iter_mut()
                        .zip(c1.iter_mut())
                        .zip(row.iter())
                        .for_each(|(ab, &p)| add(ab, p)),
                }
            }
        }
        return terms.into_iter().map(|t| t.out).collect();
    }
    for y in 0..h.min(2) {
        convert(y, &mut conv[y % 3]);
    }
    let last = terms.iter().map(|t| t.th + 1).max().unwrap_or(0);
    for r in 0..=last {
        if r + 2 < h {
            convert(r + 2, &mut conv[(r + 2) % 3]);
        }
        for (t, term) in terms.iter_mut().enumerate() {
            term.edges(r, &mut prefix);
            if r < term.th {
                let rows: [&[D::N]; 3] = std::array::from_fn(|k| conv[(r + k) % 3].as_slice());
                let col = &mut term.colsum[if term.spec.step == 2 { r % 2 } else { 0 }];
                add_term_row(m, t, &rows[..term.spec.ky], offset, col, D::acc);
            }
        }
    }
    terms.into_iter().map(|t| t.out).collect()
}

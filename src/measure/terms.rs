//! Per-pixel terms of the sum measures, and the histogram bins of entropy.
//!
//! A term is computed one row at a time from the `ky` pixel rows its stencil
//! spans, so the sliding-window map never holds a whole term image: it adds
//! each term row into running column sums and forgets it (see
//! [`crate::map`]). Integer stacks compute terms in `i64` (exact), float
//! stacks in `f64`.

use super::{Measure, WindowSum};
use crate::stack::StackView;
use ndarray::Array2;
use std::ops::{Add, Mul, Sub};

/// The stencil of a term: `ky x kx` pixels anchored at the top-left. `step`
/// is 2 for the Haar blocks of the DWT, which tile the window from its
/// origin instead of sliding over every pixel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TermSpec {
    pub ky: usize,
    pub kx: usize,
    pub step: usize,
}

const fn spec(ky: usize, kx: usize, step: usize) -> TermSpec {
    TermSpec { ky, kx, step }
}

/// The number type terms are computed in: `i64` for integer stacks (every
/// term is then an exact integer), `f64` for float stacks.
pub(crate) trait Num:
    Copy + Send + Sync + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + 'static
{
    const ZERO: Self;
    fn abs(self) -> Self;
    fn double(self) -> Self {
        self + self
    }
}

impl Num for i64 {
    const ZERO: Self = 0;
    #[inline(always)]
    fn abs(self) -> Self {
        i64::abs(self)
    }
}

impl Num for f64 {
    const ZERO: Self = 0.0;
    #[inline(always)]
    fn abs(self) -> Self {
        f64::abs(self)
    }
}

/// The terms of `m`, in the order [`Measure::score`] expects their sums.
pub(crate) fn term_specs(m: Measure) -> &'static [TermSpec] {
    const P: TermSpec = spec(1, 1, 1);
    const H2: TermSpec = spec(1, 2, 1);
    const H3: TermSpec = spec(1, 3, 1);
    const V2: TermSpec = spec(2, 1, 1);
    const V3: TermSpec = spec(3, 1, 1);
    const SOBEL: TermSpec = spec(3, 3, 1);
    const HAAR: TermSpec = spec(2, 2, 2);
    match m {
        Measure::Std | Measure::Variance => &[P, P],
        Measure::Brenner => &[H2],
        Measure::Tenengrad => &[SOBEL],
        Measure::Laplacian => &[H3, V3],
        Measure::Smd => &[V2, H2],
        Measure::Vollath => &[H2, H3],
        Measure::Dwt => &[HAAR, HAAR],
        Measure::Entropy => &[],
    }
}

/// Adds term `t` of measure `m` for one anchor row onto the column sums
/// `col` (`W + 1 - kx` of them): `rows` are the `ky` pixel rows of the
/// stencil, `offset` is subtracted from the pixels of std/variance, and
/// `acc` turns a term into the accumulator type.
///
/// The formulas, for pixel `i(y, x)` with the anchor at `(y, x)`:
/// std/variance `i` and `i^2`; brenner `(i(y,x+1) - i(y,x))^2`; tenengrad
/// `Sx^2 + Sy^2` of the 3x3 Sobel centred at `(y+1, x+1)`; laplacian
/// `|i(y,x) - 2 i(y,x+1) + i(y,x+2)|` and `|i(y,x) - 2 i(y+1,x) + i(y+2,x)|`;
/// smd `|i(y+1,x) - i(y,x)|` and `|i(y,x) - i(y,x+1)|`; vollath
/// `i(y,x) i(y,x+1)` and `i(y,x) i(y,x+2)`; dwt (unnormalised Haar of the
/// 2x2 block) `LH^2 + HL^2 + HH^2` and `LL^2`.
#[inline(always)]
pub(crate) fn add_term_row<N: Num, A: WindowSum>(
    m: Measure,
    t: usize,
    rows: &[&[N]],
    offset: N,
    col: &mut [A],
    acc: impl Fn(N) -> A + Copy,
) {
    let n = col.len();
    if n == 0 {
        return;
    }
    // Row `k` of the stencil, shifted right by `dx`, exactly `n` long.
    let at = |k: usize, dx: usize| &rows[k][dx..dx + n];
    macro_rules! each {
        ($($v:ident = $src:expr),+ ; $e:expr) => {{
            let it = col.iter_mut();
            $(let it = it.zip($src);)+
            each!(@go it, ($($v),+), $e)
        }};
        (@go $it:ident, ($a:ident), $e:expr) => {
            for (c, &$a) in $it { *c = c.add(acc($e)); }
        };
        (@go $it:ident, ($a:ident, $b:ident), $e:expr) => {
            for ((c, &$a), &$b) in $it { *c = c.add(acc($e)); }
        };
        (@go $it:ident, ($a:ident, $b:ident, $c3:ident), $e:expr) => {
            for (((c, &$a), &$b), &$c3) in $it { *c = c.add(acc($e)); }
        };
        (@go $it:ident, ($a:ident, $b:ident, $c3:ident, $d:ident), $e:expr) => {
            for ((((c, &$a), &$b), &$c3), &$d) in $it { *c = c.add(acc($e)); }
        };
    }
    match (m, t) {
        (Measure::Std | Measure::Variance, 0) => each!(v = at(0, 0); v - offset),
        (Measure::Std | Measure::Variance, _) => each!(v = at(0, 0); {
            let d = v - offset;
            d * d
        }),
        (Measure::Brenner, _) => each!(a = at(0, 0), b = at(0, 1); {
            let d = b - a;
            d * d
        }),
        (Measure::Smd, 1) => each!(a = at(0, 0), b = at(0, 1); (a - b).abs()),
        (Measure::Smd, _) => each!(a = at(0, 0), b = at(1, 0); (b - a).abs()),
        (Measure::Tenengrad, _) => {
            // Sx = right column - left column, Sy = bottom row - top row,
            // both weighted 1 2 1; the 3x3 block is anchored at (y, x).
            let (l0, l1, l2) = (at(0, 0), at(1, 0), at(2, 0));
            let (m0, m2) = (at(0, 1), at(2, 1));
            let (r0, r1, r2) = (at(0, 2), at(1, 2), at(2, 2));
            for x in 0..n {
                let sx = (r0[x] + r1[x].double() + r2[x]) - (l0[x] + l1[x].double() + l2[x]);
                let sy = (l2[x] + m2[x].double() + r2[x]) - (l0[x] + m0[x].double() + r0[x]);
                col[x] = col[x].add(acc(sx * sx + sy * sy));
            }
        }
        (Measure::Laplacian, 0) => {
            each!(a = at(0, 0), b = at(0, 1), c = at(0, 2); (a - b.double() + c).abs())
        }
        (Measure::Laplacian, _) => {
            each!(a = at(0, 0), b = at(1, 0), c = at(2, 0); (a - b.double() + c).abs())
        }
        (Measure::Vollath, 0) => each!(a = at(0, 0), b = at(0, 1); a * b),
        (Measure::Vollath, _) => each!(a = at(0, 0), b = at(0, 2); a * b),
        (Measure::Dwt, 0) => each!(p = at(0, 0), q = at(0, 1), r = at(1, 0), s = at(1, 1); {
            let lh = p + q - r - s;
            let hl = p - q + r - s;
            let hh = p - q - r + s;
            lh * lh + hl * hl + hh * hh
        }),
        (Measure::Dwt, _) => each!(p = at(0, 0), q = at(0, 1), r = at(1, 0), s = at(1, 1); {
            let ll = p + q + r + s;
            ll * ll
        }),
        (Measure::Entropy, _) => unreachable!("entropy is computed from histograms"),
    }
}

/// The entropy bins of a stack's slices.
///
/// u8 stacks use their raw values; other stacks are cut into 256 equal bins
/// over the whole stack's `range` so all slices share one scale. For u16
/// stacks the bin of every possible value is tabulated once per map, not
/// once per slice.
pub(crate) struct EntropyBins {
    range: (f64, f64),
    /// The bin of each u16 value (u16 stacks only).
    table: Option<Vec<u8>>,
}

impl EntropyBins {
    pub(crate) fn new(stack: &StackView, range: (f64, f64)) -> Self {
        let table = matches!(stack, StackView::U16(_)).then(|| {
            // One table lookup per pixel, same formula as the float path.
            (0..=u16::MAX)
                .map(|v| bin_of(range, f64::from(v)))
                .collect()
        });
        EntropyBins { range, table }
    }

    /// The entropy bin of every pixel of slice `z`.
    pub(crate) fn of_slice(&self, stack: &StackView, z: usize) -> Array2<u8> {
        match (stack, &self.table) {
            (StackView::U8(a), _) => a.index_axis(ndarray::Axis(0), z).to_owned(),
            (StackView::U16(a), Some(table)) => {
                let slice = a.index_axis(ndarray::Axis(0), z);
                match slice.as_slice() {
                    // A plain loop over the contiguous slice: several times
                    // faster than `mapv`'s general iteration.
                    Some(px) => Array2::from_shape_vec(
                        slice.dim(),
                        px.iter().map(|&v| table[usize::from(v)]).collect(),
                    )
                    .expect("same shape"),
                    None => slice.mapv(|v| table[usize::from(v)]),
                }
            }
            (StackView::U16(a), None) => a
                .index_axis(ndarray::Axis(0), z)
                .mapv(|v| bin_of(self.range, f64::from(v))),
            (StackView::F32(a), _) => a
                .index_axis(ndarray::Axis(0), z)
                .mapv(|v| bin_of(self.range, f64::from(v))),
        }
    }
}

/// The bin of `v` among 256 equal bins over `range` (0 for an empty range).
#[inline]
fn bin_of((lo, hi): (f64, f64), v: f64) -> u8 {
    let span = hi - lo;
    if span > 0.0 {
        (256.0 * (v - lo) / span).floor().clamp(0.0, 255.0) as u8
    } else {
        0
    }
}

/// Largest count whose `c log2 c` comes from the table rather than `log2`.
const TABLE: usize = 1 << 16;

/// `c log2 c` for `c < TABLE`.
fn clogc_table() -> &'static [f64] {
    static T: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    T.get_or_init(|| (0..TABLE).map(|c| clogc_direct(c as u64)).collect())
}

#[inline]
fn clogc_direct(c: u64) -> f64 {
    if c == 0 {
        0.0
    } else {
        let c = c as f64;
        c * c.log2()
    }
}

/// Shannon entropy, in bits, of histograms of `n` counts.
///
/// Computed as `log2 n - (sum_b c_b log2 c_b) / n` with `c log2 c` from a
/// table; a histogram with a single nonempty bin is exactly 0.
pub(crate) struct Entropy {
    table: &'static [f64],
}

impl Entropy {
    pub(crate) fn new() -> Self {
        Entropy {
            table: clogc_table(),
        }
    }

    #[inline]
    fn clogc(&self, c: u32) -> f64 {
        match self.table.get(c as usize) {
            Some(&v) => v,
            None => clogc_direct(u64::from(c)),
        }
    }

    /// [`Entropy::of_counts`] of the histogram whose bin `b` holds
    /// `count(hi[b], lo[b])` (256 bins summing to `n`), without storing it:
    /// the same value, bit for bit, in one pass instead of three.
    #[inline]
    pub(crate) fn of_difference<T: Copy>(
        &self,
        hi: &[T],
        lo: &[T],
        n: u64,
        count: impl Fn(T, T) -> u32,
    ) -> f64 {
        if n == 0 {
            return 0.0;
        }
        let f = self.table;
        if n as usize >= f.len() {
            let mut counts = [0u32; 256];
            for ((c, &h), &l) in counts.iter_mut().zip(hi).zip(lo) {
                *c = count(h, l);
            }
            return self.of_counts(&counts, n);
        }
        // Every count is at most n, so below the table's end: the table
        // path of `of_counts`, with its eight sums in the same order.
        let (mut a0, mut a1, mut a2, mut a3) = (0.0, 0.0, 0.0, 0.0);
        let (mut a4, mut a5, mut a6, mut a7) = (0.0, 0.0, 0.0, 0.0);
        let mut nonzero = 0u32;
        for (qh, ql) in hi[..256].chunks_exact(8).zip(lo[..256].chunks_exact(8)) {
            let q: [u32; 8] = std::array::from_fn(|i| count(qh[i], ql[i]));
            if q.iter().fold(0, |o, &c| o | c) == 0 {
                continue;
            }
            nonzero += q.iter().map(|&c| u32::from(c != 0)).sum::<u32>();
            a0 += f[q[0] as usize];
            a1 += f[q[1] as usize];
            a2 += f[q[2] as usize];
            a3 += f[q[3] as usize];
            a4 += f[q[4] as usize];
            a5 += f[q[5] as usize];
            a6 += f[q[6] as usize];
            a7 += f[q[7] as usize];
        }
        // A single full bin: exactly 0, as -1 log2 1.
        if nonzero <= 1 {
            return 0.0;
        }
        let t = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
        let nf = n as f64;
        let e = nf.log2() - t / nf;
        if e > 0.0 { e } else { 0.0 }
    }

    /// [`Entropy::of_difference`] of 16-bit wrapping counts, `hi[b] - lo[b]`:
    /// the same value, bit for bit.
    ///
    /// A window's histogram occupies a few runs of bins, so most groups of
    /// eight bins are empty. Here the differences and the test for an empty
    /// group take one vector operation per group (SSE2, part of every
    /// x86-64), and only the nonempty groups are then read bin by bin, in
    /// the same order and with the same eight sums as the generic path.
    #[inline]
    pub(crate) fn of_difference_u16(&self, hi: &[u16], lo: &[u16], n: u64) -> f64 {
        #[cfg(target_arch = "x86_64")]
        if n > 0 && (n as usize) < self.table.len() {
            let (hi, lo): (&[u16; 256], &[u16; 256]) = match (hi.try_into(), lo.try_into()) {
                (Ok(h), Ok(l)) => (h, l),
                _ => {
                    return self
                        .of_difference(hi, lo, n, |h: u16, l: u16| u32::from(h.wrapping_sub(l)));
                }
            };
            if crate::simd::avx2() {
                // SAFETY: the CPU has AVX2 (checked at run time).
                return unsafe { self.of_difference_avx2(hi, lo, n) };
            }
            return self.of_difference_sse2(hi, lo, n);
        }
        self.of_difference(hi, lo, n, |h: u16, l: u16| u32::from(h.wrapping_sub(l)))
    }

    /// The vector path of [`Entropy::of_difference_u16`]; `0 < n` and `n`
    /// below the table's end, so every count indexes the table.
    #[cfg(target_arch = "x86_64")]
    #[inline(never)]
    fn of_difference_sse2(&self, hi: &[u16; 256], lo: &[u16; 256], n: u64) -> f64 {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi16, _mm_loadu_si128, _mm_movemask_epi8, _mm_setzero_si128,
            _mm_storeu_si128, _mm_sub_epi16,
        };
        let mut counts = [0u16; 256];
        // Bit k: group k (bins 8k..8k+8) is not empty.
        let mut groups = 0u32;
        // SAFETY: SSE2 is part of the x86-64 baseline; every access is to a
        // whole group of 8 u16 inside the 256-long arrays.
        unsafe {
            let zero = _mm_setzero_si128();
            for k in 0..32 {
                let h = _mm_loadu_si128(hi.as_ptr().add(8 * k).cast::<__m128i>());
                let l = _mm_loadu_si128(lo.as_ptr().add(8 * k).cast::<__m128i>());
                let d = _mm_sub_epi16(h, l);
                _mm_storeu_si128(counts.as_mut_ptr().add(8 * k).cast::<__m128i>(), d);
                // Two mask bits per empty bin.
                let empty = _mm_movemask_epi8(_mm_cmpeq_epi16(d, zero)) as u32;
                groups |= u32::from(empty != 0xFFFF) << k;
            }
        }
        self.sum_groups(&counts, groups, n)
    }

    /// [`Entropy::of_difference_sse2`] 16 bins at a time (AVX2).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline(never)]
    unsafe fn of_difference_avx2(&self, hi: &[u16; 256], lo: &[u16; 256], n: u64) -> f64 {
        use std::arch::x86_64::{
            __m256i, _mm256_cmpeq_epi16, _mm256_loadu_si256, _mm256_movemask_epi8,
            _mm256_setzero_si256, _mm256_storeu_si256, _mm256_sub_epi16,
        };
        let mut counts = [0u16; 256];
        let mut groups = 0u32;
        // SAFETY: the caller checked AVX2; every access is to 16 u16 inside
        // the 256-long arrays.
        unsafe {
            let zero = _mm256_setzero_si256();
            for k in 0..16 {
                let h = _mm256_loadu_si256(hi.as_ptr().add(16 * k).cast::<__m256i>());
                let l = _mm256_loadu_si256(lo.as_ptr().add(16 * k).cast::<__m256i>());
                let d = _mm256_sub_epi16(h, l);
                _mm256_storeu_si256(counts.as_mut_ptr().add(16 * k).cast::<__m256i>(), d);
                // Low 16 mask bits: group 2k; high 16: group 2k + 1.
                let empty = _mm256_movemask_epi8(_mm256_cmpeq_epi16(d, zero)) as u32;
                let pair =
                    u32::from(empty & 0xFFFF != 0xFFFF) | u32::from(empty >> 16 != 0xFFFF) << 1;
                groups |= pair << (2 * k);
            }
        }
        self.sum_groups(&counts, groups, n)
    }

    /// The entropy from `counts` whose nonempty groups of eight bins are the
    /// set bits of `groups`: the generic path's eight sums, in its order
    /// (an empty group adds only zeros there, which change no sum).
    #[inline(always)]
    fn sum_groups(&self, counts: &[u16; 256], mut groups: u32, n: u64) -> f64 {
        // A single full bin: exactly 0, as -1 log2 1. Two nonempty groups
        // mean two nonempty bins; one group needs a look inside.
        if groups.count_ones() <= 1 {
            let k = groups.trailing_zeros() as usize % 32;
            let bins = counts[8 * k..8 * k + 8].iter().filter(|&&c| c != 0).count();
            if bins <= 1 {
                return 0.0;
            }
        }
        let f = self.table;
        let (mut a0, mut a1, mut a2, mut a3) = (0.0, 0.0, 0.0, 0.0);
        let (mut a4, mut a5, mut a6, mut a7) = (0.0, 0.0, 0.0, 0.0);
        while groups != 0 {
            let k = groups.trailing_zeros() as usize;
            groups &= groups - 1;
            let q = &counts[8 * k..8 * k + 8];
            a0 += f[usize::from(q[0])];
            a1 += f[usize::from(q[1])];
            a2 += f[usize::from(q[2])];
            a3 += f[usize::from(q[3])];
            a4 += f[usize::from(q[4])];
            a5 += f[usize::from(q[5])];
            a6 += f[usize::from(q[6])];
            a7 += f[usize::from(q[7])];
        }
        let t = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
        let nf = n as f64;
        let e = nf.log2() - t / nf;
        if e > 0.0 { e } else { 0.0 }
    }

    /// Entropy of the histogram `counts` (summing to `n`).
    #[inline]
    pub(crate) fn of_counts(&self, counts: &[u32; 256], n: u64) -> f64 {
        if n == 0 {
            return 0.0;
        }
        let max = counts.iter().fold(0u32, |m, &c| m.max(c));
        // A single full bin: exactly 0, as -1 log2 1.
        if u64::from(max) == n {
            return 0.0;
        }
        let t = if (max as usize) < self.table.len() {
            let f = self.table;
            // Eight sums in registers: the table loads, not the additions'
            // latency, set the pace.
            let (mut a0, mut a1, mut a2, mut a3) = (0.0, 0.0, 0.0, 0.0);
            let (mut a4, mut a5, mut a6, mut a7) = (0.0, 0.0, 0.0, 0.0);
            for q in counts.chunks_exact(8) {
                // Windows use a fraction of the bins, in runs: skip empty eights.
                if q.iter().fold(0, |o, &c| o | c) == 0 {
                    continue;
                }
                a0 += f[q[0] as usize];
                a1 += f[q[1] as usize];
                a2 += f[q[2] as usize];
                a3 += f[q[3] as usize];
                a4 += f[q[4] as usize];
                a5 += f[q[5] as usize];
                a6 += f[q[6] as usize];
                a7 += f[q[7] as usize];
            }
            ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
        } else {
            counts.iter().map(|&c| self.clogc(c)).sum::<f64>()
        };
        let nf = n as f64;
        let e = nf.log2() - t / nf;
        if e > 0.0 { e } else { 0.0 }
    }
}

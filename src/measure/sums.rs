//! Window sums, exact for integer stacks.
//!
//! Integer stacks (u8, u16) have integer terms, so their integral images are
//! kept in wrapping `i64`: a window sum is then exact whatever the size of the
//! image (the wrap cancels in the four-corner difference), and the variance
//! numerator `n*S2 - S1^2` is formed exactly in `i128`. A window of constant
//! value therefore scores exactly 0, as in the literal per-window loop. Float
//! stacks use compensated (double-double) sums of values with the slice mean
//! subtracted, so a window sum is as accurate as if it had been added up on
//! its own; a variance below the rounding error of the mean square is 0.

/// An accumulator for integral images and window sums.
pub trait WindowSum: Copy + Send + Sync + 'static {
    const ZERO: Self;
    /// Converts a term value; integer accumulators receive exact integers.
    fn from_term(v: f64) -> Self;
    fn add(self, other: Self) -> Self;
    fn sub(self, other: Self) -> Self;
    fn to_f64(self) -> f64;
    /// Population variance of `n` values with sum `s1` and sum of squares `s2`.
    fn variance(n: u64, s1: Self, s2: Self) -> f64;
    /// [`WindowSum::variance`] of many windows: `n[j]`, `s1[j]`, `s2[j]`.
    fn variance_row(n: &[u64], s1: &[Self], s2: &[Self], out: &mut [f64]) {
        for (((o, &n), &a), &b) in out.iter_mut().zip(n).zip(s1).zip(s2) {
            *o = Self::variance(n, a, b);
        }
    }
    /// Running sums: `out[k] = v[0] + ... + v[k]` (`out` as long as `v`).
    #[inline(always)]
    fn prefix_sums(v: &[Self], out: &mut [Self]) {
        let mut run = Self::ZERO;
        for (o, &x) in out.iter_mut().zip(v) {
            run = run.add(x);
            *o = run;
        }
    }
}

impl WindowSum for i64 {
    const ZERO: Self = 0;
    /// Two running sums at once (the halves), then the first half's total
    /// added onto the second: wrapping addition is associative, so the
    /// result is the same as one running sum, in about half the time.
    #[inline(always)]
    fn prefix_sums(v: &[Self], out: &mut [Self]) {
        let n = v.len().min(out.len());
        let half = n / 2;
        let (va, vb) = v[..n].split_at(half);
        let (oa, ob) = out[..n].split_at_mut(half);
        let (mut a, mut b) = (0i64, 0i64);
        for (((oa, &xa), ob), &xb) in oa.iter_mut().zip(va).zip(ob.iter_mut()).zip(vb) {
            a = a.wrapping_add(xa);
            *oa = a;
            b = b.wrapping_add(xb);
            *ob = b;
        }
        for (o, &x) in ob[half..].iter_mut().zip(&vb[half..]) {
            b = b.wrapping_add(x);
            *o = b;
        }
        for o in ob.iter_mut() {
            *o = o.wrapping_add(a);
        }
    }
    fn from_term(v: f64) -> Self {
        v as i64
    }
    fn add(self, other: Self) -> Self {
        self.wrapping_add(other)
    }
    fn sub(self, other: Self) -> Self {
        self.wrapping_sub(other)
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn variance_row(n: &[u64], s1: &[Self], s2: &[Self], out: &mut [f64]) {
        for (((o, &n), &a), &b) in out.iter_mut().zip(n).zip(s1).zip(s2) {
            // n S2 - S1^2 in i64 when it fits (it does for windows of u16
            // pixels up to 128 x 128 and u8 up to 2048 x 2048): exact, and
            // a single conversion.
            let num = i64::try_from(n)
                .ok()
                .and_then(|n| n.checked_mul(b))
                .zip(a.checked_mul(a))
                .and_then(|(p, q)| p.checked_sub(q));
            *o = match num {
                Some(num) if n > 0 => {
                    let nf = n as f64;
                    if num > 0 { num as f64 / (nf * nf) } else { 0.0 }
                }
                _ => Self::variance(n, a, b),
            };
        }
    }
    fn variance(n: u64, s1: Self, s2: Self) -> f64 {
        if n == 0 {
            return 0.0;
        }
        let num = i128::from(n) * i128::from(s2) - i128::from(s1) * i128::from(s1);
        if num <= 0 {
            return 0.0;
        }
        // The exact integer, rounded once; n^2 rounded once.
        let n = n as f64;
        num as f64 / (n * n)
    }
}

/// A double-double number `hi + lo`: integral images of float terms lose
/// nothing to the large running totals they carry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Compensated {
    hi: f64,
    lo: f64,
}

/// Knuth's TwoSum: `a + b` as a rounded sum and its exact error.
#[inline]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

impl WindowSum for Compensated {
    const ZERO: Self = Compensated { hi: 0.0, lo: 0.0 };
    fn from_term(v: f64) -> Self {
        Compensated { hi: v, lo: 0.0 }
    }
    #[inline]
    fn add(self, o: Self) -> Self {
        let (s, e) = two_sum(self.hi, o.hi);
        let (hi, lo) = two_sum(s, e + self.lo + o.lo);
        Compensated { hi, lo }
    }
    #[inline]
    fn sub(self, o: Self) -> Self {
        self.add(Compensated {
            hi: -o.hi,
            lo: -o.lo,
        })
    }
    fn to_f64(self) -> f64 {
        self.hi + self.lo
    }
    fn variance(n: u64, s1: Self, s2: Self) -> f64 {
        if n == 0 {
            return 0.0;
        }
        let n = n as f64;
        let (mean, mean_sq) = (s1.to_f64() / n, s2.to_f64() / n);
        let var = mean_sq - mean * mean;
        // Below a few roundings of the mean square nothing is resolved: a
        // constant window must score exactly 0.
        if var <= 8.0 * f64::EPSILON * mean_sq {
            0.0
        } else {
            var
        }
    }
}

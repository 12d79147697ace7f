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
}

impl WindowSum for i64 {
    const ZERO: Self = 0;
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
    fn variance(n: u64, s1: Self, s2: Self) -> f64 {
        if n == 0 {
            return 0.0;
        }
        let num = i128::from(n) * i128::from(s2) - i128::from(s1) * i128::from(s1);
        if num <= 0 {
            return 0.0;
        }
        // Both conversions round the exact integer once, whichever route:
        // i64 -> f64 is a single instruction, i128 -> f64 a library call.
        let num = match i64::try_from(num) {
            Ok(v) => v as f64,
            Err(_) => num as f64,
        };
        let n = n as f64;
        num / (n * n)
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

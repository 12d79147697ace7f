//! Window sums, exact for integer stacks.
//!
//! Integer stacks (u8, u16) have integer terms, so their integral images are
//! kept in wrapping `i64`: a window sum is then exact whatever the size of the
//! image (the wrap cancels in the four-corner difference), and the variance
//! numerator `n*S2 - S1^2` is formed exactly in `i128`. A window of constant
//! value therefore scores exactly 0, as in the literal per-window loop. Float
//! stacks use `f64` with the slice mean subtracted first, which keeps the
//! variance from cancelling badly.

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
        let n = i128::from(n);
        let num = n * i128::from(s2) - i128::from(s1) * i128::from(s1);
        num.max(0) as f64 / (n * n) as f64
    }
}

impl WindowSum for f64 {
    const ZERO: Self = 0.0;
    fn from_term(v: f64) -> Self {
        v
    }
    fn add(self, other: Self) -> Self {
        self + other
    }
    fn sub(self, other: Self) -> Self {
        self - other
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn variance(n: u64, s1: Self, s2: Self) -> f64 {
        if n == 0 {
            return 0.0;
        }
        let n = n as f64;
        let mean = s1 / n;
        (s2 / n - mean * mean).max(0.0)
    }
}

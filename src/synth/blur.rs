//! The geometric ladder of Gaussian blurs that approximates a spatially
//! varying Gaussian blur.

pub(crate) use crate::filters::gaussian_blur;
use rayon::prelude::*;

/// log2 of a positive finite `x` to within 0.09: the exponent plus the
/// mantissa taken linearly.
#[inline]
fn approx_log2(x: f64) -> f64 {
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as f64 - 1023.0;
    let mantissa = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    exponent + mantissa - 1.0
}

/// Blurs of one image at the sigmas `s0 * ratio^i`, i = 0..n, with linear
/// interpolation in sigma between neighbouring rungs.
pub(crate) struct Ladder {
    s0: f64,
    inv_log2_ratio: f64,
    sigmas: Vec<f64>,
    rungs: Vec<Vec<f32>>,
}

impl Ladder {
    /// Rungs from `s0` up to the first one at or above `s_max`.
    pub(crate) fn new(src: &[f32], h: usize, w: usize, s0: f64, ratio: f64, s_max: f64) -> Self {
        let ln_ratio = ratio.ln();
        let inv_log2_ratio = 1.0 / ratio.log2();
        let n = if s_max <= s0 {
            1
        } else {
            ((s_max / s0).ln() / ln_ratio - 1e-9).ceil() as usize + 1
        };
        let sigmas: Vec<f64> = (0..n).map(|i| s0 * ratio.powi(i as i32)).collect();
        let rungs = sigmas
            .par_iter()
            .map(|&s| gaussian_blur(src, h, w, s))
            .collect();
        Ladder {
            s0,
            inv_log2_ratio,
            sigmas,
            rungs,
        }
    }

    /// The rung sigmas.
    #[cfg(test)]
    pub(crate) fn sigmas(&self) -> &[f64] {
        &self.sigmas
    }

    /// The largest sigma the ladder can represent; larger ones are clamped.
    pub(crate) fn top(&self) -> f64 {
        *self.sigmas.last().expect("ladder has a rung")
    }

    /// `(i, t)` such that the blur at `sigma` is `(1-t) rung[i] + t rung[i+1]`
    /// (with `i + 1` valid whenever `t > 0`).
    #[inline]
    pub(crate) fn locate(&self, sigma: f64) -> (usize, f32) {
        let n = self.sigmas.len();
        if n == 1 || sigma <= self.s0 {
            return (0, 0.0);
        }
        if sigma >= self.top() {
            return (n - 1, 0.0);
        }
        let mut i =
            ((approx_log2(sigma / self.s0) * self.inv_log2_ratio).max(0.0) as usize).min(n - 2);
        // The logarithm is approximate (to a third of a rung): step to the
        // exact rung.
        while i > 0 && sigma < self.sigmas[i] {
            i -= 1;
        }
        while i + 2 < n && sigma >= self.sigmas[i + 1] {
            i += 1;
        }
        let (a, b) = (self.sigmas[i], self.sigmas[i + 1]);
        let t = ((sigma - a) / (b - a)).clamp(0.0, 1.0);
        (i, t as f32)
    }

    /// The interpolated blurred value at flat pixel index `p`.
    #[inline]
    pub(crate) fn value(&self, i: usize, t: f32, p: usize) -> f32 {
        let a = self.rungs[i][p];
        if t > 0.0 {
            a + t * (self.rungs[i + 1][p] - a)
        } else {
            a
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::reflect;

    #[test]
    fn reflect_is_half_sample_symmetric() {
        let got: Vec<usize> = (-5..9).map(|i| reflect(i, 4)).collect();
        assert_eq!(got, vec![3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0, 0]);
        assert_eq!(reflect(0, 1), 0);
        assert_eq!(reflect(-7, 1), 0);
    }

    #[test]
    fn blur_preserves_constants_and_mass_centre() {
        let (h, w) = (9, 13);
        let ones = vec![1f32; h * w];
        for s in [0.5, 2.0, 30.0] {
            let b = gaussian_blur(&ones, h, w, s);
            assert!(b.iter().all(|v| (v - 1.0).abs() < 1e-5));
        }
        let mut delta = vec![0f32; 31 * 31];
        delta[15 * 31 + 15] = 1.0;
        let b = gaussian_blur(&delta, 31, 31, 2.0);
        let sum: f32 = b.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5);
        // Variance along x of the blurred delta is sigma^2 (less the tails cut at 3 sigma).
        let var: f32 = (0..31 * 31)
            .map(|p| b[p] * ((p % 31) as f32 - 15.0).powi(2))
            .sum();
        assert!((var - 4.0).abs() < 0.1, "{var}");
    }

    #[test]
    fn approx_log2_is_close() {
        for x in [1.0, 1.01, 1.25, 1.5, 1.99, 2.0, 3.0, 10.0, 80.0, 1e6] {
            assert!((approx_log2(x) - f64::log2(x)).abs() < 0.09, "{x}");
        }
    }

    #[test]
    fn ladder_locates_and_interpolates() {
        let src: Vec<f32> = (0..64).map(|i| (i % 3) as f32).collect();
        let l = Ladder::new(&src, 8, 8, 0.5, 1.25, 3.0);
        assert!(l.top() >= 3.0 && l.sigmas().len() >= 2);
        assert_eq!(l.locate(0.5), (0, 0.0));
        for (i, &s) in l.sigmas().iter().enumerate().take(l.sigmas().len() - 1) {
            assert_eq!(l.locate(s), (i, 0.0));
            let (j, t) = l.locate(s * 1.1);
            assert_eq!(j, i);
            assert!(t > 0.0 && t < 1.0);
        }
        assert_eq!(l.locate(1e9).0, l.sigmas().len() - 1);
        let big = Ladder::new(&src, 8, 8, 0.5, 1.25, 40.0);
        let sg = big.sigmas();
        for j in 0..10_000 {
            let sigma = 0.5 + 39.4 * j as f64 / 10_000.0;
            let (i, t) = big.locate(sigma);
            assert!(sg[i] <= sigma && sigma < sg[i + 1], "{sigma}: rung {i}");
            assert!((sg[i] + f64::from(t) * (sg[i + 1] - sg[i]) - sigma).abs() < 1e-5);
        }
        let single = Ladder::new(&src, 8, 8, 0.5, 1.25, 0.5);
        assert_eq!(single.sigmas().len(), 1);
    }
}

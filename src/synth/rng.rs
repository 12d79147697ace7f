//! A small, dependency-free, reproducible random number generator.
//!
//! * Generator: xoshiro256** (Blackman and Vigna), whose 256-bit state is
//!   filled from one 64-bit seed by SplitMix64, as its authors recommend.
//! * Streams: [`Rng::stream`] hashes `(seed, purpose, index)` with the
//!   SplitMix64 finaliser into the seed of an independent generator, so that
//!   every slice of a synthetic stack (and every kind of randomness: blob,
//!   texture, noise...) draws from its own stream. Results therefore do not
//!   depend on which thread computes what, or in which order.
//! * Uniforms: the top 53 bits of a 64-bit output, in `[0, 1)`.
//! * Normals: Box-Muller; the second normal of each pair is kept for the next
//!   call.
//! * Poisson: Knuth's product-of-uniforms method for `lambda <= 30` (exact),
//!   and for `lambda > 30` the normal approximation `lambda + sqrt(lambda) N`
//!   rounded to the nearest integer and clamped at 0 (its error in skewness is
//!   `1 / sqrt(lambda) < 0.19`, negligible next to the read noise for images).
//!
//! The sequence for a given seed is part of the crate's contract: synthetic
//! stacks are byte-identical across platforms and thread counts.

/// One step of SplitMix64 from `state`: advances it and returns the output.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    mix64(*state)
}

/// The SplitMix64 finaliser: a bijective 64-bit mixing function.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Poisson means above this use the rounded normal approximation.
pub const POISSON_KNUTH_MAX: f64 = 30.0;

/// xoshiro256** with Box-Muller normals and Poisson variates.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
    spare: Option<f64>,
}

impl Rng {
    /// A generator seeded from one 64-bit value through SplitMix64.
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        // Four consecutive SplitMix64 outputs are never all zero (the
        // finaliser is a bijection of distinct states), so the state is valid.
        Rng { s, spare: None }
    }

    /// An independent stream for `(seed, purpose, index)`.
    pub fn stream(seed: u64, purpose: u64, index: u64) -> Self {
        let h = mix64(seed ^ 0x6A09_E667_F3BC_C908);
        let h = mix64(h ^ purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let h = mix64(h ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
        Rng::new(h)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `(0, 1]` (safe to take the logarithm of).
    #[inline]
    fn uniform_open0(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    #[inline]
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in `0..n` (`n > 0`), without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        // Lemire's multiply-and-reject.
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            let low = m as u64;
            if low >= n.wrapping_neg() % n {
                return (m >> 64) as u64;
            }
        }
    }

    /// Standard normal (Box-Muller, pairs cached).
    #[inline]
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let r = (-2.0 * self.uniform_open0().ln()).sqrt();
        let (s, c) = (std::f64::consts::TAU * self.uniform()).sin_cos();
        self.spare = Some(r * s);
        r * c
    }

    /// A Poisson variate of mean `lambda` (0 for `lambda <= 0`), as f64.
    ///
    /// Knuth's method up to [`POISSON_KNUTH_MAX`], the rounded normal
    /// approximation above it (see the module documentation).
    #[inline]
    pub fn poisson(&mut self, lambda: f64) -> f64 {
        if lambda <= 0.0 || lambda.is_nan() {
            0.0
        } else if lambda <= POISSON_KNUTH_MAX {
            let limit = (-lambda).exp();
            let mut k = 0u32;
            let mut p = self.uniform();
            while p > limit {
                k += 1;
                p *= self.uniform();
            }
            f64::from(k)
        } else {
            (lambda + lambda.sqrt() * self.normal()).round().max(0.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoshiro_reference_output() {
        // xoshiro256** with state [1, 2, 3, 4] (reference implementation).
        let mut r = Rng {
            s: [1, 2, 3, 4],
            spare: None,
        };
        let want = [11520u64, 0, 1509978240, 1215971899390074240];
        for w in want {
            assert_eq!(r.next_u64(), w);
        }
    }

    #[test]
    fn splitmix_reference_output() {
        // SplitMix64 from seed 1234567 (reference implementation).
        let mut s = 1234567u64;
        assert_eq!(splitmix64(&mut s), 6457827717110365317);
        assert_eq!(splitmix64(&mut s), 3203168211198807973);
    }

    #[test]
    fn moments() {
        let mut r = Rng::stream(7, 1, 2);
        let n = 200_000;
        let (mut s1, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            let z = r.normal();
            s1 += z;
            s2 += z * z;
        }
        let mean = s1 / n as f64;
        let var = s2 / n as f64 - mean * mean;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.02, "{var}");
        for lambda in [0.5, 5.0, 29.0, 31.0, 400.0] {
            let (mut s1, mut s2) = (0.0, 0.0);
            for _ in 0..n {
                let k = r.poisson(lambda);
                s1 += k;
                s2 += k * k;
            }
            let mean = s1 / n as f64;
            let var = s2 / n as f64 - mean * mean;
            assert!(
                (mean - lambda).abs() < 0.02 * lambda.max(1.0),
                "{lambda}: {mean}"
            );
            assert!(
                (var - lambda).abs() < 0.05 * lambda.max(1.0),
                "{lambda}: {var}"
            );
        }
        for _ in 0..1000 {
            assert!(r.below(7) < 7);
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
        }
    }
}

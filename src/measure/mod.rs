//! The nine focus measures of the paper, each the score of one window.
//!
//! A window is the rectangle rows `[y0, y1)` x columns `[x0, x1)` of one
//! slice; `i(y, x)` is the raw intensity. Every measure but entropy is built
//! from sums of per-pixel *terms* over the window, which is what lets the
//! sliding-window map run in O(H x W) per stride from integral images
//! (see [`crate::map`]). A term is anchored at the top-left of its stencil and
//! counts only where the whole stencil lies inside the window, so a window
//! never looks at pixels outside itself, as in the paper's per-window loop.
//!
//! | measure   | score of a window (sums over the window) |
//! |-----------|-------------------------------------------|
//! | std       | population standard deviation of `i` |
//! | variance  | population variance of `i` |
//! | brenner   | sum of `(i(y,x+1) - i(y,x))^2` over horizontal pairs (paper eq. 1, theta = 0) |
//! | tenengrad | sum of `Sx^2 + Sy^2` (3x3 Sobel) over pixels with a whole 3x3 neighbourhood |
//! | laplacian | sum of `abs(Lx)` over 1x3 + sum of `abs(Ly)` over 3x1 (`L = [1 -2 1]`) |
//! | smd       | sum of `abs(i(y,x) - i(y-1,x))` + sum of `abs(i(y,x) - i(y,x+1))` |
//! | vollath   | sum of `i(y,x) i(y,x+1)` - sum of `i(y,x) i(y,x+2)` (Vollath F4) |
//! | entropy   | `-sum p_b log2 p_b` of the window's 256-bin histogram |
//! | dwt       | `sqrt(sum(LH^2+HL^2+HH^2) / sum(LL^2))`, one-level Haar on 2x2 blocks anchored at the window origin |
//!
//! Entropy bins are the raw values for u8 stacks and 256 equal bins over the
//! whole stack's `[min, max]` otherwise, so that every slice of a stack is
//! scored on the same scale. The paper's std equation (6) is an
//! autocorrelation form; its published code computes the plain population
//! standard deviation, which is what we follow.

mod sums;
mod terms;

pub use sums::{Compensated, WindowSum};
pub(crate) use terms::{Entropy, EntropyBins, Num, TermSpec, add_term_row, term_specs};

use crate::error::Error;
use std::fmt;
use std::str::FromStr;

/// One of the nine focus measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Measure {
    Brenner,
    Tenengrad,
    Laplacian,
    Smd,
    Vollath,
    Std,
    Variance,
    Entropy,
    Dwt,
}

impl Measure {
    /// All measures, in the paper's order.
    pub const ALL: [Measure; 9] = [
        Measure::Brenner,
        Measure::Tenengrad,
        Measure::Laplacian,
        Measure::Smd,
        Measure::Vollath,
        Measure::Std,
        Measure::Variance,
        Measure::Entropy,
        Measure::Dwt,
    ];

    /// The lowercase name used by every door (CLI, C, Python, Fiji).
    pub fn name(self) -> &'static str {
        match self {
            Measure::Brenner => "brenner",
            Measure::Tenengrad => "tenengrad",
            Measure::Laplacian => "laplacian",
            Measure::Smd => "smd",
            Measure::Vollath => "vollath",
            Measure::Std => "std",
            Measure::Variance => "variance",
            Measure::Entropy => "entropy",
            Measure::Dwt => "dwt",
        }
    }

    /// The window score from the window's pixel count and its term sums, in
    /// the order [`terms`] produced them.
    pub(crate) fn score<A: WindowSum>(self, n: u64, s: &[A]) -> f64 {
        match self {
            Measure::Std => A::variance(n, s[0], s[1]).sqrt(),
            Measure::Variance => A::variance(n, s[0], s[1]),
            Measure::Brenner | Measure::Tenengrad => s[0].to_f64(),
            Measure::Laplacian | Measure::Smd => s[0].to_f64() + s[1].to_f64(),
            Measure::Vollath => s[0].to_f64() - s[1].to_f64(),
            Measure::Dwt => {
                let low = s[1].to_f64();
                if low > 0.0 {
                    (s[0].to_f64() / low).sqrt()
                } else {
                    0.0
                }
            }
            Measure::Entropy => unreachable!("entropy is not a sum measure"),
        }
    }
}

impl Measure {
    /// [`Measure::score`] of a row of windows: `n[j]` pixels and term sums
    /// `s[t][j]` for window `j`.
    pub(crate) fn score_row<A: WindowSum>(self, n: &[u64], s: &[&[A]], out: &mut [f64]) {
        match self {
            Measure::Std | Measure::Variance => {
                A::variance_row(n, s[0], s[1], out);
                if self == Measure::Std {
                    for o in out.iter_mut() {
                        *o = o.sqrt();
                    }
                }
            }
            m => {
                let mut sums = [A::ZERO; 2];
                for (j, o) in out.iter_mut().enumerate() {
                    for (t, v) in sums.iter_mut().enumerate().take(s.len()) {
                        *v = s[t][j];
                    }
                    *o = m.score(n[j], &sums[..s.len()]);
                }
            }
        }
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Measure {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let lower = s.trim().to_ascii_lowercase();
        Measure::ALL
            .into_iter()
            .find(|m| m.name() == lower)
            .ok_or_else(|| {
                let names: Vec<_> = Measure::ALL.iter().map(|m| m.name()).collect();
                Error::invalid(format!(
                    "unknown measure '{s}'; use one of: {}",
                    names.join(", ")
                ))
            })
    }
}

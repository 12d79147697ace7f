//! From focus scores to masks: finding a level is separate from applying it.
//!
//! Otsu follows scikit-image's `threshold_otsu` (256 bins over the data's
//! `[min, max]`, the level is the centre of the bin that maximises the
//! between-class variance, and a pixel is in focus when its score is strictly
//! above the level), so masks can be checked against the paper's Python.

use crate::error::{Error, Result};
use ndarray::{Array3, ArrayView3, Axis, Zip};
use std::str::FromStr;

/// How a focus map becomes a mask.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Threshold {
    /// One Otsu level over the whole stack (the paper's choice).
    OtsuStack,
    /// One Otsu level per slice.
    OtsuSlice,
    /// A fixed focus-score level.
    Fixed(f32),
}

impl FromStr for Threshold {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "otsu-stack" | "otsu" => Ok(Threshold::OtsuStack),
            "otsu-slice" => Ok(Threshold::OtsuSlice),
            v => match v.parse::<f32>() {
                Ok(x) if x.is_finite() => Ok(Threshold::Fixed(x)),
                _ => Err(Error::invalid(format!(
                    "unknown threshold '{s}'; use otsu-stack, otsu-slice or a number"
                ))),
            },
        }
    }
}

impl std::fmt::Display for Threshold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Threshold::OtsuStack => f.write_str("otsu-stack"),
            Threshold::OtsuSlice => f.write_str("otsu-slice"),
            Threshold::Fixed(v) => write!(f, "{v}"),
        }
    }
}

/// Otsu's level of `values` over a histogram of `bins` bins (scikit-image's
/// algorithm). A constant input returns its value, so nothing is above it.
pub fn otsu_level(values: &[f32], bins: usize) -> f32 {
    let (lo, hi) = values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if values.is_empty() {
        return 0.0;
    }
    let mut h = OtsuHistogram::new(lo, hi, bins);
    h.add(values);
    h.level()
}

/// Otsu's histogram filled a part at a time, for data that is not in memory
/// at once (a stack streamed slice by slice): give the data's min and max
/// first, then every value once, in any order and any number of parts. The
/// level is exactly [`otsu_level`]'s for the same values.
#[derive(Clone, Debug)]
pub struct OtsuHistogram {
    lo: f64,
    width: f64,
    /// `None` when the data is constant (`max <= min`).
    counts: Option<Vec<f64>>,
}

impl OtsuHistogram {
    /// A histogram of `bins` bins (at least 2) over `[min, max]`.
    pub fn new(min: f32, max: f32, bins: usize) -> Self {
        let bins = bins.max(2);
        let (lo, hi) = (f64::from(min), f64::from(max));
        OtsuHistogram {
            lo,
            width: (hi - lo) / bins as f64,
            counts: (max > min).then(|| vec![0f64; bins]),
        }
    }

    /// Counts `values`, which must lie in `[min, max]`.
    pub fn add(&mut self, values: &[f32]) {
        let (lo, width) = (self.lo, self.width);
        let Some(counts) = &mut self.counts else {
            return;
        };
        let last = (counts.len() - 1) as u32;
        // Bins of a block first (the divisions vectorise), then the counts
        // in four integer histograms (no chain of dependent increments);
        // the counts are exact integers whatever the order.
        let mut bins = [0u32; 1024];
        let mut part = vec![[0u64; 4]; counts.len()];
        for block in values.chunks(bins.len()) {
            let bins = &mut bins[..block.len()];
            for (b, &v) in bins.iter_mut().zip(block) {
                *b = (((f64::from(v) - lo) / width) as u32).min(last);
            }
            let mut quads = bins.chunks_exact(4);
            for q in &mut quads {
                part[q[0] as usize][0] += 1;
                part[q[1] as usize][1] += 1;
                part[q[2] as usize][2] += 1;
                part[q[3] as usize][3] += 1;
            }
            for &b in quads.remainder() {
                part[b as usize][0] += 1;
            }
        }
        for (c, p) in counts.iter_mut().zip(&part) {
            *c += p.iter().sum::<u64>() as f64;
        }
    }

    /// The level: the centre of the bin that maximises the between-class
    /// variance (the data's value when it is constant).
    pub fn level(&self) -> f32 {
        let Some(counts) = &self.counts else {
            return self.lo as f32;
        };
        let (lo, width) = (self.lo, self.width);
        let bins = counts.len();
        let centre = |b: usize| lo + width * (b as f64 + 0.5);
        // Between-class variance for a split after bin b, as scikit-image forms it.
        let total: f64 = counts.iter().sum();
        let total_mass: f64 = counts.iter().enumerate().map(|(b, c)| c * centre(b)).sum();
        let (mut w1, mut m1) = (0.0, 0.0);
        let (mut best, mut best_b) = (f64::NEG_INFINITY, 0);
        for b in 0..bins - 1 {
            w1 += counts[b];
            m1 += counts[b] * centre(b);
            let w2 = total - w1;
            if w1 == 0.0 || w2 == 0.0 {
                continue;
            }
            let diff = m1 / w1 - (total_mass - m1) / w2;
            let var = w1 * w2 * diff * diff;
            if var > best {
                best = var;
                best_b = b;
            }
        }
        centre(best_b) as f32
    }
}

/// The level `t` resolves to for the values of one slice or stack.
fn level(t: Threshold, values: &[f32]) -> f32 {
    match t {
        Threshold::Fixed(v) => v,
        _ => otsu_level(values, 256),
    }
}

/// A 0/255 mask: 255 where the score is strictly above the level.
pub fn threshold_mask(map: ArrayView3<f32>, t: Threshold) -> Result<Array3<u8>> {
    if let Some(v) = map.iter().find(|v| !v.is_finite()) {
        return Err(Error::invalid(format!(
            "focus map holds a non-finite value {v}"
        )));
    }
    let mut mask = Array3::<u8>::zeros(map.raw_dim());
    fn apply<D: ndarray::Dimension>(
        mask: ndarray::ArrayViewMut<u8, D>,
        map: ndarray::ArrayView<f32, D>,
        lvl: f32,
    ) {
        Zip::from(mask)
            .and(map)
            .for_each(|m, &v| *m = if v > lvl { 255 } else { 0 });
    }
    match t {
        Threshold::OtsuSlice => {
            for (m, s) in mask.axis_iter_mut(Axis(0)).zip(map.axis_iter(Axis(0))) {
                let values: Vec<f32> = s.iter().copied().collect();
                apply(m, s, level(t, &values));
            }
        }
        _ => {
            let values: Vec<f32> = map.iter().copied().collect();
            apply(mask.view_mut(), map, level(t, &values));
        }
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bimodal_splits_between_modes() {
        let mut v = vec![1.0f32; 100];
        v.extend(vec![9.0f32; 50]);
        let t = otsu_level(&v, 256);
        assert!(t > 1.0 && t < 9.0, "{t}");
    }

    #[test]
    fn constant_map_gives_empty_mask() {
        let m = Array3::from_elem((2, 3, 4), 5.0f32);
        assert!(
            threshold_mask(m.view(), Threshold::OtsuStack)
                .unwrap()
                .iter()
                .all(|&v| v == 0)
        );
    }

    #[test]
    fn parses_threshold_names() {
        assert_eq!(
            "otsu-slice".parse::<Threshold>().unwrap(),
            Threshold::OtsuSlice
        );
        assert_eq!("0.5".parse::<Threshold>().unwrap(), Threshold::Fixed(0.5));
        assert!("nan".parse::<Threshold>().is_err());
        assert!("otsu-z".parse::<Threshold>().is_err());
    }
}

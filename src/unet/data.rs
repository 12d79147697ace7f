//! What the network sees: normalised slices, training patches with their
//! flips and rotations, and the split of slices into training and validation.
//!
//! Pure array code (no libtorch), so that it is tested in every build.

use crate::error::{Error, Result};
use crate::stack::StackView;
use crate::synth::rng::Rng;
use ndarray::{Array2, Array3, ArrayView2, Axis};

/// How a stack's intensities become the network's input: per stack, the
/// `low_percent` and `high_percent` percentiles map to 0 and 1
/// (`(x - low) / (high - low)`, values outside are not clipped).
///
/// Per stack, not per slice: a blurred slice has less contrast than a sharp
/// one, and that difference is part of what the network must see.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalisation {
    pub low_percent: f64,
    pub high_percent: f64,
}

/// Percentiles are taken over at most this many evenly strided pixels.
const PERCENTILE_SAMPLES: usize = 1 << 20;

impl Default for Normalisation {
    fn default() -> Self {
        Normalisation {
            low_percent: 0.5,
            high_percent: 99.5,
        }
    }
}

impl Normalisation {
    pub fn validate(&self) -> Result<()> {
        let ok = |p: f64| p.is_finite() && (0.0..=100.0).contains(&p);
        if ok(self.low_percent) && ok(self.high_percent) && self.low_percent < self.high_percent {
            Ok(())
        } else {
            Err(Error::invalid(format!(
                "normalisation percentiles must satisfy 0 <= low < high <= 100, not {} and {}",
                self.low_percent, self.high_percent
            )))
        }
    }

    /// The (low, high) intensities of `stack`.
    pub fn levels(&self, stack: StackView) -> (f64, f64) {
        let (z, h, w) = stack.dim();
        let n = z * h * w;
        let step = n.div_ceil(PERCENTILE_SAMPLES).max(1);
        let mut v: Vec<f64> = (0..n)
            .step_by(step)
            .map(|i| stack.get_f64(i / (h * w), (i / w) % h, i % w))
            .collect();
        let mut pick = |p: f64| {
            if v.is_empty() {
                return 0.0;
            }
            let k = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
            let k = k.min(v.len() - 1);
            *v.select_nth_unstable_by(k, f64::total_cmp).1
        };
        (pick(self.low_percent), pick(self.high_percent))
    }

    /// The network's input for `stack`, Z x H x W.
    pub fn apply(&self, stack: StackView) -> Array3<f32> {
        let (lo, hi) = self.levels(stack);
        let span = if hi > lo { hi - lo } else { 1.0 };
        let (z, h, w) = stack.dim();
        Array3::from_shape_fn((z, h, w), |(k, y, x)| {
            ((stack.get_f64(k, y, x) - lo) / span) as f32
        })
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "method": "stack-percentiles",
            "low_percent": self.low_percent,
            "high_percent": self.high_percent,
            "formula": "(x - p_low) / (p_high - p_low), percentiles over the whole stack",
        })
    }

    pub fn from_json(v: &serde_json::Value) -> Result<Self> {
        let bad = |what: &str| Error::invalid(format!("normalisation: {what}"));
        if v.get("method").and_then(|m| m.as_str()) != Some("stack-percentiles") {
            return Err(bad("method is not \"stack-percentiles\""));
        }
        let num = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_f64)
                .ok_or_else(|| bad(&format!("{k} is missing or not a number")))
        };
        let n = Normalisation {
            low_percent: num("low_percent")?,
            high_percent: num("high_percent")?,
        };
        n.validate()?;
        Ok(n)
    }
}

/// Index `i` (possibly outside `0..n`) reflected into `0..n` without
/// repeating the edge pixel (numpy's `reflect`).
pub(crate) fn reflect(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let m = i.rem_euclid(period);
    (if m < n as isize { m } else { period - m }) as usize
}

/// The slices that make the input channels of slice `k` in a stack of `z`
/// slices, for Z `offsets` (see [`super::UnetConfig::offsets`]): clamped to
/// the stack's ends, since repeating the end slice invents no structure that
/// the network could mistake for a sharper neighbour.
pub(crate) fn channel_slices(offsets: &[isize], k: usize, z: usize) -> Vec<usize> {
    let last = z.saturating_sub(1) as isize;
    offsets
        .iter()
        .map(|&d| (k as isize + d).clamp(0, last) as usize)
        .collect()
}

/// One of the 8 symmetries of the square: bit 0 flips x, bit 1 flips y,
/// bit 2 transposes (after the flips). 0 is the identity.
pub(crate) fn dihedral<T: Copy>(a: ArrayView2<T>, t: u8) -> Array2<T> {
    let mut v = a;
    if t & 1 != 0 {
        v.invert_axis(Axis(1));
    }
    if t & 2 != 0 {
        v.invert_axis(Axis(0));
    }
    if t & 4 != 0 {
        v = v.reversed_axes();
    }
    v.as_standard_layout().into_owned()
}

/// A `size` x `size` patch whose top-left corner is (`y0`, `x0`) in a plane
/// reflected beyond its edges (so a plane smaller than the patch still
/// fills it).
pub(crate) fn patch<T: Copy>(a: ArrayView2<T>, y0: isize, x0: isize, size: usize) -> Array2<T> {
    let (h, w) = a.dim();
    Array2::from_shape_fn((size, size), |(y, x)| {
        a[[reflect(y0 + y as isize, h), reflect(x0 + x as isize, w)]]
    })
}

/// A random origin for a `size` patch along an axis of `n` pixels: inside
/// the plane when it fits, otherwise 0 (the rest is reflected).
pub(crate) fn origin(rng: &mut Rng, n: usize, size: usize) -> isize {
    if n > size {
        rng.below((n - size + 1) as u64) as isize
    } else {
        0
    }
}

/// Splits `n` items into (training, validation) index lists: a seeded
/// shuffle, then the first `ceil(fraction n)` are for validation. With fewer
/// than 2 items, or a fraction of 0, every item is in both lists.
pub(crate) fn split(n: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Rng::stream(seed, PURPOSE_SPLIT, 0);
    shuffle(&mut order, &mut rng);
    let n_val = ((fraction * n as f64).ceil() as usize).min(n.saturating_sub(1));
    if n < 2 || n_val == 0 {
        return (order.clone(), order);
    }
    let (val, train) = order.split_at(n_val);
    let (mut train, mut val) = (train.to_vec(), val.to_vec());
    train.sort_unstable();
    val.sort_unstable();
    (train, val)
}

/// Fisher-Yates with our reproducible generator.
pub(crate) fn shuffle<T>(v: &mut [T], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

/// Random streams of the U-Net (distinct from synth's purposes 1..5).
pub(crate) const PURPOSE_SPLIT: u64 = 101;
pub(crate) const PURPOSE_EPOCH: u64 = 102;

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, array};

    #[test]
    fn reflect_matches_numpy() {
        // np.pad(np.arange(4), 5, mode="reflect")
        let got: Vec<usize> = (-5..9).map(|i| reflect(i, 4)).collect();
        assert_eq!(got, vec![1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2]);
        assert_eq!(reflect(-3, 1), 0);
    }

    #[test]
    fn channel_slices_clamp_to_the_stack() {
        let off = [0, -1, 1, -2, 2, -4, 4];
        assert_eq!(channel_slices(&off, 0, 10), vec![0, 0, 1, 0, 2, 0, 4]);
        assert_eq!(channel_slices(&off, 5, 10), vec![5, 4, 6, 3, 7, 1, 9]);
        assert_eq!(channel_slices(&off, 9, 10), vec![9, 8, 9, 7, 9, 5, 9]);
        assert_eq!(channel_slices(&off, 0, 1), vec![0; 7]);
    }

    #[test]
    fn the_eight_symmetries_are_distinct_and_keep_values() {
        let a = array![[1, 2, 3], [4, 5, 6], [7, 8, 9]];
        let all: Vec<Array2<i32>> = (0..8).map(|t| dihedral(a.view(), t)).collect();
        for (i, x) in all.iter().enumerate() {
            for y in &all[i + 1..] {
                assert_ne!(x, y);
            }
            let mut v: Vec<i32> = x.iter().copied().collect();
            v.sort_unstable();
            assert_eq!(v, (1..=9).collect::<Vec<_>>());
        }
        assert_eq!(all[0], a);
        assert_eq!(all[4], a.t());
        // Bit 0 flips x: the first row reversed.
        assert_eq!(all[1].row(0).to_vec(), vec![3, 2, 1]);
    }

    #[test]
    fn patches_reflect_beyond_small_planes() {
        let a = array![[1, 2], [3, 4]];
        let p = patch(a.view(), 0, 0, 4);
        assert_eq!(
            p,
            array![[1, 2, 1, 2], [3, 4, 3, 4], [1, 2, 1, 2], [3, 4, 3, 4]]
        );
    }

    #[test]
    fn split_is_seeded_disjoint_and_covering() {
        let (t, v) = split(20, 0.2, 7);
        assert_eq!(v.len(), 4);
        assert_eq!(t.len(), 16);
        let mut all: Vec<usize> = t.iter().chain(&v).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..20).collect::<Vec<_>>());
        assert_eq!(split(20, 0.2, 7), (t, v.clone()));
        assert_ne!(split(20, 0.2, 8).1, v);
        let (t1, v1) = split(1, 0.5, 1);
        assert_eq!((t1, v1), (vec![0], vec![0]));
        let (t0, v0) = split(5, 0.0, 1);
        assert_eq!(t0.len(), 5);
        assert_eq!(v0.len(), 5);
    }

    #[test]
    fn normalisation_maps_percentiles_to_0_and_1() {
        let s = Array3::from_shape_fn((2, 10, 10), |(k, y, x)| (k * 100 + y * 10 + x) as u16);
        let n = Normalisation {
            low_percent: 0.0,
            high_percent: 100.0,
        };
        let a = n.apply(StackView::U16(s.view()));
        assert_eq!(a[[0, 0, 0]], 0.0);
        assert_eq!(a[[1, 9, 9]], 1.0);
        let flat = Array3::<u8>::from_elem((1, 4, 4), 7);
        let a = Normalisation::default().apply(StackView::U8(flat.view()));
        assert!(a.iter().all(|&v| v == 0.0));
        assert!(
            Normalisation {
                low_percent: 50.0,
                high_percent: 50.0
            }
            .validate()
            .is_err()
        );
        let j = Normalisation::default().to_json();
        assert_eq!(
            Normalisation::from_json(&j).unwrap(),
            Normalisation::default()
        );
    }
}

//! What the network sees: normalised slices, training patches with their
//! flips and rotations, and the split of slices into training and validation.
//!
//! Pure array code (no libtorch), so that it is tested in every build.

use super::config::UnetConfig;
use crate::error::{Error, Result};
use crate::stack::StackView;
use crate::synth::rng::Rng;
use ndarray::{Array2, Array3, ArrayView2, Axis};
use rayon::prelude::*;

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

/// What the network reads of one stack: the normalised slices and, for a
/// [`UnetConfig::profile`] network, the stack's focus profile.
///
/// The profile is made of a sharpness per slice and pixel, `s_k`: the mean
/// over a 5 x 5 box of the squared 4-neighbour Laplacian of the normalised
/// slice, less the power that the slice's noise gives it (see
/// [`log_sharpness`]). Two planes come from it:
/// - per slice, `1 + ln(s_k / max_j s_j) / 6`, clipped below at 0: 1 at the
///   pixel's sharpest slice, falling as the slice leaves focus. How fast it
///   falls from slice to slice is the depth of field, seen by every pixel;
/// - once per stack, `ln(max_j s_j / floor) / 8`, where `floor` is the median
///   over pixels of `min_j s_j`: how much structure the pixel has at its best
///   focus against what blur and noise alone leave, which tells specimen
///   from empty background.
///
/// Both are whole-stack statistics: the one thing a window of neighbouring
/// slices cannot give the network.
///
/// The guide ([`UnetConfig::guide`]) is the default preset's band, softened
/// by a one-slice ramp: `clamp(dof / 2 + 1/2 - |k - d|, 0, 1)` on the
/// preset's specimen, 0 off it, where `d` is the pixel's sub-slice best
/// focus and `dof` the stack's estimated depth of field. It is 1/2 or more
/// exactly where the preset marks the pixel in focus, and it is defined
/// beyond the stack's ends too (0 there but for the band's tail), so the
/// edge slices need no clamping.
pub(crate) struct NetInput {
    /// The normalised slices, Z x H x W.
    pub image: Array3<f32>,
    profile: Option<(Array3<f32>, Array2<f32>)>,
    guide: Option<Guide>,
    /// The network's Z offsets ([`UnetConfig::offsets`]).
    offsets: Vec<isize>,
}

/// Natural-log units of sharpness that span the profile's 0..1.
const PROFILE_SPAN: f32 = 6.0;
/// Natural-log units of structure per unit of the best-focus plane.
const STRUCTURE_SCALE: f32 = 8.0;
/// Radius of the sharpness box (5 x 5).
const SHARPNESS_RADIUS: usize = 2;
/// Keeps the logarithm finite on flat slices (normalised intensities are
/// about 0..1, so a squared Laplacian of 1e-7 is no structure).
const SHARPNESS_FLOOR: f32 = 1e-7;

impl NetInput {
    /// The input of `stack` for a network of `config` normalised by
    /// `normalisation`. Fails only where the guide's preset does.
    pub fn new(normalisation: &Normalisation, config: &UnetConfig, stack: StackView) -> Result<Self> {
        let image = normalisation.apply(stack);
        let profile = config.profile.then(|| focus_profile(&image));
        let offsets = config.offsets();
        let guide = if config.guide {
            Some(Guide::new(stack, &offsets)?)
        } else {
            None
        };
        Ok(NetInput {
            image,
            profile,
            guide,
            offsets,
        })
    }

    pub fn dim(&self) -> (usize, usize, usize) {
        self.image.dim()
    }

    /// The input planes of slice `k`, in channel order (see
    /// [`UnetConfig::input_channels`]): the image at each Z offset, then
    /// with the profile its plane at each offset and the structure plane.
    pub fn planes(&self, k: usize) -> Vec<ArrayView2<'_, f32>> {
        let at = channel_slices(&self.offsets, k, self.image.dim().0);
        let mut v: Vec<_> = at.iter().map(|&c| self.image.index_axis(Axis(0), c)).collect();
        if let Some((profile, structure)) = &self.profile {
            v.extend(at.iter().map(|&c| profile.index_axis(Axis(0), c)));
            v.push(structure.view());
        }
        if let Some(g) = &self.guide {
            v.extend(self.offsets.iter().map(|&o| g.plane(k as isize + o)));
        }
        v
    }
}

/// The largest f32 below 1/2.
const BELOW_HALF: f32 = 0.5 - f32::EPSILON / 4.0;

/// The default preset's soft band at every slice a network may ask for
/// (see [`NetInput`]).
struct Guide {
    /// Planes for slices `-pad .. z + pad`.
    planes: Array3<f32>,
    pad: usize,
}

impl Guide {
    fn new(stack: StackView, offsets: &[isize]) -> Result<Self> {
        let params = crate::segment::SegmentParams::new(crate::segment::Preset::Default).band;
        let (_, d) = crate::segment::segment_details(stack, &params, &crate::Progress::none())?;
        let pad = offsets.iter().map(|o| o.unsigned_abs()).max().unwrap_or(0);
        let (z, h, w) = stack.dim();
        let half = d.dof / 2.0;
        let planes = Array3::from_shape_fn((z + 2 * pad, h, w), |(i, y, x)| {
            if !d.specimen[[y, x]] {
                return 0.0;
            }
            // The preset's own test, in f64 as it makes it, decides the side
            // of 1/2, so that rounding cannot move a pixel across the band.
            let off = (i as f64 - pad as f64 - f64::from(d.depth[[y, x]])).abs();
            if off <= half {
                (0.5 + (half - off)).min(1.0) as f32
            } else {
                ((0.5 - (off - half)).max(0.0) as f32).min(BELOW_HALF)
            }
        });
        Ok(Guide { planes, pad })
    }

    /// The plane of slice `k` (which may lie up to the largest offset
    /// beyond either end).
    fn plane(&self, k: isize) -> ArrayView2<'_, f32> {
        self.planes.index_axis(Axis(0), (k + self.pad as isize) as usize)
    }
}

/// ln of the sharpness of one slice (see [`NetInput`]).
fn log_sharpness(plane: ArrayView2<f32>) -> Vec<f32> {
    let (h, w) = plane.dim();
    let at = |y: usize, x: usize| plane[[y, x]];
    let mut lap2 = Vec::with_capacity(h * w);
    for y in 0..h {
        let (up, down) = (y.saturating_sub(1), (y + 1).min(h - 1));
        for x in 0..w {
            let (left, right) = (x.saturating_sub(1), (x + 1).min(w - 1));
            let l = at(up, x) + at(down, x) + at(y, left) + at(y, right) - 4.0 * at(y, x);
            lap2.push(l * l);
        }
    }
    // White noise of variance v gives the 4-neighbour Laplacian a power of
    // 20 v wherever the slice is, in focus or not: taken away, blurred
    // slices of a noisy stack fall to the same low level instead of looking
    // as sharp as the focused one. Half of it stays as a floor, so that
    // pure noise gives a steady logarithm.
    let noise = LAPLACIAN_NOISE_GAIN * noise_variance(plane);
    crate::filters::box_mean_f32(&lap2, h, w, SHARPNESS_RADIUS)
        .into_iter()
        .map(|v| ((v - noise).max(0.0) + 0.5 * noise + SHARPNESS_FLOOR).ln())
        .collect()
}

/// Power of the 4-neighbour Laplacian of unit white noise (1 + 1 + 1 + 1 + 16).
const LAPLACIAN_NOISE_GAIN: f32 = 20.0;

/// The slice's noise variance by Immerkaer's operator, which cancels
/// smooth structure ([`crate::filters::noise_response`]): the median of its
/// absolute response, as a Gaussian's standard deviation (/ 0.6745),
/// squared. 0 for slices under 3 x 3.
fn noise_variance(plane: ArrayView2<f32>) -> f32 {
    let response = crate::filters::noise_response(plane.mapv(f64::from).view());
    let mut r: Vec<f64> = response.iter().filter(|v| v.is_finite()).map(|v| v.abs()).collect();
    (crate::filters::median(&mut r) / 0.6745).powi(2) as f32
}

/// The profile and structure planes of a normalised stack (see [`NetInput`]).
fn focus_profile(image: &Array3<f32>) -> (Array3<f32>, Array2<f32>) {
    let (z, h, w) = image.dim();
    let logs: Vec<Vec<f32>> = (0..z)
        .into_par_iter()
        .map(|k| log_sharpness(image.index_axis(Axis(0), k)))
        .collect();
    let mut best = vec![f32::NEG_INFINITY; h * w];
    let mut least = vec![f32::INFINITY; h * w];
    for l in &logs {
        for ((b, m), &v) in best.iter_mut().zip(&mut least).zip(l) {
            *b = b.max(v);
            *m = m.min(v);
        }
    }
    // (f32 to f64 and back is exact, so this is the f32 median.)
    let floor = crate::filters::median(&mut least.iter().map(|&v| f64::from(v)).collect::<Vec<_>>()) as f32;
    let profile = Array3::from_shape_fn((z, h, w), |(k, y, x)| {
        let i = y * w + x;
        (1.0 + (logs[k][i] - best[i]) / PROFILE_SPAN).max(0.0)
    });
    let structure = Array2::from_shape_fn((h, w), |(y, x)| (best[y * w + x] - floor) / STRUCTURE_SCALE);
    (profile, structure)
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

    /// The profile of a stack, computed the slow and obvious way.
    fn literal_profile(img: &Array3<f32>) -> (Array3<f32>, Array2<f32>) {
        let (z, h, w) = img.dim();
        let lap = |k: usize, y: usize, x: usize| {
            let at = |yy: isize, xx: isize| {
                img[[k, yy.clamp(0, h as isize - 1) as usize, xx.clamp(0, w as isize - 1) as usize]]
            };
            let (y, x) = (y as isize, x as isize);
            at(y - 1, x) + at(y + 1, x) + at(y, x - 1) + at(y, x + 1) - 4.0 * at(y, x)
        };
        // 20 x the noise variance: the median absolute Immerkaer response
        // (over interior pixels, upper median) / 6 / 0.6745, squared.
        let noise: Vec<f32> = (0..z)
            .map(|k| {
                let mut r = Vec::new();
                for y in 1..h - 1 {
                    for x in 1..w - 1 {
                        let mut n = 0.0;
                        let mask = [[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]];
                        for (dy, row) in mask.iter().enumerate() {
                            for (dx, m) in row.iter().enumerate() {
                                n += m * img[[k, y + dy - 1, x + dx - 1]];
                            }
                        }
                        r.push((n / 6.0f32).abs());
                    }
                }
                r.sort_by(f32::total_cmp);
                20.0 * (r[r.len() / 2] / 0.6745).powi(2)
            })
            .collect();
        let logs = Array3::from_shape_fn((z, h, w), |(k, y, x)| {
            let (mut sum, mut n) = (0.0f64, 0.0f64);
            for yy in y.saturating_sub(2)..(y + 3).min(h) {
                for xx in x.saturating_sub(2)..(x + 3).min(w) {
                    sum += f64::from(lap(k, yy, xx)).powi(2);
                    n += 1.0;
                }
            }
            let s = (sum / n) as f32;
            ((s - noise[k]).max(0.0) + 0.5 * noise[k] + 1e-7).ln()
        });
        let best = logs.fold_axis(Axis(0), f32::NEG_INFINITY, |a, &b| a.max(b));
        let least = logs.fold_axis(Axis(0), f32::INFINITY, |a, &b| a.min(b));
        let mut sorted: Vec<f32> = least.iter().copied().collect();
        sorted.sort_by(f32::total_cmp);
        let floor = sorted[sorted.len() / 2];
        let profile = Array3::from_shape_fn((z, h, w), |(k, y, x)| {
            (1.0 + (logs[[k, y, x]] - best[[y, x]]) / 6.0).max(0.0)
        });
        (profile, best.mapv(|b| (b - floor) / 8.0))
    }

    #[test]
    fn the_guide_is_the_default_presets_band() {
        // Where the guide is 1/2 or more is exactly where the default preset
        // marks a pixel in focus, in every slice.
        let params = crate::synth::SynthParams {
            depth: 9,
            height: 48,
            width: 48,
            dof: 2.0,
            ..crate::synth::SynthParams::default()
        };
        let s = crate::synth::synth(&params, &crate::Progress::none()).unwrap();
        let config = UnetConfig::default();
        let input = NetInput::new(&Normalisation::default(), &config, s.stack.view()).unwrap();
        let preset = crate::segment::segment(
            s.stack.view(),
            &crate::segment::SegmentParams::new(crate::segment::Preset::Default),
            &crate::Progress::none(),
        )
        .unwrap();
        let first_guide = config.input_channels() - config.offsets().len();
        let mut marked = 0;
        for k in 0..9 {
            let g = input.planes(k)[first_guide];
            for (v, m) in g.iter().zip(preset.mask.index_axis(Axis(0), k)) {
                assert_eq!(*v >= 0.5, *m == 255, "slice {k}: guide {v}, mask {m}");
                assert!((0.0..=1.0).contains(v));
                marked += usize::from(*m == 255);
            }
        }
        assert!(marked > 0, "the stack has a specimen");
        // Every pixel's best focus lies within the stack, so the band only
        // falls going outwards, and the planes the network's Z offsets
        // reach beyond the ends exist.
        let guide = input.guide.as_ref().unwrap();
        for (inner, outer) in [(0isize, -1isize), (-1, -2), (-2, -4), (8, 9), (9, 10), (10, 12)] {
            let (i, o) = (guide.plane(inner), guide.plane(outer));
            assert!(i.iter().zip(&o).all(|(i, o)| o <= i), "{outer} beyond {inner}");
        }
    }

    #[test]
    fn the_profile_matches_the_literal_computation() {
        let mut rng = Rng::stream(5, 1, 0);
        // Slice 2 carries the most structure, slice 0 the least.
        let gain = [0.1f32, 0.5, 1.0, 0.3];
        let img = Array3::from_shape_fn((4, 9, 7), |(k, _, _)| gain[k] * rng.range(0.0, 1.0) as f32);
        let (profile, structure) = focus_profile(&img);
        let (want_p, want_s) = literal_profile(&img);
        for (a, b) in profile.iter().zip(&want_p) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        for (a, b) in structure.iter().zip(&want_s) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        // Every pixel peaks at 1 somewhere, and nothing leaves 0..1.
        for y in 0..9 {
            for x in 0..7 {
                let col = profile.slice(ndarray::s![.., y, x]);
                assert_eq!(col.fold(0.0f32, |a, &b| a.max(b)), 1.0);
                assert!(col.iter().all(|&v| (0.0..=1.0).contains(&v)));
            }
        }
        assert!(profile.index_axis(Axis(0), 2).mean().unwrap() > profile.index_axis(Axis(0), 0).mean().unwrap());
    }

    #[test]
    fn planes_follow_the_channel_order_of_the_config() {
        let s = Array3::from_shape_fn((5, 16, 16), |(k, y, x)| ((k * 7 + y * 3 + x) % 11) as u16);
        let view = StackView::U16(s.view());
        for config in [UnetConfig::default(), UnetConfig::paper(), UnetConfig { profile: false, ..UnetConfig::default() }] {
            let input = NetInput::new(&Normalisation::default(), &config, view).unwrap();
            let offsets = config.offsets();
            for k in 0..5 {
                let planes = input.planes(k);
                assert_eq!(planes.len(), config.input_channels());
                // The images first, at the clamped offsets.
                for (p, c) in planes.iter().zip(channel_slices(&offsets, k, 5)) {
                    assert_eq!(*p, input.image.index_axis(Axis(0), c));
                }
            }
        }
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

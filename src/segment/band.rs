//! The `default` preset: a depth-of-field band around each pixel's best focus.
//!
//! A thin specimen seen through a widefield microscope is sharp where it
//! crosses the focal plane and blurred elsewhere. So instead of asking "is
//! this window's score high?", as the paper's Otsu masks do, we ask:
//!
//! 1. **How sharp is each pixel in each slice?** The local gradient energy
//!    `G_k(p)` (mean squared central-difference gradient over a small box).
//!    White noise of variance `s^2` gives `G = s^2`, so scores read in units of
//!    the noise.
//! 2. **Where is its best focus?** `d(p) = argmax_k G_k(p)`, refined to a
//!    sub-slice position by a parabola through the peak and its neighbours,
//!    then median-smoothed within the specimen (edges between specimen and
//!    background are respected; steps in depth survive a median).
//! 3. **Is it specimen at all?** Only if its best-focus sharpness beats the
//!    noise: `max_k G_k(p) / s^2 >= min_contrast`. Empty background is in
//!    focus nowhere, however its noise fluctuates.
//! 4. **How deep is the depth of field?** Given by the user in slices, or
//!    estimated: blurring a texture by a Gaussian of width `sigma` raises its
//!    correlation area `tau^2 = variance / gradient energy` by `sigma^2`
//!    whatever the texture, so comparing `tau^2` at best focus with `tau^2`
//!    `D` slices away gives the blur growth `beta` (pixels per slice). The
//!    depth of field is the defocus range over which the blur stays under one
//!    pixel: `dof = 2 sqrt(1 - 0.5^2) / beta` (a focused image already has
//!    about half a pixel of blur).
//! 5. **Masks**: pixel `p` is in focus in slice `k` when it is specimen and
//!    `|k - d(p)| <= dof / 2`.

use super::filters::{box_mean, gradient_energy, masked_median, median, noise_sigma};
use super::Segmentation;
use crate::error::{Error, Result};
use crate::progress::{Counter, Progress};
use crate::stack::StackView;
use ndarray::{Array2, Array3, Axis, Zip};
use rayon::prelude::*;

/// The in-focus blur of the optics assumed by the depth-of-field estimate, px.
const FOCUSED_BLUR: f64 = 0.5;

/// Parameters of the `default` preset, in words a microscopist uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BandParams {
    /// Depth of field in slices; `None` estimates it from the stack.
    pub dof: Option<f64>,
    /// How many times the noise's gradient energy the best-focus sharpness
    /// must reach for a pixel to count as specimen.
    pub min_contrast: f64,
    /// Radius in pixels of the box the sharpness is averaged over.
    pub radius: usize,
    /// Radius in pixels of the median that smooths the depth map (0: none).
    pub smoothing: usize,
}

impl Default for BandParams {
    fn default() -> Self {
        BandParams {
            dof: None,
            min_contrast: 4.0,
            radius: 3,
            smoothing: 2,
        }
    }
}

impl BandParams {
    pub fn validate(&self) -> Result<()> {
        if let Some(d) = self.dof {
            if !(d.is_finite() && d > 0.0) {
                return Err(Error::invalid(format!("depth of field must be a positive number of slices, not {d}")));
            }
        }
        if !(self.min_contrast.is_finite() && self.min_contrast >= 0.0) {
            return Err(Error::invalid(format!("min contrast must be 0 or more, not {}", self.min_contrast)));
        }
        if !(1..=64).contains(&self.radius) {
            return Err(Error::invalid(format!("radius must be 1 to 64 pixels, not {}", self.radius)));
        }
        if self.smoothing > 32 {
            return Err(Error::invalid(format!("smoothing must be 0 to 32 pixels, not {}", self.smoothing)));
        }
        Ok(())
    }
}

/// Per-slice local statistics: sharpness `g`, local variance `v`, noise sigma.
struct SliceStats {
    g: Array2<f32>,
    v: Array2<f32>,
    noise: f64,
}

fn slice_stats(stack: &StackView, k: usize, r: usize) -> SliceStats {
    let img = stack.slice_f64(k);
    let g = box_mean(gradient_energy(img.view()).view(), r);
    let mean = box_mean(img.view(), r);
    let sq = box_mean(img.mapv(|v| v * v).view(), r);
    let v = Zip::from(&sq).and(&mean).map_collect(|&s, &m| (s - m * m).max(0.0) as f32);
    SliceStats {
        g: g.mapv(|x| x as f32),
        v,
        noise: noise_sigma(img.view()),
    }
}

fn all_stats(stack: StackView, p: &BandParams, progress: &Progress) -> Result<Vec<SliceStats>> {
    stack.validate()?;
    p.validate()?;
    let z = stack.dim().0;
    let counter = Counter::new(progress, z as u64);
    counter.check()?;
    (0..z)
        .into_par_iter()
        .map(|k| {
            counter.check()?;
            let s = slice_stats(&stack, k, p.radius);
            counter.add(1)?;
            Ok(s)
        })
        .collect()
}

fn stack_of(stats: &[SliceStats], f: impl Fn(&SliceStats) -> &Array2<f32>) -> Array3<f32> {
    let views: Vec<_> = stats.iter().map(|s| f(s).view()).collect();
    ndarray::stack(Axis(0), &views).expect("slices share one shape")
}

/// The default preset's focus-score stack: local gradient energy.
pub(crate) fn focus_scores(stack: StackView, p: &BandParams, progress: &Progress) -> Result<Array3<f32>> {
    Ok(stack_of(&all_stats(stack, p, progress)?, |s| &s.g))
}

/// Sub-slice best focus and peak sharpness of every pixel.
fn best_focus(g: &Array3<f32>) -> (Array2<f32>, Array2<f32>) {
    let (z, h, w) = g.dim();
    let mut depth = Array2::<f32>::zeros((h, w));
    let mut peak = Array2::<f32>::zeros((h, w));
    Zip::indexed(&mut depth).and(&mut peak).for_each(|(y, x), d, pk| {
        let curve = g.slice(ndarray::s![.., y, x]);
        let (kb, &b) = curve
            .iter()
            .enumerate()
            .fold((0, &f32::NEG_INFINITY), |best, (k, v)| if *v > *best.1 { (k, v) } else { best });
        let mut offset = 0.0;
        if kb > 0 && kb + 1 < z {
            let (a, c) = (f64::from(curve[kb - 1]), f64::from(curve[kb + 1]));
            let den = a - 2.0 * f64::from(b) + c;
            if den < 0.0 {
                offset = (0.5 * (a - c) / den).clamp(-0.5, 0.5);
            }
        }
        *d = (kb as f64 + offset) as f32;
        *pk = b;
    });
    (depth, peak)
}

/// Blur growth per slice from how the correlation area of the texture grows
/// away from best focus; the depth of field in slices, or `None` when the
/// stack shows no measurable defocus.
fn estimate_dof(stats: &[SliceStats], depth: &Array2<f32>, specimen: &Array2<bool>, noise2: f64) -> Option<f64> {
    let z = stats.len();
    let (h, w) = depth.dim();
    let tau2 = |k: usize, y: usize, x: usize| {
        let g = f64::from(stats[k].g[(y, x)]) - noise2;
        let v = f64::from(stats[k].v[(y, x)]) - noise2;
        // Only where the texture still stands well above the noise.
        (g > 2.0 * noise2 && v > 2.0 * noise2).then(|| v / g)
    };
    let mut q = Vec::new();
    for y in (0..h).step_by(2) {
        for x in (0..w).step_by(2) {
            if !specimen[(y, x)] {
                continue;
            }
            let d = f64::from(depth[(y, x)]);
            let kb = d.round().clamp(0.0, (z - 1) as f64) as usize;
            let Some(tb) = tau2(kb, y, x) else { continue };
            let db2 = (kb as f64 - d).powi(2);
            for k in 0..z {
                let dk2 = (k as f64 - d).powi(2);
                if dk2 < 1.0 {
                    continue;
                }
                if let Some(t) = tau2(k, y, x) {
                    q.push((t - tb) / (dk2 - db2));
                }
            }
        }
    }
    let beta2 = median(&mut q);
    (beta2 > 0.0).then(|| 2.0 * (1.0 - FOCUSED_BLUR * FOCUSED_BLUR).sqrt() / beta2.sqrt())
}

/// The default preset end to end.
pub(crate) fn segment(stack: StackView, p: &BandParams, progress: &Progress) -> Result<Segmentation> {
    let stats = all_stats(stack, p, progress)?;
    let (z, h, w) = stack.dim();
    let g = stack_of(&stats, |s| &s.g);
    let mut noise2: Vec<f64> = stats.iter().map(|s| s.noise * s.noise).collect();
    // A noise-free stack still needs a floor to measure contrast against.
    let gmax = g.iter().fold(0f32, |m, &v| m.max(v));
    let noise2 = median(&mut noise2).max(1e-9 * f64::from(gmax)).max(f64::MIN_POSITIVE);
    let (raw_depth, peak) = best_focus(&g);
    let specimen = peak.mapv(|v| f64::from(v) / noise2 >= p.min_contrast);
    let depth = masked_median(raw_depth.view(), specimen.view(), p.smoothing);
    let dof = match p.dof {
        Some(d) => d,
        None => estimate_dof(&stats, &depth, &specimen, noise2).unwrap_or(z as f64).clamp(0.5, 2.0 * z as f64),
    };
    let mut mask = Array3::<u8>::zeros((z, h, w));
    for (k, mut m) in mask.axis_iter_mut(Axis(0)).enumerate() {
        Zip::from(&mut m).and(&depth).and(&specimen).for_each(|m, &d, &s| {
            if s && (k as f64 - f64::from(d)).abs() <= dof / 2.0 {
                *m = 255;
            }
        });
    }
    let depth_idx = depth.mapv(|d| d.round().clamp(0.0, (z - 1) as f32) as u16);
    Ok(Segmentation { map: g, mask, depth: depth_idx, dof: Some(dof) })
}

//! The `default` preset: a depth-of-field band around each pixel's best focus.
//!
//! A thin specimen seen through a widefield microscope is sharp where it
//! crosses the focal plane and blurred elsewhere. So instead of asking "is
//! this window's score high?", as the paper's Otsu masks do, we ask:
//!
//! 1. **How sharp is each pixel in each slice, measured against the noise?**
//!    Three band-pass images (differences of Gaussians at 0-1, 1-2 and 2-4
//!    px) catch fine, medium and coarse texture. Each band's local energy is
//!    divided by what white noise of the stack's noise level would give in
//!    that band (its exact gain through the filter), minus 1: a score of 0 is
//!    pure noise, 3 is four times the noise energy. This is the preset's
//!    focus map. Each pixel uses the band where its best score is highest.
//! 2. **Where is its best focus?** The argmax over slices of that score,
//!    refined to a sub-slice position by a parabola through the peak, then
//!    median-smoothed within the specimen (steps in depth survive a median).
//! 3. **Is it specimen at all?** Only if its best score reaches
//!    `min_contrast`: empty background is in focus nowhere, however its noise
//!    fluctuates.
//! 4. **How deep is the depth of field?** Given in slices, or estimated by
//!    blur matching: the all-in-focus image, blurred by a Gaussian of width
//!    `s`, is compared with each defocused slice; the best `s` at `D` slices
//!    from focus gives the blur growth `beta = s / D` (px per slice, median
//!    over the specimen). The depth of field is the defocus range over which
//!    the blur stays under one pixel: `dof = 2 sqrt(1 - 0.5^2) / beta`
//!    (a focused image already carries about half a pixel of blur).
//! 5. **Masks**: pixel `p` is in focus in slice `k` when it is specimen and
//!    `|k - d(p)| <= dof / 2`.

use super::Segmentation;
use crate::error::{Error, Result};
use crate::filters::{
    NoiseModel, box_max, box_mean, box_mean_sampled, erode, gaussian_blur, kernel, masked_median, median, noise_response,
    remove_small,
};
use crate::progress::{Counter, Progress};
use crate::stack::StackView;
use ndarray::{Array2, Array3, Axis, Zip};
use rayon::prelude::*;

/// The in-focus blur of the optics assumed by the depth-of-field estimate, px.
const FOCUSED_BLUR: f64 = 0.5;

/// A defocus halo carries a fraction (band width / distance)^2 of the
/// in-focus energy beside it: structure below this fraction of the strongest
/// within `HALO_RADIUS` px is taken as halo, not specimen.
const HALO_FRACTION: f32 = 0.15;
const HALO_RADIUS: usize = 12;

/// Blur matching samples every `SAMPLE_STEP`-th pixel in each direction.
const SAMPLE_STEP: usize = 3;

/// Defocus (slices) beyond which blur matching does not look.
const MAX_DEFOCUS: f64 = 16.0;

/// The relative blur (px) blur matching can measure: below, noise hides it;
/// above, the texture is gone.
const RESOLVED_BLUR: (f64, f64) = (0.4, 4.0);

/// Erosion beyond half the averaging box, px.
const ERODE_EXTRA: usize = 3;

/// Band-pass filters: (inner sigma, outer sigma, box radius relative to the
/// user's radius). Sigma 0 is the image itself.
const BANDS: [(f64, f64, f64); 3] = [(0.0, 1.0, 1.0), (1.0, 2.0, 1.3), (2.0, 4.0, 2.0)];

/// Parameters of the `default` preset, in words a microscopist uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BandParams {
    /// Depth of field in slices; `None` estimates it from the stack.
    pub dof: Option<f64>,
    /// The best-focus sharpness a pixel needs to count as specimen, as
    /// excess energy over the noise's (0 = noise level, 1 = twice the noise).
    pub min_contrast: f64,
    /// Radius in pixels of the finest band's averaging box (coarser bands
    /// average over proportionally larger boxes).
    pub radius: usize,
    /// Radius in pixels of the median that smooths the depth map (0: none).
    pub smoothing: usize,
}

impl Default for BandParams {
    fn default() -> Self {
        BandParams {
            dof: None,
            min_contrast: 2.0,
            radius: 3,
            smoothing: 6,
        }
    }
}

impl BandParams {
    pub fn validate(&self) -> Result<()> {
        if let Some(d) = self.dof {
            if !(d.is_finite() && d > 0.0) {
                return Err(Error::invalid(format!(
                    "depth of field must be a positive number of slices, not {d}"
                )));
            }
        }
        if !(self.min_contrast.is_finite() && self.min_contrast >= 0.0) {
            return Err(Error::invalid(format!(
                "min contrast must be 0 or more, not {}",
                self.min_contrast
            )));
        }
        if !(1..=64).contains(&self.radius) {
            return Err(Error::invalid(format!(
                "radius must be 1 to 64 pixels, not {}",
                self.radius
            )));
        }
        if self.smoothing > 32 {
            return Err(Error::invalid(format!(
                "smoothing must be 0 to 32 pixels, not {}",
                self.smoothing
            )));
        }
        Ok(())
    }
}

/// A slice as a row-major f32 image.
fn slice_f32(stack: &StackView, k: usize) -> Vec<f32> {
    stack.slice_f64(k).iter().map(|&v| v as f32).collect()
}

fn blur(img: &[f32], h: usize, w: usize, sigma: f64) -> Vec<f32> {
    if sigma > 0.0 {
        gaussian_blur(img, h, w, sigma)
    } else {
        img.to_vec()
    }
}

fn box_radius(p: &BandParams, rel: f64) -> usize {
    (p.radius as f64 * rel).round().max(1.0) as usize
}

/// Local energy of each band of slice `k` (one H x W image per band), then
/// the slice's local mean brightness at each band's box.
fn band_energies(
    stack: &StackView,
    k: usize,
    p: &BandParams,
) -> (Vec<Array2<f32>>, Vec<Array2<f32>>) {
    let (_, h, w) = stack.dim();
    let img = slice_f32(stack, k);
    let mut cache: Vec<(f64, Vec<f32>)> = Vec::new();
    let mut blurred = |s: f64| -> Vec<f32> {
        if let Some((_, b)) = cache.iter().find(|(c, _)| *c == s) {
            return b.clone();
        }
        let b = blur(&img, h, w, s);
        cache.push((s, b.clone()));
        b
    };
    let energies = BANDS
        .iter()
        .map(|&(inner, outer, rel)| {
            let (a, b) = (blurred(inner), blurred(outer));
            let sq = Array2::from_shape_fn((h, w), |(y, x)| {
                f64::from(a[y * w + x] - b[y * w + x]).powi(2)
            });
            box_mean(sq.view(), box_radius(p, rel)).mapv(|v| v as f32)
        })
        .collect();
    let plain = Array2::from_shape_fn((h, w), |(y, x)| f64::from(img[y * w + x]));
    let means = BANDS
        .iter()
        .map(|&(_, _, rel)| box_mean(plain.view(), box_radius(p, rel)).mapv(|v| v as f32))
        .collect();
    (energies, means)
}

/// Samples of (local mean, noise response) of slice `k` for the noise model.
fn noise_samples(stack: &StackView, k: usize) -> Vec<(f64, f64)> {
    let img = stack.slice_f64(k);
    let resp = noise_response(img.view());
    let mean = box_mean(img.view(), 1);
    let (h, w) = img.dim();
    let mut out = Vec::new();
    for y in (1..h.saturating_sub(1)).step_by(2) {
        for x in (1..w.saturating_sub(1)).step_by(2) {
            out.push((mean[(y, x)], resp[(y, x)]));
        }
    }
    out
}

/// Energy that unit white noise leaves in each band: the squared norm of the
/// band's impulse response.
fn band_noise_gains() -> Vec<f64> {
    let n = 49;
    let mut delta = vec![0f32; n * n];
    delta[(n / 2) * n + n / 2] = 1.0;
    BANDS
        .iter()
        .map(|&(inner, outer, _)| {
            let (a, b) = (blur(&delta, n, n, inner), blur(&delta, n, n, outer));
            a.iter()
                .zip(&b)
                .map(|(x, y)| f64::from(x - y).powi(2))
                .sum()
        })
        .collect()
}

/// Everything the preset derives from the stack before thresholding.
struct Analysis {
    /// Focus score of the chosen band (excess over noise), Z x H x W.
    score: Array3<f32>,
    /// Sub-slice best focus, H x W.
    depth: Array2<f32>,
    /// Best score of each pixel, H x W.
    peak: Array2<f32>,
    /// Noise variance as a function of brightness.
    noise: NoiseModel,
}

fn analyse(stack: StackView, p: &BandParams, progress: &Progress) -> Result<Analysis> {
    stack.validate()?;
    p.validate()?;
    let (z, h, w) = stack.dim();
    let counter = Counter::new(progress, z as u64);
    counter.check()?;
    type SliceBands = ((Vec<Array2<f32>>, Vec<Array2<f32>>), Vec<(f64, f64)>);
    let per_slice: Vec<SliceBands> = (0..z)
        .into_par_iter()
        .map(|k| {
            counter.check()?;
            let e = band_energies(&stack, k, p);
            let n = noise_samples(&stack, k);
            counter.add(1)?;
            Ok((e, n))
        })
        .collect::<Result<_>>()?;
    let mut noise = NoiseModel::fit(
        per_slice
            .iter()
            .flat_map(|(_, n)| n.iter().copied())
            .collect(),
    );
    let max_energy = per_slice
        .iter()
        .flat_map(|((e, _), _)| e[0].iter())
        .fold(0f32, |m, &v| m.max(v));
    // A noise-free stack still needs a floor to measure contrast against.
    noise.a = noise.a.max(1e-9 * f64::from(max_energy)).max(1e-30);
    let gains = band_noise_gains();
    let snr = |b: usize, k: usize, y: usize, x: usize| {
        let ((e, m), _) = &per_slice[k];
        let n2 = noise.variance(f64::from(m[b][(y, x)]));
        (f64::from(e[b][(y, x)]) / (n2 * gains[b]) - 1.0) as f32
    };

    // Per pixel: the band with the highest best score, its curve and peak.
    let mut score = Array3::<f32>::zeros((z, h, w));
    let mut depth = Array2::<f32>::zeros((h, w));
    let mut peak = Array2::<f32>::zeros((h, w));
    let mut curve = vec![0f32; z];
    for y in 0..h {
        for x in 0..w {
            let mut best = (f32::NEG_INFINITY, 0);
            for b in 0..BANDS.len() {
                let m = (0..z)
                    .map(|k| snr(b, k, y, x))
                    .fold(f32::NEG_INFINITY, f32::max);
                if m > best.0 {
                    best = (m, b);
                }
            }
            for (k, c) in curve.iter_mut().enumerate() {
                *c = snr(best.1, k, y, x);
                score[[k, y, x]] = *c;
            }
            depth[(y, x)] = peak_position(&curve);
            peak[(y, x)] = best.0;
        }
    }
    Ok(Analysis {
        score,
        depth,
        peak,
        noise,
    })
}

/// Sub-slice position of a curve's maximum (lowest index on ties).
fn peak_position(curve: &[f32]) -> f32 {
    let (kb, b) = curve
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (k, &v)| {
            if v > best.1 { (k, v) } else { best }
        });
    let mut offset = 0.0;
    if kb > 0 && kb + 1 < curve.len() {
        // The curve is an excess over noise (> -1); a focus curve is close to
        // a Gaussian in defocus, so its logarithm is close to a parabola.
        let ln = |v: f32| (f64::from(v) + 1.0).max(1e-12).ln();
        let (a, b, c) = (ln(curve[kb - 1]), ln(b), ln(curve[kb + 1]));
        let den = a - 2.0 * b + c;
        if den < 0.0 {
            offset = (0.5 * (a - c) / den).clamp(-0.5, 0.5);
        }
    }
    (kb as f64 + offset) as f32
}

/// The default preset's focus-score stack: band energy over the noise's.
pub(crate) fn focus_scores(
    stack: StackView,
    p: &BandParams,
    progress: &Progress,
) -> Result<Array3<f32>> {
    Ok(analyse(stack, p, progress)?.score)
}

/// Blur growth in px per slice, by blur matching (see the module docs), or
/// `None` when no defocused slice could be matched.
fn blur_growth(
    stack: &StackView,
    depth: &Array2<f32>,
    specimen: &Array2<bool>,
    noise: NoiseModel,
) -> Option<f64> {
    let (z, h, w) = stack.dim();
    let best = |y: usize, x: usize| depth[(y, x)].round().clamp(0.0, (z - 1) as f32) as usize;
    // The all-in-focus image and its blurs at a ladder of widths.
    let aif: Vec<f32> = (0..h * w)
        .map(|i| stack.get_f64(best(i / w, i % w), i / w, i % w) as f32)
        .collect();
    let sigmas: Vec<f64> = std::iter::once(0.0)
        .chain((0..14).map(|i| 0.3 * 2f64.powf(i as f64 / 3.0)))
        .collect();
    let blurs: Vec<Vec<f32>> = sigmas.par_iter().map(|&s| blur(&aif, h, w, s)).collect();
    // What the noise of the all-in-focus image contributes after each blur.
    let gain = |s: f64| {
        if s > 0.0 {
            kernel(s)
                .iter()
                .map(|&v| f64::from(v).powi(2))
                .sum::<f64>()
                .powi(2)
        } else {
            1.0
        }
    };
    let mean: Vec<f64> = aif.iter().map(|&v| f64::from(v)).collect();
    let noise2 = noise.variance(median(&mut mean.clone()));
    let noise: Vec<f64> = sigmas.iter().map(|&s| noise2 * gain(s)).collect();
    let s2: Vec<f64> = sigmas.iter().map(|s| s * s).collect();
    let samples: Vec<(f64, f64)> = (0..z)
        .into_par_iter()
        .flat_map_iter(|k| {
            let img = slice_f32(stack, k);
            let resid: Vec<Array2<f64>> = blurs
                .iter()
                .map(|b| {
                    let sq: Vec<f64> = b.iter().zip(&img).map(|(&p, &q)| f64::from(p - q).powi(2)).collect();
                    box_mean_sampled(&sq, h, w, 4, SAMPLE_STEP)
                })
                .collect();
            let mut out = Vec::new();
            for y in (0..h).step_by(SAMPLE_STEP) {
                for x in (0..w).step_by(SAMPLE_STEP) {
                    let d = f64::from(depth[(y, x)]);
                    let delta2 = (k as f64 - d).powi(2);
                    if !specimen[(y, x)] || !(1.0..=MAX_DEFOCUS * MAX_DEFOCUS).contains(&delta2) {
                        continue;
                    }
                    let r: Vec<f64> = resid
                        .iter()
                        .zip(&noise)
                        .map(|(r, n)| r[(y / SAMPLE_STEP, x / SAMPLE_STEP)] - n)
                        .collect();
                    let j = (0..r.len()).fold(0, |b, j| if r[j] < r[b] { j } else { b });
                    if j + 1 == r.len() {
                        continue; // blurred beyond the ladder
                    }
                    let rel2 = if j == 0 {
                        0.0
                    } else {
                        parabola_min(&s2[j - 1..=j + 1], &r[j - 1..=j + 1])
                    };
                    let db2 = (best(y, x) as f64 - d).powi(2);
                    out.push(((delta2 - db2).max(0.5), rel2));
                }
            }
            out
        })
        .collect();
    fit_growth(samples)
}

/// Fits `rel^2 = beta^2 * defocus^2` to (defocus^2, rel^2) samples. Each
/// whole-slice defocus bucket gives a slope from its medians (robust to
/// texture-poor pixels). Walking outwards from focus, buckets count once
/// their blur can be resolved (under 0.4 px noise hides it) and until blur
/// stops growing or passes 4 px: beyond, the texture is gone and blur
/// matching returns arbitrary widths. The answer is the median slope.
fn fit_growth(samples: Vec<(f64, f64)>) -> Option<f64> {
    let mut buckets: std::collections::BTreeMap<u64, Vec<(f64, f64)>> = Default::default();
    for (d2, r2) in samples {
        buckets.entry(d2.sqrt().round() as u64).or_default().push((d2, r2));
    }
    let mut slopes = Vec::new();
    let mut prev = 0.0;
    for b in buckets.values().filter(|b| b.len() >= 20) {
        let mut d2: Vec<f64> = b.iter().map(|s| s.0).collect();
        let mut r2: Vec<f64> = b.iter().map(|s| s.1).collect();
        let (x, y) = (median(&mut d2), median(&mut r2));
        let saturated = y > RESOLVED_BLUR.1.powi(2) || (!slopes.is_empty() && y < prev);
        if saturated {
            break;
        }
        if y >= RESOLVED_BLUR.0.powi(2) {
            slopes.push(y / x);
        }
        prev = y;
    }
    let beta2 = median(&mut slopes);
    (beta2 > 0.0).then(|| beta2.sqrt())
}

/// Abscissa of the minimum of the parabola through three points, kept
/// between the outer two.
fn parabola_min(x: &[f64], y: &[f64]) -> f64 {
    let (x0, x1, x2) = (x[0], x[1], x[2]);
    let (y0, y1, y2) = (y[0], y[1], y[2]);
    let den = (x0 - x1) * (x0 - x2) * (x1 - x2);
    let a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / den;
    let b = (x2 * x2 * (y0 - y1) + x1 * x1 * (y2 - y0) + x0 * x0 * (y1 - y2)) / den;
    if a > 0.0 {
        (-b / (2.0 * a)).clamp(x0, x2)
    } else {
        x1
    }
}

/// Pixels with structure at their best focus. The averaging box spreads a
/// sharp specimen edge's energy onto the background beside it, and noise
/// passes any threshold here and there: drop components smaller than one
/// box, then pull the edge back in by half a box.
fn specimen_mask(a: &Analysis, p: &BandParams) -> Array2<bool> {
    // Energy over noise, >= 1 (the score is the excess over noise).
    let energy = a.peak.mapv(|v| (v + 1.0).max(1.0));
    let local = box_max(&energy, HALO_RADIUS);
    let mut m = Zip::from(&a.peak).and(&energy).and(&local).map_collect(|&v, &e, &l| {
        f64::from(v) >= p.min_contrast && e >= HALO_FRACTION * l
    });
    remove_small(&mut m, (2 * p.radius + 1).pow(2));
    erode(&m, p.radius / 2 + ERODE_EXTRA)
}

/// The default preset end to end.
pub(crate) fn segment(
    stack: StackView,
    p: &BandParams,
    progress: &Progress,
) -> Result<Segmentation> {
    let a = analyse(stack, p, progress)?;
    let (z, h, w) = stack.dim();
    let specimen = specimen_mask(&a, p);
    let depth = masked_median(a.depth.view(), specimen.view(), p.smoothing);
    let dof = match p.dof {
        Some(d) => d,
        None => match blur_growth(&stack, &depth, &specimen, a.noise) {
            Some(beta) if beta > 0.0 => 2.0 * (1.0 - FOCUSED_BLUR * FOCUSED_BLUR).sqrt() / beta,
            _ => 2.0 * z as f64,
        }
        .clamp(0.5, 2.0 * z as f64),
    };
    let mut mask = Array3::<u8>::zeros((z, h, w));
    for (k, mut m) in mask.axis_iter_mut(Axis(0)).enumerate() {
        Zip::from(&mut m)
            .and(&depth)
            .and(&specimen)
            .for_each(|m, &d, &s| {
                if s && (k as f64 - f64::from(d)).abs() <= dof / 2.0 {
                    *m = 255;
                }
            });
    }
    let depth_idx = depth.mapv(|d| d.round().clamp(0.0, (z - 1) as f32) as u16);
    Ok(Segmentation {
        map: a.score,
        mask,
        depth: depth_idx,
        dof: Some(dof),
    })
}

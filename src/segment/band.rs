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
//! 3. **Is it specimen at all?** A candidate only if its best score reaches
//!    `min_contrast`: empty background is in focus nowhere, however its noise
//!    fluctuates. The band energy is averaged over a box, so the candidate
//!    spills past the specimen's edge by up to the coarsest band's reach;
//!    the edge is then found at pixel scale in the all-in-focus image
//!    (each pixel at the depth of the specimen beside it): a pixel is
//!    specimen when its brightness differs from the background's (box of
//!    1 to 3 px, the smallest that resolves the specimen's contrast from the
//!    noise) by at least half of what the specimen typically shows, else
//!    (no background level to compare with) when it shows fine texture, else
//!    the candidate is pulled in by half a box. A dense specimen (most of
//!    the candidate's interior shows evidence) is one body: gaps closed and
//!    holes filled; a sparse one (separate cells) keeps the background
//!    between its parts.
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
    NoiseModel, box_max, box_mean_f32, box_mean_f32_into, box_mean_sampled, filled,
    gaussian_blur_into, gaussian_blur_seq, kernel, masked_median, median, remove_small, zeroed_f32,
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

/// The noise model samples every `NOISE_STEP`-th pixel in each direction.
const NOISE_STEP: usize = 2;

/// Blur matching samples every `SAMPLE_STEP`-th pixel in each direction.
const SAMPLE_STEP: usize = 3;

/// Defocus (slices) beyond which blur matching does not look.
const MAX_DEFOCUS: f64 = 16.0;

/// The relative blur (px) blur matching can measure: below, noise hides it;
/// above, the texture is gone.
const RESOLVED_BLUR: (f64, f64) = (0.4, 4.0);

/// Pixel-scale evidence of specimen in the all-in-focus image: box radius,
/// fine-band excess energy over the noise's, and difference from the
/// background brightness in noise standard deviations of the box mean.
const EVIDENCE_RADIUS: usize = 1;
const MAX_EVIDENCE_RADIUS: usize = 3;
const TEXTURE_EVIDENCE: f64 = 2.0;
const INTENSITY_EVIDENCE: f64 = 4.0;
/// ... and at least this fraction of the median over the specimen's interior.
const RELATIVE_EVIDENCE: f64 = 0.5;
/// Radius of the median that smooths the depth at which the all-in-focus
/// image for the specimen evidence is taken, px.
const NEAR_RADIUS: usize = 3;

/// A specimen whose interior shows evidence at this fraction of its pixels
/// is dense (one body): gaps in the evidence up to twice this radius (px)
/// are closed, and its holes filled.
const DENSE_FRACTION: f64 = 0.55;
const DENSE_CLOSE_RADIUS: usize = 4;

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
            smoothing: 8,
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

/// Times of the preset's stages on stderr when `INFOCUS_PROF` is set: the
/// profile that says where the time goes, without a profiler. Wall-clock
/// time, and the CPU time of the whole process (all threads), which a
/// shared machine's load disturbs less.
struct Stages {
    start: Option<(std::time::Instant, f64)>,
}

/// CPU time of the process so far, ms.
fn process_cpu_ms() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 * 1e3 + t.tv_nsec as f64 * 1e-6
}

impl Stages {
    fn new() -> Self {
        Stages {
            start: std::env::var_os("INFOCUS_PROF")
                .map(|_| (std::time::Instant::now(), process_cpu_ms())),
        }
    }

    /// Prints the time since the last stage ended and starts the next.
    fn end(&mut self, stage: &str) {
        if let Some((t, cpu)) = &mut self.start {
            let now = process_cpu_ms();
            eprintln!(
                "default preset: {stage:<22} {:7.2} ms wall {:7.2} ms cpu",
                t.elapsed().as_secs_f64() * 1e3,
                now - *cpu
            );
            (*t, *cpu) = (std::time::Instant::now(), now);
        }
    }
}

/// A slice as a row-major f32 image.
fn slice_f32(stack: &StackView, k: usize) -> Vec<f32> {
    match stack {
        StackView::U8(a) => a
            .index_axis(Axis(0), k)
            .iter()
            .map(|&v| f32::from(v))
            .collect(),
        StackView::U16(a) => a
            .index_axis(Axis(0), k)
            .iter()
            .map(|&v| f32::from(v))
            .collect(),
        StackView::F32(a) => a.index_axis(Axis(0), k).iter().copied().collect(),
    }
}

fn blur(img: &[f32], h: usize, w: usize, sigma: f64) -> Vec<f32> {
    if sigma > 0.0 {
        gaussian_blur_seq(img, h, w, sigma)
    } else {
        img.to_vec()
    }
}

fn box_radius(p: &BandParams, rel: f64) -> usize {
    (p.radius as f64 * rel).round().max(1.0) as usize
}

/// Samples of (local mean, noise response) of a slice for the noise model,
/// into `out`:
/// Immerkaer's operator (divided by its white-noise gain, 6) and the 3 x 3
/// mean at every `NOISE_STEP`-th interior pixel in each direction.
fn noise_samples_into(img: &[f32], h: usize, w: usize, out: &mut [(f64, f64)]) {
    let points = (1..h.saturating_sub(1)).step_by(NOISE_STEP).flat_map(|y| {
        (1..w.saturating_sub(1))
            .step_by(NOISE_STEP)
            .map(move |x| (y, x))
    });
    for ((y, x), o) in points.zip(out) {
        let v = |dy: usize, dx: usize| f64::from(img[(y + dy - 1) * w + x + dx - 1]);
        let resp = (v(0, 0) - 2.0 * v(0, 1) + v(0, 2) - 2.0 * v(1, 0) + 4.0 * v(1, 1)
            - 2.0 * v(1, 2)
            + v(2, 0)
            - 2.0 * v(2, 1)
            + v(2, 2))
            / 6.0;
        let mut sum = 0.0;
        for dy in 0..3 {
            for dx in 0..3 {
                sum += v(dy, dx);
            }
        }
        *o = (sum / 9.0, resp);
    }
}

/// How many samples [`noise_samples_into`] takes of an `h x w` slice.
fn noise_sample_count(h: usize, w: usize) -> usize {
    let along = |n: usize| (1..n.saturating_sub(1)).step_by(NOISE_STEP).len();
    along(h) * along(w)
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

/// The distinct blur widths the bands need (0: the image itself).
fn band_sigmas() -> Vec<f64> {
    let mut sigmas: Vec<f64> = Vec::new();
    for s in BANDS.iter().flat_map(|&(inner, outer, _)| [inner, outer]) {
        if !sigmas.contains(&s) {
            sigmas.push(s);
        }
    }
    sigmas
}

/// Per-thread buffers of [`band_energies_into`], reused from slice to slice:
/// a dozen fresh image-sized buffers per slice cost more in page faults and
/// zeroing than the filters themselves.
#[derive(Default)]
struct BandScratch {
    /// The slice as f32.
    img: Vec<f32>,
    /// Its blur at each of [`band_sigmas`] but 0.
    blurs: Vec<Vec<f32>>,
    /// Squared band-pass.
    sq: Vec<f32>,
    /// Scratch of the blurs and box means.
    tmp: Vec<f32>,
    sums: Vec<f64>,
}

/// Each band's local energy (box mean of the squared band-pass) of slice
/// `k` into `energy` (row-major H x W per band, bands one after another), and
/// the local brightness (for the noise's variance there) into `mean`.
fn band_energies_into(
    stack: &StackView,
    k: usize,
    p: &BandParams,
    kernels: &[(f64, Vec<f32>)],
    s: &mut BandScratch,
    energy: &mut [f32],
    mean: &mut [f32],
) {
    let (_, h, w) = stack.dim();
    let n = h * w;
    s.img = slice_f32(stack, k);
    s.blurs.resize_with(kernels.len(), Vec::new);
    for ((_, kern), b) in kernels.iter().zip(s.blurs.iter_mut()) {
        b.resize(n, 0.0);
        gaussian_blur_into(&s.img, h, w, kern, &mut s.tmp, b);
    }
    box_mean_f32_into(&s.img, h, w, p.radius, &mut s.sums, mean);
    s.sq.resize(n, 0.0);
    for (&(inner, outer, rel), out) in BANDS.iter().zip(energy.chunks_exact_mut(n)) {
        let get = |sigma: f64| match kernels.iter().position(|(c, _)| *c == sigma) {
            Some(i) => &s.blurs[i],
            None => &s.img,
        };
        let (a, b) = (get(inner), get(outer));
        for ((q, &a), &b) in s.sq.iter_mut().zip(a).zip(b) {
            *q = (a - b) * (a - b);
        }
        box_mean_f32_into(&s.sq, h, w, box_radius(p, rel), &mut s.sums, out);
    }
}

/// Per pixel, the band whose best score over the slices is highest (the
/// first on ties), the slice of that best score (the first on ties) and the
/// score; `bands` is laid out slice, band, pixel. Pixels run in blocks so
/// that the loops over slices read memory in order and vectorise.
fn best_bands(bands: &[f32], z: usize, n: usize) -> Vec<(u8, u16, f32)> {
    const BLOCK: usize = 2048;
    let mut best = vec![(0u8, 0u16, f32::NEG_INFINITY); n];
    best.par_chunks_mut(BLOCK)
        .enumerate()
        .for_each(|(c, best)| {
            #[cfg(target_arch = "x86_64")]
            if crate::simd::avx2() {
                // SAFETY: `simd::avx2` is true only where the CPU has AVX2.
                return unsafe { best_bands_block_avx2(bands, z, n, c * BLOCK, best) };
            }
            best_bands_block(bands, z, n, c * BLOCK, best)
        });
    best
}

/// [`best_bands_block`] for AVX2 (eight lanes; comparisons and selections
/// are exact, so the same results).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn best_bands_block_avx2(
    bands: &[f32],
    z: usize,
    n: usize,
    i0: usize,
    best: &mut [(u8, u16, f32)],
) {
    best_bands_block(bands, z, n, i0, best)
}

/// [`best_bands`] for the pixels from `i0` on. The running maximum and its
/// slice are selected without branches so that the loop vectorises.
#[inline(always)]
fn best_bands_block(bands: &[f32], z: usize, n: usize, i0: usize, best: &mut [(u8, u16, f32)]) {
    let nb = BANDS.len();
    let len = best.len();
    let mut top = vec![f32::NEG_INFINITY; len];
    let mut arg = vec![0u32; len];
    for b in 0..nb {
        top.fill(f32::NEG_INFINITY);
        arg.fill(0);
        for k in 0..z {
            let s = &bands[(k * nb + b) * n + i0..][..len];
            for ((t, a), &v) in top.iter_mut().zip(arg.iter_mut()).zip(s) {
                let above = v > *t;
                *t = if above { v } else { *t };
                *a = if above { k as u32 } else { *a };
            }
        }
        for ((o, &t), &a) in best.iter_mut().zip(&top).zip(&arg) {
            if t > o.2 {
                *o = (b as u8, a as u16, t);
            }
        }
    }
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
    let counter = Counter::new(progress, 2 * z as u64);
    counter.check()?;
    let mut lap = Stages::new();
    // The noise model, from every slice.
    // Every slice's samples written in place into one buffer (no copy of
    // ~5 MB into a fresh one for the fit).
    // A slice too small for any sample still gets its chunk (dropped after),
    // so that every slice reports progress and its brightest value.
    let per = noise_sample_count(h, w);
    let mut samples = filled(z * per.max(1), (0.0, 0.0));
    let tops: Vec<f32> = samples
        .par_chunks_mut(per.max(1))
        .enumerate()
        .map(|(k, out)| {
            counter.check()?;
            let img = slice_f32(&stack, k);
            noise_samples_into(&img, h, w, out);
            counter.add(1)?;
            Ok(img.iter().fold(0f32, |m, &v| m.max(v.abs())))
        })
        .collect::<Result<_>>()?;
    samples.truncate(z * per);
    lap.end("noise samples");
    let top = tops.iter().fold(0f32, |m, &t| m.max(t));
    let gains = band_noise_gains();
    let kernels: Vec<(f64, Vec<f32>)> = band_sigmas()
        .into_iter()
        .filter(|&s| s > 0.0)
        .map(|s| (s, kernel(s)))
        .collect();
    // Every band's energy of every slice (slice, band, pixel) and the local
    // brightness, while the noise model is fitted: the fit is one thread's
    // work, and the energies do not need it.
    let n = h * w;
    let nb = BANDS.len();
    let mut bands = zeroed_f32(z * nb * n);
    // The local brightness is needed only until the scores are formed: it
    // lives in the buffer that then receives the focus map (one fresh
    // 5 MB buffer less to fault in).
    let mut means = zeroed_f32(z * n);
    let (mut noise, energies) = rayon::join(
        || NoiseModel::fit(samples),
        || {
            bands
                .par_chunks_mut(nb * n)
                .zip(means.par_chunks_mut(n))
                .enumerate()
                .try_for_each_init(BandScratch::default, |scratch, (k, (energy, mean))| {
                    counter.check()?;
                    band_energies_into(&stack, k, p, &kernels, scratch, energy, mean);
                    counter.add(1)
                })
        },
    );
    energies?;
    // A noise-free stack still needs a floor to measure contrast against.
    noise.a = noise.a.max(1e-12 * f64::from(top).powi(2)).max(1e-30);
    lap.end("noise fit, band energy");
    // Energies become scores: excess over the noise's energy there.
    bands
        .par_chunks_mut(nb * n)
        .zip(means.par_chunks(n))
        .for_each(|(slice, mean)| {
            for ((&gain, scores), _) in gains.iter().zip(slice.chunks_exact_mut(n)).zip(&BANDS) {
                let (na, nb) = ((noise.a * gain) as f32, (noise.b * gain) as f32);
                for (o, &m) in scores.iter_mut().zip(mean) {
                    *o = *o / (na + nb * m.max(0.0)) - 1.0;
                }
            }
        });
    lap.end("band scores");

    // Per pixel: the band with the highest best score, its curve and peak.
    let best = best_bands(&bands, z, n);
    let per_pixel: Vec<(u8, f32, f32)> = best
        .par_iter()
        .enumerate()
        .with_min_len(4096)
        .map(|(i, &(b, kb, peak))| {
            let d = peak_position(kb as usize, z, |k| bands[(k * nb + b as usize) * n + i]);
            (b, d, peak)
        })
        .collect();
    let mut score = Array3::from_shape_vec((z, h, w), means).expect("shape");
    score
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(k, mut out)| {
            let out = out.as_slice_mut().expect("standard layout");
            let slice = &bands[k * nb * n..(k + 1) * nb * n];
            for (i, (o, pp)) in out.iter_mut().zip(&per_pixel).enumerate() {
                *o = slice[pp.0 as usize * n + i];
            }
        });
    lap.end("best band and depth");
    let depth =
        Array2::from_shape_vec((h, w), per_pixel.iter().map(|pp| pp.1).collect()).expect("shape");
    let peak =
        Array2::from_shape_vec((h, w), per_pixel.iter().map(|pp| pp.2).collect()).expect("shape");
    Ok(Analysis {
        score,
        depth,
        peak,
        noise,
    })
}

/// Sub-slice position of a curve's maximum, `kb` (the lowest index of the
/// maximum), refined by a parabola through the logarithm of the peak and its
/// neighbours; `at(k)` is the curve.
fn peak_position(kb: usize, z: usize, at: impl Fn(usize) -> f32) -> f32 {
    let mut offset = 0.0;
    if kb > 0 && kb + 1 < z {
        // The curve is an excess over noise (> -1); a focus curve is close to
        // a Gaussian in defocus, so its logarithm is close to a parabola.
        let ln = |v: f32| (f64::from(v) + 1.0).max(1e-12).ln();
        let (a, b, c) = (ln(at(kb - 1)), ln(at(kb)), ln(at(kb + 1)));
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

/// The all-in-focus image (row-major f32): each pixel from the slice nearest
/// its depth. Reads the stack's memory directly, matching on the pixel type
/// once rather than per pixel (the same values as `get_f64` as f32).
fn all_in_focus(stack: &StackView, depth: &Array2<f32>) -> Vec<f32> {
    let z = stack.dim().0;
    let slice_of = |d: f32| d.round().clamp(0.0, (z - 1) as f32) as usize;
    fn pick<T: Copy>(
        a: &ndarray::ArrayView3<T>,
        depth: &Array2<f32>,
        slice_of: impl Fn(f32) -> usize,
        f: impl Fn(T) -> f32,
    ) -> Vec<f32> {
        let (_, h, w) = a.dim();
        let n = h * w;
        match (a.as_slice(), depth.as_slice()) {
            (Some(v), Some(d)) => d
                .iter()
                .enumerate()
                .map(|(i, &d)| f(v[slice_of(d) * n + i]))
                .collect(),
            _ => (0..n)
                .map(|i| f(a[[slice_of(depth[(i / w, i % w)]), i / w, i % w]]))
                .collect(),
        }
    }
    match stack {
        StackView::U8(a) => pick(a, depth, slice_of, f32::from),
        StackView::U16(a) => pick(a, depth, slice_of, f32::from),
        StackView::F32(a) => pick(a, depth, slice_of, |v| v),
    }
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
    let aif = all_in_focus(stack, depth);
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
    // The all-in-focus image's own noise, at each sample's brightness.
    let aif64: Vec<f64> = aif.iter().map(|&v| f64::from(v)).collect();
    let local = box_mean_sampled(&aif64, h, w, 4, SAMPLE_STEP);
    let gains: Vec<f64> = sigmas.iter().map(|&s| gain(s)).collect();
    let s2: Vec<f64> = sigmas.iter().map(|s| s * s).collect();
    let (sh, sw) = (h.div_ceil(SAMPLE_STEP), w.div_ceil(SAMPLE_STEP));
    // The depth at each sample point of the specimen (read once, not once
    // per slice), and the points of each slice that blur matching uses.
    let sample_depth: Vec<Option<f32>> = (0..sh * sw)
        .map(|i| {
            let (y, x) = ((i / sw) * SAMPLE_STEP, (i % sw) * SAMPLE_STEP);
            specimen[(y, x)].then(|| depth[(y, x)])
        })
        .collect();
    let wanted = |k: usize, i: usize, c: usize| {
        sample_depth[i * sw + c].is_some_and(|d| {
            let delta2 = (k as f64 - f64::from(d)).powi(2);
            (1.0..=MAX_DEFOCUS * MAX_DEFOCUS).contains(&delta2)
        })
    };
    let samples: Vec<(f64, f64)> = (0..z)
        .into_par_iter()
        .flat_map_iter(|k| {
            // Rows of samples wanted in this slice.
            let rows_wanted: Vec<bool> =
                (0..sh).map(|i| (0..sw).any(|c| wanted(k, i, c))).collect();
            let mut out = Vec::new();
            if !rows_wanted.iter().any(|&r| r) {
                return out;
            }
            let img = slice_f32(stack, k);
            let sums = WindowSums::new(&img, &blurs, h, w, &rows_wanted);
            let nr = blurs.len();
            let mut r = vec![0f64; nr];
            let mut row = vec![0f64; nr * sw];
            for i in (0..sh).filter(|&i| rows_wanted[i]) {
                sums.row(i, &mut row);
                let y = i * SAMPLE_STEP;
                let (lo, hi) = (
                    y.saturating_sub(MATCH_RADIUS),
                    (y + MATCH_RADIUS + 1).min(h),
                );
                for c in 0..sw {
                    let x = c * SAMPLE_STEP;
                    if !wanted(k, i, c) {
                        continue;
                    }
                    let area = ((hi - lo)
                        * ((x + MATCH_RADIUS + 1).min(w) - x.saturating_sub(MATCH_RADIUS)))
                        as f64;
                    let n2 = noise.variance(local[(i, c)]);
                    for (j, rj) in r.iter_mut().enumerate() {
                        *rj = row[j * sw + c] / area - n2 * gains[j];
                    }
                    let jb = (0..nr).fold(0, |b, j| if r[j] < r[b] { j } else { b });
                    if jb + 1 == nr {
                        continue; // blurred beyond the ladder
                    }
                    let rel2 = if jb == 0 {
                        0.0
                    } else {
                        parabola_min(&s2[jb - 1..=jb + 1], &r[jb - 1..=jb + 1])
                    };
                    let d = f64::from(depth[(y, x)]);
                    let delta2 = (k as f64 - d).powi(2);
                    let db2 = (best(y, x) as f64 - d).powi(2);
                    out.push(((delta2 - db2).max(0.5), rel2));
                }
            }
            out
        })
        .collect();
    fit_growth(samples)
}

/// Blur matching compares a slice with each blurred all-in-focus image over
/// a (2 `MATCH_RADIUS` + 1)^2 window at every `SAMPLE_STEP`-th pixel.
const MATCH_RADIUS: usize = SAMPLE_STEP + SAMPLE_STEP / 2;

/// Sums of squared differences between a slice and each rung of the blur
/// ladder over the window of every sample point. The windows of
/// neighbouring samples overlap, so the image is cut into blocks of
/// `SAMPLE_STEP`^2 px centred on the sample points: each window is the 3 x 3
/// blocks around its sample. A pixel's squared difference is then added
/// into one block (vectorised along rows), instead of into the nine windows
/// that overlap it one sample at a time.
struct WindowSums {
    /// Per rung, block row (0..=sh) and sample column: the sum over the
    /// block and its left and right neighbours.
    rows: Vec<f64>,
    block_rows: usize,
    sw: usize,
}

impl WindowSums {
    /// The sums of `img` against `blurs` where `rows_wanted` (per sample
    /// row) asks for them.
    fn new(img: &[f32], blurs: &[Vec<f32>], h: usize, w: usize, rows_wanted: &[bool]) -> Self {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2() {
            // SAFETY: `simd::avx2` is true only where the CPU has AVX2.
            return unsafe { Self::new_avx2(img, blurs, h, w, rows_wanted) };
        }
        Self::new_body(img, blurs, h, w, rows_wanted)
    }

    /// [`WindowSums::new_body`] for AVX2; no FMA, so the same bits.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn new_avx2(
        img: &[f32],
        blurs: &[Vec<f32>],
        h: usize,
        w: usize,
        rows_wanted: &[bool],
    ) -> Self {
        Self::new_body(img, blurs, h, w, rows_wanted)
    }

    #[inline(always)]
    fn new_body(img: &[f32], blurs: &[Vec<f32>], h: usize, w: usize, rows_wanted: &[bool]) -> Self {
        const S: usize = SAMPLE_STEP;
        let (sh, sw) = (rows_wanted.len(), w.div_ceil(S));
        let block_rows = sh + 1;
        // The pixels of block b along an axis of n px: [b S - S/2, b S + S/2].
        let span = |b: usize, n: usize| {
            let end = (b * S + S / 2 + 1).min(n);
            (b * S).saturating_sub(S / 2).min(end)..end
        };
        let col_spans: Vec<std::ops::Range<usize>> = (0..=sw).map(|bc| span(bc, w)).collect();
        let mut rows = vec![0f64; blurs.len() * block_rows * sw];
        let mut col = vec![0f32; w];
        let mut blocks = vec![0f32; sw + 2];
        let mut wide = vec![0f64; sw + 2];
        for bi in 0..block_rows {
            let needed = (bi.saturating_sub(1)..(bi + 2).min(sh)).any(|i| rows_wanted[i]);
            if !needed {
                continue;
            }
            let block = span(bi, h);
            for (j, b) in blurs.iter().enumerate() {
                // Squared differences summed down the block's rows.
                let (b, v) = (
                    &b[block.start * w..block.end * w],
                    &img[block.start * w..block.end * w],
                );
                col.fill(0.0);
                for (b, v) in b.chunks_exact(w).zip(v.chunks_exact(w)) {
                    for ((c, &p), &v) in col.iter_mut().zip(b).zip(v) {
                        *c += (p - v) * (p - v);
                    }
                }
                // Then across each block's columns (blocks[bc + 1] is block bc;
                // blocks[0], left of the image, stays 0), and the three
                // blocks of each window side by side.
                for (o, cols) in blocks[1..].iter_mut().zip(&col_spans) {
                    *o = col[cols.clone()].iter().sum();
                }
                for (o, &b) in wide.iter_mut().zip(&blocks) {
                    *o = f64::from(b);
                }
                let out = &mut rows[(j * block_rows + bi) * sw..][..sw];
                for (((o, &a), &b), &c) in out.iter_mut().zip(&wide).zip(&wide[1..]).zip(&wide[2..])
                {
                    *o = a + b + c;
                }
            }
        }
        WindowSums {
            rows,
            block_rows,
            sw,
        }
    }

    /// The window sums of sample row `i`, every rung: `out[j * sw + c]`.
    fn row(&self, i: usize, out: &mut [f64]) {
        let sw = self.sw;
        for (j, out) in out.chunks_exact_mut(sw).enumerate() {
            let block = |bi: usize| &self.rows[(j * self.block_rows + bi) * sw..][..sw];
            let (mid, below) = (block(i), block(i + 1));
            if i > 0 {
                for (((o, &a), &m), &b) in out.iter_mut().zip(block(i - 1)).zip(mid).zip(below) {
                    *o = a + m + b;
                }
            } else {
                for ((o, &m), &b) in out.iter_mut().zip(mid).zip(below) {
                    *o = 0.0 + m + b;
                }
            }
        }
    }
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
        buckets
            .entry(d2.sqrt().round() as u64)
            .or_default()
            .push((d2, r2));
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
    let mut m = Zip::from(&a.peak)
        .and(&energy)
        .and(&local)
        .map_collect(|&v, &e, &l| f64::from(v) >= p.min_contrast && e >= HALO_FRACTION * l);
    remove_small(&mut m, (2 * p.radius + 1).pow(2));
    m
}

/// Dilation of a mask by a (2r+1)^2 square.
fn dilate(mask: &Array2<bool>, r: usize) -> Array2<bool> {
    let (h, w) = mask.dim();
    let ind: Vec<f32> = mask.iter().map(|&m| if m { 1.0 } else { 0.0 }).collect();
    let frac = box_mean_f32(&ind, h, w, r);
    Array2::from_shape_vec((h, w), frac.iter().map(|&f| f > 0.0).collect()).expect("shape")
}

/// Erosion by a (2r+1)^2 square (pixels outside the image count as set).
fn erode_sq(mask: &Array2<bool>, r: usize) -> Array2<bool> {
    let (h, w) = mask.dim();
    let ind: Vec<f32> = mask.iter().map(|&m| if m { 0.0 } else { 1.0 }).collect();
    let frac = box_mean_f32(&ind, h, w, r);
    Array2::from_shape_vec(
        (h, w),
        frac.iter()
            .zip(mask.iter())
            .map(|(&f, &m)| m && f == 0.0)
            .collect(),
    )
    .expect("shape")
}

/// Fills the holes of `mask` (unset 4-connected components that do not touch
/// the image border) smaller than `max_area` pixels.
fn fill_holes(mask: &mut Array2<bool>, max_area: usize) {
    fill_holes_within(mask, max_area, None)
}

/// [`fill_holes`], and also holes of any size that lie wholly where
/// `within` is set.
fn fill_holes_within(mask: &mut Array2<bool>, max_area: usize, within: Option<&Array2<bool>>) {
    let (h, w) = mask.dim();
    let mut seen = Array2::<bool>::from_elem((h, w), false);
    let mut stack = Vec::new();
    let mut comp = Vec::new();
    for start in 0..h * w {
        let (sy, sx) = (start / w, start % w);
        if mask[(sy, sx)] || seen[(sy, sx)] {
            continue;
        }
        comp.clear();
        stack.push((sy, sx));
        seen[(sy, sx)] = true;
        let mut border = false;
        let mut enclosed = within.is_some();
        while let Some((y, x)) = stack.pop() {
            comp.push((y, x));
            border |= y == 0 || x == 0 || y + 1 == h || x + 1 == w;
            enclosed &= within.is_some_and(|m| m[(y, x)]);
            let mut visit = |yy: usize, xx: usize| {
                if !mask[(yy, xx)] && !seen[(yy, xx)] {
                    seen[(yy, xx)] = true;
                    stack.push((yy, xx));
                }
            };
            if y > 0 {
                visit(y - 1, x);
            }
            if y + 1 < h {
                visit(y + 1, x);
            }
            if x > 0 {
                visit(y, x - 1);
            }
            if x + 1 < w {
                visit(y, x + 1);
            }
        }
        if !border && (comp.len() < max_area || enclosed) {
            for &p in &comp {
                mask[p] = true;
            }
        }
    }
}

/// The specimen, found at pixel scale. Band energy averaged over a box
/// spreads a sharp edge's energy onto the background beside it, as far as
/// the coarsest band reaches (`reach` px), and fills the gaps between the
/// cells of a sparse specimen. So a pixel of the candidate must show its own
/// evidence in the all-in-focus image (made at the depth of the specimen
/// beside it): a brightness that differs from the background's (trusted
/// everywhere), else fine texture (trusted only within `reach` of the
/// candidate's edge, since it straddles an edge), each both significant
/// against the noise and at least half of what the specimen's interior
/// typically shows. Without either, the candidate is pulled in by
/// `fallback` px. Holes under `max_hole` px are filled.
fn refine_specimen(
    stack: &StackView,
    candidate: &Array2<bool>,
    depth: &Array2<f32>,
    noise: NoiseModel,
    reach: usize,
    max_hole: usize,
    fallback: usize,
) -> Array2<bool> {
    let (_, h, w) = stack.dim();
    let interior = erode_sq(candidate, reach);
    let aif = all_in_focus(stack, depth);
    let values = |keep: &dyn Fn(usize) -> bool, of: &[f32]| -> Vec<f64> {
        (0..h * w)
            .filter(|&i| keep(i))
            .map(|i| f64::from(of[i]))
            .collect()
    };
    // Background level: the median of the all-in-focus image outside the
    // candidate, when there is enough outside to say.
    let cand = candidate.as_slice().expect("standard layout");
    let inner = interior.as_slice().expect("standard layout");
    let mut outside = values(&|i| !cand[i], &aif);
    let background = (outside.len() >= (h * w / 50).max(64)).then(|| median(&mut outside));
    // Brightness evidence: the smallest box whose mean tells the specimen's
    // typical contrast from the noise.
    let brightness = background.and_then(|b| {
        (1..=MAX_EVIDENCE_RADIUS).find_map(|r| {
            let mean = box_mean_f32(&aif, h, w, r);
            let sd = (noise.variance(b) / ((2 * r + 1) as f64).powi(2)).sqrt();
            let mut d: Vec<f64> = (0..h * w)
                .filter(|&i| inner[i])
                .map(|i| (f64::from(mean[i]) - b).abs())
                .filter(|&d| d >= INTENSITY_EVIDENCE * sd)
                .collect();
            let typical = if d.len() >= 64 { median(&mut d) } else { 0.0 };
            (typical >= 2.0 * INTENSITY_EVIDENCE * sd).then(|| {
                (0..h * w)
                    .map(|i| {
                        let d = (f64::from(mean[i]) - b).abs();
                        d >= INTENSITY_EVIDENCE * sd && d >= RELATIVE_EVIDENCE * typical
                    })
                    .collect::<Vec<bool>>()
            })
        })
    });
    // Else fine texture (which straddles an edge).
    let texture = || {
        let mean = box_mean_f32(&aif, h, w, EVIDENCE_RADIUS);
        let fine = gaussian_blur_seq(&aif, h, w, 1.0);
        let sq: Vec<f32> = aif
            .iter()
            .zip(&fine)
            .map(|(&a, &b)| (a - b) * (a - b))
            .collect();
        let energy = box_mean_f32(&sq, h, w, EVIDENCE_RADIUS);
        let gain = band_noise_gains()[0];
        let excess =
            |i: usize| f64::from(energy[i]) / (noise.variance(f64::from(mean[i])) * gain) - 1.0;
        let mut e: Vec<f64> = (0..h * w)
            .filter(|&i| inner[i] && excess(i) >= TEXTURE_EVIDENCE)
            .map(|i| f64::from(energy[i]))
            .collect();
        let typical = if e.len() >= 64 { median(&mut e) } else { 0.0 };
        let informative = (0..h * w).any(|i| inner[i])
            && typical
                >= (1.0 + 2.0 * TEXTURE_EVIDENCE)
                    * noise.variance(background.unwrap_or(0.0))
                    * gain;
        informative.then(|| {
            (0..h * w)
                .map(|i| {
                    excess(i) >= TEXTURE_EVIDENCE
                        && f64::from(energy[i]) >= RELATIVE_EVIDENCE * typical
                })
                .collect::<Vec<bool>>()
        })
    };
    // Else the old rule: pull the candidate's edge in by `fallback` px.
    // Brightness is trusted everywhere (flat patches of the specimen are
    // holes in it, filled); fine texture only near the candidate's edge.
    let everywhere = brightness.is_some();
    let Some(evidence) = brightness.or_else(texture) else {
        return erode_sq(candidate, fallback);
    };
    let mut evidence = Array2::from_shape_vec((h, w), evidence).expect("shape");
    // A dense specimen (most of the candidate's interior shows evidence) is
    // one body: gaps in its evidence are closed and its holes filled, however
    // large. A sparse one (separate cells) keeps the background between them.
    let n_in = inner.iter().filter(|&&v| v).count();
    let n_ev = inner
        .iter()
        .zip(evidence.iter())
        .filter(|(i, e)| **i && **e)
        .count();
    let dense = everywhere && n_ev as f64 >= DENSE_FRACTION * n_in as f64;
    if dense {
        evidence = erode_sq(&dilate(&evidence, DENSE_CLOSE_RADIUS), DENSE_CLOSE_RADIUS);
        fill_holes(&mut evidence, usize::MAX);
    } else {
        fill_holes_within(&mut evidence, max_hole, everywhere.then_some(&interior));
    }
    Zip::from(candidate)
        .and(&interior)
        .and(&evidence)
        .map_collect(|&c, &i, &e| c && ((i && !everywhere) || e))
}

/// What the default preset decided before drawing masks: sub-slice depth,
/// specimen and depth of field (for diagnostics and pictures).
#[doc(hidden)]
pub struct Details {
    pub depth: Array2<f32>,
    pub specimen: Array2<bool>,
    pub dof: f64,
}

/// The default preset end to end.
pub(crate) fn segment(
    stack: StackView,
    p: &BandParams,
    progress: &Progress,
) -> Result<Segmentation> {
    Ok(segment_details(stack, p, progress)?.0)
}

/// [`segment`] and its [`Details`].
#[doc(hidden)]
pub fn segment_details(
    stack: StackView,
    p: &BandParams,
    progress: &Progress,
) -> Result<(Segmentation, Details)> {
    let mut lap = Stages::new();
    let a = analyse(stack, p, progress)?;
    lap.end("(analysis total)");
    let (z, h, w) = stack.dim();
    let reach = box_radius(p, BANDS[BANDS.len() - 1].2) + 2 * BANDS[BANDS.len() - 1].1 as usize;
    let max_hole = (2 * reach).pow(2);
    let mut candidate = specimen_mask(&a, p);
    fill_holes(&mut candidate, max_hole);
    lap.end("candidate specimen");
    let near = masked_median(
        a.depth.view(),
        candidate.view(),
        p.smoothing.min(NEAR_RADIUS),
    );
    lap.end("near-depth median");
    let mut specimen = refine_specimen(
        &stack,
        &candidate,
        &near,
        a.noise,
        reach,
        (2 * p.radius + 1).pow(2) * 4,
        p.radius / 2 + 3,
    );
    remove_small(&mut specimen, (2 * p.radius + 1).pow(2));
    lap.end("refine specimen");
    let depth = masked_median(a.depth.view(), specimen.view(), p.smoothing);
    lap.end("depth median");
    let dof = match p.dof {
        Some(d) => d,
        None => match blur_growth(&stack, &depth, &specimen, a.noise) {
            Some(beta) if beta > 0.0 => 2.0 * (1.0 - FOCUSED_BLUR * FOCUSED_BLUR).sqrt() / beta,
            _ => 2.0 * z as f64,
        }
        .clamp(0.5, 2.0 * z as f64),
    };
    lap.end("depth of field");
    let mut mask = Array3::<u8>::zeros((z, h, w));
    mask.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(k, mut m)| {
            Zip::from(&mut m)
                .and(&depth)
                .and(&specimen)
                .for_each(|m, &d, &s| {
                    if s && (k as f64 - f64::from(d)).abs() <= dof / 2.0 {
                        *m = 255;
                    }
                });
        });
    let depth_idx = depth.mapv(|d| d.round().clamp(0.0, (z - 1) as f32) as u16);
    lap.end("masks");
    Ok((
        Segmentation {
            map: a.score,
            mask,
            depth: depth_idx,
            dof: Some(dof),
        },
        Details {
            depth,
            specimen,
            dof,
        },
    ))
}

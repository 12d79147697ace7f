//! Synthetic focal stacks with exact truth.
//!
//! # The model
//!
//! A thin absorbing specimen lies on a depth surface `z(y, x)` (in slice
//! units) under a widefield microscope; slice `k` of the stack is focused at
//! depth `f_k = k`.
//!
//! * **Support** `S`: with `background = false` the whole field; with
//!   `background = true` a centred blob, an ellipse (semi-axes 0.70..0.82 of
//!   the half width and half height) whose radius is modulated by harmonics
//!   2, 3, 4 (amplitudes 0.02..0.05, random phases), covering about 38-53% of
//!   the field. For [`Texture::Sparse`] the support is instead the union of
//!   the cells (see below), placed inside that region.
//! * **Texture** `T(y, x)` in [0, 1], 0 outside `S`. Filtered noise: white
//!   Gaussian noise blurred by a Gaussian of `sigma` px, z-scored over the
//!   field and mapped by `0.5 + 0.5 tanh(z)`. [`Texture::Fine`]: sigma 1 px;
//!   [`Texture::Coarse`]: 4 px; [`Texture::LowContrast`]: 2 px with a weak
//!   absorption; [`Texture::Sparse`]: non-overlapping disks ("cells", radius
//!   4-10 px, at least 1 px apart, shrunk on images under 80 px) placed at
//!   random until they cover 25% of the region, filled with the fine texture
//!   mapped to 0.5..1; the space between cells is empty background.
//! * **Transmission** before blur: `I0 = 1 - a T`, with `a = 0.6`
//!   (`a = 0.12` for low contrast); the background transmits 1.
//! * **Depth surface**, within `[zlo, zhi] = [0.2 (Z-1), 0.8 (Z-1)]`:
//!   [`Surface::Dome`] `zlo + (zhi - zlo) (1 - (r/R)^2)` clamped, centred,
//!   `R = min(H, W) / 2`; [`Surface::Tilt`] a plane rising from `zlo` to
//!   `zhi` across the field along a random direction; [`Surface::Random`] a
//!   smooth Gaussian random field of correlation scale `min(H, W) / 6`
//!   (spectral synthesis of Gaussian-filtered white noise with 48 random plane
//!   waves), rescaled to `[zlo, zhi]`; [`Surface::Steps`] 3 or 4 terraces,
//!   equal bands along a random direction at distinct, shuffled, evenly
//!   spaced depths from `zlo` to `zhi` (the only non-smooth surface).
//! * **Defocus**: at pixel `p` of slice `k`, `Delta = z(p) - k` and the blur
//!   is a Gaussian of `sigma = sqrt(s0^2 + (beta Delta)^2)`, `s0 = 0.5` px,
//!   `beta = sqrt(1 - s0^2) / (dof / 2)`: exactly 1 px at the edge of the
//!   depth of field. The spatially varying blur is made from a ladder: `I0`
//!   blurred (separable sampled Gaussians, radius `ceil(3 sigma)`, reflecting
//!   boundary) at `sigma = 0.5 * 1.25^i` up to the largest sigma needed, and
//!   each pixel interpolated linearly in sigma between its two nearest rungs.
//!   Sigma is capped at [`SIGMA_CAP`] px (beyond it the texture is long
//!   gone; this only keeps tiny depths of field affordable).
//! * **Noise**: expected photo-electrons `lambda = photons I`, counts
//!   `Poisson(lambda) + Normal(0, read_noise)` (see [`rng`] for the Poisson
//!   sampler), then quantised: [`PixelType::U16`] at a gain of 16 ADU per
//!   photo-electron (reduced to `32768 / photons` when `photons > 2048`, so
//!   the background stays at or below half range), rounded and clamped to
//!   0..65535; [`PixelType::U8`] at `200 / photons` ADU per electron (the
//!   background at about 200), clamped to 0..255; [`PixelType::F32`] the
//!   counts themselves, unquantised.
//! * **Truth**: `truth[k][p] = 255` iff `S(p)` and `|z(p) - k| <= dof / 2`,
//!   with `z` exactly the returned f32 `depth` (compared in f64).
//!
//! The result depends only on the parameters: every kind of randomness (blob,
//! texture, cells, surface, and the noise of each slice) draws from its own
//! PRNG stream derived from `(seed, purpose, slice)`, and slices are computed
//! in parallel, so the bytes are the same on any number of threads.

mod blur;
pub mod rng;
mod suite;
pub use suite::{quick_suite, suite, training_suite, SuiteCase};
mod scene;

use crate::error::{Error, Result};
use crate::progress::{Counter, Progress};
use crate::stack::{PixelType, Stack};
use ndarray::{Array2, Array3, ArrayViewMut2, Axis};
use rayon::prelude::*;
use std::fmt;
use std::str::FromStr;

/// Blur of a perfectly focused pixel, in px.
pub const S0: f64 = 0.5;
/// Ratio between neighbouring sigmas of the blur ladder.
pub const LADDER_RATIO: f64 = 1.25;
/// Largest defocus blur rendered, in px.
pub const SIGMA_CAP: f64 = 40.0;
/// Absorption of the texture (`I0 = 1 - a T`).
pub const ABSORPTION: f64 = 0.6;
/// Absorption of [`Texture::LowContrast`].
pub const ABSORPTION_LOW: f64 = 0.12;
/// U16 gain in ADU per photo-electron (for `photons <= 2048`).
pub const U16_GAIN: f64 = 16.0;
/// Where the background sits in U8 stacks.
pub const U8_BACKGROUND: f64 = 200.0;

/// What the specimen looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Texture {
    /// Filtered noise, sigma 1 px.
    Fine,
    /// Filtered noise, sigma 4 px.
    Coarse,
    /// Separate cells (disks of fine texture) on empty background.
    Sparse,
    /// Filtered noise, sigma 2 px, absorbing 0.12 instead of 0.6.
    LowContrast,
}

impl Texture {
    pub const ALL: [Texture; 4] = [
        Texture::Fine,
        Texture::Coarse,
        Texture::Sparse,
        Texture::LowContrast,
    ];

    /// The lowercase name used by every door.
    pub fn name(self) -> &'static str {
        match self {
            Texture::Fine => "fine",
            Texture::Coarse => "coarse",
            Texture::Sparse => "sparse",
            Texture::LowContrast => "low-contrast",
        }
    }
}

/// The shape of the depth surface the specimen lies on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Surface {
    /// A centred cap, highest in the middle.
    Dome,
    /// A plane tilted along a random direction.
    Tilt,
    /// A smooth random field.
    Random,
    /// 3 or 4 flat terraces (not smooth).
    Steps,
}

impl Surface {
    pub const ALL: [Surface; 4] = [
        Surface::Dome,
        Surface::Tilt,
        Surface::Random,
        Surface::Steps,
    ];

    /// The lowercase name used by every door.
    pub fn name(self) -> &'static str {
        match self {
            Surface::Dome => "dome",
            Surface::Tilt => "tilt",
            Surface::Random => "random",
            Surface::Steps => "steps",
        }
    }
}

fn parse<T: Copy>(s: &str, all: &[T], name: impl Fn(T) -> &'static str, what: &str) -> Result<T> {
    let key = s.trim().to_ascii_lowercase().replace('_', "-");
    all.iter()
        .copied()
        .find(|&v| name(v) == key)
        .ok_or_else(|| {
            let names: Vec<_> = all.iter().map(|&v| name(v)).collect();
            Error::invalid(format!(
                "unknown {what} '{s}'; use one of: {}",
                names.join(", ")
            ))
        })
}

impl FromStr for Texture {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        parse(s, &Texture::ALL, Texture::name, "texture")
    }
}

impl FromStr for Surface {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        parse(s, &Surface::ALL, Surface::name, "surface")
    }
}

impl fmt::Display for Texture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Surface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything that defines a synthetic stack.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthParams {
    /// Number of slices Z (at least 1).
    pub depth: usize,
    /// Image height in px (at least 8).
    pub height: usize,
    /// Image width in px (at least 8).
    pub width: usize,
    pub texture: Texture,
    pub surface: Surface,
    /// Mean photo-electrons per pixel of the bright background (low: 30,
    /// high: 2000).
    pub photons: f64,
    /// Read noise, electrons rms.
    pub read_noise: f64,
    /// Depth of field in slices: a pixel is in focus within +-dof/2 of its depth.
    pub dof: f64,
    /// Empty background around the specimen (a blob) instead of a full field.
    pub background: bool,
    /// U8, U16 (quantised counts) or F32 (raw counts).
    pub pixel_type: PixelType,
    pub seed: u64,
}

impl Default for SynthParams {
    fn default() -> Self {
        SynthParams {
            depth: 20,
            height: 256,
            width: 256,
            texture: Texture::Coarse,
            surface: Surface::Dome,
            photons: 1000.0,
            read_noise: 2.0,
            dof: 3.0,
            background: true,
            pixel_type: PixelType::U16,
            seed: 1,
        }
    }
}

impl SynthParams {
    /// Rejects parameters `synth` cannot use, saying what is allowed.
    pub fn validate(&self) -> Result<()> {
        if self.depth < 1 {
            return Err(Error::invalid(
                "synth depth (slices) must be at least 1, not 0",
            ));
        }
        if self.height < 8 || self.width < 8 {
            return Err(Error::invalid(format!(
                "synth height and width must be at least 8 px, not {} x {}",
                self.height, self.width
            )));
        }
        let voxels = self
            .depth
            .checked_mul(self.height)
            .and_then(|v| v.checked_mul(self.width))
            .filter(|&v| v <= isize::MAX as usize / 8);
        if voxels.is_none() {
            return Err(Error::invalid(format!(
                "synth stack of {} x {} x {} is too large to allocate",
                self.depth, self.height, self.width
            )));
        }
        if !(self.dof.is_finite() && self.dof > 0.0) {
            return Err(Error::invalid(format!(
                "synth dof (depth of field, in slices) must be finite and > 0, not {}",
                self.dof
            )));
        }
        if !(self.photons.is_finite() && self.photons > 0.0) {
            return Err(Error::invalid(format!(
                "synth photons must be finite and > 0 (30 is low, 2000 high), not {}",
                self.photons
            )));
        }
        if !(self.read_noise.is_finite() && self.read_noise >= 0.0) {
            return Err(Error::invalid(format!(
                "synth read_noise must be finite and >= 0 electrons rms, not {}",
                self.read_noise
            )));
        }
        Ok(())
    }

    /// `beta` of the defocus model: `sigma = sqrt(S0^2 + (beta Delta)^2)`.
    pub fn beta(&self) -> f64 {
        (1.0 - S0 * S0).sqrt() / (self.dof / 2.0)
    }

    /// The defocus blur (px) at `delta` slices from best focus.
    pub fn blur_sigma(&self, delta: f64) -> f64 {
        (S0 * S0 + (self.beta() * delta).powi(2)).sqrt()
    }

    /// `[zlo, zhi]`, the range of the depth surface.
    pub fn depth_range(&self) -> (f64, f64) {
        let top = self.depth as f64 - 1.0;
        (0.2 * top, 0.8 * top)
    }

    /// ADU per photo-electron of the output pixel type.
    pub fn gain(&self) -> f64 {
        match self.pixel_type {
            PixelType::U16 => U16_GAIN.min(32768.0 / self.photons),
            PixelType::U8 => U8_BACKGROUND / self.photons,
            PixelType::F32 => 1.0,
        }
    }
}

/// A synthetic stack and its exact truth.
#[derive(Clone, Debug)]
pub struct Synth {
    /// Z x H x W images of `params.pixel_type`.
    pub stack: Stack,
    /// Z x H x W, 255 where the specimen is in focus, 0 elsewhere.
    pub truth: Array3<u8>,
    /// H x W true best-focus position in slice units (defined everywhere;
    /// meaningful where `specimen` is set).
    pub depth: Array2<f32>,
    /// H x W, 255 on the specimen's support, 0 on empty background.
    pub specimen: Array2<u8>,
    pub params: SynthParams,
}

/// Makes a synthetic focal stack (see the module documentation).
///
/// Reports progress once per slice; returns [`Error::Cancelled`] when the
/// callback says stop.
pub fn synth(p: &SynthParams, progress: &Progress) -> Result<Synth> {
    p.validate()?;
    let (z, h, w) = (p.depth, p.height, p.width);
    // The stack and its truth, at least, before any of it is made.
    let px = match p.pixel_type {
        PixelType::U8 => 1,
        PixelType::U16 => 2,
        PixelType::F32 => 4,
    };
    crate::limits::check(
        crate::limits::bytes_of(&[z, h, w], px + 1),
        &format!("a synthetic {z} x {h} x {w} stack"),
    )
    .map_err(Error::invalid)?;
    let counter = Counter::new(progress, z as u64);
    counter.check()?;

    let (support, texture) = scene::specimen(h, w, p.texture, p.background, p.seed);
    let depth32: Vec<f32> = scene::surface(h, w, z, p.surface, p.seed)
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let a = if p.texture == Texture::LowContrast {
        ABSORPTION_LOW
    } else {
        ABSORPTION
    };
    let i0: Vec<f32> = texture
        .iter()
        .map(|&t| (1.0 - a * f64::from(t)) as f32)
        .collect();

    // The largest defocus any pixel sees: to slice 0 or to slice Z-1.
    let top = z as f64 - 1.0;
    let delta_max = depth32
        .iter()
        .map(|&d| f64::from(d).max(top - f64::from(d)))
        .fold(0.0, f64::max);
    let s_max = p.blur_sigma(delta_max).min(SIGMA_CAP);
    let ladder = blur::Ladder::new(&i0, h, w, S0, LADDER_RATIO, s_max);
    counter.check()?;

    let beta = p.beta();
    let gain = p.gain();
    let stack = match p.pixel_type {
        PixelType::U16 => Stack::U16(render(p, &ladder, &depth32, beta, &counter, |c| {
            (c * gain).round().clamp(0.0, 65535.0) as u16
        })?),
        PixelType::U8 => Stack::U8(render(p, &ladder, &depth32, beta, &counter, |c| {
            (c * gain).round().clamp(0.0, 255.0) as u8
        })?),
        PixelType::F32 => Stack::F32(render(p, &ladder, &depth32, beta, &counter, |c| c as f32)?),
    };

    let half = p.dof / 2.0;
    let mut truth = Array3::<u8>::zeros((z, h, w));
    truth
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(k, mut sl)| {
            for ((o, &d), &s) in sl.iter_mut().zip(&depth32).zip(&support) {
                if s && (f64::from(d) - k as f64).abs() <= half {
                    *o = 255;
                }
            }
        });
    let depth =
        Array2::from_shape_vec((h, w), depth32).map_err(|e| Error::Internal(e.to_string()))?;
    let specimen = Array2::from_shape_vec(
        (h, w),
        support.iter().map(|&s| if s { 255 } else { 0 }).collect(),
    )
    .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Synth {
        stack,
        truth,
        depth,
        specimen,
        params: p.clone(),
    })
}

/// Blur, noise and quantisation of every slice, in parallel over slices.
fn render<T: Copy + Default + Send + Sync>(
    p: &SynthParams,
    ladder: &blur::Ladder,
    depth: &[f32],
    beta: f64,
    counter: &Counter,
    quantise: impl Fn(f64) -> T + Sync,
) -> Result<Array3<T>> {
    let mut out = Array3::<T>::default((p.depth, p.height, p.width));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .try_for_each(|(k, sl): (usize, ArrayViewMut2<T>)| {
            let mut rng = rng::Rng::stream(p.seed, scene::PURPOSE_NOISE, k as u64);
            let kf = k as f64;
            let mut sl = sl;
            let sl = sl.as_slice_mut().expect("standard layout");
            for (i, (o, &d)) in sl.iter_mut().zip(depth).enumerate() {
                let delta = f64::from(d) - kf;
                let sigma = (S0 * S0 + (beta * delta) * (beta * delta)).sqrt();
                let (r, t) = ladder.locate(sigma);
                let intensity = f64::from(ladder.value(r, t, i));
                let mut counts = rng.poisson(p.photons * intensity);
                if p.read_noise > 0.0 {
                    counts += p.read_noise * rng.normal();
                }
                *o = quantise(counts);
            }
            counter.add(1)
        })?;
    Ok(out)
}

//! The synthetic focal stacks of `infocus synth` through the C ABI, so that
//! every door (the napari plugin's sample data, C test programs) can make
//! the same stack and its exact truth without files.

use super::args::{self, Dims, Out, OutStack, a3};
use super::panic::{self, OnPanic};
use super::status::{Failure, report};
use super::{infocus_progress_fn, progress_sink};
use crate::error::Error;
use crate::limits::bytes_of;
use crate::stack::PixelType;
use crate::synth::{Surface, SynthParams, Texture, synth};
use std::ffi::c_void;

/// `texture`: filtered noise, sigma 1 px.
pub const INFOCUS_TEXTURE_FINE: i32 = 0;
/// `texture`: filtered noise, sigma 4 px.
pub const INFOCUS_TEXTURE_COARSE: i32 = 1;
/// `texture`: separate cells (disks of fine texture) on empty background.
pub const INFOCUS_TEXTURE_SPARSE: i32 = 2;
/// `texture`: filtered noise, sigma 2 px, absorbing 0.12 instead of 0.6.
pub const INFOCUS_TEXTURE_LOW_CONTRAST: i32 = 3;

/// `surface`: a centred cap, highest in the middle.
pub const INFOCUS_SURFACE_DOME: i32 = 0;
/// `surface`: a plane tilted along a random direction.
pub const INFOCUS_SURFACE_TILT: i32 = 1;
/// `surface`: a smooth random field.
pub const INFOCUS_SURFACE_RANDOM: i32 = 2;
/// `surface`: 3 or 4 flat terraces (not smooth).
pub const INFOCUS_SURFACE_STEPS: i32 = 3;

/// A synthetic focal stack (see `infocus_synth`); the fields are those of
/// `infocus synth`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct InfocusSynthParams {
    /// Number of slices Z (at least 1).
    pub depth: usize,
    /// Image height in pixels (at least 8).
    pub height: usize,
    /// Image width in pixels (at least 8).
    pub width: usize,
    /// One of `INFOCUS_TEXTURE_*`.
    pub texture: i32,
    /// One of `INFOCUS_SURFACE_*`.
    pub surface: i32,
    /// Mean photo-electrons per background pixel (30 is noisy, 2000 clean; > 0).
    pub photons: f64,
    /// Read noise, electrons rms (>= 0).
    pub read_noise: f64,
    /// Depth of field in slices (> 0): a pixel is in focus within +-dof/2 of its depth.
    pub dof: f64,
    /// Non-zero: empty background around the specimen; 0: the specimen fills the field.
    pub background: i32,
    /// One of `INFOCUS_PIXEL_*`: the type of the stack written.
    pub pixel_type: i32,
    /// The same seed gives the same stack.
    pub seed: u64,
}

impl OnPanic for InfocusSynthParams {
    fn on_panic(failure: Failure) -> Self {
        report(Err(failure));
        InfocusSynthParams {
            depth: 0,
            height: 0,
            width: 0,
            texture: -1,
            surface: -1,
            photons: f64::NAN,
            read_noise: f64::NAN,
            dof: f64::NAN,
            background: 0,
            pixel_type: -1,
            seed: 0,
        }
    }
}

fn texture(v: i32) -> Result<Texture, Failure> {
    usize::try_from(v)
        .ok()
        .and_then(|i| Texture::ALL.get(i).copied())
        .ok_or_else(|| {
            Error::invalid(format!(
                "unknown texture {v}; use INFOCUS_TEXTURE_FINE (0), _COARSE (1), _SPARSE (2) or _LOW_CONTRAST (3)"
            ))
            .into()
        })
}

fn surface(v: i32) -> Result<Surface, Failure> {
    usize::try_from(v)
        .ok()
        .and_then(|i| Surface::ALL.get(i).copied())
        .ok_or_else(|| {
            Error::invalid(format!(
                "unknown surface {v}; use INFOCUS_SURFACE_DOME (0), _TILT (1), _RANDOM (2) or _STEPS (3)"
            ))
            .into()
        })
}

fn number<T: PartialEq + Copy>(all: &[T], v: T) -> i32 {
    let i = all.iter().position(|&x| x == v).expect("listed in ALL");
    i32::try_from(i).expect("few variants")
}

/// The stack `infocus synth` makes with no options: 20 slices of 256 x 256,
/// coarse texture on a dome, 1000 photons, read noise 2, depth of field 3,
/// empty background, u16, seed 1.
#[unsafe(no_mangle)]
pub extern "C" fn infocus_synth_params_default() -> InfocusSynthParams {
    panic::guard(|| {
        let p = SynthParams::default();
        InfocusSynthParams {
            depth: p.depth,
            height: p.height,
            width: p.width,
            texture: number(&Texture::ALL, p.texture),
            surface: number(&Surface::ALL, p.surface),
            photons: p.photons,
            read_noise: p.read_noise,
            dof: p.dof,
            background: i32::from(p.background),
            pixel_type: match p.pixel_type {
                PixelType::U8 => args::INFOCUS_PIXEL_U8,
                PixelType::U16 => args::INFOCUS_PIXEL_U16,
                PixelType::F32 => args::INFOCUS_PIXEL_F32,
            },
            seed: p.seed,
        }
    })
}

/// A synthetic focal stack and its exact truth: the same bytes as
/// `infocus synth` with the same parameters.
///
/// - `params`: start from `infocus_synth_params_default()`.
/// - `out_stack`: `stack_len` pixels of `params->pixel_type`; `stack_len`
///   must be `depth * height * width`.
/// - `out_truth`: optional (NULL: not written, `truth_len` ignored): 255
///   where the specimen is in focus, 0 elsewhere; `truth_len` must be
///   `depth * height * width`.
/// - `progress`, `user_data`: optional; one unit per finished slice.
///
/// Returns `INFOCUS_OK`, or `INFOCUS_ERR_NULL` (params or out_stack is
/// NULL), `INFOCUS_ERR_INVALID` (a zero or overflowing size, height or width
/// below 8, a wrong length, misaligned buffer, unknown texture, surface or
/// pixel type, a non-finite or out-of-range photons, read_noise or dof, a
/// stack larger than the memory available), `INFOCUS_ERR_CANCELLED`,
/// `INFOCUS_ERR_PANIC`.
///
/// # Safety
/// `params` points to parameters; every non-NULL output points to as many
/// writable elements as its length says.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn infocus_synth(
    params: *const InfocusSynthParams,
    out_stack: *mut c_void,
    stack_len: usize,
    out_truth: *mut u8,
    truth_len: usize,
    progress: infocus_progress_fn,
    user_data: *mut c_void,
) -> i32 {
    panic::status(|| {
        args::non_null(params, "params")?;
        args::non_null(out_stack, "out_stack")?;
        // SAFETY: not NULL; the caller vouches it points to parameters.
        let c = unsafe { *args::deref(params, "params")? };
        let pixel_type = args::pixel_type(c.pixel_type)?;
        let d = Dims::new(c.depth, c.height, c.width)?;
        let p = SynthParams {
            depth: c.depth,
            height: c.height,
            width: c.width,
            texture: texture(c.texture)?,
            surface: surface(c.surface)?,
            photons: c.photons,
            read_noise: c.read_noise,
            dof: c.dof,
            background: c.background != 0,
            pixel_type,
            seed: c.seed,
        };
        p.validate()?;
        let out = OutStack::new(
            out_stack,
            pixel_type,
            stack_len,
            d.n,
            &a3(d, "synthetic stack"),
        )?;
        let truth = Out::optional(out_truth, truth_len, d.n, "out_truth", &a3(d, "truth"))?;
        args::memory(
            bytes_of(&[d.n], args::pixel_bytes(pixel_type) + 1),
            &a3(d, "synthetic stack"),
        )?;
        let s = synth(&p, &progress_sink(progress, user_data))?;
        // SAFETY: the caller vouches for the lengths of both buffers.
        unsafe {
            out.write(&s.stack)?;
            if let Some(t) = truth {
                t.write(s.truth.view())?;
            }
        }
        Ok(())
    })
}

//! The C ABI: `include/infocus.h`, generated from this module by cbindgen.
//!
//! Every function here only translates: C arguments are checked and turned
//! into the core's types (`args.rs`), the core computes, and its
//! [`Error`](crate::Error) becomes a status (`status.rs`). Every body runs
//! inside one boundary (`panic.rs`), so no panic unwinds into C.
//!
//! Conventions, as the header states them:
//! * arrays are caller-owned, C-contiguous Z x H x W buffers with explicit
//!   dimensions; every length is a count of elements and must equal the count
//!   the call needs exactly; no pointer is kept after a call returns;
//! * outputs are written only when the call succeeds: a failed or cancelled
//!   call leaves every out buffer as it was;
//! * `infocus_last_error()` gives the message of the calling thread's last
//!   failure.

mod args;
mod panic;
mod status;
mod unet;

pub use args::{
    INFOCUS_MEASURE_BRENNER, INFOCUS_MEASURE_DWT, INFOCUS_MEASURE_ENTROPY,
    INFOCUS_MEASURE_LAPLACIAN, INFOCUS_MEASURE_SMD, INFOCUS_MEASURE_STD, INFOCUS_MEASURE_TENENGRAD,
    INFOCUS_MEASURE_VARIANCE, INFOCUS_MEASURE_VOLLATH, INFOCUS_PIXEL_F32, INFOCUS_PIXEL_U8,
    INFOCUS_PIXEL_U16, INFOCUS_PRESET_DEFAULT, INFOCUS_PRESET_PAPER, INFOCUS_THRESHOLD_FIXED,
    INFOCUS_THRESHOLD_OTSU_SLICE, INFOCUS_THRESHOLD_OTSU_STACK, INFOCUS_THRESHOLD_PRESET,
};
pub use unet::{
    INFOCUS_NORM_BATCH, INFOCUS_NORM_INSTANCE, INFOCUS_NORM_NONE, InfocusModel,
    InfocusPredictParams, InfocusTrainParams, InfocusUnetConfig, infocus_epoch_fn,
    infocus_finetune_params_default, infocus_model_config, infocus_model_device,
    infocus_model_free, infocus_model_load, infocus_model_new, infocus_model_save,
    infocus_predict_params_default, infocus_train_params_default, infocus_unet_available,
    infocus_unet_config_default, infocus_unet_config_paper, infocus_unet_finetune,
    infocus_unet_predict, infocus_unet_train,
};
pub use status::{
    INFOCUS_ERR_CANCELLED, INFOCUS_ERR_INVALID, INFOCUS_ERR_IO, INFOCUS_ERR_NULL,
    INFOCUS_ERR_PANIC, INFOCUS_ERR_TORCH, INFOCUS_ERR_UNSUPPORTED, INFOCUS_OK,
};

use crate::limits::bytes_of;
use crate::map::MapParams;
use crate::progress::Progress;
use crate::segment::{BandParams, Preset, SegmentParams};
use crate::threshold::Threshold;
use args::{Dims, Out, OutStack, a2, a3};
use panic::OnPanic;
use status::{Failure, report};
use std::ffi::{CString, c_char, c_void};
use std::sync::LazyLock;

/// A progress callback: `done` of `total` units are finished.
///
/// Return 0 to go on, anything else to cancel: the call then returns
/// `INFOCUS_ERR_CANCELLED` and writes nothing. It may be called from worker
/// threads other than the caller's, but never by two threads at once; it must
/// not call back into infocus, throw or longjmp. `user_data` is passed
/// through untouched. A NULL callback reports nothing and never cancels.
#[allow(non_camel_case_types)]
pub type infocus_progress_fn =
    Option<unsafe extern "C" fn(done: u64, total: u64, user_data: *mut c_void) -> i32>;

/// The sliding-window focus map: the paper's scheme (see `infocus_focus_map`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct InfocusMapParams {
    /// One of `INFOCUS_MEASURE_*`.
    pub measure: i32,
    /// Side of the square window in pixels (at least 1). Windows are clipped
    /// to the image, so a window larger than the image is allowed: each
    /// window then covers what is left of the image from its start.
    pub window: u32,
    /// Window steps in pixels (each at least 1); the map is the pixel-wise
    /// maximum over them. Read during the call only.
    pub strides: *const u32,
    /// Number of entries in `strides` (at least 1).
    pub n_strides: usize,
}

/// The `default` preset's depth-of-field band.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct InfocusBandParams {
    /// Depth of field in slices; 0 or less: estimate it from the stack (NaN is invalid).
    pub dof: f64,
    /// The best-focus sharpness a pixel needs to count as specimen, as excess
    /// energy over the noise's (0 = noise level, 1 = twice the noise); 0 or more.
    pub min_contrast: f64,
    /// Radius in pixels of the finest band's averaging box (1 to 64; coarser
    /// bands average over proportionally larger boxes).
    pub radius: u32,
    /// Radius in pixels of the median that smooths the depth map (0 to 32; 0: none).
    pub smoothing: u32,
}

/// Everything `infocus_segment` needs.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct InfocusSegmentParams {
    /// One of `INFOCUS_PRESET_*`.
    pub preset: i32,
    /// The map of the paper preset (the default preset ignores it, but its
    /// measure must still be a known one).
    pub map: InfocusMapParams,
    /// One of `INFOCUS_THRESHOLD_*`; `INFOCUS_THRESHOLD_PRESET` uses the preset's own rule.
    pub threshold: i32,
    /// The level of `INFOCUS_THRESHOLD_FIXED` (finite); ignored otherwise.
    pub threshold_value: f32,
    /// The default preset's band (ignored by the paper preset unless it is invalid).
    pub band: InfocusBandParams,
}

/// The paper's strides, library-owned for the life of the program.
static PAPER_STRIDES: LazyLock<Vec<u32>> = LazyLock::new(|| {
    MapParams::paper()
        .strides
        .iter()
        .map(|&s| u32::try_from(s).expect("paper strides are small"))
        .collect()
});

/// The version, NUL-terminated, derived from [`crate::VERSION`].
static VERSION: LazyLock<CString> =
    LazyLock::new(|| CString::new(crate::VERSION).expect("no NUL in the version"));

/// Parameters every call rejects: what a default constructor returns if it
/// panicked (with the panic as the last error).
impl InfocusMapParams {
    const REJECTED: Self = InfocusMapParams {
        measure: -1,
        window: 0,
        strides: std::ptr::null(),
        n_strides: 0,
    };
}

impl InfocusBandParams {
    const REJECTED: Self = InfocusBandParams {
        dof: f64::NAN,
        min_contrast: f64::NAN,
        radius: 0,
        smoothing: u32::MAX,
    };
}

impl OnPanic for InfocusMapParams {
    fn on_panic(failure: Failure) -> Self {
        report(Err(failure));
        Self::REJECTED
    }
}

impl OnPanic for InfocusBandParams {
    fn on_panic(failure: Failure) -> Self {
        report(Err(failure));
        Self::REJECTED
    }
}

impl OnPanic for InfocusSegmentParams {
    fn on_panic(failure: Failure) -> Self {
        report(Err(failure));
        InfocusSegmentParams {
            preset: -1,
            map: InfocusMapParams::REJECTED,
            threshold: -1,
            threshold_value: f32::NAN,
            band: InfocusBandParams::REJECTED,
        }
    }
}

/// The C form of the map parameters `p`, which must use the paper's strides
/// (the only list with a static array to point at).
fn map_params_to_c(p: &MapParams) -> InfocusMapParams {
    let strides: Vec<u32> = p
        .strides
        .iter()
        .map(|&s| u32::try_from(s).expect("small stride"))
        .collect();
    assert_eq!(
        strides, *PAPER_STRIDES,
        "only the paper's strides have a static array"
    );
    InfocusMapParams {
        measure: args::measure_number(p.measure),
        window: u32::try_from(p.window).expect("small window"),
        strides: PAPER_STRIDES.as_ptr(),
        n_strides: PAPER_STRIDES.len(),
    }
}

fn band_params_to_c(b: &BandParams) -> InfocusBandParams {
    InfocusBandParams {
        dof: b.dof.unwrap_or(0.0),
        min_contrast: b.min_contrast,
        radius: u32::try_from(b.radius).expect("small radius"),
        smoothing: u32::try_from(b.smoothing).expect("small smoothing"),
    }
}

/// The core's map parameters from C's.
///
/// # Safety
/// `p.strides`, when not NULL, points to `p.n_strides` readable `uint32_t`s.
unsafe fn map_params(p: &InfocusMapParams) -> Result<MapParams, Failure> {
    let measure = args::measure(p.measure)?;
    let strides = if p.n_strides == 0 {
        Vec::new() // the core explains why an empty list defines no map
    } else {
        // SAFETY: the caller vouches for n_strides readable values.
        let v = unsafe { args::slice(p.strides, p.n_strides, "params->strides")? };
        v.iter().map(|&s| s as usize).collect()
    };
    Ok(MapParams {
        measure,
        window: p.window as usize,
        strides,
    })
}

fn band_params(b: &InfocusBandParams) -> BandParams {
    BandParams {
        // NaN is not <= 0, so it reaches the core, which rejects it.
        dof: if b.dof <= 0.0 { None } else { Some(b.dof) },
        min_contrast: b.min_contrast,
        radius: b.radius as usize,
        smoothing: b.smoothing as usize,
    }
}

/// The core's progress sink over a C callback.
fn progress_sink<'a>(f: infocus_progress_fn, user_data: *mut c_void) -> Progress<'a> {
    struct Callback {
        f: unsafe extern "C" fn(u64, u64, *mut c_void) -> i32,
        user_data: *mut c_void,
    }
    // SAFETY: the header tells callers that the callback may run on worker
    // threads (one at a time; the core serialises the calls).
    unsafe impl Send for Callback {}
    impl Callback {
        fn keep_going(&self, done: u64, total: u64) -> bool {
            // SAFETY: the caller gave a callback that takes these arguments.
            unsafe { (self.f)(done, total, self.user_data) == 0 }
        }
    }
    match f {
        None => Progress::none(),
        Some(f) => {
            let cb = Callback { f, user_data };
            Progress::new(move |done, total| cb.keep_going(done, total))
        }
    }
}

/// The library version ("MAJOR.MINOR.PATCH"): a static string, never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn infocus_version() -> *const c_char {
    panic::guard(|| VERSION.as_ptr())
}

/// The message of the calling thread's last failed call, or "" when its last
/// call succeeded. Never NULL. The string is valid until this thread's next
/// call of a function that returns a status; the string getters
/// (`infocus_version`, `infocus_last_error`, `infocus_status_name`) leave it
/// alone.
#[unsafe(no_mangle)]
pub extern "C" fn infocus_last_error() -> *const c_char {
    panic::guard(status::last_error_ptr)
}

/// The name of a status code ("INFOCUS_ERR_NULL", ...), or "(unknown status)".
/// A static string, never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn infocus_status_name(status: i32) -> *const c_char {
    panic::guard(|| status::name(status).unwrap_or(c"(unknown status)").as_ptr())
}

/// The paper's map: std, window 128, strides 8, 10, ..., 36. `strides`
/// points to a static library-owned array (never free or write it).
#[unsafe(no_mangle)]
pub extern "C" fn infocus_map_params_default() -> InfocusMapParams {
    panic::guard(|| map_params_to_c(&MapParams::paper()))
}

/// The default preset's band as the library defines it, with the depth of
/// field estimated from the stack (`dof` 0).
#[unsafe(no_mangle)]
pub extern "C" fn infocus_band_params_default() -> InfocusBandParams {
    panic::guard(|| band_params_to_c(&BandParams::default()))
}

/// The default preset with its own threshold rule, the paper's map and the
/// default band.
#[unsafe(no_mangle)]
pub extern "C" fn infocus_segment_params_default() -> InfocusSegmentParams {
    panic::guard(|| {
        let p = SegmentParams::new(Preset::Default);
        let (threshold, threshold_value) = match p.threshold {
            None => (args::INFOCUS_THRESHOLD_PRESET, 0.0),
            Some(Threshold::OtsuStack) => (args::INFOCUS_THRESHOLD_OTSU_STACK, 0.0),
            Some(Threshold::OtsuSlice) => (args::INFOCUS_THRESHOLD_OTSU_SLICE, 0.0),
            Some(Threshold::Fixed(v)) => (args::INFOCUS_THRESHOLD_FIXED, v),
        };
        InfocusSegmentParams {
            preset: args::preset_number(p.preset),
            map: map_params_to_c(&p.map),
            threshold,
            threshold_value,
            band: band_params_to_c(&p.band),
        }
    })
}

/// The sliding-window focus-score map (float, Z x H x W) of a stack.
///
/// For each stride, windows of `params->window` pixels start every stride
/// pixels (clipped at the right and bottom edges); each window's score is
/// added onto the pixels it covers, and the map is the pixel-wise maximum
/// over the strides. A window larger than the image is clipped to it, as in
/// the paper's notebook.
///
/// - `stack`: `z * h * w` pixels of `pixel_type` (`INFOCUS_PIXEL_*`); float
///   stacks must be finite.
/// - `out_map`: `out_len` floats; `out_len` must be `z * h * w`.
/// - `progress`, `user_data`: optional; one unit per finished slice.
///
/// Returns `INFOCUS_OK`, or `INFOCUS_ERR_NULL` (stack, params, out_map or
/// params->strides with n_strides > 0 is NULL), `INFOCUS_ERR_INVALID` (zero
/// or overflowing dimensions, wrong out_len, misaligned buffer, unknown pixel
/// type or measure, window 0, empty stride list, stride 0, NaN or Inf in a
/// float stack, scores that overflow 32-bit floats (float stacks with huge
/// values), a map larger than the memory available),
/// `INFOCUS_ERR_CANCELLED`, `INFOCUS_ERR_PANIC`.
///
/// # Safety
/// Every non-NULL pointer points to as many readable (for `out_map`,
/// writable) elements as its dimensions or length say.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn infocus_focus_map(
    stack: *const c_void,
    pixel_type: i32,
    z: usize,
    h: usize,
    w: usize,
    params: *const InfocusMapParams,
    out_map: *mut f32,
    out_len: usize,
    progress: infocus_progress_fn,
    user_data: *mut c_void,
) -> i32 {
    panic::status(|| {
        args::non_null(stack, "stack")?;
        args::non_null(params, "params")?;
        args::non_null(out_map, "out_map")?;
        let pixel_type = args::pixel_type(pixel_type)?;
        let d = Dims::new(z, h, w)?;
        let out = Out::new(out_map, out_len, d.n, "out_map", &a3(d, "focus map"))?;
        // SAFETY: checked above; the caller vouches for the sizes.
        let (stack, params) = unsafe {
            (
                args::stack(stack, pixel_type, d)?,
                map_params(args::deref(params, "params")?)?,
            )
        };
        args::memory(
            bytes_of(&[d.n], 4) + bytes_of(&[d.plane()], 8),
            &a3(d, "focus map"),
        )?;
        let map = crate::map::focus_map(stack, &params, &progress_sink(progress, user_data))?;
        args::finite_scores(map.view(), stack)?;
        // SAFETY: the caller vouches out_map holds out_len writable floats.
        unsafe { out.write(map.view()) }
    })
}

/// A 0/255 mask (uint8, Z x H x W) from a focus map: 255 where the score is
/// strictly above the level.
///
/// - `map`: `z * h * w` finite floats.
/// - `threshold`: `INFOCUS_THRESHOLD_*` (`_PRESET` means `_OTSU_STACK` here);
///   `value` is the level of `INFOCUS_THRESHOLD_FIXED` and ignored otherwise.
/// - `out_mask`: `out_len` bytes; `out_len` must be `z * h * w`.
///
/// Returns `INFOCUS_OK`, or `INFOCUS_ERR_NULL` (map or out_mask is NULL),
/// `INFOCUS_ERR_INVALID` (zero or overflowing dimensions, wrong out_len,
/// misaligned map, unknown threshold, non-finite fixed value, NaN or Inf in
/// the map, a mask larger than the memory available), `INFOCUS_ERR_PANIC`.
///
/// # Safety
/// `map` points to `z * h * w` readable floats, `out_mask` to `out_len`
/// writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn infocus_threshold_mask(
    map: *const f32,
    z: usize,
    h: usize,
    w: usize,
    threshold: i32,
    value: f32,
    out_mask: *mut u8,
    out_len: usize,
) -> i32 {
    panic::status(|| {
        args::non_null(map, "map")?;
        args::non_null(out_mask, "out_mask")?;
        let t = args::threshold(threshold, value)?.unwrap_or(Threshold::OtsuStack);
        let d = Dims::new(z, h, w)?;
        let out = Out::new(out_mask, out_len, d.n, "out_mask", &a3(d, "mask"))?;
        // SAFETY: checked above; the caller vouches for the size.
        let map = unsafe { args::view3(map, d, "map")? };
        // The mask, and the map's values gathered for the level.
        args::memory(bytes_of(&[d.n], 5), &a3(d, "mask"))?;
        let mask = crate::threshold::threshold_mask(map, t)?;
        // SAFETY: the caller vouches out_mask holds out_len writable bytes.
        unsafe { out.write(mask.view()) }
    })
}

/// Segments the in-focus pixels of every slice of a stack.
///
/// - `stack`: `z * h * w` pixels of `pixel_type`; float stacks must be finite.
/// - `params`: start from `infocus_segment_params_default()`.
/// - `out_mask`: `mask_len` bytes, 0 or 255; `mask_len` must be `z * h * w`.
/// - `out_map`: optional (NULL: not written, `map_len` ignored): the preset's
///   focus-score stack, `map_len` must be `z * h * w`.
/// - `out_depth`: optional (NULL: not written, `depth_len` ignored): the
///   best-focus slice of each pixel, `depth_len` must be `h * w`.
/// - `progress`, `user_data`: optional; one unit per finished slice.
///
/// Returns `INFOCUS_OK`, or `INFOCUS_ERR_NULL` (stack, params, out_mask or
/// params->map.strides with n_strides > 0 is NULL), `INFOCUS_ERR_INVALID`
/// (zero or overflowing dimensions, a wrong length, misaligned buffer, unknown
/// pixel type, preset, measure or threshold, a bad map or band parameter, NaN
/// or Inf in a float stack, scores that overflow 32-bit floats (float stacks
/// with huge values), more than 65536 slices, results larger than the memory
/// available), `INFOCUS_ERR_CANCELLED`, `INFOCUS_ERR_PANIC`.
///
/// # Safety
/// Every non-NULL pointer points to as many readable (outputs: writable)
/// elements as its dimensions or length say.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn infocus_segment(
    stack: *const c_void,
    pixel_type: i32,
    z: usize,
    h: usize,
    w: usize,
    params: *const InfocusSegmentParams,
    out_mask: *mut u8,
    mask_len: usize,
    out_map: *mut f32,
    map_len: usize,
    out_depth: *mut u16,
    depth_len: usize,
    progress: infocus_progress_fn,
    user_data: *mut c_void,
) -> i32 {
    panic::status(|| {
        args::non_null(stack, "stack")?;
        args::non_null(params, "params")?;
        args::non_null(out_mask, "out_mask")?;
        let pixel_type = args::pixel_type(pixel_type)?;
        // SAFETY: not NULL; the caller vouches it points to the struct.
        let p = unsafe { args::deref(params, "params")? };
        let preset = args::preset(p.preset)?;
        let threshold = args::threshold(p.threshold, p.threshold_value)?;
        // SAFETY: the caller vouches for the strides array.
        let map = unsafe { map_params(&p.map)? };
        let params = SegmentParams {
            preset,
            map,
            threshold,
            band: band_params(&p.band),
        };
        // An invalid band is refused whichever preset runs, as documented
        // (the paper preset alone would never look at it).
        params.band.validate()?;
        let d = Dims::new(z, h, w)?;
        // The depth map (u16) cannot name more slices: refuse before computing.
        if d.z > usize::from(u16::MAX) + 1 {
            return Err(crate::Error::invalid(format!(
                "a segmentation needs 1 to 65536 slices, not {}",
                d.z
            ))
            .into());
        }
        let mask_out = Out::new(out_mask, mask_len, d.n, "out_mask", &a3(d, "mask"))?;
        let map_out = Out::optional(out_map, map_len, d.n, "out_map", &a3(d, "focus map"))?;
        let depth_out = Out::optional(
            out_depth,
            depth_len,
            d.plane(),
            "out_depth",
            &a2(d, "depth map"),
        )?;
        // SAFETY: checked above; the caller vouches for the size.
        let stack = unsafe { args::stack(stack, pixel_type, d)? };
        // The map (f32) and the mask (u8), at least.
        args::memory(bytes_of(&[d.n], 5), &a3(d, "segmentation"))?;
        let seg = match crate::segment::segment(stack, &params, &progress_sink(progress, user_data))
        {
            // The stack was checked finite, so a non-finite map is an
            // overflow of the scores; say so in the caller's terms.
            Err(crate::Error::InvalidArgument(m))
                if m.starts_with("focus map holds a non-finite") =>
            {
                return Err(args::scores_overflow(stack));
            }
            r => r?,
        };
        args::finite_scores(seg.map.view(), stack)?;
        // SAFETY: the caller vouches for the out buffers' lengths.
        unsafe {
            mask_out.write(seg.mask.view())?;
            if let Some(o) = map_out {
                o.write(seg.map.view())?;
            }
            if let Some(o) = depth_out {
                o.write(seg.depth.view())?;
            }
        }
        Ok(())
    })
}

/// The in-focus stack: each pixel of `stack` where `mask` is non-zero, 0
/// elsewhere.
///
/// - `stack`: `z * h * w` pixels of `pixel_type`; float stacks must be finite.
/// - `mask`: `mask_len` bytes; `mask_len` must be `z * h * w`.
/// - `out`: `out_len` pixels of `pixel_type`; `out_len` must be `z * h * w`.
///
/// Returns `INFOCUS_OK`, or `INFOCUS_ERR_NULL` (stack, mask or out is NULL),
/// `INFOCUS_ERR_INVALID` (zero or overflowing dimensions, a wrong length,
/// misaligned buffer, unknown pixel type, NaN or Inf in a float stack, a
/// result larger than the memory available), `INFOCUS_ERR_PANIC`.
///
/// # Safety
/// Every pointer points to as many readable (`out`: writable) elements as its
/// dimensions or length say.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn infocus_in_focus(
    stack: *const c_void,
    pixel_type: i32,
    z: usize,
    h: usize,
    w: usize,
    mask: *const u8,
    mask_len: usize,
    out: *mut c_void,
    out_len: usize,
) -> i32 {
    panic::status(|| {
        args::non_null(stack, "stack")?;
        args::non_null(mask, "mask")?;
        args::non_null(out, "out")?;
        let pixel_type = args::pixel_type(pixel_type)?;
        let d = Dims::new(z, h, w)?;
        args::length(mask_len, d.n, "mask", &a3(d, "stack"))?;
        let out = OutStack::new(out, pixel_type, out_len, d.n, &a3(d, "in-focus stack"))?;
        // SAFETY: checked above; the caller vouches for the sizes.
        let (stack, mask) = unsafe {
            (
                args::stack(stack, pixel_type, d)?,
                args::view3(mask, d, "mask")?,
            )
        };
        args::memory(
            bytes_of(&[d.n], args::pixel_bytes(pixel_type)),
            &a3(d, "in-focus stack"),
        )?;
        stack.validate()?;
        let result = crate::products::in_focus(stack, mask)?;
        // SAFETY: the caller vouches out holds out_len writable pixels.
        unsafe { out.write(&result) }
    })
}

/// The depth map: for each pixel, the slice where the focus map is highest
/// (the lowest such slice on ties), as uint16 (H x W).
///
/// - `map`: `z * h * w` finite floats, 1 to 65536 slices.
/// - `out_depth`: `out_len` values; `out_len` must be `h * w`.
///
/// Returns `INFOCUS_OK`, or `INFOCUS_ERR_NULL` (map or out_depth is NULL),
/// `INFOCUS_ERR_INVALID` (zero or overflowing dimensions, more than 65536
/// slices, wrong out_len, misaligned buffer, NaN or Inf in the map, a result
/// larger than the memory available), `INFOCUS_ERR_PANIC`.
///
/// # Safety
/// `map` points to `z * h * w` readable floats, `out_depth` to `out_len`
/// writable values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn infocus_depth_map(
    map: *const f32,
    z: usize,
    h: usize,
    w: usize,
    out_depth: *mut u16,
    out_len: usize,
) -> i32 {
    panic::status(|| {
        args::non_null(map, "map")?;
        args::non_null(out_depth, "out_depth")?;
        let d = Dims::new(z, h, w)?;
        let out = Out::new(
            out_depth,
            out_len,
            d.plane(),
            "out_depth",
            &a2(d, "depth map"),
        )?;
        // SAFETY: checked above; the caller vouches for the size.
        let map = unsafe { args::view3(map, d, "map")? };
        args::memory(bytes_of(&[d.plane()], 6), &a2(d, "depth map"))?;
        args::finite(map, "map")?;
        let depth = crate::products::depth_map(map)?;
        // SAFETY: the caller vouches out_depth holds out_len writable values.
        unsafe { out.write(depth.view()) }
    })
}

/// The all-in-focus image: each pixel taken from the slice the depth map
/// names (H x W, the stack's pixel type).
///
/// - `stack`: `z * h * w` pixels of `pixel_type`; float stacks must be finite.
/// - `depth`: `depth_len` slice indices, each below `z`; `depth_len` must be `h * w`.
/// - `out`: `out_len` pixels of `pixel_type`; `out_len` must be `h * w`.
///
/// Returns `INFOCUS_OK`, or `INFOCUS_ERR_NULL` (stack, depth or out is NULL),
/// `INFOCUS_ERR_INVALID` (zero or overflowing dimensions, a wrong length,
/// misaligned buffer, unknown pixel type, a depth of `z` or more, NaN or Inf
/// in a float stack, a result larger than the memory available),
/// `INFOCUS_ERR_PANIC`.
///
/// # Safety
/// Every pointer points to as many readable (`out`: writable) elements as its
/// dimensions or length say.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn infocus_all_in_focus(
    stack: *const c_void,
    pixel_type: i32,
    z: usize,
    h: usize,
    w: usize,
    depth: *const u16,
    depth_len: usize,
    out: *mut c_void,
    out_len: usize,
) -> i32 {
    panic::status(|| {
        args::non_null(stack, "stack")?;
        args::non_null(depth, "depth")?;
        args::non_null(out, "out")?;
        let pixel_type = args::pixel_type(pixel_type)?;
        let d = Dims::new(z, h, w)?;
        args::length(depth_len, d.plane(), "depth", &a2(d, "stack's plane"))?;
        let out = OutStack::new(
            out,
            pixel_type,
            out_len,
            d.plane(),
            &a2(d, "all-in-focus image"),
        )?;
        // SAFETY: checked above; the caller vouches for the sizes.
        let (stack, depth) = unsafe {
            (
                args::stack(stack, pixel_type, d)?,
                args::view2(depth, d, "depth")?,
            )
        };
        args::memory(
            bytes_of(&[d.plane()], 2 + args::pixel_bytes(pixel_type)),
            &a2(d, "all-in-focus image"),
        )?;
        stack.validate()?;
        // The core takes an owned depth map.
        let result = crate::products::all_in_focus(stack, &depth.to_owned())?;
        // SAFETY: the caller vouches out holds out_len writable pixels.
        unsafe { out.write(&result) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn a_panicking_default_gives_parameters_every_call_rejects() {
        let m: InfocusMapParams = panic::guard(|| panic!("no defaults today"));
        let s: InfocusSegmentParams = panic::guard(|| panic!("no defaults today"));
        let b: InfocusBandParams = panic::guard(|| panic!("no defaults today"));
        let msg = unsafe { CStr::from_ptr(infocus_last_error()) }
            .to_str()
            .unwrap()
            .to_owned();
        assert!(msg.contains("no defaults today"), "{msg}");
        assert!(b.dof.is_nan() && b.radius == 0);
        let stack = [0u8; 4];
        let (mut map, mut mask) = ([0f32; 4], [0u8; 4]);
        let null = std::ptr::null_mut();
        let st = unsafe {
            infocus_focus_map(
                stack.as_ptr().cast(),
                0,
                1,
                2,
                2,
                &m,
                map.as_mut_ptr(),
                4,
                None,
                null,
            )
        };
        assert_eq!(st, INFOCUS_ERR_INVALID);
        let st = unsafe {
            infocus_segment(
                stack.as_ptr().cast(),
                0,
                1,
                2,
                2,
                &s,
                mask.as_mut_ptr(),
                4,
                map.as_mut_ptr(),
                4,
                null.cast(),
                0,
                None,
                null,
            )
        };
        assert_eq!(st, INFOCUS_ERR_INVALID);
        let mut s2 = infocus_segment_params_default();
        s2.band = b;
        let st = unsafe {
            infocus_segment(
                stack.as_ptr().cast(),
                0,
                1,
                2,
                2,
                &s2,
                mask.as_mut_ptr(),
                4,
                null.cast(),
                0,
                null.cast(),
                0,
                None,
                null,
            )
        };
        assert_eq!(st, INFOCUS_ERR_INVALID);
    }
}

//! The U-Net door: an opaque model handle, and training, fine-tuning and
//! prediction over caller-owned buffers.
//!
//! Same conventions as the rest of the C ABI (status codes, last error,
//! checked arguments, outputs written only on success, no unwinding). In a
//! build without the `torch` feature every function that needs a model
//! returns `INFOCUS_ERR_UNSUPPORTED`, checked before anything else, with a
//! message saying how to build with it; `infocus_model_free` and the getters
//! still work.

use super::args::{self, Dims, Out, a3};
use super::panic::{self, OnPanic};
use super::status::{Failure, report};
use super::{infocus_progress_fn, progress_sink};
use crate::error::Error;
use crate::progress::Progress;
use crate::segment::SegmentParams;
use crate::stack::StackView;
use crate::unet::{
    self, DeviceSpec, EpochReport, LossWeights, Model, Norm, PredictParams, TrainParams, UnetConfig,
};
use ndarray::ArrayView3;
use std::collections::BTreeSet;
use std::ffi::{CStr, CString, c_char, c_void};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// `norm` of a U-Net without normalisation.
pub const INFOCUS_NORM_NONE: i32 = 0;
/// `norm`: instance normalisation (the paper's).
pub const INFOCUS_NORM_INSTANCE: i32 = 1;
/// `norm`: batch normalisation.
pub const INFOCUS_NORM_BATCH: i32 = 2;

/// A U-Net with its weights, on a device. Opaque: make one with
/// `infocus_model_new` or `infocus_model_load`, release it with
/// `infocus_model_free`. One thread at a time may use a model.
pub struct InfocusModel {
    model: Model,
    device: CString,
}

/// The architecture of a U-Net.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct InfocusUnetConfig {
    /// Encoder levels (1 to 6); a bottleneck and as many decoder levels follow.
    pub depth: u32,
    /// Channels of the first level, doubled at every level (1 to 256).
    pub base_channels: u32,
    /// One of `INFOCUS_NORM_*`.
    pub norm: i32,
    /// Pairs of neighbouring slices fed as extra input channels, at Z
    /// offsets ±1, ±2, ±4, ... (0 to 6; 0: the slice alone, as the paper).
    pub context: u32,
    /// 1: add the focus profile to the input (each slice's sharpness
    /// relative to the pixel's sharpest slice, and the structure at best
    /// focus); 0: images only (the paper). Any other value is refused
    /// (`INFOCUS_ERR_INVALID`).
    pub profile: i32,
    /// 1: add the default preset's answer to the input (for each slice,
    /// whether it lies within the preset's depth-of-field band around the
    /// pixel's best focus); 0: not (the paper). Any other value is refused
    /// (`INFOCUS_ERR_INVALID`).
    pub guide: i32,
}

/// How to train or fine-tune.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct InfocusTrainParams {
    /// `infocus_unet_train`: the preset (`INFOCUS_PRESET_*`) whose masks are
    /// the weak labels. Ignored by `infocus_unet_finetune`.
    pub preset: i32,
    /// Most epochs (at least 1); early stopping may end sooner.
    pub epochs: u32,
    /// Crops per training step (at least 1).
    pub batch: u32,
    /// Side of the square training crops, a multiple of 2^depth.
    pub patch: u32,
    /// Adam's learning rate (above 0, below 10).
    pub learning_rate: f64,
    /// Stop after this many epochs without a better validation IoU (0: never).
    pub patience: u32,
    /// Fraction of slices held out for validation (0 to 0.9).
    pub val_fraction: f64,
    /// Seeds every random choice: the same seed gives the same model on the CPU.
    pub seed: u64,
    /// Weights of the Dice, focal and binary cross-entropy losses (each >= 0, not all 0).
    pub dice_weight: f64,
    pub focal_weight: f64,
    pub bce_weight: f64,
    /// Non-zero: random flips and 90-degree rotations of the crops.
    pub augment: i32,
    /// Non-zero: keep the encoder's weights fixed.
    pub freeze_encoder: i32,
}

/// How to predict.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct InfocusPredictParams {
    /// A pixel is in focus when its probability is strictly above this (0 to 1).
    pub threshold: f32,
    /// Largest tile side in pixels (at least 2^depth).
    pub tile: u32,
    /// Least overlap of neighbouring tiles in pixels (less than tile).
    pub overlap: u32,
    /// Tiles per forward pass (at least 1).
    pub batch: u32,
    /// 1: average each tile over its mirror images (4 passes, more
    /// accurate; the default); 0: one pass (4x faster). Any other value is
    /// refused (`INFOCUS_ERR_INVALID`).
    pub flips: i32,
}

/// A training progress callback, called once after every epoch with its
/// number (1-based), the most epochs, the epoch's mean training loss and the
/// validation IoU. Return 0 to go on, anything else to cancel: the call then
/// returns `INFOCUS_ERR_CANCELLED` and the model is unchanged. Called on the
/// caller's thread; it must not call back into infocus, throw or longjmp.
#[allow(non_camel_case_types)]
pub type infocus_epoch_fn = Option<
    unsafe extern "C" fn(
        epoch: u32,
        epochs: u32,
        loss: f64,
        val_iou: f64,
        user_data: *mut c_void,
    ) -> i32,
>;

impl OnPanic for () {
    fn on_panic(failure: Failure) -> Self {
        report(Err(failure));
    }
}

impl OnPanic for InfocusUnetConfig {
    fn on_panic(failure: Failure) -> Self {
        report(Err(failure));
        InfocusUnetConfig {
            depth: 0,
            base_channels: 0,
            norm: -1,
            context: 0,
            profile: -1,
            guide: -1,
        }
    }
}

impl OnPanic for InfocusTrainParams {
    fn on_panic(failure: Failure) -> Self {
        report(Err(failure));
        InfocusTrainParams {
            preset: -1,
            epochs: 0,
            batch: 0,
            patch: 0,
            learning_rate: f64::NAN,
            patience: 0,
            val_fraction: f64::NAN,
            seed: 0,
            dice_weight: f64::NAN,
            focal_weight: f64::NAN,
            bce_weight: f64::NAN,
            augment: 0,
            freeze_encoder: 0,
        }
    }
}

impl OnPanic for InfocusPredictParams {
    fn on_panic(failure: Failure) -> Self {
        report(Err(failure));
        InfocusPredictParams {
            threshold: f32::NAN,
            tile: 0,
            overlap: 0,
            batch: 0,
            flips: -1,
        }
    }
}

fn norm_number(n: Norm) -> i32 {
    match n {
        Norm::None => INFOCUS_NORM_NONE,
        Norm::Instance => INFOCUS_NORM_INSTANCE,
        Norm::Batch => INFOCUS_NORM_BATCH,
    }
}

fn config_to_c(c: UnetConfig) -> InfocusUnetConfig {
    InfocusUnetConfig {
        depth: u32::try_from(c.depth).expect("small depth"),
        base_channels: u32::try_from(c.base_channels).expect("small width"),
        norm: norm_number(c.norm),
        context: u32::try_from(c.context).expect("small context"),
        profile: i32::from(c.profile),
        guide: i32::from(c.guide),
    }
}

fn to_config(c: &InfocusUnetConfig) -> Result<UnetConfig, Failure> {
    let norm = match c.norm {
        INFOCUS_NORM_NONE => Norm::None,
        INFOCUS_NORM_INSTANCE => Norm::Instance,
        INFOCUS_NORM_BATCH => Norm::Batch,
        v => {
            return Err(Error::invalid(format!(
                "unknown norm {v}; use INFOCUS_NORM_NONE (0), _INSTANCE (1) or _BATCH (2)"
            ))
            .into());
        }
    };
    let profile = switch(
        c.profile,
        "profile",
        "0: images only, 1: add the focus profile",
    )?;
    let guide = switch(
        c.guide,
        "guide",
        "0: no guide, 1: add the default preset's band",
    )?;
    let c = UnetConfig {
        depth: c.depth as usize,
        base_channels: c.base_channels as usize,
        norm,
        context: c.context as usize,
        profile,
        guide,
    };
    c.validate()?;
    Ok(c)
}

fn train_params_to_c(p: &TrainParams) -> InfocusTrainParams {
    InfocusTrainParams {
        preset: args::preset_number(crate::segment::Preset::Default),
        epochs: u32::try_from(p.epochs).expect("small"),
        batch: u32::try_from(p.batch).expect("small"),
        patch: u32::try_from(p.patch).expect("small"),
        learning_rate: p.learning_rate,
        patience: u32::try_from(p.patience).expect("small"),
        val_fraction: p.val_fraction,
        seed: p.seed,
        dice_weight: p.loss.dice,
        focal_weight: p.loss.focal,
        bce_weight: p.loss.bce,
        augment: i32::from(p.augment),
        freeze_encoder: i32::from(p.freeze_encoder),
    }
}

fn train_params(p: &InfocusTrainParams) -> TrainParams {
    TrainParams {
        epochs: p.epochs as usize,
        batch: p.batch as usize,
        patch: p.patch as usize,
        learning_rate: p.learning_rate,
        patience: p.patience as usize,
        val_fraction: p.val_fraction,
        seed: p.seed,
        loss: LossWeights {
            dice: p.dice_weight,
            focal: p.focal_weight,
            bce: p.bce_weight,
        },
        augment: p.augment != 0,
        freeze_encoder: p.freeze_encoder != 0,
    }
}

/// A C on/off field: only 0 and 1 are accepted, so that a field left
/// uninitialised or set from the wrong constant is an error, not "on".
fn switch(value: i32, name: &str, meaning: &str) -> Result<bool, Failure> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(Error::invalid(format!("{name} must be 0 or 1 ({meaning}), not {v}")).into()),
    }
}

fn predict_params(p: &InfocusPredictParams) -> Result<PredictParams, Failure> {
    let flips = switch(
        p.flips,
        "flips",
        "0: one pass, 1: average over the mirror images",
    )?;
    Ok(PredictParams {
        threshold: p.threshold,
        tile: p.tile as usize,
        overlap: p.overlap as usize,
        batch: p.batch as usize,
        flips,
    })
}

/// A C string argument, as UTF-8 text.
///
/// # Safety
/// `p`, when not NULL, points to a NUL-terminated string.
unsafe fn text<'a>(p: *const c_char, what: &str) -> Result<&'a str, Failure> {
    args::non_null(p, what)?;
    // SAFETY: not NULL; the caller vouches for the terminating NUL.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| Error::invalid(format!("{what} is not UTF-8")).into())
}

/// A device argument: NULL means "auto".
///
/// # Safety
/// As [`text`].
unsafe fn to_device(p: *const c_char) -> Result<DeviceSpec, Failure> {
    if p.is_null() {
        return Ok(DeviceSpec::Auto);
    }
    // SAFETY: forwarded.
    Ok(unsafe { text(p, "device")? }.parse()?)
}

fn unsupported() -> Result<(), Failure> {
    unet::require_torch().map_err(Failure::from)
}

fn handle(model: Model) -> Box<InfocusModel> {
    let device = CString::new(model.device()).unwrap_or_default();
    Box::new(InfocusModel { model, device })
}

/// Addresses of the models made here and not yet freed. Every function that
/// takes a model looks it up first, so that a freed (or twice-freed) handle,
/// or a pointer that never was a model, is refused rather than read: C
/// callers keep stale handles in long-running programs. Not detectable: a
/// freed handle whose address a newer model has since been given (it then
/// names that model).
static LIVE: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());

/// The live set; a panic elsewhere while it was held cannot have left it
/// half-changed (single inserts and removes), so a poisoned lock is used as is.
fn live_set() -> MutexGuard<'static, BTreeSet<usize>> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A new handle for `model`, registered as live.
fn register(model: Model) -> *mut InfocusModel {
    let p = Box::into_raw(handle(model));
    live_set().insert(p as usize);
    p
}

/// Checks that `model` is a live handle: NULL is `INFOCUS_ERR_NULL`, a freed
/// or unknown pointer `INFOCUS_ERR_INVALID`.
fn live(model: *const InfocusModel) -> Result<(), Failure> {
    args::non_null(model, "model")?;
    if live_set().contains(&(model as usize)) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "model {model:p} is not a live model: it was freed with infocus_model_free, \
             or it did not come from infocus_model_new or infocus_model_load"
        ))
        .into())
    }
}

/// `n` pointers from a C array of pointers, each checked not NULL.
///
/// # Safety
/// `p`, when not NULL, points to `n` readable pointers.
unsafe fn pointers<'a, T>(
    p: *const *const T,
    n: usize,
    what: &str,
) -> Result<&'a [*const T], Failure> {
    if n == 0 {
        return Err(Error::invalid(format!("{what}: at least one stack is needed, not 0")).into());
    }
    // SAFETY: forwarded.
    let v = unsafe { args::slice(p, n, what)? };
    if let Some(i) = v.iter().position(|q| q.is_null()) {
        return Err(Failure::null(&format!("{what}[{i}]")));
    }
    Ok(v)
}

/// Runs a training call with the C epoch callback: it is called once per
/// epoch, and its verdict is passed on at the core's next progress report.
fn with_epoch_callback<T>(
    f: infocus_epoch_fn,
    user_data: *mut c_void,
    run: impl FnOnce(&Progress, &mut dyn FnMut(&EpochReport)) -> crate::Result<T>,
) -> crate::Result<T> {
    struct Shared {
        fresh: Option<EpochReport>,
        cancelled: bool,
    }
    let shared = Mutex::new(Shared {
        fresh: None,
        cancelled: false,
    });
    // SAFETY (for Send and Sync): the core reports training progress on the
    // caller's thread, inside this call; user_data is only passed back.
    struct Ud(*mut c_void);
    unsafe impl Send for Ud {}
    unsafe impl Sync for Ud {}
    let ud = Ud(user_data);
    let progress = Progress::new(|_, _| {
        let ud = &ud;
        let mut s = match shared.lock() {
            Ok(s) => s,
            Err(_) => return false,
        };
        if let (Some(r), Some(cb)) = (s.fresh.take(), f) {
            // SAFETY: the caller gave a callback that takes these arguments.
            let verdict = unsafe {
                cb(
                    u32::try_from(r.epoch).unwrap_or(u32::MAX),
                    u32::try_from(r.epochs).unwrap_or(u32::MAX),
                    r.loss,
                    r.val_iou,
                    ud.0,
                )
            };
            s.cancelled |= verdict != 0;
        }
        !s.cancelled
    });
    let mut on_epoch = |r: &EpochReport| {
        if let Ok(mut s) = shared.lock() {
            s.fresh = Some(*r);
        }
    };
    run(&progress, &mut on_epoch)
}

/// Whether this build has the U-Net: 1 with the `torch` feature, 0 without
/// (every model function then returns `INFOCUS_ERR_UNSUPPORTED`).
#[unsafe(no_mangle)]
pub extern "C" fn infocus_unet_available() -> i32 {
    i32::from(unet::AVAILABLE)
}

/// The CPU default architecture: depth 3, 8 base channels, batch norm,
/// 3 context pairs, the focus profile, the preset's guide.
#[unsafe(no_mangle)]
pub extern "C" fn infocus_unet_config_default() -> InfocusUnetConfig {
    panic::guard(|| config_to_c(UnetConfig::default()))
}

/// The paper's architecture: depth 3, 16 base channels, instance norm,
/// no context, no profile, no guide (the slice alone).
#[unsafe(no_mangle)]
pub extern "C" fn infocus_unet_config_paper() -> InfocusUnetConfig {
    panic::guard(|| config_to_c(UnetConfig::paper()))
}

/// Training on weak labels of the default preset: the paper's loss weights,
/// lr 1e-3, batch 8, crops of 128, up to 100 epochs, patience 15.
#[unsafe(no_mangle)]
pub extern "C" fn infocus_train_params_default() -> InfocusTrainParams {
    panic::guard(|| train_params_to_c(&TrainParams::default()))
}

/// Fine-tuning: the paper's fine-tuning loss weights, lr 1e-4, batch 4, up
/// to 50 epochs, patience 10.
#[unsafe(no_mangle)]
pub extern "C" fn infocus_finetune_params_default() -> InfocusTrainParams {
    panic::guard(|| train_params_to_c(&TrainParams::finetuning()))
}

/// Threshold 0.5, tiles of at most 256 overlapping by at least 32, 2 per
/// pass, each averaged over its mirror images.
#[unsafe(no_mangle)]
pub extern "C" fn infocus_predict_params_default() -> InfocusPredictParams {
    panic::guard(|| {
        let p = PredictParams::default();
        InfocusPredictParams {
            threshold: p.threshold,
            tile: u32::try_from(p.tile).expect("small"),
            overlap: u32::try_from(p.overlap).expect("small"),
            batch: u32::try_from(p.batch).expect("small"),
            flips: i32::from(p.flips),
        }
    })
}

/// A freshly initialised model.
///
/// - `config`: start from `infocus_unet_config_default()`.
/// - `device`: "cpu", "cuda", "cuda:N" or "auto"; NULL means "auto" (CUDA
///   when available). `infocus_model_device` tells which was used.
/// - `seed`: the initial weights; the same seed gives the same weights.
/// - `out`: receives the model on success (free it with `infocus_model_free`).
///
/// Returns `INFOCUS_OK`, or `INFOCUS_ERR_UNSUPPORTED` (built without torch,
/// or CUDA asked for where there is none), `INFOCUS_ERR_NULL` (config or
/// out), `INFOCUS_ERR_INVALID` (a bad configuration or device),
/// `INFOCUS_ERR_TORCH`, `INFOCUS_ERR_PANIC`.
///
/// # Safety
/// `config` points to a config, `device` is NULL or a NUL-terminated string,
/// `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn infocus_model_new(
    config: *const InfocusUnetConfig,
    device: *const c_char,
    seed: u64,
    out: *mut *mut InfocusModel,
) -> i32 {
    panic::status(|| {
        unsupported()?;
        args::non_null(out, "out")?;
        // SAFETY: the caller vouches for the pointers.
        let (c, d) = unsafe {
            (
                to_config(args::deref(config, "config")?)?,
                to_device(device)?,
            )
        };
        let model = Model::new(c, d, seed)?;
        // SAFETY: not NULL; the caller vouches it is writable.
        unsafe { out.write(register(model)) };
        Ok(())
    })
}

/// Reads a model file. A truncated, corrupt or foreign file gives
/// `INFOCUS_ERR_IO` with a message naming the file and the problem.
///
/// - `path`: the file (UTF-8, NUL-terminated).
/// - `device`: as for `infocus_model_new`.
/// - `out`: receives the model on success.
///
/// Returns `INFOCUS_OK`, or `INFOCUS_ERR_UNSUPPORTED`, `INFOCUS_ERR_NULL`
/// (path or out), `INFOCUS_ERR_INVALID` (a bad device or a path that is not
/// UTF-8), `INFOCUS_ERR_IO` (unreadable, not an infocus model, damaged),
/// `INFOCUS_ERR_TORCH`, `INFOCUS_ERR_PANIC`.
///
/// # Safety
/// `path` (and `device` when not NULL) are NUL-terminated strings; `out`
/// points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn infocus_model_load(
    path: *const c_char,
    device: *const c_char,
    out: *mut *mut InfocusModel,
) -> i32 {
    panic::status(|| {
        unsupported()?;
        args::non_null(out, "out")?;
        // SAFETY: the caller vouches for the strings.
        let (path, d) = unsafe { (PathBuf::from(text(path, "path")?), to_device(device)?) };
        let model = Model::load(&path, d)?;
        // SAFETY: not NULL; the caller vouches it is writable.
        unsafe { out.write(register(model)) };
        Ok(())
    })
}

/// Writes a model file (safetensors), atomically: on any failure an
/// existing file at `path` is left as it was.
///
/// Returns `INFOCUS_OK`, or `INFOCUS_ERR_UNSUPPORTED`, `INFOCUS_ERR_NULL`
/// (model or path), `INFOCUS_ERR_INVALID` (path not UTF-8, or a model that
/// is not live: freed, or never made by infocus),
/// `INFOCUS_ERR_IO`, `INFOCUS_ERR_TORCH`, `INFOCUS_ERR_PANIC`.
///
/// # Safety
/// No other thread frees the model during the call; `path` is a
/// NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn infocus_model_save(
    model: *const InfocusModel,
    path: *const c_char,
) -> i32 {
    panic::status(|| {
        unsupported()?;
        live(model)?;
        // SAFETY: live, so a model made here; the caller vouches for the path.
        let (m, path) = unsafe {
            (
                args::deref(model, "model")?,
                PathBuf::from(text(path, "path")?),
            )
        };
        m.model.save(&path)?;
        Ok(())
    })
}

/// Releases a model. NULL is a no-op, and so is a handle that is not live
/// (already freed, or never a model): a double free is ignored, not a crash.
///
/// # Safety
/// `model` is NULL or a pointer; no other thread uses the model during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn infocus_model_free(model: *mut InfocusModel) {
    panic::guard(|| {
        if !model.is_null() && live_set().remove(&(model as usize)) {
            // SAFETY: it was live, so it came from Box::into_raw in `register`.
            drop(unsafe { Box::from_raw(model) });
        }
    })
}

/// The device the model computes on ("cpu", "cuda:0"); "" for NULL or a
/// handle that is not live. The string lives as long as the model.
///
/// # Safety
/// No other thread frees the model during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn infocus_model_device(model: *const InfocusModel) -> *const c_char {
    panic::guard(|| {
        if live(model).is_err() {
            c"".as_ptr()
        } else {
            // SAFETY: live, so a model made here.
            unsafe { &*model }.device.as_ptr()
        }
    })
}

/// The model's architecture, into `out`.
///
/// Returns `INFOCUS_OK`, or `INFOCUS_ERR_UNSUPPORTED`, `INFOCUS_ERR_NULL`
/// (model or out), `INFOCUS_ERR_INVALID` (a model that is not live: freed,
/// or never made by infocus), `INFOCUS_ERR_PANIC`.
///
/// # Safety
/// No other thread frees the model during the call; `out` points to a
/// writable config.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn infocus_model_config(
    model: *const InfocusModel,
    out: *mut InfocusUnetConfig,
) -> i32 {
    panic::status(|| {
        unsupported()?;
        args::non_null(out, "out")?;
        live(model)?;
        // SAFETY: live, so a model made here.
        let m = unsafe { args::deref(model, "model")? };
        // SAFETY: not NULL; the caller vouches it is writable.
        unsafe { out.write(config_to_c(m.model.config())) };
        Ok(())
    })
}

/// Trains `model` on the weak labels that `params->preset` makes for each
/// stack; on success the model holds the weights of the best epoch, on any
/// failure (or a cancel) it is unchanged.
///
/// - `stacks`: `n_stacks` pointers, each to `z * h * w` pixels of
///   `pixel_type` (all stacks share these dimensions).
/// - `params`: start from `infocus_train_params_default()`.
/// - `progress`, `user_data`: optional; called after every epoch.
///
/// Returns `INFOCUS_OK`, or `INFOCUS_ERR_UNSUPPORTED`, `INFOCUS_ERR_NULL`
/// (model, stacks, a stack, params), `INFOCUS_ERR_INVALID` (a model that is
/// not live, dimensions,
/// pixel type, preset, a bad training parameter, NaN in a float stack),
/// `INFOCUS_ERR_CANCELLED`, `INFOCUS_ERR_TORCH`, `INFOCUS_ERR_PANIC`.
///
/// # Safety
/// `model` is a live model used by no other thread during the call; every
/// pointer points to as many readable elements as the dimensions say.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn infocus_unet_train(
    model: *mut InfocusModel,
    stacks: *const *const c_void,
    n_stacks: usize,
    pixel_type: i32,
    z: usize,
    h: usize,
    w: usize,
    params: *const InfocusTrainParams,
    progress: infocus_epoch_fn,
    user_data: *mut c_void,
) -> i32 {
    panic::status(|| {
        unsupported()?;
        live(model)?;
        args::non_null(params, "params")?;
        let pixel_type = args::pixel_type(pixel_type)?;
        let d = Dims::new(z, h, w)?;
        // SAFETY: the caller vouches for the pointers and sizes.
        let (p, ptrs) = unsafe {
            (
                args::deref(params, "params")?,
                pointers(stacks, n_stacks, "stacks")?,
            )
        };
        let preset = args::preset(p.preset)?;
        let tp = train_params(p);
        let views = ptrs
            .iter()
            // SAFETY: as above.
            .map(|&s| unsafe { args::stack(s, pixel_type, d) })
            .collect::<Result<Vec<StackView>, Failure>>()?;
        let seg = SegmentParams::new(preset);
        let labels = views
            .iter()
            .map(|&v| unet::weak_labels(v, &seg, &Progress::none()))
            .collect::<crate::Result<Vec<_>>>()?;
        let data: Vec<unet::Labelled> = views
            .iter()
            .zip(&labels)
            .map(|(&image, l)| unet::Labelled {
                image,
                mask: l.view(),
                slices: None,
                source: unet::describe_labels(&seg),
            })
            .collect();
        // SAFETY: not NULL; the caller vouches for a live, unshared model.
        let m = unsafe { &mut *model };
        let trained = with_epoch_callback(progress, user_data, |pr, e| {
            unet::train(&m.model, &data, &tp, pr, e)
        })?;
        *m = *handle(trained.model);
        Ok(())
    })
}

/// Fine-tunes `model` on manual masks; on success the model holds the
/// fine-tuned weights, on any failure (or a cancel) it is unchanged.
///
/// - `stacks`, `masks`: `n_stacks` pointers each; stack `i` has `z * h * w`
///   pixels of `pixel_type`, its mask as many bytes (nonzero = in focus).
/// - `annotated`: NULL (the slices with any nonzero mask pixel count), or
///   `annotated_len = n_stacks * z` flags, stack-major: nonzero = slice `k`
///   of stack `i` (flag `i * z + k`) is annotated and counts in the loss.
/// - `params`: start from `infocus_finetune_params_default()`.
/// - `progress`, `user_data`: optional; called after every epoch.
///
/// Returns as `infocus_unet_train`, plus `INFOCUS_ERR_INVALID` for a wrong
/// `annotated_len` or no annotated slice at all.
///
/// # Safety
/// As `infocus_unet_train`; `annotated`, when not NULL, points to
/// `annotated_len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn infocus_unet_finetune(
    model: *mut InfocusModel,
    stacks: *const *const c_void,
    masks: *const *const u8,
    n_stacks: usize,
    pixel_type: i32,
    z: usize,
    h: usize,
    w: usize,
    annotated: *const u8,
    annotated_len: usize,
    params: *const InfocusTrainParams,
    progress: infocus_epoch_fn,
    user_data: *mut c_void,
) -> i32 {
    panic::status(|| {
        unsupported()?;
        live(model)?;
        args::non_null(params, "params")?;
        let pixel_type = args::pixel_type(pixel_type)?;
        let d = Dims::new(z, h, w)?;
        // SAFETY: the caller vouches for the pointers and sizes.
        let (p, sp, mp) = unsafe {
            (
                args::deref(params, "params")?,
                pointers(stacks, n_stacks, "stacks")?,
                pointers(masks, n_stacks, "masks")?,
            )
        };
        let tp = train_params(p);
        let slices = if annotated.is_null() {
            None
        } else {
            let n = n_stacks
                .checked_mul(z)
                .ok_or_else(|| Failure::from(Error::invalid("n_stacks * z overflows size_t")))?;
            args::length(annotated_len, n, "annotated", "n_stacks * z flags")?;
            // SAFETY: the caller vouches for annotated_len bytes.
            let flags = unsafe { args::slice(annotated, n, "annotated")? };
            Some(
                flags
                    .chunks(z)
                    .map(|c| {
                        c.iter()
                            .enumerate()
                            .filter(|(_, f)| **f != 0)
                            .map(|(k, _)| k)
                            .collect()
                    })
                    .collect::<Vec<Vec<usize>>>(),
            )
        };
        // SAFETY: as above.
        let views = sp
            .iter()
            .map(|&s| unsafe { args::stack(s, pixel_type, d) })
            .collect::<Result<Vec<StackView>, Failure>>()?;
        // SAFETY: as above.
        let mviews = mp
            .iter()
            .enumerate()
            .map(|(i, &m)| unsafe { args::view3(m, d, &format!("masks[{i}]")) })
            .collect::<Result<Vec<ArrayView3<u8>>, Failure>>()?;
        // SAFETY: not NULL; the caller vouches for a live, unshared model.
        let m = unsafe { &mut *model };
        let trained = with_epoch_callback(progress, user_data, |pr, e| {
            unet::finetune(&m.model, &views, &mviews, slices.as_deref(), &tp, pr, e)
        })?;
        *m = *handle(trained.model);
        Ok(())
    })
}

/// Predicts the in-focus pixels of every slice of a stack.
///
/// - `stack`: `z * h * w` pixels of `pixel_type`; any size.
/// - `params`: start from `infocus_predict_params_default()`.
/// - `out_mask`: `mask_len` bytes, 0 or 255; `mask_len` must be `z * h * w`.
/// - `out_prob`: optional (NULL: not written, `prob_len` ignored): the
///   probabilities, `prob_len` must be `z * h * w`.
/// - `progress`, `user_data`: optional; one unit per finished slice.
///
/// Returns `INFOCUS_OK`, or `INFOCUS_ERR_UNSUPPORTED`, `INFOCUS_ERR_NULL`
/// (model, stack, params, out_mask), `INFOCUS_ERR_INVALID` (a model that is
/// not live, dimensions,
/// lengths, pixel type, a bad parameter, NaN in a float stack),
/// `INFOCUS_ERR_CANCELLED`, `INFOCUS_ERR_TORCH`, `INFOCUS_ERR_PANIC`.
///
/// # Safety
/// `model` is a live model used by no other thread during the call; every
/// other pointer points to as many readable (outputs: writable) elements as
/// its dimensions or length say.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn infocus_unet_predict(
    model: *const InfocusModel,
    stack: *const c_void,
    pixel_type: i32,
    z: usize,
    h: usize,
    w: usize,
    params: *const InfocusPredictParams,
    out_mask: *mut u8,
    mask_len: usize,
    out_prob: *mut f32,
    prob_len: usize,
    progress: infocus_progress_fn,
    user_data: *mut c_void,
) -> i32 {
    panic::status(|| {
        unsupported()?;
        live(model)?;
        args::non_null(stack, "stack")?;
        args::non_null(params, "params")?;
        args::non_null(out_mask, "out_mask")?;
        let pixel_type = args::pixel_type(pixel_type)?;
        let d = Dims::new(z, h, w)?;
        let mask_out = Out::new(out_mask, mask_len, d.n, "out_mask", &a3(d, "mask"))?;
        let prob_out = Out::optional(
            out_prob,
            prob_len,
            d.n,
            "out_prob",
            &a3(d, "probability stack"),
        )?;
        // SAFETY: the caller vouches for the pointers and sizes.
        let (m, p, stack) = unsafe {
            (
                args::deref(model, "model")?,
                predict_params(args::deref(params, "params")?)?,
                args::stack(stack, pixel_type, d)?,
            )
        };
        let pred = m
            .model
            .predict(stack, &p, &progress_sink(progress, user_data))?;
        // SAFETY: the caller vouches for the out buffers' lengths.
        unsafe {
            mask_out.write(pred.mask.view())?;
            if let Some(o) = prob_out {
                o.write(pred.prob.view())?;
            }
        }
        Ok(())
    })
}

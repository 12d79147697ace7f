//! The JNI door for the Fiji plugin (`java/`): the static native methods of
//! the Java class `infocus.fiji.Native`.
//!
//! Like the C ABI (`ffi`), it only translates: Java arrays and strings become
//! the core's types, the core computes, and the core's [`Error`] becomes a
//! Java exception through the C door's one mapping to a status
//! ([`status_of`]), then [`exception_class`]. Dimensions, pixel types and
//! memory limits are checked by the C door's own checks (`ffi::args`).
//!
//! * A stack comes in as `Object[]`: ImageJ's own slice arrays (`byte[]`,
//!   `short[]` or `float[]`, one per slice, each `width * height` long), which
//!   are copied once into the contiguous Z x H x W buffer the core needs.
//!   Results go out the same way, as new slice arrays.
//! * Progress: an optional Java object with `boolean report(long done, long
//!   total)` (false cancels) and `void epoch(int, int, double, double)`. The
//!   core may report from worker threads; each report attaches its thread to
//!   the JVM for the call only.
//! * No state is kept between calls: U-Net models are loaded from and saved
//!   to files within one call.
//! * Every body runs inside `catch_unwind`: a panic becomes an exception,
//!   never a crash of the JVM.

use crate::error::Error;
use crate::ffi::args::{self, Dims};
use crate::ffi::status::{
    self, Failure, INFOCUS_ERR_CANCELLED, INFOCUS_ERR_INVALID, INFOCUS_ERR_IO, INFOCUS_ERR_NULL,
    INFOCUS_ERR_PANIC, INFOCUS_ERR_TORCH, INFOCUS_ERR_UNSUPPORTED,
};
use crate::limits::bytes_of;
use crate::map::MapParams;
use crate::progress::Progress;
use crate::segment::{Preset, SegmentParams};
use crate::stack::{PixelType, Stack, StackView};
use crate::threshold::Threshold;
use crate::unet::{
    self, DeviceSpec, EpochReport, Model, Norm, PredictParams, TrainParams, UnetConfig,
};
use jni::errors::ThrowRuntimeExAndDefault;
use jni::objects::{JClass, JObject, JObjectArray, JPrimitiveArray, JString};
use jni::refs::Global;
use jni::strings::JNIString;
use jni::sys::{jboolean, jdouble, jfloat, jint, jlong};
use jni::{Env, EnvUnowned, JValue, JavaVM, jni_sig, jni_str};
use ndarray::{Array3, ArrayView2, ArrayView3, Axis};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

/// Why a native call failed: the core's failure (a status and a message), or
/// JNI's own (then usually a Java exception is already pending).
enum Fail {
    Core(Failure),
    Jni(jni::errors::Error),
}

impl From<Failure> for Fail {
    fn from(f: Failure) -> Self {
        Fail::Core(f)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Core(e.into())
    }
}

impl From<jni::errors::Error> for Fail {
    fn from(e: jni::errors::Error) -> Self {
        Fail::Jni(e)
    }
}

type Res<T> = Result<T, Fail>;

fn invalid(msg: impl Into<String>) -> Fail {
    Error::invalid(msg).into()
}

/// The Java exception a status is thrown as. Only JDK classes, which every
/// class loader sees (the plugin's own classes may live in a loader that
/// JNI's class lookup does not search); `infocus.fiji.Native` turns them
/// back into an `InfocusException` carrying the status.
fn exception_class(status: i32) -> &'static jni::strings::JNIStr {
    match status {
        INFOCUS_ERR_NULL | INFOCUS_ERR_INVALID => jni_str!("java/lang/IllegalArgumentException"),
        INFOCUS_ERR_IO => jni_str!("java/io/IOException"),
        INFOCUS_ERR_UNSUPPORTED => jni_str!("java/lang/UnsupportedOperationException"),
        INFOCUS_ERR_CANCELLED => jni_str!("java/util/concurrent/CancellationException"),
        INFOCUS_ERR_TORCH => jni_str!("java/lang/ArithmeticException"),
        _ => jni_str!("java/lang/IllegalStateException"),
    }
}

fn throw(env: &mut Env, status: i32, message: &str) {
    if env.exception_check() {
        return; // a Java exception is already on its way
    }
    let message = if message.is_empty() {
        "unknown error"
    } else {
        message
    };
    // throw_new reports Err(JavaException) once the exception is pending.
    let _ = env.throw_new(exception_class(status), JNIString::new(message));
}

/// The one boundary every native method runs inside.
fn door<'l, T: Default>(
    unowned: &mut EnvUnowned<'l>,
    body: impl FnOnce(&mut Env<'l>) -> Res<T>,
) -> T {
    unowned
        .with_env(|env| -> jni::errors::Result<T> {
            let outcome = catch_unwind(AssertUnwindSafe(|| body(env)));
            match outcome {
                Ok(Ok(t)) => return Ok(t),
                Ok(Err(Fail::Core(f))) => throw(env, f.status, &f.message),
                Ok(Err(Fail::Jni(e))) => throw(env, INFOCUS_ERR_PANIC, &format!("JNI: {e}")),
                Err(payload) => {
                    let what = payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic without a message".into());
                    let e = Error::Internal(format!("panicked: {what}"));
                    throw(env, status::status_of(&e), &e.to_string());
                }
            }
            Ok(T::default())
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

// ---------------------------------------------------------------------------
// Java values in

fn text(env: &Env, s: &JString, what: &str) -> Res<String> {
    if s.is_null() {
        return Err(Failure::null(what).into());
    }
    Ok(s.try_to_string(env)?)
}

fn size(v: jint, what: &str) -> Res<usize> {
    usize::try_from(v).map_err(|_| invalid(format!("{what} must be at least 0, not {v}")))
}

/// A config/on/off choice from Java: -1 keeps `config`'s value, 0 is off,
/// 1 is on.
fn on_off(v: jint, config: bool, what: &str) -> Res<bool> {
    match v {
        -1 => Ok(config),
        0 | 1 => Ok(v == 1),
        v => Err(invalid(format!(
            "{what} must be -1 (the config's), 0 (off) or 1 (on), not {v}"
        ))),
    }
}

/// A Java pixel array type and the core's matching pixel type.
trait Pixels: Copy + Default + 'static {
    type Java: jni::objects::TypeArray + Copy + Default;
    const JAVA_NAME: &'static str;
    /// `obj` as this type's Java array (a checked cast).
    fn cast<'a>(
        env: &mut Env,
        obj: JObject<'a>,
    ) -> jni::errors::Result<JPrimitiveArray<'a, Self::Java>>;
}
impl Pixels for u8 {
    type Java = jni::sys::jbyte;
    const JAVA_NAME: &'static str = "byte[]";
    fn cast<'a>(
        env: &mut Env,
        obj: JObject<'a>,
    ) -> jni::errors::Result<JPrimitiveArray<'a, Self::Java>> {
        jni::objects::JByteArray::cast_local(env, obj)
    }
}
impl Pixels for u16 {
    type Java = jni::sys::jshort;
    const JAVA_NAME: &'static str = "short[]";
    fn cast<'a>(
        env: &mut Env,
        obj: JObject<'a>,
    ) -> jni::errors::Result<JPrimitiveArray<'a, Self::Java>> {
        jni::objects::JShortArray::cast_local(env, obj)
    }
}
impl Pixels for f32 {
    type Java = jfloat;
    const JAVA_NAME: &'static str = "float[]";
    fn cast<'a>(
        env: &mut Env,
        obj: JObject<'a>,
    ) -> jni::errors::Result<JPrimitiveArray<'a, Self::Java>> {
        jni::objects::JFloatArray::cast_local(env, obj)
    }
}

/// `buf` seen as the Java element type of the same size and layout.
fn as_java<T: Pixels>(buf: &mut [T]) -> &mut [T::Java] {
    assert_eq!(size_of::<T>(), size_of::<T::Java>());
    // SAFETY: u8/i8, u16/i16 and f32/f32 have the same size and alignment,
    // and every bit pattern is valid for both.
    unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast(), buf.len()) }
}

fn as_java_ref<T: Pixels>(buf: &[T]) -> &[T::Java] {
    assert_eq!(size_of::<T>(), size_of::<T::Java>());
    // SAFETY: as in `as_java`.
    unsafe { std::slice::from_raw_parts(buf.as_ptr().cast(), buf.len()) }
}

/// Copies slice arrays (`Object[]` of `T::Java[]`) into one Z x H x W array.
fn read_slices<T: Pixels>(
    env: &mut Env,
    slices: &JObjectArray,
    d: Dims,
    what: &str,
) -> Res<Array3<T>>
where
    for<'a> JPrimitiveArray<'a, T::Java>: jni::refs::Reference,
{
    args::memory(bytes_of(&[d.n], size_of::<T>()), &args::a3(d, what))?;
    let plane = d.plane();
    let mut buf = vec![T::default(); d.n];
    for (k, chunk) in buf.chunks_mut(plane).enumerate() {
        env.with_local_frame(4, |env| -> Res<()> {
            let obj = slices.get_element(env, k)?;
            if obj.is_null() {
                return Err(Failure::null(&format!("{what} slice {k}")).into());
            }
            let arr = T::cast(env, obj)
                .map_err(|_| invalid(format!("{what} slice {k} is not a {}", T::JAVA_NAME)))?;
            let len = arr.len(env)?;
            args::length(
                len,
                plane,
                &format!("{what} slice {k}"),
                &args::a2(d, "plane"),
            )?;
            arr.get_region(env, 0, as_java(chunk))?;
            Ok(())
        })?;
    }
    Ok(Array3::from_shape_vec((d.z, d.h, d.w), buf).expect("z * h * w elements"))
}

/// A stack given as ImageJ slices: `pixel_type` is `INFOCUS_PIXEL_*` (as in C).
fn read_stack(
    env: &mut Env,
    slices: &JObjectArray,
    pixel_type: jint,
    width: jint,
    height: jint,
    what: &str,
) -> Res<Stack> {
    if slices.is_null() {
        return Err(Failure::null(what).into());
    }
    let t = args::pixel_type(pixel_type)?;
    let d = Dims::new(
        slices.len(env)?,
        size(height, "height")?,
        size(width, "width")?,
    )?;
    Ok(match t {
        PixelType::U8 => Stack::U8(read_slices(env, slices, d, what)?),
        PixelType::U16 => Stack::U16(read_slices(env, slices, d, what)?),
        PixelType::F32 => Stack::F32(read_slices(env, slices, d, what)?),
    })
}

// ---------------------------------------------------------------------------
// Java values out

/// One slice as a new Java array.
fn plane_out<'l, T: Pixels>(env: &mut Env<'l>, p: ArrayView2<T>) -> Res<JObject<'l>>
where
    for<'a> JPrimitiveArray<'a, T::Java>: jni::refs::Reference,
{
    let v: Vec<T> = p.iter().copied().collect();
    let arr = JPrimitiveArray::<T::Java>::new(env, v.len())?;
    arr.set_region(env, 0, as_java_ref(&v))?;
    Ok(arr.into())
}

/// A Z x H x W array as `Object[]` of slice arrays.
fn slices_out<'l, T: Pixels>(env: &mut Env<'l>, a: ArrayView3<T>) -> Res<JObject<'l>>
where
    for<'a> JPrimitiveArray<'a, T::Java>: jni::refs::Reference,
{
    let out = JObjectArray::<JObject>::new(env, a.dim().0, JObject::null())?;
    for (k, s) in a.axis_iter(Axis(0)).enumerate() {
        let p = plane_out(env, s)?;
        out.set_element(env, k, &p)?;
        env.delete_local_ref(p);
    }
    Ok(out.into())
}

fn stack_out<'l>(env: &mut Env<'l>, s: StackView) -> Res<JObject<'l>> {
    match s {
        StackView::U8(a) => slices_out(env, a),
        StackView::U16(a) => slices_out(env, a),
        StackView::F32(a) => slices_out(env, a),
    }
}

/// `Object[]` of the given elements (null where `None`).
fn tuple_out<'l>(env: &mut Env<'l>, items: Vec<Option<JObject<'l>>>) -> Res<JObject<'l>> {
    let out = JObjectArray::<JObject>::new(env, items.len(), JObject::null())?;
    for (i, item) in items.into_iter().enumerate() {
        if let Some(o) = item {
            out.set_element(env, i, &o)?;
        }
    }
    Ok(out.into())
}

// ---------------------------------------------------------------------------
// Progress

/// Calls `report(done, total)` on the Java progress object, from any thread;
/// a Java exception in it is cleared and counts as a cancel.
fn report(cb: &Global<JObject<'static>>, done: u64, total: u64) -> bool {
    let Ok(vm) = JavaVM::singleton() else {
        return true;
    };
    vm.attach_current_thread_for_scope(|env| -> jni::errors::Result<bool> {
        let r = env.call_method(
            cb,
            jni_str!("report"),
            jni_sig!("(JJ)Z"),
            &[
                JValue::Long(i64::try_from(done).unwrap_or(i64::MAX)),
                JValue::Long(i64::try_from(total).unwrap_or(i64::MAX)),
            ],
        );
        match r.and_then(|v| v.z()) {
            Ok(go_on) => Ok(go_on),
            Err(_) => {
                env.exception_clear();
                Ok(false)
            }
        }
    })
    .unwrap_or(false)
}

/// Calls `epoch(epoch, epochs, loss, valIou)` on the Java progress object.
fn epoch(cb: &Global<JObject<'static>>, r: &EpochReport) {
    let Ok(vm) = JavaVM::singleton() else {
        return;
    };
    let _ = vm.attach_current_thread_for_scope(|env| -> jni::errors::Result<()> {
        let r = env.call_method(
            cb,
            jni_str!("epoch"),
            jni_sig!("(IIDD)V"),
            &[
                JValue::Int(i32::try_from(r.epoch).unwrap_or(i32::MAX)),
                JValue::Int(i32::try_from(r.epochs).unwrap_or(i32::MAX)),
                JValue::Double(r.loss),
                JValue::Double(r.val_iou),
            ],
        );
        if r.is_err() {
            env.exception_clear();
        }
        Ok(())
    });
}

/// The Java progress object (may be null) as a global reference.
fn callback(env: &Env, cb: &JObject) -> Res<Option<Global<JObject<'static>>>> {
    if cb.is_null() {
        Ok(None)
    } else {
        Ok(Some(env.new_global_ref(cb)?))
    }
}

/// Runs a training call (train or fine-tune) with the Java callback told of
/// every epoch, saves the model to `output` and gives its one-line summary.
fn train_and_save(
    cb: &Option<Global<JObject<'static>>>,
    output: &std::path::Path,
    run: impl FnOnce(&Progress, &mut dyn FnMut(&EpochReport)) -> crate::Result<unet::Trained>,
) -> Res<String> {
    let t0 = std::time::Instant::now();
    let mut on_epoch = |r: &EpochReport| {
        if let Some(g) = cb {
            epoch(g, r);
        }
    };
    let t = run(&progress_of(cb), &mut on_epoch)?;
    let line = t.summary(t0.elapsed().as_secs_f64());
    t.model.save(output)?;
    Ok(line)
}

fn progress_of<'a>(cb: &'a Option<Global<JObject<'static>>>) -> Progress<'a> {
    match cb {
        None => Progress::none(),
        Some(g) => Progress::new(move |done, total| report(g, done, total)),
    }
}

// ---------------------------------------------------------------------------
// Parameters

/// The rule method, as the CLI's flags and the Fiji dialogs give it: a
/// preset, the paper preset's map and the default preset's band (each used
/// by its own preset only).
#[allow(clippy::too_many_arguments)]
fn method(
    env: &Env,
    preset: &JString,
    measure: &JString,
    window: jint,
    strides: &JString,
    dof: jdouble,
    min_contrast: jdouble,
    radius: jint,
    smoothing: jint,
) -> Res<SegmentParams> {
    let preset: Preset = text(env, preset, "preset")?.parse()?;
    let mut p = SegmentParams::new(preset);
    match preset {
        Preset::Paper => {
            p.map = MapParams {
                measure: text(env, measure, "measure")?.parse()?,
                window: size(window, "window")?,
                strides: strides_of(&text(env, strides, "strides")?)?,
            };
            p.map.validate()?;
        }
        Preset::Default => {
            p.band.dof = (dof > 0.0 || dof.is_nan()).then_some(dof);
            p.band.min_contrast = min_contrast;
            p.band.radius = size(radius, "radius")?;
            p.band.smoothing = size(smoothing, "smoothing")?;
        }
    }
    p.band.validate()?;
    Ok(p)
}

/// "8,10,12" (spaces allowed).
fn strides_of(s: &str) -> Res<Vec<usize>> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<usize>().map_err(|_| {
                invalid(format!(
                    "strides must be whole numbers separated by commas, not '{s}'"
                ))
            })
        })
        .collect()
}

/// "preset" (the preset's own rule), "otsu-stack", "otsu-slice", or "fixed" with `level`.
fn threshold_of(s: &str, level: f32) -> Res<Option<Threshold>> {
    match s.trim() {
        "preset" | "" => Ok(None),
        "fixed" => Ok(Some(format!("{level}").parse()?)),
        other => Ok(Some(other.parse()?)),
    }
}

fn device_of(env: &Env, s: &JString) -> Res<DeviceSpec> {
    if s.is_null() {
        return Ok(DeviceSpec::Auto);
    }
    Ok(text(env, s, "device")?.parse()?)
}

/// libtorch's CPU threads; 0 leaves them as they are.
fn threads(n: jint) -> Res<()> {
    if n != 0 {
        unet::set_threads(size(n, "threads")?)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn train_params(
    env: &mut Env,
    mut p: TrainParams,
    epochs: jint,
    batch: jint,
    patch: jint,
    lr: jdouble,
    patience: jint,
    val_fraction: jdouble,
    seed: jlong,
    augment: jboolean,
    loss: &JObject,
) -> Res<TrainParams> {
    p.epochs = size(epochs, "epochs")?;
    p.batch = size(batch, "batch")?;
    p.patch = size(patch, "patch")?;
    p.learning_rate = lr;
    p.patience = size(patience, "patience")?;
    p.val_fraction = val_fraction;
    p.seed = seed as u64;
    p.augment = augment;
    if !loss.is_null() {
        let local = env.new_local_ref(loss)?;
        let arr = jni::objects::JDoubleArray::cast_local(env, local)
            .map_err(|_| invalid("loss must be a double[]"))?;
        let n = arr.len(env)?;
        if n != 3 {
            return Err(invalid(format!(
                "loss takes three weights DICE,FOCAL,BCE, not {n}"
            )));
        }
        let mut w = [0.0; 3];
        arr.get_region(env, 0, &mut w)?;
        p.loss.dice = w[0];
        p.loss.focal = w[1];
        p.loss.bce = w[2];
    }
    Ok(p)
}

/// Nonzero = in focus, as 0/255 (what the CLI reads as a mask).
fn mask_of(s: &Stack) -> Array3<u8> {
    let v = s.view();
    let (z, h, w) = v.dim();
    Array3::from_shape_fn((z, h, w), |(k, y, x)| {
        u8::from(v.get_f64(k, y, x) != 0.0) * 255
    })
}

// ---------------------------------------------------------------------------
// The native methods of infocus.fiji.Native

/// `String version()`: the library version.
#[unsafe(no_mangle)]
pub extern "system" fn Java_infocus_fiji_Native_version<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
) -> JString<'l> {
    door(&mut unowned, |env| Ok(JString::new(env, crate::VERSION)?))
}

/// `boolean unetAvailable()`: whether this build has the U-Net.
#[unsafe(no_mangle)]
pub extern "system" fn Java_infocus_fiji_Native_unetAvailable<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
) -> jboolean {
    door(&mut unowned, |_| Ok(unet::AVAILABLE))
}

/// `String defaults()`: every default the dialogs show, as macro options
/// ("key=value ..."), so that no default is written twice.
#[unsafe(no_mangle)]
pub extern "system" fn Java_infocus_fiji_Native_defaults<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
) -> JString<'l> {
    door(&mut unowned, |env| {
        let paper = MapParams::paper();
        let band = crate::segment::BandParams::default();
        let (t, f, p) = (
            TrainParams::default(),
            TrainParams::finetuning(),
            PredictParams::default(),
        );
        let c = UnetConfig::default();
        let strides: Vec<String> = paper.strides.iter().map(|s| s.to_string()).collect();
        let s = format!(
            "measure={} window={} strides={} min_contrast={} radius={} smoothing={} \
             unet_depth={} unet_base={} unet_norm={} unet_context={} unet_profile={} unet_guide={} \
             epochs={} batch={} patch={} lr={} patience={} validation={} \
             ft_epochs={} ft_batch={} ft_patch={} ft_lr={} ft_patience={} ft_validation={} \
             threshold={} tile={} overlap={}",
            paper.measure,
            paper.window,
            strides.join(","),
            band.min_contrast,
            band.radius,
            band.smoothing,
            c.depth,
            c.base_channels,
            c.norm.name(),
            c.context,
            if c.profile { "on" } else { "off" },
            if c.guide { "on" } else { "off" },
            t.epochs,
            t.batch,
            t.patch,
            t.learning_rate,
            t.patience,
            t.val_fraction,
            f.epochs,
            f.batch,
            f.patch,
            f.learning_rate,
            f.patience,
            f.val_fraction,
            p.threshold,
            p.tile,
            p.overlap
        );
        Ok(JString::new(env, s)?)
    })
}

/// `Object[] focusMap(Object[] slices, int pixelType, int width, int height,
/// String preset, String measure, int window, String strides, double dof,
/// double minContrast, int radius, int smoothing, Object progress)`: the
/// preset's focus-score stack (`float[]` slices), as `infocus focus-map`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_infocus_fiji_Native_focusMap<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    slices: JObjectArray<'l>,
    pixel_type: jint,
    width: jint,
    height: jint,
    preset: JString<'l>,
    measure: JString<'l>,
    window: jint,
    strides: JString<'l>,
    dof: jdouble,
    min_contrast: jdouble,
    radius: jint,
    smoothing: jint,
    progress: JObject<'l>,
) -> JObject<'l> {
    door(&mut unowned, |env| {
        let params = method(
            env,
            &preset,
            &measure,
            window,
            &strides,
            dof,
            min_contrast,
            radius,
            smoothing,
        )?;
        let stack = read_stack(env, &slices, pixel_type, width, height, "stack")?;
        let cb = callback(env, &progress)?;
        let map = crate::segment::preset_map(stack.view(), &params, &progress_of(&cb))?;
        args::finite_scores(map.view(), stack.view())?;
        slices_out(env, map.view())
    })
}

/// `Object[] segment(Object[] slices, int pixelType, int width, int height,
/// String preset, String measure, int window, String strides, double dof,
/// double minContrast, int radius, int smoothing, String threshold, float
/// level, boolean map, boolean inFocus, boolean depth, boolean allInFocus,
/// Object progress)`: `{mask, map, inFocus, depth, allInFocus}`, as
/// `infocus segment` writes them (`-o`, `--focus-map`, `--in-focus`,
/// `--depth`, `--all-in-focus`); the products not asked for are null.
/// Stacks are `Object[]` of slices; the depth map and the all-in-focus image
/// are single slice arrays.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_infocus_fiji_Native_segment<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    slices: JObjectArray<'l>,
    pixel_type: jint,
    width: jint,
    height: jint,
    preset: JString<'l>,
    measure: JString<'l>,
    window: jint,
    strides: JString<'l>,
    dof: jdouble,
    min_contrast: jdouble,
    radius: jint,
    smoothing: jint,
    threshold: JString<'l>,
    level: jfloat,
    want_map: jboolean,
    want_in_focus: jboolean,
    want_depth: jboolean,
    want_all_in_focus: jboolean,
    progress: JObject<'l>,
) -> JObject<'l> {
    door(&mut unowned, |env| {
        let mut params = method(
            env,
            &preset,
            &measure,
            window,
            &strides,
            dof,
            min_contrast,
            radius,
            smoothing,
        )?;
        params.threshold = threshold_of(&text(env, &threshold, "threshold")?, level)?;
        let stack = read_stack(env, &slices, pixel_type, width, height, "stack")?;
        if stack.dim().0 > usize::from(u16::MAX) + 1 {
            return Err(invalid(format!(
                "a segmentation needs 1 to 65536 slices, not {}",
                stack.dim().0
            )));
        }
        let cb = callback(env, &progress)?;
        let seg = crate::segment::segment(stack.view(), &params, &progress_of(&cb))?;
        args::finite_scores(seg.map.view(), stack.view())?;
        let mask = Some(slices_out(env, seg.mask.view())?);
        let map = if want_map {
            Some(slices_out(env, seg.map.view())?)
        } else {
            None
        };
        let in_focus = if want_in_focus {
            let s = crate::products::in_focus(stack.view(), seg.mask.view())?;
            Some(stack_out(env, s.view())?)
        } else {
            None
        };
        let depth = if want_depth {
            Some(plane_out(env, seg.depth.view())?)
        } else {
            None
        };
        let aif = if want_all_in_focus {
            let s = crate::products::all_in_focus(stack.view(), &seg.depth)?;
            let o = stack_out(env, s.view())?;
            let first = JObjectArray::<JObject>::cast_local(env, o)?.get_element(env, 0)?;
            Some(first)
        } else {
            None
        };
        tuple_out(env, vec![mask, map, in_focus, depth, aif])
    })
}

/// `String trainUnet(Object[] slices, int pixelType, int width, int height,
/// String preset, String config, int depth, int baseChannels, String norm,
/// int epochs, int batch, int patch, double lr, int patience, double
/// valFraction, long seed, boolean augment, double[] loss, String device,
/// int threads, String output, Object progress)`: trains a new U-Net on the
/// preset's weak labels and writes it to `output`, as `infocus train`
/// (`depth`/`baseChannels` 0 and `norm` "config" keep the configuration's).
/// Returns the summary line the CLI prints.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_infocus_fiji_Native_trainUnet<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    slices: JObjectArray<'l>,
    pixel_type: jint,
    width: jint,
    height: jint,
    preset: JString<'l>,
    config: JString<'l>,
    depth: jint,
    base_channels: jint,
    norm: JString<'l>,
    context: jint,
    profile: jint,
    guide: jint,
    epochs: jint,
    batch: jint,
    patch: jint,
    lr: jdouble,
    patience: jint,
    val_fraction: jdouble,
    seed: jlong,
    augment: jboolean,
    loss: JObject<'l>,
    device: JString<'l>,
    n_threads: jint,
    output: JString<'l>,
    progress: JObject<'l>,
) -> JString<'l> {
    door(&mut unowned, |env| {
        unet::require_torch()?;
        let preset: Preset = text(env, &preset, "preset")?.parse()?;
        let mut c = UnetConfig::preset(&text(env, &config, "config")?)?;
        if depth != 0 {
            c.depth = size(depth, "depth")?;
        }
        if base_channels != 0 {
            c.base_channels = size(base_channels, "base channels")?;
        }
        let norm = text(env, &norm, "norm")?;
        if norm.trim() != "config" {
            c.norm = norm.parse::<Norm>()?;
        }
        // -1 keeps the configuration's; 0 is a real choice (one slice).
        if context >= 0 {
            c.context = size(context, "Z context")?;
        }
        c.profile = on_off(profile, c.profile, "focus profile")?;
        c.guide = on_off(guide, c.guide, "preset guide")?;
        c.validate()?;
        let params = train_params(
            env,
            TrainParams::default(),
            epochs,
            batch,
            patch,
            lr,
            patience,
            val_fraction,
            seed,
            augment,
            &loss,
        )?;
        params.validate(c.multiple())?;
        let device = device_of(env, &device)?;
        let output = PathBuf::from(text(env, &output, "output")?);
        threads(n_threads)?;
        let stack = read_stack(env, &slices, pixel_type, width, height, "stack")?;
        let cb = callback(env, &progress)?;
        let model = Model::new(c, device, params.seed)?;
        let seg = SegmentParams::new(preset);
        let labels = unet::weak_labels(stack.view(), &seg, &Progress::none())?;
        let data = [unet::Labelled {
            image: stack.view(),
            mask: labels.view(),
            slices: None,
            source: unet::describe_labels(&seg),
        }];
        let line = train_and_save(&cb, &output, |pr, on_epoch| {
            unet::train(&model, &data, &params, pr, on_epoch)
        })?;
        Ok(JString::new(env, line)?)
    })
}

/// `String finetuneUnet(Object[] slices, int pixelType, Object[] masks, int
/// maskType, int width, int height, String model, String slicesList, boolean
/// freezeEncoder, int epochs, int batch, int patch, double lr, int patience,
/// double valFraction, long seed, boolean augment, double[] loss, String
/// device, int threads, String output, Object progress)`: fine-tunes the
/// model file on manual masks (nonzero = in focus) and writes the result to
/// `output`, as `infocus finetune`. `slicesList` "" takes the slices with
/// any nonzero mask pixel, else e.g. "0,5,9".
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_infocus_fiji_Native_finetuneUnet<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    slices: JObjectArray<'l>,
    pixel_type: jint,
    masks: JObjectArray<'l>,
    mask_type: jint,
    width: jint,
    height: jint,
    model: JString<'l>,
    slices_list: JString<'l>,
    freeze_encoder: jboolean,
    epochs: jint,
    batch: jint,
    patch: jint,
    lr: jdouble,
    patience: jint,
    val_fraction: jdouble,
    seed: jlong,
    augment: jboolean,
    loss: JObject<'l>,
    device: JString<'l>,
    n_threads: jint,
    output: JString<'l>,
    progress: JObject<'l>,
) -> JString<'l> {
    door(&mut unowned, |env| {
        unet::require_torch()?;
        let mut params = train_params(
            env,
            TrainParams::finetuning(),
            epochs,
            batch,
            patch,
            lr,
            patience,
            val_fraction,
            seed,
            augment,
            &loss,
        )?;
        params.freeze_encoder = freeze_encoder;
        let device = device_of(env, &device)?;
        let path = PathBuf::from(text(env, &model, "model")?);
        let output = PathBuf::from(text(env, &output, "output")?);
        let list = text(env, &slices_list, "slices")?;
        let annotated = if list.trim().is_empty() {
            None
        } else {
            Some(vec![strides_of(&list).map_err(|_| {
                invalid(format!(
                    "slices must be slice numbers separated by commas, e.g. 0,5,9, not '{list}'"
                ))
            })?])
        };
        threads(n_threads)?;
        let stack = read_stack(env, &slices, pixel_type, width, height, "stack")?;
        let mask = mask_of(&read_stack(env, &masks, mask_type, width, height, "masks")?);
        let m = Model::load(&path, device)?;
        let cb = callback(env, &progress)?;
        let line = train_and_save(&cb, &output, |pr, on_epoch| {
            unet::finetune(
                &m,
                &[stack.view()],
                &[mask.view()],
                annotated.as_deref(),
                &params,
                pr,
                on_epoch,
            )
        })?;
        Ok(JString::new(env, line)?)
    })
}

/// `Object[] predictUnet(Object[] slices, int pixelType, int width, int
/// height, String model, float threshold, int tile, int overlap, boolean
/// flips, String device, int threads, boolean prob, Object progress)`:
/// `{mask, prob}` (prob null unless asked for), as `infocus predict` writes
/// them (flips false: `--no-flips`, one pass per tile).
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_infocus_fiji_Native_predictUnet<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    slices: JObjectArray<'l>,
    pixel_type: jint,
    width: jint,
    height: jint,
    model: JString<'l>,
    threshold: jfloat,
    tile: jint,
    overlap: jint,
    flips: jboolean,
    device: JString<'l>,
    n_threads: jint,
    want_prob: jboolean,
    progress: JObject<'l>,
) -> JObject<'l> {
    door(&mut unowned, |env| {
        unet::require_torch()?;
        let p = PredictParams {
            threshold,
            tile: size(tile, "tile")?,
            overlap: size(overlap, "overlap")?,
            flips,
            ..PredictParams::default()
        };
        let device = device_of(env, &device)?;
        let path = PathBuf::from(text(env, &model, "model")?);
        threads(n_threads)?;
        let stack = read_stack(env, &slices, pixel_type, width, height, "stack")?;
        let m = Model::load(&path, device)?;
        let cb = callback(env, &progress)?;
        let pred = m.predict(stack.view(), &p, &progress_of(&cb))?;
        let mask = Some(slices_out(env, pred.mask.view())?);
        let prob = if want_prob {
            Some(slices_out(env, pred.prob.view())?)
        } else {
            None
        };
        tuple_out(env, vec![mask, prob])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_and_thresholds_parse_as_the_cli_does() {
        assert_eq!(strides_of("8, 10,12").ok(), Some(vec![8, 10, 12]));
        assert!(strides_of("8,x").is_err());
        assert_eq!(threshold_of("preset", 0.0).ok(), Some(None));
        assert_eq!(
            threshold_of("otsu-slice", 0.0).ok(),
            Some(Some(Threshold::OtsuSlice))
        );
        assert_eq!(
            threshold_of("fixed", 2.5).ok(),
            Some(Some(Threshold::Fixed(2.5)))
        );
        assert!(threshold_of("fixed", f32::NAN).is_err());
    }

    #[test]
    fn every_status_has_an_exception_class() {
        for s in [
            INFOCUS_ERR_NULL,
            INFOCUS_ERR_INVALID,
            INFOCUS_ERR_IO,
            INFOCUS_ERR_UNSUPPORTED,
            INFOCUS_ERR_CANCELLED,
            INFOCUS_ERR_TORCH,
            INFOCUS_ERR_PANIC,
        ] {
            assert!(exception_class(s).to_str().starts_with("java/"));
        }
    }
}

//! Checks on what C hands in, done before anything is computed: NULL
//! pointers, dimensions, buffer lengths and alignment, and the fallible
//! conversion of C integers to the core's enums (never a transmute).
//!
//! Views over caller memory are built only after every check passed, and
//! outputs are written only through [`Out::write`], after the computation
//! succeeded, from an array the library owns.

use super::status::Failure;
use crate::error::Error;
use crate::measure::Measure;
use crate::segment::Preset;
use crate::stack::{PixelType, Stack, StackView};
use crate::threshold::Threshold;
use ndarray::{ArrayView, ArrayView2, ArrayView3, Dimension};
use std::ffi::c_void;

/// `pixel_type` of an 8-bit unsigned stack (`uint8_t`).
pub const INFOCUS_PIXEL_U8: i32 = 0;
/// `pixel_type` of a 16-bit unsigned stack (`uint16_t`).
pub const INFOCUS_PIXEL_U16: i32 = 1;
/// `pixel_type` of a 32-bit float stack (`float`); every value must be finite.
pub const INFOCUS_PIXEL_F32: i32 = 2;

/// Brenner: sum of squared horizontal neighbour differences.
pub const INFOCUS_MEASURE_BRENNER: i32 = 0;
/// Tenengrad: sum of squared 3x3 Sobel gradient magnitudes.
pub const INFOCUS_MEASURE_TENENGRAD: i32 = 1;
/// Sum of absolute 1-D Laplacians, horizontal and vertical.
pub const INFOCUS_MEASURE_LAPLACIAN: i32 = 2;
/// Sum-modulus-difference.
pub const INFOCUS_MEASURE_SMD: i32 = 3;
/// Vollath's F4 autocorrelation.
pub const INFOCUS_MEASURE_VOLLATH: i32 = 4;
/// Population standard deviation of the window (the paper's measure).
pub const INFOCUS_MEASURE_STD: i32 = 5;
/// Population variance of the window.
pub const INFOCUS_MEASURE_VARIANCE: i32 = 6;
/// Entropy of the window's 256-bin histogram.
pub const INFOCUS_MEASURE_ENTROPY: i32 = 7;
/// One-level Haar wavelet: detail energy over approximation energy.
pub const INFOCUS_MEASURE_DWT: i32 = 8;

/// The paper's published pipeline: std map, window 128, strides 8..36, Otsu over the stack.
pub const INFOCUS_PRESET_PAPER: i32 = 0;
/// Depth from focus, specimen detection and a depth-of-field band.
pub const INFOCUS_PRESET_DEFAULT: i32 = 1;

/// The preset's own rule (paper: Otsu over the stack; default: the
/// depth-of-field band). `infocus_threshold_mask` reads it as OTSU_STACK.
pub const INFOCUS_THRESHOLD_PRESET: i32 = 0;
/// One Otsu level over the whole stack.
pub const INFOCUS_THRESHOLD_OTSU_STACK: i32 = 1;
/// One Otsu level per slice.
pub const INFOCUS_THRESHOLD_OTSU_SLICE: i32 = 2;
/// A fixed focus-score level: a pixel is in focus when its score is strictly above it.
pub const INFOCUS_THRESHOLD_FIXED: i32 = 3;

fn invalid(msg: String) -> Failure {
    Error::invalid(msg).into()
}

/// `pixel_type` as the core's enum.
pub(crate) fn pixel_type(v: i32) -> Result<PixelType, Failure> {
    match v {
        INFOCUS_PIXEL_U8 => Ok(PixelType::U8),
        INFOCUS_PIXEL_U16 => Ok(PixelType::U16),
        INFOCUS_PIXEL_F32 => Ok(PixelType::F32),
        _ => Err(invalid(format!(
            "unknown pixel type {v}; use INFOCUS_PIXEL_U8 (0), INFOCUS_PIXEL_U16 (1) or INFOCUS_PIXEL_F32 (2)"
        ))),
    }
}

/// Bytes of one pixel of a type.
pub(crate) fn pixel_bytes(t: PixelType) -> usize {
    match t {
        PixelType::U8 => 1,
        PixelType::U16 => 2,
        PixelType::F32 => 4,
    }
}

/// A measure number: its index in [`Measure::ALL`].
pub(crate) fn measure(v: i32) -> Result<Measure, Failure> {
    usize::try_from(v)
        .ok()
        .and_then(|i| Measure::ALL.get(i).copied())
        .ok_or_else(|| {
            let names: Vec<_> = Measure::ALL
                .iter()
                .enumerate()
                .map(|(i, m)| format!("{i} {m}"))
                .collect();
            invalid(format!(
                "unknown measure {v}; use one of: {}",
                names.join(", ")
            ))
        })
}

/// The C number of a measure (the inverse of [`measure`]).
pub(crate) fn measure_number(m: Measure) -> i32 {
    let i = Measure::ALL
        .iter()
        .position(|&x| x == m)
        .expect("every measure is in Measure::ALL");
    i32::try_from(i).expect("nine measures")
}

pub(crate) fn preset(v: i32) -> Result<Preset, Failure> {
    match v {
        INFOCUS_PRESET_PAPER => Ok(Preset::Paper),
        INFOCUS_PRESET_DEFAULT => Ok(Preset::Default),
        _ => Err(invalid(format!(
            "unknown preset {v}; use INFOCUS_PRESET_PAPER (0) or INFOCUS_PRESET_DEFAULT (1)"
        ))),
    }
}

pub(crate) fn preset_number(p: Preset) -> i32 {
    match p {
        Preset::Paper => INFOCUS_PRESET_PAPER,
        Preset::Default => INFOCUS_PRESET_DEFAULT,
    }
}

/// A threshold rule; `None` for `INFOCUS_THRESHOLD_PRESET`. `value` is read
/// only by `INFOCUS_THRESHOLD_FIXED` and must then be finite.
pub(crate) fn threshold(v: i32, value: f32) -> Result<Option<Threshold>, Failure> {
    match v {
        INFOCUS_THRESHOLD_PRESET => Ok(None),
        INFOCUS_THRESHOLD_OTSU_STACK => Ok(Some(Threshold::OtsuStack)),
        INFOCUS_THRESHOLD_OTSU_SLICE => Ok(Some(Threshold::OtsuSlice)),
        INFOCUS_THRESHOLD_FIXED if value.is_finite() => Ok(Some(Threshold::Fixed(value))),
        INFOCUS_THRESHOLD_FIXED => Err(invalid(format!(
            "a fixed threshold must be a finite number, not {value}"
        ))),
        _ => Err(invalid(format!(
            "unknown threshold {v}; use INFOCUS_THRESHOLD_PRESET (0), _OTSU_STACK (1), _OTSU_SLICE (2) or _FIXED (3)"
        ))),
    }
}

/// Fails with `INFOCUS_ERR_NULL` when `p` is NULL; `what` names the argument.
pub(crate) fn non_null<T>(p: *const T, what: &str) -> Result<(), Failure> {
    if p.is_null() {
        Err(Failure::null(what))
    } else {
        Ok(())
    }
}

/// A struct passed by pointer, as a reference.
///
/// # Safety
/// `p`, when not NULL, points to a valid `T` that lives for `'a`.
pub(crate) unsafe fn deref<'a, T>(p: *const T, what: &str) -> Result<&'a T, Failure> {
    non_null(p, what)?;
    aligned(p, what)?;
    // SAFETY: non-NULL and aligned; the caller vouches for the rest.
    Ok(unsafe { &*p })
}

fn aligned<T>(p: *const T, what: &str) -> Result<(), Failure> {
    if p.is_aligned() {
        Ok(())
    } else {
        Err(invalid(format!(
            "{what} at {p:p} is not aligned to {} bytes as its element type needs",
            align_of::<T>()
        )))
    }
}

/// Checked stack dimensions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dims {
    pub z: usize,
    pub h: usize,
    pub w: usize,
    /// z * h * w, known not to overflow.
    pub n: usize,
}

impl Dims {
    /// Rejects a zero dimension and a z * h * w that overflows `size_t`.
    pub fn new(z: usize, h: usize, w: usize) -> Result<Self, Failure> {
        if z == 0 || h == 0 || w == 0 {
            return Err(invalid(format!(
                "dimensions {z} x {h} x {w} (z x h x w): every dimension must be at least 1"
            )));
        }
        let n = z
            .checked_mul(h)
            .and_then(|zh| zh.checked_mul(w))
            .ok_or_else(|| {
                invalid(format!(
                    "dimensions {z} x {h} x {w} (z x h x w) overflow size_t"
                ))
            })?;
        Ok(Dims { z, h, w, n })
    }

    /// h * w: the element count of one slice (a depth map, an all-in-focus image).
    pub fn plane(&self) -> usize {
        self.h * self.w
    }

    fn shape(&self) -> String {
        format!("{} x {} x {}", self.z, self.h, self.w)
    }
}

/// Rejects `n` elements of `T` that no buffer can hold (over `PTRDIFF_MAX` bytes).
fn fits<T>(n: usize, what: &str) -> Result<(), Failure> {
    match n.checked_mul(size_of::<T>()) {
        Some(bytes) if isize::try_from(bytes).is_ok() => Ok(()),
        _ => Err(invalid(format!(
            "{what} would need {n} elements of {} bytes, more than any buffer can hold",
            size_of::<T>()
        ))),
    }
}

/// Rejects a buffer length (in elements) other than the one required.
pub(crate) fn length(len: usize, required: usize, what: &str, of: &str) -> Result<(), Failure> {
    if len == required {
        Ok(())
    } else {
        Err(invalid(format!(
            "{what} has {len} elements but {of} needs exactly {required}"
        )))
    }
}

/// A Z x H x W view over caller memory, after checking it.
///
/// # Safety
/// `p`, when not NULL, points to `d.n` readable, initialised `T`s that are not
/// written while the view lives (`'a`).
pub(crate) unsafe fn view3<'a, T>(
    p: *const T,
    d: Dims,
    what: &str,
) -> Result<ArrayView3<'a, T>, Failure> {
    non_null(p, what)?;
    fits::<T>(d.n, what)?;
    aligned(p, what)?;
    // SAFETY: non-NULL, aligned, the span fits in isize, and the caller
    // vouches that d.n elements are readable; the shape is C-contiguous.
    Ok(unsafe { ArrayView3::from_shape_ptr((d.z, d.h, d.w), p) })
}

/// A slice of `n` elements of caller memory, after checking it.
///
/// # Safety
/// As [`view3`], for `n` elements.
pub(crate) unsafe fn slice<'a, T>(p: *const T, n: usize, what: &str) -> Result<&'a [T], Failure> {
    non_null(p, what)?;
    fits::<T>(n, what)?;
    aligned(p, what)?;
    // SAFETY: non-NULL, aligned, the span fits in isize; the caller vouches
    // for n readable elements.
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

/// An H x W view over caller memory, after checking it.
///
/// # Safety
/// As [`view3`], for `h * w` elements.
pub(crate) unsafe fn view2<'a, T>(
    p: *const T,
    d: Dims,
    what: &str,
) -> Result<ArrayView2<'a, T>, Failure> {
    non_null(p, what)?;
    fits::<T>(d.plane(), what)?;
    aligned(p, what)?;
    // SAFETY: as in view3.
    Ok(unsafe { ArrayView2::from_shape_ptr((d.h, d.w), p) })
}

/// A stack of `pixel_type` over caller memory.
///
/// # Safety
/// As [`view3`], for `d.n` pixels of the type `pixel_type` names.
pub(crate) unsafe fn stack<'a>(
    p: *const c_void,
    pixel_type: PixelType,
    d: Dims,
) -> Result<StackView<'a>, Failure> {
    // SAFETY: forwarded from the caller.
    unsafe {
        Ok(match pixel_type {
            PixelType::U8 => StackView::U8(view3(p.cast::<u8>(), d, "stack")?),
            PixelType::U16 => StackView::U16(view3(p.cast::<u16>(), d, "stack")?),
            PixelType::F32 => StackView::F32(view3(p.cast::<f32>(), d, "stack")?),
        })
    }
}

/// A checked output buffer of exactly `len` `T`s. Nothing is written to it
/// until [`Out::write`], and no Rust reference to it is ever made, so it may
/// even be the memory of an input.
pub(crate) struct Out<T> {
    ptr: *mut T,
    len: usize,
}

impl<T: Copy> Out<T> {
    /// Checks a required output: not NULL, aligned, `len == required`.
    pub fn new(
        ptr: *mut T,
        len: usize,
        required: usize,
        what: &str,
        of: &str,
    ) -> Result<Self, Failure> {
        non_null(ptr, what)?;
        Self::optional(ptr, len, required, what, of).map(|o| o.expect("not NULL"))
    }

    /// Checks an optional output: `None` when NULL (its length is then ignored).
    pub fn optional(
        ptr: *mut T,
        len: usize,
        required: usize,
        what: &str,
        of: &str,
    ) -> Result<Option<Self>, Failure> {
        if ptr.is_null() {
            return Ok(None);
        }
        aligned(ptr.cast_const(), what)?;
        length(len, required, what, of)?;
        fits::<T>(len, what)?;
        Ok(Some(Out { ptr, len }))
    }

    /// Copies `src`, in logical (C) order, into the buffer.
    ///
    /// # Safety
    /// The buffer the caller gave is writable for `len` elements.
    pub unsafe fn write<D: Dimension>(self, src: ArrayView<T, D>) -> Result<(), Failure> {
        if src.len() != self.len {
            return Err(Error::Internal(format!(
                "{} results for a buffer of {}",
                src.len(),
                self.len
            ))
            .into());
        }
        // SAFETY: `src` is library-owned, so it never overlaps the caller's
        // buffer, which the caller vouches is writable for `len` elements.
        unsafe {
            match src.as_slice() {
                Some(s) => std::ptr::copy_nonoverlapping(s.as_ptr(), self.ptr, self.len),
                None => src
                    .iter()
                    .enumerate()
                    .for_each(|(i, &v)| self.ptr.add(i).write(v)),
            }
        }
        Ok(())
    }
}

/// A checked output buffer for a stack of a given pixel type.
pub(crate) enum OutStack {
    U8(Out<u8>),
    U16(Out<u16>),
    F32(Out<f32>),
}

impl OutStack {
    pub fn new(
        ptr: *mut c_void,
        pixel_type: PixelType,
        len: usize,
        required: usize,
        of: &str,
    ) -> Result<Self, Failure> {
        const WHAT: &str = "out";
        Ok(match pixel_type {
            PixelType::U8 => OutStack::U8(Out::new(ptr.cast(), len, required, WHAT, of)?),
            PixelType::U16 => OutStack::U16(Out::new(ptr.cast(), len, required, WHAT, of)?),
            PixelType::F32 => OutStack::F32(Out::new(ptr.cast(), len, required, WHAT, of)?),
        })
    }

    /// Copies a stack of the same pixel type into the buffer.
    ///
    /// # Safety
    /// As [`Out::write`].
    pub unsafe fn write(self, s: &Stack) -> Result<(), Failure> {
        // SAFETY: forwarded from the caller.
        unsafe {
            match (self, s) {
                (OutStack::U8(o), Stack::U8(a)) => o.write(a.view()),
                (OutStack::U16(o), Stack::U16(a)) => o.write(a.view()),
                (OutStack::F32(o), Stack::F32(a)) => o.write(a.view()),
                (_, s) => Err(Error::Internal(format!(
                    "a {} result for a buffer of another type",
                    s.pixel_type().name()
                ))
                .into()),
            }
        }
    }
}

/// Refuses a call whose results alone need more memory than this machine
/// can give, before the core allocates them (an allocation failure would
/// abort the caller's process). `bytes` is a lower bound of what the call
/// allocates; `what` names it for the message.
pub(crate) fn memory(bytes: u128, what: &str) -> Result<(), Failure> {
    crate::limits::check(bytes, what).map_err(invalid)
}

/// Rejects NaN and Inf in a float array, naming the first one's position.
pub(crate) fn finite(a: ArrayView3<f32>, what: &str) -> Result<(), Failure> {
    match a.indexed_iter().find(|(_, v)| !v.is_finite()) {
        None => Ok(()),
        Some(((z, y, x), v)) => Err(invalid(format!(
            "{what} has a non-finite value {v} at (z={z}, y={y}, x={x}); every float must be finite (replace NaN/Inf first)"
        ))),
    }
}

/// The focus scores of a call are 32-bit floats: a float stack with values
/// so large that a score overflows gives this error rather than a map of
/// infinities.
pub(crate) fn scores_overflow(stack: StackView) -> Failure {
    let (lo, hi) = stack.min_max();
    invalid(format!(
        "the focus scores of this float stack overflow 32-bit floats (its values reach {:e}); rescale the stack first (for example to 0..65535)",
        lo.abs().max(hi.abs())
    ))
}

/// Rejects a map with scores that overflowed (see [`scores_overflow`]).
pub(crate) fn finite_scores(map: ArrayView3<f32>, stack: StackView) -> Result<(), Failure> {
    if map.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(scores_overflow(stack))
    }
}

/// Describes a Z x H x W array for messages ("a 2 x 3 x 4 stack").
pub(crate) fn a3(d: Dims, what: &str) -> String {
    format!("a {} {what}", d.shape())
}

/// Describes the H x W plane of a stack for messages.
pub(crate) fn a2(d: Dims, what: &str) -> String {
    format!("the {} x {} {what}", d.h, d.w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::status::{INFOCUS_ERR_INVALID, INFOCUS_ERR_NULL};

    #[test]
    fn measure_numbers_follow_measure_all() {
        let named = [
            (INFOCUS_MEASURE_BRENNER, "brenner"),
            (INFOCUS_MEASURE_TENENGRAD, "tenengrad"),
            (INFOCUS_MEASURE_LAPLACIAN, "laplacian"),
            (INFOCUS_MEASURE_SMD, "smd"),
            (INFOCUS_MEASURE_VOLLATH, "vollath"),
            (INFOCUS_MEASURE_STD, "std"),
            (INFOCUS_MEASURE_VARIANCE, "variance"),
            (INFOCUS_MEASURE_ENTROPY, "entropy"),
            (INFOCUS_MEASURE_DWT, "dwt"),
        ];
        assert_eq!(named.len(), Measure::ALL.len());
        for (v, name) in named {
            let m = measure(v).unwrap();
            assert_eq!(m.name(), name);
            assert_eq!(measure_number(m), v);
        }
        for bad in [-1, 9, i32::MIN, i32::MAX] {
            assert_eq!(measure(bad).unwrap_err().status, INFOCUS_ERR_INVALID);
        }
    }

    #[test]
    fn enums_reject_unknown_numbers() {
        assert_eq!(pixel_type(INFOCUS_PIXEL_F32).unwrap(), PixelType::F32);
        assert!(pixel_type(3).is_err() && pixel_type(-1).is_err());
        for p in [Preset::Paper, Preset::Default] {
            assert_eq!(preset(preset_number(p)).unwrap(), p);
        }
        assert!(preset(2).is_err());
        assert_eq!(threshold(INFOCUS_THRESHOLD_PRESET, f32::NAN).unwrap(), None);
        assert_eq!(
            threshold(INFOCUS_THRESHOLD_FIXED, 2.5).unwrap(),
            Some(Threshold::Fixed(2.5))
        );
        assert!(threshold(INFOCUS_THRESHOLD_FIXED, f32::INFINITY).is_err());
        assert!(threshold(4, 0.0).is_err());
    }

    #[test]
    fn dims_reject_zero_and_overflow() {
        assert_eq!(Dims::new(2, 3, 4).unwrap().n, 24);
        assert_eq!(Dims::new(0, 3, 4).unwrap_err().status, INFOCUS_ERR_INVALID);
        assert_eq!(
            Dims::new(usize::MAX, 2, 1).unwrap_err().status,
            INFOCUS_ERR_INVALID
        );
        assert!(fits::<f32>(usize::MAX / 4, "x").is_err());
        assert!(fits::<u8>(isize::MAX as usize, "x").is_ok());
    }

    #[test]
    fn outputs_check_null_length_and_alignment() {
        let mut buf = [0u16; 8];
        let d = "out";
        assert_eq!(
            Out::<u16>::new(std::ptr::null_mut(), 8, 8, d, "x")
                .err()
                .unwrap()
                .status,
            INFOCUS_ERR_NULL
        );
        assert!(
            Out::optional(std::ptr::null_mut::<u16>(), 3, 8, d, "x")
                .unwrap()
                .is_none()
        );
        assert_eq!(
            Out::new(buf.as_mut_ptr(), 7, 8, d, "x")
                .err()
                .unwrap()
                .status,
            INFOCUS_ERR_INVALID
        );
        let odd = buf.as_mut_ptr().cast::<u8>().wrapping_add(1).cast::<u16>();
        assert_eq!(
            Out::new(odd, 4, 4, d, "x").err().unwrap().status,
            INFOCUS_ERR_INVALID
        );
        let src = ndarray::Array2::from_shape_fn((2, 4), |(y, x)| (10 * y + x) as u16);
        // A transposed view is not contiguous: the copy still goes in logical order.
        let t = src.t();
        unsafe {
            Out::new(buf.as_mut_ptr(), 8, 8, d, "x")
                .unwrap()
                .write(t)
                .unwrap()
        };
        assert_eq!(buf, [0, 10, 1, 11, 2, 12, 3, 13]);
    }
}

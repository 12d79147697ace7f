//! Focal stacks: Z x H x W arrays of u8, u16 or f32, one slice per focal plane.
//!
//! The core computes on views so that doors can lend caller-owned buffers
//! without copying. Float stacks must be finite: NaN and Inf are rejected up
//! front rather than silently poisoning every window they touch.

use crate::error::{Error, Result};
use ndarray::{Array2, Array3, ArrayView2, ArrayView3};

/// The pixel types a focal stack may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelType {
    U8,
    U16,
    F32,
}

impl PixelType {
    /// Whether every value is an integer (enables exact integer window sums).
    pub fn is_integer(self) -> bool {
        !matches!(self, PixelType::F32)
    }

    pub fn name(self) -> &'static str {
        match self {
            PixelType::U8 => "u8",
            PixelType::U16 => "u16",
            PixelType::F32 => "f32",
        }
    }
}

/// A borrowed focal stack.
#[derive(Clone, Copy, Debug)]
pub enum StackView<'a> {
    U8(ArrayView3<'a, u8>),
    U16(ArrayView3<'a, u16>),
    F32(ArrayView3<'a, f32>),
}

/// An owned focal stack, as read from a file or made by `synth`.
#[derive(Clone, Debug, PartialEq)]
pub enum Stack {
    U8(Array3<u8>),
    U16(Array3<u16>),
    F32(Array3<f32>),
}

impl Stack {
    pub fn view(&self) -> StackView<'_> {
        match self {
            Stack::U8(a) => StackView::U8(a.view()),
            Stack::U16(a) => StackView::U16(a.view()),
            Stack::F32(a) => StackView::F32(a.view()),
        }
    }

    pub fn dim(&self) -> (usize, usize, usize) {
        self.view().dim()
    }

    pub fn pixel_type(&self) -> PixelType {
        self.view().pixel_type()
    }
}

impl<'a> StackView<'a> {
    /// (Z, H, W).
    pub fn dim(&self) -> (usize, usize, usize) {
        match self {
            StackView::U8(a) => a.dim(),
            StackView::U16(a) => a.dim(),
            StackView::F32(a) => a.dim(),
        }
    }

    pub fn pixel_type(&self) -> PixelType {
        match self {
            StackView::U8(_) => PixelType::U8,
            StackView::U16(_) => PixelType::U16,
            StackView::F32(_) => PixelType::F32,
        }
    }

    /// Slice `z` as f64, the precision every measure computes in.
    pub fn slice_f64(&self, z: usize) -> Array2<f64> {
        match self {
            StackView::U8(a) => a.index_axis(ndarray::Axis(0), z).mapv(f64::from),
            StackView::U16(a) => a.index_axis(ndarray::Axis(0), z).mapv(f64::from),
            StackView::F32(a) => a.index_axis(ndarray::Axis(0), z).mapv(f64::from),
        }
    }

    /// Pixel (z, y, x) as f64.
    pub fn get_f64(&self, z: usize, y: usize, x: usize) -> f64 {
        match self {
            StackView::U8(a) => f64::from(a[[z, y, x]]),
            StackView::U16(a) => f64::from(a[[z, y, x]]),
            StackView::F32(a) => f64::from(a[[z, y, x]]),
        }
    }

    /// The whole stack as f32 (exact for u8 and u16).
    pub fn to_f32(&self) -> Array3<f32> {
        match self {
            StackView::U8(a) => a.mapv(f32::from),
            StackView::U16(a) => a.mapv(f32::from),
            StackView::F32(a) => a.to_owned(),
        }
    }

    /// Rejects stacks no computation can use: empty, or with non-finite floats.
    pub fn validate(&self) -> Result<()> {
        let (z, h, w) = self.dim();
        if z == 0 || h == 0 || w == 0 {
            return Err(Error::invalid(format!(
                "stack has shape {z} x {h} x {w}; every dimension must be at least 1"
            )));
        }
        if let StackView::F32(a) = self {
            if let Some((idx, v)) = a.indexed_iter().find(|(_, v)| !v.is_finite()) {
                return Err(Error::invalid(format!(
                    "stack has a non-finite value {v} at (z={}, y={}, x={}); replace NaN/Inf before computing focus",
                    idx.0, idx.1, idx.2
                )));
            }
        }
        Ok(())
    }

    /// (min, max) over the whole stack.
    pub fn min_max(&self) -> (f64, f64) {
        fn mm<T: Copy + Into<f64>>(a: &ArrayView3<T>) -> (f64, f64) {
            a.iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                    let v: f64 = v.into();
                    (lo.min(v), hi.max(v))
                })
        }
        match self {
            StackView::U8(a) => mm(a),
            StackView::U16(a) => mm(a),
            StackView::F32(a) => mm(a),
        }
    }
}

/// A 2-D single image, for products such as the depth map.
pub type Image<T> = Array2<T>;

/// Borrowed single image.
pub type ImageView<'a, T> = ArrayView2<'a, T>;

//! PNG output for pictures a person looks at (a depth map, an overlay of the
//! in-focus mask): every viewer opens PNG, and it is lossless, so the picture
//! shows exactly the computed values. Stacks go to TIFF instead.

use super::atomic::write_atomic;
use crate::error::{Error, Result};
use ndarray::{Array2, Array3};
use std::path::Path;

/// Writes an H x W grey image as an 8-bit PNG, atomically.
pub fn write_png_gray(path: &Path, image: &Array2<u8>) -> Result<()> {
    let (h, w) = image.dim();
    let data: Vec<u8> = image.iter().copied().collect();
    write_png(path, w, h, png::ColorType::Grayscale, &data)
}

/// Writes an H x W x 3 RGB image as an 8-bit PNG, atomically.
pub fn write_png_rgb(path: &Path, image: &Array3<u8>) -> Result<()> {
    let (h, w, c) = image.dim();
    if c != 3 {
        return Err(Error::invalid(format!(
            "an RGB image must be H x W x 3; this one is {h} x {w} x {c}"
        )));
    }
    let data: Vec<u8> = image.iter().copied().collect();
    write_png(path, w, h, png::ColorType::Rgb, &data)
}

fn write_png(path: &Path, w: usize, h: usize, color: png::ColorType, data: &[u8]) -> Result<()> {
    let too_big = || {
        Error::invalid(format!(
            "a PNG image must be between 1 x 1 and {m} x {m} pixels; this one is {w} x {h}",
            m = u32::MAX
        ))
    };
    if w == 0 || h == 0 {
        return Err(too_big());
    }
    let (w32, h32) = (
        u32::try_from(w).map_err(|_| too_big())?,
        u32::try_from(h).map_err(|_| too_big())?,
    );
    write_atomic(path, |out| {
        let png_err = |e: png::EncodingError| match e {
            png::EncodingError::IoError(e) => Error::io(path, e),
            other => Error::Internal(format!("PNG encoder: {other}")),
        };
        let mut enc = png::Encoder::new(out, w32, h32);
        enc.set_color(color);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(png_err)?;
        writer.write_image_data(data).map_err(png_err)?;
        writer.finish().map_err(png_err)
    })
}

//! Reading focal stacks from files and writing results back.
//!
//! This is the only module that touches file formats, so that everything
//! downstream computes on a [`Stack`] and never asks where it came from.
//! Readers are strict on purpose: a file that would need guessing (colour,
//! several channels, pages of different sizes) is refused with a message that
//! says which page is wrong and how, rather than turned silently into a stack
//! that is not what the person at the microscope recorded. Conversions happen
//! only when they lose nothing.
//!
//! Writers never leave a half-written file behind: they all go through
//! [`write_atomic`].

mod atomic;
pub mod npy;
pub mod png;
pub mod tiff;

pub use atomic::{
    Staged, cancel_pending_writes, remove_pending_temporaries, stage, write_atomic,
    writes_cancelled,
};
pub use npy::read_npy;
pub use png::{write_png_gray, write_png_rgb};
pub use tiff::{
    TiffPages, open_tiff_pages, read_tiff, read_tiff_hyperstack, stage_tiff, stage_tiff_pages,
    write_tiff,
};

use crate::error::{Error, Result};
use crate::stack::Stack;
use std::path::Path;

/// Physical size of a voxel, as far as the file says.
///
/// Files without calibration give the default: 1 x 1 x 1 "pixel". The unit
/// applies to all three sizes; micrometres are spelled "µm" whatever spelling
/// the file used ("um", "micron").
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    /// Width of a pixel (x).
    pub pixel_width: f64,
    /// Height of a pixel (y).
    pub pixel_height: f64,
    /// Distance between consecutive slices (z).
    pub z_spacing: f64,
    /// Unit of the three sizes above.
    pub unit: String,
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration {
            pixel_width: 1.0,
            pixel_height: 1.0,
            z_spacing: 1.0,
            unit: "pixel".to_string(),
        }
    }
}

/// Reads a focal stack, choosing the format from the file's extension.
///
/// `.tif`/`.tiff` are read as (ImageJ) TIFF stacks, `.npy` as NumPy arrays
/// (Z x H x W, or H x W for a single slice).
pub fn read_stack(path: &Path) -> Result<(Stack, Calibration)> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("tif" | "tiff") => read_tiff(path),
        Some("npy") => Ok((read_npy(path)?, Calibration::default())),
        _ => Err(Error::format(
            path,
            None,
            "unknown file type; infocus reads focal stacks from .tif/.tiff (multi-page or ImageJ TIFF) and .npy (NumPy) files",
        )),
    }
}

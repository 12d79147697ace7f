//! Segmentation presets: from a stack to its in-focus masks.
//!
//! * `paper` reproduces the published pipeline: the sliding-window std map
//!   (window 128, strides 8..36) thresholded by Otsu over the whole stack.
//! * `default` is ours, built from the physics of a focal stack (see
//!   [`band`]): every specimen pixel has a best-focus slice, it is in focus
//!   in the slices within the depth of field around it, and background
//!   without structure is in focus nowhere.

mod band;

pub use band::BandParams;
#[doc(hidden)]
pub use band::{Details, segment_details};

use crate::error::{Error, Result};
use crate::map::{MapParams, focus_map};
use crate::products::depth_map;
use crate::progress::Progress;
use crate::stack::StackView;
use crate::threshold::{Threshold, threshold_mask};
use ndarray::{Array2, Array3};
use std::str::FromStr;

/// A named recipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// The paper's published pipeline.
    Paper,
    /// Depth from focus, specimen detection and a depth-of-field band.
    Default,
}

impl Preset {
    pub fn name(self) -> &'static str {
        match self {
            Preset::Paper => "paper",
            Preset::Default => "default",
        }
    }
}

impl FromStr for Preset {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "paper" => Ok(Preset::Paper),
            "default" => Ok(Preset::Default),
            _ => Err(Error::invalid(format!(
                "unknown preset '{s}'; use paper or default"
            ))),
        }
    }
}

/// Everything `segment` needs. Start from [`SegmentParams::new`] and change
/// only what you need.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentParams {
    pub preset: Preset,
    /// The sliding-window map of the `paper` preset (ignored by `default`).
    pub map: MapParams,
    /// `None`: the preset's own rule (paper: Otsu over the stack; default:
    /// the depth-of-field band). `Some`: threshold the preset's focus map.
    pub threshold: Option<Threshold>,
    /// Parameters of the `default` preset.
    pub band: BandParams,
}

impl SegmentParams {
    pub fn new(preset: Preset) -> Self {
        SegmentParams {
            preset,
            map: MapParams::paper(),
            threshold: None,
            band: BandParams::default(),
        }
    }
}

/// The outputs of one segmentation.
#[derive(Clone, Debug)]
pub struct Segmentation {
    /// The preset's focus-score stack (f32, Z x H x W).
    pub map: Array3<f32>,
    /// In-focus masks, 0 or 255.
    pub mask: Array3<u8>,
    /// Best-focus slice per pixel.
    pub depth: Array2<u16>,
    /// The depth of field used, in slices (`default` preset only).
    pub dof: Option<f64>,
}

/// Refuses a stack whose results, at `bytes` per voxel, need more memory
/// than is available, before they are allocated (an allocation failure
/// would abort the process).
fn enough_memory(stack: StackView, bytes: usize, what: &str) -> Result<()> {
    let (z, h, w) = stack.dim();
    crate::limits::check(
        crate::limits::bytes_of(&[z, h, w], bytes),
        &format!("the {what} of a {z} x {h} x {w} stack"),
    )
    .map_err(Error::invalid)
}

/// The preset's focus-score stack alone.
pub fn preset_map(
    stack: StackView,
    params: &SegmentParams,
    progress: &Progress,
) -> Result<Array3<f32>> {
    enough_memory(stack, 4, "focus map")?;
    match params.preset {
        Preset::Paper => focus_map(stack, &params.map, progress),
        Preset::Default => band::focus_scores(stack, &params.band, progress),
    }
}

/// Segments the in-focus pixels of every slice.
pub fn segment(
    stack: StackView,
    params: &SegmentParams,
    progress: &Progress,
) -> Result<Segmentation> {
    // The map (f32) and the mask (u8), at least.
    enough_memory(stack, 5, "segmentation")?;
    match (params.preset, params.threshold) {
        (Preset::Default, None) => band::segment(stack, &params.band, progress),
        (preset, t) => {
            let map = preset_map(stack, params, progress)?;
            let mask = threshold_mask(map.view(), t.unwrap_or(Threshold::OtsuStack))?;
            let depth = depth_map(map.view())?;
            let dof = (preset == Preset::Default)
                .then_some(params.band.dof)
                .flatten();
            Ok(Segmentation {
                map,
                mask,
                depth,
                dof,
            })
        }
    }
}

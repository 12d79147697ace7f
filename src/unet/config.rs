//! The architecture of the U-Net: one `Copy` struct, with the paper's preset
//! and a smaller default for CPUs.
//!
//! # The network
//!
//! Input: one slice (1 channel), normalised per stack (see
//! [`super::data::Normalisation`]). For each of `depth` encoder levels `i`
//! (`c_i = base_channels * 2^i`): two 3x3 convolutions (padding 1) to `c_i`
//! channels, each followed by the normalisation and a ReLU, then a 2x2
//! max-pool. The bottleneck is the same block at `c_depth` channels. Each
//! decoder level `i` (from the deepest up): a 2x2 stride-2 transposed
//! convolution to `c_i` channels, concatenation with the encoder level's
//! output (the skip connection), and the two-convolution block at `c_i`.
//! A 1x1 convolution gives one logit per pixel; the probability of "in focus"
//! is its sigmoid. Slices must be multiples of `2^depth` on each side inside
//! the network; prediction tiles and pads to get there (never resizes).
//!
//! # How [`UnetConfig::paper`] maps to the paper
//!
//! The paper's text (Methods, "U-Net") describes a 7-layer symmetric U-Net
//! "C256-C128-C64-C32-DC64-DC128-DC256": 3 encoder levels, a bottleneck and 3
//! decoder levels, where the numbers read best as the feature maps' sizes for
//! a 256 x 256 input (256, 128, 64 in the encoder, 32 at the bottleneck). So
//! `paper()` has depth 3. The text gives no widths; its published code
//! (casus/deepfocus, `models/simple2DUnet_512.py`) starts at 16 channels and
//! doubles per level, which gives 16-32-64 and a 128-channel bottleneck here.
//! The code's instance normalisation (eps 1e-3, affine) is kept, applied after
//! every convolution of every block (the code has it in the encoder and one
//! decoder level only) and the output is a sigmoid, as in both. What is not
//! followed: the code's 5 levels with a 512-channel bottleneck (7.8 M
//! parameters), which contradicts the text and costs about 8x the compute.

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// What follows each 3x3 convolution, before its ReLU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Norm {
    /// Nothing (the convolution keeps its bias).
    None,
    /// Instance normalisation with a learned scale and shift per channel
    /// (eps 1e-3, as the paper's code): statistics of each slice (or tile) alone.
    Instance,
    /// Batch normalisation (running statistics, used in inference).
    Batch,
}

impl Norm {
    pub const ALL: [Norm; 3] = [Norm::None, Norm::Instance, Norm::Batch];

    /// The lowercase name used in model files and by every door.
    pub fn name(self) -> &'static str {
        match self {
            Norm::None => "none",
            Norm::Instance => "instance",
            Norm::Batch => "batch",
        }
    }
}

impl FromStr for Norm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let key = s.trim().to_ascii_lowercase();
        Norm::ALL
            .into_iter()
            .find(|n| n.name() == key)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown normalisation '{s}'; use none, instance or batch"
                ))
            })
    }
}

impl fmt::Display for Norm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The architecture of a U-Net (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UnetConfig {
    /// Encoder levels (each halves the resolution), 1 to [`UnetConfig::MAX_DEPTH`];
    /// the bottleneck comes after them, and as many decoder levels follow.
    pub depth: usize,
    /// Channels of the first level (doubled at every level), 1 to
    /// [`UnetConfig::MAX_BASE_CHANNELS`].
    pub base_channels: usize,
    pub norm: Norm,
}

impl UnetConfig {
    pub const MAX_DEPTH: usize = 6;
    pub const MAX_BASE_CHANNELS: usize = 256;

    /// The paper's architecture as its text describes it: 3 encoder levels
    /// (16, 32, 64 channels), a 128-channel bottleneck, 3 decoder levels,
    /// instance normalisation, sigmoid output.
    pub fn paper() -> Self {
        UnetConfig {
            depth: 3,
            base_channels: 16,
            norm: Norm::Instance,
        }
    }

    /// A preset by name: `paper` or `default`.
    pub fn preset(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "paper" => Ok(Self::paper()),
            "default" => Ok(Self::default()),
            _ => Err(Error::invalid(format!(
                "unknown U-Net configuration '{name}'; use paper or default"
            ))),
        }
    }

    /// Rejects architectures that cannot be built.
    pub fn validate(&self) -> Result<()> {
        if !(1..=Self::MAX_DEPTH).contains(&self.depth) {
            return Err(Error::invalid(format!(
                "U-Net depth must be 1 to {}, not {}",
                Self::MAX_DEPTH,
                self.depth
            )));
        }
        if !(1..=Self::MAX_BASE_CHANNELS).contains(&self.base_channels) {
            return Err(Error::invalid(format!(
                "U-Net base channels must be 1 to {}, not {}",
                Self::MAX_BASE_CHANNELS,
                self.base_channels
            )));
        }
        Ok(())
    }

    /// Slices are processed in multiples of this many pixels on each side.
    pub fn multiple(&self) -> usize {
        1 << self.depth
    }

    /// Channels at level `i` (`depth` is the bottleneck).
    pub fn channels(&self, level: usize) -> usize {
        self.base_channels << level
    }

    /// Number of learned parameters (weights, biases, norm scales and shifts).
    pub fn parameters(&self) -> usize {
        let conv = |cin: usize, cout: usize, k: usize, bias: bool| {
            cin * cout * k * k + if bias { cout } else { 0 }
        };
        // Normalised convolutions drop their bias (the norm's shift replaces it).
        let normed = self.norm != Norm::None;
        let norm = |c: usize| if normed { 2 * c } else { 0 };
        let block = |cin: usize, cout: usize| {
            conv(cin, cout, 3, !normed) + norm(cout) + conv(cout, cout, 3, !normed) + norm(cout)
        };
        let mut n = 0;
        let mut cin = 1;
        for i in 0..self.depth {
            n += block(cin, self.channels(i));
            cin = self.channels(i);
        }
        n += block(cin, self.channels(self.depth));
        for i in (0..self.depth).rev() {
            n += conv(self.channels(i + 1), self.channels(i), 2, true);
            n += block(2 * self.channels(i), self.channels(i));
        }
        n + conv(self.channels(0), 1, 1, true)
    }

    /// `{"depth":3,"base_channels":8,"norm":"instance","input_channels":1,"output":"sigmoid"}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": "unet2d",
            "depth": self.depth,
            "base_channels": self.base_channels,
            "norm": self.norm.name(),
            "input_channels": 1,
            "output": "sigmoid",
        })
    }

    /// The inverse of [`UnetConfig::to_json`]; anything else is an error.
    pub fn from_json(v: &serde_json::Value) -> Result<Self> {
        let bad = |what: &str| Error::invalid(format!("architecture: {what}"));
        let obj = v.as_object().ok_or_else(|| bad("not a JSON object"))?;
        if obj.get("kind").and_then(|k| k.as_str()) != Some("unet2d") {
            return Err(bad("kind is not \"unet2d\""));
        }
        let int = |key: &str| {
            obj.get(key)
                .and_then(serde_json::Value::as_u64)
                .and_then(|v| usize::try_from(v).ok())
                .ok_or_else(|| bad(&format!("{key} is missing or not a whole number")))
        };
        if int("input_channels")? != 1 {
            return Err(bad("only 1 input channel is supported"));
        }
        if obj.get("output").and_then(|k| k.as_str()) != Some("sigmoid") {
            return Err(bad("output is not \"sigmoid\""));
        }
        let norm = obj
            .get("norm")
            .and_then(|n| n.as_str())
            .ok_or_else(|| bad("norm is missing"))?
            .parse()?;
        let c = UnetConfig {
            depth: int("depth")?,
            base_channels: int("base_channels")?,
            norm,
        };
        c.validate()?;
        Ok(c)
    }
}

/// The CPU default: 3 levels like the paper, 8 channels at the first level
/// (a quarter of the paper's compute) and batch normalisation. Instance
/// normalisation divides each slice's (or tile's) features by their own
/// spread, which removes the absolute contrast that tells a sharp slice from
/// a blurred one; on our synthetic stacks it learned the rule labels more
/// slowly and less well (README, "U-Net": measured figures).
impl Default for UnetConfig {
    fn default() -> Self {
        UnetConfig {
            depth: 3,
            base_channels: 8,
            norm: Norm::Batch,
        }
    }
}

impl fmt::Display for UnetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "depth {}, {} base channels, {} norm ({} parameters)",
            self.depth,
            self.base_channels,
            self.norm,
            self.parameters()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_and_rejects_foreign_architectures() {
        for c in [UnetConfig::paper(), UnetConfig::default()] {
            assert_eq!(UnetConfig::from_json(&c.to_json()).unwrap(), c);
        }
        let mut j = UnetConfig::paper().to_json();
        j["depth"] = 0.into();
        assert!(UnetConfig::from_json(&j).is_err());
        let mut j = UnetConfig::paper().to_json();
        j["norm"] = "layer".into();
        assert!(UnetConfig::from_json(&j).is_err());
        let mut j = UnetConfig::paper().to_json();
        j["input_channels"] = 3.into();
        assert!(UnetConfig::from_json(&j).is_err());
        assert!(UnetConfig::from_json(&serde_json::json!([1, 2])).is_err());
    }

    #[test]
    fn presets_and_limits() {
        assert_eq!(UnetConfig::preset("Paper").unwrap(), UnetConfig::paper());
        assert_eq!(UnetConfig::preset("default").unwrap(), UnetConfig::default());
        assert!(UnetConfig::preset("big").is_err());
        assert_eq!(UnetConfig::paper().multiple(), 8);
        let mut c = UnetConfig::default();
        c.base_channels = 0;
        assert!(c.validate().is_err());
        c.base_channels = 8;
        c.depth = 7;
        assert!(c.validate().is_err());
    }

    #[test]
    fn parameter_count_of_a_small_net_by_hand() {
        // depth 1, 2 base channels, no norm: enc 1->2->2, bottleneck 2->4->4,
        // up 4->2 (2x2), dec 4->2->2, head 2->1.
        let c = UnetConfig {
            depth: 1,
            base_channels: 2,
            norm: Norm::None,
        };
        let n = (9 * 2 + 2) + (9 * 4 + 2)      // encoder
            + (9 * 8 + 4) + (9 * 16 + 4)        // bottleneck
            + (4 * 4 * 2 + 2)                   // transposed conv
            + (9 * 8 + 2) + (9 * 4 + 2)         // decoder
            + (2 + 1); // head
        assert_eq!(c.parameters(), n);
    }
}

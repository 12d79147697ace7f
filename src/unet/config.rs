//! The architecture of the U-Net: one `Copy` struct, with the paper's preset
//! and a smaller default for CPUs.
//!
//! # The network
//!
//! Input: the slice to segment, normalised per stack (see
//! [`super::data::Normalisation`]), and, when `context` is above 0, its
//! neighbours in Z as more channels: the slices at offsets -1, +1, -2, +2,
//! -4, +4, ... (`context` pairs, doubling; clamped to the stack's ends).
//! One slice alone cannot say whether its sharpest structure is at its best
//! focus or only near it: that is a comparison along Z, which is what the
//! rule presets make and what the neighbours let the network make. With
//! `profile` and `guide`, more channels carry what no window of slices can
//! see (the pixel's focus along the whole stack, the depth of field: see
//! [`super::data::NetInput`]). For each of `depth` encoder levels `i`
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
    /// Pairs of neighbouring slices given as extra input channels (0 to
    /// [`UnetConfig::MAX_CONTEXT`]): the slices at offsets ±1, ±2, ±4, ...
    /// (see [`UnetConfig::offsets`]). 0 is the paper's single-slice input.
    pub context: usize,
    /// Adds the focus profile to the input (see [`super::data::NetInput`]):
    /// for each slice given, how sharp each pixel is there relative to its
    /// sharpest slice in the whole stack, and once per pixel how much
    /// structure it has at best focus. A window of neighbours cannot see
    /// where along Z a pixel peaks when that is far away, nor the stack's
    /// depth of field; these two numbers per pixel carry both.
    pub profile: bool,
    /// Adds the default preset's answer to the input (see
    /// [`super::data::NetInput`]): for each slice given, whether it lies
    /// within the preset's depth-of-field band around the pixel's best
    /// focus. The preset estimates the depth of field from the whole stack,
    /// which no window of slices can; with it the network learns where the
    /// preset is wrong rather than the optics from scratch, and fine-tuning
    /// on a few manual masks corrects the preset's systematic errors.
    pub guide: bool,
}

impl UnetConfig {
    pub const MAX_DEPTH: usize = 6;
    pub const MAX_BASE_CHANNELS: usize = 256;
    /// Up to offsets of ±32 slices.
    pub const MAX_CONTEXT: usize = 6;

    /// The paper's architecture as its text describes it: 3 encoder levels
    /// (16, 32, 64 channels), a 128-channel bottleneck, 3 decoder levels,
    /// instance normalisation, sigmoid output.
    pub fn paper() -> Self {
        UnetConfig {
            depth: 3,
            base_channels: 16,
            norm: Norm::Instance,
            context: 0,
            profile: false,
            guide: false,
        }
    }

    /// The Z offsets of the input channels, in channel order: 0 (the slice
    /// itself), then -1, +1, -2, +2, -4, +4, ... for `context` pairs.
    /// Doubling offsets reach far along Z with few channels, so that a band
    /// of several slices (deep depth of field) is still seen whole.
    pub fn offsets(&self) -> Vec<isize> {
        let mut v = vec![0];
        for i in 0..self.context {
            let d = 1isize << i;
            v.extend([-d, d]);
        }
        v
    }

    /// Input channels: one image per Z offset (`1 + 2 context`); with
    /// `profile`, as many profile planes and the best-focus structure plane;
    /// with `guide`, as many planes of the preset's band.
    pub fn input_channels(&self) -> usize {
        let planes = 1 + 2 * self.context;
        let profile = if self.profile { planes + 1 } else { 0 };
        let guide = if self.guide { planes } else { 0 };
        planes + profile + guide
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
        if self.context > Self::MAX_CONTEXT {
            return Err(Error::invalid(format!(
                "U-Net context must be 0 to {} pairs of neighbouring slices, not {}",
                Self::MAX_CONTEXT,
                self.context
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
        let mut cin = self.input_channels();
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

    /// `{"kind":"unet2d","depth":3,"base_channels":8,"norm":"batch","context":3,
    /// "profile":true,"guide":true,"input_channels":22,"z_offsets":[0,-1,1,-2,2,-4,4],
    /// "output":"sigmoid"}`. `input_channels` and `z_offsets` are derived from
    /// `context`, `profile` and `guide`, written
    /// so that another reader of the file needs no knowledge of infocus's
    /// rule for them.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": "unet2d",
            "depth": self.depth,
            "base_channels": self.base_channels,
            "norm": self.norm.name(),
            "context": self.context,
            "profile": self.profile,
            "guide": self.guide,
            "input_channels": self.input_channels(),
            "z_offsets": self.offsets(),
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
        // Files written before `context` existed have one input channel.
        let context = if obj.contains_key("context") {
            int("context")?
        } else {
            0
        };
        if context > Self::MAX_CONTEXT {
            return Err(bad(&format!(
                "context must be 0 to {}, not {context}",
                Self::MAX_CONTEXT
            )));
        }
        // Files written before `profile` existed have none.
        let profile = match obj.get("profile") {
            None => false,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| bad("profile is not true or false"))?,
        };
        // ... nor `guide`.
        let guide = match obj.get("guide") {
            None => false,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| bad("guide is not true or false"))?,
        };
        let channels = UnetConfig {
            context,
            profile,
            guide,
            ..UnetConfig::paper()
        }
        .input_channels();
        if int("input_channels")? != channels {
            return Err(bad(&format!(
                "input_channels must be {channels} for context {context}{}{}",
                if profile { " with the focus profile" } else { "" },
                if guide { " and the preset's guide" } else { "" }
            )));
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
            context,
            profile,
            guide,
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
/// slowly and less well (README, "U-Net": measured figures). Three pairs of
/// neighbours (offsets ±1, ±2, ±4) as input: with one slice alone, the
/// network trained on the default preset's labels reached a mean IoU of 0.31
/// on the accuracy suite against the preset's 0.78 (ACCURACY.md). The
/// focus profile and the preset's guide: with both, 0.784 trained on the
/// preset's masks and 0.787 once fine-tuned on two stacks' truth (0.742 and
/// 0.739 without the guide).
impl Default for UnetConfig {
    fn default() -> Self {
        UnetConfig {
            depth: 3,
            base_channels: 8,
            norm: Norm::Batch,
            context: 3,
            profile: true,
            guide: true,
        }
    }
}

impl fmt::Display for UnetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "depth {}, {} base channels, {} norm, context {}{}{} ({} parameters)",
            self.depth,
            self.base_channels,
            self.norm,
            self.context,
            if self.profile { ", focus profile" } else { "" },
            if self.guide { ", preset guide" } else { "" },
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
        assert_eq!(
            UnetConfig::preset("default").unwrap(),
            UnetConfig::default()
        );
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
            context: 0,
            profile: false,
            guide: false,
        };
        let n = (9 * 2 + 2) + (9 * 4 + 2)      // encoder
            + (9 * 8 + 4) + (9 * 16 + 4)        // bottleneck
            + (4 * 4 * 2 + 2)                   // transposed conv
            + (9 * 8 + 2) + (9 * 4 + 2)         // decoder
            + (2 + 1); // head
        assert_eq!(c.parameters(), n);
        // Two pairs of neighbours: 5 input channels, only the first
        // convolution grows (by 4 x 9 weights per output channel).
        let wide = UnetConfig { context: 2, ..c };
        assert_eq!(wide.parameters(), n + 4 * 9 * 2);
        assert_eq!(wide.offsets(), vec![0, -1, 1, -2, 2]);
        assert_eq!(wide.input_channels(), 5);
    }

    #[test]
    fn files_without_context_are_single_slice_models() {
        let mut j = UnetConfig::default().to_json();
        let o = j.as_object_mut().unwrap();
        o.remove("context");
        o.remove("z_offsets");
        o.remove("profile");
        o.remove("guide");
        o.insert("input_channels".into(), 1.into());
        let c = UnetConfig::from_json(&j).unwrap();
        assert_eq!(c.context, 0);
        assert_eq!(c.depth, UnetConfig::default().depth);
        let mut j = UnetConfig::default().to_json();
        j["context"] = (UnetConfig::MAX_CONTEXT + 1).into();
        assert!(UnetConfig::from_json(&j).is_err());
        let mut c = UnetConfig::default();
        c.context = UnetConfig::MAX_CONTEXT + 1;
        assert!(c.validate().is_err());
    }

    #[test]
    fn files_without_profile_have_none_and_channels_must_match() {
        // A context-3 file of the previous release: 7 input channels.
        let mut j = UnetConfig::default().to_json();
        j.as_object_mut().unwrap().remove("profile");
        j.as_object_mut().unwrap().remove("guide");
        j["input_channels"] = 7.into();
        let c = UnetConfig::from_json(&j).unwrap();
        assert!(!c.profile);
        assert_eq!(c.context, 3);
        // With the profile: 7 images, 7 profile planes and the structure
        // plane; with the guide, 7 band planes more.
        let d = UnetConfig::default();
        assert!(d.profile && d.guide);
        assert_eq!(UnetConfig { guide: false, ..d }.input_channels(), 15);
        assert_eq!(d.input_channels(), 22);
        assert_eq!(UnetConfig::from_json(&d.to_json()).unwrap(), d);
        let mut j = d.to_json();
        j["input_channels"] = 7.into();
        assert!(UnetConfig::from_json(&j).is_err());
        let mut j = d.to_json();
        j["profile"] = "yes".into();
        assert!(UnetConfig::from_json(&j).is_err());
        let mut j = d.to_json();
        j["guide"] = 1.into();
        assert!(UnetConfig::from_json(&j).is_err());
        // A file of the profile's release: no guide key, 15 channels.
        let mut j = UnetConfig { guide: false, ..d }.to_json();
        j.as_object_mut().unwrap().remove("guide");
        assert!(!UnetConfig::from_json(&j).unwrap().guide);
        assert!(!UnetConfig::paper().profile && !UnetConfig::paper().guide);
    }
}

//! Shared by the U-Net tests: synthetic stacks and a small trained model.
#![allow(dead_code)]

use infocus::Progress;
use infocus::synth::{Surface, Synth, SynthParams, Texture, synth};

/// Stacks whose rule labels are a function of each slice alone: the whole
/// field is specimen (no background to detect), fine texture (blur shows
/// clearly), many photons, a tilted plane. The default preset's masks match
/// the truth to IoU ~0.94 on them, so a single-slice network can learn them.
pub fn learnable(seed: u64) -> Synth {
    synth(
        &SynthParams {
            depth: 12,
            height: 256,
            width: 256,
            texture: Texture::Fine,
            surface: Surface::Tilt,
            photons: 2000.0,
            background: false,
            seed,
            ..SynthParams::default()
        },
        &Progress::none(),
    )
    .expect("synth")
}

/// Small ordinary stacks: a specimen on empty background, on a dome.
pub fn small(seed: u64) -> Synth {
    synth(
        &SynthParams {
            depth: 12,
            height: 128,
            width: 128,
            texture: Texture::Fine,
            seed,
            ..SynthParams::default()
        },
        &Progress::none(),
    )
    .expect("synth")
}

/// libtorch on one thread: results are then the same on any machine with
/// the same instruction set, and tests running side by side do not fight
/// over the cores.
pub fn one_thread() {
    if infocus::unet::AVAILABLE {
        infocus::unet::set_threads(1).expect("set threads");
    }
}

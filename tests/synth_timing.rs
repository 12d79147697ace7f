//! Timings of `synth` (ignored by default; run with
//! `cargo test --release --test synth_timing -- --ignored --nocapture`).

use infocus::Progress;
use infocus::synth::{SynthParams, Texture, synth};
use std::time::Instant;

#[test]
#[ignore]
fn timings() {
    for (h, w) in [(256, 256), (1024, 1024)] {
        for texture in [Texture::Coarse, Texture::Sparse] {
            for photons in [30.0, 1000.0] {
                let p = SynthParams {
                    height: h,
                    width: w,
                    texture,
                    photons,
                    ..SynthParams::default()
                };
                let _ = synth(
                    &SynthParams {
                        height: 64,
                        width: 64,
                        ..p.clone()
                    },
                    &Progress::none(),
                );
                let t = Instant::now();
                let reps = if h > 256 { 1 } else { 5 };
                for _ in 0..reps {
                    synth(&p, &Progress::none()).unwrap();
                }
                let s = t.elapsed().as_secs_f64() / reps as f64;
                println!(
                    "synth {}x{h}x{w} {texture} photons {photons}: {s:.3} s",
                    p.depth
                );
            }
        }
    }
}

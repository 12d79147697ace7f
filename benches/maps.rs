//! `cargo bench --bench maps`: times of the core pipelines on synthetic
//! stacks, printed as a table. Not a timed test: compare rows of one run.

use infocus::map::{MapParams, focus_map};
use infocus::measure::Measure;
use infocus::segment::{Preset, SegmentParams, segment};
use infocus::synth::{SynthParams, synth};
use infocus::{PixelType, Progress, Stack};
use std::time::Instant;

/// Best of `reps` wall-clock runs, in milliseconds.
fn best_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::INFINITY, f64::min)
}

fn stack(z: usize, n: usize, pixel_type: PixelType) -> Stack {
    let p = SynthParams {
        depth: z,
        height: n,
        width: n,
        pixel_type,
        ..SynthParams::default()
    };
    synth(&p, &Progress::none()).expect("synth").stack
}

fn main() {
    let threads = rayon::current_num_threads();
    println!(
        "infocus {} benchmarks, {threads} threads (best of N runs)\n",
        infocus::VERSION
    );
    println!("{:<46} {:>10} {:>12}", "case", "ms", "Mpixel/s");
    let row = |name: &str, pixels: usize, ms: f64| {
        println!("{name:<46} {ms:>10.1} {:>12.1}", pixels as f64 / ms / 1e3);
    };
    for (n, t, reps) in [
        (256, PixelType::U8, 5),
        (256, PixelType::U16, 5),
        (1024, PixelType::U8, 2),
        (1024, PixelType::U16, 2),
    ] {
        let s = stack(20, n, t);
        let ms = best_ms(reps, || {
            focus_map(s.view(), &MapParams::paper(), &Progress::none()).expect("map");
        });
        row(
            &format!("paper std map 20x{n}x{n} {}", t.name()),
            20 * n * n,
            ms,
        );
    }
    let s = stack(20, 1024, PixelType::U16);
    for m in Measure::ALL {
        let p = MapParams {
            measure: m,
            ..MapParams::paper()
        };
        let ms = best_ms(1, || {
            focus_map(s.view(), &p, &Progress::none()).expect("map");
        });
        row(
            &format!("paper scheme, {m}, 20x1024x1024 u16"),
            20 * 1024 * 1024,
            ms,
        );
    }
    for preset in [Preset::Default, Preset::Paper] {
        let s = stack(20, 256, PixelType::U16);
        let ms = best_ms(3, || {
            segment(s.view(), &SegmentParams::new(preset), &Progress::none()).expect("segment");
        });
        row(
            &format!("segment {} 20x256x256 u16", preset.name()),
            20 * 256 * 256,
            ms,
        );
    }
}

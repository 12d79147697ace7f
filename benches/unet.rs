//! `cargo bench --features torch --bench unet`: the U-Net's CPU (or CUDA)
//! times, printed as a table — inference on 20 x 256 x 256 and
//! 20 x 1024 x 1024 for the default and paper architectures, and one
//! training epoch. Not a timed test: compare rows of one run.
//!
//! `INFOCUS_DEVICE=cuda` runs it on a GPU (a build with `--features cuda`).
//! Run it with `OMP_WAIT_POLICY=PASSIVE` (as the CLI does for itself) on a
//! machine with other busy processes: spinning OpenMP threads are slower.

#[cfg(not(feature = "torch"))]
fn main() {
    eprintln!("the U-Net benchmark needs the torch feature: cargo bench --features torch --bench unet");
}

#[cfg(feature = "torch")]
fn main() {
    imp::main();
}

#[cfg(feature = "torch")]
mod imp {
    use infocus::segment::{Preset, SegmentParams};
    use infocus::synth::{SynthParams, synth};
    use infocus::unet::{
        DeviceSpec, Labelled, Model, PredictParams, TrainParams, UnetConfig, train, weak_labels,
    };
    use infocus::{PixelType, Progress, Stack};
    use std::time::Instant;

    fn stack(z: usize, n: usize, seed: u64) -> Stack {
        let p = SynthParams {
            depth: z,
            height: n,
            width: n,
            pixel_type: PixelType::U16,
            seed,
            ..SynthParams::default()
        };
        synth(&p, &Progress::none()).expect("synth").stack
    }

    /// Best of `reps` runs, in seconds (after one warm-up run).
    fn best_s(reps: usize, mut f: impl FnMut()) -> f64 {
        f();
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    }

    pub fn main() {
        let device: DeviceSpec = std::env::var("INFOCUS_DEVICE")
            .unwrap_or_else(|_| "auto".into())
            .parse()
            .expect("INFOCUS_DEVICE: cpu, cuda, cuda:N or auto");
        let small = stack(20, 256, 1);
        let large = stack(20, 1024, 2);
        println!(
            "infocus {} U-Net benchmarks (libtorch threads: {}; best of runs after a warm-up)\n",
            infocus::VERSION,
            tch::get_num_threads()
        );
        println!("{:<84} {:>9} {:>9}", "case", "seconds", "Mpixel/s");
        let row = |name: &str, pixels: usize, s: f64| {
            println!("{name:<84} {s:>9.3} {:>9.2}", pixels as f64 / s / 1e6);
        };
        for (name, config) in [
            ("default", UnetConfig::default()),
            ("paper", UnetConfig::paper()),
        ] {
            let model = Model::new(config, device, 0).expect("model");
            let dev = model.device();
            for (s, reps) in [(&small, 3), (&large, 1)] {
                let (z, h, w) = s.dim();
                // One pass per tile (--no-flips), then the default average
                // over the tile's mirror images (4 passes).
                for flips in [false, true] {
                    let params = PredictParams {
                        flips,
                        ..PredictParams::default()
                    };
                    let t = best_s(reps, || {
                        model
                            .predict(s.view(), &params, &Progress::none())
                            .expect("predict");
                    });
                    let how = if flips { "flips averaged" } else { "one pass" };
                    row(
                        &format!("predict {name} ({config}) {z}x{h}x{w} {dev}, {how}"),
                        z * h * w,
                        t,
                    );
                }
            }
        }
        // One epoch over one 20 x 256 x 256 stack's weak labels (default preset).
        let labels = weak_labels(
            small.view(),
            &SegmentParams::new(Preset::Default),
            &Progress::none(),
        )
        .expect("labels");
        let data = [Labelled {
            image: small.view(),
            mask: labels.view(),
            slices: None,
            source: "bench".into(),
        }];
        for (name, config) in [
            ("default", UnetConfig::default()),
            ("paper", UnetConfig::paper()),
        ] {
            let model = Model::new(config, device, 0).expect("model");
            let p = TrainParams {
                epochs: 2,
                patience: 0,
                ..TrainParams::default()
            };
            let t = Instant::now();
            let trained = train(&model, &data, &p, &Progress::none(), &mut |_| {})
                .expect("train");
            let per_epoch = t.elapsed().as_secs_f64() / trained.epochs.len() as f64;
            row(
                &format!(
                    "train epoch {name}, 20x256x256 ({} train slices) {}",
                    trained.train_slices, trained.device
                ),
                trained.train_slices * 256 * 256,
                per_epoch,
            );
        }
    }
}

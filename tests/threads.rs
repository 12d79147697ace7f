//! Results do not depend on the number of threads: focus maps (all nine
//! measures, u8/u16/f32 stacks), both segmentation presets and synth give
//! bit-identical results in rayon pools of 1, 2 and 5 threads.

use infocus::map::{MapParams, focus_map};
use infocus::measure::Measure;
use infocus::segment::{Preset, SegmentParams, Segmentation, preset_map, segment};
use infocus::synth::{Surface, Synth, SynthParams, Texture, synth};
use infocus::threshold::Threshold;
use infocus::{PixelType, Progress, Stack};
use ndarray::Array3;

const POOLS: [usize; 3] = [1, 2, 5];

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    assert_eq!(pool.current_num_threads(), threads);
    pool.install(f)
}

fn bits(a: &Array3<f32>) -> Vec<u32> {
    a.iter().map(|v| v.to_bits()).collect()
}

/// SplitMix64, so the stacks need no extra crate.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A stack with structure whose sharpness moves across the field with the
/// slice, plus noise, in [0, 1].
fn pattern(shape: (usize, usize, usize), seed: u64) -> Array3<f64> {
    let (z, _, w) = shape;
    let mut rng = Rng(seed);
    Array3::from_shape_fn(shape, |(k, y, x)| {
        let (yf, xf) = (y as f64, x as f64);
        let focus = (k as f64 + 0.5) / z as f64 * w as f64;
        let sharp = (-((xf - focus) / (0.25 * w as f64)).powi(2)).exp();
        let base = 0.4 + 0.15 * (xf / 13.0).sin() * (yf / 9.0).cos();
        let tex = 0.2 * sharp * (xf * 1.9).sin() * (yf * 2.7).cos();
        (base + tex + 0.05 * rng.unit()).clamp(0.0, 1.0)
    })
}

fn stacks(shape: (usize, usize, usize)) -> Vec<(&'static str, Stack)> {
    let p = pattern(shape, 42);
    vec![
        ("u8", Stack::U8(p.mapv(|v| (v * 255.0).round() as u8))),
        ("u16", Stack::U16(p.mapv(|v| (v * 65535.0).round() as u16))),
        // Large offset, small signal, negative values: exercises compensated sums.
        (
            "f32",
            Stack::F32(p.mapv(|v| (3000.0 * v - 1000.0) as f32 + 0.123)),
        ),
    ]
}

#[test]
fn focus_map_all_measures_all_types() {
    let shape = (7, 45, 58);
    let params_of = |m: Measure| {
        [
            MapParams {
                measure: m,
                window: 16,
                strides: vec![3, 5, 8],
            },
            // Window larger than the image and the paper's strides.
            MapParams {
                measure: m,
                ..MapParams::paper()
            },
        ]
    };
    for (name, stack) in stacks(shape) {
        for m in Measure::ALL {
            for params in params_of(m) {
                let what = format!(
                    "{name} {m} window {} strides {:?}",
                    params.window, params.strides
                );
                let maps: Vec<Array3<f32>> = POOLS
                    .iter()
                    .map(|&n| {
                        in_pool(n, || {
                            focus_map(stack.view(), &params, &Progress::none()).unwrap()
                        })
                    })
                    .collect();
                assert_eq!(maps[0].dim(), shape, "{what}");
                assert!(
                    maps[0].iter().all(|v| v.is_finite()),
                    "{what}: non-finite map"
                );
                // A map that is flat everywhere would compare equal however
                // badly threads were handled; the stacks have structure.
                let first = maps[0][[0, 0, 0]];
                assert!(
                    maps[0].iter().any(|&v| v != first),
                    "{what}: map is constant"
                );
                let b0 = bits(&maps[0]);
                for (map, n) in maps.iter().zip(POOLS).skip(1) {
                    assert!(bits(map) == b0, "{what}: {n} threads differ from 1 thread");
                }
            }
        }
    }
}

fn same_segmentation(a: &Segmentation, b: &Segmentation) -> bool {
    a.mask == b.mask
        && bits(&a.map) == bits(&b.map)
        && a.depth == b.depth
        && a.dof.map(f64::to_bits) == b.dof.map(f64::to_bits)
}

#[test]
fn segment_both_presets() {
    let mut inputs: Vec<(String, Stack)> = Vec::new();
    for (t, name) in [
        (PixelType::U16, "synth u16"),
        (PixelType::U8, "synth u8"),
        (PixelType::F32, "synth f32"),
    ] {
        let p = SynthParams {
            depth: 8,
            height: 56,
            width: 72,
            pixel_type: t,
            seed: 3,
            ..SynthParams::default()
        };
        inputs.push((
            name.to_string(),
            synth(&p, &Progress::none()).unwrap().stack,
        ));
    }
    inputs.extend(
        stacks((6, 40, 50))
            .into_iter()
            .map(|(n, s)| (format!("pattern {n}"), s)),
    );
    let mut configs = vec![
        SegmentParams::new(Preset::Paper),
        SegmentParams::new(Preset::Default),
    ];
    let mut slice = SegmentParams::new(Preset::Paper);
    slice.threshold = Some(Threshold::OtsuSlice);
    configs.push(slice);
    let mut fixed_dof = SegmentParams::new(Preset::Default);
    fixed_dof.band.dof = Some(2.5);
    configs.push(fixed_dof);
    let mut thr = SegmentParams::new(Preset::Default);
    thr.threshold = Some(Threshold::OtsuStack);
    configs.push(thr);
    for (name, stack) in &inputs {
        for params in &configs {
            let what = format!(
                "{name} {:?} threshold {:?} dof {:?}",
                params.preset, params.threshold, params.band.dof
            );
            let segs: Vec<Segmentation> = POOLS
                .iter()
                .map(|&n| {
                    in_pool(n, || {
                        segment(stack.view(), params, &Progress::none()).unwrap()
                    })
                })
                .collect();
            assert_eq!(segs[0].mask.dim(), stack.dim(), "{what}");
            for (s, n) in segs.iter().zip(POOLS).skip(1) {
                assert!(
                    same_segmentation(&segs[0], s),
                    "{what}: {n} threads differ from 1 thread"
                );
            }
            if params.preset == Preset::Default {
                let maps: Vec<Array3<f32>> = POOLS
                    .iter()
                    .map(|&n| {
                        in_pool(n, || {
                            preset_map(stack.view(), params, &Progress::none()).unwrap()
                        })
                    })
                    .collect();
                for (m, n) in maps.iter().zip(POOLS) {
                    assert!(
                        bits(m) == bits(&segs[0].map),
                        "{what}: preset_map on {n} threads differs from segment's map"
                    );
                }
            }
        }
        // The synthetic stacks have specimen and background: masks are not trivial.
        if name.starts_with("synth") {
            let seg = segment(
                stack.view(),
                &SegmentParams::new(Preset::Default),
                &Progress::none(),
            )
            .unwrap();
            assert!(
                seg.mask.iter().any(|&v| v == 255) && seg.mask.iter().any(|&v| v == 0),
                "{name}: trivial default mask"
            );
        }
    }
}

fn same_synth(a: &Synth, b: &Synth) -> bool {
    a.stack == b.stack
        && a.truth == b.truth
        && a.depth
            .iter()
            .map(|v| v.to_bits())
            .eq(b.depth.iter().map(|v| v.to_bits()))
        && a.specimen == b.specimen
}

fn stack_bits(s: &Stack) -> Vec<u32> {
    match s {
        Stack::U8(a) => a.iter().map(|&v| u32::from(v)).collect(),
        Stack::U16(a) => a.iter().map(|&v| u32::from(v)).collect(),
        Stack::F32(a) => bits(a),
    }
}

#[test]
fn synth_any_pool() {
    let cases = [
        (Texture::Coarse, Surface::Dome, PixelType::U16, true),
        (Texture::Sparse, Surface::Random, PixelType::F32, true),
        (Texture::Fine, Surface::Steps, PixelType::U8, false),
        (Texture::LowContrast, Surface::Tilt, PixelType::F32, true),
    ];
    for (seed, (texture, surface, pixel_type, background)) in cases.into_iter().enumerate() {
        let p = SynthParams {
            depth: 7,
            height: 48,
            width: 60,
            texture,
            surface,
            pixel_type,
            background,
            seed: seed as u64 + 10,
            ..SynthParams::default()
        };
        let what = format!("{texture} {surface} {pixel_type:?} background {background}");
        let runs: Vec<Synth> = POOLS
            .iter()
            .map(|&n| in_pool(n, || synth(&p, &Progress::none()).unwrap()))
            .collect();
        assert_eq!(runs[0].stack.dim(), (7, 48, 60), "{what}");
        for (s, n) in runs.iter().zip(POOLS).skip(1) {
            assert!(
                same_synth(&runs[0], s),
                "{what}: {n} threads differ from 1 thread"
            );
            assert!(
                stack_bits(&runs[0].stack) == stack_bits(&s.stack),
                "{what}: {n} threads: stack bits differ"
            );
        }
    }
}

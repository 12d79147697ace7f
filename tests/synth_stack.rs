//! Synthetic stacks: determinism, truth, physics, parameters.

use infocus::synth::{Surface, Synth, SynthParams, Texture, synth};
use infocus::{Error, PixelType, Progress, Stack};
use ndarray::{Array2, Axis, s};
use std::sync::atomic::{AtomicU64, Ordering};

fn small() -> SynthParams {
    SynthParams {
        depth: 6,
        height: 48,
        width: 64,
        ..SynthParams::default()
    }
}

fn run(p: &SynthParams) -> Synth {
    synth(p, &Progress::none()).expect("synth")
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

fn same(a: &Synth, b: &Synth) -> bool {
    a.stack == b.stack && a.truth == b.truth && a.depth == b.depth && a.specimen == b.specimen
}

#[test]
fn defaults_are_as_documented() {
    let p = SynthParams::default();
    assert_eq!((p.depth, p.height, p.width), (20, 256, 256));
    assert_eq!((p.texture, p.surface), (Texture::Coarse, Surface::Dome));
    assert_eq!((p.photons, p.read_noise, p.dof), (1000.0, 2.0, 3.0));
    assert!(p.background);
    assert_eq!((p.pixel_type, p.seed), (PixelType::U16, 1));
    assert!((p.blur_sigma(p.dof / 2.0) - 1.0).abs() < 1e-12);
    assert!((p.blur_sigma(0.0) - 0.5).abs() < 1e-12);
}

#[test]
fn same_seed_same_bytes_on_any_thread_count() {
    for texture in Texture::ALL {
        let p = SynthParams {
            texture,
            surface: Surface::Random,
            ..small()
        };
        let one = in_pool(1, || run(&p));
        let three = in_pool(3, || run(&p));
        let again = in_pool(3, || run(&p));
        assert!(same(&one, &three), "{texture}: 1 vs 3 threads differ");
        assert!(same(&three, &again), "{texture}: two runs differ");
    }
    for pixel_type in [PixelType::U8, PixelType::F32] {
        let p = SynthParams {
            pixel_type,
            ..small()
        };
        assert!(same(&in_pool(1, || run(&p)), &in_pool(3, || run(&p))));
    }
}

#[test]
fn different_seeds_differ() {
    let a = run(&small());
    let b = run(&SynthParams { seed: 2, ..small() });
    assert_ne!(a.stack, b.stack);
    assert_ne!(a.specimen, b.specimen);
    // Surfaces with a random element differ too.
    for surface in [Surface::Tilt, Surface::Random, Surface::Steps] {
        let a = run(&SynthParams { surface, ..small() });
        let b = run(&SynthParams {
            surface,
            seed: 99,
            ..small()
        });
        assert_ne!(a.depth, b.depth, "{surface}");
    }
}

fn check_truth_literally(s: &Synth) {
    let (z, h, w) = s.truth.dim();
    let half = s.params.dof / 2.0;
    for k in 0..z {
        for y in 0..h {
            for x in 0..w {
                let want = s.specimen[(y, x)] == 255
                    && (f64::from(s.depth[(y, x)]) - k as f64).abs() <= half;
                assert_eq!(
                    s.truth[(k, y, x)],
                    if want { 255 } else { 0 },
                    "at {k},{y},{x}"
                );
            }
        }
    }
    assert!(s.specimen.iter().all(|&v| v == 0 || v == 255));
}

#[test]
fn truth_is_specimen_within_half_the_depth_of_field() {
    for (texture, surface, dof) in [
        (Texture::Coarse, Surface::Dome, 3.0),
        (Texture::Sparse, Surface::Tilt, 1.0),
        (Texture::Fine, Surface::Steps, 2.0),
        (Texture::LowContrast, Surface::Random, 5.5),
    ] {
        let s = run(&SynthParams {
            depth: 12,
            texture,
            surface,
            dof,
            ..small()
        });
        check_truth_literally(&s);
        assert!(s.truth.iter().any(|&v| v == 255));
    }
}

#[test]
fn every_texture_and_surface_runs() {
    for texture in Texture::ALL {
        for surface in Surface::ALL {
            for background in [true, false] {
                let p = SynthParams {
                    depth: 5,
                    height: 24,
                    width: 40,
                    texture,
                    surface,
                    background,
                    seed: 7,
                    ..SynthParams::default()
                };
                let s = run(&p);
                let what = format!("{texture}/{surface}/{background}");
                assert_eq!(s.stack.dim(), (5, 24, 40), "{what}");
                assert_eq!(s.stack.pixel_type(), PixelType::U16, "{what}");
                assert_eq!(s.truth.dim(), (5, 24, 40));
                assert_eq!(s.depth.dim(), (24, 40));
                let (zlo, zhi) = p.depth_range();
                assert!(
                    s.depth
                        .iter()
                        .all(|&d| f64::from(d) >= zlo - 1e-5 && f64::from(d) <= zhi + 1e-5),
                    "{what}: depth out of range"
                );
                assert!(s.specimen.iter().any(|&v| v == 255), "{what}: no specimen");
                assert!(s.truth.iter().any(|&v| v == 255), "{what}: no truth");
                if !background && texture != Texture::Sparse {
                    assert!(s.specimen.iter().all(|&v| v == 255), "{what}");
                }
                check_truth_literally(&s);
            }
        }
    }
}

#[test]
fn eight_pixel_images_work() {
    for texture in Texture::ALL {
        for surface in Surface::ALL {
            let s = run(&SynthParams {
                depth: 3,
                height: 8,
                width: 8,
                texture,
                surface,
                dof: 0.05,
                ..SynthParams::default()
            });
            assert_eq!(s.stack.dim(), (3, 8, 8));
            assert!(s.specimen.iter().any(|&v| v == 255), "{texture}/{surface}");
        }
    }
}

#[test]
fn one_slice_works() {
    for surface in Surface::ALL {
        let s = run(&SynthParams {
            depth: 1,
            surface,
            ..small()
        });
        assert_eq!(s.stack.dim(), (1, 48, 64));
        assert!(s.depth.iter().all(|&d| d == 0.0));
        // Everything is in focus in the only slice.
        assert_eq!(s.truth.index_axis(Axis(0), 0), s.specimen);
    }
}

fn fraction(a: &Array2<u8>) -> f64 {
    a.iter().filter(|&&v| v != 0).count() as f64 / a.len() as f64
}

#[test]
fn specimen_coverage() {
    for seed in 1..=8 {
        for (h, w) in [(256, 256), (96, 160)] {
            let base = SynthParams {
                depth: 2,
                height: h,
                width: w,
                seed,
                ..SynthParams::default()
            };
            let blob = fraction(&run(&base).specimen);
            assert!((0.35..=0.60).contains(&blob), "blob covers {blob}");
            let sparse = run(&SynthParams {
                texture: Texture::Sparse,
                ..base.clone()
            });
            let cells = fraction(&sparse.specimen) / blob;
            assert!(
                (0.18..=0.30).contains(&cells),
                "cells cover {cells} of the blob"
            );
            let full = run(&SynthParams {
                texture: Texture::Sparse,
                background: false,
                ..base
            });
            let cells = fraction(&full.specimen);
            assert!(
                (0.22..=0.28).contains(&cells),
                "cells cover {cells} of the field"
            );
        }
    }
}

#[test]
fn surfaces_have_their_shapes() {
    let p = SynthParams {
        depth: 21,
        height: 128,
        width: 128,
        ..SynthParams::default()
    };
    let (zlo, zhi) = p.depth_range();
    assert_eq!((zlo, zhi), (4.0, 16.0));
    let max_step = |d: &Array2<f32>| {
        let dy = (&d.slice(s![1.., ..]) - &d.slice(s![..-1, ..])).mapv(f32::abs);
        let dx = (&d.slice(s![.., 1..]) - &d.slice(s![.., ..-1])).mapv(f32::abs);
        dy.iter().chain(dx.iter()).fold(0f32, |a, &b| a.max(b))
    };
    for surface in [Surface::Dome, Surface::Tilt, Surface::Random] {
        for seed in 1..=4 {
            let d = run(&SynthParams {
                surface,
                seed,
                ..p.clone()
            })
            .depth;
            assert!(max_step(&d) < 0.6, "{surface} not smooth: {}", max_step(&d));
            let lo = d.iter().fold(f32::INFINITY, |a, &b| a.min(b));
            let hi = d.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            assert!(
                f64::from(hi - lo) > 0.9 * (zhi - zlo),
                "{surface} spans {lo}..{hi}"
            );
        }
    }
    let dome = run(&SynthParams {
        surface: Surface::Dome,
        ..p.clone()
    })
    .depth;
    assert!((f64::from(dome[(64, 64)]) - zhi).abs() < 0.01);
    assert!((f64::from(dome[(0, 0)]) - zlo).abs() < 1e-6);
    for seed in 1..=6 {
        let d = run(&SynthParams {
            surface: Surface::Steps,
            seed,
            ..p.clone()
        })
        .depth;
        let mut levels: Vec<f32> = d.iter().copied().collect();
        levels.sort_by(f32::total_cmp);
        levels.dedup();
        assert!((3..=4).contains(&levels.len()), "{levels:?}");
        assert!(f64::from(levels[0] - zlo as f32).abs() < 1e-5);
        assert!(f64::from(levels[levels.len() - 1] - zhi as f32).abs() < 1e-5);
        assert!(max_step(&d) >= 3.9);
    }
}

fn local_variance(img: &Array2<f64>, y: usize, x: usize) -> f64 {
    let win = img.slice(s![y - 2..=y + 2, x - 2..=x + 2]);
    let m = win.mean().unwrap();
    win.mapv(|v| (v - m).powi(2)).mean().unwrap()
}

#[test]
fn blur_grows_with_defocus() {
    for texture in [Texture::Fine, Texture::Coarse, Texture::LowContrast] {
        let p = SynthParams {
            depth: 20,
            height: 96,
            width: 96,
            texture,
            surface: Surface::Tilt,
            background: false,
            photons: 1e6,
            read_noise: 0.0,
            pixel_type: PixelType::F32,
            ..SynthParams::default()
        };
        let s = run(&p);
        let view = s.stack.view();
        let slices: Vec<Array2<f64>> = (0..p.depth).map(|k| view.slice_f64(k)).collect();
        // Mean local variance of the specimen by |Delta| (slices from its depth).
        let mut sum = [0f64; 20];
        let mut n = [0u64; 20];
        for y in (2..94).step_by(3) {
            for x in (2..94).step_by(3) {
                let z = f64::from(s.depth[(y, x)]);
                for (k, img) in slices.iter().enumerate() {
                    let d = (z - k as f64).abs().round() as usize;
                    sum[d] += local_variance(img, y, x);
                    n[d] += 1;
                }
            }
        }
        let mean: Vec<f64> = (0..20)
            .filter(|&d| n[d] > 50)
            .map(|d| sum[d] / n[d] as f64)
            .collect();
        assert!(mean.len() >= 10);
        for d in 1..8 {
            assert!(
                mean[d] < mean[d - 1],
                "{texture}: variance does not fall at |Delta| {d}: {mean:?}"
            );
        }
        // Coarse texture (sigma 4 px) survives small blurs longest.
        let ratio = if texture == Texture::Coarse { 2.0 } else { 4.0 };
        assert!(mean[0] > ratio * mean[6], "{texture}: {mean:?}");
        eprintln!("{texture}: in focus / |Delta| 6 = {:.1}", mean[0] / mean[6]);
    }
}

#[test]
fn in_focus_slice_is_sharpest_per_pixel() {
    // Pixel-wise: at a specimen pixel, the slice nearest its depth has more
    // local variance than a slice 7 slices (2.3 dof) away, for the large majority of pixels.
    let p = SynthParams {
        depth: 16,
        height: 80,
        width: 80,
        texture: Texture::Fine,
        surface: Surface::Random,
        photons: 2000.0,
        ..SynthParams::default()
    };
    let s = run(&p);
    let view = s.stack.view();
    let (mut good, mut all) = (0, 0);
    for y in (2..78).step_by(2) {
        for x in (2..78).step_by(2) {
            if s.specimen[(y, x)] == 0 {
                continue;
            }
            let z = f64::from(s.depth[(y, x)]);
            let near = z.round() as usize;
            let far = (if z < 7.5 { z + 7.0 } else { z - 7.0 }).round() as usize;
            all += 1;
            if local_variance(&view.slice_f64(near), y, x)
                > local_variance(&view.slice_f64(far), y, x)
            {
                good += 1;
            }
        }
    }
    assert!(all > 100);
    assert!(good as f64 > 0.95 * all as f64, "{good} of {all}");
}

#[test]
fn noise_and_gain_match_the_model() {
    // One slice (no defocus), a corner patch outside the blob: pure background.
    for (photons, pixel_type, gain) in [
        (30.0, PixelType::F32, 1.0),
        (1000.0, PixelType::F32, 1.0),
        (1000.0, PixelType::U16, 16.0),
        (2000.0, PixelType::U16, 16.0),
        (5000.0, PixelType::U16, 32768.0 / 5000.0),
        (2000.0, PixelType::U8, 0.1),
    ] {
        let p = SynthParams {
            depth: 1,
            height: 512,
            width: 512,
            photons,
            pixel_type,
            ..SynthParams::default()
        };
        assert_eq!(p.gain(), gain);
        let s = run(&p);
        assert_eq!(s.stack.pixel_type(), pixel_type);
        assert!(s.specimen.slice(s![..64, ..64]).iter().all(|&v| v == 0));
        let img = s.stack.view().slice_f64(0);
        let patch = img.slice(s![..64, ..64]);
        let mean = patch.mean().unwrap();
        let var = patch.mapv(|v| (v - mean).powi(2)).mean().unwrap();
        let want_mean = photons * gain;
        let want_var = gain * gain * (photons + p.read_noise * p.read_noise)
            + 1.0 / 12.0 * f64::from(u8::from(pixel_type != PixelType::F32));
        assert!(
            (mean - want_mean).abs() < 0.01 * want_mean,
            "{photons} {pixel_type:?}: mean {mean} vs {want_mean}"
        );
        assert!(
            (var - want_var).abs() < 0.1 * want_var,
            "{photons} {pixel_type:?}: var {var} vs {want_var}"
        );
    }
}

#[test]
fn specimen_absorbs() {
    let s = run(&SynthParams {
        depth: 1,
        pixel_type: PixelType::F32,
        ..SynthParams::default()
    });
    let img = s.stack.view().slice_f64(0);
    let (mut on, mut n_on, mut off, mut n_off) = (0.0, 0, 0.0, 0);
    for ((y, x), &v) in img.indexed_iter() {
        if s.specimen[(y, x)] == 255 {
            on += v;
            n_on += 1;
        } else {
            off += v;
            n_off += 1;
        }
    }
    let (on, off) = (on / f64::from(n_on), off / f64::from(n_off));
    // Mean texture 0.5, absorption 0.6: about 70% transmission.
    assert!((on / off - 0.7).abs() < 0.05, "{on} / {off}");
}

#[test]
fn progress_is_reported_per_slice_and_cancels() {
    let p = small();
    let calls = AtomicU64::new(0);
    let last = AtomicU64::new(0);
    let progress = Progress::new(|done, total| {
        assert_eq!(total, 6);
        calls.fetch_add(1, Ordering::Relaxed);
        last.fetch_max(done, Ordering::Relaxed);
        true
    });
    let s = synth(&p, &progress).unwrap();
    drop(progress);
    assert!(calls.load(Ordering::Relaxed) >= 6);
    assert_eq!(last.load(Ordering::Relaxed), 6);
    assert!(matches!(s.stack, Stack::U16(_)));

    let seen = AtomicU64::new(0);
    let stop = Progress::new(|_, _| seen.fetch_add(1, Ordering::Relaxed) < 3);
    assert!(matches!(synth(&p, &stop), Err(Error::Cancelled)));
    let stop_now = Progress::new(|_, _| false);
    assert!(matches!(synth(&p, &stop_now), Err(Error::Cancelled)));
}

#[test]
fn invalid_parameters_are_rejected_with_the_allowed_range() {
    let cases: Vec<(SynthParams, &str)> = vec![
        (
            SynthParams {
                depth: 0,
                ..small()
            },
            "at least 1",
        ),
        (
            SynthParams {
                height: 7,
                ..small()
            },
            "at least 8",
        ),
        (
            SynthParams {
                width: 0,
                ..small()
            },
            "at least 8",
        ),
        (
            SynthParams {
                dof: 0.0,
                ..small()
            },
            "> 0",
        ),
        (
            SynthParams {
                dof: f64::NAN,
                ..small()
            },
            "finite",
        ),
        (
            SynthParams {
                photons: -1.0,
                ..small()
            },
            "> 0",
        ),
        (
            SynthParams {
                photons: f64::INFINITY,
                ..small()
            },
            "finite",
        ),
        (
            SynthParams {
                read_noise: -0.5,
                ..small()
            },
            ">= 0",
        ),
        (
            SynthParams {
                depth: usize::MAX,
                ..small()
            },
            "too large",
        ),
    ];
    for (p, needle) in cases {
        match synth(&p, &Progress::none()) {
            Err(Error::InvalidArgument(m)) => assert!(m.contains(needle), "'{m}' lacks '{needle}'"),
            other => panic!("{p:?}: {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn names_round_trip() {
    for t in Texture::ALL {
        assert_eq!(t.name().parse::<Texture>().unwrap(), t);
        assert_eq!(t.to_string(), t.name());
    }
    for s in Surface::ALL {
        assert_eq!(s.name().parse::<Surface>().unwrap(), s);
        assert_eq!(s.to_string(), s.name());
    }
    let names: Vec<_> = Texture::ALL.iter().map(|t| t.name()).collect();
    assert_eq!(names, ["fine", "coarse", "sparse", "low-contrast"]);
    let names: Vec<_> = Surface::ALL.iter().map(|t| t.name()).collect();
    assert_eq!(names, ["dome", "tilt", "random", "steps"]);
    assert_eq!(
        " Low_Contrast ".parse::<Texture>().unwrap(),
        Texture::LowContrast
    );
    match "wavy".parse::<Surface>() {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("dome, tilt, random, steps"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!("blobby".parse::<Texture>().is_err());
}

#[test]
fn u8_background_sits_near_200() {
    let s = run(&SynthParams {
        pixel_type: PixelType::U8,
        ..small()
    });
    let Stack::U8(a) = &s.stack else {
        panic!("not u8")
    };
    let corner = a.slice(s![.., ..4, ..4]);
    let mean = corner.iter().map(|&v| f64::from(v)).sum::<f64>() / corner.len() as f64;
    assert!((mean - 200.0).abs() < 5.0, "{mean}");
}

//! The CLI's streaming path (src/cli/stream.rs): the paper preset on a TIFF
//! is computed slice by slice, and every output must be byte for byte the
//! one the in-memory path writes (`INFOCUS_NO_STREAM=1`), whether the map
//! stays in memory or spills to a temporary file (`INFOCUS_STREAM_BUDGET`),
//! for every pixel type, threshold and output. Also the page reader and the
//! page-by-page writer of the library against their whole-stack versions.

use infocus::io::{Calibration, open_tiff_pages, read_tiff, stage_tiff_pages, write_tiff};
use infocus::synth::{SynthParams, synth};
use infocus::threshold::{OtsuHistogram, otsu_level};
use infocus::{PixelType, Progress, Stack};
use ndarray::Axis;
use std::path::Path;
use std::process::Command;

fn stack(t: PixelType, z: usize, n: usize, seed: u64) -> Stack {
    let p = SynthParams {
        depth: z,
        height: n,
        width: n + 13,
        pixel_type: t,
        seed,
        ..SynthParams::default()
    };
    synth(&p, &Progress::none()).expect("synth").stack
}

fn cal() -> Calibration {
    Calibration {
        pixel_width: 0.5,
        pixel_height: 0.5,
        z_spacing: 2.0,
        unit: "µm".into(),
    }
}

/// Runs the CLI; `env` adds variables. Panics with its stderr on failure.
fn infocus(args: &[&str], env: &[(&str, &str)]) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_infocus"));
    c.args(args)
        .env_remove("INFOCUS_NO_STREAM")
        .env_remove("INFOCUS_STREAM_BUDGET");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("infocus runs");
    assert!(
        out.status.success(),
        "infocus {args:?} {env:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Segments `input` streamed (with `env`) and in memory, with `extra` flags
/// and every output, and checks that the files are identical.
fn same_outputs(dir: &Path, input: &Path, extra: &[&str], env: &[(&str, &str)]) {
    same_outputs_with(dir, input, extra, env, true);
}

/// [`same_outputs`], with or without the focus map among the outputs
/// (without it, a map over the budget is computed again, not stored).
fn same_outputs_with(
    dir: &Path,
    input: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
    with_map: bool,
) {
    let names: &[&str] = if with_map {
        &["mask", "map", "in_focus", "depth", "aif"]
    } else {
        &["mask", "in_focus", "depth", "aif"]
    };
    let run = |tag: &str, env: &[(&str, &str)]| {
        let p = |n: &str| {
            dir.join(format!("{tag}_{n}.tif"))
                .to_str()
                .unwrap()
                .to_string()
        };
        let (m, f, i, d, a) = (p("mask"), p("map"), p("in_focus"), p("depth"), p("aif"));
        let mut args = vec![
            "segment",
            input.to_str().unwrap(),
            "-o",
            &m,
            "--in-focus",
            &i,
            "--depth",
            &d,
            "--all-in-focus",
            &a,
        ];
        if with_map {
            args.extend_from_slice(&["--focus-map", &f]);
        }
        args.extend_from_slice(extra);
        infocus(&args, env);
    };
    run("stream", env);
    run("memory", &[("INFOCUS_NO_STREAM", "1")]);
    for &n in names {
        let (a, b) = (
            dir.join(format!("stream_{n}.tif")),
            dir.join(format!("memory_{n}.tif")),
        );
        assert!(
            bytes(&a) == bytes(&b),
            "{n} differs for {} {extra:?} {env:?}",
            input.display()
        );
    }
    // Nothing left behind: the temporary map is unlinked at once.
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

#[test]
fn streamed_outputs_are_the_in_memory_bytes() {
    let dir = tempfile::tempdir().unwrap();
    for (k, t) in [PixelType::U8, PixelType::U16, PixelType::F32]
        .into_iter()
        .enumerate()
    {
        let input = dir.path().join(format!("in_{}.tif", t.name()));
        write_tiff(&input, stack(t, 5, 150, k as u64 + 1).view(), &cal()).unwrap();
        for budget in ["1000000000", "1"] {
            let env = [("INFOCUS_STREAM_BUDGET", budget)];
            same_outputs(dir.path(), &input, &["--preset", "paper"], &env);
        }
        // Without a focus map to write, the map over the budget is not kept
        // but computed again.
        let env = [("INFOCUS_STREAM_BUDGET", "1")];
        for extra in [
            &["--preset", "paper"][..],
            &["--threshold", "otsu-slice", "--window", "50"],
        ] {
            same_outputs_with(dir.path(), &input, extra, &env, false);
        }
        // Other thresholds and maps, the map spilled to a file.
        let env = [("INFOCUS_STREAM_BUDGET", "1")];
        for extra in [
            &["--preset", "paper", "--threshold", "otsu-slice"][..],
            &[
                "--measure",
                "brenner",
                "--window",
                "32",
                "--strides",
                "8,12",
                "--threshold",
                "1000",
            ],
            &["--measure", "entropy", "--window", "40", "--strides", "16"],
        ] {
            same_outputs(dir.path(), &input, extra, &env);
        }
    }
}

#[test]
fn streamed_focus_map_is_the_in_memory_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.tif");
    write_tiff(&input, stack(PixelType::U16, 4, 130, 9).view(), &cal()).unwrap();
    let (a, b) = (dir.path().join("a.tif"), dir.path().join("b.tif"));
    let args = |o: &Path| {
        vec![
            "focus-map".to_string(),
            input.to_str().unwrap().to_string(),
            "-o".into(),
            o.to_str().unwrap().to_string(),
            "--preset".into(),
            "paper".into(),
        ]
    };
    fn argv(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    infocus(&argv(&args(&a)), &[("INFOCUS_STREAM_BUDGET", "1")]);
    infocus(&argv(&args(&b)), &[("INFOCUS_NO_STREAM", "1")]);
    assert!(bytes(&a) == bytes(&b));
}

#[test]
fn pages_read_one_at_a_time_make_the_stack() {
    let dir = tempfile::tempdir().unwrap();
    for t in [PixelType::U8, PixelType::U16, PixelType::F32] {
        let s = stack(t, 7, 40, 3);
        let path = dir.path().join(format!("p_{}.tif", t.name()));
        write_tiff(&path, s.view(), &cal()).unwrap();
        let (whole, c) = read_tiff(&path).unwrap();
        let mut pages = open_tiff_pages(&path).unwrap();
        assert_eq!(pages.calibration(), &c);
        assert_eq!(pages.pixel_type(), t);
        assert_eq!(pages.len_hint(), Some(7));
        let mut z = 0;
        while let Some(part) = pages.next_slices(3).unwrap() {
            let n = part.dim().0;
            for j in 0..n {
                assert_eq!(
                    part.view().slice_f64(j),
                    whole.view().slice_f64(z + j),
                    "{} slice {}",
                    t.name(),
                    z + j
                );
            }
            z += n;
        }
        assert_eq!(z, 7);
        // Written page by page: the bytes of the whole-stack writer.
        let again = dir.path().join(format!("q_{}.tif", t.name()));
        let range = match &whole {
            Stack::F32(a) => Some(
                a.iter()
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
                        (l.min(v), h.max(v))
                    }),
            ),
            _ => None,
        };
        stage_tiff_pages(&again, t, whole.dim(), &c, range, |k| {
            Ok(match &whole {
                Stack::U8(a) => Stack::U8(a.slice(ndarray::s![k..k + 1, .., ..]).to_owned()),
                Stack::U16(a) => Stack::U16(a.slice(ndarray::s![k..k + 1, .., ..]).to_owned()),
                Stack::F32(a) => Stack::F32(a.slice(ndarray::s![k..k + 1, .., ..]).to_owned()),
            })
        })
        .unwrap()
        .commit()
        .unwrap();
        assert!(bytes(&path) == bytes(&again), "{}", t.name());
    }
}

#[test]
fn otsu_histogram_in_parts_gives_otsu_level() {
    let s = stack(PixelType::F32, 3, 64, 5);
    let Stack::F32(a) = s else { unreachable!() };
    let v: Vec<f32> = a.iter().copied().collect();
    let (lo, hi) = v
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        });
    let mut h = OtsuHistogram::new(lo, hi, 256);
    for part in a.axis_iter(Axis(0)) {
        h.add(&part.iter().copied().collect::<Vec<_>>());
    }
    assert_eq!(h.level().to_bits(), otsu_level(&v, 256).to_bits());
    // Constant data: its value, so nothing is above it.
    let mut c = OtsuHistogram::new(3.0, 3.0, 256);
    c.add(&[3.0; 10]);
    assert_eq!(c.level(), 3.0);
}

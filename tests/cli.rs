//! The `infocus` command-line tool, driven as a user would: the real binary,
//! real files in temporary directories, exit codes, stdout and stderr.
//!
//! Results are checked against the library called in-process on the same
//! bytes, so a CLI that computes something else (wrong preset, wrong
//! parameters, wrong output type) fails here.

use infocus::io::{Calibration, read_stack, write_tiff};
use infocus::map::{MapParams, focus_map};
use infocus::measure::Measure;
use infocus::segment::{Preset, SegmentParams, preset_map, segment};
use infocus::synth::{SynthParams, synth};
use infocus::threshold::Threshold;
use infocus::{PixelType, Progress, Stack, StackView};
use ndarray::{Array3, Axis};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

// ---------------------------------------------------------------------------
// Helpers

fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_infocus"))
        .args(args)
        .env_remove("RAYON_NUM_THREADS")
        .output()
        .expect("the infocus binary runs")
}

fn describe(args: &[&OsStr], out: &Output) -> String {
    format!(
        "infocus {:?}\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
        args,
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs and asserts success; returns stdout.
fn ok<S: AsRef<OsStr>>(args: &[S]) -> String {
    let args: Vec<&OsStr> = args.iter().map(|a| a.as_ref()).collect();
    let out = run(&args);
    assert!(
        out.status.success(),
        "expected success\n{}",
        describe(&args, &out)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// Every file under `dir` (recursively) with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                todo.push(p.clone());
                files.insert(p, Vec::new());
            } else {
                let bytes = std::fs::read(&p).unwrap();
                files.insert(p, bytes);
            }
        }
    }
    files
}

/// Runs a command that must fail: non-zero exit, nothing created or changed
/// under `dir`, and exactly one line on stderr, starting `infocus: error:`
/// and containing every one of `needles` (case-insensitive). Returns what
/// was wrong, so that one test can report every broken case at once.
fn check_fails<S: AsRef<OsStr>>(dir: &Path, args: &[S], needles: &[&str]) -> Vec<String> {
    let args: Vec<&OsStr> = args.iter().map(|a| a.as_ref()).collect();
    let before = snapshot(dir);
    let out = run(&args);
    let mut problems = Vec::new();
    if out.status.success() {
        problems.push("exit status 0, expected failure".to_string());
    }
    if out.status.code().is_none() {
        problems.push("killed by a signal".to_string());
    }
    let after = snapshot(dir);
    let created: Vec<_> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    if !created.is_empty() {
        problems.push(format!("a failed run created {created:?}"));
    }
    for (k, v) in &before {
        if after.get(k) != Some(v) {
            problems.push(format!("a failed run changed or removed {}", k.display()));
        }
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    if lines.len() != 1 {
        problems.push(format!(
            "{} lines on stderr, expected exactly one",
            lines.len()
        ));
    }
    match lines.first() {
        Some(l) if l.starts_with("infocus: error:") => {
            let lower = l.to_lowercase();
            for n in needles {
                if !lower.contains(&n.to_lowercase()) {
                    problems.push(format!("stderr does not mention '{n}'"));
                }
            }
        }
        _ => problems.push("stderr does not start with 'infocus: error:'".to_string()),
    }
    if problems.is_empty() {
        return problems;
    }
    vec![format!(
        "{}\n{}",
        problems.join("; "),
        describe(&args, &out)
    )]
}

/// [`check_fails`], panicking on any problem.
fn fails<S: AsRef<OsStr>>(dir: &Path, args: &[S], needles: &[&str]) {
    assert_all(check_fails(dir, args, needles));
}

fn assert_all(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{} failing case(s):\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

fn small_params(pixel_type: PixelType, seed: u64) -> SynthParams {
    SynthParams {
        depth: 6,
        height: 64,
        width: 80,
        pixel_type,
        seed,
        ..SynthParams::default()
    }
}

/// A small synthetic stack written to `dir/name`.
fn write_input(dir: &Path, name: &str, pixel_type: PixelType, seed: u64) -> PathBuf {
    let s = synth(&small_params(pixel_type, seed), &Progress::none()).unwrap();
    let p = dir.join(name);
    write_tiff(&p, s.stack.view(), &Calibration::default()).unwrap();
    p
}

fn read(p: &Path) -> Stack {
    read_stack(p)
        .unwrap_or_else(|e| panic!("cannot read back {}: {e}", p.display()))
        .0
}

fn as_f32(s: Stack, what: &str) -> Array3<f32> {
    match s {
        Stack::F32(a) => a,
        other => panic!(
            "{what}: expected an f32 stack, got {:?}",
            other.pixel_type()
        ),
    }
}

fn as_u8(s: Stack, what: &str) -> Array3<u8> {
    match s {
        Stack::U8(a) => a,
        other => panic!("{what}: expected a u8 stack, got {:?}", other.pixel_type()),
    }
}

fn as_u16(s: Stack, what: &str) -> Array3<u16> {
    match s {
        Stack::U16(a) => a,
        other => panic!("{what}: expected a u16 stack, got {:?}", other.pixel_type()),
    }
}

fn assert_bits_eq(a: &Array3<f32>, b: &Array3<f32>, what: &str) {
    assert_eq!(a.dim(), b.dim(), "{what}: shapes differ");
    let diff = a
        .iter()
        .zip(b.iter())
        .filter(|(x, y)| x.to_bits() != y.to_bits())
        .count();
    assert_eq!(diff, 0, "{what}: {diff} of {} values differ", a.len());
}

fn assert_mask(m: &Array3<u8>, what: &str) {
    assert!(
        m.iter().all(|&v| v == 0 || v == 255),
        "{what}: mask values other than 0/255"
    );
}

fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn real(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/real")
        .join(rel)
}

fn paper_params() -> SegmentParams {
    SegmentParams::new(Preset::Paper)
}

// ---------------------------------------------------------------------------
// --help

#[test]
fn help_top_level_and_every_subcommand() {
    let top = ok(&["--help"]);
    for w in [
        "focus-map",
        "segment",
        "synth",
        "eval",
        "demo",
        "--threads",
        "--help",
        "--version",
    ] {
        assert!(top.contains(w), "top-level --help lacks '{w}':\n{top}");
    }
    let cases: [(&str, &[&str]); 5] = [
        (
            "focus-map",
            &[
                "--output",
                "--preset",
                "--measure",
                "--window",
                "--strides",
                "--dof",
                "--min-contrast",
                "--radius",
                "--smoothing",
                "--threads",
            ],
        ),
        (
            "segment",
            &[
                "--output",
                "--preset",
                "--measure",
                "--window",
                "--strides",
                "--threshold",
                "--focus-map",
                "--in-focus",
                "--depth",
                "--all-in-focus",
                "--dof",
                "--threads",
                "otsu-slice",
            ],
        ),
        (
            "synth",
            &[
                "--output",
                "--truth",
                "--slices",
                "--size",
                "--width",
                "--texture",
                "--surface",
                "--pixel-type",
                "--seed",
                "--dof",
            ],
        ),
        ("eval", &["--pred", "--truth", "--json"]),
        ("demo", &["--output"]),
    ];
    for (sub, flags) in cases {
        let help = ok(&[sub, "--help"]);
        assert!(help.contains("Usage"), "{sub} --help has no usage:\n{help}");
        for f in flags {
            assert!(help.contains(f), "{sub} --help lacks '{f}':\n{help}");
        }
        // `help <sub>` says the same.
        assert_eq!(
            ok(&["help", sub]),
            help,
            "`help {sub}` differs from `{sub} --help`"
        );
    }
    let version = ok(&["--version"]);
    assert!(version.contains(infocus::VERSION), "--version: {version}");
}

// ---------------------------------------------------------------------------
// synth

#[test]
fn synth_writes_stack_and_truth_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = d.join("a.tif");
    let common = ["--slices", "5", "--size", "48", "--width", "40"];
    let with = |out: &Path, extra: &[&str]| {
        let mut args: Vec<&OsStr> = vec!["synth".as_ref(), "-o".as_ref(), out.as_os_str()];
        args.extend(common.iter().map(OsStr::new));
        args.extend(extra.iter().map(OsStr::new));
        ok(&args);
    };
    with(&a, &["--seed", "7"]);
    let a_truth = d.join("a_truth.tif");
    assert!(
        a.is_file() && a_truth.is_file(),
        "synth did not write a.tif and a_truth.tif: {:?}",
        snapshot(d).keys()
    );

    // The files hold exactly what the library makes for these parameters.
    let p = SynthParams {
        depth: 5,
        height: 48,
        width: 40,
        seed: 7,
        ..SynthParams::default()
    };
    let s = synth(&p, &Progress::none()).unwrap();
    let stack = read(&a);
    assert_eq!(stack.dim(), (5, 48, 40));
    assert_eq!(stack.pixel_type(), PixelType::U16);
    assert_eq!(stack, s.stack, "synth's stack differs from the library's");
    let truth = as_u8(read(&a_truth), "truth");
    assert_eq!(truth.dim(), (5, 48, 40));
    assert_mask(&truth, "truth");
    assert!(
        truth.iter().any(|&v| v == 255) && truth.iter().any(|&v| v == 0),
        "truth is all one value"
    );
    assert_eq!(truth, s.truth, "synth's truth differs from the library's");

    // --truth PATH puts the truth there and nowhere else.
    let sub = d.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let b = sub.join("b.tif");
    let t = sub.join("elsewhere.tif");
    with(&b, &["--seed", "7", "--truth", t.to_str().unwrap()]);
    assert!(t.is_file(), "--truth path not written");
    assert!(
        !sub.join("b_truth.tif").exists(),
        "--truth given, yet b_truth.tif was written"
    );
    // Same seed: byte-identical files.
    assert_eq!(bytes(&a), bytes(&b), "same seed, different stack bytes");
    assert_eq!(
        bytes(&a_truth),
        bytes(&t),
        "same seed, different truth bytes"
    );

    // Another seed: another stack.
    let c = d.join("c.tif");
    with(&c, &["--seed", "8"]);
    assert_ne!(bytes(&a), bytes(&c), "seeds 7 and 8 gave the same stack");
    assert_ne!(read(&a), read(&c));

    // Pixel types.
    for (name, t) in [("u8", PixelType::U8), ("f32", PixelType::F32)] {
        let p = d.join(format!("{name}.tif"));
        with(&p, &["--pixel-type", name]);
        let s = read(&p);
        assert_eq!(
            (s.pixel_type(), s.dim()),
            (t, (5, 48, 40)),
            "--pixel-type {name}"
        );
    }
}

// ---------------------------------------------------------------------------
// focus-map

#[test]
fn focus_map_presets_match_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = write_input(d, "in.tif", PixelType::U16, 3);
    let stack = read(&input);
    let shape = stack.dim();

    // --preset paper == map::focus_map with the paper's parameters.
    let paper_out = d.join("paper.tif");
    ok(&[
        OsStr::new("focus-map"),
        input.as_os_str(),
        "-o".as_ref(),
        paper_out.as_os_str(),
        "--preset".as_ref(),
        "paper".as_ref(),
    ]);
    let paper = as_f32(read(&paper_out), "paper map");
    assert_eq!(paper.dim(), shape);
    let want = focus_map(stack.view(), &MapParams::paper(), &Progress::none()).unwrap();
    assert_bits_eq(&paper, &want, "focus-map --preset paper vs map::focus_map");

    // --measure brenner --window 16 --strides 4,8 (implies paper).
    let brenner_out = d.join("brenner.tif");
    ok(&[
        OsStr::new("focus-map"),
        input.as_os_str(),
        "-o".as_ref(),
        brenner_out.as_os_str(),
        "--measure".as_ref(),
        "brenner".as_ref(),
        "--window".as_ref(),
        "16".as_ref(),
        "--strides".as_ref(),
        "4,8".as_ref(),
    ]);
    let brenner = as_f32(read(&brenner_out), "brenner map");
    assert_eq!(brenner.dim(), shape);
    let params = MapParams {
        measure: Measure::Brenner,
        window: 16,
        strides: vec![4, 8],
    };
    let want = focus_map(stack.view(), &params, &Progress::none()).unwrap();
    assert_bits_eq(
        &brenner,
        &want,
        "focus-map --measure brenner --window 16 --strides 4,8",
    );
    assert_ne!(brenner, paper, "brenner map equals the paper's std map");

    // No flags: the default preset.
    let default_out = d.join("default.tif");
    ok(&[
        OsStr::new("focus-map"),
        input.as_os_str(),
        "-o".as_ref(),
        default_out.as_os_str(),
    ]);
    let default = as_f32(read(&default_out), "default map");
    assert_eq!(default.dim(), shape);
    let want = preset_map(
        stack.view(),
        &SegmentParams::new(Preset::Default),
        &Progress::none(),
    )
    .unwrap();
    assert_bits_eq(&default, &want, "focus-map (default preset) vs preset_map");
    assert!(default.iter().all(|v| v.is_finite()));
    assert_ne!(default, paper, "default map equals the paper's");
}

#[test]
fn focus_map_of_several_inputs_goes_into_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = write_input(d, "a.tif", PixelType::U8, 1);
    let b = write_input(d, "b.tif", PixelType::F32, 2);
    let out = d.join("maps");
    ok(&[
        OsStr::new("focus-map"),
        a.as_os_str(),
        b.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--window".as_ref(),
        "32".as_ref(),
    ]);
    for p in [&a, &b] {
        let m = as_f32(read(&out.join(p.file_name().unwrap())), "map");
        let params = MapParams {
            window: 32,
            ..MapParams::paper()
        };
        let want = focus_map(read(p).view(), &params, &Progress::none()).unwrap();
        assert_bits_eq(&m, &want, "several inputs");
    }
}

// ---------------------------------------------------------------------------
// segment

/// Runs segment with every product on `input` and checks the outputs;
/// returns (mask, focus map).
fn segment_all_products(
    d: &Path,
    input: &Path,
    tag: &str,
    extra: &[&str],
) -> (Array3<u8>, Array3<f32>) {
    let stack = read(input);
    let (z, h, w) = stack.dim();
    let p = |n: &str| d.join(format!("{tag}_{n}.tif"));
    let (mask_p, map_p, inf_p, depth_p, aif_p) =
        (p("mask"), p("map"), p("in_focus"), p("depth"), p("aif"));
    let mut args: Vec<&OsStr> = vec![
        "segment".as_ref(),
        input.as_os_str(),
        "-o".as_ref(),
        mask_p.as_os_str(),
        "--focus-map".as_ref(),
        map_p.as_os_str(),
        "--in-focus".as_ref(),
        inf_p.as_os_str(),
        "--depth".as_ref(),
        depth_p.as_os_str(),
        "--all-in-focus".as_ref(),
        aif_p.as_os_str(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    ok(&args);

    let mask = as_u8(read(&mask_p), "mask");
    assert_eq!(mask.dim(), (z, h, w), "{tag}: mask shape");
    assert_mask(&mask, tag);
    let map = as_f32(read(&map_p), "focus map");
    assert_eq!(map.dim(), (z, h, w), "{tag}: focus map shape");
    assert!(
        map.iter().all(|v| v.is_finite()),
        "{tag}: focus map not finite"
    );

    let inf = read(&inf_p);
    assert_eq!(inf.pixel_type(), stack.pixel_type(), "{tag}: in-focus type");
    assert_eq!(inf.dim(), (z, h, w), "{tag}: in-focus shape");
    let depth = as_u16(read(&depth_p), "depth");
    assert_eq!(depth.dim(), (1, h, w), "{tag}: depth shape");
    assert!(
        depth.iter().all(|&k| usize::from(k) < z),
        "{tag}: depth beyond the stack"
    );
    let aif = read(&aif_p);
    assert_eq!(
        aif.pixel_type(),
        stack.pixel_type(),
        "{tag}: all-in-focus type"
    );
    assert_eq!(aif.dim(), (1, h, w), "{tag}: all-in-focus shape");

    let (sv, iv, av) = (stack.view(), inf.view(), aif.view());
    for y in 0..h {
        for x in 0..w {
            let k = usize::from(depth[[0, y, x]]);
            assert_eq!(
                av.get_f64(0, y, x),
                sv.get_f64(k, y, x),
                "{tag}: all-in-focus at ({y}, {x}) is not its depth slice's pixel"
            );
            for zz in 0..z {
                let want = if mask[[zz, y, x]] != 0 {
                    sv.get_f64(zz, y, x)
                } else {
                    0.0
                };
                assert_eq!(
                    iv.get_f64(zz, y, x),
                    want,
                    "{tag}: in-focus at ({zz}, {y}, {x})"
                );
            }
        }
    }
    (mask, map)
}

#[test]
fn segment_products_paper_preset_match_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = write_input(d, "in.tif", PixelType::U16, 5);
    let stack = read(&input);
    let (mask, map) = segment_all_products(d, &input, "paper", &["--preset", "paper"]);
    let seg = segment(stack.view(), &paper_params(), &Progress::none()).unwrap();
    assert_eq!(
        mask, seg.mask,
        "segment --preset paper mask differs from segment::segment"
    );
    assert_bits_eq(&map, &seg.map, "segment --preset paper focus map");
    assert!(
        mask.iter().any(|&v| v == 255) && mask.iter().any(|&v| v == 0),
        "paper mask is all one value"
    );
}

#[test]
fn segment_products_default_preset_match_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (t, name) in [(PixelType::U8, "u8"), (PixelType::F32, "f32")] {
        let input = write_input(d, &format!("{name}.tif"), t, 6);
        let stack = read(&input);
        let (mask, map) = segment_all_products(d, &input, name, &[]);
        let seg = segment(
            stack.view(),
            &SegmentParams::new(Preset::Default),
            &Progress::none(),
        )
        .unwrap();
        assert_eq!(
            mask, seg.mask,
            "{name}: default mask differs from segment::segment"
        );
        assert_bits_eq(&map, &seg.map, "default focus map");
        assert!(
            mask.iter().any(|&v| v == 255) && mask.iter().any(|&v| v == 0),
            "{name}: default mask is all one value"
        );
    }
}

#[test]
fn segment_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = write_input(d, "in.tif", PixelType::U16, 9);
    let stack = read(&input);
    let seg = |extra: &[&str], out: &str| {
        let o = d.join(out);
        let mut args: Vec<&OsStr> = vec![
            "segment".as_ref(),
            input.as_os_str(),
            "-o".as_ref(),
            o.as_os_str(),
        ];
        args.extend(extra.iter().map(OsStr::new));
        ok(&args);
        let m = as_u8(read(&o), out);
        assert_eq!(m.dim(), stack.dim(), "{out}");
        assert_mask(&m, out);
        m
    };

    // otsu-slice on the paper map: as the library does it, and not the stack-wide level.
    let slice = seg(
        &["--preset", "paper", "--threshold", "otsu-slice"],
        "slice.tif",
    );
    let mut p = paper_params();
    p.threshold = Some(Threshold::OtsuSlice);
    let want = segment(stack.view(), &p, &Progress::none()).unwrap();
    assert_eq!(slice, want.mask, "--threshold otsu-slice");
    let stackwide = seg(&["--preset", "paper"], "stack.tif");
    assert_ne!(
        slice, stackwide,
        "otsu-slice gave the same mask as otsu-stack"
    );
    // Every slice holds some in-focus pixels under a per-slice Otsu level.
    for (k, s) in slice.axis_iter(Axis(0)).enumerate() {
        assert!(
            s.iter().any(|&v| v == 255),
            "otsu-slice: slice {k} has no in-focus pixel"
        );
    }

    // A fixed level on the default preset's map: strictly above it.
    let fixed = seg(&["--threshold", "0.5"], "fixed.tif");
    let map = preset_map(
        stack.view(),
        &SegmentParams::new(Preset::Default),
        &Progress::none(),
    )
    .unwrap();
    let want = map.mapv(|v| if v > 0.5 { 255u8 } else { 0 });
    assert_eq!(fixed, want, "--threshold 0.5 is not map > 0.5");
    assert!(
        fixed.iter().any(|&v| v == 255) && fixed.iter().any(|&v| v == 0),
        "--threshold 0.5 is all one value"
    );
}

#[test]
fn segment_several_inputs_one_bad() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = write_input(d, "a.tif", PixelType::U16, 1);
    let b = write_input(d, "b.tif", PixelType::U8, 2);
    let bad = d.join("bad.tif");
    std::fs::write(&bad, "this is not a TIFF\n").unwrap();
    let out = d.join("masks");
    let args: Vec<&OsStr> = vec![
        "segment".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
        bad.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--preset".as_ref(),
        "paper".as_ref(),
    ];
    let res = run(&args);
    let what = describe(&args, &res);
    assert!(!res.status.success(), "one bad input, yet success\n{what}");
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("infocus: error:") && l.contains("bad.tif")),
        "stderr does not name bad.tif\n{what}"
    );
    assert!(
        !stderr.contains("a.tif") && !stderr.contains("b.tif"),
        "stderr blames a good input\n{what}"
    );
    assert!(
        !out.join("bad.tif").exists(),
        "an output was written for the bad input\n{what}"
    );
    for p in [&a, &b] {
        let m = as_u8(read(&out.join(p.file_name().unwrap())), "mask");
        let want = segment(read(p).view(), &paper_params(), &Progress::none())
            .unwrap()
            .mask;
        assert_eq!(m, want, "{}: mask in the output directory", p.display());
    }
}

// ---------------------------------------------------------------------------
// eval

fn json_of(s: &str) -> serde_json::Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("eval --json is not JSON ({e}):\n{s}"))
}

#[test]
fn eval_table_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = synth(&small_params(PixelType::U16, 4), &Progress::none()).unwrap();
    let truth = d.join("truth.tif");
    write_tiff(
        &truth,
        StackView::U8(s.truth.view()),
        &Calibration::default(),
    )
    .unwrap();
    let stack = d.join("stack.tif");
    write_tiff(&stack, s.stack.view(), &Calibration::default()).unwrap();
    let pred = d.join("pred.tif");
    ok(&[
        OsStr::new("segment"),
        stack.as_os_str(),
        "-o".as_ref(),
        pred.as_os_str(),
        "--preset".as_ref(),
        "paper".as_ref(),
    ]);

    // Table.
    let table = ok(&[
        OsStr::new("eval"),
        "--pred".as_ref(),
        pred.as_os_str(),
        "--truth".as_ref(),
        truth.as_os_str(),
    ]);
    for w in ["iou", "dice", "precision", "recall", "stack"] {
        assert!(
            table.to_lowercase().contains(w),
            "eval table lacks '{w}':\n{table}"
        );
    }

    // JSON agrees with the library.
    let mask = as_u8(read(&pred), "pred");
    let ev = infocus::eval::evaluate(mask.view(), s.truth.view()).unwrap();
    let j = json_of(&ok(&[
        OsStr::new("eval"),
        "--pred".as_ref(),
        pred.as_os_str(),
        "--truth".as_ref(),
        truth.as_os_str(),
        "--json".as_ref(),
    ]));
    let iou = j["stack"]["iou"].as_f64().expect("stack.iou is a number");
    assert!((0.0..=1.0).contains(&iou), "iou {iou}");
    assert_eq!(
        iou, ev.stack.iou,
        "eval --json iou differs from eval::evaluate"
    );
    assert!(
        iou < 1.0,
        "paper mask matches the truth exactly; the test input is too easy"
    );
    assert_eq!(j["stack"]["tp"].as_u64(), Some(ev.stack.tp));
    assert_eq!(j["stack"]["fp"].as_u64(), Some(ev.stack.fp));
    assert_eq!(j["per_slice"].as_array().map(Vec::len), Some(6));
    let total: u64 = ["tp", "fp", "fn", "tn"]
        .iter()
        .map(|k| j["stack"][k].as_u64().unwrap())
        .sum();
    assert_eq!(total, 6 * 64 * 80);
    let table_iou = format!("{iou:.4}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("stack") && l.contains(&table_iou)),
        "table's stack row lacks iou {table_iou}:\n{table}"
    );

    // Truth against itself.
    let j = json_of(&ok(&[
        OsStr::new("eval"),
        "--pred".as_ref(),
        truth.as_os_str(),
        "--truth".as_ref(),
        truth.as_os_str(),
        "--json".as_ref(),
    ]));
    assert_eq!(
        j["stack"]["iou"].as_f64(),
        Some(1.0),
        "truth vs itself: {j}"
    );
    assert_eq!(j["stack"]["fp"].as_u64(), Some(0));
    assert_eq!(j["stack"]["fn"].as_u64(), Some(0));
    let table = ok(&[
        OsStr::new("eval"),
        "--pred".as_ref(),
        truth.as_os_str(),
        "--truth".as_ref(),
        truth.as_os_str(),
    ]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("stack") && l.contains("1.0000")),
        "{table}"
    );
}

// ---------------------------------------------------------------------------
// demo

#[test]
fn demo_writes_its_files_and_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    // A short U-Net training (the README's demo trains up to 40 epochs).
    let stdout = ok(&[
        OsStr::new("demo"),
        "-o".as_ref(),
        out.as_os_str(),
        "--unet-epochs".as_ref(),
        "2".as_ref(),
    ]);
    if infocus::unet::AVAILABLE {
        for f in ["mask_unet.tif", "prob_unet.tif", "unet.safetensors"] {
            assert!(out.join(f).is_file(), "demo did not write {f}\n{stdout}");
        }
        assert!(
            stdout.lines().any(|l| l.starts_with("unet ")),
            "no unet row:\n{stdout}"
        );
    }
    for f in [
        "stack.tif",
        "truth.tif",
        "mask_default.tif",
        "mask_paper.tif",
        "montage.png",
    ] {
        assert!(out.join(f).is_file(), "demo did not write {f}\n{stdout}");
    }
    let stack = read(&out.join("stack.tif"));
    let truth = as_u8(read(&out.join("truth.tif")), "truth");
    assert_eq!(truth.dim(), stack.dim());
    for preset in ["default", "paper"] {
        let m = as_u8(read(&out.join(format!("mask_{preset}.tif"))), preset);
        assert_eq!(m.dim(), stack.dim(), "mask_{preset}");
        assert_mask(&m, preset);
        let row = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(preset))
            .unwrap_or_else(|| panic!("demo table has no '{preset}' row:\n{stdout}"));
        let iou: f64 = row
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no IoU in '{row}'"));
        assert!((0.0..=1.0).contains(&iou), "{preset} IoU {iou}");
        // The printed IoU is that of the written mask.
        let ev = infocus::eval::evaluate(m.view(), truth.view()).unwrap();
        assert_eq!(
            format!("{:.3}", ev.stack.iou),
            format!("{iou:.3}"),
            "{preset}: table IoU vs the mask on disk"
        );
    }
    assert!(stdout.to_lowercase().contains("iou"), "{stdout}");
    let png = bytes(&out.join("montage.png"));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "montage.png is not a PNG"
    );
}

// ---------------------------------------------------------------------------
// Real data

fn segment_real(rel: &str, shape: (usize, usize, usize)) {
    let input = real(rel);
    let stack = read(&input);
    assert_eq!(stack.dim(), shape, "{rel}");
    let dir = tempfile::tempdir().unwrap();
    for preset in ["paper", "default"] {
        let m = dir.path().join(format!("{preset}_mask.tif"));
        let f = dir.path().join(format!("{preset}_map.tif"));
        ok(&[
            OsStr::new("segment"),
            input.as_os_str(),
            "-o".as_ref(),
            m.as_os_str(),
            "--focus-map".as_ref(),
            f.as_os_str(),
            "--preset".as_ref(),
            preset.as_ref(),
        ]);
        let mask = as_u8(read(&m), rel);
        assert_eq!(mask.dim(), shape, "{rel} {preset}: mask shape");
        assert_mask(&mask, rel);
        let map = as_f32(read(&f), rel);
        assert_eq!(map.dim(), shape, "{rel} {preset}: map shape");
        assert!(
            map.iter().all(|v| v.is_finite()),
            "{rel} {preset}: non-finite map"
        );
        if preset == "paper" {
            // A window larger than the image is clipped to it: the map must
            // still vary (one window covers everything, but it is added once
            // per lattice point that covers the pixel).
            let (lo, hi) = map
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
            assert!(hi > lo, "{rel}: paper map is constant");
            assert!(lo >= 0.0, "{rel}: negative std map");
        }
    }
}

#[test]
fn real_zebrafish_slice() {
    segment_real("zebrafish_slice/image.npy", (1, 256, 256));
}

#[test]
fn real_bf_autofocus_window_larger_than_image() {
    segment_real("bf_autofocus/stack.tif", (34, 116, 55));
}

#[test]
fn real_focusstack_pcb() {
    segment_real("focusstack_pcb/stack.tif", (7, 768, 1024));
}

// ---------------------------------------------------------------------------
// Bad input

struct Bad {
    dir: tempfile::TempDir,
    input: PathBuf,
}

fn bad_setup() -> Bad {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), "in.tif", PixelType::U16, 11);
    Bad { dir, input }
}

impl Bad {
    fn d(&self) -> &Path {
        self.dir.path()
    }
    fn out(&self) -> PathBuf {
        self.d().join("out.tif")
    }
    /// `cmd input -o out extra...` must fail for focus-map and segment.
    fn both(&self, extra: &[&str], needles: &[&str]) -> Vec<String> {
        let mut problems = Vec::new();
        for cmd in ["focus-map", "segment"] {
            let out = self.out();
            let mut args: Vec<&OsStr> = vec![
                cmd.as_ref(),
                self.input.as_os_str(),
                "-o".as_ref(),
                out.as_os_str(),
            ];
            args.extend(extra.iter().map(OsStr::new));
            problems.extend(check_fails(self.d(), &args, needles));
        }
        problems
    }
    fn with_input(&self, input: &Path, needles: &[&str]) -> Vec<String> {
        let mut problems = Vec::new();
        for cmd in ["focus-map", "segment"] {
            let out = self.out();
            let args: Vec<&OsStr> = vec![
                cmd.as_ref(),
                input.as_os_str(),
                "-o".as_ref(),
                out.as_os_str(),
            ];
            problems.extend(check_fails(self.d(), &args, needles));
        }
        problems
    }
}

#[test]
fn bad_missing_file() {
    let b = bad_setup();
    assert_all(b.with_input(&b.d().join("missing.tif"), &["missing.tif"]));
}

#[test]
fn bad_text_file_named_tif() {
    let b = bad_setup();
    let p = b.d().join("notes.tif");
    std::fs::write(&p, "just some text, not an image\n").unwrap();
    assert_all(b.with_input(&p, &["notes.tif", "tiff"]));
}

#[test]
fn bad_unknown_measure() {
    assert_all(bad_setup().both(&["--measure", "sharpness"], &["measure", "sharpness"]));
}

#[test]
fn bad_window_zero() {
    assert_all(bad_setup().both(&["--window", "0"], &["window"]));
}

#[test]
fn bad_zero_stride() {
    let b = bad_setup();
    let mut problems = b.both(&["--strides", "0"], &["stride"]);
    problems.extend(b.both(&["--strides", "8,0,12"], &["stride"]));
    assert_all(problems);
}

#[test]
fn bad_empty_stride() {
    let b = bad_setup();
    let mut problems = b.both(&["--strides", ""], &["stride"]);
    problems.extend(b.both(&["--strides", "8,,12"], &["stride"]));
    assert_all(problems);
}

#[test]
fn bad_preset_default_with_measure() {
    assert_all(bad_setup().both(
        &["--preset", "default", "--measure", "std"],
        &["--preset default", "--measure"],
    ));
}

#[test]
fn bad_preset_paper_with_dof() {
    assert_all(bad_setup().both(
        &["--preset", "paper", "--dof", "3"],
        &["--preset paper", "--dof"],
    ));
}

#[test]
fn bad_unknown_threshold() {
    let b = bad_setup();
    let mut problems = Vec::new();
    for t in ["median", "nan", "otsu-slices"] {
        let out = b.out();
        let args: Vec<&OsStr> = vec![
            "segment".as_ref(),
            b.input.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
            "--threshold".as_ref(),
            t.as_ref(),
        ];
        problems.extend(check_fails(b.d(), &args, &["threshold", t]));
    }
    assert_all(problems);
}

#[test]
fn bad_eval_shapes_differ() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = d.join("a.tif");
    let b = d.join("b.tif");
    write_tiff(
        &a,
        StackView::U8(Array3::<u8>::zeros((3, 16, 20)).view()),
        &Calibration::default(),
    )
    .unwrap();
    write_tiff(
        &b,
        StackView::U8(Array3::<u8>::zeros((3, 20, 16)).view()),
        &Calibration::default(),
    )
    .unwrap();
    for json in [false, true] {
        let mut args: Vec<&OsStr> = vec![
            "eval".as_ref(),
            "--pred".as_ref(),
            a.as_os_str(),
            "--truth".as_ref(),
            b.as_os_str(),
        ];
        if json {
            args.push("--json".as_ref());
        }
        let out = run(&args);
        assert!(
            out.stdout.is_empty(),
            "eval printed scores for mismatched shapes\n{}",
            describe(&args, &out)
        );
        fails(d, &args, &["shape", "3 x 16 x 20", "3 x 20 x 16"]);
    }
}

#[test]
fn bad_rgb_tiff() {
    let b = bad_setup();
    let p = b.d().join("rgb.tif");
    {
        let (w, h) = (24u32, 16u32);
        let data: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
        let file = std::fs::File::create(&p).unwrap();
        let mut enc = tiff::encoder::TiffEncoder::new(file).unwrap();
        enc.write_image::<tiff::encoder::colortype::RGB8>(w, h, &data)
            .unwrap();
    }
    assert_all(b.with_input(&p, &["rgb.tif", "rgb"]));
}

#[test]
fn bad_run_leaves_an_existing_output_untouched() {
    let b = bad_setup();
    // An earlier result sits at the output path (and at a product path).
    let out = b.out();
    write_tiff(
        &out,
        StackView::U8(Array3::<u8>::from_elem((2, 8, 8), 7).view()),
        &Calibration::default(),
    )
    .unwrap();
    let map = b.d().join("map.tif");
    std::fs::write(&map, b"previous map").unwrap();
    // A stack that reads but cannot be computed on: a NaN pixel.
    let mut a = Array3::<f32>::from_elem((3, 20, 20), 1.0);
    a[[1, 5, 5]] = f32::NAN;
    let nan = b.d().join("nan.tif");
    write_tiff(&nan, StackView::F32(a.view()), &Calibration::default()).unwrap();
    let rgb = b.d().join("rgb.tif");
    {
        let file = std::fs::File::create(&rgb).unwrap();
        let mut enc = tiff::encoder::TiffEncoder::new(file).unwrap();
        enc.write_image::<tiff::encoder::colortype::RGB8>(4, 4, &[9u8; 48])
            .unwrap();
    }
    let cases: Vec<(Vec<&OsStr>, Vec<&str>)> = vec![
        (
            vec![
                "segment".as_ref(),
                nan.as_os_str(),
                "-o".as_ref(),
                out.as_os_str(),
                "--focus-map".as_ref(),
                map.as_os_str(),
            ],
            vec!["nan.tif", "NaN"],
        ),
        (
            vec![
                "focus-map".as_ref(),
                nan.as_os_str(),
                "-o".as_ref(),
                out.as_os_str(),
            ],
            vec!["nan.tif", "NaN"],
        ),
        (
            vec![
                "segment".as_ref(),
                nan.as_os_str(),
                "-o".as_ref(),
                out.as_os_str(),
                "--preset".as_ref(),
                "paper".as_ref(),
            ],
            vec!["nan.tif", "NaN"],
        ),
        (
            vec![
                "segment".as_ref(),
                rgb.as_os_str(),
                "-o".as_ref(),
                out.as_os_str(),
                "--focus-map".as_ref(),
                map.as_os_str(),
            ],
            vec!["rgb.tif"],
        ),
        (
            vec![
                "segment".as_ref(),
                b.input.as_os_str(),
                "-o".as_ref(),
                out.as_os_str(),
                "--measure".as_ref(),
                "nope".as_ref(),
            ],
            vec!["measure"],
        ),
    ];
    // `check_fails` checks that every file in the directory, out.tif and
    // map.tif included, is byte-identical afterwards.
    let problems: Vec<String> = cases
        .iter()
        .flat_map(|(args, needles)| check_fails(b.d(), args, needles))
        .collect();
    assert_all(problems);
}

#[test]
fn bad_output_path_creates_nothing() {
    let b = bad_setup();
    let nowhere = b.d().join("no_such_dir");
    let mut problems = Vec::new();
    // The mask itself cannot be written.
    let m = nowhere.join("m.tif");
    let args: Vec<&OsStr> = vec![
        "segment".as_ref(),
        b.input.as_os_str(),
        "-o".as_ref(),
        m.as_os_str(),
    ];
    problems.extend(check_fails(b.d(), &args, &[&m.to_string_lossy()]));
    // A product cannot be written: the mask must not be left behind either.
    let out = b.out();
    let depth = nowhere.join("depth.tif");
    let args: Vec<&OsStr> = vec![
        "segment".as_ref(),
        b.input.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--depth".as_ref(),
        depth.as_os_str(),
    ];
    problems.extend(check_fails(b.d(), &args, &[&depth.to_string_lossy()]));
    // synth's truth cannot be written: the stack must not be left behind.
    let s = b.d().join("s.tif");
    let t = nowhere.join("t.tif");
    let args: Vec<&OsStr> = vec![
        "synth".as_ref(),
        "-o".as_ref(),
        s.as_os_str(),
        "--truth".as_ref(),
        t.as_os_str(),
        "--slices".as_ref(),
        "3".as_ref(),
        "--size".as_ref(),
        "32".as_ref(),
    ];
    problems.extend(check_fails(b.d(), &args, &[&t.to_string_lossy()]));
    assert_all(problems);
}

// ---------------------------------------------------------------------------
// --threads

#[test]
fn threads_do_not_change_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = write_input(d, "in.tif", PixelType::U16, 13);
    let run_with = |threads: &str| -> Vec<Vec<u8>> {
        let t = d.join(format!("t{threads}"));
        std::fs::create_dir(&t).unwrap();
        let p = |n: &str| t.join(n);
        let th: [&OsStr; 2] = ["--threads".as_ref(), threads.as_ref()];
        let i = input.as_os_str();
        let o = |n: &str| p(n).into_os_string();
        let mut cmds: Vec<Vec<std::ffi::OsString>> = Vec::new();
        let v = |xs: &[&OsStr]| xs.iter().map(|x| x.to_os_string()).collect::<Vec<_>>();
        cmds.push(v(&[
            "focus-map".as_ref(),
            i,
            "-o".as_ref(),
            &o("fm_paper.tif"),
            "--preset".as_ref(),
            "paper".as_ref(),
        ]));
        cmds.push(v(&[
            "focus-map".as_ref(),
            i,
            "-o".as_ref(),
            &o("fm_default.tif"),
        ]));
        cmds.push(v(&[
            "focus-map".as_ref(),
            i,
            "-o".as_ref(),
            &o("fm_entropy.tif"),
            "--measure".as_ref(),
            "entropy".as_ref(),
            "--window".as_ref(),
            "20".as_ref(),
            "--strides".as_ref(),
            "3,7".as_ref(),
        ]));
        for preset in ["paper", "default"] {
            cmds.push(v(&[
                "segment".as_ref(),
                i,
                "-o".as_ref(),
                &o(&format!("seg_{preset}.tif")),
                "--preset".as_ref(),
                preset.as_ref(),
                "--focus-map".as_ref(),
                &o(&format!("seg_{preset}_map.tif")),
                "--depth".as_ref(),
                &o(&format!("seg_{preset}_depth.tif")),
                "--all-in-focus".as_ref(),
                &o(&format!("seg_{preset}_aif.tif")),
                "--in-focus".as_ref(),
                &o(&format!("seg_{preset}_inf.tif")),
            ]));
        }
        cmds.push(v(&[
            "segment".as_ref(),
            i,
            "-o".as_ref(),
            &o("seg_slice.tif"),
            "--threshold".as_ref(),
            "otsu-slice".as_ref(),
        ]));
        cmds.push(v(&[
            "synth".as_ref(),
            "-o".as_ref(),
            &o("synth.tif"),
            "--slices".as_ref(),
            "7".as_ref(),
            "--size".as_ref(),
            "64".as_ref(),
            "--surface".as_ref(),
            "random".as_ref(),
            "--texture".as_ref(),
            "sparse".as_ref(),
            "--seed".as_ref(),
            "5".as_ref(),
        ]));
        for mut c in cmds {
            c.extend(th.iter().map(|x| x.to_os_string()));
            ok(&c);
        }
        let snap = snapshot(&t);
        assert_eq!(
            snap.len(),
            16,
            "expected 16 output files, got {:?}",
            snap.keys()
        );
        snap.into_values().collect()
    };
    let one = run_with("1");
    let two = run_with("2");
    let names: Vec<String> = snapshot(&d.join("t1"))
        .keys()
        .map(|k| k.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for ((a, b), n) in one.iter().zip(&two).zip(&names) {
        assert!(
            a == b,
            "{n}: --threads 1 and --threads 2 give different bytes"
        );
    }
}

#[test]
fn bad_inputs_whose_outputs_would_collide() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("x")).unwrap();
    std::fs::create_dir_all(d.join("y")).unwrap();
    let a = write_input(&d.join("x"), "a.tif", PixelType::U8, 1);
    let b = write_input(&d.join("y"), "a.tif", PixelType::U8, 2);
    let out = d.join("masks");
    let args = [
        OsStr::new("segment"),
        a.as_os_str(),
        b.as_os_str(),
        OsStr::new("-o"),
        out.as_os_str(),
    ];
    fails(d, &args, &["would both be written", "rename one"]);
}

#[test]
fn bad_thread_count_zero() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = write_input(d, "a.tif", PixelType::U8, 1);
    let out = d.join("m.tif");
    let args = [
        OsStr::new("--threads"),
        OsStr::new("0"),
        OsStr::new("segment"),
        a.as_os_str(),
        OsStr::new("-o"),
        out.as_os_str(),
    ];
    fails(d, &args, &["--threads must be at least 1"]);
}

#[test]
fn a_closed_stdout_ends_quietly() {
    // `infocus --help | head -0`: stdout is a pipe nobody reads, so the
    // first write fails. The tool must end quietly, not panic.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_infocus"))
        .arg("--help")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!out.status.success(), "writing to a closed pipe cannot succeed");
}

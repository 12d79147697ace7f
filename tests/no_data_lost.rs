//! Nothing is lost when a run does not finish: a write cancelled by the
//! caller or failing, Ctrl-C at any moment of a CLI run (once, twice, in a
//! batch), a full disk (simulated with `ulimit -f`, and with a small tmpfs
//! where mounting one is allowed). In every case an existing output is left
//! exactly as it was (or, when the run finished, every output is the new
//! one: never a mix), and no temporary file (`.NAME.PID.N.tmp`) is left.
//! Batches go on past bad files, name each, and exit non-zero at the end.

use infocus::io::{Calibration, read_stack, stage, write_atomic, write_tiff};
use infocus::segment::{Preset, SegmentParams, segment};
use infocus::synth::{SynthParams, synth};
use infocus::{Error, PixelType, Progress, StackView};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_infocus")
}

/// Every file in `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// The temporary files staged writes leave if they are not cleaned up.
fn temporaries(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                todo.push(p);
            } else if name.starts_with('.') && name.ends_with(".tmp") {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

fn small_stack(dir: &Path, name: &str, slices: usize, size: usize, seed: u64) -> PathBuf {
    let p = SynthParams {
        depth: slices,
        height: size,
        width: size,
        pixel_type: PixelType::U16,
        seed,
        ..SynthParams::default()
    };
    let s = synth(&p, &Progress::none()).unwrap();
    let path = dir.join(name);
    write_tiff(&path, s.stack.view(), &Calibration::default()).unwrap();
    path
}

fn describe(out: &Output) -> String {
    format!(
        "status {}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Whether the run was killed by the SIGINT itself: it came before the CLI's
/// handler was installed, while the dynamic loader was still loading and
/// initialising libtorch (0.3 to 0.9 s in a `torch` build on 2 cores). Then
/// the run had not begun, so it cannot have written anything.
fn killed_by_sigint(out: &Output) -> bool {
    use std::os::unix::process::ExitStatusExt;
    out.status.signal() == Some(libc::SIGINT)
}

/// How long the CLI takes to start (`--version`, the slower of two runs):
/// a Ctrl-C meant to reach a running job is sent after this.
fn startup() -> Duration {
    (0..2)
        .map(|_| {
            let t = Instant::now();
            let out = Command::new(bin()).arg("--version").output().unwrap();
            assert!(out.status.success());
            t.elapsed()
        })
        .max()
        .unwrap()
}

fn sigint(child: &Child) {
    // SAFETY: kill with a pid we spawned and a valid signal.
    let r = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(r, 0, "kill -INT");
}

// ------------------------------------------------------------- the library

#[test]
fn a_cancelled_failing_or_panicking_write_leaves_the_target_and_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let target = d.join("out.tif");
    std::fs::write(&target, b"the previous result").unwrap();
    let before = snapshot(d);

    // Cancelled half-way (as the progress callback does).
    let r = write_atomic(&target, |w| {
        w.write_all(&[1; 10_000]).unwrap();
        Err(Error::Cancelled)
    });
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    // A write error half-way.
    let r = write_atomic(&target, |w| {
        w.write_all(&[2; 100]).unwrap();
        Err(Error::io(&target, std::io::Error::other("disk on fire")))
    });
    assert!(r.is_err());
    // A panic half-way.
    let r = std::panic::catch_unwind(|| {
        let _ = write_atomic(&target, |w| {
            w.write_all(&[3; 100]).unwrap();
            panic!("bug while writing");
        });
    });
    assert!(r.is_err());
    // Staged but never committed (another output of the same run failed).
    let staged = stage(&target, |w| {
        w.write_all(&[4; 100]).map_err(|e| Error::io("x", e))
    })
    .unwrap();
    drop(staged);
    // Into a folder that does not exist.
    assert!(write_atomic(&d.join("missing/out.tif"), |_| Ok(())).is_err());

    assert_eq!(snapshot(d), before, "the folder changed");
    assert!(temporaries(d).is_empty(), "{:?}", temporaries(d));
}

// ------------------------------------------------------------------ Ctrl-C

/// The outputs of the interrupted runs: mask, map, in-focus, depth and
/// all-in-focus.
fn segment_args(input: &Path, d: &Path) -> Vec<String> {
    let p = |n: &str| d.join(n).display().to_string();
    vec![
        "segment".into(),
        input.display().to_string(),
        "-o".into(),
        p("mask.tif"),
        "--focus-map".into(),
        p("map.tif"),
        "--in-focus".into(),
        p("in_focus.tif"),
        "--depth".into(),
        p("depth.tif"),
        "--all-in-focus".into(),
        p("aif.tif"),
    ]
}

const OUTPUTS: [&str; 5] = [
    "mask.tif",
    "map.tif",
    "in_focus.tif",
    "depth.tif",
    "aif.tif",
];

fn put_old_outputs(d: &Path) {
    for name in OUTPUTS {
        std::fs::write(d.join(name), format!("old {name}")).unwrap();
    }
}

#[test]
fn ctrl_c_at_any_moment_leaves_all_old_or_all_new_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = small_stack(d, "stack.tif", 24, 384, 11);
    let args = segment_args(&input, d);
    let start = startup();

    // An uninterrupted run: how long it takes and what it writes.
    put_old_outputs(d);
    let t = Instant::now();
    let out = Command::new(bin()).args(&args).output().unwrap();
    let full = t.elapsed();
    assert!(out.status.success(), "{}", describe(&out));
    let new = snapshot(d);

    let mut seen = BTreeMap::new();
    for (k, frac) in [0.02, 0.1, 0.25, 0.4, 0.55, 0.7, 0.8, 0.9, 0.95, 1.0]
        .into_iter()
        .enumerate()
    {
        put_old_outputs(d);
        let old = snapshot(d);
        let child = Command::new(bin())
            .args(&args)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Moments spread over the whole run, most of them past the start-up
        // (see `killed_by_sigint`) so that the work itself is interrupted.
        let at = if k % 3 == 0 {
            full.mul_f64(frac)
        } else {
            start + full.saturating_sub(start).mul_f64(frac)
        };
        std::thread::sleep(at.max(Duration::from_millis(30)));
        sigint(&child);
        let out = child.wait_with_output().unwrap();
        let now = snapshot(d);
        let what = format!("Ctrl-C {k} at {frac} of {full:?}: {}", describe(&out));
        assert!(
            temporaries(d).is_empty(),
            "{what}\ntemporaries left: {:?}",
            temporaries(d)
        );
        let outcome = if now == old {
            "all old"
        } else if now == new {
            "all new"
        } else {
            let mixed: Vec<&str> = OUTPUTS
                .iter()
                .copied()
                .filter(|n| now.get(*n) != old.get(*n))
                .collect();
            panic!("{what}\na mix of old and new outputs; changed: {mixed:?}");
        };
        match out.status.code() {
            Some(130) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(stderr.contains("interrupted"), "{what}");
            }
            Some(0) => assert_eq!(outcome, "all new", "{what}"),
            None if killed_by_sigint(&out) => assert_eq!(outcome, "all old", "{what}"),
            _ => panic!("{what}\nneither 130 (interrupted) nor 0 (finished)"),
        }
        *seen
            .entry(format!("{:?} {outcome}", out.status.code()))
            .or_insert(0) += 1;
    }
    println!("Ctrl-C outcomes over 10 moments: {seen:?}");
    assert!(
        seen.keys().any(|k| k.starts_with("Some(130)")),
        "no run was interrupted: {seen:?}"
    );
}

#[test]
fn a_second_ctrl_c_quits_at_once_without_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = small_stack(d, "stack.tif", 40, 512, 12);
    put_old_outputs(d);
    let old = snapshot(d);
    // Past the start-up (see `killed_by_sigint`), well before the end.
    let wait = startup().mul_f64(1.5) + Duration::from_millis(120);
    let child = Command::new(bin())
        .args(segment_args(&input, d))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(wait);
    sigint(&child);
    std::thread::sleep(Duration::from_millis(5));
    sigint(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
    assert!(temporaries(d).is_empty(), "{:?}", temporaries(d));
    assert_eq!(snapshot(d), old, "{}", describe(&out));
}

#[test]
fn ctrl_c_in_a_batch_writes_only_whole_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Enough work that the batch outlasts the tool's start-up (libtorch's
    // initialisation in a torch build, ~0.25 s, before the Ctrl-C handler
    // exists): the default preset takes a few ms per small stack.
    let inputs: Vec<PathBuf> = (0..10)
        .map(|i| small_stack(d, &format!("s{i}.tif"), 16, 192, 20 + i))
        .collect();
    let outdir = d.join("masks");
    let params = SegmentParams::new(Preset::Default);
    let t = Instant::now();
    let version = Command::new(bin()).arg("--version").output().unwrap();
    assert!(version.status.success());
    let startup = t.elapsed();
    let t = Instant::now();
    let out = Command::new(bin())
        .arg("segment")
        .args(&inputs)
        .arg("-o")
        .arg(&outdir)
        .output()
        .unwrap();
    let full = t.elapsed();
    assert!(out.status.success(), "{}", describe(&out));
    let mut interrupted = 0;
    for frac in [0.2, 0.5, 0.8] {
        // Absent when the last run was killed before it began.
        if outdir.exists() {
            std::fs::remove_dir_all(&outdir).unwrap();
        }
        let child = Command::new(bin())
            .arg("segment")
            .args(&inputs)
            .arg("-o")
            .arg(&outdir)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Into the work, past the start-up.
        std::thread::sleep(startup + full.saturating_sub(startup).mul_f64(frac));
        sigint(&child);
        let out = child.wait_with_output().unwrap();
        let what = describe(&out);
        let killed = killed_by_sigint(&out);
        assert!(matches!(out.status.code(), Some(0 | 130)) || killed, "{what}");
        interrupted += usize::from(out.status.code() == Some(130));
        assert!(temporaries(d).is_empty(), "{what}: {:?}", temporaries(d));
        // Every output there is whole and right.
        for input in &inputs {
            let o = outdir.join(input.file_name().unwrap());
            if o.exists() {
                let (mask, _) = read_stack(&o).unwrap_or_else(|e| panic!("{what}: {e}"));
                let (stack, _) = read_stack(input).unwrap();
                let want = segment(stack.view(), &params, &Progress::none()).unwrap();
                assert_eq!(mask.view().to_f32(), want.mask.mapv(f32::from), "{what}");
            } else {
                assert!(
                    out.status.code() == Some(130) || killed,
                    "{what}: {} missing",
                    o.display()
                );
            }
        }
    }
    assert!(interrupted > 0, "no batch run was interrupted");
}

// -------------------------------------------------------------- full disk

/// Runs the CLI with file writes limited to `blocks` x 512 bytes (EFBIG past it).
fn run_with_file_limit(blocks: u64, args: &[String]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {blocks} && exec \"$0\" \"$@\""
        ))
        .arg(bin())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_full_disk_leaves_existing_outputs_and_no_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = small_stack(d, "stack.tif", 6, 96, 13);
    put_old_outputs(d);
    let old = snapshot(d);
    let p = |n: &str| d.join(n).display().to_string();
    let cases: Vec<(u64, Vec<String>)> = vec![
        // Nothing fits.
        (0, segment_args(&input, d)),
        // The mask fits (6 x 96 x 96 bytes), the focus map does not: the
        // outputs are staged together, so neither is committed. (The same
        // for synth's stack, 32 KiB, and truth, 16 KiB, below.)
        (200, segment_args(&input, d)),
        (
            300,
            vec![
                "focus-map".into(),
                input.display().to_string(),
                "-o".into(),
                p("map.tif"),
            ],
        ),
        (
            40,
            vec![
                "synth".into(),
                "-o".into(),
                p("mask.tif"),
                "--truth".into(),
                p("map.tif"),
                "--size".into(),
                "64".into(),
                "--slices".into(),
                "4".into(),
            ],
        ),
    ];
    for (blocks, args) in &cases {
        let out = run_with_file_limit(*blocks, args);
        let what = format!("ulimit -f {blocks}, {args:?}: {}", describe(&out));
        assert_eq!(out.status.code(), Some(1), "{what}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("File too large"), "{what}");
        assert_eq!(stderr.lines().count(), 1, "{what}");
        assert!(temporaries(d).is_empty(), "{what}: {:?}", temporaries(d));
        assert_eq!(snapshot(d), old, "{what}: outputs changed");
    }
}

#[test]
fn a_full_tmpfs_leaves_existing_outputs_and_no_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&mnt)
        .output();
    match mounted {
        Ok(o) if o.status.success() => {}
        _ => {
            eprintln!(
                "NOT RUN: cannot mount a tmpfs here (needs root); the ulimit test covers full disks"
            );
            return;
        }
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.clone());
    let input = small_stack(dir.path(), "stack.tif", 6, 96, 14);
    put_old_outputs(&mnt);
    let old = snapshot(&mnt);
    let out = Command::new(bin())
        .args(segment_args(&input, &mnt))
        .output()
        .unwrap();
    let what = describe(&out);
    assert_eq!(out.status.code(), Some(1), "{what}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No space left"),
        "{what}"
    );
    assert!(
        temporaries(&mnt).is_empty(),
        "{what}: {:?}",
        temporaries(&mnt)
    );
    assert_eq!(snapshot(&mnt), old, "{what}");
}

// ----------------------------------------------------------------- batches

#[test]
fn a_batch_goes_on_past_bad_files_and_fails_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut inputs = Vec::new();
    let mut bad = Vec::new();
    for i in 0..8 {
        let path = match i {
            2 => {
                // A TIFF cut short.
                let good = small_stack(d, "cut_src.tif", 3, 64, 30);
                let bytes = std::fs::read(&good).unwrap();
                std::fs::remove_file(&good).unwrap();
                let p = d.join("cut.tif");
                std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
                p
            }
            4 => {
                let p = d.join("text.tif");
                std::fs::write(&p, "not a TIFF\n").unwrap();
                p
            }
            5 => {
                // A float stack with a NaN: reads, but cannot be segmented.
                let mut a = ndarray::Array3::<f32>::from_elem((3, 32, 32), 5.0);
                a[[1, 3, 4]] = f32::NAN;
                let p = d.join("nan.tif");
                write_tiff(&p, StackView::F32(a.view()), &Calibration::default()).unwrap();
                p
            }
            6 => {
                let p = d.join("broken.npy");
                std::fs::write(&p, b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'").unwrap();
                p
            }
            _ => small_stack(d, &format!("good{i}.tif"), 3, 64, 40 + i as u64),
        };
        if matches!(i, 2 | 4 | 5 | 6) {
            bad.push(path.clone());
        }
        inputs.push(path);
    }
    let outdir = d.join("masks");
    std::fs::create_dir(&outdir).unwrap();
    // An old result for a bad input stays as it was.
    std::fs::write(outdir.join("nan.tif"), b"old").unwrap();
    let out = Command::new(bin())
        .arg("segment")
        .args(&inputs)
        .arg("-o")
        .arg(&outdir)
        .args(["--preset", "paper"])
        .output()
        .unwrap();
    let what = describe(&out);
    assert_eq!(out.status.code(), Some(1), "{what}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for b in &bad {
        let name = b.file_name().unwrap().to_string_lossy();
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("infocus: error:") && l.contains(&*name)),
            "{name} not reported\n{what}"
        );
    }
    assert!(stderr.contains("4 of 8 inputs failed"), "{what}");
    let params = SegmentParams::new(Preset::Paper);
    for input in &inputs {
        let o = outdir
            .join(input.file_stem().unwrap())
            .with_extension("tif");
        if bad.contains(input) {
            let stem = input.file_stem().unwrap();
            if stem == "nan" {
                assert_eq!(std::fs::read(&o).unwrap(), b"old", "{what}");
            } else {
                assert!(!o.exists(), "an output for bad {}\n{what}", input.display());
            }
            assert!(!stderr.contains(&format!("{}:", o.display())), "{what}");
        } else {
            let (mask, _) = read_stack(&o).unwrap();
            let (stack, _) = read_stack(input).unwrap();
            let want = segment(stack.view(), &params, &Progress::none()).unwrap();
            assert_eq!(
                mask.view().to_f32(),
                want.mask.mapv(f32::from),
                "{}",
                o.display()
            );
        }
    }
    assert!(temporaries(d).is_empty(), "{:?}", temporaries(d));
}

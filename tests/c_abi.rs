//! The C door, from both sides.
//!
//! * `c_program_passes` compiles tests/c/test_infocus.c with the system `cc`
//!   (`-std=c11 -Wall -Wextra -Werror -pedantic`) against include/infocus.h
//!   and links it to the cdylib cargo built for this test run (see
//!   [`lib_dir`]), with an rpath so it runs without LD_LIBRARY_PATH; then runs
//!   it and echoes its output. `c_program_passes_under_asan` does the same with
//!   AddressSanitizer and UBSan.
//! * The other tests call the exported functions directly from Rust and check
//!   that the door returns the core's bytes and keeps its promises.

use infocus::ffi::*;
use infocus::map::{MapParams, focus_map};
use infocus::measure::Measure;
use infocus::segment::{Preset, SegmentParams, segment};
use infocus::{Progress, Stack};
use ndarray::Array3;
use std::ffi::{CStr, c_void};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

// ------------------------------------------------------------ the C program

fn cdylib_name() -> String {
    format!(
        "{}infocus{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// The folder of the cdylib to link the C program against.
///
/// This test executable lives in target/<profile>/deps/. `cargo test` builds
/// the library (rlib and cdylib in one rustc run) into that same folder, so
/// the libinfocus.so there is exactly the code this test links, and is what
/// we use. target/<profile>/libinfocus.so is only refreshed by `cargo build`
/// (and may be older than the sources), so it is the fallback; if neither
/// exists, `cargo build --lib` with the same profile makes it.
fn lib_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        let deps = exe.parent().expect("target/<profile>/deps").to_path_buf();
        let profile_dir = deps.parent().expect("target/<profile>").to_path_buf();
        for dir in [&deps, &profile_dir] {
            if dir.join(cdylib_name()).exists() {
                return dir.clone();
            }
        }
        let profile = profile_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("debug")
            .to_owned();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--lib", "--target-dir"])
            .arg(profile_dir.parent().expect("target dir"));
        match profile.as_str() {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        eprintln!(
            "no {} next to {}; running {cmd:?}",
            cdylib_name(),
            exe.display()
        );
        let out = cmd
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run cargo build --lib");
        assert!(
            out.status.success(),
            "{cmd:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            profile_dir.join(cdylib_name()).exists(),
            "{cmd:?} did not make {}",
            cdylib_name()
        );
        profile_dir
    })
}

/// Compiles the C test program with `extra` flags into `name`.
fn compile(name: &str, extra: &[&str]) -> Result<PathBuf, String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let lib = lib_dir();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let result = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"])
        .args(extra)
        .arg("-I")
        .arg(manifest.join("include"))
        .arg(manifest.join("tests/c/test_infocus.c"))
        .arg("-o")
        .arg(&out)
        .arg("-L")
        .arg(lib)
        .arg("-linfocus")
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-lm")
        .output()
        .map_err(|e| format!("cannot run {cc}: {e}"))?;
    if result.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{cc} failed:\n{}",
            String::from_utf8_lossy(&result.stderr)
        ))
    }
}

/// Runs the compiled program without LD_LIBRARY_PATH and asserts it passed.
fn run_c(exe: &Path, env: &[(&str, &str)]) {
    let out = Command::new(exe)
        .env_remove("LD_LIBRARY_PATH")
        .envs(env.iter().copied())
        .output()
        .expect("run the C test program");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "{} failed ({}):\n{stdout}\n{stderr}",
        exe.display(),
        out.status
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.ends_with(" passed, 0 failed"),
        "unexpected summary '{last}'"
    );
}

#[test]
fn c_program_passes() {
    let exe = compile("test_infocus", &[]).unwrap_or_else(|e| panic!("{e}"));
    run_c(&exe, &[]);
}

#[test]
fn c_program_passes_under_asan() {
    // Sanitizers catch out-of-bounds accesses on the C side and in the copies
    // into C buffers (ASan intercepts memcpy).
    let flags = [
        "-fsanitize=address,undefined",
        "-fno-omit-frame-pointer",
        "-fno-sanitize-recover=all",
    ];
    match compile("test_infocus_asan", &flags) {
        Ok(exe) => run_c(
            &exe,
            &[
                ("ASAN_OPTIONS", "detect_leaks=1"),
                ("UBSAN_OPTIONS", "print_stacktrace=1"),
            ],
        ),
        // Not a pass: say loudly that it did not run.
        Err(e) => eprintln!("NOT RUN: this cc cannot build with sanitizers ({e})"),
    }
}

#[test]
fn header_compiles_as_cpp() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = Path::new(env!("CARGO_TARGET_TMPDIR")).join("header_check.cpp");
    std::fs::write(
        &src,
        "#include \"infocus.h\"\nint main() { return infocus_version() == nullptr; }\n",
    )
    .unwrap();
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    let out = Command::new(&cxx)
        .args([
            "-std=c++11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-fsyntax-only",
            "-I",
        ])
        .arg(manifest.join("include"))
        .arg(&src)
        .output();
    match out {
        Ok(o) => assert!(
            o.status.success(),
            "{cxx} rejects the header:\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => eprintln!("NOT RUN: no C++ compiler ({cxx}: {e})"),
    }
}

// ---------------------------------------------------- Rust against the ABI

fn last_error() -> String {
    unsafe { CStr::from_ptr(infocus_last_error()) }
        .to_str()
        .unwrap()
        .to_owned()
}

fn test_stack(z: usize, h: usize, w: usize) -> Array3<u16> {
    Array3::from_shape_fn((z, h, w), |(k, y, x)| {
        let v = (y * 131 + x * 71 + k * 17 + (y * x) % 13) % 997;
        (v * (k + 1) * 7 % 4096) as u16
    })
}

#[test]
fn focus_map_returns_the_core_bytes() {
    let stack = test_stack(3, 21, 34);
    let strides = [3u32, 5, 8];
    for m in Measure::ALL {
        let mut p = infocus_map_params_default();
        p.measure = Measure::ALL.iter().position(|&x| x == m).unwrap() as i32;
        p.window = 9;
        p.strides = strides.as_ptr();
        p.n_strides = strides.len();
        let mut out = vec![0f32; stack.len()];
        let s = unsafe {
            infocus_focus_map(
                stack.as_ptr().cast(),
                INFOCUS_PIXEL_U16,
                3,
                21,
                34,
                &p,
                out.as_mut_ptr(),
                out.len(),
                None,
                std::ptr::null_mut(),
            )
        };
        assert_eq!(s, INFOCUS_OK, "{m}: {}", last_error());
        let core = MapParams {
            measure: m,
            window: 9,
            strides: vec![3, 5, 8],
        };
        let want = focus_map(Stack::U16(stack.clone()).view(), &core, &Progress::none()).unwrap();
        let same = want
            .iter()
            .zip(&out)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{m}: the door's map differs from the core's");
    }
}

#[test]
fn segment_returns_the_core_bytes() {
    let stack = test_stack(4, 40, 36);
    let (z, h, w) = stack.dim();
    for (preset, c) in [
        (Preset::Paper, INFOCUS_PRESET_PAPER),
        (Preset::Default, INFOCUS_PRESET_DEFAULT),
    ] {
        let mut p = infocus_segment_params_default();
        p.preset = c;
        let (mut mask, mut map, mut depth) = (
            vec![7u8; z * h * w],
            vec![0f32; z * h * w],
            vec![0u16; h * w],
        );
        let s = unsafe {
            infocus_segment(
                stack.as_ptr().cast(),
                INFOCUS_PIXEL_U16,
                z,
                h,
                w,
                &p,
                mask.as_mut_ptr(),
                mask.len(),
                map.as_mut_ptr(),
                map.len(),
                depth.as_mut_ptr(),
                depth.len(),
                None,
                std::ptr::null_mut(),
            )
        };
        assert_eq!(s, INFOCUS_OK, "{}", last_error());
        let core = segment(
            Stack::U16(stack.clone()).view(),
            &SegmentParams::new(preset),
            &Progress::none(),
        )
        .unwrap();
        assert_eq!(core.mask.as_slice().unwrap(), &mask[..], "{preset:?} mask");
        assert_eq!(
            core.depth.as_slice().unwrap(),
            &depth[..],
            "{preset:?} depth"
        );
        assert!(
            core.map
                .iter()
                .zip(&map)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{preset:?} map"
        );
    }
}

#[test]
fn defaults_match_the_core() {
    let m = infocus_map_params_default();
    let paper = MapParams::paper();
    let strides = unsafe { std::slice::from_raw_parts(m.strides, m.n_strides) };
    assert_eq!(
        strides.iter().map(|&s| s as usize).collect::<Vec<_>>(),
        paper.strides
    );
    assert_eq!(m.window as usize, paper.window);
    assert_eq!(Measure::ALL[m.measure as usize], paper.measure);
    // The strides are one static array, not a fresh allocation per call.
    assert_eq!(infocus_map_params_default().strides, m.strides);
    let s = infocus_segment_params_default();
    let core = SegmentParams::new(Preset::Default);
    assert_eq!(s.preset, INFOCUS_PRESET_DEFAULT);
    assert_eq!(s.threshold, INFOCUS_THRESHOLD_PRESET);
    assert_eq!(s.band.radius as usize, core.band.radius);
    assert_eq!(s.band.smoothing as usize, core.band.smoothing);
    assert_eq!(s.band.min_contrast, core.band.min_contrast);
    assert_eq!(s.band.dof, 0.0);
    let b = infocus_band_params_default();
    assert_eq!(
        (b.radius, b.smoothing, b.min_contrast),
        (s.band.radius, s.band.smoothing, s.band.min_contrast)
    );
}

#[test]
fn version_is_the_crate_version() {
    let v = unsafe { CStr::from_ptr(infocus_version()) }
        .to_str()
        .unwrap();
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
    assert_eq!(v, infocus::VERSION);
}

unsafe extern "C" fn count_then_cancel(done: u64, total: u64, user_data: *mut c_void) -> i32 {
    let calls = unsafe { &*(user_data as *const AtomicUsize) };
    assert!(done <= total);
    let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
    i32::from(n >= 2)
}

unsafe extern "C" fn count(_done: u64, _total: u64, user_data: *mut c_void) -> i32 {
    unsafe { &*(user_data as *const AtomicUsize) }.fetch_add(1, Ordering::SeqCst);
    0
}

#[test]
fn progress_reaches_the_callback_and_cancel_writes_nothing() {
    let stack = test_stack(6, 16, 16);
    let mut p = infocus_map_params_default();
    p.window = 4;
    let strides = [2u32];
    p.strides = strides.as_ptr();
    p.n_strides = 1;
    let call = |cb: infocus_progress_fn, calls: &AtomicUsize, out: &mut [f32]| unsafe {
        infocus_focus_map(
            stack.as_ptr().cast(),
            INFOCUS_PIXEL_U16,
            6,
            16,
            16,
            &p,
            out.as_mut_ptr(),
            out.len(),
            cb,
            calls as *const AtomicUsize as *mut c_void,
        )
    };
    let calls = AtomicUsize::new(0);
    let mut out = vec![-1f32; stack.len()];
    assert_eq!(call(Some(count), &calls, &mut out), INFOCUS_OK);
    assert!(
        calls.load(Ordering::SeqCst) >= 6,
        "one report per slice at least"
    );
    let calls = AtomicUsize::new(0);
    let mut out = vec![-1f32; stack.len()];
    assert_eq!(
        call(Some(count_then_cancel), &calls, &mut out),
        INFOCUS_ERR_CANCELLED
    );
    assert_eq!(last_error(), "cancelled");
    assert!(
        out.iter().all(|&v| v == -1.0),
        "a cancelled call wrote its output"
    );
}

#[test]
fn every_failure_sets_a_message_and_a_success_clears_it() {
    let stack = [1u8; 8];
    let mut out = [0u8; 8];
    let s = unsafe {
        infocus_in_focus(
            stack.as_ptr().cast(),
            9,
            2,
            2,
            2,
            stack.as_ptr(),
            8,
            out.as_mut_ptr().cast(),
            8,
        )
    };
    assert_eq!(s, INFOCUS_ERR_INVALID);
    assert!(
        last_error().contains("unknown pixel type 9"),
        "{}",
        last_error()
    );
    let s = unsafe {
        infocus_in_focus(
            std::ptr::null(),
            0,
            2,
            2,
            2,
            stack.as_ptr(),
            8,
            out.as_mut_ptr().cast(),
            8,
        )
    };
    assert_eq!(s, INFOCUS_ERR_NULL);
    assert_eq!(last_error(), "stack is NULL");
    // Another thread has its own last error.
    std::thread::spawn(|| assert_eq!(last_error(), ""))
        .join()
        .unwrap();
    let s = unsafe {
        infocus_in_focus(
            stack.as_ptr().cast(),
            INFOCUS_PIXEL_U8,
            2,
            2,
            2,
            stack.as_ptr(),
            8,
            out.as_mut_ptr().cast(),
            8,
        )
    };
    assert_eq!(s, INFOCUS_OK);
    assert_eq!(last_error(), "");
    assert_eq!(out, stack);
}

#[test]
fn an_output_may_be_an_input() {
    // Everything is computed before anything is written, so in place works.
    let mut data: Vec<u16> = (1..=8).collect();
    let mask = [255u8, 0, 255, 0, 0, 255, 0, 255];
    let p = data.as_mut_ptr();
    let s = unsafe {
        infocus_in_focus(
            p.cast_const().cast(),
            INFOCUS_PIXEL_U16,
            2,
            2,
            2,
            mask.as_ptr(),
            8,
            p.cast(),
            8,
        )
    };
    assert_eq!(s, INFOCUS_OK, "{}", last_error());
    assert_eq!(data, [1, 0, 3, 0, 0, 6, 0, 8]);
}

#[test]
fn status_names_are_static_and_total() {
    for s in -3..12 {
        let name = unsafe { CStr::from_ptr(infocus_status_name(s)) }
            .to_str()
            .unwrap();
        assert!(!name.is_empty());
        assert_eq!(
            name.starts_with("INFOCUS_"),
            (0..=7).contains(&s),
            "{s}: {name}"
        );
    }
}

//! Stacks too large for memory give a clear error before anything that
//! size is allocated, never an abort from the allocator, at every door:
//! file headers that claim enormous stacks, files whose pages really do add
//! up to more than the memory (run under `ulimit -v`), synthetic stacks, and
//! C dimensions (tests/fuzz_c_abi.rs: "dims too large for memory" and the
//! overflowing ones, behind inaccessible pages).

use infocus::io::{Calibration, read_npy, read_tiff, write_tiff};
use infocus::{Error, Stack};
use ndarray::Array3;
use std::path::Path;
use std::process::{Command, Output};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_infocus")
}

/// Runs the CLI under `ulimit -v` (KiB), exactly.
fn run_under(kib: u64, args: &[&str]) -> Output {
    run_under_env(kib, args, &[])
}

fn run_under_env(kib: u64, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new("sh")
        .envs(env.iter().copied())
        .arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
        .arg(bin())
        .args(args)
        .output()
        .unwrap()
}

/// The address space the CLI needs just to start, in KiB: a `torch` build
/// maps libtorch (about 1 GB of virtual memory, little of it resident)
/// before `main`. Found by bisection on `--version`, to 8 MiB.
fn startup_kib() -> u64 {
    static KIB: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *KIB.get_or_init(|| {
        let (mut lo, mut hi) = (0u64, 16 << 20);
        assert!(run_under(hi, &["--version"]).status.success(), "--version under 16 GiB");
        while hi - lo > 8 << 10 {
            let mid = (lo + hi) / 2;
            if run_under(mid, &["--version"]).status.success() {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    })
}

/// Runs the CLI with `kib` KiB of address space beyond what it needs to start.
fn run_limited(kib: u64, args: &[&str]) -> Output {
    run_under(startup_kib() + kib, args)
}

/// As [`run_limited`], with the whole stack in memory (no streaming).
fn run_limited_in_memory(kib: u64, args: &[&str]) -> Output {
    run_under_env(startup_kib() + kib, args, &[("INFOCUS_NO_STREAM", "1")])
}

fn describe(o: &Output) -> String {
    format!("{}\n{}", o.status, String::from_utf8_lossy(&o.stderr))
}

/// Patches the 32-bit value of tag `tag` in the first directory of a
/// little-endian TIFF written by infocus.
fn patch_tag(b: &mut [u8], tag: u16, value: u32) {
    let ifd = u32::from_le_bytes(b[4..8].try_into().unwrap()) as usize;
    let n = u16::from_le_bytes(b[ifd..ifd + 2].try_into().unwrap()) as usize;
    for k in 0..n {
        let e = ifd + 2 + 12 * k;
        if u16::from_le_bytes(b[e..e + 2].try_into().unwrap()) == tag {
            b[e + 8..e + 12].copy_from_slice(&value.to_le_bytes());
            return;
        }
    }
    panic!("no tag {tag}");
}

#[test]
fn tiff_headers_claiming_enormous_stacks_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.tif");
    let a = Array3::<u16>::from_elem((3, 8, 8), 7);
    write_tiff(&p, Stack::U16(a).view(), &Calibration::default()).unwrap();
    let good = std::fs::read(&p).unwrap();
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    // 100000 x 100000 pixels per page.
    let mut b = good.clone();
    patch_tag(&mut b, 256, 100_000);
    patch_tag(&mut b, 257, 100_000);
    patch_tag(&mut b, 278, 100_000);
    cases.push(("100000 x 100000 pages", b));
    // ... in 100000 pages, as the ImageJ description says (same length).
    let mut b = good.clone();
    patch_tag(&mut b, 256, 100_000);
    patch_tag(&mut b, 257, 100_000);
    patch_tag(&mut b, 278, 100_000);
    let at = b.windows(9).position(|w| w == b"images=3\n").unwrap();
    b.splice(at..at + 9, b"images=100000\n".iter().copied());
    cases.push(("100000 pages of 100000 x 100000 (ImageJ)", b));
    // 4 GiB pages, and their strip byte counts claiming as much.
    let mut b = good.clone();
    patch_tag(&mut b, 256, 65_536);
    patch_tag(&mut b, 257, 32_768);
    patch_tag(&mut b, 278, 32_768);
    patch_tag(&mut b, 279, u32::MAX);
    cases.push(("65536 x 32768 pages with 4 GiB strips", b));
    for (what, bytes) in cases {
        std::fs::write(&p, &bytes).unwrap();
        let t = std::time::Instant::now();
        let e = read_tiff(&p).expect_err(what);
        assert!(matches!(e, Error::Format { .. }), "{what}: {e:?}");
        assert!(
            t.elapsed().as_secs_f64() < 1.0,
            "{what}: took {:?}",
            t.elapsed()
        );
        println!("{what}: {e}");
    }
}

#[test]
fn npy_headers_claiming_enormous_stacks_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.npy");
    for shape in [
        "(100000, 100000, 100000)",
        "(4611686018427387904, 2, 2)",
        "(1, 3037000500, 3037000500)",
    ] {
        let mut h = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        b.extend_from_slice(&[0; 64]);
        std::fs::write(&p, &b).unwrap();
        let e = read_npy(&p).expect_err(shape);
        assert!(matches!(e, Error::Format { .. }), "{shape}: {e:?}");
        println!("{shape}: {e}");
    }
}

#[test]
fn a_tiff_larger_than_the_memory_is_refused_with_a_message() {
    // 12 Deflate pages of 3000 x 3000 u16 (17 MiB each, 206 MiB in all,
    // a small file): read under an address-space limit of 160 MiB.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.tif");
    {
        use tiff::encoder::{Compression, DeflateLevel, TiffEncoder, colortype::Gray16};
        let f = std::fs::File::create(&p).unwrap();
        let mut enc = TiffEncoder::new(f)
            .unwrap()
            .with_compression(Compression::Deflate(DeflateLevel::Fast));
        let page = vec![300u16; 3000 * 3000];
        for _ in 0..12 {
            enc.write_image::<Gray16>(3000, 3000, &page).unwrap();
        }
    }
    assert!(std::fs::metadata(&p).unwrap().len() < 8 << 20);
    let out_path = dir.path().join("map.tif");
    let args = [
        "focus-map",
        p.to_str().unwrap(),
        "-o",
        out_path.to_str().unwrap(),
        "--preset",
        "paper",
    ];
    let o = run_limited(160 * 1024, &args);
    let what = describe(&o);
    assert_eq!(o.status.code(), Some(1), "{what}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(stderr.lines().count(), 1, "{what}");
    assert!(
        stderr.contains("of memory") && stderr.contains("big.tif"),
        "{what}"
    );
    assert!(!out_path.exists());
    println!("{}", stderr.trim());
}

#[test]
fn a_npy_larger_than_the_memory_is_refused_with_a_message() {
    // 48 MiB of float64 becomes 24 MiB of float32: under a limit that
    // holds the file but not both, a message, not an abort.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.npy");
    let n = 6 * 1024 * 1024;
    let mut h = String::from("{'descr': '<f8', 'fortran_order': True, 'shape': (6, 1024, 1024), }");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    b.extend_from_slice(h.as_bytes());
    b.resize(b.len() + 8 * n, 0);
    std::fs::write(&p, &b).unwrap();
    let out_path = dir.path().join("map.tif");
    let args = [
        "focus-map",
        p.to_str().unwrap(),
        "-o",
        out_path.to_str().unwrap(),
    ];
    let o = run_limited(100 * 1024, &args);
    let what = describe(&o);
    assert_eq!(o.status.code(), Some(1), "{what}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(stderr.lines().count(), 1, "{what}");
    assert!(
        stderr.contains("of memory") && stderr.contains("big.npy"),
        "{what}"
    );
    println!("{}", stderr.trim());
    let _ = Path::new("");
}

#[test]
fn synthetic_stacks_larger_than_the_memory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.tif");
    let o = out.to_str().unwrap();
    for (limit, args) in [
        (
            None,
            vec!["synth", "-o", o, "--slices", "100000", "--size", "100000"],
        ),
        (
            Some(400 * 1024),
            vec!["synth", "-o", o, "--slices", "100", "--size", "3000"],
        ),
    ] {
        let r = match limit {
            None => Command::new(bin()).args(&args).output().unwrap(),
            Some(kib) => run_limited(kib, &args),
        };
        let what = describe(&r);
        assert_eq!(r.status.code(), Some(1), "{what}");
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert!(
            stderr.contains("needs") && stderr.contains("of memory"),
            "{what}"
        );
        assert!(!out.exists());
        println!("{}", stderr.trim());
    }
}

#[test]
fn a_stack_whose_results_exceed_the_memory_is_refused_with_a_message() {
    // 10 pages of 2500 x 2500 u8 (60 MiB) read under a 400 MiB limit, but
    // its focus map (f32) and mask need 5 bytes a voxel: 300 MiB. In memory
    // that is refused; streamed page by page (the paper preset on a TIFF)
    // it fits, and the outputs are written whole.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("wide.tif");
    {
        use tiff::encoder::{Compression, DeflateLevel, TiffEncoder, colortype::Gray8};
        let f = std::fs::File::create(&p).unwrap();
        let mut enc = TiffEncoder::new(f)
            .unwrap()
            .with_compression(Compression::Deflate(DeflateLevel::Fast));
        let page: Vec<u8> = (0..2500 * 2500).map(|i| (i % 251) as u8).collect();
        for _ in 0..10 {
            enc.write_image::<Gray8>(2500, 2500, &page).unwrap();
        }
    }
    let mask = dir.path().join("mask.tif");
    for cmd in ["segment", "focus-map"] {
        let args = [
            cmd,
            p.to_str().unwrap(),
            "-o",
            mask.to_str().unwrap(),
            "--preset",
            "paper",
        ];
        let o = run_limited(400 * 1024, &args);
        let what = describe(&o);
        assert_eq!(o.status.code(), Some(0), "streamed: {what}");
        let per_voxel = if cmd == "segment" { 1 } else { 4 };
        let size = std::fs::metadata(&mask).unwrap().len();
        assert!(size >= 10 * 2500 * 2500 * per_voxel, "{cmd}: {size} bytes");
        std::fs::remove_file(&mask).unwrap();
        let o = run_limited_in_memory(400 * 1024, &args);
        let what = describe(&o);
        assert_eq!(o.status.code(), Some(1), "{what}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(stderr.lines().count(), 1, "{what}");
        assert!(
            stderr.contains("of memory") && stderr.contains("10 x 2500 x 2500"),
            "{what}"
        );
        assert!(!mask.exists());
        println!("{}", stderr.trim());
    }
}

//! Atomic writes: a failed write leaves the old file and no debris.

use infocus::io::{Calibration, write_atomic, write_png_gray, write_tiff};
use infocus::{Error, Stack};
use ndarray::{Array2, Array3};
use std::io::Write;
use std::path::Path;

/// Names of everything in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn success_replaces_the_target_and_leaves_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("model.bin");
    std::fs::write(&target, b"old").unwrap();
    write_atomic(&target, |w| {
        w.write_all(b"new contents")
            .map_err(|e| Error::io("model.bin", e))
    })
    .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"new contents");
    assert_eq!(listing(dir.path()), vec!["model.bin"]);
}

#[test]
fn an_erroring_closure_leaves_the_target_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("stack.tif");
    let old: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    std::fs::write(&target, &old).unwrap();
    let err = write_atomic(&target, |w| {
        w.write_all(&[1u8; 100_000]).unwrap();
        Err(Error::Cancelled)
    })
    .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    assert_eq!(std::fs::read(&target).unwrap(), old);
    assert_eq!(listing(dir.path()), vec!["stack.tif"]);

    // Without an existing target, nothing at all is left.
    let fresh = dir.path().join("fresh.tif");
    assert!(write_atomic(&fresh, |_| Err(Error::invalid("no"))).is_err());
    assert!(!fresh.exists());
    assert_eq!(listing(dir.path()), vec!["stack.tif"]);
}

#[test]
fn a_panicking_closure_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("t.bin");
    std::fs::write(&target, b"keep").unwrap();
    let r = std::panic::catch_unwind(|| {
        let _ = write_atomic(&target, |w| {
            w.write_all(b"partial").unwrap();
            panic!("boom");
        });
    });
    assert!(r.is_err());
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    assert_eq!(listing(dir.path()), vec!["t.bin"]);
}

#[test]
fn missing_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("no/such/dir/x.tif");
    let err = write_atomic(&target, |_| Ok(())).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
}

#[test]
fn writers_that_fail_validation_do_not_touch_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let tif = dir.path().join("s.tif");
    std::fs::write(&tif, b"previous").unwrap();
    let stack = Stack::U8(Array3::zeros((2, 3, 3)));
    let bad = Calibration {
        pixel_width: -1.0,
        ..Calibration::default()
    };
    assert!(write_tiff(&tif, stack.view(), &bad).is_err());
    assert_eq!(std::fs::read(&tif).unwrap(), b"previous");

    let png = dir.path().join("e.png");
    assert!(write_png_gray(&png, &Array2::zeros((0, 3))).is_err());
    assert_eq!(listing(dir.path()), vec!["s.tif"]);
}

#[test]
fn concurrent_writes_to_one_directory_do_not_collide() {
    let dir = tempfile::tempdir().unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let d = dir.path();
            s.spawn(move || {
                for i in 0..20 {
                    let p = d.join(format!("f{}.bin", i % 3));
                    write_atomic(&p, |w| {
                        w.write_all(&[t as u8; 4096]).map_err(|e| Error::io("x", e))
                    })
                    .unwrap();
                }
            });
        }
    });
    assert_eq!(listing(dir.path()), vec!["f0.bin", "f1.bin", "f2.bin"]);
    for f in ["f0.bin", "f1.bin", "f2.bin"] {
        let b = std::fs::read(dir.path().join(f)).unwrap();
        assert_eq!(b.len(), 4096);
        assert!(b.iter().all(|&x| x == b[0]), "mixed writes in {f}");
    }
}

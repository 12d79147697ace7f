//! The real focal stacks in tests/data/real read with the shapes, types and
//! ranges their READMEs state, and survive a TIFF round trip.

use infocus::io::{Calibration, read_stack, write_tiff};
use infocus::{PixelType, Stack};
use std::path::{Path, PathBuf};

fn real(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/real")
        .join(rel)
}

fn total(stack: &Stack) -> f64 {
    match stack {
        Stack::U8(a) => a.iter().map(|&v| f64::from(v)).sum(),
        Stack::U16(a) => a.iter().map(|&v| f64::from(v)).sum(),
        Stack::F32(a) => a.iter().map(|&v| f64::from(v)).sum(),
    }
}

/// Reads `path` and checks shape, type, min/max and the sum of all values.
fn check(
    path: &Path,
    dim: (usize, usize, usize),
    t: PixelType,
    range: (f64, f64),
    sum: f64,
) -> (Stack, Calibration) {
    let (stack, cal) = read_stack(path).unwrap();
    assert_eq!(stack.dim(), dim, "{}", path.display());
    assert_eq!(stack.pixel_type(), t, "{}", path.display());
    assert_eq!(stack.view().min_max(), range, "{}", path.display());
    assert_eq!(total(&stack), sum, "{}", path.display());
    stack.view().validate().unwrap();
    (stack, cal)
}

#[test]
fn bf_autofocus_yeast_cell() {
    // README: (34, 116, 55) uint16, 863..4408; no calibration was carried over.
    let (stack, cal) = check(
        &real("bf_autofocus/stack.tif"),
        (34, 116, 55),
        PixelType::U16,
        (863.0, 4408.0),
        495_260_109.0,
    );
    assert_eq!(cal, Calibration::default());
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bf.tif");
    let cal = Calibration {
        pixel_width: 1.0 / 9.389671,
        pixel_height: 1.0 / 9.389671,
        z_spacing: 0.3,
        unit: "µm".into(),
    };
    write_tiff(&p, stack.view(), &cal).unwrap();
    let (back, cal_back) = read_stack(&p).unwrap();
    assert_eq!(back, stack);
    assert_eq!(cal_back.z_spacing, 0.3);
    assert!((cal_back.pixel_width - cal.pixel_width).abs() < 1e-12);
}

#[test]
fn focusstack_pcb() {
    // README: (7, 768, 1024) uint8, 2..255.
    let (stack, _) = check(
        &real("focusstack_pcb/stack.tif"),
        (7, 768, 1024),
        PixelType::U8,
        (2.0, 255.0),
        523_147_104.0,
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pcb.tif");
    write_tiff(&p, stack.view(), &Calibration::default()).unwrap();
    assert_eq!(read_stack(&p).unwrap().0, stack);
}

#[test]
fn zebrafish_slice() {
    // data/README.md: (256, 256) int64 0..129, read as one u8 slice; mask 0/1.
    check(
        &real("zebrafish_slice/image.npy"),
        (1, 256, 256),
        PixelType::U8,
        (0.0, 129.0),
        4_484_794.0,
    );
    check(
        &real("zebrafish_slice/mask.npy"),
        (1, 256, 256),
        PixelType::U8,
        (0.0, 1.0),
        1321.0,
    );
}

#[test]
fn urjc_s1_when_present() {
    // Not redistributed here (its licence is unclear); read from the shared folder if present.
    let p = Path::new("/work/shared/data/urjc_s1/stack.tif");
    if !p.exists() {
        println!("skip: {} is absent", p.display());
        return;
    }
    // README: (17, 1040, 1388) uint8, 4..253.
    check(
        p,
        (17, 1040, 1388),
        PixelType::U8,
        (4.0, 253.0),
        4_454_057_408.0,
    );
}

//! `.npy` reading: the paper's int64 image, every dtype rule, and damaged files.

use infocus::io::{read_npy, read_stack};
use infocus::{Error, Stack};
use ndarray::Array3;
use std::path::{Path, PathBuf};

/// Writes a .npy file with the given header dict text, format version and data.
fn npy(dir: &Path, name: &str, version: u8, dict: &str, data: &[u8]) -> PathBuf {
    let prefix = if version == 1 { 10 } else { 12 };
    let mut header = dict.to_string();
    while (prefix + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut b = b"\x93NUMPY".to_vec();
    b.push(version);
    b.push(0);
    if version == 1 {
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        b.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    let path = dir.join(name);
    std::fs::write(&path, b).unwrap();
    path
}

fn dict(descr: &str, shape: &str) -> String {
    format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}")
}

fn le<T: Copy, const N: usize>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    v.iter().flat_map(|&x| f(x)).collect()
}

#[test]
fn zebrafish_image_loads_as_u8() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/real/zebrafish_slice");
    let stack = read_npy(&root.join("image.npy")).unwrap();
    let Stack::U8(a) = &stack else {
        panic!("{:?}", stack.pixel_type())
    };
    assert_eq!(a.dim(), (1, 256, 256));
    assert_eq!(stack.view().min_max(), (0.0, 129.0));
    assert_eq!(a.iter().map(|&v| u64::from(v)).sum::<u64>(), 4_484_794);
    assert_eq!(a[[0, 0, 0]], 90);
    assert_eq!(a[[0, 128, 100]], 64);

    let (mask, cal) = read_stack(&root.join("mask.npy")).unwrap();
    let Stack::U8(m) = &mask else { panic!() };
    assert_eq!(m.dim(), (1, 256, 256));
    assert_eq!(mask.view().min_max(), (0.0, 1.0));
    assert_eq!(m.iter().map(|&v| u64::from(v)).sum::<u64>(), 1321);
    assert_eq!(cal, infocus::io::Calibration::default());
}

#[test]
fn native_dtypes_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let u8s: Vec<u8> = (0..24).map(|i| (i * 11) as u8).collect();
    for v in [1, 2, 3] {
        let p = npy(d, "u1.npy", v, &dict("|u1", "(2, 3, 4)"), &u8s);
        let want = Array3::from_shape_vec((2, 3, 4), u8s.clone()).unwrap();
        assert_eq!(read_npy(&p).unwrap(), Stack::U8(want));
    }
    let u16s: Vec<u16> = (0..12).map(|i| i * 5000).collect();
    let p = npy(
        d,
        "u2.npy",
        1,
        &dict("<u2", "(3, 4)"),
        &le(&u16s, u16::to_le_bytes),
    );
    assert_eq!(
        read_npy(&p).unwrap(),
        Stack::U16(Array3::from_shape_vec((1, 3, 4), u16s.clone()).unwrap())
    );
    let p = npy(
        d,
        "u2be.npy",
        1,
        &dict(">u2", "(3, 4)"),
        &le(&u16s, u16::to_be_bytes),
    );
    assert_eq!(
        read_npy(&p).unwrap(),
        Stack::U16(Array3::from_shape_vec((1, 3, 4), u16s).unwrap())
    );
    // Even values that would fit u8 stay u16: the dtype was chosen by someone.
    let p = npy(
        d,
        "u2small.npy",
        1,
        &dict("<u2", "(1, 2)"),
        &le(&[1u16, 2], u16::to_le_bytes),
    );
    assert!(matches!(read_npy(&p).unwrap(), Stack::U16(_)));

    let f32s: Vec<f32> = vec![-1.5, 0.0, 2.25, 1e-30, 3e38, -7.0];
    let p = npy(
        d,
        "f4.npy",
        1,
        &dict("<f4", "(1, 2, 3)"),
        &le(&f32s, f32::to_le_bytes),
    );
    assert_eq!(
        read_npy(&p).unwrap(),
        Stack::F32(Array3::from_shape_vec((1, 2, 3), f32s).unwrap())
    );
}

#[test]
fn integers_narrow_to_u8_or_u16_when_every_value_fits() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let small: Vec<i64> = vec![0, 5, 255, 17];
    let p = npy(
        d,
        "i8.npy",
        1,
        &dict("<i8", "(2, 2)"),
        &le(&small, i64::to_le_bytes),
    );
    assert_eq!(
        read_npy(&p).unwrap(),
        Stack::U8(Array3::from_shape_vec((1, 2, 2), vec![0, 5, 255, 17]).unwrap())
    );

    let mid: Vec<i32> = vec![0, 256, 65535, 1];
    let p = npy(
        d,
        "i4.npy",
        1,
        &dict("<i4", "(2, 2)"),
        &le(&mid, i32::to_le_bytes),
    );
    assert_eq!(
        read_npy(&p).unwrap(),
        Stack::U16(Array3::from_shape_vec((1, 2, 2), vec![0, 256, 65535, 1]).unwrap())
    );

    let p = npy(
        d,
        "i2.npy",
        1,
        &dict("<i2", "(1, 2)"),
        &le(&[3i16, 200], i16::to_le_bytes),
    );
    assert!(matches!(read_npy(&p).unwrap(), Stack::U8(_)));
    let p = npy(d, "i1.npy", 1, &dict("|i1", "(1, 2)"), &[3, 100]);
    assert!(matches!(read_npy(&p).unwrap(), Stack::U8(_)));
    let p = npy(
        d,
        "u4.npy",
        1,
        &dict("<u4", "(1, 2)"),
        &le(&[3u32, 300], u32::to_le_bytes),
    );
    assert!(matches!(read_npy(&p).unwrap(), Stack::U16(_)));
    let p = npy(
        d,
        "u8.npy",
        1,
        &dict("<u8", "(1, 2)"),
        &le(&[3u64, 30], u64::to_le_bytes),
    );
    assert!(matches!(read_npy(&p).unwrap(), Stack::U8(_)));
    let p = npy(
        d,
        "i8be.npy",
        1,
        &dict(">i8", "(1, 2)"),
        &le(&[3i64, 1000], i64::to_be_bytes),
    );
    assert_eq!(
        read_npy(&p).unwrap(),
        Stack::U16(Array3::from_shape_vec((1, 1, 2), vec![3, 1000]).unwrap())
    );

    let p = npy(d, "b1.npy", 1, &dict("|b1", "(2, 2)"), &[0, 1, 1, 0]);
    assert_eq!(
        read_npy(&p).unwrap(),
        Stack::U8(Array3::from_shape_vec((1, 2, 2), vec![0, 1, 1, 0]).unwrap())
    );
}

#[test]
fn integers_that_do_not_fit_are_refused_with_their_position() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = npy(
        d,
        "neg.npy",
        1,
        &dict("<i8", "(2, 3)"),
        &le(&[0i64, 1, 2, 3, -4, 5], i64::to_le_bytes),
    );
    let err = read_npy(&p).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Format { .. }), "{err:?}");
    assert!(
        msg.contains("neg.npy") && msg.contains("-4") && msg.contains("(1, 1)"),
        "{msg}"
    );

    let p = npy(
        d,
        "big.npy",
        1,
        &dict("<u8", "(1, 1, 2)"),
        &le(&[70000u64, 1], u64::to_le_bytes),
    );
    let msg = read_npy(&p).unwrap_err().to_string();
    assert!(
        msg.contains("70000") && msg.contains("(0, 0, 0)") && msg.contains("65535"),
        "{msg}"
    );
}

#[test]
fn float64_becomes_float32_but_nan_and_inf_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v = [0.1f64, -2.5, 1e6, 0.0];
    let p = npy(
        d,
        "f8.npy",
        1,
        &dict("<f8", "(2, 2)"),
        &le(&v, f64::to_le_bytes),
    );
    let want: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    assert_eq!(
        read_npy(&p).unwrap(),
        Stack::F32(Array3::from_shape_vec((1, 2, 2), want).unwrap())
    );

    for (bad, word) in [
        (f64::NAN, "NaN"),
        (f64::INFINITY, "inf"),
        (1e300, "float32 range"),
    ] {
        let p = npy(
            d,
            "bad.npy",
            1,
            &dict("<f8", "(2, 2)"),
            &le(&[0.0, 1.0, bad, 2.0], f64::to_le_bytes),
        );
        let msg = read_npy(&p).unwrap_err().to_string();
        assert!(msg.contains(word) && msg.contains("(1, 0)"), "{msg}");
    }
}

#[test]
fn fortran_order_is_transposed_into_place() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A 2 x 3 array [[0, 1, 2], [3, 4, 5]] stored column by column.
    let f = "{'descr': '|u1', 'fortran_order': True, 'shape': (2, 3), }";
    let p = npy(d, "f2.npy", 1, f, &[0, 3, 1, 4, 2, 5]);
    assert_eq!(
        read_npy(&p).unwrap(),
        Stack::U8(Array3::from_shape_vec((1, 2, 3), vec![0, 1, 2, 3, 4, 5]).unwrap())
    );

    let want = Array3::from_shape_fn((2, 3, 4), |(z, y, x)| (z * 100 + y * 10 + x) as u16);
    let mut data = Vec::new();
    for x in 0..4 {
        for y in 0..3 {
            for z in 0..2 {
                data.extend_from_slice(&want[[z, y, x]].to_le_bytes());
            }
        }
    }
    let f = "{'descr': '<u2', 'fortran_order': True, 'shape': (2, 3, 4), }";
    let p = npy(d, "f3.npy", 2, f, &data);
    assert_eq!(read_npy(&p).unwrap(), Stack::U16(want));
}

#[test]
fn unusable_arrays_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: Vec<(String, Vec<u8>, &str)> = vec![
        (dict("|u1", "(4,)"), vec![0; 4], "1 dimension(s)"),
        (dict("|u1", "(1, 1, 2, 2)"), vec![0; 4], "4 dimension(s)"),
        (dict("|u1", "()"), vec![0; 1], "0 dimension(s)"),
        (dict("|u1", "(0, 5)"), vec![], "empty"),
        (
            dict("<c8", "(1, 1)"),
            vec![0; 8],
            "dtype '<c8' is not supported",
        ),
        (
            dict("<f2", "(1, 1)"),
            vec![0; 2],
            "dtype '<f2' is not supported",
        ),
        (dict("|O", "(1, 1)"), vec![0; 8], "not supported"),
        (dict("<U3", "(1, 1)"), vec![0; 12], "not supported"),
        (
            "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1, 1), }".into(),
            vec![0; 4],
            "structured",
        ),
        (dict("|u1", "(2, 2)"), vec![0; 3], "truncated"),
        (dict("|u1", "(2, 2)"), vec![0; 5], "unexpected bytes"),
        (
            "{'descr': '|u1', 'shape': (2, 2), }".into(),
            vec![0; 4],
            "fortran_order",
        ),
        (
            "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2)".into(),
            vec![0; 4],
            "not a valid array description",
        ),
        ("['descr']".into(), vec![], "not a valid array description"),
        (
            dict("|u1", "(99999999999, 99999999999, 99999999999)"),
            vec![],
            "too large",
        ),
        (
            dict("|u1", "((((((((((((2,),),),),),),),),),),),)"),
            vec![],
            "nested too deeply",
        ),
    ];
    for (header, data, word) in cases {
        let p = npy(d, "x.npy", 1, &header, &data);
        let err = read_npy(&p).unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{header}: {err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains(word) && msg.contains("x.npy"),
            "{header}: {msg}"
        );
    }
    std::fs::write(d.join("y.npy"), b"PK\x03\x04 a zip, not an array").unwrap();
    let msg = read_npy(&d.join("y.npy")).unwrap_err().to_string();
    assert!(msg.contains("not a NumPy .npy file"), "{msg}");
    let p = npy(d, "v9.npy", 1, &dict("|u1", "(1, 1)"), &[0]);
    let mut b = std::fs::read(&p).unwrap();
    b[6] = 9;
    std::fs::write(&p, b).unwrap();
    assert!(
        read_npy(&p)
            .unwrap_err()
            .to_string()
            .contains("version 9.0")
    );
}

#[test]
fn truncated_and_corrupt_npy_never_panics() {
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/real/zebrafish_slice/image.npy");
    let bytes = std::fs::read(src).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.npy");
    for cut in (0..200).chain((200..bytes.len()).step_by(4099)) {
        std::fs::write(&p, &bytes[..cut]).unwrap();
        assert!(
            matches!(read_npy(&p), Err(Error::Format { .. })),
            "cut at {cut}"
        );
    }
    let mut state = 12345u64;
    for _ in 0..300 {
        let mut b = bytes.clone();
        for _ in 0..3 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let i = (state >> 33) as usize % 128;
            b[i] = (state >> 20) as u8;
        }
        std::fs::write(&p, &b).unwrap();
        let _ = read_npy(&p);
    }
}

#[test]
fn read_stack_dispatches_on_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let p = npy(dir.path(), "a.NPY", 1, &dict("|u1", "(1, 1)"), &[7]);
    assert!(matches!(read_stack(&p).unwrap().0, Stack::U8(_)));
    for name in ["a.png", "noext", "a.tif.gz"] {
        let msg = read_stack(&dir.path().join(name)).unwrap_err().to_string();
        assert!(
            msg.contains(name) && msg.contains(".tif/.tiff") && msg.contains(".npy"),
            "{msg}"
        );
    }
}

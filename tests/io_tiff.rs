//! TIFF reading against fixtures made by tifffile (tests/data/tiff, see
//! make_fixtures.py and expected.json), and TIFF writing by round trip.

use infocus::io::{Calibration, read_stack, read_tiff, read_tiff_hyperstack, write_tiff};
use infocus::{Error, Stack, StackView};
use ndarray::{Array3, s};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tiff")
        .join(name)
}

fn expected() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(fixture("expected.json")).unwrap();
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

fn dtype(stack: &Stack) -> &'static str {
    stack.pixel_type().name()
}

fn sum(stack: &Stack) -> f64 {
    match stack {
        Stack::U8(a) => a.iter().map(|&v| f64::from(v)).sum(),
        Stack::U16(a) => a.iter().map(|&v| f64::from(v)).sum(),
        Stack::F32(a) => a.iter().map(|&v| f64::from(v)).sum(),
    }
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
}

fn check_calibration(name: &str, cal: &Calibration, want: Option<&Value>) {
    match want {
        None => assert_eq!(cal, &Calibration::default(), "{name}"),
        Some(w) => {
            for (field, got) in [
                ("pixel_width", cal.pixel_width),
                ("pixel_height", cal.pixel_height),
                ("z_spacing", cal.z_spacing),
            ] {
                let want = w[field].as_f64().unwrap();
                assert!(close(got, want, 1e-9), "{name}: {field} {got} != {want}");
            }
            assert_eq!(cal.unit, w["unit"].as_str().unwrap(), "{name}");
        }
    }
}

fn check_stack(name: &str, stack: &Stack, want: &Value) {
    let shape: Vec<usize> = want["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let (z, h, w) = stack.dim();
    assert_eq!(vec![z, h, w], shape, "{name}: shape");
    assert_eq!(
        dtype(stack),
        want["dtype"].as_str().unwrap(),
        "{name}: dtype"
    );
    let s = sum(stack);
    let want_sum = want["sum"].as_f64().unwrap();
    assert!(close(s, want_sum, 1e-9), "{name}: sum {s} != {want_sum}");
    let (lo, hi) = stack.view().min_max();
    assert!(
        close(lo, want["min"].as_f64().unwrap(), 1e-14),
        "{name}: min {lo}"
    );
    assert!(
        close(hi, want["max"].as_f64().unwrap(), 1e-14),
        "{name}: max {hi}"
    );
    for p in want["pixels"].as_array().unwrap() {
        let p: Vec<f64> = p
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let got = stack
            .view()
            .get_f64(p[0] as usize, p[1] as usize, p[2] as usize);
        // serde_json's float parsing may be off by one unit in the last place.
        assert!(
            close(got, p[3], 1e-14),
            "{name}: pixel {:?}: {got} != {}",
            &p[..3],
            p[3]
        );
    }
}

#[test]
fn fixtures_read_as_tifffile_wrote_them() {
    let mut checked = 0;
    for (name, want) in expected() {
        if want.get("error_page").is_some() {
            continue;
        }
        let path = fixture(&name);
        let (stack, cal) = match want.get("channel") {
            Some(c) => read_tiff_hyperstack(&path, c.as_u64().unwrap() as usize, 0).unwrap(),
            None => read_stack(&path).unwrap(),
        };
        check_stack(&name, &stack, &want);
        check_calibration(&name, &cal, want.get("calibration"));
        checked += 1;
    }
    assert!(checked >= 11, "only {checked} readable fixtures");
}

#[test]
fn refused_fixtures_name_the_page_and_the_problem() {
    let mut checked = 0;
    for (name, want) in expected() {
        let Some(page) = want.get("error_page") else {
            continue;
        };
        let page = page.as_u64().unwrap() as usize;
        let err = read_tiff(&fixture(&name)).expect_err(&name);
        let msg = err.to_string();
        match &err {
            Error::Format { page: p, path, .. } => {
                assert_eq!(*p, Some(page), "{name}: {msg}");
                assert_eq!(path, &fixture(&name));
            }
            other => panic!("{name}: expected a format error, got {other:?}"),
        }
        assert!(
            msg.contains(&name),
            "{name}: message does not name the file: {msg}"
        );
        assert!(msg.contains(&format!("(page {page})")), "{name}: {msg}");
        for word in want["error_words"].as_array().unwrap() {
            let word = word.as_str().unwrap();
            assert!(msg.contains(word), "{name}: message lacks {word:?}: {msg}");
        }
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} refused fixtures");
}

#[test]
fn hyperstack_with_channels_is_refused_and_one_channel_can_be_picked() {
    let path = fixture("imagej_hyperstack.tif");
    let err = read_tiff(&path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Format { page: None, .. }), "{err:?}");
    for word in expected()["imagej_hyperstack.tif"]["error_words"]
        .as_array()
        .unwrap()
    {
        assert!(msg.contains(word.as_str().unwrap()), "{msg}");
    }
    assert!(msg.contains("read_tiff_hyperstack"), "{msg}");

    let (c0, _) = read_tiff_hyperstack(&path, 0, 0).unwrap();
    let (c1, cal) = read_tiff_hyperstack(&path, 1, 0).unwrap();
    assert_eq!(c0.dim(), (3, 8, 9));
    assert_ne!(c0, c1);
    assert_eq!(cal.z_spacing, 1.5);

    for (c, t) in [(2, 0), (0, 1)] {
        let err = read_tiff_hyperstack(&path, c, t).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
        assert!(
            err.to_string().contains("2 channel(s) and 1 frame(s)"),
            "{err}"
        );
    }
}

#[test]
fn any_plain_stack_is_channel_0_frame_0() {
    let path = fixture("lzw_u16.tif");
    assert_eq!(
        read_tiff_hyperstack(&path, 0, 0).unwrap(),
        read_tiff(&path).unwrap()
    );
    assert!(read_tiff_hyperstack(&path, 1, 0).is_err());
}

fn u8_stack(z: usize, h: usize, w: usize) -> Array3<u8> {
    Array3::from_shape_fn((z, h, w), |(k, y, x)| {
        ((k * 31 + y * 7 + x * 3) % 256) as u8
    })
}

fn u16_stack(z: usize, h: usize, w: usize) -> Array3<u16> {
    Array3::from_shape_fn((z, h, w), |(k, y, x)| {
        ((k * 4099 + y * 257 + x * 13) % 65536) as u16
    })
}

fn f32_stack(z: usize, h: usize, w: usize) -> Array3<f32> {
    Array3::from_shape_fn((z, h, w), |(k, y, x)| {
        (k as f32 - 1.5) * 0.1 + (y * w + x) as f32 * -0.37
    })
}

fn calibrated() -> Calibration {
    Calibration {
        pixel_width: 0.1065,
        pixel_height: 0.2,
        z_spacing: 0.3,
        unit: "µm".into(),
    }
}

fn assert_cal_close(a: &Calibration, b: &Calibration) {
    assert!(close(a.pixel_width, b.pixel_width, 1e-12), "{a:?} vs {b:?}");
    assert!(
        close(a.pixel_height, b.pixel_height, 1e-12),
        "{a:?} vs {b:?}"
    );
    assert_eq!(a.z_spacing, b.z_spacing);
    assert_eq!(a.unit, b.unit);
}

#[test]
fn round_trip_u8_u16_f32_including_a_single_slice() {
    let dir = tempfile::tempdir().unwrap();
    let stacks = [
        Stack::U8(u8_stack(3, 5, 7)),
        Stack::U8(u8_stack(1, 4, 4)),
        Stack::U16(u16_stack(4, 6, 3)),
        Stack::U16(u16_stack(1, 1, 1)),
        Stack::F32(f32_stack(2, 9, 8)),
        Stack::F32(f32_stack(1, 3, 5)),
    ];
    for (i, stack) in stacks.iter().enumerate() {
        for cal in [Calibration::default(), calibrated()] {
            let path = dir.path().join(format!("s{i}.tif"));
            write_tiff(&path, stack.view(), &cal).unwrap();
            let (back, cal_back) = read_tiff(&path).unwrap();
            assert_eq!(&back, stack, "stack {i}");
            assert_cal_close(&cal_back, &cal);
        }
    }
}

#[test]
fn round_trip_of_views_that_are_not_contiguous() {
    let dir = tempfile::tempdir().unwrap();
    let big = u16_stack(4, 10, 12);
    let strided = big.slice(s![..;2, 1..9, ..;3]);
    let path = dir.path().join("v.tif");
    write_tiff(&path, StackView::U16(strided), &Calibration::default()).unwrap();
    assert_eq!(read_tiff(&path).unwrap().0, Stack::U16(strided.to_owned()));

    let permuted = big.view().permuted_axes([0, 2, 1]);
    write_tiff(&path, StackView::U16(permuted), &Calibration::default()).unwrap();
    assert_eq!(read_tiff(&path).unwrap().0, Stack::U16(permuted.to_owned()));
}

/// The tags of page 0 and the page count, read with the tiff crate directly.
fn description_and_pages(path: &Path) -> (String, usize, Vec<u64>) {
    use tiff::decoder::{Decoder, ifd::Value};
    use tiff::tags::Tag;
    let mut dec =
        Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap())).unwrap();
    let desc = match dec.get_tag(Tag::ImageDescription).unwrap() {
        Value::Ascii(s) => s,
        other => panic!("{other:?}"),
    };
    let mut offsets = vec![dec.get_tag_u64(Tag::StripOffsets).unwrap()];
    let mut pages = 1;
    while dec.more_images() {
        dec.next_image().unwrap();
        offsets.push(dec.get_tag_u64(Tag::StripOffsets).unwrap());
        pages += 1;
    }
    (desc, pages, offsets)
}

#[test]
fn imagej_description_and_contiguous_pixel_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u16.tif");
    write_tiff(&path, Stack::U16(u16_stack(4, 6, 3)).view(), &calibrated()).unwrap();
    let (desc, pages, offsets) = description_and_pages(&path);
    assert_eq!(
        desc,
        "ImageJ=1.53t\nimages=4\nslices=4\nunit=um\nspacing=0.3\nloop=false\n"
    );
    assert_eq!(pages, 4);
    // ImageJ reads the pages of an `images=N` file end to end from the first offset.
    let page_bytes = 6 * 3 * 2;
    for (k, o) in offsets.iter().enumerate() {
        assert_eq!(*o, offsets[0] + (k * page_bytes) as u64);
    }

    let path = dir.path().join("f32.tif");
    let mut a = f32_stack(2, 3, 4);
    a[[1, 2, 3]] = 1234.5;
    a[[0, 0, 1]] = -0.25;
    let lo = a.iter().cloned().fold(f32::INFINITY, f32::min);
    write_tiff(&path, StackView::F32(a.view()), &Calibration::default()).unwrap();
    let (desc, pages, _) = description_and_pages(&path);
    assert_eq!(
        desc,
        format!(
            "ImageJ=1.53t\nimages=2\nslices=2\nunit=pixel\nspacing=1\nloop=false\nmin={lo}\nmax=1234.5\n"
        )
    );
    assert_eq!(pages, 2);

    let path = dir.path().join("one.tif");
    write_tiff(
        &path,
        Stack::U8(u8_stack(1, 2, 2)).view(),
        &Calibration::default(),
    )
    .unwrap();
    let (desc, pages, _) = description_and_pages(&path);
    assert_eq!(
        desc,
        "ImageJ=1.53t\nimages=1\nslices=1\nunit=pixel\nspacing=1\nloop=false\n"
    );
    assert_eq!(pages, 1);
}

#[test]
fn resolution_tags_hold_the_pixel_size() {
    use tiff::decoder::{Decoder, ifd::Value};
    use tiff::tags::Tag;
    let dir = tempfile::tempdir().unwrap();
    for (unit, tiff_unit) in [("µm", 1u16), ("inch", 2), ("cm", 3), ("nm", 1)] {
        let path = dir.path().join("r.tif");
        let cal = Calibration {
            unit: unit.into(),
            ..calibrated()
        };
        write_tiff(&path, Stack::U8(u8_stack(2, 3, 3)).view(), &cal).unwrap();
        let mut dec =
            Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap())).unwrap();
        let Value::Rational(n, d) = dec.get_tag(Tag::XResolution).unwrap() else {
            panic!()
        };
        assert!(close(f64::from(d) / f64::from(n), 0.1065, 1e-12));
        let Value::Rational(n, d) = dec.get_tag(Tag::YResolution).unwrap() else {
            panic!()
        };
        assert!(close(f64::from(d) / f64::from(n), 0.2, 1e-12));
        assert_eq!(
            dec.get_tag_u32(Tag::ResolutionUnit).unwrap(),
            u32::from(tiff_unit)
        );
        let (_, back) = read_tiff(&path).unwrap();
        assert_cal_close(&back, &cal);
    }
}

#[test]
fn same_stack_gives_byte_identical_files() {
    let dir = tempfile::tempdir().unwrap();
    for stack in [
        Stack::U8(u8_stack(3, 5, 7)),
        Stack::U16(u16_stack(2, 4, 4)),
        Stack::F32(f32_stack(3, 2, 5)),
    ] {
        let a = dir.path().join("a.tif");
        let b = dir.path().join("b.tif");
        write_tiff(&a, stack.view(), &calibrated()).unwrap();
        write_tiff(&b, stack.view(), &calibrated()).unwrap();
        let bytes = std::fs::read(&a).unwrap();
        assert_eq!(bytes, std::fs::read(&b).unwrap());
        // Reading and writing again gives the same bytes too.
        let (back, cal) = read_tiff(&a).unwrap();
        write_tiff(&b, back.view(), &cal).unwrap();
        assert_eq!(bytes, std::fs::read(&b).unwrap());
    }
}

#[test]
fn fixtures_survive_a_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "lzw_u16.tif",
        "tiled_u16.tif",
        "imagej_zstack_u16.tif",
        "float32.tif",
        "deflate_u8.tif",
    ] {
        let (stack, cal) = read_tiff(&fixture(name)).unwrap();
        let path = dir.path().join(name);
        write_tiff(&path, stack.view(), &cal).unwrap();
        let (back, cal_back) = read_tiff(&path).unwrap();
        assert_eq!(back, stack, "{name}");
        assert_cal_close(&cal_back, &cal);
    }
}

#[test]
fn bad_calibration_or_empty_stack_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.tif");
    let stack = Stack::U8(u8_stack(1, 2, 2));
    for cal in [
        Calibration {
            pixel_width: 0.0,
            ..Calibration::default()
        },
        Calibration {
            z_spacing: f64::NAN,
            ..Calibration::default()
        },
        Calibration {
            pixel_height: -1.0,
            ..Calibration::default()
        },
        Calibration {
            unit: "m\nimages=9".into(),
            ..Calibration::default()
        },
        Calibration {
            unit: "Å".into(),
            ..Calibration::default()
        },
    ] {
        let err = write_tiff(&path, stack.view(), &cal).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    }
    let empty = Array3::<u8>::zeros((0, 2, 2));
    assert!(matches!(
        write_tiff(&path, StackView::U8(empty.view()), &Calibration::default()),
        Err(Error::InvalidArgument(_))
    ));
    assert!(!path.exists());
}

/// A tiny deterministic generator for corruption tests.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn truncated_and_corrupt_files_give_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.tif");
    let mut rng = Lcg(7);
    for name in expected().keys() {
        let bytes = std::fs::read(fixture(name)).unwrap();
        // Every prefix shorter than half the file lacks pixel data.
        for cut in [0, 1, 4, 8, 16, bytes.len() / 4, bytes.len() / 2] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let err = read_tiff(&path).expect_err(&format!("{name} cut at {cut}"));
            assert!(
                matches!(err, Error::Format { .. }),
                "{name} cut at {cut}: {err:?}"
            );
        }
        for cut in (0..bytes.len()).step_by(37) {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let _ = read_tiff(&path);
            let _ = read_tiff_hyperstack(&path, 0, 0);
        }
        for _ in 0..150 {
            let mut b = bytes.clone();
            for _ in 0..1 + rng.next() % 4 {
                let i = (rng.next() as usize) % b.len();
                b[i] = rng.next() as u8;
            }
            std::fs::write(&path, &b).unwrap();
            if let Err(e) = read_tiff(&path) {
                assert!(
                    matches!(e, Error::Format { .. } | Error::Io { .. }),
                    "{name}: {e:?}"
                );
            }
        }
    }
}

#[test]
fn huge_claimed_page_is_refused_without_allocating_it() {
    // A valid 2 x 2 file whose header is patched to claim 40000 x 40000 pixels.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.tif");
    write_tiff(
        &path,
        Stack::U16(u16_stack(1, 2, 2)).view(),
        &Calibration::default(),
    )
    .unwrap();
    let mut b = std::fs::read(&path).unwrap();
    let ifd = u32::from_le_bytes(b[4..8].try_into().unwrap()) as usize;
    let n = u16::from_le_bytes(b[ifd..ifd + 2].try_into().unwrap()) as usize;
    for e in 0..n {
        let at = ifd + 2 + 12 * e;
        let tag = u16::from_le_bytes(b[at..at + 2].try_into().unwrap());
        if tag == 256 || tag == 257 || tag == 278 {
            b[at + 8..at + 12].copy_from_slice(&40000u32.to_le_bytes());
        }
    }
    std::fs::write(&path, &b).unwrap();
    let err = read_tiff(&path).unwrap_err();
    assert!(
        matches!(err, Error::Format { page: Some(0), .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("40000 x 40000"), "{err}");
}

#[test]
fn not_a_tiff_and_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("text.tif");
    std::fs::write(&path, "hello, this is not an image").unwrap();
    let err = read_tiff(&path).unwrap_err();
    assert!(err.to_string().contains("not a TIFF file"), "{err}");
    let err = read_tiff(&dir.path().join("absent.tif")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
}

//! PNG output decodes back to the same pixels.

use infocus::Error;
use infocus::io::{write_png_gray, write_png_rgb};
use ndarray::{Array2, Array3};
use std::path::Path;

fn decode(path: &Path) -> (png::OutputInfo, Vec<u8>) {
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info, buf)
}

#[test]
fn gray_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let img = Array2::from_shape_fn((5, 7), |(y, x)| (y * 40 + x * 3) as u8);
    let p = dir.path().join("g.png");
    write_png_gray(&p, &img).unwrap();
    let (info, data) = decode(&p);
    assert_eq!((info.width, info.height), (7, 5));
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    assert_eq!(data, img.iter().copied().collect::<Vec<_>>());

    // A transposed (non-contiguous) view writes what it shows.
    let t = img.t().to_owned();
    write_png_gray(&p, &t).unwrap();
    let (info, data) = decode(&p);
    assert_eq!((info.width, info.height), (5, 7));
    assert_eq!(data, t.iter().copied().collect::<Vec<_>>());
}

#[test]
fn rgb_round_trip_and_determinism() {
    let dir = tempfile::tempdir().unwrap();
    let img = Array3::from_shape_fn((4, 6, 3), |(y, x, c)| (y * 50 + x * 7 + c * 80) as u8);
    let a = dir.path().join("a.png");
    let b = dir.path().join("b.png");
    write_png_rgb(&a, &img).unwrap();
    write_png_rgb(&b, &img).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let (info, data) = decode(&a);
    assert_eq!((info.width, info.height), (6, 4));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(data, img.iter().copied().collect::<Vec<_>>());
}

#[test]
fn wrong_shapes_are_invalid_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.png");
    let err = write_png_rgb(&p, &Array3::zeros((2, 2, 4))).unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument(_)) && err.to_string().contains("2 x 2 x 4"),
        "{err}"
    );
    assert!(matches!(
        write_png_gray(&p, &Array2::zeros((3, 0))),
        Err(Error::InvalidArgument(_))
    ));
    assert!(!p.exists());
}

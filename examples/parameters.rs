//! The pictures of docs/parameters.md: what each parameter of the `default`
//! preset does, on synthetic stacks whose truth is known.
//!
//! `cargo run --release --example parameters` writes docs/parameters/*.png
//! and prints the IoU of every picture's columns (quoted in the doc).

use infocus::eval::evaluate;
use infocus::io::write_png_rgb;
use infocus::report::{montage, Column};
use infocus::segment::{segment, Preset, SegmentParams};
use infocus::synth::{synth, Surface, SynthParams, Texture};
use infocus::{PixelType, Progress};
use std::path::Path;

fn stack(texture: Texture, surface: Surface, photons: f64, dof: f64, background: bool) -> infocus::synth::Synth {
    let p = SynthParams {
        depth: 12,
        height: 128,
        width: 128,
        texture,
        surface,
        photons,
        dof,
        background,
        pixel_type: PixelType::U16,
        seed: 11,
        ..SynthParams::default()
    };
    synth(&p, &Progress::none()).expect("synth")
}

/// One picture: rows = `slices`, columns = image | truth | one per setting.
fn picture(name: &str, s: &infocus::synth::Synth, slices: &[usize], settings: &[(&str, SegmentParams)]) {
    let masks: Vec<_> = settings
        .iter()
        .map(|(label, p)| {
            let seg = segment(s.stack.view(), p, &Progress::none()).expect("segment");
            let iou = evaluate(seg.mask.view(), s.truth.view()).expect("eval").stack.iou;
            let dof = seg.dof.map_or(String::new(), |d| format!(", depth of field used {d:.2}"));
            println!("{name}: {label}: IoU {iou:.3}{dof}");
            seg.mask
        })
        .collect();
    let cols: Vec<Column> = std::iter::once(Column { mask: None })
        .chain(masks.iter().map(|m| Column { mask: Some(m.view()) }))
        .collect();
    let img = montage(s.stack.view(), slices, Some(s.truth.view()), &cols);
    let dir = Path::new("docs/parameters");
    std::fs::create_dir_all(dir).expect("mkdir");
    write_png_rgb(&dir.join(format!("{name}.png")), &img).expect("png");
}

fn with(f: impl Fn(&mut SegmentParams)) -> SegmentParams {
    let mut p = SegmentParams::new(Preset::Default);
    f(&mut p);
    p
}

fn main() {
    // Depth of field: a tilted fine texture, 3 slices deep.
    let s = stack(Texture::Fine, Surface::Tilt, 300.0, 3.0, true);
    picture(
        "dof",
        &s,
        &[3, 6, 9],
        &[
            ("auto", with(|_| {})),
            ("dof 1", with(|p| p.band.dof = Some(1.0))),
            ("dof 3", with(|p| p.band.dof = Some(3.0))),
            ("dof 6", with(|p| p.band.dof = Some(6.0))),
        ],
    );
    // Minimum structure contrast: sparse cells at few photons.
    let s = stack(Texture::Sparse, Surface::Dome, 30.0, 2.0, true);
    picture(
        "min_contrast",
        &s,
        &[4, 6, 8],
        &[
            ("0.5", with(|p| p.band.min_contrast = 0.5)),
            ("2 (default)", with(|_| {})),
            ("8", with(|p| p.band.min_contrast = 8.0)),
            ("32", with(|p| p.band.min_contrast = 32.0)),
        ],
    );
    // Smoothing radius of the depth map: terraces at few photons.
    let s = stack(Texture::Fine, Surface::Steps, 30.0, 2.0, false);
    picture(
        "smoothing",
        &s,
        &[3, 6, 9],
        &[
            ("0", with(|p| p.band.smoothing = 0)),
            ("2", with(|p| p.band.smoothing = 2)),
            ("8 (default)", with(|_| {})),
            ("16", with(|p| p.band.smoothing = 16)),
        ],
    );
    // Radius of the sharpness window.
    let s = stack(Texture::Coarse, Surface::Random, 300.0, 2.0, true);
    picture(
        "radius",
        &s,
        &[3, 6, 9],
        &[
            ("1", with(|p| p.band.radius = 1)),
            ("3 (default)", with(|_| {})),
            ("6", with(|p| p.band.radius = 6)),
            ("12", with(|p| p.band.radius = 12)),
        ],
    );
    println!("wrote docs/parameters/*.png");
}

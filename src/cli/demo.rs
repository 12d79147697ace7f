//! synth and demo: focal stacks whose truth is known, and the tour of
//! infocus that the README's first command runs.

use infocus::report::{Column, montage, pick_slices};
use super::outputs::commit_all;
use super::outputs::{bar, progress_of};
use clap::Args;
use infocus::eval::evaluate;
use infocus::io::{Calibration, png::write_png_rgb, stage_tiff, write_tiff};
use infocus::segment::{Preset, SegmentParams, segment};
use infocus::synth::{SynthParams, synth as make_synth};
use infocus::{Error, PixelType, Result, StackView};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args)]
pub(crate) struct SynthArgs {
    /// Output stack TIFF.
    #[arg(short, long)]
    output: PathBuf,
    /// Truth masks TIFF (default: <output stem>_truth.tif beside the output).
    #[arg(long)]
    truth: Option<PathBuf>,
    /// Number of slices.
    #[arg(long, default_value_t = 20)]
    slices: usize,
    /// Image height and width in pixels.
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Image width, if different from --size.
    #[arg(long)]
    width: Option<usize>,
    /// fine, coarse, sparse or low-contrast.
    #[arg(long, default_value = "coarse")]
    texture: String,
    /// dome, tilt, random or steps.
    #[arg(long, default_value = "dome")]
    surface: String,
    /// Mean photons per background pixel (30 is noisy, 2000 is clean).
    #[arg(long, default_value_t = 1000.0)]
    photons: f64,
    /// Read noise, electrons rms.
    #[arg(long, default_value_t = 2.0)]
    read_noise: f64,
    /// Depth of field in slices.
    #[arg(long, default_value_t = 3.0)]
    dof: f64,
    /// Fill the whole field with specimen (no empty background).
    #[arg(long)]
    no_background: bool,
    /// u8, u16 or f32.
    #[arg(long, default_value = "u16")]
    pixel_type: String,
    /// Random seed: the same seed gives the same stack.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

impl SynthArgs {
    fn params(&self) -> Result<SynthParams> {
        Ok(SynthParams {
            depth: self.slices,
            height: self.size,
            width: self.width.unwrap_or(self.size),
            texture: self.texture.parse()?,
            surface: self.surface.parse()?,
            photons: self.photons,
            read_noise: self.read_noise,
            dof: self.dof,
            background: !self.no_background,
            pixel_type: match self.pixel_type.as_str() {
                "u8" => PixelType::U8,
                "u16" => PixelType::U16,
                "f32" => PixelType::F32,
                t => {
                    return Err(Error::invalid(format!(
                        "unknown pixel type '{t}'; use u8, u16 or f32"
                    )));
                }
            },
            seed: self.seed,
        })
    }
}

/// `<stem>_truth.tif` beside `out`.
fn truth_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!("{stem}_truth.tif"))
}

pub(crate) fn synth(a: &SynthArgs) -> Result<()> {
    let p = a.params()?;
    let bar = bar(p.depth as u64, "synth");
    let s = make_synth(&p, &progress_of(&bar))?;
    bar.finish_and_clear();
    let cal = Calibration::default();
    let truth = a.truth.clone().unwrap_or_else(|| truth_path(&a.output));
    commit_all(vec![
        stage_tiff(&a.output, s.stack.view(), &cal)?,
        stage_tiff(&truth, StackView::U8(s.truth.view()), &cal)?,
    ])
}

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Directory for the demo's files.
    #[arg(short, long, default_value = "infocus-demo")]
    output: PathBuf,
    /// Most epochs of the demo's U-Net (with the torch feature; 0: no U-Net).
    /// Most of the demo's time is this training: about 5 s an epoch on 2 cores.
    #[arg(long, default_value_t = 40)]
    unet_epochs: usize,
}

pub(crate) fn demo(a: &DemoArgs) -> Result<()> {
    let dir = &a.output;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let p = SynthParams::default();
    println!(
        "synthetic focal stack: {} slices of {}x{}, {} texture on a {} surface, depth of field {} slices",
        p.depth, p.height, p.width, p.texture, p.surface, p.dof
    );
    let s = make_synth(&p, &infocus::Progress::none())?;
    let cal = Calibration::default();
    write_tiff(&dir.join("stack.tif"), s.stack.view(), &cal)?;
    write_tiff(&dir.join("truth.tif"), StackView::U8(s.truth.view()), &cal)?;
    // With the torch feature: a U-Net trained on weak labels of other stacks.
    let unet = super::unet::demo_column(dir, s.stack.view(), &p, a.unet_epochs)?;
    println!(
        "\n{:<8} {:>7} {:>7} {:>9} {:>7} {:>9}",
        "preset", "IoU", "Dice", "precision", "recall", "time"
    );
    let mut masks = Vec::new();
    for preset in [Preset::Default, Preset::Paper] {
        let t0 = Instant::now();
        let seg = segment(
            s.stack.view(),
            &SegmentParams::new(preset),
            &infocus::Progress::none(),
        )?;
        let secs = t0.elapsed().as_secs_f64();
        let e = evaluate(seg.mask.view(), s.truth.view())?.stack;
        println!(
            "{:<8} {:>7.3} {:>7.3} {:>9.3} {:>7.3} {:>7.0}ms",
            preset.name(),
            e.iou,
            e.dice,
            e.precision,
            e.recall,
            secs * 1e3
        );
        let path = dir.join(format!("mask_{}.tif", preset.name()));
        write_tiff(&path, StackView::U8(seg.mask.view()), &cal)?;
        write_tiff(
            &dir.join(format!("focus_map_{}.tif", preset.name())),
            StackView::F32(seg.map.view()),
            &cal,
        )?;
        masks.push(seg.mask);
    }
    if let Some((mask, secs)) = unet {
        let e = evaluate(mask.view(), s.truth.view())?.stack;
        println!(
            "{:<8} {:>7.3} {:>7.3} {:>9.3} {:>7.3} {:>7.0}ms",
            "unet",
            e.iou,
            e.dice,
            e.precision,
            e.recall,
            secs * 1e3
        );
        masks.push(mask);
    }
    let slices = pick_slices(p.depth, 5);
    let cols: Vec<Column> = std::iter::once(Column { mask: None })
        .chain(masks.iter().map(|m| Column {
            mask: Some(m.view()),
        }))
        .collect();
    let picture = montage(s.stack.view(), &slices, Some(s.truth.view()), &cols);
    let png = dir.join("montage.png");
    write_png_rgb(&png, &picture)?;
    let (files, columns) = if masks.len() > 2 {
        (
            ", prob_unet.tif, unet.safetensors",
            "image | truth | default | paper | unet",
        )
    } else {
        ("", "image | truth | default | paper")
    };
    println!(
        "\nwrote {}: stack.tif, truth.tif, mask_*.tif, focus_map_*.tif{files} and montage.png\n\
         montage: rows are slices {slices:?}; columns are {columns}\n\
         (green: in focus and found, red: found but not in focus, blue: in focus but missed)",
        dir.display()
    );
    Ok(())
}

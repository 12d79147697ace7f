//! The accuracy suite: every preset on every stack of `infocus::synth::suite`
//! plus the real stacks, written to ACCURACY.md and docs/accuracy/*.png.
//!
//! `cargo run --release --example accuracy [-- --quick]`

use infocus::eval::{evaluate, Scores};
use infocus::io::{read_stack, write_png_rgb};
use infocus::report::{montage, pick_slices, Column};
use infocus::segment::{segment, Preset, SegmentParams};
use infocus::synth::{quick_suite, suite, synth};
use infocus::{Progress, Stack};
use ndarray::{s, Array3, Axis};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

const PRESETS: [Preset; 2] = [Preset::Default, Preset::Paper];

/// The U-Net rows (built with `--features torch`): a general model trained
/// on the default preset's weak labels of [`training_suite`] stacks (other
/// seeds than the suite's, so every suite stack is unseen), and the same
/// model fine-tuned on the exact truth of two of those training stacks.
/// Both are written to `models/` for anyone to load (napari "Load…", Fiji
/// "Predict U-Net...", `infocus predict`); `--reuse-models` reads them back
/// instead of training again.
#[cfg(feature = "torch")]
mod unet_rows {
    use infocus::segment::{segment, Preset, SegmentParams};
    use infocus::synth::{synth, training_suite, Synth};
    use infocus::unet::{train, DeviceSpec, Labelled, Model, PredictParams, TrainParams, UnetConfig};
    use infocus::Progress;
    use ndarray::Array3;
    use std::path::Path;

    /// Training stacks (`UNET_STACKS`, default 96); the first two also give
    /// the fine-tuning truth.
    pub fn stacks() -> usize {
        env("UNET_STACKS", 96).max(3)
    }
    pub const WEAK: &str = "models/unet-synthetic.safetensors";
    pub const TUNED: &str = "models/unet-synthetic-finetuned.safetensors";
    /// How many times the two truth stacks enter the fine-tuning data
    /// (`TRUTH_REPEATS`): with the preset's guide, 24 gave the suite +0.004
    /// over the preset and 8 +0.002 (ACCURACY notes).
    pub fn truth_repeats() -> usize {
        env("TRUTH_REPEATS", 24)
    }

    /// A whole-number knob from the environment, for parameter studies.
    fn env(key: &str, default: usize) -> usize {
        std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
    }

    fn training_stacks() -> Vec<Synth> {
        training_suite(stacks()).iter().map(|c| synth(&c.params, &Progress::none()).expect("synth")).collect()
    }

    /// (weak-label model, fine-tuned model, seconds spent making them).
    pub fn models(reuse: bool) -> (Model, Model, f64) {
        let t0 = std::time::Instant::now();
        let _ = infocus::unet::set_threads(rayon::current_num_threads());
        let load = |p: &str| Model::load(Path::new(p), DeviceSpec::Cpu).expect("--reuse-models: run once without it first");
        if reuse {
            return (load(WEAK), load(TUNED), t0.elapsed().as_secs_f64());
        }
        let stacks = training_stacks();
        let labels: Vec<Array3<u8>> = stacks
            .iter()
            .map(|s| segment(s.stack.view(), &SegmentParams::new(Preset::Default), &Progress::none()).expect("labels").mask)
            .collect();
        let data: Vec<Labelled> = stacks
            .iter()
            .zip(&labels)
            .map(|(s, m)| Labelled { image: s.stack.view(), mask: m.view(), slices: None, source: "weak labels, default preset".into() })
            .collect();
        // The default architecture (Z context 3, focus profile, the preset's
        // guide, batch norm) at the paper's width, on the GPU when there is
        // one (UNET_DEVICE); 20 epochs take 26 minutes on this 2-core CPU.
        // Measured on an H200 (ACCURACY notes): more training stacks is what
        // paid, 48 -> 96 stacks took the suite's mean IoU from 0.686 to
        // 0.728; 16 -> 32 channels gave 0.012 and batch 8 -> 32 steadied the
        // batch norm. 8 channels on 32 stacks plateaued at 0.651.
        // FT_ONLY=1: fine-tune the saved weak-label model again (for studies
        // of the fine-tuning alone).
        let ft_only = env("FT_ONLY", 0) != 0;
        let norm = std::env::var("UNET_NORM").map(|n| n.parse().expect("UNET_NORM: none, instance or batch")).unwrap_or(UnetConfig::default().norm);
        let config = UnetConfig { base_channels: env("UNET_WIDTH", 16), profile: env("UNET_PROFILE", 1) != 0, guide: env("UNET_GUIDE", 1) != 0, norm, ..UnetConfig::default() };
        let device: DeviceSpec = std::env::var("UNET_DEVICE").unwrap_or_else(|_| "auto".into()).parse().expect("UNET_DEVICE: cpu, cuda, cuda:N or auto");
        let model = Model::new(config, device, 0).expect("model");
        let params = TrainParams { epochs: env("UNET_EPOCHS", 20), batch: env("UNET_BATCH", 32), patch: env("UNET_PATCH", 64), patience: env("UNET_PATIENCE", 20), val_fraction: 0.1, ..TrainParams::default() };
        let weak = if ft_only {
            load(WEAK)
        } else {
            let weak = train(&model, &data, &params, &Progress::none(), &mut |e| {
                eprintln!("unet epoch {}/{} loss {:.4} val IoU {:.3} ({:.0} s)", e.epoch, e.epochs, e.loss, e.val_iou, e.seconds)
            })
            .expect("train")
            .model;
            std::fs::create_dir_all("models").expect("mkdir models");
            weak.save(Path::new(WEAK)).expect("save");
            weak
        };
        // Fine-tuning on the exact truth of two training stacks, rehearsing
        // the weak labels of the others so that the model does not forget
        // them: on the truth of two stacks alone it learned their depths of
        // field (0.651 to 0.478 on the suite without the guide; with it,
        // the suite fell below the preset too). FT_REHEARSE limits how many
        // are rehearsed.
        let mut tuning: Vec<Labelled> = Vec::new();
        for _ in 0..truth_repeats() {
            tuning.extend(stacks[..2].iter().map(|s| Labelled { image: s.stack.view(), mask: s.truth.view(), slices: None, source: "manual masks (synthetic truth)".into() }));
        }
        tuning.extend(data[2..].iter().take(env("FT_REHEARSE", usize::MAX)).cloned());
        let ft = TrainParams { epochs: env("FT_EPOCHS", 3), batch: 8, patch: env("UNET_PATCH", 64), patience: 0, val_fraction: 0.1, ..TrainParams::finetuning() };
        let tuned = train(&weak, &tuning, &ft, &Progress::none(), &mut |e| {
            eprintln!("fine-tune epoch {}/{} val IoU {:.3} ({:.0} s)", e.epoch, e.epochs, e.val_iou, e.seconds)
        })
        .expect("finetune")
        .model;
        tuned.save(Path::new(TUNED)).expect("save");
        (weak, tuned, t0.elapsed().as_secs_f64())
    }

    pub fn predict(model: &Model, stack: infocus::StackView) -> Array3<u8> {
        model.predict(stack, &PredictParams::default(), &Progress::none()).expect("predict").mask
    }
}

/// Stacks `images` vertically on a white background, left-aligned.
fn stack_vertically(images: &[Array3<u8>]) -> Array3<u8> {
    let w = images.iter().map(|i| i.dim().1).max().unwrap_or(1);
    let h: usize = images.iter().map(|i| i.dim().0).sum();
    let mut out = Array3::from_elem((h.max(1), w, 3), 255u8);
    let mut y = 0;
    for im in images {
        let (ih, iw, _) = im.dim();
        out.slice_mut(s![y..y + ih, ..iw, ..]).assign(im);
        y += ih;
    }
    out
}

/// The preset's parameters; `INFOCUS_MIN_CONTRAST`, `INFOCUS_SMOOTHING` and
/// `INFOCUS_RADIUS` override the default preset's, for parameter studies.
fn params(preset: Preset) -> SegmentParams {
    let mut p = SegmentParams::new(preset);
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<f64>().ok());
    if let Some(v) = env("INFOCUS_MIN_CONTRAST") {
        p.band.min_contrast = v;
    }
    if let Some(v) = env("INFOCUS_SMOOTHING") {
        p.band.smoothing = v as usize;
    }
    if let Some(v) = env("INFOCUS_RADIUS") {
        p.band.radius = v as usize;
    }
    p
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// `--diag`: the default preset only, with where its errors come from
/// (specimen, depth, depth of field), printed; nothing written.
fn diagnose(cases: &[infocus::synth::SuiteCase]) {
    let filter = std::env::var("INFOCUS_CASES").ok();
    let mut ious = Vec::new();
    for c in cases {
        if let Some(f) = &filter {
            if !f.split(',').any(|p| c.name.contains(p)) {
                continue;
            }
        }
        let s = synth(&c.params, &Progress::none()).expect("synth");
        let t0 = Instant::now();
        let (seg, det) = infocus::segment::segment_details(s.stack.view(), &params(Preset::Default).band, &Progress::none()).expect("segment");
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        let e = evaluate(seg.mask.view(), s.truth.view()).expect("eval").stack;
        let (z, h, w) = seg.mask.dim();
        let pred_spec = det.specimen.clone();
        let true_spec = s.specimen.mapv(|v| v > 0);
        let (mut i2, mut u2, mut derr, mut nd) = (0usize, 0usize, 0.0, 0usize);
        for ((y, x), &p) in pred_spec.indexed_iter() {
            let t = true_spec[(y, x)];
            i2 += usize::from(p && t);
            u2 += usize::from(p || t);
            if p && t {
                derr += (f64::from(det.depth[(y, x)]) - f64::from(s.depth[(y, x)])).abs();
                nd += 1;
            }
        }
        let spec_iou = i2 as f64 / u2.max(1) as f64;
        if std::env::var("INFOCUS_DUMP").is_ok() {
            let img = ndarray::Array3::from_shape_fn((h, w, 3), |(y, x, c)| {
                let (p, t) = (pred_spec[(y, x)], true_spec[(y, x)]);
                let v = match (p, t) { (true, true) => [0, 200, 0], (true, false) => [220, 0, 0], (false, true) => [0, 0, 255], _ => [0, 0, 0] };
                v[c]
            });
            write_png_rgb(Path::new(&format!("/tmp/spec-{}.png", c.name)), &img).expect("png");
        }
        let dof = seg.dof.unwrap_or(c.params.dof);
        // IoU with one part replaced by the truth.
        let mk = |spec: &ndarray::Array2<bool>, depth: &dyn Fn(usize, usize) -> f64, d: f64| {
            let m = Array3::from_shape_fn((z, h, w), |(k, y, x)| {
                if spec[(y, x)] && (k as f64 - depth(y, x)).abs() <= d / 2.0 { 255u8 } else { 0 }
            });
            evaluate(m.view(), s.truth.view()).expect("eval").stack.iou
        };
        let pd = |y: usize, x: usize| f64::from(det.depth[(y, x)]);
        let td = |y: usize, x: usize| f64::from(s.depth[(y, x)]);
        let with_true_spec = mk(&true_spec, &pd, dof);
        let with_true_dof = mk(&pred_spec, &pd, c.params.dof);
        let with_true_depth = mk(&pred_spec, &td, dof);
        ious.push(e.iou);
        println!(
            "{:>42} IoU {:.3} P {:.2} R {:.2} | spec IoU {:.3} depth MAE {:.2} dof {:.2}/{} | IoU w/ true spec {:.3} dof {:.3} depth {:.3} | {ms:.0} ms",
            c.name, e.iou, e.precision, e.recall, spec_iou, derr / nd.max(1) as f64, dof, c.params.dof, with_true_spec, with_true_dof, with_true_depth
        );
    }
    let min = ious.iter().copied().fold(f64::INFINITY, f64::min);
    println!("mean IoU {:.4} min {:.3} below 0.5: {}", mean(&ious), min, ious.iter().filter(|&&v| v < 0.5).count());
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let cases = if quick { quick_suite() } else { suite() };
    if std::env::args().any(|a| a == "--time") {
        // The benchmark's stack (benches/maps.rs): 20 x 256 x 256 u16.
        let p = infocus::synth::SynthParams { depth: 20, height: 256, width: 256, ..Default::default() };
        let s = synth(&p, &Progress::none()).expect("synth");
        let best = (0..7)
            .map(|_| {
                let t = Instant::now();
                segment(s.stack.view(), &SegmentParams::new(Preset::Default), &Progress::none()).expect("segment");
                t.elapsed().as_secs_f64() * 1e3
            })
            .fold(f64::INFINITY, f64::min);
        println!("default segment 20x256x256 u16: best of 7 {best:.1} ms ({} threads)", rayon::current_num_threads());
        return;
    }
    if std::env::args().any(|a| a == "--diag") {
        diagnose(&cases);
        return;
    }
    // Every method: a name and a function from a stack to (masks, depth of field used).
    type Run<'a> = Box<dyn Fn(infocus::StackView) -> (Array3<u8>, Option<f64>) + 'a>;
    #[allow(unused_mut)]
    let mut methods: Vec<(String, Run)> = PRESETS
        .iter()
        .map(|&p| {
            let run: Run = Box::new(move |s| {
                let seg = segment(s, &params(p), &Progress::none()).expect("segment");
                (seg.mask, seg.dof)
            });
            (p.name().to_string(), run)
        })
        .collect();
    #[cfg(not(feature = "torch"))]
    let unet_note = String::new();
    #[cfg(feature = "torch")]
    let unet_note = {
        let (weak, tuned, train_s) = unet_rows::models(std::env::args().any(|a| a == "--reuse-models"));
        eprintln!("U-Net trained and fine-tuned in {train_s:.0} s");
        let note = format!("`unet`: a U-Net ({}; `{}`) trained on the default preset's masks of {} training stacks that are not in the suite (`synth::training_suite`, other seeds); `unet-finetuned`: that model fine-tuned (the paper's fine-tuning loss and learning rate) on the exact truth of 2 of those training stacks, repeated {}x, with the weak labels of the other {} rehearsed (`{}`). {}", weak.config(), unet_rows::WEAK, unet_rows::stacks(), unet_rows::truth_repeats(), unet_rows::stacks() - 2, unet_rows::TUNED, if std::env::args().any(|a| a == "--reuse-models") { "Both were loaded (`--reuse-models`), not trained in this run: the notes below say how they were made.".to_string() } else { format!("Making both took {train_s:.0} s on {}.", weak.device()) });
        if std::env::var("UNET_ROWS").as_deref() != Ok("tuned") {
            methods.push(("unet".into(), Box::new(move |s| (unet_rows::predict(&weak, s), None))));
        }
        methods.push(("unet-finetuned".into(), Box::new(move |s| (unet_rows::predict(&tuned, s), None))));
        note
    };
    let names: Vec<String> = methods.iter().map(|m| m.0.clone()).collect();
    let n_methods = methods.len();
    let mut md = String::new();
    let _ = writeln!(md, "# Accuracy\n\nMeasured by `cargo run --release --example accuracy{}` on this machine ({} threads).", if cfg!(feature = "torch") { " --features torch" } else { "" }, rayon::current_num_threads());
    let _ = writeln!(md, "Synthetic stacks have exact truth (`src/synth`); IoU, Dice, precision and recall are over the whole stack.");
    if !unet_note.is_empty() {
        let _ = writeln!(md, "{unet_note}");
    }
    let _ = writeln!(md, "\n| stack | method | IoU | Dice | precision | recall | dof used | time ms |\n|---|---|---|---|---|---|---|---|");
    let mut ious: Vec<Vec<f64>> = vec![Vec::new(); n_methods];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); n_methods];
    let mut pictures: Vec<Vec<Array3<u8>>> = vec![Vec::new(); n_methods];
    for (n, c) in cases.iter().enumerate() {
        let s = synth(&c.params, &Progress::none()).expect("synth");
        for (i, (name, run)) in methods.iter().enumerate() {
            let t0 = Instant::now();
            let (mask, dof) = run(s.stack.view());
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            let e: Scores = evaluate(mask.view(), s.truth.view()).expect("eval").stack;
            ious[i].push(e.iou);
            times[i].push(ms);
            let dof = dof.map(|d| format!("{d:.2} (true {})", c.params.dof)).unwrap_or_else(|| "-".into());
            let _ = writeln!(md, "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {dof} | {ms:.0} |", c.name, name, e.iou, e.dice, e.precision, e.recall);
            eprintln!("{:>44} {:>14} IoU {:.3} ({ms:.0} ms)", c.name, name, e.iou);
            if n < 6 && c.params.height <= 256 {
                let cols = [Column { mask: None }, Column { mask: Some(mask.view()) }];
                pictures[i].push(montage(s.stack.view(), &pick_slices(c.params.depth, 3), Some(s.truth.view()), &cols));
            }
        }
    }
    let _ = writeln!(md, "\n## Means over {} stacks\n\n| method | mean IoU | min IoU | worst stack | stacks below 0.5 | mean time ms |\n|---|---|---|---|---|---|", cases.len());
    for (i, name) in names.iter().enumerate() {
        let worst = (0..ious[i].len()).fold(0, |b, k| if ious[i][k] < ious[i][b] { k } else { b });
        let below = ious[i].iter().filter(|&&v| v < 0.5).count();
        let _ = writeln!(md, "| {name} | {:.3} | {:.3} | {} | {below} | {:.0} |", mean(&ious[i]), ious[i][worst], cases[worst].name, mean(&times[i]));
    }
    let _ = writeln!(md, "\n## Real stacks\n\n| stack | method | slice with most in-focus pixels | expert best focus | IoU vs published mask |\n|---|---|---|---|---|");
    let real: [(&str, Option<usize>, Option<&str>); 4] = [
        ("tests/data/real/zebrafish_slice/image.npy", None, Some("tests/data/real/zebrafish_slice/mask.npy")),
        ("tests/data/real/bf_autofocus/stack.tif", None, None),
        ("tests/data/real/focusstack_pcb/stack.tif", None, None),
        ("../shared/data/urjc_s1/stack.tif", Some(10), None),
    ];
    for (path, expert, mask) in real {
        let Ok((stack, _)) = read_stack(Path::new(path)) else {
            let _ = writeln!(md, "| {path} | - | not found here | - | - |");
            continue;
        };
        for (name, run) in &methods {
            let (m, _) = run(stack.view());
            let counts: Vec<usize> = m.axis_iter(Axis(0)).map(|m| m.iter().filter(|&&v| v > 0).count()).collect();
            let best = (0..counts.len()).fold(0, |b, k| if counts[k] > counts[b] { k } else { b });
            let iou = mask.map(|mp| {
                let (truth, _) = read_stack(Path::new(mp)).expect("mask");
                let t = match truth {
                    Stack::U8(a) => a.mapv(|v| u8::from(v > 0) * 255),
                    _ => panic!("mask is not u8"),
                };
                format!("{:.3}", evaluate(m.view(), t.view()).expect("eval").stack.iou)
            });
            let _ = writeln!(md, "| {path} | {name} | {best} | {} | {} |", expert.map_or("-".into(), |e| e.to_string()), iou.unwrap_or_else(|| "-".into()));
        }
    }
    let dir = Path::new("docs/accuracy");
    std::fs::create_dir_all(dir).expect("mkdir");
    let _ = writeln!(md, "\n## Pictures\n\nRows: three slices of each of the first stacks; columns: image | truth | prediction (green: found and in focus, red: found but not in focus, blue: missed).\n");
    for (i, name) in names.iter().enumerate() {
        let file = dir.join(format!("{name}.png"));
        write_png_rgb(&file, &stack_vertically(&pictures[i])).expect("png");
        let _ = writeln!(md, "- {name}: `{}`", file.display());
    }
    md.push_str(NOTES);
    let out = if quick { "ACCURACY-quick.md" } else { "ACCURACY.md" };
    std::fs::write(out, md).expect("write");
    for (i, name) in names.iter().enumerate() {
        println!("{name}: mean IoU {:.3}", mean(&ious[i]));
    }
    println!("wrote {out} and {}", dir.display());
}

/// What was tried for the default preset, kept with the figures.
const NOTES: &str = include_str!("accuracy_notes.md");

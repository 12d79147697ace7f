//! The U-Net in the core library (feature `torch`, CPU): it learns the rule
//! labels, fine-tuning on truth helps, files round-trip bit for bit and bad
//! files are refused, any slice size works, training is reproducible and
//! cancellable.
//!
//! libtorch runs on one thread here (see `unet_common::one_thread`), so the
//! figures below are the same on every run of the same machine kind.
#![cfg(feature = "torch")]

mod unet_common;

use infocus::eval::evaluate;
use infocus::segment::{Preset, SegmentParams};
use infocus::unet::{
    DeviceSpec, EpochReport, Labelled, Model, Norm, PredictParams, TrainParams, Trained,
    UnetConfig, finetune, train, weak_labels,
};
use infocus::{Error, Progress, StackView};
use ndarray::Array3;
use std::sync::{Mutex, OnceLock};
use unet_common::{learnable, one_thread, small};

fn tiny() -> UnetConfig {
    UnetConfig {
        depth: 2,
        base_channels: 4,
        norm: Norm::Batch,
        context: 1,
        profile: true,
        guide: true,
    }
}

fn labels(s: StackView) -> Array3<u8> {
    weak_labels(s, &SegmentParams::new(Preset::Default), &Progress::none()).unwrap()
}

fn quiet(_: &EpochReport) {}

/// A tiny net trained on the default preset's masks of two learnable stacks
/// (shared by the tests that need a trained model; trained once).
fn trained() -> &'static Mutex<Trained> {
    static T: OnceLock<Mutex<Trained>> = OnceLock::new();
    T.get_or_init(|| {
        one_thread();
        let stacks = [learnable(1), learnable(2)];
        let masks: Vec<_> = stacks.iter().map(|s| labels(s.stack.view())).collect();
        let data: Vec<Labelled> = stacks
            .iter()
            .zip(&masks)
            .map(|(s, m)| Labelled {
                image: s.stack.view(),
                mask: m.view(),
                slices: None,
                source: "weak labels, default preset".into(),
            })
            .collect();
        let model = Model::new(tiny(), DeviceSpec::Cpu, 7).unwrap();
        let params = TrainParams {
            epochs: 12,
            patch: 64,
            learning_rate: 2e-3,
            ..TrainParams::default()
        };
        let t0 = std::time::Instant::now();
        let t = train(&model, &data, &params, &Progress::none(), &mut |r| {
            eprintln!(
                "epoch {:>2}: loss {:.4}, validation IoU {:.4} ({:.1}s)",
                r.epoch, r.loss, r.val_iou, r.seconds
            )
        })
        .unwrap();
        eprintln!("trained in {:.1}s", t0.elapsed().as_secs_f64());
        Mutex::new(t)
    })
}

#[test]
fn a_tiny_net_learns_the_rule_labels_of_a_held_out_stack() {
    let t = trained().lock().unwrap();
    one_thread();
    assert_eq!(t.device, "cpu");
    assert!(t.best_epoch >= 1 && t.best_epoch <= t.epochs.len());
    assert_eq!(t.epochs.len(), 12);
    assert_eq!(t.train_slices + t.val_slices, 24);
    let held = learnable(3);
    let rule = labels(held.stack.view());
    let p = t
        .model
        .predict(held.stack.view(), &PredictParams::default(), &Progress::none())
        .unwrap();
    let vs_rule = evaluate(p.mask.view(), rule.view()).unwrap().stack.iou;
    let vs_truth = evaluate(p.mask.view(), held.truth.view()).unwrap().stack.iou;
    let rule_truth = evaluate(rule.view(), held.truth.view()).unwrap().stack.iou;
    eprintln!(
        "held-out IoU: U-Net vs rule labels {vs_rule:.4}, U-Net vs truth {vs_truth:.4}, rule vs truth {rule_truth:.4}"
    );
    assert!(vs_rule > 0.9, "IoU against the rule labels {vs_rule}");
    // The model records how it was made.
    let h = &t.model.history()[0];
    assert_eq!(h["labels"], "weak labels, default preset");
    assert_eq!(h["stacks"], 2);
}

#[test]
fn save_then_load_gives_bit_identical_predictions() {
    let t = trained().lock().unwrap();
    one_thread();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    t.model.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes, t.model.to_bytes().unwrap());
    let loaded = Model::load(&path, DeviceSpec::Cpu).unwrap();
    assert_eq!(loaded.config(), tiny());
    assert_eq!(loaded.history(), t.model.history());
    assert_eq!(loaded.to_bytes().unwrap(), bytes, "load -> save changes bytes");
    let s = small(5);
    let a = t
        .model
        .predict(s.stack.view(), &PredictParams::default(), &Progress::none())
        .unwrap();
    let b = loaded
        .predict(s.stack.view(), &PredictParams::default(), &Progress::none())
        .unwrap();
    let same = a
        .prob
        .iter()
        .zip(&b.prob)
        .all(|(x, y)| x.to_bits() == y.to_bits());
    assert!(same, "probabilities differ after save -> load");
    assert_eq!(a.mask, b.mask);

    // A standard safetensors file, with our metadata.
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(meta["format"], "infocus-unet");
    assert_eq!(meta["infocus_version"], infocus::VERSION);
    for key in ["architecture", "normalisation", "training"] {
        let v: serde_json::Value = serde_json::from_str(&meta[key]).unwrap();
        assert!(!v.is_null(), "{key}");
    }
    let names = st.names();
    assert!(names.contains(&"enc0.conv1.weight"), "{names:?}");
    assert!(names.contains(&"head.weight"), "{names:?}");
    assert!(names.contains(&"mid.norm2.running_var"), "{names:?}");
    for (_, v) in st.tensors() {
        assert_eq!(v.dtype(), safetensors::Dtype::F32);
    }
}

#[test]
fn damaged_truncated_and_foreign_files_are_refused_with_a_reason() {
    one_thread();
    let dir = tempfile::tempdir().unwrap();
    let good = Model::new(tiny(), DeviceSpec::Cpu, 1).unwrap().to_bytes().unwrap();
    let header = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "too short"),
        ("8 bytes", good[..8].to_vec(), "truncated"),
        ("half the header", good[..8 + header / 2].to_vec(), "truncated"),
        ("no weights", good[..8 + header].to_vec(), "truncated"),
        ("one byte short", good[..good.len() - 1].to_vec(), "truncated"),
        ("a byte too many", [&good[..], &[0]].concat(), "after the last tensor"),
        ("text", b"this is not a model at all, just text".to_vec(), "not a safetensors"),
    ];
    let mut flipped = good.clone();
    flipped[8 + header / 3] ^= 0x20;
    cases.push(("a flipped header byte", flipped, ""));
    // A foreign safetensors file: valid, but not ours.
    let data = vec![0u8; 16];
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![4], &data).unwrap();
    let foreign = safetensors::serialize([("w", view)], None).unwrap();
    cases.push(("a foreign safetensors file", foreign, "not an infocus U-Net model"));
    // Ours, but with weights that do not fit the architecture it names.
    let other = Model::new(
        UnetConfig {
            base_channels: 6,
            ..tiny()
        },
        DeviceSpec::Cpu,
        1,
    )
    .unwrap()
    .to_bytes()
    .unwrap();
    let mut mixed = other.clone();
    let arch_old = tiny_arch(6);
    let arch_new = tiny_arch(4);
    replace(&mut mixed, &arch_old, &arch_new);
    cases.push(("weights of another architecture", mixed, "shape"));

    let mut problems = Vec::new();
    for (what, bytes, needle) in cases {
        let path = dir.path().join(format!("{}.safetensors", what.replace(' ', "_")));
        std::fs::write(&path, &bytes).unwrap();
        match Model::load(&path, DeviceSpec::Cpu) {
            Ok(_) => problems.push(format!("{what}: loaded")),
            Err(e @ Error::Format { .. }) => {
                let msg = e.to_string();
                if !msg.contains(path.to_str().unwrap()) || !msg.contains(needle) {
                    problems.push(format!("{what}: message '{msg}' lacks the path or '{needle}'"));
                }
            }
            Err(e) => problems.push(format!("{what}: {e:?} is not a format error")),
        }
    }
    // Nothing there at all: an I/O error naming the file.
    let missing = dir.path().join("missing.safetensors");
    match Model::load(&missing, DeviceSpec::Cpu) {
        Err(Error::Io { path, .. }) => assert_eq!(path, missing),
        other => problems.push(format!("missing file: {other:?}")),
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The architecture JSON of `tiny()` with `base` channels, as written.
fn tiny_arch(base: usize) -> Vec<u8> {
    UnetConfig {
        base_channels: base,
        ..tiny()
    }
    .to_json()
    .to_string()
    .replace('"', "\\\"")
    .into_bytes()
}

fn replace(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern present");
    bytes[at..at + to.len()].copy_from_slice(to);
}

#[test]
fn finetuning_on_truth_raises_iou_against_truth_on_a_held_out_stack() {
    one_thread();
    // Pre-train on weak labels of two ordinary stacks, as the paper did,
    // from the paper's own rule (window 128, Otsu): coarse labels far from
    // the truth, which fine-tuning on a few true masks must correct. (The
    // default preset's labels are now close to the truth, IoU ~0.84 on
    // these stacks, leaving fine-tuning little to add.)
    let pre = [small(1), small(2)];
    let masks: Vec<_> = pre
        .iter()
        .map(|s| weak_labels(s.stack.view(), &SegmentParams::new(Preset::Paper), &Progress::none()).unwrap())
        .collect();
    let data: Vec<Labelled> = pre
        .iter()
        .zip(&masks)
        .map(|(s, m)| Labelled {
            image: s.stack.view(),
            mask: m.view(),
            slices: None,
            source: "weak labels, paper preset".into(),
        })
        .collect();
    let config = UnetConfig {
        base_channels: 8,
        ..tiny()
    };
    let model = Model::new(config, DeviceSpec::Cpu, 1).unwrap();
    let params = TrainParams {
        epochs: 10,
        patch: 64,
        learning_rate: 2e-3,
        ..TrainParams::default()
    };
    let pre = train(&model, &data, &params, &Progress::none(), &mut quiet).unwrap();
    // Fine-tune on the exact truth of two more.
    let ft = [small(11), small(12)];
    let images: Vec<_> = ft.iter().map(|s| s.stack.view()).collect();
    let truths: Vec<_> = ft.iter().map(|s| s.truth.view()).collect();
    let fparams = TrainParams {
        epochs: 10,
        patch: 64,
        ..TrainParams::finetuning()
    };
    let before_bytes = pre.model.to_bytes().unwrap();
    let tuned = finetune(&pre.model, &images, &truths, None, &fparams, &Progress::none(), &mut quiet).unwrap();
    assert_eq!(pre.model.to_bytes().unwrap(), before_bytes, "fine-tuning changed its input model");
    // Only slices with truth count: 2 stacks, each has some empty slices.
    let annotated: usize = truths.iter().map(|t| infocus::unet::annotated_slices(*t).len()).sum();
    assert_eq!(tuned.train_slices + tuned.val_slices, annotated);
    assert_eq!(tuned.model.history().len(), 2);
    assert_eq!(tuned.model.history()[1]["labels"], "manual masks");

    let held = small(100);
    let iou = |m: &Model| {
        let p = m
            .predict(held.stack.view(), &PredictParams::default(), &Progress::none())
            .unwrap();
        evaluate(p.mask.view(), held.truth.view()).unwrap().stack.iou
    };
    let (before, after) = (iou(&pre.model), iou(&tuned.model));
    eprintln!("held-out IoU against truth: {before:.4} before fine-tuning, {after:.4} after");
    assert!(after > before + 0.05, "before {before}, after {after}");
}

#[test]
fn predicts_stacks_of_odd_sizes() {
    let t = trained().lock().unwrap();
    one_thread();
    for (z, h, w) in [(3, 300, 171), (1, 7, 5), (2, 1, 40), (1, 513, 64)] {
        let s = Array3::from_shape_fn((z, h, w), |(k, y, x)| ((k * 7 + y * 3 + x * 5) % 251) as u8);
        let p = t
            .model
            .predict(StackView::U8(s.view()), &PredictParams::default(), &Progress::none())
            .unwrap();
        assert_eq!(p.prob.dim(), (z, h, w));
        assert_eq!(p.mask.dim(), (z, h, w));
        assert!(p.prob.iter().all(|v| (0.0..=1.0).contains(v)), "{z}x{h}x{w}");
        assert!(
            p.prob
                .iter()
                .zip(&p.mask)
                .all(|(&v, &m)| m == if v > 0.5 { 255 } else { 0 })
        );
    }
    // Small tiles blend into nearly what whole-slice tiles give.
    let s = learnable(4);
    let whole = t
        .model
        .predict(s.stack.view(), &PredictParams::default(), &Progress::none())
        .unwrap();
    let tiled = t
        .model
        .predict(
            s.stack.view(),
            &PredictParams {
                tile: 96,
                overlap: 32,
                ..PredictParams::default()
            },
            &Progress::none(),
        )
        .unwrap();
    let iou = evaluate(tiled.mask.view(), whole.mask.view()).unwrap().stack.iou;
    assert!(iou > 0.95, "tiles of 96 vs whole slices: IoU {iou}");
    // Bad parameters are refused.
    for bad in [
        PredictParams { threshold: 1.5, ..PredictParams::default() },
        PredictParams { tile: 2, ..PredictParams::default() },
        PredictParams { overlap: 256, ..PredictParams::default() },
        PredictParams { batch: 0, ..PredictParams::default() },
    ] {
        let e = t.model.predict(s.stack.view(), &bad, &Progress::none()).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{bad:?}: {e}");
    }
}

fn quick_train(seed: u64, progress: &Progress) -> infocus::Result<Trained> {
    let s = small(1);
    let m = labels(s.stack.view());
    let data = [Labelled {
        image: s.stack.view(),
        mask: m.view(),
        slices: None,
        source: "weak labels, default preset".into(),
    }];
    let model = Model::new(tiny(), DeviceSpec::Cpu, seed)?;
    let params = TrainParams {
        epochs: 3,
        patch: 32,
        seed,
        ..TrainParams::default()
    };
    train(&model, &data, &params, progress, &mut quiet)
}

#[test]
fn the_same_seed_gives_the_same_model_bytes() {
    one_thread();
    let a = quick_train(3, &Progress::none()).unwrap().model.to_bytes().unwrap();
    let b = quick_train(3, &Progress::none()).unwrap().model.to_bytes().unwrap();
    assert!(a == b, "two runs with seed 3 differ");
    let c = quick_train(4, &Progress::none()).unwrap().model.to_bytes().unwrap();
    assert!(a != c, "seeds 3 and 4 give the same model");
}

#[test]
fn a_cancelled_training_returns_cancelled_and_changes_nothing() {
    one_thread();
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let progress = Progress::new(|done, total| {
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(total, 3);
        done < 1
    });
    let e = quick_train(3, &progress).unwrap_err();
    drop(progress);
    assert!(matches!(e, Error::Cancelled), "{e}");
    assert!(calls.into_inner() > 1);
    // Predictions report one unit per slice and cancel too.
    let model = Model::new(tiny(), DeviceSpec::Cpu, 0).unwrap();
    let s = small(2);
    let seen = Mutex::new(Vec::new());
    model
        .predict(
            s.stack.view(),
            &PredictParams::default(),
            &Progress::new(|d, t| {
                seen.lock().unwrap().push((d, t));
                true
            }),
        )
        .unwrap();
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.last(), Some(&(12, 12)));
    let e = model
        .predict(s.stack.view(), &PredictParams::default(), &Progress::new(|d, _| d < 3))
        .unwrap_err();
    assert!(matches!(e, Error::Cancelled));
}

#[test]
fn training_refuses_what_it_cannot_use() {
    one_thread();
    let model = Model::new(tiny(), DeviceSpec::Cpu, 0).unwrap();
    let s = small(1);
    let empty = Array3::<u8>::zeros(s.truth.dim());
    let short = Array3::<u8>::zeros((2, 128, 128));
    let lab = |mask, slices| Labelled {
        image: s.stack.view(),
        mask,
        slices,
        source: "test".into(),
    };
    let p = TrainParams::default();
    let cases: Vec<(&str, Vec<Labelled>, TrainParams)> = vec![
        ("no stacks", vec![], p),
        ("masks of another shape", vec![lab(short.view(), None)], p),
        ("a slice beyond the stack", vec![lab(empty.view(), Some(vec![12]))], p),
        ("no annotated slice", vec![lab(empty.view(), Some(vec![]))], p),
        ("patch not a multiple of 4", vec![lab(empty.view(), None)], TrainParams { patch: 30, ..p }),
        ("zero epochs", vec![lab(empty.view(), None)], TrainParams { epochs: 0, ..p }),
        ("NaN learning rate", vec![lab(empty.view(), None)], TrainParams { learning_rate: f64::NAN, ..p }),
        ("validation fraction 1", vec![lab(empty.view(), None)], TrainParams { val_fraction: 1.0, ..p }),
    ];
    for (what, data, params) in cases {
        match train(&model, &data, &params, &Progress::none(), &mut quiet) {
            Err(Error::InvalidArgument(_)) => {}
            other => panic!("{what}: {:?}", other.map(|t| t.best_iou)),
        }
    }
    let none: &[ndarray::ArrayView3<u8>] = &[];
    assert!(finetune(&model, &[s.stack.view()], none, None, &TrainParams::finetuning(), &Progress::none(), &mut quiet).is_err());
}

#[test]
fn devices_are_explicit_and_reported() {
    one_thread();
    let m = Model::new(tiny(), DeviceSpec::Cpu, 0).unwrap();
    assert_eq!(m.device(), "cpu");
    let auto = Model::new(tiny(), DeviceSpec::Auto, 0).unwrap();
    let expected = if infocus::unet::cuda_available() { "cuda:0" } else { "cpu" };
    assert_eq!(auto.device(), expected);
    if !infocus::unet::cuda_available() {
        let e = Model::new(tiny(), DeviceSpec::Cuda(0), 0).unwrap_err();
        assert!(matches!(e, Error::Unsupported(_)), "{e}");
        assert!(e.to_string().contains("cuda:0"), "{e}");
    }
}

// CUDA: tests/unet_cuda.rs (runs everywhere; checks the GPU where there is one).

#[test]
fn averaging_the_flips_makes_predictions_mirror_symmetric() {
    // One tile (128 x 128 fits the default 256 tile without padding), so
    // mirroring the stack only reorders the four passes that are averaged.
    // Without the preset guide: the preset samples the noise and the blur
    // at every n-th pixel, so its band for a mirrored stack is not exactly
    // the mirrored band, and a guided network sees that difference. An
    // untrained network is as asymmetric in one pass as a trained one.
    one_thread();
    let model = Model::new(UnetConfig { guide: false, ..tiny() }, DeviceSpec::Cpu, 5).unwrap();
    let s = small(5);
    let stack = match &s.stack {
        infocus::Stack::U16(a) => a.clone(),
        _ => panic!("synth makes u16"),
    };
    let mut mirrored = stack.clone();
    mirrored.invert_axis(ndarray::Axis(2));
    let mirrored = mirrored.as_standard_layout().into_owned();
    let predict = |a: &ndarray::Array3<u16>, flips: bool| {
        let p = PredictParams { flips, ..PredictParams::default() };
        model.predict(StackView::U16(a.view()), &p, &Progress::none()).unwrap().prob
    };
    let worst = |flips: bool| {
        let mut back = predict(&mirrored, flips);
        back.invert_axis(ndarray::Axis(2));
        predict(&stack, flips)
            .iter()
            .zip(back.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max)
    };
    let (with, without) = (worst(true), worst(false));
    eprintln!("mirror asymmetry: {with:.2e} with flips averaged, {without:.2e} without");
    assert!(with < 1e-5, "averaged over flips, a mirrored stack predicts {with} apart");
    assert!(without > 10.0 * with, "one pass should not be symmetric already ({without})");
    assert!(PredictParams::default().flips, "flips are averaged by default");
}

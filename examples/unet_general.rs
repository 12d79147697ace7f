//! Experiment: a general U-Net trained on default-preset labels of
//! `training_suite(N)`, judged on the accuracy suite. Env: N, EPOCHS, PATCH,
//! CONTEXT, WIDTH, SUITE=small|all.
use infocus::eval::evaluate;
use infocus::segment::{segment, Preset, SegmentParams};
use infocus::synth::{suite, synth, training_suite};
use infocus::unet::{train, DeviceSpec, Labelled, Model, PredictParams, TrainParams, UnetConfig};
use infocus::Progress;

fn env(k: &str, d: usize) -> usize {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

fn main() {
    let _ = infocus::unet::set_threads(2);
    let t0 = std::time::Instant::now();
    let stacks: Vec<_> = training_suite(env("N", 32))
        .iter()
        .map(|c| synth(&c.params, &Progress::none()).unwrap())
        .collect();
    let labels: Vec<_> = stacks
        .iter()
        .map(|s| segment(s.stack.view(), &SegmentParams::new(Preset::Default), &Progress::none()).unwrap().mask)
        .collect();
    let data: Vec<Labelled> = stacks
        .iter()
        .zip(&labels)
        .map(|(s, m)| Labelled { image: s.stack.view(), mask: m.view(), slices: None, source: "weak".into() })
        .collect();
    let mut cfg = UnetConfig::default();
    cfg.context = env("CONTEXT", 3);
    cfg.base_channels = env("WIDTH", 8);
    let model = Model::new(cfg, DeviceSpec::Cpu, 0).unwrap();
    let params = TrainParams { epochs: env("EPOCHS", 20), batch: 8, patch: env("PATCH", 64), patience: 8, val_fraction: 0.1, ..TrainParams::default() };
    eprintln!("data ready {:.1}s; {cfg}", t0.elapsed().as_secs_f64());
    let m = train(&model, &data, &params, &Progress::none(), &mut |e| {
        eprintln!("epoch {}/{} loss {:.4} val IoU {:.3} ({:.1}s)", e.epoch, e.epochs, e.loss, e.val_iou, e.seconds)
    })
    .unwrap()
    .model;
    if let Ok(p) = std::env::var("SAVE") {
        m.save(std::path::Path::new(&p)).unwrap();
    }
    let all = std::env::var("SUITE").map(|v| v == "all").unwrap_or(false);
    let (mut su, mut sd) = (0.0, 0.0);
    let cases: Vec<_> = suite().into_iter().filter(|c| all || c.params.height <= 256).collect();
    for c in &cases {
        let s = synth(&c.params, &Progress::none()).unwrap();
        let d = segment(s.stack.view(), &SegmentParams::new(Preset::Default), &Progress::none()).unwrap().mask;
        let u = m.predict(s.stack.view(), &PredictParams::default(), &Progress::none()).unwrap().mask;
        let iou = |p: &ndarray::Array3<u8>| evaluate(p.view(), s.truth.view()).unwrap().stack.iou;
        let (iu, id) = (iou(&u), iou(&d));
        su += iu;
        sd += id;
        println!("{:45} default {:.3} unet {:.3}", c.name, id, iu);
    }
    let n = cases.len() as f64;
    println!("MEAN default {:.3} unet {:.3} ({} stacks, {:.0}s)", sd / n, su / n, cases.len(), t0.elapsed().as_secs_f64());
}

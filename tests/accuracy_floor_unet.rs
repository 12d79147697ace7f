//! Guards the U-Net's accuracy figures: the general models in `models/`
//! (written by `cargo run --release --features torch --example accuracy`:
//! trained on the default preset's masks of 96 synthetic training stacks,
//! then fine-tuned on the truth of 2 of them, the weak labels of the rest
//! rehearsed; trained on a GPU, evaluated here on the CPU) must keep their
//! IoU against the truth of the quick suite, whose stacks they never saw.
//! This guards prediction (the Z context and focus profile channels,
//! tiling, normalisation) and the model file format against regressions,
//! without training in the test command. Floors are the values measured
//! when they were set (0.825 and 0.799 on 2026-11-30, each tile averaged
//! over its mirror images as by default; 0.818 and 0.789 in one pass),
//! less about 0.03.
#![cfg(feature = "torch")]

use infocus::Progress;
use infocus::eval::evaluate;
use infocus::synth::{quick_suite, synth};
use infocus::unet::{DeviceSpec, Model, PredictParams};
use std::path::Path;

/// Mean IoU floors over the quick suite: (weak-label model, fine-tuned model).
const MEAN_FLOORS: (f64, f64) = (0.79, 0.76);

fn mean_iou(path: &str) -> f64 {
    let _ = infocus::unet::set_threads(2);
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let model = Model::load(&file, DeviceSpec::Cpu).unwrap();
    assert_eq!(model.config().context, 3, "{path}: the default Z context");
    assert!(model.config().profile, "{path}: the default focus profile");
    let cases = quick_suite();
    let mut sum = 0.0;
    for c in &cases {
        let s = synth(&c.params, &Progress::none()).unwrap();
        let p = model
            .predict(s.stack.view(), &PredictParams::default(), &Progress::none())
            .unwrap();
        let iou = evaluate(p.mask.view(), s.truth.view()).unwrap().stack.iou;
        eprintln!("{path} {}: IoU {iou:.3}", c.name);
        sum += iou;
    }
    sum / cases.len() as f64
}

#[test]
fn the_shipped_models_keep_their_accuracy() {
    let weak = mean_iou("models/unet-synthetic.safetensors");
    let tuned = mean_iou("models/unet-synthetic-finetuned.safetensors");
    eprintln!("quick-suite mean IoU: weak labels {weak:.3}, fine-tuned {tuned:.3}");
    assert!(
        weak >= MEAN_FLOORS.0,
        "weak-label model: mean IoU {weak:.3} < {}",
        MEAN_FLOORS.0
    );
    assert!(
        tuned >= MEAN_FLOORS.1,
        "fine-tuned model: mean IoU {tuned:.3} < {}",
        MEAN_FLOORS.1
    );
}

//! Guards the accuracy figures on a small subset of the suite: a change that
//! makes the default preset worse than a stored floor fails here. Floors are
//! the values measured when they were set, less 0.03; the paper preset is a
//! fixed reproduction, so it is pinned within 0.005. Update them (upwards)
//! with `cargo run --release --example accuracy -- --quick`.

use infocus::Progress;
use infocus::eval::evaluate;
use infocus::segment::{Preset, SegmentParams, segment};
use infocus::synth::{quick_suite, synth};

/// (default floor, paper value) per quick-suite stack, in suite order.
const FIGURES: [(f64, f64); 4] = [(0.88, 0.083), (0.75, 0.174), (0.73, 0.031), (0.76, 0.207)];
const MEAN_FLOOR: f64 = 0.78;

#[test]
fn default_preset_stays_above_its_floors() {
    let mut problems = Vec::new();
    let mut sum = 0.0;
    let cases = quick_suite();
    assert_eq!(cases.len(), FIGURES.len());
    for (c, &(floor, paper)) in cases.iter().zip(&FIGURES) {
        let s = synth(&c.params, &Progress::none()).unwrap();
        let iou = |preset| {
            let seg = segment(s.stack.view(), &SegmentParams::new(preset), &Progress::none()).unwrap();
            evaluate(seg.mask.view(), s.truth.view()).unwrap().stack.iou
        };
        let (d, p) = (iou(Preset::Default), iou(Preset::Paper));
        sum += d;
        if d < floor {
            problems.push(format!("{}: default IoU {d:.3} < floor {floor}", c.name));
        }
        if (p - paper).abs() > 0.005 {
            problems.push(format!("{}: paper IoU {p:.3} moved from {paper}", c.name));
        }
    }
    let mean = sum / cases.len() as f64;
    if mean < MEAN_FLOOR {
        problems.push(format!("mean default IoU {mean:.3} < {MEAN_FLOOR}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

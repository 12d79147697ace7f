//! Segmentation metrics against hand-computed examples and their properties.

use infocus::Error;
use infocus::eval::{Evaluation, Scores, evaluate};
use ndarray::{Array3, ArrayView3};
use proptest::prelude::*;

fn ev(pred: &Array3<u8>, truth: &Array3<u8>) -> Evaluation {
    evaluate(pred.view(), truth.view()).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn hand_computed_two_slices() {
    // Slice 0: pred 1 1 0 0 / truth 1 0 1 0 -> tp 1 fp 1 fn 1 tn 1.
    // Slice 1: pred 255 255 255 0 / truth 7 7 0 0 -> tp 2 fp 1 fn 0 tn 1.
    let pred = Array3::from_shape_vec((2, 2, 2), vec![1, 1, 0, 0, 255, 255, 255, 0]).unwrap();
    let truth = Array3::from_shape_vec((2, 2, 2), vec![1, 0, 1, 0, 7, 7, 0, 0]).unwrap();
    let e = ev(&pred, &truth);
    let s0 = e.per_slice[0];
    assert_eq!((s0.tp, s0.fp, s0.fn_, s0.tn), (1, 1, 1, 1));
    assert!(close(s0.iou, 1.0 / 3.0) && close(s0.dice, 0.5));
    assert!(close(s0.precision, 0.5) && close(s0.recall, 0.5));
    let s1 = e.per_slice[1];
    assert_eq!((s1.tp, s1.fp, s1.fn_, s1.tn), (2, 1, 0, 1));
    assert!(close(s1.iou, 2.0 / 3.0) && close(s1.dice, 0.8));
    assert!(close(s1.precision, 2.0 / 3.0) && close(s1.recall, 1.0));
    let s = e.stack;
    assert_eq!((s.tp, s.fp, s.fn_, s.tn), (3, 2, 1, 2));
    assert!(close(s.iou, 0.5) && close(s.dice, 6.0 / 9.0));
    assert!(close(s.precision, 0.6) && close(s.recall, 0.75));
}

#[test]
fn empty_set_conventions() {
    let zero = Array3::<u8>::zeros((1, 3, 3));
    let mut one = zero.clone();
    one[(0, 1, 1)] = 255;
    // Nothing to find, nothing found: perfect.
    let s = ev(&zero, &zero).stack;
    assert_eq!((s.iou, s.dice, s.precision, s.recall), (1.0, 1.0, 1.0, 1.0));
    assert_eq!(s.tn, 9);
    // Nothing predicted, something to find: precision 1 by convention, recall 0.
    let s = ev(&zero, &one).stack;
    assert_eq!((s.iou, s.dice, s.precision, s.recall), (0.0, 0.0, 1.0, 0.0));
    // Something predicted, nothing to find: recall 1 by convention, precision 0.
    let s = ev(&one, &zero).stack;
    assert_eq!((s.iou, s.dice, s.precision, s.recall), (0.0, 0.0, 0.0, 1.0));
    assert_eq!(Scores::from_counts(0, 0, 0, 0).iou, 1.0);
    // An empty stack has no slices and scores perfectly.
    let e = evaluate(
        ArrayView3::from_shape((0, 4, 4), &[]).unwrap(),
        ArrayView3::from_shape((0, 4, 4), &[]).unwrap(),
    )
    .unwrap();
    assert!(e.per_slice.is_empty());
    assert_eq!(e.stack.iou, 1.0);
}

#[test]
fn shape_mismatch_names_both_shapes() {
    let a = Array3::<u8>::zeros((2, 3, 4));
    let b = Array3::<u8>::zeros((2, 4, 3));
    match evaluate(a.view(), b.view()) {
        Err(Error::InvalidArgument(m)) => {
            assert!(m.contains("2 x 3 x 4") && m.contains("2 x 4 x 3"), "{m}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn json_and_table() {
    let pred = Array3::from_shape_vec((2, 1, 2), vec![1, 0, 1, 1]).unwrap();
    let truth = Array3::from_shape_vec((2, 1, 2), vec![1, 1, 0, 1]).unwrap();
    let e = ev(&pred, &truth);
    let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
    assert_eq!(v["stack"]["tp"], 2);
    assert_eq!(v["stack"]["fp"], 1);
    assert_eq!(v["stack"]["fn"], 1);
    assert_eq!(v["stack"]["tn"], 0);
    assert_eq!(v["stack"]["iou"], 0.5);
    assert_eq!(v["per_slice"].as_array().unwrap().len(), 2);
    assert_eq!(v["per_slice"][0]["recall"], 0.5);
    assert_eq!(v["per_slice"][1]["precision"], 0.5);
    let table = e.to_string();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[0].contains("iou") && lines[0].contains("dice") && lines[0].contains("recall"));
    assert!(lines[1].starts_with("stack") && lines[1].contains("0.5000"));
    assert!(lines[2].starts_with("z=0") && lines[3].starts_with("z=1"));
}

fn masks() -> impl Strategy<Value = (Array3<u8>, Array3<u8>)> {
    (1usize..4, 1usize..6, 1usize..6).prop_flat_map(|(z, h, w)| {
        let n = z * h * w;
        (
            proptest::collection::vec(prop_oneof![Just(0u8), any::<u8>()], n),
            proptest::collection::vec(prop_oneof![Just(0u8), any::<u8>()], n),
        )
            .prop_map(move |(a, b)| {
                (
                    Array3::from_shape_vec((z, h, w), a).unwrap(),
                    Array3::from_shape_vec((z, h, w), b).unwrap(),
                )
            })
    })
}

fn check_scores(s: &Scores) {
    for v in [s.iou, s.dice, s.precision, s.recall] {
        assert!((0.0..=1.0).contains(&v), "{s:?}");
    }
    assert!(s.iou <= s.dice + 1e-12, "{s:?}");
    // dice = 2 iou / (1 + iou).
    assert!(close(s.dice, 2.0 * s.iou / (1.0 + s.iou)), "{s:?}");
}

proptest! {
    #[test]
    fn properties((pred, truth) in masks()) {
        let e = ev(&pred, &truth);
        let r = ev(&truth, &pred);
        check_scores(&e.stack);
        prop_assert_eq!(e.stack.total(), pred.len() as u64);
        let (mut tp, mut fp, mut fn_, mut tn) = (0, 0, 0, 0);
        for (a, b) in e.per_slice.iter().zip(&r.per_slice) {
            check_scores(a);
            prop_assert_eq!(a.iou, b.iou);
            prop_assert_eq!(a.dice, b.dice);
            prop_assert_eq!(a.precision, b.recall);
            tp += a.tp;
            fp += a.fp;
            fn_ += a.fn_;
            tn += a.tn;
        }
        prop_assert_eq!((tp, fp, fn_, tn), (e.stack.tp, e.stack.fp, e.stack.fn_, e.stack.tn));
        prop_assert_eq!(e.stack.iou, r.stack.iou);
        prop_assert_eq!(e.stack.dice, r.stack.dice);
        prop_assert_eq!(e.stack.precision, r.stack.recall);
        prop_assert_eq!(e.stack.recall, r.stack.precision);
        prop_assert_eq!((e.stack.fp, e.stack.fn_), (r.stack.fn_, r.stack.fp));
        // Perfect prediction (same positives, any nonzero values).
        let same = truth.mapv(|v| if v != 0 { 1 } else { 0 });
        let p = ev(&same, &truth);
        for s in std::iter::once(&p.stack).chain(&p.per_slice) {
            prop_assert_eq!((s.iou, s.dice, s.precision, s.recall), (1.0, 1.0, 1.0, 1.0));
            prop_assert_eq!((s.fp, s.fn_), (0, 0));
        }
    }
}

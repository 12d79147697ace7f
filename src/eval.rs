//! Segmentation metrics: how well a predicted in-focus mask matches the truth.
//!
//! Any nonzero value is positive, in both the prediction and the truth.
//! Scores are computed over the whole stack and for every slice.
//!
//! Conventions for empty sets (so that a slice with nothing to find and
//! nothing found scores perfectly rather than NaN):
//!
//! * `iou = tp / (tp + fp + fn)` and `dice = 2 tp / (2 tp + fp + fn)` are 1
//!   when the union is empty (`tp + fp + fn = 0`);
//! * `precision = tp / (tp + fp)` is 1 when nothing is predicted positive;
//! * `recall = tp / (tp + fn)` is 1 when nothing is truly positive.

use crate::error::{Error, Result};
use ndarray::{ArrayView2, ArrayView3, Axis, Zip};
use rayon::prelude::*;
use std::fmt;

/// Confusion counts and the scores derived from them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scores {
    pub tp: u64,
    pub fp: u64,
    pub fn_: u64,
    pub tn: u64,
    pub iou: f64,
    pub dice: f64,
    pub precision: f64,
    pub recall: f64,
}

impl Scores {
    /// Scores from confusion counts (with the module's empty-set conventions).
    pub fn from_counts(tp: u64, fp: u64, fn_: u64, tn: u64) -> Self {
        let ratio = |num: u64, den: u64| {
            if den == 0 {
                1.0
            } else {
                num as f64 / den as f64
            }
        };
        Scores {
            tp,
            fp,
            fn_,
            tn,
            iou: ratio(tp, tp + fp + fn_),
            dice: ratio(2 * tp, 2 * tp + fp + fn_),
            precision: ratio(tp, tp + fp),
            recall: ratio(tp, tp + fn_),
        }
    }

    /// Number of pixels counted.
    pub fn total(&self) -> u64 {
        self.tp + self.fp + self.fn_ + self.tn
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn_,
            "tn": self.tn,
            "iou": self.iou,
            "dice": self.dice,
            "precision": self.precision,
            "recall": self.recall,
        })
    }
}

/// Scores of the whole stack and of each slice.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub stack: Scores,
    pub per_slice: Vec<Scores>,
}

fn counts(pred: ArrayView2<u8>, truth: ArrayView2<u8>) -> [u64; 4] {
    let mut c = [0u64; 4];
    Zip::from(pred).and(truth).for_each(|&p, &t| {
        // index: 2 * truth + pred -> [tn, fp, fn, tp]
        c[usize::from(t != 0) * 2 + usize::from(p != 0)] += 1;
    });
    [c[3], c[1], c[2], c[0]]
}

/// Compares a predicted mask stack with the truth (nonzero = positive).
pub fn evaluate(pred: ArrayView3<u8>, truth: ArrayView3<u8>) -> Result<Evaluation> {
    if pred.dim() != truth.dim() {
        let (a, b) = (pred.dim(), truth.dim());
        return Err(Error::invalid(format!(
            "prediction has shape {} x {} x {} but truth has shape {} x {} x {}; they must match",
            a.0, a.1, a.2, b.0, b.1, b.2
        )));
    }
    let slices: Vec<[u64; 4]> = pred
        .axis_iter(Axis(0))
        .into_par_iter()
        .zip(truth.axis_iter(Axis(0)).into_par_iter())
        .map(|(p, t)| counts(p, t))
        .collect();
    let mut sum = [0u64; 4];
    for c in &slices {
        for (s, v) in sum.iter_mut().zip(c) {
            *s += v;
        }
    }
    Ok(Evaluation {
        stack: Scores::from_counts(sum[0], sum[1], sum[2], sum[3]),
        per_slice: slices
            .iter()
            .map(|c| Scores::from_counts(c[0], c[1], c[2], c[3]))
            .collect(),
    })
}

impl Evaluation {
    /// `{"stack": {...}, "per_slice": [{...}, ...]}`, each scores object with
    /// keys `tp fp fn tn iou dice precision recall`.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "stack": self.stack.json(),
            "per_slice": self.per_slice.iter().map(Scores::json).collect::<Vec<_>>(),
        })
        .to_string()
    }
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let row = |f: &mut fmt::Formatter<'_>, label: &str, s: &Scores| {
            writeln!(
                f,
                "{label:<6} {:>6.4} {:>6.4} {:>9.4} {:>6.4} {:>10} {:>10} {:>10} {:>10}",
                s.iou, s.dice, s.precision, s.recall, s.tp, s.fp, s.fn_, s.tn
            )
        };
        writeln!(
            f,
            "{:<6} {:>6} {:>6} {:>9} {:>6} {:>10} {:>10} {:>10} {:>10}",
            "", "iou", "dice", "precision", "recall", "tp", "fp", "fn", "tn"
        )?;
        row(f, "stack", &self.stack)?;
        for (k, s) in self.per_slice.iter().enumerate() {
            row(f, &format!("z={k}"), s)?;
        }
        Ok(())
    }
}

//! Training: from stacks and masks (weak labels from a rule preset, or
//! manual masks when fine-tuning) to a model.
//!
//! * Samples are slices. They are split once, by a seeded shuffle, into
//!   training and validation slices.
//! * An epoch passes over the training pixels about once: each training
//!   slice of H x W gives `round(H W / patch^2)` (at least 1) random
//!   `patch` x `patch` crops (reflected where the slice is smaller), each
//!   under a random flip and 90-degree rotation (the 8 symmetries of the
//!   square), all in a seeded order; `batch` crops make one Adam step.
//! * Adam, its learning rate annealed along a half cosine from
//!   `learning_rate` to a twentieth of it over `epochs`.
//! * Loss: `dice * Dice + focal * focal(alpha 0.25, gamma 2) + bce * BCE` on
//!   the logits (see [`LossWeights`]).
//! * After each epoch the validation slices are predicted whole (tiled, as
//!   [`Model::predict`] does) and scored by IoU at probability 0.5 against
//!   their masks. Training stops after `patience` epochs without a better
//!   IoU, and the weights of the best epoch are kept.
//! * Reproducible: every random choice (split, order, crops, symmetries, the
//!   initial weights) comes from infocus's own seeded generator, so the same
//!   seed and data give the same model bytes on the CPU (libtorch's CPU
//!   kernels used here are deterministic for a given thread count).

use super::model::Model;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::segment::{SegmentParams, segment};
use crate::stack::StackView;
use ndarray::{Array3, ArrayView3};

/// Weights of the three loss terms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossWeights {
    /// Soft Dice loss over the batch, `1 - (2 sum(p y) + 1) / (sum p + sum y + 1)`.
    pub dice: f64,
    /// Focal loss, alpha 0.25 on in-focus pixels (0.75 on the rest), gamma 2.
    pub focal: f64,
    /// Binary cross-entropy.
    pub bce: f64,
}

impl LossWeights {
    /// The paper's training loss: Dice + focal + 0.005 BCE.
    pub fn training() -> Self {
        LossWeights {
            dice: 1.0,
            focal: 1.0,
            bce: 0.005,
        }
    }

    /// The paper's fine-tuning loss: 0.05 Dice + focal + 0.95 BCE.
    pub fn finetuning() -> Self {
        LossWeights {
            dice: 0.05,
            focal: 1.0,
            bce: 0.95,
        }
    }

    fn validate(&self) -> Result<()> {
        let w = [self.dice, self.focal, self.bce];
        if w.iter().all(|v| v.is_finite() && *v >= 0.0) && w.iter().any(|&v| v > 0.0) {
            Ok(())
        } else {
            Err(Error::invalid(format!(
                "loss weights must be finite, at least 0 and not all 0, not dice {} focal {} bce {}",
                self.dice, self.focal, self.bce
            )))
        }
    }
}

/// How to train (or fine-tune: [`TrainParams::finetuning`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainParams {
    /// Most epochs (at least 1).
    pub epochs: usize,
    /// Crops per Adam step (at least 1).
    pub batch: usize,
    /// Side of the square training crops, a multiple of the network's `2^depth`.
    pub patch: usize,
    /// Adam's learning rate at the first epoch; it falls along a half cosine
    /// to a twentieth of this at the last (`epochs`).
    pub learning_rate: f64,
    /// Stop after this many epochs without a better validation IoU (0: never stop early).
    pub patience: usize,
    /// Fraction of the slices held out for validation (0 to 0.9; 0: validate
    /// on the training slices).
    pub val_fraction: f64,
    /// Seeds the split, the order, the crops and symmetries, and (for a new
    /// model) the initial weights.
    pub seed: u64,
    pub loss: LossWeights,
    /// Random flips and 90-degree rotations of the crops.
    pub augment: bool,
    /// Keep the encoder's weights (levels `enc*`) fixed; train the rest.
    pub freeze_encoder: bool,
}

impl Default for TrainParams {
    /// Training on weak labels: lr 1e-3 (the paper's text), batch 8 (its
    /// text), crops of 128 (a CPU budget; the paper used whole 256 x 256
    /// slices), up to 100 epochs with patience 15, 20% of slices held out.
    fn default() -> Self {
        TrainParams {
            epochs: 100,
            batch: 8,
            patch: 128,
            learning_rate: 1e-3,
            patience: 15,
            val_fraction: 0.2,
            seed: 0,
            loss: LossWeights::training(),
            augment: true,
            freeze_encoder: false,
        }
    }
}

impl TrainParams {
    /// Fine-tuning on manual masks: the paper's fine-tuning loss weights,
    /// a tenth of the training learning rate (1e-4), batch 4, up to 50
    /// epochs with patience 10.
    pub fn finetuning() -> Self {
        TrainParams {
            epochs: 50,
            batch: 4,
            learning_rate: 1e-4,
            patience: 10,
            loss: LossWeights::finetuning(),
            ..TrainParams::default()
        }
    }

    /// Rejects parameters that cannot train a network whose sides must be
    /// multiples of `multiple`.
    pub fn validate(&self, multiple: usize) -> Result<()> {
        if self.epochs == 0 || self.epochs > 1_000_000 {
            return Err(Error::invalid(format!(
                "epochs must be 1 to 1000000, not {}",
                self.epochs
            )));
        }
        if self.batch == 0 || self.batch > 4096 {
            return Err(Error::invalid(format!(
                "batch must be 1 to 4096, not {}",
                self.batch
            )));
        }
        if self.patch == 0 || self.patch % multiple != 0 || self.patch > 4096 {
            return Err(Error::invalid(format!(
                "patch must be a multiple of {multiple} (2^depth) up to 4096, not {}",
                self.patch
            )));
        }
        if !(self.learning_rate.is_finite()
            && self.learning_rate > 0.0
            && self.learning_rate < 10.0)
        {
            return Err(Error::invalid(format!(
                "learning rate must be above 0 and below 10, not {}",
                self.learning_rate
            )));
        }
        if !(self.val_fraction.is_finite() && (0.0..=0.9).contains(&self.val_fraction)) {
            return Err(Error::invalid(format!(
                "validation fraction must be 0 to 0.9, not {}",
                self.val_fraction
            )));
        }
        self.loss.validate()
    }
}

/// One stack to learn from: its images, its masks (nonzero = in focus) and
/// which slices count.
#[derive(Clone, Debug)]
pub struct Labelled<'a> {
    pub image: StackView<'a>,
    pub mask: ArrayView3<'a, u8>,
    /// The slices to learn from; `None`: all of them.
    pub slices: Option<Vec<usize>>,
    /// Where the masks came from, for the model's record ("preset default",
    /// "manual").
    pub source: String,
}

/// Weak labels: the masks a rule pipeline makes for `stack` (usually a
/// preset as it comes, `SegmentParams::new(preset)`).
pub fn weak_labels(
    stack: StackView,
    params: &SegmentParams,
    progress: &Progress,
) -> Result<Array3<u8>> {
    Ok(segment(stack, params, progress)?.mask)
}

/// A short description of the rule that made weak labels, for the model's
/// record: "weak labels, default preset" or "weak labels, paper preset,
/// threshold otsu-slice".
pub fn describe_labels(params: &SegmentParams) -> String {
    let mut s = format!("weak labels, {} preset", params.preset.name());
    if let Some(t) = params.threshold {
        s.push_str(&format!(", threshold {t:?}"));
    }
    s
}

/// What one epoch did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    /// The most epochs this run may take.
    pub epochs: usize,
    /// Mean training loss over the epoch's steps.
    pub loss: f64,
    /// IoU of the validation slices against their masks, at probability 0.5.
    pub val_iou: f64,
    /// The best validation IoU so far, and its epoch.
    pub best_iou: f64,
    pub best_epoch: usize,
    /// Seconds the epoch took (training and validation).
    pub seconds: f64,
}

/// What a training run gives.
#[derive(Debug)]
pub struct Trained {
    /// The model with the weights of the best epoch.
    pub model: Model,
    pub epochs: Vec<EpochReport>,
    /// Epoch whose weights were kept (1-based) and its validation IoU.
    pub best_epoch: usize,
    pub best_iou: f64,
    /// Whether it stopped before `epochs` for lack of progress.
    pub stopped_early: bool,
    /// Training and validation slices.
    pub train_slices: usize,
    pub val_slices: usize,
    /// Device used (`cpu`, `cuda:0`).
    pub device: String,
}

impl Trained {
    /// One line on how the run went, after `secs` seconds: what the CLI
    /// prints and the Fiji commands show, worded the same in both.
    pub fn summary(&self, secs: f64) -> String {
        format!(
            "{} epochs in {secs:.1}s on {} ({} training, {} validation slices); kept epoch {}: validation IoU {:.3}{}",
            self.epochs.len(),
            self.device,
            self.train_slices,
            self.val_slices,
            self.best_epoch,
            self.best_iou,
            if self.stopped_early {
                " (stopped early)"
            } else {
                ""
            }
        )
    }
}

/// Checks the data and lists its samples as (stack, slice).
pub(crate) fn samples(data: &[Labelled]) -> Result<Vec<(usize, usize)>> {
    if data.is_empty() {
        return Err(Error::invalid("training needs at least one stack"));
    }
    let mut out = Vec::new();
    for (i, d) in data.iter().enumerate() {
        d.image.validate()?;
        if d.image.dim() != d.mask.dim() {
            let (a, b) = (d.image.dim(), d.mask.dim());
            return Err(Error::invalid(format!(
                "stack {i} is {} x {} x {} but its masks are {} x {} x {}; they must match",
                a.0, a.1, a.2, b.0, b.1, b.2
            )));
        }
        let z = d.image.dim().0;
        match &d.slices {
            None => out.extend((0..z).map(|k| (i, k))),
            Some(s) => {
                let mut s = s.clone();
                s.sort_unstable();
                s.dedup();
                if let Some(&k) = s.iter().find(|&&k| k >= z) {
                    return Err(Error::invalid(format!(
                        "stack {i} has {z} slices, so slice {k} cannot be annotated"
                    )));
                }
                out.extend(s.into_iter().map(|k| (i, k)));
            }
        }
    }
    if out.is_empty() {
        return Err(Error::invalid(
            "no annotated slices to learn from (every mask is empty, or the slice lists are)",
        ));
    }
    Ok(out)
}

/// Trains a copy of `model` on `data` and returns it; `model` itself is not
/// changed. Progress: one unit per epoch, `total` = `params.epochs`; it is
/// also consulted before every step, so a cancel takes effect within a step.
/// `on_epoch` sees each epoch's figures before its progress report.
pub fn train(
    model: &Model,
    data: &[Labelled],
    params: &TrainParams,
    progress: &Progress,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<Trained> {
    params.validate(model.config.multiple())?;
    let samples = samples(data)?;
    imp::train(model, data, &samples, params, progress, on_epoch)
}

#[cfg(not(feature = "torch"))]
mod imp {
    use super::*;
    pub(super) fn train(
        model: &Model,
        _: &[Labelled],
        _: &[(usize, usize)],
        _: &TrainParams,
        _: &Progress,
        _: &mut dyn FnMut(&EpochReport),
    ) -> Result<Trained> {
        match model.inner {}
    }
}

#[cfg(feature = "torch")]
mod imp {
    use super::*;
    use crate::eval::Scores;
    use crate::synth::rng::Rng;
    use crate::unet::data::{
        NetInput, PURPOSE_EPOCH, dihedral, origin, patch, shuffle, split,
    };
    use crate::unet::guard;
    use crate::unet::predict::PredictParams;
    use std::time::Instant;
    use tch::nn::{ModuleT, OptimizerConfig};
    use tch::{Kind, Reduction, Tensor};

    /// The weighted loss of logits against 0/1 targets (both N x 1 x H x W).
    pub(crate) fn loss(logits: &Tensor, target: &Tensor, w: &LossWeights) -> Tensor {
        let p = logits.sigmoid();
        let bce_px =
            logits.binary_cross_entropy_with_logits::<Tensor>(target, None, None, Reduction::None);
        let p_t: Tensor = &p * target + (1.0 - &p) * (1.0 - target);
        let alpha_t: Tensor = target * 0.25 + (1.0 - target) * 0.75;
        let miss: Tensor = 1.0 - p_t;
        let focal_px: Tensor = alpha_t * miss.square() * &bce_px;
        let focal = focal_px.mean(Kind::Float);
        let inter = (&p * target).sum(Kind::Float);
        let dice = 1.0 - (inter * 2.0 + 1.0) / (p.sum(Kind::Float) + target.sum(Kind::Float) + 1.0);
        dice * w.dice + focal * w.focal + bce_px.mean(Kind::Float) * w.bce
    }

    pub(super) fn train(
        model: &Model,
        data: &[Labelled],
        samples: &[(usize, usize)],
        params: &TrainParams,
        progress: &Progress,
        on_epoch: &mut dyn FnMut(&EpochReport),
    ) -> Result<Trained> {
        progress.report(0, params.epochs as u64)?;
        crate::unet::apply_threads();
        let mut work = model.try_clone()?;
        let inputs: Vec<NetInput> = data
            .iter()
            .map(|d| NetInput::new(&work.normalisation, &work.config, d.image))
            .collect::<Result<_>>()?;
        let (train_idx, val_idx) = split(samples.len(), params.val_fraction, params.seed);
        let train_set: Vec<(usize, usize)> = train_idx.iter().map(|&i| samples[i]).collect();
        let val_set: Vec<(usize, usize)> = val_idx.iter().map(|&i| samples[i]).collect();
        let p = params.patch;
        let device = work.inner.device;
        let channels = work.config.input_channels() as i64;

        let best = guard(|| {
            if params.freeze_encoder {
                for (name, t) in work.inner.variables() {
                    if name.starts_with("enc") {
                        let _ = t.set_requires_grad(false);
                    }
                }
            }
            let mut opt = tch::nn::Adam::default()
                .build(&work.inner.vs, params.learning_rate)
                .map_err(|e| Error::Torch(e.to_string()))?;
            let mut reports = Vec::new();
            let mut best: Option<(f64, usize, Vec<Tensor>)> = None;
            for epoch in 1..=params.epochs {
                let t0 = Instant::now();
                opt.set_lr(learning_rate(params, epoch));
                let mut rng = Rng::stream(params.seed, PURPOSE_EPOCH, epoch as u64);
                // About one pass over the training pixels: a slice of H x W
                // gives round(H W / patch^2) crops (at least 1).
                let mut order: Vec<(usize, usize)> = train_set
                    .iter()
                    .flat_map(|&(s, k)| {
                        let (_, h, w) = inputs[s].dim();
                        let n = ((h * w) as f64 / (p * p) as f64).round().max(1.0) as usize;
                        std::iter::repeat_n((s, k), n)
                    })
                    .collect();
                shuffle(&mut order, &mut rng);
                let (mut sum, mut steps) = (0.0, 0usize);
                for chunk in order.chunks(params.batch) {
                    progress.report(epoch as u64 - 1, params.epochs as u64)?;
                    let mut xs = Vec::with_capacity(chunk.len() * p * p);
                    let mut ys = Vec::with_capacity(chunk.len() * p * p);
                    for &(s, k) in chunk {
                        let msk = data[s].mask.index_axis(ndarray::Axis(0), k);
                        let (_, h, w) = inputs[s].dim();
                        let (y0, x0) = (origin(&mut rng, h, p), origin(&mut rng, w, p));
                        let t = if params.augment {
                            rng.below(8) as u8
                        } else {
                            0
                        };
                        for plane in inputs[s].planes(k) {
                            xs.extend(dihedral(patch(plane, y0, x0, p).view(), t));
                        }
                        ys.extend(
                            dihedral(patch(msk, y0, x0, p).view(), t)
                                .iter()
                                .map(|&m| f32::from(u8::from(m != 0))),
                        );
                    }
                    let (n, p) = (chunk.len() as i64, p as i64);
                    let x = Tensor::from_slice(&xs)
                        .reshape([n, channels, p, p])
                        .to_device(device);
                    let y = Tensor::from_slice(&ys)
                        .reshape([n, 1, p, p])
                        .to_device(device);
                    let logits = work.inner.net.forward_t(&x, true);
                    let l = loss(&logits, &y, &params.loss);
                    opt.backward_step(&l);
                    sum += l.double_value(&[]);
                    steps += 1;
                }
                let val_iou = validate(&work, &inputs, data, &val_set)?;
                let improved = best.as_ref().is_none_or(|b| val_iou > b.0);
                if improved {
                    let copy = tch::no_grad(|| {
                        work.inner
                            .variables()
                            .into_iter()
                            .map(|(_, t)| t.detach().copy())
                            .collect()
                    });
                    best = Some((val_iou, epoch, copy));
                }
                let (best_iou, best_epoch) = best.as_ref().map(|b| (b.0, b.1)).expect("set");
                let r = EpochReport {
                    epoch,
                    epochs: params.epochs,
                    loss: sum / steps.max(1) as f64,
                    val_iou,
                    best_iou,
                    best_epoch,
                    seconds: t0.elapsed().as_secs_f64(),
                };
                reports.push(r);
                on_epoch(&r);
                progress.report(epoch as u64, params.epochs as u64)?;
                if params.patience > 0 && epoch - best_epoch >= params.patience {
                    break;
                }
            }
            let (best_iou, best_epoch, weights) = best.expect("at least one epoch");
            tch::no_grad(|| {
                for ((_, mut t), b) in work.inner.variables().into_iter().zip(&weights) {
                    t.copy_(b);
                }
            });
            if params.freeze_encoder {
                for (name, t) in work.inner.variables() {
                    if name.starts_with("enc") {
                        let _ = t.set_requires_grad(true);
                    }
                }
            }
            Ok((best_iou, best_epoch, reports))
        })?;
        let (best_iou, best_epoch, epochs) = best;
        let stopped_early = epochs.len() < params.epochs;
        let sources: Vec<&str> = {
            let mut s: Vec<&str> = data.iter().map(|d| d.source.as_str()).collect();
            s.sort_unstable();
            s.dedup();
            s
        };
        work.history.push(serde_json::json!({
            "labels": sources.join(", "),
            "stacks": data.len(),
            "train_slices": train_set.len(),
            "val_slices": val_set.len(),
            "epochs_run": epochs.len(),
            "best_epoch": best_epoch,
            "val_iou": best_iou,
            "seed": params.seed,
            "epochs": params.epochs,
            "batch": params.batch,
            "patch": params.patch,
            "learning_rate": params.learning_rate,
            "patience": params.patience,
            "val_fraction": params.val_fraction,
            "loss": {"dice": params.loss.dice, "focal": params.loss.focal, "bce": params.loss.bce},
            "augment": params.augment,
            "freeze_encoder": params.freeze_encoder,
        }));
        let device = work.device();
        Ok(Trained {
            model: work,
            epochs,
            best_epoch,
            best_iou,
            stopped_early,
            train_slices: train_set.len(),
            val_slices: val_set.len(),
            device,
        })
    }

    /// The learning rate of `epoch` (1-based): a half cosine from
    /// `params.learning_rate` down to a twentieth of it at the last epoch.
    pub(crate) fn learning_rate(params: &TrainParams, epoch: usize) -> f64 {
        let lr = params.learning_rate;
        let t = if params.epochs > 1 {
            (epoch - 1) as f64 / (params.epochs - 1) as f64
        } else {
            0.0
        };
        lr / 20.0 + (lr - lr / 20.0) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
    }

    /// IoU at probability 0.5 of the validation slices, predicted whole.
    fn validate(
        model: &Model,
        inputs: &[NetInput],
        data: &[Labelled],
        val: &[(usize, usize)],
    ) -> Result<f64> {
        // One pass per tile: validation only ranks epochs.
        let params = PredictParams {
            flips: false,
            ..PredictParams::default()
        };
        let (mut tp, mut fp, mut fn_) = (0u64, 0u64, 0u64);
        let mut i = 0;
        while i < val.len() {
            // Slices of one stack at a time (they share a size).
            let s = val[i].0;
            let mut ks = Vec::new();
            while i < val.len() && val[i].0 == s {
                ks.push(val[i].1);
                i += 1;
            }
            // A cancel is honoured at the caller's next report, after validation.
            let prob = model.probabilities(&inputs[s], &ks, &params, &Progress::none())?;
            for (j, &k) in ks.iter().enumerate() {
                let truth = data[s].mask.index_axis(ndarray::Axis(0), k);
                let pred = prob.index_axis(ndarray::Axis(0), j);
                ndarray::Zip::from(pred)
                    .and(truth)
                    .for_each(|&p, &t| match (p > 0.5, t != 0) {
                        (true, true) => tp += 1,
                        (true, false) => fp += 1,
                        (false, true) => fn_ += 1,
                        _ => {}
                    });
            }
        }
        Ok(Scores::from_counts(tp, fp, fn_, 0).iou)
    }
}

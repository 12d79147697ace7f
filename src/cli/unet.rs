//! train, finetune, predict, and `segment --method unet`: the U-Net from the
//! command line.

use super::commands::read_mask;
use super::outputs::{bar, commit_all, progress_of};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use infocus::io::{Calibration, read_stack, stage_tiff};
use infocus::segment::{Preset, SegmentParams, Segmentation};
use infocus::unet::{
    DeviceSpec, EpochReport, Labelled, Model, Norm, PredictParams, TrainParams, Trained,
    UnetConfig, describe_labels, finetune as run_finetune, train as run_train, weak_labels,
};
use infocus::{Error, Progress, Result, Stack, StackView};
use ndarray::Array3;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// How training runs (shared by train and finetune; defaults differ).
#[derive(Args, Clone)]
pub(crate) struct TrainFlags {
    /// Most epochs (early stopping may end sooner).
    #[arg(long)]
    epochs: Option<usize>,
    /// Crops per training step.
    #[arg(long)]
    batch: Option<usize>,
    /// Side of the square training crops, a multiple of 2^depth.
    #[arg(long)]
    patch: Option<usize>,
    /// Adam's learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Stop after this many epochs without a better validation IoU (0: never).
    #[arg(long)]
    patience: Option<usize>,
    /// Fraction of slices held out for validation (0: validate on the training slices).
    #[arg(long)]
    val_fraction: Option<f64>,
    /// Seed of every random choice: the same seed gives the same model on the CPU.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Turn off the random flips and 90-degree rotations.
    #[arg(long)]
    no_augment: bool,
    /// Loss weights DICE,FOCAL,BCE (training default 1,1,0.005; fine-tuning 0.05,1,0.95).
    #[arg(long, value_delimiter = ',', value_name = "DICE,FOCAL,BCE")]
    loss: Option<Vec<f64>>,
    /// cpu, cuda, cuda:N or auto (CUDA when available).
    #[arg(long, default_value = "auto")]
    device: String,
}

impl TrainFlags {
    fn apply(&self, mut p: TrainParams) -> Result<TrainParams> {
        p.epochs = self.epochs.unwrap_or(p.epochs);
        p.batch = self.batch.unwrap_or(p.batch);
        p.patch = self.patch.unwrap_or(p.patch);
        p.learning_rate = self.lr.unwrap_or(p.learning_rate);
        p.patience = self.patience.unwrap_or(p.patience);
        p.val_fraction = self.val_fraction.unwrap_or(p.val_fraction);
        p.seed = self.seed;
        p.augment = !self.no_augment;
        if let Some(l) = &self.loss {
            if l.len() != 3 {
                return Err(Error::invalid(format!(
                    "--loss takes three weights DICE,FOCAL,BCE, not {}",
                    l.len()
                )));
            }
            p.loss.dice = l[0];
            p.loss.focal = l[1];
            p.loss.bce = l[2];
        }
        Ok(p)
    }

    fn device(&self) -> Result<DeviceSpec> {
        self.device.parse()
    }
}

#[derive(Args)]
pub(crate) struct TrainArgs {
    /// Focal stacks to learn from (.tif, .tiff, .npy); their weak labels come from --preset.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The model file to write (safetensors).
    #[arg(short, long)]
    output: PathBuf,
    /// Rule preset that makes the weak labels: default or paper.
    #[arg(long, default_value = "default")]
    preset: String,
    /// Architecture: default (small, for CPUs) or paper.
    #[arg(long, default_value = "default")]
    config: String,
    /// Override the configuration's encoder levels.
    #[arg(long)]
    depth: Option<usize>,
    /// Override the configuration's channels at the first level.
    #[arg(long)]
    base_channels: Option<usize>,
    /// Override the configuration's normalisation: instance, batch or none.
    #[arg(long)]
    norm: Option<String>,
    /// Override the pairs of neighbouring slices the network sees (offsets ±1, ±2, ±4, ...; 0: one slice, as the paper).
    #[arg(long)]
    context: Option<usize>,
    /// Override whether the network sees the focus profile (on: default config; off: images only, as the paper).
    #[arg(long, value_name = "on|off", value_parser = ["on", "off"])]
    profile: Option<String>,
    /// Override whether the network sees the default preset's band as a guide (on: default config; off: not, as the paper).
    #[arg(long, value_name = "on|off", value_parser = ["on", "off"])]
    guide: Option<String>,
    #[command(flatten)]
    train: TrainFlags,
}

#[derive(Args)]
pub(crate) struct FinetuneArgs {
    /// The model to start from.
    model: PathBuf,
    /// Focal stacks with manual masks.
    #[arg(long, required = true, num_args = 1..)]
    images: Vec<PathBuf>,
    /// Their manual masks (nonzero = in focus), one file per image stack.
    #[arg(long, required = true, num_args = 1..)]
    masks: Vec<PathBuf>,
    /// The fine-tuned model file to write.
    #[arg(short, long)]
    output: PathBuf,
    /// Annotated slices of every stack, e.g. 0,5,9 (default: the slices with any nonzero mask pixel).
    #[arg(long, value_delimiter = ',')]
    slices: Option<Vec<usize>>,
    /// Keep the encoder's weights fixed.
    #[arg(long)]
    freeze_encoder: bool,
    #[command(flatten)]
    train: TrainFlags,
}

/// Prediction flags (shared by predict and segment --method unet).
#[derive(Args, Clone)]
pub(crate) struct PredictFlags {
    /// Probability above which a pixel is in focus.
    #[arg(long, default_value_t = 0.5)]
    prob_threshold: f32,
    /// Largest tile side in pixels.
    #[arg(long, default_value_t = 256)]
    tile: usize,
    /// Least overlap of neighbouring tiles in pixels.
    #[arg(long, default_value_t = 32)]
    overlap: usize,
    /// One pass per tile instead of averaging over its mirror images: 4x faster, slightly less accurate.
    #[arg(long)]
    no_flips: bool,
    /// cpu, cuda, cuda:N or auto (CUDA when available).
    #[arg(long, default_value = "auto")]
    device: String,
}

impl PredictFlags {
    fn params(&self) -> PredictParams {
        PredictParams {
            threshold: self.prob_threshold,
            tile: self.tile,
            overlap: self.overlap,
            flips: !self.no_flips,
            ..PredictParams::default()
        }
    }
}

#[derive(Args)]
pub(crate) struct PredictArgs {
    /// The model file.
    model: PathBuf,
    /// The focal stack (.tif, .tiff, .npy).
    input: PathBuf,
    /// Mask TIFF (0/255).
    #[arg(short, long)]
    output: PathBuf,
    /// Also write the probabilities (f32 TIFF).
    #[arg(long)]
    prob: Option<PathBuf>,
    #[command(flatten)]
    predict: PredictFlags,
}

/// An epoch bar: position = epochs done, message = the last epoch's figures.
fn epoch_bar(epochs: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(epochs as u64), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {msg} {elapsed}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix("epoch");
    bar
}

fn describe_epoch(r: &EpochReport) -> String {
    format!(
        "loss {:.4}  val IoU {:.3} (best {:.3} at {})",
        r.loss, r.val_iou, r.best_iou, r.best_epoch
    )
}

/// Runs a training call with an epoch bar and prints the outcome.
fn with_bar(
    epochs: usize,
    run: impl FnOnce(&Progress, &mut dyn FnMut(&EpochReport)) -> Result<Trained>,
) -> Result<Trained> {
    let bar = epoch_bar(epochs);
    let progress = progress_of(&bar);
    let mut on_epoch = |r: &EpochReport| bar.set_message(describe_epoch(r));
    let t0 = std::time::Instant::now();
    let trained = run(&progress, &mut on_epoch);
    bar.finish_and_clear();
    let t = trained?;
    let secs = t0.elapsed().as_secs_f64();
    println!("{}", t.summary(secs));
    Ok(t)
}

fn read_all(paths: &[PathBuf]) -> Result<Vec<Stack>> {
    paths
        .iter()
        .map(|p| read_stack(p).map(|(s, _)| s))
        .collect()
}

pub(crate) fn train(a: &TrainArgs) -> Result<()> {
    let preset: Preset = a.preset.parse()?;
    let mut config = UnetConfig::preset(&a.config)?;
    config.depth = a.depth.unwrap_or(config.depth);
    config.base_channels = a.base_channels.unwrap_or(config.base_channels);
    config.context = a.context.unwrap_or(config.context);
    if let Some(p) = &a.profile {
        config.profile = p == "on";
    }
    if let Some(g) = &a.guide {
        config.guide = g == "on";
    }
    if let Some(n) = &a.norm {
        config.norm = n.parse::<Norm>()?;
    }
    config.validate()?;
    let params = a.train.apply(TrainParams::default())?;
    params.validate(config.multiple())?;
    let device = a.train.device()?;
    let model = Model::new(config, device, params.seed)?;
    println!("U-Net: {config}, on {}", model.device());
    let stacks = read_all(&a.inputs)?;
    let bar = bar(stacks.len() as u64, "weak labels");
    let labels = stacks
        .iter()
        .enumerate()
        .map(|(i, s)| {
            bar.set_position(i as u64);
            weak_labels(s.view(), &SegmentParams::new(preset), &Progress::none())
        })
        .collect::<Result<Vec<_>>>()?;
    bar.finish_and_clear();
    let data: Vec<Labelled> = stacks
        .iter()
        .zip(&labels)
        .map(|(s, l)| Labelled {
            image: s.view(),
            mask: l.view(),
            slices: None,
            source: describe_labels(&SegmentParams::new(preset)),
        })
        .collect();
    let t = with_bar(params.epochs, |p, e| {
        run_train(&model, &data, &params, p, e)
    })?;
    t.model.save(&a.output)?;
    println!("wrote {}", a.output.display());
    Ok(())
}

pub(crate) fn finetune(a: &FinetuneArgs) -> Result<()> {
    if a.images.len() != a.masks.len() {
        return Err(Error::invalid(format!(
            "{} --images but {} --masks; give one mask file per image stack",
            a.images.len(),
            a.masks.len()
        )));
    }
    let model = Model::load(&a.model, a.train.device()?)?;
    let mut params = a.train.apply(TrainParams::finetuning())?;
    params.freeze_encoder = a.freeze_encoder;
    let images = read_all(&a.images)?;
    let masks = a
        .masks
        .iter()
        .map(|p| read_mask(p))
        .collect::<Result<Vec<Array3<u8>>>>()?;
    let views: Vec<StackView> = images.iter().map(Stack::view).collect();
    let mviews: Vec<_> = masks.iter().map(|m| m.view()).collect();
    let slices = a.slices.as_ref().map(|s| vec![s.clone(); images.len()]);
    println!("fine-tuning {} on {}", a.model.display(), model.device());
    let t = with_bar(params.epochs, |p, e| {
        run_finetune(&model, &views, &mviews, slices.as_deref(), &params, p, e)
    })?;
    t.model.save(&a.output)?;
    println!("wrote {}", a.output.display());
    Ok(())
}

pub(crate) fn predict(a: &PredictArgs) -> Result<()> {
    let model = Model::load(&a.model, a.predict.device.parse()?)?;
    let (stack, cal) = read_stack(&a.input)?;
    let bar = bar(stack.dim().0 as u64, "predict");
    let p = model.predict(stack.view(), &a.predict.params(), &progress_of(&bar))?;
    bar.finish_and_clear();
    let mut staged = vec![stage_tiff(&a.output, StackView::U8(p.mask.view()), &cal)?];
    if let Some(path) = &a.prob {
        staged.push(stage_tiff(path, StackView::F32(p.prob.view()), &cal)?);
    }
    commit_all(staged)?;
    eprintln!("predicted on {}", p.device);
    Ok(())
}

/// How `segment` finds the in-focus pixels.
pub(crate) enum Method {
    /// A rule preset.
    Rule(SegmentParams),
    /// A U-Net model (one at a time: a model is not shared between threads).
    Unet(Mutex<Model>, PredictParams),
}

impl Method {
    /// `--method rule` (the default) or `--method unet --model M`.
    pub(crate) fn new(
        method: &str,
        model: Option<&Path>,
        predict: &PredictFlags,
        rule: impl FnOnce() -> Result<SegmentParams>,
    ) -> Result<Method> {
        match (method.trim().to_ascii_lowercase().as_str(), model) {
            ("rule", None) => Ok(Method::Rule(rule()?)),
            ("rule", Some(_)) => Err(Error::invalid(
                "--model is for --method unet; add --method unet or drop --model",
            )),
            ("unet", Some(m)) => Ok(Method::Unet(
                Mutex::new(Model::load(m, predict.device.parse()?)?),
                predict.params(),
            )),
            ("unet", None) => Err(Error::invalid(
                "--method unet needs --model MODEL (make one with `infocus train`)",
            )),
            (other, _) => Err(Error::invalid(format!(
                "unknown method '{other}'; use rule or unet"
            ))),
        }
    }

    /// Segments one stack: the mask, the "focus map" (the U-Net's
    /// probabilities) and the depth map (the most probable slice).
    pub(crate) fn segment(&self, stack: StackView, progress: &Progress) -> Result<Segmentation> {
        match self {
            Method::Rule(p) => infocus::segment::segment(stack, p, progress),
            Method::Unet(m, p) => {
                let model = m
                    .lock()
                    .map_err(|_| Error::Internal("the model lock is poisoned".into()))?;
                let pred = model.predict(stack, p, progress)?;
                let depth = infocus::products::depth_map(pred.prob.view())?;
                Ok(Segmentation {
                    map: pred.prob,
                    mask: pred.mask,
                    depth,
                    dof: None,
                })
            }
        }
    }
}

/// Writes the U-Net's masks for `stack` (demo); `None` without torch.
pub(crate) fn demo_column(
    dir: &Path,
    stack: StackView,
    p: &infocus::synth::SynthParams,
    epochs: usize,
) -> Result<Option<(Array3<u8>, f64)>> {
    if !infocus::unet::AVAILABLE || epochs == 0 {
        return Ok(None);
    }
    // Three other stacks of the same kind, their weak labels from the
    // default preset: no truth is used for training.
    let t0 = std::time::Instant::now();
    let train_stacks = (0..3u64)
        .map(|i| {
            let q = infocus::synth::SynthParams {
                seed: p.seed.wrapping_add(1000 + i),
                ..p.clone()
            };
            infocus::synth::synth(&q, &Progress::none()).map(|s| s.stack)
        })
        .collect::<Result<Vec<_>>>()?;
    let labels = train_stacks
        .iter()
        .map(|s| {
            weak_labels(
                s.view(),
                &SegmentParams::new(Preset::Default),
                &Progress::none(),
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let data: Vec<Labelled> = train_stacks
        .iter()
        .zip(&labels)
        .map(|(s, l)| Labelled {
            image: s.view(),
            mask: l.view(),
            slices: None,
            source: "weak labels, default preset".into(),
        })
        .collect();
    let params = TrainParams {
        epochs,
        patience: 10,
        ..TrainParams::default()
    };
    let model = Model::new(UnetConfig::default(), DeviceSpec::Auto, params.seed)?;
    println!(
        "\ntraining a U-Net ({}) on the default preset's masks of 3 other synthetic stacks...",
        model.config()
    );
    let t = with_bar(params.epochs, |pr, e| {
        run_train(&model, &data, &params, pr, e)
    })?;
    let train_secs = t0.elapsed().as_secs_f64();
    t.model.save(&dir.join("unet.safetensors"))?;
    let t1 = std::time::Instant::now();
    let pred = t
        .model
        .predict(stack, &PredictParams::default(), &Progress::none())?;
    let secs = t1.elapsed().as_secs_f64();
    let cal = Calibration::default();
    commit_all(vec![
        stage_tiff(
            &dir.join("mask_unet.tif"),
            StackView::U8(pred.mask.view()),
            &cal,
        )?,
        stage_tiff(
            &dir.join("prob_unet.tif"),
            StackView::F32(pred.prob.view()),
            &cal,
        )?,
    ])?;
    println!("(made the weak labels and trained in {train_secs:.1}s; prediction below)");
    Ok(Some((pred.mask, secs)))
}

/// Makes libtorch's OpenMP threads sleep rather than spin while they wait
/// (`OMP_WAIT_POLICY=PASSIVE`), unless the environment already says: on a
/// machine shared with other busy processes, spinning threads made
/// prediction 4-6x slower than one thread (measured on a 2-core machine).
/// libgomp reads the variable once, when it is loaded, before `main`, so the
/// tool re-executes itself once with it set; only for the commands that may
/// run the U-Net (the re-execution loads libtorch a second time, about 0.3 s).
pub(crate) fn calm_openmp() {
    #[cfg(all(unix, feature = "torch"))]
    {
        use std::os::unix::process::CommandExt;
        if std::env::var_os("OMP_WAIT_POLICY").is_some() {
            return;
        }
        let torch_words = ["train", "finetune", "predict", "demo", "unet"];
        let may_use_torch = std::env::args().skip(1).any(|a| {
            torch_words.contains(&a.as_str())
                || a.starts_with("--method")
                || a.starts_with("--model")
        });
        if !may_use_torch {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        // exec returns only when it failed: then go on as we are.
        let _ = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("OMP_WAIT_POLICY", "PASSIVE")
            .exec();
    }
}

//! Argument parsing and dispatch for the `infocus` tool.

mod commands;
mod demo;
mod outputs;
mod stream;
mod unet;

use clap::{Args, Parser, Subcommand};
use infocus::segment::{Preset, SegmentParams};
use infocus::threshold::Threshold;
use infocus::{Error, Result};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "infocus", version, about = "Find the in-focus pixels of every slice of a focal stack", long_about = None)]
struct Cli {
    /// Worker threads, at least 1 (default: all cores). Results do not depend
    /// on it, except U-Net training (libtorch computes with as many threads).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Focus-score stack (f32 TIFF) of one or more stacks.
    FocusMap(FocusMapArgs),
    /// In-focus masks (0/255 TIFF) and optional products.
    Segment(SegmentArgs),
    /// A synthetic focal stack with its exact truth.
    Synth(demo::SynthArgs),
    /// Score a mask stack against a truth stack.
    Eval(EvalArgs),
    /// Make a synthetic stack, segment it with both presets, score and show them.
    Demo(demo::DemoArgs),
    /// Train a U-Net on the weak labels a rule preset makes for the stacks.
    Train(unet::TrainArgs),
    /// Fine-tune a U-Net on manual masks.
    Finetune(unet::FinetuneArgs),
    /// In-focus masks (and probabilities) from a U-Net model.
    Predict(unet::PredictArgs),
}

/// How the focus scores are computed (shared by focus-map and segment).
#[derive(Args, Clone)]
pub(crate) struct MethodArgs {
    /// paper (the published pipeline) or default (ours). --measure, --window
    /// or --strides imply paper.
    #[arg(long)]
    preset: Option<String>,
    /// Focus measure of the sliding-window map: brenner, tenengrad,
    /// laplacian, smd, vollath, std, variance, entropy, dwt.
    #[arg(long)]
    measure: Option<String>,
    /// Sliding window side in pixels.
    #[arg(long)]
    window: Option<usize>,
    /// Comma-separated strides, e.g. 8,10,12 (the map is the maximum over them).
    #[arg(long, value_delimiter = ',')]
    strides: Option<Vec<usize>>,
    /// default preset: depth of field in slices (default: estimated).
    #[arg(long)]
    dof: Option<f64>,
    /// default preset: best-focus sharpness needed, in multiples of the noise's.
    #[arg(long)]
    min_contrast: Option<f64>,
    /// default preset: radius in pixels of the sharpness window.
    #[arg(long)]
    radius: Option<usize>,
    /// default preset: radius in pixels of the depth-map median.
    #[arg(long)]
    smoothing: Option<usize>,
}

impl MethodArgs {
    /// The core parameters these flags describe.
    pub(crate) fn params(&self) -> Result<SegmentParams> {
        let map_flags = self.measure.is_some() || self.window.is_some() || self.strides.is_some();
        let band_flags = self.dof.is_some()
            || self.min_contrast.is_some()
            || self.radius.is_some()
            || self.smoothing.is_some();
        let preset = match &self.preset {
            Some(p) => p.parse()?,
            None if map_flags => Preset::Paper,
            None => Preset::Default,
        };
        if preset == Preset::Default && map_flags {
            return Err(Error::invalid(
                "--measure, --window and --strides set the paper preset's sliding-window map; drop --preset default",
            ));
        }
        if preset == Preset::Paper && band_flags {
            return Err(Error::invalid(
                "--dof, --min-contrast, --radius and --smoothing belong to the default preset; drop --preset paper",
            ));
        }
        let mut p = SegmentParams::new(preset);
        if let Some(m) = &self.measure {
            p.map.measure = m.parse()?;
        }
        if let Some(w) = self.window {
            p.map.window = w;
        }
        if let Some(s) = &self.strides {
            p.map.strides = s.clone();
        }
        p.map.validate()?;
        p.band.dof = self.dof.or(p.band.dof);
        p.band.min_contrast = self.min_contrast.unwrap_or(p.band.min_contrast);
        p.band.radius = self.radius.unwrap_or(p.band.radius);
        p.band.smoothing = self.smoothing.unwrap_or(p.band.smoothing);
        p.band.validate()?;
        Ok(p)
    }
}

#[derive(Args)]
pub(crate) struct FocusMapArgs {
    /// Input stacks (.tif, .tiff, .npy).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output TIFF, or a directory when there are several inputs.
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    method: MethodArgs,
}

#[derive(Args)]
pub(crate) struct SegmentArgs {
    /// Input stacks (.tif, .tiff, .npy).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Mask TIFF (0/255), or a directory when there are several inputs.
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    method: MethodArgs,
    /// Threshold the preset's focus map instead of its own rule:
    /// otsu-stack, otsu-slice or a number. The paper preset's rule is otsu-stack.
    #[arg(long)]
    threshold: Option<String>,
    /// Also write the focus-score stack (f32).
    #[arg(long)]
    focus_map: Option<PathBuf>,
    /// Also write the in-focus stack (image where the mask is set, 0 elsewhere).
    #[arg(long)]
    in_focus: Option<PathBuf>,
    /// Also write the depth map (index of the best-focused slice, u16).
    #[arg(long)]
    depth: Option<PathBuf>,
    /// Also write the all-in-focus image.
    #[arg(long)]
    all_in_focus: Option<PathBuf>,
    /// rule (a preset, see --preset) or unet (a trained model, see --model;
    /// the focus map is then its probabilities).
    #[arg(long = "method", default_value = "rule")]
    how: String,
    /// The U-Net model file of --method unet.
    #[arg(long)]
    model: Option<PathBuf>,
    #[command(flatten)]
    unet: unet::PredictFlags,
}

impl SegmentArgs {
    /// The segmentation method these flags describe.
    pub(crate) fn method(&self) -> Result<unet::Method> {
        let m = &self.how;
        let rule_flags = self.threshold.is_some()
            || self.method.preset.is_some()
            || self.method.measure.is_some()
            || self.method.window.is_some()
            || self.method.strides.is_some()
            || self.method.dof.is_some()
            || self.method.min_contrast.is_some()
            || self.method.radius.is_some()
            || self.method.smoothing.is_some();
        if m.trim().eq_ignore_ascii_case("unet") && rule_flags {
            return Err(Error::invalid(
                "--preset, --threshold and the map and band flags set the rule method; drop them with --method unet",
            ));
        }
        unet::Method::new(m, self.model.as_deref(), &self.unet, || self.params())
    }

    pub(crate) fn params(&self) -> Result<SegmentParams> {
        let mut p = self.method.params()?;
        p.threshold = self
            .threshold
            .as_deref()
            .map(str::parse::<Threshold>)
            .transpose()?;
        Ok(p)
    }
}

#[derive(Args)]
pub(crate) struct EvalArgs {
    /// Predicted masks (nonzero = in focus).
    #[arg(long)]
    pred: PathBuf,
    /// True masks.
    #[arg(long)]
    truth: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the tool; errors become one line on stderr and a non-zero exit.
pub fn main() -> ExitCode {
    unet::calm_openmp();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: clap's own output on stdout.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let msg = e.to_string();
            let first = msg
                .lines()
                .next()
                .unwrap_or("bad arguments")
                .trim_start_matches("error: ");
            eprintln!("infocus: error: {first} (see --help)");
            return ExitCode::from(2);
        }
    };
    if let Some(n) = cli.threads {
        if n == 0 {
            eprintln!("infocus: error: --threads must be at least 1");
            return ExitCode::from(2);
        }
        if let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
        {
            eprintln!("infocus: error: cannot set {n} threads: {e}");
            return ExitCode::FAILURE;
        }
        if infocus::unet::AVAILABLE {
            // libtorch's own threads, for train, finetune, predict and --method unet.
            let _ = infocus::unet::set_threads(n);
        }
    }
    outputs::install_interrupt_handler();
    let result = match &cli.command {
        Command::FocusMap(a) => commands::focus_map(a),
        Command::Segment(a) => commands::segment(a),
        Command::Synth(a) => demo::synth(a),
        Command::Eval(a) => commands::eval(a),
        Command::Demo(a) => demo::demo(a),
        Command::Train(a) => unet::train(a),
        Command::Finetune(a) => unet::finetune(a),
        Command::Predict(a) => unet::predict(a),
    };
    if outputs::interrupted() {
        // Stopped by the user: a command that still finished everything
        // succeeded; any other outcome exits as interrupted (130).
        match &result {
            Ok(()) => return ExitCode::SUCCESS,
            Err(Error::Cancelled) => {}
            Err(e) => eprintln!("infocus: error: {e}"),
        }
        eprintln!("infocus: interrupted: outputs not finished were not written");
        return ExitCode::from(130);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("infocus: error: {e}");
            ExitCode::FAILURE
        }
    }
}

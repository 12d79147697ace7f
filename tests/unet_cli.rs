//! `infocus train | finetune | predict | segment --method unet`, run as a
//! user would: the real binary, files in a temporary directory. Results are
//! checked against the library on the same files.

mod unet_common;

use infocus::StackView;
use infocus::io::{Calibration, write_tiff};
use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_infocus"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the infocus binary runs")
}

#[cfg_attr(not(feature = "torch"), allow(dead_code))]
fn ok(args: &[&str], dir: &Path) -> String {
    let out = run(args, dir);
    assert!(
        out.status.success(),
        "infocus {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fails with one line on stderr containing every needle.
fn fails(args: &[&str], dir: &Path, needles: &[&str]) {
    let out = run(args, dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "infocus {args:?} succeeded");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "infocus {args:?}: stderr is not one line:\n{err}");
    assert!(lines[0].starts_with("infocus: error:"), "{err}");
    for n in needles {
        assert!(
            lines[0].to_lowercase().contains(&n.to_lowercase()),
            "infocus {args:?}: '{err}' lacks '{n}'"
        );
    }
}

fn write_synth(dir: &Path, name: &str, seed: u64) {
    let s = unet_common::small(seed);
    let cal = Calibration::default();
    write_tiff(&dir.join(format!("{name}.tif")), s.stack.view(), &cal).unwrap();
    write_tiff(
        &dir.join(format!("{name}_truth.tif")),
        StackView::U8(s.truth.view()),
        &cal,
    )
    .unwrap();
}

#[cfg(not(feature = "torch"))]
#[test]
fn without_torch_the_unet_commands_say_how_to_get_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_synth(d, "a", 1);
    fails(&["train", "a.tif", "-o", "m.safetensors"], d, &["unsupported", "--features torch"]);
    fails(&["predict", "m.safetensors", "a.tif", "-o", "x.tif"], d, &["--features torch"]);
    fails(
        &["segment", "a.tif", "-o", "x.tif", "--method", "unet", "--model", "m.safetensors"],
        d,
        &["--features torch"],
    );
    assert!(!d.join("m.safetensors").exists() && !d.join("x.tif").exists());
}

#[cfg(feature = "torch")]
mod with_torch {
    use super::*;
    use infocus::Stack;
    use infocus::io::read_stack;
    use infocus::unet::{DeviceSpec, Model, PredictParams, UnetConfig};

    const TINY: [&str; 14] = [
        "--threads", "1", "--device", "cpu", "--depth", "2", "--base-channels", "4", "--epochs",
        "2", "--patch", "32", "--seed", "3",
    ];

    fn as_u8(s: Stack) -> ndarray::Array3<u8> {
        match s {
            Stack::U8(a) => a,
            other => panic!("expected u8, got {:?}", other.pixel_type()),
        }
    }

    fn as_f32(s: Stack) -> ndarray::Array3<f32> {
        match s {
            Stack::F32(a) => a,
            other => panic!("expected f32, got {:?}", other.pixel_type()),
        }
    }

    #[test]
    fn train_predict_segment_and_finetune_from_the_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_synth(d, "a", 1);
        write_synth(d, "b", 2);
        let mut args = vec!["train", "a.tif", "b.tif", "-o", "m.safetensors"];
        args.extend(TINY);
        let out = ok(&args, d);
        assert!(out.contains("on cpu") && out.contains("validation IoU"), "{out}");
        let model = Model::load(&d.join("m.safetensors"), DeviceSpec::Cpu).unwrap();
        assert_eq!(model.config().base_channels, 4);
        assert!(model.config().profile, "the default config has the focus profile");
        assert!(out.contains("focus profile"), "{out}");
        assert!(model.config().guide && out.contains("preset guide"), "the default config has the guide: {out}");
        assert_eq!(model.history()[0]["labels"], "weak labels, default preset");
        assert_eq!(model.history()[0]["seed"], 3);

        // The same training twice gives the same file.
        let mut again = vec!["train", "a.tif", "b.tif", "-o", "m2.safetensors"];
        again.extend(TINY);
        ok(&again, d);
        assert_eq!(
            std::fs::read(d.join("m.safetensors")).unwrap(),
            std::fs::read(d.join("m2.safetensors")).unwrap()
        );

        // predict: the library's bytes.
        ok(
            &["--threads", "1", "predict", "m.safetensors", "a.tif", "-o", "mask.tif", "--prob", "p.tif", "--device", "cpu"],
            d,
        );
        infocus::unet::set_threads(1).unwrap();
        let (a, _) = read_stack(&d.join("a.tif")).unwrap();
        let lib = model
            .predict(a.view(), &PredictParams::default(), &infocus::Progress::none())
            .unwrap();
        let mask = as_u8(read_stack(&d.join("mask.tif")).unwrap().0);
        let prob = as_f32(read_stack(&d.join("p.tif")).unwrap().0);
        assert_eq!(mask, lib.mask);
        assert!(prob.iter().zip(&lib.prob).all(|(x, y)| x.to_bits() == y.to_bits()));

        // segment --method unet: the same mask, its products from the probabilities.
        ok(
            &[
                "--threads", "1", "segment", "a.tif", "-o", "seg.tif", "--method", "unet", "--model",
                "m.safetensors", "--device", "cpu", "--focus-map", "map.tif", "--depth", "depth.tif",
            ],
            d,
        );
        assert_eq!(as_u8(read_stack(&d.join("seg.tif")).unwrap().0), lib.mask);
        let map = as_f32(read_stack(&d.join("map.tif")).unwrap().0);
        assert!(map.iter().zip(&lib.prob).all(|(x, y)| x.to_bits() == y.to_bits()));
        assert!(d.join("depth.tif").is_file());

        // --no-flips (predict and segment --method unet): the library's one pass, not the default's average.
        ok(
            &[
                "--threads", "1", "predict", "m.safetensors", "a.tif", "-o", "mask1.tif", "--prob", "p1.tif",
                "--device", "cpu", "--no-flips",
            ],
            d,
        );
        let one = model
            .predict(
                a.view(),
                &PredictParams { flips: false, ..PredictParams::default() },
                &infocus::Progress::none(),
            )
            .unwrap();
        assert_eq!(as_u8(read_stack(&d.join("mask1.tif")).unwrap().0), one.mask);
        let prob1 = as_f32(read_stack(&d.join("p1.tif")).unwrap().0);
        assert!(prob1.iter().zip(&one.prob).all(|(x, y)| x.to_bits() == y.to_bits()));
        assert_ne!(prob1, prob, "--no-flips gave the default's probabilities");
        ok(
            &[
                "--threads", "1", "segment", "a.tif", "-o", "seg1.tif", "--method", "unet", "--model",
                "m.safetensors", "--device", "cpu", "--focus-map", "map1.tif", "--no-flips",
            ],
            d,
        );
        assert_eq!(as_u8(read_stack(&d.join("seg1.tif")).unwrap().0), one.mask);
        let map1 = as_f32(read_stack(&d.join("map1.tif")).unwrap().0);
        assert!(map1.iter().zip(&one.prob).all(|(x, y)| x.to_bits() == y.to_bits()));

        // finetune on the truth masks.
        let mut ft = vec![
            "finetune", "m.safetensors", "--images", "a.tif", "b.tif", "--masks", "a_truth.tif",
            "b_truth.tif", "-o", "tuned.safetensors",
        ];
        ft.extend(TINY[..4].iter().chain(&TINY[8..]));
        ok(&ft, d);
        let tuned = Model::load(&d.join("tuned.safetensors"), DeviceSpec::Cpu).unwrap();
        assert_eq!(tuned.history().len(), 2);
        assert_eq!(tuned.history()[1]["labels"], "manual masks");
    }

    #[test]
    fn profile_overrides_the_configuration() {
        on_off_overrides_the_configuration("--profile", "focus profile", |c| c.profile);
    }

    #[test]
    fn guide_overrides_the_configuration() {
        on_off_overrides_the_configuration("--guide", "preset guide", |c| c.guide);
    }

    /// `flag on|off` wins over `--config`, the summary names the input
    /// (`shown`), the model file keeps it (`field`), the model predicts
    /// from the stack alone (the profile and guide are recomputed from it,
    /// as in training), and any other word is refused with no file left.
    fn on_off_overrides_the_configuration(flag: &str, shown: &str, field: fn(&UnetConfig) -> bool) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_synth(d, "a", 1);
        for (config, value, want) in [("default", "off", false), ("paper", "on", true)] {
            let mut args = vec!["train", "a.tif", "-o", "m.safetensors", "--config", config, flag, value];
            args.extend(TINY);
            let out = ok(&args, d);
            assert_eq!(out.contains(shown), want, "{out}");
            let model = Model::load(&d.join("m.safetensors"), DeviceSpec::Cpu).unwrap();
            assert_eq!(field(&model.config()), want, "--config {config} {flag} {value}");
            let pred = ok(&["predict", "m.safetensors", "a.tif", "-o", "m.tif", "--no-flips"], d);
            assert!(d.join("m.tif").exists(), "{pred}");
        }
        fails(&["train", "a.tif", "-o", "m2.safetensors", flag, "maybe"], d, &[flag, "maybe"]);
        assert!(!d.join("m2.safetensors").exists());
    }

    #[test]
    fn bad_models_and_arguments_fail_in_one_line_and_leave_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_synth(d, "a", 1);
        std::fs::write(d.join("junk.safetensors"), b"not a model").unwrap();
        std::fs::write(d.join("keep.safetensors"), b"an existing model file").unwrap();
        fails(&["predict", "junk.safetensors", "a.tif", "-o", "x.tif"], d, &["junk.safetensors", "not a safetensors model file"]);
        fails(&["predict", "missing.safetensors", "a.tif", "-o", "x.tif"], d, &["missing.safetensors"]);
        fails(&["segment", "a.tif", "-o", "x.tif", "--method", "unet"], d, &["--model"]);
        fails(
            &["segment", "a.tif", "-o", "x.tif", "--method", "unet", "--model", "junk.safetensors", "--preset", "paper"],
            d,
            &["--method unet"],
        );
        fails(&["segment", "a.tif", "-o", "x.tif", "--method", "magic"], d, &["rule or unet"]);
        fails(&["train", "a.tif", "-o", "keep.safetensors", "--patch", "30"], d, &["patch"]);
        fails(&["train", "a.tif", "-o", "keep.safetensors", "--device", "tpu"], d, &["device"]);
        fails(&["train", "a.tif", "-o", "keep.safetensors", "--loss", "1,1"], d, &["three weights"]);
        fails(
            &["finetune", "junk.safetensors", "--images", "a.tif", "--masks", "a_truth.tif", "a_truth.tif", "-o", "keep.safetensors"],
            d,
            &["1 --images but 2 --masks"],
        );
        assert!(!d.join("x.tif").exists());
        assert_eq!(std::fs::read(d.join("keep.safetensors")).unwrap(), b"an existing model file");
    }
}

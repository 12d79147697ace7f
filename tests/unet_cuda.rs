//! The U-Net on a CUDA GPU.
//!
//! Where libtorch sees no GPU (CI, a CPU build), asking for CUDA must fail
//! with an error that says what to do, and `auto` must fall to the CPU.
//! Where it sees one (a `--features cuda` build on a GPU machine), the same
//! seed must give the same weights on both devices, their predictions must
//! agree, training, saving and loading must work on the GPU, and a GPU
//! prediction must repeat exactly.

mod unet_common;

#[cfg(feature = "torch")]
mod with_torch {
    use super::unet_common::{one_thread, small};
    use infocus::Progress;
    use infocus::segment::{Preset, SegmentParams};
    use infocus::unet::{
        DeviceSpec, Labelled, Model, PredictParams, TrainParams, UnetConfig, cuda_available,
        train, weak_labels,
    };
    use std::time::Instant;

    fn config() -> UnetConfig {
        UnetConfig {
            base_channels: 8,
            ..UnetConfig::default()
        }
    }

    fn max_abs_diff(a: &ndarray::Array3<f32>, b: &ndarray::Array3<f32>) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    fn agreement(a: &ndarray::Array3<u8>, b: &ndarray::Array3<u8>) -> f64 {
        let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
        same as f64 / a.len() as f64
    }

    #[test]
    fn cuda_when_there_is_one_and_a_clear_refusal_when_not() {
        one_thread();
        if !cuda_available() {
            let e = Model::new(config(), DeviceSpec::Cuda(0), 0).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("no CUDA device"), "{msg}");
            assert!(msg.contains("--device cpu"), "{msg}");
            let m = Model::new(config(), DeviceSpec::Auto, 0).unwrap();
            assert_eq!(m.device(), "cpu");
            eprintln!("no CUDA device: checked the refusal and auto = cpu");
            return;
        }

        // The same seed gives the same weights, bit for bit, on both devices
        // (they are drawn by infocus's own generator on the CPU).
        let cpu = Model::new(config(), DeviceSpec::Cpu, 7).unwrap();
        let gpu = Model::new(config(), DeviceSpec::Cuda(0), 7).unwrap();
        assert_eq!(gpu.device(), "cuda:0");
        assert_eq!(
            Model::new(config(), DeviceSpec::Auto, 7).unwrap().device(),
            "cuda:0"
        );
        assert_eq!(cpu.to_bytes().unwrap(), gpu.to_bytes().unwrap());

        // One device further than there are is refused by number.
        let count = tch::Cuda::device_count() as usize;
        let e = Model::new(config(), DeviceSpec::Cuda(count), 0).unwrap_err();
        assert!(e.to_string().contains("CUDA devices"), "{e}");

        // Train on the GPU, on the default preset's labels of one stack.
        let s = small(3);
        let labels = weak_labels(
            s.stack.view(),
            &SegmentParams::new(Preset::Default),
            &Progress::none(),
        )
        .unwrap();
        let data = [Labelled {
            image: s.stack.view(),
            mask: labels.view(),
            slices: None,
            source: "weak labels, default preset".into(),
        }];
        let params = TrainParams {
            epochs: 8,
            batch: 8,
            patch: 64,
            patience: 0,
            ..TrainParams::default()
        };
        let mut times = Vec::new();
        let mut on_gpu = None;
        for model in [&gpu, &cpu] {
            let t0 = Instant::now();
            let t = train(model, &data, &params, &Progress::none(), &mut |_| {}).unwrap();
            times.push(t0.elapsed().as_secs_f64());
            assert_eq!(t.device, model.device());
            let (first, last) = (t.epochs[0].loss, t.epochs[t.epochs.len() - 1].loss);
            assert!(last.is_finite() && last < first, "{}: loss {first} -> {last}", t.device);
            eprintln!("{}: loss {first:.3} -> {last:.3}, validation IoU {:.3}", t.device, t.best_iou);
            on_gpu.get_or_insert(t.model);
        }
        eprintln!(
            "{} epochs on one 12x128x128 stack: cuda {:.2} s, cpu (1 thread) {:.2} s",
            params.epochs, times[0], times[1]
        );
        let trained = on_gpu.expect("trained on the GPU");

        // Fine-tuning on the truth stays on the GPU.
        let tuned = infocus::unet::finetune(
            &trained,
            &[s.stack.view()],
            &[s.truth.view()],
            None,
            &TrainParams {
                epochs: 2,
                ..TrainParams::finetuning()
            },
            &Progress::none(),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(tuned.device, "cuda:0");

        // The GPU's weights, moved to the CPU through a model file, predict
        // what they predicted on the GPU, to the precision of TF32: libtorch
        // lets cuDNN convolve in TF32 on Ampere and later GPUs (measured on
        // an H200: probabilities within 4.4e-3, masks equal on 99.993% of
        // the pixels of a 20 x 256 x 256 stack).
        let bytes = trained.to_bytes().unwrap();
        let back = Model::from_bytes(&bytes, DeviceSpec::Cpu).unwrap();
        assert_eq!(back.device(), "cpu");
        assert_eq!(back.to_bytes().unwrap(), bytes);
        let p = PredictParams::default();
        let on_gpu = trained
            .predict(s.stack.view(), &p, &Progress::none())
            .unwrap();
        assert_eq!(on_gpu.device, "cuda:0");
        let on_cpu = back.predict(s.stack.view(), &p, &Progress::none()).unwrap();
        let diff = max_abs_diff(&on_gpu.prob, &on_cpu.prob);
        let agree = agreement(&on_gpu.mask, &on_cpu.mask);
        eprintln!("cuda vs cpu: max probability difference {diff:.2e}, masks agree on {agree:.6}");
        assert!(diff < 2e-2, "probabilities differ by {diff}");
        assert!(agree > 0.999, "masks agree on only {agree}");

        // A GPU prediction repeats exactly.
        let again = trained
            .predict(s.stack.view(), &p, &Progress::none())
            .unwrap();
        assert_eq!(again.prob, on_gpu.prob);
    }
}

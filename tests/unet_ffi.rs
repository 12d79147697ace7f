//! The U-Net through the C ABI, called from Rust: the door returns the
//! core's bytes (training, prediction, files), and says "unsupported" in a
//! build without torch. tests/c/test_infocus.c drives the same functions
//! from C (argument errors, cancel, damaged files).

mod unet_common;

use infocus::ffi::*;
use std::ffi::{CStr, CString};
use std::ptr;

fn last_error() -> String {
    unsafe { CStr::from_ptr(infocus_last_error()) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn availability_matches_the_build() {
    assert_eq!(infocus_unet_available() == 1, cfg!(feature = "torch"));
    assert_eq!(infocus::unet::AVAILABLE, cfg!(feature = "torch"));
}

#[test]
fn the_default_config_has_the_profile_and_guide_and_the_paper_not() {
    let (d, p) = (infocus_unet_config_default(), infocus_unet_config_paper());
    assert_eq!((d.profile, p.profile), (1, 0));
    assert_eq!((d.guide, p.guide), (1, 0));
    assert_eq!((d.context, p.context), (3, 0));
}

#[test]
fn the_default_prediction_averages_the_flips() {
    assert_eq!(infocus_predict_params_default().flips, 1);
}

#[cfg(not(feature = "torch"))]
#[test]
fn without_torch_every_model_call_is_unsupported_with_a_hint() {
    let cfg = infocus_unet_config_default();
    let mut m: *mut InfocusModel = ptr::null_mut();
    let path = CString::new("m.safetensors").unwrap();
    let st = unsafe { infocus_model_new(&cfg, ptr::null(), 0, &mut m) };
    assert_eq!(st, INFOCUS_ERR_UNSUPPORTED);
    assert!(last_error().contains("--features torch"), "{}", last_error());
    assert!(m.is_null());
    let st = unsafe { infocus_model_load(path.as_ptr(), ptr::null(), &mut m) };
    assert_eq!(st, INFOCUS_ERR_UNSUPPORTED);
    let st = unsafe { infocus_model_save(ptr::null(), path.as_ptr()) };
    assert_eq!(st, INFOCUS_ERR_UNSUPPORTED);
    let tp = infocus_train_params_default();
    let st = unsafe {
        infocus_unet_train(ptr::null_mut(), ptr::null(), 0, 0, 1, 1, 1, &tp, None, ptr::null_mut())
    };
    assert_eq!(st, INFOCUS_ERR_UNSUPPORTED);
    unsafe { infocus_model_free(ptr::null_mut()) };
    // The same from the core and the CLI's library calls.
    let e = infocus::unet::Model::new(
        infocus::unet::UnetConfig::default(),
        infocus::unet::DeviceSpec::Cpu,
        0,
    )
    .unwrap_err();
    assert!(matches!(e, infocus::Error::Unsupported(_)));
}

#[cfg(feature = "torch")]
mod with_torch {
    use super::*;
    use infocus::segment::{Preset, SegmentParams};
    use infocus::unet::{
        DeviceSpec, Labelled, Model, Norm, PredictParams, TrainParams, UnetConfig, train,
        weak_labels,
    };
    use infocus::{Progress, Stack};
    use std::ffi::c_void;
    use unet_common::{one_thread, small};

    fn u16_stack(s: &Stack) -> &ndarray::Array3<u16> {
        match s {
            Stack::U16(a) => a,
            _ => panic!("synth makes u16 by default"),
        }
    }

    #[test]
    fn the_door_trains_predicts_and_saves_the_core_bytes() {
        one_thread();
        let s = small(1);
        let a = u16_stack(&s.stack);
        let (z, h, w) = a.dim();
        let config = UnetConfig {
            depth: 2,
            base_channels: 4,
            norm: Norm::Batch,
            context: 1,
            profile: true,
            guide: true,
        };
        // The core.
        let labels = weak_labels(
            s.stack.view(),
            &SegmentParams::new(Preset::Default),
            &Progress::none(),
        )
        .unwrap();
        let params = TrainParams {
            epochs: 2,
            patch: 32,
            seed: 5,
            ..TrainParams::default()
        };
        let core = train(
            &Model::new(config, DeviceSpec::Cpu, 5).unwrap(),
            &[Labelled {
                image: s.stack.view(),
                mask: labels.view(),
                slices: None,
                source: infocus::unet::describe_labels(&SegmentParams::new(Preset::Default)),
            }],
            &params,
            &Progress::none(),
            &mut |_| {},
        )
        .unwrap();
        let core_pred = core
            .model
            .predict(s.stack.view(), &PredictParams::default(), &Progress::none())
            .unwrap();

        // The door.
        let c = InfocusUnetConfig {
            depth: 2,
            base_channels: 4,
            norm: INFOCUS_NORM_BATCH,
            context: 1,
            profile: 1,
            guide: 1,
        };
        let cpu = CString::new("cpu").unwrap();
        let mut m: *mut InfocusModel = ptr::null_mut();
        assert_eq!(unsafe { infocus_model_new(&c, cpu.as_ptr(), 5, &mut m) }, INFOCUS_OK);
        let mut tp = infocus_train_params_default();
        tp.epochs = 2;
        tp.patch = 32;
        tp.seed = 5;
        let stacks = [a.as_ptr().cast::<c_void>()];
        let mut epochs = Vec::new();
        unsafe extern "C" fn log(e: u32, n: u32, loss: f64, iou: f64, ud: *mut c_void) -> i32 {
            unsafe { &mut *ud.cast::<Vec<(u32, u32, f64, f64)>>() }.push((e, n, loss, iou));
            0
        }
        let st = unsafe {
            infocus_unet_train(
                m,
                stacks.as_ptr(),
                1,
                INFOCUS_PIXEL_U16,
                z,
                h,
                w,
                &tp,
                Some(log),
                (&mut epochs as *mut Vec<(u32, u32, f64, f64)>).cast(),
            )
        };
        assert_eq!(st, INFOCUS_OK, "{}", last_error());
        let core_epochs: Vec<_> = core
            .epochs
            .iter()
            .map(|r| (r.epoch as u32, r.epochs as u32, r.loss, r.val_iou))
            .collect();
        assert_eq!(epochs, core_epochs);

        // The door's prediction with `pp`: (mask, probabilities).
        let n = z * h * w;
        let predict = |pp: &InfocusPredictParams| {
            let (mut mask, mut prob) = (vec![0u8; n], vec![0f32; n]);
            let st = unsafe {
                infocus_unet_predict(
                    m,
                    a.as_ptr().cast(),
                    INFOCUS_PIXEL_U16,
                    z,
                    h,
                    w,
                    pp,
                    mask.as_mut_ptr(),
                    n,
                    prob.as_mut_ptr(),
                    n,
                    None,
                    ptr::null_mut(),
                )
            };
            assert_eq!(st, INFOCUS_OK, "{}", last_error());
            (mask, prob)
        };
        let pp = infocus_predict_params_default();
        let (mask, prob) = predict(&pp);
        assert_eq!(mask, core_pred.mask.as_slice().unwrap());
        assert!(
            prob.iter()
                .zip(core_pred.prob.iter())
                .all(|(x, y)| x.to_bits() == y.to_bits())
        );

        // flips 0 is the core's one pass, and not the default's average.
        let one_pass = core
            .model
            .predict(
                s.stack.view(),
                &PredictParams { flips: false, ..PredictParams::default() },
                &Progress::none(),
            )
            .unwrap();
        let (mask0, prob0) = predict(&InfocusPredictParams { flips: 0, ..pp });
        assert_eq!(mask0, one_pass.mask.as_slice().unwrap());
        assert!(
            prob0.iter()
                .zip(one_pass.prob.iter())
                .all(|(x, y)| x.to_bits() == y.to_bits())
        );
        assert_ne!(prob0, prob, "flips 0 gave the default's probabilities");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("door.safetensors");
        let cpath = CString::new(path.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { infocus_model_save(m, cpath.as_ptr()) }, INFOCUS_OK);
        assert_eq!(std::fs::read(&path).unwrap(), core.model.to_bytes().unwrap());
        let mut back = InfocusUnetConfig {
            depth: 0,
            base_channels: 0,
            norm: -1,
            context: 0,
            profile: -1,
            guide: -1,
        };
        assert_eq!(unsafe { infocus_model_config(m, &mut back) }, INFOCUS_OK);
        assert_eq!(
            (back.depth, back.base_channels, back.norm, back.context, back.profile, back.guide),
            (2, 4, INFOCUS_NORM_BATCH, 1, 1, 1)
        );
        unsafe { infocus_model_free(m) };
    }

    #[test]
    fn a_model_reports_the_profile_and_guide_it_was_made_with() {
        let cpu = CString::new("cpu").unwrap();
        for (profile, guide) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            let c = InfocusUnetConfig {
                depth: 1,
                base_channels: 2,
                norm: INFOCUS_NORM_NONE,
                context: 0,
                profile,
                guide,
            };
            let mut m: *mut InfocusModel = ptr::null_mut();
            assert_eq!(
                unsafe { infocus_model_new(&c, cpu.as_ptr(), 1, &mut m) },
                INFOCUS_OK,
                "{}",
                last_error()
            );
            let mut back = InfocusUnetConfig { profile: -1, guide: -1, ..c };
            assert_eq!(unsafe { infocus_model_config(m, &mut back) }, INFOCUS_OK);
            assert_eq!((back.profile, back.guide), (profile, guide));
            unsafe { infocus_model_free(m) };
        }
    }

    #[test]
    fn a_corrupt_file_is_an_io_status_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.safetensors");
        std::fs::write(&path, b"\x10\0\0\0\0\0\0\0{\"a\":1}        ").unwrap();
        let cpath = CString::new(path.to_str().unwrap()).unwrap();
        let mut m: *mut InfocusModel = ptr::null_mut();
        let st = unsafe { infocus_model_load(cpath.as_ptr(), ptr::null(), &mut m) };
        assert_eq!(st, INFOCUS_ERR_IO);
        assert!(m.is_null());
        assert!(last_error().contains(path.to_str().unwrap()), "{}", last_error());
    }
}

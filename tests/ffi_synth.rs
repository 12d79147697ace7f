//! `infocus_synth`: the C door to the synthetic stacks returns the core's
//! bytes, checks its arguments, and cancels through its callback.

use infocus::ffi::*;
use infocus::synth::{Surface, SynthParams, Texture, synth};
use infocus::{PixelType, Progress, Stack};
use std::ffi::{CStr, c_void};

fn last_error() -> String {
    unsafe { CStr::from_ptr(infocus_last_error()) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn default_params_are_the_cores() {
    let c = infocus_synth_params_default();
    let p = SynthParams::default();
    assert_eq!((c.depth, c.height, c.width), (p.depth, p.height, p.width));
    assert_eq!(c.texture, INFOCUS_TEXTURE_COARSE);
    assert_eq!(c.surface, INFOCUS_SURFACE_DOME);
    assert_eq!(
        (c.photons, c.read_noise, c.dof),
        (p.photons, p.read_noise, p.dof)
    );
    assert_eq!(c.background, 1);
    assert_eq!(c.pixel_type, INFOCUS_PIXEL_U16);
    assert_eq!(c.seed, p.seed);
}

#[test]
fn returns_the_cores_bytes_for_every_pixel_type() {
    for (pt, core_pt) in [
        (INFOCUS_PIXEL_U8, PixelType::U8),
        (INFOCUS_PIXEL_U16, PixelType::U16),
        (INFOCUS_PIXEL_F32, PixelType::F32),
    ] {
        let mut c = infocus_synth_params_default();
        (c.depth, c.height, c.width) = (5, 24, 40);
        c.texture = INFOCUS_TEXTURE_SPARSE;
        c.surface = INFOCUS_SURFACE_TILT;
        c.pixel_type = pt;
        c.seed = 9;
        let p = SynthParams {
            depth: 5,
            height: 24,
            width: 40,
            texture: Texture::Sparse,
            surface: Surface::Tilt,
            pixel_type: core_pt,
            seed: 9,
            ..SynthParams::default()
        };
        let want = synth(&p, &Progress::none()).unwrap();
        let n = 5 * 24 * 40;
        let mut stack = vec![0u32; n]; // 4-byte aligned, enough for any type
        let mut truth = vec![7u8; n];
        let st = unsafe {
            infocus_synth(
                &c,
                stack.as_mut_ptr().cast(),
                n,
                truth.as_mut_ptr(),
                n,
                None,
                std::ptr::null_mut(),
            )
        };
        assert_eq!(st, INFOCUS_OK, "{}", last_error());
        assert_eq!(truth, want.truth.as_slice().unwrap());
        let bytes: &[u8] = unsafe { std::slice::from_raw_parts(stack.as_ptr().cast(), n * 4) };
        let got = match &want.stack {
            Stack::U8(a) => a.as_slice().unwrap() == &bytes[..n],
            Stack::U16(a) => {
                let v: Vec<u16> = bytes[..2 * n]
                    .chunks(2)
                    .map(|c| u16::from_ne_bytes([c[0], c[1]]))
                    .collect();
                a.as_slice().unwrap() == v.as_slice()
            }
            Stack::F32(a) => {
                let v: Vec<u32> = bytes
                    .chunks(4)
                    .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                a.iter().map(|x| x.to_bits()).collect::<Vec<_>>() == v
            }
        };
        assert!(got, "pixel type {pt}");
    }
}

#[test]
fn rejects_bad_arguments_and_writes_nothing() {
    let n = 4 * 16 * 16;
    let mut stack = vec![0u16; n];
    let mut truth = vec![0u8; n];
    let base = || {
        let mut c = infocus_synth_params_default();
        (c.depth, c.height, c.width) = (4, 16, 16);
        c
    };
    let call = |c: &InfocusSynthParams, stack: &mut [u16], len: usize, truth: &mut [u8]| unsafe {
        infocus_synth(
            c,
            stack.as_mut_ptr().cast(),
            len,
            truth.as_mut_ptr(),
            n,
            None,
            std::ptr::null_mut(),
        )
    };
    let st = unsafe {
        infocus_synth(
            std::ptr::null(),
            stack.as_mut_ptr().cast(),
            n,
            std::ptr::null_mut(),
            0,
            None,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(st, INFOCUS_ERR_NULL);
    let mut bad = Vec::new();
    let mut c = base();
    c.texture = 4;
    bad.push((c, n, "texture"));
    let mut c = base();
    c.surface = -1;
    bad.push((c, n, "surface"));
    let mut c = base();
    c.height = 7;
    bad.push((c, n, "at least 8"));
    let mut c = base();
    c.dof = f64::NAN;
    bad.push((c, n, "dof"));
    let mut c = base();
    c.pixel_type = 3;
    bad.push((c, n, "pixel type"));
    bad.push((base(), n - 1, "synthetic stack"));
    for (c, len, what) in bad {
        let st = call(&c, &mut stack, len, &mut truth);
        assert_eq!(st, INFOCUS_ERR_INVALID, "{what}");
        assert!(last_error().contains(what), "{what}: {}", last_error());
        assert!(stack.iter().all(|&v| v == 0) && truth.iter().all(|&v| v == 0));
    }
}

#[test]
fn the_callback_cancels() {
    unsafe extern "C" fn stop(done: u64, _total: u64, calls: *mut c_void) -> i32 {
        unsafe { *calls.cast::<u64>() += 1 };
        i32::from(done >= 1)
    }
    let mut c = infocus_synth_params_default();
    (c.depth, c.height, c.width) = (6, 32, 32);
    let n = 6 * 32 * 32;
    let mut stack = vec![0u16; n];
    let mut calls = 0u64;
    let st = unsafe {
        infocus_synth(
            &c,
            stack.as_mut_ptr().cast(),
            n,
            std::ptr::null_mut(),
            0,
            Some(stop),
            (&raw mut calls).cast(),
        )
    };
    assert_eq!(st, INFOCUS_ERR_CANCELLED);
    assert!(calls >= 1);
    assert!(stack.iter().all(|&v| v == 0));
}

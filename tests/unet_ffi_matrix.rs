//! Every U-Net entry point of the C ABI against the bad inputs that apply to
//! it, each with the exact status it must give: NULL pointers, freed,
//! twice-freed and made-up model handles, zero and overflowing dimensions,
//! wrong lengths, unknown enums, bad parameters, NaN in a float stack,
//! damaged and missing files, cancel. After every failure: the thread's last
//! error says something, out buffers are untouched, the model still gives
//! the bytes it gave before, and no file appeared. The count of cases is
//! printed (the reliability issue's closing figures come from it).

#![cfg(feature = "torch")]

mod unet_common;

use infocus::ffi::*;
use std::ffi::{CStr, CString, c_void};
use std::os::unix::ffi::OsStrExt;
use std::ptr;

fn last_error() -> String {
    unsafe { CStr::from_ptr(infocus_last_error()) }
        .to_string_lossy()
        .into_owned()
}

const Z: usize = 3;
const H: usize = 32;
const W: usize = 32;
const N: usize = Z * H * W;

/// A tiny model's configuration (tiles and crops are multiples of 4).
fn config() -> InfocusUnetConfig {
    InfocusUnetConfig {
        depth: 2,
        base_channels: 2,
        norm: INFOCUS_NORM_BATCH,
        context: 1,
        profile: 1,
        guide: 1,
    }
}

fn new_model() -> *mut InfocusModel {
    let mut m = ptr::null_mut();
    let cpu = CString::new("cpu").unwrap();
    assert_eq!(
        unsafe { infocus_model_new(&config(), cpu.as_ptr(), 1, &mut m) },
        INFOCUS_OK,
        "{}",
        last_error()
    );
    m
}

/// The model's file bytes: how "unchanged" is checked.
fn bytes_of(m: *const InfocusModel, dir: &std::path::Path) -> Vec<u8> {
    let p = dir.join("probe.safetensors");
    let c = CString::new(p.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { infocus_model_save(m, c.as_ptr()) }, INFOCUS_OK, "{}", last_error());
    let b = std::fs::read(&p).unwrap();
    std::fs::remove_file(&p).unwrap();
    b
}

/// A stack whose left half is sharp in slice 1, its masks, f32 copies.
struct Data {
    u16s: Vec<u16>,
    f32s: Vec<f32>,
    mask: Vec<u8>,
}

fn data() -> Data {
    let mut u16s = vec![0u16; N];
    let mut mask = vec![0u8; N];
    for k in 0..Z {
        for y in 0..H {
            for x in 0..W {
                let sharp = k == 1 && x < W / 2;
                let v = if sharp { ((x + y) % 2) as u16 * 900 } else { 450 };
                u16s[(k * H + y) * W + x] = v + 100;
                mask[(k * H + y) * W + x] = if sharp { 255 } else { 0 };
            }
        }
    }
    let f32s = u16s.iter().map(|&v| f32::from(v)).collect();
    Data { u16s, f32s, mask }
}

/// Tallies the cases and checks what every failure must leave behind.
struct Matrix {
    cases: usize,
    failures: Vec<String>,
}

impl Matrix {
    fn check(&mut self, name: &str, got: i32, want: i32) {
        self.cases += 1;
        if got != want {
            self.failures
                .push(format!("{name}: status {got}, want {want} ({})", last_error()));
        } else if want != INFOCUS_OK && last_error().is_empty() {
            self.failures.push(format!("{name}: no last error"));
        }
    }
}

unsafe extern "C" fn cancel_epoch(_: u32, _: u32, _: f64, _: f64, _: *mut c_void) -> i32 {
    1
}

unsafe extern "C" fn cancel_slice(_: u64, _: u64, _: *mut c_void) -> i32 {
    1
}

#[test]
fn every_unet_entry_point_refuses_every_bad_input() {
    unet_common::one_thread();
    let dir = tempfile::tempdir().unwrap();
    let d = data();
    let mut mx = Matrix {
        cases: 0,
        failures: Vec::new(),
    };
    let model = new_model();
    let before = bytes_of(model, dir.path());
    let freed = new_model();
    unsafe { infocus_model_free(freed) };
    let mut not_a_model = [0u64; 64];
    let made_up = not_a_model.as_mut_ptr().cast::<InfocusModel>();

    // ---- infocus_model_new
    let cpu = CString::new("cpu").unwrap();
    let mut out: *mut InfocusModel = ptr::null_mut();
    let new = |c: *const InfocusUnetConfig, dev: *const i8, out: *mut *mut InfocusModel| unsafe {
        infocus_model_new(c, dev.cast(), 0, out)
    };
    mx.check("new: config NULL", new(ptr::null(), cpu.as_ptr().cast(), &mut out), INFOCUS_ERR_NULL);
    mx.check("new: out NULL", new(&config(), cpu.as_ptr().cast(), ptr::null_mut()), INFOCUS_ERR_NULL);
    for (what, c) in [
        ("depth 0", InfocusUnetConfig { depth: 0, ..config() }),
        ("depth 7", InfocusUnetConfig { depth: 7, ..config() }),
        ("depth u32::MAX", InfocusUnetConfig { depth: u32::MAX, ..config() }),
        ("base 0", InfocusUnetConfig { base_channels: 0, ..config() }),
        ("base 257", InfocusUnetConfig { base_channels: 257, ..config() }),
        ("norm 9", InfocusUnetConfig { norm: 9, ..config() }),
        ("norm -1", InfocusUnetConfig { norm: -1, ..config() }),
        ("context 7", InfocusUnetConfig { context: 7, ..config() }),
        ("context u32::MAX", InfocusUnetConfig { context: u32::MAX, ..config() }),
        ("profile 2", InfocusUnetConfig { profile: 2, ..config() }),
        ("profile -1", InfocusUnetConfig { profile: -1, ..config() }),
        ("guide 2", InfocusUnetConfig { guide: 2, ..config() }),
        ("guide -1", InfocusUnetConfig { guide: -1, ..config() }),
    ] {
        mx.check(&format!("new: {what}"), new(&c, cpu.as_ptr().cast(), &mut out), INFOCUS_ERR_INVALID);
        let field = what.split(' ').next().unwrap_or_default();
        if ["profile", "guide"].contains(&field) && !last_error().contains(&format!("{field} must be 0 or 1")) {
            mx.failures.push(format!("new: {what}: the message does not say 0 or 1: {}", last_error()));
        }
    }
    for dev in ["tpu", "cuda:x", "cuda:-1", ""] {
        let c = CString::new(dev).unwrap();
        let want = if dev.is_empty() { INFOCUS_OK } else { INFOCUS_ERR_INVALID };
        let st = new(&config(), c.as_ptr().cast(), &mut out);
        mx.check(&format!("new: device {dev:?}"), st, want);
        if st == INFOCUS_OK {
            unsafe { infocus_model_free(out) };
            out = ptr::null_mut();
        }
    }
    let bad_utf8 = CString::new(vec![b'c', 0xff, b'u']).unwrap();
    mx.check("new: device not UTF-8", new(&config(), bad_utf8.as_ptr().cast(), &mut out), INFOCUS_ERR_INVALID);
    if infocus::unet::cuda_available() {
        // On a GPU machine a device number beyond the last is a bad
        // argument (the message names the devices there are).
        let c = CString::new("cuda:99").unwrap();
        mx.check("new: cuda:99", new(&config(), c.as_ptr().cast(), &mut out), INFOCUS_ERR_INVALID);
    } else {
        let c = CString::new("cuda").unwrap();
        mx.check("new: cuda without one", new(&config(), c.as_ptr().cast(), &mut out), INFOCUS_ERR_UNSUPPORTED);
    }
    assert!(out.is_null(), "a failed infocus_model_new wrote its out pointer");

    // ---- infocus_model_load
    let load = |p: &std::path::Path| {
        let c = CString::new(p.as_os_str().as_bytes()).unwrap();
        let mut o: *mut InfocusModel = ptr::null_mut();
        let st = unsafe { infocus_model_load(c.as_ptr(), ptr::null(), &mut o) };
        assert!(st != INFOCUS_OK || !o.is_null());
        if st == INFOCUS_OK {
            unsafe { infocus_model_free(o) };
        }
        st
    };
    let good = dir.path().join("good.safetensors");
    std::fs::write(&good, &before).unwrap();
    mx.check("load: a good file", load(&good), INFOCUS_OK);
    mx.check(
        "load: path NULL",
        unsafe { infocus_model_load(ptr::null(), ptr::null(), &mut out) },
        INFOCUS_ERR_NULL,
    );
    let gc = CString::new(good.to_str().unwrap()).unwrap();
    mx.check(
        "load: out NULL",
        unsafe { infocus_model_load(gc.as_ptr(), ptr::null(), ptr::null_mut()) },
        INFOCUS_ERR_NULL,
    );
    let tpu = CString::new("tpu").unwrap();
    mx.check(
        "load: device tpu",
        unsafe { infocus_model_load(gc.as_ptr(), tpu.as_ptr(), &mut out) },
        INFOCUS_ERR_INVALID,
    );
    mx.check(
        "load: path not UTF-8",
        unsafe { infocus_model_load(bad_utf8.as_ptr(), ptr::null(), &mut out) },
        INFOCUS_ERR_INVALID,
    );
    mx.check("load: missing file", load(&dir.path().join("none.safetensors")), INFOCUS_ERR_IO);
    mx.check("load: a directory", load(dir.path()), INFOCUS_ERR_IO);
    let damaged: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("7 bytes", before[..7].to_vec()),
        ("truncated header", before[..before.len().min(40)].to_vec()),
        ("truncated weights", before[..before.len() - 9].to_vec()),
        ("header length huge", {
            let mut b = before.clone();
            b[..8].copy_from_slice(&u64::MAX.to_le_bytes());
            b
        }),
        ("not JSON", {
            let mut b = before.clone();
            b[8] = b'!';
            b
        }),
        ("a TIFF", std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tiff/deflate_u8.tif")).unwrap()),
        ("foreign safetensors", {
            let h = br#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
            let mut b = (h.len() as u64).to_le_bytes().to_vec();
            b.extend_from_slice(h);
            b.extend_from_slice(&[0; 4]);
            b
        }),
    ];
    for (what, bytes) in &damaged {
        let p = dir.path().join(format!("{}.safetensors", what.replace(' ', "_")));
        std::fs::write(&p, bytes).unwrap();
        mx.check(&format!("load: {what}"), load(&p), INFOCUS_ERR_IO);
    }
    // Every single-byte flip in the header region and a stride through the
    // weights: refused (IO) or loaded; never a crash or another status.
    let header_end = 8 + u64::from_le_bytes(before[..8].try_into().unwrap()) as usize;
    let flips: Vec<usize> = (0..header_end).step_by(7).chain((header_end..before.len()).step_by(97)).collect();
    for i in flips {
        let mut b = before.clone();
        b[i] ^= 0x5a;
        let p = dir.path().join("flip.safetensors");
        std::fs::write(&p, &b).unwrap();
        let st = load(&p);
        mx.cases += 1;
        if st != INFOCUS_OK && st != INFOCUS_ERR_IO {
            mx.failures.push(format!("load: byte {i} flipped gave status {st}"));
        }
    }

    // ---- infocus_model_save, _config, _device, _free on bad handles
    let target = dir.path().join("saved.safetensors");
    let tc = CString::new(target.to_str().unwrap()).unwrap();
    mx.check("save: model NULL", unsafe { infocus_model_save(ptr::null(), tc.as_ptr()) }, INFOCUS_ERR_NULL);
    mx.check("save: path NULL", unsafe { infocus_model_save(model, ptr::null()) }, INFOCUS_ERR_NULL);
    mx.check("save: freed model", unsafe { infocus_model_save(freed, tc.as_ptr()) }, INFOCUS_ERR_INVALID);
    mx.check("save: made-up model", unsafe { infocus_model_save(made_up, tc.as_ptr()) }, INFOCUS_ERR_INVALID);
    mx.check("save: path not UTF-8", unsafe { infocus_model_save(model, bad_utf8.as_ptr()) }, INFOCUS_ERR_INVALID);
    let nodir = CString::new(dir.path().join("no/such/dir/m.safetensors").to_str().unwrap()).unwrap();
    mx.check("save: missing directory", unsafe { infocus_model_save(model, nodir.as_ptr()) }, INFOCUS_ERR_IO);
    let isdir = CString::new(dir.path().to_str().unwrap()).unwrap();
    mx.check("save: onto a directory", unsafe { infocus_model_save(model, isdir.as_ptr()) }, INFOCUS_ERR_IO);
    assert!(!target.exists(), "a failed save left a file");
    let mut cfg = InfocusUnetConfig { depth: 77, base_channels: 77, norm: 77, context: 77, profile: 77, guide: 77 };
    mx.check("config: model NULL", unsafe { infocus_model_config(ptr::null(), &mut cfg) }, INFOCUS_ERR_NULL);
    mx.check("config: out NULL", unsafe { infocus_model_config(model, ptr::null_mut()) }, INFOCUS_ERR_NULL);
    mx.check("config: freed model", unsafe { infocus_model_config(freed, &mut cfg) }, INFOCUS_ERR_INVALID);
    mx.check("config: made-up model", unsafe { infocus_model_config(made_up, &mut cfg) }, INFOCUS_ERR_INVALID);
    assert_eq!(
        (cfg.depth, cfg.base_channels, cfg.norm, cfg.context, cfg.profile, cfg.guide),
        (77, 77, 77, 77, 77, 77),
        "config written on failure"
    );
    for (what, m) in [("NULL", ptr::null()), ("freed", freed.cast_const()), ("made-up", made_up.cast_const())] {
        mx.cases += 1;
        let s = unsafe { CStr::from_ptr(infocus_model_device(m)) };
        if !s.to_bytes().is_empty() {
            mx.failures.push(format!("device of a {what} model is {s:?}, not \"\""));
        }
    }
    // Double free and freeing a made-up pointer: ignored, no crash.
    unsafe {
        infocus_model_free(freed);
        infocus_model_free(made_up);
        infocus_model_free(ptr::null_mut());
    }
    mx.cases += 3;
    assert!(not_a_model.iter().all(|&v| v == 0), "a made-up handle was written");

    // ---- infocus_unet_train
    let mut tp = infocus_train_params_default();
    tp.epochs = 1;
    tp.patch = 16;
    tp.batch = 2;
    let stacks = [d.u16s.as_ptr().cast::<c_void>()];
    let fstacks = [d.f32s.as_ptr().cast::<c_void>()];
    let null_stack = [ptr::null::<c_void>()];
    type Train<'a> = (&'a str, *mut InfocusModel, *const *const c_void, usize, i32, [usize; 3], InfocusTrainParams, bool);
    let mut nan = d.f32s.clone();
    nan[N / 2] = f32::NAN;
    let nan_stacks = [nan.as_ptr().cast::<c_void>()];
    let mut inf = d.f32s.clone();
    inf[3] = f32::INFINITY;
    let inf_stacks = [inf.as_ptr().cast::<c_void>()];
    let p = |f: &dyn Fn(&mut InfocusTrainParams)| {
        let mut q = tp;
        f(&mut q);
        q
    };
    let u16 = INFOCUS_PIXEL_U16;
    let dims = [Z, H, W];
    let train_cases: Vec<(Train, i32)> = vec![
        (("model NULL", ptr::null_mut(), stacks.as_ptr(), 1, u16, dims, tp, false), INFOCUS_ERR_NULL),
        (("freed model", freed, stacks.as_ptr(), 1, u16, dims, tp, false), INFOCUS_ERR_INVALID),
        (("made-up model", made_up, stacks.as_ptr(), 1, u16, dims, tp, false), INFOCUS_ERR_INVALID),
        (("stacks NULL", model, ptr::null(), 1, u16, dims, tp, false), INFOCUS_ERR_NULL),
        (("a stack NULL", model, null_stack.as_ptr(), 1, u16, dims, tp, false), INFOCUS_ERR_NULL),
        (("n_stacks 0", model, stacks.as_ptr(), 0, u16, dims, tp, false), INFOCUS_ERR_INVALID),
        (("pixel type 9", model, stacks.as_ptr(), 1, 9, dims, tp, false), INFOCUS_ERR_INVALID),
        (("pixel type -1", model, stacks.as_ptr(), 1, -1, dims, tp, false), INFOCUS_ERR_INVALID),
        (("z 0", model, stacks.as_ptr(), 1, u16, [0, H, W], tp, false), INFOCUS_ERR_INVALID),
        (("h 0", model, stacks.as_ptr(), 1, u16, [Z, 0, W], tp, false), INFOCUS_ERR_INVALID),
        (("w 0", model, stacks.as_ptr(), 1, u16, [Z, H, 0], tp, false), INFOCUS_ERR_INVALID),
        (("dims overflow", model, stacks.as_ptr(), 1, u16, [usize::MAX, 2, 2], tp, false), INFOCUS_ERR_INVALID),
        (("bytes overflow", model, stacks.as_ptr(), 1, u16, [usize::MAX / 2, 1, 1], tp, false), INFOCUS_ERR_INVALID),
        (("preset 42", model, stacks.as_ptr(), 1, u16, dims, p(&|q| q.preset = 42), false), INFOCUS_ERR_INVALID),
        (("epochs 0", model, stacks.as_ptr(), 1, u16, dims, p(&|q| q.epochs = 0), false), INFOCUS_ERR_INVALID),
        (("batch 0", model, stacks.as_ptr(), 1, u16, dims, p(&|q| q.batch = 0), false), INFOCUS_ERR_INVALID),
        (("patch 0", model, stacks.as_ptr(), 1, u16, dims, p(&|q| q.patch = 0), false), INFOCUS_ERR_INVALID),
        (("patch 18 (not a multiple of 4)", model, stacks.as_ptr(), 1, u16, dims, p(&|q| q.patch = 18), false), INFOCUS_ERR_INVALID),
        (("learning rate NaN", model, stacks.as_ptr(), 1, u16, dims, p(&|q| q.learning_rate = f64::NAN), false), INFOCUS_ERR_INVALID),
        (("learning rate 0", model, stacks.as_ptr(), 1, u16, dims, p(&|q| q.learning_rate = 0.0), false), INFOCUS_ERR_INVALID),
        (("learning rate 10", model, stacks.as_ptr(), 1, u16, dims, p(&|q| q.learning_rate = 10.0), false), INFOCUS_ERR_INVALID),
        (("val fraction 0.95", model, stacks.as_ptr(), 1, u16, dims, p(&|q| q.val_fraction = 0.95), false), INFOCUS_ERR_INVALID),
        (("val fraction -0.1", model, stacks.as_ptr(), 1, u16, dims, p(&|q| q.val_fraction = -0.1), false), INFOCUS_ERR_INVALID),
        (("loss weights all 0", model, stacks.as_ptr(), 1, u16, dims, p(&|q| { q.dice_weight = 0.0; q.focal_weight = 0.0; q.bce_weight = 0.0 }), false), INFOCUS_ERR_INVALID),
        (("dice weight -1", model, stacks.as_ptr(), 1, u16, dims, p(&|q| q.dice_weight = -1.0), false), INFOCUS_ERR_INVALID),
        (("focal weight Inf", model, stacks.as_ptr(), 1, u16, dims, p(&|q| q.focal_weight = f64::INFINITY), false), INFOCUS_ERR_INVALID),
        (("NaN in a float stack", model, nan_stacks.as_ptr(), 1, INFOCUS_PIXEL_F32, dims, tp, false), INFOCUS_ERR_INVALID),
        (("Inf in a float stack", model, inf_stacks.as_ptr(), 1, INFOCUS_PIXEL_F32, dims, tp, false), INFOCUS_ERR_INVALID),
        (("cancelled by the callback", model, stacks.as_ptr(), 1, u16, dims, tp, true), INFOCUS_ERR_CANCELLED),
        (("a float stack, all good", model, fstacks.as_ptr(), 1, INFOCUS_PIXEL_F32, dims, tp, true), INFOCUS_ERR_CANCELLED),
    ];
    for ((what, m, s, n, pt, [z, h, w], params, cancel), want) in train_cases {
        let cb: infocus_epoch_fn = if cancel { Some(cancel_epoch) } else { None };
        let st = unsafe { infocus_unet_train(m, s, n, pt, z, h, w, &params, cb, ptr::null_mut()) };
        mx.check(&format!("train: {what}"), st, want);
    }
    mx.check(
        "train: params NULL",
        unsafe { infocus_unet_train(model, stacks.as_ptr(), 1, u16, Z, H, W, ptr::null(), None, ptr::null_mut()) },
        INFOCUS_ERR_NULL,
    );
    assert_eq!(bytes_of(model, dir.path()), before, "a failed training changed the model");

    // ---- infocus_unet_finetune
    let mut fp = infocus_finetune_params_default();
    fp.epochs = 1;
    fp.patch = 16;
    fp.batch = 2;
    let masks = [d.mask.as_ptr()];
    let null_mask = [ptr::null::<u8>()];
    let empty = vec![0u8; N];
    let empty_masks = [empty.as_ptr()];
    let flags = [0u8, 1, 0];
    let no_flags = [0u8; Z];
    let ft = |what: &str,
              m: *mut InfocusModel,
              s: *const *const c_void,
              mk: *const *const u8,
              n: usize,
              dims: [usize; 3],
              ann: (*const u8, usize),
              params: *const InfocusTrainParams,
              cancel: bool| {
        let cb: infocus_epoch_fn = if cancel { Some(cancel_epoch) } else { None };
        let [z, h, w] = dims;
        let st = unsafe {
            infocus_unet_finetune(m, s, mk, n, u16, z, h, w, ann.0, ann.1, params, cb, ptr::null_mut())
        };
        (what.to_string(), st)
    };
    let fq = |f: &dyn Fn(&mut InfocusTrainParams)| {
        let mut q = fp;
        f(&mut q);
        q
    };
    let bad_epochs = fq(&|q| q.epochs = 0);
    let bad_patch = fq(&|q| q.patch = 6);
    let none = (ptr::null::<u8>(), 0usize);
    let finetune_cases = vec![
        (ft("model NULL", ptr::null_mut(), stacks.as_ptr(), masks.as_ptr(), 1, dims, none, &fp, false), INFOCUS_ERR_NULL),
        (ft("freed model", freed, stacks.as_ptr(), masks.as_ptr(), 1, dims, none, &fp, false), INFOCUS_ERR_INVALID),
        (ft("made-up model", made_up, stacks.as_ptr(), masks.as_ptr(), 1, dims, none, &fp, false), INFOCUS_ERR_INVALID),
        (ft("stacks NULL", model, ptr::null(), masks.as_ptr(), 1, dims, none, &fp, false), INFOCUS_ERR_NULL),
        (ft("masks NULL", model, stacks.as_ptr(), ptr::null(), 1, dims, none, &fp, false), INFOCUS_ERR_NULL),
        (ft("a mask NULL", model, stacks.as_ptr(), null_mask.as_ptr(), 1, dims, none, &fp, false), INFOCUS_ERR_NULL),
        (ft("a stack NULL", model, null_stack.as_ptr(), masks.as_ptr(), 1, dims, none, &fp, false), INFOCUS_ERR_NULL),
        (ft("n_stacks 0", model, stacks.as_ptr(), masks.as_ptr(), 0, dims, none, &fp, false), INFOCUS_ERR_INVALID),
        (ft("z 0", model, stacks.as_ptr(), masks.as_ptr(), 1, [0, H, W], none, &fp, false), INFOCUS_ERR_INVALID),
        (ft("dims overflow", model, stacks.as_ptr(), masks.as_ptr(), 1, [usize::MAX, 3, 3], none, &fp, false), INFOCUS_ERR_INVALID),
        (ft("annotated_len short", model, stacks.as_ptr(), masks.as_ptr(), 1, dims, (flags.as_ptr(), 2), &fp, false), INFOCUS_ERR_INVALID),
        (ft("annotated_len long", model, stacks.as_ptr(), masks.as_ptr(), 1, dims, (flags.as_ptr(), 4), &fp, false), INFOCUS_ERR_INVALID),
        (ft("no slice annotated", model, stacks.as_ptr(), masks.as_ptr(), 1, dims, (no_flags.as_ptr(), Z), &fp, false), INFOCUS_ERR_INVALID),
        (ft("every mask empty", model, stacks.as_ptr(), empty_masks.as_ptr(), 1, dims, none, &fp, false), INFOCUS_ERR_INVALID),
        (ft("params NULL", model, stacks.as_ptr(), masks.as_ptr(), 1, dims, none, ptr::null(), false), INFOCUS_ERR_NULL),
        (ft("epochs 0", model, stacks.as_ptr(), masks.as_ptr(), 1, dims, none, &bad_epochs, false), INFOCUS_ERR_INVALID),
        (ft("patch 6", model, stacks.as_ptr(), masks.as_ptr(), 1, dims, none, &bad_patch, false), INFOCUS_ERR_INVALID),
        (ft("cancelled by the callback", model, stacks.as_ptr(), masks.as_ptr(), 1, dims, (flags.as_ptr(), Z), &fp, true), INFOCUS_ERR_CANCELLED),
    ];
    for ((what, st), want) in finetune_cases {
        mx.check(&format!("finetune: {what}"), st, want);
    }
    assert_eq!(bytes_of(model, dir.path()), before, "a failed fine-tuning changed the model");

    // ---- infocus_unet_predict
    let pp = infocus_predict_params_default();
    let pq = |f: &dyn Fn(&mut InfocusPredictParams)| {
        let mut q = pp;
        f(&mut q);
        q
    };
    let mut mask_out = vec![7u8; N + 1];
    let mut prob_out = vec![-7f32; N + 1];
    let predict_cases: Vec<(&str, *const InfocusModel, *const c_void, i32, [usize; 3], Option<InfocusPredictParams>, bool, usize, usize, bool, i32)> = vec![
        ("model NULL", ptr::null(), stacks[0], u16, dims, Some(pp), true, N, N, false, INFOCUS_ERR_NULL),
        ("freed model", freed, stacks[0], u16, dims, Some(pp), true, N, N, false, INFOCUS_ERR_INVALID),
        ("made-up model", made_up, stacks[0], u16, dims, Some(pp), true, N, N, false, INFOCUS_ERR_INVALID),
        ("stack NULL", model, ptr::null(), u16, dims, Some(pp), true, N, N, false, INFOCUS_ERR_NULL),
        ("params NULL", model, stacks[0], u16, dims, None, true, N, N, false, INFOCUS_ERR_NULL),
        ("out_mask NULL", model, stacks[0], u16, dims, Some(pp), false, N, N, false, INFOCUS_ERR_NULL),
        ("mask_len short", model, stacks[0], u16, dims, Some(pp), true, N - 1, N, false, INFOCUS_ERR_INVALID),
        ("mask_len long", model, stacks[0], u16, dims, Some(pp), true, N + 1, N, false, INFOCUS_ERR_INVALID),
        ("prob_len short", model, stacks[0], u16, dims, Some(pp), true, N, N - 1, false, INFOCUS_ERR_INVALID),
        ("pixel type 3", model, stacks[0], 3, dims, Some(pp), true, N, N, false, INFOCUS_ERR_INVALID),
        ("z 0", model, stacks[0], u16, [0, H, W], Some(pp), true, 0, 0, false, INFOCUS_ERR_INVALID),
        ("dims overflow", model, stacks[0], u16, [usize::MAX, 2, 2], Some(pp), true, N, N, false, INFOCUS_ERR_INVALID),
        ("threshold 1.5", model, stacks[0], u16, dims, Some(pq(&|q| q.threshold = 1.5)), true, N, N, false, INFOCUS_ERR_INVALID),
        ("threshold NaN", model, stacks[0], u16, dims, Some(pq(&|q| q.threshold = f32::NAN)), true, N, N, false, INFOCUS_ERR_INVALID),
        ("threshold -0.1", model, stacks[0], u16, dims, Some(pq(&|q| q.threshold = -0.1)), true, N, N, false, INFOCUS_ERR_INVALID),
        ("tile 0", model, stacks[0], u16, dims, Some(pq(&|q| q.tile = 0)), true, N, N, false, INFOCUS_ERR_INVALID),
        ("tile 3 (below 2^depth)", model, stacks[0], u16, dims, Some(pq(&|q| q.tile = 3)), true, N, N, false, INFOCUS_ERR_INVALID),
        ("tile u32::MAX", model, stacks[0], u16, dims, Some(pq(&|q| q.tile = u32::MAX)), true, N, N, false, INFOCUS_ERR_INVALID),
        ("overlap = tile", model, stacks[0], u16, dims, Some(pq(&|q| { q.tile = 64; q.overlap = 64 })), true, N, N, false, INFOCUS_ERR_INVALID),
        ("batch 0", model, stacks[0], u16, dims, Some(pq(&|q| q.batch = 0)), true, N, N, false, INFOCUS_ERR_INVALID),
        ("flips 2", model, stacks[0], u16, dims, Some(pq(&|q| q.flips = 2)), true, N, N, false, INFOCUS_ERR_INVALID),
        ("flips -1", model, stacks[0], u16, dims, Some(pq(&|q| q.flips = -1)), true, N, N, false, INFOCUS_ERR_INVALID),
        ("NaN in a float stack", model, nan.as_ptr().cast(), INFOCUS_PIXEL_F32, dims, Some(pp), true, N, N, false, INFOCUS_ERR_INVALID),
        ("cancelled by the callback", model, stacks[0], u16, dims, Some(pp), true, N, N, true, INFOCUS_ERR_CANCELLED),
    ];
    for (what, m, s, pt, [z, h, w], params, has_mask, ml, pl, cancel, want) in predict_cases {
        let params_ptr = params.as_ref().map_or(ptr::null(), |p| p as *const _);
        let mp = if has_mask { mask_out.as_mut_ptr() } else { ptr::null_mut() };
        let cb: infocus_progress_fn = if cancel { Some(cancel_slice) } else { None };
        let st = unsafe {
            infocus_unet_predict(m, s, pt, z, h, w, params_ptr, mp, ml, prob_out.as_mut_ptr(), pl, cb, ptr::null_mut())
        };
        mx.check(&format!("predict: {what}"), st, want);
        if what.starts_with("flips") && !last_error().contains("flips must be 0 or 1") {
            mx.failures.push(format!("predict: {what}: the message does not say 0 or 1: {}", last_error()));
        }
        if mask_out.iter().any(|&v| v != 7) || prob_out.iter().any(|&v| v != -7.0) {
            mx.failures.push(format!("predict: {what}: an out buffer was written"));
            mask_out.fill(7);
            prob_out.fill(-7.0);
        }
    }
    // And the good call, for contrast: it writes exactly N of each.
    let st = unsafe {
        infocus_unet_predict(model, stacks[0], u16, Z, H, W, &pp, mask_out.as_mut_ptr(), N, prob_out.as_mut_ptr(), N, None, ptr::null_mut())
    };
    mx.check("predict: all good", st, INFOCUS_OK);
    assert_eq!((mask_out[N], prob_out[N]), (7, -7.0), "predict wrote past the end");
    assert!(mask_out[..N].iter().all(|&v| v == 0 || v == 255));

    unsafe { infocus_model_free(model) };
    println!("U-Net C ABI matrix: {} cases, {} failures", mx.cases, mx.failures.len());
    assert!(mx.failures.is_empty(), "{}", mx.failures.join("\n"));
}

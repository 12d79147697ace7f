//! Many threads using the U-Net's C entry points at once, each with models
//! of its own (a model is used by one thread at a time; different models
//! by any number): `infocus_model_new`, `infocus_unet_train` (with an epoch
//! callback; one thread cancels now and then, which must leave its model
//! unchanged), `infocus_unet_finetune`, `infocus_unet_predict`,
//! `infocus_model_save`/`_load`/`_config`/`_device`/`_free`. Every trained
//! model's file and every prediction must be bit-identical to the ones a
//! single thread computed beforehand, for callers inside rayon pools of 1
//! and 3 workers and in the global pool. libtorch computes on 1 thread per
//! call (`set_threads(1)`): trained bytes depend on libtorch's thread count.
//! `INFOCUS_CONCURRENCY_ROUNDS` sets the rounds per thread and pool (default 3).

#![cfg(feature = "torch")]

use infocus::ffi::*;
use std::ffi::{CStr, CString, c_void};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

const THREADS: usize = 8;

fn last_error() -> String {
    unsafe { CStr::from_ptr(infocus_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// A small stack of one pixel type whose sharp half moves with the slice,
/// and a hand mask marking it on slice 1.
struct Data {
    pt: i32,
    z: usize,
    h: usize,
    w: usize,
    stack: Vec<u64>,
    mask: Vec<u8>,
    seed: u64,
}

impl Data {
    fn new(i: usize) -> Data {
        let pt = [INFOCUS_PIXEL_U8, INFOCUS_PIXEL_U16, INFOCUS_PIXEL_F32][i % 3];
        let (z, h, w) = (3 + i % 2, 32, 32 + 4 * i);
        let n = z * h * w;
        let mut bytes = Vec::new();
        let mut mask = vec![0u8; n];
        for k in 0..n {
            let (s, y, x) = (k / (h * w), k / w % h, k % w);
            let sharp = (x < w / 2) == (s % 2 == 0);
            let v = if sharp { ((x * 7 + y * 13 + i) % 5) as f64 * 40.0 } else { 80.0 } + 20.0;
            if sharp && s == 1 {
                mask[k] = 255;
            }
            match pt {
                INFOCUS_PIXEL_U8 => bytes.push(v as u8),
                INFOCUS_PIXEL_U16 => bytes.extend_from_slice(&((v * 50.0) as u16).to_ne_bytes()),
                _ => bytes.extend_from_slice(&(v as f32 / 3.0).to_ne_bytes()),
            }
        }
        let mut stack = vec![0u64; bytes.len().div_ceil(8)];
        // SAFETY: stack holds at least bytes.len() bytes.
        unsafe {
            ptr::copy_nonoverlapping(bytes.as_ptr(), stack.as_mut_ptr().cast::<u8>(), bytes.len());
        }
        Data { pt, z, h, w, stack, mask, seed: i as u64 }
    }
}

/// What the calls on one data set give, as bytes.
#[derive(Clone, Debug, PartialEq)]
struct Outputs {
    trained: Vec<u8>,
    tuned: Vec<u8>,
    mask: Vec<u8>,
    prob: Vec<u8>,
    config: (u32, u32, i32, u32, i32),
    device: String,
}

struct Tally {
    calls: AtomicUsize,
    cancel: bool,
}

unsafe extern "C" fn on_epoch(e: u32, n: u32, loss: f64, iou: f64, ud: *mut c_void) -> i32 {
    // SAFETY: ud is the calling thread's Tally.
    let t = unsafe { &*ud.cast::<Tally>() };
    assert!(e >= 1 && e <= n && loss.is_finite() && (0.0..=1.0).contains(&iou));
    t.calls.fetch_add(1, Ordering::SeqCst);
    i32::from(t.cancel)
}

fn file_bytes(m: *const InfocusModel, path: &std::path::Path) -> Vec<u8> {
    let c = CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { infocus_model_save(m, c.as_ptr()) }, INFOCUS_OK, "{}", last_error());
    std::fs::read(path).unwrap()
}

/// Every U-Net entry point on `d`; files go under `dir`.
fn run_all(d: &Data, who: &str, cancel: bool, dir: &std::path::Path) -> Outputs {
    let ok = |s: i32, what: &str| assert_eq!(s, INFOCUS_OK, "{who}: {what}: {}", last_error());
    let (z, h, w) = (d.z, d.h, d.w);
    let n = z * h * w;
    let cfg = InfocusUnetConfig { depth: 2, base_channels: 2, norm: INFOCUS_NORM_BATCH, context: 1, profile: 1, guide: 1 };
    let cpu = CString::new("cpu").unwrap();
    let mut m: *mut InfocusModel = ptr::null_mut();
    ok(unsafe { infocus_model_new(&cfg, cpu.as_ptr(), d.seed, &mut m) }, "new");
    let stacks = [d.stack.as_ptr().cast::<c_void>()];
    let mut tp = infocus_train_params_default();
    (tp.epochs, tp.patch, tp.batch, tp.seed) = (2, 16, 2, d.seed);
    let train = |t: &Tally| unsafe {
        infocus_unet_train(m, stacks.as_ptr(), 1, d.pt, z, h, w, &tp, Some(on_epoch), (t as *const Tally).cast_mut().cast())
    };
    if cancel {
        let fresh = file_bytes(m, &dir.join("fresh.safetensors"));
        let t = Tally { calls: AtomicUsize::new(0), cancel: true };
        assert_eq!(train(&t), INFOCUS_ERR_CANCELLED, "{who}: training not cancelled");
        assert_eq!(file_bytes(m, &dir.join("fresh2.safetensors")), fresh, "{who}: a cancelled training changed the model");
    }
    let t = Tally { calls: AtomicUsize::new(0), cancel: false };
    ok(train(&t), "train");
    assert_eq!(t.calls.load(Ordering::SeqCst), 2, "{who}: epoch reports");
    let trained = file_bytes(m, &dir.join("trained.safetensors"));

    let mut fp = infocus_finetune_params_default();
    (fp.epochs, fp.patch, fp.batch, fp.seed) = (1, 16, 2, d.seed);
    let masks = [d.mask.as_ptr()];
    ok(
        unsafe {
            infocus_unet_finetune(m, stacks.as_ptr(), masks.as_ptr(), 1, d.pt, z, h, w, ptr::null(), 0, &fp, None, ptr::null_mut())
        },
        "finetune",
    );
    let path = dir.join("tuned.safetensors");
    let tuned = file_bytes(m, &path);
    unsafe { infocus_model_free(m) };

    let pc = CString::new(path.to_str().unwrap()).unwrap();
    let mut loaded: *mut InfocusModel = ptr::null_mut();
    ok(unsafe { infocus_model_load(pc.as_ptr(), ptr::null(), &mut loaded) }, "load");
    let mut c = InfocusUnetConfig { depth: 0, base_channels: 0, norm: -1, context: 0, profile: -1, guide: -1 };
    ok(unsafe { infocus_model_config(loaded, &mut c) }, "config");
    let device = unsafe { CStr::from_ptr(infocus_model_device(loaded)) }.to_string_lossy().into_owned();
    let pp = infocus_predict_params_default();
    let (mut mask, mut prob) = (vec![0u8; n], vec![0f32; n]);
    ok(
        unsafe {
            infocus_unet_predict(loaded, stacks[0], d.pt, z, h, w, &pp, mask.as_mut_ptr(), n, prob.as_mut_ptr(), n, None, ptr::null_mut())
        },
        "predict",
    );
    unsafe { infocus_model_free(loaded) };
    Outputs {
        trained,
        tuned,
        mask,
        prob: prob.iter().flat_map(|v| v.to_bits().to_le_bytes()).collect(),
        config: (c.depth, c.base_channels, c.norm, c.context, c.profile),
        device,
    }
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
}

#[test]
fn eight_threads_use_the_unet_entry_points() {
    infocus::unet::set_threads(1).unwrap();
    let rounds: usize = std::env::var("INFOCUS_CONCURRENCY_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let tmp = tempfile::tempdir().unwrap();
    let data: Arc<Vec<Data>> = Arc::new((0..THREADS).map(Data::new).collect());
    let want: Arc<Vec<Outputs>> = Arc::new(
        data.iter()
            .enumerate()
            .map(|(i, d)| {
                let dir = tmp.path().join(format!("ref{i}"));
                std::fs::create_dir(&dir).unwrap();
                pool(1).install(|| run_all(d, &format!("reference {i}"), false, &dir))
            })
            .collect(),
    );
    // The references differ from each other: the comparison can fail.
    assert!(want.windows(2).all(|p| p[0].trained != p[1].trained));
    let configs: [Option<usize>; 3] = [None, Some(1), Some(3)];
    let mut runs = 0;
    for cfg in configs {
        let shared = cfg.map(|k| Arc::new(pool(k)));
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (data, want, shared, barrier) = (data.clone(), want.clone(), shared.clone(), barrier.clone());
                let root = tmp.path().to_path_buf();
                std::thread::spawn(move || {
                    barrier.wait();
                    for r in 0..rounds {
                        let i = (t * 3 + r) % data.len();
                        let cancel = t == 5 && r % 2 == 0;
                        let who = format!("pool {cfg:?}, thread {t}, round {r}, data {i}");
                        let dir = root.join(format!("{cfg:?}-{t}-{r}"));
                        std::fs::create_dir(&dir).unwrap();
                        let got = match &shared {
                            Some(p) => p.install(|| run_all(&data[i], &who, cancel, &dir)),
                            None => run_all(&data[i], &who, cancel, &dir),
                        };
                        assert!(got == want[i], "{who}: outputs differ from the single-threaded run");
                    }
                    rounds
                })
            })
            .collect();
        for h in handles {
            runs += h.join().expect("a caller thread failed");
        }
    }
    println!(
        "U-Net concurrency: {runs} rounds of the 9 model entry points (8 threads x {rounds} rounds x 3 pools), all bit-identical to one thread"
    );
}

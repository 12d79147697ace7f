//! Many threads calling the C ABI at once, as an imaging program does.
//!
//! * `eight_threads_call_every_entry_point`: 8 threads call every exported
//!   function in a loop, each round on another of 8 data sets (u8, u16 and f32
//!   stacks of different sizes, both presets, several measures), with
//!   progress callbacks that count per thread and one thread cancelling now
//!   and then; every output must be bit-identical to the one computed
//!   beforehand by a single thread in a 1-thread pool. The whole run is
//!   repeated with the callers inside rayon pools of 1, 2, 3 and 8 threads
//!   and in the global pool. `INFOCUS_CONCURRENCY_ROUNDS` sets the rounds
//!   per thread and pool (default 10).
//! * `last_error_is_per_thread`: threads fail with messages of their own
//!   while the others fail differently or succeed in between; each thread
//!   sees only its own message, and a success clears only its own.

use infocus::ffi::*;
use std::ffi::{CStr, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

const THREADS: usize = 8;

fn last_error() -> String {
    unsafe { CStr::from_ptr(infocus_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// One data set: a stack and what every call on it needs.
struct Data {
    pt: i32,
    z: usize,
    h: usize,
    w: usize,
    /// The stack's bytes, in a u64 buffer so that any pixel type is aligned.
    stack: Vec<u64>,
    measure: i32,
    window: u32,
    strides: Vec<u32>,
    threshold: i32,
    preset: i32,
}

impl Data {
    fn new(i: usize) -> Data {
        let pt = [INFOCUS_PIXEL_U8, INFOCUS_PIXEL_U16, INFOCUS_PIXEL_F32][i % 3];
        let (z, h, w) = (3 + i % 3, 24 + 5 * i, 40 - 2 * i);
        let n = z * h * w;
        let px = [1, 2, 4][i % 3];
        let mut bytes = Vec::with_capacity(n * px);
        for k in 0..n {
            let (s, y, x) = (k / (h * w), k / w % h, k % w);
            // Texture whose sharpness changes with the slice and the side.
            let v = ((x * 7 + y * 13 + s * 29 + i) % 23) as f64
                * if (x < w / 2) == (s % 2 == 0) {
                    9.0
                } else {
                    1.0
                };
            match pt {
                INFOCUS_PIXEL_U8 => bytes.push(v as u8),
                INFOCUS_PIXEL_U16 => bytes.extend_from_slice(&((v * 100.0) as u16).to_le_bytes()),
                _ => bytes.extend_from_slice(&((v * 0.37) as f32).to_le_bytes()),
            }
        }
        let mut stack = vec![0u64; bytes.len().div_ceil(8)];
        // SAFETY: the buffer holds at least bytes.len() bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), stack.as_mut_ptr().cast(), bytes.len())
        };
        Data {
            pt,
            z,
            h,
            w,
            stack,
            measure: (i * 4 % 9) as i32,
            window: [5, 9, 64, 16][i % 4],
            strides: vec![2 + i as u32 % 3, 7],
            threshold: [
                INFOCUS_THRESHOLD_PRESET,
                INFOCUS_THRESHOLD_OTSU_SLICE,
                INFOCUS_THRESHOLD_FIXED,
                INFOCUS_THRESHOLD_OTSU_STACK,
            ][i % 4],
            preset: if i % 2 == 0 {
                INFOCUS_PRESET_DEFAULT
            } else {
                INFOCUS_PRESET_PAPER
            },
        }
    }

    fn n(&self) -> usize {
        self.z * self.h * self.w
    }

    fn px(&self) -> usize {
        [1, 2, 4][self.pt as usize]
    }
}

/// Everything the calls on one data set give, as bytes.
#[derive(Clone, Debug, PartialEq)]
struct Outputs {
    strings: Vec<String>,
    map: Vec<u8>,
    mask: Vec<u8>,
    seg_mask: Vec<u8>,
    seg_map: Vec<u8>,
    seg_depth: Vec<u8>,
    in_focus: Vec<u8>,
    depth: Vec<u8>,
    all_in_focus: Vec<u8>,
}

fn bytes_of<T: Copy>(v: &[T]) -> Vec<u8> {
    // SAFETY: plain-old-data values viewed as their bytes.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
        .to_vec()
}

/// Progress state of one call: counts reports, cancels at report `cancel_at`.
struct Tally {
    calls: AtomicUsize,
    cancel_at: usize,
}

unsafe extern "C" fn tally(done: u64, total: u64, user_data: *mut c_void) -> i32 {
    // SAFETY: user_data is the calling thread's Tally.
    let t = unsafe { &*user_data.cast::<Tally>() };
    assert!(done <= total);
    let k = t.calls.fetch_add(1, Ordering::SeqCst);
    i32::from(k >= t.cancel_at)
}

/// Calls every entry point on `d`; with `cancel`, the focus map and the
/// segmentation are cancelled by their callbacks and must leave their
/// outputs untouched. Panics (with the thread's name) on any failure.
fn run_all(d: &Data, who: &str, cancel: bool) -> Outputs {
    let (z, h, w) = (d.z, d.h, d.w);
    let (n, plane) = (d.n(), h * w);
    let stack = d.stack.as_ptr().cast::<c_void>();
    let ok = |s: i32, what: &str| assert_eq!(s, INFOCUS_OK, "{who}: {what}: {}", last_error());
    let tally_for = |cancel: bool| Tally {
        calls: AtomicUsize::new(0),
        cancel_at: if cancel { 1 } else { usize::MAX },
    };
    let strings = vec![
        unsafe { CStr::from_ptr(infocus_version()) }
            .to_string_lossy()
            .into_owned(),
        unsafe { CStr::from_ptr(infocus_status_name(INFOCUS_ERR_CANCELLED)) }
            .to_string_lossy()
            .into_owned(),
        format!(
            "{:?} {:?}",
            infocus_band_params_default(),
            infocus_segment_params_default().band
        ),
        format!("{}", infocus_map_params_default().window),
    ];

    let mut p = infocus_map_params_default();
    p.measure = d.measure;
    p.window = d.window;
    p.strides = d.strides.as_ptr();
    p.n_strides = d.strides.len();
    let mut map = vec![f32::NAN; n];
    let t = tally_for(cancel);
    let s = unsafe {
        infocus_focus_map(
            stack,
            d.pt,
            z,
            h,
            w,
            &p,
            map.as_mut_ptr(),
            n,
            Some(tally),
            (&t as *const Tally).cast_mut().cast(),
        )
    };
    if cancel {
        assert_eq!(s, INFOCUS_ERR_CANCELLED, "{who}: focus map not cancelled");
        assert!(
            map.iter().all(|v| v.is_nan()),
            "{who}: a cancelled map was written"
        );
        map = vec![0.0; n];
        ok(
            unsafe {
                infocus_focus_map(
                    stack,
                    d.pt,
                    z,
                    h,
                    w,
                    &p,
                    map.as_mut_ptr(),
                    n,
                    None,
                    std::ptr::null_mut(),
                )
            },
            "focus map",
        );
    } else {
        ok(s, "focus map");
        assert!(
            t.calls.load(Ordering::SeqCst) >= z,
            "{who}: fewer reports than slices"
        );
    }

    let mut mask = vec![0u8; n];
    ok(
        unsafe {
            infocus_threshold_mask(
                map.as_ptr(),
                z,
                h,
                w,
                d.threshold,
                2.5,
                mask.as_mut_ptr(),
                n,
            )
        },
        "threshold",
    );

    let mut sp = infocus_segment_params_default();
    sp.preset = d.preset;
    sp.map = p;
    let (mut seg_mask, mut seg_map, mut seg_depth) =
        (vec![7u8; n], vec![7f32; n], vec![7u16; plane]);
    let t = tally_for(cancel);
    let seg = |t: &Tally, cb: bool, m: &mut [u8], mp: &mut [f32], dp: &mut [u16]| unsafe {
        infocus_segment(
            stack,
            d.pt,
            z,
            h,
            w,
            &sp,
            m.as_mut_ptr(),
            n,
            mp.as_mut_ptr(),
            n,
            dp.as_mut_ptr(),
            plane,
            if cb { Some(tally) } else { None },
            (t as *const Tally).cast_mut().cast(),
        )
    };
    let s = seg(&t, true, &mut seg_mask, &mut seg_map, &mut seg_depth);
    if cancel {
        assert_eq!(s, INFOCUS_ERR_CANCELLED, "{who}: segment not cancelled");
        assert!(
            seg_mask.iter().all(|&v| v == 7)
                && seg_map.iter().all(|&v| v == 7.0)
                && seg_depth.iter().all(|&v| v == 7),
            "{who}: a cancelled segmentation was written"
        );
        ok(
            seg(&t, false, &mut seg_mask, &mut seg_map, &mut seg_depth),
            "segment",
        );
    } else {
        ok(s, "segment");
    }

    let mut in_focus = vec![0u8; n * d.px()];
    ok(
        unsafe {
            infocus_in_focus(
                stack,
                d.pt,
                z,
                h,
                w,
                seg_mask.as_ptr(),
                n,
                in_focus.as_mut_ptr().cast(),
                n,
            )
        },
        "in focus",
    );
    let mut depth = vec![0u16; plane];
    ok(
        unsafe { infocus_depth_map(map.as_ptr(), z, h, w, depth.as_mut_ptr(), plane) },
        "depth map",
    );
    let mut aif = vec![0u8; plane * d.px()];
    ok(
        unsafe {
            infocus_all_in_focus(
                stack,
                d.pt,
                z,
                h,
                w,
                depth.as_ptr(),
                plane,
                aif.as_mut_ptr().cast(),
                plane,
            )
        },
        "all in focus",
    );
    Outputs {
        strings,
        map: bytes_of(&map),
        mask,
        seg_mask,
        seg_map: bytes_of(&seg_map),
        seg_depth: bytes_of(&seg_depth),
        in_focus,
        depth: bytes_of(&depth),
        all_in_focus: aif,
    }
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

#[test]
fn eight_threads_call_every_entry_point() {
    let rounds: usize = std::env::var("INFOCUS_CONCURRENCY_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let data: Arc<Vec<Data>> = Arc::new((0..8).map(Data::new).collect());
    // The reference: one thread, one worker, one call at a time.
    let single = pool(1);
    let want: Arc<Vec<Outputs>> = Arc::new(
        data.iter()
            .enumerate()
            .map(|(i, d)| single.install(|| run_all(d, &format!("reference {i}"), false)))
            .collect(),
    );
    let mut runs = 0usize;
    let configs: [Option<usize>; 5] = [None, Some(1), Some(2), Some(3), Some(8)];
    for cfg in configs {
        let shared = cfg.map(|k| Arc::new(pool(k)));
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (data, want, shared, barrier) =
                    (data.clone(), want.clone(), shared.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let mut done = 0;
                    barrier.wait();
                    for r in 0..rounds {
                        let i = (t * 3 + r) % data.len();
                        // Thread 5 cancels every other round.
                        let cancel = t == 5 && r % 2 == 1;
                        let who = format!("pool {cfg:?}, thread {t}, round {r}, data {i}");
                        let got = match &shared {
                            Some(p) => p.install(|| run_all(&data[i], &who, cancel)),
                            None => run_all(&data[i], &who, cancel),
                        };
                        assert!(
                            got == want[i],
                            "{who}: outputs differ from the single-threaded run"
                        );
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        for h in handles {
            runs += h.join().expect("a caller thread failed");
        }
    }
    println!(
        "concurrency: {runs} rounds of all 12 entry points (8 threads x {rounds} rounds x 5 pools: global, 1, 2, 3, 8 workers), all bit-identical to one thread"
    );
    assert_eq!(runs, THREADS * rounds * configs.len());
}

#[test]
fn last_error_is_per_thread() {
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let stack = [1u8; 8];
                let mut out = [0u8; 8];
                let mine = 100 + t as i32;
                for round in 0..50 {
                    // Even threads fail with their own pixel type; odd ones
                    // succeed, then fail with their own length.
                    let s = if t % 2 == 0 {
                        unsafe {
                            infocus_in_focus(
                                stack.as_ptr().cast(),
                                mine,
                                2,
                                2,
                                2,
                                stack.as_ptr(),
                                8,
                                out.as_mut_ptr().cast(),
                                8,
                            )
                        }
                    } else {
                        let s = unsafe {
                            infocus_in_focus(
                                stack.as_ptr().cast(),
                                INFOCUS_PIXEL_U8,
                                2,
                                2,
                                2,
                                stack.as_ptr(),
                                8,
                                out.as_mut_ptr().cast(),
                                8,
                            )
                        };
                        assert_eq!(s, INFOCUS_OK);
                        assert_eq!(last_error(), "", "thread {t}: success left an error");
                        barrier.wait();
                        // Everyone else has just called; still clear here.
                        assert_eq!(
                            last_error(),
                            "",
                            "thread {t}: another thread's error leaked in"
                        );
                        unsafe {
                            infocus_in_focus(
                                stack.as_ptr().cast(),
                                INFOCUS_PIXEL_U8,
                                2,
                                2,
                                2,
                                stack.as_ptr(),
                                8,
                                out.as_mut_ptr().cast(),
                                mine as usize,
                            )
                        }
                    };
                    assert_ne!(s, INFOCUS_OK);
                    if t % 2 == 0 {
                        barrier.wait();
                    }
                    barrier.wait();
                    let e = last_error();
                    let want = if t % 2 == 0 {
                        format!("unknown pixel type {mine}")
                    } else {
                        format!("out has {mine} elements")
                    };
                    assert!(
                        e.contains(&want),
                        "thread {t}, round {round}: '{e}' is not my error ({want})"
                    );
                    // The getters leave it alone.
                    let _ = infocus_version();
                    let _ = infocus_status_name(INFOCUS_ERR_NULL);
                    let _ = infocus_segment_params_default();
                    assert_eq!(last_error(), e);
                    barrier.wait();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a thread saw another's last error");
    }
}

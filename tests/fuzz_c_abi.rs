//! The C ABI's argument space, through the exported functions themselves.
//!
//! * `bad_input_matrix`: every entry point against every bad input that
//!   applies to it (NULL pointers, zero, overflowing and enormous dimensions,
//!   wrong lengths, misaligned buffers, unknown enums, bad parameters, NaN and
//!   Inf, out-of-range depths, too many slices, cancel), each with the exact
//!   status it must give; plus the cases that must succeed (windows larger
//!   than the image, empty optional outputs).
//! * `fuzz_c_abi`: random calls. Each argument is drawn from valid values
//!   (mostly) or from bad and extreme ones, and the generator records whether
//!   what it drew is valid. Memory is always what a correct caller would
//!   pass: real buffers for small dimensions; for dimensions too large for
//!   memory, pointers to an inaccessible (PROT_NONE) page, so that a call
//!   that read or wrote before refusing would crash the test.
//!
//! Properties of every call: no panic status; a status the header documents
//! for that function; INFOCUS_ERR_NULL when a required pointer is NULL; a
//! failure when any argument is bad and success (or a cancel the callback
//! asked for) when all are good; outputs untouched on failure; on success,
//! the core's results bit for bit; the last error set on failure and cleared
//! on success; the callback gets its own user_data and done <= total.
//!
//! `c_abi_error_table_is_up_to_date`: docs/c-abi-errors.md is generated from
//! the header's documentation (regenerate with `INFOCUS_BLESS=1 cargo test
//! --test fuzz_c_abi`), and every status the calls above observed is in it.

mod fuzz_util;

use fuzz_util::Rng;
use infocus::ffi::*;
use infocus::map::MapParams;
use infocus::measure::Measure;
use infocus::segment::{BandParams, Preset, SegmentParams};
use infocus::threshold::Threshold;
use infocus::{Progress, Stack};
use ndarray::{Array2, Array3};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CStr, c_void};
use std::path::Path;
use std::sync::{Mutex, OnceLock};

// ------------------------------------------------------------------- memory

/// A page no one may touch: reading or writing it crashes the process.
fn trap() -> *mut u8 {
    static TRAP: OnceLock<usize> = OnceLock::new();
    *TRAP.get_or_init(|| {
        // SAFETY: an anonymous mapping with no access, never unmapped.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                1 << 16,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED, "mmap of the trap page");
        p as usize
    }) as *mut u8
}

/// What a pointer argument points to.
#[derive(Clone, Debug)]
enum Mem {
    Null,
    /// `len` real bytes (8-aligned), starting `offset` bytes in (1: misaligned).
    Heap {
        buf: Vec<u64>,
        offset: usize,
        len: usize,
    },
    /// The trap page: for sizes no machine has.
    Trap,
}

impl Mem {
    fn bytes(data: &[u8], misaligned: bool) -> Mem {
        let offset = usize::from(misaligned);
        let mut buf = vec![0u64; (data.len() + offset).div_ceil(8) + 1];
        // SAFETY: buf has at least data.len() + offset bytes.
        unsafe {
            let p = buf.as_mut_ptr().cast::<u8>().add(offset);
            std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len());
        }
        Mem::Heap {
            buf,
            offset,
            len: data.len(),
        }
    }

    fn ptr(&mut self) -> *mut c_void {
        match self {
            Mem::Null => std::ptr::null_mut(),
            Mem::Heap { buf, offset, .. } => {
                // SAFETY: within the buffer.
                unsafe { buf.as_mut_ptr().cast::<u8>().add(*offset).cast() }
            }
            Mem::Trap => trap().cast(),
        }
    }

    /// The first `n` bytes (Heap only).
    fn read(&self, n: usize) -> Vec<u8> {
        match self {
            Mem::Heap { buf, offset, len } => {
                assert!(n <= *len, "reading {n} of {len} bytes");
                // SAFETY: the caller asks for bytes the buffer holds.
                unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>().add(*offset), n) }
                    .to_vec()
            }
            _ => Vec::new(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Mem::Heap { len, .. } => *len,
            _ => 0,
        }
    }
}

// -------------------------------------------------------------------- calls

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Func {
    FocusMap,
    ThresholdMask,
    Segment,
    InFocus,
    DepthMap,
    AllInFocus,
}

impl Func {
    const ALL: [Func; 6] = [
        Func::FocusMap,
        Func::ThresholdMask,
        Func::Segment,
        Func::InFocus,
        Func::DepthMap,
        Func::AllInFocus,
    ];

    fn name(self) -> &'static str {
        match self {
            Func::FocusMap => "infocus_focus_map",
            Func::ThresholdMask => "infocus_threshold_mask",
            Func::Segment => "infocus_segment",
            Func::InFocus => "infocus_in_focus",
            Func::DepthMap => "infocus_depth_map",
            Func::AllInFocus => "infocus_all_in_focus",
        }
    }

    fn takes_stack(self) -> bool {
        matches!(
            self,
            Func::FocusMap | Func::Segment | Func::InFocus | Func::AllInFocus
        )
    }
}

#[derive(Clone, Copy, Debug)]
enum Prog {
    None,
    Continue,
    /// Cancel on the callback's k-th call (0-based).
    CancelAt(u64),
}

/// One call, with the arguments as C passes them and what the generator
/// knows about them.
#[derive(Clone, Debug)]
struct Case {
    func: Func,
    pt: i32,
    z: usize,
    h: usize,
    w: usize,
    /// The stack (focus_map, segment, in_focus, all_in_focus).
    stack: Mem,
    /// The second input: threshold/depth map's map (z*h*w floats),
    /// in_focus's mask (`in2_len` bytes), all_in_focus's depth (`in2_len`).
    in2: Mem,
    in2_len: usize,
    out: Mem,
    out_len: usize,
    /// segment's optional map and depth outputs.
    out_map: Mem,
    map_len: usize,
    out_depth: Mem,
    depth_len: usize,
    params_null: bool,
    preset: i32,
    measure: i32,
    window: u32,
    strides: Mem,
    n_strides: usize,
    threshold: i32,
    value: f32,
    band: (f64, f64, u32, u32),
    progress: Prog,
    /// Why the call must fail (empty: it must succeed).
    bad: Vec<String>,
    /// A required pointer is NULL: the status must be INFOCUS_ERR_NULL.
    null: bool,
    /// A pointer inside a struct is NULL: INFOCUS_ERR_NULL, unless another
    /// bad input is found first.
    null_nested: bool,
    /// Float values so large that focus scores may overflow: the call may
    /// refuse the stack, saying so.
    may_overflow: bool,
    /// The result is meaningful to compare with the core (small, real buffers).
    small: bool,
}

fn px_bytes(pt: i32) -> usize {
    match pt {
        INFOCUS_PIXEL_U16 => 2,
        INFOCUS_PIXEL_F32 => 4,
        _ => 1,
    }
}

/// Per-call callback state; the callback checks it got this very struct.
struct CallbackState {
    me: *const CallbackState,
    calls: u64,
    cancel_at: Option<u64>,
    cancelled: bool,
    bad_args: u64,
}

unsafe extern "C" fn callback(done: u64, total: u64, user_data: *mut c_void) -> i32 {
    // SAFETY: user_data is the CallbackState of the running call; calls are
    // serialised by the library.
    let st = unsafe { &mut *user_data.cast::<CallbackState>() };
    if !std::ptr::eq(st.me, st) || done > total || total == 0 {
        st.bad_args += 1;
    }
    let k = st.calls;
    st.calls += 1;
    if st.cancel_at.is_some_and(|c| k >= c) {
        st.cancelled = true;
        1
    } else {
        0
    }
}

fn last_error() -> String {
    unsafe { CStr::from_ptr(infocus_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// What a call did.
struct Result3 {
    status: i32,
    callback: (u64, bool, u64),
}

fn call(c: &mut Case) -> Result3 {
    let strides_ptr = c.strides.ptr().cast::<u32>().cast_const();
    let params_map = InfocusMapParams {
        measure: c.measure,
        window: c.window,
        strides: strides_ptr,
        n_strides: c.n_strides,
    };
    let mut seg = infocus_segment_params_default();
    seg.preset = c.preset;
    seg.map = params_map;
    seg.threshold = c.threshold;
    seg.threshold_value = c.value;
    seg.band = InfocusBandParams {
        dof: c.band.0,
        min_contrast: c.band.1,
        radius: c.band.2,
        smoothing: c.band.3,
    };
    let mut st = Box::new(CallbackState {
        me: std::ptr::null(),
        calls: 0,
        cancel_at: match c.progress {
            Prog::CancelAt(k) => Some(k),
            _ => None,
        },
        cancelled: false,
        bad_args: 0,
    });
    st.me = &*st;
    let (cb, ud): (infocus_progress_fn, *mut c_void) = match c.progress {
        Prog::None => (None, std::ptr::null_mut()),
        _ => (Some(callback), (&mut *st as *mut CallbackState).cast()),
    };
    let (z, h, w) = (c.z, c.h, c.w);
    let stack = c.stack.ptr().cast_const();
    let in2 = c.in2.ptr();
    let out = c.out.ptr();
    // SAFETY: the generator keeps every pointer as valid as the lengths and
    // dimensions say, or pointing to the trap page where no correct
    // implementation may look.
    let status = unsafe {
        match c.func {
            Func::FocusMap => infocus_focus_map(
                stack,
                c.pt,
                z,
                h,
                w,
                if c.params_null {
                    std::ptr::null()
                } else {
                    &params_map
                },
                out.cast(),
                c.out_len,
                cb,
                ud,
            ),
            Func::ThresholdMask => infocus_threshold_mask(
                in2.cast::<f32>().cast_const(),
                z,
                h,
                w,
                c.threshold,
                c.value,
                out.cast(),
                c.out_len,
            ),
            Func::Segment => infocus_segment(
                stack,
                c.pt,
                z,
                h,
                w,
                if c.params_null {
                    std::ptr::null()
                } else {
                    &seg
                },
                out.cast(),
                c.out_len,
                c.out_map.ptr().cast(),
                c.map_len,
                c.out_depth.ptr().cast(),
                c.depth_len,
                cb,
                ud,
            ),
            Func::InFocus => infocus_in_focus(
                stack,
                c.pt,
                z,
                h,
                w,
                in2.cast::<u8>().cast_const(),
                c.in2_len,
                out,
                c.out_len,
            ),
            Func::DepthMap => infocus_depth_map(
                in2.cast::<f32>().cast_const(),
                z,
                h,
                w,
                out.cast(),
                c.out_len,
            ),
            Func::AllInFocus => infocus_all_in_focus(
                stack,
                c.pt,
                z,
                h,
                w,
                in2.cast::<u16>().cast_const(),
                c.in2_len,
                out,
                c.out_len,
            ),
        }
    };
    Result3 {
        status,
        callback: (st.calls, st.cancelled, st.bad_args),
    }
}

// --------------------------------------------------------------- generation

const SENTINEL: u8 = 0xA5;

fn out_mem(len: usize, elem: usize, misaligned: bool) -> Mem {
    match len.checked_mul(elem) {
        Some(b) if b <= 1 << 22 => Mem::bytes(&vec![SENTINEL; b], misaligned),
        _ => Mem::Trap,
    }
}

/// Valid random pixels of a type, as bytes.
fn pixels(rng: &mut Rng, pt: i32, n: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(n * px_bytes(pt));
    let smooth = rng.chance(1, 3);
    for i in 0..n {
        let r = if smooth {
            (i % 17) as f64 / 17.0
        } else {
            rng.unit()
        };
        match pt {
            INFOCUS_PIXEL_U16 => b.extend_from_slice(&((r * 65535.0) as u16).to_le_bytes()),
            INFOCUS_PIXEL_F32 => b.extend_from_slice(&((r * 2000.0 - 500.0) as f32).to_le_bytes()),
            _ => b.push((r * 255.0) as u8),
        }
    }
    b
}

fn floats(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|_| ((rng.unit() * 100.0 - 20.0) as f32).to_le_bytes())
        .collect()
}

/// A valid call of `func` on small random data.
fn valid(func: Func, rng: &mut Rng) -> Case {
    let pt = *rng.pick(&[INFOCUS_PIXEL_U8, INFOCUS_PIXEL_U16, INFOCUS_PIXEL_F32]);
    let z = 1 + rng.usize(4);
    let hmax = if rng.chance(1, 4) { 40 } else { 12 };
    let h = 1 + rng.usize(hmax);
    let wmax = if rng.chance(1, 4) { 40 } else { 12 };
    let w = 1 + rng.usize(wmax);
    let winmax = if rng.chance(1, 3) { 200 } else { 16 };
    let n = z * h * w;
    let plane = h * w;
    let strides: Vec<u32> = (0..1 + rng.usize(3))
        .map(|_| 1 + rng.below(20) as u32)
        .collect();
    let stride_bytes: Vec<u8> = strides.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut c = Case {
        func,
        pt,
        z,
        h,
        w,
        stack: if func.takes_stack() {
            Mem::bytes(&pixels(rng, pt, n), false)
        } else {
            Mem::Null
        },
        in2: Mem::Null,
        in2_len: 0,
        out: Mem::Null,
        out_len: 0,
        out_map: Mem::Null,
        map_len: 0,
        out_depth: Mem::Null,
        depth_len: 0,
        params_null: false,
        preset: *rng.pick(&[INFOCUS_PRESET_PAPER, INFOCUS_PRESET_DEFAULT]),
        measure: rng.below(9) as i32,
        window: 1 + rng.below(winmax) as u32,
        strides: Mem::bytes(&stride_bytes, false),
        n_strides: strides.len(),
        threshold: rng.below(4) as i32,
        value: (rng.unit() * 50.0) as f32,
        band: (
            if rng.chance(1, 2) {
                0.0
            } else {
                0.5 + 4.0 * rng.unit()
            },
            rng.unit() * 3.0,
            1 + rng.below(8) as u32,
            rng.below(8) as u32,
        ),
        progress: *rng.pick(&[Prog::None, Prog::Continue]),
        bad: Vec::new(),
        null: false,
        null_nested: false,
        may_overflow: false,
        small: true,
    };
    match func {
        Func::FocusMap => {
            c.out_len = n;
            c.out = out_mem(n, 4, false);
        }
        Func::ThresholdMask => {
            c.in2 = Mem::bytes(&floats(rng, n), false);
            c.out_len = n;
            c.out = out_mem(n, 1, false);
        }
        Func::Segment => {
            c.out_len = n;
            c.out = out_mem(n, 1, false);
            if rng.chance(2, 3) {
                c.map_len = n;
                c.out_map = out_mem(n, 4, false);
            }
            if rng.chance(2, 3) {
                c.depth_len = plane;
                c.out_depth = out_mem(plane, 2, false);
            }
        }
        Func::InFocus => {
            let mask: Vec<u8> = (0..n).map(|_| rng.u64() as u8).collect();
            c.in2 = Mem::bytes(&mask, false);
            c.in2_len = n;
            c.out_len = n;
            c.out = out_mem(n, px_bytes(pt), false);
        }
        Func::DepthMap => {
            c.in2 = Mem::bytes(&floats(rng, n), false);
            c.out_len = plane;
            c.out = out_mem(plane, 2, false);
        }
        Func::AllInFocus => {
            let depth: Vec<u8> = (0..plane)
                .flat_map(|_| (rng.below(z as u64) as u16).to_le_bytes())
                .collect();
            c.in2 = Mem::bytes(&depth, false);
            c.in2_len = plane;
            c.out_len = plane;
            c.out = out_mem(plane, px_bytes(pt), false);
        }
    }
    c
}

/// The bad inputs that apply to a function, by name.
fn faults(func: Func) -> Vec<&'static str> {
    let mut f = vec![
        "null out",
        "z = 0",
        "h = 0",
        "w = 0",
        "z*h*w overflows",
        "h*w overflows",
        "dims too large for memory",
        "out_len - 1",
        "out_len + 1",
        "out_len 0",
        "out_len SIZE_MAX",
        "misaligned out",
    ];
    if func.takes_stack() {
        f.extend([
            "null stack",
            "pixel type -1",
            "pixel type 3",
            "pixel type INT32_MAX",
            "misaligned stack",
            "NaN in float stack",
            "+Inf in float stack",
            "-Inf in float stack",
        ]);
    }
    match func {
        Func::FocusMap | Func::Segment => f.extend([
            "null params",
            "measure -1",
            "measure 9",
            "measure INT32_MIN",
            "strides NULL with n_strides 2",
            "strides whose bytes overflow",
            "cancel at the first report",
        ]),
        _ => {}
    }
    match func {
        Func::FocusMap => f.extend([
            "window 0",
            "empty stride list",
            "empty stride list, NULL",
            "stride 0",
        ]),
        Func::Segment => f.extend([
            "paper: window 0",
            "paper: empty stride list",
            "paper: stride 0",
            "preset -1",
            "preset 2",
            "threshold -1",
            "threshold 4",
            "fixed threshold NaN",
            "fixed threshold Inf",
            "band dof NaN",
            "band min_contrast -1",
            "band min_contrast NaN",
            "band min_contrast Inf",
            "band radius 0",
            "band radius 65",
            "band smoothing 33",
            "band smoothing UINT32_MAX",
            "map_len - 1",
            "depth_len = z*h*w",
            "misaligned out_map",
            "more than 65536 slices",
        ]),
        Func::ThresholdMask => f.extend([
            "null map",
            "misaligned map",
            "NaN in map",
            "Inf in map",
            "threshold -1",
            "threshold 4",
            "threshold INT32_MIN",
            "fixed threshold NaN",
            "fixed threshold -Inf",
        ]),
        Func::InFocus => f.extend(["null mask", "mask_len - 1", "mask_len + 1"]),
        Func::DepthMap => f.extend([
            "null map",
            "misaligned map",
            "NaN in map",
            "Inf in map",
            "more than 65536 slices",
        ]),
        Func::AllInFocus => f.extend([
            "null depth",
            "depth_len - 1",
            "depth_len = z*h*w",
            "misaligned depth",
            "depth = z",
            "depth 65535",
        ]),
    }
    f
}

/// The cases that must succeed (defined behaviour at the edges).
fn goods(func: Func) -> Vec<&'static str> {
    let mut g = vec!["valid", "1 x 1 x 1"];
    if func.takes_stack() {
        g.push("float stack of extreme finite values");
    }
    match func {
        Func::FocusMap => g.extend([
            "window larger than the image",
            "stride larger than the image",
            "callback that never cancels",
        ]),
        Func::Segment => g.extend([
            "window larger than the image",
            "no optional outputs",
            "default preset ignores window 0",
            "default preset ignores an empty stride list",
            "threshold value NaN when not fixed",
            "65536 slices",
        ]),
        Func::DepthMap => g.push("65536 slices"),
        _ => {}
    }
    g
}

fn set_f32(mem: &mut Mem, i: usize, v: f32) {
    if let Mem::Heap { buf, offset, .. } = mem {
        let b = v.to_le_bytes();
        // SAFETY: index within the buffer the generator made.
        unsafe {
            let p = buf.as_mut_ptr().cast::<u8>().add(*offset + 4 * i);
            std::ptr::copy_nonoverlapping(b.as_ptr(), p, 4);
        }
    }
}

fn misalign(mem: &mut Mem) {
    if let Mem::Heap { .. } = mem {
        let data = mem.read(mem.len());
        *mem = Mem::bytes(&data, true);
    }
}

/// Gives `c` the named input; returns false if it does not apply.
fn apply(c: &mut Case, what: &str, rng: &mut Rng) -> bool {
    let n = c.z * c.h * c.w;
    let bad = |c: &mut Case| c.bad.push(what.to_string());
    let null = |c: &mut Case| {
        c.bad.push(what.to_string());
        c.null = true;
    };
    let huge = |c: &mut Case, z: usize, h: usize, w: usize| {
        (c.z, c.h, c.w) = (z, h, w);
        c.small = false;
        let n = z.wrapping_mul(h).wrapping_mul(w);
        let plane = h.wrapping_mul(w);
        for m in [
            &mut c.stack,
            &mut c.in2,
            &mut c.out,
            &mut c.out_map,
            &mut c.out_depth,
        ] {
            if !matches!(m, Mem::Null) {
                *m = Mem::Trap;
            }
        }
        // Lengths that match, so that only the size can refuse the call.
        match c.func {
            Func::FocusMap | Func::ThresholdMask | Func::Segment => c.out_len = n,
            Func::InFocus => {
                c.out_len = n;
                c.in2_len = n;
            }
            Func::DepthMap => c.out_len = plane,
            Func::AllInFocus => {
                c.out_len = plane;
                c.in2_len = plane;
            }
        }
        c.map_len = n;
        c.depth_len = plane;
    };
    let float_stack = c.pt == INFOCUS_PIXEL_F32 && c.func.takes_stack();
    match what {
        "valid" | "callback that never cancels" => {
            if what.starts_with("callback") {
                c.progress = Prog::Continue;
            }
        }
        "1 x 1 x 1" => {
            let mut d = valid(c.func, &mut Rng::new(rng.u64()));
            while d.z * d.h * d.w != 1 {
                d = valid(c.func, &mut Rng::new(rng.u64()));
            }
            *c = d;
        }
        "float stack of extreme finite values" => {
            c.may_overflow = true;
            c.pt = INFOCUS_PIXEL_F32;
            let vals = [f32::MAX, f32::MIN, f32::MIN_POSITIVE, -0.0, 1e-45, 3.0e38];
            let data: Vec<u8> = (0..n)
                .flat_map(|i| vals[i % vals.len()].to_le_bytes())
                .collect();
            c.stack = Mem::bytes(&data, false);
            let elem = 4;
            match c.func {
                Func::InFocus => c.out = out_mem(n, elem, false),
                Func::AllInFocus => c.out = out_mem(c.h * c.w, elem, false),
                _ => {}
            }
        }
        "window larger than the image" => {
            c.window = (c.h.max(c.w) + 1 + rng.usize(300)) as u32;
            c.preset = INFOCUS_PRESET_PAPER;
        }
        "stride larger than the image" => {
            let s = ((c.h.max(c.w) + 1 + rng.usize(100)) as u32).to_le_bytes();
            c.strides = Mem::bytes(&s, false);
            c.n_strides = 1;
        }
        "no optional outputs" => {
            c.out_map = Mem::Null;
            c.out_depth = Mem::Null;
            c.map_len = rng.u64() as usize;
            c.depth_len = rng.u64() as usize;
        }
        "default preset ignores window 0" => {
            c.preset = INFOCUS_PRESET_DEFAULT;
            c.window = 0;
        }
        "default preset ignores an empty stride list" => {
            c.preset = INFOCUS_PRESET_DEFAULT;
            c.n_strides = 0;
        }
        "threshold value NaN when not fixed" => {
            c.threshold = *rng.pick(&[0, 1, 2]);
            c.value = f32::NAN;
        }
        "65536 slices" | "more than 65536 slices" => {
            let z = if what.starts_with("more") {
                65537
            } else {
                65536
            };
            (c.z, c.h, c.w) = (z, 1, 1);
            if what.starts_with("more") {
                bad(c);
            }
            if c.func.takes_stack() {
                c.stack = Mem::bytes(&pixels(rng, c.pt, z), false);
            } else {
                c.in2 = Mem::bytes(&floats(rng, z), false);
            }
            c.out_len = if c.func == Func::DepthMap { 1 } else { z };
            c.out = if c.func == Func::DepthMap {
                out_mem(1, 2, false)
            } else {
                out_mem(z, 1, false)
            };
            c.out_map = Mem::Null;
            c.out_depth = Mem::Null;
            // Keep it quick: the paper map, std, one small window (entropy
            // costs about 0.2 ms per slice whatever its size).
            c.preset = INFOCUS_PRESET_PAPER;
            c.measure = INFOCUS_MEASURE_STD;
            c.window = 1;
            c.progress = Prog::None;
        }
        "null out" => {
            c.out = Mem::Null;
            null(c);
        }
        "null stack" => {
            c.stack = Mem::Null;
            null(c);
        }
        "null params" => {
            c.params_null = true;
            null(c);
        }
        "null map" | "null mask" | "null depth" => {
            c.in2 = Mem::Null;
            null(c);
        }
        "z = 0" => {
            c.z = 0;
            bad(c);
        }
        "h = 0" => {
            c.h = 0;
            bad(c);
        }
        "w = 0" => {
            c.w = 0;
            bad(c);
        }
        "z*h*w overflows" => {
            huge(c, usize::MAX / 2 + 1, 2, 1 + rng.usize(3));
            bad(c);
        }
        "h*w overflows" => {
            huge(c, 1, 1 << 33, 1 << 31);
            bad(c);
        }
        "dims too large for memory" => {
            // 2^46 elements: more than any machine's memory, no overflow.
            huge(c, 1 << 6, 1 << 20, 1 << 20);
            bad(c);
        }
        "out_len - 1" | "out_len + 1" | "out_len 0" | "out_len SIZE_MAX" => {
            c.out_len = match what {
                "out_len - 1" => c.out_len - 1,
                "out_len + 1" => c.out_len + 1,
                "out_len 0" => 0,
                _ => usize::MAX,
            };
            bad(c);
        }
        "misaligned out" => {
            if matches!(c.func, Func::ThresholdMask) || (c.func == Func::Segment) {
                return false; // u8 outputs have no alignment
            }
            if matches!(c.func, Func::InFocus | Func::AllInFocus) && c.pt == INFOCUS_PIXEL_U8 {
                c.pt = INFOCUS_PIXEL_U16;
                let (len, plane) = (n, c.h * c.w);
                c.stack = Mem::bytes(&pixels(rng, c.pt, n), false);
                c.out = out_mem(if c.func == Func::InFocus { len } else { plane }, 2, false);
            }
            misalign(&mut c.out);
            bad(c);
        }
        "misaligned out_map" => {
            if matches!(c.out_map, Mem::Null) {
                c.out_map = out_mem(n, 4, false);
                c.map_len = n;
            }
            misalign(&mut c.out_map);
            bad(c);
        }
        "misaligned stack" => {
            if c.pt == INFOCUS_PIXEL_U8 {
                c.pt = INFOCUS_PIXEL_F32;
                c.stack = Mem::bytes(&pixels(rng, c.pt, n), false);
                match c.func {
                    Func::InFocus => c.out = out_mem(n, 4, false),
                    Func::AllInFocus => c.out = out_mem(c.h * c.w, 4, false),
                    _ => {}
                }
            }
            misalign(&mut c.stack);
            bad(c);
        }
        "misaligned map" | "misaligned depth" => {
            misalign(&mut c.in2);
            bad(c);
        }
        "pixel type -1" | "pixel type 3" | "pixel type INT32_MAX" => {
            c.pt = match what {
                "pixel type -1" => -1,
                "pixel type 3" => 3,
                _ => i32::MAX,
            };
            bad(c);
        }
        "NaN in float stack" | "+Inf in float stack" | "-Inf in float stack" => {
            if !float_stack {
                c.pt = INFOCUS_PIXEL_F32;
                c.stack = Mem::bytes(&pixels(rng, c.pt, n), false);
                match c.func {
                    Func::InFocus => c.out = out_mem(n, 4, false),
                    Func::AllInFocus => c.out = out_mem(c.h * c.w, 4, false),
                    _ => {}
                }
            }
            let v = match what {
                "NaN in float stack" => f32::NAN,
                "+Inf in float stack" => f32::INFINITY,
                _ => f32::NEG_INFINITY,
            };
            set_f32(&mut c.stack, rng.usize(n), v);
            bad(c);
        }
        "NaN in map" | "Inf in map" => {
            let v = if what.starts_with("NaN") {
                f32::NAN
            } else {
                f32::INFINITY
            };
            set_f32(&mut c.in2, rng.usize(n), v);
            bad(c);
        }
        "measure -1" | "measure 9" | "measure INT32_MIN" => {
            c.measure = match what {
                "measure -1" => -1,
                "measure 9" => 9,
                _ => i32::MIN,
            };
            bad(c);
        }
        "strides NULL with n_strides 2" => {
            c.strides = Mem::Null;
            c.n_strides = 2;
            c.null_nested = true;
            bad(c);
        }
        "strides whose bytes overflow" => {
            c.strides = Mem::Trap;
            c.n_strides = usize::MAX / 2;
            bad(c);
        }
        "window 0" | "paper: window 0" => {
            c.window = 0;
            c.preset = INFOCUS_PRESET_PAPER;
            bad(c);
        }
        "empty stride list" | "paper: empty stride list" => {
            c.n_strides = 0;
            c.preset = INFOCUS_PRESET_PAPER;
            bad(c);
        }
        "empty stride list, NULL" => {
            c.n_strides = 0;
            c.strides = Mem::Null;
            bad(c);
        }
        "stride 0" | "paper: stride 0" => {
            c.strides = Mem::bytes(&[3, 0, 0, 0, 0, 0, 0, 0], false);
            c.n_strides = 2;
            c.preset = INFOCUS_PRESET_PAPER;
            bad(c);
        }
        "preset -1" | "preset 2" => {
            c.preset = if what.ends_with("-1") { -1 } else { 2 };
            bad(c);
        }
        "threshold -1" | "threshold 4" | "threshold INT32_MIN" => {
            c.threshold = match what {
                "threshold -1" => -1,
                "threshold 4" => 4,
                _ => i32::MIN,
            };
            bad(c);
        }
        "fixed threshold NaN" | "fixed threshold Inf" | "fixed threshold -Inf" => {
            c.threshold = INFOCUS_THRESHOLD_FIXED;
            c.value = match what {
                "fixed threshold NaN" => f32::NAN,
                "fixed threshold Inf" => f32::INFINITY,
                _ => f32::NEG_INFINITY,
            };
            bad(c);
        }
        "band dof NaN" => {
            c.band.0 = f64::NAN;
            bad(c);
        }
        "band min_contrast -1" | "band min_contrast NaN" | "band min_contrast Inf" => {
            c.band.1 = match what {
                "band min_contrast -1" => -1.0,
                "band min_contrast NaN" => f64::NAN,
                _ => f64::INFINITY,
            };
            bad(c);
        }
        "band radius 0" | "band radius 65" => {
            c.band.2 = if what.ends_with(" 0") { 0 } else { 65 };
            bad(c);
        }
        "band smoothing 33" | "band smoothing UINT32_MAX" => {
            c.band.3 = if what.ends_with("33") { 33 } else { u32::MAX };
            bad(c);
        }
        "map_len - 1" => {
            c.out_map = out_mem(n, 4, false);
            c.map_len = n - 1;
            bad(c);
        }
        "depth_len = z*h*w" => {
            if c.z == 1 {
                return false;
            }
            if c.func == Func::Segment {
                c.out_depth = out_mem(n, 2, false);
                c.depth_len = n;
            } else {
                let depth: Vec<u8> = vec![0; 2 * n];
                c.in2 = Mem::bytes(&depth, false);
                c.in2_len = n;
            }
            bad(c);
        }
        "mask_len - 1" | "mask_len + 1" | "depth_len - 1" => {
            c.in2_len = if what.ends_with("+ 1") {
                c.in2_len + 1
            } else {
                c.in2_len - 1
            };
            bad(c);
        }
        "depth = z" | "depth 65535" => {
            let v = if what == "depth = z" {
                c.z as u16
            } else {
                u16::MAX
            };
            if let Mem::Heap { buf, offset, .. } = &mut c.in2 {
                let i = rng.usize(c.h * c.w);
                // SAFETY: within the depth buffer.
                unsafe {
                    let p = buf.as_mut_ptr().cast::<u8>().add(*offset + 2 * i);
                    std::ptr::copy_nonoverlapping(v.to_le_bytes().as_ptr(), p, 2);
                }
            }
            bad(c);
        }
        "cancel at the first report" => {
            c.progress = Prog::CancelAt(0);
        }
        other => panic!("unknown case {other}"),
    }
    true
}

// ------------------------------------------------------------------- oracle

/// The core's results for a valid call, as the bytes the C buffers get.
fn core_result(c: &Case) -> Result<Vec<Vec<u8>>, String> {
    let (z, h, w) = (c.z, c.h, c.w);
    let n = z * h * w;
    let stack_bytes = c.stack.read(n * px_bytes(c.pt));
    let stack: Option<Stack> = c.func.takes_stack().then(|| match c.pt {
        INFOCUS_PIXEL_U16 => Stack::U16(Array3::from_shape_fn((z, h, w), |(k, y, x)| {
            let i = 2 * ((k * h + y) * w + x);
            u16::from_le_bytes([stack_bytes[i], stack_bytes[i + 1]])
        })),
        INFOCUS_PIXEL_F32 => Stack::F32(Array3::from_shape_fn((z, h, w), |(k, y, x)| {
            let i = 4 * ((k * h + y) * w + x);
            f32::from_le_bytes(stack_bytes[i..i + 4].try_into().unwrap())
        })),
        _ => Stack::U8(Array3::from_shape_vec((z, h, w), stack_bytes.clone()).unwrap()),
    });
    let f32s = |m: &Mem, len: usize| -> Vec<f32> {
        m.read(4 * len)
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    let le_f32 = |a: &Array3<f32>| -> Vec<u8> { a.iter().flat_map(|v| v.to_le_bytes()).collect() };
    let le_u16 = |a: &Array2<u16>| -> Vec<u8> { a.iter().flat_map(|v| v.to_le_bytes()).collect() };
    let stack_le = |s: &Stack| -> Vec<u8> {
        match s {
            Stack::U8(a) => a.iter().copied().collect(),
            Stack::U16(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Stack::F32(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    };
    let strides: Vec<usize> = c
        .strides
        .read(4 * c.n_strides)
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize)
        .collect();
    let map_params = || MapParams {
        measure: Measure::ALL[c.measure as usize],
        window: c.window as usize,
        strides: strides.clone(),
    };
    let e = |e: infocus::Error| e.to_string();
    let none = Progress::none();
    Ok(match c.func {
        Func::FocusMap => {
            let m =
                infocus::map::focus_map(stack.unwrap().view(), &map_params(), &none).map_err(e)?;
            vec![le_f32(&m)]
        }
        Func::ThresholdMask => {
            let map = Array3::from_shape_vec((z, h, w), f32s(&c.in2, n)).unwrap();
            let t = match c.threshold {
                INFOCUS_THRESHOLD_OTSU_SLICE => Threshold::OtsuSlice,
                INFOCUS_THRESHOLD_FIXED => Threshold::Fixed(c.value),
                _ => Threshold::OtsuStack,
            };
            let m = infocus::threshold::threshold_mask(map.view(), t).map_err(e)?;
            vec![m.iter().copied().collect()]
        }
        Func::Segment => {
            let p = SegmentParams {
                preset: if c.preset == INFOCUS_PRESET_PAPER {
                    Preset::Paper
                } else {
                    Preset::Default
                },
                map: if c.preset == INFOCUS_PRESET_PAPER {
                    map_params()
                } else {
                    MapParams::paper()
                },
                threshold: match c.threshold {
                    INFOCUS_THRESHOLD_OTSU_STACK => Some(Threshold::OtsuStack),
                    INFOCUS_THRESHOLD_OTSU_SLICE => Some(Threshold::OtsuSlice),
                    INFOCUS_THRESHOLD_FIXED => Some(Threshold::Fixed(c.value)),
                    _ => None,
                },
                band: BandParams {
                    dof: (c.band.0 > 0.0).then_some(c.band.0),
                    min_contrast: c.band.1,
                    radius: c.band.2 as usize,
                    smoothing: c.band.3 as usize,
                },
            };
            let s = infocus::segment::segment(stack.unwrap().view(), &p, &none).map_err(e)?;
            vec![
                s.mask.iter().copied().collect(),
                le_f32(&s.map),
                le_u16(&s.depth),
            ]
        }
        Func::InFocus => {
            let mask = Array3::from_shape_vec((z, h, w), c.in2.read(n)).unwrap();
            let r = infocus::products::in_focus(stack.unwrap().view(), mask.view()).map_err(e)?;
            vec![stack_le(&r)]
        }
        Func::DepthMap => {
            let map = Array3::from_shape_vec((z, h, w), f32s(&c.in2, n)).unwrap();
            vec![le_u16(
                &infocus::products::depth_map(map.view()).map_err(e)?,
            )]
        }
        Func::AllInFocus => {
            let d: Vec<u16> = c
                .in2
                .read(2 * h * w)
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .collect();
            let depth = Array2::from_shape_vec((h, w), d).unwrap();
            let r = infocus::products::all_in_focus(stack.unwrap().view(), &depth).map_err(e)?;
            vec![stack_le(&r)]
        }
    })
}

fn untouched(m: &Mem) -> bool {
    match m {
        Mem::Heap { .. } => m.read(m.len()).iter().all(|&b| b == SENTINEL),
        _ => true,
    }
}

/// Statuses each function was seen to return.
static SEEN: Mutex<BTreeMap<&'static str, BTreeSet<i32>>> = Mutex::new(BTreeMap::new());

/// Runs `c` and checks every property; returns the status.
fn run_and_check(c: &mut Case) -> Result<i32, String> {
    let documented = documented_statuses(c.func.name());
    let r = call(c);
    let s = r.status;
    let name = |s: i32| {
        unsafe { CStr::from_ptr(infocus_status_name(s)) }
            .to_string_lossy()
            .into_owned()
    };
    SEEN.lock()
        .unwrap()
        .entry(c.func.name())
        .or_default()
        .insert(s);
    let msg = last_error();
    let (calls, cancelled, bad_args) = r.callback;
    let why = || format!("{} {} (last error: {msg:?})", c.func.name(), name(s));
    if s == INFOCUS_ERR_PANIC {
        return Err(format!("panicked: {}", why()));
    }
    if !documented.contains(&s) {
        return Err(format!("undocumented status: {}", why()));
    }
    if bad_args > 0 {
        return Err(format!("the callback got wrong arguments {bad_args} times"));
    }
    if s == INFOCUS_OK {
        if !msg.is_empty() {
            return Err(format!("success left a last error: {}", why()));
        }
    } else if msg.is_empty() {
        return Err(format!("failure without a message: {}", why()));
    }
    if c.null && s != INFOCUS_ERR_NULL {
        return Err(format!("a NULL required pointer gave {}", why()));
    }
    if c.may_overflow && s == INFOCUS_ERR_INVALID && c.bad.is_empty() {
        if !msg.contains("overflow 32-bit floats") {
            return Err(format!(
                "huge float values refused without saying why: {}",
                why()
            ));
        }
    } else if !c.bad.is_empty() {
        if s == INFOCUS_OK || s == INFOCUS_ERR_CANCELLED && !cancelled {
            return Err(format!("bad input {:?} accepted: {}", c.bad, why()));
        }
        if s == INFOCUS_ERR_NULL && !c.null && !c.bad.iter().any(|b| b.contains("NULL")) {
            return Err(format!("NULL status without a NULL pointer: {}", why()));
        }
    } else {
        let want = if cancelled {
            INFOCUS_ERR_CANCELLED
        } else {
            INFOCUS_OK
        };
        if s != want {
            return Err(format!(
                "valid input, want {} (callback called {calls} times): {}",
                name(want),
                why()
            ));
        }
    }
    let outs = [&c.out, &c.out_map, &c.out_depth];
    if s != INFOCUS_OK {
        if !outs.iter().all(|m| untouched(m)) {
            return Err(format!("a failed call wrote an output: {}", why()));
        }
        return Ok(s);
    }
    if !c.small {
        return Err(format!("a call on no real memory succeeded: {}", why()));
    }
    let want = core_result(c).map_err(|e| format!("the core refuses what the door took: {e}"))?;
    let got: Vec<(&Mem, usize)> = match c.func {
        Func::Segment => vec![
            (&c.out, c.out_len),
            (&c.out_map, 4 * c.map_len),
            (&c.out_depth, 2 * c.depth_len),
        ],
        Func::FocusMap => vec![(&c.out, 4 * c.out_len)],
        Func::DepthMap => vec![(&c.out, 2 * c.out_len)],
        Func::InFocus | Func::AllInFocus => vec![(&c.out, px_bytes(c.pt) * c.out_len)],
        Func::ThresholdMask => vec![(&c.out, c.out_len)],
    };
    for (i, ((m, len), w)) in got.into_iter().zip(&want).enumerate() {
        if matches!(m, Mem::Null) {
            continue;
        }
        if m.read(len) != *w {
            return Err(format!("output {i} differs from the core's: {}", why()));
        }
    }
    Ok(s)
}

// -------------------------------------------------------------------- tests

#[test]
fn bad_input_matrix() {
    let mut problems = Vec::new();
    let mut tried = 0;
    let mut per_func = BTreeMap::new();
    for func in Func::ALL {
        let mut cases: Vec<(&str, bool)> = goods(func).into_iter().map(|g| (g, true)).collect();
        cases.extend(faults(func).into_iter().map(|f| (f, false)));
        for (k, (what, good)) in cases.into_iter().enumerate() {
            // Each input on three different valid calls.
            for rep in 0..3u64 {
                let mut rng =
                    Rng::new(0xC0FF_EE00 + k as u64 * 7 + rep * 1000 + func as u64 * 100_000);
                let mut c = valid(func, &mut rng);
                if !apply(&mut c, what, &mut rng) {
                    continue;
                }
                tried += 1;
                *per_func.entry(func.name()).or_insert(0) += 1;
                match run_and_check(&mut c) {
                    Err(p) => problems.push(format!("{}: {what}: {p}", func.name())),
                    Ok(s) => {
                        let cancel = matches!(c.progress, Prog::CancelAt(_));
                        let want = if c.null || c.null_nested {
                            INFOCUS_ERR_NULL
                        } else if c.may_overflow && s == INFOCUS_ERR_INVALID {
                            s
                        } else if good {
                            INFOCUS_OK
                        } else if cancel && c.bad.is_empty() {
                            INFOCUS_ERR_CANCELLED
                        } else {
                            INFOCUS_ERR_INVALID
                        };
                        if s != want {
                            problems.push(format!(
                                "{}: {what}: status {s}, want {want} ({})",
                                func.name(),
                                last_error()
                            ));
                        }
                    }
                }
            }
        }
    }
    // The getters: every status number has a name, never NULL.
    let mut rng = Rng::new(7);
    for i in 0..2000 {
        let s = if i < 40 { i - 20 } else { rng.u64() as i32 };
        let p = infocus_status_name(s);
        tried += 1;
        if p.is_null() {
            problems.push(format!("infocus_status_name({s}) is NULL"));
        }
    }
    println!(
        "C ABI matrix: {tried} calls ({} bad-input and edge cases x 3 valid calls each, plus 2000 status names): {per_func:?}",
        per_func.values().sum::<usize>() / 3
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// What an input changes, so that a random call never applies two inputs
/// that undo each other.
fn slots(what: &str) -> &'static [&'static str] {
    match what {
        "1 x 1 x 1" | "65536 slices" | "more than 65536 slices" => &["resize"],
        "z = 0"
        | "h = 0"
        | "w = 0"
        | "z*h*w overflows"
        | "h*w overflows"
        | "dims too large for memory" => &["dims"],
        "float stack of extreme finite values"
        | "null stack"
        | "misaligned stack"
        | "NaN in float stack"
        | "+Inf in float stack"
        | "-Inf in float stack"
        | "pixel type -1"
        | "pixel type 3"
        | "pixel type INT32_MAX" => &["stack", "out"],
        "null out" | "out_len - 1" | "out_len + 1" | "out_len 0" | "out_len SIZE_MAX"
        | "misaligned out" => &["out", "stack"],
        "null map" | "null mask" | "null depth" | "misaligned map" | "misaligned depth"
        | "NaN in map" | "Inf in map" | "mask_len - 1" | "mask_len + 1" | "depth_len - 1"
        | "depth = z" | "depth 65535" => &["in2"],
        "depth_len = z*h*w" => &["in2", "out_depth"],
        "map_len - 1" | "misaligned out_map" => &["out_map"],
        "no optional outputs" => &["out_map", "out_depth"],
        "null params" => &["params"],
        "measure -1" | "measure 9" | "measure INT32_MIN" => &["measure"],
        "preset -1" | "preset 2" => &["preset"],
        "threshold -1"
        | "threshold 4"
        | "threshold INT32_MIN"
        | "fixed threshold NaN"
        | "fixed threshold Inf"
        | "fixed threshold -Inf"
        | "threshold value NaN when not fixed" => &["threshold"],
        w if w.starts_with("band") => &["band"],
        "cancel at the first report" | "callback that never cancels" => &["progress"],
        "valid" => &[],
        // Window, strides and the preset that reads them.
        _ => &["map", "preset"],
    }
}

/// A random call: a valid one with 0 to 3 inputs swapped for bad or edge
/// ones, each changing something the others leave alone. Resizing inputs go
/// first and dimension faults last (they make the buffers meaningless).
fn random_case(rng: &mut Rng) -> (Case, Vec<&'static str>) {
    let func = *rng.pick(&Func::ALL);
    let mut c = valid(func, rng);
    let k = if rng.chance(2, 5) {
        0
    } else {
        1 + rng.below(3)
    };
    let mut pool = faults(func);
    pool.extend(goods(func));
    let mut chosen: Vec<&str> = Vec::new();
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for _ in 0..k {
        let what = *rng.pick(&pool);
        if slots(what).iter().any(|s| used.contains(s)) {
            continue;
        }
        used.extend(slots(what).iter().copied());
        chosen.push(what);
    }
    let rank = |w: &str| match slots(w).first() {
        Some(&"resize") => 0,
        Some(&"dims") => 2,
        _ => 1,
    };
    chosen.sort_by_key(|w| rank(w));
    let mut applied = Vec::new();
    for what in chosen {
        if apply(&mut c, what, rng) {
            applied.push(what);
        }
    }
    if rng.chance(1, 6)
        && matches!(func, Func::FocusMap | Func::Segment)
        && !used.contains("progress")
    {
        c.progress = Prog::CancelAt(rng.below(6));
    }
    (c, applied)
}

#[test]
fn fuzz_c_abi() {
    let s = fuzz_util::run(
        "c_abi",
        3000,
        0x1F0C_5715_7E3D_0003,
        |rng| rng.u64(),
        |b| u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8])),
        |seed| seed.to_le_bytes().to_vec(),
        |&seed| {
            let mut rng = Rng::new(seed);
            let (mut c, applied) = random_case(&mut rng);
            if std::env::var_os("INFOCUS_FUZZ_TRACE").is_some() {
                eprintln!(
                    "{} {applied:?} pt {} dims {}x{}x{} preset {} measure {} window {} strides {:?} n {} threshold {} band {:?}",
                    c.func.name(),
                    c.pt,
                    c.z,
                    c.h,
                    c.w,
                    c.preset,
                    c.measure,
                    c.window,
                    c.strides.read(4 * c.n_strides.min(c.strides.len() / 4)),
                    c.n_strides,
                    c.threshold,
                    c.band
                );
            }
            match run_and_check(&mut c) {
                Err(p) => Err(format!("{applied:?}: {p}")),
                Ok(s) => Ok(format!(
                    "{} {}",
                    c.func.name(),
                    unsafe { CStr::from_ptr(infocus_status_name(s)) }.to_string_lossy()
                )),
            }
        },
    );
    s.assert_clean();
}

// ------------------------------------------------------ the table of errors

/// Each exported function's documented statuses, from the header: (name,
/// statuses with their "when" text).
/// A function's name and its (status, when) pairs.
type Documented = Vec<(String, Vec<(String, String)>)>;

fn documented() -> &'static Documented {
    static DOC: OnceLock<Documented> = OnceLock::new();
    DOC.get_or_init(|| {
        let header = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("include/infocus.h"),
        )
        .unwrap();
        let mut out = Vec::new();
        let mut comment: Vec<String> = Vec::new();
        let mut in_comment = false;
        for line in header.lines() {
            let t = line.trim();
            if t.starts_with("/**") {
                in_comment = true;
                comment.clear();
                continue;
            }
            if in_comment {
                if t.starts_with("*/") {
                    in_comment = false;
                } else {
                    comment.push(t.trim_start_matches('*').trim().to_string());
                }
                continue;
            }
            if let Some(i) = t.find("infocus_") {
                if let Some(paren) = t[i..].find('(') {
                    let name = &t[i..i + paren];
                    if t.starts_with("typedef") || out.iter().any(|(n, _)| n == name) {
                        continue;
                    }
                    out.push((name.to_string(), statuses_of(&comment.join(" "))));
                    comment.clear();
                }
            }
        }
        out
    })
}

/// `INFOCUS_X` (when) pairs of the "Returns ..." sentence of a doc comment.
fn statuses_of(doc: &str) -> Vec<(String, String)> {
    let Some(start) = doc.find("Returns `INFOCUS_OK`") else {
        return Vec::new();
    };
    let text = &doc[start..];
    let end = text.find("# Safety").unwrap_or(text.len());
    let text = &text[..end];
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("`INFOCUS_") {
        let after = &rest[i + 1..];
        let close = after.find('`').unwrap();
        let name = after[..close].to_string();
        let mut tail = after[close + 1..].trim_start();
        let mut when = String::new();
        if tail.starts_with('(') {
            let mut depth = 0;
            for (j, ch) in tail.char_indices() {
                match ch {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            when = tail[1..j].to_string();
                            tail = &tail[j + 1..];
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
        out.push((name, when.split_whitespace().collect::<Vec<_>>().join(" ")));
        rest = tail;
    }
    out
}

fn status_value(name: &str) -> i32 {
    match name {
        "INFOCUS_OK" => INFOCUS_OK,
        "INFOCUS_ERR_NULL" => INFOCUS_ERR_NULL,
        "INFOCUS_ERR_INVALID" => INFOCUS_ERR_INVALID,
        "INFOCUS_ERR_IO" => INFOCUS_ERR_IO,
        "INFOCUS_ERR_UNSUPPORTED" => INFOCUS_ERR_UNSUPPORTED,
        "INFOCUS_ERR_CANCELLED" => INFOCUS_ERR_CANCELLED,
        "INFOCUS_ERR_TORCH" => INFOCUS_ERR_TORCH,
        "INFOCUS_ERR_PANIC" => INFOCUS_ERR_PANIC,
        other => panic!("the header documents an unknown status {other}"),
    }
}

fn documented_statuses(func: &str) -> BTreeSet<i32> {
    documented()
        .iter()
        .find(|(n, _)| n == func)
        .unwrap_or_else(|| panic!("{func} is not in the header"))
        .1
        .iter()
        .map(|(s, _)| status_value(s))
        .collect()
}

fn error_table() -> String {
    let mut s = String::from(
        "# C ABI: the failure statuses of each function\n\n\
         Generated from the documentation in `include/infocus.h` (itself generated\n\
         from `src/ffi`) by `tests/fuzz_c_abi.rs`, which fails when this file is\n\
         stale and when a call returns a status its function does not list here.\n\
         Regenerate with `INFOCUS_BLESS=1 cargo test --release --test fuzz_c_abi`.\n\n\
         Every function that returns a status returns `INFOCUS_OK` (0) on success;\n\
         on failure `infocus_last_error()` gives the calling thread's message, and\n\
         no out buffer has been written. `INFOCUS_ERR_PANIC` means a bug in infocus\n\
         (a caught panic): please report it with the message.\n\n\
         Defined behaviour at the edges, tested in `tests/fuzz_c_abi.rs`:\n\n\
         * NaN or Inf anywhere in a float input (a stack or a map) is rejected with\n\
         \x20 `INFOCUS_ERR_INVALID`; the message gives the position of the first one.\n\
         * Windows larger than the image are clipped to it (as in the paper's\n\
         \x20 notebook): a window covers what is left of the image from its start.\n\
         * An empty stride list is `INFOCUS_ERR_INVALID` wherever the map is used (the\n\
         \x20 default preset does not use it).\n\
         * Dimensions whose product, or whose byte size, overflows `size_t` and calls\n\
         \x20 whose results would not fit in the memory available are\n\
         \x20 `INFOCUS_ERR_INVALID`, before anything is read or allocated.\n\
         * A float stack whose values are so large that a focus score overflows\n\
         \x20 32-bit floats gives `INFOCUS_ERR_INVALID` with a message saying so (rescale\n\
         \x20 the stack), never a map of infinities.\n\
         * What cannot be detected: a pointer to a buffer shorter than its length\n\
         \x20 says, or freed, or written by another thread during the call.\n\
         * Model handles: every function that takes one checks that it is live (made\n\
         \x20 by `infocus_model_new`/`_load` and not freed); a freed, twice-freed or\n\
         \x20 made-up handle is `INFOCUS_ERR_INVALID` and is never read, and\n\
         \x20 `infocus_model_free` ignores it (a double free is not a crash). Not\n\
         \x20 detectable: a freed handle whose address a newer model has since been\n\
         \x20 given (it then names that model), and a model freed by another thread\n\
         \x20 during a call that uses it.\n\n",
    );
    for (name, statuses) in documented() {
        s.push_str(&format!("## `{name}`\n\n"));
        if statuses.is_empty() {
            s.push_str(
                "Returns no status: it cannot fail (see the header for what it returns).\n\n",
            );
            continue;
        }
        s.push_str("| status | when |\n|---|---|\n");
        for (st, when) in statuses {
            let when = if when.is_empty() && st == "INFOCUS_OK" {
                "success".to_string()
            } else if when.is_empty() {
                match st.as_str() {
                    "INFOCUS_ERR_CANCELLED" => {
                        "the progress callback returned non-zero".to_string()
                    }
                    "INFOCUS_ERR_PANIC" => "a bug in infocus (a caught panic)".to_string(),
                    _ => String::new(),
                }
            } else {
                when.clone()
            };
            s.push_str(&format!("| `{st}` | {when} |\n"));
        }
        s.push('\n');
    }
    s
}

#[test]
fn c_abi_error_table_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/c-abi-errors.md");
    let fresh = error_table();
    if std::env::var_os("INFOCUS_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is stale; regenerate it with INFOCUS_BLESS=1 cargo test --release --test fuzz_c_abi",
        path.display()
    );
    // Every function with a status documents the same conventions.
    for (name, st) in documented() {
        if !st.is_empty() {
            assert_eq!(st[0].0, "INFOCUS_OK", "{name}");
            assert!(
                st.iter().any(|(s, _)| s == "INFOCUS_ERR_PANIC"),
                "{name} lacks PANIC"
            );
        }
    }
}

#[test]
fn every_documented_failure_is_reached() {
    // The matrix on its own reaches every documented status but the panic one.
    bad_input_matrix();
    let seen = SEEN.lock().unwrap().clone();
    let mut missing = Vec::new();
    for func in Func::ALL {
        for s in documented_statuses(func.name()) {
            if s != INFOCUS_ERR_PANIC && !seen.get(func.name()).is_some_and(|v| v.contains(&s)) {
                missing.push(format!("{} never returned {s}", func.name()));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// Windows larger than the image are clipped to it, as the paper's notebook
/// does: checked against a literal loop (std, several strides).
#[test]
fn windows_larger_than_the_image_are_clipped() {
    let (z, h, w) = (2usize, 7usize, 11usize);
    let stack: Vec<u16> = (0..z * h * w).map(|i| ((i * 7919) % 1000) as u16).collect();
    for (window, strides) in [
        (12u32, vec![3u32]),
        (50, vec![4, 5]),
        (u32::MAX, vec![1, 100]),
    ] {
        let p = InfocusMapParams {
            measure: INFOCUS_MEASURE_STD,
            window,
            strides: strides.as_ptr(),
            n_strides: strides.len(),
        };
        let mut out = vec![0f32; z * h * w];
        let s = unsafe {
            infocus_focus_map(
                stack.as_ptr().cast(),
                INFOCUS_PIXEL_U16,
                z,
                h,
                w,
                &p,
                out.as_mut_ptr(),
                out.len(),
                None,
                std::ptr::null_mut(),
            )
        };
        assert_eq!(s, INFOCUS_OK, "{}", last_error());
        for k in 0..z {
            let px = |y: usize, x: usize| f64::from(stack[(k * h + y) * w + x]);
            let mut want = vec![f64::NEG_INFINITY; h * w];
            for &st in &strides {
                let st = st as usize;
                let mut acc = vec![0f64; h * w];
                for y0 in (0..h).step_by(st) {
                    for x0 in (0..w).step_by(st) {
                        let (y1, x1) =
                            ((y0 + window as usize).min(h), (x0 + window as usize).min(w));
                        let vals: Vec<f64> = (y0..y1)
                            .flat_map(|y| (x0..x1).map(move |x| (y, x)))
                            .map(|(y, x)| px(y, x))
                            .collect();
                        let mean = vals.iter().sum::<f64>() / vals.len() as f64;
                        let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
                            / vals.len() as f64;
                        for y in y0..y1 {
                            for x in x0..x1 {
                                acc[y * w + x] += var.sqrt();
                            }
                        }
                    }
                }
                for (m, a) in want.iter_mut().zip(&acc) {
                    *m = m.max(*a);
                }
            }
            for i in 0..h * w {
                let got = f64::from(out[k * h * w + i]);
                assert!(
                    (got - want[i]).abs() <= 1e-5 * want[i].abs().max(1.0),
                    "window {window}, strides {strides:?}, slice {k}, pixel {i}: {got} vs {}",
                    want[i]
                );
            }
        }
    }
}

//! `cargo bench --bench maps [-- --out DIR] [--quick] [--big]`: infocus's
//! side of the benchmarks (BENCHMARKS.md), printed as a table and, with
//! `--out`, written to `DIR/infocus.json` together with the inputs and
//! infocus's maps as `.npy`, so that `bench/run.py` can check the Python
//! peers against infocus and time them on the same data in the same run.
//!
//! Every time is the minimum and the median of several wall-clock runs; the
//! figures to compare are ratios within one run (the machine may be shared).
//!
//! * memory floor: read the input and write an f32 output once (into a fresh
//!   allocation, as the map does): the memory-bandwidth limit of a map;
//! * the paper preset's std map on 20 x 256^2 and 20 x 1024^2, u8 and u16, on
//!   1 and on all threads;
//! * the nine measures on 20 x 1024^2 u16, and their ratio to std;
//! * windows 16..512 (20 x 1024^2) and images 256^2..4096^2 (paper scheme);
//! * `segment` with both presets on 20 x 256^2 (library), and the CLI end to
//!   end (TIFF read, segment, TIFF write) as a child process; a `target` line
//!   puts the default preset's figures next to issue 6's 50 ms;
//! * peak memory of an in-memory map (a child process, VmHWM) against input
//!   as f32 + output, and with `--big`, the CLI's peak RSS (`/usr/bin/time
//!   -v`) segmenting a 200 x 2048 x 2048 u16 TIFF with the paper preset.

use infocus::io::write_tiff;
use infocus::map::{MapParams, focus_map};
use infocus::measure::Measure;
use infocus::segment::{Preset, SegmentParams, segment};
use infocus::synth::{SynthParams, synth};
use infocus::{PixelType, Progress, Stack, StackView};
use ndarray::Array3;
use rayon::prelude::*;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// (min, median) wall-clock milliseconds of `reps` runs.
fn time_ms(reps: usize, mut f: impl FnMut()) -> (f64, f64) {
    let mut t: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    (t[0], t[t.len() / 2])
}

fn synth_stack(z: usize, n: usize, pixel_type: PixelType) -> Stack {
    let p = SynthParams {
        depth: z,
        height: n,
        width: n,
        pixel_type,
        ..SynthParams::default()
    };
    synth(&p, &Progress::none()).expect("synth").stack
}

/// A cheap textured stack (for the size sweeps, where content does not
/// change the work).
fn pattern_stack(z: usize, h: usize, w: usize) -> Stack {
    Stack::U16(Array3::from_shape_fn((z, h, w), |(k, y, x)| {
        let v = (y as u64 * 2654435761 + x as u64 * 40503 + k as u64 * 97) % 65521;
        (v as u16) >> 2
    }))
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
}

/// Reads every input pixel once and writes every f32 output pixel once, into
/// a fresh allocation (as `focus_map` does): the floor of a map's time.
fn memory_floor(stack: &Stack) -> Array3<f32> {
    let (z, h, w) = stack.dim();
    let mut out = Array3::<f32>::zeros((z, h, w));
    // Huge pages where the system allows, as `focus_map` asks for its output.
    #[cfg(target_os = "linux")]
    {
        let v = out.as_slice_mut().expect("contiguous");
        let start = (v.as_ptr() as usize).next_multiple_of(4096);
        let end = (v.as_ptr() as usize + v.len() * 4) & !4095;
        if end > start {
            // SAFETY: advisory, on pages of our own allocation.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    copy_into(stack, &mut out);
    out
}

/// The input converted to f32 into `out`, every slice in parallel.
fn copy_into(stack: &Stack, out: &mut Array3<f32>) {
    let (_, h, w) = stack.dim();
    let o = out.as_slice_mut().expect("contiguous");
    match stack {
        Stack::U8(a) => o
            .par_chunks_mut(h * w)
            .zip(a.as_slice().expect("contiguous").par_chunks(h * w))
            .for_each(|(o, i)| o.iter_mut().zip(i).for_each(|(o, &i)| *o = f32::from(i))),
        Stack::U16(a) => o
            .par_chunks_mut(h * w)
            .zip(a.as_slice().expect("contiguous").par_chunks(h * w))
            .for_each(|(o, i)| o.iter_mut().zip(i).for_each(|(o, &i)| *o = f32::from(i))),
        Stack::F32(a) => o.copy_from_slice(a.as_slice().expect("contiguous")),
    }
}

/// A `.npy` file of a stack (C order, little-endian).
fn write_npy(path: &Path, stack: StackView) {
    let (z, h, w) = stack.dim();
    let descr = match stack {
        StackView::U8(_) => "|u1",
        StackView::U16(_) => "<u2",
        StackView::F32(_) => "<f4",
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({z}, {h}, {w}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create npy"));
    f.write_all(b"\x93NUMPY\x01\x00").unwrap();
    f.write_all(&(header.len() as u16).to_le_bytes()).unwrap();
    f.write_all(header.as_bytes()).unwrap();
    match stack {
        StackView::U8(a) => f.write_all(a.as_slice().unwrap()).unwrap(),
        StackView::U16(a) => a
            .iter()
            .for_each(|v| f.write_all(&v.to_le_bytes()).unwrap()),
        StackView::F32(a) => a
            .iter()
            .for_each(|v| f.write_all(&v.to_le_bytes()).unwrap()),
    }
}

/// One result: a case name, its figures, and free-form fields.
struct Row {
    json: String,
}

struct Report {
    rows: Vec<Row>,
}

impl Report {
    fn add(&mut self, group: &str, case: &str, pixels: usize, (min, med): (f64, f64), extra: &str) {
        println!(
            "{group:<10} {case:<44} {min:>10.1} {med:>10.1} {:>10.1} {extra}",
            pixels as f64 / min / 1e3
        );
        let mut json = format!(
            "{{\"group\": \"{group}\", \"case\": \"{case}\", \"pixels\": {pixels}, \"min_ms\": {min:.4}, \"median_ms\": {med:.4}"
        );
        if !extra.is_empty() {
            let _ = write!(json, ", {extra}");
        }
        json.push('}');
        self.rows.push(Row { json });
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The peak RSS (kB) of a focus map computed in this process, run as a
/// child: `maps --child-rss FILE.npy`.
fn child_rss(input: &Path) {
    let (stack, _) = (infocus::io::read_npy(input).expect("read npy"), ());
    // Forget the reader's peak: from here VmHWM is the map's.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = vm("VmRSS");
    let map = focus_map(stack.view(), &MapParams::paper(), &Progress::none()).expect("map");
    let peak = vm("VmHWM");
    println!("{before} {peak} {}", map.len());
}

fn vm(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Runs the CLI `reps` times; (min, median) ms.
fn cli(reps: usize, args: &[&str]) -> (f64, f64) {
    let exe = env!("CARGO_BIN_EXE_infocus");
    time_ms(reps, || {
        let st = Command::new(exe).args(args).status().expect("run infocus");
        assert!(st.success(), "infocus {args:?} failed");
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child-rss") {
        child_rss(Path::new(&args[i + 1]));
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    // `--only GROUP[,GROUP]`: run only these groups (floor and std_map go
    // together, as do segment and cli).
    let only: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--only")
        .map(|i| args[i + 1].split(',').map(str::to_string).collect());
    let run = |g: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == g));
    let big = args.iter().any(|a| a == "--big");
    let out: Option<PathBuf> = args
        .iter()
        .position(|a| a == "--out")
        .map(|i| PathBuf::from(&args[i + 1]));
    let dir = out
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("infocus-bench"));
    std::fs::create_dir_all(&dir).expect("output directory");
    let threads = rayon::current_num_threads();
    let reps = if quick { 3 } else { 7 };
    println!(
        "infocus {} benchmarks: {} ({} threads); min and median of {reps} runs\n",
        infocus::VERSION,
        cpu_model(),
        threads
    );
    println!(
        "{:<10} {:<44} {:>10} {:>10} {:>10}",
        "group", "case", "min ms", "median ms", "Mpx/s"
    );
    let mut r = Report { rows: Vec::new() };

    // --- paper std map, memory floor, threads -----------------------------
    for (n, t) in if run("std_map") {
        &[
            (256, PixelType::U8),
            (256, PixelType::U16),
            (1024, PixelType::U8),
            (1024, PixelType::U16),
        ][..]
    } else {
        &[][..]
    } {
        let (n, t) = (*n, *t);
        let s = synth_stack(20, n, t);
        let px = 20 * n * n;
        let name = format!("20x{n}x{n} {}", t.name());
        let map = focus_map(s.view(), &MapParams::paper(), &Progress::none()).expect("map");
        write_npy(&dir.join(format!("input_{n}_{}.npy", t.name())), s.view());
        write_npy(
            &dir.join(format!("map_{n}_{}.npy", t.name())),
            StackView::F32(map.view()),
        );
        drop(map);
        let floor = time_ms(reps, || drop(memory_floor(&s)));
        r.add(
            "floor",
            &name,
            px,
            floor,
            &format!("\"threads\": {threads}"),
        );
        // The same into an output already in memory: bandwidth alone.
        let mut warm = memory_floor(&s);
        let t = time_ms(reps, || copy_into(&s, &mut warm));
        drop(warm);
        r.add(
            "floor_warm",
            &name,
            px,
            t,
            &format!("\"threads\": {threads}"),
        );
        for th in [1, threads] {
            let p = pool(th);
            let m = time_ms(reps, || {
                p.install(|| focus_map(s.view(), &MapParams::paper(), &Progress::none()))
                    .expect("map");
            });
            r.add(
                "std_map",
                &name,
                px,
                m,
                &format!("\"threads\": {th}, \"floor_ratio\": {:.3}", m.0 / floor.0),
            );
        }
    }

    // --- the nine measures ------------------------------------------------
    if run("measure") {
        let s = synth_stack(20, 1024, PixelType::U16);
        let mut std_ms = 0.0;
        let mut measures = Vec::new();
        for m in [Measure::Std]
            .into_iter()
            .chain(Measure::ALL.into_iter().filter(|&m| m != Measure::Std))
        {
            let p = MapParams {
                measure: m,
                ..MapParams::paper()
            };
            let t = time_ms(if quick { 1 } else { 3 }, || {
                focus_map(s.view(), &p, &Progress::none()).expect("map");
            });
            if m == Measure::Std {
                std_ms = t.0;
            }
            measures.push((m, t));
        }
        for (m, t) in measures {
            r.add(
                "measure",
                &format!("{m}, 20x1024x1024 u16"),
                20 << 20,
                t,
                &format!("\"measure\": \"{m}\", \"std_ratio\": {:.3}", t.0 / std_ms),
            );
        }
    }

    // --- window and size sweeps -------------------------------------------
    if run("sweep") {
        let s = pattern_stack(20, 1024, 1024);
        write_npy(&dir.join("input_sweep_window.npy"), s.view());
        for win in [16, 32, 64, 128, 256, 512] {
            let p = MapParams {
                window: win,
                ..MapParams::paper()
            };
            let t = time_ms(if quick { 1 } else { 3 }, || {
                focus_map(s.view(), &p, &Progress::none()).expect("map");
            });
            r.add(
                "window",
                &format!("window {win}, 20x1024x1024 u16"),
                20 << 20,
                t,
                &format!("\"window\": {win}"),
            );
        }
        drop(s);
        for n in [256, 512, 1024, 2048, 4096] {
            let s = pattern_stack(2, n, n);
            if n <= 2048 {
                write_npy(&dir.join(format!("input_sweep_{n}.npy")), s.view());
            }
            let t = time_ms(if quick { 1 } else { 3 }, || {
                focus_map(s.view(), &MapParams::paper(), &Progress::none()).expect("map");
            });
            r.add(
                "size",
                &format!("2x{n}x{n} u16"),
                2 * n * n,
                t,
                &format!("\"side\": {n}"),
            );
        }
    }

    // --- segment, library and CLI -----------------------------------------
    if run("segment") {
        let s = synth_stack(20, 256, PixelType::U16);
        let mut library_default = (0.0, 0.0);
        for preset in [Preset::Default, Preset::Paper] {
            let t = time_ms(reps, || {
                segment(s.view(), &SegmentParams::new(preset), &Progress::none()).expect("segment");
            });
            if preset == Preset::Default {
                library_default = t;
            }
            r.add(
                "segment",
                &format!("{} 20x256x256 u16 (library)", preset.name()),
                20 << 16,
                t,
                &format!("\"preset\": \"{}\"", preset.name()),
            );
        }
        let cal = infocus::io::Calibration::default();
        let tif256 = dir.join("cli_256.tif");
        write_tiff(&tif256, s.view(), &cal).expect("tiff");
        let s = synth_stack(20, 1024, PixelType::U16);
        let tif1024 = dir.join("cli_1024.tif");
        write_tiff(&tif1024, s.view(), &cal).expect("tiff");
        drop(s);
        let mask = dir.join("cli_mask.tif");
        let m = mask.to_str().unwrap();
        // Starting the tool at all (with the torch feature, loading libtorch).
        let startup = cli(reps, &["--version"]);
        r.add("cli", "startup (infocus --version)", 0, startup, "");
        let mut cli_default = (0.0, 0.0);
        for (tif, n) in [(&tif256, 256), (&tif1024, 1024)] {
            let t = tif.to_str().unwrap();
            for preset in ["default", "paper"] {
                if preset == "default" && n > 256 {
                    continue;
                }
                let ms = cli(reps, &["segment", t, "-o", m, "--preset", preset]);
                if preset == "default" {
                    cli_default = ms;
                }
                r.add(
                    "cli",
                    &format!("segment --preset {preset} 20x{n}x{n} u16"),
                    20 * n * n,
                    ms,
                    &format!("\"preset\": \"{preset}\""),
                );
            }
            let ms = cli(
                reps,
                &["--threads", "1", "segment", t, "-o", m, "--preset", "paper"],
            );
            r.add(
                "cli",
                &format!("segment --preset paper 20x{n}x{n} u16, 1 thread"),
                20 * n * n,
                ms,
                "\"preset\": \"paper\", \"threads\": 1",
            );
        }
        let _ = std::fs::remove_file(&mask);
        target_line(&mut r, library_default, cli_default, startup);
    }

    // --- memory -----------------------------------------------------------
    let exe = std::env::current_exe().expect("own path");
    for (n, t) in if run("memory") {
        &[(1024, "u16"), (1024, "u8")][..]
    } else {
        &[][..]
    } {
        let (n, t) = (*n, *t);
        let input = dir.join(format!("input_{n}_{t}.npy"));
        let o = Command::new(&exe)
            .args(["--child-rss", input.to_str().unwrap()])
            .output()
            .expect("child");
        let v: Vec<u64> = String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if let [before, peak, len] = v[..] {
            let bound = 2 * (len * 4 + len * 4) / 1024; // 2 x (input as f32 + output), kB
            println!(
                "memory     in-memory paper map 20x{n}x{n} {t}: peak RSS {} MB (before the map {} MB), bound 2 x (input f32 + output) = {} MB",
                peak / 1024,
                before / 1024,
                bound / 1024
            );
            r.rows.push(Row {
                json: format!(
                    "{{\"group\": \"memory\", \"case\": \"in-memory map 20x{n}x{n} {t}\", \"peak_kb\": {peak}, \"before_kb\": {before}, \"bound_kb\": {bound}}}"
                ),
            });
        }
    }
    if big {
        big_stream(&dir, &mut r);
    }

    if let Some(out) = out {
        let body: Vec<&str> = r.rows.iter().map(|r| r.json.as_str()).collect();
        let json = format!(
            "{{\"cpu\": \"{}\", \"threads\": {threads}, \"version\": \"{}\", \"rows\": [\n{}\n]}}\n",
            cpu_model(),
            infocus::VERSION,
            body.join(",\n")
        );
        std::fs::write(out.join("infocus.json"), json).expect("write json");
        println!("\nwrote {}", out.join("infocus.json").display());
    }
}

/// Issue 6's target, "the default preset segments 20 x 256^2 end to end in
/// under 50 ms", against this run's figures: the library call, the CLI (TIFF
/// read, segment, mask TIFF written, as a child process) and the CLI less
/// starting the tool (which, with the torch feature, loads libtorch).
fn target_line(r: &mut Report, library: (f64, f64), cli: (f64, f64), startup: (f64, f64)) {
    const TARGET_MS: f64 = 50.0;
    let verdict = |ms: f64| if ms < TARGET_MS { "met" } else { "not met" };
    println!(
        "target     default segment 20x256x256 u16 < {TARGET_MS} ms: library {:.1} ms ({}), CLI end to end {:.1} ms ({}), CLI less startup {:.1} ms ({})",
        library.0,
        verdict(library.0),
        cli.0,
        verdict(cli.0),
        cli.0 - startup.0,
        verdict(cli.0 - startup.0)
    );
    r.rows.push(Row {
        json: format!(
            "{{\"group\": \"target\", \"case\": \"default segment 20x256x256 u16 end to end\", \"target_ms\": {TARGET_MS}, \"library_min_ms\": {:.4}, \"cli_min_ms\": {:.4}, \"cli_less_startup_ms\": {:.4}}}",
            library.0,
            cli.0,
            cli.0 - startup.0
        ),
    });
}

/// Peak RSS of the CLI segmenting a 200 x 2048 x 2048 u16 TIFF (1.6 GB)
/// with the paper preset (mask, depth map and focus map written).
fn big_stream(dir: &Path, r: &mut Report) {
    let (z, n) = (200usize, 2048usize);
    let path = dir.join("big_200x2048x2048.tif");
    if !path.exists() {
        // 20 distinct synthetic slices, repeated: 200 pages, written slice by
        // slice so that the benchmark itself stays small.
        let s = synth_stack(20, n, PixelType::U16);
        let Stack::U16(a) = &s else { unreachable!() };
        infocus::io::stage_tiff_pages(
            &path,
            PixelType::U16,
            (z, n, n),
            &infocus::io::Calibration::default(),
            None,
            |k| {
                Ok(Stack::U16(
                    a.slice(ndarray::s![k % 20..k % 20 + 1, .., ..]).to_owned(),
                ))
            },
        )
        .and_then(|s| s.commit())
        .expect("big tiff");
    }
    let exe = env!("CARGO_BIN_EXE_infocus");
    let mask = dir.join("big_mask.tif");
    let depth = dir.join("big_depth.tif");
    let fmap = dir.join("big_map.tif");
    for (what, extra) in [
        ("mask", vec![]),
        (
            "mask + depth + focus map",
            vec![
                "--depth",
                depth.to_str().unwrap(),
                "--focus-map",
                fmap.to_str().unwrap(),
            ],
        ),
    ] {
        let t = Instant::now();
        let o = Command::new("/usr/bin/time")
            .arg("-v")
            .arg(exe)
            .args([
                "segment",
                path.to_str().unwrap(),
                "-o",
                mask.to_str().unwrap(),
            ])
            .args(["--preset", "paper"])
            .args(&extra)
            .output()
            .expect("/usr/bin/time");
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "big segment failed: {err}");
        let kb: u64 = err
            .lines()
            .find(|l| l.contains("Maximum resident set size"))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        println!(
            "memory     CLI segment --preset paper 200x2048x2048 u16 ({what}): {:.1} s, peak RSS {} MB",
            ms / 1e3,
            kb / 1024
        );
        r.add(
            "stream",
            &format!("CLI paper 200x2048x2048 u16 ({what})"),
            z * n * n,
            (ms, ms),
            &format!("\"peak_kb\": {kb}"),
        );
    }
    for p in [&mask, &depth, &fmap] {
        let _ = std::fs::remove_file(p);
    }
}

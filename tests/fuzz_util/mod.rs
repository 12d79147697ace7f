//! What the fuzz targets (tests/fuzz_*.rs) share: a seeded generator, the
//! case budget, the runner and the regression corpus.
//!
//! Every case is generated from (seed, case index) alone, so any one case can
//! be replayed on its own. Environment:
//!
//! * `INFOCUS_FUZZ_CASES=N`: cases per target (the test command's default is
//!   a few thousand; the long run used 100000 and more);
//! * `INFOCUS_FUZZ_SEED=S`: another base seed (a decimal u64);
//! * `INFOCUS_FUZZ_CASE=I`: run case I only;
//! * `INFOCUS_FUZZ_TRACE=1`: save each input before running it (as
//!   `inflight.bin` under the failure folder) and print its index, to find
//!   the input of a case that kills the process instead of panicking.
//!
//! A failing case (a panic, or a broken property) is saved under
//! `target/tmp/fuzz-failures/<target>/case-<I>.bin`; copy it into
//! `tests/data/fuzz/<target>/` to keep it as a regression input, which every
//! later run replays first.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// SplitMix64: small, fast and the same on every platform.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.u64()) * u128::from(n)) >> 64) as u64
    }

    pub fn usize(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.usize(items.len())]
    }

    pub fn unit(&mut self) -> f64 {
        (self.u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
    )
}

/// Cases per target: `INFOCUS_FUZZ_CASES`, or `default`.
pub fn budget(default: usize) -> usize {
    env_u64("INFOCUS_FUZZ_CASES").map_or(default, |n| n as usize)
}

/// Where failing inputs of `target` are saved.
pub fn failure_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fuzz-failures")
        .join(target)
}

/// The committed regression inputs of `target` (tests/data/fuzz/<target>/),
/// sorted by name.
pub fn regressions(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz")
        .join(target);
    let mut out: Vec<(PathBuf, Vec<u8>)> = match std::fs::read_dir(&dir) {
        Err(_) => Vec::new(),
        Ok(rd) => rd
            .map(|e| e.expect("read tests/data/fuzz").path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e != "md"))
            .map(|p| {
                let bytes = std::fs::read(&p).expect("read a regression input");
                (p, bytes)
            })
            .collect(),
    };
    out.sort();
    out
}

/// What a case showed: `Ok(label)` (counted, to show what the inputs
/// exercised) or `Err(problem)`.
pub type Outcome = Result<String, String>;

/// A target's counts, printed at the end of a run.
pub struct Summary {
    pub target: String,
    pub cases: usize,
    pub elapsed: Duration,
    pub slowest: (Duration, u64),
    pub outcomes: BTreeMap<String, usize>,
    pub failures: Vec<String>,
}

impl Summary {
    fn print(&self) {
        let mut labels: Vec<(&String, &usize)> = self.outcomes.iter().collect();
        labels.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        println!(
            "fuzz {}: {} cases in {:.2?} (slowest: case {} in {:.2?}), {} failing",
            self.target,
            self.cases,
            self.elapsed,
            self.slowest.1,
            self.slowest.0,
            self.failures.len()
        );
        for (label, n) in labels.iter().take(40) {
            println!("  {n:>8}  {label}");
        }
        if labels.len() > 40 {
            println!("  ... and {} more outcomes", labels.len() - 40);
        }
    }

    /// Fails the test with every failure found.
    pub fn assert_clean(&self) {
        assert!(
            self.failures.is_empty(),
            "fuzz {}: {} failing case(s); inputs saved under {}\n{}",
            self.target,
            self.failures.len(),
            failure_dir(&self.target).display(),
            self.failures.join("\n")
        );
    }
}

/// Runs the regression inputs of `target` and then `default_cases` generated
/// ones (see the module docs for the environment) through `check`, catching
/// panics. `generate` makes case `i` from its own generator; `bytes` gives the
/// form an input is saved in. Stops after 20 failures.
pub fn run<I>(
    target: &str,
    default_cases: usize,
    seed: u64,
    generate: impl Fn(&mut Rng) -> I,
    from_bytes: impl Fn(&[u8]) -> I,
    bytes: impl Fn(&I) -> Vec<u8>,
    check: impl Fn(&I) -> Outcome,
) -> Summary {
    let seed = env_u64("INFOCUS_FUZZ_SEED").unwrap_or(seed);
    let only = env_u64("INFOCUS_FUZZ_CASE");
    let trace = std::env::var_os("INFOCUS_FUZZ_TRACE").is_some_and(|v| v == "1");
    let dir = failure_dir(target);
    let mut s = Summary {
        target: target.to_string(),
        cases: 0,
        elapsed: Duration::ZERO,
        slowest: (Duration::ZERO, 0),
        outcomes: BTreeMap::new(),
        failures: Vec::new(),
    };
    let start = Instant::now();
    let one = |s: &mut Summary, name: String, input: &I, index: u64| {
        if trace {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("inflight.bin"), bytes(input)).unwrap();
            eprintln!("fuzz {target}: {name}");
        }
        let t = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| check(input)))
            .unwrap_or_else(|p| Err(format!("panicked: {}", panic_text(&*p))));
        let dt = t.elapsed();
        if dt > s.slowest.0 {
            s.slowest = (dt, index);
        }
        s.cases += 1;
        match outcome {
            Ok(label) => *s.outcomes.entry(label).or_default() += 1,
            Err(problem) => {
                std::fs::create_dir_all(&dir).unwrap();
                let saved = dir.join(format!("{}.bin", name.replace([' ', '/'], "_")));
                std::fs::write(&saved, bytes(input)).unwrap();
                s.failures
                    .push(format!("{name}: {problem} (input: {})", saved.display()));
            }
        }
    };
    if only.is_none() {
        for (path, data) in regressions(target) {
            let input = from_bytes(&data);
            let name = format!("regression {}", path.file_name().unwrap().to_string_lossy());
            one(&mut s, name, &input, u64::MAX);
        }
    }
    let cases = budget(default_cases) as u64;
    let indices: Box<dyn Iterator<Item = u64>> = match only {
        Some(i) => Box::new(std::iter::once(i)),
        None => Box::new(0..cases),
    };
    for i in indices {
        if s.failures.len() >= 20 {
            break;
        }
        let mut rng = Rng::new(seed ^ i.wrapping_mul(0xD134_2543_DE82_EF95));
        rng.u64();
        let input = generate(&mut rng);
        one(&mut s, format!("case-{i}"), &input, i);
    }
    s.elapsed = start.elapsed();
    s.print();
    s
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".into()
    }
}

/// Caps this test process's address space at `bytes` (unless already
/// lower), so that an input that makes a reader allocate absurdly fails
/// the run (the allocation fails) instead of exhausting the machine.
pub fn cap_address_space(bytes: u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write one rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_AS, &mut r) != 0 {
            return;
        }
        if r.rlim_cur == libc::RLIM_INFINITY || r.rlim_cur > bytes {
            r.rlim_cur = bytes;
            libc::setrlimit(libc::RLIMIT_AS, &r);
        }
    }
}

/// A temporary folder in memory where there is one (/dev/shm), so that the
/// many small files of a fuzz run and their syncs cost no disk time.
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().expect("a temporary folder")
}

/// Interesting 32-bit values for header fields.
pub const INTERESTING_U32: [u32; 22] = [
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    15,
    16,
    255,
    256,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x1_0000,
    100_000,
    0x00FF_FFFF,
    0x7FFF_FFFE,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFE,
    0xFFFF_FFFF,
];

/// The label of an error for the outcome counts: its first words, with
/// numbers and paths left out, so that similar errors count together.
pub fn label(prefix: &str, message: &str, path: &Path) -> String {
    let shown = path.display().to_string();
    let m = message.replace(&shown, "FILE");
    let words: Vec<String> = m
        .split_whitespace()
        .take(12)
        .map(|w| {
            if w.chars().any(|c| c.is_ascii_digit()) {
                "N".to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    format!("{prefix}: {}", words.join(" "))
}

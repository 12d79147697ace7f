//! Fuzzing the TIFF reader with mutated valid TIFFs.
//!
//! Seeds: every fixture in tests/data/tiff (uncompressed, LZW, Deflate,
//! tiled, big-endian, ImageJ hyperstacks and single-directory stacks, colour
//! and odd types) and stacks written by infocus itself. Each case applies one
//! to three mutations: bit flips, byte overwrites, truncation, chunks
//! inserted or removed, and, knowing the TIFF structure, corrupted header
//! fields (a directory entry's value, type or count: image size, strip
//! offsets and byte counts, bits per sample, compression, ...; entry counts;
//! next-directory pointers, loops included; ImageJ description numbers).
//!
//! Properties: the reader returns (no panic, no abort, bounded memory: the
//! process's address space is capped); an error is a file error that names
//! the file; a stack it returns has no empty dimension and survives a write
//! and a re-read bit for bit; the hyperstack reader returns too.

mod fuzz_util;

use fuzz_util::{INTERESTING_U32, Outcome, Rng};
use infocus::io::{Calibration, read_tiff, read_tiff_hyperstack, write_tiff};
use infocus::{Error, Stack};
use ndarray::Array3;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const TARGET: &str = "tiff";

/// The seed files' bytes.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiff");
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "tif"))
            .collect();
        paths.sort();
        let mut out: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
        // Stacks infocus writes: each pixel type, one page and several,
        // with a calibration.
        let tmp = tempfile::tempdir().unwrap();
        let cal = Calibration {
            pixel_width: 0.25,
            pixel_height: 0.5,
            z_spacing: 2.0,
            unit: "µm".into(),
        };
        let stacks = [
            Stack::U8(Array3::from_shape_fn((3, 9, 7), |(z, y, x)| {
                (z * 50 + y * 7 + x) as u8
            })),
            Stack::U16(Array3::from_shape_fn((2, 5, 6), |(z, y, x)| {
                (z * 20000 + y * 300 + x) as u16
            })),
            Stack::F32(Array3::from_shape_fn((4, 3, 3), |(z, y, x)| {
                z as f32 - 0.5 * y as f32 + x as f32 * 1e3
            })),
            Stack::U8(Array3::from_elem((1, 4, 4), 9)),
        ];
        for (i, s) in stacks.iter().enumerate() {
            let p = tmp.path().join(format!("{i}.tif"));
            write_tiff(&p, s.view(), &cal).unwrap();
            out.push(std::fs::read(&p).unwrap());
        }
        out
    })
}

// ----------------------------------------------------------- TIFF structure

/// Where the fields of a classic TIFF are, as far as they can be found.
struct Layout {
    little: bool,
    /// Offsets of directories (their entry count).
    ifds: Vec<usize>,
    /// Offsets of directory entries (12 bytes each).
    entries: Vec<usize>,
    /// Offsets of next-directory pointers (and of the header's first pointer).
    pointers: Vec<usize>,
}

fn rd16(b: &[u8], at: usize, little: bool) -> Option<u16> {
    let s: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
    Some(if little {
        u16::from_le_bytes(s)
    } else {
        u16::from_be_bytes(s)
    })
}

fn rd32(b: &[u8], at: usize, little: bool) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(if little {
        u32::from_le_bytes(s)
    } else {
        u32::from_be_bytes(s)
    })
}

fn wr16(b: &mut [u8], at: usize, v: u16, little: bool) {
    if let Some(s) = b.get_mut(at..at + 2) {
        s.copy_from_slice(&if little {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        });
    }
}

fn wr32(b: &mut [u8], at: usize, v: u32, little: bool) {
    if let Some(s) = b.get_mut(at..at + 4) {
        s.copy_from_slice(&if little {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        });
    }
}

fn layout(b: &[u8]) -> Layout {
    let little = b.starts_with(b"II");
    let mut l = Layout {
        little,
        ifds: Vec::new(),
        entries: Vec::new(),
        pointers: vec![4],
    };
    let mut at = rd32(b, 4, little).unwrap_or(0) as usize;
    while at != 0 && l.ifds.len() < 64 && !l.ifds.contains(&at) {
        let Some(n) = rd16(b, at, little) else { break };
        l.ifds.push(at);
        for k in 0..n as usize {
            let e = at + 2 + 12 * k;
            if e + 12 > b.len() {
                break;
            }
            l.entries.push(e);
        }
        let next = at + 2 + 12 * n as usize;
        if next + 4 > b.len() {
            break;
        }
        l.pointers.push(next);
        at = rd32(b, next, little).unwrap_or(0) as usize;
    }
    l
}

/// Tags whose values size or place the data: corrupting them is most telling.
const SHAPING_TAGS: [u16; 14] = [
    256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 322, 323, 324, 325,
];

fn mutate(b: &mut Vec<u8>, rng: &mut Rng) {
    let l = layout(b);
    let len = b.len().max(1);
    match rng.below(12) {
        // A few bit flips anywhere.
        0 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.usize(len);
                if let Some(byte) = b.get_mut(i) {
                    *byte ^= 1 << rng.below(8);
                }
            }
        }
        // Bytes overwritten with extreme values.
        1 => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.usize(len);
                let r = rng.u64() as u8;
                let v = *rng.pick(&[0u8, 1, 0x7F, 0x80, 0xFF, r]);
                if let Some(byte) = b.get_mut(i) {
                    *byte = v;
                }
            }
        }
        // Truncation: anywhere, or just before the end.
        2 => {
            let cut = if rng.chance(1, 2) {
                rng.usize(len)
            } else {
                len.saturating_sub(1 + rng.usize(16))
            };
            b.truncate(cut);
        }
        // A directory entry's value (or offset to its values).
        3 | 4 | 5 => {
            let Some(&e) = pick_entry(b, &l, rng) else {
                return;
            };
            let v = interesting(rng, b.len());
            let typ = rd16(b, e + 2, l.little).unwrap_or(0);
            let count = rd32(b, e + 4, l.little).unwrap_or(0);
            if typ == 3 && count <= 2 && rng.chance(3, 4) {
                wr16(b, e + 8, v as u16, l.little);
            } else {
                wr32(b, e + 8, v, l.little);
            }
        }
        // An entry's type or count.
        6 => {
            let Some(&e) = pick_entry(b, &l, rng) else {
                return;
            };
            if rng.chance(1, 2) {
                wr16(b, e + 2, rng.below(20) as u16, l.little);
            } else {
                let v = interesting(rng, b.len());
                wr32(b, e + 4, v, l.little);
            }
        }
        // A directory's entry count.
        7 => {
            if let Some(&d) = l.ifds.get(rng.usize(l.ifds.len().max(1))) {
                let r = rng.u64() as u16;
                let v = *rng.pick(&[0u16, 1, 2, 0xFF, 0x7FFF, 0xFFFF, r]);
                wr16(b, d, v, l.little);
            }
        }
        // A next-directory pointer: end, loop, anywhere.
        8 => {
            let p = *rng.pick(&l.pointers);
            let first = l.ifds.first().copied().unwrap_or(8) as u32;
            let last = l.ifds.last().copied().unwrap_or(8) as u32;
            let r = interesting(rng, b.len());
            let v = *rng.pick(&[0, first, last, b.len() as u32, r]);
            wr32(b, p, v, l.little);
        }
        // An array of strip/tile offsets or counts, one element.
        9 => {
            let Some(&e) = pick_entry(b, &l, rng) else {
                return;
            };
            let count = rd32(b, e + 4, l.little).unwrap_or(0) as usize;
            let typ = rd16(b, e + 2, l.little).unwrap_or(0);
            let size = if typ == 3 { 2 } else { 4 };
            if count * size > 4 {
                let base = rd32(b, e + 8, l.little).unwrap_or(0) as usize;
                let at = base + size * rng.usize(count.min(1 << 20));
                let v = interesting(rng, b.len());
                if size == 2 {
                    wr16(b, at, v as u16, l.little);
                } else {
                    wr32(b, at, v, l.little);
                }
            }
        }
        // ImageJ description numbers.
        10 => {
            let keys: [&[u8]; 5] = [
                b"images=",
                b"slices=",
                b"channels=",
                b"frames=",
                b"spacing=",
            ];
            let key = *rng.pick(&keys);
            if let Some(i) = b.windows(key.len()).position(|w| w == key) {
                let start = i + key.len();
                let end = start
                    + b[start..]
                        .iter()
                        .take_while(|c| c.is_ascii_digit() || **c == b'.')
                        .count();
                let v = rng
                    .pick(&[
                        "0",
                        "1",
                        "2",
                        "3",
                        "7",
                        "65536",
                        "100000",
                        "4294967297",
                        "99999999999999999999999",
                        "-1",
                        "nan",
                        "",
                    ])
                    .to_string();
                b.splice(start..end, v.into_bytes());
            } else {
                // No ImageJ description: flip a bit instead.
                let i = rng.usize(len);
                if let Some(byte) = b.get_mut(i) {
                    *byte ^= 1 << rng.below(8);
                }
            }
        }
        // A chunk of the file removed, or repeated elsewhere.
        _ => {
            let a = rng.usize(len);
            let n = 1 + rng.usize(64.min(len - a));
            if rng.chance(1, 2) && a + n <= b.len() {
                b.drain(a..a + n);
            } else if a + n <= b.len() {
                let chunk: Vec<u8> = b[a..a + n].to_vec();
                let at = rng.usize(b.len() + 1);
                b.splice(at..at, chunk);
            }
        }
    }
}

fn pick_entry<'a>(b: &[u8], l: &'a Layout, rng: &mut Rng) -> Option<&'a usize> {
    if l.entries.is_empty() {
        return None;
    }
    if rng.chance(3, 4) {
        let shaping: Vec<&usize> = l
            .entries
            .iter()
            .filter(|&&e| rd16(b, e, l.little).is_some_and(|t| SHAPING_TAGS.contains(&t)))
            .collect();
        if !shaping.is_empty() {
            return Some(shaping[rng.usize(shaping.len())]);
        }
    }
    l.entries.get(rng.usize(l.entries.len()))
}

fn interesting(rng: &mut Rng, file_len: usize) -> u32 {
    match rng.below(4) {
        0 => rng.u64() as u32,
        1 => (file_len as u32)
            .wrapping_add(rng.below(9) as u32)
            .wrapping_sub(4),
        _ => *rng.pick(&INTERESTING_U32),
    }
}

fn generate(rng: &mut Rng) -> Vec<u8> {
    let seeds = seeds();
    let mut b = seeds[rng.usize(seeds.len())].clone();
    for _ in 0..1 + rng.below(3) {
        mutate(&mut b, rng);
    }
    b
}

// --------------------------------------------------------------- properties

fn same_bits(a: &Stack, b: &Stack) -> bool {
    match (a, b) {
        (Stack::U8(a), Stack::U8(b)) => a == b,
        (Stack::U16(a), Stack::U16(b)) => a == b,
        (Stack::F32(a), Stack::F32(b)) => {
            a.dim() == b.dim()
                && a.iter()
                    .zip(b.iter())
                    .all(|(x, y)| x.to_bits() == y.to_bits())
        }
        _ => false,
    }
}

/// A reader error must be about the file, and say which file.
fn check_error(e: &Error, path: &Path) -> Result<(), String> {
    let msg = e.to_string();
    match e {
        Error::Format { .. } | Error::Io { .. } => {}
        Error::InvalidArgument(_) => {}
        other => return Err(format!("not a file error: {other:?}")),
    }
    if !msg.contains(&path.display().to_string()) {
        return Err(format!("the message does not name the file: {msg}"));
    }
    Ok(())
}

fn check(bytes: &[u8]) -> Outcome {
    thread_local! {
        static DIR: tempfile::TempDir = fuzz_util::scratch_dir();
    }
    let path = DIR.with(|d| d.path().join("case.tif"));
    std::fs::write(&path, bytes).map_err(|e| format!("cannot write the case: {e}"))?;
    let label = match read_tiff(&path) {
        Err(e) => {
            check_error(&e, &path)?;
            fuzz_util::label("error", &e.to_string(), &path)
        }
        Ok((stack, cal)) => {
            let (z, h, w) = stack.dim();
            if z == 0 || h == 0 || w == 0 {
                return Err(format!("an empty {z} x {h} x {w} stack"));
            }
            // What was read can be written and read back unchanged.
            let back = path.with_extension("back.tif");
            write_tiff(&back, stack.view(), &cal)
                .map_err(|e| format!("cannot write back what was read: {e}"))?;
            let (again, _) = read_tiff(&back).map_err(|e| format!("cannot re-read: {e}"))?;
            if !same_bits(&stack, &again) {
                return Err("the re-read stack differs".into());
            }
            format!("ok: {} stack", stack.pixel_type().name())
        }
    };
    if let Err(e) = read_tiff_hyperstack(&path, 0, 0) {
        check_error(&e, &path)?;
    }
    Ok(label)
}

#[test]
fn fuzz_tiff_reader() {
    // An absurd allocation fails instead of exhausting the machine.
    fuzz_util::cap_address_space(8 << 30);
    let s = fuzz_util::run(
        TARGET,
        3000,
        0x1F0C_5715_7E3D_0001,
        generate,
        |b| b.to_vec(),
        |b| b.clone(),
        |b| check(b),
    );
    s.assert_clean();
}

#[test]
fn unmutated_seeds_read_or_fail_cleanly() {
    for (i, b) in seeds().iter().enumerate() {
        if let Err(p) = check(b) {
            panic!("seed {i}: {p}");
        }
    }
}

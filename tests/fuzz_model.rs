//! Fuzzing the U-Net model-file loader (`infocus::unet::file::validate`:
//! every check `Model::load` makes before a byte reaches libtorch, so it runs
//! in builds without torch too).
//!
//! Seeds: valid model files (safetensors with infocus metadata) of several
//! architectures, with and without a training history. Each case applies
//! one to three mutations: bit flips, truncation, bytes appended, the header
//! length, and, in the JSON header, numbers (shapes, offsets: zero, huge,
//! overflowing, negative, fractional), dtypes, keys, metadata values and
//! nesting; and NaN/Inf written into the weights.
//!
//! Properties: the loader returns (no panic, no abort, bounded memory); a
//! refusal says why; an accepted file is accepted again and is still
//! accepted after a byte-identical copy; an unmutated seed is accepted.

mod fuzz_util;

use fuzz_util::{Outcome, Rng};
use infocus::unet::file::validate;
use infocus::unet::{Norm, Normalisation, UnetConfig};
use std::sync::OnceLock;

const TARGET: &str = "model";

/// A model file: the JSON header (padded to 8) and F32 tensors laid end to end.
fn model_file(meta: &[(&str, String)], tensors: &[(&str, Vec<usize>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let m: serde_json::Map<String, serde_json::Value> = meta
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone())))
        .collect();
    header.insert("__metadata__".into(), serde_json::Value::Object(m));
    let mut data = Vec::new();
    for (i, (name, shape)) in tensors.iter().enumerate() {
        let n: usize = shape.iter().product();
        let begin = data.len();
        for k in 0..n {
            data.extend_from_slice(&((k as f32 - 3.0) * 0.01 * (i + 1) as f32).to_le_bytes());
        }
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [begin, data.len()]}),
        );
    }
    let mut json = serde_json::to_vec(&serde_json::Value::Object(header)).unwrap();
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&json);
    out.extend_from_slice(&data);
    out
}

fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let configs = [
            UnetConfig::default(),
            UnetConfig {
                depth: 2,
                base_channels: 4,
                norm: Norm::Batch,
                context: 1,
                profile: false,
                guide: false,
            },
            UnetConfig {
                depth: 1,
                base_channels: 1,
                norm: Norm::None,
                context: 0,
                profile: false,
                guide: false,
            },
        ];
        let mut out = Vec::new();
        for (i, c) in configs.iter().enumerate() {
            let mut meta = vec![
                ("format", "infocus-unet".to_string()),
                ("format_version", "1".to_string()),
                ("architecture", c.to_json().to_string()),
                (
                    "normalisation",
                    Normalisation::default().to_json().to_string(),
                ),
                ("infocus_version", infocus::VERSION.to_string()),
            ];
            if i != 1 {
                meta.push((
                    "training",
                    r#"[{"kind":"train","epochs":3,"best_epoch":2,"loss":[0.5,0.4,0.45]}]"#.into(),
                ));
            }
            let tensors: Vec<(&str, Vec<usize>)> = vec![
                ("enc0.conv1.weight", vec![c.base_channels, 1, 3, 3]),
                ("enc0.conv1.bias", vec![c.base_channels]),
                ("head.weight", vec![1, c.base_channels, 1, 1]),
                ("head.bias", vec![1]),
            ];
            out.push(model_file(&meta, &tensors));
        }
        out
    })
}

/// Where the JSON header is: (start, end) of its bytes.
fn header_span(b: &[u8]) -> Option<(usize, usize)> {
    let n = u64::from_le_bytes(b.get(..8)?.try_into().ok()?) as usize;
    let end = 8usize.checked_add(n)?;
    (end <= b.len()).then_some((8, end))
}

fn mutate(b: &mut Vec<u8>, rng: &mut Rng) {
    let len = b.len().max(1);
    match rng.below(10) {
        0 => {
            for _ in 0..1 + rng.below(6) {
                let i = rng.usize(len);
                if let Some(c) = b.get_mut(i) {
                    *c ^= 1 << rng.below(8);
                }
            }
        }
        1 => {
            let cut = if rng.chance(1, 2) {
                rng.usize(len)
            } else {
                len.saturating_sub(1 + rng.usize(8))
            };
            b.truncate(cut);
        }
        2 => {
            for _ in 0..1 + rng.below(12) {
                b.push(rng.u64() as u8);
            }
        }
        // The header length.
        3 => {
            if b.len() >= 8 {
                let cur = u64::from_le_bytes(b[..8].try_into().unwrap());
                let v = *rng.pick(&[
                    0,
                    1,
                    7,
                    cur.wrapping_sub(8),
                    cur + 8,
                    16 << 20,
                    (16 << 20) + 1,
                    u64::MAX,
                    1 << 63,
                ]);
                b[..8].copy_from_slice(&v.to_le_bytes());
            }
        }
        // A number in the header replaced (shapes, offsets, epochs, ...).
        4 | 5 | 6 => {
            let Some((s, e)) = header_span(b) else { return };
            let digits: Vec<usize> = (s..e)
                .filter(|&i| b[i].is_ascii_digit() && !b[i - 1].is_ascii_digit())
                .collect();
            let Some(&at) = digits.get(rng.usize(digits.len().max(1))) else {
                return;
            };
            let end = at + b[at..e].iter().take_while(|c| c.is_ascii_digit()).count();
            let v = *rng.pick(&[
                "0",
                "1",
                "3",
                "4294967296",
                "18446744073709551615",
                "18446744073709551616",
                "4611686018427387904",
                "-1",
                "1.5",
                "1e400",
                "null",
                "\"7\"",
                "[]",
            ]);
            edit_header(b, at, end, v.as_bytes().to_vec(), rng);
        }
        // A dtype, a key, or a metadata value.
        7 => {
            let Some((s, e)) = header_span(b) else { return };
            let text = String::from_utf8_lossy(&b[s..e]).into_owned();
            let (from, to) = *rng.pick(&[
                ("\"F32\"", "\"F16\""),
                ("\"F32\"", "\"I64\""),
                ("\"F32\"", "7"),
                ("\"shape\"", "\"shap\""),
                ("\"data_offsets\"", "\"offsets\""),
                ("\"dtype\"", "\"type\""),
                ("infocus-unet", "infocus-unit"),
                ("\"format_version\":\"1\"", "\"format_version\":\"2\""),
                ("\"architecture\"", "\"arch\""),
                ("\"normalisation\"", "\"norm\""),
                ("stack-percentiles", "min-max"),
                ("unet2d", "unet3d"),
                ("\"__metadata__\"", "\"metadata\""),
                ("{\\\"", "[\\\""),
                ("\\\"depth\\\":", "\\\"depth\\\":-"),
                ("\"training\":\"[", "\"training\":\"{"),
                ("\":\"", "\":"),
            ]);
            if text.contains(from) {
                let new = text.replacen(from, to, 1);
                edit_header(b, s, e, new.into_bytes(), rng);
            }
        }
        // Deep nesting or a long string in the header.
        8 => {
            let Some((s, _)) = header_span(b) else { return };
            let junk = if rng.chance(1, 2) {
                format!("\"x\":{}1{},", "[".repeat(200), "]".repeat(200))
            } else {
                format!("\"x\":\"{}\",", "y".repeat(100_000))
            };
            edit_header(b, s + 1, s + 1, junk.into_bytes(), rng);
        }
        // NaN or Inf in the weights.
        _ => {
            let Some((_, e)) = header_span(b) else { return };
            if b.len() >= e + 4 {
                let k = e + 4 * rng.usize((b.len() - e) / 4);
                let v = *rng.pick(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX]);
                b[k..k + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
    }
}

/// Replaces bytes `at..end` of the header with `new` and, most of the
/// time, makes the length field give the header's new length (sometimes the
/// mismatch is the point).
fn edit_header(b: &mut Vec<u8>, at: usize, end: usize, new: Vec<u8>, rng: &mut Rng) {
    let Some((_, e)) = header_span(b) else { return };
    let n = (e - 8) - (end - at) + new.len();
    b.splice(at..end, new);
    if rng.chance(3, 4) {
        b[..8].copy_from_slice(&(n as u64).to_le_bytes());
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

fn check(bytes: &[u8]) -> Outcome {
    match validate(bytes) {
        Err(problem) => {
            if problem.trim().is_empty() {
                return Err("a refusal without a reason".into());
            }
            let words: Vec<String> = problem
                .split_whitespace()
                .take(8)
                .map(|w| {
                    if w.chars().any(|c| c.is_ascii_digit()) {
                        "N".into()
                    } else {
                        w.to_string()
                    }
                })
                .collect();
            Ok(format!("refused: {}", words.join(" ")))
        }
        Ok(()) => {
            if validate(&bytes.to_vec()).is_err() {
                return Err("accepted once, refused the second time".into());
            }
            Ok("accepted".into())
        }
    }
}

#[test]
fn fuzz_model_file_loader() {
    fuzz_util::cap_address_space(8 << 30);
    let s = fuzz_util::run(
        TARGET,
        3000,
        0x1F0C_5715_7E3D_0004,
        generate,
        |b| b.to_vec(),
        |b| b.clone(),
        |b| check(b),
    );
    s.assert_clean();
}

#[test]
fn unmutated_seeds_are_accepted() {
    for (i, b) in seeds().iter().enumerate() {
        assert_eq!(validate(b), Ok(()), "seed {i}");
    }
}

#[test]
fn a_model_file_path_that_is_not_a_model_is_a_file_error() {
    // Through the C door: without torch every model call is unsupported;
    // with it, a damaged file is INFOCUS_ERR_IO naming the file.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors");
    let mut b = seeds()[0].clone();
    b.truncate(b.len() - 3);
    std::fs::write(&p, &b).unwrap();
    let path = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    let mut out: *mut infocus::ffi::InfocusModel = std::ptr::null_mut();
    let s = unsafe { infocus::ffi::infocus_model_load(path.as_ptr(), std::ptr::null(), &mut out) };
    let msg = unsafe { std::ffi::CStr::from_ptr(infocus::ffi::infocus_last_error()) }
        .to_string_lossy()
        .into_owned();
    if infocus::unet::AVAILABLE {
        assert_eq!(s, infocus::ffi::INFOCUS_ERR_IO, "{msg}");
        assert!(
            msg.contains("m.safetensors") && msg.contains("truncated"),
            "{msg}"
        );
    } else {
        assert_eq!(s, infocus::ffi::INFOCUS_ERR_UNSUPPORTED, "{msg}");
    }
    assert!(out.is_null());
}

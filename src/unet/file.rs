//! Model files: one safetensors file, self-describing through its metadata.
//!
//! Layout (the safetensors format, readable by Hugging Face's `safetensors`
//! in Python and Rust): an 8-byte little-endian header length `N`, `N` bytes
//! of JSON (padded with spaces to a multiple of 8), then the tensors' bytes.
//! The JSON maps each weight's name (the model's variable path, e.g.
//! `enc0.conv1.weight`) to `{"dtype": "F32", "shape": [...],
//! "data_offsets": [begin, end]}`, and `__metadata__` to string values:
//!
//! | key | value |
//! |---|---|
//! | `format` | `infocus-unet` |
//! | `format_version` | `1` |
//! | `architecture` | JSON: [`UnetConfig::to_json`](super::UnetConfig::to_json) |
//! | `normalisation` | JSON: [`Normalisation::to_json`](super::Normalisation::to_json) |
//! | `training` | JSON: the list of training and fine-tuning runs |
//! | `infocus_version` | the version that wrote the file |
//!
//! Written with sorted keys and tensors, so equal models give equal bytes.
//!
//! Reading validates everything here, in Rust, before a byte reaches
//! libtorch: a truncated, corrupt or foreign file is a [`Error::Format`]
//! naming the file and the problem, never a crash.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// `format` in the metadata of every infocus model.
pub const FORMAT: &str = "infocus-unet";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: &str = "1";
/// Headers larger than this are refused (ours are a few kB).
const MAX_HEADER: u64 = 16 << 20;

/// One named f32 tensor.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// A model file's contents.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ModelFile {
    pub metadata: BTreeMap<String, String>,
    pub tensors: BTreeMap<String, Tensor>,
}

impl ModelFile {
    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut header = serde_json::Map::new();
        header.insert(
            "__metadata__".into(),
            serde_json::to_value(&self.metadata).expect("strings serialise"),
        );
        let mut offset = 0usize;
        for (name, t) in &self.tensors {
            let end = offset + 4 * t.data.len();
            header.insert(
                name.clone(),
                serde_json::json!({"dtype": "F32", "shape": t.shape, "data_offsets": [offset, end]}),
            );
            offset = end;
        }
        let mut json = serde_json::to_vec(&serde_json::Value::Object(header)).expect("JSON");
        json.resize(json.len().next_multiple_of(8), b' ');
        let mut out = Vec::with_capacity(8 + json.len() + offset);
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&json);
        for t in self.tensors.values() {
            for v in &t.data {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// Writes the file atomically: an existing `path` is replaced only when
    /// the whole file was written.
    pub fn write(&self, path: &Path) -> Result<()> {
        let bytes = self.encode();
        crate::io::write_atomic(path, |w| {
            w.write_all(&bytes).map_err(|e| Error::io(path, e))
        })
    }

    /// Reads and validates an infocus model file.
    pub fn read(path: &Path) -> Result<Self> {
        // The bytes and the decoded weights: twice the file, at most.
        let len = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
        crate::limits::check(2 * u128::from(len), &format!("a {len}-byte model file"))
            .map_err(|problem| Error::format(path, None, problem))?;
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::decode(&bytes).map_err(|problem| Error::format(path, None, problem))
    }

    /// Parses and validates the bytes of a model file; `Err` says what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let f = parse_safetensors(bytes)?;
        match f.metadata.get("format").map(String::as_str) {
            Some(FORMAT) => {}
            Some(other) => {
                return Err(format!(
                    "a safetensors file of format '{other}', not an infocus U-Net model ({FORMAT})"
                ));
            }
            None => {
                return Err(format!(
                    "a safetensors file without infocus metadata, not an infocus U-Net model \
                     (its metadata lacks format = {FORMAT})"
                ));
            }
        }
        match f.metadata.get("format_version").map(String::as_str) {
            Some(FORMAT_VERSION) => Ok(f),
            v => Err(format!(
                "model format version {}; this infocus ({}) reads version {FORMAT_VERSION}",
                v.unwrap_or("(none)"),
                crate::VERSION
            )),
        }
    }

    /// A metadata value parsed as JSON.
    pub fn json(&self, key: &str) -> Result<serde_json::Value, String> {
        let s = self
            .metadata
            .get(key)
            .ok_or_else(|| format!("the metadata lacks '{key}'"))?;
        serde_json::from_str(s).map_err(|e| format!("metadata '{key}' is not valid JSON: {e}"))
    }
}

/// Checks the bytes of a model file the way [`Model::load`](super::Model::load)
/// does before any byte reaches libtorch: the safetensors container (header,
/// offsets, finite F32 data), the infocus format and version, and the
/// architecture, normalisation and training history in the metadata. Needs
/// no libtorch, so tools and the fuzz tests can use it in any build (whether
/// the weights fit the architecture is checked only when loading). `Err`
/// says what is wrong.
pub fn validate(bytes: &[u8]) -> Result<(), String> {
    let f = ModelFile::decode(bytes)?;
    super::UnetConfig::from_json(&f.json("architecture")?).map_err(|e| e.to_string())?;
    super::Normalisation::from_json(&f.json("normalisation")?).map_err(|e| e.to_string())?;
    if f.metadata.contains_key("training") && !f.json("training")?.is_array() {
        return Err("metadata 'training' is not a list".into());
    }
    Ok(())
}

/// The safetensors container: header, offsets, F32 data. Every check a
/// reader needs so that nothing later can index out of bounds.
fn parse_safetensors(bytes: &[u8]) -> Result<ModelFile, String> {
    let not_st = "not a safetensors model file";
    if bytes.len() < 8 {
        return Err(format!(
            "{} bytes: too short to be a model file (truncated or empty?)",
            bytes.len()
        ));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    let rest = (bytes.len() - 8) as u64;
    if n > MAX_HEADER {
        return Err(format!(
            "{not_st}: its first 8 bytes give a header of {n} bytes (more than {MAX_HEADER})"
        ));
    }
    if n > rest {
        return Err(format!(
            "truncated: the header needs {n} bytes but only {rest} follow"
        ));
    }
    let header = &bytes[8..8 + n as usize];
    let data = &bytes[8 + n as usize..];
    let header: serde_json::Value = serde_json::from_slice(header)
        .map_err(|e| format!("{not_st}: its header is not JSON ({e})"))?;
    let obj = header
        .as_object()
        .ok_or_else(|| format!("{not_st}: its header is not a JSON object"))?;

    let mut file = ModelFile::default();
    let mut spans = Vec::new();
    for (name, v) in obj {
        if name == "__metadata__" {
            let m = v
                .as_object()
                .ok_or("the header's __metadata__ is not an object")?;
            for (k, v) in m {
                let s = v
                    .as_str()
                    .ok_or_else(|| format!("metadata '{k}' is not a string"))?;
                file.metadata.insert(k.clone(), s.to_owned());
            }
            continue;
        }
        let bad = |what: &str| format!("tensor '{name}': {what}");
        let dtype = v
            .get("dtype")
            .and_then(|d| d.as_str())
            .ok_or_else(|| bad("no dtype"))?;
        if dtype != "F32" {
            return Err(bad(&format!(
                "dtype {dtype}; infocus models hold F32 weights only"
            )));
        }
        let shape: Vec<usize> = v
            .get("shape")
            .and_then(|s| s.as_array())
            .ok_or_else(|| bad("no shape"))?
            .iter()
            .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("a shape that is not a list of sizes"))?;
        let offsets: Vec<usize> = v
            .get("data_offsets")
            .and_then(|s| s.as_array())
            .filter(|a| a.len() == 2)
            .and_then(|a| {
                a.iter()
                    .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| bad("data_offsets is not [begin, end]"))?;
        let (begin, end) = (offsets[0], offsets[1]);
        let count = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| bad("a shape too large"))?;
        if begin > end || end - begin != count.saturating_mul(4) {
            return Err(bad(&format!(
                "data_offsets [{begin}, {end}] do not hold {count} F32 values"
            )));
        }
        if end > data.len() {
            return Err(format!(
                "truncated: tensor '{name}' ends at byte {end} of the data, which has only {}",
                data.len()
            ));
        }
        spans.push((begin, end, name.clone()));
        let values = data[begin..end]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect::<Vec<f32>>();
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(bad(&format!(
                "value {i} is {} (a damaged file)",
                values[i]
            )));
        }
        file.tensors.insert(name.clone(), Tensor { shape, data: values });
    }
    // The tensors must tile the data exactly: no overlaps, holes or tail.
    spans.sort();
    let mut at = 0;
    for (begin, end, name) in &spans {
        if *begin != at {
            return Err(format!(
                "tensor '{name}' starts at byte {begin} of the data, expected {at} (overlapping or missing data)"
            ));
        }
        at = *end;
    }
    if at != data.len() {
        return Err(format!(
            "{} bytes after the last tensor (the file is damaged or not a safetensors file)",
            data.len() - at
        ));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ModelFile {
        let mut f = ModelFile::default();
        f.metadata.insert("format".into(), FORMAT.into());
        f.metadata.insert("format_version".into(), FORMAT_VERSION.into());
        f.metadata.insert("architecture".into(), "{\"a\":1}".into());
        f.tensors.insert(
            "b.weight".into(),
            Tensor {
                shape: vec![2, 3],
                data: vec![1.0, -2.0, 3.5, 0.0, 1e-3, 7.0],
            },
        );
        f.tensors.insert(
            "a.bias".into(),
            Tensor {
                shape: vec![1],
                data: vec![0.25],
            },
        );
        f
    }

    #[test]
    fn round_trip_and_stable_bytes() {
        let f = sample();
        let b = f.encode();
        assert_eq!(ModelFile::decode(&b).unwrap(), f);
        assert_eq!(f.clone().encode(), b);
        let n = u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
        assert_eq!(n % 8, 0);
        assert_eq!(b.len(), 8 + n + 4 * 7);
    }

    #[test]
    fn every_truncation_is_rejected() {
        let b = sample().encode();
        for len in 0..b.len() {
            assert!(ModelFile::decode(&b[..len]).is_err(), "length {len}");
        }
        let mut long = b.clone();
        long.push(0);
        assert!(ModelFile::decode(&long).unwrap_err().contains("after the last tensor"));
    }

    #[test]
    fn foreign_and_damaged_files_are_rejected_with_reasons() {
        let mut f = sample();
        f.metadata.remove("format");
        assert!(ModelFile::decode(&f.encode()).unwrap_err().contains("not an infocus"));
        f.metadata.insert("format".into(), "pytorch".into());
        assert!(ModelFile::decode(&f.encode()).unwrap_err().contains("pytorch"));
        let mut f = sample();
        f.metadata.insert("format_version".into(), "9".into());
        assert!(ModelFile::decode(&f.encode()).unwrap_err().contains("version 9"));
        let mut f = sample();
        f.tensors.get_mut("a.bias").unwrap().data[0] = f32::NAN;
        assert!(ModelFile::decode(&f.encode()).unwrap_err().contains("damaged"));
        // A header length far beyond the file.
        let mut b = sample().encode();
        b[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(ModelFile::decode(&b).is_err());
        // Random bytes, a PNG signature, JSON that is not an object.
        assert!(ModelFile::decode(b"\x89PNG\r\n\x1a\n0000000000000000").is_err());
        let mut b = 2u64.to_le_bytes().to_vec();
        b.extend_from_slice(b"[]");
        assert!(ModelFile::decode(&b).is_err());
        // A flipped byte inside the header.
        let mut b = sample().encode();
        b[12] ^= 0x55;
        assert!(ModelFile::decode(&b).is_err());
    }

    #[test]
    fn other_dtypes_and_bad_offsets_are_rejected() {
        let head = |json: &str, data: usize| {
            let mut j = json.as_bytes().to_vec();
            j.resize(j.len().next_multiple_of(8), b' ');
            let mut b = (j.len() as u64).to_le_bytes().to_vec();
            b.extend_from_slice(&j);
            b.resize(b.len() + data, 0);
            b
        };
        let meta = r#""__metadata__":{"format":"infocus-unet","format_version":"1"}"#;
        let ok = head(
            &format!(r#"{{{meta},"x":{{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}}}"#),
            8,
        );
        assert!(ModelFile::decode(&ok).is_ok());
        for (json, data) in [
            (r#""x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}"#, 4),
            (r#""x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}"#, 8),
            (r#""x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}"#, 8),
            (r#""x":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}"#, 12),
            (r#""x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#, 8),
            (r#""x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}"#, 8),
            (r#""x":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}"#, 8),
        ] {
            let b = head(&format!("{{{meta},{json}}}"), data);
            assert!(ModelFile::decode(&b).is_err(), "{json}");
        }
    }
}

//! `infocus::threshold::otsu_level` against scikit-image's `threshold_otsu`
//! (nbins = 256) on the reference arrays in tests/data/otsu/, made by
//! tests/data/make_otsu_reference.py: the whole array and each slice must
//! agree to within one bin width, (max - min) / 256.
//!
//! Where the histogram has a gap at the best split (`plateau_bins` > 1 in the
//! JSON), every split inside the gap is equally good; scikit-image, like
//! `np.argmax`, takes the LOWEST such bin, and so must we.

use std::path::{Path, PathBuf};

use serde_json::Value;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/otsu")
}

struct Reference {
    name: String,
    shape: [usize; 3],
    values: Vec<f32>,
    meta: Value,
}

fn references() -> Vec<Reference> {
    let mut jsons: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("tests/data/otsu is missing")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    jsons.sort();
    jsons
        .into_iter()
        .map(|json| {
            let meta: Value =
                serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
            let name = meta["name"].as_str().unwrap().to_string();
            assert_eq!(meta["dtype"], "float32");
            assert_eq!(meta["byte_order"], "little");
            assert_eq!(meta["nbins"], 256);
            let shape: Vec<usize> = meta["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            let shape = [shape[0], shape[1], shape[2]];
            let bytes = std::fs::read(json.with_extension("bin")).unwrap();
            assert_eq!(
                bytes.len(),
                4 * shape.iter().product::<usize>(),
                "{name}.bin size"
            );
            let values = bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            Reference {
                name,
                shape,
                values,
                meta,
            }
        })
        .collect()
}

/// |ours - skimage| <= one bin width (plus the f32 rounding of the values).
fn assert_within_a_bin(values: &[f32], expect: &Value, what: &str) {
    let skimage = expect["threshold"].as_f64().unwrap();
    let width = expect["bin_width"].as_f64().unwrap();
    let plateau = expect["plateau_bins"].as_u64().unwrap_or(1);
    let ours = infocus::threshold::otsu_level(values, 256) as f64;
    let slack =
        4.0 * f32::EPSILON as f64 * skimage.abs().max(expect["max"].as_f64().unwrap().abs());
    assert!(
        (ours - skimage).abs() <= width + slack,
        "{what}: otsu_level {ours}, skimage {skimage}, differ by {:.3} bins (bin width {width}, \
         range [{}, {}]; {plateau} bins tie for best, skimage takes the lowest)",
        (ours - skimage).abs() / width,
        expect["min"],
        expect["max"],
    );
}

#[test]
fn reference_data_is_there() {
    let refs = references();
    assert!(
        refs.len() >= 6,
        "expected at least 6 reference arrays, found {}",
        refs.len()
    );
}

#[test]
fn whole_array_matches_skimage() {
    for r in references() {
        assert_within_a_bin(&r.values, &r.meta["whole"], &format!("{} (whole)", r.name));
    }
}

#[test]
fn each_slice_matches_skimage() {
    for r in references() {
        let [z, h, w] = r.shape;
        let slices = r.meta["slices"].as_array().unwrap();
        assert_eq!(slices.len(), z, "{}: one entry per slice", r.name);
        for (k, expect) in slices.iter().enumerate() {
            let slice = &r.values[k * h * w..(k + 1) * h * w];
            assert_within_a_bin(slice, expect, &format!("{} (slice {k})", r.name));
        }
    }
}

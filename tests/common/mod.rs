//! Shared by the integration tests: the literal oracles, a small deterministic
//! random generator, test stacks, and the comparison rule.
//!
//! Each test binary uses only part of this module.
#![allow(dead_code)]

pub mod literal;

use ndarray::{Array3, Zip};

/// SplitMix64: a tiny, deterministic generator, so the tests need no extra crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The pixel type a test stack is made in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    U8,
    U16,
    F32,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::U8, Kind::U16, Kind::F32];

    /// The largest value a structured stack of this kind reaches.
    pub fn full_scale(self) -> f64 {
        match self {
            Kind::U8 => 255.0,
            Kind::U16 => 65535.0,
            Kind::F32 => 1.0,
        }
    }

    /// Rounds or casts `v` to a value the pixel type holds exactly.
    pub fn representable(self, v: f64) -> f64 {
        match self {
            Kind::U8 => v.round().clamp(0.0, 255.0),
            Kind::U16 => v.round().clamp(0.0, 65535.0),
            Kind::F32 => v as f32 as f64,
        }
    }
}

/// Independent uniform pixels over the type's range (f32: [-1000, 1000)).
pub fn random_stack(kind: Kind, shape: (usize, usize, usize), seed: u64) -> Array3<f64> {
    let mut rng = Rng::new(seed);
    Array3::from_shape_simple_fn(shape, || match kind {
        Kind::U8 => rng.below(256) as f64,
        Kind::U16 => rng.below(65536) as f64,
        Kind::F32 => kind.representable(rng.unit() * 2000.0 - 1000.0),
    })
}

/// Something like a focal stack: smooth background, blobs, texture whose
/// sharpness changes with the slice and across the field, and noise;
/// normalised so that it spans most of the type's range (f32: (0, 1]) without
/// saturating, so f32 stacks have no constant patches.
pub fn structured_stack(kind: Kind, shape: (usize, usize, usize), seed: u64) -> Array3<f64> {
    let (z, h, w) = shape;
    let mut rng = Rng::new(seed);
    let blobs: Vec<(f64, f64, f64, f64)> = (0..8)
        .map(|_| {
            (
                rng.unit() * h as f64,
                rng.unit() * w as f64,
                2.0 + rng.unit() * 12.0,
                0.2 + 0.5 * rng.unit(),
            )
        })
        .collect();
    let mut out = Array3::<f64>::zeros(shape);
    for k in 0..z {
        let focus_col = (k as f64 + 0.5) / z as f64 * w as f64;
        for y in 0..h {
            for x in 0..w {
                let (yf, xf) = (y as f64, x as f64);
                let mut v = 0.25 + 0.1 * (xf / 17.0).sin() * (yf / 23.0).cos();
                for &(cy, cx, r, a) in &blobs {
                    let d2 = (yf - cy).powi(2) + (xf - cx).powi(2);
                    v += a * (-d2 / (2.0 * r * r)).exp();
                }
                let sharp = (-((xf - focus_col) / (0.2 * w as f64 + 1.0)).powi(2)).exp();
                let texture = ((xf * 1.7).sin() * (yf * 2.3).cos()) * 0.12 * sharp;
                let noise = (rng.unit() - 0.5) * 0.02;
                out[[k, y, x]] = v + texture + noise;
            }
        }
    }
    // Every value is >= 0.25 - 0.1 - 0.12 - 0.01 > 0 before this.
    let max = out.iter().cloned().fold(f64::MIN, f64::max);
    let fs = kind.full_scale();
    out.mapv(|v| kind.representable(v / max * fs))
}

/// A structured stack with flat patches, as masked, padded or saturated
/// images have: the left third of every slice at 0.3 of full scale and the
/// bottom quarter at 0. Windows inside a patch have no contrast at all.
pub fn patchy_stack(kind: Kind, shape: (usize, usize, usize), seed: u64) -> Array3<f64> {
    let (_, h, w) = shape;
    let mut out = structured_stack(kind, shape, seed);
    let flat = kind.representable(0.3 * kind.full_scale());
    for ((_, y, x), v) in out.indexed_iter_mut() {
        if 4 * y >= 3 * h {
            *v = 0.0;
        } else if 3 * x < w {
            *v = flat;
        }
    }
    out
}

/// Every pixel `value`.
pub fn constant_stack(kind: Kind, shape: (usize, usize, usize), value: f64) -> Array3<f64> {
    Array3::from_elem(shape, kind.representable(value))
}

/// The stack as the library's owned type.
pub fn to_stack(kind: Kind, a: &Array3<f64>) -> infocus::Stack {
    match kind {
        Kind::U8 => infocus::Stack::U8(a.mapv(|v| {
            assert!(v == v.round() && (0.0..=255.0).contains(&v));
            v as u8
        })),
        Kind::U16 => infocus::Stack::U16(a.mapv(|v| {
            assert!(v == v.round() && (0.0..=65535.0).contains(&v));
            v as u16
        })),
        Kind::F32 => infocus::Stack::F32(a.mapv(|v| {
            assert!(v as f32 as f64 == v);
            v as f32
        })),
    }
}

/// The comparison rule of the oracle tests: |a - b| <= rel * max(|b|, 1e-30),
/// so where the oracle gives exactly 0 the fast code must give exactly 0.
/// Returns what differs, with the first pixels listed.
pub fn compare_maps(
    fast: &Array3<f32>,
    oracle: &Array3<f32>,
    rel: f64,
    what: &str,
) -> Result<(), String> {
    if fast.dim() != oracle.dim() {
        return Err(format!(
            "{what}: shape {:?}, oracle {:?}",
            fast.dim(),
            oracle.dim()
        ));
    }
    let mut bad = Vec::new();
    let mut count = 0usize;
    Zip::indexed(fast)
        .and(oracle)
        .for_each(|(z, y, x), &a, &b| {
            let (a, b) = (a as f64, b as f64);
            let ok = (a - b).abs() <= rel * b.abs().max(1e-30);
            if !ok {
                count += 1;
                if bad.len() < 4 {
                    bad.push(format!("  (z={z}, y={y}, x={x}): fast {a:e}, oracle {b:e}"));
                }
            }
        });
    if count == 0 {
        Ok(())
    } else {
        Err(format!(
            "{what}: {count} of {} pixels differ by more than {rel:e} relative; first ones:\n{}",
            oracle.len(),
            bad.join("\n")
        ))
    }
}

/// [`compare_maps`], panicking on a difference.
pub fn assert_close(fast: &Array3<f32>, oracle: &Array3<f32>, rel: f64, what: &str) {
    if let Err(e) = compare_maps(fast, oracle, rel, what) {
        panic!("{e}");
    }
}

//! The specimen before imaging: support, texture and depth surface.

use super::blur::gaussian_blur;
use super::rng::Rng;
use super::{Surface, Texture};
use rayon::prelude::*;
use std::f64::consts::{PI, TAU};

/// Stream purposes (one PRNG stream per purpose, see [`Rng::stream`]).
pub(crate) const PURPOSE_BLOB: u64 = 1;
pub(crate) const PURPOSE_TEXTURE: u64 = 2;
pub(crate) const PURPOSE_CELLS: u64 = 3;
pub(crate) const PURPOSE_SURFACE: u64 = 4;
pub(crate) const PURPOSE_NOISE: u64 = 5;

/// A filtered-noise texture in (0, 1): white noise, Gaussian blur of
/// `sigma` px, z-scored over the field, mapped by `0.5 + 0.5 tanh(z)`.
pub(crate) fn noise_texture(h: usize, w: usize, sigma: f64, rng: &mut Rng) -> Vec<f32> {
    let noise: Vec<f32> = (0..h * w).map(|_| rng.normal() as f32).collect();
    let f = gaussian_blur(&noise, h, w, sigma);
    let n = f.len() as f64;
    let mean = f.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = f
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    let sd = var.sqrt().max(1e-12);
    f.iter()
        .map(|&v| (0.5 + 0.5 * ((f64::from(v) - mean) / sd).tanh()) as f32)
        .collect()
}

/// The blob: a centred ellipse (semi-axes 0.70..0.82 of the half width and
/// half height) whose radius is modulated by harmonics 2, 3 and 4 with
/// amplitudes 0.02..0.05 and random phases. Covers about 38-53% of the field.
pub(crate) fn blob(h: usize, w: usize, seed: u64) -> Vec<bool> {
    let mut rng = Rng::stream(seed, PURPOSE_BLOB, 0);
    let fa = rng.range(0.70, 0.82);
    let fb = rng.range(0.70, 0.82);
    let harmonics: Vec<(f64, f64, f64)> = (2..=4)
        .map(|k| (f64::from(k), rng.range(0.02, 0.05), rng.range(0.0, TAU)))
        .collect();
    let (cy, cx) = ((h as f64 - 1.0) / 2.0, (w as f64 - 1.0) / 2.0);
    let (ax, ay) = (fa * w as f64 / 2.0, fb * h as f64 / 2.0);
    let mut out = vec![false; h * w];
    for y in 0..h {
        for x in 0..w {
            let dx = (x as f64 - cx) / ax;
            let dy = (y as f64 - cy) / ay;
            let rho = (dx * dx + dy * dy).sqrt();
            let theta = dy.atan2(dx);
            let edge = 1.0
                + harmonics
                    .iter()
                    .map(|&(k, a, ph)| a * (k * theta + ph).cos())
                    .sum::<f64>();
            out[y * w + x] = rho <= edge;
        }
    }
    out
}

/// Non-overlapping disks (at least 1 px apart) inside `region`, placed by
/// random sequential adsorption until they cover 25% of it. Radii are uniform
/// in 4..10 px (shrunk on images smaller than 80 px). Never empty: if no disk
/// fits, one small disk is put at the region pixel nearest the centre.
pub(crate) fn cells(h: usize, w: usize, region: &[bool], seed: u64) -> Vec<bool> {
    let mut rng = Rng::stream(seed, PURPOSE_CELLS, 0);
    let area = region.iter().filter(|&&r| r).count();
    let target = area as f64 * 0.25;
    let m = h.min(w) as f64;
    let rmax = (m / 8.0).clamp(1.5, 10.0);
    let rmin = rmax.min(4.0);
    let mean_area = PI * ((rmin + rmax) / 2.0).powi(2);
    let max_attempts = 200 + (50.0 * target / mean_area) as usize;
    let mut occ = vec![false; h * w];
    let mut covered = 0usize;
    let disk = |cy: f64, cx: f64, r: f64| {
        let (y0, y1) = ((cy - r).floor() as isize, (cy + r).ceil() as isize);
        let (x0, x1) = ((cx - r).floor() as isize, (cx + r).ceil() as isize);
        (y0..=y1)
            .flat_map(move |y| (x0..=x1).map(move |x| (y, x)))
            .filter(move |&(y, x)| {
                let (dy, dx) = (y as f64 - cy, x as f64 - cx);
                dy * dy + dx * dx <= r * r
            })
    };
    let inside = |y: isize, x: isize| y >= 0 && x >= 0 && (y as usize) < h && (x as usize) < w;
    for _ in 0..max_attempts {
        if covered as f64 >= target {
            break;
        }
        let r = rng.range(rmin, rmax);
        let cy = rng.range(0.0, h as f64);
        let cx = rng.range(0.0, w as f64);
        let fits = disk(cy, cx, r)
            .all(|(y, x)| inside(y, x) && region[y as usize * w + x as usize])
            && disk(cy, cx, r + 1.0)
                .all(|(y, x)| !inside(y, x) || !occ[y as usize * w + x as usize]);
        if fits {
            for (y, x) in disk(cy, cx, r) {
                occ[y as usize * w + x as usize] = true;
                covered += 1;
            }
        }
    }
    if covered == 0 {
        let (cy, cx) = ((h as f64 - 1.0) / 2.0, (w as f64 - 1.0) / 2.0);
        let nearest = (0..h * w)
            .filter(|&p| region[p])
            .min_by(|&a, &b| {
                let d = |p: usize| ((p / w) as f64 - cy).powi(2) + ((p % w) as f64 - cx).powi(2);
                d(a).total_cmp(&d(b))
            })
            .unwrap_or(h / 2 * w + w / 2);
        let (py, px) = ((nearest / w) as f64, (nearest % w) as f64);
        for (y, x) in disk(py, px, rmin) {
            if inside(y, x) && (region[y as usize * w + x as usize] || area == 0) {
                occ[y as usize * w + x as usize] = true;
            }
        }
    }
    occ
}

/// Support and texture `T` in [0, 1] (0 outside the support).
pub(crate) fn specimen(
    h: usize,
    w: usize,
    texture: Texture,
    background: bool,
    seed: u64,
) -> (Vec<bool>, Vec<f32>) {
    let region = if background {
        blob(h, w, seed)
    } else {
        vec![true; h * w]
    };
    let mut rng = Rng::stream(seed, PURPOSE_TEXTURE, 0);
    let (support, t) = match texture {
        Texture::Sparse => {
            let support = cells(h, w, &region, seed);
            let fine = noise_texture(h, w, 1.0, &mut rng);
            let t = fine.iter().map(|&v| 0.5 + 0.5 * v).collect();
            (support, t)
        }
        _ => {
            let sigma = match texture {
                Texture::Fine => 1.0,
                Texture::Coarse => 4.0,
                _ => 2.0,
            };
            (region, noise_texture(h, w, sigma, &mut rng))
        }
    };
    let t = t
        .iter()
        .zip(&support)
        .map(|(&v, &s)| if s { v } else { 0.0 })
        .collect();
    (support, t)
}

/// The depth surface in slice units, within [0.2 (Z-1), 0.8 (Z-1)].
pub(crate) fn surface(h: usize, w: usize, z: usize, kind: Surface, seed: u64) -> Vec<f64> {
    let zlo = 0.2 * (z as f64 - 1.0);
    let zhi = 0.8 * (z as f64 - 1.0);
    let mut rng = Rng::stream(seed, PURPOSE_SURFACE, 0);
    let (cy, cx) = ((h as f64 - 1.0) / 2.0, (w as f64 - 1.0) / 2.0);
    // Position along a random direction, normalised to [0, 1] over the field.
    let along = |rng: &mut Rng| {
        let th = rng.range(0.0, TAU);
        let (s, c) = th.sin_cos();
        let half = (c.abs() * (w as f64 - 1.0) + s.abs() * (h as f64 - 1.0)) / 2.0;
        let half = half.max(1e-9);
        move |y: usize, x: usize| {
            ((((x as f64 - cx) * c + (y as f64 - cy) * s) / half + 1.0) / 2.0).clamp(0.0, 1.0)
        }
    };
    let mut out = vec![0.0; h * w];
    match kind {
        Surface::Dome => {
            let r0 = h.min(w) as f64 / 2.0;
            for y in 0..h {
                for x in 0..w {
                    let r2 = ((y as f64 - cy).powi(2) + (x as f64 - cx).powi(2)) / (r0 * r0);
                    out[y * w + x] = zlo + (zhi - zlo) * (1.0 - r2).clamp(0.0, 1.0);
                }
            }
        }
        Surface::Tilt => {
            let u = along(&mut rng);
            for y in 0..h {
                for x in 0..w {
                    out[y * w + x] = zlo + (zhi - zlo) * u(y, x);
                }
            }
        }
        Surface::Steps => {
            let n = 3 + rng.below(2) as usize;
            let mut levels: Vec<f64> = (0..n)
                .map(|j| zlo + (zhi - zlo) * j as f64 / (n - 1) as f64)
                .collect();
            for i in (1..n).rev() {
                levels.swap(i, rng.below(i as u64 + 1) as usize);
            }
            let u = along(&mut rng);
            for y in 0..h {
                for x in 0..w {
                    let band = ((u(y, x) * n as f64) as usize).min(n - 1);
                    out[y * w + x] = levels[band];
                }
            }
        }
        Surface::Random => {
            // Gaussian-filtered white noise (filter sigma s) has the power
            // spectrum exp(-|k|^2 s^2): spectral synthesis with wave vectors
            // drawn from N(0, 1/(2 s^2)) per component gives the same random
            // field (in the limit of many modes) in O(modes x pixels),
            // whatever s. Separable: cos(kx x + ky y + p) =
            // cos(kx x) cos(ky y + p) - sin(kx x) sin(ky y + p).
            const MODES: usize = 48;
            let s = h.min(w) as f64 / 6.0;
            let ksd = 1.0 / (2f64.sqrt() * s);
            let modes: Vec<(f64, f64, f64)> = (0..MODES)
                .map(|_| (ksd * rng.normal(), ksd * rng.normal(), rng.range(0.0, TAU)))
                .collect();
            let cols: Vec<Vec<(f64, f64)>> = modes
                .iter()
                .map(|&(kx, _, _)| {
                    (0..w)
                        .map(|x| (kx * x as f64).sin_cos())
                        .map(|(s, c)| (c, s))
                        .collect()
                })
                .collect();
            out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
                let rows: Vec<(f64, f64)> = modes
                    .iter()
                    .map(|&(_, ky, ph)| {
                        let (s, c) = (ky * y as f64 + ph).sin_cos();
                        (c, s)
                    })
                    .collect();
                for (x, o) in row.iter_mut().enumerate() {
                    *o = rows
                        .iter()
                        .zip(&cols)
                        .map(|(&(cy_, sy), col)| col[x].0 * cy_ - col[x].1 * sy)
                        .sum();
                }
            });
            let lo = out.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = out.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let span = hi - lo;
            for v in &mut out {
                *v = if span > 0.0 {
                    zlo + (zhi - zlo) * (*v - lo) / span
                } else {
                    (zlo + zhi) / 2.0
                };
            }
        }
    }
    out
}

//! Small image filters used by the default preset.

use ndarray::{Array2, ArrayView2};

/// Mean over the (2r+1)^2 box around each pixel, clipped at the borders (the
/// mean of the pixels that exist), by separable running sums.
pub(crate) fn box_mean(img: ArrayView2<f64>, r: usize) -> Array2<f64> {
    let (h, w) = img.dim();
    let mut rows = Array2::<f64>::zeros((h, w));
    let mut line = vec![0.0; w.max(h) + 1];
    for y in 0..h {
        running_mean(img.row(y).iter().copied(), w, r, &mut line, |x, v| rows[(y, x)] = v);
    }
    let mut out = Array2::<f64>::zeros((h, w));
    for x in 0..w {
        running_mean(rows.column(x).iter().copied(), h, r, &mut line, |y, v| out[(y, x)] = v);
    }
    out
}

/// Clipped running mean of one line; `prefix` is scratch space of len n+1.
fn running_mean(values: impl Iterator<Item = f64>, n: usize, r: usize, prefix: &mut [f64], mut put: impl FnMut(usize, f64)) {
    prefix[0] = 0.0;
    for (i, v) in values.enumerate() {
        prefix[i + 1] = prefix[i] + v;
    }
    for i in 0..n {
        let (lo, hi) = (i.saturating_sub(r), (i + r + 1).min(n));
        put(i, (prefix[hi] - prefix[lo]) / (hi - lo) as f64);
    }
}

/// Squared gradient magnitude by central differences (one-sided at borders).
/// White noise of variance s^2 gives a mean of s^2 (s^2/2 per axis).
pub(crate) fn gradient_energy(img: ArrayView2<f64>) -> Array2<f64> {
    let (h, w) = img.dim();
    Array2::from_shape_fn((h, w), |(y, x)| {
        let d = |a: f64, b: f64, span: usize| if span == 0 { 0.0 } else { (a - b) / span as f64 };
        let (xl, xr) = (x.saturating_sub(1), (x + 1).min(w - 1));
        let (yu, yd) = (y.saturating_sub(1), (y + 1).min(h - 1));
        let gx = d(img[(y, xr)], img[(y, xl)], xr - xl);
        let gy = d(img[(yd, x)], img[(yu, x)], yd - yu);
        gx * gx + gy * gy
    })
}

/// Robust noise standard deviation of a slice (Immerkaer's operator with a
/// median instead of a mean, so texture inflates it less).
pub(crate) fn noise_sigma(img: ArrayView2<f64>) -> f64 {
    let (h, w) = img.dim();
    if h < 3 || w < 3 {
        return 0.0;
    }
    let mut r = Vec::with_capacity((h - 2) * (w - 2));
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let v = |dy: usize, dx: usize| img[(y + dy - 1, x + dx - 1)];
            let resp = v(0, 0) - 2.0 * v(0, 1) + v(0, 2) - 2.0 * v(1, 0) + 4.0 * v(1, 1) - 2.0 * v(1, 2)
                + v(2, 0)
                - 2.0 * v(2, 1)
                + v(2, 2);
            r.push(resp.abs());
        }
    }
    // The operator has unit-noise gain 6; median |N(0,1)| = 0.6745.
    median(&mut r) / 0.6745 / 6.0
}

/// Median of a scratch vector (reorders it); 0 for an empty one.
pub(crate) fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    *m
}

/// Median filter over the (2r+1)^2 box restricted to pixels where `keep` is
/// set: depth is smoothed within the specimen without bleeding across its edge.
pub(crate) fn masked_median(img: ArrayView2<f32>, keep: ArrayView2<bool>, r: usize) -> Array2<f32> {
    let (h, w) = img.dim();
    let mut buf = Vec::with_capacity((2 * r + 1).pow(2));
    Array2::from_shape_fn((h, w), |(y, x)| {
        if !keep[(y, x)] || r == 0 {
            return img[(y, x)];
        }
        buf.clear();
        for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
            for xx in x.saturating_sub(r)..(x + r + 1).min(w) {
                if keep[(yy, xx)] {
                    buf.push(f64::from(img[(yy, xx)]));
                }
            }
        }
        median(&mut buf) as f32
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_mean_matches_a_literal_loop() {
        let img = Array2::from_shape_fn((7, 9), |(y, x)| ((y * 13 + x * 7) % 11) as f64);
        let fast = box_mean(img.view(), 2);
        for ((y, x), &v) in fast.indexed_iter() {
            let (mut s, mut n) = (0.0, 0.0);
            for yy in y.saturating_sub(2)..(y + 3).min(7) {
                for xx in x.saturating_sub(2)..(x + 3).min(9) {
                    s += img[(yy, xx)];
                    n += 1.0;
                }
            }
            assert!((v - s / n).abs() < 1e-12);
        }
    }

    #[test]
    fn noise_sigma_and_gradient_energy_of_white_noise() {
        let mut state = 12345u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let img = Array2::from_shape_fn((128, 128), |_| {
            let (u1, u2) = (next().max(1e-12), next());
            3.0 * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        });
        let s = noise_sigma(img.view());
        assert!((s - 3.0).abs() < 0.15, "{s}");
        let g = gradient_energy(img.view()).mean().unwrap();
        assert!((g - 9.0).abs() < 0.6, "{g}");
    }
}

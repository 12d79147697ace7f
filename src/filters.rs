//! Small image filters shared by the core: Gaussian and box blurs, gradient
//! energy, noise estimation and medians.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

/// Index into `0..n` of position `i` under half-sample symmetric reflection
/// (`d c b a | a b c d | d c b a`, scipy's "reflect"), repeated as often as
/// needed, so kernels wider than the image stay well defined.
#[inline]
pub(crate) fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    let m = i.rem_euclid(2 * n);
    (if m < n { m } else { 2 * n - 1 - m }) as usize
}

/// The sampled Gaussian of standard deviation `sigma`, radius `ceil(3 sigma)`,
/// normalised to sum 1.
pub(crate) fn kernel(sigma: f64) -> Vec<f32> {
    let r = (3.0 * sigma).ceil().max(0.0) as isize;
    let k: Vec<f64> = (-r..=r)
        .map(|j| (-(j * j) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f64 = k.iter().sum();
    k.iter().map(|v| (v / sum) as f32).collect()
}

/// Gaussian blur of the row-major `h x w` image `src` (reflect boundary,
/// separable: rows then columns). Deterministic whatever the thread count:
/// every output value is the same sequence of operations.
pub(crate) fn gaussian_blur(src: &[f32], h: usize, w: usize, sigma: f64) -> Vec<f32> {
    assert_eq!(src.len(), h * w);
    let k = kernel(sigma);
    let r = k.len() / 2;

    // Rows.
    let mut tmp = vec![0f32; h * w];
    tmp.par_chunks_mut(w)
        .zip(src.par_chunks(w))
        .for_each(|(out, row)| {
            let padded: Vec<f32> = (0..w + 2 * r)
                .map(|i| row[reflect(i as isize - r as isize, w)])
                .collect();
            for (j, &kj) in k.iter().enumerate() {
                for (o, &p) in out.iter_mut().zip(&padded[j..j + w]) {
                    *o += kj * p;
                }
            }
        });

    // Columns, one output row at a time (cache friendly, vectorises).
    let mut dst = vec![0f32; h * w];
    dst.par_chunks_mut(w).enumerate().for_each(|(y, out)| {
        for (j, &kj) in k.iter().enumerate() {
            let yy = reflect(y as isize + j as isize - r as isize, h);
            for (o, &p) in out.iter_mut().zip(&tmp[yy * w..(yy + 1) * w]) {
                *o += kj * p;
            }
        }
    });
    dst
}

/// Mean over the (2r+1)^2 box around each pixel, clipped at the borders (the
/// mean of the pixels that exist), by running sums: along each row, then
/// down the columns a whole row at a time so memory is read in order.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn box_mean(img: ArrayView2<f64>, r: usize) -> Array2<f64> {
    let (h, w) = img.dim();
    let img = img.as_standard_layout();
    let src = img.as_slice().expect("standard layout");
    // Horizontal sums (not yet divided) of every row.
    let mut rows = vec![0.0f64; h * w];
    let mut prefix = vec![0.0f64; w + 1];
    for (row_in, row_out) in src
        .chunks_exact(w.max(1))
        .zip(rows.chunks_exact_mut(w.max(1)))
    {
        for (i, &v) in row_in.iter().enumerate() {
            prefix[i + 1] = prefix[i] + v;
        }
        for (x, o) in row_out.iter_mut().enumerate() {
            *o = prefix[(x + r + 1).min(w)] - prefix[x.saturating_sub(r)];
        }
    }
    let col_count: Vec<f64> = (0..w)
        .map(|x| ((x + r + 1).min(w) - x.saturating_sub(r)) as f64)
        .collect();
    // Vertical running sum of the row sums over [y - r, y + r].
    let mut acc = vec![0.0f64; w];
    for row in rows.chunks_exact(w.max(1)).take(r.min(h)) {
        acc.iter_mut().zip(row).for_each(|(a, &v)| *a += v);
    }
    let mut out = Array2::<f64>::zeros((h, w));
    for y in 0..h {
        if y + r < h {
            let add = &rows[(y + r) * w..(y + r + 1) * w];
            acc.iter_mut().zip(add).for_each(|(a, &v)| *a += v);
        }
        if y > r {
            let sub = &rows[(y - r - 1) * w..(y - r) * w];
            acc.iter_mut().zip(sub).for_each(|(a, &v)| *a -= v);
        }
        let n_rows = ((y + r + 1).min(h) - y.saturating_sub(r)) as f64;
        for ((o, &a), &c) in out.row_mut(y).iter_mut().zip(&acc).zip(&col_count) {
            *o = a / (n_rows * c);
        }
    }
    out
}

/// Immerkaer's noise operator response at every interior pixel, divided by
/// its white-noise gain (6), so its spread is the noise's.
pub(crate) fn noise_response(img: ArrayView2<f64>) -> Array2<f64> {
    let (h, w) = img.dim();
    Array2::from_shape_fn((h, w), |(y, x)| {
        if y == 0 || x == 0 || y + 1 >= h || x + 1 >= w {
            return f64::NAN;
        }
        let v = |dy: usize, dx: usize| img[(y + dy - 1, x + dx - 1)];
        (v(0, 0) - 2.0 * v(0, 1) + v(0, 2) - 2.0 * v(1, 0) + 4.0 * v(1, 1) - 2.0 * v(1, 2)
            + v(2, 0)
            - 2.0 * v(2, 1)
            + v(2, 2))
            / 6.0
    })
}

/// Noise variance as a function of brightness, `a + b * mean`: read noise
/// plus shot noise. Fitted to robust (median) noise levels in brightness
/// bins, so in-focus texture in a minority of pixels does not inflate it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NoiseModel {
    pub a: f64,
    pub b: f64,
}

impl NoiseModel {
    /// Fits the model to `(local mean, noise response)` samples.
    pub(crate) fn fit(mut samples: Vec<(f64, f64)>) -> NoiseModel {
        samples.retain(|(m, r)| m.is_finite() && r.is_finite());
        if samples.is_empty() {
            return NoiseModel { a: 0.0, b: 0.0 };
        }
        let nbins = 24.min(samples.len());
        let per = (samples.len() / nbins).max(1);
        let points: Vec<(f64, f64)> = binned_medians(&samples, per)
            .into_iter()
            .map(|(m, r)| (m, (r / 0.6745).powi(2)))
            .collect();
        // Least squares line through (mean, variance); slope and intercept kept >= 0.
        let n = points.len() as f64;
        let (sx, sy) = points
            .iter()
            .fold((0.0, 0.0), |(a, b), p| (a + p.0, b + p.1));
        let (mx, my) = (sx / n, sy / n);
        let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let b = if sxx > 0.0 { (sxy / sxx).max(0.0) } else { 0.0 };
        let a = (my - b * mx).max(0.0);
        // A line forced through a non-negative intercept can undershoot: never
        // model less noise than the quietest bin shows.
        let floor = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let a = if a + b * points[0].0 < floor {
            floor - b * points[0].0
        } else {
            a
        };
        NoiseModel { a: a.max(0.0), b }
    }

    pub(crate) fn variance(&self, mean: f64) -> f64 {
        self.a + self.b * mean.max(0.0)
    }
}

/// `f64` bits mapped to `u64` so that integer order is `f64::total_cmp`'s.
#[inline]
fn total_order_key(v: f64) -> u64 {
    let b = v.to_bits();
    if b >> 63 == 1 { !b } else { b | 1 << 63 }
}

/// The inverse of [`total_order_key`].
#[inline]
fn from_total_order_key(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// Cut `(mean, response)` samples, in the order of a stable sort by mean,
/// into chunks of `per` (a last, shorter chunk is dropped); per chunk, the
/// median mean and the median |response| (the element at `per / 2` of each
/// sorted, as [`median`] takes it).
///
/// The same values as sorting the samples and cutting them, without the
/// sort: the noise model bins ~300k samples of a 20 x 256^2 stack, and the
/// sort was a tenth of the default preset's time. Selections on the means
/// alone find the keys at the chunks' edges and middles; a sample then
/// belongs to the chunk its mean falls in, and a run of equal means that
/// straddles an edge is split in input order, as a stable sort leaves it.
fn binned_medians(samples: &[(f64, f64)], per: usize) -> Vec<(f64, f64)> {
    let n = samples.len();
    let full = n / per;
    if full == 0 {
        return Vec::new();
    }
    let mut keys: Vec<u64> = samples.iter().map(|p| total_order_key(p.0)).collect();
    // Sorted positions wanted: each chunk's start (its edge) and middle.
    let mut wanted: Vec<usize> = (0..full)
        .flat_map(|c| [c * per, c * per + per / 2])
        .collect();
    wanted.extend((full * per < n).then_some(full * per));
    wanted.dedup();
    select_many(&mut keys, &wanted);
    let key_at = |pos: usize| keys[pos];
    // Edges: the key at each chunk's start (1..full) and at the end of the
    // last kept chunk; the run of a key equal to an edge starts at `lo`.
    let edges: Vec<usize> = (1..=full).map(|c| c * per).filter(|&p| p < n).collect();
    let edge_keys: Vec<u64> = edges.iter().map(|&p| key_at(p)).collect();
    // Per edge, the sorted position where the run of its key starts.
    let run_start: Vec<usize> = edges
        .iter()
        .map(|&e| run_start(&keys, &wanted, e))
        .collect();
    let mut taken = vec![0usize; edges.len()];
    let mut responses: Vec<Vec<f64>> = (0..full).map(|_| Vec::with_capacity(per)).collect();
    for p in samples {
        let k = total_order_key(p.0);
        // Edges below the mean; a mean equal to an edge's key is in its run.
        let e = edge_keys.partition_point(|&x| x < k);
        let chunk = if e < edges.len() && edge_keys[e] == k {
            taken[e] += 1;
            (run_start[e] + taken[e] - 1) / per
        } else {
            e
        };
        if chunk < full {
            responses[chunk].push(p.1.abs());
        }
    }
    responses
        .into_iter()
        .enumerate()
        .map(|(c, mut r)| {
            (
                from_total_order_key(key_at(c * per + per / 2)),
                median(&mut r),
            )
        })
        .collect()
}

/// Where the run of keys equal to `keys[e]` starts in sorted order, for `keys`
/// as [`select_many`] left it at `positions` (which holds `e`): between two
/// selected positions lie only keys between theirs, so only the stretches
/// next to selected positions that hold the same key need counting.
fn run_start(keys: &[u64], positions: &[usize], e: usize) -> usize {
    let k = keys[e];
    let mut j = positions.partition_point(|&p| p < e);
    let mut equal = 0;
    loop {
        let from = if j == 0 { 0 } else { positions[j - 1] + 1 };
        equal += keys[from..positions[j]].iter().filter(|&&x| x == k).count();
        if j == 0 || keys[positions[j - 1]] != k {
            break;
        }
        equal += 1;
        j -= 1;
    }
    e - equal
}

/// Reorders `v` so that each position in `positions` (ascending) holds the
/// element a full sort would put there, by recursive selection.
fn select_many(v: &mut [u64], positions: &[usize]) {
    fn go(v: &mut [u64], offset: usize, positions: &[usize]) {
        if positions.is_empty() || v.is_empty() {
            return;
        }
        let mid = positions.len() / 2;
        let at = positions[mid] - offset;
        v.select_nth_unstable(at);
        let (left, right) = v.split_at_mut(at);
        go(left, offset, &positions[..mid]);
        go(&mut right[1..], offset + at + 1, &positions[mid + 1..]);
    }
    go(v, 0, positions)
}

/// A zeroed f32 buffer whose pages, when it is large, are asked to be huge
/// pages (Linux), so that writing it faults in 2 MiB at a time instead of
/// 4 KiB: the default preset's band scores of a 20 x 256^2 stack are 16 MB,
/// and their 4 KiB page faults cost as much as a blur.
pub(crate) fn zeroed_f32(len: usize) -> Vec<f32> {
    filled(len, 0.0)
}

/// A buffer of `len` copies of `value`, on huge pages where the system
/// allows when it is large (see [`zeroed_f32`]): the pages are advised
/// before they are first written.
pub(crate) fn filled<T: Clone>(len: usize, value: T) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(len);
    let bytes = len * std::mem::size_of::<T>();
    #[cfg(target_os = "linux")]
    if bytes >= 4 << 20 {
        let page = 4096usize;
        let start = (v.as_ptr() as usize).next_multiple_of(page);
        let end = (v.as_ptr() as usize + bytes) & !(page - 1);
        if end > start {
            // SAFETY: advisory, on pages of our own allocation; a failure
            // leaves ordinary pages.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    v.resize(len, value);
    v
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

pub(crate) use crate::median::masked_median;

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
    fn box_mean_f32_and_blur_seq_match_their_references() {
        let (h, w) = (13, 17);
        let img = Array2::from_shape_fn((h, w), |(y, x)| ((y * 31 + x * 17) % 23) as f64);
        let flat: Vec<f32> = img.iter().map(|&v| v as f32).collect();
        for r in [0, 1, 3, 9, 40] {
            let slow = box_mean(img.view(), r);
            let fast = box_mean_f32(&flat, h, w, r);
            for (a, b) in slow.iter().zip(&fast) {
                assert!((a - f64::from(*b)).abs() < 1e-4, "r {r}: {a} vs {b}");
            }
        }
        for sigma in [0.7, 2.0, 6.0] {
            assert_eq!(
                gaussian_blur(&flat, h, w, sigma),
                gaussian_blur_seq(&flat, h, w, sigma)
            );
        }
    }

    #[test]
    fn binned_medians_match_sorting_and_cutting() {
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state >> 33
        };
        for (n, levels, per) in [
            (5000, 7, 208),
            (5000, 40, 100),
            (997, 1 << 30, 41),
            (50, 3, 50),
            (49, 2, 2),
            (30, 3, 1),
            (30, 40, 1),
        ] {
            let samples: Vec<(f64, f64)> = (0..n)
                .map(|_| {
                    let m = match next() % 5 {
                        0 => [0.0, -0.0, -1.5][next() as usize % 3],
                        _ => (next() % levels) as f64 / 9.0,
                    };
                    (m, (next() % 1000) as f64 - 500.0)
                })
                .collect();
            let mut sorted = samples.clone();
            sorted.sort_by(|p, q| p.0.total_cmp(&q.0));
            let slow: Vec<(f64, f64)> = sorted
                .chunks(per)
                .filter(|c| c.len() >= per)
                .map(|c| {
                    let mut m: Vec<f64> = c.iter().map(|p| p.0).collect();
                    let mut r: Vec<f64> = c.iter().map(|p| p.1.abs()).collect();
                    (median(&mut m), median(&mut r))
                })
                .collect();
            let fast = binned_medians(&samples, per);
            let bits = |v: &[(f64, f64)]| {
                v.iter()
                    .map(|p| (p.0.to_bits(), p.1.to_bits()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(bits(&fast), bits(&slow), "n {n} levels {levels} per {per}");
        }
    }

    #[test]
    fn box_max_matches_a_literal_loop() {
        let img = Array2::from_shape_fn((11, 17), |(y, x)| ((y * 13 + x * 7) % 19) as f32 - 4.5);
        for r in [0, 1, 3, 12] {
            let fast = box_max(&img, r);
            for ((y, x), &v) in fast.indexed_iter() {
                let mut m = f32::NEG_INFINITY;
                for yy in y.saturating_sub(r)..(y + r + 1).min(11) {
                    for xx in x.saturating_sub(r)..(x + r + 1).min(17) {
                        m = m.max(img[(yy, xx)]);
                    }
                }
                assert_eq!(v, m, "r {r} at ({y}, {x})");
            }
        }
    }

    #[test]
    fn noise_model_recovers_white_noise() {
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let img = Array2::from_shape_fn((128, 128), |_| {
            let (u1, u2) = (next().max(1e-12), next());
            3.0 * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        });
        let samples: Vec<(f64, f64)> = noise_response(img.view())
            .iter()
            .map(|&r| (1.0, r))
            .collect();
        let model = NoiseModel::fit(samples);
        assert!((model.variance(1.0) - 9.0).abs() < 0.8, "{model:?}");
    }
}

/// Removes 8-connected components of `mask` smaller than `min_area` pixels:
/// isolated noise that passed a threshold is not specimen.
pub(crate) fn remove_small(mask: &mut Array2<bool>, min_area: usize) {
    let (h, w) = mask.dim();
    let mut seen = Array2::<bool>::from_elem((h, w), false);
    let mut stack = Vec::new();
    let mut comp = Vec::new();
    for start in 0..h * w {
        let (sy, sx) = (start / w, start % w);
        if !mask[(sy, sx)] || seen[(sy, sx)] {
            continue;
        }
        comp.clear();
        stack.push((sy, sx));
        seen[(sy, sx)] = true;
        while let Some((y, x)) = stack.pop() {
            comp.push((y, x));
            for yy in y.saturating_sub(1)..(y + 2).min(h) {
                for xx in x.saturating_sub(1)..(x + 2).min(w) {
                    if mask[(yy, xx)] && !seen[(yy, xx)] {
                        seen[(yy, xx)] = true;
                        stack.push((yy, xx));
                    }
                }
            }
        }
        if comp.len() < min_area {
            for &p in &comp {
                mask[p] = false;
            }
        }
    }
}

/// Maximum over the (2r+1)^2 box around each pixel (separable). Each pass
/// takes the window's values in order, one shifted copy of the row at a
/// time, so the loops run along memory and vectorise (the padding, -inf,
/// never wins a maximum).
pub(crate) fn box_max(img: &Array2<f32>, r: usize) -> Array2<f32> {
    let (h, w) = img.dim();
    let img = img.as_standard_layout();
    let src = img.as_slice().expect("standard layout");
    let mut rows = vec![f32::NEG_INFINITY; h * w];
    let mut padded = vec![f32::NEG_INFINITY; w + 2 * r];
    for (row, out) in src
        .chunks_exact(w.max(1))
        .zip(rows.chunks_exact_mut(w.max(1)))
    {
        padded[r..r + w].copy_from_slice(row);
        for d in 0..2 * r + 1 {
            for (o, &v) in out.iter_mut().zip(&padded[d..d + w]) {
                *o = o.max(v);
            }
        }
    }
    let mut out = vec![f32::NEG_INFINITY; h * w];
    for (y, o) in out.chunks_exact_mut(w.max(1)).enumerate() {
        for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
            for (o, &v) in o.iter_mut().zip(&rows[yy * w..(yy + 1) * w]) {
                *o = o.max(v);
            }
        }
    }
    Array2::from_shape_vec((h, w), out).expect("shape")
}

/// [`box_mean`] of `img` (row-major `h x w`) only at pixels `(step*i, step*j)`:
/// blur matching samples a grid, so the full filtered image is not needed.
pub(crate) fn box_mean_sampled(
    img: &[f64],
    h: usize,
    w: usize,
    r: usize,
    step: usize,
) -> Array2<f64> {
    let (sh, sw) = (h.div_ceil(step), w.div_ceil(step));
    // Horizontal sums at the sampled columns of every row.
    let mut rows = vec![0.0f64; h * sw];
    let mut prefix = vec![0.0f64; w + 1];
    for (y, row) in img.chunks_exact(w.max(1)).enumerate() {
        for (i, &v) in row.iter().enumerate() {
            prefix[i + 1] = prefix[i] + v;
        }
        for j in 0..sw {
            let x = j * step;
            rows[y * sw + j] = prefix[(x + r + 1).min(w)] - prefix[x.saturating_sub(r)];
        }
    }
    let col_count: Vec<f64> = (0..sw)
        .map(|j| ((j * step + r + 1).min(w) - (j * step).saturating_sub(r)) as f64)
        .collect();
    Array2::from_shape_fn((sh, sw), |(i, j)| {
        let y = i * step;
        let (lo, hi) = (y.saturating_sub(r), (y + r + 1).min(h));
        let sum: f64 = (lo..hi).map(|yy| rows[yy * sw + j]).sum();
        sum / ((hi - lo) as f64 * col_count[j])
    })
}

/// [`box_mean`] of a row-major f32 image, f32 out (sums kept in f64 so the
/// running sums do not drift). Same values as `box_mean` up to f32 rounding.
pub(crate) fn box_mean_f32(src: &[f32], h: usize, w: usize, r: usize) -> Vec<f32> {
    let mut out = vec![0f32; h * w];
    box_mean_f32_into(src, h, w, r, &mut Vec::new(), &mut out);
    out
}

/// [`box_mean_f32`] into `out`, with `rows` as scratch: the default preset
/// takes four box means of every slice, and fresh buffers each time cost
/// more in page faults than the sums themselves.
pub(crate) fn box_mean_f32_into(
    src: &[f32],
    h: usize,
    w: usize,
    r: usize,
    rows: &mut Vec<f64>,
    out: &mut [f32],
) {
    assert_eq!(src.len(), h * w);
    assert_eq!(out.len(), h * w);
    #[cfg(target_arch = "x86_64")]
    if crate::simd::avx2() {
        // SAFETY: `simd::avx2` is true only where the CPU has AVX2.
        return unsafe { box_mean_avx2(src, h, w, r, rows, out) };
    }
    box_mean_body(src, h, w, r, rows, out)
}

/// [`box_mean_body`] for AVX2; no FMA, so the same bits as the baseline's.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn box_mean_avx2(
    src: &[f32],
    h: usize,
    w: usize,
    r: usize,
    rows: &mut Vec<f64>,
    out: &mut [f32],
) {
    box_mean_body(src, h, w, r, rows, out)
}

/// Rows whose sliding sums run together in [`box_mean_body`].
const SLIDING_ROWS: usize = 4;

#[inline(always)]
fn box_mean_body(src: &[f32], h: usize, w: usize, r: usize, rows: &mut Vec<f64>, out: &mut [f32]) {
    rows.resize(h * w + 2 * w, 0.0);
    let (rows, rest) = rows.split_at_mut(h * w);
    let (acc, inv_cols) = rest.split_at_mut(w);
    for (x, c) in inv_cols.iter_mut().enumerate() {
        *c = 1.0 / ((x + r + 1).min(w) - x.saturating_sub(r)) as f64;
    }
    // Sliding window sums along the rows, several rows at a time: each
    // row's sum is a chain of dependent additions, and independent chains
    // side by side keep the adder busy. Each row's operations are the same
    // whatever its neighbours.
    let band = SLIDING_ROWS * w.max(1);
    for (rows_in, rows_out) in src.chunks(band).zip(rows.chunks_mut(band)) {
        if rows_in.len() == band {
            slide_rows::<SLIDING_ROWS>(rows_in, rows_out, w, r);
        } else {
            for (row_in, row_out) in rows_in.chunks_exact(w).zip(rows_out.chunks_exact_mut(w)) {
                slide_rows::<1>(row_in, row_out, w, r);
            }
        }
    }
    acc.fill(0.0);
    for row in rows.chunks_exact(w.max(1)).take(r.min(h)) {
        acc.iter_mut().zip(row).for_each(|(a, &v)| *a += v);
    }
    for (y, o) in out.chunks_exact_mut(w.max(1)).enumerate() {
        if y + r < h {
            let add = &rows[(y + r) * w..(y + r + 1) * w];
            acc.iter_mut().zip(add).for_each(|(a, &v)| *a += v);
        }
        if y > r {
            let sub = &rows[(y - r - 1) * w..(y - r) * w];
            acc.iter_mut().zip(sub).for_each(|(a, &v)| *a -= v);
        }
        let inv_rows = 1.0 / ((y + r + 1).min(h) - y.saturating_sub(r)) as f64;
        for ((o, &a), &c) in o.iter_mut().zip(acc.iter()).zip(inv_cols.iter()) {
            *o = (a * (inv_rows * c)) as f32;
        }
    }
}

/// The sliding sums over `[x - r, x + r]` of `N` rows of `w` at once.
#[inline(always)]
fn slide_rows<const N: usize>(src: &[f32], out: &mut [f64], w: usize, r: usize) {
    let mut s = [0.0f64; N];
    for (n, s) in s.iter_mut().enumerate() {
        for &v in &src[n * w..n * w + r.min(w)] {
            *s += f64::from(v);
        }
    }
    for x in 0..w {
        for (n, s) in s.iter_mut().enumerate() {
            if x + r < w {
                *s += f64::from(src[n * w + x + r]);
            }
            if x > r {
                *s -= f64::from(src[n * w + x - r - 1]);
            }
            out[n * w + x] = *s;
        }
    }
}

/// [`gaussian_blur`] on the calling thread (for work already split by slice):
/// the same operations in the same order, so the same values.
pub(crate) fn gaussian_blur_seq(src: &[f32], h: usize, w: usize, sigma: f64) -> Vec<f32> {
    let mut dst = vec![0f32; h * w];
    gaussian_blur_into(src, h, w, &kernel(sigma), &mut Vec::new(), &mut dst);
    dst
}

/// [`gaussian_blur_seq`] with kernel `k` into `dst`, with `tmp` as scratch
/// (reused from slice to slice by the default preset).
pub(crate) fn gaussian_blur_into(
    src: &[f32],
    h: usize,
    w: usize,
    k: &[f32],
    tmp: &mut Vec<f32>,
    dst: &mut [f32],
) {
    assert_eq!(src.len(), h * w);
    assert_eq!(dst.len(), h * w);
    #[cfg(target_arch = "x86_64")]
    if crate::simd::avx2() {
        // SAFETY: `simd::avx2` is true only where the CPU has AVX2.
        return unsafe { gaussian_blur_avx2(src, h, w, k, tmp, dst) };
    }
    gaussian_blur_body(src, h, w, k, tmp, dst)
}

/// [`gaussian_blur_body`] compiled for AVX2 (twice the lanes of the baseline
/// build's SSE2). Without FMA, which Rust never contracts to on its own, so
/// the values are the same bits as the baseline build's.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gaussian_blur_avx2(
    src: &[f32],
    h: usize,
    w: usize,
    k: &[f32],
    tmp: &mut Vec<f32>,
    dst: &mut [f32],
) {
    gaussian_blur_body(src, h, w, k, tmp, dst)
}

/// Outputs per step of the blurs' loops: each accumulates every tap in a
/// register and is stored once, instead of loaded and stored once per tap.
const LANES: usize = 32;

/// The separable blur: rows (reflected at the ends) then columns. Every
/// output is `0 + k[0] p[0] + k[1] p[1] + ...` in tap order, the same
/// operations as [`gaussian_blur`]'s one pass per tap, so the same values.
#[inline(always)]
fn gaussian_blur_body(
    src: &[f32],
    h: usize,
    w: usize,
    k: &[f32],
    tmp: &mut Vec<f32>,
    dst: &mut [f32],
) {
    let r = k.len() / 2;
    tmp.resize(h * w + w + 2 * r, 0.0);
    let (tmp, padded) = tmp.split_at_mut(h * w);
    for (out, row) in tmp
        .chunks_exact_mut(w.max(1))
        .zip(src.chunks_exact(w.max(1)))
    {
        // The row, reflected past its ends (only there is `reflect` needed).
        padded[r..r + w].copy_from_slice(row);
        for i in (0..r).chain(r + w..w + 2 * r) {
            padded[i] = row[reflect(i as isize - r as isize, w)];
        }
        convolve(k, out, |j, x| &padded[x + j..]);
    }
    let mut rows: Vec<usize> = Vec::with_capacity(k.len());
    for (y, out) in dst.chunks_exact_mut(w.max(1)).enumerate() {
        rows.clear();
        rows.extend((0..k.len()).map(|j| reflect(y as isize + j as isize - r as isize, h) * w));
        convolve(k, out, |j, x| &tmp[rows[j] + x..]);
    }
}

/// `out[x] = sum_j k[j] * tap(j, x)[0]`, taps in order from 0, where
/// `tap(j, x)` is the input from output `x`'s `j`-th tap on.
#[inline(always)]
fn convolve<'a>(k: &[f32], out: &mut [f32], tap: impl Fn(usize, usize) -> &'a [f32]) {
    let mut x = 0;
    let mut blocks = out.chunks_exact_mut(LANES);
    for o in &mut blocks {
        let mut acc = [0f32; LANES];
        for (j, &kj) in k.iter().enumerate() {
            let p = &tap(j, x)[..LANES];
            for (a, &p) in acc.iter_mut().zip(p) {
                *a += kj * p;
            }
        }
        o.copy_from_slice(&acc);
        x += LANES;
    }
    for (i, o) in blocks.into_remainder().iter_mut().enumerate() {
        let mut acc = 0f32;
        for (j, &kj) in k.iter().enumerate() {
            acc += kj * tap(j, x + i)[0];
        }
        *o = acc;
    }
}

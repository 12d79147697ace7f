//! Literal oracles: the focus measures and the sliding-window map, written as
//! plainly as possible from the specification, so that the fast code in
//! `src/` can be checked against them. Slow on purpose: straightforward loops,
//! f64 everywhere, nothing shared with the fast implementation.
//!
//! Specification (the fast code must match it):
//!
//! - A window is the rectangle rows [y0, y1) x cols [x0, x1) of one slice;
//!   i(y, x) is the raw intensity as f64; n is its pixel count.
//! - std: population standard deviation of the window's values, two-pass like
//!   numpy (mean, then sqrt of the mean of squared deviations). variance: the
//!   same without the sqrt.
//! - brenner: sum over horizontal pairs (y,x),(y,x+1) inside the window of
//!   (i(y,x+1) - i(y,x))^2.
//! - tenengrad: sum over pixels whose whole 3x3 neighbourhood is inside the
//!   window of Sx^2 + Sy^2 (Sobel, see [`tenengrad`]).
//! - laplacian: sum over pixels whose left and right neighbours are inside of
//!   |i(y,x-1) - 2 i(y,x) + i(y,x+1)|, plus sum over pixels whose upper and
//!   lower neighbours are inside of |i(y-1,x) - 2 i(y,x) + i(y+1,x)|.
//! - smd: sum over vertical pairs inside of |i(y,x) - i(y-1,x)| plus sum over
//!   horizontal pairs inside of |i(y,x) - i(y,x+1)|.
//! - vollath: sum over horizontal pairs inside of i(y,x) i(y,x+1) minus sum
//!   over (y,x),(y,x+2) both inside of i(y,x) i(y,x+2).
//! - entropy: -sum_b p_b log2 p_b over the window's histogram, p_b = count_b / n.
//!   Bins: for u8 stacks the raw value (256 bins); for u16 and f32 stacks 256
//!   bins over the WHOLE STACK's [min, max]:
//!   b = min(255, floor(256 (v - min) / (max - min))), b = 0 when max == min.
//! - dwt: one-level Haar on the 2x2 blocks anchored at the window origin
//!   (y0 + 2a, x0 + 2b) that lie fully inside the window; for the block
//!   [[p, q], [r, s]]: LL = p+q+r+s, LH = p+q-r-s, HL = p-q+r-s, HH = p-q-r+s;
//!   score = sqrt(sum(LH^2 + HL^2 + HH^2) / sum(LL^2)), and 0 when
//!   sum(LL^2) == 0 (or there is no whole block).
//! - A window smaller than a stencil contributes 0 for that term.
//! - Sliding scheme for one slice (H x W), window w, a list of strides: for each
//!   stride s, windows have origins y0 in {0, s, 2s, ...} < H and x0 likewise,
//!   clipped to [y0, min(y0 + w, H)) x [x0, min(x0 + w, W)); each window's
//!   score is ADDED (f64) onto every pixel it covers; the slice's map is the
//!   pixel-wise MAXIMUM over the strides, finally cast to f32. A stack's map is
//!   that, slice by slice.

use ndarray::{Array2, Array3, Axis};

/// The nine measure names, in the order the library lists them.
pub const MEASURES: [&str; 9] = [
    "brenner",
    "tenengrad",
    "laplacian",
    "smd",
    "vollath",
    "std",
    "variance",
    "entropy",
    "dwt",
];

/// The score of one window [y0, y1) x [x0, x1) of `slice`.
///
/// `bins` is the slice's entropy bin of every pixel (see [`entropy_bins`]);
/// only `entropy` reads it, and it must be given for `entropy`.
#[allow(clippy::too_many_arguments)]
pub fn window_score(
    measure: &str,
    slice: &Array2<f64>,
    y0: usize,
    y1: usize,
    x0: usize,
    x1: usize,
    bins: Option<&Array2<u8>>,
) -> f64 {
    let (h, w) = slice.dim();
    assert!(
        y0 < y1 && y1 <= h && x0 < x1 && x1 <= w,
        "window out of the slice"
    );
    match measure {
        "std" => variance(slice, y0, y1, x0, x1).sqrt(),
        "variance" => variance(slice, y0, y1, x0, x1),
        "brenner" => brenner(slice, y0, y1, x0, x1),
        "tenengrad" => tenengrad(slice, y0, y1, x0, x1),
        "laplacian" => laplacian(slice, y0, y1, x0, x1),
        "smd" => smd(slice, y0, y1, x0, x1),
        "vollath" => vollath(slice, y0, y1, x0, x1),
        "entropy" => entropy(bins.expect("entropy needs the bins"), y0, y1, x0, x1),
        "dwt" => dwt(slice, y0, y1, x0, x1),
        other => panic!("unknown measure {other:?}"),
    }
}

/// Population variance, two-pass: the mean first, then the mean of the
/// squared deviations from it.
pub fn variance(img: &Array2<f64>, y0: usize, y1: usize, x0: usize, x1: usize) -> f64 {
    let n = ((y1 - y0) * (x1 - x0)) as f64;
    let mut sum = 0.0;
    for y in y0..y1 {
        for x in x0..x1 {
            sum += img[[y, x]];
        }
    }
    let mean = sum / n;
    let mut dev2 = 0.0;
    for y in y0..y1 {
        for x in x0..x1 {
            let d = img[[y, x]] - mean;
            dev2 += d * d;
        }
    }
    dev2 / n
}

/// Sum of squared horizontal differences of neighbours.
pub fn brenner(img: &Array2<f64>, y0: usize, y1: usize, x0: usize, x1: usize) -> f64 {
    let mut s = 0.0;
    for y in y0..y1 {
        for x in x0..x1 {
            if x + 1 < x1 {
                let d = img[[y, x + 1]] - img[[y, x]];
                s += d * d;
            }
        }
    }
    s
}

/// Sum of squared Sobel gradient magnitudes over the pixels whose whole 3x3
/// neighbourhood lies inside the window.
pub fn tenengrad(img: &Array2<f64>, y0: usize, y1: usize, x0: usize, x1: usize) -> f64 {
    let i = |y: usize, x: usize| img[[y, x]];
    let mut s = 0.0;
    for y in y0..y1 {
        for x in x0..x1 {
            // y - 1 >= y0, y + 1 < y1, x - 1 >= x0, x + 1 < x1.
            let inside = y > y0 && y + 1 < y1 && x > x0 && x + 1 < x1;
            if !inside {
                continue;
            }
            let sx = (i(y - 1, x + 1) + 2.0 * i(y, x + 1) + i(y + 1, x + 1))
                - (i(y - 1, x - 1) + 2.0 * i(y, x - 1) + i(y + 1, x - 1));
            let sy = (i(y + 1, x - 1) + 2.0 * i(y + 1, x) + i(y + 1, x + 1))
                - (i(y - 1, x - 1) + 2.0 * i(y - 1, x) + i(y - 1, x + 1));
            s += sx * sx + sy * sy;
        }
    }
    s
}

/// Sum of absolute second differences, horizontal and vertical separately.
pub fn laplacian(img: &Array2<f64>, y0: usize, y1: usize, x0: usize, x1: usize) -> f64 {
    let i = |y: usize, x: usize| img[[y, x]];
    let mut s = 0.0;
    for y in y0..y1 {
        for x in x0..x1 {
            // x - 1 and x + 1 inside.
            if x > x0 && x + 1 < x1 {
                s += (i(y, x - 1) - 2.0 * i(y, x) + i(y, x + 1)).abs();
            }
        }
    }
    for y in y0..y1 {
        for x in x0..x1 {
            // y - 1 and y + 1 inside.
            if y > y0 && y + 1 < y1 {
                s += (i(y - 1, x) - 2.0 * i(y, x) + i(y + 1, x)).abs();
            }
        }
    }
    s
}

/// Sum of absolute differences of vertical and of horizontal neighbours.
pub fn smd(img: &Array2<f64>, y0: usize, y1: usize, x0: usize, x1: usize) -> f64 {
    let i = |y: usize, x: usize| img[[y, x]];
    let mut s = 0.0;
    for y in y0..y1 {
        for x in x0..x1 {
            // y - 1 inside.
            if y > y0 {
                s += (i(y, x) - i(y - 1, x)).abs();
            }
        }
    }
    for y in y0..y1 {
        for x in x0..x1 {
            if x + 1 < x1 {
                s += (i(y, x) - i(y, x + 1)).abs();
            }
        }
    }
    s
}

/// Vollath's F4: autocorrelation at lag 1 minus autocorrelation at lag 2.
pub fn vollath(img: &Array2<f64>, y0: usize, y1: usize, x0: usize, x1: usize) -> f64 {
    let i = |y: usize, x: usize| img[[y, x]];
    let mut lag1 = 0.0;
    let mut lag2 = 0.0;
    for y in y0..y1 {
        for x in x0..x1 {
            if x + 1 < x1 {
                lag1 += i(y, x) * i(y, x + 1);
            }
            if x + 2 < x1 {
                lag2 += i(y, x) * i(y, x + 2);
            }
        }
    }
    lag1 - lag2
}

/// Shannon entropy (bits) of the window's histogram of precomputed bins.
pub fn entropy(bins: &Array2<u8>, y0: usize, y1: usize, x0: usize, x1: usize) -> f64 {
    let mut counts = [0u64; 256];
    for y in y0..y1 {
        for x in x0..x1 {
            counts[bins[[y, x]] as usize] += 1;
        }
    }
    let n = ((y1 - y0) * (x1 - x0)) as f64;
    let mut h = 0.0;
    for &c in counts.iter() {
        if c > 0 {
            let p = c as f64 / n;
            h -= p * p.log2();
        }
    }
    h
}

/// One-level Haar wavelet: detail energy over approximation energy, sqrt.
pub fn dwt(img: &Array2<f64>, y0: usize, y1: usize, x0: usize, x1: usize) -> f64 {
    let mut detail = 0.0;
    let mut approx = 0.0;
    let blocks_y = (y1 - y0) / 2;
    let blocks_x = (x1 - x0) / 2;
    for a in 0..blocks_y {
        for b in 0..blocks_x {
            let y = y0 + 2 * a;
            let x = x0 + 2 * b;
            let p = img[[y, x]];
            let q = img[[y, x + 1]];
            let r = img[[y + 1, x]];
            let s = img[[y + 1, x + 1]];
            let ll = p + q + r + s;
            let lh = p + q - r - s;
            let hl = p - q + r - s;
            let hh = p - q - r + s;
            detail += lh * lh + hl * hl + hh * hh;
            approx += ll * ll;
        }
    }
    if approx == 0.0 {
        0.0
    } else {
        (detail / approx).sqrt()
    }
}

/// The entropy bin of every pixel of the stack: the raw value for u8 stacks,
/// else 256 bins spanning the whole stack's [min, max].
pub fn entropy_bins(stack: &Array3<f64>, is_u8: bool) -> Array3<u8> {
    if is_u8 {
        return stack.mapv(|v| {
            assert!(
                (0.0..=255.0).contains(&v) && v.fract() == 0.0,
                "not a u8 value: {v}"
            );
            v as u8
        });
    }
    let mut min = f64::INFINITY;
    let mut max = f64::NEG_INFINITY;
    for &v in stack.iter() {
        min = min.min(v);
        max = max.max(v);
    }
    stack.mapv(|v| {
        if max == min {
            0
        } else {
            let b = (256.0 * (v - min) / (max - min)).floor();
            b.min(255.0) as u8
        }
    })
}

/// The map of one slice for one stride: every window's score added onto the
/// pixels it covers (f64).
pub fn stride_map(
    measure: &str,
    slice: &Array2<f64>,
    bins: Option<&Array2<u8>>,
    window: usize,
    stride: usize,
) -> Array2<f64> {
    assert!(window >= 1 && stride >= 1);
    let (h, w) = slice.dim();
    let mut acc = Array2::<f64>::zeros((h, w));
    let mut y0 = 0;
    while y0 < h {
        let y1 = (y0 + window).min(h);
        let mut x0 = 0;
        while x0 < w {
            let x1 = (x0 + window).min(w);
            let score = window_score(measure, slice, y0, y1, x0, x1, bins);
            for y in y0..y1 {
                for x in x0..x1 {
                    acc[[y, x]] += score;
                }
            }
            x0 += stride;
        }
        y0 += stride;
    }
    acc
}

/// The map of one slice: pixel-wise maximum over the strides of the stride
/// maps, cast to f32.
pub fn slice_map(
    measure: &str,
    slice: &Array2<f64>,
    bins: Option<&Array2<u8>>,
    window: usize,
    strides: &[usize],
) -> Array2<f32> {
    assert!(!strides.is_empty());
    let (h, w) = slice.dim();
    let mut best = Array2::<f64>::from_elem((h, w), f64::NEG_INFINITY);
    for &s in strides {
        let m = stride_map(measure, slice, bins, window, s);
        for y in 0..h {
            for x in 0..w {
                if m[[y, x]] > best[[y, x]] {
                    best[[y, x]] = m[[y, x]];
                }
            }
        }
    }
    best.mapv(|v| v as f32)
}

/// The focus map of a stack (Z x H x W, raw intensities as f64), slice by
/// slice. `is_u8` selects the entropy binning (raw values for u8 stacks).
pub fn literal_map(
    stack: &Array3<f64>,
    is_u8: bool,
    measure: &str,
    window: usize,
    strides: &[usize],
) -> Array3<f32> {
    let (z, h, w) = stack.dim();
    let bins = if measure == "entropy" {
        Some(entropy_bins(stack, is_u8))
    } else {
        None
    };
    let mut out = Array3::<f32>::zeros((z, h, w));
    for k in 0..z {
        let slice = stack.index_axis(Axis(0), k).to_owned();
        let slice_bins = bins.as_ref().map(|b| b.index_axis(Axis(0), k).to_owned());
        let m = slice_map(measure, &slice, slice_bins.as_ref(), window, strides);
        out.index_axis_mut(Axis(0), k).assign(&m);
    }
    out
}

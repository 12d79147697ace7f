#!/usr/bin/env python3
"""Generates the Otsu reference data that tests/otsu_skimage.rs checks against.

Run from the repository root with the project's virtual environment
(made by setup.sh):

    .venv/bin/python tests/data/make_otsu_reference.py

For each array it writes, under tests/data/otsu/:

    NAME.bin   the array as raw little-endian float32, C order (Z x H x W)
    NAME.json  its shape and skimage.filters.threshold_otsu(arr, nbins=256)
               of the whole array and of each slice, with the bin width
               (max - min) / 256 that the Rust test uses as its tolerance

The data are deterministic (fixed seeds), so re-running the script rewrites
the same bytes for the same numpy / scikit-image versions.
"""

from __future__ import annotations

import json
import pathlib
import sys

import numpy as np
import scipy
import skimage
from scipy import ndimage
from skimage.filters import threshold_otsu

NBINS = 256
SHAPE = (3, 40, 50)
OUT = pathlib.Path(__file__).resolve().parent / "otsu"


def bimodal(rng: np.random.Generator) -> np.ndarray:
    """A mixture of two overlapping Gaussians (30 % bright, 70 % dark)."""
    n = int(np.prod(SHAPE))
    bright = rng.random(n) < 0.3
    v = np.where(bright, rng.normal(170.0, 22.0, n), rng.normal(70.0, 20.0, n))
    return v.reshape(SHAPE)


def lognormal(rng: np.random.Generator) -> np.ndarray:
    """A long right tail: most mass near 1, a few values near 100."""
    return rng.lognormal(mean=0.0, sigma=0.9, size=SHAPE)


def near_constant(rng: np.random.Generator) -> np.ndarray:
    """A flat background with tiny noise and a few bright outliers per slice."""
    v = 10.0 + rng.normal(0.0, 0.01, SHAPE)
    for z in range(SHAPE[0]):
        k = 5 + 3 * z
        ys = rng.integers(0, SHAPE[1], k)
        xs = rng.integers(0, SHAPE[2], k)
        v[z, ys, xs] = rng.uniform(500.0, 1000.0, k)
    return v


def u16_range(rng: np.random.Generator) -> np.ndarray:
    """Integers over the 16-bit range (structured background + spots), as float32."""
    z, h, w = SHAPE
    yy, xx = np.mgrid[0:h, 0:w]
    v = np.empty(SHAPE)
    for k in range(z):
        base = 8000.0 + 3000.0 * np.sin(xx / (6.0 + k)) * np.cos(yy / 9.0)
        spots = np.zeros((h, w))
        for _ in range(12):
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            spots += 50000.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 2.5**2))
        v[k] = base + spots + rng.normal(0.0, 400.0, (h, w))
    return np.clip(np.rint(v), 0, 65535)


def u8_range(rng: np.random.Generator) -> np.ndarray:
    """Integers 0..255 with many ties, as float32 (ties sit on bin edges)."""
    a = rng.binomial(255, 0.25, SHAPE).astype(np.float64)
    b = rng.binomial(255, 0.7, SHAPE).astype(np.float64)
    return np.where(rng.random(SHAPE) < 0.4, b, a)


def focus_map(rng: np.random.Generator) -> np.ndarray:
    """A focus-score map as the sliding-window scheme makes it: per slice, the
    population std of each window is added onto the pixels it covers
    (window 16, strides 4 and 6, edge windows clipped), then the maximum over
    the strides. The image is texture whose sharpness varies across the field
    and between slices, like a focal stack."""
    z, h, w = SHAPE
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty(SHAPE)
    window, strides = 16, (4, 6)
    for k in range(z):
        texture = rng.normal(0.0, 1.0, (h, w))
        sharp = ndimage.gaussian_filter(texture, 0.7)
        blurred = ndimage.gaussian_filter(texture, 3.0)
        # In focus in a band that moves with k.
        weight = np.exp(-((xx - (10.0 + 15.0 * k)) ** 2) / (2 * 8.0**2))
        img = 100.0 + 60.0 * (weight * sharp + (1 - weight) * blurred)
        img += rng.normal(0.0, 1.0, (h, w))
        per_stride = []
        for s in strides:
            acc = np.zeros((h, w))
            for y0 in range(0, h, s):
                for x0 in range(0, w, s):
                    y1, x1 = min(y0 + window, h), min(x0 + window, w)
                    acc[y0:y1, x0:x1] += img[y0:y1, x0:x1].std()
            per_stride.append(acc)
        out[k] = np.max(per_stride, axis=0)
    return out


def otsu_f64(values: np.ndarray) -> tuple[float, float, int]:
    """Otsu recomputed in f64 (skimage counts in float32): the chosen bin
    center, how clear-cut the choice is: the relative gap between the best
    between-class variance and the best one more than one bin away from it.
    A gap near float32 rounding would make the reference fragile. Third: the
    number of bins tied exactly for the best (1 unless the histogram has a gap
    there)."""
    counts, edges = np.histogram(values.ravel().astype(np.float64), NBINS)
    centers = (edges[:-1] + edges[1:]) / 2
    counts = counts.astype(np.float64)
    w1 = np.cumsum(counts)
    w2 = np.cumsum(counts[::-1])[::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        m1 = np.cumsum(counts * centers) / w1
        m2 = (np.cumsum((counts * centers)[::-1]) / w2[::-1])[::-1]
    v = np.nan_to_num(w1[:-1] * w2[1:] * (m1[:-1] - m2[1:]) ** 2)
    i = int(np.argmax(v))
    # Empty bins give runs of exactly equal values (any split inside a gap of
    # the histogram separates the same pixels); skimage, like np.argmax, takes
    # the lowest bin of such a plateau. Those ties are exact in any
    # implementation built on cumulative sums, so they do not count as fragile.
    end = i
    while end + 1 < v.size and v[end + 1] == v[i]:
        end += 1
    far = v.copy()
    far[max(0, i - 1) : end + 2] = -np.inf
    return float(centers[i]), float((v[i] - far.max()) / v[i]), end - i + 1


def entry(values: np.ndarray) -> dict:
    lo, hi = float(values.min()), float(values.max())
    assert hi > lo, "a constant array has no Otsu threshold to test"
    ours, margin, plateau = otsu_f64(values)
    assert margin > 1e-5, f"Otsu choice too close to a tie (margin {margin})"
    theirs = float(threshold_otsu(values, nbins=NBINS))
    width = (hi - lo) / NBINS
    assert abs(ours - theirs) <= width, (ours, theirs, width)
    return {
        "threshold": theirs,
        "bin_width": width,
        "min": lo,
        "max": hi,
        "margin": margin,
        "plateau_bins": plateau,
    }


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    makers = [bimodal, lognormal, near_constant, u16_range, u8_range, focus_map]
    for seed, make in enumerate(makers, start=1):
        name = make.__name__
        arr = make(np.random.default_rng(1000 + seed)).astype(np.float32)
        assert arr.shape == SHAPE and np.isfinite(arr).all()
        arr.astype("<f4").tofile(OUT / f"{name}.bin")
        meta = {
            "name": name,
            "description": (make.__doc__ or "").split("\n")[0],
            "shape": list(arr.shape),
            "dtype": "float32",
            "byte_order": "little",
            "layout": "C (Z x H x W)",
            "nbins": NBINS,
            "whole": entry(arr),
            "slices": [entry(arr[z]) for z in range(arr.shape[0])],
            "skimage_version": skimage.__version__,
            "numpy_version": np.__version__,
            "scipy_version": scipy.__version__,
            "generator": "tests/data/make_otsu_reference.py",
        }
        (OUT / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")
        print(
            f"{name:14s} whole {meta['whole']['threshold']:.6g} "
            f"(bin {meta['whole']['bin_width']:.3g}, margin {meta['whole']['margin']:.3g}); "
            f"slices {[round(s['threshold'], 4) for s in meta['slices']]} "
            f"(margins {[float('%.2g' % s['margin']) for s in meta['slices']]})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

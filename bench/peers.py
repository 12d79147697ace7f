"""Python peers of infocus's `paper` preset focus map, for the benchmarks.

Both compute the published notebook's sliding-window std map (see
../../shared/DESIGN.md, "Reference semantics"): for each stride s, windows of
side `window` start at y0 in 0, s, 2s, ... < H (x likewise), are clipped at
the right and bottom edges, and each window's population standard deviation
is ADDED onto every pixel it covers; a slice's map is the pixel-wise maximum
over the strides.

* `peer_a` is a literal transcription of that loop, the paper's own way:
  one numpy `std` per window and one slice-add per window.
* `peer_b` is the fastest plain numpy we could write: window sums from
  integral images (exact int64 for integer stacks) read at the lattice
  corners in one gather, and the "add onto covered pixels" step done
  separably on the 2-D prefix sum of the window grid (a pixel's value is a
  rectangle sum of the grid), with the output rows that share a band of
  window rows computed once.

Both return float32 maps like infocus. The benchmark checks them against
infocus's own map before timing them (bench/run.py).
"""

from __future__ import annotations

import numpy as np

PAPER_WINDOW = 128
PAPER_STRIDES = tuple(range(8, 37, 2))


# --------------------------------------------------------------------- (a) --


def peer_a_slice(img: np.ndarray, window: int = PAPER_WINDOW,
                 strides=PAPER_STRIDES) -> np.ndarray:
    """The notebook's loop on one slice: every window, every covered pixel."""
    h, w = img.shape
    best = None
    for s in strides:
        acc = np.zeros((h, w), dtype=np.float64)
        for y0 in range(0, h, s):
            for x0 in range(0, w, s):
                win = img[y0:y0 + window, x0:x0 + window]
                acc[y0:y0 + window, x0:x0 + window] += np.std(win)
        best = acc if best is None else np.maximum(best, acc)
    return best.astype(np.float32)


def peer_a(stack: np.ndarray, window: int = PAPER_WINDOW,
           strides=PAPER_STRIDES) -> np.ndarray:
    return np.stack([peer_a_slice(s, window, strides) for s in stack])


# --------------------------------------------------------------------- (b) --


def _axis(n: int, window: int, s: int):
    """Window starts and (clipped) ends along one axis, and for every
    coordinate the covering windows lo..hi (lattice indices)."""
    starts = np.arange(0, n, s)
    ends = np.minimum(starts + window, n)
    c = np.arange(n)
    lo = -((-(c + 1 - window).clip(min=0)) // s)  # ceil((c + 1 - w) / s), >= 0
    hi = np.minimum(c // s, len(starts) - 1) + 1
    return starts, ends, lo, hi


def _integral(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integral images (one row and column of zeros in front) of v and v^2:
    exact int64 for integer pixels, float64 otherwise."""
    if np.issubdtype(img.dtype, np.integer):
        v = img.astype(np.int64)
    else:
        v = img.astype(np.float64)
        v = v - v.mean()  # std is shift-invariant; keeps the sums small
    h, w = v.shape
    i1 = np.zeros((h + 1, w + 1), dtype=v.dtype)
    i2 = np.zeros((h + 1, w + 1), dtype=v.dtype)
    np.cumsum(v, axis=0, out=i1[1:, 1:])
    np.cumsum(i1[1:, 1:], axis=1, out=i1[1:, 1:])
    np.cumsum(v * v, axis=0, out=i2[1:, 1:])
    np.cumsum(i2[1:, 1:], axis=1, out=i2[1:, 1:])
    return i1, i2


def peer_b_slice(img: np.ndarray, window: int = PAPER_WINDOW,
                 strides=PAPER_STRIDES) -> np.ndarray:
    h, w = img.shape
    i1, i2 = _integral(img)
    out = np.zeros((h, w), dtype=np.float32)
    for s in strides:
        y0, y1, ylo, yhi = _axis(h, window, s)
        x0, x1, xlo, xhi = _axis(w, window, s)
        # Window sums: four corner gathers of the integral images.
        def rect(ii):
            return (ii[np.ix_(y1, x1)] - ii[np.ix_(y0, x1)]
                    - ii[np.ix_(y1, x0)] + ii[np.ix_(y0, x0)])
        s1, s2 = rect(i1), rect(i2)
        n = np.outer(y1 - y0, x1 - x0)
        if s1.dtype == np.int64:
            num = (n * s2 - s1 * s1).astype(np.float64)  # exact in int64 here
        else:
            num = n * s2 - s1 * s1
        grid = np.sqrt(np.maximum(num, 0.0)) / n
        # A pixel's value is the sum of the grid over rows lo(y)..hi(y) and
        # columns lo(x)..hi(x): a rectangle of the grid's prefix sum P.
        p = np.zeros((grid.shape[0] + 1, grid.shape[1] + 1))
        np.cumsum(grid, axis=0, out=p[1:, 1:])
        np.cumsum(p[1:, 1:], axis=1, out=p[1:, 1:])
        cols = p[:, xhi] - p[:, xlo]  # (ny + 1) x W
        # Rows with the same band (lo, hi) are the same row: one maximum per band.
        change = np.flatnonzero((np.diff(ylo) != 0) | (np.diff(yhi) != 0)) + 1
        bounds = np.concatenate(([0], change, [h]))
        rows = (cols[yhi[bounds[:-1]]] - cols[ylo[bounds[:-1]]]).astype(np.float32)
        for k in range(len(bounds) - 1):
            a, b = bounds[k], bounds[k + 1]
            np.maximum(out[a:b], rows[k], out=out[a:b])
    return out


def peer_b(stack: np.ndarray, window: int = PAPER_WINDOW,
           strides=PAPER_STRIDES) -> np.ndarray:
    return np.stack([peer_b_slice(s, window, strides) for s in stack])


# ------------------------------------------------------------------ checks --


def agree(peer: np.ndarray, ref: np.ndarray, rel: float = 1e-5) -> tuple[bool, float]:
    """Whether a peer's map matches infocus's: |peer - ref| <= rel * max|ref|
    everywhere (the rounding of f64 prefix sums is relative to the map's
    scale, not to each pixel). Returns (ok, worst error / max|ref|)."""
    scale = float(np.abs(ref).max()) or 1.0
    err = float(np.abs(peer.astype(np.float64) - ref.astype(np.float64)).max()) / scale
    return err <= rel, err

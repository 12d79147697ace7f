//! Tiled inference for any slice size: overlapping tiles, each weighted by a
//! smooth window, blended by a weighted mean. Never resizes.
//!
//! Along each axis of `n` pixels, with largest tile `t` and least overlap `o`:
//! * a slice longer than `t` is covered by the fewest tiles that overlap by
//!   at least `o`, `k = ceil((n - o) / (t - o))`, each as short as that
//!   allows (`ceil((n + (k - 1) o) / k)` rounded up to the network's multiple
//!   `2^depth`) and spread evenly, the first and last flush with the edges:
//!   1024 px in tiles of at most 256 gives 5 tiles of 232, not 5 of 256;
//! * a slice of at most `t` is one tile of `n` rounded up to the multiple, the
//!   excess filled by reflecting the slice (and cut off again afterwards).
//!
//! The window is 1 inside and falls as `sin^2` over the `o / 2` pixels at each
//! end of a tile (never to 0), so that a pixel's prediction comes mostly from
//! the tiles it sits well inside, where the network saw its whole context.

/// Tiles along one axis.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Axis1 {
    /// Tile length (a multiple of the network's multiple).
    pub tile: usize,
    /// Tile origins, in increasing order.
    pub origins: Vec<usize>,
    /// Blending weight at each position of a tile, all > 0.
    pub window: Vec<f32>,
}

impl Axis1 {
    /// Tiles over `n > 0` pixels; `tile` is a multiple of `multiple` and
    /// `overlap < tile`.
    pub fn new(n: usize, tile: usize, overlap: usize, multiple: usize) -> Self {
        debug_assert!(n > 0 && tile % multiple == 0 && overlap < tile);
        let (tile, origins) = if n <= tile {
            (n.div_ceil(multiple) * multiple, vec![0])
        } else {
            let k = (n - overlap).div_ceil(tile - overlap);
            let t = (n + (k - 1) * overlap).div_ceil(k).div_ceil(multiple) * multiple;
            // Evenly spread, rounded: neighbours still overlap by >= overlap - 1.
            let span = (n - t) as f64 / (k - 1) as f64;
            let origins = (0..k).map(|i| (i as f64 * span).round() as usize).collect();
            (t, origins)
        };
        let ramp = (overlap / 2).min(tile / 2);
        let window = (0..tile)
            .map(|i| {
                let d = i.min(tile - 1 - i);
                if d < ramp {
                    let s = (std::f64::consts::FRAC_PI_2 * (d as f64 + 0.5) / ramp as f64).sin();
                    (s * s) as f32
                } else {
                    1.0
                }
            })
            .collect();
        Axis1 {
            tile,
            origins,
            window,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_every_pixel_and_end_flush() {
        for n in [1, 7, 8, 100, 171, 256, 257, 300, 1000, 1024, 4099] {
            for (tile, overlap) in [(64, 16), (256, 32), (128, 0), (16, 15)] {
                let a = Axis1::new(n, tile, overlap, 8);
                assert_eq!(a.tile % 8, 0);
                assert!(a.tile <= tile.max(n.div_ceil(8) * 8));
                let last = *a.origins.last().unwrap();
                if n > tile {
                    assert_eq!(last + a.tile, n, "n {n}");
                    assert_eq!(a.origins[0], 0);
                    // The fewest tiles: one fewer could not overlap enough.
                    let k = a.origins.len();
                    assert!((k - 1) * (tile - overlap) + overlap < n, "n {n} k {k}");
                } else {
                    assert!(a.tile >= n && a.tile < n + 8);
                    assert_eq!(a.origins, vec![0]);
                }
                for w in a.origins.windows(2) {
                    assert!(w[1] > w[0], "n {n}: {:?}", a.origins);
                    assert!(w[0] + a.tile >= w[1] + overlap.saturating_sub(1), "n {n}");
                }
                assert!(a.window.iter().all(|&w| w > 0.0 && w <= 1.0));
            }
        }
        let a = Axis1::new(1024, 256, 32, 8);
        assert_eq!((a.tile, a.origins.len()), (232, 5));
    }

    #[test]
    fn the_window_is_symmetric_and_flat_inside() {
        // Tiles are balanced over the image, so the tile may be under 256.
        let a = Axis1::new(512, 256, 64, 8);
        let t = a.tile;
        assert!(t > 64 && t <= 256, "tile {t}");
        let w = &a.window;
        assert_eq!(w.len(), t);
        for i in 0..t {
            assert_eq!(w[i], w[t - 1 - i]);
        }
        assert!(w[..32].windows(2).all(|p| p[0] < p[1]));
        assert!(w[32..t - 32].iter().all(|&v| v == 1.0));
    }
}

//! Window geometry of one stride: origins on the lattice `0, s, 2s, ... < len`,
//! windows `[o, min(o + win, len))`, and which windows cover a coordinate.

/// The windows of one stride along one axis of length `len`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Axis1 {
    pub len: usize,
    pub win: usize,
    pub s: usize,
    /// Number of windows, `ceil(len / s)`.
    pub n: usize,
}

impl Axis1 {
    pub(crate) fn new(len: usize, win: usize, s: usize) -> Self {
        Axis1 {
            len,
            win,
            s,
            n: len.div_ceil(s),
        }
    }

    /// Window `k` as `[start, end)`.
    #[inline]
    pub(crate) fn window(&self, k: usize) -> (usize, usize) {
        let o = k * self.s;
        (o, (o + self.win).min(self.len))
    }

    /// The windows covering coordinate `c`: lattice indices `lo..hi`
    /// (`ceil((c + 1 - win) / s) ..= c / s`); empty when `hi <= lo`.
    #[inline]
    pub(crate) fn cover(&self, c: usize) -> (usize, usize) {
        (
            (c + 1).saturating_sub(self.win).div_ceil(self.s),
            (c / self.s).min(self.n - 1) + 1,
        )
    }

    /// Runs of coordinates with the same covering windows:
    /// `(start, end, lo, hi)`, in order, covering `0..len`.
    pub(crate) fn runs(&self) -> Vec<(usize, usize, usize, usize)> {
        let mut runs: Vec<(usize, usize, usize, usize)> = Vec::new();
        for c in 0..self.len {
            let (lo, hi) = self.cover(c);
            match runs.last_mut() {
                Some(r) if (r.2, r.3) == (lo, hi) => r.1 = c + 1,
                _ => runs.push((c, c + 1, lo, hi)),
            }
        }
        runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_match_cover() {
        for len in [1, 2, 7, 33, 100] {
            for win in [1, 2, 3, 5, 16, 128] {
                for s in [1, 2, 3, 7, 8, 36, 200] {
                    let a = Axis1::new(len, win, s);
                    let runs = a.runs();
                    let mut c = 0;
                    for (i, &(x0, x1, lo, hi)) in runs.iter().enumerate() {
                        assert_eq!(x0, c);
                        assert!(x1 > x0);
                        if i > 0 {
                            assert_ne!((runs[i - 1].2, runs[i - 1].3), (lo, hi));
                        }
                        for x in x0..x1 {
                            assert_eq!(a.cover(x), (lo, hi), "{len} {win} {s} {x}");
                        }
                        c = x1;
                    }
                    assert_eq!(c, len);
                }
            }
        }
    }
}

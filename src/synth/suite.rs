//! The evaluation suite: varied synthetic stacks whose truth is known, on
//! which presets are judged (`cargo run --release --example accuracy`).
//!
//! Every texture meets every depth surface (16 stacks), then 8 more push the
//! extremes: 512 and 1024 px, 5 and 60 slices, depth of field 1 and 6, the
//! noisiest and cleanest photon counts. Low-contrast texture (12% absorption)
//! gets at least 300 photons: at 30 its per-pixel signal-to-noise is about
//! 0.2 and the specimen is not in the data for any method to find.

use super::{Surface, SynthParams, Texture};
use crate::stack::PixelType;

/// One stack of the suite.
#[derive(Clone, Debug)]
pub struct SuiteCase {
    pub name: String,
    pub params: SynthParams,
}

fn case(t: Texture, s: Surface, photons: f64, dof: f64, z: usize, size: usize, bg: bool, seed: u64) -> SuiteCase {
    let params = SynthParams {
        depth: z,
        height: size,
        width: size,
        texture: t,
        surface: s,
        photons,
        read_noise: 2.0,
        dof,
        background: bg,
        pixel_type: PixelType::U16,
        seed,
    };
    let name = format!(
        "{}-{}-{}ph-dof{}-z{}-{}px{}",
        t.name(),
        s.name(),
        photons,
        dof,
        z,
        size,
        if bg { "-bg" } else { "" }
    );
    SuiteCase { name, params }
}

/// The full suite: 24 stacks.
pub fn suite() -> Vec<SuiteCase> {
    const PHOTONS: [f64; 3] = [30.0, 300.0, 2000.0];
    const DOF: [f64; 5] = [1.0, 2.0, 3.0, 4.5, 6.0];
    const SLICES: [usize; 5] = [5, 12, 20, 30, 60];
    let mut out = Vec::new();
    for (i, &t) in Texture::ALL.iter().enumerate() {
        for (j, &s) in Surface::ALL.iter().enumerate() {
            let k = 4 * i + j;
            let mut photons = PHOTONS[(i + j) % 3];
            if t == Texture::LowContrast {
                photons = photons.max(300.0);
            }
            let (dof, z) = (DOF[k % 5], SLICES[(i + 2 * j) % 5]);
            out.push(case(t, s, photons, dof, z, [128, 192, 256][(i + j) % 3], (i + j) % 2 == 0, 100 + k as u64));
        }
    }
    use Surface::*;
    use Texture::*;
    out.extend([
        case(Fine, Dome, 300.0, 3.0, 20, 512, true, 200),
        case(Coarse, Random, 2000.0, 2.0, 20, 1024, true, 201),
        case(Sparse, Tilt, 300.0, 3.0, 12, 512, true, 202),
        case(LowContrast, Steps, 2000.0, 4.0, 20, 256, false, 203),
        case(Fine, Steps, 30.0, 1.0, 60, 128, false, 204),
        case(Coarse, Tilt, 30.0, 6.0, 60, 192, true, 205),
        case(Sparse, Dome, 2000.0, 1.0, 5, 256, false, 206),
        case(Fine, Random, 2000.0, 6.0, 5, 256, true, 207),
    ]);
    out
}

/// Stacks to train a general U-Net on: `n` draws over the suite's range
/// (every texture and surface, 30 to 2000 photons, depth of field 1 to 6,
/// 5 to 60 slices, with and without background) at 128 x 128 (training
/// crops are smaller than that anyway), from seeds 10000 + i, which no
/// suite stack uses, so a model trained on them is judged on stacks it has
/// never seen.
pub fn training_suite(n: usize) -> Vec<SuiteCase> {
    use super::rng::Rng;
    const PHOTONS: [f64; 3] = [30.0, 300.0, 2000.0];
    const DOF: [f64; 6] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    const SLICES: [usize; 6] = [5, 8, 12, 20, 30, 60];
    (0..n)
        .map(|i| {
            let mut r = Rng::stream(10_000 + i as u64, 7, 0);
            let mut pick = |m: usize| r.below(m as u64) as usize;
            let t = Texture::ALL[i % 4];
            let s = Surface::ALL[(i / 4 + i) % 4];
            let mut photons = PHOTONS[pick(3)];
            if t == Texture::LowContrast {
                photons = photons.max(300.0);
            }
            let (dof, z, bg) = (DOF[pick(6)], SLICES[pick(6)], pick(2) == 0);
            case(t, s, photons, dof, z, 128, bg, 10_000 + i as u64)
        })
        .collect()
}

/// A quick subset for the test command: small stacks, all four textures.
pub fn quick_suite() -> Vec<SuiteCase> {
    use Surface::*;
    use Texture::*;
    vec![
        case(Fine, Tilt, 300.0, 2.0, 12, 128, true, 300),
        case(Coarse, Dome, 2000.0, 3.0, 12, 128, false, 301),
        case(Sparse, Random, 300.0, 2.0, 12, 128, true, 302),
        case(LowContrast, Steps, 2000.0, 4.0, 12, 128, false, 303),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_spans_what_the_accuracy_issue_asks() {
        let s = suite();
        assert!(s.len() >= 24);
        let has = |f: &dyn Fn(&SynthParams) -> bool| s.iter().any(|c| f(&c.params));
        for t in Texture::ALL {
            for su in Surface::ALL {
                assert!(has(&|p| p.texture == t && p.surface == su), "{t} x {su}");
            }
        }
        for (lo, hi) in [(128, 128), (1024, 1024)] {
            assert!(has(&|p| p.height >= lo && p.height <= hi));
        }
        assert!(has(&|p| p.depth == 5) && has(&|p| p.depth == 60));
        assert!(has(&|p| p.dof == 1.0) && has(&|p| p.dof == 6.0));
        assert!(has(&|p| p.photons <= 30.0) && has(&|p| p.photons >= 2000.0));
        assert!(has(&|p| p.background) && has(&|p| !p.background));
        let mut names: Vec<_> = s.iter().map(|c| c.name.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), s.len(), "names are unique");
    }

    #[test]
    fn training_stacks_are_varied_and_not_in_the_suite() {
        let t = training_suite(32);
        assert_eq!(t.len(), 32);
        let seeds: Vec<u64> = suite().iter().chain(&quick_suite()).map(|c| c.params.seed).collect();
        assert!(t.iter().all(|c| !seeds.contains(&c.params.seed)));
        for tx in Texture::ALL {
            for su in Surface::ALL {
                assert!(t.iter().any(|c| c.params.texture == tx && c.params.surface == su), "{tx} x {su}");
            }
        }
        let short: Vec<_> = training_suite(5).into_iter().map(|c| c.params).collect();
        let long: Vec<_> = t[..5].iter().map(|c| c.params.clone()).collect();
        assert_eq!(short, long, "a prefix of a longer draw");
    }
}

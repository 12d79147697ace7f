//! Inference: a probability stack (f32) and a mask (u8 0/255) for a stack of
//! any Z, H and W, by overlapping tiles blended with a smooth window (see
//! [`super::tiles`]).

use super::data::NetInput;
use super::model::Model;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::stack::StackView;
use ndarray::Array3;

/// How a stack is cut into tiles and thresholded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PredictParams {
    /// A pixel is in focus when its probability is strictly above this (0 to 1).
    pub threshold: f32,
    /// Largest tile side in pixels (rounded down to the network's multiple,
    /// `2^depth`). Slices are cut into the fewest tiles of at most this side
    /// that overlap by at least `overlap`.
    pub tile: usize,
    /// Least overlap between neighbouring tiles, in pixels (less than `tile`).
    pub overlap: usize,
    /// Tiles per forward pass. Small batches are faster on CPUs (their
    /// activations stay in reused memory); 2 is the default.
    pub batch: usize,
    /// Averages the network's probabilities over each tile and its three
    /// mirror images (flipped in x, in y, in both), flipped back: four
    /// passes instead of one. A convolutional network's errors are not
    /// mirror-symmetric while the optics are, so the average cancels part
    /// of them: +0.015 mean IoU on the accuracy suite, no stack worse
    /// (ACCURACY.md). On by default; off for speed.
    pub flips: bool,
}

impl Default for PredictParams {
    fn default() -> Self {
        PredictParams {
            threshold: 0.5,
            tile: 256,
            overlap: 32,
            batch: 2,
            flips: true,
        }
    }
}

impl PredictParams {
    /// Rejects parameters no prediction can use, for a network whose tiles
    /// must be multiples of `multiple`.
    pub fn validate(&self, multiple: usize) -> Result<()> {
        if !(self.threshold.is_finite() && (0.0..=1.0).contains(&self.threshold)) {
            return Err(Error::invalid(format!(
                "the probability threshold must be between 0 and 1, not {}",
                self.threshold
            )));
        }
        if self.tile < multiple || self.tile > 8192 {
            return Err(Error::invalid(format!(
                "tile must be {multiple} to 8192 pixels for this network, not {}",
                self.tile
            )));
        }
        if self.overlap >= self.tile / multiple * multiple {
            return Err(Error::invalid(format!(
                "overlap ({}) must be less than the tile ({})",
                self.overlap, self.tile
            )));
        }
        if self.batch == 0 || self.batch > 4096 {
            return Err(Error::invalid(format!(
                "batch must be 1 to 4096 tiles, not {}",
                self.batch
            )));
        }
        Ok(())
    }
}

/// What a prediction gives.
#[derive(Clone, Debug)]
pub struct Prediction {
    /// Probability of "in focus", Z x H x W.
    pub prob: Array3<f32>,
    /// 255 where `prob > threshold`, else 0.
    pub mask: Array3<u8>,
    /// The device that computed it (`cpu`, `cuda:0`).
    pub device: String,
}

/// 255 where `p > threshold`.
pub(crate) fn threshold(prob: &Array3<f32>, t: f32) -> Array3<u8> {
    prob.mapv(|p| if p > t { 255 } else { 0 })
}

impl Model {
    /// Predicts every slice of `stack`. Progress: one unit per slice.
    pub fn predict(
        &self,
        stack: StackView,
        params: &PredictParams,
        progress: &Progress,
    ) -> Result<Prediction> {
        stack.validate()?;
        params.validate(self.config.multiple())?;
        let input = NetInput::new(&self.normalisation, &self.config, stack)?;
        let slices: Vec<usize> = (0..input.dim().0).collect();
        let prob = self.probabilities(&input, &slices, params, progress)?;
        let mask = threshold(&prob, params.threshold);
        Ok(Prediction {
            prob,
            mask,
            device: self.device(),
        })
    }
}

#[cfg(not(feature = "torch"))]
impl Model {
    pub(crate) fn probabilities(
        &self,
        _input: &NetInput,
        _slices: &[usize],
        _params: &PredictParams,
        _progress: &Progress,
    ) -> Result<Array3<f32>> {
        match self.inner {}
    }
}

#[cfg(feature = "torch")]
impl Model {
    /// Probabilities of `slices` of a normalised stack, `slices.len()` x H x W.
    pub(crate) fn probabilities(
        &self,
        input: &NetInput,
        slices: &[usize],
        params: &PredictParams,
        progress: &Progress,
    ) -> Result<Array3<f32>> {
        use super::data::reflect;
        use super::tiles::Axis1;
        use tch::Tensor;
        use tch::nn::ModuleT;

        super::apply_threads();
        let (_, h, w) = input.dim();
        let channels = self.config.input_channels();
        let m = self.config.multiple();
        let tile = params.tile / m * m;
        let (ay, ax) = (
            Axis1::new(h, tile, params.overlap, m),
            Axis1::new(w, tile, params.overlap, m),
        );
        let (th, tw) = (ay.tile, ax.tile);
        let per_slice = ay.origins.len() * ax.origins.len();
        let mut jobs = Vec::with_capacity(slices.len() * per_slice);
        for i in 0..slices.len() {
            for &y0 in &ay.origins {
                for &x0 in &ax.origins {
                    jobs.push((i, y0, x0));
                }
            }
        }
        // The blending weights add up to the same sum in every slice.
        let mut wsum = ndarray::Array2::<f32>::zeros((h, w));
        for &y0 in &ay.origins {
            for &x0 in &ax.origins {
                for ty in 0..th.min(h - y0) {
                    for tx in 0..tw.min(w - x0) {
                        wsum[[y0 + ty, x0 + tx]] += ay.window[ty] * ax.window[tx];
                    }
                }
            }
        }
        let mut acc = Array3::<f32>::zeros((slices.len(), h, w));
        let device = self.inner.device;
        let mut done = 0;
        progress.report(0, slices.len() as u64)?;
        let prof = std::env::var_os("PROF").is_some();
        let (mut t_fill, mut t_fwd, mut t_blend) = (0.0, 0.0, 0.0);
        for chunk in jobs.chunks(params.batch) {
            let t0 = std::time::Instant::now();
            let mut buf = Vec::with_capacity(chunk.len() * channels * th * tw);
            for &(i, y0, x0) in chunk {
                for plane in input.planes(slices[i]) {
                    for ty in 0..th {
                        let y = reflect((y0 + ty) as isize, h);
                        for tx in 0..tw {
                            buf.push(plane[[y, reflect((x0 + tx) as isize, w)]]);
                        }
                    }
                }
            }
            let t1 = std::time::Instant::now();
            let out: Vec<f32> = super::guard(|| {
                let _g = tch::no_grad_guard();
                let x = Tensor::from_slice(&buf)
                    .reshape([chunk.len() as i64, channels as i64, th as i64, tw as i64])
                    .to_device(device);
                let fwd = |x: &Tensor| self.inner.net.forward_t(x, false).sigmoid();
                let p = if params.flips {
                    let mut acc = fwd(&x);
                    for dims in [&[3i64][..], &[2], &[2, 3]] {
                        acc += fwd(&x.flip(dims)).flip(dims);
                    }
                    acc / 4.0
                } else {
                    fwd(&x)
                };
                let p = p.to_device(tch::Device::Cpu).contiguous().view(-1);
                Vec::<f32>::try_from(&p).map_err(|e| Error::Torch(e.to_string()))
            })?;
            let t2 = std::time::Instant::now();
            for (j, &(i, y0, x0)) in chunk.iter().enumerate() {
                let tile = &out[j * th * tw..(j + 1) * th * tw];
                let mut plane = acc.index_axis_mut(ndarray::Axis(0), i);
                for ty in 0..th.min(h - y0) {
                    let row = &tile[ty * tw..(ty + 1) * tw];
                    let wy = ay.window[ty];
                    for tx in 0..tw.min(w - x0) {
                        plane[[y0 + ty, x0 + tx]] += wy * ax.window[tx] * row[tx];
                    }
                }
            }
            t_fill += (t1 - t0).as_secs_f64();
            t_fwd += (t2 - t1).as_secs_f64();
            t_blend += t2.elapsed().as_secs_f64();
            done += chunk.len();
            progress.report((done / per_slice) as u64, slices.len() as u64)?;
        }
        if prof {
            eprintln!("fill {t_fill:.3} fwd {t_fwd:.3} blend {t_blend:.3}");
        }
        for mut plane in acc.outer_iter_mut() {
            plane.zip_mut_with(&wsum, |a, &s| *a /= s);
        }
        Ok(acc)
    }
}

//! The network (a tch module built from `&nn::Path`) and [`Model`], the
//! handle every door holds: weights on a device, the input normalisation
//! they expect and the record of how they were trained.
//!
//! Variable paths are stable and are the model file's keys:
//! `enc{i}.conv{1,2}.weight`, `enc{i}.norm{1,2}.{weight,bias}` (levels
//! `i = 0..depth`), `mid.*` (the bottleneck), `up{i}.{weight,bias}` (the
//! transposed convolutions), `dec{i}.*`, `head.{weight,bias}`. Batch norm
//! adds `running_mean`/`running_var`; convolutions without a norm keep a
//! `bias`.

use super::config::UnetConfig;
use super::data::Normalisation;
use super::device::DeviceSpec;
use super::file::{FORMAT, FORMAT_VERSION, ModelFile};
use crate::error::{Error, Result};
use std::path::Path;

/// A U-Net with its weights (see the module documentation).
///
/// Without the `torch` feature no model can be made: [`Model::new`] and
/// [`Model::load`] return [`Error::Unsupported`].
pub struct Model {
    pub(crate) config: UnetConfig,
    pub(crate) normalisation: Normalisation,
    /// One JSON object per training or fine-tuning run, oldest first.
    pub(crate) history: Vec<serde_json::Value>,
    pub(crate) inner: Inner,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("config", &self.config)
            .field("device", &self.device())
            .field("runs", &self.history.len())
            .finish()
    }
}

impl Model {
    /// The architecture.
    pub fn config(&self) -> UnetConfig {
        self.config
    }

    /// How a stack is normalised before it enters the network.
    pub fn normalisation(&self) -> Normalisation {
        self.normalisation
    }

    /// The training and fine-tuning runs that made these weights, oldest
    /// first (as stored in the file's `training` metadata).
    pub fn history(&self) -> &[serde_json::Value] {
        &self.history
    }

    /// The metadata of the model file, as written.
    #[cfg_attr(not(feature = "torch"), allow(dead_code))]
    fn metadata(&self) -> std::collections::BTreeMap<String, String> {
        [
            ("format", FORMAT.to_owned()),
            ("format_version", FORMAT_VERSION.to_owned()),
            ("architecture", self.config.to_json().to_string()),
            ("normalisation", self.normalisation.to_json().to_string()),
            (
                "training",
                serde_json::Value::Array(self.history.clone()).to_string(),
            ),
            ("infocus_version", crate::VERSION.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Writes the model file atomically: a failure leaves an existing file
    /// at `path` as it was.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.to_file()?.write(path)
    }

    /// The bytes [`Model::save`] writes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        Ok(self.to_file()?.encode())
    }

    /// Reads a model file onto a device. A truncated, corrupt or foreign
    /// file, or one whose weights do not fit its architecture, is an
    /// [`Error::Format`] naming the file.
    pub fn load(path: &Path, device: DeviceSpec) -> Result<Model> {
        super::require_torch()?;
        let file = ModelFile::read(path)?;
        Self::from_file(&file, device).map_err(|e| match e {
            Error::InvalidArgument(problem) => Error::format(path, None, problem),
            other => other,
        })
    }

    /// A model from the bytes of a model file (see [`Model::load`]); problems
    /// are [`Error::InvalidArgument`].
    pub fn from_bytes(bytes: &[u8], device: DeviceSpec) -> Result<Model> {
        super::require_torch()?;
        let file = ModelFile::decode(bytes).map_err(Error::invalid)?;
        Self::from_file(&file, device)
    }

    /// Parses the metadata of a validated file.
    fn parts(file: &ModelFile) -> Result<(UnetConfig, Normalisation, Vec<serde_json::Value>)> {
        let config = UnetConfig::from_json(&file.json("architecture").map_err(Error::invalid)?)?;
        let normalisation =
            Normalisation::from_json(&file.json("normalisation").map_err(Error::invalid)?)?;
        let history = match file.json("training") {
            Ok(serde_json::Value::Array(v)) => v,
            Ok(_) => return Err(Error::invalid("metadata 'training' is not a list")),
            Err(_) if !file.metadata.contains_key("training") => Vec::new(),
            Err(e) => return Err(Error::invalid(e)),
        };
        Ok((config, normalisation, history))
    }
}

#[cfg(not(feature = "torch"))]
pub(crate) enum Inner {}

#[cfg(not(feature = "torch"))]
impl Model {
    /// A freshly initialised model (unsupported in this build).
    pub fn new(config: UnetConfig, device: DeviceSpec, seed: u64) -> Result<Model> {
        let _ = (config, device, seed);
        super::require_torch()?;
        unreachable!("require_torch fails without the torch feature")
    }

    fn from_file(file: &ModelFile, device: DeviceSpec) -> Result<Model> {
        let _ = (Self::parts(file), device);
        super::require_torch()?;
        unreachable!("require_torch fails without the torch feature")
    }

    /// The device the weights are on.
    pub fn device(&self) -> String {
        match self.inner {}
    }

    /// An independent copy.
    pub fn try_clone(&self) -> Result<Model> {
        match self.inner {}
    }

    fn to_file(&self) -> Result<ModelFile> {
        match self.inner {}
    }
}

#[cfg(feature = "torch")]
pub(crate) use imp::Inner;

#[cfg(feature = "torch")]
mod imp {
    use super::*;
    use crate::synth::rng::Rng;
    use crate::unet::config::Norm;
    use crate::unet::device::device_name;
    use crate::unet::file::Tensor as FileTensor;
    use crate::unet::guard;
    use tch::nn::{self, ModuleT};
    use tch::{Kind, Tensor};

    /// Random stream of the weight initialisation.
    const PURPOSE_INIT: u64 = 103;

    pub(crate) struct Inner {
        pub vs: nn::VarStore,
        pub net: Net,
        pub device: tch::Device,
    }

    #[derive(Debug)]
    enum NormLayer {
        Instance(nn::GroupNorm),
        Batch(nn::BatchNorm),
    }

    /// Two 3x3 convolutions, each followed by the norm and a ReLU.
    #[derive(Debug)]
    struct Block {
        conv1: nn::Conv2D,
        norm1: Option<NormLayer>,
        conv2: nn::Conv2D,
        norm2: Option<NormLayer>,
    }

    fn norm_layer(p: nn::Path, norm: Norm, c: i64) -> Option<NormLayer> {
        match norm {
            Norm::None => None,
            // Instance norm with affine parameters is group norm with one
            // group per channel.
            Norm::Instance => Some(NormLayer::Instance(nn::group_norm(
                p,
                c,
                c,
                nn::GroupNormConfig {
                    eps: 1e-3,
                    ..Default::default()
                },
            ))),
            Norm::Batch => Some(NormLayer::Batch(nn::batch_norm2d(
                p,
                c,
                nn::BatchNormConfig {
                    eps: 1e-3,
                    ..Default::default()
                },
            ))),
        }
    }

    impl Block {
        fn new(p: nn::Path, cin: i64, cout: i64, norm: Norm) -> Self {
            let cfg = nn::ConvConfig {
                padding: 1,
                bias: norm == Norm::None,
                ..Default::default()
            };
            Block {
                conv1: nn::conv2d(&p / "conv1", cin, cout, 3, cfg),
                norm1: norm_layer(&p / "norm1", norm, cout),
                conv2: nn::conv2d(&p / "conv2", cout, cout, 3, cfg),
                norm2: norm_layer(&p / "norm2", norm, cout),
            }
        }

        fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
            let step = |x: Tensor, n: &Option<NormLayer>| -> Tensor {
                match n {
                    None => x,
                    Some(NormLayer::Instance(g)) => x.apply(g),
                    Some(NormLayer::Batch(b)) => x.apply_t(b, train),
                }
                .relu()
            };
            let x = step(x.apply(&self.conv1), &self.norm1);
            step(x.apply(&self.conv2), &self.norm2)
        }
    }

    /// The U-Net: input N x C x H x W (C: [`UnetConfig::input_channels`], (H, W multiples of `2^depth`),
    /// output N x 1 x H x W logits.
    #[derive(Debug)]
    pub(crate) struct Net {
        enc: Vec<Block>,
        mid: Block,
        up: Vec<nn::ConvTranspose2D>,
        dec: Vec<Block>,
        head: nn::Conv2D,
    }

    impl Net {
        pub fn new(p: &nn::Path, c: &UnetConfig) -> Self {
            let ch = |i: usize| c.channels(i) as i64;
            let mut cin = c.input_channels() as i64;
            let enc = (0..c.depth)
                .map(|i| {
                    let b = Block::new(p / format!("enc{i}"), cin, ch(i), c.norm);
                    cin = ch(i);
                    b
                })
                .collect();
            let mid = Block::new(p / "mid", cin, ch(c.depth), c.norm);
            let up_cfg = nn::ConvTransposeConfig {
                stride: 2,
                ..Default::default()
            };
            let up = (0..c.depth)
                .map(|i| nn::conv_transpose2d(p / format!("up{i}"), ch(i + 1), ch(i), 2, up_cfg))
                .collect();
            let dec = (0..c.depth)
                .map(|i| Block::new(p / format!("dec{i}"), 2 * ch(i), ch(i), c.norm))
                .collect();
            let head = nn::conv2d(p / "head", ch(0), 1, 1, Default::default());
            Net {
                enc,
                mid,
                up,
                dec,
                head,
            }
        }
    }

    impl ModuleT for Net {
        fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
            let mut skips = Vec::with_capacity(self.enc.len());
            let mut x = x.shallow_clone();
            for b in &self.enc {
                let y = b.forward_t(&x, train);
                x = y.max_pool2d_default(2);
                skips.push(y);
            }
            x = self.mid.forward_t(&x, train);
            for i in (0..self.dec.len()).rev() {
                let u = x.apply(&self.up[i]);
                x = self.dec[i].forward_t(&Tensor::cat(&[&skips[i], &u], 1), train);
            }
            x.apply(&self.head)
        }
    }

    impl Inner {
        fn build(config: &UnetConfig, device: tch::Device) -> Self {
            let vs = nn::VarStore::new(device);
            let net = Net::new(&vs.root(), config);
            Inner { vs, net, device }
        }

        /// Variables by name, sorted.
        pub fn variables(&self) -> Vec<(String, Tensor)> {
            let mut v: Vec<_> = self.vs.variables().into_iter().collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        }
    }

    impl Model {
        /// A freshly initialised model on `device`: He-uniform convolution
        /// weights (the paper's code) drawn from infocus's own generator
        /// seeded by `seed`, so the same seed gives the same weights
        /// whatever else the process does with libtorch's generator; zero
        /// biases and shifts, unit norm scales (batch norm's running mean 0
        /// and variance 1).
        pub fn new(config: UnetConfig, device: DeviceSpec, seed: u64) -> Result<Model> {
            config.validate()?;
            let device = device.resolve()?;
            guard(|| {
                let inner = Inner::build(&config, device);
                tch::no_grad(|| {
                    for (i, (name, mut t)) in inner.variables().into_iter().enumerate() {
                        let size = t.size();
                        if size.len() == 4 && name.ends_with(".weight") {
                            let fan_in = (size[1] * size[2] * size[3]) as f64;
                            let bound = (6.0 / fan_in).sqrt();
                            let mut rng = Rng::stream(seed, PURPOSE_INIT, i as u64);
                            let n = size.iter().product::<i64>() as usize;
                            let v: Vec<f32> =
                                (0..n).map(|_| rng.range(-bound, bound) as f32).collect();
                            t.copy_(&Tensor::from_slice(&v).reshape(&size).to_device(device));
                        } else if name.ends_with(".weight") {
                            // Norm scales (tch draws batch norm's at random).
                            let _ = t.fill_(1.0);
                        } else if name.ends_with(".bias") {
                            let _ = t.zero_();
                        }
                    }
                });
                Ok(Model {
                    config,
                    normalisation: Normalisation::default(),
                    history: Vec::new(),
                    inner,
                })
            })
        }

        pub(super) fn from_file(file: &ModelFile, device: DeviceSpec) -> Result<Model> {
            let (config, normalisation, history) = Self::parts(file)?;
            let device = device.resolve()?;
            // Every check on names and shapes happens before any copy.
            let inner = guard(|| Ok(Inner::build(&config, device)))?;
            let vars = inner.variables();
            for (name, t) in &vars {
                let want: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
                match file.tensors.get(name) {
                    None => {
                        return Err(Error::invalid(format!(
                            "the weights lack '{name}', which a {} U-Net needs",
                            config
                        )));
                    }
                    Some(f) if f.shape != want => {
                        return Err(Error::invalid(format!(
                            "weight '{name}' has shape {:?} but the architecture needs {want:?}",
                            f.shape
                        )));
                    }
                    Some(_) => {}
                }
            }
            if let Some(extra) = file
                .tensors
                .keys()
                .find(|k| !vars.iter().any(|(n, _)| n == *k))
            {
                return Err(Error::invalid(format!(
                    "unexpected weight '{extra}' for a {config} U-Net"
                )));
            }
            guard(|| {
                tch::no_grad(|| {
                    for (name, mut t) in vars {
                        let f = &file.tensors[&name];
                        t.copy_(
                            &Tensor::from_slice(&f.data)
                                .reshape(t.size())
                                .to_device(device),
                        );
                    }
                });
                Ok(())
            })?;
            Ok(Model {
                config,
                normalisation,
                history,
                inner,
            })
        }

        /// The device the weights are on: `cpu` or `cuda:N`.
        pub fn device(&self) -> String {
            device_name(self.inner.device)
        }

        /// An independent copy (same device).
        pub fn try_clone(&self) -> Result<Model> {
            guard(|| {
                let mut inner = Inner::build(&self.config, self.inner.device);
                inner
                    .vs
                    .copy(&self.inner.vs)
                    .map_err(|e| Error::Torch(e.to_string()))?;
                Ok(Model {
                    config: self.config,
                    normalisation: self.normalisation,
                    history: self.history.clone(),
                    inner,
                })
            })
        }

        pub(super) fn to_file(&self) -> Result<ModelFile> {
            let tensors = guard(|| {
                Ok(self
                    .inner
                    .variables()
                    .into_iter()
                    .map(|(name, t)| {
                        let shape = t.size().iter().map(|&d| d as usize).collect();
                        let flat = t
                            .detach()
                            .to_device(tch::Device::Cpu)
                            .to_kind(Kind::Float)
                            .contiguous()
                            .view(-1);
                        let data =
                            Vec::<f32>::try_from(&flat).map_err(|e| Error::Torch(e.to_string()))?;
                        Ok((name, FileTensor { shape, data }))
                    })
                    .collect::<Result<_>>())
            })??;
            Ok(ModelFile {
                metadata: self.metadata(),
                tensors,
            })
        }
    }
}

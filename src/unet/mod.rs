//! The U-Net surrogate: a 2-D U-Net over single slices that predicts the
//! probability that a pixel is in focus, trained on the weak labels a rule
//! preset makes (no manual work), fine-tuned on a few manual masks, and run
//! on libtorch through `tch`, on the CPU or a CUDA GPU.
//!
//! * [`config`]: the architecture ([`UnetConfig::paper`], and the smaller
//!   CPU default);
//! * [`train()`] and [`finetune()`]: from stacks and masks to a [`Model`];
//! * [`Model::predict`]: probabilities and masks for any Z x H x W, by
//!   overlapping tiles;
//! * [`Model::save`] / [`Model::load`]: one self-describing safetensors file
//!   (see [`file`]).
//!
//! Everything that needs libtorch sits behind the cargo feature `torch`.
//! Without it the rest of this module still builds (configurations,
//! parameters, the file format), but no [`Model`] can be made: its
//! constructors return [`Error::Unsupported`] saying how to enable it.

pub mod config;
// Without torch, the array code that feeds the network has no caller but its tests.
#[cfg_attr(not(feature = "torch"), allow(dead_code))]
mod data;
pub mod device;
pub mod file;
mod finetune;
mod model;
mod predict;
#[cfg_attr(not(feature = "torch"), allow(dead_code))]
mod tiles;
mod train;

pub use config::{Norm, UnetConfig};
pub use data::Normalisation;
pub use device::DeviceSpec;
pub use finetune::{annotated_slices, finetune};
pub use model::Model;
pub use predict::{PredictParams, Prediction};
pub use train::{
    EpochReport, Labelled, LossWeights, TrainParams, Trained, describe_labels, train, weak_labels,
};

use crate::error::{Error, Result};

/// Whether this build has the U-Net (the `torch` feature).
pub const AVAILABLE: bool = cfg!(feature = "torch");

/// What every U-Net call says in a build without the `torch` feature.
pub const UNSUPPORTED: &str = "the U-Net needs libtorch, and this infocus was built without it: \
    run `bash setup.sh` (installs libtorch 2.13.0 into .libtorch) and build with \
    `cargo build --release --features torch`";

/// `Err(Unsupported)` unless this build has the U-Net.
pub(crate) fn require_torch() -> Result<()> {
    if AVAILABLE {
        Ok(())
    } else {
        Err(Error::Unsupported(UNSUPPORTED.into()))
    }
}

/// libtorch's CPU threads as last set by [`set_threads`]; 0: libtorch's default.
static THREADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Sets the number of threads libtorch computes with on the CPU, for every
/// later U-Net call in this process, whichever thread makes it (at least 1).
/// Training is reproducible for a given number (the bytes of a model trained
/// on 1 thread differ from one trained on 2).
///
/// On a machine shared with other busy processes, libtorch's OpenMP threads
/// spin while they wait for each other and can run several times slower than
/// one thread; set `OMP_WAIT_POLICY=PASSIVE` in the environment (the CLI does
/// so itself) or use 1 thread.
pub fn set_threads(n: usize) -> Result<()> {
    require_torch()?;
    if n == 0 {
        return Err(Error::invalid("libtorch needs at least 1 thread"));
    }
    THREADS.store(n, std::sync::atomic::Ordering::Relaxed);
    #[cfg(feature = "torch")]
    apply_threads();
    Ok(())
}

/// Applies [`set_threads`]'s number to the calling thread (OpenMP keeps the
/// number per thread, so a call from another thread needs this).
#[cfg(feature = "torch")]
pub(crate) fn apply_threads() {
    let n = THREADS.load(std::sync::atomic::Ordering::Relaxed);
    if let Ok(n) = i32::try_from(n) {
        if n > 0 && tch::get_num_threads() != n {
            tch::set_num_threads(n);
        }
    }
}

/// Whether a CUDA device is usable by this build (false without `torch`).
pub fn cuda_available() -> bool {
    #[cfg(feature = "torch")]
    {
        tch::Cuda::is_available()
    }
    #[cfg(not(feature = "torch"))]
    {
        false
    }
}

/// Runs libtorch work, turning a panic (how tch reports most libtorch
/// errors) into [`Error::Torch`] when it came from libtorch and into
/// [`Error::Internal`] otherwise.
#[cfg(feature = "torch")]
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("a panic without a message");
            if msg.contains("Torch(") || msg.contains("TchError") {
                Err(Error::Torch(msg.to_owned()))
            } else {
                Err(Error::Internal(format!("panicked in the U-Net: {msg}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_torch_models_are_unsupported_with_a_hint() {
        if AVAILABLE {
            return;
        }
        let e = Model::new(UnetConfig::default(), DeviceSpec::Cpu, 0).unwrap_err();
        assert!(matches!(e, Error::Unsupported(_)), "{e}");
        assert!(e.to_string().contains("--features torch"), "{e}");
        let e = Model::load(std::path::Path::new("x.safetensors"), DeviceSpec::Auto).unwrap_err();
        assert!(matches!(e, Error::Unsupported(_)), "{e}");
        assert!(set_threads(2).is_err());
        assert!(!cuda_available());
    }
}

//! infocus: the in-focus pixels of every slice of a widefield focal stack.
//!
//! Data flows one way, and the modules are laid out in that order:
//!
//! ```text
//! io -> stack -> measure -> map -> threshold -> products
//!                              \-> segment (presets) -/
//! segment (weak labels) -> unet (train, fine-tune, predict)
//! ```
//!
//! The core knows nothing of C, Java or Python: the doors (`ffi`, `fiji`, the CLI in
//! `main.rs`) only translate types and errors.

pub mod error;
pub mod eval;
pub mod ffi;
pub mod fiji;
pub(crate) mod filters;
pub mod io;
pub mod limits;
pub mod map;
pub mod measure;
pub(crate) mod median;
pub(crate) mod simd;
pub mod products;
pub mod progress;
pub mod report;
pub mod segment;
pub mod stack;
pub mod synth;
pub mod threshold;
pub mod unet;

pub use error::{Error, Result};
pub use progress::Progress;
pub use stack::{PixelType, Stack, StackView};

/// The library version, derived once from Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

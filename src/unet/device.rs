//! Where the U-Net runs: `cpu`, `cuda`, `cuda:N` or `auto`.
//!
//! There is no hidden fallback: asking for CUDA where there is none is an
//! error that says why, and every model reports the device it is on.

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// The device a caller asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum DeviceSpec {
    /// The CPU (libtorch's own threads).
    Cpu,
    /// CUDA device N (`cuda` is `cuda:0`).
    Cuda(usize),
    /// CUDA device 0 when this build and machine have one, else the CPU.
    #[default]
    Auto,
}

impl FromStr for DeviceSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let key = s.trim().to_ascii_lowercase();
        match key.as_str() {
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" | "gpu" => Ok(DeviceSpec::Cuda(0)),
            "auto" | "" => Ok(DeviceSpec::Auto),
            _ => key
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceSpec::Cuda)
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "unknown device '{s}'; use cpu, cuda, cuda:N (N = 0, 1, ...) or auto"
                    ))
                }),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
            DeviceSpec::Auto => f.write_str("auto"),
        }
    }
}

#[cfg(feature = "torch")]
impl DeviceSpec {
    /// The libtorch device, or why it cannot be had.
    pub(crate) fn resolve(self) -> Result<tch::Device> {
        match self {
            DeviceSpec::Cpu => Ok(tch::Device::Cpu),
            DeviceSpec::Auto => Ok(if tch::Cuda::is_available() {
                tch::Device::Cuda(0)
            } else {
                tch::Device::Cpu
            }),
            DeviceSpec::Cuda(n) => {
                let count = usize::try_from(tch::Cuda::device_count()).unwrap_or(0);
                if n < count {
                    Ok(tch::Device::Cuda(n))
                } else if count == 0 {
                    Err(Error::Unsupported(format!(
                        "{self} was asked for but libtorch sees no CUDA device{}; use --device cpu or auto",
                        if cfg!(feature = "cuda") {
                            ""
                        } else {
                            " (this build lacks the `cuda` feature: build with --features cuda against the CUDA torch wheel)"
                        }
                    )))
                } else {
                    Err(Error::invalid(format!(
                        "{self} was asked for but there are only {count} CUDA devices (cuda:0 to cuda:{})",
                        count - 1
                    )))
                }
            }
        }
    }
}

/// The name of a libtorch device as the doors report it (`cpu`, `cuda:0`).
#[cfg(feature = "torch")]
pub(crate) fn device_name(d: tch::Device) -> String {
    match d {
        tch::Device::Cuda(n) => format!("cuda:{n}"),
        tch::Device::Cpu => "cpu".into(),
        other => format!("{other:?}").to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling() {
        assert_eq!("cpu".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!(" CUDA ".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        assert_eq!("cuda:3".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(3));
        assert_eq!("auto".parse::<DeviceSpec>().unwrap(), DeviceSpec::Auto);
        for bad in ["cuda:", "cuda:-1", "tpu", "cuda:x"] {
            assert!(bad.parse::<DeviceSpec>().is_err(), "{bad}");
        }
        assert_eq!(DeviceSpec::Cuda(1).to_string(), "cuda:1");
    }
}

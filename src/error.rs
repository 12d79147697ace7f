//! The one error type of the core. Every door maps it once: the C ABI to a
//! status code, the CLI to a one-line message, Python and Java to exceptions.

use std::path::PathBuf;

/// Everything that can go wrong inside infocus.
///
/// Messages are written for the person at the microscope: they say what was
/// wrong and, where it helps, what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter or an array that cannot be used as given.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The operating system refused a read or a write.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file that was read but is not a stack infocus understands.
    #[error("{}{}: {problem}", path.display(), page.map(|p| format!(" (page {p})")).unwrap_or_default())]
    Format {
        path: PathBuf,
        page: Option<usize>,
        problem: String,
    },

    /// A capability this build does not have (for example the U-Net without torch).
    #[error("unsupported: {0}")]
    Unsupported(String),

    /// The caller's progress callback asked to stop.
    #[error("cancelled")]
    Cancelled,

    /// libtorch reported an error.
    #[error("torch: {0}")]
    Torch(String),

    /// A bug in infocus: a caught panic or a broken invariant.
    #[error("internal error: {0} (please report this as a bug)")]
    Internal(String),
}

/// Shorthand used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An `InvalidArgument` from anything printable.
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }

    /// An I/O error tagged with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A format problem in a file, optionally on one page.
    pub fn format(
        path: impl Into<PathBuf>,
        page: Option<usize>,
        problem: impl Into<String>,
    ) -> Self {
        Error::Format {
            path: path.into(),
            page,
            problem: problem.into(),
        }
    }
}

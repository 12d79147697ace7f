//! Progress reporting and cancellation, shared by every long call.
//!
//! The core never sees a C function pointer or a Python callable: doors wrap
//! theirs in a closure. Returning `false` from the closure cancels the call,
//! which then returns [`Error::Cancelled`] and writes nothing partial.

use crate::error::{Error, Result};
use std::sync::Mutex;

/// A progress sink: `(done, total) -> keep going?`.
pub struct Progress<'a> {
    sink: Option<Mutex<Box<dyn FnMut(u64, u64) -> bool + Send + 'a>>>,
}

impl<'a> Progress<'a> {
    /// No reporting, never cancels.
    pub fn none() -> Self {
        Progress { sink: None }
    }

    /// Wraps a callback. It may be called from worker threads, one call at a time.
    pub fn new(f: impl FnMut(u64, u64) -> bool + Send + 'a) -> Self {
        Progress {
            sink: Some(Mutex::new(Box::new(f))),
        }
    }

    /// Reports `done` of `total` units; `Err(Cancelled)` when the callback said stop.
    pub fn report(&self, done: u64, total: u64) -> Result<()> {
        let Some(sink) = &self.sink else {
            return Ok(());
        };
        // A poisoned lock means a callback panicked earlier: treat as cancel.
        let mut f = sink.lock().map_err(|_| Error::Cancelled)?;
        if (f)(done, total) {
            Ok(())
        } else {
            Err(Error::Cancelled)
        }
    }
}

impl Default for Progress<'_> {
    fn default() -> Self {
        Progress::none()
    }
}

/// Counts finished units across threads and reports each to a [`Progress`].
/// Reports are serialised and read the count under the lock, so a caller's
/// callback sees `done` never decrease, whichever thread reports.
pub struct Counter<'p, 'a> {
    progress: &'p Progress<'a>,
    done: std::sync::atomic::AtomicU64,
    total: u64,
    reporting: std::sync::Mutex<()>,
}

impl<'p, 'a> Counter<'p, 'a> {
    pub fn new(progress: &'p Progress<'a>, total: u64) -> Self {
        Counter {
            progress,
            done: 0.into(),
            total,
            reporting: std::sync::Mutex::new(()),
        }
    }

    /// Marks `n` more units finished and reports.
    pub fn add(&self, n: u64) -> Result<()> {
        self.done.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
        self.check()
    }

    /// Reports without advancing: a cancellation check between units.
    pub fn check(&self) -> Result<()> {
        // A panic in another report cannot leave `()` inconsistent.
        let _one_at_a_time = self
            .reporting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let done = self.done.load(std::sync::atomic::Ordering::SeqCst);
        self.progress.report(done, self.total)
    }
}

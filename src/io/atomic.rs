//! Atomic file replacement.
//!
//! A focal stack or a model file that is half written is worse than none: the
//! next run would read it as data. So every writer first fills a hidden
//! temporary file in the target's own directory (a rename is only atomic
//! within one file system), syncs it, and renames it over the target only when
//! everything succeeded. On any failure, including a cancel from the caller's
//! progress callback, the temporary file is removed and an existing target is
//! left exactly as it was.
//!
//! A program that is being interrupted (the CLI on Ctrl-C) calls
//! [`cancel_pending_writes`]: from then on every write still being staged,
//! and every write started later, fails with [`Error::Cancelled`] and removes
//! its temporary file, so no existing file is replaced after the user asked
//! to stop. Files already staged may still be committed: a command that
//! commits several outputs together commits all of them or none.
//! If it must exit at once, [`remove_pending_temporaries`] removes the
//! temporary files of writes still running first.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Distinguishes temporary files of concurrent writes within one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Set by [`cancel_pending_writes`]: nothing is committed any more.
static CANCELLED: AtomicBool = AtomicBool::new(false);

/// The temporary files that exist now, for [`remove_pending_temporaries`].
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn pending() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    // A panic while the list was held leaves it usable.
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// For a process that is being interrupted: from now on every [`stage`]
/// (and [`write_atomic`]) under way or started later fails with
/// [`Error::Cancelled`], removing its temporary file, so no existing file is
/// replaced. There is no way back: it is meant for shutting down.
pub fn cancel_pending_writes() {
    CANCELLED.store(true, Ordering::SeqCst);
}

/// Whether [`cancel_pending_writes`] was called.
pub fn writes_cancelled() -> bool {
    CANCELLED.load(Ordering::SeqCst)
}

/// Removes the temporary files of writes still under way, for a process
/// about to exit without waiting for them (their writers then fail, and
/// nothing is committed). Targets are never touched.
pub fn remove_pending_temporaries() {
    cancel_pending_writes();
    for p in pending().iter() {
        let _ = std::fs::remove_file(p);
    }
}

fn cancelled_check() -> Result<()> {
    if writes_cancelled() {
        Err(Error::Cancelled)
    } else {
        Ok(())
    }
}

/// Removes the temporary file unless the write went through, so that an error
/// or a panic inside the caller's closure leaves no debris behind.
struct TempGuard {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
        let mut p = pending();
        if let Some(i) = p.iter().position(|x| *x == self.path) {
            p.swap_remove(i);
        }
    }
}

/// A fully written and synced temporary file waiting to replace its target.
///
/// Dropping it without [`Staged::commit`] removes the temporary file, so a
/// command that writes several outputs can stage them all and commit only
/// when every one was written: a failure leaves none of them behind.
#[must_use = "a staged file is removed unless committed"]
pub struct Staged {
    tmp: TempGuard,
    target: PathBuf,
    dir: PathBuf,
}

impl Staged {
    /// Renames the temporary file over the target.
    pub fn commit(mut self) -> Result<()> {
        std::fs::rename(&self.tmp.path, &self.target).map_err(|e| Error::io(&self.target, e))?;
        self.tmp.armed = false;
        // Make the rename itself durable. Not every platform or file system
        // lets a directory be opened and synced; the data is already safe, so
        // a failure here is not an error.
        #[cfg(unix)]
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// Writes `path` atomically: `f` fills a buffered temporary file next to it,
/// which replaces `path` only if `f` and the flush and sync all succeed.
///
/// On error the temporary file is removed and an existing `path` is untouched;
/// the closure's own error (for example [`Error::Cancelled`]) is returned as is.
pub fn write_atomic(path: &Path, f: impl FnOnce(&mut BufWriter<File>) -> Result<()>) -> Result<()> {
    stage(path, f)?.commit()
}

/// Like [`write_atomic`], but leaves the finished temporary file staged for
/// the caller to commit. Errors name `path`, the file the user asked for.
pub fn stage(path: &Path, f: impl FnOnce(&mut BufWriter<File>) -> Result<()>) -> Result<Staged> {
    let file_name = path.file_name().ok_or_else(|| {
        Error::invalid(format!("{}: not a file name to write to", path.display()))
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    cancelled_check()?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".{}.{}.tmp", std::process::id(), n));
    let tmp = dir.join(tmp_name);

    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| Error::io(path, e))?;
    pending().push(tmp.clone());
    let guard = TempGuard {
        path: tmp,
        armed: true,
    };

    let mut writer = BufWriter::new(file);
    f(&mut writer)?;
    writer.flush().map_err(|e| Error::io(path, e))?;
    let file = writer
        .into_inner()
        .map_err(|e| Error::io(path, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(path, e))?;
    cancelled_check()?;
    Ok(Staged {
        tmp: guard,
        target: path.to_path_buf(),
        dir,
    })
}

/// Maps an I/O error met while writing through [`write_atomic`]'s writer.
pub(crate) fn write_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(path, e)
}

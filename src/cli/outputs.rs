//! Where results go, and the progress bar.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use infocus::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the first Ctrl-C (or SIGTERM, SIGHUP).
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Turns Ctrl-C, SIGTERM and SIGHUP into a cancel: the computation stops at
/// its next progress report, nothing more is committed (existing outputs stay
/// as they were), temporary files are removed, and the tool exits with 130.
/// A second signal exits at once, after removing the temporary files of
/// writes still under way.
pub(crate) fn install_interrupt_handler() {
    // If a handler cannot be installed, signals keep their default action:
    // the process dies, and staged writes leave at most a hidden temporary file.
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            infocus::io::remove_pending_temporaries();
            eprintln!("infocus: interrupted again: stopped");
            // At once: not `exit`, whose atexit handlers (libtorch's static
            // destructors in a torch build) can take long and race the main
            // thread's own exit, which then won with status 0.
            // SAFETY: _exit has no preconditions; it ends the process.
            unsafe { libc::_exit(130) };
        }
        infocus::io::cancel_pending_writes();
        eprintln!(
            "infocus: interrupted: stopping, nothing more will be written (Ctrl-C again to quit at once)"
        );
    });
}

/// Whether the user asked the tool to stop.
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The output path for `input`: `out` itself for a single input, or
/// `out/<input stem>.tif` when several inputs share one output directory.
pub(crate) fn output_for(out: &Path, input: &Path, many: bool) -> Result<PathBuf> {
    if !many {
        return Ok(out.to_path_buf());
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let stem = input
        .file_stem()
        .ok_or_else(|| Error::invalid(format!("{} has no file name", input.display())))?;
    Ok(out.join(stem).with_extension("tif"))
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
pub(crate) fn bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {elapsed}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

/// A core progress sink that moves `bar`.
pub(crate) fn progress_of(bar: &ProgressBar) -> infocus::Progress<'_> {
    infocus::Progress::new(move |done, total| {
        bar.set_length(total);
        bar.set_position(done);
        !interrupted()
    })
}

/// Refuses a batch in which two inputs would write the same output file
/// (`x/a.tif` and `y/a.tif` both into `DIR/a.tif`).
pub(crate) fn check_distinct_outputs(out: &Path, inputs: &[PathBuf]) -> Result<()> {
    if inputs.len() < 2 {
        return Ok(());
    }
    let mut seen = std::collections::HashMap::new();
    for input in inputs {
        let stem = input.file_stem().unwrap_or_default().to_os_string();
        if let Some(first) = seen.insert(stem, input) {
            return Err(Error::invalid(format!(
                "{} and {} would both be written to {}; rename one of them",
                first.display(),
                input.display(),
                out.join(input.file_stem().unwrap_or_default())
                    .with_extension("tif")
                    .display()
            )));
        }
    }
    Ok(())
}

/// Commits staged outputs once every one of them was written; after Ctrl-C,
/// commits none (dropping them removes their temporary files). Once
/// committing has begun it goes on, so that outputs are all new or all old.
pub(crate) fn commit_all(staged: Vec<infocus::io::Staged>) -> Result<()> {
    if interrupted() {
        return Err(Error::Cancelled);
    }
    staged.into_iter().try_for_each(infocus::io::Staged::commit)
}

/// Runs `job` on every input in parallel; with several inputs, failures are
/// reported one line each and the rest still run, and the call fails at the
/// end if any input failed. A single input's error is returned as it is.
pub(crate) fn for_each_input(
    inputs: &[PathBuf],
    job: impl Fn(&Path) -> Result<()> + Sync,
) -> Result<()> {
    use rayon::prelude::*;
    if let [input] = inputs {
        return job(input).map_err(|e| match e {
            Error::Cancelled => e,
            e => naming(input, e),
        });
    }
    // After Ctrl-C, inputs not started are skipped and those under way stop;
    // neither is a failure of its own, but the batch did not finish.
    let outcomes: Vec<Option<String>> = inputs
        .par_iter()
        .map(|input| {
            if interrupted() {
                return Some(String::new());
            }
            match job(input) {
                Ok(()) => None,
                Err(_) if interrupted() => Some(String::new()),
                Err(e) => Some(format!("{}: {e}", input.display())),
            }
        })
        .collect();
    let failures: Vec<&String> = outcomes
        .iter()
        .flatten()
        .filter(|f| !f.is_empty())
        .collect();
    for f in &failures {
        eprintln!("infocus: error: {f}");
    }
    if outcomes.iter().flatten().any(String::is_empty) {
        return Err(Error::Cancelled);
    }
    match failures.len() {
        0 => Ok(()),
        n => Err(Error::invalid(format!(
            "{n} of {} inputs failed (see above)",
            inputs.len()
        ))),
    }
}

/// Makes sure an error names the input it came from, without repeating it.
fn naming(input: &Path, e: Error) -> Error {
    let shown = input.display().to_string();
    match e {
        e if e.to_string().contains(&shown) => e,
        Error::InvalidArgument(problem) => Error::format(input, None, problem),
        other => Error::format(input, None, other.to_string()),
    }
}

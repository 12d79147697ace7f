//! Where results go, and the progress bar.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use infocus::{Error, Result};
use std::path::{Path, PathBuf};

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
        true
    })
}

/// Runs `job` on every input in parallel; failures are reported one line
/// each and the rest still run. Fails at the end if any input failed.
pub(crate) fn for_each_input(inputs: &[PathBuf], job: impl Fn(&Path) -> Result<()> + Sync) -> Result<()> {
    use rayon::prelude::*;
    let failures: Vec<String> = inputs
        .par_iter()
        .filter_map(|input| job(input).err().map(|e| format!("{}: {e}", input.display())))
        .collect();
    for f in &failures {
        eprintln!("infocus: error: {f}");
    }
    match failures.len() {
        0 => Ok(()),
        1 if inputs.len() == 1 => Err(Error::invalid(failures[0].clone())),
        n => Err(Error::invalid(format!("{n} of {} inputs failed (see above)", inputs.len()))),
    }
}

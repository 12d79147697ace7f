//! Build script: only the `torch` feature needs one.
//!
//! * libtorch's version is checked against the one tch binds (torch-sys skips
//!   this check for a libtorch unpacked from a Python wheel), so a wrong
//!   libtorch fails here with a message rather than at load time.
//! * torch-sys links libtorch but its rpath does not reach the final link, so
//!   every binary of this package (the CLI, the cdylib loaded from C, Python
//!   or Java, tests, benches) gets one here: none needs LD_LIBRARY_PATH.
//! * With `cuda`, libtorch_cuda is kept linked (`--no-as-needed`, as tch's own
//!   build suggests): the linker would otherwise drop it, no symbol of it being
//!   referenced directly, and CUDA would be silently unavailable.

use std::path::Path;

/// The libtorch version tch 0.26 is generated against.
const TORCH_VERSION: &str = "2.13.0";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_none() {
        return;
    }
    println!("cargo:rerun-if-env-changed=LIBTORCH_BYPASS_VERSION_CHECK");
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys did not report its libtorch lib directory (DEP_TCH_LIBTORCH_LIB)");
    let lib = Path::new(&lib);
    if std::env::var_os("LIBTORCH_BYPASS_VERSION_CHECK").is_none() {
        check_version(lib);
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        if !lib.join("libtorch_cuda.so").exists() {
            panic!(
                "feature `cuda`: {} has no libtorch_cuda.so; install the CUDA torch wheel \
                 (INFOCUS_TORCH=cuda bash setup.sh)",
                lib.display()
            );
        }
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,-ltorch,--as-needed");
    }
}

/// Fails the build when the libtorch at `lib` is not [`TORCH_VERSION`].
fn check_version(lib: &Path) {
    let root = lib.parent().unwrap_or(lib);
    // A wheel has torch/version.py; a libtorch zip has build-version.
    let found = std::fs::read_to_string(root.join("version.py"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("__version__ = ").map(str::to_owned))
        })
        .or_else(|| std::fs::read_to_string(root.join("build-version")).ok());
    let Some(found) = found else {
        println!(
            "cargo:warning=cannot tell the version of the libtorch in {}; tch expects {TORCH_VERSION}",
            root.display()
        );
        return;
    };
    let v = found.trim().trim_matches(['\'', '"']);
    let v = v.split_once('+').map_or(v, |(v, _)| v);
    if v != TORCH_VERSION {
        panic!(
            "the libtorch in {} is {v}, but tch 0.26 needs exactly {TORCH_VERSION}: \
             run `bash setup.sh` (or set LIBTORCH_BYPASS_VERSION_CHECK=1 at your own risk)",
            root.display()
        );
    }
}

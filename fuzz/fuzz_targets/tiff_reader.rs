//! Coverage-guided fuzzing of the TIFF reader (cargo-fuzz, nightly):
//! `cargo +nightly fuzz run tiff_reader fuzz/corpus/tiff_reader tests/data/tiff`.
//! The reader must return (Ok or an error), never panic, abort or run away
//! with memory (libFuzzer's -rss_limit_mb catches that). The file lives in
//! /dev/shm because the reader takes a path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

fn path() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("infocus-fuzz-{}.tif", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let p = path();
    std::fs::write(p, data).unwrap();
    if let Ok((stack, _)) = infocus::io::read_tiff(p) {
        let (z, h, w) = stack.dim();
        assert!(z > 0 && h > 0 && w > 0);
    }
    let _ = infocus::io::read_tiff_hyperstack(p, 0, 0);
});

//! Coverage-guided fuzzing of the .npy reader (cargo-fuzz, nightly):
//! `cargo +nightly fuzz run npy_reader fuzz/corpus/npy_reader`.
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
        dir.join(format!("infocus-fuzz-{}.npy", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let p = path();
    std::fs::write(p, data).unwrap();
    if let Ok(stack) = infocus::io::read_npy(p) {
        let (z, h, w) = stack.dim();
        assert!(z > 0 && h > 0 && w > 0);
    }
});

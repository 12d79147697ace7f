//! Coverage-guided fuzzing of the U-Net model-file checks (cargo-fuzz,
//! nightly): `cargo +nightly fuzz run model_file corpus/model_file`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = infocus::unet::file::validate(data);
});

//! Run-time choice of AVX2 for the hot loops: one decision for the whole
//! library, so that `INFOCUS_NO_AVX2` turns every AVX2 build off at once.
//!
//! The default build targets baseline x86-64 (SSE2). The hot loops (the
//! maps' column sums, integral rows, run fills and row maxima; the default
//! preset's blurs, box means and best-band search) are element-wise
//! loops that the compiler vectorises; compiled a second time for AVX2 they
//! do twice the work per instruction, and the column sums of 16-bit pixels
//! widen four pixels to 64 bits in one instruction instead of several.
//!
//! Both versions give the same bits: Rust never fuses or reorders
//! floating-point operations, so a vector of any width performs, lane by
//! lane, the IEEE operations the scalar loop would; integer sums wrap the
//! same way. Which version runs is decided once per process.

use std::sync::atomic::{AtomicU8, Ordering};

/// 0: not decided yet; 1: baseline; 2: AVX2.
static CHOICE: AtomicU8 = AtomicU8::new(0);

/// Whether the AVX2 versions run: the CPU has AVX2 and `INFOCUS_NO_AVX2`
/// is not set (for comparing the two).
#[inline]
pub(crate) fn avx2() -> bool {
    match CHOICE.load(Ordering::Relaxed) {
        0 => {
            let yes = detect();
            CHOICE.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
        c => c == 2,
    }
}

fn detect() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::env::var_os("INFOCUS_NO_AVX2").is_none()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Forces the baseline (`false`) or, where the CPU has it, the AVX2 path.
/// Tests use it to check that both give the same bits; since they do,
/// switching while other maps run changes none of their results.
#[cfg(test)]
pub(crate) fn force_avx2(on: bool) {
    let yes = on && detect_cpu();
    CHOICE.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
}

#[cfg(test)]
fn detect_cpu() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

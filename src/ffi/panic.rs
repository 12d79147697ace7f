//! The one boundary every exported function's body runs inside: a Rust panic
//! never unwinds into C. What a caught panic returns is decided by the
//! function's return type ([`OnPanic`]), so no function can forget it.

use super::status::{Failure, report};
use crate::error::Error;
use std::any::Any;
use std::ffi::c_char;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// What an exported function returns when its body panicked.
pub(crate) trait OnPanic {
    fn on_panic(failure: Failure) -> Self;
}

/// A status: `INFOCUS_ERR_PANIC`, with the panic's message as the last error.
impl OnPanic for i32 {
    fn on_panic(failure: Failure) -> Self {
        report(Err(failure))
    }
}

/// A string getter: the empty string, never NULL.
impl OnPanic for *const c_char {
    fn on_panic(failure: Failure) -> Self {
        report(Err(failure));
        c"".as_ptr()
    }
}

/// Runs `body`, turning a panic into the return type's panic value.
///
/// Nothing `body` touched is used after a panic (its outputs are written only
/// on success), which is why asserting unwind safety is sound.
pub(crate) fn guard<R: OnPanic>(body: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(payload) => {
            R::on_panic(Error::Internal(format!("panicked: {}", panic_message(&*payload))).into())
        }
    }
}

/// The body of a function that returns a status: `Ok` is `INFOCUS_OK` and
/// clears the last error, `Err` sets it, a panic is `INFOCUS_ERR_PANIC`.
pub(crate) fn status(body: impl FnOnce() -> Result<(), Failure>) -> i32 {
    guard(|| report(body()))
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a panic without a message"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::status::{INFOCUS_ERR_INVALID, INFOCUS_ERR_PANIC, INFOCUS_OK, last_error_ptr};
    use std::ffi::CStr;

    fn last() -> String {
        unsafe { CStr::from_ptr(last_error_ptr()) }
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn a_panic_becomes_the_panic_status_with_its_message() {
        let n = 3;
        assert_eq!(status(|| panic!("slice {n} exploded")), INFOCUS_ERR_PANIC);
        let msg = last();
        assert!(msg.contains("panicked: slice 3 exploded"), "{msg}");
        assert!(msg.contains("internal error"), "{msg}");
        assert_eq!(status(|| std::panic::panic_any(42u8)), INFOCUS_ERR_PANIC);
        assert!(last().contains("a panic without a message"));
    }

    #[test]
    fn a_static_str_panic_keeps_its_message() {
        assert_eq!(status(|| panic!("plain")), INFOCUS_ERR_PANIC);
        assert!(last().contains("panicked: plain"));
    }

    #[test]
    fn a_panicking_string_getter_returns_an_empty_string() {
        let p: *const c_char = guard(|| panic!("no string"));
        assert!(!p.is_null());
        assert_eq!(unsafe { CStr::from_ptr(p) }.to_bytes(), b"");
        assert!(last().contains("no string"));
    }

    #[test]
    fn results_pass_through() {
        assert_eq!(status(|| Ok(())), INFOCUS_OK);
        assert_eq!(last(), "");
        assert_eq!(
            status(|| Err(Error::invalid("nope").into())),
            INFOCUS_ERR_INVALID
        );
        assert_eq!(last(), "invalid argument: nope");
    }

    #[test]
    fn a_panic_inside_a_rayon_worker_is_caught_too() {
        use rayon::prelude::*;
        let s = status(|| {
            (0..64)
                .into_par_iter()
                .for_each(|i| assert!(i != 37, "worker {i}"));
            Ok(())
        });
        assert_eq!(s, INFOCUS_ERR_PANIC);
        assert!(last().contains("worker 37"));
    }
}

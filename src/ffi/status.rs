//! Status codes, the one mapping from [`crate::Error`] to a status, and the
//! calling thread's last error message.
//!
//! Codes are never reused: a code that is retired stays reserved.

use crate::error::Error;
use std::cell::RefCell;
use std::ffi::{CString, c_char};

/// Success.
pub const INFOCUS_OK: i32 = 0;
/// A required pointer argument was NULL.
pub const INFOCUS_ERR_NULL: i32 = 1;
/// An argument or array cannot be used as given (zero or overflowing
/// dimensions, a wrong buffer length, an unknown enum value, a bad parameter,
/// NaN or Inf in a float stack).
pub const INFOCUS_ERR_INVALID: i32 = 2;
/// A file could not be read or written, or is not a stack infocus understands.
pub const INFOCUS_ERR_IO: i32 = 3;
/// This build lacks the capability asked for (for example the U-Net without torch).
pub const INFOCUS_ERR_UNSUPPORTED: i32 = 4;
/// The progress callback returned non-zero; nothing was written.
pub const INFOCUS_ERR_CANCELLED: i32 = 5;
/// libtorch reported an error.
pub const INFOCUS_ERR_TORCH: i32 = 6;
/// A bug in infocus (a caught panic or a broken invariant); please report it.
pub const INFOCUS_ERR_PANIC: i32 = 7;

/// Why a call failed: its status and the message `infocus_last_error` gives.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: i32,
    pub message: String,
}

impl Failure {
    /// A NULL where a pointer is required; `what` names the argument.
    pub fn null(what: &str) -> Self {
        Failure {
            status: INFOCUS_ERR_NULL,
            message: format!("{what} is NULL"),
        }
    }
}

/// The one mapping from the core's error to a C status.
pub(crate) fn status_of(e: &Error) -> i32 {
    match e {
        Error::InvalidArgument(_) => INFOCUS_ERR_INVALID,
        Error::Io { .. } | Error::Format { .. } => INFOCUS_ERR_IO,
        Error::Unsupported(_) => INFOCUS_ERR_UNSUPPORTED,
        Error::Cancelled => INFOCUS_ERR_CANCELLED,
        Error::Torch(_) => INFOCUS_ERR_TORCH,
        Error::Internal(_) => INFOCUS_ERR_PANIC,
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure {
            status: status_of(&e),
            message: e.to_string(),
        }
    }
}

/// The name of a status code, for logs; `None` for codes never assigned.
pub(crate) fn name(status: i32) -> Option<&'static std::ffi::CStr> {
    Some(match status {
        INFOCUS_OK => c"INFOCUS_OK",
        INFOCUS_ERR_NULL => c"INFOCUS_ERR_NULL",
        INFOCUS_ERR_INVALID => c"INFOCUS_ERR_INVALID",
        INFOCUS_ERR_IO => c"INFOCUS_ERR_IO",
        INFOCUS_ERR_UNSUPPORTED => c"INFOCUS_ERR_UNSUPPORTED",
        INFOCUS_ERR_CANCELLED => c"INFOCUS_ERR_CANCELLED",
        INFOCUS_ERR_TORCH => c"INFOCUS_ERR_TORCH",
        INFOCUS_ERR_PANIC => c"INFOCUS_ERR_PANIC",
        _ => return None,
    })
}

thread_local! {
    /// The message of this thread's last failed call; empty after a success.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records the outcome of a call and returns its status: a failure sets the
/// thread's last error, a success clears it.
pub(crate) fn report(outcome: Result<(), Failure>) -> i32 {
    match outcome {
        Ok(()) => {
            set_last_error("");
            INFOCUS_OK
        }
        Err(f) => {
            // A failure always leaves a message, even if someone built it empty.
            let message = if f.message.is_empty() {
                "unknown error"
            } else {
                &f.message
            };
            set_last_error(message);
            f.status
        }
    }
}

fn set_last_error(message: &str) {
    // Interior NULs would cut the C string short; keep the rest of the message.
    let c = CString::new(message.replace('\0', "\\0")).expect("NULs were replaced");
    LAST_ERROR.with(|cell| *cell.borrow_mut() = c);
}

/// The thread's last error message; valid until this thread's next call that
/// returns a status (the string getters leave it alone).
pub(crate) fn last_error_ptr() -> *const c_char {
    // The CString lives in the thread-local until it is replaced, so the
    // pointer outlives this borrow.
    LAST_ERROR.with(|cell| cell.borrow().as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last() -> String {
        unsafe { CStr::from_ptr(last_error_ptr()) }
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn every_error_has_its_status() {
        let io = std::io::Error::other("disk gone");
        let cases = [
            (Error::invalid("x"), INFOCUS_ERR_INVALID),
            (Error::io("/a", io), INFOCUS_ERR_IO),
            (Error::format("/a", Some(2), "bad"), INFOCUS_ERR_IO),
            (Error::Unsupported("torch".into()), INFOCUS_ERR_UNSUPPORTED),
            (Error::Cancelled, INFOCUS_ERR_CANCELLED),
            (Error::Torch("oom".into()), INFOCUS_ERR_TORCH),
            (Error::Internal("bug".into()), INFOCUS_ERR_PANIC),
        ];
        for (e, s) in cases {
            assert_eq!(status_of(&e), s, "{e:?}");
        }
    }

    #[test]
    fn codes_are_distinct_and_named() {
        let codes = [
            INFOCUS_OK,
            INFOCUS_ERR_NULL,
            INFOCUS_ERR_INVALID,
            INFOCUS_ERR_IO,
            INFOCUS_ERR_UNSUPPORTED,
            INFOCUS_ERR_CANCELLED,
            INFOCUS_ERR_TORCH,
            INFOCUS_ERR_PANIC,
        ];
        let mut seen = std::collections::HashSet::new();
        for c in codes {
            assert!(seen.insert(c), "code {c} reused");
            assert!(name(c).unwrap().to_str().unwrap().starts_with("INFOCUS_"));
        }
        assert!(name(-1).is_none() && name(8).is_none());
    }

    #[test]
    fn failures_set_and_successes_clear_the_last_error() {
        assert_eq!(
            report(Err(Error::invalid("window 0").into())),
            INFOCUS_ERR_INVALID
        );
        assert_eq!(last(), "invalid argument: window 0");
        assert_eq!(report(Err(Failure::null("stack"))), INFOCUS_ERR_NULL);
        assert_eq!(last(), "stack is NULL");
        assert_eq!(
            report(Err(Failure {
                status: INFOCUS_ERR_IO,
                message: "a\0b".into()
            })),
            INFOCUS_ERR_IO
        );
        assert_eq!(last(), "a\\0b");
        assert_eq!(report(Ok(())), INFOCUS_OK);
        assert_eq!(last(), "");
    }

    #[test]
    fn the_last_error_is_per_thread() {
        report(Err(Error::Cancelled.into()));
        std::thread::spawn(|| assert_eq!(last(), ""))
            .join()
            .unwrap();
        assert_eq!(last(), "cancelled");
    }
}

//! The `infocus` command-line tool: a door onto the library, like the C ABI.
//! It parses arguments, reads and writes files, and reports; the core computes.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so `infocus eval ... | head` would panic on a
    // closed stdout. Behave like every Unix tool: end quietly instead.
    // SAFETY: resetting a signal to its default before any thread starts.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    cli::main()
}

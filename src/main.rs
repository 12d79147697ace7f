//! The `infocus` command-line tool: a door onto the library, like the C ABI.
//! It parses arguments, reads and writes files, and reports; the core computes.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}

//! The library's version, as in the ZeroMQ Guide (chapter 1, "Version
//! Reporting", `version`), whose program prints libzmq's.
//!
//! Run: `cargo run --release --example version`
//!
//! Prints `Current dhaga version is <version> (ZMTP 3.1)`: the version of
//! the `dhaga` crate this program was built with, and the revision of
//! ZeroMQ's wire protocol that its sockets speak (ZMTP 3.1,
//! rfc.zeromq.org spec 37, the one libzmq 4.2 and later speak; peers that
//! speak 3.0 are answered in 3.0). Takes no arguments but `--help`.
//!
//! `dhaga::mq` has no version call of its own (libzmq's `zmq_version`):
//! the crate version comes from Cargo, and the protocol revision is the
//! one a `dhaga::mq` socket announces in its greeting, which the test of
//! this example reads off the wire.

use std::io::{self, Write};
use std::process::ExitCode;

#[path = "common/args.rs"]
mod args;

/// The version of the `dhaga` crate.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The ZMTP revision `dhaga::mq` speaks: the major and minor version its
/// greeting announces (RFC 37 §"Version Negotiation").
pub(crate) const ZMTP: (u8, u8) = (3, 1);

/// Prints the version line to `out`.
///
/// # Errors
///
/// `out`'s.
pub(crate) fn report(out: &mut dyn Write) -> io::Result<()> {
    let (major, minor) = ZMTP;
    writeln!(out, "Current dhaga version is {VERSION} (ZMTP {major}.{minor})")
}

const USAGE: &str = "usage: version";

/// What `--help` prints after [`USAGE`].
const HELP: &str = "
Prints the version of dhaga and of the ZeroMQ protocol (ZMTP) it speaks.

  -h, --help   print this help";

/// Parses the command line, without the program's name: there is nothing
/// to parse but `--help` (`None`).
fn parse(args: impl IntoIterator<Item = impl Into<std::ffi::OsString>>) -> Result<Option<()>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    if let Some(arg) = parser.next()? {
        return match arg {
            Short('h') | Long("help") => Ok(None),
            _ => Err(arg.unexpected()),
        };
    }
    Ok(Some(()))
}

fn main() -> ExitCode {
    if let Err(code) = args::or_exit("version", parse(std::env::args_os().skip(1)), USAGE, HELP) {
        return code;
    }
    match report(&mut io::stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("version: {e}");
            ExitCode::FAILURE
        }
    }
}

//! Makes a CURVE key pair and prints it, as libzmq's `curve_keygen` tool
//! does: the public key to give to peers, the secret key to keep.
//!
//! Run: `cargo run --release --example curve_keygen`
//!
//! Both keys are Z85 text (RFC 32), 40 characters, the form `hwserver`'s
//! and `hwclient`'s flags, libzmq's `ZMQ_CURVE_*KEY` options and pyzmq take.

use std::io::{self, Write};
use std::process::ExitCode;

use dhaga::mq::curve_keypair;

/// Writes a fresh key pair to `out`, in `curve_keygen`'s layout.
///
/// # Errors
///
/// `out`'s.
pub(crate) fn keygen(out: &mut dyn Write) -> io::Result<()> {
    let pair = curve_keypair();
    writeln!(
        out,
        "This tool generates a CurveZMQ keypair, as two printable strings you can\n\
         use in configuration files or source code. The encoding uses Z85, which\n\
         is a base-85 format that is described in 0MQ RFC 32. The keypair\n\
         always works with the secret key held by one party and the public key\n\
         distributed (securely!) to peers wishing to connect to it."
    )?;
    writeln!(out, "\n== CURVE PUBLIC KEY ==\n{}", pair.public())?;
    writeln!(out, "\n== CURVE SECRET KEY ==\n{}", pair.secret())?;
    Ok(())
}

fn main() -> ExitCode {
    if std::env::args().len() > 1 {
        eprintln!("usage: curve_keygen (no arguments)");
        return ExitCode::from(2);
    }
    match keygen(&mut io::stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("curve_keygen: {e}");
            ExitCode::FAILURE
        }
    }
}

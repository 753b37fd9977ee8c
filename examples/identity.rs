//! Identities and the ROUTER, as in the ZeroMQ Guide (chapter 3, "The
//! Request-Reply Mechanisms", `identity`): what a ROUTER sees in front of
//! a REQ's message, for a REQ that chose no routing id and for one that
//! did.
//!
//! Run: `cargo run --release --example identity`, or
//! `cargo run --release --example identity -- tcp://127.0.0.1:5590`
//!
//! Binds a ROUTER to `<endpoint>` (`inproc://example` by default, as in
//! the Guide; any endpoint a ROUTER can bind and a REQ connect to), then
//! connects two REQ sockets to it:
//!
//! - the first without a routing id sends `ROUTER uses a generated UUID`;
//!   the ROUTER makes up an id for it (as libzmq does: a zero byte, then a
//!   32-bit number);
//! - the second, with `set_routing_id("Hello")` (libzmq's
//!   `ZMQ_ROUTING_ID`, once `ZMQ_IDENTITY`), sends `ROUTER socket uses
//!   REQ's socket identity`; the ROUTER uses that id.
//!
//! After each, the ROUTER receives the message and prints its frames as
//! the Guide's `s_dump` does: a line of dashes, then each frame as
//! `[<size>] <content>`, the content as text if every byte is printable
//! ASCII and in hexadecimal otherwise:
//!
//! ```text
//! ----------------------------------------
//! [005] 006B8B4567
//! [000]
//! [028] ROUTER uses a generated UUID
//! ----------------------------------------
//! [005] Hello
//! [000]
//! [040] ROUTER socket uses REQ's socket identity
//! ```
//!
//! The routing id, then the empty delimiter frame a REQ puts in front of
//! its request, then the request.

use std::io::{self, Write};
use std::process::ExitCode;

use dhaga::mq::{Msg, Result, Socket, SocketType};

#[path = "common/args.rs"]
mod args;
#[path = "common/dump.rs"]
mod dump;

/// Where the Guide's ROUTER binds.
const DEFAULT_ENDPOINT: &str = "inproc://example";
/// What each REQ sends.
pub(crate) const ANONYMOUS: &str = "ROUTER uses a generated UUID";
pub(crate) const IDENTIFIED: &str = "ROUTER socket uses REQ's socket identity";
/// The routing id the second REQ chooses.
pub(crate) const IDENTITY: &str = "Hello";

/// The Guide's demonstration: connects `anonymous` as it is, and
/// `identified` with the routing id [`IDENTITY`], to `endpoint`, where the
/// ROUTER `sink` is bound; each sends its line, and the ROUTER's view of
/// each message is dumped to `out` (see [`dump`]). Returns the two
/// messages as the ROUTER received them.
///
/// # Errors
///
/// The sockets' (connecting, sending, receiving), and `out`'s.
pub(crate) fn run(
    sink: &Socket,
    anonymous: &Socket,
    identified: &Socket,
    endpoint: &str,
    out: &mut dyn Write,
) -> Result<[Msg; 2]> {
    // First let the ROUTER make up an id.
    anonymous.connect(endpoint)?;
    anonymous.send(ANONYMOUS)?;
    let first = dump(sink, out)?;

    // Then choose one: it must be set before connecting.
    identified.set_routing_id(IDENTITY)?;
    identified.connect(endpoint)?;
    identified.send(IDENTIFIED)?;
    let second = dump(sink, out)?;
    Ok([first, second])
}

/// Receives a message on `socket` and prints it to `out` as the Guide's
/// `s_dump` does: a line of dashes, then one line per frame, its size and
/// its content (text if every byte is printable ASCII, hexadecimal
/// otherwise). Returns the message.
///
/// # Errors
///
/// The socket's, if receiving fails, and `out`'s.
pub(crate) fn dump(socket: &Socket, out: &mut dyn Write) -> Result<Msg> {
    let msg = socket.recv()?;
    dump::dump(&msg, out)?;
    Ok(msg)
}

const USAGE: &str = "usage: identity [<endpoint>]";

/// What `--help` prints after [`USAGE`].
const HELP: &str = "
Binds a ROUTER to <endpoint> (by default inproc://example), connects a REQ
without a routing id and one with the routing id \"Hello\", and prints what
the ROUTER receives from each, frame by frame.

  -h, --help   print this help";

/// Parses `[<endpoint>]`, without the program's name; `None` if it asks
/// for `--help`.
fn parse(args: impl IntoIterator<Item = impl Into<std::ffi::OsString>>) -> Result<Option<String>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut endpoint = None;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Value(value) if endpoint.is_none() => endpoint = Some(value.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Some(endpoint.unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned())))
}

fn main() -> ExitCode {
    let endpoint = match args::or_exit("identity", parse(std::env::args_os().skip(1)), USAGE, HELP) {
        Ok(endpoint) => endpoint,
        Err(code) => return code,
    };
    let shown = dhaga::run(move || {
        let sink = Socket::new(SocketType::Router);
        sink.bind(&endpoint)?;
        // Connect to the endpoint as bound (with the port a `:*` got).
        let endpoint = sink.last_endpoint().unwrap_or(endpoint);
        let (anonymous, identified) = (Socket::new(SocketType::Req), Socket::new(SocketType::Req));
        run(&sink, &anonymous, &identified, &endpoint, &mut io::stdout()).map(drop)
    });
    match shown {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("identity: {e}");
            ExitCode::FAILURE
        }
    }
}

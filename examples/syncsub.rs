//! Synchronized subscriber, as in the ZeroMQ Guide (chapter 2, "Node
//! Coordination", `syncsub`): a subscriber that tells the publisher
//! (`syncpub`) it is there, then counts the updates.
//!
//! Run: `cargo run --release --example syncsub -- tcp://127.0.0.1:5561 tcp://127.0.0.1:5562`
//!
//! ```text
//! syncsub <sub-connect> <sync-connect>
//! ```
//!
//! Connects a SUB socket, subscribed to everything, to `<sub-connect>`;
//! then a REQ socket to `<sync-connect>`, on which it sends an empty
//! synchronization request and waits for the reply. Then it counts the
//! messages on the SUB socket until one is `END`, prints `Received <n>
//! updates`, and exits. The publisher is `syncpub`, the Guide's
//! `syncpub.c` (libzmq), or any PUB that waits on a REP socket for its
//! subscribers before it publishes.
//!
//! The Guide warns that its subscriber may still miss the first updates:
//! the reply says the publisher got the request, not that it got the
//! subscription, which travels on the other connection. This one waits
//! until its SUB connection's handshake is done (a
//! [`MonitorEvent::HandshakeSucceeded`] from [`Socket::monitor`]) before
//! it connects the REQ socket: its subscription is then sent before the
//! request's connection is even opened, and reaches the publisher first.

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use dhaga::mq::{Error, MonitorEvent, Result, Socket, SocketType};

#[path = "common/args.rs"]
mod args;

/// What ends the updates.
pub(crate) const END: &str = "END";

/// Subscribes `subscriber` to everything and connects it to `endpoint`,
/// then waits until that connection's handshake is done (for at most
/// `patience`; `None`: as long as it takes), so that the subscription is
/// on its way to the publisher.
///
/// # Errors
///
/// Subscribing or connecting, and [`Error::TimedOut`] if no handshake
/// succeeded within `patience`.
pub(crate) fn subscribe(subscriber: &Socket, endpoint: &str, patience: Option<Duration>) -> Result<()> {
    subscriber.subscribe("")?;
    let events = subscriber.monitor();
    subscriber.connect(endpoint)?;
    loop {
        let event = match patience {
            Some(patience) => events.recv_timeout(patience).map_err(|_| Error::TimedOut)?,
            None => events.recv().map_err(|_| Error::Closed)?,
        };
        if matches!(event, MonitorEvent::HandshakeSucceeded { .. }) {
            // Dropping `events` detaches the monitor.
            return Ok(());
        }
    }
}

/// Synchronizes with the publisher on the REQ socket `syncclient` (an
/// empty request, then its reply), then counts the messages on
/// `subscriber` until [`END`] and prints `Received <n> updates` to
/// `out`; returns the count.
///
/// # Errors
///
/// The sockets' (sending, receiving), and `out`'s.
pub(crate) fn run(subscriber: &Socket, syncclient: &Socket, out: &mut dyn Write) -> Result<u64> {
    // Send a synchronization request, wait for the reply.
    syncclient.send("")?;
    syncclient.recv()?;
    // Get our updates and report how many we got.
    let mut updates = 0;
    while subscriber.recv()?.as_str() != Some(END) {
        updates += 1;
    }
    writeln!(out, "Received {updates} updates")?;
    Ok(updates)
}

const USAGE: &str = "usage: syncsub <sub-connect> <sync-connect>";

/// What `--help` prints after [`USAGE`].
const HELP: &str = "
Subscribes to the publisher at <sub-connect>, tells it so with a request to
<sync-connect>, then counts the updates until END.

  -h, --help   print this help";

/// Parses `<sub-connect> <sync-connect>`, without the program's name;
/// `None` if it asks for `--help`.
fn parse(
    args: impl IntoIterator<Item = impl Into<OsString>>,
) -> std::result::Result<Option<(String, String)>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut endpoints = Vec::new();
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Value(value) if endpoints.len() < 2 => endpoints.push(value.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    let [publisher, sync] = <[String; 2]>::try_from(endpoints)
        .map_err(|_| "the two endpoints to connect to, <sub-connect> and <sync-connect>, are needed")?;
    Ok(Some((publisher, sync)))
}

fn main() -> ExitCode {
    let (publisher, sync) = match args::or_exit("syncsub", parse(std::env::args_os().skip(1)), USAGE, HELP) {
        Ok(endpoints) => endpoints,
        Err(code) => return code,
    };
    let counted = dhaga::run(move || {
        // First, connect our subscriber socket.
        let subscriber = Socket::new(SocketType::Sub);
        subscribe(&subscriber, &publisher, None)?;
        // Second, synchronize with the publisher.
        let syncclient = Socket::new(SocketType::Req);
        syncclient.connect(&sync)?;
        // Third, get our updates.
        run(&subscriber, &syncclient, &mut io::stdout())
    });
    match counted {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("syncsub: {e}");
            ExitCode::FAILURE
        }
    }
}

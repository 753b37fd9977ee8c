//! Synchronized publisher, as in the ZeroMQ Guide (chapter 2, "Node
//! Coordination", `syncpub`): a publisher that waits until its
//! subscribers are there before it publishes, so that none misses the
//! start.
//!
//! Run: `cargo run --release --example syncpub -- tcp://*:5561 tcp://*:5562`,
//! then ten `syncsub tcp://127.0.0.1:5561 tcp://127.0.0.1:5562`
//!
//! ```text
//! syncpub <pub-bind> <sync-bind> [--subscribers N] [--updates N]
//! ```
//!
//! Binds a PUB socket to `<pub-bind>` and a REP socket to `<sync-bind>`,
//! prints `Waiting for subscribers`, and answers `--subscribers` (the
//! Guide's 10) synchronization requests on the REP socket, one per
//! subscriber, each with an empty reply. Then it prints `Broadcasting
//! messages`, publishes `--updates` (the Guide's 1 000 000) messages
//! `Rhubarb` and one `END`, and exits once the subscribers have them all.
//!
//! A subscriber (`syncsub`, the Guide's `syncsub.c`, pyzmq's) subscribes
//! to everything, connects, sends its request to the REP socket and waits
//! for the reply; then it counts updates until `END`.
//!
//! A PUB socket drops what a subscriber has no room for (its high-water
//! mark, 1000 messages by default), and a publisher that sends a million
//! messages as fast as it can outruns its subscribers: the Guide's
//! subscribers may count fewer than a million. This one sets
//! `ZMQ_XPUB_NODROP` ([`Socket::set_xpub_nodrop`]): it waits for room at
//! a full subscriber instead, so that every subscriber counts every
//! update.

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;

use dhaga::mq::{Result, Socket, SocketType};

#[path = "common/args.rs"]
mod args;

/// What the publisher sends, and what ends the updates.
pub(crate) const UPDATE: &str = "Rhubarb";
pub(crate) const END: &str = "END";

/// The Guide's numbers.
const DEFAULT_SUBSCRIBERS: u64 = 10;
const DEFAULT_UPDATES: u64 = 1_000_000;

/// Waits on the REP socket `syncservice` for `subscribers` synchronization
/// requests, answering each, then publishes `updates` times [`UPDATE`] and
/// once [`END`] on `publisher`, printing the Guide's two lines to `out`.
/// Sets `ZMQ_XPUB_NODROP` on `publisher` (see the module docs).
///
/// The caller closes `publisher` afterwards, which waits until the
/// subscribers have had everything.
///
/// # Errors
///
/// The sockets' (receiving, replying, publishing), and `out`'s.
pub(crate) fn publish(
    publisher: &Socket,
    syncservice: &Socket,
    subscribers: u64,
    updates: u64,
    out: &mut dyn Write,
) -> Result<()> {
    publisher.set_xpub_nodrop(true)?;
    // Get synchronization from subscribers.
    writeln!(out, "Waiting for subscribers")?;
    for _ in 0..subscribers {
        // Wait for a synchronization request, send the reply.
        syncservice.recv()?;
        syncservice.send("")?;
    }
    // Now broadcast exactly `updates` updates followed by END.
    writeln!(out, "Broadcasting messages")?;
    for _ in 0..updates {
        publisher.send(UPDATE)?;
    }
    publisher.send(END)?;
    Ok(())
}

/// What the command line asks for.
struct Config {
    publish: String,
    sync: String,
    subscribers: u64,
    updates: u64,
}

const USAGE: &str = "usage: syncpub <pub-bind> <sync-bind> [--subscribers N] [--updates N]";

/// What `--help` prints after [`USAGE`].
const HELP: &str = "
Waits for <subscribers> synchronization requests on a REP socket bound to
<sync-bind>, then publishes <updates> messages \"Rhubarb\" and one \"END\"
on a PUB socket bound to <pub-bind>.

  --subscribers N   subscribers to wait for (default 10)
  --updates N       updates to publish (default 1000000)
  -h, --help        print this help";

/// Parses the command line, without the program's name; `None` if it asks
/// for `--help`.
fn parse(args: impl IntoIterator<Item = impl Into<OsString>>) -> std::result::Result<Option<Config>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut endpoints = Vec::new();
    let (mut subscribers, mut updates) = (DEFAULT_SUBSCRIBERS, DEFAULT_UPDATES);
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("subscribers") => subscribers = args::parse("--subscribers", parser.value()?)?,
            Long("updates") => updates = args::parse("--updates", parser.value()?)?,
            Short('h') | Long("help") => return Ok(None),
            Value(value) if endpoints.len() < 2 => endpoints.push(value.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    let [publish, sync] = <[String; 2]>::try_from(endpoints)
        .map_err(|_| "the two endpoints to bind, <pub-bind> and <sync-bind>, are needed")?;
    Ok(Some(Config {
        publish,
        sync,
        subscribers,
        updates,
    }))
}

fn main() -> ExitCode {
    let config = match args::or_exit("syncpub", parse(std::env::args_os().skip(1)), USAGE, HELP) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let published = dhaga::run(move || {
        // Socket to talk to clients.
        let publisher = Socket::new(SocketType::Pub);
        publisher.bind(&config.publish)?;
        // Socket to receive signals.
        let syncservice = Socket::new(SocketType::Rep);
        syncservice.bind(&config.sync)?;
        publish(
            &publisher,
            &syncservice,
            config.subscribers,
            config.updates,
            &mut io::stdout(),
        )?;
        // Until the subscribers have every update and the END.
        publisher.close();
        Ok::<_, dhaga::mq::Error>(())
    });
    match published {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("syncpub: {e}");
            ExitCode::FAILURE
        }
    }
}

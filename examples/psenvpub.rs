//! Pub-sub envelope publisher, as in the ZeroMQ Guide (chapter 2, "Pub-Sub
//! Message Envelopes", `psenvpub`): the topic travels in a frame of its
//! own, in front of the body, so subscribers filter on the whole topic
//! frame and the body is never matched against.
//!
//! Run: `cargo run --release --example psenvpub -- tcp://*:5563`
//!
//! Binds a PUB socket to `<bind>` and, once a second, forever, publishes
//! two messages of two frames each: `["A", "We don't want to see this"]`
//! and `["B", "We would like to see this"]`. Pair it with `psenvsub`
//! (which subscribes to "B" unless told otherwise), the Guide's
//! `psenvsub.c`, or any SUB socket.

use std::process::ExitCode;
use std::time::Duration;

use dhaga::mq::{Msg, Result, Socket, SocketType};

/// The Guide's pause between two rounds.
const INTERVAL: Duration = Duration::from_secs(1);

/// What each round publishes: (topic, body).
pub(crate) const MESSAGES: [(&str, &str); 2] = [("A", "We don't want to see this"), ("B", "We would like to see this")];

/// Publishes [`MESSAGES`] on `publisher`, each as a topic frame and a body
/// frame, then sleeps `interval`, until publishing fails (a cancelled
/// publisher stops in its sleep).
///
/// # Errors
///
/// The socket's, if publishing fails (it was closed, ...).
pub(crate) fn publish(publisher: &Socket, interval: Duration) -> Result<()> {
    loop {
        for (topic, body) in MESSAGES {
            publisher.send(Msg::from_iter([topic, body]))?;
        }
        dhaga::sleep(interval);
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint] = args.as_slice() else {
        eprintln!("usage: psenvpub <bind>\n  e.g. psenvpub tcp://*:5563");
        return ExitCode::from(2);
    };
    let endpoint = endpoint.clone();
    let published = dhaga::run(move || {
        let publisher = Socket::new(SocketType::Pub);
        publisher.bind(&endpoint)?;
        publish(&publisher, INTERVAL)
    });
    match published {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("psenvpub: {e}");
            ExitCode::FAILURE
        }
    }
}

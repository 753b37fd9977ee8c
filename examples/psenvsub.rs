//! Pub-sub envelope subscriber, as in the ZeroMQ Guide (chapter 2, "Pub-Sub
//! Message Envelopes", `psenvsub`): a SUB socket that subscribes to one
//! topic of `psenvpub`'s and prints what arrives.
//!
//! Run: `cargo run --release --example psenvsub -- tcp://127.0.0.1:5563 [topic]`
//!
//! Connects a SUB socket to `<connect>`, subscribes to `[topic]` ("B" by
//! default, as in the Guide) and prints each message as `[topic] body`,
//! forever. A subscription is a prefix of the first frame: with the
//! topic in a frame of its own, "B" matches the topic frames that start
//! with "B", whatever the body says.

use std::io::{self, Write};
use std::process::ExitCode;

use dhaga::mq::{Msg, Result, Socket, SocketType};

/// The topic subscribed to unless the command line says otherwise (the
/// Guide's).
const DEFAULT_TOPIC: &str = "B";

/// Subscribes `subscriber` to `topic` and prints each message that
/// arrives to `out` as `[topic] body`; receives `limit` messages, or
/// forever with `None`.
///
/// # Errors
///
/// The socket's, if receiving fails, and `out`'s.
pub(crate) fn listen(subscriber: &Socket, topic: &str, limit: Option<u64>, out: &mut dyn Write) -> Result<()> {
    subscriber.subscribe(topic)?;
    let mut received = 0;
    while limit.is_none_or(|limit| received < limit) {
        let msg = subscriber.recv()?;
        writeln!(out, "{}", envelope(&msg))?;
        received += 1;
    }
    Ok(())
}

/// `[topic] body`: the first frame in brackets, then the others (as text,
/// separated by `|`, bytes that are not UTF-8 as U+FFFD).
fn envelope(msg: &Msg) -> String {
    let mut frames = msg.iter().map(|frame| String::from_utf8_lossy(frame));
    let topic = frames.next().unwrap_or_default();
    let body: Vec<_> = frames.collect();
    format!("[{topic}] {}", body.join("|"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (endpoint, topic) = match args.as_slice() {
        [endpoint] => (endpoint.clone(), DEFAULT_TOPIC.to_owned()),
        [endpoint, topic] => (endpoint.clone(), topic.clone()),
        _ => {
            eprintln!("usage: psenvsub <connect> [topic]\n  e.g. psenvsub tcp://127.0.0.1:5563 B");
            return ExitCode::from(2);
        }
    };
    let listened = dhaga::run(move || {
        let subscriber = Socket::new(SocketType::Sub);
        subscriber.connect(&endpoint)?;
        listen(&subscriber, &topic, None, &mut io::stdout())
    });
    match listened {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("psenvsub: {e}");
            ExitCode::FAILURE
        }
    }
}

//! Hello World client, as in the ZeroMQ Guide (chapter 1, `hwclient`): a
//! REQ socket that sends "Hello" and waits for each answer.
//!
//! Run: `cargo run --release --example hwclient -- tcp://127.0.0.1:5555 10`
//!
//! Connects a REQ socket to the endpoint given and, `<n>` times, sends
//! "Hello", prints `Sending Hello <i>…`, waits for the reply and prints
//! `Received World <i>` (the reply's frames as text). Then it exits. Any
//! REP peer can answer: the `hwserver` example, the Guide's `hwserver.c`
//! (libzmq), or a pyzmq REP socket. Like the Guide's client it waits as
//! long as it takes: start it before the server, and it connects once the
//! server is up.

use std::io::{self, Write};
use std::process::ExitCode;

use dhaga::mq::{Msg, Result, Socket, SocketType};

/// Sends "Hello" `n` times on the REQ socket `client`, waiting for each
/// reply, and prints both to `out`.
///
/// # Errors
///
/// The socket's, if sending or receiving fails, and `out`'s.
pub(crate) fn run(client: &Socket, n: u64, out: &mut dyn Write) -> Result<()> {
    for i in 0..n {
        writeln!(out, "Sending Hello {i}…")?;
        client.send("Hello")?;
        let reply = client.recv()?;
        writeln!(out, "Received {} {i}", text(&reply))?;
    }
    Ok(())
}

/// A message's frames as text, separated by `|` (bytes that are not UTF-8
/// print as U+FFFD).
fn text(msg: &Msg) -> String {
    let frames: Vec<_> = msg.iter().map(|frame| String::from_utf8_lossy(frame)).collect();
    frames.join("|")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [endpoint, n] => n.parse::<u64>().map(|n| (endpoint.clone(), n)).ok(),
        _ => None,
    };
    let Some((endpoint, n)) = parsed else {
        eprintln!("usage: hwclient <connect> <n>\n  e.g. hwclient tcp://127.0.0.1:5555 10");
        return ExitCode::from(2);
    };
    let done = dhaga::run(move || {
        println!("Connecting to hello world server…");
        let client = Socket::new(SocketType::Req);
        client.connect(&endpoint)?;
        run(&client, n, &mut io::stdout())
    });
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hwclient: {e}");
            ExitCode::FAILURE
        }
    }
}

//! Hello World server, as in the ZeroMQ Guide (chapter 1, `hwserver`): a
//! REP socket that answers "World" to every request.
//!
//! Run: `cargo run --release --example hwserver -- tcp://*:5555`
//!
//! Binds a REP socket to the endpoint given, then serves forever: it
//! receives a request, prints `Received Hello` (the request's frames as
//! text), and answers "World". Any REQ peer can stand on the other side:
//! the `hwclient` example, the Guide's `hwclient.c` (libzmq), or pyzmq:
//!
//! ```text
//! python3 -c 'import zmq; s = zmq.Context().socket(zmq.REQ); s.connect("tcp://127.0.0.1:5555"); s.send(b"Hello"); print(s.recv())'
//! ```
//!
//! The Guide's server sleeps a second per request to stand for work; this
//! one answers at once.

use std::io::{self, Write};
use std::process::ExitCode;

use dhaga::mq::{Msg, Result, Socket, SocketType};

/// Serves requests on the REP socket `server`: prints each one to `out` and
/// answers "World". Serves `limit` requests, or forever with `None`.
///
/// # Errors
///
/// The socket's, if receiving or replying fails, and `out`'s.
pub(crate) fn serve(server: &Socket, limit: Option<u64>, out: &mut dyn Write) -> Result<()> {
    let mut served = 0;
    while limit.is_none_or(|limit| served < limit) {
        let request = server.recv()?;
        writeln!(out, "Received {}", text(&request))?;
        server.send("World")?;
        served += 1;
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
    let [endpoint] = args.as_slice() else {
        eprintln!("usage: hwserver <bind>\n  e.g. hwserver tcp://*:5555");
        return ExitCode::from(2);
    };
    let endpoint = endpoint.clone();
    let served = dhaga::run(move || {
        let server = Socket::new(SocketType::Rep);
        server.bind(&endpoint)?;
        serve(&server, None, &mut io::stdout())
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hwserver: {e}");
            ExitCode::FAILURE
        }
    }
}

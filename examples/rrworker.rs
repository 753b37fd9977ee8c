//! Request-reply worker, as in the ZeroMQ Guide (chapter 2, "Shared
//! Queue", `rrworker`): a REP socket that connects to a broker's backend
//! (`rrbroker`) and answers "World" to every request.
//!
//! Run: `cargo run --release --example rrworker -- tcp://127.0.0.1:5560`
//!
//! Connects a REP socket to `<connect>` and serves forever: prints
//! `Received request: [Hello]` (the request's frames as text) and answers
//! "World". Start several: the broker deals requests among them. The
//! Guide's worker sleeps a second per request to stand for work; this one
//! answers at once.

use std::io::{self, Write};
use std::process::ExitCode;

use dhaga::mq::{Result, Socket, SocketType};

/// Serves requests on the REP socket `worker`: prints each one to `out` and
/// answers "World". Serves `limit` requests, or forever with `None`.
///
/// # Errors
///
/// The socket's, if receiving or replying fails, and `out`'s.
pub(crate) fn serve(worker: &Socket, limit: Option<u64>, out: &mut dyn Write) -> Result<()> {
    let mut served = 0;
    while limit.is_none_or(|limit| served < limit) {
        let request = worker.recv()?;
        writeln!(out, "Received request: [{request}]")?;
        worker.send("World")?;
        served += 1;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint] = args.as_slice() else {
        eprintln!("usage: rrworker <connect>\n  e.g. rrworker tcp://127.0.0.1:5560");
        return ExitCode::from(2);
    };
    let endpoint = endpoint.clone();
    let served = dhaga::run(move || {
        let worker = Socket::new(SocketType::Rep);
        worker.connect(&endpoint)?;
        serve(&worker, None, &mut io::stdout())
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rrworker: {e}");
            ExitCode::FAILURE
        }
    }
}

//! Request-reply broker, as in the ZeroMQ Guide (chapter 2, "Shared
//! Queue", `rrbroker`): clients' REQ sockets talk to a ROUTER, workers'
//! REP sockets (`rrworker`) to a DEALER, and the broker passes messages
//! between the two.
//!
//! Run: `cargo run --release --example rrbroker -- tcp://*:5559 tcp://*:5560`
//!
//! Binds a ROUTER to `<frontend-bind>` for the clients and a DEALER to
//! `<backend-bind>` for the workers, then shuttles multipart messages both
//! ways, forever. Requests go round-robin to the workers; each reply
//! finds its client by the envelope the ROUTER put in front of the
//! request (the client's routing id and an empty delimiter), which the REP
//! worker sent back unchanged. Try it with `rrworker` (one or more) and
//! `hwclient` pointed at the frontend.
//!
//! The Guide's broker polls both sockets in one loop. The dhaga way is one
//! micro-thread per direction, each a plain loop of blocking `recv` and
//! `send`.

use std::process::ExitCode;
use std::sync::Arc;

use dhaga::mq::{Error, Result, Socket, SocketType};

/// Passes messages from `frontend` (a ROUTER) to `backend` (a DEALER) and
/// back, one micro-thread each way, until one direction fails.
///
/// # Errors
///
/// The first error of either direction (a socket closed, ...).
pub(crate) fn shuttle(frontend: Arc<Socket>, backend: Arc<Socket>) -> Result<()> {
    let replies = {
        let (frontend, backend) = (Arc::clone(&frontend), Arc::clone(&backend));
        dhaga::spawn(move || forward(&backend, &frontend))
    };
    let error = forward(&frontend, &backend);
    // One direction failed; the other may be parked for good. Stop it.
    replies.cancel();
    let _ = replies.join();
    Err(error)
}

/// Receives from `from` and sends to `to`, message by message, until that
/// fails; returns why.
fn forward(from: &Socket, to: &Socket) -> Error {
    loop {
        let msg = match from.recv() {
            Ok(msg) => msg,
            Err(e) => return e,
        };
        if let Err(e) = to.send(msg) {
            return e.into();
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [frontend_endpoint, backend_endpoint] = args.as_slice() else {
        eprintln!("usage: rrbroker <frontend-bind> <backend-bind>\n  e.g. rrbroker tcp://*:5559 tcp://*:5560");
        return ExitCode::from(2);
    };
    let (frontend_endpoint, backend_endpoint) = (frontend_endpoint.clone(), backend_endpoint.clone());
    let brokered = dhaga::run(move || {
        let frontend = Socket::new(SocketType::Router);
        frontend.bind(&frontend_endpoint)?;
        let backend = Socket::new(SocketType::Dealer);
        backend.bind(&backend_endpoint)?;
        shuttle(Arc::new(frontend), Arc::new(backend))
    });
    match brokered {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rrbroker: {e}");
            ExitCode::FAILURE
        }
    }
}

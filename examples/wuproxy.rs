//! Weather update proxy, as in the ZeroMQ Guide (chapter 2, "Intermediaries
//! and Proxies", `wuproxy`): an XSUB socket connected to a weather server
//! (`wuserver`) on one network, an XPUB socket bound for clients
//! (`wuclient`) on another, and [`proxy`](dhaga::mq::proxy) between them.
//!
//! Run: `cargo run --release --example wuproxy -- tcp://127.0.0.1:5556 tcp://*:8100`
//!
//! Connects an XSUB to `<frontend-connect>`, binds an XPUB to
//! `<backend-bind>`, and forwards forever: updates downstream, and the
//! clients' subscriptions upstream, so the server sends only what some
//! client wants (filtering stays at the publisher, as with a direct
//! connection). Any ZeroMQ publisher and subscribers can stand on either
//! side.

use std::process::ExitCode;

use dhaga::mq::{Result, Socket, SocketType, proxy};

/// The proxy's two sockets: an XSUB connected to the publisher at
/// `upstream`, an XPUB bound to `downstream` for the subscribers.
///
/// # Errors
///
/// A connect or bind that fails (a malformed endpoint, a port in use).
pub(crate) fn sockets(upstream: &str, downstream: &str) -> Result<(Socket, Socket)> {
    let frontend = Socket::new(SocketType::XSub);
    frontend.connect(upstream)?;
    let backend = Socket::new(SocketType::XPub);
    backend.bind(downstream)?;
    Ok((frontend, backend))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [upstream, downstream] = args.as_slice() else {
        eprintln!("usage: wuproxy <frontend-connect> <backend-bind>\n  e.g. wuproxy tcp://127.0.0.1:5556 tcp://*:8100");
        return ExitCode::from(2);
    };
    let (upstream, downstream) = (upstream.clone(), downstream.clone());
    let relayed = dhaga::run(move || {
        let (frontend, backend) = sockets(&upstream, &downstream)?;
        proxy(&frontend, &backend, None)
    });
    match relayed {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wuproxy: {e}");
            ExitCode::FAILURE
        }
    }
}

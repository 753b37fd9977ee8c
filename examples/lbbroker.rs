//! Load-balancing broker, as in the ZeroMQ Guide (chapter 3, "A
//! Load-Balancing Message Broker", `lbbroker`): clients' REQ sockets talk
//! to a ROUTER frontend, workers' REQ sockets to a ROUTER backend, and each
//! request goes to a worker that said it is free.
//!
//! Run: `cargo run --release --example lbbroker -- --demo`, or
//! `cargo run --release --example lbbroker -- tcp://*:5671 tcp://*:5672 [workers]`
//!
//! # The protocol
//!
//! A worker's first message is `READY`; after that, each message it sends is
//! a reply, and says it is free again. The broker keeps the free workers in
//! a queue, oldest first. A client's request (`[client id, "", request]`
//! as the frontend ROUTER receives it) goes to the worker at the head of
//! that queue, with the client's envelope inside:
//! `[worker id, "", client id, "", request]`. The worker replies
//! `[client id, "", reply]`, which the backend receives behind the worker's
//! envelope; the broker takes the worker id back into the queue and sends
//! the rest to the frontend, which routes it to the client. The Guide's
//! clients send `HELLO` and its workers answer `OK`.
//!
//! # Two ways to run it
//!
//! - `lbbroker --demo [<clients> <workers>]` is the Guide's program: 10
//!   clients and 3 workers (or as many as asked), here micro-threads of the
//!   same process talking over `inproc://`. Each client sends one request
//!   and prints `Client: OK`; each worker prints `Worker: HELLO` for every
//!   request it serves; the broker exits once every client has its reply.
//! - `lbbroker <frontend-bind> <backend-bind> [workers]` serves outside
//!   clients forever: binds the two ROUTERs and starts `[workers]` workers
//!   in-process (3 by default; 0 for none), connected to the backend over
//!   `inproc://`. `hwclient tcp://127.0.0.1:5671 10` is a client (it gets
//!   `OK` for every `Hello`); any REQ socket that sends `READY` first and
//!   then answers each request with its envelope is another worker.
//!
//! # Without a poller
//!
//! The Guide's broker polls the backend always and the frontend only while
//! a worker is free. Here each side is a micro-thread of plain blocking
//! calls, and the queue of free workers is a `dhaga::sync` channel between
//! them: the backend side puts a worker in when its READY or reply comes;
//! the frontend side takes a worker out (parking while there is none)
//! *before* it receives the next request, which is the Guide's "poll the
//! frontend only if a worker is free".
//!
//! Unlike the Guide's, the backend is `ZMQ_ROUTER_MANDATORY`: a request for
//! a worker that has gone away is not lost but goes to the next free one.

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use dhaga::mq::{Error, Result, Socket, SocketType};
use dhaga::sync::{Receiver, Sender, bounded, unbounded};

/// A worker's first message: it is free.
pub(crate) const READY: &str = "READY";
/// The Guide's request and reply.
pub(crate) const REQUEST: &str = "HELLO";
pub(crate) const REPLY: &str = "OK";

/// The Guide's demo: how many clients and workers.
const DEMO_CLIENTS: u64 = 10;
const DEMO_WORKERS: u64 = 3;
/// Workers started in-process beside a broker for outside clients.
const DEFAULT_WORKERS: u64 = 3;
/// Where in-process clients and workers meet the broker.
const FRONTEND_INPROC: &str = "inproc://lbbroker-frontend";
const BACKEND_INPROC: &str = "inproc://lbbroker-backend";

/// Brokers requests from the `frontend` ROUTER's clients to the `backend`
/// ROUTER's workers, one micro-thread per side; returns once `limit`
/// replies have gone back to clients (never with `None`), with how many.
/// Sets `ZMQ_ROUTER_MANDATORY` on the backend (see the module docs).
///
/// # Errors
///
/// The first error either side meets (a socket closed, ...).
pub(crate) fn broker(frontend: Arc<Socket>, backend: Arc<Socket>, limit: Option<u64>) -> Result<u64> {
    backend.set_router_mandatory(true);
    let (free_tx, free_rx) = unbounded();
    // Whichever side ends first ends the broker.
    let (ended_tx, ended) = bounded(2);
    let requests = {
        let (frontend, backend, ended_tx) = (Arc::clone(&frontend), Arc::clone(&backend), ended_tx.clone());
        dhaga::spawn(move || {
            let _ = ended_tx.send(Err(dispatch(&frontend, &backend, &free_rx)));
        })
    };
    let replies = dhaga::spawn(move || {
        // `free_tx` lives until the outcome is sent: its end would stop
        // the other side, which must not get there first.
        let _ = ended_tx.send(return_replies(&backend, &frontend, &free_tx, limit));
    });
    let outcome = ended.recv().expect("each side sends its outcome before it ends");
    // The other side may be parked for good. Stop it.
    for side in [requests, replies] {
        side.cancel();
        let _ = side.join();
    }
    outcome
}

/// The frontend side: takes a free worker, then the next request, and
/// sends the request to that worker; until that fails (returns why).
fn dispatch(frontend: &Socket, backend: &Socket, free: &Receiver<Bytes>) -> Error {
    loop {
        let Ok(mut worker) = free.recv() else {
            return Error::Closed;
        };
        let request = match frontend.recv() {
            Ok(request) => request,
            Err(e) => return e,
        };
        let mut msg = request;
        msg.push_front("");
        msg.push_front(worker);
        loop {
            let (error, returned) = match backend.send(msg) {
                Ok(()) => break,
                Err(e) => e.into_parts(),
            };
            if !matches!(error, Error::HostUnreachable) {
                return error;
            }
            // That worker is gone: the next free one gets the request.
            worker = match free.recv() {
                Ok(worker) => worker,
                Err(_) => return Error::Closed,
            };
            msg = returned;
            msg.pop_front();
            msg.push_front(worker);
        }
    }
}

/// The backend side: puts each worker whose READY or reply comes into the
/// `free` queue, and sends each reply to the frontend; returns once
/// `limit` replies have gone (or how it failed).
fn return_replies(backend: &Socket, frontend: &Socket, free: &Sender<Bytes>, limit: Option<u64>) -> Result<u64> {
    let mut replied = 0;
    while limit.is_none_or(|limit| replied < limit) {
        let mut msg = backend.recv()?;
        let worker = msg.pop_front().expect("a ROUTER puts the peer's id first");
        if msg.pop_front().is_none_or(|delimiter| !delimiter.is_empty()) {
            // Not a REQ worker's envelope: nothing we can route.
            continue;
        }
        if free.send(worker).is_err() {
            return Err(Error::Closed);
        }
        if msg.len() == 1 && msg[0] == READY {
            continue;
        }
        // `[client id, "", reply]`: the frontend routes it to the client.
        frontend.send(msg)?;
        replied += 1;
    }
    Ok(replied)
}

/// A worker on the REQ socket `worker` (connected to a broker's backend):
/// says READY, then answers every request with [`REPLY`], printing
/// `Worker: <request>` to `out`, until that fails.
///
/// # Errors
///
/// The socket's, if sending or receiving fails, and `out`'s.
pub(crate) fn work(worker: &Socket, out: &mut dyn Write) -> Result<()> {
    worker.send(READY)?;
    loop {
        // `[client id, "", request]`: the reply goes back in the same
        // envelope, all frames but the last.
        let mut request = worker.recv()?;
        let body = request.pop_back().unwrap_or_default();
        writeln!(out, "Worker: {}", String::from_utf8_lossy(&body))?;
        request.push_back(REPLY);
        worker.send(request)?;
    }
}

/// A client on the REQ socket `client` (connected to a broker's
/// frontend): sends [`REQUEST`] `requests` times and prints each reply to
/// `out` as `Client: <reply>`.
///
/// # Errors
///
/// The socket's, if sending or receiving fails, and `out`'s.
pub(crate) fn ask(client: &Socket, requests: u64, out: &mut dyn Write) -> Result<()> {
    for _ in 0..requests {
        client.send(REQUEST)?;
        let reply = client.recv()?;
        writeln!(out, "Client: {reply}")?;
    }
    Ok(())
}

/// Starts `n` workers as micro-threads, connected to `endpoint`, printing
/// to stdout. They run until the program ends.
fn start_workers(endpoint: &str, n: u64) -> Result<()> {
    for _ in 0..n {
        let worker = Socket::new(SocketType::Req);
        worker.connect(endpoint)?;
        drop(dhaga::spawn(move || work(&worker, &mut io::stdout())));
    }
    Ok(())
}

/// Two ROUTERs bound to `frontend` and `backend` (and the backend to
/// [`BACKEND_INPROC`] too, for in-process workers).
fn routers(frontend: &str, backend: &str) -> Result<(Arc<Socket>, Arc<Socket>)> {
    let front = Socket::new(SocketType::Router);
    front.bind(frontend)?;
    let back = Socket::new(SocketType::Router);
    back.bind(backend)?;
    if backend != BACKEND_INPROC {
        back.bind(BACKEND_INPROC)?;
    }
    Ok((Arc::new(front), Arc::new(back)))
}

/// The Guide's program: `clients` clients with one request each and
/// `workers` workers, all in-process; ends once every client has its
/// reply.
fn demo(clients: u64, workers: u64) -> Result<()> {
    let (frontend, backend) = routers(FRONTEND_INPROC, BACKEND_INPROC)?;
    start_workers(BACKEND_INPROC, workers)?;
    let mut asking = Vec::new();
    for _ in 0..clients {
        let client = Socket::new(SocketType::Req);
        client.connect(FRONTEND_INPROC)?;
        asking.push(dhaga::spawn(move || ask(&client, 1, &mut io::stdout())));
    }
    broker(frontend, backend, Some(clients))?;
    // Every reply has gone out; each client still prints its own.
    for client in asking {
        client.join().expect("a client does not panic")?;
    }
    Ok(())
}

/// What the command line asks for.
enum Mode {
    Demo {
        clients: u64,
        workers: u64,
    },
    Serve {
        frontend: String,
        backend: String,
        workers: u64,
    },
}

fn parse(args: &[String]) -> Option<Mode> {
    let number = |s: &String| s.parse::<u64>().ok();
    match args {
        [demo] if demo == "--demo" => Some(Mode::Demo {
            clients: DEMO_CLIENTS,
            workers: DEMO_WORKERS,
        }),
        [demo, clients, workers] if demo == "--demo" => Some(Mode::Demo {
            clients: number(clients)?,
            workers: number(workers).filter(|&w| w > 0)?,
        }),
        [frontend, backend] => Some(Mode::Serve {
            frontend: frontend.clone(),
            backend: backend.clone(),
            workers: DEFAULT_WORKERS,
        }),
        [frontend, backend, workers] => Some(Mode::Serve {
            frontend: frontend.clone(),
            backend: backend.clone(),
            workers: number(workers)?,
        }),
        _ => None,
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(mode) = parse(&args) else {
        eprintln!(
            "usage: lbbroker --demo [<clients> <workers>]   (the Guide's program, in-process; workers at least 1)\n       \
             lbbroker <frontend-bind> <backend-bind> [workers]\n  \
             e.g. lbbroker --demo 10 3\n       lbbroker tcp://*:5671 tcp://*:5672 3"
        );
        return ExitCode::from(2);
    };
    let brokered = dhaga::run(move || match mode {
        Mode::Demo { clients, workers } => demo(clients, workers),
        Mode::Serve {
            frontend,
            backend,
            workers,
        } => {
            let (frontend, backend) = routers(&frontend, &backend)?;
            start_workers(BACKEND_INPROC, workers)?;
            broker(frontend, backend, None).map(drop)
        }
    });
    match brokered {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lbbroker: {e}");
            ExitCode::FAILURE
        }
    }
}

//! Multithreaded Hello World server, as in the ZeroMQ Guide (chapter 2,
//! "Multithreading with ZeroMQ", `mtserver`): a ROUTER for the clients, a
//! DEALER for the workers, a queue between them, and a pool of REP workers
//! — here micro-threads — that each serve one request at a time.
//!
//! Run: `cargo run --release --example mtserver -- tcp://*:5555`
//!
//! ```text
//! mtserver <bind> [--workers N] [--work MS]
//! ```
//!
//! Binds a ROUTER to `<bind>` for the clients and a DEALER to
//! `inproc://workers` for the workers, starts `--workers` workers (the
//! Guide's 5), each a micro-thread with a REP socket connected to
//! `inproc://workers`, and passes messages between the ROUTER and the
//! DEALER with [`proxy`] (libzmq's `zmq_proxy`, the Guide's `zmq_device`),
//! forever. Each worker prints `Received request: [Hello]` (the request's
//! frames as text), works `--work` milliseconds (the Guide's second; 0
//! answers at once) and answers "World".
//!
//! The clients are any REQ sockets: `hwclient tcp://127.0.0.1:5555 10`,
//! several at once, the Guide's `hwclient.c` (libzmq) or pyzmq. With the
//! Guide's second of work, five clients are served in parallel and a sixth
//! waits its turn.
//!
//! The Guide's workers are OS threads blocked in `recv` and `sleep`; here
//! a worker that waits or works parks, and its OS thread runs the others:
//! a thousand workers (`--workers 1000`) cost a thousand small stacks, not
//! a thousand threads.

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use dhaga::mq::{Context, Error, Result, Socket, SocketType, proxy};

#[path = "common/args.rs"]
mod args;

/// Where the workers meet the queue, in the server's own [`Context`].
pub(crate) const WORKERS_ENDPOINT: &str = "inproc://workers";
/// The Guide's pool and its work per request.
const DEFAULT_WORKERS: usize = 5;
const DEFAULT_WORK: Duration = Duration::from_secs(1);

/// A worker on the REP socket `receiver` (connected to the queue's
/// DEALER): prints each request to `out` as `Received request: [<request>]`,
/// works `work`, and answers "World". Returns how many it answered once
/// its context is shut down.
///
/// # Errors
///
/// The socket's other errors, and `out`'s.
pub(crate) fn worker(receiver: &Socket, work: Duration, out: &mut dyn Write) -> Result<u64> {
    let mut served = 0;
    loop {
        let request = match receiver.recv() {
            Ok(request) => request,
            Err(Error::Terminated) => return Ok(served),
            Err(e) => return Err(e),
        };
        writeln!(out, "Received request: [{request}]")?;
        if !work.is_zero() {
            dhaga::sleep(work); // Do some 'work'.
        }
        match receiver.send("World") {
            Ok(()) => served += 1,
            Err(e) if matches!(e.error(), Error::Terminated) => return Ok(served),
            Err(e) => return Err(e.into()),
        }
    }
}

/// The server: binds the DEALER at [`WORKERS_ENDPOINT`] in `context`,
/// starts `workers` workers on it (each printing to the writer `out`
/// makes for it), and queues between `clients` (a bound ROUTER) and them
/// until `context` is shut down. Returns how many requests each worker
/// answered.
///
/// # Errors
///
/// Binding the DEALER, the queue's errors but the shutdown, and the
/// workers'.
pub(crate) fn serve<W: Write + Send + 'static>(
    context: &Context,
    clients: &Socket,
    workers: usize,
    work: Duration,
    out: impl Fn() -> W,
) -> Result<Vec<u64>> {
    let dealer = context.socket(SocketType::Dealer);
    dealer.bind(WORKERS_ENDPOINT)?;
    let mut pool = Vec::with_capacity(workers);
    for _ in 0..workers {
        let receiver = context.socket(SocketType::Rep);
        receiver.connect(WORKERS_ENDPOINT)?;
        let mut out = out();
        pool.push(dhaga::spawn(move || worker(&receiver, work, &mut out)));
    }
    // Until the context is shut down: then the workers end too.
    let queued = match proxy(clients, &dealer, None) {
        Err(Error::Terminated) => Ok(()),
        other => other,
    };
    // Unblock the workers if the queue ended otherwise.
    context.shutdown();
    let served = pool
        .into_iter()
        .map(|worker| worker.join().expect("a worker does not panic"))
        .collect::<Result<Vec<u64>>>();
    queued?;
    served
}

/// What the command line asks for.
struct Config {
    endpoint: String,
    workers: usize,
    work: Duration,
}

const USAGE: &str = "usage: mtserver <bind> [--workers N] [--work MS]";

/// What `--help` prints after [`USAGE`].
const HELP: &str = "
Binds a ROUTER to <bind> and answers \"World\" to every request of a REQ
client, through a queue and a pool of REP workers (micro-threads).

  --workers N   workers in the pool (default 5)
  --work MS     milliseconds of work per request (default 1000; 0: none)
  -h, --help    print this help";

/// Parses `<bind> [--workers N] [--work MS]`, without the program's name;
/// `None` if it asks for `--help`.
fn parse(args: impl IntoIterator<Item = impl Into<OsString>>) -> std::result::Result<Option<Config>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut endpoint = None;
    let (mut workers, mut work) = (DEFAULT_WORKERS, DEFAULT_WORK);
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("workers") => workers = args::parse("--workers", parser.value()?)?,
            Long("work") => work = Duration::from_millis(args::parse("--work", parser.value()?)?),
            Short('h') | Long("help") => return Ok(None),
            Value(value) if endpoint.is_none() => endpoint = Some(value.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    if workers == 0 {
        return Err("--workers: at least one worker is needed".into());
    }
    let endpoint = endpoint.ok_or("the endpoint to bind is missing")?;
    Ok(Some(Config {
        endpoint,
        workers,
        work,
    }))
}

fn main() -> ExitCode {
    let config = match args::or_exit("mtserver", parse(std::env::args_os().skip(1)), USAGE, HELP) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let served = dhaga::run(move || {
        let context = Context::new();
        let clients = context.socket(SocketType::Router);
        clients.bind(&config.endpoint)?;
        serve(&context, &clients, config.workers, config.work, io::stdout).map(drop)
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mtserver: {e}");
            ExitCode::FAILURE
        }
    }
}

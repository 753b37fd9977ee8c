//! Paranoid Pirate queue, as in the ZeroMQ Guide (chapter 4, "Robust
//! Reliable Queuing (Paranoid Pirate Pattern)", `ppqueue`): a
//! load-balancing queue between REQ clients (`lpclient`) and workers
//! (`ppworker`) that exchanges heartbeats with its workers and forgets
//! those that fall silent.
//!
//! Run: `cargo run --release --example ppqueue -- tcp://*:5555 tcp://*:5556`,
//! with `ppworker tcp://127.0.0.1:5556` (several) and `lpclient
//! tcp://127.0.0.1:5555`
//!
//! ```text
//! ppqueue <frontend-bind> <backend-bind> [--heartbeat MS] [--liveness N]
//! ```
//!
//! Binds a ROUTER to `<frontend-bind>` for the clients and a ROUTER to
//! `<backend-bind>` for the workers, and serves forever, speaking the
//! Paranoid Pirate Protocol with the workers (see `common/ppp.rs`):
//!
//! - any message from a worker (`READY`, `HEARTBEAT` or a reply) says it
//!   is alive and idle: it goes to the back of the queue of idle workers,
//!   to expire `--liveness` (3) heartbeat intervals from now; a reply
//!   (`[client id, "", reply]` behind the worker's id) goes on to its
//!   client;
//! - a client's request goes to the worker at the front of the queue, the
//!   one idle longest, which leaves the queue until it answers; requests
//!   are taken only while some worker is idle, so they wait in the
//!   frontend meanwhile;
//! - every `--heartbeat` milliseconds (1000) each idle worker gets a
//!   `HEARTBEAT`;
//! - a worker whose expiry passes is forgotten, with `W: worker <id>
//!   expired`.
//!
//! As in the Guide, the queue is one loop over a poll of both sockets (a
//! [`Poller`](dhaga::mq::Poller) call): the queue of idle workers and
//! their deadlines belong to that loop alone. It prints the Guide's `E:
//! invalid message from worker` (and the message, frame by frame) for a
//! one-frame message that is neither `READY` nor `HEARTBEAT`.
//!
//! Unlike the Guide's, the backend is `ZMQ_ROUTER_MANDATORY`: a request
//! for a worker whose connection is gone goes to the next idle worker
//! instead of being lost (`lbbroker` does the same); if none is left it is
//! dropped, with `W: no worker left, request dropped`, and the client's
//! retry (the Lazy Pirate's) brings it back.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dhaga::mq::{Error, Interest, Msg, PollItem, Result, Socket, SocketType, poll};

#[path = "common/args.rs"]
mod args;
#[path = "common/dump.rs"]
mod dump;
#[path = "common/ppp.rs"]
pub(crate) mod ppp;

/// The heartbeat settings, which the workers must share.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// How often an idle worker gets a heartbeat.
    pub(crate) interval: Duration,
    /// Intervals without a word after which a worker is forgotten.
    pub(crate) liveness: u32,
}

impl Default for Config {
    /// The Guide's.
    fn default() -> Config {
        Config {
            interval: ppp::INTERVAL,
            liveness: ppp::LIVENESS,
        }
    }
}

/// What the queue did, counted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Requests sent to a worker.
    pub(crate) requests: u64,
    /// Replies passed on to clients.
    pub(crate) replies: u64,
    /// Workers forgotten because they fell silent.
    pub(crate) expired: u64,
    /// Requests dropped because no worker was left to take them.
    pub(crate) dropped: u64,
}

/// An idle worker: its routing id, and when it expires.
struct Worker {
    id: Bytes,
    expiry: Instant,
}

/// The queue's state: the idle workers, the one idle longest first (so
/// their expiries go up), and what it did.
#[derive(Default)]
struct Queue {
    idle: VecDeque<Worker>,
    tally: Tally,
}

/// Serves the clients of the ROUTER `frontend` with the workers of the
/// ROUTER `backend` (see the module docs), printing to `out`, until the
/// sockets' context is shut down; returns what it did. Sets
/// `ZMQ_ROUTER_MANDATORY` on `backend`.
///
/// # Errors
///
/// The sockets' errors but the shutdown, and `out`'s.
pub(crate) fn run(frontend: &Socket, backend: &Socket, config: &Config, out: &mut dyn Write) -> Result<Tally> {
    backend.set_router_mandatory(true);
    let mut queue = Queue::default();
    match queue.serve(frontend, backend, config, out) {
        Err(Error::Terminated) => Ok(queue.tally),
        Err(e) => Err(e),
        Ok(never) => match never {},
    }
}

impl Queue {
    /// The loop: never returns but with an error.
    fn serve(
        &mut self,
        frontend: &Socket,
        backend: &Socket,
        config: &Config,
        out: &mut dyn Write,
    ) -> Result<Infallible> {
        let lifetime = config.interval * config.liveness;
        let mut heartbeat_at = Instant::now() + config.interval;
        loop {
            // Poll the frontend only while some worker is idle.
            let requests = if self.idle.is_empty() {
                Interest::NONE
            } else {
                Interest::READABLE
            };
            let mut items = [
                PollItem::new(backend, Interest::READABLE),
                PollItem::new(frontend, requests),
            ];
            poll(&mut items, Some(heartbeat_at.saturating_duration_since(Instant::now())))?;

            // Worker activity on the backend.
            if items[0].is_readable()
                && let Some(mut msg) = take(backend)?
            {
                let Some(id) = msg.pop_front() else {
                    continue;
                };
                // Any sign of life from a worker means it is ready.
                self.ready(id, Instant::now() + lifetime);
                if msg.len() == 1 {
                    // A control message: READY or HEARTBEAT.
                    if msg[0] != ppp::READY && msg[0] != ppp::HEARTBEAT {
                        writeln!(out, "E: invalid message from worker")?;
                        dump::dump(&msg, out)?;
                    }
                } else {
                    // A reply: on to its client.
                    frontend.send(msg)?;
                    self.tally.replies += 1;
                }
            }
            // The next client request goes to the worker idle longest.
            if items[1].is_readable()
                && let Some(request) = take(frontend)?
            {
                self.dispatch(backend, request, out)?;
            }

            // Heartbeats to the idle workers, if it is time.
            let now = Instant::now();
            if now >= heartbeat_at {
                self.heartbeat(backend, out)?;
                heartbeat_at = now + config.interval;
            }
            self.purge(now, out)?;
        }
    }

    /// Puts the worker `id` at the back of the idle queue (taking it out
    /// of its place if it was there), to expire at `expiry`.
    fn ready(&mut self, id: Bytes, expiry: Instant) {
        self.idle.retain(|worker| worker.id != id);
        self.idle.push_back(Worker { id, expiry });
    }

    /// Sends `request` to the worker idle longest; one whose connection is
    /// gone is forgotten and the next one tried.
    fn dispatch(&mut self, backend: &Socket, mut request: Msg, out: &mut dyn Write) -> Result<()> {
        while let Some(worker) = self.idle.pop_front() {
            request.push_front(worker.id.clone());
            match backend.send(request) {
                Ok(()) => {
                    self.tally.requests += 1;
                    return Ok(());
                }
                Err(e) if matches!(e.error(), Error::HostUnreachable) => {
                    writeln!(out, "W: worker {} disconnected", dump::text_or_hex(&worker.id))?;
                    request = e.into_msg();
                    request.pop_front();
                }
                Err(e) => return Err(e.into()),
            }
        }
        writeln!(out, "W: no worker left, request dropped")?;
        self.tally.dropped += 1;
        Ok(())
    }

    /// Sends a heartbeat to each idle worker; forgets one whose connection
    /// is gone. A worker with no room for it (it does not read) misses it:
    /// it expires soon enough.
    fn heartbeat(&mut self, backend: &Socket, out: &mut dyn Write) -> Result<()> {
        let mut gone = Vec::new();
        for worker in &self.idle {
            let heartbeat = Msg::from_iter([worker.id.clone(), Bytes::from_static(ppp::HEARTBEAT)]);
            match backend.try_send(heartbeat) {
                Ok(()) => {}
                Err(e) if matches!(e.error(), Error::WouldBlock) => {}
                Err(e) if matches!(e.error(), Error::HostUnreachable) => gone.push(worker.id.clone()),
                Err(e) => return Err(e.into()),
            }
        }
        for id in gone {
            writeln!(out, "W: worker {} disconnected", dump::text_or_hex(&id))?;
            self.idle.retain(|worker| worker.id != id);
        }
        Ok(())
    }

    /// Forgets the workers whose expiry has passed by `now`: the first
    /// ones in the queue, which has the oldest at its front.
    fn purge(&mut self, now: Instant, out: &mut dyn Write) -> Result<()> {
        while self.idle.front().is_some_and(|worker| worker.expiry <= now) {
            let worker = self.idle.pop_front().expect("the front worker is there");
            writeln!(out, "W: worker {} expired", dump::text_or_hex(&worker.id))?;
            self.tally.expired += 1;
        }
        Ok(())
    }
}

/// The message waiting on `socket`, if one still is (the poll said so).
fn take(socket: &Socket) -> Result<Option<Msg>> {
    match socket.try_recv() {
        Ok(msg) => Ok(Some(msg)),
        Err(Error::WouldBlock) => Ok(None),
        Err(e) => Err(e),
    }
}

const USAGE: &str = "usage: ppqueue <frontend-bind> <backend-bind> [--heartbeat MS] [--liveness N]";

/// What `--help` prints after [`USAGE`].
const HELP: &str = "
A queue between REQ clients (lpclient) at <frontend-bind> and Paranoid
Pirate workers (ppworker) at <backend-bind>, with heartbeats both ways.

  --heartbeat MS   heartbeat interval (default 1000; the workers' must match)
  --liveness N     intervals of silence before a worker is forgotten (default 3)
  -h, --help       print this help";

/// Parses the command line, without the program's name; `None` if it asks
/// for `--help`.
fn parse(
    args: impl IntoIterator<Item = impl Into<OsString>>,
) -> std::result::Result<Option<(String, String, Config)>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut endpoints = Vec::new();
    let mut config = Config::default();
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("heartbeat") => config.interval = Duration::from_millis(args::parse("--heartbeat", parser.value()?)?),
            Long("liveness") => config.liveness = args::parse("--liveness", parser.value()?)?,
            Short('h') | Long("help") => return Ok(None),
            Value(value) if endpoints.len() < 2 => endpoints.push(value.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    if config.interval.is_zero() || config.liveness == 0 {
        return Err("--heartbeat and --liveness must be above zero".into());
    }
    let [frontend, backend] = <[String; 2]>::try_from(endpoints)
        .map_err(|_| "the two endpoints to bind, <frontend-bind> and <backend-bind>, are needed")?;
    Ok(Some((frontend, backend, config)))
}

fn main() -> ExitCode {
    let (frontend, backend, config) = match args::or_exit("ppqueue", parse(std::env::args_os().skip(1)), USAGE, HELP) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let served = dhaga::run(move || {
        let clients = Socket::new(SocketType::Router);
        clients.bind(&frontend)?; // For clients.
        let workers = Socket::new(SocketType::Router);
        workers.bind(&backend)?; // For workers.
        run(&clients, &workers, &config, &mut io::stdout())
    });
    match served {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ppqueue: {e}");
            ExitCode::FAILURE
        }
    }
}

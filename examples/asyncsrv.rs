//! Asynchronous client/server, as in the ZeroMQ Guide (chapter 3, "The
//! Asynchronous Client/Server Pattern", `asyncsrv`): DEALER clients talk
//! to a server whose ROUTER frontend and DEALER backend are joined by a
//! proxy, and whose DEALER workers send any number of replies to each
//! request, whenever they like. Clients, server and workers are
//! micro-threads of one process.
//!
//! Run: `cargo run --release --example asyncsrv` (the Guide's 3 clients
//! and 5 workers, about seven seconds), or for ten thousand clients:
//!
//! ```text
//! asyncsrv --clients 10000 --frontend inproc://asyncsrv --work 0 --quiet
//! ```
//!
//! ```text
//! asyncsrv [--clients N] [--workers N] [--requests N] [--interval MS] [--work MS]
//!          [--frontend ENDPOINT] [--quiet]
//! ```
//!
//! # What runs
//!
//! - The server binds a ROUTER to `--frontend` (by default
//!   `tcp://127.0.0.1:*`, a port the system picks; the Guide's is 5570)
//!   for the clients and a DEALER to `inproc://backend` for `--workers`
//!   workers (the Guide's 5), and runs [`proxy`] between the two.
//! - A worker, a DEALER connected to the backend, takes one request at a
//!   time (`[client id, request]`) and sends 1 to 4 replies to it
//!   (`[client id, request, "<i>/<n>"]`), each after a random pause of up
//!   to `--work` milliseconds (the Guide's 1000). The Guide's workers send
//!   0 to 4; here each request gets at least one, and each reply says how
//!   many there are, so that a client knows when it has them all.
//! - A client, a DEALER with a random printable routing id
//!   (`%04X-%04X`, as the Guide's; unique within the run), connects to the
//!   frontend and sends `request #1` … `request #<--requests>` (5: the
//!   Guide's clients send one a second for the program's five seconds),
//!   one every `--interval` milliseconds (1000), taking the replies as they
//!   come in between, as the Guide's client polls its socket until the
//!   next request is due. It prints each reply as `<id>: request #<n>
//!   (<i>/<k>)` (not with `--quiet`), and ends once every request has all
//!   its replies.
//!
//! Once every client has ended, the server stops, and the program prints
//! the totals: clients, requests, replies the workers sent and replies the
//! clients received, which must be the same. (The Guide's program stops
//! after five seconds, whatever it has.) With `--clients 0` there are no
//! clients: the server serves outside DEALER clients forever (the Guide's
//! `asyncsrv.c` client, pyzmq's, or anything sending `[request]` from a
//! DEALER and reading `[request, "<i>/<n>"]` replies).
//!
//! # Ten thousand clients
//!
//! Each client is one micro-thread with one socket. Over TCP a client's
//! connection costs two file descriptors in this process (both ends) and
//! four micro-threads (a reader and a writer on each end), so a process
//! whose limit on open files is 20 000 cannot hold 10 000 of them; it
//! raises its soft limit as far as the hard limit allows, and says so if
//! that is not enough. Over `inproc://` a connection costs no descriptor
//! and two micro-threads. Each micro-thread's guarded stack is two memory
//! mappings, out of Linux's 65 530 per process (`vm.max_map_count`), so
//! 10 000 clients over `inproc://` (30 000 stacks) fit and over TCP (50 000)
//! would not. `--work 0` answers at once: with the Guide's pauses of up to
//! a second, 5 workers serve about four requests a second.

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dhaga::JoinHandle;
use dhaga::mq::{Context, Error, Interest, Msg, PollItem, Result, Socket, SocketType, poll, proxy};
use dhaga::sync::{Sender, unbounded};

#[path = "common/args.rs"]
mod args;
#[path = "common/open_files.rs"]
mod open_files;
#[path = "common/routing_ids.rs"]
mod routing_ids;

/// Where the workers meet the server, in the run's own [`Context`].
const BACKEND: &str = "inproc://backend";
/// The most replies a worker sends to one request.
pub(crate) const MAX_REPLIES: u32 = 4;
/// File descriptors needed besides two per TCP client (stdio, pollers, ...).
const SPARE_FDS: u64 = 64;

/// What the command line asks for.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Where the server's ROUTER binds (and the clients connect).
    pub(crate) frontend: String,
    pub(crate) clients: usize,
    pub(crate) workers: usize,
    /// Requests each client sends.
    pub(crate) requests: u64,
    /// A client's pause between two requests.
    pub(crate) interval: Duration,
    /// The longest random pause of a worker before each reply (zero: none).
    pub(crate) work: Duration,
    /// Print the totals only, not every reply.
    pub(crate) quiet: bool,
    /// How long a client waits for a reply once it has sent every request
    /// before it gives up with [`Error::TimedOut`] (`None`: for ever, as
    /// the Guide's clients).
    pub(crate) patience: Option<Duration>,
}

impl Default for Config {
    /// The Guide's program.
    fn default() -> Config {
        Config {
            frontend: "tcp://127.0.0.1:*".to_owned(),
            clients: 3,
            workers: 5,
            requests: 5,
            interval: Duration::from_secs(1),
            work: Duration::from_secs(1),
            quiet: false,
            patience: None,
        }
    }
}

/// What a run did, counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) clients: usize,
    /// Requests the clients sent.
    pub(crate) requests: u64,
    /// Replies the workers sent.
    pub(crate) sent: u64,
    /// Replies the clients received, every one of them expected: each
    /// client ends only once every request has all its replies.
    pub(crate) received: u64,
}

/// The Guide's program as `config` says: the server, its workers and the
/// clients, in a [`Context`] of their own; prints each reply a client gets
/// to `out` (unless `config.quiet`) and returns the totals once every
/// client has every reply and the server has stopped.
///
/// # Errors
///
/// Binding or connecting; a client's failure (a reply it cannot read, or
/// [`Error::TimedOut`] after `config.patience`); the server's; `out`'s.
pub(crate) fn run(config: &Config, out: &mut dyn Write) -> Result<Totals> {
    let context = Context::new();
    let frontend = context.socket(SocketType::Router);
    frontend.bind(&config.frontend)?;
    let endpoint = frontend.last_endpoint().unwrap_or_else(|| config.frontend.clone());
    let server = Server::start(&context, frontend, config.workers, config.work)?;

    let (lines, printed) = unbounded();
    let mut clients = Vec::with_capacity(config.clients);
    let mut started = Ok(());
    for id in routing_ids::printable(config.clients) {
        match connect_client(&context, &id, &endpoint) {
            Ok(socket) => {
                let (config, lines) = (config.clone(), (!config.quiet).then(|| lines.clone()));
                clients.push(dhaga::spawn(move || client(&socket, &id, &config, lines.as_ref())));
            }
            Err(e) => {
                started = Err(e);
                break;
            }
        }
    }
    drop(lines);
    // Until every client has ended (and dropped its sender).
    let mut printing = Ok(());
    for line in printed.iter() {
        if printing.is_ok() {
            printing = writeln!(out, "{line}");
        }
    }
    let replies: Vec<Result<u64>> = clients
        .into_iter()
        .map(|c| c.join().expect("a client does not panic"))
        .collect();
    let sent = server.stop(&context);
    started?;
    printing?;
    let replies = replies.into_iter().collect::<Result<Vec<u64>>>()?;
    Ok(Totals {
        clients: replies.len(),
        requests: replies.len() as u64 * config.requests,
        sent: sent?,
        received: replies.iter().sum(),
    })
}

/// The server: its proxy and its workers, each a micro-thread.
pub(crate) struct Server {
    proxy: JoinHandle<Result<()>>,
    workers: Vec<JoinHandle<Result<u64>>>,
}

impl Server {
    /// Binds the backend at [`BACKEND`] in `context`, starts `workers`
    /// workers on it (each pausing up to `work` before a reply), and the
    /// proxy between `frontend` (a bound ROUTER) and the backend. The
    /// server runs until `context` is shut down ([`Server::stop`]).
    ///
    /// # Errors
    ///
    /// Binding or connecting the backend's sockets.
    pub(crate) fn start(context: &Context, frontend: Socket, workers: usize, work: Duration) -> Result<Server> {
        let backend = context.socket(SocketType::Dealer);
        backend.bind(BACKEND)?;
        let mut pool = Vec::with_capacity(workers);
        for _ in 0..workers {
            let socket = context.socket(SocketType::Dealer);
            socket.connect(BACKEND)?;
            pool.push(dhaga::spawn(move || worker(&socket, work)));
        }
        let proxy = dhaga::spawn(move || proxy(&frontend, &backend, None));
        Ok(Server { proxy, workers: pool })
    }

    /// Waits until the server ends by itself (it does not, unless it
    /// fails): for a server of outside clients.
    ///
    /// # Errors
    ///
    /// The proxy's.
    pub(crate) fn wait(self) -> Result<()> {
        self.proxy.join().expect("the proxy does not panic")
    }

    /// Stops the server by shutting `context` down; returns how many
    /// replies its workers sent.
    ///
    /// # Errors
    ///
    /// The proxy's or a worker's, if one failed before.
    pub(crate) fn stop(self, context: &Context) -> Result<u64> {
        context.shutdown();
        let proxied = match self.proxy.join().expect("the proxy does not panic") {
            Err(Error::Terminated) | Ok(()) => Ok(()),
            Err(e) => Err(e),
        };
        let sent = self
            .workers
            .into_iter()
            .map(|w| w.join().expect("a worker does not panic"))
            .sum::<Result<u64>>();
        proxied.and(sent)
    }
}

/// A worker on the DEALER `worker`, connected to the server's backend:
/// takes one request at a time and sends it 1 to [`MAX_REPLIES`] replies,
/// each after a random pause of up to `work`. Returns how many replies it
/// sent once its context is shut down.
///
/// # Errors
///
/// The socket's other errors.
pub(crate) fn worker(worker: &Socket, work: Duration) -> Result<u64> {
    let mut dice = fastrand::Rng::new();
    let mut sent = 0;
    loop {
        // `[client id, request]`: the ROUTER put the id in front.
        let mut request = match worker.recv() {
            Ok(request) => request,
            Err(Error::Terminated) => return Ok(sent),
            Err(e) => return Err(e),
        };
        let (Some(identity), Some(content)) = (request.pop_front(), request.pop_front()) else {
            continue; // Not a client's request: nothing to answer.
        };
        let replies = dice.u32(1..=MAX_REPLIES);
        for reply in 1..=replies {
            if !work.is_zero() {
                dhaga::sleep(work.mul_f64(dice.f64()));
            }
            let msg = Msg::from_iter([
                identity.clone(),
                content.clone(),
                Bytes::from(format!("{reply}/{replies}")),
            ]);
            match worker.send(msg) {
                Ok(()) => sent += 1,
                Err(e) if matches!(e.error(), Error::Terminated) => return Ok(sent),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// A client's DEALER with routing id `id`, connected to `endpoint`.
fn connect_client(context: &Context, id: &str, endpoint: &str) -> Result<Socket> {
    let socket = context.socket(SocketType::Dealer);
    socket.set_routing_id(id.to_owned())?;
    socket.connect(endpoint)?;
    Ok(socket)
}

/// A client on the DEALER `socket` (routing id `id`, connected to the
/// server's frontend): sends `config.requests` requests, one every
/// `config.interval`, and takes the replies as they come in between;
/// sends each reply's line to `lines` (if given). Returns how many replies
/// it had once every request has all of them.
///
/// # Errors
///
/// The socket's; [`Error::TimedOut`] if no reply came for
/// `config.patience` once every request was sent; an [`io::Error`] of kind
/// `InvalidData` for a reply that is not one the client waits for.
pub(crate) fn client(socket: &Socket, id: &str, config: &Config, lines: Option<&Sender<String>>) -> Result<u64> {
    let requests = usize::try_from(config.requests).expect("a count of requests fits in memory");
    // Per request: the replies it has, and how many it gets once known.
    let mut got = vec![0u32; requests];
    let mut expected = vec![None; requests];
    let (mut sent, mut complete, mut replies) = (0, 0, 0);
    let mut next_request = Instant::now();
    let mut items = [PollItem::new(socket, Interest::READABLE)];
    while complete < requests {
        let now = Instant::now();
        if sent < requests && now >= next_request {
            sent += 1;
            socket.send(format!("request #{sent}"))?;
            next_request = now + config.interval;
            continue;
        }
        // Take replies until the next request is due.
        let wait = if sent < requests {
            Some(next_request - now)
        } else {
            config.patience
        };
        if poll(&mut items, wait)? == 0 {
            if sent < requests {
                continue;
            }
            return Err(Error::TimedOut);
        }
        let reply = socket.recv()?;
        let Some((n, i, k)) = read_reply(&reply).filter(|&(n, i, k)| {
            (1..=sent).contains(&n) && expected[n - 1].is_none_or(|known| known == k) && got[n - 1] < k && i <= k
        }) else {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{id}: unexpected reply {reply}")).into());
        };
        expected[n - 1] = Some(k);
        got[n - 1] += 1;
        replies += 1;
        if got[n - 1] == k {
            complete += 1;
        }
        if let Some(lines) = lines {
            // A printer that has stopped reading wants no more lines.
            let _ = lines.send(format!("{id}: request #{n} ({i}/{k})"));
        }
    }
    Ok(replies)
}

/// `[request #<n>, <i>/<k>]` as `(n, i, k)`, with `1 <= i` and `1 <= k <=`
/// [`MAX_REPLIES`].
fn read_reply(reply: &Msg) -> Option<(usize, u32, u32)> {
    let [content, count] = reply.frames() else {
        return None;
    };
    let n = std::str::from_utf8(content)
        .ok()?
        .strip_prefix("request #")?
        .parse()
        .ok()?;
    let (i, k) = std::str::from_utf8(count).ok()?.split_once('/')?;
    let (i, k): (u32, u32) = (i.parse().ok()?, k.parse().ok()?);
    (i >= 1 && (1..=MAX_REPLIES).contains(&k)).then_some((n, i, k))
}

const USAGE: &str = "usage: asyncsrv [--clients N] [--workers N] [--requests N] [--interval MS] [--work MS] \
                     [--frontend ENDPOINT] [--quiet]";

/// What `--help` prints after [`USAGE`].
const HELP: &str = "
DEALER clients send requests to a ROUTER/DEALER server whose workers send
each request 1 to 4 replies; all micro-threads of this process. Ends when
every client has every reply, and prints the totals.

  --clients N          clients (default 3; 0: serve outside clients forever)
  --workers N          workers (default 5)
  --requests N         requests per client (default 5)
  --interval MS        a client's pause between requests (default 1000)
  --work MS            a worker's longest pause before a reply (default 1000)
  --frontend ENDPOINT  where the server binds (default tcp://127.0.0.1:*, a
                       free port; inproc://asyncsrv needs no file
                       descriptors, for many thousands of clients)
  -q, --quiet          print the totals only, not every reply
  -h, --help           print this help";

/// Parses the command line, without the program's name; `None` if it asks
/// for `--help`.
fn parse(args: impl IntoIterator<Item = impl Into<OsString>>) -> std::result::Result<Option<Config>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut config = Config::default();
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("clients") => config.clients = args::parse("--clients", parser.value()?)?,
            Long("workers") => config.workers = args::parse("--workers", parser.value()?)?,
            Long("requests") => config.requests = args::parse("--requests", parser.value()?)?,
            Long("interval") => config.interval = Duration::from_millis(args::parse("--interval", parser.value()?)?),
            Long("work") => config.work = Duration::from_millis(args::parse("--work", parser.value()?)?),
            Long("frontend") => config.frontend = parser.value()?.string()?,
            Short('q') | Long("quiet") => config.quiet = true,
            Short('h') | Long("help") => return Ok(None),
            _ => return Err(arg.unexpected()),
        }
    }
    if config.workers == 0 {
        return Err("--workers: at least one worker is needed".into());
    }
    if config.requests == 0 {
        return Err("--requests: each client sends at least one request".into());
    }
    Ok(Some(config))
}

fn main() -> ExitCode {
    let config = match args::or_exit("asyncsrv", parse(std::env::args_os().skip(1)), USAGE, HELP) {
        Ok(config) => config,
        Err(code) => return code,
    };
    // Both ends of each client's connection are ours, unless in-process.
    if !config.frontend.starts_with("inproc://")
        && let Err(message) = open_files::raise(2 * config.clients as u64 + SPARE_FDS)
    {
        eprintln!(
            "asyncsrv: {} clients over {}: {message}, or connect them over --frontend inproc://asyncsrv",
            config.clients, config.frontend
        );
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    let done = dhaga::run(move || {
        if config.clients == 0 {
            let context = Context::new();
            let frontend = context.socket(SocketType::Router);
            frontend.bind(&config.frontend)?;
            let endpoint = frontend.last_endpoint().unwrap_or(config.frontend);
            println!("asyncsrv: serving DEALER clients at {endpoint}");
            return Server::start(&context, frontend, config.workers, config.work)?
                .wait()
                .map(|()| None);
        }
        run(&config, &mut io::stdout()).map(Some)
    });
    match done {
        Ok(Some(totals)) => {
            println!(
                "{} clients sent {} requests; the workers sent {} replies and the clients received {}: \
                 every client got all its replies ({:.2} s)",
                totals.clients,
                totals.requests,
                totals.sent,
                totals.received,
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("asyncsrv: {e}");
            ExitCode::FAILURE
        }
    }
}

//! ROUTER-to-REQ, as in the ZeroMQ Guide (chapter 3, "ROUTER Broker and
//! REQ Workers", `rtreq`): a ROUTER hands out work to REQ workers, each
//! time to the worker that asked last, so that the work spreads over them
//! as fast as each one can take it.
//!
//! Run: `cargo run --release --example rtreq` (the Guide's 10 workers for
//! five seconds)
//!
//! ```text
//! rtreq [--workers N] [--seconds S] [--work MS] [--bind ENDPOINT]
//! ```
//!
//! Binds a ROUTER to `--bind` (by default `tcp://127.0.0.1:*`, a port
//! the system picks; the Guide's is 5671) and starts `--workers` workers (10), each a micro-thread
//! with a REQ socket connected to it, with a printable routing id
//! (`%04X-%04X`, as the Guide's `s_set_id`). A worker says `Hi Boss`,
//! gets a workload back, works a random 1 to `--work` milliseconds (500)
//! and asks again, until it is told `Fired!`: it then ends, with the count
//! of the workloads it did. The broker answers each request as it comes,
//! `Work harder` for `--seconds` seconds (5) and `Fired!` after that, and
//! ends once it has fired every worker.
//!
//! Each worker prints `Completed: <n> tasks`, as in the Guide; then a
//! line sums them up: `<workers> workers did <tasks> tasks, <min> to
//! <max> each`. The counts are close: a ROUTER serves whoever asks, so a
//! worker gets as much work as it can do.
//!
//! Any REQ socket that says `Hi Boss` and stops at `Fired!` can be a
//! worker of this broker (the Guide's `rtreq.c` worker, pyzmq's); the test
//! of this example puts libzmq workers in.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dhaga::mq::{Msg, Result, Socket, SocketType};

#[path = "common/args.rs"]
mod args;
#[path = "common/routing_ids.rs"]
mod routing_ids;

/// A worker's request, and the broker's two answers.
pub(crate) const HI: &str = "Hi Boss";
pub(crate) const WORK: &str = "Work harder";
pub(crate) const FIRED: &str = "Fired!";

/// What the command line asks for.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Where the broker's ROUTER binds (and the workers connect).
    pub(crate) bind: String,
    pub(crate) workers: usize,
    /// How long the broker hands out work.
    pub(crate) duration: Duration,
    /// The longest a workload takes (each takes a random 1 ms to this).
    pub(crate) work: Duration,
    /// How long any socket waits to send or receive before it gives up
    /// with [`Error::TimedOut`](dhaga::mq::Error::TimedOut) (`None`: for
    /// ever, as the Guide's).
    pub(crate) patience: Option<Duration>,
}

impl Default for Config {
    /// The Guide's program.
    fn default() -> Config {
        Config {
            bind: "tcp://127.0.0.1:*".to_owned(),
            workers: 10,
            duration: Duration::from_secs(5),
            work: Duration::from_millis(500),
            patience: None,
        }
    }
}

/// The broker on the ROUTER `broker`: answers each worker's request with
/// [`WORK`] for `duration`, then with [`FIRED`], until it has fired
/// `workers` workers. Returns how many workloads each worker (by routing
/// id) was given.
///
/// # Errors
///
/// The socket's, if receiving or sending fails.
pub(crate) fn broker(broker: &Socket, workers: usize, duration: Duration) -> Result<BTreeMap<Bytes, u64>> {
    let end = Instant::now() + duration;
    let mut given = BTreeMap::new();
    let mut fired = HashSet::new();
    while fired.len() < workers {
        // `[worker id, "", "Hi Boss"]`: the next request names the worker
        // that waited longest (its request came first).
        let mut request = broker.recv()?;
        let Some(worker) = request.pop_front() else {
            continue;
        };
        let answer = if Instant::now() < end {
            *given.entry(worker.clone()).or_insert(0) += 1;
            WORK
        } else {
            fired.insert(worker.clone());
            FIRED
        };
        broker.send(Msg::from_iter([
            worker,
            Bytes::new(),
            Bytes::from_static(answer.as_bytes()),
        ]))?;
    }
    Ok(given)
}

/// A worker on the REQ socket `worker` (connected to the broker): asks
/// for work, works a random 1 ms to `work` on each workload, until it is
/// fired; returns how many workloads it did.
///
/// # Errors
///
/// The socket's, if sending or receiving fails.
pub(crate) fn worker(worker: &Socket, work: Duration) -> Result<u64> {
    let mut dice = fastrand::Rng::new();
    let mut total = 0;
    loop {
        // Tell the broker we're ready for work.
        worker.send(HI)?;
        // Get workload from broker, until finished.
        let workload = worker.recv()?;
        if workload.as_str() == Some(FIRED) {
            return Ok(total);
        }
        total += 1;
        // Do some random work.
        let millis = u64::try_from(work.as_millis()).unwrap_or(u64::MAX).max(1);
        dhaga::sleep(Duration::from_millis(dice.u64(1..=millis)));
    }
}

/// The Guide's program as `config` says: binds the broker, starts the
/// workers, hands out work, and prints each worker's `Completed: <n>
/// tasks` and the sum to `out`. Returns each worker's count, by id.
///
/// # Errors
///
/// Binding or connecting, the broker's, a worker's, and `out`'s.
pub(crate) fn run(config: &Config, out: &mut dyn Write) -> Result<BTreeMap<String, u64>> {
    let patient = |socket_type| {
        let socket = Socket::new(socket_type);
        socket.set_recv_timeout(config.patience);
        socket.set_send_timeout(config.patience);
        socket
    };
    let router = patient(SocketType::Router);
    router.bind(&config.bind)?;
    let endpoint = router.last_endpoint().unwrap_or_else(|| config.bind.clone());
    let mut workers = Vec::with_capacity(config.workers);
    for id in routing_ids::printable(config.workers) {
        let socket = patient(SocketType::Req);
        socket.set_routing_id(id.clone())?;
        socket.connect(&endpoint)?;
        let work = config.work;
        workers.push((id, dhaga::spawn(move || worker(&socket, work))));
    }
    broker(&router, config.workers, config.duration)?;
    let mut done = BTreeMap::new();
    for (id, worker) in workers {
        let total = worker.join().expect("a worker does not panic")?;
        writeln!(out, "Completed: {total} tasks")?;
        done.insert(id, total);
    }
    let (min, max) = (done.values().min(), done.values().max());
    if let (Some(min), Some(max)) = (min, max) {
        let tasks: u64 = done.values().sum();
        writeln!(out, "{} workers did {tasks} tasks, {min} to {max} each", done.len())?;
    }
    Ok(done)
}

const USAGE: &str = "usage: rtreq [--workers N] [--seconds S] [--work MS] [--bind ENDPOINT]";

/// What `--help` prints after [`USAGE`].
const HELP: &str = "
A ROUTER hands out work to REQ workers (micro-threads of this process) for
a while, then fires them; each worker prints how many tasks it did.

  --workers N        workers (default 10)
  --seconds S        how long the broker hands out work (default 5)
  --work MS          a task takes a random 1 ms to MS (default 500)
  --bind ENDPOINT    where the broker binds (default tcp://127.0.0.1:*, a free port)
  -h, --help         print this help";

/// Parses the command line, without the program's name; `None` if it asks
/// for `--help`.
fn parse(args: impl IntoIterator<Item = impl Into<OsString>>) -> std::result::Result<Option<Config>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut config = Config::default();
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("workers") => config.workers = args::parse("--workers", parser.value()?)?,
            Long("seconds") => {
                let seconds: f64 = args::parse("--seconds", parser.value()?)?;
                config.duration = Duration::try_from_secs_f64(seconds).map_err(|e| format!("--seconds: {e}"))?;
            }
            Long("work") => config.work = Duration::from_millis(args::parse("--work", parser.value()?)?),
            Long("bind") => config.bind = parser.value()?.string()?,
            Short('h') | Long("help") => return Ok(None),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Some(config))
}

fn main() -> ExitCode {
    let config = match args::or_exit("rtreq", parse(std::env::args_os().skip(1)), USAGE, HELP) {
        Ok(config) => config,
        Err(code) => return code,
    };
    match dhaga::run(move || run(&config, &mut io::stdout())) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rtreq: {e}");
            ExitCode::FAILURE
        }
    }
}

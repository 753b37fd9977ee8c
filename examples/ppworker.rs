//! Paranoid Pirate worker, as in the ZeroMQ Guide (chapter 4, "Robust
//! Reliable Queuing (Paranoid Pirate Pattern)", `ppworker`): a worker of
//! `ppqueue` that exchanges heartbeats with it, and connects again —
//! waiting longer each time — when the queue falls silent.
//!
//! Run: `cargo run --release --example ppworker -- tcp://127.0.0.1:5556`
//!
//! ```text
//! ppworker <connect> [--heartbeat MS] [--liveness N] [--reconnect MS] [--reconnect-max MS] [--reliable]
//! ```
//!
//! Connects a DEALER socket to the queue's backend at `<connect>`, with a
//! printable routing id (`%04X-%04X`), prints `I: worker ready` and sends
//! `READY` (see `common/ppp.rs` for the protocol). Then, in a loop:
//!
//! - it waits up to one heartbeat interval (`--heartbeat`, the Guide's
//!   1000 ms) for a message. A request (`[client id, "", request]`) is
//!   answered with itself (`I: normal reply`), a `HEARTBEAT` is taken
//!   note of; either way the queue is alive (anything else is `E: invalid
//!   message`, shown frame by frame);
//! - after `--liveness` (3) intervals without a message it prints `W:
//!   heartbeat failure, can't reach queue` and `W: reconnecting in <ms>
//!   msec...`, closes its socket, waits that long and starts again on a
//!   new one (new routing id, `READY` again). The wait starts at
//!   `--reconnect` (1000 ms) and doubles at each failure up to
//!   `--reconnect-max` (32000), and falls back to the start once a message
//!   comes;
//! - once an interval has passed since its last heartbeat it prints `I:
//!   worker heartbeat` and sends a `HEARTBEAT`.
//!
//! As in the Guide it simulates trouble: from the fourth request on, with
//! one chance in five it prints `I: simulating a crash` and exits, and
//! otherwise with one chance in five `I: simulating CPU overload` and
//! stalls three seconds before it answers; and after each answer it works
//! a second. `--reliable` does none of that: it answers at once, always.

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dhaga::mq::{Context, Error, Result, Socket, SocketType};

#[path = "common/args.rs"]
mod args;
#[path = "common/dump.rs"]
mod dump;
#[path = "common/ppp.rs"]
pub(crate) mod ppp;
#[path = "common/routing_ids.rs"]
mod routing_ids;

/// Requests served before the simulated failures may start.
const SAFE_CYCLES: u64 = 3;
/// How long a simulated overload stalls, and the work after each answer.
const OVERLOAD: Duration = Duration::from_secs(3);
const WORK: Duration = Duration::from_secs(1);

/// What the command line asks for.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) endpoint: String,
    /// How often a heartbeat goes to the queue, and how long one wait for
    /// a message lasts.
    pub(crate) interval: Duration,
    /// Intervals without a message after which the queue counts as gone.
    pub(crate) liveness: u32,
    /// The first wait before connecting again, and the longest.
    pub(crate) reconnect: Duration,
    pub(crate) reconnect_max: Duration,
}

impl Config {
    /// The Guide's settings, for `endpoint`.
    pub(crate) fn new(endpoint: &str) -> Config {
        Config {
            endpoint: endpoint.to_owned(),
            interval: ppp::INTERVAL,
            liveness: ppp::LIVENESS,
            reconnect: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(32),
        }
    }
}

/// What the worker did, counted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Requests answered.
    pub(crate) replies: u64,
    /// Heartbeats received from the queue, and sent to it.
    pub(crate) heartbeats_in: u64,
    pub(crate) heartbeats_out: u64,
    /// Times it gave the queue up and connected a new socket.
    pub(crate) reconnects: u64,
    /// Whether it ended in a simulated crash.
    pub(crate) crashed: bool,
}

/// Runs the worker as `config` says, with its sockets in `context`,
/// printing the Guide's lines to `out`, until `context` is shut down (or
/// a simulated crash); returns what it did. With `faults` it simulates
/// the Guide's crashes, overloads and work, drawing from it; without, it
/// answers every request at once.
///
/// # Errors
///
/// The socket's errors but timeouts (which are what the loop is for) and
/// the shutdown; `out`'s.
pub(crate) fn run(
    context: &Context,
    config: &Config,
    mut faults: Option<fastrand::Rng>,
    out: &mut dyn Write,
) -> Result<Tally> {
    let mut tally = Tally::default();
    match serve(context, config, &mut faults, &mut tally, out) {
        Ok(()) | Err(Error::Terminated) => Ok(tally),
        Err(e) => Err(e),
    }
}

/// The loop of [`run`]: returns after a simulated crash.
fn serve(
    context: &Context,
    config: &Config,
    faults: &mut Option<fastrand::Rng>,
    tally: &mut Tally,
    out: &mut dyn Write,
) -> Result<()> {
    let mut worker = connect(context, config, out)?;
    // If liveness hits zero, the queue is considered disconnected.
    let mut liveness = config.liveness;
    let mut reconnect = config.reconnect;
    // Send out heartbeats at regular intervals.
    let mut heartbeat_at = Instant::now() + config.interval;
    let mut cycles = 0;
    loop {
        match worker.recv() {
            // 3-part envelope + content: a request.
            Ok(request) if request.len() == 3 => {
                cycles += 1;
                if let Some(dice) = faults.as_mut() {
                    // Simulate various problems, after a few cycles.
                    if cycles > SAFE_CYCLES && dice.u32(..5) == 0 {
                        writeln!(out, "I: simulating a crash")?;
                        tally.crashed = true;
                        return Ok(());
                    }
                    if cycles > SAFE_CYCLES && dice.u32(..5) == 0 {
                        writeln!(out, "I: simulating CPU overload")?;
                        dhaga::sleep(OVERLOAD);
                    }
                }
                writeln!(out, "I: normal reply")?;
                send(&worker, request)?;
                tally.replies += 1;
                liveness = config.liveness;
                if faults.is_some() {
                    dhaga::sleep(WORK); // Do some heavy work.
                }
                reconnect = config.reconnect;
            }
            // 1-part HEARTBEAT: the queue is alive.
            Ok(heartbeat) if heartbeat.len() == 1 && heartbeat[0] == ppp::HEARTBEAT => {
                tally.heartbeats_in += 1;
                liveness = config.liveness;
                reconnect = config.reconnect;
            }
            Ok(other) => {
                writeln!(out, "E: invalid message")?;
                dump::dump(&other, out)?;
                reconnect = config.reconnect;
            }
            // An interval without a word from the queue.
            Err(Error::TimedOut) => {
                liveness -= 1;
                if liveness == 0 {
                    writeln!(out, "W: heartbeat failure, can't reach queue")?;
                    // Closed before the wait, not after (as the Guide's):
                    // left open, it could reach a queue that came back and
                    // be counted there as a worker just before it goes.
                    worker.close();
                    writeln!(out, "W: reconnecting in {} msec...", reconnect.as_millis())?;
                    dhaga::sleep(reconnect);
                    if reconnect < config.reconnect_max {
                        reconnect = (reconnect * 2).min(config.reconnect_max);
                    }
                    worker = connect(context, config, out)?;
                    tally.reconnects += 1;
                    liveness = config.liveness;
                }
            }
            Err(e) => return Err(e),
        }
        // Send a heartbeat to the queue if it is time.
        if Instant::now() > heartbeat_at {
            heartbeat_at = Instant::now() + config.interval;
            writeln!(out, "I: worker heartbeat")?;
            send(&worker, Bytes::from_static(ppp::HEARTBEAT))?;
            tally.heartbeats_out += 1;
        }
    }
}

/// A new DEALER, in `context`, with a new printable routing id, connected
/// to the queue and told to say `READY`; it waits one heartbeat interval
/// for a message or for room, and drops what it holds when closed.
fn connect(context: &Context, config: &Config, out: &mut dyn Write) -> Result<Socket> {
    let worker = context.socket(SocketType::Dealer);
    let id = routing_ids::printable(1).remove(0);
    worker.set_routing_id(id)?;
    worker.set_linger(Some(Duration::ZERO));
    worker.set_recv_timeout(Some(config.interval));
    worker.set_send_timeout(Some(config.interval));
    worker.connect(&config.endpoint)?;
    // Tell the queue we're ready for work.
    writeln!(out, "I: worker ready")?;
    send(&worker, Bytes::from_static(ppp::READY))?;
    Ok(worker)
}

/// Sends `msg` to the queue; one that finds no room within the socket's
/// send timeout is dropped (the queue is not reading: the heartbeats will
/// tell).
fn send(worker: &Socket, msg: impl Into<dhaga::mq::Msg>) -> Result<()> {
    match worker.send(msg) {
        Err(e) if !matches!(e.error(), Error::TimedOut) => Err(e.into()),
        _ => Ok(()),
    }
}

const USAGE: &str = "usage: ppworker <connect> [--heartbeat MS] [--liveness N] [--reconnect MS] [--reconnect-max MS] \
                     [--reliable]";

/// What `--help` prints after [`USAGE`].
const HELP: &str = "
A Paranoid Pirate worker of the queue (ppqueue) whose backend is at
<connect>: answers each request with itself, exchanges heartbeats with the
queue, and connects again when the queue falls silent.

  --heartbeat MS       heartbeat interval (default 1000; the queue's must match)
  --liveness N         intervals of silence before the queue counts as gone (default 3)
  --reconnect MS       first wait before connecting again (default 1000)
  --reconnect-max MS   longest wait, doubling from the first (default 32000)
  --reliable           no simulated crashes, overloads nor work
  -h, --help           print this help";

/// Parses the command line, without the program's name; `None` if it asks
/// for `--help`. The flag is `--reliable`.
fn parse(
    args: impl IntoIterator<Item = impl Into<OsString>>,
) -> std::result::Result<Option<(Config, bool)>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut config = Config::new("");
    let (mut endpoint, mut reliable) = (None, false);
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("heartbeat") => config.interval = Duration::from_millis(args::parse("--heartbeat", parser.value()?)?),
            Long("reconnect") => config.reconnect = Duration::from_millis(args::parse("--reconnect", parser.value()?)?),
            Long("reconnect-max") => {
                config.reconnect_max = Duration::from_millis(args::parse("--reconnect-max", parser.value()?)?);
            }
            Long("liveness") => config.liveness = args::parse("--liveness", parser.value()?)?,
            Long("reliable") => reliable = true,
            Short('h') | Long("help") => return Ok(None),
            Value(value) if endpoint.is_none() => endpoint = Some(value.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    if config.interval.is_zero() || config.liveness == 0 {
        return Err("--heartbeat and --liveness must be above zero".into());
    }
    config.endpoint = endpoint.ok_or("the endpoint to connect to is missing")?;
    Ok(Some((config, reliable)))
}

fn main() -> ExitCode {
    let (config, reliable) = match args::or_exit("ppworker", parse(std::env::args_os().skip(1)), USAGE, HELP) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let worked = dhaga::run(move || {
        let faults = (!reliable).then(fastrand::Rng::new);
        run(&Context::new(), &config, faults, &mut io::stdout())
    });
    match worked {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ppworker: {e}");
            ExitCode::FAILURE
        }
    }
}

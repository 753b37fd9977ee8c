//! Sequence-numbered receiver: the other end of `seqsend`, a PULL or SUB
//! socket that counts which numbers arrived, which did not, which came
//! twice and which came out of order, and when the stream stopped and
//! resumed.
//!
//! Run: `cargo run --release --example seqrecv -- pull '@tcp://*:5557' 60`
//!
//! Usage: `seqrecv <pull|sub> <endpoint> <seconds>
//! [--heartbeat <ivl-ms>:<timeout-ms>] [--reconnect <ivl-ms>:<max-ms>]`.
//! The endpoint binds when it starts with `@` and connects when it starts
//! with `>` (CZMQ's convention); without either a PULL binds and a SUB
//! connects (and subscribes to everything). It receives until the
//! sender's `END <count>` arrives, or for at most `<seconds>`, and prints:
//!
//! - `first <n>` for the first number received;
//! - `resume after <ms> ms at <n>` when a number arrives after a silence
//!   of half a second or more (a partition, a reconnection);
//! - `gap <a>..<b> (<n> missing)` when a number jumps past the next one
//!   expected, `duplicate <n>` and `reordered <n> after <m>`, for the
//!   first few of each;
//! - at the end, `summary first=<n> last=<n> distinct=<n> lost=<n>
//!   duplicated=<n> reordered=<n> end=<yes|no>`, where `lost` counts the
//!   numbers from the first received to the last sent (the `END`'s count,
//!   or the highest number seen if no `END` came) that never arrived.
//!   Numbers before the first are not counted lost: a subscriber misses
//!   what was published before it joined, by design.
//!
//! `--heartbeat` and `--reconnect` set the options as in `seqsend`.
//! `scripts/netns/seqrecv.py` is the same program on pyzmq.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use dhaga::mq::{Error, Result, Socket, SocketType};

/// A silence at least this long is reported when the stream resumes.
const SILENCE: Duration = Duration::from_millis(500);

/// How many duplicates and reorderings are printed one by one.
const SHOWN: u64 = 10;

/// Numbers above this are taken for garbage, not counted (the table of
/// numbers seen grows to the highest one).
const MAX_NUMBER: u64 = 100_000_000;

/// What the command line asks for.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) socket_type: SocketType,
    /// The endpoint without its `@`/`>`, and whether to bind it.
    pub(crate) endpoint: String,
    pub(crate) bind: bool,
    pub(crate) seconds: Duration,
    /// Heartbeat interval and timeout (`None`: no heartbeats).
    pub(crate) heartbeat: Option<(Duration, Duration)>,
    /// Reconnect interval and maximum (`None`: the defaults).
    pub(crate) reconnect: Option<(Duration, Duration)>,
}

/// What arrived.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) first: Option<u64>,
    pub(crate) highest: Option<u64>,
    pub(crate) distinct: u64,
    pub(crate) duplicated: u64,
    pub(crate) reordered: u64,
    /// The sender's count, from its `END`.
    pub(crate) end: Option<u64>,
}

impl Counts {
    /// Numbers from the first received to the last sent that never came.
    pub(crate) fn lost(&self) -> u64 {
        let Some(first) = self.first else {
            return self.end.unwrap_or(0);
        };
        let last = self.end.or(self.highest.map(|h| h + 1)).unwrap_or(first);
        last.saturating_sub(first).saturating_sub(self.distinct)
    }
}

/// A socket of `config`'s type with its options set, bound or connected
/// (a SUB subscribed to everything).
///
/// # Errors
///
/// The socket's, if the endpoint is invalid or cannot be bound.
pub(crate) fn open(config: &Config) -> Result<Socket> {
    let socket = Socket::new(config.socket_type);
    if let Some((ivl, timeout)) = config.heartbeat {
        socket.set_heartbeat_ivl(Some(ivl));
        socket.set_heartbeat_timeout(Some(timeout));
    }
    if let Some((ivl, max)) = config.reconnect {
        socket.set_reconnect_ivl(ivl);
        socket.set_reconnect_ivl_max(max);
    }
    if config.socket_type == SocketType::Sub {
        socket.subscribe("")?;
    }
    if config.bind {
        socket.bind(&config.endpoint)?;
    } else {
        socket.connect(&config.endpoint)?;
    }
    Ok(socket)
}

/// Receives numbers on `socket` until an `END` or for `seconds`, printing
/// what is worth noting to `out`, and counts them.
///
/// # Errors
///
/// The socket's, other than the receive timing out at the end of the
/// time, and `out`'s.
pub(crate) fn receive(socket: &Socket, seconds: Duration, out: &mut dyn Write) -> Result<Counts> {
    let deadline = Instant::now() + seconds;
    let mut counts = Counts::default();
    let mut seen: Vec<bool> = Vec::new();
    let mut last_arrival: Option<Instant> = None;
    let mut gaps = 0u64;
    while counts.end.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        socket.set_recv_timeout(Some(left));
        let msg = match socket.recv() {
            Ok(msg) => msg,
            Err(Error::TimedOut) => break,
            Err(e) => return Err(e),
        };
        let now = Instant::now();
        let text = msg.to_string();
        if let Some(count) = text.strip_prefix("END ") {
            counts.end = count.parse().ok();
            continue;
        }
        let Some(n) = text.parse::<u64>().ok().filter(|&n| n <= MAX_NUMBER) else {
            writeln!(out, "unexpected {text:?}")?;
            continue;
        };
        if let Some(silence) = last_arrival.map(|then| now - then).filter(|&s| s >= SILENCE) {
            writeln!(out, "resume after {} ms at {n}", silence.as_millis())?;
        }
        last_arrival = Some(now);
        if counts.first.is_none() {
            counts.first = Some(n);
            writeln!(out, "first {n}")?;
        }
        let index = usize::try_from(n).expect("numbers are at most MAX_NUMBER");
        if index >= seen.len() {
            seen.resize(index + 1, false);
        }
        if seen[index] {
            counts.duplicated += 1;
            if counts.duplicated <= SHOWN {
                writeln!(out, "duplicate {n}")?;
            }
            continue;
        }
        seen[index] = true;
        counts.distinct += 1;
        match counts.highest {
            Some(highest) if n < highest => {
                counts.reordered += 1;
                if counts.reordered <= SHOWN {
                    writeln!(out, "reordered {n} after {highest}")?;
                }
            }
            highest => {
                if let Some(highest) = highest.filter(|&h| n > h + 1) {
                    gaps += 1;
                    if gaps <= SHOWN {
                        writeln!(out, "gap {}..{} ({} missing)", highest + 1, n - 1, n - highest - 1)?;
                    }
                }
                counts.highest = Some(n);
            }
        }
    }
    Ok(counts)
}

/// Prints the summary line.
pub(crate) fn summary(counts: &Counts, out: &mut dyn Write) -> io::Result<()> {
    let shown = |n: Option<u64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
    writeln!(
        out,
        "summary first={} last={} distinct={} lost={} duplicated={} reordered={} end={}",
        shown(counts.first),
        shown(counts.highest),
        counts.distinct,
        counts.lost(),
        counts.duplicated,
        counts.reordered,
        if counts.end.is_some() { "yes" } else { "no" },
    )
}

/// Parses `<a-ms>:<b-ms>`.
fn pair(value: &str) -> Option<(Duration, Duration)> {
    let (a, b) = value.split_once(':')?;
    let millis = |value: &str| value.parse().ok().map(Duration::from_millis);
    Some((millis(a)?, millis(b)?))
}

/// The configuration the command line asks for, or `None` if it does not
/// parse.
fn parse(args: &[String]) -> Option<Config> {
    let [kind, endpoint, seconds, options @ ..] = args else {
        return None;
    };
    let socket_type = match kind.as_str() {
        "pull" => SocketType::Pull,
        "sub" => SocketType::Sub,
        _ => return None,
    };
    let (bind, endpoint) = match endpoint.as_bytes().first() {
        Some(b'@') => (true, &endpoint[1..]),
        Some(b'>') => (false, &endpoint[1..]),
        _ => (socket_type == SocketType::Pull, endpoint.as_str()),
    };
    let mut config = Config {
        socket_type,
        endpoint: endpoint.to_owned(),
        bind,
        seconds: Duration::from_secs_f64(seconds.parse().ok()?),
        heartbeat: None,
        reconnect: None,
    };
    let mut options = options.iter();
    while let Some(option) = options.next() {
        let value = pair(options.next()?)?;
        match option.as_str() {
            "--heartbeat" => config.heartbeat = Some(value),
            "--reconnect" => config.reconnect = Some(value),
            _ => return None,
        }
    }
    Some(config)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(config) = parse(&args) else {
        eprintln!(
            "usage: seqrecv <pull|sub> <[@|>]endpoint> <seconds> \
             [--heartbeat <ivl-ms>:<timeout-ms>] [--reconnect <ivl-ms>:<max-ms>]\n  \
             e.g. seqrecv pull '@tcp://*:5557' 60"
        );
        return ExitCode::from(2);
    };
    let counted = dhaga::run(move || {
        let socket = open(&config)?;
        let mut out = io::stdout();
        let counts = receive(&socket, config.seconds, &mut out)?;
        summary(&counts, &mut out)?;
        Ok::<_, Error>(())
    });
    match counted {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seqrecv: {e}");
            ExitCode::FAILURE
        }
    }
}

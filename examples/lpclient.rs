//! Lazy Pirate client, as in the ZeroMQ Guide (chapter 4, "Client-Side
//! Reliability (Lazy Pirate Pattern)", `lpclient`): a REQ client that does
//! not wait forever for a reply, but retries a bounded number of times.
//!
//! Run: `cargo run --release --example lpclient -- tcp://127.0.0.1:5555`
//!
//! Connects a REQ socket to `<connect>` and sends the requests `1`, `2`,
//! `3`… one at a time, each once the reply to the last has come; the
//! server (`lpserver`, the Guide's `lpserver.c`, or any REP that echoes)
//! answers with the request itself. A reply that is not the request is
//! reported and waited past. When no reply comes within the timeout, the
//! REQ socket — which can neither send again before a reply nor forget
//! the request — is closed (linger zero: the request goes with it), and a
//! new one connects and sends the same request again. After the third try
//! of one request times out, the client abandons and exits with a failure.
//!
//! The Guide's output lines: `I: server replied OK (<n>)`, `E: malformed
//! reply from server: <reply>`, `W: no response from server,
//! retrying...`, `I: reconnecting to server...` and `E: server seems to be
//! offline, abandoning`; at exit, one more line counts what happened:
//! `I: <n> requests, <n> replies, <n> retries, <n> malformed`.
//!
//! Options (for networks worse than the Guide's, as in
//! `scripts/netns-test.sh`):
//!
//! - `--timeout <ms>`: how long to wait for a reply (the Guide's 2500);
//! - `--retries <n>`: tries of one request before abandoning (the
//!   Guide's 3);
//! - `--seconds <s>`: send no new request after `s` seconds, and exit
//!   (by default it runs until it abandons);
//! - `--heartbeat <ivl-ms>:<timeout-ms>`: ZMTP heartbeats on each socket
//!   (`set_heartbeat_ivl`, `set_heartbeat_timeout`).

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use dhaga::mq::{Error, Result, Socket, SocketType};

/// What the client is told on its command line.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) endpoint: String,
    /// How long one try waits for its reply.
    pub(crate) timeout: Duration,
    /// Tries of one request before abandoning.
    pub(crate) retries: u32,
    /// When to stop sending new requests (`None`: never).
    pub(crate) seconds: Option<Duration>,
    /// Heartbeat interval and timeout for each socket (`None`: none).
    pub(crate) heartbeat: Option<(Duration, Duration)>,
}

impl Config {
    /// The Guide's settings, for `endpoint`.
    pub(crate) fn new(endpoint: &str) -> Config {
        Config {
            endpoint: endpoint.to_owned(),
            timeout: Duration::from_millis(2500),
            retries: 3,
            seconds: None,
            heartbeat: None,
        }
    }
}

/// What happened, counted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Requests sent (each counted once, however often it was retried).
    pub(crate) requests: u64,
    /// Replies that matched their request.
    pub(crate) replies: u64,
    /// Requests sent again on a new socket after a timeout.
    pub(crate) retries: u64,
    /// Replies that did not match the request waiting for one.
    pub(crate) malformed: u64,
    /// Whether the client gave up on the server.
    pub(crate) abandoned: bool,
}

/// Runs the Lazy Pirate loop as `config` says, printing the Guide's lines
/// to `out`, until it abandons or `config.seconds` have passed.
///
/// # Errors
///
/// The sockets' errors other than a timeout (which is what the loop is
/// for), and `out`'s.
pub(crate) fn run(config: &Config, out: &mut dyn Write) -> Result<Tally> {
    let started = Instant::now();
    let mut tally = Tally::default();
    writeln!(out, "I: connecting to server...")?;
    let mut client = connect(config)?;
    let mut sequence = 0u64;
    while config.seconds.is_none_or(|seconds| started.elapsed() < seconds) {
        sequence += 1;
        let request = sequence.to_string();
        tally.requests += 1;
        let mut retries_left = config.retries;
        let mut answered = ask(&client, &request, &mut tally, out)?;
        while !answered {
            retries_left = retries_left.saturating_sub(1);
            if retries_left == 0 {
                writeln!(out, "E: server seems to be offline, abandoning")?;
                client.close();
                tally.abandoned = true;
                return Ok(tally);
            }
            writeln!(out, "W: no response from server, retrying...")?;
            // The old socket is confused: close it and open a new one.
            client.close();
            writeln!(out, "I: reconnecting to server...")?;
            client = connect(config)?;
            tally.retries += 1;
            answered = ask(&client, &request, &mut tally, out)?;
        }
    }
    client.close();
    Ok(tally)
}

/// A REQ socket connected to the server, that drops what it holds when
/// closed and gives up waiting after the timeout.
fn connect(config: &Config) -> Result<Socket> {
    let client = Socket::new(SocketType::Req);
    client.set_linger(Some(Duration::ZERO));
    client.set_send_timeout(Some(config.timeout));
    client.set_recv_timeout(Some(config.timeout));
    if let Some((ivl, timeout)) = config.heartbeat {
        client.set_heartbeat_ivl(Some(ivl));
        client.set_heartbeat_timeout(Some(timeout));
    }
    client.connect(&config.endpoint)?;
    Ok(client)
}

/// Sends `request` on `client` and waits for its reply: `Ok(true)` once
/// it came, `Ok(false)` if the timeout passed first. Replies that do not
/// match are counted, reported and waited past.
fn ask(client: &Socket, request: &str, tally: &mut Tally, out: &mut dyn Write) -> Result<bool> {
    match client.send(request) {
        Ok(()) => {}
        Err(e) if matches!(e.error(), Error::TimedOut) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    loop {
        match client.recv() {
            Ok(reply) if reply.as_str() == Some(request) => {
                writeln!(out, "I: server replied OK ({request})")?;
                tally.replies += 1;
                return Ok(true);
            }
            Ok(reply) => {
                writeln!(out, "E: malformed reply from server: {reply}")?;
                tally.malformed += 1;
            }
            Err(Error::TimedOut) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

/// Parses `<ivl-ms>:<timeout-ms>`.
fn heartbeat(value: &str) -> Option<(Duration, Duration)> {
    let (ivl, timeout) = value.split_once(':')?;
    Some((millis(ivl)?, millis(timeout)?))
}

fn millis(value: &str) -> Option<Duration> {
    value.parse().ok().map(Duration::from_millis)
}

/// The configuration the command line asks for, or `None` if it does not
/// parse.
fn parse(args: &[String]) -> Option<Config> {
    let (endpoint, options) = args.split_first()?;
    let mut config = Config::new(endpoint);
    let mut options = options.iter();
    while let Some(option) = options.next() {
        let value = options.next()?;
        match option.as_str() {
            "--timeout" => config.timeout = millis(value)?,
            "--retries" => config.retries = value.parse().ok().filter(|&n| n > 0)?,
            "--seconds" => config.seconds = Some(Duration::from_secs_f64(value.parse().ok()?)),
            "--heartbeat" => config.heartbeat = Some(heartbeat(value)?),
            _ => return None,
        }
    }
    Some(config)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(config) = parse(&args) else {
        eprintln!(
            "usage: lpclient <connect> [--timeout <ms>] [--retries <n>] [--seconds <s>] \
             [--heartbeat <ivl-ms>:<timeout-ms>]\n  e.g. lpclient tcp://127.0.0.1:5555"
        );
        return ExitCode::from(2);
    };
    let done = dhaga::run(move || {
        let mut out = io::stdout();
        let tally = run(&config, &mut out)?;
        writeln!(
            out,
            "I: {} requests, {} replies, {} retries, {} malformed",
            tally.requests, tally.replies, tally.retries, tally.malformed
        )?;
        Ok::<_, Error>(tally)
    });
    match done {
        Ok(tally) if tally.abandoned => ExitCode::FAILURE,
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lpclient: {e}");
            ExitCode::FAILURE
        }
    }
}

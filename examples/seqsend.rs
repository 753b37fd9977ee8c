//! Sequence-numbered sender: a PUSH or PUB socket that sends `0`, `1`,
//! `2`… at a steady pace, so that `seqrecv` on the other side can count
//! what a network (or a library) lost, duplicated or reordered.
//!
//! Run: `cargo run --release --example seqsend -- push '>tcp://127.0.0.1:5557' 30 20`
//!
//! Usage: `seqsend <push|pub> <endpoint> <seconds> <interval-ms>
//! [--heartbeat <ivl-ms>:<timeout-ms>] [--reconnect <ivl-ms>:<max-ms>]`.
//! The endpoint binds when it starts with `@` and connects when it starts
//! with `>` (CZMQ's convention); without either a PUB binds and a PUSH
//! connects. For `<seconds>` the sender sends the next number, then
//! waits `<interval-ms>`; each message is one frame, the number in
//! decimal. A PUSH waits while its peer's queue is full or no peer is
//! there (never past the `<seconds>`), so every number it counts as sent
//! was queued; a PUB never waits, and drops what no subscriber is there
//! to take, as PUB sockets do. Then it sends `END <count>` (the count of
//! numbers sent) and closes, waiting up to ten seconds for its peers to
//! take what is queued, and prints `sent <count>`.
//!
//! `--heartbeat` sets ZMTP heartbeats (`set_heartbeat_ivl`,
//! `set_heartbeat_timeout`), `--reconnect` the reconnect interval and its
//! maximum (`set_reconnect_ivl`, `set_reconnect_ivl_max`).
//! `scripts/netns/seqsend.py` is the same program on pyzmq, and
//! `scripts/netns-test.sh` runs both across an impaired link.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use dhaga::mq::{Error, Result, Socket, SocketType};

/// How long the closing `END` and the close may wait for peers.
const LINGER: Duration = Duration::from_secs(10);

/// What the command line asks for.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) socket_type: SocketType,
    /// The endpoint without its `@`/`>`, and whether to bind it.
    pub(crate) endpoint: String,
    pub(crate) bind: bool,
    pub(crate) seconds: Duration,
    pub(crate) interval: Duration,
    /// Heartbeat interval and timeout (`None`: no heartbeats).
    pub(crate) heartbeat: Option<(Duration, Duration)>,
    /// Reconnect interval and maximum (`None`: the defaults).
    pub(crate) reconnect: Option<(Duration, Duration)>,
}

/// A socket of `config`'s type with its options set, bound or connected.
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
    socket.set_linger(Some(LINGER));
    if config.bind {
        socket.bind(&config.endpoint)?;
    } else {
        socket.connect(&config.endpoint)?;
    }
    Ok(socket)
}

/// Sends `0`, `1`, `2`… on `socket`, one every `interval`, for `seconds`,
/// then `END <count>`; returns the count.
///
/// # Errors
///
/// The socket's, other than a send timing out at the end of the time.
pub(crate) fn send(socket: &Socket, seconds: Duration, interval: Duration) -> Result<u64> {
    let deadline = Instant::now() + seconds;
    let mut sent = 0u64;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        socket.set_send_timeout(Some(left));
        match socket.send(sent.to_string()) {
            Ok(()) => sent += 1,
            Err(e) if matches!(e.error(), Error::TimedOut) => break,
            Err(e) => return Err(e.into()),
        }
        dhaga::sleep(interval);
    }
    socket.set_send_timeout(Some(LINGER));
    socket.send(format!("END {sent}"))?;
    Ok(sent)
}

/// Parses `<a-ms>:<b-ms>`.
fn pair(value: &str) -> Option<(Duration, Duration)> {
    let (a, b) = value.split_once(':')?;
    Some((millis(a)?, millis(b)?))
}

fn millis(value: &str) -> Option<Duration> {
    value.parse().ok().map(Duration::from_millis)
}

/// The configuration the command line asks for, or `None` if it does not
/// parse.
fn parse(args: &[String]) -> Option<Config> {
    let [kind, endpoint, seconds, interval, options @ ..] = args else {
        return None;
    };
    let socket_type = match kind.as_str() {
        "push" => SocketType::Push,
        "pub" => SocketType::Pub,
        _ => return None,
    };
    let (bind, endpoint) = match endpoint.as_bytes().first() {
        Some(b'@') => (true, &endpoint[1..]),
        Some(b'>') => (false, &endpoint[1..]),
        _ => (socket_type == SocketType::Pub, endpoint.as_str()),
    };
    let mut config = Config {
        socket_type,
        endpoint: endpoint.to_owned(),
        bind,
        seconds: Duration::from_secs_f64(seconds.parse().ok()?),
        interval: millis(interval)?,
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
            "usage: seqsend <push|pub> <[@|>]endpoint> <seconds> <interval-ms> \
             [--heartbeat <ivl-ms>:<timeout-ms>] [--reconnect <ivl-ms>:<max-ms>]\n  \
             e.g. seqsend push '>tcp://127.0.0.1:5557' 30 20"
        );
        return ExitCode::from(2);
    };
    let sent = dhaga::run(move || {
        let socket = open(&config)?;
        let sent = send(&socket, config.seconds, config.interval)?;
        socket.close();
        Ok::<_, Error>(sent)
    });
    match sent {
        Ok(sent) => {
            println!("sent {sent}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("seqsend: {e}");
            ExitCode::FAILURE
        }
    }
}

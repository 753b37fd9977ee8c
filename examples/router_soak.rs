//! A ROUTER and many DEALERs exchanging messages for as long as asked: the
//! messaging half of `scripts/soak.sh`, which watches both processes'
//! memory and file descriptors while this runs.
//!
//! Run: `cargo run --release --example router_soak -- --role server tcp://127.0.0.1:5570`
//! and `cargo run --release --example router_soak -- --role clients tcp://127.0.0.1:5570 1000 60 64 [--reconnect <seconds>]`
//!
//! `--role server <bind>` binds a ROUTER and sends every message it
//! receives back to the peer it came from, forever. It prints
//! `listening on <endpoint>` once bound, then a line of counts every
//! minute. It keeps no state of its own per peer, so whatever it holds per
//! peer is the ROUTER's.
//!
//! `--role clients <connect> <dealers> <seconds> <size>` opens `<dealers>`
//! DEALER sockets, each connected to `<connect>` and driven by its own
//! micro-thread, and for `<seconds>` each one sends a `<size>`-byte message
//! (numbered, so a wrong or stale reply is seen) and waits for it to come
//! back, again and again. With `--reconnect <seconds>` each DEALER closes
//! its socket and opens a new one (a new connection, and a new peer for the
//! ROUTER) every that many seconds, the DEALERs spread evenly over the
//! interval: what a long-lived server meets as clients come and go. Every
//! 10 seconds it prints a line of counts, and at the end one line for
//! programs:
//!
//! ```text
//! round_trips_per_sec=<f> round_trips=<n> reconnects=<n> errors=<n> dealers=<n> seconds=<f>
//! ```
//!
//! An error is a reply that did not come within 10 seconds, a wrong reply,
//! or a socket that failed; the DEALER that met it opens a new socket and
//! goes on. It exits with failure if no round trip completed.

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dhaga::mq::{Error, Msg, Result, Socket, SocketType};

#[path = "common/open_files.rs"]
mod open_files;

/// How long a DEALER waits for its reply before counting an error.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the clients print their counts.
const CLIENT_REPORT: Duration = Duration::from_secs(10);
/// How often the server prints its counts.
const SERVER_REPORT: Duration = Duration::from_secs(60);
/// File descriptors the clients need besides one per DEALER.
const SPARE_FDS: u64 = 64;

/// The clients' command line.
#[derive(Clone, Debug)]
struct Clients {
    endpoint: String,
    dealers: u64,
    duration: Duration,
    size: usize,
    /// How long each DEALER keeps one socket; `None`: for the whole run.
    reconnect: Option<Duration>,
}

/// What the clients have done so far, shared by every DEALER.
#[derive(Debug, Default)]
struct Counts {
    round_trips: AtomicU64,
    reconnects: AtomicU64,
    errors: AtomicU64,
}

/// The command line: which role.
enum Role {
    Server { endpoint: String },
    Clients(Clients),
}

fn main() -> ExitCode {
    let role = match parse_args() {
        Ok(role) => role,
        Err(message) => {
            eprintln!(
                "router_soak: {message}\nusage: router_soak --role server <bind>\n       \
                 router_soak --role clients <connect> <dealers> <seconds> <size> [--reconnect <seconds>]"
            );
            return ExitCode::from(2);
        }
    };
    match role {
        Role::Server { endpoint } => match dhaga::run(move || serve(&endpoint)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("router_soak server: {e}");
                ExitCode::FAILURE
            }
        },
        Role::Clients(args) => {
            if let Err(message) = open_files::raise(args.dealers + SPARE_FDS) {
                eprintln!(
                    "router_soak clients: {} DEALERs: {message}, or use fewer DEALERs",
                    args.dealers
                );
                return ExitCode::FAILURE;
            }
            let round_trips = dhaga::run(move || clients(&args));
            if round_trips > 0 {
                ExitCode::SUCCESS
            } else {
                eprintln!("router_soak clients: no round trip completed");
                ExitCode::FAILURE
            }
        }
    }
}

/// The server: a ROUTER on `endpoint` that sends each message back to its
/// sender, forever.
///
/// # Errors
///
/// The socket's, if binding, receiving or sending fails.
fn serve(endpoint: &str) -> Result<()> {
    let router = Socket::new(SocketType::Router);
    router.bind(endpoint)?;
    say(&format!(
        "listening on {}",
        router.last_endpoint().unwrap_or_else(|| endpoint.to_owned())
    ));
    let started = Instant::now();
    let mut next_report = started + SERVER_REPORT;
    let mut echoed = 0u64;
    loop {
        // `[peer id, payload]`: sent back as it is, the ROUTER routes it by
        // the id in front. A peer gone meanwhile drops it (as libzmq does).
        let msg = router.recv()?;
        router.send(msg)?;
        echoed += 1;
        if Instant::now() >= next_report {
            say(&format!(
                "router_soak server: {:.0} s, {echoed} messages echoed",
                started.elapsed().as_secs_f64()
            ));
            next_report += SERVER_REPORT;
        }
    }
}

/// The clients: runs every DEALER for the time asked and returns how many
/// round trips completed.
fn clients(args: &Clients) -> u64 {
    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let end = started + args.duration;
    let handles: Vec<_> = (0..args.dealers)
        .map(|index| {
            let (args, counts) = (args.clone(), Arc::clone(&counts));
            dhaga::spawn(move || dealer(&args, index, end, &counts))
        })
        .collect();

    let mut last = 0;
    let mut next_report = started + CLIENT_REPORT;
    while next_report < end {
        dhaga::sleep(next_report.saturating_duration_since(Instant::now()));
        let round_trips = counts.round_trips.load(Ordering::Relaxed);
        say(&format!(
            "router_soak clients: {:.0} s, {:.0} round trips/s, {round_trips} round trips, {} reconnects, {} errors",
            started.elapsed().as_secs_f64(),
            (round_trips - last) as f64 / CLIENT_REPORT.as_secs_f64(),
            counts.reconnects.load(Ordering::Relaxed),
            counts.errors.load(Ordering::Relaxed),
        ));
        last = round_trips;
        next_report += CLIENT_REPORT;
    }
    for handle in handles {
        if handle.join().is_err() {
            counts.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    let elapsed = started.elapsed().as_secs_f64();
    let round_trips = counts.round_trips.load(Ordering::Relaxed);
    say(&format!(
        "round_trips_per_sec={:.1} round_trips={round_trips} reconnects={} errors={} dealers={} seconds={elapsed:.1}",
        round_trips as f64 / elapsed,
        counts.reconnects.load(Ordering::Relaxed),
        counts.errors.load(Ordering::Relaxed),
        args.dealers,
    ));
    round_trips
}

/// DEALER number `index`: round trips until `end`, on a new socket every
/// `args.reconnect` (the first one's life cut short by this DEALER's share
/// of the interval, so that reconnections are spread evenly), or after an
/// error.
fn dealer(args: &Clients, index: u64, end: Instant, counts: &Counts) {
    let mut payload = vec![0xA5; args.size];
    let mut seq = 0u64;
    let mut first = true;
    while Instant::now() < end {
        let life = args.reconnect.map(|every| {
            if first {
                every.mul_f64((index + 1) as f64 / args.dealers as f64)
            } else {
                every
            }
        });
        let close_at = life.map_or(end, |life| end.min(Instant::now() + life));
        if !first {
            counts.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        first = false;
        if let Err(e) = session(args, close_at, &mut payload, &mut seq, counts) {
            let errors = counts.errors.fetch_add(1, Ordering::Relaxed);
            if errors < 10 {
                eprintln!("router_soak clients: DEALER {index}: {e}");
            }
        }
    }
}

/// One socket's life: connects, does round trips until `close_at`, closes.
///
/// # Errors
///
/// A failed connect, send or receive, a reply that did not come within
/// [`REPLY_TIMEOUT`], or one that is not the message sent.
fn session(args: &Clients, close_at: Instant, payload: &mut [u8], seq: &mut u64, counts: &Counts) -> Result<()> {
    let socket = Socket::new(SocketType::Dealer);
    socket.set_recv_timeout(Some(REPLY_TIMEOUT));
    // Nothing is left to deliver when it closes, but a lost peer must not
    // hold the close up either.
    socket.set_linger(Some(Duration::ZERO));
    socket.connect(args.endpoint.as_str())?;
    let outcome = (|| {
        while Instant::now() < close_at {
            *seq += 1;
            let stamp = seq.to_le_bytes();
            let n = stamp.len().min(payload.len());
            payload[..n].copy_from_slice(&stamp[..n]);
            let sent = Msg::from(payload.to_vec());
            socket.send(sent.clone()).map_err(Error::from)?;
            let reply = socket.recv()?;
            if reply != sent {
                return Err(Error::InvalidState("a reply that is not the message sent"));
            }
            counts.round_trips.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    })();
    socket.close();
    outcome
}

/// Prints a line on stdout and flushes it (stdout is often a file here).
fn say(line: &str) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}

/// Parses `--role server <bind>` or
/// `--role clients <connect> <dealers> <seconds> <size> [--reconnect <seconds>]`.
fn parse_args() -> std::result::Result<Role, String> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut take_option = |name: &str| -> std::result::Result<Option<String>, String> {
        let Some(at) = args.iter().position(|arg| arg == name) else {
            return Ok(None);
        };
        if at + 1 >= args.len() {
            return Err(format!("{name} needs a value"));
        }
        let value = args.remove(at + 1);
        args.remove(at);
        Ok(Some(value))
    };
    let role = take_option("--role")?.ok_or("missing --role server|clients")?;
    let reconnect = take_option("--reconnect")?;
    let number = |name: &str, value: &str| -> std::result::Result<u64, String> {
        match value.parse() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("<{name}> must be a positive whole number, not {value:?}")),
        }
    };
    match (role.as_str(), args.as_slice()) {
        ("server", [endpoint]) if reconnect.is_none() => Ok(Role::Server {
            endpoint: endpoint.clone(),
        }),
        ("server", _) => Err("--role server takes one argument, <bind>".into()),
        ("clients", [endpoint, dealers, seconds, size]) => Ok(Role::Clients(Clients {
            endpoint: endpoint.clone(),
            dealers: number("dealers", dealers)?,
            duration: Duration::from_secs(number("seconds", seconds)?),
            size: usize::try_from(number("size", size)?).map_err(|e| format!("<size>: {e}"))?,
            reconnect: reconnect
                .map(|value| number("--reconnect", &value).map(Duration::from_secs))
                .transpose()?,
        })),
        ("clients", _) => Err("--role clients takes <connect> <dealers> <seconds> <size>".into()),
        (other, _) => Err(format!("--role must be server or clients, not {other:?}")),
    }
}

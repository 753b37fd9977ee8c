//! A closed-loop load generator for the `echo` example.
//!
//! Run: `cargo run --release --example echo_load -- <addr> <connections> <seconds> <size> [--burst]`
//!
//! For example `echo_load 127.0.0.1:7000 1000 5 64`: opens 1000 connections
//! to the echo server at 127.0.0.1:7000 and on each one, for 5 seconds, sends
//! 64 bytes and waits for them to come back, again and again, as fast as the
//! server answers. Each connection is one micro-thread running plain blocking
//! code, all of them on a default dhaga runtime.
//!
//! Connections are opened first, 64 at a time, or with `--burst` all at once
//! (what a server meets when many clients come back together: its listen
//! backlog and its accept loop are put to the test). The measured window
//! starts when all of them are open. Each connect is timed: one that took
//! over a second (a SYN the server's backlog dropped waits a second or more
//! for its retransmission) is counted as slow.
//!
//! On stdout, for programs (the `compare` example reads them): the line
//! `window started` when the measured window starts, `window ended` when it
//! ends (before the connections close), then one line of results:
//!
//! ```text
//! round_trips_per_sec=<f> p50_us=<f> p99_us=<f> max_us=<f> connections=<n> errors=<n> round_trips=<n> connect_failures=<n> slow_connects=<n> connect_max_ms=<f>
//! ```
//!
//! Latencies are kept in a histogram (HdrHistogram, nanoseconds to three
//! significant digits), so memory does not grow with the round trips; p50,
//! p99 and max are read from it. `connections` counts the connections that
//! opened; `errors` counts those that could not open (after a few retries,
//! also in `connect_failures`) or failed during the window. On stderr, the
//! same in words. Many connections need as many file descriptors: it raises
//! its limit on open files (what `ulimit -n` shows) as far as needed, and
//! stops with a message if the hard limit is too low.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use dhaga::net::TcpStream;
use dhaga::sync::{Receiver, Sender, unbounded};
use hdrhistogram::Histogram;

#[path = "common/open_files.rs"]
mod open_files;

/// How many connections may be opening at once while ramping up (without
/// `--burst`).
const RAMP_IN_FLIGHT: usize = 64;
/// A connect that takes longer than this is counted as slow.
const SLOW_CONNECT: Duration = Duration::from_secs(1);
/// Tries to open one connection before counting it as an error.
const CONNECT_ATTEMPTS: u32 = 5;
/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A round trip that takes longer than this counts as an error (so a stuck
/// server cannot hang the load generator).
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// File descriptors needed besides one per connection (stdio, pollers, ...).
const SPARE_FDS: u64 = 64;
/// Histograms the latencies are recorded in: connection `i` records into
/// number `i % LATENCY_SHARDS` under its lock, once per round trip, so that
/// workers on many CPUs seldom wait for one another.
const LATENCY_SHARDS: usize = 16;
/// Significant decimal digits of the recorded latencies.
const LATENCY_DIGITS: u8 = 3;

/// Round-trip latencies in nanoseconds; it grows to the largest recorded.
type Latencies = Histogram<u64>;

/// The command line.
#[derive(Clone, Copy, Debug)]
struct Args {
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    size: usize,
    /// Open every connection at once instead of [`RAMP_IN_FLIGHT`] at a time.
    burst: bool,
}

/// What one connection did in the measured window.
#[derive(Debug, Default)]
struct Outcome {
    /// Whether the connection opened.
    connected: bool,
    /// How long connecting took (all attempts), opened or not.
    connect_time: Duration,
    /// Why it could not open, or why it stopped early.
    error: Option<io::Error>,
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args_os().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}\n{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("echo_load: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Err(message) = open_files::raise(args.connections as u64 + SPARE_FDS) {
        eprintln!(
            "echo_load: {} connections: {message}, or use fewer connections",
            args.connections
        );
        return ExitCode::FAILURE;
    }
    let runtime = match dhaga::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("echo_load: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };

    let (outcomes, latencies, elapsed) = runtime.block_on(move || run(args));

    let connected = outcomes.iter().filter(|o| o.connected).count();
    let errors = outcomes.iter().filter(|o| o.error.is_some()).count();
    let connect_failures = outcomes.len() - connected;
    let slow_connects = outcomes.iter().filter(|o| o.connect_time > SLOW_CONNECT).count();
    let connect_max_ms = outcomes
        .iter()
        .map(|o| o.connect_time)
        .max()
        .unwrap_or_default()
        .as_secs_f64()
        * 1e3;
    let round_trips = latencies.len();
    let per_sec = round_trips as f64 / elapsed.as_secs_f64();
    // In µs; all zero if there was no round trip.
    let p50 = latencies.value_at_quantile(0.50) as f64 / 1e3;
    let p99 = latencies.value_at_quantile(0.99) as f64 / 1e3;
    let max = latencies.max() as f64 / 1e3;

    eprintln!(
        "echo_load: {connected}/{} connections ({slow_connects} took over {SLOW_CONNECT:?}, the slowest \
         {connect_max_ms:.0} ms), {}-byte messages, {:.1} s: {round_trips} round trips, {per_sec:.0}/s, \
         p50 {p50:.1} µs, p99 {p99:.1} µs, max {max:.1} µs, {errors} errors",
        args.connections,
        args.size,
        elapsed.as_secs_f64(),
    );
    if let Some(e) = outcomes.iter().find_map(|o| o.error.as_ref()) {
        eprintln!("echo_load: first error: {e}");
    }
    println!(
        "round_trips_per_sec={per_sec:.1} p50_us={p50:.1} p99_us={p99:.1} max_us={max:.1} connections={connected} \
         errors={errors} round_trips={round_trips} connect_failures={connect_failures} \
         slow_connects={slow_connects} connect_max_ms={connect_max_ms:.1}"
    );

    if connected == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Opens the connections, runs the measured window, and returns what each
/// connection did, the latencies of all their round trips, and how long the
/// window lasted.
fn run(args: Args) -> (Vec<Outcome>, Latencies, Duration) {
    // Each connection reports once it has opened (or given up), then waits
    // for `go`: the end of the measured window, sent to every connection once
    // all of them have reported.
    let (opened_tx, opened_rx) = unbounded::<()>();
    let (go_tx, go_rx) = unbounded::<Instant>();

    let shards: Vec<Arc<Mutex<Latencies>>> = (0..LATENCY_SHARDS)
        .map(|_| Arc::new(Mutex::new(new_latencies())))
        .collect();

    let in_flight = if args.burst { args.connections } else { RAMP_IN_FLIGHT };
    let mut handles = Vec::with_capacity(args.connections);
    let mut opening = 0;
    for i in 0..args.connections {
        if opening == in_flight {
            opened_rx.recv().expect("a connection reports before it ends");
            opening -= 1;
        }
        let (opened, go) = (opened_tx.clone(), go_rx.clone());
        let latencies = Arc::clone(&shards[i % LATENCY_SHARDS]);
        handles.push(dhaga::spawn(move || connection(args, opened, go, &latencies)));
        opening += 1;
    }
    drop(opened_tx);
    for _ in 0..opening {
        opened_rx.recv().expect("a connection reports before it ends");
    }

    let started = Instant::now();
    let end = started + args.duration;
    say("window started");
    for _ in 0..args.connections {
        go_tx.send(end).expect("`go_rx` is still open");
    }
    // Says when the window is over, before the connections close (which
    // costs the server too, and is not part of the measure).
    dhaga::sleep(end.saturating_duration_since(Instant::now()));
    say("window ended");

    let outcomes = handles
        .into_iter()
        .map(|handle| {
            handle.join().unwrap_or_else(|_| Outcome {
                error: Some(io::Error::other("the connection's micro-thread panicked")),
                ..Outcome::default()
            })
        })
        .collect();
    let elapsed = started.elapsed();
    let mut latencies = new_latencies();
    for shard in shards {
        let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        latencies
            .add(&*shard)
            .expect("an auto-resizing histogram takes any other");
    }
    (outcomes, latencies, elapsed)
}

/// One connection: opens it, says so, waits for the window, then does round
/// trips until the window ends, recording each one's latency.
fn connection(args: Args, opened: Sender<()>, go: Receiver<Instant>, latencies: &Mutex<Latencies>) -> Outcome {
    let connecting = Instant::now();
    let stream = connect(args.addr);
    let connect_time = connecting.elapsed();
    let _ = opened.send(());
    drop(opened);
    let mut stream = match stream {
        Ok(stream) => stream,
        Err(e) => {
            return Outcome {
                error: Some(e),
                connect_time,
                ..Outcome::default()
            };
        }
    };
    let mut outcome = Outcome {
        connected: true,
        connect_time,
        ..Outcome::default()
    };
    let Ok(end) = go.recv() else { return outcome };

    let message = vec![0xA5; args.size];
    let mut reply = vec![0; args.size];
    let mut now = Instant::now();
    while now < end {
        let sent = now;
        if let Err(e) = stream.write_all(&message).and_then(|()| stream.read_exact(&mut reply)) {
            outcome.error = Some(e);
            break;
        }
        now = Instant::now();
        let nanos = u64::try_from((now - sent).as_nanos()).unwrap_or(u64::MAX);
        // Locked for the one record.
        latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(nanos)
            .expect("an auto-resizing histogram takes any value");
    }
    outcome
}

/// Connects to `addr`, retrying a few times with a growing pause, and sets
/// the options every connection uses.
fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let mut pause = Duration::from_millis(20);
    let mut attempt = 1;
    let stream = loop {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => break stream,
            Err(_) if attempt < CONNECT_ATTEMPTS => {
                dhaga::sleep(pause);
                pause *= 2;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    };
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    Ok(stream)
}

/// An empty histogram for latencies, to [`LATENCY_DIGITS`] digits, that
/// grows to the largest value recorded.
fn new_latencies() -> Latencies {
    Histogram::new(LATENCY_DIGITS).expect("3 significant digits are within HdrHistogram's 0 to 5")
}

/// Prints a progress line on stdout for programs that read it (`compare`).
fn say(line: &str) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}

const USAGE: &str = "usage: echo_load <addr> <connections> <seconds> <size> [--burst]";

/// What `--help` prints after [`USAGE`].
const HELP: &str = "
Opens <connections> connections to the echo server at <addr> and on each
one, for <seconds> seconds, sends <size> bytes and waits for them to come
back, again and again. Prints `window started`, `window ended` and a line
of results on stdout for programs (the `compare` example), the same in
words on stderr.

  --burst      open every connection at once (by default 64 at a time)
  -h, --help   print this help";

/// Parses `<addr> <connections> <seconds> <size> [--burst]`, without the
/// program's name; `None` if it asks for `--help`.
fn parse_args(args: impl IntoIterator<Item = impl Into<OsString>>) -> Result<Option<Args>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut burst = false;
    let mut positional = Vec::new();
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("burst") => burst = true,
            Short('h') | Long("help") => return Ok(None),
            Value(value) => positional.push(value.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    let [addr, connections, seconds, size] = positional.as_slice() else {
        return Err(format!("expected 4 arguments besides --burst, got {}", positional.len()).into());
    };
    let number = |name: &str, value: &str| -> Result<usize, lexopt::Error> {
        match value.parse() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("<{name}> must be a positive whole number, not {value:?}").into()),
        }
    };
    Ok(Some(Args {
        addr: addr.parse().map_err(|e| format!("<addr> {addr:?}: {e}"))?,
        connections: number("connections", connections)?,
        duration: Duration::from_secs(number("seconds", seconds)? as u64),
        size: number("size", size)?,
        burst,
    }))
}

#[cfg(test)]
mod tests {
    use super::{Args, parse_args};

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        parse_args(args).map_err(|e| e.to_string())
    }

    #[test]
    fn the_documented_command_lines_parse() {
        let args = parse(&["127.0.0.1:7000", "1000", "5", "64"]).unwrap().unwrap();
        assert_eq!(args.addr, "127.0.0.1:7000".parse().unwrap());
        assert_eq!((args.connections, args.duration.as_secs(), args.size), (1000, 5, 64));
        assert!(!args.burst);
        // `--burst` anywhere, as `compare` puts it last.
        for burst in [
            &["127.0.0.1:7000", "1000", "5", "64", "--burst"][..],
            &["--burst", "127.0.0.1:7000", "1000", "5", "64"],
            &["127.0.0.1:7000", "1000", "--burst", "5", "64"],
        ] {
            assert!(parse(burst).unwrap().unwrap().burst, "{burst:?}");
        }
    }

    #[test]
    fn help_is_asked_for_with_either_spelling() {
        assert!(parse(&["--help"]).unwrap().is_none());
        assert!(parse(&["127.0.0.1:7000", "-h"]).unwrap().is_none());
    }

    #[test]
    fn unknown_flags_and_bad_values_are_refused_by_name() {
        let addr = "127.0.0.1:7000";
        assert_eq!(
            parse(&[addr, "1", "1", "1", "--bust"]).err().unwrap(),
            "invalid option '--bust'"
        );
        assert_eq!(
            parse(&[addr, "1", "1"]).err().unwrap(),
            "expected 4 arguments besides --burst, got 3"
        );
        assert_eq!(
            parse(&[addr, "0", "1", "1"]).err().unwrap(),
            "<connections> must be a positive whole number, not \"0\""
        );
        assert!(
            parse(&["localhost", "1", "1", "1"])
                .err()
                .unwrap()
                .starts_with("<addr> \"localhost\": ")
        );
    }
}

//! Publish-subscribe fan-out, dhaga's messaging against libzmq, side by
//! side in one run: one PUB to 1, 10 and 100 SUB connections over TCP
//! loopback.
//!
//! Run: `scripts/bench_pubsub.sh`, or
//! `cargo run --release -p dhaga-benches --bin compare_pubsub [-- --rounds N] [--seconds S]`
//!
//! # What it measures
//!
//! A PUB bound to `tcp://127.0.0.1` and 1, 10 or 100 SUB sockets, one
//! connection each, subscribed to everything. The publisher sends 64-byte
//! messages as fast as it can and paces nothing: where a subscriber's
//! queue is full (the high-water mark, 1000 messages, both libraries'
//! default) the message is dropped for that subscriber, as a PUB does. The
//! table shows, per fan-out:
//!
//! - **delivered** (msg/s): the messages the subscribers received per
//!   second, summed over the subscribers. Drops are part of the result:
//!   this is what arrives, not what is sent.
//! - **published** (msg/s): the publisher's sends per second.
//! - **publisher CPU** (ns/msg): the publisher process's CPU time, user and
//!   system over all its threads (`getrusage`), per message published;
//! - and per message delivered (its CPU time per second over the delivery
//!   rate): what it costs the publisher to get one message to one
//!   subscriber, which does not depend on how much it drops.
//!
//! Each library talks to itself: dhaga's PUB to dhaga's SUBs, libzmq's
//! (the system's, through the `zmq` crate) to libzmq's.
//!
//! # How it measures
//!
//! Each measurement is two fresh processes, this program run again in a
//! role: the publisher, and one process holding every subscriber. They
//! agree on the start without waiting on anything a PUB may drop:
//!
//! 1. the publisher binds, says `READY <endpoint>`, and publishes a warm-up
//!    marker every millisecond;
//! 2. the subscribers connect and subscribe; once each has received a
//!    marker (so its subscription has reached the publisher) their process
//!    says `READY`;
//! 3. told `GO`, the publisher publishes numbered data messages flat out,
//!    until told `STOP`, and reports how many and its CPU time;
//! 4. each subscriber counts the data messages that arrive within a fixed
//!    window (2 s, `--seconds`) from its first, then stops; their process
//!    reports the sum of their rates and exits, and the publisher is
//!    stopped.
//!
//! Every step has a deadline: a measurement that misses one is killed and
//! shows as failed, and the run goes on. [`ROUNDS`] rounds (`--rounds`)
//! each measure every fan-out on both libraries, the libraries' order
//! alternating from round to round; the table shows medians. All processes
//! share the machine's CPUs; a default run takes about 40 s on two.
//!
//! How each library is driven, as its users would:
//!
//! - libzmq: a context with one I/O thread (the default). The publisher
//!   calls `zmq_send` in a loop; the subscribers' process polls its
//!   sockets with `zmq_poll` on one thread and drains each readable one.
//! - dhaga: a runtime with a worker per CPU. The publisher is a
//!   micro-thread that yields every [`YIELD_EVERY`] messages: a PUB never
//!   parks, and the micro-threads writing to its connections run on its
//!   worker (the `wuserver` example does the same). Each subscriber is a
//!   micro-thread of its own, which creates and connects its socket.
//!
//! Progress goes to stderr and the table to stdout.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dhaga_benches::{cpu_time, median, print_aligned};
use dhaga_mq::{Socket, SocketType};

/// Measured rounds unless `--rounds` says otherwise.
const ROUNDS: usize = 3;
/// Each subscriber's counting window unless `--seconds` says otherwise.
const WINDOW: Duration = Duration::from_secs(2);
/// The numbers of subscribers measured.
const FAN_OUTS: [usize; 3] = [1, 10, 100];
/// Every message's size.
const MSG_SIZE: usize = 64;
/// First byte of a warm-up marker.
const MARKER: u8 = b'W';
/// First byte of a data message (a sequence number follows).
const DATA: u8 = b'D';
/// The pause between two warm-up markers.
const MARKER_INTERVAL: Duration = Duration::from_millis(1);
/// dhaga's publisher yields after this many messages: fewer than the
/// high-water mark, so a subscriber's queue does not fill merely because
/// its writer had no turn.
const YIELD_EVERY: u64 = 100;
/// The longest any step of a measurement may take (beyond the window).
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// A subscriber that receives nothing for this long fails.
const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// The role arguments this program runs itself with.
const PUBLISHER: &str = "--role-publisher";
const SUBSCRIBERS: &str = "--role-subscribers";

/// The libraries compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lib {
    Dhaga,
    Libzmq,
}

const LIBS: [Lib; 2] = [Lib::Dhaga, Lib::Libzmq];

impl Lib {
    fn name(self) -> &'static str {
        match self {
            Lib::Dhaga => "dhaga",
            Lib::Libzmq => "libzmq",
        }
    }

    fn parse(name: &str) -> Result<Lib, String> {
        LIBS.into_iter()
            .find(|lib| lib.name() == name)
            .ok_or_else(|| format!("no library {name:?}: dhaga or libzmq"))
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let done = match args.first().map(String::as_str) {
        Some(PUBLISHER) => publisher_role(&args[1..]),
        Some(SUBSCRIBERS) => subscribers_role(&args[1..]),
        _ => compare(&args),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("compare_pubsub: {message}");
            ExitCode::FAILURE
        }
    }
}

// The comparison: runs the measurements and prints the table.

/// What one measurement gave.
#[derive(Clone, Copy, Debug)]
struct Outcome {
    delivered_per_sec: f64,
    published_per_sec: f64,
    cpu_ns_per_msg: f64,
    cpu_ns_per_delivered: f64,
}

fn compare(args: &[String]) -> Result<(), String> {
    let (rounds, window) = parse_options(args)?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let started = Instant::now();

    // results[fan-out][library]: one outcome per round that succeeded.
    let mut results = vec![vec![Vec::new(); LIBS.len()]; FAN_OUTS.len()];
    for round in 0..rounds {
        for (f, &subscribers) in FAN_OUTS.iter().enumerate() {
            for i in 0..LIBS.len() {
                // Alternate the libraries' order from round to round.
                let l = (i + round) % LIBS.len();
                let lib = LIBS[l];
                eprint!(
                    "[round {}/{rounds}] {subscribers:>3} SUB {:<7} ... ",
                    round + 1,
                    lib.name()
                );
                match measure(&exe, lib, subscribers, window) {
                    Ok(outcome) => {
                        eprintln!(
                            "delivered {:.0} msg/s, published {:.0} msg/s, publisher {:.0} ns/published, \
                             {:.0} ns/delivered",
                            outcome.delivered_per_sec,
                            outcome.published_per_sec,
                            outcome.cpu_ns_per_msg,
                            outcome.cpu_ns_per_delivered
                        );
                        results[f][l].push(outcome);
                    }
                    Err(e) => eprintln!("failed: {e}"),
                }
            }
        }
    }
    eprintln!("done in {:.0} s", started.elapsed().as_secs_f64());
    print_table(&results, rounds, window);
    Ok(())
}

/// `--rounds N` and `--seconds S`, or the defaults.
fn parse_options(args: &[String]) -> Result<(usize, Duration), String> {
    const USAGE: &str = "usage: compare_pubsub [--rounds N] [--seconds S]";
    let (mut rounds, mut window) = (ROUNDS, WINDOW);
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(USAGE)?;
        match flag.as_str() {
            "--rounds" => {
                rounds = value
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("--rounds wants a positive number, not {value:?}"))?;
            }
            "--seconds" => {
                window = value
                    .parse::<f64>()
                    .ok()
                    .filter(|&s| s > 0.0 && s <= 60.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| format!("--seconds wants a number of seconds up to 60, not {value:?}"))?;
            }
            _ => return Err(USAGE.into()),
        }
    }
    Ok((rounds, window))
}

/// One measurement: `subscribers` SUBs of `lib` against a PUB of `lib`.
fn measure(exe: &Path, lib: Lib, subscribers: usize, window: Duration) -> Result<Outcome, String> {
    let mut publisher = Role::start(exe, &[PUBLISHER, lib.name()])?;
    let endpoint = publisher.expect("READY", STEP_TIMEOUT)?;
    let mut subscribing = Role::start(
        exe,
        &[
            SUBSCRIBERS,
            lib.name(),
            &endpoint,
            &subscribers.to_string(),
            &window.as_secs_f64().to_string(),
        ],
    )?;
    subscribing.expect("READY", STEP_TIMEOUT)?;
    publisher.say("GO")?;
    let delivered = subscribing.expect("DELIVERED", window + STEP_TIMEOUT)?;
    publisher.say("STOP")?;
    let published = publisher.expect("PUBLISHED", STEP_TIMEOUT)?;
    subscribing.finish()?;
    publisher.finish()?;

    let number = |text: Option<&str>, what: &str| -> Result<f64, String> {
        text.and_then(|t| t.parse().ok())
            .ok_or_else(|| format!("no {what} in {published:?} / {delivered:?}"))
    };
    let mut fields = published.split_whitespace();
    let (count, wall_secs, cpu_secs) = (
        number(fields.next(), "count")?,
        number(fields.next(), "wall time")?,
        number(fields.next(), "CPU time")?,
    );
    if count == 0.0 || wall_secs <= 0.0 {
        return Err(format!("the publisher published nothing: {published:?}"));
    }
    let delivered_per_sec = number(Some(&delivered), "delivery rate")?;
    if delivered_per_sec <= 0.0 {
        return Err("nothing was delivered".into());
    }
    Ok(Outcome {
        delivered_per_sec,
        published_per_sec: count / wall_secs,
        cpu_ns_per_msg: cpu_secs * 1e9 / count,
        cpu_ns_per_delivered: cpu_secs / wall_secs * 1e9 / delivered_per_sec,
    })
}

/// This program running in a role: its stdin to tell it things, its
/// stdout read line by line; killed if dropped while it runs.
struct Role {
    what: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Role {
    fn start(exe: &Path, args: &[&str]) -> Result<Role, String> {
        let what = args.join(" ");
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(Role {
            what,
            stdin: child.stdin.take(),
            child,
            lines,
        })
    }

    /// Waits (until `timeout`) for a line starting with `word`; returns the
    /// rest of it.
    fn expect(&mut self, word: &str, timeout: Duration) -> Result<String, String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => line
                .strip_prefix(word)
                .map(|rest| rest.trim().to_owned())
                .ok_or_else(|| format!("{}: expected {word}, got {line:?}", self.what)),
            Err(RecvTimeoutError::Timeout) => Err(format!("{}: no {word} within {} s", self.what, timeout.as_secs())),
            Err(RecvTimeoutError::Disconnected) => Err(format!("{}: exited before {word}", self.what)),
        }
    }

    fn say(&mut self, line: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().expect("stdin is open until finish");
        writeln!(stdin, "{line}").map_err(|e| format!("{}: cannot tell it {line}: {e}", self.what))
    }

    /// Closes its stdin and waits (until [`STEP_TIMEOUT`]) for it to exit
    /// successfully.
    fn finish(mut self) -> Result<(), String> {
        drop(self.stdin.take());
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("{}: {status}", self.what)),
                Ok(None) if Instant::now() >= deadline => {
                    return Err(format!(
                        "{}: did not exit within {} s",
                        self.what,
                        STEP_TIMEOUT.as_secs()
                    ));
                }
                Ok(None) => thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(format!("{}: {e}", self.what)),
            }
        }
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        // Our own child, by its pid, if it still runs (a failed step).
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// The publisher's role.

/// What the coordinator told the publisher, from its stdin.
#[derive(Default)]
struct Control {
    go: AtomicBool,
    stop: AtomicBool,
}

impl Control {
    /// Reads `GO` and `STOP` lines from stdin on a thread of its own; the
    /// end of stdin (the coordinator is gone) means both.
    fn from_stdin() -> Arc<Control> {
        let control = Arc::new(Control::default());
        let listening = Arc::clone(&control);
        thread::spawn(move || {
            for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                match line.trim() {
                    "GO" => listening.go.store(true, Ordering::Relaxed),
                    "STOP" => listening.stop.store(true, Ordering::Relaxed),
                    _ => {}
                }
            }
            listening.go.store(true, Ordering::Relaxed);
            listening.stop.store(true, Ordering::Relaxed);
        });
        control
    }
}

/// How a library's publisher publishes, pauses and lets others run.
trait Publisher {
    fn send(&mut self, msg: &[u8; MSG_SIZE]) -> Result<(), String>;
    /// Waits between warm-up markers.
    fn pause(&mut self);
    /// Called every [`YIELD_EVERY`] data messages.
    fn breathe(&mut self);
}

/// What the publisher did between `GO` and `STOP`.
struct Published {
    count: u64,
    wall: Duration,
    cpu: Duration,
}

/// `--role-publisher <lib>`: binds a PUB, says `READY <endpoint>`, and
/// runs the steps the module docs list.
fn publisher_role(args: &[String]) -> Result<(), String> {
    let [lib] = args else {
        return Err(format!("usage: compare_pubsub {PUBLISHER} dhaga|libzmq"));
    };
    let control = Control::from_stdin();
    let published = match Lib::parse(lib)? {
        Lib::Dhaga => dhaga_runtime::run(move || {
            let socket = Socket::new(SocketType::Pub);
            socket.set_linger(Some(Duration::ZERO));
            socket.bind("tcp://127.0.0.1:*").map_err(|e| e.to_string())?;
            println!("READY {}", socket.last_endpoint().expect("bound"));
            publish(&control, &mut DhagaPublisher(socket))
        }),
        Lib::Libzmq => {
            let ctx = zmq::Context::new();
            let socket = ctx.socket(zmq::PUB).map_err(|e| e.to_string())?;
            socket.set_linger(0).map_err(|e| e.to_string())?;
            socket.bind("tcp://127.0.0.1:*").map_err(|e| e.to_string())?;
            let endpoint = socket.get_last_endpoint().map_err(|e| e.to_string())?;
            println!("READY {}", endpoint.map_err(|_| "an endpoint that is not UTF-8")?);
            publish(&control, &mut LibzmqPublisher(socket))
        }
    }?;
    println!(
        "PUBLISHED {} {:.6} {:.6}",
        published.count,
        published.wall.as_secs_f64(),
        published.cpu.as_secs_f64()
    );
    Ok(())
}

/// Publishes markers until `GO`, then data messages flat out until `STOP`
/// (or until it has gone on far longer than any measurement should).
fn publish(control: &Control, publisher: &mut dyn Publisher) -> Result<Published, String> {
    let mut msg = [0u8; MSG_SIZE];
    msg[0] = MARKER;
    while !control.go.load(Ordering::Relaxed) {
        publisher.send(&msg)?;
        publisher.pause();
    }

    let limit = 2 * (STEP_TIMEOUT + Duration::from_secs(60));
    let (start, cpu_start) = (Instant::now(), cpu_time().map_err(|e| e.to_string())?);
    msg[0] = DATA;
    let mut count = 0u64;
    while !control.stop.load(Ordering::Relaxed) {
        msg[1..9].copy_from_slice(&count.to_le_bytes());
        publisher.send(&msg)?;
        count += 1;
        if count.is_multiple_of(YIELD_EVERY) {
            publisher.breathe();
            if start.elapsed() > limit {
                return Err("never told to stop".into());
            }
        }
    }
    Ok(Published {
        count,
        wall: start.elapsed(),
        cpu: cpu_time().map_err(|e| e.to_string())? - cpu_start,
    })
}

struct DhagaPublisher(Socket);

impl Publisher for DhagaPublisher {
    fn send(&mut self, msg: &[u8; MSG_SIZE]) -> Result<(), String> {
        // A fresh buffer per message, as libzmq's `zmq_send` copies one.
        self.0.send(Bytes::copy_from_slice(msg)).map_err(|e| e.to_string())
    }

    fn pause(&mut self) {
        dhaga_runtime::sleep(MARKER_INTERVAL);
    }

    fn breathe(&mut self) {
        dhaga_runtime::yield_now();
    }
}

struct LibzmqPublisher(zmq::Socket);

impl Publisher for LibzmqPublisher {
    fn send(&mut self, msg: &[u8; MSG_SIZE]) -> Result<(), String> {
        self.0.send(&msg[..], 0).map_err(|e| e.to_string())
    }

    fn pause(&mut self) {
        thread::sleep(MARKER_INTERVAL);
    }

    fn breathe(&mut self) {
        // libzmq's I/O thread writes on its own.
    }
}

// The subscribers' role.

/// One subscriber's count: the data messages that arrive within a window
/// from its first one.
#[derive(Clone, Copy, Debug)]
struct Counter {
    window: Duration,
    first: Option<Instant>,
    count: u64,
    done: bool,
}

impl Counter {
    fn new(window: Duration) -> Counter {
        Counter {
            window,
            first: None,
            count: 0,
            done: false,
        }
    }

    /// Counts `msg` if it is a data message inside the window; `true` once
    /// one arrives after the window (the count is complete).
    fn take(&mut self, msg: &[u8]) -> bool {
        if msg.first() != Some(&DATA) {
            return false;
        }
        let now = Instant::now();
        let first = *self.first.get_or_insert(now);
        if now.duration_since(first) >= self.window {
            self.done = true;
        } else {
            self.count += 1;
        }
        self.done
    }

    fn per_sec(&self) -> f64 {
        self.count as f64 / self.window.as_secs_f64()
    }
}

/// `--role-subscribers <lib> <endpoint> <n> <window seconds>`: connects
/// `n` SUBs, says `READY` once each has a marker, and says `DELIVERED
/// <msg/s>` once each has counted its window.
fn subscribers_role(args: &[String]) -> Result<(), String> {
    let usage = || format!("usage: compare_pubsub {SUBSCRIBERS} dhaga|libzmq <endpoint> <n> <window seconds>");
    let [lib, endpoint, n, window] = args else {
        return Err(usage());
    };
    let n: usize = n.parse().map_err(|_| usage())?;
    let window = Duration::from_secs_f64(window.parse().map_err(|_| usage())?);
    let counters = match Lib::parse(lib)? {
        Lib::Dhaga => dhaga_subscribers(endpoint, n, window),
        Lib::Libzmq => libzmq_subscribers(endpoint, n, window),
    }?;
    let delivered: f64 = counters.iter().map(Counter::per_sec).sum();
    println!("DELIVERED {delivered:.1}");
    Ok(())
}

/// One micro-thread per subscriber, each with its own socket.
fn dhaga_subscribers(endpoint: &str, n: usize, window: Duration) -> Result<Vec<Counter>, String> {
    let endpoint = endpoint.to_owned();
    dhaga_runtime::run(move || {
        let (joined_tx, joined) = dhaga_runtime::sync::bounded(n);
        let subscribers: Vec<_> = (0..n)
            .map(|_| {
                let (joined_tx, endpoint) = (joined_tx.clone(), endpoint.clone());
                dhaga_runtime::spawn(move || -> Result<Counter, String> {
                    let socket = Socket::new(SocketType::Sub);
                    socket.set_recv_timeout(Some(RECV_TIMEOUT));
                    socket.connect(&endpoint).map_err(|e| e.to_string())?;
                    socket.subscribe("").map_err(|e| e.to_string())?;
                    let recv = || socket.recv().map_err(|e| format!("a dhaga SUB: {e}"));
                    recv()?;
                    let _ = joined_tx.send(());
                    let mut counter = Counter::new(window);
                    while !counter.take(&recv()?[0]) {}
                    Ok(counter)
                })
            })
            .collect();
        drop(joined_tx);
        // A subscriber that failed never joins: the coordinator's deadline
        // ends this process then.
        for _ in 0..n {
            joined.recv().map_err(|_| "every subscriber failed".to_owned())?;
        }
        println!("READY");
        subscribers
            .into_iter()
            .map(|s| s.join().map_err(|_| "a dhaga subscriber panicked".to_owned())?)
            .collect()
    })
}

/// Every subscriber on this thread, with `zmq_poll`.
fn libzmq_subscribers(endpoint: &str, n: usize, window: Duration) -> Result<Vec<Counter>, String> {
    let zmq_error = |e: zmq::Error| format!("libzmq: {e}");
    let ctx = zmq::Context::new();
    let sockets = (0..n)
        .map(|_| {
            let socket = ctx.socket(zmq::SUB)?;
            socket.set_linger(0)?;
            socket.connect(endpoint)?;
            socket.set_subscribe(b"")?;
            Ok(socket)
        })
        .collect::<Result<Vec<_>, zmq::Error>>()
        .map_err(zmq_error)?;
    let mut msg = zmq::Message::new();

    // Until each has a marker.
    let mut joined = vec![false; n];
    let mut waiting = n;
    while waiting > 0 {
        for i in readable(&sockets, &(0..n).collect::<Vec<_>>())? {
            while sockets[i].recv(&mut msg, zmq::DONTWAIT).is_ok() {
                if !joined[i] {
                    joined[i] = true;
                    waiting -= 1;
                }
            }
        }
    }
    println!("READY");

    let mut counters = vec![Counter::new(window); n];
    let mut counting: Vec<usize> = (0..n).collect();
    while !counting.is_empty() {
        for i in readable(&sockets, &counting)? {
            while sockets[i].recv(&mut msg, zmq::DONTWAIT).is_ok() {
                if counters[i].take(&msg) {
                    break;
                }
            }
        }
        counting.retain(|&i| !counters[i].done);
    }
    Ok(counters)
}

/// Which of `sockets[among]` have messages, waiting for at least one (up to
/// [`RECV_TIMEOUT`]).
fn readable(sockets: &[zmq::Socket], among: &[usize]) -> Result<Vec<usize>, String> {
    let mut items: Vec<_> = among.iter().map(|&i| sockets[i].as_poll_item(zmq::POLLIN)).collect();
    let ready = zmq::poll(&mut items, RECV_TIMEOUT.as_millis() as i64).map_err(|e| format!("libzmq: {e}"))?;
    if ready == 0 {
        return Err(format!("no message for {} s", RECV_TIMEOUT.as_secs()));
    }
    Ok(items
        .iter()
        .zip(among)
        .filter(|(item, _)| item.is_readable())
        .map(|(_, &i)| i)
        .collect())
}

// The table.

/// Reads one quantity off a round's outcome.
type Metric = fn(&Outcome) -> f64;

/// The table's rows for each fan-out: a name and the quantity.
const METRICS: [(&str, Metric); 4] = [
    ("delivered [msg/s]", |o| o.delivered_per_sec),
    ("published [msg/s]", |o| o.published_per_sec),
    ("publisher CPU [ns/published]", |o| o.cpu_ns_per_msg),
    ("publisher CPU [ns/delivered]", |o| o.cpu_ns_per_delivered),
];

/// One row per fan-out and metric: each library's median and dhaga's ratio
/// to libzmq; then how much the rounds varied.
fn print_table(results: &[Vec<Vec<Outcome>>], rounds: usize, window: Duration) {
    let (major, minor, patch) = zmq::version();
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    println!();
    println!(
        "One PUB to N SUBs over tcp://127.0.0.1, {MSG_SIZE} B messages: dhaga::mq against libzmq \
         {major}.{minor}.{patch}, median of {rounds} rounds of {:.1} s, {cpus} CPUs shared by all processes",
        window.as_secs_f64()
    );
    println!();

    let mut table = vec![vec![
        "test".to_owned(),
        "dhaga".to_owned(),
        "libzmq".to_owned(),
        "dhaga÷libzmq".to_owned(),
    ]];
    // The widest spread of a cell's rounds, (max - min) / median.
    let mut widest = 0.0f64;
    for (f, subscribers) in FAN_OUTS.iter().enumerate() {
        for (name, metric) in METRICS {
            let mut row = vec![format!("{subscribers} SUB {name}")];
            let mut medians = Vec::new();
            for outcomes in &results[f] {
                let values: Vec<f64> = outcomes.iter().map(metric).collect();
                let m = median(&values);
                if let Some(m) = m.filter(|&m| m > 0.0) {
                    let (lo, hi) = values
                        .iter()
                        .fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
                    widest = widest.max((hi - lo) / m);
                }
                row.push(m.map_or_else(|| "failed".to_owned(), |m| format!("{m:.0}")));
                medians.push(m);
            }
            row.push(match (medians[0], medians[1]) {
                (Some(d), Some(z)) if z > 0.0 => format!("{:.2}x", d / z),
                _ => "-".into(),
            });
            table.push(row);
        }
    }
    print_aligned(&table, 1);
    println!();
    println!("delivered: messages the subscribers received per second, summed over them; a PUB drops what a full");
    println!("  subscriber cannot take, so this is what arrives, not what is sent.");
    println!("published: the publisher's sends per second. publisher CPU: its process's user + system time per send,");
    println!("  and per message delivered to a subscriber.");
    println!("dhaga÷libzmq: above 1 is more for delivered and published, more CPU for publisher CPU.");
    println!(
        "spread: the rounds of a cell differed by up to {:.0}% of its median (other processes share the CPUs).",
        widest * 100.0
    );
}

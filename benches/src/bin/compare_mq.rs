//! dhaga's messaging against libzmq, side by side, in one run: libzmq's
//! perf tools (`local_thr`/`remote_thr`, `local_lat`/`remote_lat`) built on
//! each library, over TCP loopback, in every pairing.
//!
//! Run: `scripts/bench_mq.sh` (it builds what is needed), or
//! `cargo build --release --examples && cargo run --release -p dhaga-benches --features libzmq --bin compare_mq [-- --rounds N] [--only TEXT]`
//!
//! # What it measures
//!
//! - Throughput: `local_thr` (PULL, bound) receives what `remote_thr`
//!   (PUSH, connected) sends as fast as it can; `local_thr` reports
//!   messages per second and megabits per second, from its first message
//!   to its last. At 1 B, 64 B, 1 KiB and 64 KiB messages over tcp, and
//!   64 B to 64 KiB over ipc; and with CURVE (the tools' `--curve`, an
//!   addition of ours: the local side is the CURVE server, with libzmq's
//!   test keys) at 64 B and 64 KiB over tcp.
//! - Latency: `remote_lat` (REQ, connected) sends a 64 B request that
//!   `local_lat` (REP, bound) sends back, many times; `remote_lat` reports
//!   half the mean round trip.
//!
//! Each test runs four pairs, written `local/remote`: dhaga/dhaga,
//! libzmq/libzmq, and the two mixed ones — which also show that each side
//! speaks the other's protocol. dhaga's tools are the examples of the same
//! names; libzmq's are `zmq_local_thr` and the rest, line-for-line ports
//! of libzmq's through the `zmq` crate (the system's libzmq).
//!
//! # How it measures
//!
//! Every measurement is a fresh pair of processes on a fresh port: the
//! local side starts first, the remote side once the port is listening
//! (read from `/proc/net/tcp`; for ipc, once the socket file exists), so
//! the latency clock does not include a reconnect. [`ROUNDS`] rounds (or `--rounds N`) each run every test on
//! every pair, the pairs in an order that rotates from round to round so a
//! slow phase of the machine is shared out; the table shows each median.
//! Both processes share the machine's CPUs. A default run takes about two
//! minutes on two cores.
//!
//! Progress goes to stderr and the table to stdout.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use dhaga_benches::median;

/// Measured rounds unless `--rounds` says otherwise.
const ROUNDS: usize = 3;
/// The longest one measurement may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(60);
/// How long the local side may take to start listening.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// The libraries a perf tool can be built on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lib {
    Dhaga,
    Libzmq,
}

impl Lib {
    fn name(self) -> &'static str {
        match self {
            Lib::Dhaga => "dhaga",
            Lib::Libzmq => "libzmq",
        }
    }
}

/// One side of a measurement: which library runs the local (binding) tool,
/// which the remote (connecting) one.
#[derive(Clone, Copy, Debug)]
struct Pair {
    local: Lib,
    remote: Lib,
}

impl Pair {
    fn name(self) -> String {
        format!("{}/{}", self.local.name(), self.remote.name())
    }
}

/// The pairs, in the table's order: dhaga alone, libzmq alone, then mixed.
const PAIRS: [Pair; 4] = [
    Pair {
        local: Lib::Dhaga,
        remote: Lib::Dhaga,
    },
    Pair {
        local: Lib::Libzmq,
        remote: Lib::Libzmq,
    },
    Pair {
        local: Lib::Dhaga,
        remote: Lib::Libzmq,
    },
    Pair {
        local: Lib::Libzmq,
        remote: Lib::Dhaga,
    },
];

/// What one test measures.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `local_thr`/`remote_thr`: `count` messages.
    Throughput,
    /// `local_lat`/`remote_lat`: `count` round trips.
    Latency,
}

/// The transports measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Tcp,
    Ipc,
}

/// One test: a kind, a transport, a message size and how many messages or
/// round trips (chosen so that each measurement lasts about a second on
/// dhaga).
#[derive(Clone, Copy, Debug)]
struct Test {
    kind: Kind,
    transport: Transport,
    size: usize,
    count: u64,
    /// Whether the tools speak CURVE (`--curve`: the local side serves).
    curve: bool,
}

const fn test(kind: Kind, transport: Transport, size: usize, count: u64) -> Test {
    Test {
        kind,
        transport,
        size,
        count,
        curve: false,
    }
}

/// [`test()`] with CURVE.
const fn curve(kind: Kind, transport: Transport, size: usize, count: u64) -> Test {
    Test {
        curve: true,
        ..test(kind, transport, size, count)
    }
}

const TESTS: [Test; 11] = [
    test(Kind::Throughput, Transport::Tcp, 1, 2_000_000),
    test(Kind::Throughput, Transport::Tcp, 64, 1_000_000),
    test(Kind::Throughput, Transport::Tcp, 1024, 500_000),
    test(Kind::Throughput, Transport::Tcp, 64 * 1024, 10_000),
    test(Kind::Throughput, Transport::Ipc, 64, 1_000_000),
    test(Kind::Throughput, Transport::Ipc, 1024, 500_000),
    test(Kind::Throughput, Transport::Ipc, 64 * 1024, 10_000),
    test(Kind::Latency, Transport::Tcp, 64, 10_000),
    test(Kind::Latency, Transport::Ipc, 64, 10_000),
    curve(Kind::Throughput, Transport::Tcp, 64, 500_000),
    curve(Kind::Throughput, Transport::Tcp, 64 * 1024, 10_000),
];

impl Test {
    fn name(self) -> String {
        let size = match self.size {
            s if s >= 1024 && s % 1024 == 0 => format!("{} KiB", s / 1024),
            s => format!("{s} B"),
        };
        let transport = match self.transport {
            Transport::Tcp => "tcp",
            Transport::Ipc => "ipc",
        };
        let security = if self.curve { " CURVE" } else { "" };
        match self.kind {
            Kind::Throughput => format!("throughput {size} {transport}{security}"),
            Kind::Latency => format!("latency {size} {transport}{security}"),
        }
    }

    /// The (local, remote) tool names, as dhaga's examples call them.
    fn tools(self) -> (&'static str, &'static str) {
        match self.kind {
            Kind::Throughput => ("local_thr", "remote_thr"),
            Kind::Latency => ("local_lat", "remote_lat"),
        }
    }
}

/// What one measurement gave.
#[derive(Clone, Copy, Debug)]
enum Outcome {
    Throughput { msgs_per_sec: f64, megabits: f64 },
    Latency { micros: f64 },
}

/// Where each library's tools are.
struct Tools {
    /// `target/release/examples`: dhaga's (the examples).
    examples: PathBuf,
    /// `target/release`: libzmq's (`zmq_` and the tool's name).
    bins: PathBuf,
}

impl Tools {
    /// Finds the tools next to this program, or says how to build them.
    fn find() -> Result<Tools, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
        let bins = exe.parent().ok_or("this program's path has no parent")?.to_path_buf();
        let tools = Tools {
            examples: bins.join("examples"),
            bins,
        };
        for test in TESTS {
            let (local, remote) = test.tools();
            for tool in [local, remote] {
                for lib in [Lib::Dhaga, Lib::Libzmq] {
                    let path = tools.path(lib, tool);
                    if !path.is_file() {
                        return Err(format!(
                            "{} is missing: build the tools first with scripts/bench_mq.sh, or \
                             `cargo build --release --examples && cargo build --release -p dhaga-benches --bins`",
                            path.display()
                        ));
                    }
                }
            }
        }
        Ok(tools)
    }

    fn path(&self, lib: Lib, tool: &str) -> PathBuf {
        match lib {
            Lib::Dhaga => self.examples.join(tool),
            Lib::Libzmq => self.bins.join(format!("zmq_{tool}")),
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("compare_mq: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let Args { rounds, only } = parse_args()?;
    let chosen = |test: &Test| only.as_ref().is_none_or(|text| test.name().contains(text.as_str()));
    let tools = Tools::find()?;
    let started = Instant::now();

    // results[test][pair]: one value per round that succeeded.
    let mut results: Vec<Vec<Vec<Outcome>>> = vec![vec![Vec::new(); PAIRS.len()]; TESTS.len()];
    for round in 0..rounds {
        for (t, test) in TESTS.iter().enumerate().filter(|(_, test)| chosen(test)) {
            for i in 0..PAIRS.len() {
                // Rotate the pairs' order from round to round.
                let p = (i + round) % PAIRS.len();
                let pair = PAIRS[p];
                eprint!(
                    "[round {}/{rounds}] {} {:<14} ... ",
                    round + 1,
                    test.name(),
                    pair.name()
                );
                match measure(&tools, *test, pair) {
                    Ok(outcome) => {
                        eprintln!("{}", describe(outcome));
                        results[t][p].push(outcome);
                    }
                    Err(e) => eprintln!("failed: {e}"),
                }
            }
        }
    }
    eprintln!("done in {:.0} s", started.elapsed().as_secs_f64());
    print_table(&results, rounds, &chosen);
    Ok(())
}

/// The command line: `--rounds N` (default [`ROUNDS`]) and `--only TEXT`
/// (the tests whose name contains it, e.g. `CURVE`; default all).
struct Args {
    rounds: usize,
    only: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        rounds: ROUNDS,
        only: None,
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        let value = words.next();
        match (word.as_str(), value) {
            ("--rounds", Some(n)) => {
                args.rounds = n
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("--rounds wants a positive number, not {n:?}"))?;
            }
            ("--only", Some(text)) => args.only = Some(text),
            _ => return Err("usage: compare_mq [--rounds N] [--only TEXT]".into()),
        }
    }
    Ok(args)
}

/// Runs one test on one pair: the local tool, then, once it listens, the
/// remote one; returns what the reporting side printed.
fn measure(tools: &Tools, test: Test, pair: Pair) -> Result<Outcome, String> {
    let (local_tool, remote_tool) = test.tools();
    let (endpoint, listening): (String, Box<dyn Fn() -> Result<(), String>>) = match test.transport {
        Transport::Tcp => {
            let port = free_port()?;
            (
                format!("tcp://127.0.0.1:{port}"),
                Box::new(move || wait_listening(port, LISTEN_TIMEOUT)),
            )
        }
        Transport::Ipc => {
            let path = ipc_path();
            let endpoint = format!("ipc://{}", path.display());
            (endpoint, Box::new(move || wait_socket_file(&path, LISTEN_TIMEOUT)))
        }
    };
    let mut args = vec![endpoint, test.size.to_string(), test.count.to_string()];
    if test.curve {
        args.push("--curve".to_owned());
    }
    let local = Process::start(&tools.path(pair.local, local_tool), &args)?;
    listening()?;
    let remote = Process::start(&tools.path(pair.remote, remote_tool), &args)?;

    let deadline = Instant::now() + TIMEOUT;
    let remote_out = remote.finish(deadline).map_err(|e| format!("{remote_tool}: {e}"))?;
    let local_out = local.finish(deadline).map_err(|e| format!("{local_tool}: {e}"))?;
    match test.kind {
        Kind::Throughput => {
            let msgs_per_sec = field(&local_out, "mean throughput: ", " [msg/s]")?;
            let megabits = field(&local_out, "mean throughput: ", " [Mb/s]")?;
            Ok(Outcome::Throughput { msgs_per_sec, megabits })
        }
        Kind::Latency => Ok(Outcome::Latency {
            micros: field(&remote_out, "average latency: ", " [us]")?,
        }),
    }
}

/// A tool's process, its output collected as it runs.
struct Process {
    child: Child,
    /// The thread reading stdout; `None` once joined.
    stdout: Option<thread::JoinHandle<String>>,
}

impl Process {
    fn start(exe: &Path, args: &[String]) -> Result<Process, String> {
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let mut pipe = child.stdout.take().expect("stdout is piped");
        let stdout = thread::spawn(move || {
            let mut out = String::new();
            let _ = pipe.read_to_string(&mut out);
            out
        });
        Ok(Process {
            child,
            stdout: Some(stdout),
        })
    }

    /// Waits for the process to exit (killing it at `deadline`) and
    /// returns its output if it succeeded.
    fn finish(mut self, deadline: Instant) -> Result<String, String> {
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err(format!("no result within {} s", TIMEOUT.as_secs()));
                }
                Ok(None) => thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(e.to_string()),
            }
        };
        let out = self.stdout.take().and_then(|t| t.join().ok()).unwrap_or_default();
        if status.success() {
            Ok(out)
        } else {
            Err(format!("{status}: {}", out.trim()))
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Only a process not waited for yet (an error on the other side).
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The number between `prefix` and `suffix` on the line that has both.
fn field(output: &str, prefix: &str, suffix: &str) -> Result<f64, String> {
    output
        .lines()
        .find_map(|line| line.strip_prefix(prefix)?.strip_suffix(suffix)?.trim().parse().ok())
        .ok_or_else(|| format!("no `{prefix}…{suffix}` line in {:?}", output.trim()))
}

/// A port of 127.0.0.1 that is free now: bound, read and released. Another
/// process could take it before the tool binds it; unlikely, and then the
/// measurement fails and says so.
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("cannot find a free local port: {e}"))
}

/// Waits until a socket listens on `port` of 127.0.0.1, as `/proc/net/tcp`
/// shows (Linux); elsewhere, waits a fixed 200 ms.
fn wait_listening(port: u16, timeout: Duration) -> Result<(), String> {
    // Lines read "  0: 0100007F:15B3 00000000:0000 0A ...": local address
    // (hex, host byte order for the address, big-endian port) and state
    // (0A is LISTEN).
    let wanted = format!("0100007F:{port:04X}");
    let deadline = Instant::now() + timeout;
    loop {
        let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
            thread::sleep(Duration::from_millis(200));
            return Ok(());
        };
        let listening = table.lines().skip(1).any(|line| {
            let mut columns = line.split_whitespace().skip(1);
            columns.next() == Some(wanted.as_str()) && columns.nth(1) == Some("0A")
        });
        if listening {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("nothing listens on port {port} after {} s", timeout.as_secs()));
        }
        thread::sleep(Duration::from_millis(2));
    }
}

/// A fresh socket path for an ipc measurement.
fn ipc_path() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("dhaga-compare-mq-{}-{n}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Waits until the local tool has bound the Unix socket `path` (the file
/// appears at `bind`, which both libraries do before they listen; a
/// connection that comes between the two is retried by the remote tool).
fn wait_socket_file(path: &Path, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if path.exists() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "nothing listens at {} after {} s",
                path.display(),
                timeout.as_secs()
            ));
        }
        thread::sleep(Duration::from_millis(2));
    }
}

fn describe(outcome: Outcome) -> String {
    match outcome {
        Outcome::Throughput { msgs_per_sec, megabits } => format!("{msgs_per_sec:.0} msg/s, {megabits:.1} Mb/s"),
        Outcome::Latency { micros } => format!("{micros:.3} us"),
    }
}

/// A row of the table: one quantity of a test's outcomes.
#[derive(Clone, Copy, Debug)]
enum Unit {
    MsgsPerSec,
    Megabits,
    Micros,
}

impl Unit {
    /// The rows a test of this kind has.
    fn rows(kind: Kind) -> &'static [Unit] {
        match kind {
            Kind::Throughput => &[Unit::MsgsPerSec, Unit::Megabits],
            Kind::Latency => &[Unit::Micros],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Unit::MsgsPerSec => "msg/s",
            Unit::Megabits => "Mb/s",
            Unit::Micros => "us",
        }
    }

    /// This quantity of `outcome`, if it has it.
    fn of(self, outcome: Outcome) -> Option<f64> {
        match (self, outcome) {
            (Unit::MsgsPerSec, Outcome::Throughput { msgs_per_sec, .. }) => Some(msgs_per_sec),
            (Unit::Megabits, Outcome::Throughput { megabits, .. }) => Some(megabits),
            (Unit::Micros, Outcome::Latency { micros }) => Some(micros),
            _ => None,
        }
    }

    fn format(self, value: f64) -> String {
        match self {
            Unit::MsgsPerSec => format!("{value:.0}"),
            Unit::Megabits => format!("{value:.1}"),
            Unit::Micros => format!("{value:.2}"),
        }
    }
}

/// One row per test and unit: each pair's median, then dhaga/dhaga divided
/// by libzmq/libzmq; then how much the rounds varied.
fn print_table(results: &[Vec<Vec<Outcome>>], rounds: usize, chosen: &dyn Fn(&Test) -> bool) {
    let (major, minor, patch) = zmq::version();
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    println!();
    println!(
        "dhaga::mq against libzmq {major}.{minor}.{patch}: libzmq's perf tools over tcp://127.0.0.1 and ipc, \
         median of {rounds} rounds, {cpus} CPUs shared by both sides"
    );
    println!();
    print!("{:<28}", "test");
    for pair in PAIRS {
        print!("{:>15}", pair.name());
    }
    println!("{:>16}", "dhaga÷libzmq");

    // The widest spread of a cell's rounds, (max - min) / median.
    let mut widest = 0.0f64;
    for (t, test) in TESTS.iter().enumerate().filter(|(_, test)| chosen(test)) {
        for &unit in Unit::rows(test.kind) {
            let values: Vec<Vec<f64>> = results[t]
                .iter()
                .map(|outcomes| outcomes.iter().filter_map(|&o| unit.of(o)).collect())
                .collect();
            let medians: Vec<Option<f64>> = values.iter().map(|v| median(v)).collect();
            for (v, m) in values.iter().zip(&medians) {
                if let Some(m) = m.filter(|&m| m > 0.0) {
                    let (lo, hi) = v
                        .iter()
                        .fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
                    widest = widest.max((hi - lo) / m);
                }
            }
            print!("{:<28}", format!("{} [{}]", test.name(), unit.name()));
            for m in &medians {
                let cell = m.map_or_else(|| "failed".to_owned(), |v| unit.format(v));
                print!("{cell:>15}");
            }
            let ratio = match (medians[0], medians[1]) {
                (Some(d), Some(z)) if z > 0.0 => format!("{:.2}x", d / z),
                _ => "-".into(),
            };
            println!("{ratio:>16}");
        }
    }
    println!();
    println!("local/remote: the library of the bound side (PULL, REP) / of the connecting side (PUSH, REQ).");
    println!("dhaga÷libzmq: dhaga/dhaga over libzmq/libzmq; above 1 is faster for throughput, slower for latency.");
    println!("latency: one way, half the mean round trip, as libzmq's remote_lat reports it.");
    println!(
        "spread: the rounds of a cell differed by up to {:.0}% of its median (other processes share the CPUs).",
        widest * 100.0
    );
}

//! dhaga's messaging against libzmq, side by side, in one run: libzmq's
//! perf tools (`local_thr`/`remote_thr`, `local_lat`/`remote_lat`) built on
//! each library, over TCP loopback, in every pairing.
//!
//! Run: `scripts/bench_mq.sh` (it builds what is needed), or
//! `cargo build --release --examples && cargo run --release -p dhaga-benches --features libzmq --bin compare_mq [-- --rounds N] [--only TEXT] [--no-pin]`
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
//! - CPU time: the user and system time of each process of the pair, read
//!   as it exits (`wait4`), over its whole life (start-up and connecting
//!   included, a small part of a measurement that lasts about a second),
//!   divided by the messages sent or the round trips made. The table shows
//!   it as `local+remote`, each side's median, beside the throughput or
//!   latency of the same runs: it is the figure noise moves least, and it
//!   shows speed bought with busy-polling.
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
//! the latency clock does not include a reconnect. [`ROUNDS`] rounds (or
//! `--rounds N`) each run every test on every pair, the pairs in an order
//! that rotates from round to round so a slow phase of the machine is
//! shared out; the table shows each median.
//!
//! The two processes never share a CPU (DESIGN.md, "Measuring"): the local
//! side runs on the first half of the CPUs this program may use, the remote
//! side on the rest, so that neither tool's threads compete with the
//! other's and each library sizes itself to its own half. `--no-pin` lets
//! both run everywhere, as does a machine with one CPU; the placement is
//! printed first and in the table's heading. A default run takes about two
//! minutes on two cores.
//!
//! Progress goes to stderr and the table to stdout.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use dhaga_benches::{allowed_cpus, cpu_list, halves, median, print_aligned, spawn_on, try_wait_with_cpu};

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

/// What the reporting side of one measurement printed.
#[derive(Clone, Copy, Debug)]
enum Outcome {
    Throughput { msgs_per_sec: f64, megabits: f64 },
    Latency { micros: f64 },
}

/// One measurement: its outcome, and the CPU time each process used.
#[derive(Clone, Copy, Debug)]
struct Measurement {
    outcome: Outcome,
    /// The local (binding) process's user + system time.
    local_cpu: Duration,
    /// The remote (connecting) process's.
    remote_cpu: Duration,
}

impl Measurement {
    /// Each side's CPU time per message or round trip of `test`, in µs:
    /// `[local, remote]`.
    fn cpu_micros_per_op(&self, test: Test) -> [f64; 2] {
        let per_op = |cpu: Duration| cpu.as_secs_f64() * 1e6 / test.count as f64;
        [per_op(self.local_cpu), per_op(self.remote_cpu)]
    }
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
    let Args { rounds, only, pin } = parse_args(std::env::args().skip(1))?;
    let chosen = |test: &Test| only.as_ref().is_none_or(|text| test.name().contains(text.as_str()));
    let tools = Tools::find()?;
    let placement = Placement::new(pin)?;
    eprintln!("compare_mq: {}", placement.describe());
    let started = Instant::now();

    // results[test][pair]: one measurement per round that succeeded.
    let mut results: Vec<Vec<Vec<Measurement>>> = vec![vec![Vec::new(); PAIRS.len()]; TESTS.len()];
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
                match measure(&tools, *test, pair, &placement) {
                    Ok(measurement) => {
                        eprintln!("{}", describe(*test, &measurement));
                        results[t][p].push(measurement);
                    }
                    Err(e) => eprintln!("failed: {e}"),
                }
            }
        }
    }
    eprintln!("done in {:.0} s", started.elapsed().as_secs_f64());
    print_table(&results, rounds, &placement, &chosen);
    Ok(())
}

/// The command line: `--rounds N` (default [`ROUNDS`]), `--only TEXT` (the
/// tests whose name contains it, e.g. `CURVE`; default all) and `--no-pin`
/// (both sides on all CPUs).
#[derive(Debug, PartialEq, Eq)]
struct Args {
    rounds: usize,
    only: Option<String>,
    pin: bool,
}

const USAGE: &str = "usage: compare_mq [--rounds N] [--only TEXT] [--no-pin]";

/// Reads the command line's `words` (the program's name left out).
fn parse_args(words: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        rounds: ROUNDS,
        only: None,
        pin: true,
    };
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "--no-pin" => args.pin = false,
            "--rounds" => {
                let n = words.next().ok_or(USAGE)?;
                args.rounds = n
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("--rounds wants a positive number, not {n:?}"))?;
            }
            "--only" => args.only = Some(words.next().ok_or(USAGE)?),
            _ => return Err(USAGE.into()),
        }
    }
    Ok(args)
}

/// Where the two processes of a pair run.
#[derive(Debug, PartialEq, Eq)]
struct Placement {
    /// The local (binding) side's CPUs; empty for all of them.
    local: Vec<usize>,
    /// The remote (connecting) side's; empty for all of them.
    remote: Vec<usize>,
}

impl Placement {
    /// The first half of the CPUs this process may use for the local side,
    /// the rest for the remote side; with `pin` off, or a single CPU, both
    /// everywhere.
    fn new(pin: bool) -> Result<Placement, String> {
        if !pin {
            return Ok(Placement::everywhere());
        }
        let cpus = allowed_cpus().map_err(|e| format!("cannot read this process's CPUs: {e}"))?;
        let (local, remote) = halves(&cpus);
        Ok(Placement { local, remote })
    }

    fn everywhere() -> Placement {
        Placement {
            local: Vec::new(),
            remote: Vec::new(),
        }
    }

    /// Says where the sides run, for the progress and the heading.
    fn describe(&self) -> String {
        if self.local.is_empty() {
            let all = thread::available_parallelism().map_or(1, |n| n.get());
            format!("local and remote sides share all {all} CPUs (unpinned)")
        } else {
            format!(
                "local side on {}, remote side on {} (pinned; --no-pin to share them)",
                cpu_list(&self.local),
                cpu_list(&self.remote)
            )
        }
    }
}

/// Runs one test on one pair: the local tool, then, once it listens, the
/// remote one; returns what the reporting side printed and the CPU time
/// both used.
fn measure(tools: &Tools, test: Test, pair: Pair, placement: &Placement) -> Result<Measurement, String> {
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
    let local = Process::start(&tools.path(pair.local, local_tool), &args, &placement.local)?;
    listening()?;
    let remote = Process::start(&tools.path(pair.remote, remote_tool), &args, &placement.remote)?;

    let deadline = Instant::now() + TIMEOUT;
    let (remote_out, remote_cpu) = remote.finish(deadline).map_err(|e| format!("{remote_tool}: {e}"))?;
    let (local_out, local_cpu) = local.finish(deadline).map_err(|e| format!("{local_tool}: {e}"))?;
    let outcome = match test.kind {
        Kind::Throughput => Outcome::Throughput {
            msgs_per_sec: field(&local_out, "mean throughput: ", " [msg/s]")?,
            megabits: field(&local_out, "mean throughput: ", " [Mb/s]")?,
        },
        Kind::Latency => Outcome::Latency {
            micros: field(&remote_out, "average latency: ", " [us]")?,
        },
    };
    Ok(Measurement {
        outcome,
        local_cpu,
        remote_cpu,
    })
}

/// A tool's process, its output collected as it runs.
struct Process {
    child: Child,
    /// The thread reading stdout; `None` once joined.
    stdout: Option<thread::JoinHandle<String>>,
    /// Whether the child has been waited for (its pid may then be reused:
    /// it must not be killed or waited for again).
    reaped: bool,
}

impl Process {
    /// Starts `exe` with `args` on the CPUs `cpus` (all if empty).
    fn start(exe: &Path, args: &[String], cpus: &[usize]) -> Result<Process, String> {
        let mut command = Command::new(exe);
        command.args(args).stdin(Stdio::null()).stdout(Stdio::piped());
        let mut child = spawn_on(&mut command, cpus).map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let mut pipe = child.stdout.take().expect("stdout is piped");
        let stdout = thread::spawn(move || {
            let mut out = String::new();
            let _ = pipe.read_to_string(&mut out);
            out
        });
        Ok(Process {
            child,
            stdout: Some(stdout),
            reaped: false,
        })
    }

    /// Waits for the process to exit (killing it at `deadline`) and
    /// returns its output and the CPU time it used if it succeeded.
    fn finish(mut self, deadline: Instant) -> Result<(String, Duration), String> {
        let exited = loop {
            match try_wait_with_cpu(&self.child) {
                Ok(Some(exited)) => break exited,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    self.reaped = true;
                    return Err(format!("no result within {} s", TIMEOUT.as_secs()));
                }
                Ok(None) => thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(e.to_string()),
            }
        };
        self.reaped = true;
        let out = self.stdout.take().and_then(|t| t.join().ok()).unwrap_or_default();
        if exited.status.success() {
            Ok((out, exited.cpu))
        } else {
            Err(format!("{}: {}", exited.status, out.trim()))
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Only a process not waited for yet (an error on the other side).
        if !self.reaped
            && let Ok(None) = self.child.try_wait()
        {
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

/// A measurement in a line of progress.
fn describe(test: Test, measurement: &Measurement) -> String {
    let [local, remote] = measurement.cpu_micros_per_op(test);
    let figure = match measurement.outcome {
        Outcome::Throughput { msgs_per_sec, megabits } => format!("{msgs_per_sec:.0} msg/s, {megabits:.1} Mb/s"),
        Outcome::Latency { micros } => format!("{micros:.3} us"),
    };
    let per = match test.kind {
        Kind::Throughput => "msg",
        Kind::Latency => "round trip",
    };
    format!("{figure}; CPU {}+{} us/{per}", format_cpu(local), format_cpu(remote))
}

/// A row of the table: one quantity of a test's measurements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Row {
    MsgsPerSec,
    Megabits,
    Micros,
    /// CPU µs per message or round trip, local and remote side.
    Cpu,
}

impl Row {
    /// The rows a test of this kind has.
    fn of_kind(kind: Kind) -> &'static [Row] {
        match kind {
            Kind::Throughput => &[Row::MsgsPerSec, Row::Megabits, Row::Cpu],
            Kind::Latency => &[Row::Micros, Row::Cpu],
        }
    }

    fn name(self, kind: Kind) -> &'static str {
        match (self, kind) {
            (Row::MsgsPerSec, _) => "msg/s",
            (Row::Megabits, _) => "Mb/s",
            (Row::Micros, _) => "us",
            (Row::Cpu, Kind::Throughput) => "CPU us/msg",
            (Row::Cpu, Kind::Latency) => "CPU us/trip",
        }
    }

    /// This quantity of `measurement`, of `test`: one value, or for
    /// [`Row::Cpu`] the local side's and the remote side's.
    fn of(self, test: Test, measurement: &Measurement) -> Vec<f64> {
        match (self, measurement.outcome) {
            (Row::MsgsPerSec, Outcome::Throughput { msgs_per_sec, .. }) => vec![msgs_per_sec],
            (Row::Megabits, Outcome::Throughput { megabits, .. }) => vec![megabits],
            (Row::Micros, Outcome::Latency { micros }) => vec![micros],
            (Row::Cpu, _) => measurement.cpu_micros_per_op(test).to_vec(),
            _ => Vec::new(),
        }
    }

    fn format(self, value: f64) -> String {
        match self {
            Row::MsgsPerSec => format!("{value:.0}"),
            Row::Megabits => format!("{value:.1}"),
            Row::Micros => format!("{value:.2}"),
            Row::Cpu => format_cpu(value),
        }
    }
}

/// CPU microseconds to three significant digits or so (0.412, 12.3, 157).
fn format_cpu(micros: f64) -> String {
    match micros {
        m if m < 10.0 => format!("{m:.3}"),
        m if m < 100.0 => format!("{m:.1}"),
        m => format!("{m:.0}"),
    }
}

/// One cell of the table: the median of each part of a quantity over the
/// rounds (`rounds[round][part]`), joined by `+`; `None` if no round
/// succeeded.
fn medians(rounds: &[Vec<f64>]) -> Option<Vec<f64>> {
    let parts = rounds.first()?.len();
    (0..parts)
        .map(|part| {
            median(
                &rounds
                    .iter()
                    .filter_map(|values| values.get(part).copied())
                    .collect::<Vec<_>>(),
            )
        })
        .collect()
}

/// How far a cell's rounds spread, (max - min) / median of their totals
/// (the sum of the parts); 0 without rounds.
fn spread(rounds: &[Vec<f64>]) -> f64 {
    let totals: Vec<f64> = rounds.iter().map(|values| values.iter().sum()).collect();
    match median(&totals) {
        Some(m) if m > 0.0 => {
            let (lo, hi) = totals
                .iter()
                .fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
            (hi - lo) / m
        }
        _ => 0.0,
    }
}

/// One row per test and quantity: each pair's median, then dhaga/dhaga
/// divided by libzmq/libzmq (of the sums, for CPU); then how much the
/// rounds varied.
fn print_table(
    results: &[Vec<Vec<Measurement>>],
    rounds: usize,
    placement: &Placement,
    chosen: &dyn Fn(&Test) -> bool,
) {
    let (major, minor, patch) = zmq::version();
    println!();
    println!(
        "dhaga::mq against libzmq {major}.{minor}.{patch}: libzmq's perf tools over tcp://127.0.0.1 and ipc, \
         median of {rounds} rounds;"
    );
    println!("{}", placement.describe());
    println!();
    let mut table = vec![
        std::iter::once("test".to_owned())
            .chain(PAIRS.iter().map(|pair| pair.name()))
            .chain(["dhaga÷libzmq".to_owned()])
            .collect::<Vec<_>>(),
    ];

    // The widest spread of a cell's rounds, of the main figures and of CPU.
    let (mut widest, mut widest_cpu) = (0.0f64, 0.0f64);
    for (t, test) in TESTS.iter().enumerate().filter(|(_, test)| chosen(test)) {
        for &row in Row::of_kind(test.kind) {
            // values[pair][round][part]
            let values: Vec<Vec<Vec<f64>>> = results[t]
                .iter()
                .map(|measurements| measurements.iter().map(|m| row.of(*test, m)).collect())
                .collect();
            let cells: Vec<Option<Vec<f64>>> = values.iter().map(|rounds| medians(rounds)).collect();
            let widest_here = values.iter().map(|rounds| spread(rounds)).fold(0.0, f64::max);
            match row {
                Row::Cpu => widest_cpu = widest_cpu.max(widest_here),
                _ => widest = widest.max(widest_here),
            }
            let mut line = vec![format!("{} [{}]", test.name(), row.name(test.kind))];
            line.extend(cells.iter().map(|cell| match cell {
                Some(parts) => parts.iter().map(|&v| row.format(v)).collect::<Vec<_>>().join("+"),
                None => "failed".to_owned(),
            }));
            let total = |cell: &Option<Vec<f64>>| cell.as_ref().map(|parts| parts.iter().sum::<f64>());
            line.push(match (total(&cells[0]), total(&cells[1])) {
                (Some(d), Some(z)) if z > 0.0 => format!("{:.2}x", d / z),
                _ => "-".into(),
            });
            table.push(line);
        }
    }
    print_aligned(&table, 1);
    println!();
    println!("local/remote: the library of the bound side (PULL, REP) / of the connecting side (PUSH, REQ).");
    println!("dhaga÷libzmq: dhaga/dhaga over libzmq/libzmq; above 1 is faster for throughput, slower for latency,");
    println!("  more CPU for CPU (local+remote summed).");
    println!("latency: one way, half the mean round trip, as libzmq's remote_lat reports it.");
    println!("CPU: user+system time of each whole process, per message sent or per round trip, shown local+remote");
    println!("  (the median of each side).");
    println!(
        "spread: the rounds of a cell differed by up to {:.0}% of its median, {:.0}% for CPU \
         (other processes share the CPUs).",
        widest * 100.0,
        widest_cpu * 100.0
    );
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Args, Kind, Measurement, Outcome, ROUNDS, TESTS, field, format_cpu, medians, parse_args, spread};

    fn args(line: &str) -> Result<Args, String> {
        parse_args(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn parses_the_command_line() {
        assert_eq!(
            args(""),
            Ok(Args {
                rounds: ROUNDS,
                only: None,
                pin: true
            })
        );
        assert_eq!(
            args("--no-pin --rounds 5 --only CURVE"),
            Ok(Args {
                rounds: 5,
                only: Some("CURVE".into()),
                pin: false
            })
        );
        assert!(args("--rounds 0").is_err());
        assert!(args("--rounds").is_err());
        assert!(args("--only").is_err());
        assert!(args("--pin").is_err());
    }

    #[test]
    fn reads_the_tools_output() {
        let out = "message size: 64 [B]\nmean throughput: 1234567 [msg/s]\nmean throughput: 632.099 [Mb/s]\n";
        assert_eq!(field(out, "mean throughput: ", " [msg/s]"), Ok(1_234_567.0));
        assert_eq!(field(out, "mean throughput: ", " [Mb/s]"), Ok(632.099));
        assert!(field(out, "average latency: ", " [us]").is_err());
    }

    #[test]
    fn cpu_per_operation_of_each_side() {
        let test = TESTS.iter().find(|t| matches!(t.kind, Kind::Latency)).copied().unwrap();
        let measurement = Measurement {
            outcome: Outcome::Latency { micros: 10.0 },
            local_cpu: Duration::from_millis(300),
            remote_cpu: Duration::from_millis(100),
        };
        let [local, remote] = measurement.cpu_micros_per_op(test);
        let count = test.count as f64;
        assert!((local - 300_000.0 / count).abs() < 1e-9);
        assert!((remote - 100_000.0 / count).abs() < 1e-9);
    }

    #[test]
    fn cells_are_medians_of_each_part() {
        let rounds = vec![vec![1.0, 10.0], vec![3.0, 30.0], vec![2.0, 50.0]];
        assert_eq!(medians(&rounds), Some(vec![2.0, 30.0]));
        assert_eq!(medians(&[]), None);
        // Totals 11, 33, 52: (52 - 11) / 33.
        assert!((spread(&rounds) - 41.0 / 33.0).abs() < 1e-9);
        assert_eq!(spread(&[]), 0.0);
    }

    #[test]
    fn cpu_figures_keep_about_three_digits() {
        assert_eq!(format_cpu(0.41234), "0.412");
        assert_eq!(format_cpu(12.345), "12.3");
        assert_eq!(format_cpu(157.4), "157");
    }
}

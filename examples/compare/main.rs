//! Micro-threads against OS threads: the same echo server, the same load,
//! side by side, measured fairly.
//!
//! Run: `cargo build --release --examples && target/release/examples/compare [options]`
//!
//! The `echo` example is one blocking `handle` function per connection; its
//! `--threads` flag runs that function on an OS thread per connection instead
//! of a micro-thread. This program starts `echo` in each mode and loads both
//! with `echo_load` at 10, 100, 1,000 and 5,000 connections, each doing
//! 64-byte round trips as fast as it can, all connections opened at once.
//!
//! How it measures (see "Measuring" in the design notes):
//! - **Separate CPUs.** The servers run on half of the CPUs this process may
//!   use, the load generator on the other half (on a 2-CPU machine, one
//!   each), as a server and its clients on two machines would. Shared, the
//!   5,000 threads of the threaded server outcompete the load generator for
//!   the CPUs, and the figure measures the kernel's scheduler.
//! - **Interleaved rounds, medians.** Every cell is measured in several
//!   rounds (3 by default), the servers taking turns within each round, in
//!   a different order each round; the table shows each column's median. A
//!   machine that drifts (another job, a warm-up) then moves both sides.
//! - **CPU per round trip.** Beside round trips per second: the server's
//!   CPU time (user and system, from `/proc/<pid>/stat`) in the measured
//!   window divided by the round trips in it. It is the figure that noise
//!   moves least, and it shows speed bought by spending more CPU.
//! - Also p99 latency, the server's peak resident memory (`VmHWM`, reset
//!   before each step) and OS threads, and connects that failed or took
//!   over a second (a SYN the listen backlog dropped waits a second for its
//!   retransmission).
//!
//! Options:
//! - `--peers`: the same server written for tokio and for may (`echo_tokio`,
//!   `echo_may`, built by `cargo build --release -p dhaga-benches --bins`)
//!   in the same table;
//! - `--rounds N` (default 3) and `--seconds N` (per step, default 3);
//! - `--no-pin`: let servers and load generator share every CPU;
//! - `--csv FILE`: every measurement and the medians, for plotting;
//! - `--chart FILE`: an SVG picture of round trips/s and CPU per round trip
//!   against connections, one line per server.
//!
//! Progress goes to stderr; the tables go to stdout. The programs it runs
//! are found next to its own executable, which is why the examples must be
//! built first.

mod chart;
mod cpus;
#[path = "../common/open_files.rs"]
mod open_files;

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use cpus::Peak;

/// The connection counts of the cells, in the order they run.
const CONNECTIONS: [usize; 4] = [10, 100, 1000, 5000];
/// The size of each message, echoed back whole.
const MESSAGE_SIZE: usize = 64;
/// A short load of each server before the first cell, not measured.
const WARM_UP_SECONDS: u64 = 1;
/// How often a server's memory and threads are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// File descriptors needed besides one per connection (stdio, pollers, ...).
const SPARE_FDS: u64 = 64;
/// The peers `--peers` adds, built by `cargo build --release -p dhaga-benches --bins`.
const PEERS: [(&str, &str); 2] = [("tokio", "echo_tokio"), ("may", "echo_may")];

/// The command line.
struct Options {
    rounds: usize,
    seconds: u64,
    pin: bool,
    peers: bool,
    csv: Option<PathBuf>,
    chart: Option<PathBuf>,
}

impl Options {
    /// Parses the command line, without the program's name; `None` if it
    /// asks for `--help`.
    fn parse(args: impl IntoIterator<Item = impl Into<OsString>>) -> Result<Option<Options>, lexopt::Error> {
        use lexopt::prelude::*;
        let mut options = Options {
            rounds: 3,
            seconds: 3,
            pin: true,
            peers: false,
            csv: None,
            chart: None,
        };
        let mut parser = lexopt::Parser::from_args(args);
        while let Some(arg) = parser.next()? {
            match arg {
                Long("peers") => options.peers = true,
                Long("no-pin") => options.pin = false,
                Long("rounds") => options.rounds = positive("--rounds", parser.value()?)?,
                Long("seconds") => options.seconds = positive("--seconds", parser.value()?)? as u64,
                Long("csv") => options.csv = Some(parser.value()?.into()),
                Long("chart") => options.chart = Some(parser.value()?.into()),
                Short('h') | Long("help") => return Ok(None),
                _ => return Err(arg.unexpected()),
            }
        }
        Ok(Some(options))
    }
}

/// `value` as a whole number above zero.
fn positive(name: &str, value: OsString) -> Result<usize, lexopt::Error> {
    match value.to_str().and_then(|text| text.parse().ok()) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(format!("{name} takes a whole number above zero, not {value:?}").into()),
    }
}

const USAGE: &str = "usage: compare [--peers] [--rounds N] [--seconds N] [--no-pin] [--csv FILE] [--chart FILE]";

/// What `--help` prints after [`USAGE`].
const HELP: &str = "
Starts the `echo` example on micro-threads and on OS threads, loads each
with `echo_load` at 10, 100, 1,000 and 5,000 connections, and prints the
medians side by side. Build the examples first (cargo build --release
--examples); progress goes to stderr, the tables to stdout.

  --peers        also the same server on tokio and may (echo_tokio, echo_may:
                 cargo build --release -p dhaga-benches --bins)
  --rounds N     interleaved rounds per cell, the median shown (default 3)
  --seconds N    seconds per step (default 3)
  --no-pin       servers and load generator share every CPU (by default each
                 has half of them)
  --csv FILE     write every measurement and the medians as CSV
  --chart FILE   write an SVG chart of round trips/s and CPU per round trip
  -h, --help     print this help";

/// One of the servers compared.
struct Contender {
    /// Its name in the tables.
    name: &'static str,
    exe: PathBuf,
    flags: &'static [&'static str],
}

/// A running echo server. Dropping it kills the process.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// Starts `contender` on a free local port on the CPUs `cpus` (any if
    /// empty), and waits until it listens.
    fn start(contender: &Contender, cpus: &[usize]) -> Result<Server, String> {
        let addr = free_local_addr()?;
        let mut command = Command::new(&contender.exe);
        command
            .arg(addr.to_string())
            .args(contender.flags)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let child =
            cpus::spawn_on(&mut command, cpus).map_err(|e| format!("cannot start {}: {e}", contender.exe.display()))?;
        let mut server = Server { child, addr };
        // Each server prints "listening on <addr> ..." once it has bound.
        let stdout = server.child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("reading from {}: {e}", contender.name))?;
        if !line.starts_with("listening on") {
            return Err(format!(
                "{} did not start (its first line was {:?})",
                contender.name,
                line.trim_end()
            ));
        }
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `echo_load` reported: its result line (see `echo_load.rs`).
#[derive(Clone, Copy, Debug, Default)]
struct Load {
    round_trips_per_sec: f64,
    p99_us: f64,
    errors: usize,
    round_trips: u64,
    connect_failures: usize,
    slow_connects: usize,
    connect_max_ms: f64,
}

impl Load {
    fn parse(line: &str) -> Option<Load> {
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        };
        Some(Load {
            round_trips_per_sec: field("round_trips_per_sec")?.parse().ok()?,
            p99_us: field("p99_us")?.parse().ok()?,
            errors: field("errors")?.parse().ok()?,
            round_trips: field("round_trips")?.parse().ok()?,
            connect_failures: field("connect_failures")?.parse().ok()?,
            slow_connects: field("slow_connects")?.parse().ok()?,
            connect_max_ms: field("connect_max_ms")?.parse().ok()?,
        })
    }
}

/// One measured step: one server, one connection count, one round.
#[derive(Clone, Copy, Debug)]
struct Step {
    load: Load,
    /// The server's CPU time per round trip in the measured window, in µs.
    cpu_us: f64,
    peak: Peak,
}

/// Samples a process's [`Peak`] every [`SAMPLE_EVERY`] on a thread of its
/// own, until stopped.
struct Sampler {
    stop: mpsc::Sender<()>,
    thread: thread::JoinHandle<Peak>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::spawn(move || {
            let mut peak = Peak::read(pid);
            // Nothing is ever sent: dropping the sender is the stop signal.
            while stopped.recv_timeout(SAMPLE_EVERY) == Err(RecvTimeoutError::Timeout) {
                peak = peak.max(Peak::read(pid));
            }
            peak.max(Peak::read(pid))
        });
        Sampler { stop, thread }
    }

    fn stop(self) -> Peak {
        drop(self.stop);
        self.thread.join().unwrap_or_default()
    }
}

/// Where the servers and the load generator run.
struct Placement {
    server: Vec<usize>,
    load: Vec<usize>,
}

impl Placement {
    /// Half of the CPUs this process may use for the servers (the first
    /// ones, at least one), the rest for the load generator; with `pin`
    /// off, or a single CPU, both everywhere.
    fn new(pin: bool) -> Result<Placement, String> {
        let cpus = cpus::allowed().map_err(|e| format!("cannot read this process's CPUs: {e}"))?;
        if !pin || cpus.len() < 2 {
            return Ok(Placement {
                server: Vec::new(),
                load: Vec::new(),
            });
        }
        let (server, load) = cpus.split_at(cpus.len() / 2);
        Ok(Placement {
            server: server.to_vec(),
            load: load.to_vec(),
        })
    }

    /// Says where things run, for the header.
    fn describe(&self) -> String {
        let all = thread::available_parallelism().map_or(1, |n| n.get());
        if self.server.is_empty() {
            format!("servers and load generator share all {all} CPUs (unpinned)")
        } else {
            format!(
                "servers on {}, load generator on {} (pinned; --no-pin to share them)",
                cpu_list(&self.server),
                cpu_list(&self.load)
            )
        }
    }
}

/// "CPU 0" or "CPUs 0-3".
fn cpu_list(cpus: &[usize]) -> String {
    match cpus {
        [one] => format!("CPU {one}"),
        [first, .., last] if last - first + 1 == cpus.len() => format!("CPUs {first}-{last}"),
        _ => format!(
            "CPUs {}",
            cpus.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
        ),
    }
}

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args_os().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}\n{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("compare: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("compare: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Measures every cell in interleaved rounds, then prints the tables and
/// writes the files asked for.
fn run(options: &Options) -> Result<(), String> {
    let echo = sibling_executable("echo")?;
    let echo_load = sibling_executable("echo_load")?;
    let mut contenders = vec![
        Contender {
            name: "micro-threads",
            exe: echo.clone(),
            flags: &[],
        },
        Contender {
            name: "threads",
            exe: echo,
            flags: &["--threads"],
        },
    ];
    if options.peers {
        for (name, exe) in PEERS {
            contenders.push(Contender {
                name,
                exe: peer_executable(exe)?,
                flags: &[],
            });
        }
    }
    // The servers and the load generator inherit the raised limit.
    open_files::raise(CONNECTIONS.into_iter().max().unwrap_or(0) as u64 + SPARE_FDS)?;
    let placement = Placement::new(options.pin)?;
    eprintln!("compare: {}", placement.describe());

    // Every server runs for the whole comparison, idle while another is
    // measured; each is warmed up once.
    let servers: Vec<Server> = contenders
        .iter()
        .map(|c| Server::start(c, &placement.server))
        .collect::<Result<_, _>>()?;
    for (contender, server) in contenders.iter().zip(&servers) {
        eprintln!("{} on {}, pid {}", contender.name, server.addr, server.pid());
        if let Err(e) = measure(&echo_load, server, CONNECTIONS[0], WARM_UP_SECONDS, &placement) {
            eprintln!("{}: warm-up failed: {e}", contender.name);
        }
    }

    // steps[server][cell][round]
    let mut steps: Vec<Vec<Vec<Option<Step>>>> = vec![vec![Vec::new(); CONNECTIONS.len()]; contenders.len()];
    let total = contenders.len() * CONNECTIONS.len() * options.rounds;
    let mut done = 0;
    for (cell, &connections) in CONNECTIONS.iter().enumerate() {
        for round in 0..options.rounds {
            // A different server goes first in each round.
            for k in 0..contenders.len() {
                let s = (round + k) % contenders.len();
                done += 1;
                eprint!(
                    "[{done}/{total}] {connections} connections, round {}/{}, {} ... ",
                    round + 1,
                    options.rounds,
                    contenders[s].name
                );
                let step = measure(&echo_load, &servers[s], connections, options.seconds, &placement);
                match &step {
                    Ok(step) => eprintln!(
                        "{:.0} round trips/s, p99 {:.0} µs, {:.2} µs CPU each",
                        step.load.round_trips_per_sec, step.load.p99_us, step.cpu_us
                    ),
                    Err(e) => eprintln!("failed: {e}"),
                }
                steps[s][cell].push(step.ok());
            }
        }
    }
    drop(servers);

    let medians: Vec<Vec<Option<Median>>> = steps
        .iter()
        .map(|cells| cells.iter().map(|rounds| Median::of(rounds)).collect())
        .collect();
    let names: Vec<&str> = contenders.iter().map(|c| c.name).collect();
    let heading = format!(
        "echo server, {MESSAGE_SIZE}-byte round trips, {} s per step, median of {} interleaved rounds",
        options.seconds, options.rounds
    );
    print!("{}", main_table(&heading, &placement, &names, &medians));
    if options.peers {
        print!("{}", peers_table(&names, &medians));
    }
    if let Some(path) = &options.csv {
        std::fs::write(path, csv(&names, &steps, &medians))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("compare: wrote {}", path.display());
    }
    if let Some(path) = &options.chart {
        let subtitle = [heading.clone(), placement.describe()];
        std::fs::write(path, picture(&subtitle, &names, &medians))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("compare: wrote {}", path.display());
    }
    Ok(())
}

/// Loads `server` with `connections` connections for `seconds`, opened all
/// at once, from the load generator's CPUs; measures the server's CPU time
/// in the window and its peak memory and threads.
fn measure(
    echo_load: &Path,
    server: &Server,
    connections: usize,
    seconds: u64,
    placement: &Placement,
) -> Result<Step, String> {
    let pid = server.pid();
    // Best effort: without it the peak is the process's so far.
    let _ = cpus::reset_peak_rss(pid);
    let sampler = Sampler::start(pid);
    let load = run_load(echo_load, server.addr, connections, seconds, &placement.load, pid);
    let peak = sampler.stop();
    let (load, cpu) = load?;
    let cpu_us = if load.round_trips > 0 {
        cpu.as_secs_f64() * 1e6 / load.round_trips as f64
    } else {
        f64::NAN
    };
    Ok(Step { load, cpu_us, peak })
}

/// Runs `echo_load` once on `cpus`, reading its progress lines as they come:
/// the server's (`server_pid`) CPU time is read when the window starts and
/// when it ends. Returns the result line and that CPU time.
fn run_load(
    echo_load: &Path,
    addr: SocketAddr,
    connections: usize,
    seconds: u64,
    cpus: &[usize],
    server_pid: u32,
) -> Result<(Load, Duration), String> {
    let mut command = Command::new(echo_load);
    command
        .args([
            addr.to_string(),
            connections.to_string(),
            seconds.to_string(),
            MESSAGE_SIZE.to_string(),
            "--burst".into(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child =
        cpus::spawn_on(&mut command, cpus).map_err(|e| format!("cannot run {}: {e}", echo_load.display()))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let (mut started, mut ended, mut result) = (None, None, None);
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| format!("reading from echo_load: {e}"))?;
        match line.as_str() {
            "window started" => started = cpus::cpu_time(server_pid),
            "window ended" => ended = cpus::cpu_time(server_pid),
            _ if line.starts_with("round_trips_per_sec=") => result = Some(line),
            _ => {}
        }
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("waiting for echo_load: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("echo_load {}: {}", output.status, stderr.trim()));
    }
    let result = result.ok_or("echo_load printed no result line")?;
    let load = Load::parse(&result).ok_or_else(|| format!("cannot read echo_load's result from {result:?}"))?;
    let cpu = match (started, ended) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => return Err(format!("cannot read the server's CPU time (/proc/{server_pid}/stat)")),
    };
    Ok((load, cpu))
}

/// The medians of a cell's rounds, column by column; connect problems are
/// summed over the rounds (the slowest connect is the slowest of all).
#[derive(Clone, Copy, Debug)]
struct Median {
    round_trips_per_sec: f64,
    p99_us: f64,
    cpu_us: f64,
    rss_kib: u64,
    os_threads: u64,
    /// Rounds that gave a result.
    rounds: usize,
    /// Connections that did not open, over all rounds.
    connect_failures: usize,
    /// Connects that took over a second, over all rounds.
    slow_connects: usize,
    connect_max_ms: f64,
    /// Round trips that failed in the window, over all rounds.
    errors: usize,
}

impl Median {
    fn of(rounds: &[Option<Step>]) -> Option<Median> {
        let steps: Vec<Step> = rounds.iter().flatten().copied().collect();
        if steps.is_empty() {
            return None;
        }
        let median = |value: fn(&Step) -> f64| {
            let mut values: Vec<f64> = steps.iter().map(value).collect();
            values.sort_by(f64::total_cmp);
            let mid = values.len() / 2;
            if values.len() % 2 == 1 {
                values[mid]
            } else {
                (values[mid - 1] + values[mid]) / 2.0
            }
        };
        Some(Median {
            round_trips_per_sec: median(|s| s.load.round_trips_per_sec),
            p99_us: median(|s| s.load.p99_us),
            cpu_us: median(|s| s.cpu_us),
            rss_kib: median(|s| s.peak.rss_kib as f64) as u64,
            os_threads: median(|s| s.peak.os_threads as f64) as u64,
            rounds: steps.len(),
            connect_failures: steps.iter().map(|s| s.load.connect_failures).sum(),
            slow_connects: steps.iter().map(|s| s.load.slow_connects).sum(),
            connect_max_ms: steps.iter().map(|s| s.load.connect_max_ms).fold(0.0, f64::max),
            errors: steps
                .iter()
                .map(|s| s.load.errors.saturating_sub(s.load.connect_failures))
                .sum(),
        })
    }
}

/// The main table: micro-threads and threads side by side, and their
/// ratios; below it, what went wrong.
fn main_table(heading: &str, placement: &Placement, names: &[&str], medians: &[Vec<Option<Median>>]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n{heading}");
    let _ = writeln!(out, "{}\n", placement.describe());
    let group = |name: &str| format!("{:-^width$}", format!(" {name} "), width = COLUMNS_WIDTH);
    let _ = writeln!(
        out,
        "{:11}  {}  {}  {:-^21}",
        "",
        group(names[0]),
        group(names[1]),
        " micro/threads "
    );
    let headers = columns("round trips/s", "p99 µs", "CPU µs/rt", "peak RSS", "threads");
    let _ = writeln!(
        out,
        "{:>11}  {headers}  {headers}  {:>9} {:>11}",
        "connections", "speed", "CPU per rt"
    );
    for (cell, connections) in CONNECTIONS.iter().enumerate() {
        let (micro, threads) = (medians[0][cell], medians[1][cell]);
        let (speed, cpu) = match (micro, threads) {
            (Some(m), Some(t)) => (
                format!("{:.2}x", m.round_trips_per_sec / t.round_trips_per_sec),
                format!("{:.2}x", m.cpu_us / t.cpu_us),
            ),
            _ => ("-".into(), "-".into()),
        };
        let _ = writeln!(
            out,
            "{connections:>11}  {}  {}  {speed:>9} {cpu:>11}",
            cells(micro),
            cells(threads)
        );
    }
    let _ = writeln!(
        out,
        "\nspeed: round trips per second on micro-threads over threads (above 1x, micro-threads are faster);"
    );
    let _ = writeln!(
        out,
        "CPU per rt: the server's CPU time per round trip on micro-threads over threads (below 1x, they use less)."
    );
    let _ = writeln!(
        out,
        "peak RSS: the server's VmHWM; it leaves out kernel memory such as each OS thread's kernel stack."
    );
    let _ = writeln!(
        out,
        "threads: the most OS threads seen in the server (sampled every 100 ms); on threads, fewer than the \
         connections means some waited in the listen backlog for the accept loop."
    );
    let notes = notes(names, medians);
    if !notes.is_empty() {
        let _ = writeln!(out);
        for note in notes {
            let _ = writeln!(out, "note: {note}");
        }
    }
    out
}

/// Every server's round trips per second and CPU per round trip, relative
/// to micro-threads.
fn peers_table(names: &[&str], medians: &[Vec<Option<Median>>]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nthe same server on each runtime: round trips/s and server CPU µs per round trip (x: relative to micro-threads)"
    );
    let _ = write!(out, "{:>11}", "connections");
    for name in names {
        let _ = write!(out, "  {name:>30}");
    }
    let _ = writeln!(out);
    for (cell, connections) in CONNECTIONS.iter().enumerate() {
        let _ = write!(out, "{connections:>11}");
        let base = medians[0][cell];
        for server in medians {
            let text = match (server[cell], base) {
                (Some(m), Some(b)) => format!(
                    "{:.0} {:.2}x, {:.2} µs {:.2}x",
                    m.round_trips_per_sec,
                    m.round_trips_per_sec / b.round_trips_per_sec,
                    m.cpu_us,
                    m.cpu_us / b.cpu_us
                ),
                (Some(m), None) => format!("{:.0}, {:.2} µs", m.round_trips_per_sec, m.cpu_us),
                (None, _) => "failed".into(),
            };
            let _ = write!(out, "  {text:>30}");
        }
        let _ = writeln!(out);
    }
    out
}

/// What went wrong in any cell: failed steps, connections that did not
/// open or took over a second, round trips that failed.
fn notes(names: &[&str], medians: &[Vec<Option<Median>>]) -> Vec<String> {
    let mut notes = Vec::new();
    for (name, cells) in names.iter().zip(medians) {
        for (cell, connections) in CONNECTIONS.iter().enumerate() {
            let Some(m) = cells[cell] else {
                notes.push(format!(
                    "{name}, {connections} connections: every round failed (see above)"
                ));
                continue;
            };
            let mut problems = Vec::new();
            if m.rounds < medians_rounds(medians) {
                problems.push(format!("only {} rounds gave a result", m.rounds));
            }
            if m.connect_failures > 0 {
                problems.push(format!("{} connections did not open", m.connect_failures));
            }
            if m.slow_connects > 0 {
                problems.push(format!(
                    "{} connects took over 1 s (the slowest {:.0} ms)",
                    m.slow_connects, m.connect_max_ms
                ));
            }
            if m.errors > 0 {
                problems.push(format!("{} connections failed during the window", m.errors));
            }
            if !problems.is_empty() {
                notes.push(format!(
                    "{name}, {connections} connections, over all rounds: {}",
                    problems.join("; ")
                ));
            }
        }
    }
    notes
}

/// The most rounds any cell gave a result in (the rounds asked for, unless
/// every server failed somewhere).
fn medians_rounds(medians: &[Vec<Option<Median>>]) -> usize {
    medians.iter().flatten().flatten().map(|m| m.rounds).max().unwrap_or(0)
}

/// The width of one server's [`columns`].
const COLUMNS_WIDTH: usize = 13 + 1 + 7 + 1 + 9 + 1 + 10 + 1 + 7;

/// One server's five columns, each right-aligned to its header.
fn columns(round_trips: &str, p99: &str, cpu: &str, rss: &str, threads: &str) -> String {
    format!("{round_trips:>13} {p99:>7} {cpu:>9} {rss:>10} {threads:>7}")
}

/// One server's columns of a row, or dashes if every round failed.
fn cells(median: Option<Median>) -> String {
    match median {
        Some(m) => columns(
            &format!("{:.0}", m.round_trips_per_sec),
            &format!("{:.0}", m.p99_us),
            &format!("{:.2}", m.cpu_us),
            &mib(m.rss_kib),
            &m.os_threads.to_string(),
        ),
        None => columns("-", "-", "-", "-", "-"),
    }
}

/// `kib` as MiB with one decimal, e.g. "12.5 MiB".
fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Every measurement (one row per server, cell and round) and the medians
/// (round `median`), as CSV.
fn csv(names: &[&str], steps: &[Vec<Vec<Option<Step>>>], medians: &[Vec<Option<Median>>]) -> String {
    let mut out = String::from(
        "server,connections,round,round_trips_per_sec,p99_us,cpu_us_per_round_trip,peak_rss_kib,os_threads,\
         connect_failures,slow_connects,connect_max_ms\n",
    );
    for (s, name) in names.iter().enumerate() {
        for (cell, connections) in CONNECTIONS.iter().enumerate() {
            for (round, step) in steps[s][cell].iter().enumerate() {
                if let Some(step) = step {
                    let _ = writeln!(
                        out,
                        "{name},{connections},{},{:.1},{:.1},{:.3},{},{},{},{},{:.1}",
                        round + 1,
                        step.load.round_trips_per_sec,
                        step.load.p99_us,
                        step.cpu_us,
                        step.peak.rss_kib,
                        step.peak.os_threads,
                        step.load.connect_failures,
                        step.load.slow_connects,
                        step.load.connect_max_ms
                    );
                }
            }
            if let Some(m) = medians[s][cell] {
                let _ = writeln!(
                    out,
                    "{name},{connections},median,{:.1},{:.1},{:.3},{},{},{},{},{:.1}",
                    m.round_trips_per_sec,
                    m.p99_us,
                    m.cpu_us,
                    m.rss_kib,
                    m.os_threads,
                    m.connect_failures,
                    m.slow_connects,
                    m.connect_max_ms
                );
            }
        }
    }
    out
}

/// The chart: round trips per second and CPU per round trip against
/// connections, one line per server.
fn picture(subtitle: &[String], names: &[&str], medians: &[Vec<Option<Median>>]) -> String {
    let series = |value: fn(&Median) -> f64| -> Vec<chart::Series> {
        names
            .iter()
            .zip(medians)
            .map(|(name, cells)| chart::Series {
                name: (*name).to_owned(),
                values: cells.iter().map(|m| m.as_ref().map(value)).collect(),
            })
            .collect()
    };
    let panels = [
        chart::Panel {
            title: "round trips per second (higher is better)".into(),
            series: series(|m| m.round_trips_per_sec),
        },
        chart::Panel {
            title: "server CPU µs per round trip (lower is better)".into(),
            series: series(|m| m.cpu_us),
        },
    ];
    let xs: Vec<String> = CONNECTIONS.iter().map(usize::to_string).collect();
    let title = if names.len() > 2 {
        "the same echo server on each runtime"
    } else {
        "the same echo server on micro-threads and on OS threads"
    };
    chart::svg(title, subtitle, "connections", &xs, &panels)
}

/// A peer server next to the `dhaga-benches` binaries (`target/release`).
fn peer_executable(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot find the target directory")?;
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: run `cargo build --release -p dhaga-benches --bins` first",
            path.display()
        ))
    }
}

/// The path of another example built next to this one.
fn sibling_executable(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program's path: {e}"))?;
    let dir = exe.parent().ok_or("this program's path has no parent directory")?;
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "cannot find the `{name}` example at {}; build the examples first: cargo build --release --examples",
            path.display()
        ))
    }
}

/// A local address with a port that is free now: bound, read and released.
/// Another process could take the port before the server binds it; that is
/// unlikely enough for a demonstration.
fn free_local_addr() -> Result<SocketAddr, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|e| format!("cannot find a free local port: {e}"))
}

#[cfg(test)]
mod tests {
    use super::Options;

    fn parse(args: &[&str]) -> Result<Option<Options>, String> {
        Options::parse(args).map_err(|e| e.to_string())
    }

    #[test]
    fn the_documented_command_lines_parse() {
        let defaults = parse(&[]).unwrap().unwrap();
        assert_eq!((defaults.rounds, defaults.seconds), (3, 3));
        assert!(defaults.pin && !defaults.peers && defaults.csv.is_none() && defaults.chart.is_none());

        let all = [
            "--peers",
            "--rounds",
            "5",
            "--seconds",
            "2",
            "--no-pin",
            "--csv",
            "a.csv",
            "--chart",
            "b.svg",
        ];
        let options = parse(&all).unwrap().unwrap();
        assert_eq!((options.rounds, options.seconds), (5, 2));
        assert!(!options.pin && options.peers);
        assert_eq!(options.csv.unwrap().to_str(), Some("a.csv"));
        assert_eq!(options.chart.unwrap().to_str(), Some("b.svg"));
    }

    #[test]
    fn help_is_asked_for_with_either_spelling() {
        assert!(parse(&["--help"]).unwrap().is_none());
        assert!(parse(&["--peers", "-h"]).unwrap().is_none());
    }

    #[test]
    fn unknown_flags_and_bad_values_are_refused_by_name() {
        assert_eq!(parse(&["--pers"]).err().unwrap(), "invalid option '--pers'");
        assert_eq!(parse(&["extra"]).err().unwrap(), "unexpected argument \"extra\"");
        assert_eq!(
            parse(&["--rounds"]).err().unwrap(),
            "missing argument for option '--rounds'"
        );
        assert_eq!(
            parse(&["--seconds", "0"]).err().unwrap(),
            "--seconds takes a whole number above zero, not \"0\""
        );
        assert_eq!(
            parse(&["--rounds", "two"]).err().unwrap(),
            "--rounds takes a whole number above zero, not \"two\""
        );
    }
}

//! Micro-threads against OS threads: the same echo server, the same load,
//! side by side.
//!
//! Run: `cargo build --release --examples && cargo run --release --example compare [-- --peers]`
//!
//! The `echo` example is one blocking `handle` function per connection; its
//! `--threads` flag runs that function on an OS thread per connection instead
//! of a micro-thread. This program starts `echo` once in each mode and loads
//! it with `echo_load` at 10, 100, 1000 and 5000 connections, each doing
//! 64-byte round trips as fast as it can for a few seconds. Meanwhile it
//! samples the server's `/proc/<pid>/status` every 100 ms for its peak
//! resident memory (`VmHWM`) and its number of OS threads (`Threads`).
//!
//! Progress goes to stderr; the table at the end goes to stdout. It takes
//! about a minute. Server and load generator share the machine's CPUs, so
//! the numbers compare the two modes with each other, not with other
//! machines. The two programs are run from next to this one's executable,
//! which is why the examples must be built first.
//!
//! With `--peers` it also runs the same server written for tokio and for may
//! (`echo_tokio`, `echo_may`, built by `cargo build --release -p
//! dhaga-benches --bins`) and prints all four side by side.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

/// The connection counts of the steps, in the order they run.
const CONNECTIONS: [usize; 4] = [10, 100, 1000, 5000];
/// How long each step loads the server.
const STEP_SECONDS: u64 = 5;
/// A short load before the first step of each mode, not measured.
const WARM_UP_SECONDS: u64 = 1;
/// The size of each message, echoed back whole.
const MESSAGE_SIZE: usize = 64;
/// How often the server's memory and threads are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// File descriptors needed besides one per connection (stdio, pollers, ...).
const SPARE_FDS: u64 = 64;

/// How the echo server runs its connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    // The discriminants are the modes' positions in `Mode::ALL`.
    MicroThreads = 0,
    Threads = 1,
}

impl Mode {
    /// Both modes, in the order they run and appear in the table.
    const ALL: [Mode; 2] = [Mode::MicroThreads, Mode::Threads];

    fn name(self) -> &'static str {
        match self {
            Mode::MicroThreads => "micro-threads",
            Mode::Threads => "threads",
        }
    }

    /// The `echo` flags that select this mode.
    fn echo_flags(self) -> &'static [&'static str] {
        match self {
            Mode::MicroThreads => &[],
            Mode::Threads => &["--threads"],
        }
    }
}

/// What `echo_load` measured: its stdout line
/// `round_trips_per_sec=<f> p50_us=<f> p99_us=<f> connections=<n> errors=<n>`.
#[derive(Clone, Copy, Debug, Default)]
struct Load {
    round_trips_per_sec: f64,
    p99_us: f64,
    connections: usize,
    errors: usize,
}

impl Load {
    fn parse(output: &str) -> Option<Load> {
        let line = output.lines().find(|line| line.starts_with("round_trips_per_sec="))?;
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        };
        Some(Load {
            round_trips_per_sec: field("round_trips_per_sec")?.parse().ok()?,
            p99_us: field("p99_us")?.parse().ok()?,
            connections: field("connections")?.parse().ok()?,
            errors: field("errors")?.parse().ok()?,
        })
    }
}

/// The most the server used while it was loaded.
#[derive(Clone, Copy, Debug, Default)]
struct Peak {
    /// Peak resident memory of the server so far (`VmHWM`), in KiB. The
    /// steps grow, so this is the peak of the latest one.
    rss_kib: u64,
    /// The most OS threads seen in the server during the step (`Threads`).
    os_threads: u64,
}

impl Peak {
    /// Reads `/proc/<pid>/status` (zeros if it cannot be read).
    fn read(pid: u32) -> Peak {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        // Lines look like "VmHWM:\t    1234 kB" and "Threads:\t3".
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|value| value.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        Peak {
            rss_kib: field("VmHWM"),
            os_threads: field("Threads"),
        }
    }

    fn max(self, other: Peak) -> Peak {
        Peak {
            rss_kib: self.rss_kib.max(other.rss_kib),
            os_threads: self.os_threads.max(other.os_threads),
        }
    }
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

/// A running `echo` server. Dropping it kills the process.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// Starts the echo server `echo` (with `flags`) on a free local port and
    /// waits until it listens.
    fn start(echo: &Path, flags: &[&str]) -> Result<Server, String> {
        let addr = free_local_addr()?;
        let child = Command::new(echo)
            .arg(addr.to_string())
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", echo.display()))?;
        let mut server = Server { child, addr };

        // echo prints "listening on <addr> (<mode>)" once it has bound.
        let stdout = server.child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("reading from echo: {e}"))?;
        if !line.starts_with("listening on") {
            return Err(format!("echo did not start (its first line was {:?})", line.trim_end()));
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

/// One measured step: what the load generator saw, and what the server used.
#[derive(Clone, Copy, Debug)]
struct Step {
    load: Load,
    peak: Peak,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("compare: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs every step of both modes, then prints the table; with `--peers`,
/// also the same server written for tokio and for may.
fn run() -> Result<(), String> {
    let echo = sibling_executable("echo")?;
    let echo_load = sibling_executable("echo_load")?;
    let with_peers = std::env::args().skip(1).any(|arg| arg == "--peers");
    let peers = if with_peers {
        PEERS
            .iter()
            .map(|name| peer_executable(name))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    check_open_files()?;

    let mut servers: Vec<(&str, &Path, &[&str])> = Mode::ALL
        .iter()
        .map(|&mode| (mode.name(), echo.as_path(), mode.echo_flags()))
        .collect();
    servers.extend(
        PEERS
            .iter()
            .zip(&peers)
            .map(|(name, exe)| (*name, exe.as_path(), &[][..])),
    );

    let total = servers.len() * CONNECTIONS.len();
    let mut done = 0;
    // results[server][step]: `None` where a step failed.
    let mut results: Vec<Vec<Option<Step>>> = Vec::new();
    for (name, exe, flags) in servers {
        let server = Server::start(exe, flags)?;
        eprintln!("echo server on {} ({name}), pid {}", server.addr, server.pid());
        if let Err(e) = run_load(&echo_load, server.addr, CONNECTIONS[0], WARM_UP_SECONDS) {
            eprintln!("warm-up failed: {e}");
        }

        let mut steps = Vec::new();
        for connections in CONNECTIONS {
            done += 1;
            eprint!("[{done}/{total}] {name}, {connections} connections ... ");
            let step = measure(&echo_load, &server, connections);
            match &step {
                Ok(Step { load, peak }) => eprintln!(
                    "{:.0} round trips/s, p99 {:.0} µs, peak RSS {}, {} OS threads",
                    load.round_trips_per_sec,
                    load.p99_us,
                    mib(peak.rss_kib),
                    peak.os_threads
                ),
                Err(e) => eprintln!("failed: {e}"),
            }
            steps.push(step.ok());
        }
        drop(server); // kills it
        results.push(steps);
    }

    print_table(&results[..Mode::ALL.len()]);
    if with_peers {
        print_peers_table(&results);
    }
    Ok(())
}

/// The peers `--peers` adds, built by `cargo build --release -p dhaga-benches --bins`.
const PEERS: [&str; 2] = ["echo_tokio", "echo_may"];

/// Prints round trips per second, p99 and peak RSS of every server, dhaga's
/// two modes first, and each one's throughput relative to micro-threads.
fn print_peers_table(results: &[Vec<Option<Step>>]) {
    let names: Vec<&str> = Mode::ALL.iter().map(|m| m.name()).chain(PEERS).collect();
    println!();
    println!("the same server on each runtime: round trips/s (p99 µs, peak RSS); x: relative to micro-threads");
    print!("{:>11}", "connections");
    for name in &names {
        print!("  {name:>34}");
    }
    println!();
    for (step, connections) in CONNECTIONS.iter().enumerate() {
        print!("{connections:>11}");
        let base = results[0][step].map(|s| s.load.round_trips_per_sec);
        for server in results {
            let cell = match server[step] {
                Some(Step { load, peak }) => {
                    let ratio = base.map_or(String::new(), |b| format!(" {:.2}x", load.round_trips_per_sec / b));
                    format!(
                        "{:.0} ({:.0}, {}){ratio}",
                        load.round_trips_per_sec,
                        load.p99_us,
                        mib(peak.rss_kib)
                    )
                }
                None => "failed".into(),
            };
            print!("  {cell:>34}");
        }
        println!();
    }
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

/// Loads `server` with `connections` connections for [`STEP_SECONDS`] while
/// sampling its memory and threads.
fn measure(echo_load: &Path, server: &Server, connections: usize) -> Result<Step, String> {
    let sampler = Sampler::start(server.pid());
    let load = run_load(echo_load, server.addr, connections, STEP_SECONDS);
    let peak = sampler.stop();
    Ok(Step { load: load?, peak })
}

/// Runs `echo_load` once and parses its result line.
fn run_load(echo_load: &Path, addr: SocketAddr, connections: usize, seconds: u64) -> Result<Load, String> {
    let output = Command::new(echo_load)
        .args([
            addr.to_string(),
            connections.to_string(),
            seconds.to_string(),
            MESSAGE_SIZE.to_string(),
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", echo_load.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("echo_load {}: {}", output.status, stderr.trim()));
    }
    Load::parse(&stdout).ok_or_else(|| format!("cannot read echo_load's result from {:?}", stdout.trim()))
}

/// Prints one row per connection count: each mode's numbers, then the ratio
/// of their round trips per second. `results[mode][step]` follows the order
/// of [`Mode::ALL`] and [`CONNECTIONS`].
fn print_table(results: &[Vec<Option<Step>>]) {
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    println!();
    println!(
        "echo server, {MESSAGE_SIZE}-byte round trips, {STEP_SECONDS} s per step, \
         {cpus} CPUs shared by server and load generator"
    );
    println!();
    let group = |mode: Mode| format!("{:-^width$}", format!(" {} ", mode.name()), width = COLUMNS_WIDTH);
    println!("{:11}  {}  {}", "", group(Mode::MicroThreads), group(Mode::Threads));
    let headers = columns("round trips/s", "p99 (µs)", "peak RSS", "OS threads");
    println!("{:>11}  {headers}  {headers}  {:>13}", "connections", "micro/threads");

    let mut notes = Vec::new();
    for (i, connections) in CONNECTIONS.into_iter().enumerate() {
        let step = |mode: Mode| results.get(mode as usize).and_then(|steps| steps[i]);
        let (micro, threads) = (step(Mode::MicroThreads), step(Mode::Threads));
        let ratio = match (micro, threads) {
            (Some(m), Some(t)) if t.load.round_trips_per_sec > 0.0 => {
                format!("{:.2}x", m.load.round_trips_per_sec / t.load.round_trips_per_sec)
            }
            _ => "-".into(),
        };
        println!("{connections:>11}  {}  {}  {ratio:>13}", cells(micro), cells(threads));

        for mode in Mode::ALL {
            let name = mode.name();
            match step(mode) {
                None => notes.push(format!(
                    "{name}, {connections} connections: the step failed (see above)"
                )),
                Some(Step { load, .. }) if load.errors > 0 || load.connections < connections => notes.push(format!(
                    "{name}, {connections} connections: {} connected, {} errors",
                    load.connections, load.errors
                )),
                Some(_) => {}
            }
        }
    }
    println!();
    println!("micro/threads: round trips per second on micro-threads divided by those on threads.");
    println!("peak RSS: the server's VmHWM; it leaves out kernel memory such as each OS thread's kernel stack.");
    if !notes.is_empty() {
        println!();
        for note in notes {
            println!("note: {note}");
        }
    }
}

/// The width of one mode's [`columns`].
const COLUMNS_WIDTH: usize = 13 + 1 + 9 + 1 + 10 + 1 + 11;

/// One mode's four columns, each right-aligned to its header.
fn columns(round_trips: &str, p99: &str, rss: &str, threads: &str) -> String {
    format!("{round_trips:>13} {p99:>9} {rss:>10} {threads:>11}")
}

/// One mode's columns of a row, or dashes if the step failed.
fn cells(step: Option<Step>) -> String {
    match step {
        Some(Step { load, peak }) => columns(
            &format!("{:.0}", load.round_trips_per_sec),
            &format!("{:.0}", load.p99_us),
            &mib(peak.rss_kib),
            &peak.os_threads.to_string(),
        ),
        None => columns("-", "-", "-", "-"),
    }
}

/// `kib` as MiB with one decimal, e.g. "12.5 MiB".
fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
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
/// Another process could take the port before `echo` binds it; that is
/// unlikely enough for a demonstration.
fn free_local_addr() -> Result<SocketAddr, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|e| format!("cannot find a free local port: {e}"))
}

/// Checks that the server and the load generator, which inherit this
/// process's limit on open files, may each open a descriptor per connection.
///
/// The limit is `RLIMIT_NOFILE`, which `ulimit -n` shows and sets; it is read
/// from `/proc/self/limits` (Linux). Elsewhere the check is skipped.
fn check_open_files() -> Result<(), String> {
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return Ok(());
    };
    // The line reads: "Max open files            1024                 524288               files".
    let Some(values) = limits.lines().find_map(|line| line.strip_prefix("Max open files")) else {
        return Ok(());
    };
    let mut values = values.split_whitespace().map(|v| v.parse::<u64>().unwrap_or(u64::MAX));
    let (soft, hard) = (values.next().unwrap_or(u64::MAX), values.next().unwrap_or(u64::MAX));
    let needed = CONNECTIONS.into_iter().max().unwrap_or(0) as u64 + SPARE_FDS;
    if soft >= needed {
        Ok(())
    } else if hard >= needed {
        Err(format!(
            "{needed} open files are needed but the limit is {soft}; raise it with `ulimit -n {hard}` and run again"
        ))
    } else {
        Err(format!(
            "{needed} open files are needed but the hard limit is {hard}; \
             ask for a higher one (/etc/security/limits.conf)"
        ))
    }
}

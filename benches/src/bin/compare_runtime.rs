//! Side by side, in one run: dhaga against `may`, `tokio` and OS threads.
//!
//! Run: `cargo run --release -p dhaga-benches --bin compare_runtime`
//!
//! It measures four things per unit of work, for each of the four
//! contenders, and prints one table with the median of each, every peer's
//! ratio to dhaga, and the target dhaga is held to:
//!
//! | metric | one unit | dhaga's target |
//! | --- | --- | --- |
//! | spawn+join | spawn and join one unit, 10,000 alive at a time | <= 200 ns |
//! | handoff | one message, one way, in a bounded(1) ping-pong | <= 100 ns |
//! | yield | one yield of a unit that yields in a loop | below may's |
//! | idle RSS | resident memory of one unit blocked on a channel | <= 8 KiB |
//!
//! # How it measures
//!
//! - Every runtime is built once. dhaga, may and tokio get [`WORKERS`]
//!   worker threads each; all their loops run inside the runtime.
//! - Timed metrics: a first, untimed run per contender warms it up and picks
//!   how many operations make one measurement last about [`MEASUREMENT`].
//!   Then [`ROUNDS`] rounds measure every contender once each, in an order
//!   that rotates from round to round, so that a slow phase of the machine
//!   is shared out rather than landing on one contender.
//! - Idle RSS: each measurement is a fresh child process (this program, run
//!   as `compare_runtime --rss NAME UNITS`) that builds one contender, warms
//!   it up, reads `VmRSS`, parks the units, waits until they have all
//!   reached their receive, reads `VmRSS` again and prints the difference
//!   per unit, and the number of OS threads at that moment.
//!
//! Progress goes to stderr and the table to stdout, so
//! `compare_runtime > results.txt` keeps just the table.

use std::{
    env,
    io::{self, Read},
    process::{self, Command, ExitCode, Stdio},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use dhaga_benches::{CONTENDER_NAMES, Contender, ProcStatus, Workload, contender, contenders, median, page_size};

/// Worker threads for dhaga, may and tokio: the CPUs of the reference
/// machines.
const WORKERS: usize = 2;
/// Measured rounds per metric; the table shows each contender's median.
const ROUNDS: usize = 5;
/// About how long one timed measurement lasts (at least one operation).
const MEASUREMENT: Duration = Duration::from_millis(150);
/// Units parked per idle-RSS measurement, for dhaga, may and tokio.
const IDLE_UNITS: usize = 20_000;
/// Units parked per idle-RSS measurement for OS threads.
const IDLE_THREADS: usize = 5_000;
/// Units parked and released before the baseline RSS is read, so that
/// lazily started parts of a runtime (workers, pools) are already in it.
const IDLE_WARM_UP_UNITS: usize = 100;
/// An idle-RSS child process still running after this long is killed.
const CHILD_TIMEOUT: Duration = Duration::from_secs(30);
/// A measurement still running after this long is reported as stuck.
const STALL_LIMIT: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    match args.as_slice() {
        [] => {
            compare();
            ExitCode::SUCCESS
        }
        [flag, name, units] if flag == "--rss" => match units.parse() {
            Ok(units) => match idle_child(name, units) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("compare_runtime --rss {name} {units}: {error}");
                    ExitCode::FAILURE
                }
            },
            Err(_) => usage(),
        },
        _ => usage(),
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: compare_runtime");
    eprintln!("       compare_runtime --rss {} UNITS", CONTENDER_NAMES.join("|"));
    ExitCode::FAILURE
}

/// Measures every metric for every contender and prints the table.
fn compare() {
    let started = Instant::now();
    let watchdog = Watchdog::start();
    let title = format!(
        "dhaga vs may, tokio and OS threads: {} CPUs, {WORKERS} workers per runtime, \
         median of {ROUNDS} rounds",
        thread::available_parallelism().map_or(0, |n| n.get()),
    );
    eprintln!("{title}");
    let contenders = contenders(WORKERS);
    let mut rows: Vec<Row> = Workload::ALL
        .into_iter()
        .map(|workload| time_workload(workload, &contenders, &watchdog))
        .collect();
    let (idle, os_threads) = measure_idle(&watchdog);
    rows.push(idle);
    eprintln!("done in {:.0} s\n", started.elapsed().as_secs_f64());
    println!("{title}\n");
    print_table(&rows, &os_threads);
}

/// The measured samples of one metric, one list per contender, in
/// [`CONTENDER_NAMES`] order.
struct Row {
    metric: Metric,
    samples: Vec<Vec<f64>>,
}

/// The four metrics of the table.
#[derive(Clone, Copy)]
enum Metric {
    Timed(Workload),
    IdleRss,
}

impl Metric {
    fn label(self) -> &'static str {
        match self {
            Metric::Timed(workload) => workload.description(),
            Metric::IdleRss => "idle RSS, parked",
        }
    }

    /// Formats a value of this metric: nanoseconds or bytes.
    fn format(self, value: f64) -> String {
        match self {
            Metric::Timed(_) => format_ns(value),
            Metric::IdleRss => format_bytes(value),
        }
    }

    /// dhaga's target as text, and whether dhaga's median `dhaga` meets it,
    /// given every contender's median (`None` where a contender failed).
    fn target(self, dhaga: f64, medians: &[Option<f64>]) -> (String, bool) {
        let at_most = |text: &str, limit: f64| (text.to_owned(), dhaga <= limit);
        match self {
            Metric::Timed(Workload::SpawnJoin) => at_most("<= 200 ns", 200.0),
            Metric::Timed(Workload::Handoff) => at_most("<= 100 ns", 100.0),
            Metric::Timed(Workload::Yield) => match medians[index_of("may")] {
                Some(may) => (format!("< may ({})", self.format(may)), dhaga < may),
                None => ("< may".to_owned(), false),
            },
            Metric::IdleRss => at_most("<= 8 KiB", 8.0 * 1024.0),
        }
    }
}

/// The position of contender `name` in [`CONTENDER_NAMES`].
fn index_of(name: &str) -> usize {
    CONTENDER_NAMES
        .iter()
        .position(|n| *n == name)
        .expect("a contender name")
}

/// The contender indices in the order round `round` measures them: the
/// starting contender moves one place each round.
fn round_order(round: usize, count: usize) -> impl Iterator<Item = usize> {
    (0..count).map(move |k| (round + k) % count)
}

/// Times `workload` on every contender: a calibration run each, then
/// [`ROUNDS`] rounds. Samples are nanoseconds per unit.
fn time_workload(workload: Workload, contenders: &[Box<dyn Contender>], watchdog: &Watchdog) -> Row {
    eprintln!("{}:", workload.description());
    let ops: Vec<u64> = contenders
        .iter()
        .map(|contender| {
            watchdog.enter(format!("{} {} (calibration)", contender.name(), workload.name()));
            calibrate(workload, &**contender)
        })
        .collect();
    let mut samples = vec![Vec::with_capacity(ROUNDS); contenders.len()];
    for round in 0..ROUNDS {
        let mut progress = format!("  round {}/{ROUNDS}:", round + 1);
        for i in round_order(round, contenders.len()) {
            let contender = &*contenders[i];
            watchdog.enter(format!("{} {} round {}", contender.name(), workload.name(), round + 1));
            let elapsed = workload.run(contender, ops[i]);
            let per_unit = elapsed.as_nanos() as f64 / (ops[i] * workload.units_per_op()) as f64;
            samples[i].push(per_unit);
            progress += &format!("  {} {}", contender.name(), format_ns(per_unit));
        }
        eprintln!("{progress}");
    }
    Row {
        metric: Metric::Timed(workload),
        samples,
    }
}

/// Runs `workload` with a growing number of operations until a run lasts a
/// quarter of [`MEASUREMENT`], and returns the number of operations that
/// should last about [`MEASUREMENT`] (at least 1). This also warms the
/// contender up.
fn calibrate(workload: Workload, contender: &dyn Contender) -> u64 {
    let mut ops = 1;
    loop {
        let elapsed = workload.run(contender, ops).max(Duration::from_nanos(1));
        if elapsed >= MEASUREMENT / 4 {
            let scale = MEASUREMENT.as_secs_f64() / elapsed.as_secs_f64();
            return ((ops as f64 * scale).round() as u64).max(1);
        }
        ops *= 4;
    }
}

/// Measures idle RSS per parked unit in child processes, [`ROUNDS`] rounds
/// over the contenders. Returns the row of bytes per unit, and the OS thread
/// count each contender's child had with its units parked (its last round).
fn measure_idle(watchdog: &Watchdog) -> (Row, Vec<Option<u64>>) {
    eprintln!(
        "idle RSS: {} parked units per child process ({} for threads):",
        grouped(IDLE_UNITS as u64),
        grouped(IDLE_THREADS as u64),
    );
    let mut samples = vec![Vec::with_capacity(ROUNDS); CONTENDER_NAMES.len()];
    let mut os_threads = vec![None; CONTENDER_NAMES.len()];
    for round in 0..ROUNDS {
        let mut progress = format!("  round {}/{ROUNDS}:", round + 1);
        for i in round_order(round, CONTENDER_NAMES.len()) {
            let name = CONTENDER_NAMES[i];
            let units = if name == "threads" { IDLE_THREADS } else { IDLE_UNITS };
            watchdog.enter(format!("{name} idle RSS round {} (child process)", round + 1));
            match run_idle_child(name, units) {
                Ok(sample) => {
                    samples[i].push(sample.bytes_per_unit);
                    os_threads[i] = Some(sample.os_threads);
                    progress += &format!("  {name} {}", format_bytes(sample.bytes_per_unit));
                }
                Err(error) => progress += &format!("  {name} failed ({error})"),
            }
        }
        eprintln!("{progress}");
    }
    let row = Row {
        metric: Metric::IdleRss,
        samples,
    };
    (row, os_threads)
}

/// What one idle-RSS child process reports.
struct IdleSample {
    bytes_per_unit: f64,
    os_threads: u64,
}

/// Runs `compare_runtime --rss NAME UNITS` and parses the line it prints.
fn run_idle_child(name: &str, units: usize) -> io::Result<IdleSample> {
    let mut child = Command::new(env::current_exe()?)
        .args(["--rss", name, &units.to_string()])
        .stdout(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + CHILD_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            child.kill()?;
            child.wait()?;
            let waited = CHILD_TIMEOUT.as_secs();
            return Err(io::Error::other(format!("no answer after {waited} s, killed")));
        }
        thread::sleep(Duration::from_millis(10));
    };
    // The child's one line fits in the pipe, so it could exit before this.
    let mut output = String::new();
    child
        .stdout
        .take()
        .expect("stdout is piped")
        .read_to_string(&mut output)?;
    if !status.success() {
        return Err(io::Error::other(format!("child {status}")));
    }
    let field = |key: &str| {
        output
            .split_whitespace()
            .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
            .ok_or_else(|| io::Error::other(format!("no {key} in {output:?}")))
    };
    let invalid = || io::Error::other(format!("cannot parse {output:?}"));
    Ok(IdleSample {
        bytes_per_unit: field("bytes_per_unit")?.parse().map_err(|_| invalid())?,
        os_threads: field("os_threads")?.parse().map_err(|_| invalid())?,
    })
}

/// The child process of one idle-RSS measurement: parks `units` units of
/// contender `name` and prints `bytes_per_unit=… os_threads=…`.
fn idle_child(name: &str, units: usize) -> io::Result<()> {
    let contender = contender(name, WORKERS).ok_or_else(|| io::Error::other(format!("unknown contender {name:?}")))?;
    contender.park_idle(IDLE_WARM_UP_UNITS).release();
    let before = ProcStatus::read()?;
    let parked = contender.park_idle(units);
    let during = ProcStatus::read()?;
    parked.release();
    let grown = during.rss_bytes as f64 - before.rss_bytes as f64;
    println!(
        "bytes_per_unit={} os_threads={}",
        grown / units as f64,
        during.os_threads
    );
    Ok(())
}

/// Prints the table of medians, ratios and targets.
fn print_table(rows: &[Row], os_threads: &[Option<u64>]) {
    let dhaga = index_of("dhaga");
    let peers: Vec<usize> = (0..CONTENDER_NAMES.len()).filter(|&i| i != dhaga).collect();

    let mut header = vec!["per unit (median)".to_owned(), "dhaga".to_owned()];
    header.push("dhaga target".to_owned());
    header.extend(peers.iter().map(|&i| CONTENDER_NAMES[i].to_owned()));
    header.extend(peers.iter().map(|&i| format!("{}/dhaga", CONTENDER_NAMES[i])));
    let mut table = vec![header];

    for row in rows {
        let medians: Vec<Option<f64>> = row.samples.iter().map(|s| median(s)).collect();
        let show = |value: Option<f64>| value.map_or("n/a".to_owned(), |v| row.metric.format(v));
        let mut cells = vec![row.metric.label().to_owned(), show(medians[dhaga])];
        cells.push(match medians[dhaga] {
            Some(value) => {
                let (target, met) = row.metric.target(value, &medians);
                format!("{target} {}", if met { "met" } else { "MISSED" })
            }
            None => "n/a".to_owned(),
        });
        cells.extend(peers.iter().map(|&i| show(medians[i])));
        cells.extend(peers.iter().map(|&i| match (medians[i], medians[dhaga]) {
            (Some(peer), Some(ours)) if ours > 0.0 => format_ratio(peer / ours),
            _ => "n/a".to_owned(),
        }));
        table.push(cells);
    }

    let show_threads = |i: usize| os_threads[i].map_or("n/a".to_owned(), grouped);
    let mut cells = vec!["OS threads, parked".to_owned(), show_threads(dhaga)];
    cells.push(String::new());
    cells.extend(peers.iter().map(|&i| show_threads(i)));
    cells.extend(peers.iter().map(|_| String::new()));
    table.push(cells);

    dhaga_benches::print_aligned(&table, 1);
    println!();
    println!("peer/dhaga: the peer's median divided by dhaga's; above 1x, dhaga is ahead.");
    println!(
        "Stacks: dhaga 64 KiB + guard page, may 32 KiB, threads std's 2 MiB (reserved, \
         touched pages only are resident)."
    );
    println!(
        "Idle RSS: {} units parked ({} threads), counted in {}-byte pages; each OS \
         thread also has a 16 KiB kernel stack that RSS does not show.",
        grouped(IDLE_UNITS as u64),
        grouped(IDLE_THREADS as u64),
        page_size()
    );
}

/// Formats nanoseconds as ns, µs or ms with three significant digits.
fn format_ns(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{} ns", three_digits(ns))
    } else if ns < 1_000_000.0 {
        format!("{} us", three_digits(ns / 1_000.0))
    } else {
        format!("{} ms", three_digits(ns / 1_000_000.0))
    }
}

/// Formats bytes as B or KiB.
fn format_bytes(bytes: f64) -> String {
    if bytes.abs() < 1024.0 {
        format!("{bytes:.0} B")
    } else {
        format!("{} KiB", three_digits(bytes / 1024.0))
    }
}

/// Formats a ratio such as `3.1x` or `140x`.
fn format_ratio(ratio: f64) -> String {
    format!("{}x", three_digits(ratio))
}

/// Formats an integer with thousands separators: 20,000.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Three significant digits at most, without a trailing fraction for large
/// values: 0.612, 6.12, 61.2, 612, 6120.
fn three_digits(value: f64) -> String {
    match value.abs() {
        v if v < 10.0 => format!("{value:.2}"),
        v if v < 100.0 => format!("{value:.1}"),
        _ => format!("{value:.0}"),
    }
}

/// Notices a measurement that does not finish: every step names itself with
/// [`Watchdog::enter`], and a step that lasts longer than [`STALL_LIMIT`]
/// is reported and ends the program, instead of hanging it.
struct Watchdog {
    current: Arc<Mutex<(String, Instant)>>,
}

impl Watchdog {
    fn start() -> Watchdog {
        let current = Arc::new(Mutex::new(("start-up".to_owned(), Instant::now())));
        let watched = Arc::clone(&current);
        thread::spawn(move || {
            loop {
                thread::sleep(Duration::from_secs(1));
                let (step, since) = &*watched.lock().expect("watchdog lock");
                if since.elapsed() > STALL_LIMIT {
                    eprintln!(
                        "compare_runtime: {step} has not finished after {} s; giving up",
                        STALL_LIMIT.as_secs()
                    );
                    process::exit(2);
                }
            }
        });
        Watchdog { current }
    }

    /// Starts the clock for the step called `step`.
    fn enter(&self, step: String) {
        *self.current.lock().expect("watchdog lock") = (step, Instant::now());
    }
}

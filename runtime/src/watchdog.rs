//! The stall watchdog: reports a micro-thread that keeps its worker too
//! long without parking.
//!
//! A micro-thread that computes for a long time, or calls a blocking `std`
//! function, holds up every other micro-thread of its worker. Each worker
//! publishes what it runs in an `OnCpu` record (`sched/inspect.rs`: a few
//! plain stores per resume, on a cache line only it writes); a watchdog
//! thread per runtime looks at the records a few times per threshold, as
//! Go's `sysmon` watches each P's `schedtick`, and reports through `log`
//! (target `dhaga::watchdog`, level warn) a micro-thread it saw running for
//! the threshold, once per stall.
//!
//! The report has no stack: a running micro-thread's stack can be read
//! only from its own thread, and doing so from a signal handler would not
//! be async-signal-safe.

use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::deadlock;
use crate::sched::{OnCpuNow, Shared};

/// Where `log` records of the watchdog go.
pub(crate) const TARGET: &str = "dhaga::watchdog";

/// Starts the watchdog thread of the runtime `shared`, which ends once the
/// runtime shuts down (wake it with `unpark` to make that quick).
pub(crate) fn start(shared: &Arc<Shared>, threshold: Duration) -> std::io::Result<thread::JoinHandle<()>> {
    let shared = Arc::downgrade(shared);
    thread::Builder::new()
        .name("dhaga-watchdog".into())
        .spawn(move || watch(&shared, threshold))
}

/// For each worker: the `seq` last seen, since when, and whether that stall
/// was reported.
struct Seen {
    seq: u64,
    since: Instant,
    reported: bool,
}

/// How often the watchdog looks: four times per stall threshold (a stall
/// is reported at most a quarter of the threshold late), or, with the
/// stall watchdog off, often enough for the deadlock watch.
pub(crate) fn tick(threshold: Duration) -> Duration {
    if threshold.is_zero() {
        return Duration::from_millis(25);
    }
    (threshold / 4).clamp(Duration::from_millis(1), Duration::from_millis(250))
}

fn watch(shared: &Weak<Shared>, threshold: Duration) {
    let tick = tick(threshold);
    let mut seen: Vec<Seen> = Vec::new();
    let mut deadlocks = deadlock::Watch::default();
    loop {
        thread::park_timeout(tick);
        let Some(shared) = shared.upgrade() else { return };
        if shared.is_shutdown() {
            return;
        }
        deadlocks.look(&shared);
        if threshold.is_zero() {
            continue;
        }
        let now = Instant::now();
        for (index, worker) in shared.workers.iter().enumerate() {
            let seq = worker.on_cpu.seq();
            if seen.len() <= index {
                seen.push(Seen {
                    seq,
                    since: now,
                    reported: false,
                });
                continue;
            }
            let seen = &mut seen[index];
            if seen.seq != seq {
                *seen = Seen {
                    seq,
                    since: now,
                    reported: false,
                };
                continue;
            }
            let ran = now.duration_since(seen.since);
            if seq % 2 == 1 && !seen.reported && ran >= threshold {
                seen.reported = true;
                if let Some(running) = worker.on_cpu.running(seq) {
                    report(index, &running, ran);
                }
            }
        }
    }
}

fn report(worker: usize, running: &OnCpuNow, ran: Duration) {
    let name = running
        .name
        .as_deref()
        .map(|name| format!(" \"{name}\""))
        .unwrap_or_default();
    let spawned = match running.spawned_at {
        Some(at) => format!(" (spawned at {}:{}:{})", at.file(), at.line(), at.column()),
        None => String::new(),
    };
    log::warn!(
        target: TARGET,
        "micro-thread {}{name}{spawned} has kept worker {worker} for {} ms without parking; the other \
         micro-threads of that worker wait meanwhile. Let it park (any blocking dhaga call does), call \
         dhaga::yield_now() in long loops, or move blocking or long work to dhaga::spawn_blocking. (No \
         stack: a running micro-thread's stack cannot be read soundly from another thread.)",
        running.task,
        ran.as_millis(),
    );
}

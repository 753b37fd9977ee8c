//! The stall watchdog: reports a micro-thread that keeps its worker too
//! long without parking.
//!
//! A micro-thread that computes for a long time, or calls a blocking `std`
//! function, holds up every other micro-thread of its worker. Each worker
//! publishes what it runs in an [`OnCpu`] record (a few plain stores per
//! resume, on a cache line only it writes); a watchdog thread per runtime
//! looks at the records a few times per threshold, as Go's `sysmon` watches
//! each P's `schedtick`, and reports through `log` (target
//! `dhaga::watchdog`, level warn) a micro-thread it saw running for the
//! threshold, once per stall.
//!
//! The report has no stack: a running micro-thread's stack can be read
//! only from its own thread, and doing so from a signal handler would not
//! be async-signal-safe.

use std::panic::Location;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering, fence};
use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::deadlock;
use crate::sched::Shared;
use crate::sched::Task;
use crate::spin::SpinLock;

/// Where `log` records of the watchdog go.
pub(crate) const TARGET: &str = "dhaga::watchdog";

/// What one worker runs now, published for the watchdog.
///
/// A sequence lock written only by its worker: `seq` is odd while a
/// micro-thread runs and even between two, and the fields describe the
/// micro-thread of the odd `seq` they were written for.
#[derive(Default)]
pub(crate) struct OnCpu {
    seq: AtomicU64,
    task: AtomicU64,
    /// Null, or a `&'static Location<'static>`: never anything else.
    spawned_at: AtomicPtr<Location<'static>>,
    /// The name of the last named micro-thread resumed, with its `seq`
    /// (names are rarer than resumes, and only they take this lock).
    name: SpinLock<(u64, Option<Arc<str>>)>,
}

impl OnCpu {
    /// The worker is about to resume `task`.
    #[inline]
    pub(crate) fn enter(&self, task: &Task) {
        let seq = self.seq.load(Ordering::Relaxed) + 1;
        debug_assert!(seq % 2 == 1, "a worker resumes one micro-thread at a time");
        // Pairs with the reader's acquire fence: a reader that sees any of
        // the stores below sees the even `seq` stored by `leave` before
        // them, so it cannot take them for the previous micro-thread's.
        fence(Ordering::Release);
        self.task.store(task.id(), Ordering::Relaxed);
        let spawned_at = task
            .spawned_at()
            .map_or(std::ptr::null_mut(), |at| std::ptr::from_ref(at).cast_mut());
        self.spawned_at.store(spawned_at, Ordering::Relaxed);
        if let Some(name) = task.shared_name() {
            *self.name.lock() = (seq, Some(Arc::clone(name)));
        }
        self.seq.store(seq, Ordering::Release);
    }

    /// The micro-thread resumed last has suspended or ended.
    #[inline]
    pub(crate) fn leave(&self) {
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq + 1, Ordering::Relaxed);
    }

    /// A number that changes every time the worker resumes a micro-thread
    /// or gets one back; odd while one runs.
    pub(crate) fn seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// The micro-thread running now, if one is.
    pub(crate) fn running_now(&self) -> Option<Running> {
        let seq = self.seq();
        if seq % 2 == 1 { self.running(seq) } else { None }
    }

    /// The micro-thread running as `seq` (read with [`OnCpu::seq`]), if it
    /// still is.
    fn running(&self, seq: u64) -> Option<Running> {
        let task = self.task.load(Ordering::Relaxed);
        let spawned_at = self.spawned_at.load(Ordering::Relaxed);
        let name = {
            let slot = self.name.lock();
            (slot.0 == seq).then(|| slot.1.clone()).flatten()
        };
        fence(Ordering::Acquire);
        if self.seq.load(Ordering::Relaxed) != seq {
            return None;
        }
        // SAFETY: `spawned_at` only ever holds null or a pointer made from a
        // `&'static Location<'static>` (see `enter`), which is valid for
        // reads for the rest of the program.
        let spawned_at = unsafe { spawned_at.as_ref() };
        Some(Running { task, name, spawned_at })
    }
}

/// A micro-thread found running.
pub(crate) struct Running {
    pub(crate) task: u64,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) spawned_at: Option<&'static Location<'static>>,
}

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

fn report(worker: usize, running: &Running, ran: Duration) {
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

//! Counters of what a runtime's workers do, and snapshots of them.
//!
//! Each worker counts in a `Counters` record of its own (`sched/`): a
//! counter is bumped with a plain load and store (no read-modify-write, no
//! cache line another thread writes), so counting costs the hot paths next
//! to nothing; [`Runtime::metrics`](crate::Runtime::metrics) reads the
//! records from any thread. A snapshot is not atomic across counters: each
//! value is one the worker had written shortly before.

use std::fmt;
use std::time::Duration;

use crate::sched::{Counters, Shared};

/// A snapshot of a runtime's counters, from [`Runtime::metrics`] or
/// [`metrics`](crate::metrics).
///
/// Counters count from the runtime's start; gauges (`alive`,
/// `ready_depth`, the stacks, the blocking pool's threads) are values at
/// the time of the snapshot, or at the worker's last look for
/// `ready_depth`.
///
/// [`Runtime::metrics`]: crate::Runtime::metrics
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Metrics {
    /// Per worker, by index (empty in thread mode).
    pub workers: Vec<WorkerMetrics>,
    /// Micro-threads spawned from outside the workers (OS threads, the
    /// runtime's `block_on`); in thread mode, every OS thread spawned.
    pub spawned_outside: u64,
    /// Micro-threads spawned and not started yet, in the queue for spawns
    /// from outside the workers.
    pub injected: usize,
    /// Free stacks in the runtime's shared pool (each worker's own cache
    /// is in [`WorkerMetrics::stacks_cached`]).
    pub stacks_pooled: usize,
    /// Stacks mapped in the whole process (running, parked, pooled or
    /// cached), by every runtime: a stack does not know its runtime.
    pub stacks_mapped: usize,
    /// Threads of the process's blocking pool (see
    /// [`spawn_blocking`](crate::spawn_blocking)) running a job.
    pub blocking_busy: usize,
    /// Threads of the blocking pool waiting for a job.
    pub blocking_idle: usize,
}

/// One worker's part of [`Metrics`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerMetrics {
    /// Micro-threads its micro-threads spawned (wherever they run).
    pub spawned: u64,
    /// Micro-threads that started on it.
    pub started: u64,
    /// Micro-threads of it that ended.
    pub finished: u64,
    /// Started and not ended: its micro-threads now.
    pub alive: u64,
    /// Times one of its micro-threads parked (suspended to wait).
    pub parks: u64,
    /// Times one of its micro-threads yielded.
    pub yields: u64,
    /// Wake-ups of its micro-threads by its own micro-threads.
    pub local_wakeups: u64,
    /// Wake-ups of its micro-threads from other threads (other workers, OS
    /// threads, timers of other workers).
    pub remote_wakeups: u64,
    /// Micro-threads not started yet that it took from the queue of spawns
    /// from outside or from a stalled worker.
    pub steals: u64,
    /// Times it waited in its reactor (with or without sleeping).
    pub reactor_waits: u64,
    /// Readiness events its reactor returned.
    pub reactor_events: u64,
    /// Time since the runtime started that it was not idle.
    pub busy: Duration,
    /// Time it waited for work: asleep in its reactor, or spinning before
    /// it slept, for the microseconds its work lately took to come back.
    pub idle: Duration,
    /// Runnable micro-threads queued on it, at its last look.
    pub ready_depth: u64,
    /// Free stacks in its own cache.
    pub stacks_cached: u64,
}

impl WorkerMetrics {
    fn read(counters: &Counters, up: Duration) -> WorkerMetrics {
        let (started, finished) = (counters.started.get(), counters.finished.get());
        let idle = Duration::from_nanos(counters.idle_ns.get());
        WorkerMetrics {
            spawned: counters.spawned.get(),
            started,
            finished,
            alive: started.saturating_sub(finished),
            parks: counters.parks.get(),
            yields: counters.yields.get(),
            local_wakeups: counters.local_wakeups.get(),
            remote_wakeups: counters.remote_wakeups.get(),
            steals: counters.steals.get(),
            reactor_waits: counters.reactor_waits.get(),
            reactor_events: counters.reactor_events.get(),
            busy: up.saturating_sub(idle),
            idle,
            ready_depth: counters.ready_depth.get(),
            stacks_cached: counters.stacks_cached.get(),
        }
    }
}

/// Reads the counters of `shared`.
pub(crate) fn snapshot(shared: &Shared) -> Metrics {
    let up = shared.started.elapsed();
    let (blocking_busy, blocking_idle) = crate::blocking::threads();
    Metrics {
        workers: if shared.config.thread_mode {
            Vec::new()
        } else {
            shared
                .workers
                .iter()
                .map(|worker| WorkerMetrics::read(&worker.counters, up))
                .collect()
        },
        spawned_outside: shared.spawned_outside(),
        injected: shared.injector.len(),
        stacks_pooled: shared.stacks.pooled(),
        stacks_mapped: crate::stack::mapped(),
        blocking_busy,
        blocking_idle,
    }
}

impl fmt::Display for Metrics {
    /// A table: one row per worker, then the runtime's totals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "worker    spawned    started   finished      alive      parks  wakeups(local/remote)  steals  \
             reactor(waits/events)  busy/idle (ms)  ready"
        )?;
        for (index, w) in self.workers.iter().enumerate() {
            writeln!(
                f,
                "{index:>6} {:>10} {:>10} {:>10} {:>10} {:>10}  {:>10}/{:<10} {:>7}  {:>10}/{:<10}  {:>6}/{:<7}  {:>5}",
                w.spawned,
                w.started,
                w.finished,
                w.alive,
                w.parks,
                w.local_wakeups,
                w.remote_wakeups,
                w.steals,
                w.reactor_waits,
                w.reactor_events,
                w.busy.as_millis(),
                w.idle.as_millis(),
                w.ready_depth,
            )?;
        }
        write!(
            f,
            "spawned outside the workers: {}, queued there: {}; stacks pooled: {}, mapped in the process: {}; \
             blocking pool threads busy: {}, idle: {}",
            self.spawned_outside,
            self.injected,
            self.stacks_pooled,
            self.stacks_mapped,
            self.blocking_busy,
            self.blocking_idle
        )
    }
}

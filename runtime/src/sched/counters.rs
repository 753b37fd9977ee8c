//! What a worker counts: one record per worker, each counter written by its
//! worker only, with a plain load and store (no read-modify-write, no cache
//! line another thread writes), so counting costs the hot paths next to
//! nothing; `metrics.rs` reads the records from any thread for a snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

/// A counter written by one thread, read by any.
#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`; called by the owning worker only.
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0
            .store(self.0.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// Sets a gauge; called by the owning worker only.
    #[inline]
    pub(crate) fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }

    /// The value; from any thread.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One worker's counters (see the module documentation); read by
/// `metrics.rs` for [`Runtime::metrics`](crate::Runtime::metrics).
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) spawned: Counter,
    pub(crate) started: Counter,
    pub(crate) finished: Counter,
    pub(crate) parks: Counter,
    pub(crate) yields: Counter,
    pub(crate) local_wakeups: Counter,
    pub(crate) remote_wakeups: Counter,
    pub(crate) steals: Counter,
    pub(crate) reactor_waits: Counter,
    pub(crate) reactor_events: Counter,
    /// Nanoseconds asleep in the reactor or spinning before that.
    pub(crate) idle_ns: Counter,
    /// Gauges, as of the worker's last look.
    pub(crate) ready_depth: Counter,
    pub(crate) stacks_cached: Counter,
}

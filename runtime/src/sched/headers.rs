//! Headers of ended micro-threads kept for reuse, so that a spawn allocates
//! nothing.
//!
//! Two levels, as the stack pool's (`stack.rs`): each worker keeps up to
//! [`LOCAL_HEADERS`] in a vector of its own, and moves them to and from the
//! runtime's shared store in batches of [`HEADER_BATCH`], one lock per batch.
//! The shared store is what lets a header freed on one worker serve a spawn
//! on another (a worker that only joins what others spawn), and what holds
//! a burst's headers beyond a worker's own few hundred.
//!
//! A kept header holds its runtime (`Task::scheduler`), and the shared store
//! is in the runtime: a cycle. [`SharedHeaders::clear`] breaks it; every
//! worker calls it (in `Shared::drain_pending`) as the last thing it does
//! as a worker, after its last spill, so the last worker to stop leaves the
//! store empty. Nothing may keep a header after that.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::scheduler::Task;
use crate::spin::SpinLock;

/// A header nobody else holds: no other `Arc`, no `Weak`. Made only by
/// [`Kept::new`], which checks that, and it never lends its `Arc` out, so
/// it stays so until [`Kept::into_arc`]: its header can be reset without
/// `Arc::get_mut`'s compare-and-swap at every spawn.
pub(crate) struct Kept(Arc<Task>);

impl Kept {
    /// `task`, if nobody else holds it; otherwise `None`, and `task` is
    /// dropped (by the last of its holders, later). A name goes now, not
    /// when the header is reused.
    pub(crate) fn new(mut task: Arc<Task>) -> Option<Kept> {
        let header = Arc::get_mut(&mut task)?;
        if header.name().is_some() {
            header.forget_name();
        }
        Some(Kept(task))
    }

    /// The header, to reset for a new micro-thread.
    pub(crate) fn header_mut(&mut self) -> &mut Task {
        // SAFETY: `Kept::new` saw the `Arc` unique (`get_mut` checks that
        // there is no other `Arc` and no `Weak`, with the ordering that
        // makes the other holders' last accesses happen before), and a
        // `Kept` neither clones nor lends it, so no other reference to the
        // header can have been made since; `&mut self` makes this the only
        // one now.
        unsafe { &mut *Arc::as_ptr(&self.0).cast_mut() }
    }

    /// The header.
    pub(crate) fn header(&self) -> &Task {
        &self.0
    }

    /// The header's `Arc`, to share with the new micro-thread's holders.
    pub(crate) fn into_arc(self) -> Arc<Task> {
        self.0
    }
}

/// The most headers a worker keeps in its own vector.
pub(crate) const LOCAL_HEADERS: usize = 256;

/// How many headers move between a worker and the shared store at a time.
pub(crate) const HEADER_BATCH: usize = LOCAL_HEADERS / 2;

/// The headers a runtime's workers share.
pub(crate) struct SharedHeaders {
    kept: SpinLock<Vec<Kept>>,
    /// `kept`'s length, for looking without the lock.
    len: AtomicUsize,
    /// The most headers `kept` holds; beyond that they are freed.
    cap: usize,
}

impl SharedHeaders {
    /// A store of at most `cap` headers.
    pub(crate) fn new(cap: usize) -> SharedHeaders {
        SharedHeaders {
            kept: SpinLock::new(Vec::new()),
            len: AtomicUsize::new(0),
            cap,
        }
    }

    /// Moves up to [`HEADER_BATCH`] headers into `into`.
    pub(crate) fn take(&self, into: &mut Vec<Kept>) {
        if self.len.load(Ordering::Relaxed) == 0 {
            return; // a look without the lock: none to take, or nearly
        }
        let mut kept = self.kept.lock();
        let from = kept.len().saturating_sub(HEADER_BATCH);
        into.extend(kept.drain(from..));
        self.len.store(kept.len(), Ordering::Relaxed);
    }

    /// Keeps `headers`, up to the store's capacity; returns those that did
    /// not fit, for the caller to free outside the lock (freeing a header
    /// may free its runtime).
    pub(crate) fn give(&self, headers: impl Iterator<Item = Kept>) -> Vec<Kept> {
        let mut kept = self.kept.lock();
        let mut left_over = Vec::new();
        for header in headers {
            if kept.len() < self.cap {
                kept.push(header);
            } else {
                left_over.push(header);
            }
        }
        self.len.store(kept.len(), Ordering::Relaxed);
        left_over
    }

    /// How many headers the store keeps now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Takes every kept header, for the caller to free outside the lock.
    pub(crate) fn clear(&self) -> Vec<Kept> {
        let mut kept = self.kept.lock();
        self.len.store(0, Ordering::Relaxed);
        std::mem::take(&mut *kept)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{HEADER_BATCH, Kept, SharedHeaders};
    use crate::sched::Task;

    /// The store keeps at most its capacity, hands out at most a batch at a
    /// time, and gives everything back when cleared.
    #[test]
    #[cfg_attr(miri, ignore = "builds a runtime: system calls Miri does not model")]
    fn the_store_is_bounded_and_moves_batches() {
        let rt = crate::Runtime::builder().workers(1).build().expect("build a runtime");
        let header = || Kept::new(Arc::new(Task::new(0, None, None, Arc::clone(rt.scheduler())))).expect("unique");
        let cap = HEADER_BATCH + 10;
        let store = SharedHeaders::new(cap);

        let left_over = store.give((0..cap + 5).map(|_| header()));
        assert_eq!(left_over.len(), 5, "what does not fit is handed back to be freed");

        let mut taken = Vec::new();
        store.take(&mut taken);
        assert_eq!(taken.len(), HEADER_BATCH, "one batch at a time");
        store.take(&mut taken);
        assert_eq!(taken.len(), cap, "then the rest");
        store.take(&mut taken);
        assert_eq!(taken.len(), cap, "nothing from an empty store");

        assert!(store.give(taken.drain(..3)).is_empty());
        assert_eq!(store.clear().len(), 3, "clear takes every kept header");
        store.take(&mut taken);
        assert_eq!(taken.len(), cap - 3, "and leaves the store empty");
    }
}

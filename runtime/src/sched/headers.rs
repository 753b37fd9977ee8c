//! Headers of ended micro-threads kept for reuse, so that a spawn allocates
//! nothing.
//!
//! Two levels, as the stack pool's (`stack.rs`): each worker keeps up to
//! [`LOCAL_HEADERS`] in a vector of its own, and moves them to and from the
//! runtime's shared store (a [`SharedPool`]) in batches of [`HEADER_BATCH`],
//! one lock per batch.
//! The shared store is what lets a header freed on one worker serve a spawn
//! on another (a worker that only joins what others spawn), and what holds
//! a burst's headers beyond a worker's own few hundred.
//!
//! A kept header holds its runtime (`Task::scheduler`), and the shared store
//! is in the runtime: a cycle. [`SharedPool::clear`] breaks it; every
//! worker calls it (in `Shared::drain_pending`) as the last thing it does
//! as a worker, after its last spill, so the last worker to stop leaves the
//! store empty. Nothing may keep a header after that.

use std::sync::Arc;

use super::scheduler::Task;
use crate::pool::SharedPool;

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
pub(crate) type SharedHeaders = SharedPool<Kept>;

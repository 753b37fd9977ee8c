//! The waiter record every lock and coordination primitive queues, and the
//! one loop that parks on it.
//!
//! A waiter allocates a [`Node`], puts it on its primitive's queue (a
//! `VecDeque` behind the primitive's spinlock) and parks until the node is
//! *signalled*: whoever takes the node off the queue (an unlocker handing the
//! lock over, a `notify_one`, a barrier's last arrival) stores a non-zero
//! signal under the spinlock and then unparks the waiter, after releasing the
//! spinlock. So, under the spinlock, "signalled" and "off the queue" are the
//! same fact, and a waiter that stops waiting for its own reasons (timeout,
//! cancellation) takes the spinlock and finds out which case it is in: still
//! queued (it removes itself) or already signalled (it accepts what it was
//! given, or passes it on). Nothing is lost either way.
//!
//! Parking goes through `park::park`, so a waiter may be a micro-thread or an
//! OS thread, and wake-ups may be spurious: [`Node::park`] loops until the
//! signal is set or the deadline passes.
//!
//! A micro-thread that is unwinding cannot park (see `park::park`). The
//! primitives' fallible forms (`try_*`, `*_timeout`) then fail at once; the
//! forms that cannot fail (`lock`, `wait`, …) make the node *block its OS
//! thread* instead, as the same call would on a plain thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use crate::park;
use crate::sched::Unparker;
use crate::sched::context;
use crate::task::Wake;
use crate::wait::Waiting;

/// A node's signal while it is queued and nobody has signalled it.
pub(super) const WAITING: u8 = 0;

/// One waiting micro-thread or OS thread, with primitive-specific `data`.
pub(super) struct Node<D = ()> {
    /// [`WAITING`] while queued; the primitive's own non-zero code once
    /// signalled. Written under the primitive's spinlock.
    signal: AtomicU8,
    unparker: Unparker,
    /// The waiter blocks its OS thread instead of parking (a micro-thread
    /// that is unwinding and must wait all the same).
    blocks_thread: bool,
    /// What the primitive needs to know about the waiter (a reader or a
    /// writer, when it started waiting).
    pub(super) data: D,
}

impl<D> Node<D> {
    /// A node for the caller. `must_wait`: the caller's operation cannot
    /// fail, so an unwinding micro-thread blocks its OS thread rather than
    /// giving up.
    pub(super) fn new(data: D, must_wait: bool) -> Arc<Node<D>> {
        let blocks_thread = must_wait && std::thread::panicking() && context::in_micro_thread();
        let unparker = if blocks_thread {
            Unparker::Thread(std::thread::current())
        } else {
            Unparker::current()
        };
        Arc::new(Node {
            signal: AtomicU8::new(WAITING),
            unparker,
            blocks_thread,
            data,
        })
    }

    /// The node's signal ([`WAITING`] if none yet).
    pub(super) fn signal(&self) -> u8 {
        self.signal.load(Ordering::Acquire)
    }

    /// Signals the node. Called under the primitive's spinlock, once the
    /// node is off the queue; call [`Node::unpark`] after releasing it.
    pub(super) fn set(&self, signal: u8) {
        debug_assert_ne!(signal, WAITING);
        self.signal.store(signal, Ordering::Release);
    }

    /// Clears the signal before the node is queued again (under the
    /// primitive's spinlock).
    pub(super) fn reset(&self) {
        self.signal.store(WAITING, Ordering::Relaxed);
    }

    /// Wakes the waiter (after [`Node::set`], outside the spinlock).
    pub(super) fn unpark(&self) {
        self.unparker.clone().unpark();
    }

    /// Parks until the node is signalled (`Ok(signal)`) or `deadline`
    /// passes (`Err(TimedOut)`), or, for a micro-thread that is unwinding
    /// and may give up, at once (`Err(Cancelled)`). A micro-thread that is
    /// cancelled while parked unwinds out of this call.
    ///
    /// After an `Err` the node may still be signalled at any moment: the
    /// caller takes the spinlock and looks again.
    pub(super) fn park(&self, waiting: Waiting, deadline: Option<Instant>) -> Result<u8, Wake> {
        loop {
            let signal = self.signal();
            if signal != WAITING {
                return Ok(signal);
            }
            let wake = if self.blocks_thread {
                park::park_thread_until(deadline)
            } else {
                park::park(waiting, deadline)
            };
            if wake != Wake::Notified {
                let signal = self.signal();
                return if signal == WAITING { Err(wake) } else { Ok(signal) };
            }
        }
    }
}

/// Takes `node` off `queue` if it is there; returns whether it was.
pub(super) fn remove<D>(queue: &mut std::collections::VecDeque<Arc<Node<D>>>, node: &Arc<Node<D>>) -> bool {
    match queue.iter().position(|queued| Arc::ptr_eq(queued, node)) {
        Some(pos) => {
            queue.remove(pos);
            true
        }
        None => false,
    }
}

/// The deadline `timeout` from now; `None` (no deadline) if that is too far
/// to represent.
pub(super) fn deadline_after(timeout: std::time::Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// Runs a clean-up closure if dropped before [`UnwindGuard::disarm`]: how a
/// waiter that unwinds out of `park` (runtime shutdown) leaves its queue and
/// passes on whatever it had already been handed.
pub(super) struct UnwindGuard<F: FnOnce()> {
    cleanup: Option<F>,
}

impl<F: FnOnce()> UnwindGuard<F> {
    pub(super) fn new(cleanup: F) -> UnwindGuard<F> {
        UnwindGuard { cleanup: Some(cleanup) }
    }

    /// The wait ended normally: nothing to clean up.
    pub(super) fn disarm(mut self) {
        self.cleanup = None;
    }
}

impl<F: FnOnce()> Drop for UnwindGuard<F> {
    fn drop(&mut self) {
        if let Some(cleanup) = self.cleanup.take() {
            cleanup();
        }
    }
}

/// Nodes signalled under a spinlock, to unpark once it is released.
pub(super) struct Wakes<D> {
    nodes: Vec<Arc<Node<D>>>,
}

impl<D> Wakes<D> {
    pub(super) const fn new() -> Wakes<D> {
        Wakes { nodes: Vec::new() }
    }

    /// Signals `node` (call under the spinlock) and keeps it for unparking.
    pub(super) fn signal(&mut self, node: Arc<Node<D>>, signal: u8) {
        node.set(signal);
        self.nodes.push(node);
    }

    /// Unparks every node kept (call after releasing the spinlock).
    pub(super) fn unpark_all(self) {
        for node in self.nodes {
            node.unpark();
        }
    }
}

//! A wait group, in crossbeam's style: every clone is a member, dropping a
//! member marks it done, and `wait` consumes one member and waits for the
//! rest.
//!
//! # Why this style and not Go's
//!
//! Go's `Add`/`Done`/`Wait` counts by hand: a worker that panics before its
//! `Done` leaves `Wait` hanging for ever, and a `Done` too many is a crash.
//! Here membership is a value: a worker owns its clone, and the clone is
//! dropped when the worker ends — normally, by panic, or unwound because its
//! runtime shut down — so the count cannot go wrong. Rust users know this
//! API from `crossbeam::sync::WaitGroup`, and dhaga's channels follow
//! crossbeam too.
//!
//! # How it works
//!
//! A spinlock guards the member count and the queue of waiters. The drop
//! that takes the count to zero releases every waiter.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::waiter::{self, Node, UnwindGuard, Wakes};
use crate::spin::SpinLock;
use crate::wait::{Waiting, reason};

/// Signal: the count reached zero.
const RELEASED: u8 = 1;

/// Waits until a group of workers is done: clone it into each worker, and
/// [`wait`](WaitGroup::wait) on the original; `wait` returns once every
/// clone has been dropped. A waiting micro-thread parks, a waiting OS thread
/// blocks.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use dhaga_runtime::sync::WaitGroup;
///
/// let done = Arc::new(AtomicUsize::new(0));
/// let done2 = Arc::clone(&done);
/// dhaga_runtime::run(move || {
///     let wg = WaitGroup::new();
///     for _ in 0..100 {
///         let wg = wg.clone();
///         let done = Arc::clone(&done2);
///         dhaga_runtime::spawn(move || {
///             done.fetch_add(1, Ordering::Relaxed);
///             drop(wg); // this worker is done
///         });
///     }
///     wg.wait(); // until all 100 clones are dropped
/// });
/// assert_eq!(done.load(Ordering::Relaxed), 100);
/// ```
pub struct WaitGroup {
    inner: Arc<Inner>,
}

struct Inner {
    state: SpinLock<State>,
}

struct State {
    /// Live members: `WaitGroup` values.
    members: usize,
    waiters: Vec<Arc<Node>>,
}

impl WaitGroup {
    /// A group with one member: the value returned.
    pub fn new() -> WaitGroup {
        WaitGroup {
            inner: Arc::new(Inner {
                state: SpinLock::new(State {
                    members: 1,
                    waiters: Vec::new(),
                }),
            }),
        }
    }

    /// Drops this member and waits until every other member is dropped too.
    ///
    /// # Panics
    ///
    /// If a micro-thread is cancelled (its runtime shuts down) while parked
    /// here, it unwinds from this call. A micro-thread that is unwinding
    /// already cannot park: it blocks its worker thread instead.
    pub fn wait(self) {
        let inner = Arc::clone(&self.inner);
        drop(self);
        inner.wait_until(None, true);
    }

    /// As [`WaitGroup::wait`], but waits at most `timeout`.
    ///
    /// # Errors
    ///
    /// If members were still alive when the time ran out, this member is
    /// given back (alive again, as if it had not waited), so the caller can
    /// wait again or drop it. A micro-thread that is unwinding does not wait.
    pub fn wait_timeout(self, timeout: Duration) -> Result<(), WaitGroup> {
        let inner = Arc::clone(&self.inner);
        drop(self);
        if inner.wait_until(waiter::deadline_after(timeout), false) {
            return Ok(());
        }
        let mut state = inner.state.lock();
        if state.members == 0 {
            // Done just now: the group was released, do not revive it.
            return Ok(());
        }
        state.members += 1;
        drop(state);
        Err(WaitGroup { inner })
    }
}

impl Inner {
    /// Waits for the count to reach zero; whether it did before `deadline`.
    fn wait_until(&self, deadline: Option<Instant>, must_wait: bool) -> bool {
        let node = {
            let mut state = self.state.lock();
            if state.members == 0 {
                return true;
            }
            let node = Node::new((), must_wait);
            state.waiters.push(Arc::clone(&node));
            node
        };
        let cleanup = UnwindGuard::new(|| {
            self.leave(&node);
        });
        let released = match node.park(Waiting::at(&reason::WAIT_GROUP, self), deadline) {
            Ok(_) => true,
            Err(_) => !self.leave(&node),
        };
        cleanup.disarm();
        released
    }

    /// Leaves the waiters unless released; returns whether it left.
    fn leave(&self, node: &Arc<Node>) -> bool {
        let mut state = self.state.lock();
        if node.signal() == RELEASED {
            return false;
        }
        if let Some(pos) = state.waiters.iter().position(|w| Arc::ptr_eq(w, node)) {
            state.waiters.swap_remove(pos);
        }
        true
    }
}

impl Default for WaitGroup {
    fn default() -> WaitGroup {
        WaitGroup::new()
    }
}

impl Clone for WaitGroup {
    /// A new member of the same group.
    fn clone(&self) -> WaitGroup {
        let mut state = self.inner.state.lock();
        state.members = state.members.checked_add(1).expect("too many WaitGroup members");
        drop(state);
        WaitGroup {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl Drop for WaitGroup {
    /// This member is done; the last one releases the waiters.
    fn drop(&mut self) {
        let mut state = self.inner.state.lock();
        state.members -= 1;
        if state.members > 0 || state.waiters.is_empty() {
            return;
        }
        let mut wakes = Wakes::new();
        for node in std::mem::take(&mut state.waiters) {
            wakes.signal(node, RELEASED);
        }
        drop(state);
        wakes.unpark_all();
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let members = self.inner.state.lock().members;
        f.debug_struct("WaitGroup").field("members", &members).finish()
    }
}

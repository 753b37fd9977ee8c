//! A barrier that parks micro-threads and blocks OS threads.
//!
//! # How it works
//!
//! A spinlock guards the count of arrivals and the queue of those waiting.
//! The last arrival of a generation is its leader: it resets the count and
//! signals every queued waiter, which makes the barrier ready for the next
//! generation at once. A waiter that times out (or unwinds) before its
//! generation is complete withdraws its arrival, so the barrier still needs
//! `n` arrivals and stays usable; one that finds itself released already
//! counts as passed.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::waiter::{self, Node, UnwindGuard, Wakes};
use crate::spin::SpinLock;
use crate::wait::{Waiting, reason};

/// Signal: the waiter's generation is complete.
const RELEASED: u8 = 1;

/// A barrier with `std::sync::Barrier`'s API: [`wait`](Barrier::wait) holds
/// its caller (parking a micro-thread, blocking an OS thread) until `n`
/// callers have arrived, then releases them all; it can be used again at
/// once for the next `n`.
///
/// # Waiting while unwinding
///
/// A micro-thread that is unwinding cannot park: `wait` then blocks its
/// worker thread; `wait_timeout` gives up at once.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use dhaga_runtime::sync::Barrier;
///
/// let barrier = Arc::new(Barrier::new(10));
/// let leaders = dhaga_runtime::run(move || {
///     let handles: Vec<_> = (0..10)
///         .map(|_| {
///             let barrier = Arc::clone(&barrier);
///             dhaga_runtime::spawn(move || barrier.wait())
///         })
///         .collect();
///     handles.into_iter().map(|h| h.join().unwrap()).filter(|r| r.is_leader()).count()
/// });
/// assert_eq!(leaders, 1);
/// ```
pub struct Barrier {
    n: usize,
    state: SpinLock<State>,
}

struct State {
    /// Arrivals of the current generation still waiting.
    count: usize,
    waiters: Vec<Arc<Node>>,
}

/// What [`Barrier::wait`] returns: whether the caller is its generation's
/// leader (exactly one caller per generation is).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// Whether this caller was the generation's leader: the last to arrive.
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// A barrier that releases its waiters `n` at a time (`n` of 0 or 1:
    /// every `wait` returns at once, as the leader).
    pub const fn new(n: usize) -> Barrier {
        Barrier {
            n,
            state: SpinLock::new(State {
                count: 0,
                waiters: Vec::new(),
            }),
        }
    }

    /// Waits until `n` callers have called `wait`, then returns in all of
    /// them; one of them is the leader.
    ///
    /// # Panics
    ///
    /// If a micro-thread is cancelled (its runtime shuts down) while parked
    /// here, it withdraws its arrival and unwinds from this call.
    pub fn wait(&self) -> BarrierWaitResult {
        self.wait_until(None, true)
            .expect("a wait with no deadline ends only when released")
    }

    /// As [`Barrier::wait`], but waits at most `timeout`: `None` if the
    /// generation was not complete in time, in which case the caller's
    /// arrival is withdrawn (the barrier still needs `n` others). Released
    /// just as the time runs out counts as released.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<BarrierWaitResult> {
        self.wait_until(waiter::deadline_after(timeout), false)
    }

    fn wait_until(&self, deadline: Option<Instant>, must_wait: bool) -> Option<BarrierWaitResult> {
        let node = {
            let mut state = self.state.lock();
            if state.count + 1 >= self.n {
                state.count = 0;
                let mut wakes = Wakes::new();
                for node in std::mem::take(&mut state.waiters) {
                    wakes.signal(node, RELEASED);
                }
                drop(state);
                wakes.unpark_all();
                return Some(BarrierWaitResult(true));
            }
            state.count += 1;
            let node = Node::new((), must_wait);
            state.waiters.push(Arc::clone(&node));
            node
        };
        let cleanup = UnwindGuard::new(|| {
            self.withdraw(&node);
        });
        let released = match node.park(Waiting::at(&reason::BARRIER, self), deadline) {
            Ok(_) => true,
            Err(_) => !self.withdraw(&node),
        };
        cleanup.disarm();
        released.then_some(BarrierWaitResult(false))
    }

    /// Takes back the arrival of a waiter that stops waiting, unless its
    /// generation was complete meanwhile. Returns whether it withdrew.
    fn withdraw(&self, node: &Arc<Node>) -> bool {
        let mut state = self.state.lock();
        if node.signal() == RELEASED {
            return false;
        }
        if let Some(pos) = state.waiters.iter().position(|w| Arc::ptr_eq(w, node)) {
            state.waiters.swap_remove(pos);
            state.count -= 1;
        }
        true
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").field("n", &self.n).finish_non_exhaustive()
    }
}

impl fmt::Debug for BarrierWaitResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWaitResult").field("is_leader", &self.0).finish()
    }
}

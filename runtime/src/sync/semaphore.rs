//! A counting semaphore that parks micro-threads and blocks OS threads.
//!
//! # How it works
//!
//! One atomic word holds the number of free permits and `QUEUED` (the waiter
//! queue is not empty). Taking a free permit and returning one that nobody
//! waits for are one compare-and-swap each. Waiters are served FIFO with
//! direct hand-off: a permit returned while anyone waits goes to the first
//! waiter without ever being counted as free, so `QUEUED` implies that no
//! permit is free, newcomers queue behind the waiters, and nobody starves.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::waiter::{self, Node, UnwindGuard, Wakes};
use crate::spin::SpinLock;
use crate::wait::{Waiting, reason};

/// The waiter queue is not empty. Changed only under the queue's spinlock.
const QUEUED: usize = 1;
/// One permit (the count starts at this bit).
const ONE: usize = 2;

/// Signal: a permit was handed to the waiter.
const GRANTED: u8 = 1;

/// A counting semaphore: [`acquire`](Semaphore::acquire) takes one of a
/// number of permits, waiting (parking a micro-thread, blocking an OS
/// thread) while none is free; dropping the returned [`SemaphorePermit`]
/// gives it back.
///
/// Waiters get permits in the order they asked, and a permit given back
/// while someone waits goes straight to the first waiter: the semaphore
/// never admits more holders than it has permits, and nobody starves.
///
/// # Waiting while unwinding
///
/// As for [`Mutex`](super::Mutex): `acquire` blocks an unwinding
/// micro-thread's worker thread if it must wait; `acquire_timeout` gives up
/// at once.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use dhaga_runtime::sync::Semaphore;
///
/// // At most two micro-threads inside at a time.
/// let sem = Arc::new(Semaphore::new(2));
/// dhaga_runtime::run(move || {
///     let handles: Vec<_> = (0..10)
///         .map(|_| {
///             let sem = Arc::clone(&sem);
///             dhaga_runtime::spawn(move || {
///                 let _permit = sem.acquire();
///                 assert!(sem.available_permits() <= 1);
///             })
///         })
///         .collect();
///     for handle in handles {
///         handle.join().unwrap();
///     }
///     assert_eq!(sem.available_permits(), 2);
/// });
/// ```
pub struct Semaphore {
    state: AtomicUsize,
    queue: SpinLock<VecDeque<Arc<Node>>>,
}

impl UnwindSafe for Semaphore {}
impl RefUnwindSafe for Semaphore {}

/// A permit of a [`Semaphore`], given back when dropped (or kept for good
/// with [`SemaphorePermit::forget`]).
#[must_use = "dropping the permit gives it back at once"]
pub struct SemaphorePermit<'a> {
    semaphore: &'a Semaphore,
}

impl Semaphore {
    /// The most permits a semaphore can hold.
    pub const MAX_PERMITS: usize = usize::MAX / ONE;

    /// A semaphore with `permits` free permits.
    ///
    /// # Panics
    ///
    /// If `permits` exceeds [`Semaphore::MAX_PERMITS`].
    pub const fn new(permits: usize) -> Semaphore {
        assert!(permits <= Semaphore::MAX_PERMITS, "too many permits for a Semaphore");
        Semaphore {
            state: AtomicUsize::new(permits * ONE),
            queue: SpinLock::new(VecDeque::new()),
        }
    }

    /// Takes a permit, parking the calling micro-thread (or blocking the
    /// calling OS thread) until one is free.
    ///
    /// # Panics
    ///
    /// If a micro-thread is cancelled (its runtime shuts down) while parked
    /// here, it unwinds from this call without a permit.
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        if !self.try_take() {
            self.acquire_slow(None, true);
        }
        SemaphorePermit { semaphore: self }
    }

    /// Takes a permit if one is free.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.try_take().then(|| SemaphorePermit { semaphore: self })
    }

    /// Takes a permit, waiting at most `timeout`; `None` if none came in
    /// time. A permit handed over just as the time runs out is taken, not
    /// lost. A micro-thread that is unwinding does not wait: it only tries.
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        let acquired = self.try_take() || self.acquire_slow(waiter::deadline_after(timeout), false);
        acquired.then(|| SemaphorePermit { semaphore: self })
    }

    /// Adds `n` permits: hands them to waiters first, in order, and counts
    /// the rest as free. Also how a permit given up with
    /// [`SemaphorePermit::forget`] comes back.
    ///
    /// # Panics
    ///
    /// If the free permits would exceed [`Semaphore::MAX_PERMITS`].
    pub fn add_permits(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut state = self.state.load(Ordering::Relaxed);
        while state & QUEUED == 0 {
            let next = add(state, n);
            match self
                .state
                .compare_exchange_weak(state, next, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
        self.add_slow(n);
    }

    /// The number of free permits now (others may take or return some
    /// right after).
    pub fn available_permits(&self) -> usize {
        self.state.load(Ordering::Relaxed) / ONE
    }

    fn try_take(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            // QUEUED implies no free permit, so this also keeps order.
            if state < ONE {
                return false;
            }
            match self
                .state
                .compare_exchange_weak(state, state - ONE, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
    }

    #[cold]
    fn acquire_slow(&self, deadline: Option<Instant>, must_wait: bool) -> bool {
        let node = Node::new((), must_wait);
        {
            let mut queue = self.queue.lock();
            let mut state = self.state.load(Ordering::Relaxed);
            loop {
                let (next, order) = if state >= ONE {
                    (state - ONE, Ordering::Acquire)
                } else {
                    (state | QUEUED, Ordering::Relaxed)
                };
                match self.state.compare_exchange_weak(state, next, order, Ordering::Relaxed) {
                    Ok(_) if state >= ONE => return true,
                    Ok(_) => break,
                    Err(actual) => state = actual,
                }
            }
            queue.push_back(Arc::clone(&node));
        }
        let cleanup = UnwindGuard::new(|| {
            if self.give_up(&node) {
                // Handed a permit we will not use: pass it on.
                self.add_permits(1);
            }
        });
        let acquired = match node.park(Waiting::at(&reason::SEMAPHORE, self), deadline) {
            Ok(_) => true,
            Err(_) => self.give_up(&node),
        };
        cleanup.disarm();
        acquired
    }

    /// The wait ended early: leaves the queue unless a permit was handed
    /// over meanwhile. Returns whether the caller has a permit.
    fn give_up(&self, node: &Arc<Node>) -> bool {
        let mut queue = self.queue.lock();
        if node.signal() == GRANTED {
            return true;
        }
        waiter::remove(&mut queue, node);
        if queue.is_empty() {
            self.state.fetch_and(!QUEUED, Ordering::Relaxed);
        }
        false
    }

    #[cold]
    fn add_slow(&self, mut n: usize) {
        let mut queue = self.queue.lock();
        let mut wakes = Wakes::new();
        while n > 0 {
            let Some(node) = queue.pop_front() else { break };
            wakes.signal(node, GRANTED);
            n -= 1;
        }
        if queue.is_empty() {
            // Clear QUEUED and count what is left as free, at once.
            let mut state = self.state.load(Ordering::Relaxed);
            loop {
                let next = add(state & !QUEUED, n);
                match self
                    .state
                    .compare_exchange_weak(state, next, Ordering::Release, Ordering::Relaxed)
                {
                    Ok(_) => break,
                    Err(actual) => state = actual,
                }
            }
        }
        drop(queue);
        wakes.unpark_all();
    }
}

/// `state` with `n` more free permits.
fn add(state: usize, n: usize) -> usize {
    n.checked_mul(ONE)
        .and_then(|more| state.checked_add(more))
        .expect("too many permits for a Semaphore")
}

impl SemaphorePermit<'_> {
    /// Keeps the permit for good: it is not given back on drop (see
    /// [`Semaphore::add_permits`]).
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.semaphore.add_permits(1);
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}

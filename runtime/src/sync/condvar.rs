//! A condition variable for [`Mutex`](super::Mutex) that parks micro-threads
//! and blocks OS threads.
//!
//! # How it works
//!
//! A waiter queues itself *before* it unlocks the mutex, so a notifier that
//! takes the mutex after it (to change the condition) finds it queued: no
//! wake-up is lost. Notifying takes waiters off the front of the queue (FIFO)
//! and signals them. A waiter that stops waiting on its own (timeout,
//! cancellation) but finds itself signalled already keeps the notification
//! (a timeout then reports "not timed out") or, if it unwinds, passes it on
//! to the next waiter, so `notify_one` always reaches a waiter that returns.

use std::collections::VecDeque;
use std::fmt;
use std::mem::ManuallyDrop;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::{Arc, LockResult, PoisonError};
use std::time::{Duration, Instant};

use super::mutex::MutexGuard;
use super::waiter::{self, Node, UnwindGuard, Wakes};
use crate::spin::SpinLock;
use crate::wait::{Waiting, reason};

/// Signal: the waiter was notified.
const NOTIFIED: u8 = 1;

/// Whether a [`Condvar::wait_timeout`] (or one of its forms) returned
/// because its time ran out. std's type of that name cannot be made outside
/// std, so this one has the same method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// Whether the wait ended because the timeout elapsed (and not because
    /// of a notification).
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// A condition variable with `std::sync::Condvar`'s API, for
/// [`Mutex`](super::Mutex)es of this module: a waiting micro-thread parks,
/// a waiting OS thread blocks, and either may notify the other.
///
/// Wake-ups may be spurious: wait in a loop that checks the condition, or
/// use [`Condvar::wait_while`]. Waiters are notified in the order they
/// started waiting. One condition variable may be used with several
/// mutexes (std leaves that unspecified; here it simply works).
///
/// # Waiting while unwinding
///
/// A micro-thread that is unwinding cannot park: [`wait`](Condvar::wait)
/// and [`wait_while`](Condvar::wait_while) then block its worker thread, the
/// timeout forms return at once as timed out.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use dhaga_runtime::sync::{Condvar, Mutex};
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let pair2 = Arc::clone(&pair);
/// dhaga_runtime::run(move || {
///     dhaga_runtime::spawn(move || {
///         let (ready, cvar) = &*pair2;
///         *ready.lock().unwrap() = true;
///         cvar.notify_one();
///     });
///     let (ready, cvar) = &*pair;
///     let ready = cvar.wait_while(ready.lock().unwrap(), |ready| !*ready).unwrap();
///     assert!(*ready);
/// });
/// ```
pub struct Condvar {
    queue: SpinLock<VecDeque<Arc<Node>>>,
}

impl UnwindSafe for Condvar {}
impl RefUnwindSafe for Condvar {}

impl Condvar {
    /// A condition variable nobody waits on.
    pub const fn new() -> Condvar {
        Condvar {
            queue: SpinLock::new(VecDeque::new()),
        }
    }

    /// Unlocks the mutex of `guard`, waits for a notification, and locks the
    /// mutex again before returning.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned when it is locked again, `Err` with the
    /// guard inside.
    ///
    /// # Panics
    ///
    /// If a micro-thread is cancelled (its runtime shuts down) while parked
    /// here, it unwinds from this call with the mutex unlocked; the guard is
    /// forgotten, not dropped.
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        let (guard, _) = self.wait_until(guard, None, true);
        guard.lock.poison.result(guard)
    }

    /// Waits while `condition` returns `true` for the data, re-checking it
    /// after every wake-up; returns with the mutex locked and the condition
    /// `false`.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned when it is locked again, `Err` with the
    /// guard inside.
    pub fn wait_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> LockResult<MutexGuard<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// As [`Condvar::wait`], but waits at most `timeout`. A notification that
    /// arrives just as the time runs out counts: the result then says "not
    /// timed out", and the notification is not lost.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned when it is locked again, `Err` with the
    /// guard and the result inside.
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let (guard, notified) = self.wait_until(guard, waiter::deadline_after(timeout), false);
        guard.lock.poison.result((guard, WaitTimeoutResult(!notified)))
    }

    /// Waits while `condition` returns `true`, for at most `timeout` in
    /// all. Returns with the mutex locked, and "timed out" if the condition
    /// was still `true` when the time ran out.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned when it is locked again, `Err` with the
    /// guard and the result inside.
    pub fn wait_timeout_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)>
    where
        F: FnMut(&mut T) -> bool,
    {
        let deadline = waiter::deadline_after(timeout);
        loop {
            if !condition(&mut *guard) {
                return Ok((guard, WaitTimeoutResult(false)));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok((guard, WaitTimeoutResult(true)));
            }
            let (next, notified) = self.wait_until(guard, deadline, false);
            if next.lock.poison.get() {
                return Err(PoisonError::new((next, WaitTimeoutResult(!notified))));
            }
            guard = next;
        }
    }

    /// Wakes the waiter that has waited longest, if any.
    pub fn notify_one(&self) {
        let mut queue = self.queue.lock();
        let node = queue.pop_front();
        if let Some(node) = &node {
            node.set(NOTIFIED);
        }
        drop(queue);
        if let Some(node) = node {
            node.unpark();
        }
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        let mut queue = self.queue.lock();
        if queue.is_empty() {
            return;
        }
        let mut wakes = Wakes::new();
        for node in std::mem::take(&mut *queue) {
            wakes.signal(node, NOTIFIED);
        }
        drop(queue);
        wakes.unpark_all();
    }

    /// The wait itself: queue, unlock, park, lock again. Returns the guard
    /// and whether the waiter was notified (`false`: it timed out, or gave
    /// up because it is an unwinding micro-thread and `must_wait` is false).
    fn wait_until<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
        must_wait: bool,
    ) -> (MutexGuard<'a, T>, bool) {
        // If we unwind while parked the mutex is not ours: the guard must
        // not unlock it then.
        let guard = ManuallyDrop::new(guard);
        let node = Node::new((), must_wait);
        self.queue.lock().push_back(Arc::clone(&node));
        guard.lock.raw.unlock();
        let cleanup = UnwindGuard::new(|| {
            if self.leave(&node) {
                // Notified, but we will not return: pass it on.
                self.notify_one();
            }
        });
        let notified = match node.park(Waiting::at(&reason::CONDVAR, self), deadline) {
            Ok(_) => true,
            Err(_) => self.leave(&node),
        };
        cleanup.disarm();
        guard.lock.raw.lock();
        (ManuallyDrop::into_inner(guard), notified)
    }

    /// Leaves the queue unless notified already; returns whether notified.
    fn leave(&self, node: &Arc<Node>) -> bool {
        let mut queue = self.queue.lock();
        if node.signal() == NOTIFIED {
            return true;
        }
        waiter::remove(&mut queue, node);
        false
    }
}

impl Default for Condvar {
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}

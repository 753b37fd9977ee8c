//! A mutual-exclusion lock that parks micro-threads and blocks OS threads.
//!
//! # How it works
//!
//! One atomic word holds the lock: `LOCKED`, `QUEUED` (the waiter queue is
//! not empty) and `WAKING` (a waiter has been woken to compete for the lock
//! and is on its way). Locking an unlocked mutex is one compare-and-swap, and
//! unlocking one that nobody waits for is another: the queue, behind a
//! spinlock, is only touched under contention.
//!
//! Fairness is Go's `sync.Mutex` design: *barging with a bound*. A running
//! locker may take a free lock before the waiters (a micro-thread that locks
//! and unlocks in a loop keeps running instead of switching at every unlock),
//! and an unlocker wakes the first waiter, which competes for the lock and,
//! if it loses, goes back to the *front* of the queue. But once the first
//! waiter has waited [`FAIR_AFTER`], the unlocker hands the lock to it
//! directly, without releasing it. So nobody waits much longer than that
//! behind lockers that barge, and waiters are served in order.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LockResult, PoisonError, TryLockError, TryLockResult};
use std::time::{Duration, Instant};

use super::waiter::{self, Node, UnwindGuard, WAITING};
use crate::spin::SpinLock;
use crate::wait::{Waiting, reason};

/// The lock is held.
const LOCKED: usize = 1;
/// The waiter queue is not empty. Changed only under the queue's spinlock.
const QUEUED: usize = 2;
/// A woken waiter is on its way to compete for the lock: unlockers wake
/// nobody else meanwhile. Set only by an unlocker, cleared only by that
/// waiter.
const WAKING: usize = 4;

/// Signal: the unlocker released the lock and woke this waiter to compete.
const WOKEN: u8 = 1;
/// Signal: the unlocker handed the lock over; the waiter holds it.
const HANDOFF: u8 = 2;

/// A first waiter that has waited this long gets the lock handed over
/// instead of competing for it (Go uses the same bound).
pub(super) const FAIR_AFTER: Duration = Duration::from_millis(1);

/// Rounds of spinning before a locker queues, while nobody is queued.
const SPIN_ROUNDS: u32 = 4;
/// Spin-loop hints per round.
const SPIN_PAUSES: u32 = 30;

/// The lock without the data: the state word and the waiter queue. Shared
/// with [`Condvar`](super::Condvar), which unlocks and relocks it.
pub(super) struct RawMutex {
    state: AtomicUsize,
    /// Waiters, each with the instant it started waiting.
    queue: SpinLock<VecDeque<Arc<Node<Instant>>>>,
}

impl RawMutex {
    pub(super) const fn new() -> RawMutex {
        RawMutex {
            state: AtomicUsize::new(0),
            queue: SpinLock::new(VecDeque::new()),
        }
    }

    /// Takes the lock, waiting as long as it takes.
    #[inline]
    pub(super) fn lock(&self) {
        if self
            .state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow(None, true);
        }
    }

    /// Takes the lock, waiting until `deadline` at most; whether it did.
    pub(super) fn lock_until(&self, deadline: Option<Instant>) -> bool {
        self.state
            .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            || self.lock_slow(deadline, false)
    }

    /// Takes the lock if it is free (even if others wait: they are asleep).
    pub(super) fn try_lock(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED != 0 {
                return false;
            }
            match self
                .state
                .compare_exchange_weak(state, state | LOCKED, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
    }

    /// Releases the lock, which the caller holds.
    #[inline]
    pub(super) fn unlock(&self) {
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow();
        }
    }

    #[cold]
    fn lock_slow(&self, deadline: Option<Instant>, must_wait: bool) -> bool {
        // Spin a little while nobody is queued: the holder may be about to
        // unlock, on another CPU.
        for _ in 0..SPIN_ROUNDS {
            let state = self.state.load(Ordering::Relaxed);
            if state & LOCKED == 0 {
                if self.try_lock() {
                    return true;
                }
            } else if state & QUEUED != 0 {
                break;
            }
            for _ in 0..SPIN_PAUSES {
                std::hint::spin_loop();
            }
        }

        let node = Node::new(Instant::now(), must_wait);
        let cleanup = UnwindGuard::new(|| self.abandon(&node));
        // Set once the node was woken and lost the race: it then holds the
        // WAKING duty and goes back to the front of the queue.
        let mut woken = false;
        let acquired = loop {
            if !self.enqueue(&node, woken) {
                break true; // the lock was free after all
            }
            match node.park(Waiting::at(&reason::MUTEX, self), deadline) {
                Ok(HANDOFF) => break true,
                Ok(_) => {
                    woken = true;
                    // Woken just as the deadline passed: one last try.
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        break self.resign_woken();
                    }
                }
                Err(_) => break self.give_up(&node),
            }
        };
        cleanup.disarm();
        acquired
    }

    /// Under the queue's lock: takes the lock if it is free, else queues
    /// `node` (at the front if it was `woken`, which also ends its WAKING
    /// duty). Returns `false` if it took the lock instead of queueing.
    fn enqueue(&self, node: &Arc<Node<Instant>>, woken: bool) -> bool {
        let mut queue = self.queue.lock();
        let duty = if woken { WAKING } else { 0 };
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let (next, order) = if state & LOCKED == 0 {
                ((state | LOCKED) & !duty, Ordering::Acquire)
            } else {
                ((state | QUEUED) & !duty, Ordering::Relaxed)
            };
            match self.state.compare_exchange_weak(state, next, order, Ordering::Relaxed) {
                Ok(_) if next & LOCKED != state & LOCKED => return false,
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        node.reset();
        if woken {
            queue.push_front(Arc::clone(node));
        } else {
            queue.push_back(Arc::clone(node));
        }
        true
    }

    /// A woken waiter stops competing: it takes the lock if it is free, else
    /// ends its WAKING duty (the holder's unlock then wakes the next waiter).
    /// Returns whether it took the lock.
    fn resign_woken(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let (next, order) = if state & LOCKED == 0 {
                ((state | LOCKED) & !WAKING, Ordering::Acquire)
            } else {
                (state & !WAKING, Ordering::Relaxed)
            };
            match self.state.compare_exchange_weak(state, next, order, Ordering::Relaxed) {
                Ok(_) => return next & LOCKED != state & LOCKED,
                Err(actual) => state = actual,
            }
        }
    }

    /// The wait ended (deadline, or an unwinding caller that may not wait):
    /// leaves the queue, unless the lock was handed over or the node woken
    /// meanwhile. Returns whether the caller holds the lock.
    fn give_up(&self, node: &Arc<Node<Instant>>) -> bool {
        let mut queue = self.queue.lock();
        match node.signal() {
            HANDOFF => true,
            WOKEN => {
                drop(queue);
                self.resign_woken()
            }
            _ => {
                self.leave(&mut queue, node);
                false
            }
        }
    }

    /// The waiter unwinds out of `park`: leave the queue, or pass on the
    /// lock or the wake-up it was given.
    fn abandon(&self, node: &Arc<Node<Instant>>) {
        if self.give_up(node) {
            self.unlock();
        }
    }

    /// Takes a still-queued `node` off the queue.
    fn leave(&self, queue: &mut VecDeque<Arc<Node<Instant>>>, node: &Arc<Node<Instant>>) {
        debug_assert_eq!(node.signal(), WAITING);
        waiter::remove(queue, node);
        if queue.is_empty() {
            self.state.fetch_and(!QUEUED, Ordering::Relaxed);
        }
    }

    #[cold]
    fn unlock_slow(&self) {
        let mut state = self.state.load(Ordering::Relaxed);
        // Nobody queued, or a woken waiter is already on its way: release.
        while state & QUEUED == 0 || state & WAKING != 0 {
            match self
                .state
                .compare_exchange_weak(state, state & !LOCKED, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
        let mut queue = self.queue.lock();
        // We hold the lock and the queue: nobody else can change the state
        // word now (lockers only compete for a free lock, QUEUED changes
        // under the queue's lock, WAKING is ours to set).
        let Some(node) = queue.pop_front() else {
            // Every waiter gave up meanwhile.
            self.state.fetch_and(!LOCKED, Ordering::Release);
            return;
        };
        let more = if queue.is_empty() { 0 } else { QUEUED };
        if node.data.elapsed() >= FAIR_AFTER {
            // Hand the lock over: it never becomes free for a barger.
            self.state.store(LOCKED | more, Ordering::Relaxed);
            node.set(HANDOFF);
        } else {
            self.state.store(WAKING | more, Ordering::Release);
            node.set(WOKEN);
        }
        drop(queue);
        node.unpark();
    }
}

/// The poison flag of a [`Mutex`] or [`RwLock`](super::RwLock), set when a
/// guard that allows writing is dropped by a thread that panics.
pub(super) struct Poison {
    poisoned: AtomicBool,
}

impl Poison {
    pub(super) const fn new() -> Poison {
        Poison {
            poisoned: AtomicBool::new(false),
        }
    }

    pub(super) fn get(&self) -> bool {
        self.poisoned.load(Ordering::Relaxed)
    }

    pub(super) fn clear(&self) {
        self.poisoned.store(false, Ordering::Relaxed);
    }

    /// Whether the caller panics now; stored in a guard at locking time.
    pub(super) fn entered() -> bool {
        std::thread::panicking()
    }

    /// Called when a writing guard is dropped: poisons the lock if the
    /// thread started panicking while holding it.
    pub(super) fn leave(&self, panicking_at_entry: bool) {
        if !panicking_at_entry && std::thread::panicking() {
            self.poisoned.store(true, Ordering::Relaxed);
        }
    }

    /// `Ok(value)`, or `Err` with it if the lock is poisoned.
    pub(super) fn result<G>(&self, value: G) -> LockResult<G> {
        if self.get() {
            Err(PoisonError::new(value))
        } else {
            Ok(value)
        }
    }
}

/// A mutual-exclusion lock protecting a `T`, with `std::sync::Mutex`'s API,
/// that parks a waiting micro-thread (its worker runs others meanwhile) and
/// blocks a waiting OS thread. Micro-threads and OS threads may share it.
///
/// Locking an unlocked mutex and unlocking one that nobody waits for cost
/// one atomic read-modify-write each. Under contention, a running locker may
/// take the lock ahead of the waiters (so a micro-thread that locks in a loop
/// keeps running instead of switching at every unlock), and the first waiter
/// is woken to compete for it; but once that waiter has waited a
/// millisecond, the unlocker hands the lock to it directly. Waiters are
/// served in order and nobody starves (Go's `sync.Mutex` makes the same
/// trade).
///
/// # Poisoning
///
/// As with std: if a thread or micro-thread panics while holding the lock —
/// including a micro-thread unwound because its runtime shut down — the
/// mutex is *poisoned*, and later `lock`s return `Err` with the guard inside
/// ([`PoisonError::into_inner`]). [`Mutex::clear_poison`] clears the flag.
///
/// # Waiting while unwinding
///
/// A micro-thread that is unwinding cannot park. If it must wait for the
/// lock in [`lock`](Mutex::lock) (a destructor locking a contended mutex),
/// it blocks its worker thread until the lock is free, as the same call
/// would on an OS thread; [`lock_timeout`](Mutex::lock_timeout) gives up at
/// once instead.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use dhaga_runtime::sync::Mutex;
///
/// let counter = Arc::new(Mutex::new(0));
/// let total = dhaga_runtime::run(move || {
///     let handles: Vec<_> = (0..100)
///         .map(|_| {
///             let counter = Arc::clone(&counter);
///             dhaga_runtime::spawn(move || *counter.lock().unwrap() += 1)
///         })
///         .collect();
///     for handle in handles {
///         handle.join().unwrap();
///     }
///     *counter.lock().unwrap()
/// });
/// assert_eq!(total, 100);
/// ```
pub struct Mutex<T: ?Sized> {
    pub(super) raw: RawMutex,
    pub(super) poison: Poison,
    data: UnsafeCell<T>,
}

// SAFETY: a `Mutex` hands out access to its `T` to one thread at a time, so
// it may move between threads whenever `T` may.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}

// SAFETY: the lock serialises every access to `T` (acquired with Acquire,
// released with Release), so sharing it needs only that `T` may move between
// threads, as for `std::sync::Mutex`.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T: ?Sized> UnwindSafe for Mutex<T> {}
impl<T: ?Sized> RefUnwindSafe for Mutex<T> {}

/// Access to the data of a locked [`Mutex`]; unlocks it when dropped.
///
/// Like std's, the guard cannot be sent to another thread (nor to another
/// micro-thread). A micro-thread may keep it across a park (its lock is then
/// held while it sleeps).
///
/// ```compile_fail
/// let m = dhaga_runtime::sync::Mutex::new(0);
/// let guard = m.lock().unwrap();
/// std::thread::scope(|s| {
///     s.spawn(move || drop(guard)); // error: the guard is not `Send`
/// });
/// ```
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized> {
    pub(super) lock: &'a Mutex<T>,
    /// Whether the thread was panicking when it took the lock.
    pub(super) panicking: bool,
    /// `!Send`, as std's guard.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing the guard shares `&T` only (`Deref`), which is sound when
// `T` is `Sync`, as for std's guard.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            raw: RawMutex::new(),
            poison: Poison::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the mutex and returns its data.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned, `Err` with the data inside.
    pub fn into_inner(self) -> LockResult<T> {
        let poisoned = self.poison.get();
        let data = self.data.into_inner();
        if poisoned {
            Err(PoisonError::new(data))
        } else {
            Ok(data)
        }
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, parking the calling micro-thread (or blocking the
    /// calling OS thread) until it is free.
    ///
    /// Locking a mutex that the caller holds already deadlocks.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned, `Err` with the guard inside: the lock is
    /// held all the same.
    ///
    /// # Panics
    ///
    /// If a micro-thread is cancelled (its runtime shuts down) while parked
    /// here, it unwinds from this call without the lock.
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        self.raw.lock();
        self.guard()
    }

    /// Locks the mutex if that needs no waiting.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if the mutex is locked; `Poisoned` with the guard inside
    /// if it is poisoned (the lock is then held).
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        if self.raw.try_lock() {
            Ok(self.guard()?)
        } else {
            Err(TryLockError::WouldBlock)
        }
    }

    /// Locks the mutex, waiting at most `timeout`.
    ///
    /// A lock handed to the caller just as the timeout expires is taken, not
    /// lost. A micro-thread that is unwinding does not wait: it only tries.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if the lock was not free in time; `Poisoned` with the
    /// guard inside if it is poisoned (the lock is then held).
    pub fn lock_timeout(&self, timeout: Duration) -> TryLockResult<MutexGuard<'_, T>> {
        if self.raw.lock_until(waiter::deadline_after(timeout)) {
            Ok(self.guard()?)
        } else {
            Err(TryLockError::WouldBlock)
        }
    }

    /// Whether the mutex is poisoned. Another thread may poison it right
    /// after this returns `false`.
    pub fn is_poisoned(&self) -> bool {
        self.poison.get()
    }

    /// Clears the poison flag, for a caller that has restored the data's
    /// invariants.
    pub fn clear_poison(&self) {
        self.poison.clear();
    }

    /// The data, through exclusive access to the mutex (no locking needed).
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned, `Err` with the reference inside.
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        let poisoned = self.poison.get();
        let data = self.data.get_mut();
        if poisoned {
            Err(PoisonError::new(data))
        } else {
            Ok(data)
        }
    }

    /// The guard for a lock just taken.
    fn guard(&self) -> LockResult<MutexGuard<'_, T>> {
        let guard = MutexGuard {
            lock: self,
            panicking: Poison::entered(),
            _not_send: PhantomData,
        };
        self.poison.result(guard)
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while its holder has the lock, which
        // excludes every other access to the data.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this borrow unique too.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.poison.leave(self.panicking);
        self.lock.raw.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => d.field("data", &&*guard),
            Err(TryLockError::Poisoned(err)) => d.field("data", &&**err.get_ref()),
            Err(TryLockError::WouldBlock) => d.field("data", &format_args!("<locked>")),
        };
        d.field("poisoned", &self.poison.get());
        d.finish_non_exhaustive()
    }
}

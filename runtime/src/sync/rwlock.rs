//! A reader-writer lock that parks micro-threads and blocks OS threads.
//!
//! # How it works
//!
//! One atomic word holds the lock: the number of readers, `WRITER`, and
//! `QUEUED` (the waiter queue is not empty). A read lock taken while nobody
//! writes or waits, a write lock taken while the lock is free, and the
//! matching unlocks cost one atomic read-modify-write each.
//!
//! Fairness is strict FIFO with direct hand-off. Once anyone waits, every
//! newcomer queues behind (no barging: a stream of readers cannot starve a
//! writer, nor writers a reader). When the lock becomes free enough, the
//! unlocker grants it to the front of the queue — one writer, or every reader
//! up to the next writer — without ever releasing it to a newcomer.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LockResult, PoisonError, TryLockError, TryLockResult};
use std::time::{Duration, Instant};

use super::mutex::Poison;
use super::waiter::{self, Node, UnwindGuard, Wakes};
use crate::spin::SpinLock;
use crate::wait::{Waiting, reason};

/// A writer holds the lock.
const WRITER: usize = 1;
/// The waiter queue is not empty. Changed only under the queue's spinlock.
const QUEUED: usize = 2;
/// One reader holds the lock (the count starts at this bit).
const ONE_READER: usize = 4;
/// The readers' count.
const READERS: usize = !(WRITER | QUEUED);

/// Signal: the lock was granted to the waiter, which holds it now.
const GRANTED: u8 = 1;

/// What a queued waiter wants.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

type Queue = VecDeque<Arc<Node<Access>>>;

/// The lock without the data.
struct RawRwLock {
    state: AtomicUsize,
    queue: SpinLock<Queue>,
}

impl RawRwLock {
    const fn new() -> RawRwLock {
        RawRwLock {
            state: AtomicUsize::new(0),
            queue: SpinLock::new(VecDeque::new()),
        }
    }

    /// Takes a read lock if no writer holds the lock and nobody waits.
    fn try_read(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & (WRITER | QUEUED) != 0 {
                return false;
            }
            let next = state.checked_add(ONE_READER).expect("too many readers of one RwLock");
            match self
                .state
                .compare_exchange_weak(state, next, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
    }

    /// Takes the write lock if it is free and nobody waits.
    fn try_write(&self) -> bool {
        self.state
            .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    fn lock(&self, access: Access, deadline: Option<Instant>, must_wait: bool) -> bool {
        let fast = match access {
            Access::Read => self.try_read(),
            Access::Write => self.try_write(),
        };
        fast || self.lock_slow(access, deadline, must_wait)
    }

    #[cold]
    fn lock_slow(&self, access: Access, deadline: Option<Instant>, must_wait: bool) -> bool {
        let node = Node::new(access, must_wait);
        {
            let mut queue = self.queue.lock();
            let mut state = self.state.load(Ordering::Relaxed);
            loop {
                let free = match access {
                    Access::Read => state & (WRITER | QUEUED) == 0,
                    Access::Write => state == 0,
                };
                let (next, order) = match (free, access) {
                    (true, Access::Read) => (state + ONE_READER, Ordering::Acquire),
                    (true, Access::Write) => (WRITER, Ordering::Acquire),
                    (false, _) => (state | QUEUED, Ordering::Relaxed),
                };
                match self.state.compare_exchange_weak(state, next, order, Ordering::Relaxed) {
                    Ok(_) if free => return true,
                    Ok(_) => break,
                    Err(actual) => state = actual,
                }
            }
            queue.push_back(Arc::clone(&node));
            // The lock may have become free between the failed fast path
            // and the queueing: grant whatever it allows now.
            let wakes = self.dispatch(&mut queue);
            drop(queue);
            wakes.unpark_all();
        }
        let cleanup = UnwindGuard::new(|| self.abandon(&node));
        let acquired = match node.park(
            match access {
                Access::Read => Waiting::at(&reason::READ_LOCK, self),
                Access::Write => Waiting::at(&reason::WRITE_LOCK, self),
            },
            deadline,
        ) {
            Ok(_) => true,
            Err(_) => self.give_up(&node),
        };
        cleanup.disarm();
        acquired
    }

    /// Under the queue's lock: grants the lock to the front of the queue as
    /// far as the state allows (one writer, or readers up to the next
    /// writer), and clears `QUEUED` once the queue is empty.
    ///
    /// While `QUEUED` is set no fast path succeeds, so the only concurrent
    /// changes to the state are readers leaving; and whoever makes the lock
    /// free enough for the front waiter dispatches again after that.
    fn dispatch(&self, queue: &mut Queue) -> Wakes<Access> {
        let mut wakes = Wakes::new();
        while let Some(front) = queue.front() {
            // Acquire: the holders that left (maybe on another thread)
            // happen before the grant.
            let state = self.state.load(Ordering::Acquire);
            match front.data {
                Access::Write if state & (WRITER | READERS) == 0 => {
                    self.state.fetch_or(WRITER, Ordering::Relaxed);
                    let node = queue.pop_front().expect("front exists");
                    wakes.signal(node, GRANTED);
                    break;
                }
                Access::Read if state & WRITER == 0 => {
                    self.state.fetch_add(ONE_READER, Ordering::Relaxed);
                    let node = queue.pop_front().expect("front exists");
                    wakes.signal(node, GRANTED);
                }
                _ => break,
            }
        }
        if queue.is_empty() {
            self.state.fetch_and(!QUEUED, Ordering::Relaxed);
        }
        wakes
    }

    /// The wait ended early: leaves the queue unless the lock was granted
    /// meanwhile. Returns whether the caller holds the lock.
    fn give_up(&self, node: &Arc<Node<Access>>) -> bool {
        let mut queue = self.queue.lock();
        if node.signal() == GRANTED {
            return true;
        }
        waiter::remove(&mut queue, node);
        // A writer leaving the front may let the readers behind it in.
        let wakes = self.dispatch(&mut queue);
        drop(queue);
        wakes.unpark_all();
        false
    }

    /// The waiter unwinds out of `park`: leave the queue, or pass on the
    /// lock it was granted.
    fn abandon(&self, node: &Arc<Node<Access>>) {
        if self.give_up(node) {
            match node.data {
                Access::Read => self.read_unlock(),
                Access::Write => self.write_unlock(),
            }
        }
    }

    #[inline]
    fn read_unlock(&self) {
        let before = self.state.fetch_sub(ONE_READER, Ordering::Release);
        if before == ONE_READER | QUEUED {
            self.unlock_slow(0);
        }
    }

    #[inline]
    fn write_unlock(&self) {
        if self
            .state
            .compare_exchange(WRITER, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow(WRITER);
        }
    }

    /// A writer leaving with a reader's lock: lets the readers queued at
    /// the front in with it.
    fn downgrade(&self) {
        let before = self.state.fetch_add(ONE_READER - WRITER, Ordering::Release);
        if before & QUEUED != 0 {
            self.unlock_slow(0);
        }
    }

    /// Releases `held` (the writer's bit, or nothing when a reader already
    /// left) and grants the lock to the front of the queue.
    #[cold]
    fn unlock_slow(&self, held: usize) {
        let mut queue = self.queue.lock();
        if held != 0 {
            self.state.fetch_and(!held, Ordering::Release);
        }
        let wakes = self.dispatch(&mut queue);
        drop(queue);
        wakes.unpark_all();
    }
}

/// A reader-writer lock protecting a `T`, with `std::sync::RwLock`'s API:
/// any number of readers at once, or one writer. A waiting micro-thread
/// parks, a waiting OS thread blocks; both may share the lock.
///
/// Waiters are served in the order they arrived: once someone waits, later
/// readers queue too, so writers are not starved by a stream of readers (and
/// readers not by writers). A thread that holds a read lock and asks for
/// another while a writer waits deadlocks, as std warns.
///
/// # Poisoning
///
/// As with std: a panic (or a micro-thread's cancellation) while holding the
/// *write* lock poisons it; read guards never poison.
///
/// # Waiting while unwinding
///
/// As for [`Mutex`](super::Mutex): `read` and `write` block an unwinding
/// micro-thread's worker thread if they must wait; the `*_timeout` forms
/// give up at once.
///
/// # Examples
///
/// ```
/// use dhaga_runtime::sync::RwLock;
///
/// let lock = RwLock::new(5);
/// {
///     let r1 = lock.read().unwrap();
///     let r2 = lock.read().unwrap(); // many readers at once
///     assert_eq!(*r1 + *r2, 10);
/// }
/// *lock.write().unwrap() += 1; // one writer
/// assert_eq!(*lock.read().unwrap(), 6);
/// ```
pub struct RwLock<T: ?Sized> {
    raw: RawRwLock,
    poison: Poison,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands out `&mut T` to one thread at a time and `&T` to
// several, so it may move between threads whenever `T` may.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}

// SAFETY: readers on several threads share `&T` (needs `T: Sync`) and a
// writer may get the `T` another thread put there (needs `T: Send`), as for
// `std::sync::RwLock`.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T: ?Sized> UnwindSafe for RwLock<T> {}
impl<T: ?Sized> RefUnwindSafe for RwLock<T> {}

/// Shared access to the data of a read-locked [`RwLock`]; releases the read
/// lock when dropped.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    /// `!Send`, as std's guard.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing the guard shares `&T` only, sound when `T` is `Sync`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}

/// Exclusive access to the data of a write-locked [`RwLock`]; releases the
/// write lock when dropped. Like std's, it cannot be sent to another thread.
///
/// ```compile_fail
/// let lock = dhaga_runtime::sync::RwLock::new(0);
/// let guard = lock.write().unwrap();
/// std::thread::scope(|s| {
///     s.spawn(move || drop(guard)); // error: the guard is not `Send`
/// });
/// ```
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    /// Whether the thread was panicking when it took the lock.
    panicking: bool,
    /// `!Send`, as std's guard.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing the guard shares `&T` only, sound when `T` is `Sync`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T> RwLock<T> {
    /// A new unlocked lock holding `value`.
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            raw: RawRwLock::new(),
            poison: Poison::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock and returns its data.
    ///
    /// # Errors
    ///
    /// If the lock is poisoned, `Err` with the data inside.
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

impl<T: ?Sized> RwLock<T> {
    /// Takes a read lock, parking the calling micro-thread (or blocking the
    /// calling OS thread) while a writer holds the lock or anyone waits.
    ///
    /// # Errors
    ///
    /// If the lock is poisoned, `Err` with the guard inside (the read lock
    /// is held all the same).
    ///
    /// # Panics
    ///
    /// If a micro-thread is cancelled while parked here, it unwinds from
    /// this call without the lock.
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        self.raw.lock(Access::Read, None, true);
        self.poison.result(self.read_guard())
    }

    /// Takes a read lock if that needs no waiting.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if a writer holds the lock or anyone waits for it;
    /// `Poisoned` with the guard inside if it is poisoned (the read lock is
    /// then held).
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        if self.raw.try_read() {
            Ok(self.poison.result(self.read_guard())?)
        } else {
            Err(TryLockError::WouldBlock)
        }
    }

    /// Takes a read lock, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if it was not granted in time; `Poisoned` as for
    /// [`RwLock::try_read`].
    pub fn read_timeout(&self, timeout: Duration) -> TryLockResult<RwLockReadGuard<'_, T>> {
        if self.raw.lock(Access::Read, waiter::deadline_after(timeout), false) {
            Ok(self.poison.result(self.read_guard())?)
        } else {
            Err(TryLockError::WouldBlock)
        }
    }

    /// Takes the write lock, parking the calling micro-thread (or blocking
    /// the calling OS thread) until every other holder is gone and the
    /// waiters ahead have had their turn.
    ///
    /// # Errors
    ///
    /// If the lock is poisoned, `Err` with the guard inside (the write lock
    /// is held all the same).
    ///
    /// # Panics
    ///
    /// If a micro-thread is cancelled while parked here, it unwinds from
    /// this call without the lock.
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        self.raw.lock(Access::Write, None, true);
        self.poison.result(self.write_guard())
    }

    /// Takes the write lock if that needs no waiting.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if the lock is held or anyone waits for it; `Poisoned`
    /// with the guard inside if it is poisoned (the lock is then held).
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        if self.raw.try_write() {
            Ok(self.poison.result(self.write_guard())?)
        } else {
            Err(TryLockError::WouldBlock)
        }
    }

    /// Takes the write lock, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if it was not granted in time; `Poisoned` as for
    /// [`RwLock::try_write`].
    pub fn write_timeout(&self, timeout: Duration) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        if self.raw.lock(Access::Write, waiter::deadline_after(timeout), false) {
            Ok(self.poison.result(self.write_guard())?)
        } else {
            Err(TryLockError::WouldBlock)
        }
    }

    /// Whether the lock is poisoned.
    pub fn is_poisoned(&self) -> bool {
        self.poison.get()
    }

    /// Clears the poison flag.
    pub fn clear_poison(&self) {
        self.poison.clear();
    }

    /// The data, through exclusive access to the lock (no locking needed).
    ///
    /// # Errors
    ///
    /// If the lock is poisoned, `Err` with the reference inside.
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        let poisoned = self.poison.get();
        let data = self.data.get_mut();
        if poisoned {
            Err(PoisonError::new(data))
        } else {
            Ok(data)
        }
    }

    fn read_guard(&self) -> RwLockReadGuard<'_, T> {
        RwLockReadGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    fn write_guard(&self) -> RwLockWriteGuard<'_, T> {
        RwLockWriteGuard {
            lock: self,
            panicking: Poison::entered(),
            _not_send: PhantomData,
        }
    }
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Turns the write lock into a read lock without releasing it; readers
    /// queued at the front get in at the same time.
    pub fn downgrade(this: Self) -> RwLockReadGuard<'a, T> {
        let this = ManuallyDrop::new(this);
        this.lock.poison.leave(this.panicking);
        this.lock.raw.downgrade();
        this.lock.read_guard()
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while its holder has a read lock, so
        // no writer has access to the data.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while its holder has the write lock,
        // which excludes every other access to the data.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this borrow unique too.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.raw.read_unlock();
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.poison.leave(self.panicking);
        self.lock.raw.write_unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> RwLock<T> {
        RwLock::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Ok(guard) => d.field("data", &&*guard),
            Err(TryLockError::Poisoned(err)) => d.field("data", &&**err.get_ref()),
            Err(TryLockError::WouldBlock) => d.field("data", &format_args!("<locked>")),
        };
        d.field("poisoned", &self.poison.get());
        d.finish_non_exhaustive()
    }
}

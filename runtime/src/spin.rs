//! A spinlock for the runtime's own short critical sections.
//!
//! Channels, join slots and readiness records hold their lock for a handful
//! of instructions, and never across a park (a micro-thread cannot be
//! suspended while holding one: nothing inside a critical section parks).
//! For that, a spinlock is cheaper than `std::sync::Mutex`: unlocking is a
//! plain release store, where the mutex needs a read-modify-write to learn
//! whether a sleeper must be woken. Waiting spins briefly, backing off
//! exponentially between looks at the lock (as crossbeam-utils' `Backoff`
//! does), and then yields the OS thread, so a holder that the kernel
//! preempted is not starved; the same trade crossbeam-channel makes for its
//! waker lists.
//!
//! The atomics and hints come from [`crate::primitive`], so loom's models
//! (`--cfg loom`) run this very lock.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};

use crate::primitive::{AtomicBool, Ordering, spin_loop, yield_now};

/// Spins (`spin_loop` hints) before each `yield_now` while the lock is
/// taken. One under loom, where every hint is a yield to the other threads
/// (and a branch of the model to explore): how long a waiter spins does not
/// change what it can see.
const SPINS: u32 = if cfg!(loom) { 1 } else { 64 };

/// The most spins between two looks at a taken lock.
const MAX_PAUSE: u32 = if cfg!(loom) { 1 } else { 32 };

/// A lock around `T` for critical sections of a few instructions.
pub(crate) struct SpinLock<T> {
    /// Whether the lock is held.
    locked: AtomicBool,
    /// The value the lock guards.
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `value` to one thread at a time
// (`locked` is taken with Acquire and released with Release), so sharing the
// lock across threads is sound whenever moving `T` between them is.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// A lock around `value`, unlocked.
    pub(crate) const fn new(value: T) -> SpinLock<T> {
        SpinLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// The lock, its atomic made in this thread, for a model to share (see
    /// `primitive.rs`; nothing to do but under loom).
    #[cfg(test)]
    pub(crate) fn made(self) -> SpinLock<T> {
        #[cfg(loom)]
        self.locked.made();
        self
    }

    /// The value, through exclusive access to the lock (no locking needed).
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Takes the lock, spinning (then yielding) while someone holds it.
    #[inline]
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        if !self.try_take() {
            self.lock_contended();
        }
        SpinGuard { lock: self }
    }

    /// Takes the lock if it is free.
    ///
    /// A compare-and-swap, which writes nothing when the lock is taken (a
    /// swap would write `true` again). Besides sparing the holder's cache
    /// line, this keeps the lock's stores one chain, each release followed
    /// by the acquisition that read it, which loom needs to see a waiter
    /// through: with a swap's stores, loom's models let a waiter read its
    /// own `true` for ever, past the holder's release (tokio-rs/loom#162).
    #[inline(always)]
    fn try_take(&self) -> bool {
        self.locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Waits for the lock with exponential backoff: the pause between two
    /// looks doubles (up to [`MAX_PAUSE`]), so a waiter does not pull the
    /// lock's cache line away from the holder at every spin, and a holder
    /// that takes the lock again and again (a sender in a loop) keeps the
    /// line for a while instead of handing it over at every message.
    #[cold]
    fn lock_contended(&self) {
        loop {
            let mut pause = 1;
            let mut spun = 0;
            while spun < SPINS {
                for _ in 0..pause {
                    spin_loop();
                }
                spun += pause;
                pause = (pause * 2).min(MAX_PAUSE);
                if !self.locked.load(Ordering::Relaxed) && self.try_take() {
                    return;
                }
            }
            yield_now();
        }
    }
}

impl<T: Default> Default for SpinLock<T> {
    fn default() -> SpinLock<T> {
        SpinLock::new(T::default())
    }
}

/// Access to a [`SpinLock`]'s value; unlocks on drop.
pub(crate) struct SpinGuard<'a, T> {
    /// The lock held.
    lock: &'a SpinLock<T>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds the lock, so
        // no other reference to the value exists.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this borrow unique too.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::SpinLock;
    use std::sync::Arc;

    /// Increments per thread: fewer under Miri, which is slow (and checks
    /// every access for a data race instead).
    const ROUNDS: u64 = if cfg!(miri) { 500 } else { 100_000 };

    #[test]
    fn excludes_concurrent_updates() {
        let lock = Arc::new(SpinLock::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lock = Arc::clone(&lock);
                std::thread::spawn(move || {
                    for _ in 0..ROUNDS {
                        *lock.lock() += 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*lock.lock(), 4 * ROUNDS);
    }
}

//! A store of free things (stacks, headers of ended micro-threads) that a
//! runtime's workers share behind their own caches.
//!
//! A worker moves things in and out in batches, so the store is a vector
//! under a lock rather than a lock-free queue: one lock per batch, and a
//! vector keeps its memory where a queue of blocks allocates and frees one
//! block per few dozen items. Its length is kept beside it for looking
//! without the lock.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Free things shared by a runtime's workers, at most `cap` of them.
pub(crate) struct SharedPool<T> {
    items: Mutex<Vec<T>>,
    /// `items`' length, for looking without the lock.
    len: AtomicUsize,
    /// The most items the pool holds; beyond that they are handed back.
    cap: usize,
}

impl<T> SharedPool<T> {
    /// An empty pool that holds at most `cap` items.
    pub(crate) fn new(cap: usize) -> SharedPool<T> {
        SharedPool {
            items: Mutex::new(Vec::new()),
            len: AtomicUsize::new(0),
            cap,
        }
    }

    /// How many items the pool holds now (a look without the lock).
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// One item, if the pool has any (last in, first out).
    pub(crate) fn take_one(&self) -> Option<T> {
        if self.len() == 0 {
            return None;
        }
        let mut items = self.lock();
        let item = items.pop();
        self.len.store(items.len(), Ordering::Relaxed);
        item
    }

    /// Moves up to `n` items into `into`, the last given first.
    pub(crate) fn take(&self, into: &mut impl Extend<T>, n: usize) {
        if self.len() == 0 {
            return; // a look without the lock: none to take, or nearly
        }
        let mut items = self.lock();
        let from = items.len().saturating_sub(n);
        into.extend(items.drain(from..));
        self.len.store(items.len(), Ordering::Relaxed);
    }

    /// Keeps `given`, up to the pool's capacity; returns what did not fit,
    /// for the caller to drop outside the lock (dropping a stack unmaps it,
    /// dropping a header may free its runtime).
    pub(crate) fn give(&self, given: impl Iterator<Item = T>) -> Vec<T> {
        let mut items = self.lock();
        let mut left_over = Vec::new();
        for item in given {
            if items.len() < self.cap {
                items.push(item);
            } else {
                left_over.push(item);
            }
        }
        self.len.store(items.len(), Ordering::Relaxed);
        left_over
    }

    /// Takes every item, for the caller to drop outside the lock.
    pub(crate) fn clear(&self) -> Vec<T> {
        let mut items = self.lock();
        self.len.store(0, Ordering::Relaxed);
        std::mem::take(&mut *items)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<T>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::SharedPool;

    /// The pool keeps at most its capacity, hands out at most what is asked
    /// at a time, and gives everything back when cleared.
    #[test]
    fn the_pool_is_bounded_and_moves_batches() {
        const BATCH: usize = 128;
        let cap = BATCH + 10;
        let pool = SharedPool::new(cap);

        let left_over = pool.give(0..cap + 5);
        assert_eq!(
            left_over,
            (cap..cap + 5).collect::<Vec<_>>(),
            "what does not fit is handed back"
        );
        assert_eq!(pool.len(), cap);

        let mut taken = Vec::new();
        pool.take(&mut taken, BATCH);
        assert_eq!(taken.len(), BATCH, "one batch at a time");
        pool.take(&mut taken, BATCH);
        assert_eq!(taken.len(), cap, "then the rest");
        pool.take(&mut taken, BATCH);
        assert_eq!(taken.len(), cap, "nothing from an empty pool");
        assert_eq!(pool.take_one(), None);

        let last_given = taken[2];
        assert!(pool.give(taken.drain(..3)).is_empty());
        assert_eq!(pool.take_one(), Some(last_given), "last in, first out");
        assert_eq!(pool.clear().len(), 2, "clear takes every item");
        assert_eq!(pool.len(), 0);
        pool.take(&mut taken, BATCH);
        assert_eq!(taken.len(), cap - 3, "and leaves the pool empty");
    }
}

//! The locks and coordination primitives between plain OS threads, with no
//! runtime: their hand-written state machines (the mutex's state word and
//! bounded barging, the waiter nodes' signals, the queues behind their
//! spinlocks) under contention, each waiter blocking its OS thread.
//!
//! Nothing here needs a runtime, so these also run under Miri
//! (`scripts/miri.sh`), which checks them for data races, explores
//! weak-memory outcomes of their atomics, and reports a lost wake-up as a
//! deadlock.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use dhaga_runtime::sync::{Condvar, Mutex, RwLock, Semaphore};

/// Rounds per thread: fewer under Miri, which is slow.
const ROUNDS: usize = if cfg!(miri) { 30 } else { 20_000 };

/// Long enough never to expire unless a wake-up was lost.
const PATIENCE: Duration = Duration::from_secs(60);

/// Runs `body(i)` on `n` OS threads at once and waits for them all.
fn on_threads(n: usize, body: impl Fn(usize) + Send + Sync + 'static) {
    let body = Arc::new(body);
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let body = Arc::clone(&body);
            thread::spawn(move || body(i))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Threads that lock in a loop, now and then holding the lock across a
/// yield so that the others queue: every increment lands, whether a waiter
/// was woken to compete (and lost to a barging locker, and went back to
/// the front) or was handed the lock.
#[test]
fn a_contended_mutex_loses_no_update() {
    let counter = Arc::new(Mutex::new(0usize));
    let shared = Arc::clone(&counter);
    on_threads(3, move |_| {
        for i in 0..ROUNDS {
            let mut n = shared.lock().unwrap();
            *n += 1;
            if i % 8 == 0 {
                thread::yield_now(); // holding it: the others queue
            }
        }
    });
    assert_eq!(*counter.lock().unwrap(), 3 * ROUNDS);
}

/// A locker that takes the lock back at once, over and over, cannot starve
/// a waiter: once the waiter has waited long enough, the unlocker hands the
/// lock to it directly.
#[test]
fn a_mutex_waiter_gets_the_lock_from_a_barging_locker() {
    let lock = Arc::new(Mutex::new(false));
    let barger = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let mut rounds = 0u64;
            loop {
                let done = *lock.lock().unwrap();
                if done {
                    return rounds;
                }
                rounds += 1;
            }
        })
    };
    // The barger keeps the lock busy; this thread queues behind it.
    *lock.lock().unwrap() = true;
    barger.join().unwrap();
}

/// Two threads take turns through a condition variable: each notification
/// reaches the waiter it is for, whether it comes before or after that
/// waiter queued.
#[test]
fn condvar_turns_lose_no_notification() {
    let turn = Arc::new((Mutex::new(0usize), Condvar::new()));
    let shared = Arc::clone(&turn);
    on_threads(2, move |me| {
        let (lock, turned) = &*shared;
        for round in 0..ROUNDS {
            let mut whose = lock.lock().unwrap();
            while *whose % 2 != me {
                let (guard, timeout) = turned.wait_timeout(whose, PATIENCE).unwrap();
                assert!(!timeout.timed_out(), "round {round}: a lost notification");
                whose = guard;
            }
            *whose += 1;
            turned.notify_one();
        }
    });
    assert_eq!(*turn.0.lock().unwrap(), 2 * ROUNDS);
}

/// A semaphore of one permit excludes like a lock, and each release wakes
/// the next waiter.
#[test]
fn a_semaphore_of_one_permit_excludes() {
    let semaphore = Arc::new(Semaphore::new(1));
    let inside = Arc::new(AtomicUsize::new(0));
    let (semaphore2, inside2) = (Arc::clone(&semaphore), Arc::clone(&inside));
    on_threads(3, move |_| {
        for _ in 0..ROUNDS / 2 {
            let _permit = semaphore2.acquire();
            assert_eq!(inside2.fetch_add(1, Ordering::Relaxed), 0, "alone with the permit");
            thread::yield_now();
            inside2.fetch_sub(1, Ordering::Relaxed);
        }
    });
    assert_eq!(semaphore.available_permits(), 1);
}

/// Readers share, a writer excludes them, and a writer waiting behind
/// readers is woken when the last one leaves.
#[test]
fn an_rwlock_excludes_writers_from_readers() {
    let lock = Arc::new(RwLock::new((0usize, 0usize)));
    let shared = Arc::clone(&lock);
    on_threads(3, move |me| {
        for _ in 0..ROUNDS / 2 {
            if me == 0 {
                let mut pair = shared.write().unwrap();
                pair.0 += 1;
                thread::yield_now(); // a reader in between would see them differ
                pair.1 += 1;
            } else {
                let pair = shared.read().unwrap();
                assert_eq!(pair.0, pair.1, "a reader inside a write");
            }
        }
    });
    assert_eq!(*lock.read().unwrap(), (ROUNDS / 2, ROUNDS / 2));
}

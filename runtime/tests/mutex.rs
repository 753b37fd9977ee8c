//! `dhaga_runtime::sync::Mutex`: std's semantics (try_lock, into_inner,
//! get_mut, poisoning), mutual exclusion under contention from micro-threads
//! on every worker together with OS threads and in thread mode, timeouts
//! racing with hand-offs, no starvation behind barging lockers, and
//! shutdown while micro-threads are parked on a lock.

mod sync_util;
mod util;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use dhaga_runtime::sync::{Mutex, TryLockError, bounded};
use dhaga_runtime::{Runtime, in_micro_thread, run, sleep, yield_now};
use util::{CTX_PAIRS, CTXS, Ctx, JoinWithin, RecvWithin};

/// Runs a single-threaded check on this OS thread, then in a micro-thread.
fn on_os_thread_and_micro_thread(check: fn()) {
    util::within_limit(move || {
        check();
        run(move || {
            assert!(in_micro_thread());
            check();
        });
    });
}

#[test]
fn lock_try_lock_into_inner_get_mut() {
    on_os_thread_and_micro_thread(|| {
        let mut m = Mutex::new(vec![1]);
        {
            let mut guard = m.lock().unwrap();
            guard.push(2);
            assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
            assert!(matches!(
                m.lock_timeout(Duration::from_millis(5)),
                Err(TryLockError::WouldBlock)
            ));
            assert_eq!(format!("{m:?}"), "Mutex { data: <locked>, poisoned: false, .. }");
        }
        m.try_lock().unwrap().push(3);
        m.lock_timeout(Duration::from_secs(1)).unwrap().push(4);
        m.get_mut().unwrap().push(5);
        assert_eq!(format!("{m:?}"), "Mutex { data: [1, 2, 3, 4, 5], poisoned: false, .. }");
        assert_eq!(m.into_inner().unwrap(), [1, 2, 3, 4, 5]);
        let d: Mutex<u8> = Mutex::default();
        assert_eq!(*d.lock().unwrap(), 0);
        assert_eq!(Mutex::from(7).into_inner().unwrap(), 7);
        // Unsized data, as std allows.
        let slice: &Mutex<[u8]> = &Mutex::new([1u8, 2, 3]);
        assert_eq!(slice.lock().unwrap().len(), 3);
    });
}

/// `n` tasks (mixed micro-threads and OS threads) each take the lock `per`
/// times and increment a plain counter inside; every fourth critical
/// section parks or yields while holding the lock, so waiters queue up. An
/// `inside` flag proves nobody else is in the critical section.
fn hammer(rt: &Runtime, n: usize, per: u64) {
    let m = Arc::new(Mutex::new(0u64));
    let inside = Arc::new(AtomicBool::new(false));
    let tasks = {
        let (m, inside) = (Arc::clone(&m), Arc::clone(&inside));
        sync_util::start_mixed(rt, n, move |i| {
            for k in 0..per {
                let mut guard = m.lock().unwrap();
                assert!(!inside.swap(true, Ordering::Relaxed), "two holders at once");
                *guard += 1;
                match (k + i as u64) % 16 {
                    0 => yield_now(),
                    4 => sleep(Duration::from_micros(50)),
                    _ => {}
                }
                inside.store(false, Ordering::Relaxed);
            }
        })
    };
    sync_util::join_all("the tasks taking the lock", tasks);
    assert_eq!(*m.lock().unwrap(), n as u64 * per);
    assert!(m.try_lock().is_ok(), "the lock is free at the end");
}

#[test]
fn mutual_exclusion_under_contention_micro_threads_and_os_threads() {
    util::within_limit(|| {
        hammer(&sync_util::micro(), 200, 200);
    });
}

#[test]
fn mutual_exclusion_in_thread_mode() {
    util::within_limit(|| {
        hammer(&sync_util::thread_mode(), 16, 2000);
    });
}

#[test]
fn tight_lock_unlock_loops_lose_no_increment() {
    // No parking inside: the uncontended and barging paths, many switches.
    util::within_limit(|| {
        let [micro, threads] = sync_util::on_every_kind("the lock/unlock loops", 8, {
            let m = Arc::new(Mutex::new(0u64));
            move |_| {
                for _ in 0..20_000 {
                    *m.lock().unwrap() += 1;
                }
                *m.lock().unwrap()
            }
        });
        assert_eq!(micro.into_iter().max(), Some(8 * 20_000));
        assert_eq!(threads.into_iter().max(), Some(2 * 8 * 20_000), "the same mutex, twice");
    });
}

#[test]
fn a_panic_while_holding_the_lock_poisons_it() {
    util::within_limit(|| {
        let rt = sync_util::micro();
        for ctx in CTXS {
            let m = Arc::new(Mutex::new(1));
            let m2 = Arc::clone(&m);
            let panicked = panic::catch_unwind(AssertUnwindSafe(|| {
                util::start(&rt, ctx, move || {
                    let _guard = m2.lock().unwrap();
                    panic!("poison it");
                })
                .join_within("the holder that panics")
            }));
            assert!(panicked.is_err());
            assert!(m.is_poisoned(), "{ctx:?}");
            // Still lockable: the error carries the guard.
            let mut guard = m.lock().unwrap_err().into_inner();
            *guard = 2;
            drop(guard);
            match m.try_lock() {
                Err(TryLockError::Poisoned(e)) => assert_eq!(**e.get_ref(), 2),
                other => panic!("expected Poisoned, got {:?}", other.map(|g| *g)),
            }
            assert!(m.lock_timeout(Duration::from_secs(1)).is_err());
            m.clear_poison();
            assert!(!m.is_poisoned());
            assert_eq!(*m.lock().unwrap(), 2);

            // A panic while *not* holding the lock does not poison it.
            let m3 = Arc::clone(&m);
            let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                util::start(&rt, ctx, move || {
                    drop(m3.lock().unwrap());
                    panic!("after the guard is gone");
                })
                .join_within("the task that panics after unlocking")
            }));
            assert!(!m.is_poisoned());
            let m = Arc::try_unwrap(m).unwrap();
            assert_eq!(m.into_inner().unwrap(), 2);
        }
        let mut poisoned = Mutex::new(0);
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            let _guard = poisoned.lock().unwrap();
            panic!("poison");
        }));
        assert!(poisoned.get_mut().is_err());
        assert!(poisoned.into_inner().is_err());
    });
}

#[test]
fn lock_timeout_expires_then_the_lock_still_works() {
    util::within_limit(|| {
        let rt = sync_util::micro();
        for (holder, waiter) in CTX_PAIRS {
            let m = Arc::new(Mutex::new(0u32));
            let (held_tx, held_rx) = bounded::<()>(0);
            let (release_tx, release_rx) = bounded::<()>(1);
            let h = {
                let m = Arc::clone(&m);
                util::start(&rt, holder, move || {
                    let mut guard = m.lock().unwrap();
                    held_tx.send(()).unwrap();
                    release_rx.recv_within("the word to let the lock go");
                    *guard += 1;
                })
            };
            held_rx.recv_within("the holder's report that it holds the lock");
            let m2 = Arc::clone(&m);
            let timed_out = util::start(&rt, waiter, move || {
                let t0 = Instant::now();
                let r = m2.lock_timeout(Duration::from_millis(20));
                (matches!(r, Err(TryLockError::WouldBlock)), t0.elapsed())
            })
            .join_within("the waiter whose lock_timeout expires");
            assert!(timed_out.0, "{holder:?}/{waiter:?}");
            assert!(timed_out.1 >= Duration::from_millis(20));
            // A later waiter, queued behind where the timed-out one was, gets
            // the lock when the holder lets go: the timed-out one left the
            // queue and does not take it.
            let m3 = Arc::clone(&m);
            let (queuing_tx, queuing_rx) = bounded::<()>(1);
            let later = util::start(&rt, waiter, move || {
                queuing_tx.send(()).unwrap();
                *m3.lock().unwrap() += 10;
            });
            queuing_rx.recv_within("the later waiter's report that it is about to lock");
            later.wait_parked("the later waiter parked in lock()");
            release_tx.send(()).unwrap();
            h.join_within("the holder, released");
            later.join_within("the later waiter, given the lock");
            assert_eq!(*m.try_lock().unwrap(), 11);
        }
    });
}

#[test]
fn timeouts_racing_with_hand_offs_never_leak_or_lose_the_lock() {
    // Lockers with short timeouts race with unlocks (some of which hand the
    // lock over): every success is counted under the lock, so a lock handed
    // to a waiter that then reported a timeout would show up as a hang (the
    // lock never freed) or a count mismatch.
    util::within_limit(|| {
        for rt in [sync_util::micro(), sync_util::thread_mode()] {
            let m = Arc::new(Mutex::new(0u64));
            let successes = Arc::new(AtomicU64::new(0));
            let tasks = {
                let (m, successes) = (Arc::clone(&m), Arc::clone(&successes));
                sync_util::start_mixed(&rt, 24, move |i| {
                    for k in 0..800u64 {
                        // Around the 1 ms after which unlockers hand over.
                        let timeout = Duration::from_micros(100 + (k * 37 + i as u64 * 11) % 1800);
                        if let Ok(mut guard) = m.lock_timeout(timeout) {
                            *guard += 1;
                            successes.fetch_add(1, Ordering::Relaxed);
                            if k % 3 == 0 {
                                sleep(Duration::from_micros(200)); // hold it a while
                            }
                        }
                    }
                })
            };
            sync_util::join_all("the lockers with timeouts", tasks);
            let count = *m.lock_timeout(Duration::from_secs(10)).expect("the lock was leaked");
            assert_eq!(count, successes.load(Ordering::Relaxed));
            assert!(m.try_lock().is_ok());
        }
    });
}

#[test]
fn a_waiter_is_not_starved_by_barging_lockers() {
    // Two OS threads lock and unlock in a tight loop for as long as it takes;
    // waiters on micro-threads and an OS thread must each get the lock many
    // times meanwhile (a starved waiter would not end, and fail the test).
    util::within_limit(|| {
        let rt = sync_util::micro();
        let m = Arc::new(Mutex::new(0u64));
        let stop = Arc::new(AtomicBool::new(false));
        let barging: Vec<_> = (0..2)
            .map(|_| {
                let (m, stop) = (Arc::clone(&m), Arc::clone(&stop));
                thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        *m.lock().unwrap() += 1;
                    }
                })
            })
            .collect();
        let waiters: Vec<_> = [Ctx::Micro, Ctx::Micro, Ctx::Os]
            .into_iter()
            .map(|ctx| {
                let m = Arc::clone(&m);
                util::start(&rt, ctx, move || {
                    for _ in 0..200 {
                        *m.lock().unwrap() += 1;
                        sleep(Duration::from_micros(100));
                    }
                })
            })
            .collect();
        for (i, w) in waiters.into_iter().enumerate() {
            w.join_within(&format!("waiter {i}, locking 200 times beside the barging threads"));
        }
        stop.store(true, Ordering::Relaxed);
        for b in barging {
            b.join_within("a barging thread, told to stop").unwrap();
        }
        assert!(*m.lock().unwrap() >= 600);
    });
}

#[test]
fn a_guard_held_across_parks_keeps_others_out() {
    util::within_limit(|| {
        let rt = sync_util::micro();
        let m = Arc::new(Mutex::new(Vec::new()));
        let tasks = {
            let m = Arc::clone(&m);
            sync_util::start_mixed(&rt, 12, move |i| {
                let mut guard = m.lock().unwrap();
                for k in 0..5 {
                    guard.push((i, k));
                    sleep(Duration::from_micros(300));
                }
            })
        };
        sync_util::join_all("the holders that park", tasks);
        let log = Arc::try_unwrap(m).unwrap().into_inner().unwrap();
        // Each holder's five entries are consecutive.
        for chunk in log.chunks(5) {
            assert!(chunk.iter().all(|&(i, _)| i == chunk[0].0), "interleaved: {chunk:?}");
            assert_eq!(chunk.iter().map(|&(_, k)| k).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
        }
        assert_eq!(log.len(), 60);
    });
}

#[test]
fn shutdown_unwinds_micro_threads_parked_on_a_lock() {
    util::within_limit(|| {
        let m = Arc::new(Mutex::new(0u32));
        let guard = m.lock().unwrap(); // held by this OS thread throughout
        let m2 = Arc::clone(&m);
        sync_util::shutdown_while_parked(50, move |_| {
            *m2.lock().unwrap() += 1;
        });
        // The unwound waiters left the queue: the lock goes to an OS thread
        // waiting now, and it is not poisoned (they never held it).
        let m3 = Arc::clone(&m);
        let (waiting_tx, waiting_rx) = bounded::<()>(1);
        let waiter = util::Task::os_thread(move || {
            waiting_tx.send(()).unwrap();
            *m3.lock().unwrap() += 1;
        });
        waiting_rx.recv_within("the OS thread's report that it is about to lock");
        waiter.wait_parked("the OS thread blocked in lock()");
        drop(guard);
        waiter.join_within("the OS thread, given the lock");
        assert!(!m.is_poisoned());
        assert_eq!(*m.lock().unwrap(), 1);
        assert!(m.try_lock().is_ok());
    });
}

#[test]
fn shutdown_while_a_micro_thread_holds_the_lock_poisons_it_and_frees_it() {
    util::within_limit(|| {
        let m = Arc::new(Mutex::new(0u32));
        let m2 = Arc::clone(&m);
        sync_util::shutdown_while_parked(1, move |_| {
            let _guard = m2.lock().unwrap();
            sleep(Duration::from_secs(3600));
        });
        // As with std, a holder that unwinds poisons; the lock is free.
        assert!(m.is_poisoned());
        assert!(matches!(m.try_lock(), Err(TryLockError::Poisoned(_))));
    });
}

/// Locks `m` from its destructor.
struct LocksOnDrop {
    m: Arc<Mutex<u32>>,
    timed_out: Arc<AtomicUsize>,
    /// The worker's OS thread id, set just before `lock`.
    locking_on: Arc<OnceLock<i32>>,
}

impl Drop for LocksOnDrop {
    fn drop(&mut self) {
        // The timed form does not wait while unwinding...
        if self.m.lock_timeout(Duration::from_secs(60)).is_err() {
            self.timed_out.fetch_add(1, Ordering::SeqCst);
        }
        // ...and `lock` blocks this worker until the holder lets go.
        let _ = self.locking_on.set(util::current_tid());
        *self.m.lock().unwrap() += 1;
    }
}

#[test]
fn an_unwinding_micro_thread_can_still_lock_a_contended_mutex() {
    util::within_limit(|| {
        let rt = sync_util::micro();
        let m = Arc::new(Mutex::new(0u32));
        let timed_out = Arc::new(AtomicUsize::new(0));
        let locking_on = Arc::new(OnceLock::new());
        let guard = m.lock().unwrap();
        let h = {
            let m = Arc::clone(&m);
            let (timed_out, locking_on) = (Arc::clone(&timed_out), Arc::clone(&locking_on));
            rt.spawn(move || {
                let _d = LocksOnDrop {
                    m,
                    timed_out,
                    locking_on,
                };
                panic!("unwind with a destructor that locks");
            })
        };
        // The destructor runs while this thread holds the lock: its timed
        // form gives up at once (a wait would last 60 s and fail this one),
        // and its `lock` blocks the worker's OS thread. Only then let go.
        util::wait_until("the destructor's lock_timeout to give up at once", || {
            locking_on.get().is_some()
        });
        let worker = *locking_on.get().unwrap();
        util::wait_until("the destructor's lock() to block its worker", || {
            util::os_thread_sleeps(worker)
        });
        assert_eq!(timed_out.load(Ordering::SeqCst), 1);
        drop(guard);
        assert!(
            h.join_within("the micro-thread unwinding through the destructor")
                .is_err()
        );
        assert_eq!(*m.lock().unwrap(), 1);
        // The other micro-threads of that worker are fine afterwards.
        let m2 = Arc::clone(&m);
        let tasks = sync_util::start_mixed(&rt, 8, move |_| *m2.lock().unwrap() += 1);
        sync_util::join_all("the lockers after the unwinding", tasks);
        assert_eq!(*m.lock().unwrap(), 9);
    });
}

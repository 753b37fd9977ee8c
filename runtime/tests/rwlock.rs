//! `dhaga_runtime::sync::RwLock`: std's semantics (try forms, poisoning by
//! writers only, downgrade), many readers at once (proven with a barrier
//! inside the read guards), writer exclusion under contention, writers not
//! starved by a stream of readers, timeouts (a writer that gives up lets the
//! readers behind it in), and shutdown while micro-threads are parked.

mod sync_util;
mod util;

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dhaga_runtime::sync::{Barrier, RwLock, RwLockWriteGuard, TryLockError, bounded};
use dhaga_runtime::{run, sleep, yield_now};
use util::{CTX_PAIRS, CTXS, RecvWithin};

#[test]
fn try_forms_guards_and_downgrade() {
    util::within_limit(|| {
        let check = || {
            let mut lock = RwLock::new(1);
            {
                let r1 = lock.read().unwrap();
                let r2 = lock.try_read().unwrap();
                assert_eq!(*r1 + *r2, 2);
                assert!(matches!(lock.try_write(), Err(TryLockError::WouldBlock)));
                assert!(matches!(
                    lock.write_timeout(Duration::from_millis(5)),
                    Err(TryLockError::WouldBlock)
                ));
                assert_eq!(*lock.read_timeout(Duration::from_millis(5)).unwrap(), 1);
            }
            {
                let mut w = lock.write().unwrap();
                *w += 1;
                assert!(matches!(lock.try_read(), Err(TryLockError::WouldBlock)));
                assert!(matches!(
                    lock.read_timeout(Duration::from_millis(5)),
                    Err(TryLockError::WouldBlock)
                ));
                assert_eq!(format!("{lock:?}"), "RwLock { data: <locked>, poisoned: false, .. }");
                let r = RwLockWriteGuard::downgrade(w);
                assert_eq!(*r, 2);
                assert_eq!(*lock.try_read().unwrap(), 2, "readers share a downgraded lock");
                assert!(lock.try_write().is_err());
            }
            *lock.try_write().unwrap() += 1;
            *lock.get_mut().unwrap() += 1;
            assert_eq!(format!("{lock:?}"), "RwLock { data: 4, poisoned: false, .. }");
            assert_eq!(lock.into_inner().unwrap(), 4);
        };
        check();
        run(check);
    });
}

#[test]
fn many_readers_hold_the_lock_at_once() {
    // Every reader waits at a barrier *inside* its read guard: the barrier
    // only opens if all of them hold the read lock together.
    util::within_limit(|| {
        for rt in [sync_util::micro(), sync_util::thread_mode()] {
            let n = 24;
            let lock = Arc::new(RwLock::new(7));
            let barrier = Arc::new(Barrier::new(n));
            let tasks = {
                let (lock, barrier) = (Arc::clone(&lock), Arc::clone(&barrier));
                sync_util::start_mixed(&rt, n, move |_| {
                    let guard = lock.read().unwrap();
                    barrier.wait();
                    *guard
                })
            };
            let values = sync_util::join_all("the readers meeting inside their read guards", tasks);
            assert!(values.iter().all(|&v| v == 7));
        }
    });
}

#[test]
fn writers_exclude_readers_and_each_other() {
    util::within_limit(|| {
        for rt in [sync_util::micro(), sync_util::thread_mode()] {
            // Two fields a writer changes in two steps, with a park between:
            // a reader or writer that got in meanwhile would see them differ.
            let lock = Arc::new(RwLock::new((0u64, 0u64)));
            let readers_in = Arc::new(AtomicUsize::new(0));
            let writer_in = Arc::new(AtomicBool::new(false));
            let tasks = {
                let (lock, readers_in, writer_in) =
                    (Arc::clone(&lock), Arc::clone(&readers_in), Arc::clone(&writer_in));
                sync_util::start_mixed(&rt, 24, move |i| {
                    for k in 0..150u64 {
                        if (i as u64 + k).is_multiple_of(3) {
                            let mut w = lock.write().unwrap();
                            assert!(!writer_in.swap(true, Ordering::SeqCst), "two writers");
                            assert_eq!(readers_in.load(Ordering::SeqCst), 0, "a reader beside a writer");
                            w.0 += 1;
                            if k % 4 == 0 {
                                yield_now();
                            }
                            w.1 += 1;
                            writer_in.store(false, Ordering::SeqCst);
                        } else {
                            let r = lock.read().unwrap();
                            readers_in.fetch_add(1, Ordering::SeqCst);
                            assert!(!writer_in.load(Ordering::SeqCst), "a writer beside a reader");
                            assert_eq!(r.0, r.1);
                            if k % 5 == 0 {
                                sleep(Duration::from_micros(50));
                            }
                            readers_in.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                })
            };
            sync_util::join_all("the readers and writers", tasks);
            let (a, b) = *lock.read().unwrap();
            assert_eq!(a, b);
            assert_eq!(
                a,
                (0..24u64)
                    .map(|i| (0..150u64).filter(|k| (i + k) % 3 == 0).count() as u64)
                    .sum()
            );
            assert!(lock.try_write().is_ok(), "free at the end");
        }
    });
}

#[test]
fn a_writer_is_not_starved_by_a_stream_of_readers() {
    // Eight readers each hold a read lock for 200 µs at a time, over and
    // over, so the read locks overlap and the lock is hardly ever without
    // readers; a writer that comes once all of them are reading must get in
    // anyway, and readers stop only once it has.
    util::within_limit(|| {
        let rt = sync_util::micro();
        for writer_ctx in CTXS {
            let lock = Arc::new(RwLock::new(0u32));
            let written = Arc::new(AtomicBool::new(false));
            let reading = Arc::new(AtomicUsize::new(0));
            let readers = {
                let (lock, written, reading) = (Arc::clone(&lock), Arc::clone(&written), Arc::clone(&reading));
                sync_util::start_mixed(&rt, 8, move |_| {
                    let mut reads = 0u64;
                    while !written.load(Ordering::SeqCst) {
                        let _r = lock.read().unwrap();
                        if reads == 0 {
                            reading.fetch_add(1, Ordering::SeqCst);
                        }
                        reads += 1;
                        sleep(Duration::from_micros(200));
                    }
                    reads
                })
            };
            util::wait_until("the 8 readers reading", || reading.load(Ordering::SeqCst) == 8);
            let writer = {
                let (lock, written) = (Arc::clone(&lock), Arc::clone(&written));
                util::start(&rt, writer_ctx, move || {
                    *lock.write().unwrap() += 1;
                    written.store(true, Ordering::SeqCst);
                })
            };
            writer.join_within("the writer, among the stream of readers");
            sync_util::join_all("the readers, stopping once the writer got in", readers);
            assert_eq!(*lock.read().unwrap(), 1);
        }
    });
}

#[test]
fn a_writer_that_times_out_lets_the_readers_behind_it_in() {
    util::within_limit(|| {
        let rt = sync_util::micro();
        for (writer_ctx, reader_ctx) in CTX_PAIRS {
            let lock = Arc::new(RwLock::new(0u32));
            // The first reader is this OS thread; it keeps its read lock.
            let first = lock.read().unwrap();
            let (queuing_tx, queuing_rx) = bounded::<()>(1);
            let writer = {
                let lock = Arc::clone(&lock);
                util::start(&rt, writer_ctx, move || {
                    queuing_tx.send(()).unwrap();
                    let t0 = Instant::now();
                    let r = lock.write_timeout(Duration::from_millis(50));
                    (matches!(r, Err(TryLockError::WouldBlock)), t0.elapsed())
                })
            };
            queuing_rx.recv_within("the writer's report that it is about to queue");
            // Once the writer is queued, a reader queues behind it. (Should
            // this thread see the writer only after its 50 ms are over, on a
            // very loaded machine, the reader gets in at once and this round
            // checks less; it cannot fail for that.)
            util::wait_until("the writer queued behind the first reader (or timed out)", || {
                writer.is_parked() || writer.is_finished()
            });
            let reader = {
                let lock = Arc::clone(&lock);
                util::start(&rt, reader_ctx, move || *lock.read().unwrap())
            };
            // The reader gets in while `first` still holds its read lock: it
            // needs the timed-out writer to have left and handed over.
            assert_eq!(
                reader.join_within("the reader queued behind the writer that times out"),
                0
            );
            let (timed_out, waited) = writer.join_within("the writer that times out");
            assert!(timed_out, "{writer_ctx:?}/{reader_ctx:?}");
            assert!(waited >= Duration::from_millis(50));
            drop(first);
            assert!(lock.try_write().is_ok());
        }
    });
}

#[test]
fn timeouts_racing_with_grants_never_leak_the_lock() {
    util::within_limit(|| {
        for rt in [sync_util::micro(), sync_util::thread_mode()] {
            let lock = Arc::new(RwLock::new(0u64));
            let writes = Arc::new(AtomicUsize::new(0));
            let tasks = {
                let (lock, writes) = (Arc::clone(&lock), Arc::clone(&writes));
                sync_util::start_mixed(&rt, 24, move |i| {
                    for k in 0..200u64 {
                        let timeout = Duration::from_micros(30 + (k * 53 + i as u64 * 7) % 300);
                        if (k + i as u64).is_multiple_of(2) {
                            if let Ok(mut w) = lock.write_timeout(timeout) {
                                *w += 1;
                                writes.fetch_add(1, Ordering::Relaxed);
                                if k % 5 == 0 {
                                    sleep(Duration::from_micros(150));
                                }
                            }
                        } else if let Ok(r) = lock.read_timeout(timeout) {
                            let _ = *r;
                            if k % 5 == 1 {
                                sleep(Duration::from_micros(150));
                            }
                        }
                    }
                })
            };
            sync_util::join_all("the readers and writers with timeouts", tasks);
            assert_eq!(*lock.read().unwrap(), writes.load(Ordering::Relaxed) as u64);
            assert!(lock.try_write().is_ok(), "nothing leaked a read or write lock");
        }
    });
}

#[test]
fn only_a_panicking_writer_poisons() {
    util::within_limit(|| {
        let rt = sync_util::micro();
        for ctx in CTXS {
            let lock = Arc::new(RwLock::new(0));
            let l2 = Arc::clone(&lock);
            let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                util::start(&rt, ctx, move || {
                    let _r = l2.read().unwrap();
                    panic!("a reader panics");
                })
                .join_within("the reader that panics")
            }));
            assert!(!lock.is_poisoned(), "{ctx:?}");
            let l3 = Arc::clone(&lock);
            let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                util::start(&rt, ctx, move || {
                    let mut w = l3.write().unwrap();
                    *w = 9;
                    panic!("a writer panics");
                })
                .join_within("the writer that panics")
            }));
            assert!(lock.is_poisoned(), "{ctx:?}");
            assert_eq!(*lock.read().unwrap_err().into_inner(), 9);
            assert!(matches!(lock.try_write(), Err(TryLockError::Poisoned(_))));
            lock.clear_poison();
            assert_eq!(*lock.write().unwrap(), 9);
        }
    });
}

#[test]
fn shutdown_unwinds_parked_readers_and_writers() {
    util::within_limit(|| {
        let lock = Arc::new(RwLock::new(0u32));
        let writer = lock.write().unwrap(); // held by this OS thread
        let l2 = Arc::clone(&lock);
        sync_util::shutdown_while_parked(40, move |i| {
            if i % 2 == 0 {
                *l2.write().unwrap() += 1;
            } else {
                let _ = *l2.read().unwrap();
            }
        });
        // Nothing of theirs is left queued: an OS-thread writer and reader,
        // queued now, get the lock once this thread lets go.
        let others: Vec<_> = ["writer", "reader"]
            .into_iter()
            .map(|role| {
                let lock = Arc::clone(&lock);
                let (queuing_tx, queuing_rx) = bounded::<()>(1);
                let t = util::Task::os_thread(move || {
                    queuing_tx.send(()).unwrap();
                    if role == "writer" {
                        *lock.write().unwrap() += 1;
                    } else {
                        let _ = *lock.read().unwrap();
                    }
                });
                queuing_rx.recv_within(&format!("the OS-thread {role}'s report that it is about to queue"));
                t.wait_parked(&format!("the OS-thread {role} queued"));
                (role, t)
            })
            .collect();
        drop(writer);
        for (role, t) in others {
            t.join_within(&format!("the OS-thread {role}, given the lock"));
        }
        assert!(!lock.is_poisoned());
        assert_eq!(*lock.read().unwrap(), 1);
        assert!(lock.try_write().is_ok());
    });
}

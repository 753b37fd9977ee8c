//! `dhaga_runtime::sync::Semaphore`: permits taken and given back, `forget`
//! and `add_permits`, never more holders than permits under contention from
//! micro-threads and OS threads (and in thread mode), timeouts racing with
//! hand-offs, and shutdown while micro-threads wait for a permit.

mod sync_util;
mod util;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dhaga_runtime::sync::{Semaphore, bounded};
use dhaga_runtime::{run, sleep, yield_now};
use util::{CTX_PAIRS, RecvWithin};

#[test]
fn permits_come_and_go() {
    util::within_limit(|| {
        let check = || {
            let sem = Semaphore::new(2);
            let a = sem.acquire();
            let b = sem.try_acquire().expect("a second permit");
            assert_eq!(sem.available_permits(), 0);
            assert!(sem.try_acquire().is_none());
            let t0 = Instant::now();
            assert!(sem.acquire_timeout(Duration::from_millis(20)).is_none());
            assert!(t0.elapsed() >= Duration::from_millis(20));
            drop(a);
            assert_eq!(sem.available_permits(), 1);
            b.forget(); // kept for good
            assert_eq!(sem.available_permits(), 1);
            sem.add_permits(3);
            assert_eq!(sem.available_permits(), 4);
            let held: Vec<_> = (0..4)
                .map(|_| sem.acquire_timeout(Duration::from_secs(1)).unwrap())
                .collect();
            assert_eq!(sem.available_permits(), 0);
            drop(held);
            assert_eq!(sem.available_permits(), 4);
            assert_eq!(format!("{sem:?}"), "Semaphore { available_permits: 4, .. }");
            let none = Semaphore::new(0);
            assert!(none.try_acquire().is_none());
            none.add_permits(0);
            assert_eq!(none.available_permits(), 0);
        };
        check();
        run(check);
    });
}

/// `n` mixed tasks take a permit of `permits` `per` times each and count
/// how many are inside at once.
fn never_over_admits(rt: &dhaga_runtime::Runtime, permits: usize, n: usize, per: usize) {
    let sem = Arc::new(Semaphore::new(permits));
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let tasks = {
        let (sem, inside, most) = (Arc::clone(&sem), Arc::clone(&inside), Arc::clone(&most));
        sync_util::start_mixed(rt, n, move |i| {
            for k in 0..per {
                let _permit = sem.acquire();
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                assert!(now <= permits, "{now} holders of {permits} permits");
                most.fetch_max(now, Ordering::SeqCst);
                match (i + k) % 8 {
                    0 => yield_now(),
                    3 => sleep(Duration::from_micros(40)),
                    _ => {}
                }
                inside.fetch_sub(1, Ordering::SeqCst);
            }
        })
    };
    sync_util::join_all("the tasks taking permits", tasks);
    assert_eq!(sem.available_permits(), permits);
    assert!(most.load(Ordering::SeqCst) >= 1);
}

#[test]
fn never_more_holders_than_permits() {
    util::within_limit(|| {
        never_over_admits(&sync_util::micro(), 3, 200, 100);
        never_over_admits(&sync_util::micro(), 1, 64, 100);
        never_over_admits(&sync_util::thread_mode(), 3, 16, 500);
    });
}

#[test]
fn a_waiter_gets_a_permit_given_back_from_any_context() {
    util::within_limit(|| {
        let rt = sync_util::micro();
        for (holder, waiter) in CTX_PAIRS {
            let sem = Arc::new(Semaphore::new(1));
            let (held_tx, held_rx) = bounded::<()>(0);
            let (release_tx, release_rx) = bounded::<()>(1);
            let h = {
                let sem = Arc::clone(&sem);
                util::start(&rt, holder, move || {
                    let permit = sem.acquire();
                    held_tx.send(()).unwrap();
                    release_rx.recv_within("the word to give the permit back");
                    drop(permit);
                })
            };
            held_rx.recv_within("the holder's report that it holds the permit");
            let (waiting_tx, waiting_rx) = bounded::<()>(1);
            let w = {
                let sem = Arc::clone(&sem);
                util::start(&rt, waiter, move || {
                    waiting_tx.send(()).unwrap();
                    sem.acquire_timeout(Duration::from_secs(60)).is_some()
                })
            };
            waiting_rx.recv_within("the waiter's report that it is about to acquire");
            w.wait_parked("the waiter parked in acquire_timeout");
            release_tx.send(()).unwrap();
            h.join_within("the holder, giving its permit back");
            let got = w.join_within("the waiter, given the permit");
            assert!(got, "{holder:?}/{waiter:?}");
            assert_eq!(sem.available_permits(), 1);
        }
    });
}

#[test]
fn timeouts_racing_with_hand_offs_lose_no_permit() {
    util::within_limit(|| {
        for rt in [sync_util::micro(), sync_util::thread_mode()] {
            let sem = Arc::new(Semaphore::new(2));
            let inside = Arc::new(AtomicUsize::new(0));
            let tasks = {
                let (sem, inside) = (Arc::clone(&sem), Arc::clone(&inside));
                sync_util::start_mixed(&rt, 24, move |i| {
                    for k in 0..300u64 {
                        let timeout = Duration::from_micros(20 + (k * 31 + i as u64 * 13) % 300);
                        if let Some(permit) = sem.acquire_timeout(timeout) {
                            assert!(inside.fetch_add(1, Ordering::SeqCst) < 2);
                            if k % 3 == 0 {
                                sleep(Duration::from_micros(150));
                            }
                            inside.fetch_sub(1, Ordering::SeqCst);
                            drop(permit);
                        }
                    }
                })
            };
            sync_util::join_all("the tasks taking permits with timeouts", tasks);
            assert_eq!(sem.available_permits(), 2, "no permit leaked or lost");
        }
    });
}

#[test]
fn shutdown_unwinds_waiters_and_leaves_nothing_in_the_queue() {
    util::within_limit(|| {
        let sem = Arc::new(Semaphore::new(0));
        let s2 = Arc::clone(&sem);
        sync_util::shutdown_while_parked(40, move |_| {
            s2.acquire().forget();
        });
        assert_eq!(sem.available_permits(), 0);
        // An OS thread waits now; the one permit added must reach it.
        let (ready_tx, ready_rx) = bounded::<()>(1);
        let waiter = {
            let sem = Arc::clone(&sem);
            util::Task::os_thread(move || {
                ready_tx.send(()).unwrap();
                sem.acquire().forget();
            })
        };
        ready_rx.recv_within("the OS thread's report that it is about to acquire");
        waiter.wait_parked("the OS thread blocked in acquire");
        sem.add_permits(1);
        waiter.join_within("the OS thread, given the permit");
        assert_eq!(sem.available_permits(), 0);
        sem.add_permits(2);
        assert_eq!(sem.available_permits(), 2);
    });
}

//! `dhaga_runtime::sync::Condvar`: no lost wake-up with `notify_one` and
//! `notify_all` between micro-threads, OS threads and both mixed (and in
//! thread mode), `wait_while`, the timeout forms, poisoning through a wait,
//! and shutdown while micro-threads wait (their places in the queue must not
//! swallow later notifications).

mod sync_util;
mod util;

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use dhaga_runtime::run;
use dhaga_runtime::sync::{Condvar, Mutex, bounded};
use util::{CTX_PAIRS, JoinWithin, RecvWithin};

type Shared<T> = Arc<(Mutex<T>, Condvar)>;

fn shared<T>(value: T) -> Shared<T> {
    Arc::new((Mutex::new(value), Condvar::new()))
}

#[test]
fn ping_pong_loses_no_wake_up_between_all_contexts() {
    // Two parties take turns through one condition variable, 2,000 times:
    // a single lost notification hangs the test.
    util::within_limit(|| {
        for rt in [sync_util::micro(), sync_util::thread_mode()] {
            for (a, b) in CTX_PAIRS {
                let pair = shared(0u32);
                let turn = |me: u32| {
                    let pair = Arc::clone(&pair);
                    move || {
                        let (m, cv) = &*pair;
                        for _ in 0..1000 {
                            let mut n = cv.wait_while(m.lock().unwrap(), |n| *n % 2 != me).unwrap();
                            *n += 1;
                            cv.notify_one();
                        }
                    }
                };
                let ta = util::start(&rt, a, turn(0));
                let tb = util::start(&rt, b, turn(1));
                ta.join_within("party a of the ping-pong");
                tb.join_within("party b of the ping-pong");
                assert_eq!(*pair.0.lock().unwrap(), 2000, "{a:?}/{b:?}");
            }
        }
    });
}

#[test]
fn notify_one_hands_out_every_token() {
    // Consumers (micro-threads and OS threads) wait for tokens; a producer
    // adds them one at a time with notify_one. Every token is taken, and
    // nobody is left waiting when the producer says it is done.
    util::within_limit(|| {
        for rt in [sync_util::micro(), sync_util::thread_mode()] {
            // (tokens, done)
            let pair = shared((0u64, false));
            let consumers = {
                let pair = Arc::clone(&pair);
                sync_util::start_mixed(&rt, 16, move |_| {
                    let (m, cv) = &*pair;
                    let mut taken = 0u64;
                    loop {
                        let mut state = cv
                            .wait_while(m.lock().unwrap(), |(tokens, done)| *tokens == 0 && !*done)
                            .unwrap();
                        if state.0 > 0 {
                            state.0 -= 1;
                            taken += 1;
                        } else {
                            return taken;
                        }
                    }
                })
            };
            let producer = {
                let pair = Arc::clone(&pair);
                thread::spawn(move || {
                    let (m, cv) = &*pair;
                    for _ in 0..5000 {
                        m.lock().unwrap().0 += 1;
                        cv.notify_one();
                    }
                    m.lock().unwrap().1 = true;
                    cv.notify_all();
                })
            };
            producer.join_within("the producer of 5000 tokens").unwrap();
            let taken: u64 = sync_util::join_all("the token consumers", consumers).into_iter().sum();
            assert_eq!(taken, 5000);
        }
    });
}

#[test]
fn notify_all_wakes_every_waiter() {
    util::within_limit(|| {
        for rt in [sync_util::micro(), sync_util::thread_mode()] {
            for round in 0..20 {
                // (waiting, go)
                let pair = shared((0usize, false));
                let waiters = {
                    let pair = Arc::clone(&pair);
                    sync_util::start_mixed(&rt, 24, move |_| {
                        let (m, cv) = &*pair;
                        let mut state = m.lock().unwrap();
                        state.0 += 1;
                        cv.notify_all(); // tells the main thread too
                        let state = cv.wait_while(state, |(_, go)| !*go).unwrap();
                        assert!(state.1);
                    })
                };
                let (m, cv) = &*pair;
                let (mut state, waited) = cv
                    .wait_timeout_while(m.lock().unwrap(), util::PATIENCE, |(waiting, _)| *waiting < 24)
                    .unwrap();
                assert!(
                    !waited.timed_out(),
                    "waited {:?} for the 24 waiters of round {round} to arrive: {} did",
                    util::PATIENCE,
                    state.0
                );
                state.1 = true;
                drop(state);
                cv.notify_all();
                sync_util::join_all("the waiters woken by notify_all", waiters);
            }
        }
    });
}

#[test]
fn wait_timeout_forms() {
    util::within_limit(|| {
        let check = || {
            let (m, cv) = (Mutex::new(0), Condvar::new());
            let d = Duration::from_millis(20);
            let t0 = Instant::now();
            let (guard, result) = cv.wait_timeout(m.lock().unwrap(), d).unwrap();
            assert!(result.timed_out());
            assert!(t0.elapsed() >= d);
            drop(guard);
            let t0 = Instant::now();
            let (guard, result) = cv.wait_timeout_while(m.lock().unwrap(), d, |n| *n == 0).unwrap();
            assert!(result.timed_out());
            assert!(t0.elapsed() >= d);
            assert_eq!(*guard, 0);
            drop(guard);
            // A condition already false returns at once, not timed out.
            let (_, result) = cv.wait_timeout_while(m.lock().unwrap(), d, |n| *n != 0).unwrap();
            assert!(!result.timed_out());
            // The mutex is usable after each.
            *m.try_lock().unwrap() += 1;
            cv.notify_one(); // nobody waits: a no-op
            cv.notify_all();
        };
        check();
        run(check);
    });
}

#[test]
fn wait_timeout_is_woken_by_a_notification_from_any_context() {
    util::within_limit(|| {
        let rt = sync_util::micro();
        for (waiter, notifier) in CTX_PAIRS {
            let pair = shared(false);
            let (ready_tx, ready_rx) = bounded::<()>(0);
            let w = {
                let pair = Arc::clone(&pair);
                util::start(&rt, waiter, move || {
                    let (m, cv) = &*pair;
                    let guard = m.lock().unwrap();
                    ready_tx.send(()).unwrap();
                    let (guard, result) = cv
                        .wait_timeout_while(guard, Duration::from_secs(60), |set| !*set)
                        .unwrap();
                    assert!(*guard);
                    result.timed_out()
                })
            };
            // The waiter holds the mutex until it waits: the notifier, which
            // needs the mutex, comes after.
            ready_rx.recv_within("the waiter's report that it holds the mutex");
            let pair2 = Arc::clone(&pair);
            util::start(&rt, notifier, move || {
                let (m, cv) = &*pair2;
                *m.lock().unwrap() = true;
                cv.notify_one();
            })
            .join_within("the notifier");
            let timed_out = w.join_within("the waiter, notified");
            assert!(!timed_out, "{waiter:?}/{notifier:?}");
        }
    });
}

#[test]
fn timed_out_waiters_leave_the_queue() {
    // Many waiters time out; afterwards one notify_one must reach the one
    // real waiter (a stale queue entry would swallow it and hang the test).
    util::within_limit(|| {
        let rt = sync_util::micro();
        let pair = shared(false);
        let timers = {
            let pair = Arc::clone(&pair);
            sync_util::start_mixed(&rt, 40, move |_| {
                let (m, cv) = &*pair;
                for _ in 0..10 {
                    let (_, r) = cv.wait_timeout(m.lock().unwrap(), Duration::from_micros(300)).unwrap();
                    let _ = r;
                }
            })
        };
        sync_util::join_all("the waiters that time out", timers);
        let (ready_tx, ready_rx) = bounded::<()>(0);
        let waiter = {
            let pair = Arc::clone(&pair);
            rt.spawn(move || {
                let (m, cv) = &*pair;
                let guard = m.lock().unwrap();
                ready_tx.send(()).unwrap();
                drop(cv.wait_while(guard, |set| !*set).unwrap());
            })
        };
        ready_rx.recv_within("the real waiter's report that it holds the mutex");
        let (m, cv) = &*pair;
        *m.lock().unwrap() = true;
        cv.notify_one();
        waiter.join_within("the real waiter, notified").unwrap();
    });
}

#[test]
fn a_wait_returns_a_poisoned_guard_if_the_mutex_was_poisoned_meanwhile() {
    util::within_limit(|| {
        let pair = shared(0);
        let (ready_tx, ready_rx) = bounded::<()>(0);
        let waiter = {
            let pair = Arc::clone(&pair);
            thread::spawn(move || {
                let (m, cv) = &*pair;
                let guard = m.lock().unwrap();
                ready_tx.send(()).unwrap();
                let err = cv.wait_while(guard, |n| *n == 0).unwrap_err();
                *err.into_inner()
            })
        };
        ready_rx.recv_within("the waiter's report that it holds the mutex");
        let pair2 = Arc::clone(&pair);
        let _ = panic::catch_unwind(AssertUnwindSafe(move || {
            run(move || {
                let (m, cv) = &*pair2;
                let mut guard = m.lock().unwrap();
                *guard = 5;
                cv.notify_all();
                panic!("poison while holding");
            })
        }));
        let seen = waiter.join_within("the waiter, woken with a poisoned guard").unwrap();
        assert_eq!(seen, 5);
        assert!(pair.0.is_poisoned());
    });
}

#[test]
fn shutdown_unwinds_waiters_and_leaves_nothing_in_the_queue() {
    util::within_limit(|| {
        let pair = shared(false);
        let pair2 = Arc::clone(&pair);
        sync_util::shutdown_while_parked(40, move |_| {
            let (m, cv) = &*pair2;
            drop(cv.wait_while(m.lock().unwrap(), |set| !*set).unwrap());
        });
        let (m, cv) = &*pair;
        assert!(!m.is_poisoned(), "the unwound waiters did not hold the mutex");
        // An OS thread waits now; one notify_one must reach it.
        let (ready_tx, ready_rx) = bounded::<()>(0);
        let waiter = {
            let pair = Arc::clone(&pair);
            thread::spawn(move || {
                let (m, cv) = &*pair;
                let guard = m.lock().unwrap();
                ready_tx.send(()).unwrap();
                drop(cv.wait_while(guard, |set| !*set).unwrap());
            })
        };
        ready_rx.recv_within("the OS thread's report that it holds the mutex");
        *m.lock().unwrap() = true;
        cv.notify_one();
        waiter.join_within("the OS thread, notified").unwrap();
    });
}

#[test]
fn notify_one_wakes_waiters_in_the_order_they_started_waiting() {
    // Go's TestCondSignalGenerations: waiter i is queued before waiter i+1
    // takes the mutex (a waiter queues before it unlocks), so each
    // notify_one must wake exactly the next one in order.
    util::within_limit(|| {
        let rt = sync_util::micro();
        let n = 12;
        // (notifications so far, wake-up order)
        let pair = shared((0usize, Vec::new()));
        let (ready_tx, ready_rx) = bounded::<()>(0);
        let (woke_tx, woke_rx) = bounded::<usize>(0);
        let mut waiters = Vec::new();
        for i in 0..n {
            let (pair, ready_tx, woke_tx) = (Arc::clone(&pair), ready_tx.clone(), woke_tx.clone());
            waiters.push(util::start(&rt, sync_util::mixed_ctx(i), move || {
                let (m, cv) = &*pair;
                let guard = m.lock().unwrap();
                ready_tx.send(()).unwrap();
                let mut guard = cv
                    .wait_while(guard, |(notified, order)| *notified <= order.len())
                    .unwrap();
                guard.1.push(i);
                drop(guard);
                woke_tx.send(i).unwrap();
            }));
            ready_rx.recv_within(&format!("waiter {i}'s report that it holds the mutex"));
        }
        let (m, cv) = &*pair;
        for expected in 0..n {
            m.lock().unwrap().0 += 1;
            cv.notify_one();
            let woke = woke_rx.recv_within(&format!("the waiter woken by notification {expected}"));
            assert_eq!(woke, expected);
        }
        for (i, w) in waiters.into_iter().enumerate() {
            w.join_within(&format!("waiter {i}"));
        }
        assert_eq!(m.lock().unwrap().1, (0..n).collect::<Vec<_>>());
    });
}

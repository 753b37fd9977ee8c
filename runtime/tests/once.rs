//! `dhaga_runtime::sync::OnceLock`: concurrent initialisation from
//! micro-threads and OS threads (and in thread mode) runs the initialiser
//! once while the others park or block; a panicking or failing initialiser
//! lets the next caller try; `set`/`get`/`wait`/`into_inner`/`take`; a
//! reentrant initialisation panics; and shutdown while micro-threads wait.

mod sync_util;
mod util;

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use dhaga_runtime::sync::{OnceLock, bounded};
use dhaga_runtime::{run, sleep};
use util::{JoinWithin, RecvWithin};

#[test]
fn the_initialiser_runs_once_while_others_wait() {
    util::within_limit(|| {
        for rt in [sync_util::micro(), sync_util::thread_mode()] {
            for _ in 0..20 {
                let cell = Arc::new(OnceLock::new());
                let calls = Arc::new(AtomicUsize::new(0));
                let tasks = {
                    let (cell, calls) = (Arc::clone(&cell), Arc::clone(&calls));
                    sync_util::start_mixed(&rt, 24, move |i| {
                        let value: &String = cell.get_or_init(|| {
                            calls.fetch_add(1, Ordering::SeqCst);
                            sleep(Duration::from_millis(1)); // the others must wait
                            format!("from {i}")
                        });
                        value.clone()
                    })
                };
                let values = sync_util::join_all("the tasks initialising the cell", tasks);
                assert_eq!(calls.load(Ordering::SeqCst), 1);
                assert!(values.iter().all(|v| v == &values[0]), "{values:?}");
                assert_eq!(cell.get(), Some(&values[0]));
            }
        }
    });
}

#[test]
fn a_panicking_initialiser_lets_the_next_caller_try() {
    util::within_limit(|| {
        for rt in [sync_util::micro(), sync_util::thread_mode()] {
            let cell = Arc::new(OnceLock::new());
            let attempts = Arc::new(AtomicUsize::new(0));
            let (entered_tx, entered_rx) = bounded::<()>(0);
            let (go_tx, go_rx) = bounded::<()>(1);
            // The first initialiser parks until told, then panics.
            let first = {
                let (cell, attempts) = (Arc::clone(&cell), Arc::clone(&attempts));
                rt.spawn(move || {
                    cell.get_or_init(|| {
                        attempts.fetch_add(1, Ordering::SeqCst);
                        entered_tx.send(()).unwrap();
                        go_rx.recv_within("the word to panic");
                        panic!("the first initialiser fails");
                    });
                })
            };
            entered_rx.recv_within("the first initialiser's report that it runs");
            // Others arrive while it runs, and wait: the panic comes only
            // once every one of them is parked in `get_or_init`.
            let (waiting_tx, waiting_rx) = bounded::<()>(12);
            let others = {
                let (cell, attempts) = (Arc::clone(&cell), Arc::clone(&attempts));
                sync_util::start_mixed(&rt, 12, move |i| {
                    waiting_tx.send(()).unwrap();
                    *cell.get_or_init(|| {
                        attempts.fetch_add(1, Ordering::SeqCst);
                        i
                    })
                })
            };
            for i in 0..12 {
                waiting_rx.recv_within(&format!("report {i} of 12 waiters about to call get_or_init"));
            }
            for (i, other) in others.iter().enumerate() {
                other.wait_parked(&format!("waiter {i} of 12 parked in get_or_init"));
            }
            go_tx.send(()).unwrap();
            assert!(first.join_within("the first initialiser, panicking").is_err());
            let values = sync_util::join_all("the waiters, one of them initialising", others);
            assert_eq!(attempts.load(Ordering::SeqCst), 2, "one retry, by one waiter");
            assert!(values.iter().all(|v| *v == values[0]));
        }
    });
}

#[test]
fn a_failing_initialiser_leaves_the_cell_empty() {
    util::within_limit(|| {
        let check = || {
            let cell: OnceLock<u32> = OnceLock::new();
            assert_eq!(cell.get_or_try_init(|| Err("no")), Err("no"));
            assert!(cell.get().is_none());
            assert_eq!(cell.get_or_try_init(|| Ok::<_, ()>(3)), Ok(&3));
            assert_eq!(cell.get_or_try_init(|| Err("unused")), Ok(&3));
        };
        check();
        run(check);
    });
}

#[test]
fn set_get_wait_take_into_inner() {
    util::within_limit(|| {
        let check = || {
            let mut cell = OnceLock::new();
            assert_eq!(format!("{cell:?}"), "OnceLock(<uninit>)");
            assert!(cell.wait_timeout(Duration::from_millis(5)).is_none());
            assert_eq!(cell.set(1), Ok(()));
            assert_eq!(cell.set(2), Err(2));
            assert_eq!(cell.get(), Some(&1));
            assert_eq!(*cell.wait(), 1);
            assert_eq!(cell.wait_timeout(Duration::ZERO), Some(&1));
            assert_eq!(format!("{cell:?}"), "OnceLock(1)");
            *cell.get_mut().unwrap() += 1;
            assert_eq!(cell.clone(), OnceLock::from(2));
            assert_eq!(cell.take(), Some(2));
            assert_eq!(cell.get(), None);
            assert_eq!(cell.get_or_init(|| 5), &5);
            assert_eq!(cell.into_inner(), Some(5));
            assert_eq!(OnceLock::<u8>::default().into_inner(), None);
        };
        check();
        run(check);
    });
}

#[test]
fn wait_parks_until_another_initialises() {
    util::within_limit(|| {
        let rt = sync_util::micro();
        for (waiter, setter) in util::CTX_PAIRS {
            let cell = Arc::new(OnceLock::new());
            let (ready_tx, ready_rx) = bounded::<()>(1);
            let w = {
                let cell = Arc::clone(&cell);
                util::start(&rt, waiter, move || {
                    ready_tx.send(()).unwrap();
                    *cell.wait()
                })
            };
            ready_rx.recv_within("the waiter's report that it is about to wait");
            w.wait_parked("the waiter parked in wait()");
            let c2 = Arc::clone(&cell);
            util::start(&rt, setter, move || c2.set(42).unwrap()).join_within("the setter");
            assert_eq!(w.join_within("the waiter, woken by set"), 42, "{waiter:?}/{setter:?}");
        }
        let cell = OnceLock::<u8>::new();
        let t0 = Instant::now();
        assert!(cell.wait_timeout(Duration::from_millis(20)).is_none());
        assert!(t0.elapsed() >= Duration::from_millis(20));
    });
}

#[test]
fn a_reentrant_initialisation_panics_instead_of_deadlocking() {
    util::within_limit(|| {
        let cell = Arc::new(OnceLock::<u32>::new());
        let c2 = Arc::clone(&cell);
        let result = panic::catch_unwind(AssertUnwindSafe(move || {
            run(move || *c2.get_or_init(|| *c2.get_or_init(|| 1) + 1))
        }));
        let payload = result.expect_err("reentrant init");
        let text = util::panic_text(&*payload).unwrap_or_default().to_owned();
        assert!(text.contains("reentrantly"), "{text}");
        // The cell is usable after.
        assert_eq!(cell.get_or_init(|| 7), &7);
    });
}

#[test]
fn shutdown_unwinds_the_initialiser_and_its_waiters() {
    util::within_limit(|| {
        let cell = Arc::new(OnceLock::<u32>::new());
        let c2 = Arc::clone(&cell);
        sync_util::shutdown_while_parked(30, move |_| {
            // The first parks inside its initialiser, the rest wait for it.
            c2.get_or_init(|| {
                sleep(Duration::from_secs(3600));
                0
            });
        });
        assert!(cell.get().is_none(), "the unwound initialiser stored nothing");
        // An OS thread initialises it now, without waiting for anyone.
        let c3 = Arc::clone(&cell);
        let value = thread::spawn(move || *c3.get_or_init(|| 9))
            .join_within("the OS thread initialising the cell")
            .unwrap();
        assert_eq!(value, 9);
    });
}

#[test]
fn the_value_is_dropped_once_with_the_cell() {
    let drops = sync_util::Drops::default();
    let cell = OnceLock::new();
    assert!(cell.set(drops.token()).is_ok());
    let rejected = cell.set(drops.token()).unwrap_err();
    drop(rejected);
    assert_eq!(drops.count(), 1, "the value that was not stored");
    drop(cell);
    assert_eq!(drops.count(), 2, "the stored value, with the cell");
    drop(OnceLock::<sync_util::DropToken>::new()); // empty: nothing to drop
    assert_eq!(drops.count(), 2);
}

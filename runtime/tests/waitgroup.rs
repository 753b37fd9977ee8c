//! `dhaga_runtime::sync::WaitGroup` (crossbeam's style: clone per worker,
//! drop when done, `wait` on one): waiting for workers in every context and
//! in thread mode, several waiters, a panicking worker counts as done,
//! `wait_timeout` gives the member back, and shutdown while waiting.

mod sync_util;
mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dhaga_runtime::sync::{WaitGroup, bounded};
use dhaga_runtime::{run, sleep};
use util::{CTX_PAIRS, JoinWithin, RecvWithin};

#[test]
fn wait_returns_once_every_worker_is_done() {
    util::within_limit(|| {
        let rt = sync_util::micro();
        for (worker, waiter) in CTX_PAIRS {
            for _ in 0..20 {
                let done = Arc::new(AtomicUsize::new(0));
                let wg = WaitGroup::new();
                for k in 0..16 {
                    let (wg, done) = (wg.clone(), Arc::clone(&done));
                    util::start(&rt, worker, move || {
                        if k % 4 == 0 {
                            sleep(Duration::from_micros(200));
                        }
                        done.fetch_add(1, Ordering::SeqCst);
                        drop(wg);
                    });
                }
                let seen = util::start(&rt, waiter, {
                    let done = Arc::clone(&done);
                    move || {
                        wg.wait();
                        done.load(Ordering::SeqCst)
                    }
                })
                .join_within("the waiter for the 16 workers");
                assert_eq!(seen, 16, "{worker:?}/{waiter:?}");
            }
        }
    });
}

#[test]
fn several_waiters_and_thread_mode() {
    util::within_limit(|| {
        for rt in [sync_util::micro(), sync_util::thread_mode()] {
            let (waiters_n, workers_n) = (8, 32);
            let done = Arc::new(AtomicUsize::new(0));
            let wg = WaitGroup::new();
            // One member for each task, made here and handed out by index.
            let members: Arc<Vec<Mutex<Option<WaitGroup>>>> = Arc::new(
                (0..waiters_n + workers_n)
                    .map(|_| Mutex::new(Some(wg.clone())))
                    .collect(),
            );
            drop(wg);
            let take = |members: &[Mutex<Option<WaitGroup>>], i: usize| members[i].lock().unwrap().take().unwrap();
            let waiters = {
                let (members, done) = (Arc::clone(&members), Arc::clone(&done));
                sync_util::start_mixed(&rt, waiters_n, move |i| {
                    take(&members, i).wait();
                    done.load(Ordering::SeqCst)
                })
            };
            let workers = {
                let (members, done) = (Arc::clone(&members), Arc::clone(&done));
                sync_util::start_mixed(&rt, workers_n, move |i| {
                    let mine = take(&members, waiters_n + i);
                    sleep(Duration::from_micros(100));
                    done.fetch_add(1, Ordering::SeqCst);
                    drop(mine);
                })
            };
            sync_util::join_all("the workers", workers);
            let seen = sync_util::join_all("the waiters", waiters);
            assert!(seen.iter().all(|&n| n == workers_n), "{seen:?}");
        }
    });
}

#[test]
fn a_panicking_worker_counts_as_done() {
    util::within_limit(|| {
        run(|| {
            let wg = WaitGroup::new();
            let w = wg.clone();
            let h = dhaga_runtime::spawn(move || {
                let _w = w;
                panic!("worker fails");
            });
            wg.wait();
            assert!(h.join_within("the worker that panicked").is_err());
        });
    });
}

#[test]
fn wait_timeout_gives_the_member_back() {
    util::within_limit(|| {
        let check = || {
            let wg = WaitGroup::new();
            let worker = wg.clone();
            let t0 = Instant::now();
            let wg = wg
                .wait_timeout(Duration::from_millis(20))
                .expect_err("a member is alive");
            assert!(t0.elapsed() >= Duration::from_millis(20));
            assert_eq!(format!("{wg:?}"), "WaitGroup { members: 2 }");
            drop(worker);
            wg.wait_timeout(Duration::from_secs(60)).expect("nobody else is left");
            // Alone: returns at once.
            WaitGroup::new().wait();
            assert!(WaitGroup::new().wait_timeout(Duration::ZERO).is_ok());
        };
        check();
        run(check);
    });
}

#[test]
fn shutdown_unwinds_waiters_and_the_group_still_works() {
    util::within_limit(|| {
        let wg = WaitGroup::new();
        let keep = Arc::new(std::sync::Mutex::new(Some(wg.clone())));
        let shared = Arc::new(std::sync::Mutex::new(wg.clone()));
        sync_util::shutdown_while_parked(30, move |_| {
            let mine = shared.lock().unwrap().clone();
            mine.wait();
        });
        // The unwound waiters' members were dropped by `wait` itself; what
        // is left: `wg` and `keep`'s, and the `shared` one inside the
        // closure, dropped with the runtime.
        let (ready_tx, ready_rx) = bounded::<()>(1);
        let waiter = util::Task::os_thread(move || {
            ready_tx.send(()).unwrap();
            wg.wait();
        });
        ready_rx.recv_within("the OS thread's report that it is about to wait");
        waiter.wait_parked("the OS thread blocked in wait");
        keep.lock().unwrap().take();
        waiter.join_within("the OS thread, released by the last member");
    });
}

//! Timers: `sleep` never returns early (in micro-threads and on OS threads),
//! parks rather than blocks its worker, wakes sleepers in deadline order, and
//! a short sleep started after a long one is not held up by it.

mod util;

use std::time::{Duration, Instant};

use dhaga_runtime::sync::unbounded;
use dhaga_runtime::{Runtime, RuntimeBuilder, in_micro_thread, run, sleep, spawn};

use util::{JoinWithin, RecvWithin, wait_until};

const DURATIONS: [Duration; 6] = [
    Duration::ZERO,
    Duration::from_micros(1),
    Duration::from_micros(700),
    Duration::from_millis(1),
    Duration::from_millis(15),
    Duration::from_millis(60),
];

fn sleeps_at_least_its_duration() {
    for d in DURATIONS {
        let t0 = Instant::now();
        sleep(d);
        let took = t0.elapsed();
        assert!(took >= d, "sleep({d:?}) returned after {took:?}");
    }
}

#[test]
fn sleep_does_not_return_early_in_a_micro_thread() {
    util::within_limit(|| {
        run(|| {
            assert!(in_micro_thread());
            sleeps_at_least_its_duration();
        });
    });
}

#[test]
fn sleep_does_not_return_early_on_an_os_thread() {
    util::within_limit(|| {
        assert!(!in_micro_thread());
        sleeps_at_least_its_duration();
    });
}

#[test]
fn many_concurrent_sleepers_each_sleep_long_enough() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        let short = rt.block_on(|| {
            let hs: Vec<_> = (0..5000u64)
                .map(|i| {
                    spawn(move || {
                        let d = Duration::from_micros(100 + (i * 7919) % 20_000);
                        let mut short = 0u32;
                        for _ in 0..3 {
                            let t0 = Instant::now();
                            sleep(d);
                            if t0.elapsed() < d {
                                short += 1;
                            }
                        }
                        short
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join_within("one of 5000 sleepers").unwrap())
                .sum::<u32>()
        });
        assert_eq!(short, 0, "sleeps returned early");
    });
}

#[test]
fn sleep_parks_instead_of_blocking_the_worker() {
    // One worker, 100 micro-threads sleeping 100 ms each: 10 s if sleep
    // blocked the worker, about 0.1 s if it parks.
    util::within_limit(|| {
        let rt = RuntimeBuilder::new().workers(1).build().unwrap();
        let took = rt.block_on(|| {
            let t0 = Instant::now();
            let hs: Vec<_> = (0..100).map(|_| spawn(|| sleep(Duration::from_millis(100)))).collect();
            for h in hs {
                h.join_within("one of 100 sleepers on one worker").unwrap();
            }
            t0.elapsed()
        });
        assert!(took >= Duration::from_millis(100));
        assert!(
            took < Duration::from_secs(5),
            "sleepers ran one after another: {took:?}"
        );
    });
}

#[test]
fn sleepers_wake_in_deadline_order() {
    // Deadlines 50 ms apart, armed in reverse order: wake-ups arrive earliest
    // first. One worker, because each worker keeps its own timers: across
    // workers the order would only be as good as each worker's promptness,
    // and a worker on a loaded machine can be 50 ms late. The deadlines are
    // absolute and the first is 100 ms out, so all are armed before any
    // passes; from then on the order is the timers' alone, even if the
    // worker is late and finds several due at once.
    util::within_limit(|| {
        let rt = RuntimeBuilder::new().workers(1).build().unwrap();
        let woken = rt.block_on(|| {
            let (tx, rx) = unbounded::<(u64, bool)>();
            let first = Instant::now() + Duration::from_millis(100);
            let hs: Vec<_> = (0..6u64)
                .rev()
                .map(|i| {
                    let tx = tx.clone();
                    let deadline = first + Duration::from_millis(50 * i);
                    spawn(move || {
                        let in_time = Instant::now() < first;
                        sleep(deadline.saturating_duration_since(Instant::now()));
                        tx.send((i, in_time)).unwrap();
                    })
                })
                .collect();
            drop(tx);
            for h in hs {
                h.join_within("a sleeper to report its wake-up").unwrap();
            }
            rx.iter().collect::<Vec<(u64, bool)>>()
        });
        assert!(
            woken.iter().all(|&(_, in_time)| in_time),
            "not every sleeper was armed before the first deadline, so the order cannot tell: {woken:?}"
        );
        let order: Vec<u64> = woken.iter().map(|&(i, _)| i).collect();
        assert_eq!(order, vec![0, 1, 2, 3, 4, 5]);
    });
}

#[test]
fn a_short_sleep_is_not_held_up_by_an_earlier_long_one() {
    // On one worker, a micro-thread sleeps for an hour first; a 20 ms sleep
    // started afterwards must wake after about 20 ms, not an hour. The long
    // sleeper is unwound when the runtime is dropped.
    util::within_limit(|| {
        let rt = RuntimeBuilder::new().workers(1).build().unwrap();
        let took = rt.block_on(|| {
            let (started_tx, started_rx) = unbounded::<()>();
            let long = spawn(move || {
                started_tx.send(()).unwrap();
                sleep(Duration::from_secs(3600));
            });
            started_rx.recv_within("the hour-long sleeper to start");
            wait_until("the hour-long sleeper to park in sleep", || long.is_parked());
            let t0 = Instant::now();
            spawn(|| sleep(Duration::from_millis(20)))
                .join_within("the 20 ms sleeper")
                .unwrap();
            t0.elapsed()
        });
        assert!(took >= Duration::from_millis(20));
        assert!(took < Duration::from_secs(30), "short sleep took {took:?}");
        drop(rt);
    });
}

#[test]
fn sleep_on_the_global_runtime() {
    util::within_limit(|| {
        let d = Duration::from_millis(30);
        let took = spawn(move || {
            let t0 = Instant::now();
            sleep(d);
            t0.elapsed()
        })
        .join_within("the sleeper on the global runtime")
        .unwrap();
        assert!(took >= d, "{took:?}");
    });
}

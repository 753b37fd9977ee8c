//! `dhaga_runtime::sync::Barrier`: reuse over many generations with exactly
//! one leader each, between micro-threads and OS threads and in thread
//! mode; `n` of 0 and 1; `wait_timeout` withdraws the caller's arrival; and
//! shutdown while micro-threads wait (the barrier still needs `n` after).

mod sync_util;
mod util;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use dhaga_runtime::sync::Barrier;
use dhaga_runtime::{run, sleep};
use util::{CTX_PAIRS, JoinWithin};

#[test]
fn generations_release_together_with_one_leader_each() {
    util::within_limit(|| {
        let n = 12;
        let generations = 300;
        for rt in [sync_util::micro(), sync_util::thread_mode()] {
            let barrier = Arc::new(Barrier::new(n));
            // Arrivals per generation, counted before each wait.
            let arrived: Arc<Vec<AtomicUsize>> = Arc::new((0..generations).map(|_| AtomicUsize::new(0)).collect());
            let tasks = {
                let (barrier, arrived) = (Arc::clone(&barrier), Arc::clone(&arrived));
                sync_util::start_mixed(&rt, n, move |i| {
                    let mut leads = 0;
                    for g in 0..generations {
                        arrived[g].fetch_add(1, Ordering::SeqCst);
                        if (g + i) % 29 == 0 {
                            sleep(Duration::from_micros(100));
                        }
                        if barrier.wait().is_leader() {
                            leads += 1;
                        }
                        // Nobody is released before all have arrived.
                        assert_eq!(arrived[g].load(Ordering::SeqCst), n, "generation {g}");
                    }
                    leads
                })
            };
            let leads: usize = sync_util::join_all("the parties of 300 generations", tasks)
                .into_iter()
                .sum();
            assert_eq!(leads, generations, "one leader per generation");
        }
    });
}

#[test]
fn pairs_of_contexts_meet() {
    util::within_limit(|| {
        let rt = sync_util::micro();
        for (a, b) in CTX_PAIRS {
            let barrier = Arc::new(Barrier::new(2));
            let party = || {
                let barrier = Arc::clone(&barrier);
                move || (0..500).filter(|_| barrier.wait().is_leader()).count()
            };
            let ta = util::start(&rt, a, party());
            let tb = util::start(&rt, b, party());
            let leads = ta.join_within("party a") + tb.join_within("party b");
            assert_eq!(leads, 500, "{a:?}/{b:?}");
        }
    });
}

#[test]
fn zero_or_one_party_never_waits() {
    util::within_limit(|| {
        let check = || {
            for n in [0, 1] {
                let barrier = Barrier::new(n);
                for _ in 0..3 {
                    assert!(barrier.wait().is_leader());
                    assert!(barrier.wait_timeout(Duration::ZERO).unwrap().is_leader());
                }
            }
            assert_eq!(format!("{:?}", Barrier::new(3)), "Barrier { n: 3, .. }");
        };
        check();
        run(check);
    });
}

#[test]
fn wait_timeout_withdraws_the_arrival() {
    util::within_limit(|| {
        let check = || {
            let barrier = Arc::new(Barrier::new(2));
            let t0 = Instant::now();
            assert!(barrier.wait_timeout(Duration::from_millis(20)).is_none());
            assert!(t0.elapsed() >= Duration::from_millis(20));
            // Had the arrival stayed, this lone wait would pass as leader.
            assert!(barrier.wait_timeout(Duration::from_millis(5)).is_none());
            // Two together pass, one of them leading.
            let b2 = Arc::clone(&barrier);
            let other = thread::spawn(move || b2.wait().is_leader());
            let here = barrier
                .wait_timeout(Duration::from_secs(60))
                .expect("released")
                .is_leader();
            assert!(here ^ other.join_within("the other party").unwrap());
        };
        check();
        run(check);
    });
}

#[test]
fn shutdown_unwinds_waiters_and_withdraws_their_arrivals() {
    util::within_limit(|| {
        let barrier = Arc::new(Barrier::new(3));
        let b2 = Arc::clone(&barrier);
        // Two arrivals of three: they wait until the runtime goes. Had they
        // stayed counted, the first OS thread below would pass alone and the
        // other two would wait for ever.
        sync_util::shutdown_while_parked(2, move |_| {
            b2.wait();
        });
        // Three OS threads still need each other: the unwound arrival is gone.
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || barrier.wait().is_leader())
            })
            .collect();
        let leaders = threads
            .into_iter()
            .enumerate()
            .map(|(i, t)| t.join_within(&format!("OS thread {i} of 3 at the barrier")).unwrap())
            .filter(|&l| l)
            .count();
        assert_eq!(leaders, 1);
        // And a lone waiter is not released by leftovers either.
        assert!(barrier.wait_timeout(Duration::from_millis(5)).is_none());
    });
}

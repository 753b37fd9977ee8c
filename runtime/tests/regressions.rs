//! Regression tests for bugs a review found: each reproduces the reported
//! sequence and checks the behaviour that was broken.

mod util;

use std::sync::Arc;

use dhaga_runtime::sync::{bounded, unbounded};
use dhaga_runtime::{RuntimeBuilder, spawn};

/// Capacity zero: two parked receivers, two sends. The second send used to
/// post an offer without waking the second receiver, so both waited forever.
#[test]
fn rendezvous_with_two_parked_receivers_delivers_both() {
    util::within_limit(|| {
        let rt = RuntimeBuilder::new().workers(1).build().unwrap();
        rt.block_on(|| {
            let (tx, rx) = bounded::<u32>(0);
            let (parked_tx, parked_rx) = unbounded::<()>();
            let receivers: Vec<_> = (0..2)
                .map(|_| {
                    let rx = rx.clone();
                    let parked = parked_tx.clone();
                    spawn(move || {
                        parked.send(()).unwrap();
                        rx.recv()
                    })
                })
                .collect();
            // One worker: both receivers have run up to their recv (and
            // parked there) once this micro-thread gets the CPU back after
            // their signals and a yield.
            parked_rx.recv().unwrap();
            parked_rx.recv().unwrap();
            dhaga_runtime::yield_now();
            // Before the fix the second send, and the second receiver, hung.
            tx.send(1).expect("first send");
            tx.send(2).expect("second send");
            let mut got: Vec<u32> = receivers.into_iter().map(|h| h.join().unwrap().unwrap()).collect();
            got.sort_unstable();
            assert_eq!(got, [1, 2]);
        });
    });
}

/// `spawn_blocking` calls made together run together: a burst must start
/// threads, not queue behind one idle thread (before the fix these jobs,
/// which need each other, deadlocked).
#[test]
fn spawn_blocking_runs_a_burst_concurrently() {
    util::within_limit(|| {
        // Warm the pool so that one idle thread exists.
        dhaga_runtime::run(|| dhaga_runtime::spawn_blocking(|| ()));
        let rt = RuntimeBuilder::new().workers(1).build().unwrap();
        rt.block_on(|| {
            let barrier = Arc::new(std::sync::Barrier::new(4));
            let jobs: Vec<_> = (0..4)
                .map(|_| {
                    let barrier = Arc::clone(&barrier);
                    spawn(move || dhaga_runtime::spawn_blocking(move || barrier.wait().is_leader()))
                })
                .collect();
            let leaders = jobs
                .into_iter()
                .map(|j| j.join().unwrap())
                .filter(|&leader| leader)
                .count();
            assert_eq!(leaders, 1);
        });
    });
}

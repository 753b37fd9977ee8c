//! Metrics count what the program did: spawns, starts and ends, parks and
//! wake-ups (local and remote), reactor waits and idle time, stacks, the
//! blocking pool's threads.

mod util;

use std::sync::mpsc;
use std::time::Duration;

use dhaga_runtime::sync::unbounded;
use dhaga_runtime::{Runtime, spawn, spawn_blocking};

use util::{JoinWithin, RecvWithin, wait_until};

const CHILDREN: u64 = 10;

fn one_worker() -> Runtime {
    Runtime::builder().workers(1).build().unwrap()
}

#[test]
fn spawns_parks_and_local_wakeups_are_counted() {
    let rt = one_worker();
    rt.block_on(|| {
        let (tx, rx) = unbounded::<u64>();
        let children: Vec<_> = (0..CHILDREN)
            .map(|_| {
                let rx = rx.clone();
                spawn(move || rx.recv().unwrap())
            })
            .collect();
        for child in &children {
            wait_until("a child to park in recv", || child.is_parked());
        }
        for i in 0..CHILDREN {
            tx.send(i).unwrap();
        }
        let sum: u64 = children.into_iter().map(|c| c.join_within("a child").unwrap()).sum();
        assert_eq!(sum, (0..CHILDREN).sum());
    });
    wait_until("every micro-thread to be counted as ended", || {
        rt.metrics().workers[0].alive == 0
    });
    let metrics = rt.metrics();
    let worker = &metrics.workers[0];
    assert_eq!(worker.spawned, CHILDREN, "{metrics:#?}");
    assert_eq!(metrics.spawned_outside, 1, "block_on's micro-thread: {metrics:#?}");
    assert_eq!(worker.started, CHILDREN + 1, "{metrics:#?}");
    assert_eq!(worker.finished, CHILDREN + 1, "{metrics:#?}");
    assert!(worker.parks >= CHILDREN, "each child parked in recv: {metrics:#?}");
    assert!(worker.local_wakeups >= CHILDREN, "each woken by a send: {metrics:#?}");
    assert!(
        worker.stacks_cached >= 1,
        "the children's stacks are kept: {metrics:#?}"
    );
    assert!(metrics.stacks_mapped >= 1, "{metrics:#?}");
    // The table shows them.
    let table = metrics.to_string();
    assert!(table.lines().count() >= 3, "{table}");
}

#[test]
fn remote_wakeups_reactor_waits_and_idle_time_are_counted() {
    let rt = one_worker();
    let (tx, rx) = unbounded::<()>();
    let parked = rt.spawn(move || {
        rx.recv().unwrap();
        // Nothing else runs: the worker sleeps in its reactor until the
        // timer fires.
        dhaga_runtime::sleep(Duration::from_millis(20));
    });
    wait_until("the micro-thread to park in recv", || parked.is_parked());
    let before = rt.metrics().workers[0].clone();
    tx.send(()).unwrap(); // from this OS thread: a remote wake-up
    parked.join_within("the micro-thread").unwrap();
    let after = rt.metrics().workers[0].clone();
    assert!(after.remote_wakeups > before.remote_wakeups, "{before:#?}\n{after:#?}");
    assert!(after.reactor_waits > before.reactor_waits, "{before:#?}\n{after:#?}");
    assert!(
        after.idle >= before.idle + Duration::from_millis(10),
        "slept through most of the 20 ms: {before:#?}\n{after:#?}"
    );
    assert_eq!(rt.metrics().spawned_outside, 1);
}

#[test]
fn busy_blocking_pool_threads_are_counted() {
    let rt = one_worker();
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let job = rt.spawn(move || {
        spawn_blocking(move || {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
    });
    started_rx.recv_within("the blocking job to start");
    let metrics = rt.metrics();
    assert!(metrics.blocking_busy >= 1, "{metrics:#?}");
    assert!(dhaga_runtime::metrics().blocking_busy >= 1);
    release_tx.send(()).unwrap();
    job.join_within("the micro-thread waiting for its blocking job")
        .unwrap();
}

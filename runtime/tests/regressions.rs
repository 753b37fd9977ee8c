//! Regression tests for bugs a review found: each reproduces the reported
//! sequence and checks the behaviour that was broken.

mod util;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// A micro-thread woken for a message but cancelled (its runtime shut down)
/// before it took it must pass the wake-up on to the next waiter.
#[test]
fn a_cancelled_waiter_passes_its_wake_up_on() {
    util::within_limit(|| {
        let (tx, rx) = unbounded::<u32>();
        let rt = RuntimeBuilder::new().workers(1).build().unwrap();
        let (parked_tx, parked_rx) = std::sync::mpsc::channel();
        let gate = Arc::new(AtomicBool::new(false));
        {
            let rx = rx.clone();
            let gate = Arc::clone(&gate);
            rt.spawn(move || {
                // The micro-thread receiver parks first: on this one worker,
                // by the time its signal has woken us and we run again, it
                // has gone on into `recv` and parked there.
                let rx2 = rx.clone();
                let (about_tx, about_rx) = bounded::<()>(1);
                dhaga_runtime::spawn(move || {
                    about_tx.send(()).unwrap();
                    let _ = rx2.recv();
                });
                about_rx.recv().unwrap();
                parked_tx.send(()).unwrap();
                // Hold the worker so the woken receiver cannot run before
                // the runtime is dropped.
                while !gate.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
            });
        }
        parked_rx.recv().unwrap();
        // An OS-thread receiver waits too, behind the micro-thread.
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let os_receiver = std::thread::spawn(move || {
            tid_tx.send(gettid()).unwrap();
            rx.recv() // before the fix: never woken
        });
        wait_until_blocked(tid_rx.recv().unwrap());
        tx.send(7).unwrap(); // wakes the micro-thread, first in line
        // Drop the runtime on another thread; once that thread blocks
        // (joining the workers), shutdown has begun, and releasing the
        // worker makes it cancel the woken micro-thread instead of running it.
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let dropper = std::thread::spawn(move || {
            tid_tx.send(gettid()).unwrap();
            drop(rt);
        });
        wait_until_blocked(tid_rx.recv().unwrap());
        gate.store(true, Ordering::Release);
        dropper.join().unwrap();
        assert_eq!(os_receiver.join().unwrap(), Ok(7));
    });
}

fn gettid() -> libc::pid_t {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Waits until OS thread `tid` of this process is blocked (state `S`),
/// which for the receiver above means parked in the channel.
fn wait_until_blocked(tid: libc::pid_t) {
    let path = format!("/proc/self/task/{tid}/stat");
    loop {
        let stat = std::fs::read_to_string(&path).unwrap();
        // The state follows the parenthesised command name.
        let state = stat.rsplit(')').next().unwrap().split_whitespace().next().unwrap();
        if state == "S" {
            return;
        }
        std::thread::yield_now();
    }
}

/// A runtime dropped by one of its own micro-threads still cancels the
/// micro-threads that never started, including those in the injector.
#[test]
fn a_runtime_dropped_from_inside_cancels_what_never_started() {
    util::within_limit(|| {
        let rt = Arc::new(RuntimeBuilder::new().workers(1).build().unwrap());
        let (handles_tx, handles_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = bounded::<()>(1);
        let inner = Arc::clone(&rt);
        rt.spawn(move || {
            // More than a fresh queue holds: some overflow to the injector.
            let handles: Vec<_> = (0..3000).map(|_| inner.spawn(|| ())).collect();
            handles_tx.send(handles).unwrap();
            let _ = go_rx.recv(); // until the test has let go of the runtime
            drop(inner); // the last reference: shutdown from inside
        });
        let handles = handles_rx.recv().unwrap();
        drop(rt);
        go_tx.send(()).unwrap();
        for handle in handles {
            // Finished, or cancelled; never left hanging.
            let _ = handle.join();
        }
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

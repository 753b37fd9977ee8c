//! Shutdown: dropping a `Runtime` (or the end of `run`) unwinds every
//! micro-thread still parked or runnable, on its own worker, so its
//! destructors run and its sockets close; closures of micro-threads that
//! never started are dropped, also when one of the runtime's own
//! micro-threads drops it; `join` on any of them returns `Err`; a receiver
//! woken for a message but unwound before it took it passes it on.

mod util;

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dhaga_runtime::sync::{Receiver, Sender, bounded, unbounded};
use dhaga_runtime::{JoinHandle, Runtime, RuntimeBuilder, Source, run, sleep, spawn, yield_now};

use util::{JoinWithin, PATIENCE, RecvWithin, Task, wait_until};

/// The OS thread id of the caller, read with a system call.
fn os_tid() -> i64 {
    // SAFETY: gettid takes no arguments and cannot fail.
    i64::from(unsafe { libc::syscall(libc::SYS_gettid) } as i32)
}

/// Counts its drops, and drops on the OS thread it was created on.
struct Guard {
    drops: Arc<AtomicUsize>,
    foreign: Arc<AtomicUsize>,
    tid: i64,
}

impl Guard {
    fn new(drops: &Arc<AtomicUsize>, foreign: &Arc<AtomicUsize>) -> Guard {
        Guard {
            drops: drops.clone(),
            foreign: foreign.clone(),
            tid: os_tid(),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if os_tid() != self.tid {
            self.foreign.fetch_add(1, Ordering::SeqCst);
        }
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Clone)]
struct Counters {
    drops: Arc<AtomicUsize>,
    foreign: Arc<AtomicUsize>,
}

impl Counters {
    fn new() -> Counters {
        Counters {
            drops: Arc::new(AtomicUsize::new(0)),
            foreign: Arc::new(AtomicUsize::new(0)),
        }
    }
}

/// Nested frames, each with a guard, the innermost asleep for an hour.
fn nest(n: u32, c: &Counters, ready: &Sender<()>) {
    let _g = Guard::new(&c.drops, &c.foreign);
    if n == 0 {
        ready.send(()).unwrap();
        sleep(Duration::from_secs(3600));
    } else {
        nest(n - 1, c, ready);
    }
}

/// Spawns micro-threads that park forever in every way there is (`never`
/// must have a live sender that never sends), and two that stay runnable
/// forever, each holding guards created on its worker. Returns once all of
/// them hold all their guards, with their handles.
fn park_forever(c: &Counters, never: Receiver<()>, per_kind: usize) -> Vec<JoinHandle<()>> {
    let (ready_tx, ready_rx) = unbounded::<()>();
    let mut handles = Vec::new();
    for k in 0..per_kind * 4 + 2 {
        let c = c.clone();
        let ready = ready_tx.clone();
        let never = never.clone();
        handles.push(spawn(move || {
            let _g = Guard::new(&c.drops, &c.foreign);
            if k >= per_kind * 4 {
                ready.send(()).unwrap();
                // Runnable forever.
                loop {
                    yield_now();
                }
            }
            match k % 4 {
                0 => {
                    ready.send(()).unwrap();
                    let _ = never.recv();
                    unreachable!("the sender is alive and never sends");
                }
                1 => {
                    ready.send(()).unwrap();
                    sleep(Duration::from_secs(3600));
                }
                2 => {
                    // Parked in join() on another parked micro-thread.
                    let c2 = c.clone();
                    let ready2 = ready.clone();
                    let inner = spawn(move || {
                        let _g = Guard::new(&c2.drops, &c2.foreign);
                        ready2.send(()).unwrap();
                        let _ = never.recv();
                    });
                    ready.send(()).unwrap();
                    let _ = inner.join();
                }
                _ => nest(3, &c, &ready),
            }
        }));
    }
    // One per micro-thread, plus one per inner micro-thread of kind 2.
    for _ in 0..handles.len() + per_kind {
        ready_rx.recv_within("a micro-thread to hold its guards");
    }
    handles
}

/// Guards created by `park_forever(.., per_kind)`.
fn guards(per_kind: usize) -> usize {
    // 1 guard per micro-thread, 2 for kind 2 (the inner one), 5 for kind 3
    // (1 + 4 nested frames), 1 each for the 2 runnable ones.
    per_kind * (1 + 1 + 2 + 5) + 2
}

#[test]
fn dropping_the_runtime_unwinds_parked_and_runnable_micro_threads() {
    util::within_limit(|| {
        let c = Counters::new();
        let (never_tx, never_rx) = bounded::<()>(0);
        let rt = Runtime::new().unwrap();
        let c2 = c.clone();
        let handles = rt.block_on(move || park_forever(&c2, never_rx, 50));
        assert_eq!(c.drops.load(Ordering::SeqCst), 0, "nothing ended yet");
        drop(rt);
        assert_eq!(c.drops.load(Ordering::SeqCst), guards(50), "every guard dropped");
        assert_eq!(
            c.foreign.load(Ordering::SeqCst),
            0,
            "destructors must run on the micro-thread's own worker"
        );
        for h in handles {
            assert!(
                h.join_within("an unwound micro-thread").is_err(),
                "join on an unwound micro-thread returns Err"
            );
        }
        drop(never_tx);
    });
}

#[test]
fn dropping_the_runtime_drops_closures_that_never_started() {
    util::within_limit(|| {
        // One worker, busy with the spawning micro-thread: most children are
        // still queued when the runtime goes. Started or not, each closure's
        // captures must be dropped, and each join must return (Err for those
        // that were unwound or never ran).
        let drops = Arc::new(AtomicUsize::new(0));
        let foreign = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(AtomicUsize::new(0));
        let rt = RuntimeBuilder::new().workers(1).build().unwrap();
        let (keep_tx, keep_rx) = bounded::<()>(0);
        let handles = {
            let (drops, foreign, started) = (drops.clone(), foreign.clone(), started.clone());
            rt.block_on(move || {
                (0..10_000)
                    .map(|_| {
                        // Created here, on the spawner's worker; with one
                        // worker, that is also where any drop must happen.
                        let g = Guard::new(&drops, &foreign);
                        let started = started.clone();
                        let keep_rx = keep_rx.clone();
                        spawn(move || {
                            let _g = g;
                            started.fetch_add(1, Ordering::SeqCst);
                            let _ = keep_rx.recv();
                        })
                    })
                    .collect::<Vec<_>>()
            })
        };
        drop(rt);
        let started = started.load(Ordering::SeqCst);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            10_000,
            "{started} had started; every closure must be dropped"
        );
        for h in handles {
            assert!(h.join_within("a micro-thread unwound or never started").is_err());
        }
        drop(keep_tx);
        println!("{started} of 10000 had started before the drop");
    });
}

#[test]
fn join_pending_on_an_os_thread_returns_err_at_shutdown() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        let (keep_tx, keep_rx) = bounded::<u8>(0);
        let (ready_tx, ready_rx) = bounded::<()>(0);
        let h = rt.spawn(move || {
            ready_tx.send(()).unwrap();
            keep_rx.recv().unwrap()
        });
        ready_rx.recv_within("the micro-thread to start");
        let (joining_tx, joining_rx) = mpsc::channel();
        let joiner = Task::os_thread(move || {
            joining_tx.send(()).unwrap();
            h.join()
        });
        joining_rx.recv_within("the joiner thread to start");
        joiner.wait_parked("the joiner thread to block in join");
        drop(rt);
        assert!(joiner.join_within("the joiner thread at shutdown").is_err());
        drop(keep_tx);
    });
}

#[test]
fn end_of_run_unwinds_leftover_micro_threads() {
    util::within_limit(|| {
        let c = Counters::new();
        let (never_tx, never_rx) = bounded::<()>(0);
        let c2 = c.clone();
        let handles = run(move || park_forever(&c2, never_rx, 10));
        assert_eq!(c.drops.load(Ordering::SeqCst), guards(10));
        assert_eq!(c.foreign.load(Ordering::SeqCst), 0);
        for h in handles {
            assert!(h.join_within("a micro-thread left over at the end of run").is_err());
        }
        drop(never_tx);
    });
}

#[test]
fn shutdown_closes_sockets_of_parked_micro_threads() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        let mut peers = Vec::new();
        let (ready_tx, ready_rx) = unbounded::<()>();
        let mut readers = Vec::new();
        for _ in 0..20 {
            let (ours, theirs) = UnixStream::pair().unwrap();
            peers.push(theirs);
            let ready = ready_tx.clone();
            readers.push(rt.spawn(move || {
                let src = Source::new(ours).unwrap();
                ready.send(()).unwrap();
                let mut buf = [0u8; 16];
                // Nobody writes: parks until the runtime goes away.
                let _ = src.read_with(None, |mut s| s.read(&mut buf));
            }));
        }
        for _ in 0..20 {
            ready_rx.recv_within("a reader to start");
        }
        wait_until("the 20 readers to park in read_with", || {
            readers.iter().all(|h| h.is_parked())
        });
        drop(rt);
        for mut peer in peers {
            peer.set_read_timeout(Some(PATIENCE)).unwrap();
            let mut buf = [0u8; 16];
            let n = peer.read(&mut buf).expect("EOF, not an error or a timeout");
            assert_eq!(n, 0, "the micro-thread's end must be closed");
        }
    });
}

/// A runtime dropped by one of its own micro-threads still cancels the
/// micro-threads that never started, including those in the injector.
/// (A regression test: a review found those left hanging, their joins
/// never returning.)
#[test]
fn a_runtime_dropped_by_its_own_micro_thread_cancels_what_never_started() {
    util::within_limit(|| {
        let rt = Arc::new(RuntimeBuilder::new().workers(1).build().unwrap());
        let (handles_tx, handles_rx) = mpsc::channel();
        let (go_tx, go_rx) = bounded::<()>(1);
        let inner = Arc::clone(&rt);
        rt.spawn(move || {
            // More than a fresh queue holds: some overflow to the injector.
            let handles: Vec<_> = (0..3000).map(|_| inner.spawn(|| ())).collect();
            handles_tx.send(handles).unwrap();
            go_rx.recv_within("the test to let go of the runtime");
            drop(inner); // the last reference: shutdown from inside
        });
        let handles = handles_rx.recv_within("the 3000 handles");
        drop(rt);
        go_tx.send(()).unwrap();
        for handle in handles {
            // Finished, or cancelled; never left hanging.
            let _ = handle.join_within("a micro-thread spawned just before the runtime dropped itself");
        }
    });
}

/// A micro-thread woken for a message but cancelled (its runtime shut down)
/// before it took it must pass the wake-up on to the next waiter. (A
/// regression test: a review found the next waiter never woken.)
#[test]
fn a_receiver_woken_then_unwound_by_shutdown_passes_the_message_on() {
    util::within_limit(|| {
        let (tx, rx) = unbounded::<u32>();
        let rt = RuntimeBuilder::new().workers(1).build().unwrap();
        let (parked_tx, parked_rx) = mpsc::channel();
        let gate = Arc::new(AtomicBool::new(false));
        {
            let rx = rx.clone();
            let gate = Arc::clone(&gate);
            rt.spawn(move || {
                // The micro-thread receiver parks first.
                let receiver = spawn(move || {
                    let _ = rx.recv();
                });
                wait_until("the micro-thread receiver to park in recv", || receiver.is_parked());
                parked_tx.send(()).unwrap();
                // Hold the only worker so the woken receiver cannot run
                // before the runtime is dropped.
                let deadline = Instant::now() + PATIENCE;
                while !gate.load(Ordering::Acquire) {
                    assert!(
                        Instant::now() < deadline,
                        "waited {PATIENCE:?} for the test to release the worker"
                    );
                    std::hint::spin_loop();
                }
            });
        }
        parked_rx.recv_within("the micro-thread receiver to park");
        // An OS-thread receiver waits too, behind the micro-thread.
        let (receiving_tx, receiving_rx) = mpsc::channel();
        let os_receiver = Task::os_thread(move || {
            receiving_tx.send(()).unwrap();
            rx.recv() // before the fix: never woken
        });
        receiving_rx.recv_within("the OS-thread receiver to start");
        os_receiver.wait_parked("the OS-thread receiver to block in recv");
        tx.send(7).unwrap(); // wakes the micro-thread, first in line
        // Drop the runtime on another thread; once that thread blocks
        // (joining the workers), shutdown has begun, and releasing the
        // worker makes it cancel the woken micro-thread instead of running it.
        let (dropping_tx, dropping_rx) = mpsc::channel();
        let dropper = Task::os_thread(move || {
            dropping_tx.send(()).unwrap();
            drop(rt);
        });
        dropping_rx.recv_within("the dropping thread to start");
        dropper.wait_parked("the runtime's drop to block joining its workers");
        gate.store(true, Ordering::Release);
        dropper.join_within("the runtime's drop to return");
        assert_eq!(
            os_receiver.join_within("the OS-thread receiver to get the message passed on"),
            Ok(7)
        );
    });
}

//! `JoinHandle::cancel`: a cancelled micro-thread unwinds at its next park —
//! at once if it is parked in any blocking call, at its next yield if it is
//! busy, without running if it has not started — its destructors run before
//! its join returns `Err(Cancelled)`, and cancelling is safe from any thread
//! at any moment, racing with the target finishing, parking or being woken.
//! Also the timed joins (`join_timeout`, `join_deadline`, `try_join`) and how
//! they compose with `cancel`, and thread mode, where the same holds at the
//! same park points except socket waits.

mod util;

use std::any::Any;
use std::fmt::Debug;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use dhaga_runtime::sync::{Receiver, Sender, TryRecvError, bounded, unbounded};
use dhaga_runtime::{
    Cancelled, JoinHandle, Runtime, RuntimeBuilder, Source, in_micro_thread, is_cancelled, sleep, spawn,
    spawn_blocking, yield_now,
};

use util::{CTXS, Ctx, JoinWithin, PATIENCE, RecvWithin, wait_until};

/// Asserts that a join reports a cancellation (not a value, not a panic).
#[track_caller]
fn assert_cancelled<T: Debug>(result: thread::Result<T>, what: &str) {
    match result {
        Err(payload) if payload.is::<Cancelled>() => {}
        Err(payload) => panic!(
            "{what}: panicked ({:?}) instead of being cancelled",
            util::panic_text(&*payload)
        ),
        Ok(value) => panic!("{what}: returned {value:?} instead of being cancelled"),
    }
}

/// Sends its tag when dropped: proves a destructor ran, and when.
struct DropSignal(Sender<&'static str>, &'static str);

impl Drop for DropSignal {
    fn drop(&mut self) {
        // Unbounded: never parks, so it works while unwinding.
        let _ = self.0.send(self.1);
    }
}

/// Every way a micro-thread can be blocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    /// `recv` on an empty channel whose sender lives.
    Recv,
    /// `send` on a full bounded channel.
    SendFull,
    /// `send` on a rendezvous channel with no receiver waiting.
    SendRendezvous,
    /// `join` on a micro-thread that does not end.
    Join,
    /// `sleep` for an hour.
    Sleep,
    /// Waiting for a socket to become readable.
    Readable,
    /// `spawn_blocking` on a job that does not return.
    Blocking,
    /// Busy, yielding in a loop.
    Yielding,
}

const ALL: [Block; 8] = [
    Block::Recv,
    Block::SendFull,
    Block::SendRendezvous,
    Block::Join,
    Block::Sleep,
    Block::Readable,
    Block::Blocking,
    Block::Yielding,
];

/// What keeps a blocked micro-thread blocked (the other ends of its
/// channels, its peer socket), released once the test is over.
#[derive(Default)]
struct Keep {
    things: Vec<Box<dyn Any + Send>>,
    /// The peer of a `Readable` micro-thread's socket.
    peer: Option<UnixStream>,
    /// Releases a `Blocking` job.
    release: Option<mpsc::Sender<()>>,
    /// How many times a `Yielding` micro-thread has gone round its loop.
    spins: Arc<AtomicU64>,
}

impl Keep {
    /// Waits until the micro-thread `handle`, running `blocked(block, ..)`
    /// and past its `ready` report, is in its blocking call: parked, or for
    /// `Yielding` going round its loop. Then a cancellation reaches it there,
    /// not before it gets there.
    #[track_caller]
    fn wait_blocked(&self, handle: &JoinHandle<()>, block: Block, what: &str) {
        if block == Block::Yielding {
            wait_until(&format!("{what}: the target to go round its yield loop"), || {
                self.spins.load(Ordering::Relaxed) > 0
            });
        } else {
            wait_until(&format!("{what}: the target to park in its blocking call"), || {
                handle.is_parked()
            });
        }
    }
}

/// The body of a micro-thread blocked in `block`: signals `ready`, then
/// blocks for good, holding a guard that reports its drop on `dropped`.
fn blocked(
    block: Block,
    ready: Sender<()>,
    dropped: Sender<&'static str>,
    keep: &mut Keep,
) -> impl FnOnce() + Send + use<> {
    let guard = DropSignal(dropped, "guard");
    let (stay_tx, stay_rx) = bounded::<u8>(1);
    let (full_tx, full_rx) = bounded::<u8>(1);
    full_tx.send(0).unwrap();
    let (rv_tx, rv_rx) = bounded::<u8>(0);
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (child_tx, child_rx) = bounded::<()>(1);
    let (ours, theirs) = UnixStream::pair().unwrap();
    let source = Source::new(ours).unwrap();
    keep.things.push(Box::new(stay_tx));
    keep.things.push(Box::new(full_rx));
    keep.things.push(Box::new(rv_rx));
    keep.things.push(Box::new(child_tx));
    keep.peer = Some(theirs);
    keep.release = Some(release_tx);
    let spins = Arc::clone(&keep.spins);
    move || {
        let _guard = guard;
        ready.send(()).unwrap();
        match block {
            Block::Recv => {
                let r = stay_rx.recv();
                panic!("recv returned {r:?}");
            }
            Block::SendFull => {
                let r = full_tx.send(1);
                panic!("send returned {r:?}");
            }
            Block::SendRendezvous => {
                let r = rv_tx.send(1);
                panic!("send returned {r:?}");
            }
            Block::Join => {
                let child = spawn(move || {
                    let _ = child_rx.recv();
                });
                let r = child.join();
                panic!("join returned {r:?}");
            }
            Block::Sleep => {
                sleep(Duration::from_secs(3600));
                panic!("slept an hour");
            }
            Block::Readable => {
                let mut buf = [0u8; 8];
                let r = source.read_with(None, |mut s| s.read(&mut buf));
                panic!("read returned {r:?}");
            }
            Block::Blocking => {
                let r = spawn_blocking(move || release_rx.recv());
                panic!("spawn_blocking returned {r:?}");
            }
            Block::Yielding => loop {
                spins.fetch_add(1, Ordering::Relaxed);
                yield_now();
            },
        }
    }
}

/// Blocks a micro-thread of `rt` in `block`, cancels it from `canceller`,
/// and checks that it unwound with its destructors run before its join
/// returned.
fn cancel_blocked(rt: &Runtime, block: Block, canceller: Ctx) {
    let what = format!("{block:?}, cancelled from {canceller:?}");
    let (ready_tx, ready_rx) = bounded::<()>(1);
    let (dropped_tx, dropped_rx) = unbounded();
    let mut keep = Keep::default();
    let handle = rt.spawn(blocked(block, ready_tx, dropped_tx, &mut keep));
    ready_rx.recv_within(&format!("{what}: the target to start"));
    // Cancel it in the call, not on its way there (a cancellation that
    // comes first is honoured at the park: the race test covers that).
    keep.wait_blocked(&handle, block, &what);
    let joined = format!("{what}: the cancelled target to end");
    let result = util::start(rt, canceller, move || {
        handle.cancel();
        handle.join_within(&joined)
    })
    .join_within(&format!("{what}: the canceller to end"));
    assert_cancelled(result, &what);
    assert_eq!(
        dropped_rx.try_recv(),
        Ok("guard"),
        "{what}: destructors run before the join returns"
    );
    if let Some(mut peer) = keep.peer.take()
        && block == Block::Readable
    {
        peer.set_read_timeout(Some(PATIENCE)).unwrap();
        let n = peer.read(&mut [0u8; 8]).expect("EOF, not an error or a timeout");
        assert_eq!(n, 0, "{what}: the cancelled micro-thread's socket is closed");
    }
    drop(keep);
}

#[test]
fn cancel_unwinds_a_micro_thread_blocked_in_any_call() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for block in ALL {
            for canceller in CTXS {
                cancel_blocked(&rt, block, canceller);
            }
        }
    });
}

#[test]
fn cancel_before_the_micro_thread_starts_drops_it_unrun() {
    util::within_limit(|| {
        // One worker, busy running the spawner: the child cannot start until
        // the spawner parks in `join`, after the cancel.
        let rt = RuntimeBuilder::new().workers(1).build().unwrap();
        let ran = Arc::new(AtomicBool::new(false));
        let (dropped_tx, dropped_rx) = unbounded();
        let ran2 = ran.clone();
        let result = rt.block_on(move || {
            let guard = DropSignal(dropped_tx, "captured");
            let child = spawn(move || {
                let _guard = guard;
                ran2.store(true, Ordering::SeqCst);
            });
            child.cancel();
            child.join_within("the child cancelled before it started")
        });
        assert_cancelled(result, "cancelled before it started");
        assert!(
            !ran.load(Ordering::SeqCst),
            "a micro-thread cancelled before it started must not run"
        );
        assert_eq!(dropped_rx.try_recv(), Ok("captured"), "its closure is dropped");
    });
}

#[test]
fn a_busy_micro_thread_can_poll_is_cancelled() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        assert!(!is_cancelled(), "an OS thread is never cancelled");
        let (ready_tx, ready_rx) = bounded::<()>(1);
        let busy = rt.spawn(move || {
            assert!(!is_cancelled());
            ready_tx.send(()).unwrap();
            let mut rounds = 0u64;
            while !is_cancelled() {
                rounds = rounds.wrapping_add(1);
                std::hint::spin_loop();
            }
            rounds
        });
        ready_rx.recv_within("the busy micro-thread to start");
        busy.cancel();
        assert!(
            busy.join_within("the busy micro-thread to see the flag").is_ok(),
            "it saw the flag and returned normally"
        );
    });
}

#[test]
fn a_micro_thread_that_catches_the_unwind_is_cancelled_again_at_its_next_park() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for returns in [false, true] {
            let (ready_tx, ready_rx) = bounded::<()>(1);
            let (caught_tx, caught_rx) = unbounded::<bool>();
            let handle = rt.spawn(move || {
                let first = panic::catch_unwind(AssertUnwindSafe(|| {
                    ready_tx.send(()).unwrap();
                    sleep(Duration::from_secs(3600));
                }));
                let caught = first.is_err_and(|payload| payload.is::<Cancelled>());
                caught_tx.send(caught && is_cancelled()).unwrap();
                if returns {
                    return 7; // no park: its value is its result
                }
                sleep(Duration::from_secs(3600)); // cancelled again here
                panic!("slept an hour after a cancellation");
            });
            ready_rx.recv_within("the micro-thread to start its first sleep");
            handle.cancel();
            let result = handle.join_within("the micro-thread that caught its cancellation to end");
            assert_eq!(caught_rx.try_recv(), Ok(true), "it caught a Cancelled unwind");
            if returns {
                assert_eq!(result.unwrap(), 7);
            } else {
                assert_cancelled(result, "parked again after catching");
            }
        }
    });
}

#[test]
fn a_cancellation_is_told_apart_from_a_panic() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        let panicked = rt
            .spawn(|| -> u8 { panic!("boom") })
            .join_within("the panicking micro-thread")
            .unwrap_err();
        assert!(!panicked.is::<Cancelled>());
        assert_eq!(util::panic_text(&*panicked), Some("boom"));
        // Cancelling one that already panicked changes nothing.
        let (ready_tx, ready_rx) = bounded::<()>(1);
        let h = rt.spawn(move || -> u8 {
            ready_tx.send(()).unwrap();
            panic!("first")
        });
        ready_rx.recv_within("the second panicking micro-thread to start");
        wait_until("the second panicking micro-thread to finish", || h.is_finished());
        h.cancel();
        assert_eq!(
            util::panic_text(&*h.join_within("the panicked micro-thread").unwrap_err()),
            Some("first")
        );
    });
}

#[test]
fn cancelling_a_finished_micro_thread_does_nothing_and_twice_is_fine() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        let h = rt.spawn(|| 5u8);
        wait_until("the micro-thread returning 5 to finish", || h.is_finished());
        h.cancel();
        h.cancel();
        assert_eq!(h.join_within("the finished micro-thread").unwrap(), 5);

        let (ready_tx, ready_rx) = bounded::<()>(1);
        let (_keep, stay) = bounded::<u8>(1);
        let h = rt.spawn(move || {
            ready_tx.send(()).unwrap();
            stay.recv()
        });
        ready_rx.recv_within("the micro-thread to cancel twice to start");
        h.cancel();
        h.cancel();
        assert_cancelled(h.join_within("the micro-thread cancelled twice"), "cancelled twice");

        // After its runtime is gone: the join reports the shutdown's
        // cancellation, and cancelling does nothing.
        let (ready_tx, ready_rx) = bounded::<()>(1);
        let (_keep, stay) = bounded::<u8>(1);
        let h = rt.spawn(move || {
            ready_tx.send(()).unwrap();
            stay.recv()
        });
        ready_rx.recv_within("the micro-thread to unwind by shutdown to start");
        drop(rt);
        h.cancel();
        assert_cancelled(
            h.join_within("the micro-thread unwound by shutdown"),
            "unwound by shutdown",
        );
    });
}

/// Rounds of the cancel-versus-completion race, 8 micro-threads each.
const ROUNDS: u64 = 1000;

/// Spawns micro-threads that park and are woken (by channel messages from
/// micro-threads and OS threads) and finish, and cancels each from an OS
/// thread or a micro-thread at an arbitrary moment: every join must return
/// either the value or `Cancelled`, and nothing may hang.
#[test]
fn cancel_racing_with_completion_parks_and_wake_ups() {
    let (values, cancelled) = util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        let values = Arc::new(AtomicU64::new(0));
        let cancelled = Arc::new(AtomicU64::new(0));
        for round in 0..ROUNDS {
            let mut cancellers = Vec::new();
            for k in 0..8u64 {
                let n = (round + k) % 5;
                let (tx, rx) = bounded::<u64>(1);
                let target = rt.spawn(move || {
                    let mut sum = 0;
                    for _ in 0..n {
                        sum += rx.recv().unwrap_or(0);
                        yield_now();
                    }
                    sum
                });
                // The feeder: an OS thread for odd `k`, else a micro-thread.
                let feeder = util::start(&rt, if k % 2 == 1 { Ctx::Os } else { Ctx::Micro }, move || {
                    for i in 0..n {
                        if tx.send(i).is_err() {
                            break; // the target was cancelled
                        }
                    }
                });
                let ctx = if (round + k) % 3 == 0 { Ctx::Os } else { Ctx::Micro };
                let delay = (round * 7 + k) % 4;
                let (values, cancelled) = (values.clone(), cancelled.clone());
                cancellers.push(util::start(&rt, ctx, move || {
                    for _ in 0..delay {
                        yield_now();
                    }
                    target.cancel();
                    match target.join_within("a target cancelled at an arbitrary moment") {
                        Ok(sum) => {
                            assert_eq!(sum, (0..n).sum::<u64>());
                            values.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(payload) => {
                            assert!(payload.is::<Cancelled>(), "a panic: {:?}", util::panic_text(&*payload));
                            cancelled.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }));
                cancellers.push(feeder);
            }
            for c in cancellers {
                c.join_within(&format!("round {round}: a canceller or a feeder to end"));
            }
        }
        (values.load(Ordering::Relaxed), cancelled.load(Ordering::Relaxed))
    });
    assert_eq!(values + cancelled, ROUNDS * 8);
    println!("{values} finished first, {cancelled} were cancelled");
}

#[test]
fn join_timeout_then_cancel_bounds_a_micro_threads_life() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for ctx in CTXS {
            let (ready_tx, ready_rx) = bounded::<()>(1);
            let (dropped_tx, dropped_rx) = unbounded();
            let (go_tx, go_rx) = bounded::<u32>(1);
            let h = rt.spawn(move || {
                let _guard = DropSignal(dropped_tx, "guard");
                ready_tx.send(()).unwrap();
                go_rx.recv().unwrap()
            });
            ready_rx.recv_within("the micro-thread waiting for `go` to start");
            let result = util::start(&rt, ctx, move || {
                let h = h.try_join().expect_err("not finished: it waits for `go`");
                let h = h.join_timeout(Duration::ZERO).expect_err("not finished");
                let h = h.join_timeout(Duration::from_millis(5)).expect_err("not finished");
                let h = h
                    .join_deadline(Instant::now() - Duration::from_secs(1))
                    .expect_err("a deadline in the past");
                h.cancel();
                h.join_timeout(PATIENCE)
                    .unwrap_or_else(|_| panic!("waited {PATIENCE:?} for the cancelled micro-thread to end"))
            })
            .join_within("the joiner using join_timeout and cancel to end");
            assert_cancelled(result, "join_timeout, then cancel");
            assert_eq!(dropped_rx.try_recv(), Ok("guard"));
            drop(go_tx);
        }
    });
}

#[test]
fn a_timed_out_join_can_be_retried_and_leaves_no_stale_waiter() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for waiter in CTXS {
            let (go_tx, go_rx) = bounded::<u32>(1);
            let h = rt.spawn(move || go_rx.recv().unwrap() * 2);
            let value = util::start(&rt, waiter, move || {
                let h = h.join_timeout(Duration::from_millis(2)).expect_err("waits for `go`");
                go_tx.send(21).unwrap();
                h.join_timeout(PATIENCE)
                    .unwrap_or_else(|_| panic!("waited {PATIENCE:?} for the micro-thread to end once `go` came"))
                    .unwrap()
            })
            .join_within("the joiner retrying a timed-out join to end");
            assert_eq!(value, 42);

            let h: JoinHandle<u8> = rt.spawn(|| 9);
            let value = util::start(&rt, waiter, move || {
                let mut h = h;
                let deadline = Instant::now() + PATIENCE;
                loop {
                    match h.try_join() {
                        Ok(result) => break result.unwrap(),
                        Err(again) => h = again,
                    }
                    assert!(
                        Instant::now() < deadline,
                        "waited {PATIENCE:?} for try_join to see the micro-thread returning 9 finished"
                    );
                    yield_now();
                }
            })
            .join_within("the joiner polling try_join to end");
            assert_eq!(value, 9);
        }
    });
}

/// A micro-thread cancelled while a destructor runs during its panic: a
/// blocking call there fails instead of waiting, and the join reports the
/// panic, not the cancellation.
#[test]
fn a_panicking_micro_thread_keeps_its_panic_payload_when_cancelled() {
    struct OnDrop {
        in_drop: Sender<()>,
        cancelled: Arc<AtomicBool>,
        stay: Receiver<u8>,
        outcome: Sender<bool>,
    }
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.in_drop.send(()).unwrap();
            // A micro-thread cannot park while unwinding: spin until the
            // test has cancelled it.
            while !self.cancelled.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
            // The sender lives: only the unwinding makes this fail.
            let failed = self.stay.recv().is_err();
            self.outcome.send(failed).unwrap();
        }
    }
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        let (_keep, stay) = bounded::<u8>(1);
        let (outcome, outcome_rx) = unbounded();
        let (in_drop, in_drop_rx) = unbounded();
        let cancelled = Arc::new(AtomicBool::new(false));
        let on_drop = OnDrop {
            in_drop,
            cancelled: cancelled.clone(),
            stay,
            outcome,
        };
        let h = rt.spawn(move || -> u8 {
            let _d = on_drop;
            panic!("the original panic")
        });
        in_drop_rx.recv_within("the panicking micro-thread to reach its destructor");
        h.cancel();
        cancelled.store(true, Ordering::SeqCst);
        let payload = h.join_within("the micro-thread cancelled while panicking").unwrap_err();
        assert_eq!(util::panic_text(&*payload), Some("the original panic"));
        assert_eq!(
            outcome_rx.try_recv(),
            Ok(true),
            "the blocking call in the destructor failed"
        );
    });
}

/// Thread mode: the same cancellation points, for OS threads.
#[test]
fn cancel_in_thread_mode_unwinds_at_the_same_park_points() {
    util::within_limit(|| {
        let rt = RuntimeBuilder::new().thread_mode(true).build().unwrap();
        for block in [
            Block::Recv,
            Block::SendFull,
            Block::SendRendezvous,
            Block::Join,
            Block::Sleep,
            Block::Yielding,
        ] {
            let (ready_tx, ready_rx) = bounded::<()>(1);
            let (dropped_tx, dropped_rx) = unbounded();
            let mut keep = Keep::default();
            let what = format!("thread mode, {block:?}");
            let handle = rt.spawn(blocked(block, ready_tx, dropped_tx, &mut keep));
            ready_rx.recv_within(&format!("{what}: the target to start"));
            keep.wait_blocked(&handle, block, &what);
            handle.cancel();
            assert_cancelled(handle.join_within(&format!("{what}: the cancelled target")), &what);
            assert_eq!(dropped_rx.try_recv(), Ok("guard"), "{what}");
        }
        // Cancelled before it parks, in a busy loop that polls the flag.
        let (ready_tx, ready_rx) = bounded::<()>(1);
        let h = rt.spawn(move || {
            assert!(!in_micro_thread());
            ready_tx.send(()).unwrap();
            while !is_cancelled() {
                std::hint::spin_loop();
            }
            "saw it"
        });
        ready_rx.recv_within("the busy thread to start");
        h.cancel();
        assert_eq!(h.join_within("the busy thread to see the flag").unwrap(), "saw it");
    });
}

/// Thread mode: a thread blocked in a socket call is in `poll(2)`, which a
/// cancellation does not interrupt; it unwinds at its next park point.
#[test]
fn cancel_in_thread_mode_waits_for_a_socket_call_to_return() {
    util::within_limit(|| {
        let rt = RuntimeBuilder::new().thread_mode(true).build().unwrap();
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let (ready_tx, ready_rx) = bounded::<i32>(1);
        let (read_tx, read_rx) = unbounded();
        let h = rt.spawn(move || {
            let source = Source::new(ours).unwrap();
            ready_tx.send(util::current_tid()).unwrap();
            let mut buf = [0u8; 8];
            let n = source.read_with(None, |mut s| s.read(&mut buf)).unwrap();
            read_tx.send(buf[..n].to_vec()).unwrap(); // unbounded: no park
            sleep(Duration::from_secs(3600)); // the next park point
            panic!("slept an hour");
        });
        let tid = ready_rx.recv_within("the thread-mode reader to start");
        // Blocked in poll(2), which `is_parked` does not count.
        util::wait_os_thread_blocked("the thread-mode reader to block in its socket read", tid);
        h.cancel();
        theirs.write_all(b"data").unwrap();
        assert_cancelled(
            h.join_within("the thread-mode reader to unwind at its next park point"),
            "thread mode, after the read",
        );
        assert_eq!(
            read_rx.try_recv().as_deref(),
            Ok(&b"data"[..]),
            "the read itself completed"
        );
        assert!(matches!(
            read_rx.try_recv(),
            Err(TryRecvError::Empty | TryRecvError::Disconnected)
        ));
    });
}

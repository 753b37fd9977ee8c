//! Reused micro-thread headers: a worker keeps the header of a micro-thread
//! that ended, once nobody holds it, and gives it to a later spawn. Nothing
//! of the micro-thread that used it before may show in the one that reuses
//! it: not its name, its locals, its cancellation, its join result or its
//! detached handle, and not a wake-up meant for it.
//!
//! Each test runs on a runtime of one worker, where the micro-thread that
//! ended and the one spawned after it share the worker, so the header is
//! reused (when nothing else holds it), and where the order of events is
//! fixed by the channels and yields below, without timing.

mod util;

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dhaga_runtime::sync::{TryRecvError, bounded};
use dhaga_runtime::{Builder, Cancelled, Runtime, current_unparker, is_cancelled, park, spawn, yield_now};

use util::{JoinWithin, RecvWithin};

/// Rounds per test: each reuses headers freed in the round before.
const ROUNDS: usize = 200;

fn one_worker() -> Runtime {
    Runtime::builder().workers(1).build().expect("build a runtime")
}

dhaga_runtime::local! {
    static COUNTER: Cell<u32> = Cell::new(0);
}

#[test]
fn a_reused_header_has_no_name_locals_or_cancellation_of_the_last_user() {
    util::within_limit(|| {
        one_worker().block_on(|| {
            for _ in 0..ROUNDS {
                // Named, with a local set, cancelled while parked.
                let (_keep, rx) = bounded::<()>(0);
                let first = Builder::new()
                    .name("first".into())
                    .spawn(move || {
                        COUNTER.with(|c| c.set(41));
                        let _ = rx.recv(); // cancelled here
                    })
                    .expect("spawn");
                while !first.is_parked() {
                    yield_now();
                }
                first.cancel();
                assert!(first.join_within("first unwinds").unwrap_err().is::<Cancelled>());

                let (tx, rx) = bounded::<u32>(0);
                let second = spawn(move || {
                    assert!(!is_cancelled(), "the cancellation of the last user stays with it");
                    let before = COUNTER.with(Cell::get);
                    // A park that a stale cancellation would unwind.
                    let got = rx.recv().expect("the test sends");
                    (before, got)
                });
                assert_eq!(second.name(), None, "the name of the last user stays with it");
                tx.send(7).expect("second receives");
                assert_eq!(
                    second.join_within("second ends").expect("second is not cancelled"),
                    (0, 7)
                );
            }
        });
    });
}

/// A result with a counted drop.
struct Counted(Arc<AtomicUsize>, u32);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn a_reused_header_starts_with_an_empty_join_slot() {
    let drops = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&drops);
    util::within_limit(|| {
        one_worker().block_on(move || {
            for round in 0..ROUNDS {
                // Detached before it ends: its result is dropped when it
                // ends, and its header, held by nobody, is reused.
                let (go_tx, go_rx) = bounded::<()>(0);
                let (done_tx, done_rx) = bounded::<()>(1);
                let drops = Arc::clone(&counted);
                drop(spawn(move || {
                    go_rx.recv().expect("the test sends");
                    done_tx.send(()).expect("the test receives");
                    Counted(drops, 1)
                }));
                go_tx.send(()).expect("detached receives");
                done_rx.recv_within("the detached micro-thread ends");
                // It has returned by now: the test, woken by its last send,
                // runs after it on the one worker.
                yield_now();
                assert_eq!(
                    counted.load(Ordering::Relaxed),
                    2 * round + 1,
                    "a detached result is dropped once"
                );

                let (tx, rx) = bounded::<u32>(0);
                let drops = Arc::clone(&counted);
                let second = spawn(move || Counted(drops, rx.recv().expect("the test sends")));
                assert!(!second.is_finished(), "not finished before it ran");
                tx.send(2).expect("second receives");
                let result = second.join_within("second ends").expect("second returns");
                assert_eq!(result.1, 2, "its own result, not dropped as a detached one's");
                drop(result);
                assert_eq!(counted.load(Ordering::Relaxed), 2 * round + 2);
            }
        });
    });
    assert_eq!(drops.load(Ordering::Relaxed), 2 * ROUNDS);
}

/// The ABA case: an unparker kept after its micro-thread ended holds the
/// header, so the header is not reused, and unparking it never wakes a
/// micro-thread spawned later.
#[test]
fn an_unparker_kept_after_its_micro_thread_ended_wakes_no_later_one() {
    util::within_limit(|| {
        one_worker().block_on(|| {
            for _ in 0..ROUNDS {
                let stale = spawn(current_unparker)
                    .join_within("the first micro-thread ends")
                    .expect("returns its unparker");

                let (woke_tx, woke_rx) = bounded::<()>(1);
                let (own_tx, own_rx) = bounded(1);
                let later = spawn(move || {
                    own_tx.send(current_unparker()).expect("the test receives");
                    loop {
                        park(); // wake-ups may be spurious: report each
                        if woke_tx.send(()).is_err() {
                            return;
                        }
                    }
                });
                let own = own_rx.recv_within("the later micro-thread starts");
                while !later.is_parked() {
                    yield_now();
                }
                // Were the header shared, this would queue `later` to run
                // next on this worker, before this yield returns.
                stale.unpark();
                yield_now();
                assert!(later.is_parked(), "a stale unparker woke a later micro-thread");
                assert_eq!(woke_rx.try_recv(), Err(TryRecvError::Empty));
                // Its own unparker does wake it.
                own.unpark();
                woke_rx.recv_within("the later micro-thread wakes");
                drop(woke_rx);
                own.unpark();
                later
                    .join_within("the later micro-thread ends")
                    .expect("the later micro-thread ends");
            }
        });
    });
}

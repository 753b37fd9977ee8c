//! `scope`: micro-threads that borrow the caller's locals. The scope returns
//! its closure's value only once every child has ended — also when the
//! closure panics, when a child panics, when the caller is cancelled while
//! its children are blocked, and when the runtime shuts down under it — and
//! that holds from a micro-thread, from a plain OS thread, in thread mode,
//! and in a destructor of an unwinding micro-thread. A child's panic that no
//! join saw makes the scope panic; a cancellation does not.

mod util;

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use dhaga_runtime::sync::{Sender, bounded, unbounded};
use dhaga_runtime::{Builder, Cancelled, Runtime, RuntimeBuilder, in_micro_thread, run, scope, spawn};

use util::{JoinWithin, PATIENCE, RecvWithin, describe, panic_text, run_child, wait_until, within_limit};

/// The text of the panic `f` ends with; fails the test if it returns.
#[track_caller]
fn panic_of<T>(f: impl FnOnce() -> T) -> String {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic"),
        Err(payload) => panic_text(&*payload).unwrap_or("<not a string>").to_owned(),
    }
}

/// Appends to a log borrowed from the test when dropped: shows that a
/// child's closure (or what it owns) was dropped, and when.
struct Noted<'a> {
    log: &'a Mutex<Vec<String>>,
    what: String,
}

impl Drop for Noted<'_> {
    fn drop(&mut self) {
        self.log.lock().unwrap().push(self.what.clone());
    }
}

/// Asserts that `log` holds `n` entries starting with `prefix`, all before
/// `last`, which ends it.
#[track_caller]
fn assert_all_before(log: &[String], prefix: &str, n: usize, last: &str) {
    assert_eq!(
        log.last().map(String::as_str),
        Some(last),
        "the log ends with {last}: {log:?}"
    );
    let before = &log[..log.len() - 1];
    assert_eq!(
        before.iter().filter(|e| e.starts_with(prefix)).count(),
        n,
        "{n} entries `{prefix}…` before `{last}`: {log:?}"
    );
}

#[test]
fn children_borrow_and_mutate_the_callers_locals() {
    within_limit(|| {
        run(|| {
            let numbers: Vec<u64> = (1..=10_000).collect();
            let pushed = Mutex::new(Vec::new());
            let mut largest = 0;
            let total = scope(|s| {
                let sums: Vec<_> = numbers
                    .chunks(1000)
                    .map(|c| s.spawn(|| c.iter().sum::<u64>()))
                    .collect();
                for i in 0..16 {
                    let pushed = &pushed;
                    s.spawn(move || pushed.lock().unwrap().push(i));
                }
                s.spawn(|| largest = *numbers.iter().max().unwrap());
                sums.into_iter()
                    .map(|h| h.join_within("a chunk's sum").unwrap())
                    .sum::<u64>()
            });
            assert_eq!(total, 10_000 * 10_001 / 2, "the closure's value is returned");
            assert_eq!(largest, 10_000, "a child wrote through a mutable borrow");
            let mut pushed = pushed.into_inner().unwrap();
            pushed.sort_unstable();
            assert_eq!(pushed, (0..16).collect::<Vec<_>>(), "every child pushed");
        });
    });
}

#[test]
fn join_returns_a_value_that_borrows_from_the_caller() {
    within_limit(|| {
        run(|| {
            let words = [String::from("micro"), String::from("thread")];
            scope(|s| {
                let longest = s.spawn(|| words.iter().max_by_key(|w| w.len()).unwrap().as_str());
                assert!(longest.name().is_none());
                assert_eq!(longest.join_within("the longest word").unwrap(), "thread");
                // A handle can be joined by another child.
                let first = s.spawn(|| &words[0]);
                let joiner = s.spawn(move || first.join_within("the first word").unwrap().len());
                assert_eq!(joiner.join_within("the child that joins another").unwrap(), 5);
            });
        });
    });
}

#[test]
fn a_child_spawns_into_its_own_scope() {
    within_limit(|| {
        run(|| {
            let count = AtomicUsize::new(0);
            scope(|s| {
                s.spawn(|| {
                    for _ in 0..8 {
                        s.spawn(|| count.fetch_add(1, Ordering::Relaxed));
                    }
                });
            });
            assert_eq!(count.into_inner(), 8, "grandchildren are waited for too");
        });
    });
}

#[test]
fn nested_scopes() {
    within_limit(|| {
        run(|| {
            let outer = vec![1u64, 2, 3];
            let total = AtomicU64::new(0);
            scope(|s| {
                for x in &outer {
                    let total = &total;
                    s.spawn(move || {
                        let inner = vec![10 * x, 100 * x];
                        scope(|s2| {
                            for y in &inner {
                                s2.spawn(move || total.fetch_add(x + y, Ordering::Relaxed));
                            }
                        });
                    });
                }
            });
            // Each x: (x + 10x) + (x + 100x) = 112x.
            assert_eq!(total.into_inner(), 112 * 6);
        });
    });
}

#[test]
fn ten_thousand_children() {
    within_limit(|| {
        run(|| {
            let sum = AtomicU64::new(0);
            let inputs: Vec<u64> = (0..10_000).collect();
            scope(|s| {
                for i in &inputs {
                    let sum = &sum;
                    s.spawn(move || sum.fetch_add(*i, Ordering::Relaxed));
                }
            });
            assert_eq!(sum.into_inner(), 9_999 * 10_000 / 2);
        });
    });
}

#[test]
fn an_unjoined_child_panic_makes_scope_panic_after_every_child_ended() {
    within_limit(|| {
        run(|| {
            const WAITING: usize = 8;
            let finished = AtomicUsize::new(0);
            let (release_tx, release_rx) = unbounded::<()>();
            let (panicked_tx, panicked_rx) = unbounded::<&'static str>();
            let text = panic_of(|| {
                scope(|s| {
                    for _ in 0..WAITING {
                        s.spawn(|| {
                            release_rx.recv_within("the release, after the panic");
                            finished.fetch_add(1, Ordering::SeqCst);
                        });
                    }
                    s.spawn(|| {
                        let _signal = Signal(panicked_tx, "panicked");
                        panic!("a child panics");
                    });
                    // Releases the others only once the panic has happened.
                    s.spawn(|| {
                        panicked_rx.recv_within("the child's panic");
                        for _ in 0..WAITING {
                            release_tx.send(()).unwrap();
                        }
                    });
                    "the closure's value"
                })
            });
            assert_eq!(text, "a scoped micro-thread panicked");
            assert_eq!(finished.load(Ordering::SeqCst), WAITING, "every child ended first");
        });
    });
}

/// Sends its tag when dropped (an unbounded send: it never parks, so it
/// works while unwinding).
struct Signal(Sender<&'static str>, &'static str);

impl Drop for Signal {
    fn drop(&mut self) {
        let _ = self.0.send(self.1);
    }
}

#[test]
fn a_joined_child_panic_does_not_make_scope_panic() {
    within_limit(|| {
        let value = run(|| {
            scope(|s| {
                let child = s.spawn(|| panic!("seen by join"));
                let payload = child.join_within("the panicking child").unwrap_err();
                assert_eq!(panic_text(&*payload), Some("seen by join"));
                7
            })
        });
        assert_eq!(value, 7);
    });
}

#[test]
fn a_cancelled_child_does_not_make_scope_panic() {
    within_limit(|| {
        run(|| {
            let (_never_tx, never_rx) = bounded::<()>(0);
            let ended = scope(|s| {
                let joined = s.spawn(|| never_rx.recv());
                let dropped = s.spawn(|| never_rx.recv());
                joined.cancel();
                dropped.cancel();
                drop(dropped); // not joined: the scope still waits for it
                joined.join_within("the cancelled child").unwrap_err().is::<Cancelled>()
            });
            assert!(ended, "the join reports the cancellation");
        });
    });
}

#[test]
fn scope_waits_for_parked_children_when_its_closure_panics() {
    within_limit(|| {
        run(|| {
            const CHILDREN: usize = 8;
            let (panicking_tx, panicking_rx) = unbounded::<()>();
            let (release_tx, release_rx) = unbounded::<()>();
            let caller = spawn(move || {
                let finished = AtomicUsize::new(0);
                let text = panic_of(|| {
                    scope(|s| {
                        for _ in 0..CHILDREN {
                            s.spawn(|| {
                                release_rx.recv_within("the release, once the scope waits");
                                finished.fetch_add(1, Ordering::SeqCst);
                            });
                        }
                        panicking_tx.send(()).unwrap();
                        panic!("the closure panics");
                    })
                });
                (text, finished.load(Ordering::SeqCst))
            });
            panicking_rx.recv_within("the closure, about to panic");
            // Its next park after the panic is the scope's wait.
            wait_until("the scope's caller to wait for its children", || {
                caller.is_parked() || caller.is_finished()
            });
            assert!(!caller.is_finished(), "scope returned while its children were parked");
            for _ in 0..CHILDREN {
                release_tx.send(()).unwrap();
            }
            let (text, finished) = caller.join_within("the scope's caller").unwrap();
            assert_eq!(text, "the closure panics", "the closure's panic is resumed");
            assert_eq!(finished, CHILDREN, "every child ended before the panic was resumed");
        });
    });
}

/// Cancels the caller of a scope (a micro-thread, or a thread in thread
/// mode) while its children are blocked: it must wait for them all the same.
fn cancel_the_caller_while_its_children_are_blocked(rt: &Runtime) {
    rt.block_on(|| {
        const CHILDREN: usize = 4;
        let (returned_tx, returned_rx) = unbounded::<()>();
        let (release_tx, release_rx) = unbounded::<()>();
        let log = Arc::new(Mutex::new(Vec::new()));
        let caller_log = Arc::clone(&log);
        let caller = spawn(move || {
            let log = &*caller_log;
            let result = panic::catch_unwind(AssertUnwindSafe(|| {
                scope(|s| {
                    for i in 0..CHILDREN {
                        let release_rx = &release_rx;
                        s.spawn(move || {
                            release_rx.recv_within("the release, after the cancel");
                            log.lock().unwrap().push(format!("child {i} ended"));
                        });
                    }
                    returned_tx.send(()).unwrap();
                    "the closure's value"
                })
            }));
            log.lock().unwrap().push("scope left".to_owned());
            result
        });
        returned_rx.recv_within("the scope's closure to return");
        wait_until("the scope's caller to wait for its children", || {
            caller.is_parked() || caller.is_finished()
        });
        caller.cancel();
        // The cancel woke it: it either waits again or (wrongly) left.
        wait_until("the cancelled caller to wait again", || {
            caller.is_parked() || caller.is_finished()
        });
        assert!(!caller.is_finished(), "a cancellation cut the scope's wait short");
        for _ in 0..CHILDREN {
            release_tx.send(()).unwrap();
        }
        let result = caller.join_within("the cancelled caller").unwrap();
        let payload = result.unwrap_err();
        assert!(
            payload.is::<Cancelled>(),
            "scope unwinds with the cancellation once its children end"
        );
        assert_all_before(&log.lock().unwrap(), "child", CHILDREN, "scope left");
    });
}

#[test]
fn cancelling_the_caller_waits_for_its_blocked_children() {
    within_limit(|| cancel_the_caller_while_its_children_are_blocked(&Runtime::new().unwrap()));
}

#[test]
fn cancelling_the_caller_waits_for_its_blocked_children_in_thread_mode() {
    within_limit(|| {
        let rt = RuntimeBuilder::new().thread_mode(true).build().unwrap();
        cancel_the_caller_while_its_children_are_blocked(&rt);
    });
}

#[test]
fn runtime_shutdown_unwinds_the_children_before_scope_is_left() {
    within_limit(|| {
        const CHILDREN: usize = 6;
        let rt = Runtime::new().unwrap();
        let (returned_tx, returned_rx) = mpsc::channel::<()>();
        let log = Arc::new(Mutex::new(Vec::new()));
        let caller_log = Arc::clone(&log);
        let caller = rt.spawn(move || {
            let log = &*caller_log;
            let (_never_tx, never_rx) = bounded::<()>(0);
            let result = panic::catch_unwind(AssertUnwindSafe(|| {
                scope(|s| {
                    for i in 0..CHILDREN {
                        let never_rx = &never_rx;
                        // Owned by the closure: noted whether the child is
                        // unwound or, if it never started, dropped.
                        let noted = Noted {
                            log,
                            what: format!("child {i} gone"),
                        };
                        s.spawn(move || {
                            let _noted = noted;
                            let _ = never_rx.recv(); // until shutdown unwinds it
                        });
                    }
                    returned_tx.send(()).unwrap();
                })
            }));
            log.lock().unwrap().push("scope left".to_owned());
            result
        });
        returned_rx.recv_within("the scope's closure to return");
        wait_until("the scope's caller to wait for its children", || {
            caller.is_parked() || caller.is_finished()
        });
        drop(rt);
        let result = caller.join_within("the caller, after shutdown").unwrap();
        assert!(
            result.unwrap_err().is::<Cancelled>(),
            "scope unwound with the cancellation"
        );
        assert_all_before(&log.lock().unwrap(), "child", CHILDREN, "scope left");
    });
}

#[test]
fn runtime_shutdown_drops_children_that_never_started_before_scope_is_left() {
    within_limit(|| {
        const CHILDREN: usize = 6;
        // One worker, running the caller: its children cannot start until it
        // parks in the scope's wait, and by then the runtime is shutting down.
        let rt = Arc::new(RuntimeBuilder::new().workers(1).build().unwrap());
        let inner = Arc::clone(&rt);
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let log = Arc::new(Mutex::new(Vec::new()));
        let caller_log = Arc::clone(&log);
        let caller = rt.spawn(move || {
            let log = &*caller_log;
            // Blocks the worker's OS thread until the test has let go.
            go_rx.recv_within("the test to let go of the runtime");
            let result = panic::catch_unwind(AssertUnwindSafe(|| {
                scope(|s| {
                    for i in 0..CHILDREN {
                        let noted = Noted {
                            log,
                            what: format!("child {i} dropped"),
                        };
                        s.spawn(move || {
                            let _noted = noted;
                            log.lock().unwrap().push(format!("child {i} ran"));
                        });
                    }
                    drop(inner); // the last reference: shutdown from inside
                })
            }));
            log.lock().unwrap().push("scope left".to_owned());
            result
        });
        drop(rt);
        go_tx.send(()).unwrap();
        let result = caller.join_within("the caller, after shutdown").unwrap();
        assert!(
            result.unwrap_err().is::<Cancelled>(),
            "scope unwound with the cancellation"
        );
        let log = log.lock().unwrap();
        assert!(!log.iter().any(|e| e.ends_with("ran")), "no child started: {log:?}");
        assert_all_before(&log, "child", CHILDREN, "scope left");
    });
}

#[test]
fn scope_from_a_plain_os_thread() {
    within_limit(|| {
        assert!(!in_micro_thread());
        let names = ["a", "b", "c"];
        let seen = Mutex::new(Vec::new());
        let (rendezvous_tx, rendezvous_rx) = bounded::<&str>(0);
        scope(|s| {
            for name in &names {
                let seen = &seen;
                s.spawn(move || {
                    assert!(in_micro_thread(), "children are micro-threads (the default runtime)");
                    seen.lock().unwrap().push(*name);
                });
            }
            // The OS thread blocks on a micro-thread and the other way round.
            s.spawn(|| {
                rendezvous_tx
                    .send_timeout("hello", PATIENCE)
                    .expect("waited for the OS thread to receive")
            });
            assert_eq!(rendezvous_rx.recv_within("a child's message"), "hello");
        });
        let mut seen = seen.into_inner().unwrap();
        seen.sort_unstable();
        assert_eq!(seen, names);
    });
}

#[test]
fn scope_in_thread_mode() {
    within_limit(|| {
        let rt = RuntimeBuilder::new().thread_mode(true).build().unwrap();
        let total = rt.block_on(|| {
            let numbers: Vec<u64> = (1..=100).collect();
            let threads = Mutex::new(Vec::new());
            let total = scope(|s| {
                let sums: Vec<_> = numbers
                    .chunks(10)
                    .map(|chunk| {
                        let threads = &threads;
                        s.spawn(move || {
                            assert!(!in_micro_thread(), "children are OS threads in thread mode");
                            threads.lock().unwrap().push(thread::current().id());
                            chunk.iter().sum::<u64>()
                        })
                    })
                    .collect();
                sums.into_iter()
                    .map(|h| h.join_within("a thread's sum").unwrap())
                    .sum::<u64>()
            });
            let threads: HashSet<_> = threads.into_inner().unwrap().into_iter().collect();
            assert_eq!(threads.len(), 10, "one OS thread per child");
            total
        });
        assert_eq!(total, 5050);
    });
}

#[test]
fn panics_in_thread_mode() {
    within_limit(|| {
        let rt = RuntimeBuilder::new().thread_mode(true).build().unwrap();
        let finished = rt.block_on(|| {
            let finished = AtomicUsize::new(0);
            let text = panic_of(|| {
                scope(|s| {
                    s.spawn(|| panic!("a thread panics"));
                    s.spawn(|| finished.fetch_add(1, Ordering::SeqCst));
                })
            });
            assert_eq!(text, "a scoped micro-thread panicked");
            finished.into_inner()
        });
        assert_eq!(finished, 1);
    });
}

/// Runs a scope in its destructor.
struct ScopeOnDrop<'a> {
    done: &'a AtomicUsize,
    children_in_micro_threads: &'a AtomicUsize,
}

impl Drop for ScopeOnDrop<'_> {
    fn drop(&mut self) {
        assert!(thread::panicking());
        let (tx, rx) = bounded::<u32>(0);
        scope(|s| {
            // The two wait for each other: they really run at once.
            s.spawn(|| {
                self.note_context();
                rx.recv_within("the other child's message");
                self.done.fetch_add(1, Ordering::SeqCst);
            });
            s.spawn(|| {
                self.note_context();
                tx.send_timeout(1, PATIENCE)
                    .expect("waited for the other child to receive");
                self.done.fetch_add(1, Ordering::SeqCst);
            });
        });
    }
}

impl ScopeOnDrop<'_> {
    fn note_context(&self) {
        if in_micro_thread() {
            self.children_in_micro_threads.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[test]
fn scope_in_the_destructor_of_an_unwinding_micro_thread() {
    within_limit(|| {
        // One worker: children placed on it could not run while the
        // unwinding caller blocks it.
        let rt = RuntimeBuilder::new().workers(1).build().unwrap();
        let (done, in_micro) = rt.block_on(|| {
            let done = AtomicUsize::new(0);
            let in_micro = AtomicUsize::new(0);
            let text = panic_of(|| {
                let _scope_on_drop = ScopeOnDrop {
                    done: &done,
                    children_in_micro_threads: &in_micro,
                };
                panic!("unwinding");
            });
            assert_eq!(text, "unwinding");
            (done.into_inner(), in_micro.into_inner())
        });
        assert_eq!(done, 2, "both children ended before the destructor returned");
        assert_eq!(in_micro, 0, "they ran as OS threads");
    });
}

#[test]
fn a_failed_spawn_is_reported_and_leaves_nothing_counted() {
    within_limit(|| {
        run(|| {
            let log = Mutex::new(Vec::new());
            scope(|s| {
                let noted = Noted {
                    log: &log,
                    what: "closure dropped".to_owned(),
                };
                let err = Builder::new()
                    .stack_size(usize::MAX)
                    .spawn_scoped(s, move || drop(noted))
                    .unwrap_err();
                assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
                assert_eq!(
                    *log.lock().unwrap(),
                    ["closure dropped"],
                    "the closure is dropped at once"
                );
                let ok = Builder::new().name("fine".into()).spawn_scoped(s, || 1).unwrap();
                assert_eq!(ok.name(), Some("fine"));
                assert_eq!(ok.join_within("the spawn that worked").unwrap(), 1);
            });
            // Had the failed spawn stayed counted, the scope would never end.
        });
    });
}

#[test]
fn a_forgotten_handle_leaks_its_result_but_not_the_scope() {
    within_limit(|| {
        run(|| {
            let log = Mutex::new(Vec::new());
            scope(|s| {
                let handle = s.spawn(|| Noted {
                    log: &log,
                    what: "result dropped".to_owned(),
                });
                std::mem::forget(handle);
            });
            assert!(log.lock().unwrap().is_empty(), "the result is leaked, never dropped");
        });
    });
}

#[test]
fn a_result_whose_handle_is_dropped_is_dropped_before_scope_returns() {
    within_limit(|| {
        run(|| {
            let log = Mutex::new(Vec::new());
            let (release_tx, release_rx) = unbounded::<()>();
            scope(|s| {
                let early = s.spawn(|| {
                    release_rx.recv_within("the release");
                    Noted {
                        log: &log,
                        what: "result dropped by the child".to_owned(),
                    }
                });
                drop(early); // before it ends: the child drops its result
                release_tx.send(()).unwrap();
            });
            log.lock().unwrap().push("scope left".to_owned());
            assert_eq!(*log.lock().unwrap(), ["result dropped by the child", "scope left"]);
        });
    });
}

/// Calls its closure when dropped.
struct OnDrop<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// Runs `f` in a destructor of a micro-thread that panics, on a runtime of
/// one worker, which a scope in `f` blocks (the caller cannot park while
/// unwinding); returns what `f` returned. `f` should not panic: a panic in
/// a scope's child there makes the scope panic while panicking, an abort.
fn in_a_destructor_while_unwinding<T, F>(what: &str, f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // Dropped only if the micro-thread ends: a hung worker would keep the
    // runtime's drop from returning, hiding which wait failed.
    let rt = std::mem::ManuallyDrop::new(RuntimeBuilder::new().workers(1).build().unwrap());
    let (value_tx, value_rx) = mpsc::channel();
    let caller = rt.spawn(move || {
        let _on_drop = OnDrop(Some(move || {
            let _ = value_tx.send((thread::panicking(), f()));
        }));
        panic!("unwinding");
    });
    let payload = caller.join_within(what).unwrap_err();
    assert_eq!(panic_text(&*payload), Some("unwinding"));
    let (panicking, value) = value_rx.recv_within("the destructor's value");
    assert!(panicking, "the destructor ran while unwinding");
    drop(std::mem::ManuallyDrop::into_inner(rt));
    value
}

#[test]
fn a_child_of_an_unwinding_callers_scope_spawns_and_joins() {
    within_limit(|| {
        let joined = in_a_destructor_while_unwinding("the destructor's scope, whose child spawns", || {
            scope(|s| {
                // A plain spawn, not a child of the scope: if it were queued
                // on the blocked worker, the join would time out.
                let child = s.spawn(|| {
                    let grandchild = spawn(|| (in_micro_thread(), 5));
                    grandchild.join_timeout(PATIENCE).map(Result::ok).ok().flatten()
                });
                child.join().ok().flatten()
            })
        });
        assert_eq!(
            joined,
            Some((false, 5)),
            "the grandchild ran (on an OS thread) and was joined"
        );
    });
}

#[test]
fn a_child_of_an_unwinding_callers_scope_opens_a_scope() {
    within_limit(|| {
        let sum = in_a_destructor_while_unwinding("the destructor's scope, whose child opens a scope", || {
            let numbers = [1u64, 2, 3];
            let in_micro = AtomicUsize::new(0);
            let sum = scope(|s| {
                s.spawn(|| {
                    // Waits uncancellably: a grandchild queued on the
                    // blocked worker would hang it (the caller's join above
                    // names the hang).
                    scope(|s2| {
                        let halves = numbers.chunks(2).map(|c| {
                            s2.spawn(|| {
                                if in_micro_thread() {
                                    in_micro.fetch_add(1, Ordering::Relaxed);
                                }
                                c.iter().sum::<u64>()
                            })
                        });
                        halves
                            .collect::<Vec<_>>()
                            .into_iter()
                            .map(|h| h.join().ok())
                            .sum::<Option<u64>>()
                    })
                })
                .join()
                .ok()
                .flatten()
            });
            (sum, in_micro.into_inner())
        });
        assert_eq!(sum, (Some(6), 0), "the inner scope's children ran as OS threads");
    });
}

/// A child's panic joined by a caller that is unwinding is seen by that
/// join: the scope does not panic (while panicking: an abort). In a process
/// of its own, so that a failure is an abort there, not here.
#[test]
fn a_join_from_an_unwinding_caller_waits_for_the_childs_panic() {
    const NAME: &str = "a_join_from_an_unwinding_caller_waits_for_the_childs_panic";
    if util::child_role().as_deref() == Some("join-unwinding") {
        within_limit(|| {
            let seen = in_a_destructor_while_unwinding("the destructor's scope, which joins a panic", || {
                scope(|s| {
                    let (joining_tx, joining_rx) = mpsc::channel::<()>();
                    let child = s.spawn(move || {
                        // Panics only once the caller is in (or past) its
                        // join: a join that did not wait would miss it.
                        let _ = joining_rx.recv_timeout(PATIENCE);
                        panic!("a child panics");
                    });
                    let _ = joining_tx.send(());
                    child.join().map_err(|payload| panic_text(&*payload).map(str::to_owned))
                })
            });
            assert_eq!(
                seen,
                Err(Some("a child panics".to_owned())),
                "the join returned the panic"
            );
        });
        println!("CHILD DONE");
        return;
    }
    let out = run_child(NAME, "join-unwinding");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("CHILD DONE"),
        "{}",
        describe(&out)
    );
}

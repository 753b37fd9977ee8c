//! Helpers shared by the lock and coordination tests (`mutex.rs`,
//! `rwlock.rs`, `condvar.rs`, `semaphore.rs`, `waitgroup.rs`, `barrier.rs`,
//! `once.rs`, and `select.rs`): where to run a body, mixed crowds of
//! micro-threads and OS threads, whether a task is parked or has ended, and
//! shutting a runtime down while its micro-threads are parked on a
//! primitive.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dhaga_runtime::{Cancelled, Runtime, RuntimeBuilder};
use dhaga_testutil::{Ctx, JoinWithin, RecvWithin, Task, start, wait_until};

/// A runtime of micro-threads on two workers (the CPUs of the reference
/// machines), whatever this machine has: the tests then always run
/// micro-threads on several workers at once.
pub fn micro() -> Runtime {
    RuntimeBuilder::new().workers(2).build().unwrap()
}

/// A runtime in thread mode: `spawn` starts OS threads.
pub fn thread_mode() -> Runtime {
    RuntimeBuilder::new().thread_mode(true).build().unwrap()
}

/// Where a crowd member runs: every fourth on an OS thread, the others as
/// micro-threads (OS threads too, in thread mode).
pub fn mixed_ctx(i: usize) -> Ctx {
    if i % 4 == 3 { Ctx::Os } else { Ctx::Micro }
}

/// Starts `n` copies of `f(i)`, mixed as [`mixed_ctx`] says.
pub fn start_mixed<T, F>(rt: &Runtime, n: usize, f: F) -> Vec<Task<T>>
where
    F: Fn(usize) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    let f = Arc::new(f);
    (0..n)
        .map(|i| {
            let f = Arc::clone(&f);
            start(rt, mixed_ctx(i), move || f(i))
        })
        .collect()
}

/// Joins every task, re-raising the first panic; fails the test if one has
/// not ended within `PATIENCE`, naming it as `what (task i of n)`.
#[track_caller]
pub fn join_all<T>(what: &str, tasks: Vec<Task<T>>) -> Vec<T> {
    let n = tasks.len();
    tasks
        .into_iter()
        .enumerate()
        .map(|(i, task)| task.join_within(&format!("{what} (task {i} of {n})")))
        .collect()
}

/// Runs `body(rt, i)` for `n` mixed tasks on a micro-thread runtime, then
/// on a thread-mode runtime, and returns both runs' results (`what` names
/// the tasks in a failure).
pub fn on_every_kind<T, F>(what: &str, n: usize, body: F) -> [Vec<T>; 2]
where
    F: Fn(usize) -> T + Send + Sync + Clone + 'static,
    T: Send + 'static,
{
    [micro(), thread_mode()].map(|rt| join_all(what, start_mixed(&rt, n, body.clone())))
}

/// Counts how many of its values were dropped.
#[derive(Clone, Default)]
pub struct Drops(Arc<AtomicUsize>);

impl Drops {
    /// A value whose drop this counter counts.
    pub fn token(&self) -> DropToken {
        DropToken(Arc::clone(&self.0))
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// See [`Drops`].
pub struct DropToken(Arc<AtomicUsize>);

impl Drop for DropToken {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Parks `n` micro-threads of a fresh runtime in `block(i)` (each holding a
/// drop token), then drops the runtime: every one must be unwound, its
/// destructors run, its join report [`Cancelled`], and nothing hang.
///
/// Each micro-thread reports on a (buffered) channel just before it
/// blocks; once all have, the runtime is dropped only when every one of them
/// is parked at the same moment. A micro-thread that `block` parks for good
/// stays parked, so that moment comes; one parked only on the way (on the
/// mutex a condition variable's wait takes first) could make it come early,
/// but it would be unwound from that park all the same.
pub fn shutdown_while_parked<F>(n: usize, block: F)
where
    F: Fn(usize) + Send + Sync + 'static,
{
    let rt = micro();
    let drops = Drops::default();
    let (ready_tx, ready_rx) = dhaga_runtime::sync::unbounded::<()>();
    let block = Arc::new(block);
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let token = drops.token();
            let ready_tx = ready_tx.clone();
            let block = Arc::clone(&block);
            rt.spawn(move || {
                let _token = token;
                ready_tx.send(()).unwrap();
                block(i);
            })
        })
        .collect();
    for i in 0..n {
        ready_rx.recv_within(&format!("report {i} of {n} micro-threads about to block"));
    }
    wait_until(&format!("all {n} micro-threads parked in the primitive"), || {
        handles.iter().all(|h| h.is_parked())
    });
    drop(rt);
    assert_eq!(drops.count(), n, "every parked micro-thread's destructors ran");
    for (i, handle) in handles.into_iter().enumerate() {
        match handle.join_within(&format!("micro-thread {i} of {n}, unwound by the shutdown")) {
            Err(payload) => assert!(payload.is::<Cancelled>(), "unwound by the shutdown, not a panic"),
            Ok(()) => panic!("a micro-thread parked for ever returned"),
        }
    }
}

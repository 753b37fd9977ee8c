//! Helpers shared by the lock and coordination tests (`mutex.rs`,
//! `rwlock.rs`, `condvar.rs`, `semaphore.rs`, `waitgroup.rs`, `barrier.rs`,
//! `once.rs`): where to run a body, mixed crowds of micro-threads and OS
//! threads, and shutting a runtime down while its micro-threads are parked
//! on a primitive.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dhaga_runtime::{Cancelled, Runtime, RuntimeBuilder};
use dhaga_testutil::{Ctx, Task, start};

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

/// Joins every task, re-raising the first panic.
pub fn join_all<T>(tasks: Vec<Task<T>>) -> Vec<T> {
    tasks.into_iter().map(Task::join).collect()
}

/// Runs `body(rt, i)` for `n` mixed tasks on a micro-thread runtime, then
/// on a thread-mode runtime, and returns both runs' results.
pub fn on_every_kind<T, F>(n: usize, body: F) -> [Vec<T>; 2]
where
    F: Fn(usize) -> T + Send + Sync + Clone + 'static,
    T: Send + 'static,
{
    [micro(), thread_mode()].map(|rt| join_all(start_mixed(&rt, n, body.clone())))
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
/// Each micro-thread reports on a channel just before it blocks; a short
/// sleep then gives the last ones time to reach their park (if one had not,
/// it would be unwound all the same, so the sleep cannot make this pass).
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
    for _ in 0..n {
        ready_rx.recv().unwrap();
    }
    std::thread::sleep(Duration::from_millis(20));
    drop(rt);
    assert_eq!(drops.count(), n, "every parked micro-thread's destructors ran");
    for handle in handles {
        match handle.join() {
            Err(payload) => assert!(payload.is::<Cancelled>(), "unwound by the shutdown, not a panic"),
            Ok(()) => panic!("a micro-thread parked for ever returned"),
        }
    }
}

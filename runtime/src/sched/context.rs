//! The runtime's thread-locals: which worker, if any, the current OS thread
//! is running; which runtime and which task a thread-mode thread belongs to,
//! and whether its spawns must start OS threads too. (Two other modules keep
//! thread-locals of their own, for their own data: `signal.rs`, the stack
//! the overflow handler looks at, and `local.rs`, micro-thread-locals.)
//!
//! Reading a thread-local from a micro-thread is sound here because a started
//! micro-thread never changes OS thread (see the crate docs): the address LLVM
//! caches for a thread-local inside a function stays the right one across
//! every park.

use std::cell::{Cell, RefCell};
use std::ptr;
use std::sync::Arc;

use super::scheduler::SchedulerRef;
use super::scheduler::Task;
use super::worker::Worker;

thread_local! {
    /// The worker whose loop runs on this thread, while it runs.
    static WORKER: Cell<*const Worker> = const { Cell::new(ptr::null()) };
    /// The thread-mode runtime this OS thread was started by (or entered
    /// through `block_on`), so that `spawn` from it starts a thread too.
    static THREAD_RUNTIME: RefCell<Option<SchedulerRef>> = const { RefCell::new(None) };
    /// The task of a thread-mode thread started by `spawn`: what
    /// `JoinHandle::cancel` flags, checked where the thread parks.
    static THREAD_TASK: RefCell<Option<Arc<Task>>> = const { RefCell::new(None) };
    /// Set on an OS thread started outside thread mode because a worker is
    /// blocked (the children of a scope whose caller blocks its worker): its
    /// own spawns start OS threads too, since the least-loaded worker they
    /// would go to may be the blocked one.
    static SPAWNS_OS_THREADS: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current thread as running a worker's loop until dropped.
pub(crate) struct WorkerGuard(());

/// Enters a worker loop. `worker` must stay in place and alive until the
/// returned guard is dropped, and every coroutine of the worker must be gone
/// by then.
pub(crate) fn enter_worker(worker: &Worker) -> WorkerGuard {
    WORKER.with(|w| {
        assert!(w.get().is_null(), "a thread can run one dhaga worker at a time");
        w.set(worker);
    });
    WorkerGuard(())
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        WORKER.with(|w| w.set(ptr::null()));
    }
}

/// Calls `f` with the worker running on this thread, if any.
#[inline]
pub(crate) fn with_worker<R>(f: impl FnOnce(Option<&Worker>) -> R) -> R {
    let worker = WORKER.with(Cell::get);
    // SAFETY: the pointer is non-null only between `enter_worker` and the
    // drop of its guard, during which the `Worker` stays in place and
    // alive (it is borrowed by the worker loop for that whole time), and it is
    // only ever read on this thread. Micro-threads holding the reference across
    // a park are fine: the worker unwinds all of them before the guard drops.
    f(unsafe { worker.as_ref() })
}

/// Whether the caller runs in a micro-thread.
#[inline]
pub(crate) fn in_micro_thread() -> bool {
    with_worker(|worker| worker.is_some_and(Worker::in_task))
}

/// The thread-mode runtime of this thread, if any.
pub(crate) fn thread_runtime() -> Option<SchedulerRef> {
    // `try_with`: reachable from other thread-locals' destructors.
    THREAD_RUNTIME.try_with(|r| r.borrow().clone()).ok().flatten()
}

/// Makes `handle` this thread's thread-mode runtime; returns the previous one.
pub(crate) fn set_thread_runtime(handle: Option<SchedulerRef>) -> Option<SchedulerRef> {
    THREAD_RUNTIME.with(|r| r.replace(handle))
}

/// Makes `task` the task of this thread-mode thread (see `park.rs`, where
/// it is looked at).
pub(crate) fn set_thread_task(task: Arc<Task>) {
    THREAD_TASK.with(|t| *t.borrow_mut() = Some(task));
}

/// Makes this thread's spawns start OS threads (see `SPAWNS_OS_THREADS`).
pub(crate) fn set_spawns_os_threads(on: bool) {
    SPAWNS_OS_THREADS.with(|s| s.set(on));
}

/// Whether this thread's spawns start OS threads (see `SPAWNS_OS_THREADS`).
pub(crate) fn spawns_os_threads() -> bool {
    // `try_with`: reachable from other thread-locals' destructors.
    SPAWNS_OS_THREADS.try_with(Cell::get).unwrap_or(false)
}

/// Calls `f` with the task of this thread-mode thread, if it is one (`None`
/// also once the thread-local is gone, at thread exit).
pub(crate) fn with_thread_task<R>(f: impl FnOnce(Option<&Task>) -> R) -> R {
    // A clone, not a borrow held across `f`: `f` may reach this again.
    let task = THREAD_TASK.try_with(|t| t.borrow().clone()).ok().flatten();
    f(task.as_deref())
}

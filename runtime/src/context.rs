//! The runtime's one thread-local: which worker, if any, the current OS thread
//! is running, and which runtime a thread-mode thread belongs to.
//!
//! Reading a thread-local from a micro-thread is sound here because a started
//! micro-thread never changes OS thread (see the crate docs): the address LLVM
//! caches for a thread-local inside a function stays the right one across
//! every park.

use std::cell::{Cell, RefCell};
use std::ptr;

use crate::scheduler::Handle;
use crate::worker::Local;

thread_local! {
    /// The worker whose loop runs on this thread, while it runs.
    static WORKER: Cell<*const Local> = const { Cell::new(ptr::null()) };
    /// The thread-mode runtime this OS thread was started by (or entered
    /// through `block_on`), so that `spawn` from it starts a thread too.
    static THREAD_RUNTIME: RefCell<Option<Handle>> = const { RefCell::new(None) };
}

/// Marks the current thread as running `local`'s loop until dropped.
pub(crate) struct WorkerGuard(());

/// Enters a worker loop. `local` must stay in place and alive until the
/// returned guard is dropped, and every coroutine of the worker must be gone
/// by then.
pub(crate) fn enter_worker(local: &Local) -> WorkerGuard {
    WORKER.with(|w| {
        assert!(w.get().is_null(), "a thread can run one dhaga worker at a time");
        w.set(local);
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
pub(crate) fn with_worker<R>(f: impl FnOnce(Option<&Local>) -> R) -> R {
    let local = WORKER.with(Cell::get);
    // SAFETY: the pointer is non-null only between `enter_worker` and the
    // drop of its guard, during which the worker's `Local` stays in place and
    // alive (it is borrowed by the worker loop for that whole time), and it is
    // only ever read on this thread. Micro-threads holding the reference across
    // a park are fine: the worker unwinds all of them before the guard drops.
    f(unsafe { local.as_ref() })
}

/// The thread-mode runtime of this thread, if any.
pub(crate) fn thread_runtime() -> Option<Handle> {
    // `try_with`: reachable from other thread-locals' destructors.
    THREAD_RUNTIME.try_with(|r| r.borrow().clone()).ok().flatten()
}

/// Makes `handle` this thread's thread-mode runtime; returns the previous one.
pub(crate) fn set_thread_runtime(handle: Option<Handle>) -> Option<Handle> {
    THREAD_RUNTIME.with(|r| r.replace(handle))
}

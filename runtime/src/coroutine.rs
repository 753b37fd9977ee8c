//! Micro-threads as `corosensei` coroutines, and the one way to switch out of
//! one.
//!
//! A [`MicroThread`] is created on the worker that runs it and never leaves
//! that worker (`corosensei::Coroutine` is `!Send`, and a started
//! micro-thread may hold thread-local addresses cached by LLVM). The worker
//! resumes it through [`Running::resume`]; code inside it switches back to the
//! worker through [`Running::suspend`], which is safe to call because
//! `Running` knows whether a micro-thread is on the CPU and which yielder is
//! its own.

use std::cell::{Cell, RefCell};
use std::ptr;
use std::sync::Arc;

use corosensei::{Coroutine, CoroutineResult};

use crate::context;
use crate::stack::{Canary, Stack};
use crate::task::Task;

/// Why a micro-thread switched back to its worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Suspend {
    /// Waiting for an unpark: not runnable until then.
    Park,
    /// Still runnable; let the others run first.
    Yield,
}

type Yielder = corosensei::Yielder<(), Suspend>;

/// What resuming a micro-thread ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It switched back for this reason.
    Suspended(Suspend),
    /// Its body returned; see [`MicroThread::into_stack`].
    Finished,
}

/// A started (or about to start) micro-thread.
pub(crate) struct MicroThread {
    coroutine: Coroutine<(), Suspend, (), Stack>,
    canary: Option<Canary>,
}

impl MicroThread {
    /// Prepares `body` to run on `stack`: writes it onto the stack, where it
    /// stays until the micro-thread first runs. Nothing runs yet.
    pub(crate) fn prepare<F: FnOnce() + Send + 'static>(stack: Stack, body: F) -> Unstarted {
        let canary = stack.canary();
        let coroutine = Coroutine::with_stack(stack, move |yielder: &Yielder, ()| {
            context::with_worker(|local| {
                local
                    .expect("micro-threads run on workers")
                    .running()
                    .yielder
                    .set(yielder)
            });
            body();
        });
        Unstarted(MicroThread { coroutine, canary })
    }

    /// The stack of a micro-thread that has finished, for reuse.
    ///
    /// # Panics
    ///
    /// If it has not finished.
    pub(crate) fn into_stack(self) -> Stack {
        self.coroutine.into_stack()
    }
}

/// A micro-thread that has not run yet, on its way to the worker that will
/// start it.
pub(crate) struct Unstarted(MicroThread);

// SAFETY: `Coroutine` is `!Send` because a *started* coroutine may hold
// anything on its stack, thread-bound data and cached thread-local addresses
// included. An unstarted one holds only what `MicroThread::prepare` put there:
// the `Send` closure and corosensei's initial frame (addresses within the
// stack itself), with no thread-local state. `Unstarted` is only built by
// `MicroThread::prepare` and gives its coroutine up (`start`) only to be resumed
// on the thread that calls `start`, after which it never moves again: the
// worker keeps it in its own table.
unsafe impl Send for Unstarted {}

impl Unstarted {
    /// The micro-thread, to be started on the calling thread.
    pub(crate) fn start(self) -> MicroThread {
        self.0
    }
}

/// The micro-thread currently on this worker's CPU, if any.
pub(crate) struct Running {
    task: RefCell<Option<Arc<Task>>>,
    /// The running micro-thread's yielder; meaningful only while `task` is
    /// set. Each micro-thread stores its own when it starts and again each
    /// time it resumes from `suspend`.
    yielder: Cell<*const Yielder>,
}

impl Default for Running {
    fn default() -> Self {
        Running {
            task: RefCell::new(None),
            yielder: Cell::new(ptr::null()),
        }
    }
}

impl Running {
    /// Runs `thread` (the micro-thread of `task`) until it suspends or ends;
    /// hands `task` back with the outcome.
    ///
    /// # Panics
    ///
    /// If called from inside a micro-thread, and aborts the process if the
    /// canary of an unguarded stack was overwritten.
    pub(crate) fn resume(&self, task: Arc<Task>, thread: &mut MicroThread) -> (Arc<Task>, Outcome) {
        crate::signal::set_running(&task);
        let previous = self.task.replace(Some(task));
        assert!(previous.is_none(), "a micro-thread cannot resume another one");
        let result = thread.coroutine.resume(());
        let task = self.task.take().expect("the resumed task is still current");
        crate::signal::clear_running();
        if let Some(canary) = thread.canary {
            // SAFETY: the canary is in the coroutine's stack, which `thread`
            // still owns.
            if !unsafe { canary.intact() } {
                crate::signal::report_canary(&task);
            }
        }
        match result {
            CoroutineResult::Yield(why) => (task, Outcome::Suspended(why)),
            CoroutineResult::Return(()) => (task, Outcome::Finished),
        }
    }

    /// Whether a micro-thread is running.
    #[inline]
    pub(crate) fn is_active(&self) -> bool {
        self.task.borrow().is_some()
    }

    /// Calls `f` with the running micro-thread's task.
    #[inline]
    pub(crate) fn with_task<R>(&self, f: impl FnOnce(&Arc<Task>) -> R) -> Option<R> {
        self.task.borrow().as_ref().map(f)
    }

    /// Switches from the running micro-thread back to its worker; returns when
    /// the worker resumes it.
    ///
    /// # Panics
    ///
    /// If no micro-thread is running on this worker.
    pub(crate) fn suspend(&self, why: Suspend) {
        assert!(self.is_active(), "suspend outside a micro-thread");
        let yielder = self.yielder.get();
        // SAFETY: a task is running, so we are executing on its coroutine
        // (only `resume` sets `task`, and clears it when the coroutine
        // switches back), and `yielder` is that coroutine's own: stored when
        // it started and restored below every time it resumed. A yielder
        // lives at the root of its coroutine's stack until the coroutine
        // returns, which it cannot have done while running this code.
        unsafe { (*yielder).suspend(why) };
        self.yielder.set(yielder);
    }
}

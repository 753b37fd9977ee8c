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
pub(crate) enum Outcome {
    /// It switched back for this reason.
    Suspended(Suspend),
    /// Its body returned; its stack is free again.
    Finished(Stack),
}

/// A started (or about to start) micro-thread.
pub(crate) struct MicroThread {
    coroutine: Coroutine<(), Suspend, (), Stack>,
    canary: Option<Canary>,
    /// The guard page (address, length), for the overflow report.
    pub(crate) guard: Option<(usize, usize)>,
    /// Usable stack bytes, for the overflow report.
    pub(crate) stack_size: usize,
}

impl MicroThread {
    /// Prepares `body` to run on `stack`. Nothing runs until the first resume.
    pub(crate) fn new(stack: Stack, body: Box<dyn FnOnce() + Send>) -> MicroThread {
        let canary = stack.canary();
        let guard = stack.guard();
        let stack_size = stack.size();
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
        MicroThread {
            coroutine,
            canary,
            guard,
            stack_size,
        }
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
    /// Runs `thread` (the micro-thread of `task`) until it suspends or ends.
    ///
    /// # Panics
    ///
    /// If called from inside a micro-thread, and aborts the process if the
    /// canary of an unguarded stack was overwritten.
    pub(crate) fn resume(
        &self,
        task: &Arc<Task>,
        mut thread: MicroThread,
    ) -> (Option<MicroThread>, Outcome) {
        let previous = self.task.replace(Some(Arc::clone(task)));
        assert!(
            previous.is_none(),
            "a micro-thread cannot resume another one"
        );
        crate::signal::set_running(task, &thread);
        let result = thread.coroutine.resume(());
        crate::signal::clear_running();
        self.task.replace(None);
        if let Some(canary) = thread.canary {
            // SAFETY: the canary is in the coroutine's stack, which `thread`
            // still owns.
            if !unsafe { canary.intact() } {
                crate::signal::report_canary(task);
            }
        }
        match result {
            CoroutineResult::Yield(why) => (Some(thread), Outcome::Suspended(why)),
            CoroutineResult::Return(()) => (None, Outcome::Finished(thread.coroutine.into_stack())),
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

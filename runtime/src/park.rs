//! Parking and unparking, as `std::thread::park` and `Thread::unpark` do for
//! OS threads, for whatever the caller is: a micro-thread parks alone, an OS
//! thread blocks.
//!
//! Each micro-thread has one wake-up token; `unpark` sets it (scheduling the
//! micro-thread if it is parked: see `task/`), a park consumes it or
//! suspends until it is set. Wake-ups may be spurious, so every caller parks
//! in a loop that re-checks its condition. Channels, joins, timers and the
//! reactor are all built on this one primitive, and it works the same for OS
//! threads, which is what lets a micro-thread and an OS thread wait on each
//! other.
//!
//! A micro-thread parks by suspending to its worker (`Worker::park`, reached
//! through the context thread-local); an OS thread, thread-mode ones
//! included, parks with `std::thread::park`. Every park is a cancellation
//! point.
//!
//! Its public face, [`Unparker`] here and the `park` functions in `lib.rs`,
//! is for other crates (`dhaga-mq`'s sockets) and users, to build their
//! own waiting structures.

use std::fmt;
use std::time::Instant;

use crate::coroutine::Suspend;
use crate::sched::context;
use crate::sched::{self, Task};
use crate::task::{OnCancel, Wake, unwinding_or_cancel};
use crate::wait::Waiting;

/// A handle that wakes one micro-thread or OS thread parked with
/// [`park`](crate::park()) (or makes its next `park` return at once).
///
/// Each micro-thread and OS thread has one wake-up token, as in
/// `std::thread`: `unpark` sets it, `park` consumes it or waits for it.
/// Several `unpark`s before a `park` make one wake-up.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// let done = Arc::new(AtomicBool::new(false));
/// let waiter = dhaga_runtime::current_unparker();
/// let flag = Arc::clone(&done);
/// dhaga_runtime::spawn(move || {
///     flag.store(true, Ordering::Release);
///     waiter.unpark();
/// });
/// while !done.load(Ordering::Acquire) {
///     dhaga_runtime::park(); // wake-ups may be spurious: re-check
/// }
/// ```
#[derive(Clone)]
pub struct Unparker(sched::Unparker);

impl Unparker {
    /// Sets the target's wake-up token, resuming it if it is parked.
    /// Callable from any thread.
    pub fn unpark(&self) {
        self.0.clone().unpark();
    }

    /// Whether `self` and `other` wake the same micro-thread or OS thread.
    pub fn same_target(&self, other: &Unparker) -> bool {
        self.0.id() == other.0.id()
    }

    /// The caller's (see [`current_unparker`](crate::current_unparker)).
    pub(crate) fn current() -> Unparker {
        Unparker(sched::Unparker::current())
    }

    /// The runtime's own unparker, for the crate's wait lists.
    pub(crate) fn into_inner(self) -> sched::Unparker {
        self.0
    }
}

impl fmt::Debug for Unparker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Unparker").field(&self.0.id()).finish()
    }
}

/// Parks the caller until unparked or until `deadline`.
///
/// Inside a micro-thread this suspends only the micro-thread; elsewhere it
/// parks the OS thread. If the micro-thread (or thread-mode thread) has been
/// cancelled, this unwinds it (or, if it is unwinding already, returns
/// [`Wake::Cancelled`]).
pub(crate) fn park(waiting: Waiting, deadline: Option<Instant>) -> Wake {
    context::with_worker(|worker| match worker {
        Some(worker) if worker.in_task() => {
            worker.note_wait(waiting);
            worker.park(Suspend::Park, deadline)
        }
        _ => park_thread(deadline),
    })
}

/// [`park`] for a caller that must settle something with whoever woke it
/// before it can unwind: where `park` would unwind a cancelled micro-thread
/// (or thread-mode thread), this returns [`Wake::Cancelled`] instead, as it
/// does for a caller that is unwinding already.
///
/// The caller then looks at what it waited for under its own lock: an
/// operation that was completed for it while it slept (a rendezvous message
/// handed to it, a select committed to an operation) it completes and
/// returns, and the cancellation takes effect at its next park, since the
/// flag stays set; otherwise it leaves its wait list and calls
/// [`cancellation_point`], which unwinds it (or returns at once for a
/// caller that is unwinding already, whose blocking call then fails).
pub(crate) fn park_reporting_cancel(waiting: Waiting, deadline: Option<Instant>) -> Wake {
    context::with_worker(|worker| match worker {
        Some(worker) if worker.in_task() => {
            worker.note_wait(waiting);
            worker.park_with(Suspend::Park, deadline, OnCancel::Report)
        }
        _ => park_thread_with(deadline, OnCancel::Report),
    })
}

/// A wait that neither cancellation nor an unwinding caller can cut short,
/// for a caller that must not go on until some condition holds whatever
/// happens (a scope waiting for the micro-threads that borrow from its
/// caller's stack).
///
/// A micro-thread parks as usual, except that the park is not a
/// cancellation point: a [`JoinHandle::cancel`](crate::JoinHandle::cancel)
/// or its runtime's shutdown only wakes it (spuriously, as far as the wait
/// is concerned) and it parks again; it is left to the caller to honour the
/// cancellation once the wait is over. A micro-thread that is unwinding
/// cannot park (see [`unwinding_or_cancel`]), so it blocks its worker's OS
/// thread instead, as the sync primitives' waits that cannot fail do. An OS
/// thread blocks.
///
/// Made by the caller, which shares its [`unparker`](Self::unparker) with
/// whoever will end the wait, and parks with [`park`](Self::park) in a loop
/// that re-checks its condition (wake-ups may be spurious).
pub(crate) struct UncancellableWait {
    unparker: sched::Unparker,
    /// The caller is a micro-thread that suspends (otherwise it blocks its
    /// OS thread).
    suspends: bool,
    /// The caller blocks the OS thread of a worker: work queued on that
    /// worker does not run while it waits.
    blocks_worker: bool,
}

impl UncancellableWait {
    /// A wait for the caller.
    pub(crate) fn new() -> UncancellableWait {
        let (on_worker, in_task) =
            context::with_worker(|worker| (worker.is_some(), worker.is_some_and(|l| l.in_task())));
        let suspends = in_task && !std::thread::panicking();
        let unparker = if suspends {
            sched::Unparker::current()
        } else {
            sched::Unparker::Thread(std::thread::current())
        };
        UncancellableWait {
            unparker,
            suspends,
            blocks_worker: on_worker && !suspends,
        }
    }

    /// A wait that blocks the caller's OS thread, whatever the caller is
    /// (an unwinding micro-thread included): for a caller whose OS thread
    /// is not needed to end the wait, as what it waits for runs on an OS
    /// thread of its own.
    pub(crate) fn blocking() -> UncancellableWait {
        UncancellableWait {
            unparker: sched::Unparker::Thread(std::thread::current()),
            suspends: false,
            blocks_worker: context::with_worker(|worker| worker.is_some()),
        }
    }

    /// Wakes the waiter (or makes its next `park` return at once).
    pub(crate) fn unparker(&self) -> &sched::Unparker {
        &self.unparker
    }

    /// Whether waiting blocks a worker's OS thread, so that micro-threads
    /// queued on that worker would not run until the wait ends.
    pub(crate) fn blocks_worker(&self) -> bool {
        self.blocks_worker
    }

    /// Parks until unparked, or spuriously. Called only by the micro-thread
    /// or thread that made the wait.
    pub(crate) fn park(&self, waiting: Waiting) {
        if self.suspends {
            context::with_worker(|worker| {
                let worker = worker.expect("an uncancellable wait suspends the micro-thread that made it");
                worker.note_wait(waiting);
                worker.park_uncancellable();
            });
            return;
        }
        context::with_thread_task(|task| match task {
            // A thread-mode thread shows as parked, as in `park_thread`.
            Some(task) => {
                task.set_thread_parked(true);
                std::thread::park();
                task.set_thread_parked(false);
            }
            None => std::thread::park(),
        });
    }
}

/// A cancellation point for whatever the caller is: a cancelled micro-thread
/// or thread-mode thread unwinds here (unless it is unwinding already).
/// Nothing elsewhere.
pub(crate) fn cancellation_point() {
    if is_cancelled() {
        unwinding_or_cancel();
    }
}

/// Whether the caller, a micro-thread or a thread-mode thread, has been
/// cancelled. False on other OS threads.
pub(crate) fn is_cancelled() -> bool {
    context::with_worker(|worker| match worker {
        Some(worker) if worker.in_task() => worker.running().with_task(Task::is_cancelled) == Some(true),
        _ => thread_cancelled(),
    })
}

/// Whether the caller is a thread-mode thread (an OS thread started by a
/// thread-mode runtime's `spawn`) that has been cancelled.
fn thread_cancelled() -> bool {
    context::with_thread_task(|task| task.is_some_and(Task::is_cancelled))
}

/// Whether the caller is a micro-thread that cannot park because it is
/// unwinding: its parks return at once (see `Worker::park_with`).
pub(crate) fn cannot_park() -> bool {
    std::thread::panicking() && context::with_worker(|worker| worker.is_some_and(|worker| worker.in_task()))
}

/// Whether the caller is a micro-thread or thread-mode thread whose runtime
/// shuts down.
pub(crate) fn shutting_down() -> bool {
    context::with_worker(|worker| match worker {
        Some(worker) if worker.in_task() => worker.shared().is_shutdown(),
        _ => context::with_thread_task(|task| task.is_some_and(|task| task.scheduler().is_shutdown())),
    })
}

/// Whether the caller is a thread-mode thread started by `spawn`.
pub(crate) fn in_thread_task() -> bool {
    context::with_thread_task(|task| task.is_some())
}

/// A cancellation point for a thread-mode thread that is not about to park
/// (`yield_now`): unwinds it if it was cancelled. Nothing elsewhere.
pub(crate) fn thread_cancel_point() {
    if thread_cancelled() {
        unwinding_or_cancel();
    }
}

/// Parks an OS thread. A thread-mode thread is a cancellation point here, as
/// a micro-thread is in `Worker::park`: checked before parking, and again
/// after, since `JoinHandle::cancel` unparks the thread.
fn park_thread(deadline: Option<Instant>) -> Wake {
    park_thread_with(deadline, OnCancel::Unwind)
}

/// [`park_thread`], where a cancelled thread-mode thread unwinds or, with
/// [`OnCancel::Report`], returns [`Wake::Cancelled`].
fn park_thread_with(deadline: Option<Instant>, on_cancel: OnCancel) -> Wake {
    let cancelled_here = || match on_cancel {
        OnCancel::Unwind => unwinding_or_cancel(),
        OnCancel::Report => Wake::Cancelled,
    };
    if thread_cancelled() {
        return cancelled_here();
    }
    let wake = context::with_thread_task(|task| match task {
        Some(task) => {
            task.set_thread_parked(true);
            let wake = park_thread_until(deadline);
            task.set_thread_parked(false);
            wake
        }
        None => park_thread_until(deadline),
    });
    if thread_cancelled() {
        return cancelled_here();
    }
    wake
}

/// Parks the OS thread until unparked (or spuriously) or `deadline`.
pub(crate) fn park_thread_until(deadline: Option<Instant>) -> Wake {
    match deadline {
        None => std::thread::park(),
        Some(deadline) => {
            let now = Instant::now();
            if now >= deadline {
                return Wake::TimedOut;
            }
            std::thread::park_timeout(deadline - now);
            if Instant::now() >= deadline {
                return Wake::TimedOut;
            }
        }
    }
    Wake::Notified
}

/// Defined here, above the header's module: finding the caller takes the
/// context thread-local, which `task/` does not see.
impl sched::Unparker {
    /// The unparker of the caller: its micro-thread's, or its OS thread's.
    pub(crate) fn current() -> sched::Unparker {
        match context::with_worker(|worker| worker.and_then(|worker| worker.current_task())) {
            Some(task) => sched::Unparker::Task(task),
            None => sched::Unparker::Thread(std::thread::current()),
        }
    }
}

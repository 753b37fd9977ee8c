//! Joining a micro-thread (waiting for its result, with or without a
//! timeout) and cancelling it.

use std::any::Any;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crate::Cancelled;
use crate::dump::{Waiting, reason};
use crate::sync::spin::{SpinGuard, SpinLock};
use crate::task::{self, Task, UncancellableWait, Unparker, Wake};

/// An owned permission to join a micro-thread (wait for it to end and take
/// its result), and a way to cancel it.
///
/// Dropping the handle detaches the micro-thread: it keeps running and its
/// result is dropped.
///
/// # Cancellation
///
/// [`cancel`](JoinHandle::cancel) asks the micro-thread to stop. It is
/// cooperative, like a thread that checks a flag, but the flag is checked for
/// it: every place a micro-thread parks is a cancellation point — channel
/// `send`/`recv`, `join`, `sleep`, `yield_now`, socket I/O waiting for
/// readiness, `spawn_blocking` — and there it unwinds, running its
/// destructors, with a [`Cancelled`] payload. Its join then returns
/// `Err(payload)` where `payload.is::<Cancelled>()`, which tells a
/// cancellation from a panic (a panic's payload is the panic message, a
/// `&str` or a `String`, or whatever was passed to `panic_any`). A
/// micro-thread that never parks (a loop that only computes) is not
/// interrupted; it can poll [`is_cancelled`](crate::is_cancelled) instead.
///
/// # Examples
///
/// ```
/// let handle = dhaga_runtime::spawn(|| 6 * 7);
/// assert_eq!(handle.join().unwrap(), 42);
/// ```
///
/// Bounding how long a micro-thread may run: wait for it a while, then
/// cancel it and collect what it left.
///
/// ```
/// use std::time::Duration;
/// use dhaga_runtime::Cancelled;
///
/// let slow = dhaga_runtime::spawn(|| {
///     dhaga_runtime::sleep(Duration::from_secs(3600)); // a cancellation point
///     "finished"
/// });
/// let result = match slow.join_timeout(Duration::from_millis(10)) {
///     Ok(result) => result, // finished in time
///     Err(slow) => {
///         slow.cancel(); // it unwinds from its sleep now
///         slow.join()
///     }
/// };
/// assert!(result.unwrap_err().is::<Cancelled>());
/// ```
pub struct JoinHandle<T> {
    state: Arc<JoinState<T>>,
    task: Arc<Task>,
    /// The OS thread, in thread mode: where `cancel` sends its wake-up.
    thread: Option<Thread>,
}

/// The result slot shared by a handle and its micro-thread.
struct JoinState<T> {
    inner: SpinLock<Inner<T>>,
}

struct Inner<T> {
    result: Option<thread::Result<T>>,
    finished: bool,
    joiner: Option<Unparker>,
}

impl<T> JoinState<T> {
    fn lock(&self) -> SpinGuard<'_, Inner<T>> {
        self.inner.lock()
    }
}

impl<T> Drop for JoinState<T> {
    /// A result nobody joined is dropped by whichever side lets go last: the
    /// micro-thread (inside its worker) or the detaching handle (inside the
    /// caller). A destructor that panics would unwind out of either at an
    /// unrelated point; as std does for threads, that aborts the process.
    fn drop(&mut self) {
        let result = self.inner.get_mut().result.take();
        if panic::catch_unwind(AssertUnwindSafe(move || drop(result))).is_err() {
            eprintln!("dhaga: the result of a micro-thread panicked when dropped; aborting");
            std::process::abort();
        }
    }
}

/// The micro-thread's side: delivers the result exactly once. If dropped
/// without delivering (the micro-thread never ran, because its runtime shut
/// down), the join reports [`Cancelled`].
pub(crate) struct Completer<T> {
    state: Option<Arc<JoinState<T>>>,
}

/// A join handle and the completer of its micro-thread.
pub(crate) fn pair<T>(task: Arc<Task>) -> (JoinHandle<T>, Completer<T>) {
    let state = Arc::new(JoinState {
        inner: SpinLock::new(Inner {
            result: None,
            finished: false,
            joiner: None,
        }),
    });
    let completer = Completer {
        state: Some(Arc::clone(&state)),
    };
    let handle = JoinHandle {
        state,
        task,
        thread: None,
    };
    (handle, completer)
}

impl<T> Completer<T> {
    /// Runs `f` (the micro-thread's body), catching its panic, destroys the
    /// micro-thread's locals, and delivers the outcome to the join handle.
    /// A micro-thread cancelled before it started drops `f` without running
    /// it.
    ///
    /// Returns whether `f` panicked (a cancellation does not count). By
    /// then this side holds nothing of the result any more: if the handle
    /// was gone, the result has been dropped here.
    pub(crate) fn run(mut self, f: impl FnOnce() -> T) -> bool {
        let result = panic::catch_unwind(AssertUnwindSafe(move || {
            if task::is_cancelled() {
                drop(f);
                panic::resume_unwind(Box::new(Cancelled));
            }
            f()
        }));
        crate::local::close_current();
        let panicked = matches!(&result, Err(payload) if !payload.is::<Cancelled>());
        let state = self.state.take().expect("completed once");
        deliver(&state, result);
        drop(state);
        panicked
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            deliver(&state, Err(Box::new(Cancelled)));
        }
    }
}

fn deliver<T>(state: &JoinState<T>, result: thread::Result<T>) {
    let joiner = {
        let mut inner = state.lock();
        inner.result = Some(result);
        inner.finished = true;
        inner.joiner.take()
    };
    if let Some(joiner) = joiner {
        joiner.unpark();
    }
}

impl<T> JoinHandle<T> {
    /// Records the OS thread of a thread-mode spawn, for `cancel`.
    pub(crate) fn set_thread(&mut self, thread: Thread) {
        self.thread = Some(thread);
    }

    /// Waits for the micro-thread to finish and returns its result.
    ///
    /// Called from a micro-thread this parks only the micro-thread; called
    /// from an OS thread it blocks that thread. It is a cancellation point
    /// for the caller.
    ///
    /// # Errors
    ///
    /// If the micro-thread panicked, `Err` holds the panic payload, as with
    /// [`std::thread::JoinHandle::join`]. If it was cancelled (by
    /// [`cancel`](JoinHandle::cancel) or because its runtime shut down, or
    /// dropped before it started for either reason), the payload is
    /// [`Cancelled`]: `payload.is::<Cancelled>()`. Also `Cancelled` if the
    /// caller is a micro-thread that is unwinding and so cannot wait.
    pub fn join(self) -> thread::Result<T> {
        match self.wait(None) {
            Ok(result) => result,
            Err(_) => Err(Box::new(Cancelled) as Box<dyn Any + Send>),
        }
    }

    /// Whether the micro-thread runs on an OS thread of its own (thread
    /// mode, or `SpawnOptions::os_thread`): then no worker is needed for it
    /// to end, and a caller may block its OS thread to wait for it.
    pub(crate) fn on_os_thread(&self) -> bool {
        self.thread.is_some()
    }

    /// Waits for the result like [`join`](JoinHandle::join), but blocks the
    /// caller's OS thread, and neither a cancellation of the caller nor its
    /// unwinding cuts the wait short (see [`UncancellableWait`]). For a
    /// caller that must have the result even while unwinding, joining a
    /// micro-thread that is [on an OS thread](JoinHandle::on_os_thread):
    /// one that might be queued on the caller's own worker would never run.
    pub(crate) fn join_blocking(self) -> thread::Result<T> {
        let wait = UncancellableWait::blocking();
        loop {
            {
                let mut inner = self.state.lock();
                if let Some(result) = inner.result.take() {
                    return result;
                }
                inner.joiner = Some(wait.unparker().clone());
            }
            wait.park(Waiting::numbered(&reason::JOIN, self.task.id()));
        }
    }

    /// Returns the micro-thread's result if it has finished, without waiting;
    /// otherwise gives the handle back.
    ///
    /// # Errors
    ///
    /// `Err(self)` if the micro-thread has not finished. `Ok(Err(payload))`
    /// if it panicked or was cancelled, as with [`join`](JoinHandle::join).
    pub fn try_join(self) -> Result<thread::Result<T>, JoinHandle<T>> {
        let result = self.state.lock().result.take();
        result.ok_or(self)
    }

    /// Waits at most `timeout` for the micro-thread to finish and returns its
    /// result; if it is still running then, gives the handle back, so that
    /// the caller can wait again, [`cancel`](JoinHandle::cancel) it, or drop
    /// the handle to detach it. See the type's docs for an example.
    ///
    /// # Errors
    ///
    /// `Err(self)` if the micro-thread did not finish in time (or the caller
    /// is a micro-thread that is unwinding, which cannot wait).
    /// `Ok(Err(payload))` if it panicked or was cancelled, as with
    /// [`join`](JoinHandle::join).
    pub fn join_timeout(self, timeout: Duration) -> Result<thread::Result<T>, JoinHandle<T>> {
        self.wait(Instant::now().checked_add(timeout))
    }

    /// Waits until `deadline` at most for the micro-thread to finish; as
    /// [`join_timeout`](JoinHandle::join_timeout).
    ///
    /// # Errors
    ///
    /// As [`join_timeout`](JoinHandle::join_timeout).
    pub fn join_deadline(self, deadline: Instant) -> Result<thread::Result<T>, JoinHandle<T>> {
        self.wait(Some(deadline))
    }

    /// Waits until the result is there or `deadline` passes (or the caller
    /// cannot wait); gives the handle back in the latter cases.
    fn wait(self, deadline: Option<Instant>) -> Result<thread::Result<T>, JoinHandle<T>> {
        loop {
            {
                let mut inner = self.state.lock();
                if let Some(result) = inner.result.take() {
                    return Ok(result);
                }
                inner.joiner = Some(Unparker::current());
            }
            if task::park(Waiting::numbered(&reason::JOIN, self.task.id()), deadline) != Wake::Notified {
                // Timed out, or cannot wait: one last look, and no stale
                // wake-up left behind for a later wait.
                let mut inner = self.state.lock();
                inner.joiner = None;
                let result = inner.result.take();
                drop(inner);
                return result.ok_or(self);
            }
        }
    }

    /// Asks the micro-thread to stop: it unwinds, running its destructors, at
    /// its next cancellation point (see the type's docs) — at once if it is
    /// parked now, and without running at all if it has not started. Its
    /// join then returns `Err` with a [`Cancelled`] payload.
    ///
    /// Cancelling never waits, and may be called from any thread at any
    /// time, any number of times: cancelling a micro-thread that has finished
    /// (or is finishing) does nothing, and its join returns its result. A
    /// micro-thread that catches the unwind (`catch_unwind`) and carries on
    /// stays cancelled: it unwinds again at its next park, and while it
    /// unwinds, blocking calls in its destructors fail instead of waiting.
    /// If it catches the unwind and returns a value without parking again,
    /// that value is its result.
    ///
    /// In [thread mode](crate::RuntimeBuilder::thread_mode) the same holds
    /// for the OS thread at the same cancellation points — channels, `join`,
    /// `sleep`, `yield_now` — with one exception: a thread blocked in a
    /// socket call is in `poll(2)`, which a cancellation cannot interrupt; it
    /// unwinds at its next cancellation point after the call returns.
    pub fn cancel(&self) {
        self.task.cancel();
        match &self.thread {
            Some(thread) => thread.unpark(),
            None => Arc::clone(&self.task).unpark(),
        }
    }

    /// Whether the micro-thread has finished (its result is ready).
    pub fn is_finished(&self) -> bool {
        self.state.lock().finished
    }

    /// Whether the micro-thread is parked right now: waiting for something
    /// (a channel, a lock, a socket, a timer, a join) rather than running or
    /// ready to run. A thread-mode thread counts as parked while it waits in
    /// dhaga's primitives, sleeps or joins, not while it is blocked in a
    /// system call (a socket call in thread mode).
    ///
    /// The answer is a snapshot that may be stale by the time it is read:
    /// it is meant for tests ("the waiter has parked, now wake it") and
    /// diagnostics, not for synchronisation.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = dhaga_runtime::sync::bounded::<u32>(0);
    /// dhaga_runtime::run(move || {
    ///     let waiter = dhaga_runtime::spawn(move || rx.recv().unwrap());
    ///     while !waiter.is_parked() {
    ///         dhaga_runtime::yield_now();
    ///     }
    ///     tx.send(7).unwrap(); // the receiver is waiting: a rendezvous
    ///     assert_eq!(waiter.join().unwrap(), 7);
    /// });
    /// ```
    pub fn is_parked(&self) -> bool {
        self.task.is_parked()
    }

    /// The micro-thread's unique id within its runtime.
    pub fn id(&self) -> u64 {
        self.task.id()
    }

    /// The micro-thread's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.task.name()
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("finished", &self.is_finished())
            .finish()
    }
}

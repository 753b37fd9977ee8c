//! Joining a micro-thread (waiting for its result, with or without a
//! timeout) and cancelling it.

use std::any::Any;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crate::park::{self, UncancellableWait};
use crate::sched::{SchedulerRef, SpawnOptions, Task, Unparker};
use crate::task::{Cancelled, JoinSlot, Wake};
use crate::wait::{Waiting, reason};

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
    /// The micro-thread's header, whose join slot holds the result. Taken
    /// out only by `drop`, to be recycled.
    task: ManuallyDrop<Arc<Task>>,
    /// The OS thread, in thread mode: where `cancel` sends its wake-up.
    thread: Option<Thread>,
    /// The result is a `T` behind a lock: `Send` and `Sync` when `T` is
    /// `Send`, invariant in `T`, and, for the drop check, a handle may drop
    /// a `T` (see `Drop`).
    _result: PhantomData<Mutex<T>>,
}

/// The micro-thread's side: delivers the result exactly once. If dropped
/// without delivering (the micro-thread never ran, because its runtime shut
/// down), the join reports [`Cancelled`].
pub(crate) struct Completer<T: Send> {
    task: Option<Arc<Task>>,
    /// As for [`JoinHandle`]: it hands over (or drops) a `T`.
    _result: PhantomData<Mutex<T>>,
}

/// Spawns `f` on the runtime of `scheduler` (see [`spawn_with`]).
pub(crate) fn spawn<F, T>(scheduler: &SchedulerRef, options: SpawnOptions, f: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    spawn_with(scheduler, options, move |completer| {
        move || {
            completer.run(f);
        }
    })
}

/// Spawns a micro-thread (or an OS thread: see `Shared::spawn_with` in `sched/`) whose
/// body is what `make` builds around the completer of the returned handle;
/// the body must hand its outcome to that completer ([`Completer::run`]).
/// If spawning fails, `make`, or the body it made, is dropped before this
/// returns.
///
/// The one place that makes a join handle and a completer: one of each per
/// micro-thread, the only two that touch its header's join slot, and they
/// agree on `T`. That is what makes the slot's typed accesses sound (see
/// `task::slot::ErasedResult`).
pub(crate) fn spawn_with<T: Send, M, B>(
    scheduler: &SchedulerRef,
    options: SpawnOptions,
    make: M,
) -> io::Result<JoinHandle<T>>
where
    M: FnOnce(Completer<T>) -> B,
    B: FnOnce() + Send + 'static,
{
    let (task, thread) = scheduler.spawn_with(options, |task| {
        make(Completer {
            task: Some(task),
            _result: PhantomData,
        })
    })?;
    Ok(JoinHandle {
        task: ManuallyDrop::new(task),
        thread,
        _result: PhantomData,
    })
}

impl<T: Send> Completer<T> {
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
            if park::is_cancelled() {
                drop(f);
                panic::resume_unwind(Box::new(Cancelled));
            }
            f()
        }));
        crate::local::close_current();
        let panicked = matches!(&result, Err(payload) if !payload.is::<Cancelled>());
        let task = self.task.take().expect("completed once");
        deliver(&task, result);
        drop(task);
        panicked
    }
}

impl<T: Send> Drop for Completer<T> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            deliver::<T>(&task, Err(Box::new(Cancelled)));
        }
    }
}

/// Hands `result` to the join handle of `task`, whose result type is `T`,
/// and wakes its joiner; or drops it at once if the handle is gone.
fn deliver<T: Send>(task: &Task, result: thread::Result<T>) {
    let (joiner, unwanted) = {
        let mut slot = task.join.lock();
        slot.finished = true;
        if slot.detached {
            (None, Some(result))
        } else {
            slot.result.put(result);
            (slot.joiner.take(), None)
        }
    };
    drop_result(unwanted);
    if let Some(joiner) = joiner {
        joiner.unpark();
    }
}

/// Drops a result nobody will join, outside any lock. A destructor that
/// panics would unwind out of the micro-thread's end or out of a handle's
/// drop, at an unrelated point; as std does for threads, that aborts the
/// process.
fn drop_result<T>(result: Option<thread::Result<T>>) {
    if result.is_some() && panic::catch_unwind(AssertUnwindSafe(move || drop(result))).is_err() {
        eprintln!("dhaga: the result of a micro-thread panicked when dropped; aborting");
        std::process::abort();
    }
}

impl<T> Drop for JoinHandle<T> {
    /// Detaches the micro-thread: it keeps running, and its result is
    /// dropped as soon as it is there (here, if it already is).
    fn drop(&mut self) {
        // A result delivered later is dropped by the micro-thread (see
        // `deliver`). Then the header goes back to this worker for reuse if
        // nobody else holds it (see `sched::recycle_task`).
        let result = {
            let mut slot = self.task.join.lock();
            slot.detached = true;
            slot.joiner = None;
            // SAFETY: only this handle and its completer, made together for
            // this `T` by `spawn_with`, store into or take from the slot.
            unsafe { slot.result.take::<thread::Result<T>>() }
        };
        drop_result(result);
        // SAFETY: `drop` runs once, and nothing uses the field after this.
        let task = unsafe { ManuallyDrop::take(&mut self.task) };
        crate::sched::recycle_task(task);
    }
}

impl<T> JoinHandle<T> {
    /// The result, if it has been delivered, from the locked join slot.
    fn take_result(&self, slot: &mut JoinSlot<SchedulerRef>) -> Option<thread::Result<T>> {
        // SAFETY: only this handle and its completer, made together for
        // this `T` by `spawn_with`, store into or take from the slot.
        unsafe { slot.result.take() }
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
                let mut slot = self.task.join.lock();
                if let Some(result) = self.take_result(&mut slot) {
                    return result;
                }
                slot.joiner = Some(wait.unparker().clone());
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
        let result = self.take_result(&mut self.task.join.lock());
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
                let mut slot = self.task.join.lock();
                if let Some(result) = self.take_result(&mut slot) {
                    return Ok(result);
                }
                slot.joiner = Some(Unparker::current());
            }
            if park::park(Waiting::numbered(&reason::JOIN, self.task.id()), deadline) != Wake::Notified {
                // Timed out, or cannot wait: one last look, and no stale
                // wake-up left behind for a later wait.
                let mut slot = self.task.join.lock();
                slot.joiner = None;
                let result = self.take_result(&mut slot);
                drop(slot);
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
        self.task.join.lock().finished
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    /// A worker reuses the header of a micro-thread that ended once its
    /// handle is gone and nobody else holds it; never one that is still
    /// held (by an `Unparker`, say), which is what keeps a stale wake-up
    /// from reaching the micro-thread that reuses it.
    #[test]
    #[cfg_attr(miri, ignore = "starts a runtime: system calls Miri does not model")]
    fn a_header_is_reused_only_once_nobody_holds_it() {
        let rt = crate::Runtime::builder().workers(1).build().expect("build a runtime");
        rt.block_on(|| {
            let first = crate::spawn(|| 1);
            let first_at = Arc::as_ptr(&first.task);
            let first_id = first.id();
            // On one worker, `first` has ended by the time the join
            // returns; then its handle, the last holder, is dropped.
            assert_eq!(first.join().ok(), Some(1));
            let second = crate::spawn(|| 2);
            assert_eq!(Arc::as_ptr(&second.task), first_at, "the header is reused");
            assert_ne!(second.id(), first_id, "ids stay unique");

            // Held, as a waiter list or a kept `Unparker` holds it.
            let held = super::Unparker::Task(Arc::clone(&second.task));
            assert_eq!(second.join().ok(), Some(2));
            let third = crate::spawn(|| 3);
            assert_ne!(Arc::as_ptr(&third.task), first_at, "a held header is not reused");
            // A stale wake-up lands on the ended micro-thread's header only.
            held.unpark();
            assert!(!third.task.is_parked() && !third.is_finished());
            assert_eq!(third.join().ok(), Some(3));
        });
    }

    /// A burst larger than a worker's own store of headers is reused whole
    /// by the next burst: the rest went through the runtime's shared store.
    #[test]
    #[cfg_attr(miri, ignore = "starts a runtime: system calls Miri does not model")]
    fn a_burst_of_headers_is_reused_by_the_next_burst() {
        const BURST: usize = 1_000; // beyond a worker's own 256
        let rt = crate::Runtime::builder().workers(1).build().expect("build a runtime");
        rt.block_on(|| {
            let burst = || (0..BURST).map(|i| crate::spawn(move || i)).collect::<Vec<_>>();
            let first = burst();
            let first_at: std::collections::HashSet<_> = first.iter().map(|h| Arc::as_ptr(&h.task)).collect();
            for handle in first {
                handle.join().expect("the micro-thread returns");
            }
            let second = burst();
            let reused = second
                .iter()
                .filter(|h| first_at.contains(&Arc::as_ptr(&h.task)))
                .count();
            assert_eq!(reused, BURST, "every header of the second burst comes from the first");
            for handle in second {
                handle.join().expect("the micro-thread returns");
            }
        });
    }

    /// The headers kept for reuse hold their runtime, and the shared store
    /// is in the runtime: dropping the runtime still frees it.
    #[test]
    #[cfg_attr(miri, ignore = "starts a runtime: system calls Miri does not model")]
    fn kept_headers_do_not_keep_their_runtime_alive() {
        let rt = crate::Runtime::builder().workers(2).build().expect("build a runtime");
        let scheduler = Arc::downgrade(rt.scheduler());
        rt.block_on(|| {
            let burst: Vec<_> = (0..1_000).map(|i| crate::spawn(move || i)).collect();
            for handle in burst {
                handle.join().expect("the micro-thread returns");
            }
        });
        assert!(
            rt.scheduler().headers.len() > 0,
            "the burst left headers in the shared store (the case under test)"
        );
        drop(rt);
        assert!(scheduler.upgrade().is_none(), "the runtime's scheduler is freed");
    }
}

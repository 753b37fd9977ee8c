//! Joining a micro-thread: waiting for its result.

use std::any::Any;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;

use crate::Cancelled;
use crate::sync::spin::{SpinGuard, SpinLock};
use crate::task::{self, Task, Unparker, Wake};

/// An owned permission to join a micro-thread (wait for it to end and take
/// its result).
///
/// Dropping the handle detaches the micro-thread: it keeps running and its
/// result is dropped.
///
/// # Examples
///
/// ```
/// let handle = dhaga_runtime::spawn(|| 6 * 7);
/// assert_eq!(handle.join().unwrap(), 42);
/// ```
pub struct JoinHandle<T> {
    state: Arc<JoinState<T>>,
    task: Arc<Task>,
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
    (JoinHandle { state, task }, completer)
}

impl<T> Completer<T> {
    /// Runs `f` (the micro-thread's body), catching its panic, and delivers
    /// the outcome to the join handle.
    pub(crate) fn run(mut self, f: impl FnOnce() -> T) {
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        let state = self.state.take().expect("completed once");
        deliver(&state, result);
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
    /// Waits for the micro-thread to finish and returns its result.
    ///
    /// Called from a micro-thread this parks only the micro-thread; called
    /// from an OS thread it blocks that thread.
    ///
    /// # Errors
    ///
    /// If the micro-thread panicked, `Err` holds the panic payload, as with
    /// [`std::thread::JoinHandle::join`]. If it was cancelled (unwound
    /// because its runtime shut down, or never started for that reason), the
    /// payload is [`Cancelled`].
    pub fn join(self) -> thread::Result<T> {
        loop {
            {
                let mut inner = self.state.lock();
                if let Some(result) = inner.result.take() {
                    return result;
                }
                inner.joiner = Some(Unparker::current());
            }
            if task::park(None) == Wake::Cancelled {
                return Err(Box::new(Cancelled) as Box<dyn Any + Send>);
            }
        }
    }

    /// Whether the micro-thread has finished (its result is ready).
    pub fn is_finished(&self) -> bool {
        self.state.lock().finished
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

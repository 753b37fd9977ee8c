//! A cell written once, whose concurrent initialisers park (micro-threads)
//! or block (OS threads) until the first one finishes.
//!
//! # How it works
//!
//! The value lives in a `std::sync::OnceLock`, which is only ever written by
//! one initialiser at a time and so never blocks; reading it is one atomic
//! load. Who initialises is decided here, under a spinlock: the first caller
//! that finds the cell empty and nobody initialising becomes the
//! initialiser; later callers queue and park. When the initialiser finishes
//! — with a value, an error, or a panic — it releases every waiter; they look
//! again, and if the cell is still empty, one of them initialises next. The
//! spinlock also records *who* initialises, so a reentrant initialisation
//! panics instead of deadlocking.

use std::convert::Infallible;
use std::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::waiter::{self, Node, UnwindGuard, Wakes};
use crate::sched::Unparker;
use crate::spin::SpinLock;
use crate::task::WaiterId;
use crate::wait::{Waiting, reason};

/// Signal: the initialiser finished (with or without a value).
const FINISHED: u8 = 1;

/// A thread-safe cell written once, with `std::sync::OnceLock`'s API;
/// callers that find it being initialised park (micro-threads) or block (OS
/// threads) until that ends.
///
/// If the initialiser panics (or fails, for
/// [`get_or_try_init`](OnceLock::get_or_try_init)), the cell stays empty and
/// the next caller initialises it, as with std.
///
/// # Waiting while unwinding
///
/// A micro-thread that is unwinding cannot park: if it must wait for another
/// caller's initialiser it blocks its worker thread;
/// [`wait_timeout`](OnceLock::wait_timeout) does not wait.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use dhaga_runtime::sync::OnceLock;
///
/// static CONFIG: OnceLock<String> = OnceLock::new();
/// let calls = Arc::new(AtomicUsize::new(0));
/// let calls2 = Arc::clone(&calls);
/// dhaga_runtime::run(move || {
///     let handles: Vec<_> = (0..10)
///         .map(|_| {
///             let calls = Arc::clone(&calls2);
///             dhaga_runtime::spawn(move || {
///                 CONFIG.get_or_init(|| {
///                     calls.fetch_add(1, Ordering::Relaxed);
///                     dhaga_runtime::sleep(std::time::Duration::from_millis(5)); // others park
///                     "loaded".to_owned()
///                 })
///                 .len()
///             })
///         })
///         .collect();
///     for handle in handles {
///         assert_eq!(handle.join().unwrap(), 6);
///     }
/// });
/// assert_eq!(calls.load(Ordering::Relaxed), 1);
/// ```
pub struct OnceLock<T> {
    value: std::sync::OnceLock<T>,
    state: SpinLock<State>,
}

struct State {
    /// The caller running the initialiser, if any.
    initialiser: Option<WaiterId>,
    waiters: Vec<Arc<Node>>,
}

impl<T: UnwindSafe> UnwindSafe for OnceLock<T> {}
impl<T: RefUnwindSafe + UnwindSafe> RefUnwindSafe for OnceLock<T> {}

/// What a caller found: the value, or the duty to initialise.
enum Turn<'a, T> {
    Ready(&'a T),
    Initialise,
    /// Only for waiting without initialising: the time ran out.
    TimedOut,
}

impl<T> OnceLock<T> {
    /// An empty cell.
    pub const fn new() -> OnceLock<T> {
        OnceLock {
            value: std::sync::OnceLock::new(),
            state: SpinLock::new(State {
                initialiser: None,
                waiters: Vec::new(),
            }),
        }
    }

    /// The value, if the cell is initialised. Never waits.
    pub fn get(&self) -> Option<&T> {
        self.value.get()
    }

    /// The value, through exclusive access (no waiting needed).
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.value.get_mut()
    }

    /// The value, initialising the cell with `f` if it is empty. If another
    /// caller is initialising it, parks (or blocks) until that ends; if that
    /// initialiser panicked, the next caller runs its own `f`.
    ///
    /// # Panics
    ///
    /// Resumes `f`'s panic (the cell stays empty). Panics if `f` itself
    /// initialises the same cell (a deadlock otherwise).
    pub fn get_or_init<F>(&self, f: F) -> &T
    where
        F: FnOnce() -> T,
    {
        match self.get_or_try_init(|| Ok::<T, Infallible>(f())) {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// As [`OnceLock::get_or_init`], with an initialiser that may fail.
    ///
    /// # Errors
    ///
    /// `f`'s error; the cell then stays empty and the next caller tries.
    ///
    /// # Panics
    ///
    /// As [`OnceLock::get_or_init`].
    pub fn get_or_try_init<F, E>(&self, f: F) -> Result<&T, E>
    where
        F: FnOnce() -> Result<T, E>,
    {
        if let Some(value) = self.value.get() {
            return Ok(value);
        }
        match self.turn(true, None, true) {
            Turn::Ready(value) => return Ok(value),
            Turn::Initialise => {}
            Turn::TimedOut => unreachable!("no deadline"),
        }
        // Whatever happens to `f` (a value, an error, a panic), the waiters
        // look again afterwards.
        let finish = UnwindGuard::new(|| self.finish());
        let result = f();
        let stored = match result {
            Ok(value) => {
                let fresh = self.value.set(value).is_ok();
                debug_assert!(fresh, "only the initialiser writes the cell");
                Ok(self.value.get().expect("just set"))
            }
            Err(error) => Err(error),
        };
        drop(finish); // runs `finish` on this path too
        stored
    }

    /// Stores `value` if the cell is empty (waiting for a running
    /// initialiser first, as std does).
    ///
    /// # Errors
    ///
    /// `value` back if the cell was initialised already.
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.get_or_init(|| value.take().expect("the initialiser runs once"));
        match value {
            None => Ok(()),
            Some(value) => Err(value),
        }
    }

    /// Waits (parks, or blocks) until the cell is initialised, by others.
    ///
    /// # Panics
    ///
    /// If a micro-thread is cancelled while parked here, it unwinds from
    /// this call.
    pub fn wait(&self) -> &T {
        if let Some(value) = self.value.get() {
            return value;
        }
        match self.turn(false, None, true) {
            Turn::Ready(value) => value,
            _ => unreachable!("waits until ready with no deadline"),
        }
    }

    /// Waits at most `timeout` for the cell to be initialised, by others;
    /// `None` if it was still empty then.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<&T> {
        if let Some(value) = self.value.get() {
            return Some(value);
        }
        match self.turn(false, waiter::deadline_after(timeout), false) {
            Turn::Ready(value) => Some(value),
            _ => None,
        }
    }

    /// Consumes the cell and returns its value, if any.
    pub fn into_inner(self) -> Option<T> {
        self.value.into_inner()
    }

    /// Takes the value out, leaving the cell empty.
    pub fn take(&mut self) -> Option<T> {
        self.value.take()
    }

    /// Waits until the cell holds a value, or (`initialise`) until the
    /// caller may initialise it.
    fn turn(&self, initialise: bool, deadline: Option<Instant>, must_wait: bool) -> Turn<'_, T> {
        let me = Unparker::current().id();
        loop {
            let node = {
                let mut state = self.state.lock();
                if let Some(value) = self.value.get() {
                    return Turn::Ready(value);
                }
                match state.initialiser {
                    None if initialise => {
                        state.initialiser = Some(me);
                        return Turn::Initialise;
                    }
                    Some(id) if id == me => {
                        drop(state);
                        panic!("dhaga: OnceLock initialised reentrantly (its initialiser uses the same cell)");
                    }
                    _ => {}
                }
                let node = Node::new((), must_wait);
                state.waiters.push(Arc::clone(&node));
                node
            };
            let cleanup = UnwindGuard::new(|| {
                self.leave(&node);
            });
            let woken = node.park(Waiting::at(&reason::ONCE, self), deadline).is_ok() || !self.leave(&node);
            cleanup.disarm();
            if !woken {
                return Turn::TimedOut;
            }
        }
    }

    /// Leaves the waiters unless released; returns whether it left.
    fn leave(&self, node: &Arc<Node>) -> bool {
        let mut state = self.state.lock();
        if node.signal() == FINISHED {
            return false;
        }
        if let Some(pos) = state.waiters.iter().position(|w| Arc::ptr_eq(w, node)) {
            state.waiters.swap_remove(pos);
        }
        true
    }

    /// The initialiser is done (the value is set, or not): everybody looks
    /// again.
    fn finish(&self) {
        let mut state = self.state.lock();
        state.initialiser = None;
        let mut wakes = Wakes::new();
        for node in std::mem::take(&mut state.waiters) {
            wakes.signal(node, FINISHED);
        }
        drop(state);
        wakes.unpark_all();
    }
}

impl<T> Default for OnceLock<T> {
    fn default() -> OnceLock<T> {
        OnceLock::new()
    }
}

impl<T> From<T> for OnceLock<T> {
    fn from(value: T) -> OnceLock<T> {
        OnceLock {
            value: std::sync::OnceLock::from(value),
            ..OnceLock::new()
        }
    }
}

impl<T: Clone> Clone for OnceLock<T> {
    fn clone(&self) -> OnceLock<T> {
        match self.get() {
            Some(value) => OnceLock::from(value.clone()),
            None => OnceLock::new(),
        }
    }
}

impl<T: PartialEq> PartialEq for OnceLock<T> {
    fn eq(&self, other: &OnceLock<T>) -> bool {
        self.get() == other.get()
    }
}

impl<T: Eq> Eq for OnceLock<T> {}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("OnceLock");
        match self.get() {
            Some(value) => d.field(value),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}

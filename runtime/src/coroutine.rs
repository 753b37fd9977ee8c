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
//!
//! Nothing here knows what the worker or the task header is: `Running` is
//! generic over the header, of which it needs only the [`StackOwner`] that
//! the overflow report reads while the micro-thread runs.

use std::backtrace::Backtrace;
use std::cell::Cell;
use std::mem::{self, MaybeUninit};
use std::ptr;
use std::sync::Arc;

use corosensei::{Coroutine, CoroutineResult};

use crate::signal::{self, StackOwner};
use crate::stack::{Canary, Stack};

/// Why a micro-thread switched back to its worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Suspend {
    /// Waiting for an unpark: not runnable until then.
    Park,
    /// Still runnable; let the others run first.
    Yield,
}

/// What a micro-thread suspends through.
type Yielder = corosensei::Yielder<YielderSlot, Suspend>;

/// What a worker resumes a micro-thread with: where the micro-thread
/// records its yielder when it starts (see [`MicroThread::prepare`]); the
/// `yielder` cell of the worker's [`Running`].
struct YielderSlot(*const Cell<*const Yielder>);

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
    coroutine: Coroutine<YielderSlot, Suspend, (), Stack>,
    canary: Option<Canary>,
    /// Its stack's guard page (address, length), if it has one, and usable
    /// size (see `StackOwner::set_stack`).
    pub(crate) stack_guard: Option<(usize, usize)>,
    pub(crate) stack_size: usize,
}

impl MicroThread {
    /// Prepares `body` to run on `stack`: writes it onto the stack, where it
    /// stays until the micro-thread first runs. Nothing runs yet.
    fn prepare<F: FnOnce() + 'static>(stack: Stack, body: F) -> MicroThread {
        let canary = stack.canary();
        let (stack_guard, stack_size) = (stack.guard(), stack.size());
        let coroutine = Coroutine::with_stack(stack, move |yielder: &Yielder, slot: YielderSlot| {
            // SAFETY: the first resume, which passes `slot`, is made by
            // `Running::resume` with its own `yielder` cell, and that
            // `Running` is borrowed until the resume returns, so until this
            // micro-thread first suspends; it is used on its thread only.
            unsafe { (*slot.0).set(yielder) };
            body();
        });
        MicroThread {
            coroutine,
            canary,
            stack_guard,
            stack_size,
        }
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
///
/// A small body (most are: a closure capturing a few handles) travels
/// *inline*, next to the stack reserved for it at spawn, and touches no
/// stack memory until it starts; the worker that starts it may then run it
/// on a stack of its own that is still in the CPU's caches, one that a
/// micro-thread just ended on, and keep the reserved one instead (see
/// [`Unstarted::start`]). With 10,000 micro-threads spawned before the
/// first one runs, a stack reserved at spawn is cold by the time it would
/// be used, and its first kilobyte or so costs a cache miss per line; a
/// stack just freed costs none. A larger body is written onto the reserved
/// stack at spawn, and runs there.
pub(crate) struct Unstarted(Prepared);

/// How an [`Unstarted`] micro-thread carries its body.
enum Prepared {
    /// The body, carried inline, and the stack reserved for it.
    Carried { body: InlineBody, stack: Stack },
    /// Written onto its stack (too large to carry).
    Placed(MicroThread),
}

// SAFETY: `Coroutine` is `!Send` because a *started* coroutine may hold
// anything on its stack, thread-bound data and cached thread-local addresses
// included. An unstarted one holds only what `MicroThread::prepare` put there:
// the `Send` closure and corosensei's initial frame (addresses within the
// stack itself), with no thread-local state. A carried body is `Send` (see
// `InlineBody::new`) and a `Stack` is. `Unstarted` is only built by
// `Unstarted::new` and gives its coroutine up (`start`) only to be resumed
// on the thread that calls `start`, after which it never moves again: the
// worker keeps it in its own table.
unsafe impl Send for Unstarted {}

impl Unstarted {
    /// Prepares `body` to run on `stack`, or on a stack chosen when it
    /// starts (see the type's docs). Nothing runs yet.
    pub(crate) fn new<F: FnOnce() + Send + 'static>(stack: Stack, body: F) -> Unstarted {
        match InlineBody::new(body) {
            Ok(body) => Unstarted(Prepared::Carried { body, stack }),
            Err(body) => Unstarted(Prepared::Placed(MicroThread::prepare(stack, body))),
        }
    }

    /// The micro-thread, to be started on the calling thread. `warmer` is
    /// offered the stack reserved for a carried body and returns the stack
    /// to run it on: that one, or a warmer one of the same size, keeping the
    /// reserved one in its place.
    pub(crate) fn start(self, warmer: impl FnOnce(Stack) -> Stack) -> MicroThread {
        match self.0 {
            Prepared::Carried { body, stack } => MicroThread::prepare(warmer(stack), move || body.call()),
            Prepared::Placed(thread) => thread,
        }
    }
}

/// Room for a body carried inline: a closure capturing up to eight words
/// (the completer and a few handles).
type BodyRoom = [MaybeUninit<u64>; 8];

/// A `FnOnce() + Send` closure small enough to be carried inline, without
/// its type: stored in place, called or dropped once through the functions
/// made for its type when it was stored.
struct InlineBody {
    storage: MaybeUninit<BodyRoom>,
    /// Moves the closure out of the storage and calls it.
    call: unsafe fn(*mut u8),
    /// Drops the closure in the storage, uncalled.
    drop: unsafe fn(*mut u8),
}

impl InlineBody {
    /// Stores `body`, or gives it back if it does not fit in place.
    fn new<F: FnOnce() + Send + 'static>(body: F) -> Result<InlineBody, F> {
        if mem::size_of::<F>() > mem::size_of::<BodyRoom>() || mem::align_of::<F>() > mem::align_of::<BodyRoom>() {
            return Err(body);
        }
        /// Calls the `F` at `at`, moving it out.
        ///
        /// # Safety
        ///
        /// `at` holds an `F`, which nothing uses afterwards.
        unsafe fn call_body<F: FnOnce()>(at: *mut u8) {
            // SAFETY: the caller promises an `F` at `at`, read out once.
            let body = unsafe { at.cast::<F>().read() };
            body();
        }
        /// Drops the `F` at `at`.
        ///
        /// # Safety
        ///
        /// As for `call_body`.
        unsafe fn drop_body<F>(at: *mut u8) {
            // SAFETY: as in `call_body`.
            unsafe { at.cast::<F>().drop_in_place() };
        }
        let mut stored = InlineBody {
            storage: MaybeUninit::uninit(),
            call: call_body::<F>,
            drop: drop_body::<F>,
        };
        // SAFETY: `F` is no larger and no more aligned than the storage
        // (checked above), whose bytes are ours to overwrite.
        unsafe { stored.storage.as_mut_ptr().cast::<F>().write(body) };
        Ok(stored)
    }

    /// Calls the closure.
    fn call(self) {
        let mut this = mem::ManuallyDrop::new(self);
        let at = this.storage.as_mut_ptr().cast::<u8>();
        // SAFETY: `new` stored an `F` at `at` and made `call` for that `F`;
        // `this` is never dropped, so the closure is not dropped after it is
        // moved out here.
        unsafe { (this.call)(at) }
    }
}

impl Drop for InlineBody {
    fn drop(&mut self) {
        let at = self.storage.as_mut_ptr().cast::<u8>();
        // SAFETY: `new` stored an `F` at `at` and made `drop` for that `F`;
        // `call` consumes the body without running this.
        unsafe { (self.drop)(at) }
    }
}

/// The micro-thread currently on this worker's CPU, if any, and its header
/// `T` (the task header; it holds the [`StackOwner`] the overflow report
/// reads while the micro-thread runs).
pub(crate) struct Running<T> {
    /// The running micro-thread's header; null when none runs. The worker's
    /// table holds a strong reference to every header whose micro-thread
    /// exists, so while this is non-null it points to a live `T`.
    task: Cell<*const T>,
    /// The reference to the header that the worker handed in with it, until
    /// the micro-thread lends it to a waiter list (see [`Running::task`]).
    handed: Cell<Option<Arc<T>>>,
    /// The running micro-thread's yielder; meaningful only while `task` is
    /// set. Each micro-thread stores its own when it starts and again each
    /// time it resumes from `suspend`.
    yielder: Cell<*const Yielder>,
    /// Set by the worker to resume a suspended micro-thread only so that
    /// it captures its stack and suspends again (see [`Running::capture`]).
    capture: Cell<bool>,
    /// The stack the micro-thread captured, for the worker to take.
    captured: Cell<Option<Captured>>,
}

/// What a micro-thread resumed for its stack hands back.
#[derive(Clone)]
pub(crate) enum Captured {
    /// Its stack, captured at its park point.
    Stack(Arc<Backtrace>),
    /// Too little of its stack was left to walk it safely.
    TooDeep,
    /// It parked on another stack than its own (inside a coroutine it
    /// runs), whose room is unknown.
    Elsewhere,
}

/// The stack a capture may use below the park point: walking a stack
/// (libgcc's unwinder) takes a few kilobytes; this leaves a wide margin.
const CAPTURE_NEEDS: usize = 32 * 1024;

impl<T> Default for Running<T> {
    fn default() -> Self {
        Running {
            task: Cell::new(ptr::null()),
            handed: Cell::new(None),
            yielder: Cell::new(ptr::null()),
            capture: Cell::new(false),
            captured: Cell::new(None),
        }
    }
}

impl<T: AsRef<StackOwner>> Running<T> {
    /// Runs `thread` (the micro-thread of `task`) until it suspends or ends.
    /// Hands the reference to `task` back, unless the micro-thread lent it
    /// to whoever will wake it (then `None`).
    ///
    /// # Panics
    ///
    /// If called from inside a micro-thread, and aborts the process if the
    /// canary of an unguarded stack was overwritten.
    pub(crate) fn resume(&self, task: Arc<T>, thread: &mut MicroThread) -> (Option<Arc<T>>, Outcome) {
        assert!(self.task.get().is_null(), "a micro-thread cannot resume another one");
        let owner: &StackOwner = (*task).as_ref();
        let id = owner.id();
        signal::set_running(owner);
        self.task.set(Arc::as_ptr(&task));
        self.handed.set(Some(task));
        let result = thread.coroutine.resume(YielderSlot(&self.yielder));
        self.task.set(ptr::null());
        signal::clear_running();
        let task = self.handed.take();
        if let Some(canary) = thread.canary {
            // SAFETY: the canary is in the coroutine's stack, which `thread`
            // still owns.
            if !unsafe { canary.intact() } {
                signal::report_canary(id);
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
        !self.task.get().is_null()
    }

    /// Calls `f` with the running micro-thread's header.
    #[inline]
    pub(crate) fn with_task<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        // SAFETY: non-null only while its micro-thread runs, during which the
        // worker's table keeps the header alive (see the field's docs).
        unsafe { self.task.get().as_ref() }.map(f)
    }

    /// A strong reference to the running micro-thread's header: the one the
    /// worker handed in, the first time (no reference-count traffic: the
    /// waiter list it goes to passes it on to the run queue, which hands it
    /// back to the worker), a new one after that.
    pub(crate) fn task(&self) -> Option<Arc<T>> {
        let ptr = self.task.get();
        if ptr.is_null() {
            return None;
        }
        if let Some(task) = self.handed.take() {
            return Some(task);
        }
        // SAFETY: `ptr` came from `Arc::as_ptr` of a header that the
        // worker's table keeps alive while its micro-thread runs, which it
        // does now; taking one more strong reference to it is therefore
        // sound.
        unsafe {
            Arc::increment_strong_count(ptr);
        }
        // SAFETY: the count was incremented above for this new `Arc`.
        Some(unsafe { Arc::from_raw(ptr) })
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
        // returns, which it cannot have done while running this code. (If the
        // micro-thread runs a coroutine of its own and parks inside it, the
        // switch saves that inner stack pointer in this yielder's parent link
        // and resumes it there, which corosensei's switch supports.)
        unsafe { (*yielder).suspend(why) };
        self.yielder.set(yielder);
        if self.capture.get() {
            self.capture_and_suspend(yielder, why);
        }
    }

    /// Resumed only for its stack (a dump, see [`Running::capture`]):
    /// captures it and suspends again, as if nothing had happened, as many
    /// times as it is asked to. Out of line: the park path stays short.
    #[cold]
    #[inline(never)]
    fn capture_and_suspend(&self, yielder: *const Yielder, why: Suspend) {
        let size = self.with_task(|task| task.as_ref().size()).unwrap_or(0);
        while self.capture.replace(false) {
            self.captured.set(Some(capture_stack(yielder, size)));
            // SAFETY: as in `suspend`: this micro-thread runs (the worker
            // resumed it), and `yielder` is its own, stored when it started.
            unsafe { (*yielder).suspend(why) };
            self.yielder.set(yielder);
        }
    }

    /// Resumes the suspended micro-thread `thread` (of `task`) only so that
    /// it captures its stack at its park point and suspends again, the same
    /// way it suspended (a parked one stays parked, and no wake-up is
    /// consumed or lost: its task's state is not touched).
    pub(crate) fn capture(&self, task: Arc<T>, thread: &mut MicroThread) -> Option<Captured> {
        self.capture.set(true);
        let (_, outcome) = self.resume(task, thread);
        debug_assert!(
            matches!(outcome, Outcome::Suspended(_)),
            "a micro-thread resumed for its stack suspends again"
        );
        self.capture.set(false);
        self.captured.take()
    }
}

/// Captures the calling micro-thread's stack, if enough of it is left.
/// `yielder` lives at the root of the micro-thread's stack, the highest
/// address in use; the guard page below the stack is at most the stack's
/// usable `size` below it.
#[inline(never)]
fn capture_stack(yielder: *const Yielder, size: usize) -> Captured {
    let here = ptr::addr_of!(yielder) as usize;
    let top = yielder as usize;
    // Parked inside a coroutine of its own, the micro-thread runs on that
    // coroutine's stack, whose room is unknown here.
    if here > top || top - here > size {
        return Captured::Elsewhere;
    }
    if size < (top - here) + CAPTURE_NEEDS {
        return Captured::TooDeep;
    }
    Captured::Stack(Arc::new(Backtrace::force_capture()))
}

#[cfg(test)]
mod tests {
    use super::InlineBody;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A body that fits is carried, called once, its captures dropped once;
    /// one dropped uncalled drops its captures; one that does not fit is
    /// given back whole. Run under Miri too: `cargo +nightly miri test -p
    /// dhaga-runtime --lib coroutine::tests`.
    #[test]
    fn inline_bodies_are_called_or_dropped_once() {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let words = [1u64, 2, 3, 4, 5, 6, 7];
        let body = InlineBody::new(move || {
            assert_eq!(words.iter().sum::<u64>(), 28);
            seen.fetch_add(1, Ordering::Relaxed);
        })
        .ok()
        .expect("eight words fit");
        assert_eq!(Arc::strong_count(&calls), 2);
        body.call();
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert_eq!(Arc::strong_count(&calls), 1, "the captures went with the call");

        let held = Arc::clone(&calls);
        let body = InlineBody::new(move || drop(held)).ok().expect("one word fits");
        assert_eq!(Arc::strong_count(&calls), 2);
        drop(body);
        assert_eq!(
            Arc::strong_count(&calls),
            1,
            "dropped uncalled, its captures are dropped"
        );

        let big = [7u8; 65];
        let held = Arc::clone(&calls);
        let too_big = move || {
            assert_eq!(big[64], 7);
            drop(held);
        };
        let given_back = InlineBody::new(too_big).err().expect("65 bytes and a word do not fit");
        given_back();
        assert_eq!(Arc::strong_count(&calls), 1);
    }
}

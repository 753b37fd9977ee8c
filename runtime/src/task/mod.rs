//! The micro-thread header: what other threads may hold of a micro-thread
//! (its identity, its wake-up state, where it lives, its join slot), and
//! the ways to wake it.
//!
//! A header names no scheduler: it holds its runtime's as a type parameter
//! `S`, and [`Task::unpark`] hands a parked micro-thread back through the
//! [`Schedule`] trait that the scheduler implements (as tokio's task does).
//! The call is static: one scheduler type, no `dyn`, nothing allocated.
//! The wake-up state itself is [`state`]'s; the park half of the protocol
//! (`park.rs`) and the worker that suspends micro-threads (`sched/`) are
//! above this module and use it.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::thread::{Thread, ThreadId};

use crate::signal::StackOwner;
use crate::spin::SpinLock;
use crate::wait::WaitReason;

mod slot;
mod state;

pub(crate) use slot::JoinSlot;
use state::State;

/// What a scheduler does for the headers of its micro-threads: makes one
/// that was parked runnable again. Implemented by the runtime's scheduler
/// (`sched/scheduler.rs`); [`Task::unpark`] calls it, statically.
pub(crate) trait Schedule: Sized {
    /// Makes `task`, which was parked and has just been unparked (its state
    /// says running), runnable on its worker: queued there, to be resumed.
    fn schedule(task: Arc<Task<Self>>);
}

/// Placeholder for `Task::worker` before the task starts.
const NOT_STARTED: usize = usize::MAX;

/// The part of a micro-thread that other threads may hold: identity, wake-up
/// state, where it lives, and its join slot. The coroutine itself stays in
/// its worker's table (it is `!Send`); `worker` and `slot` find it.
///
/// # Recycling
///
/// A header whose `Arc` is unique once its micro-thread has ended and its
/// join handle is gone is kept by a worker and reused for a later spawn
/// (see [`Task::reset`] and `sched::recycle_task`), so that spawning costs no
/// allocation. Being unique, nobody else can reach it: no `Unparker`, waiter
/// list, timer or run queue holds it, so a wake-up meant for the micro-thread
/// that ended can never reach the one that reuses the header (no ABA). Every
/// field is set afresh by `reset`.
pub(crate) struct Task<S> {
    /// Its id and name, and its stack once it starts: what an overflow
    /// report names (see `signal.rs`).
    owner: StackOwner,
    /// Where it was spawned (the caller of the spawn function), for the
    /// watchdog's and the dump's reports.
    spawned_at: Option<&'static Location<'static>>,
    /// Its wake-up token and whether it is parked (see `state.rs`).
    state: State,
    /// Index of the worker that runs the task once started; it never changes.
    worker: AtomicUsize,
    /// Index of the coroutine in that worker's table.
    slot: AtomicUsize,
    /// Set when the task must unwind at its next park: by
    /// [`JoinHandle::cancel`](crate::JoinHandle::cancel), or by shutdown. Never
    /// cleared: a micro-thread that catches the unwind is cancelled again at
    /// its next park.
    cancelled: AtomicBool,
    /// Set by the task itself when its micro-thread-locals have been
    /// destroyed (its body has returned): later accesses fail instead of
    /// creating values nobody would drop. Read and written only by the task's
    /// own thread, hence `Relaxed`.
    locals_closed: AtomicBool,
    /// Set while a thread-mode thread is parked (its `state` is not used:
    /// nothing schedules it).
    thread_parked: AtomicBool,
    /// Its runtime's scheduler, which [`Task::unpark`] hands it to.
    scheduler: S,
    /// What the micro-thread waits for in its latest park, with its number
    /// and when it parked (`sys::coarse_now_ns`), for dumps (`dump.rs`).
    /// Written by the micro-thread before it parks and read by its worker
    /// between two micro-threads: one thread, so `Relaxed`. Null until its
    /// first park; only ever null or made from a `&'static WaitReason`.
    waiting: AtomicPtr<WaitReason>,
    waiting_id: AtomicU64,
    parked_at: AtomicU64,
    /// The result, for the join handle (see `join.rs`): in the header, so
    /// that a spawn allocates one thing, or nothing when the header is
    /// recycled.
    pub(crate) join: SpinLock<JoinSlot<S>>,
}

impl<S> Task<S> {
    /// A header for micro-thread `id` of the runtime whose scheduler is
    /// `scheduler`.
    pub(crate) fn new(
        id: u64,
        name: Option<String>,
        spawned_at: Option<&'static Location<'static>>,
        scheduler: S,
    ) -> Task<S> {
        Task {
            owner: StackOwner::new(id, name.map(Arc::from)),
            spawned_at,
            state: State::new(),
            worker: AtomicUsize::new(NOT_STARTED),
            slot: AtomicUsize::new(0),
            cancelled: AtomicBool::new(false),
            locals_closed: AtomicBool::new(false),
            thread_parked: AtomicBool::new(false),
            scheduler,
            waiting: AtomicPtr::new(std::ptr::null_mut()),
            waiting_id: AtomicU64::new(0),
            parked_at: AtomicU64::new(0),
            join: SpinLock::new(JoinSlot::new()),
        }
    }

    /// Makes a recycled header as [`Task::new`] makes a new one, for a
    /// micro-thread of the same runtime: nothing of the micro-thread that
    /// used it before (name, flags, wait notes, join slot) is left. Takes
    /// `&mut`, which only a unique `Arc` gives (`sched::Kept`): nobody else
    /// can see the header change. Every field is named, so that a new field
    /// cannot be forgotten here.
    pub(crate) fn reset(&mut self, id: u64, name: Option<String>, spawned_at: Option<&'static Location<'static>>) {
        let Task {
            owner,
            spawned_at: old_spawned_at,
            state,
            worker,
            slot,
            cancelled,
            locals_closed,
            thread_parked,
            scheduler: _, // the same runtime: the header is kept by one of its workers
            waiting,
            waiting_id,
            parked_at,
            join,
        } = self;
        *owner = StackOwner::new(id, name.map(Arc::from));
        *old_spawned_at = spawned_at;
        state.reset();
        *worker.get_mut() = NOT_STARTED;
        *slot.get_mut() = 0;
        *cancelled.get_mut() = false;
        *locals_closed.get_mut() = false;
        *thread_parked.get_mut() = false;
        *waiting.get_mut() = std::ptr::null_mut();
        *waiting_id.get_mut() = 0;
        *parked_at.get_mut() = 0;
        *join.get_mut() = JoinSlot::new();
    }

    /// Its id, unique within its runtime.
    pub(crate) fn id(&self) -> u64 {
        self.owner.id()
    }

    /// Lets go of the name of a header kept for reuse, which would otherwise
    /// stay allocated until the header is reused.
    pub(crate) fn forget_name(&mut self) {
        self.owner = StackOwner::new(self.owner.id(), None);
    }

    /// Its name, if it was given one.
    pub(crate) fn name(&self) -> Option<&str> {
        self.owner.name().map(|name| &**name)
    }

    /// The name, to keep beyond the task.
    pub(crate) fn shared_name(&self) -> Option<&Arc<str>> {
        self.owner.name()
    }

    /// Where it was spawned.
    pub(crate) fn spawned_at(&self) -> Option<&'static Location<'static>> {
        self.spawned_at
    }

    /// Its runtime's scheduler.
    pub(crate) fn scheduler(&self) -> &S {
        &self.scheduler
    }

    /// Records where the task lives; called once, by that worker, before the
    /// task first runs and before any `Unparker` for it can exist.
    pub(crate) fn bind(&self, worker: usize, slot: usize) {
        self.slot.store(slot, Ordering::Relaxed);
        self.worker.store(worker, Ordering::Release);
    }

    /// Records the stack the micro-thread runs on: its guard page
    /// (address, length), if it has one, and its usable size. Called by its
    /// worker before it first resumes it.
    pub(crate) fn set_stack(&self, guard: Option<(usize, usize)>, size: usize) {
        self.owner.set_stack(guard, size);
    }

    /// The index of the worker it runs on (see [`Task::bind`]).
    pub(crate) fn worker(&self) -> usize {
        self.worker.load(Ordering::Acquire)
    }

    /// Its index in its worker's table (see [`Task::bind`]).
    pub(crate) fn slot(&self) -> usize {
        self.slot.load(Ordering::Relaxed)
    }

    /// Asks the task to unwind at its next park. Does not wake it: the caller
    /// does that (see `JoinHandle::cancel`), or resumes it itself (shutdown).
    ///
    /// The flag is stored before whatever wake-up follows, and every wake-up
    /// is an acquire/release handshake on `state` (or a queue hand-off), so a
    /// task resumed by a wake-up that came after `cancel` sees the flag.
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// Whether [`Task::cancel`] was called.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Marks the task's micro-thread-locals as destroyed (see `local.rs`).
    pub(crate) fn close_locals(&self) {
        self.locals_closed.store(true, Ordering::Relaxed);
    }

    /// Whether the task's micro-thread-locals have been destroyed.
    pub(crate) fn locals_closed(&self) -> bool {
        self.locals_closed.load(Ordering::Relaxed)
    }

    /// Marks a thread-mode thread as parked, or no longer (its `state` is
    /// not used: nothing schedules it).
    pub(crate) fn set_thread_parked(&self, parked: bool) {
        self.thread_parked.store(parked, Ordering::Release);
    }

    /// Whether the task is parked right now: a micro-thread suspended in
    /// `park`, or a thread-mode thread blocked in `park`. A snapshot.
    pub(crate) fn is_parked(&self) -> bool {
        self.state.is_parked() || self.thread_parked.load(Ordering::Acquire)
    }

    /// Records what the task is about to park for, at `now`
    /// (`sys::coarse_now_ns`; called by the task itself, on its worker).
    #[inline]
    pub(crate) fn note_wait(&self, reason: &'static WaitReason, id: u64, now: u64) {
        self.waiting
            .store(std::ptr::from_ref(reason).cast_mut(), Ordering::Relaxed);
        self.waiting_id.store(id, Ordering::Relaxed);
        self.parked_at.store(now, Ordering::Relaxed);
    }

    /// What the task waits for in its latest park, with its number, and
    /// when it parked (`sys::coarse_now_ns`). Read on the task's worker.
    pub(crate) fn waiting(&self) -> Option<(&'static WaitReason, u64, u64)> {
        let reason = self.waiting.load(Ordering::Relaxed);
        // SAFETY: `waiting` is only ever null or made from a
        // `&'static WaitReason` (see `note_wait`), valid for the rest of the
        // program.
        let reason = unsafe { reason.as_ref() }?;
        Some((
            reason,
            self.waiting_id.load(Ordering::Relaxed),
            self.parked_at.load(Ordering::Relaxed),
        ))
    }

    /// Consumes a pending token, if any (called by the task itself).
    pub(crate) fn take_token(&self) -> bool {
        self.state.take_token()
    }

    /// Called by the worker right after the task suspended to park.
    /// Returns `false` if a token arrived meanwhile, in
    /// which case the task stays runnable and the worker must requeue it.
    pub(crate) fn finish_park(&self) -> bool {
        self.state.finish_park()
    }

    /// Takes a parked task for a worker that is about to resume it without a
    /// wake-up (shutdown): afterwards it counts as running, so that a late
    /// `unpark` (a stale waiter-list entry, a `cancel` after shutdown) only
    /// sets the token of a finished task instead of queueing it on a worker
    /// that is gone.
    pub(crate) fn claim(&self) {
        self.state.claim();
    }
}

impl<S: Schedule> Task<S> {
    /// Sets the token; schedules the task if it was parked. Takes a
    /// reference so that the one a waiter list held moves on into a run
    /// queue without touching the reference count.
    pub(crate) fn unpark(self: Arc<Self>) {
        if self.state.unpark() {
            S::schedule(self);
        }
    }
}

/// What switching a micro-thread in and out needs of its header (see
/// `coroutine::Running`): the record the overflow report reads.
impl<S> AsRef<StackOwner> for Task<S> {
    fn as_ref(&self) -> &StackOwner {
        &self.owner
    }
}

/// Why a park returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Unparked, or spuriously.
    Notified,
    /// The deadline passed.
    TimedOut,
    /// The micro-thread is being cancelled and must not wait: it is already
    /// unwinding (a destructor is parking), so blocking calls fail instead;
    /// or, from `park::park_reporting_cancel` only, it has been cancelled
    /// and should unwind once it has settled its wait.
    Cancelled,
}

/// What a park does when the caller has been cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnCancel {
    /// Unwinds there (what `park::park` does).
    Unwind,
    /// Returns [`Wake::Cancelled`] (see `park::park_reporting_cancel`).
    Report,
}

/// What a cancelled micro-thread (or thread-mode thread) gets instead of
/// waiting: being cancelled, it unwinds now, with a [`Cancelled`] payload; if
/// it is unwinding already (a destructor is trying to block), the blocking
/// call fails instead, since a micro-thread suspended mid-unwind would leave
/// its worker thread "panicking" for every other micro-thread on it.
pub(crate) fn unwinding_or_cancel() -> Wake {
    if std::thread::panicking() {
        Wake::Cancelled
    } else {
        std::panic::resume_unwind(Box::new(Cancelled))
    }
}

/// The panic payload that [`JoinHandle::join`](crate::JoinHandle::join)
/// returns for a micro-thread that was cancelled: by
/// [`JoinHandle::cancel`](crate::JoinHandle::cancel), or because its runtime
/// shut down (unwound, or dropped before it started).
///
/// A join's `Err(payload)` is a cancellation if `payload.is::<Cancelled>()`,
/// and a panic otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the micro-thread was cancelled")
    }
}

impl std::error::Error for Cancelled {}

/// Wakes one parked micro-thread or OS thread.
pub(crate) enum Unparker<S> {
    /// A micro-thread (or thread-mode thread, whose header nothing
    /// schedules), by its header.
    Task(Arc<Task<S>>),
    /// An OS thread.
    Thread(Thread),
}

impl<S> Clone for Unparker<S> {
    fn clone(&self) -> Self {
        match self {
            Unparker::Task(task) => Unparker::Task(Arc::clone(task)),
            Unparker::Thread(thread) => Unparker::Thread(thread.clone()),
        }
    }
}

/// Identifies the micro-thread or OS thread an [`Unparker`] wakes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaiterId {
    /// The address of the task header: an identity, never dereferenced.
    Task(usize),
    /// The OS thread's id.
    Thread(ThreadId),
}

impl<S> Unparker<S> {
    /// Whom it wakes.
    pub(crate) fn id(&self) -> WaiterId {
        match self {
            Unparker::Task(task) => WaiterId::Task(Arc::as_ptr(task) as usize),
            Unparker::Thread(thread) => WaiterId::Thread(thread.id()),
        }
    }

    /// Whether the target is a micro-thread that has been cancelled (it
    /// unwinds, or gives up its wait, at its next park). Always false for
    /// an OS thread, thread-mode ones included: a snapshot, for skipping
    /// waiters that will not take what they are handed.
    pub(crate) fn is_cancelled(&self) -> bool {
        match self {
            Unparker::Task(task) => task.is_cancelled(),
            Unparker::Thread(_) => false,
        }
    }
}

impl<S: Schedule> Unparker<S> {
    /// Wakes the target (or makes its next park return at once).
    pub(crate) fn unpark(self) {
        match self {
            Unparker::Task(task) => task.unpark(),
            Unparker::Thread(thread) => thread.unpark(),
        }
    }
}

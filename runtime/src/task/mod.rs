//! The micro-thread header and the park/unpark protocol everything blocks on.
//!
//! `park` and `unpark` behave like `std::thread::park` and `Thread::unpark`:
//! each micro-thread has one wake-up token; `unpark` sets it (scheduling the
//! micro-thread if it is parked), `park` consumes it or suspends until it is
//! set. Wake-ups may be spurious, so every caller parks in a loop that
//! re-checks its condition. Channels, joins, timers and the reactor are all
//! built on this one primitive, and it works the same for OS threads, which
//! is what lets a micro-thread and an OS thread wait on each other.

use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::thread::{Thread, ThreadId};
use std::time::Instant;

use crate::Cancelled;
use crate::context;
use crate::coroutine::Suspend;
use crate::join::JoinSlot;
use crate::scheduler::Shared;
use crate::signal::StackOwner;
use crate::spin::SpinLock;
use crate::wait::{WaitReason, Waiting};

mod state;

use state::State;

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
/// (see [`Task::reset`] and `worker::recycle_task`), so that spawning costs no
/// allocation. Being unique, nobody else can reach it: no `Unparker`, waiter
/// list, timer or run queue holds it, so a wake-up meant for the micro-thread
/// that ended can never reach the one that reuses the header (no ABA). Every
/// field is set afresh by `reset`.
pub(crate) struct Task {
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
    shared: Arc<Shared>,
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
    pub(crate) join: SpinLock<JoinSlot>,
}

impl Task {
    pub(crate) fn new(
        id: u64,
        name: Option<String>,
        spawned_at: Option<&'static Location<'static>>,
        shared: Arc<Shared>,
    ) -> Task {
        Task {
            owner: StackOwner::new(id, name.map(Arc::from)),
            spawned_at,
            state: State::new(),
            worker: AtomicUsize::new(NOT_STARTED),
            slot: AtomicUsize::new(0),
            cancelled: AtomicBool::new(false),
            locals_closed: AtomicBool::new(false),
            thread_parked: AtomicBool::new(false),
            shared,
            waiting: AtomicPtr::new(std::ptr::null_mut()),
            waiting_id: AtomicU64::new(0),
            parked_at: AtomicU64::new(0),
            join: SpinLock::new(JoinSlot::new()),
        }
    }

    /// Makes a recycled header as [`Task::new`] makes a new one, for a
    /// micro-thread of the same runtime: nothing of the micro-thread that
    /// used it before (name, flags, wait notes, join slot) is left. Takes
    /// `&mut`, which only a unique `Arc` gives (`Arc::get_mut`): nobody else
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
            shared: _, // the same runtime: the header is kept by one of its workers
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

    /// Its name, if it was given one.
    pub(crate) fn name(&self) -> Option<&str> {
        self.owner.name().map(|name| &**name)
    }

    /// The name, to keep beyond the task.
    pub(crate) fn shared_name(&self) -> Option<&Arc<str>> {
        self.owner.name()
    }

    pub(crate) fn spawned_at(&self) -> Option<&'static Location<'static>> {
        self.spawned_at
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
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

    pub(crate) fn worker(&self) -> usize {
        self.worker.load(Ordering::Acquire)
    }

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

    /// Called by the worker right after the task suspended with
    /// [`Suspend::Park`]. Returns `false` if a token arrived meanwhile, in
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

    /// Sets the token; schedules the task if it was parked. Takes a
    /// reference so that the one a waiter list held moves on into a run
    /// queue without touching the reference count.
    pub(crate) fn unpark(self: Arc<Self>) {
        if self.state.unpark() {
            crate::scheduler::schedule(self);
        }
    }
}

/// What switching a micro-thread in and out needs of its header (see
/// `coroutine::Running`): the record the overflow report reads.
impl AsRef<StackOwner> for Task {
    fn as_ref(&self) -> &StackOwner {
        &self.owner
    }
}

/// Why `park` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Unparked, or spuriously.
    Notified,
    /// The deadline passed.
    TimedOut,
    /// The micro-thread is being cancelled and must not wait: it is already
    /// unwinding (a destructor is parking), so blocking calls fail instead;
    /// or, from [`park_reporting_cancel`] only, it has been cancelled and
    /// should unwind once it has settled its wait.
    Cancelled,
}

/// Parks the caller until unparked or until `deadline`.
///
/// Inside a micro-thread this suspends only the micro-thread; elsewhere it
/// parks the OS thread. If the micro-thread (or thread-mode thread) has been
/// cancelled, this unwinds it (or, if it is unwinding already, returns
/// [`Wake::Cancelled`]).
pub(crate) fn park(waiting: Waiting, deadline: Option<Instant>) -> Wake {
    context::with_worker(|local| match local {
        Some(local) if local.in_task() => {
            local.note_wait(waiting);
            local.park(Suspend::Park, deadline)
        }
        _ => park_thread(deadline),
    })
}

/// What a park does when the caller has been cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnCancel {
    /// Unwinds there (what [`park`] does).
    Unwind,
    /// Returns [`Wake::Cancelled`] (see [`park_reporting_cancel`]).
    Report,
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
    context::with_worker(|local| match local {
        Some(local) if local.in_task() => {
            local.note_wait(waiting);
            local.park_with(Suspend::Park, deadline, OnCancel::Report)
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
    unparker: Unparker,
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
        let (on_worker, in_task) = context::with_worker(|local| (local.is_some(), local.is_some_and(|l| l.in_task())));
        let suspends = in_task && !std::thread::panicking();
        let unparker = if suspends {
            Unparker::current()
        } else {
            Unparker::Thread(std::thread::current())
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
            unparker: Unparker::Thread(std::thread::current()),
            suspends: false,
            blocks_worker: context::with_worker(|local| local.is_some()),
        }
    }

    /// Wakes the waiter (or makes its next `park` return at once).
    pub(crate) fn unparker(&self) -> &Unparker {
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
            context::with_worker(|local| {
                let local = local.expect("an uncancellable wait suspends the micro-thread that made it");
                local.note_wait(waiting);
                local.park_uncancellable();
            });
            return;
        }
        context::with_thread_task(|task| match task {
            // A thread-mode thread shows as parked, as in `park_thread`.
            Some(task) => {
                task.thread_parked.store(true, Ordering::Release);
                std::thread::park();
                task.thread_parked.store(false, Ordering::Release);
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
    context::with_worker(|local| match local {
        Some(local) if local.in_task() => local.running().with_task(Task::is_cancelled) == Some(true),
        _ => thread_cancelled(),
    })
}

/// Whether the caller is a thread-mode thread (an OS thread started by a
/// thread-mode runtime's `spawn`) that has been cancelled.
fn thread_cancelled() -> bool {
    context::with_thread_task(|task| task.is_some_and(Task::is_cancelled))
}

/// Whether the caller is a micro-thread that cannot park because it is
/// unwinding: its parks return at once (see `Local::park_with`).
pub(crate) fn cannot_park() -> bool {
    std::thread::panicking() && context::with_worker(|local| local.is_some_and(|local| local.in_task()))
}

/// Whether the caller is a micro-thread or thread-mode thread whose runtime
/// shuts down.
pub(crate) fn shutting_down() -> bool {
    context::with_worker(|local| match local {
        Some(local) if local.in_task() => local.shared().is_shutdown(),
        _ => context::with_thread_task(|task| task.is_some_and(|task| task.shared().is_shutdown())),
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

/// Parks an OS thread. A thread-mode thread is a cancellation point here, as
/// a micro-thread is in `Local::park`: checked before parking, and again
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
            task.thread_parked.store(true, Ordering::Release);
            let wake = park_thread_until(deadline);
            task.thread_parked.store(false, Ordering::Release);
            wake
        }
        None => park_thread_until(deadline),
    });
    if thread_cancelled() {
        return cancelled_here();
    }
    wake
}

fn park_thread_until(deadline: Option<Instant>) -> Wake {
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

/// Wakes one parked micro-thread or OS thread.
#[derive(Clone)]
pub(crate) enum Unparker {
    Task(Arc<Task>),
    Thread(Thread),
}

/// Identifies the micro-thread or OS thread an [`Unparker`] wakes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaiterId {
    /// The address of the task header: an identity, never dereferenced.
    Task(usize),
    Thread(ThreadId),
}

impl Unparker {
    /// The unparker of the caller.
    pub(crate) fn current() -> Unparker {
        match context::with_worker(|local| local.and_then(|local| local.current_task())) {
            Some(task) => Unparker::Task(task),
            None => Unparker::Thread(std::thread::current()),
        }
    }

    pub(crate) fn id(&self) -> WaiterId {
        match self {
            Unparker::Task(task) => WaiterId::Task(Arc::as_ptr(task) as usize),
            Unparker::Thread(thread) => WaiterId::Thread(thread.id()),
        }
    }

    pub(crate) fn unpark(self) {
        match self {
            Unparker::Task(task) => task.unpark(),
            Unparker::Thread(thread) => thread.unpark(),
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

//! The micro-thread header and the park/unpark protocol everything blocks on.
//!
//! `park` and `unpark` behave like `std::thread::park` and `Thread::unpark`:
//! each micro-thread has one wake-up token; `unpark` sets it (scheduling the
//! micro-thread if it is parked), `park` consumes it or suspends until it is
//! set. Wake-ups may be spurious, so every caller parks in a loop that
//! re-checks its condition. Channels, joins, timers and the reactor are all
//! built on this one primitive, and it works the same for OS threads, which
//! is what lets a micro-thread and an OS thread wait on each other.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::thread::{Thread, ThreadId};
use std::time::Instant;

use crate::context;
use crate::coroutine::Suspend;
use crate::scheduler::Shared;

/// Running or queued, no token.
const RUNNING: u8 = 0;
/// Running or queued, with a wake-up token that the next `park` consumes.
const NOTIFIED: u8 = 1;
/// Suspended in `park`, in no queue: the next `unpark` schedules it.
const PARKED: u8 = 2;

/// Placeholder for `Task::worker` before the task starts.
const NOT_STARTED: usize = usize::MAX;

/// The part of a micro-thread that other threads may hold: identity, wake-up
/// state and where it lives. The coroutine itself stays in its worker's table
/// (it is `!Send`); `worker` and `slot` find it.
pub(crate) struct Task {
    id: u64,
    name: Option<Box<str>>,
    state: AtomicU8,
    /// Index of the worker that runs the task once started; it never changes.
    worker: AtomicUsize,
    /// Index of the coroutine in that worker's table.
    slot: AtomicUsize,
    /// Set when the task must unwind at its next park (shutdown).
    cancelled: AtomicBool,
    shared: Arc<Shared>,
    /// Its stack's guard page (address, length) and usable size, for the
    /// overflow report; zero for thread-mode threads.
    pub(crate) stack_guard: (usize, usize),
    pub(crate) stack_size: usize,
}

impl Task {
    pub(crate) fn new(id: u64, name: Option<Box<str>>, shared: Arc<Shared>) -> Task {
        Task {
            stack_guard: (0, 0),
            stack_size: 0,
            id,
            name,
            state: AtomicU8::new(RUNNING),
            worker: AtomicUsize::new(NOT_STARTED),
            slot: AtomicUsize::new(0),
            cancelled: AtomicBool::new(false),
            shared,
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
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

    pub(crate) fn worker(&self) -> usize {
        self.worker.load(Ordering::Acquire)
    }

    pub(crate) fn slot(&self) -> usize {
        self.slot.load(Ordering::Relaxed)
    }

    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Consumes a pending token, if any (called by the task itself).
    pub(crate) fn take_token(&self) -> bool {
        // A plain load first: the common case (no token) costs no atomic
        // read-modify-write.
        self.state.load(Ordering::Relaxed) == NOTIFIED
            && self
                .state
                .compare_exchange(NOTIFIED, RUNNING, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    /// Called by the worker right after the task suspended with
    /// [`Suspend::Park`]. Returns `false` if a token arrived meanwhile, in
    /// which case the task stays runnable and the worker must requeue it.
    pub(crate) fn finish_park(&self) -> bool {
        match self
            .state
            .compare_exchange(RUNNING, PARKED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(_) => {
                // NOTIFIED: the token is consumed by the wake-up itself.
                self.state.store(RUNNING, Ordering::Relaxed);
                false
            }
        }
    }

    /// Sets the token; schedules the task if it was parked. Takes a
    /// reference so that the one a waiter list held moves on into a run
    /// queue without touching the reference count.
    pub(crate) fn unpark(self: Arc<Self>) {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let next = match state {
                RUNNING => NOTIFIED,
                PARKED => RUNNING,
                _ => return, // NOTIFIED already
            };
            match self
                .state
                .compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) if state == PARKED => return crate::scheduler::schedule(self),
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
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
    /// unwinding (a destructor is parking), so blocking calls fail instead.
    Cancelled,
}

/// Parks the caller until unparked or until `deadline`.
///
/// Inside a micro-thread this suspends only the micro-thread; elsewhere it
/// parks the OS thread. If the micro-thread has been cancelled, this unwinds
/// it (or, if it is unwinding already, returns [`Wake::Cancelled`]).
pub(crate) fn park(deadline: Option<Instant>) -> Wake {
    context::with_worker(|local| match local {
        Some(local) if local.in_task() => local.park(Suspend::Park, deadline),
        _ => park_thread(deadline),
    })
}

fn park_thread(deadline: Option<Instant>) -> Wake {
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
}

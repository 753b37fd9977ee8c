//! What a worker shows of itself to other threads: the micro-thread it runs
//! now ([`OnCpu`], for the stall watchdog and for dumps), and its answers to
//! dumps ([`Mailbox`]).
//!
//! A worker's micro-threads live in its own table, which only its thread
//! touches, and a parked micro-thread's stack can be walked soundly only by
//! code running on that stack. So a dump does not read the workers: it
//! leaves a [`Request`] in each worker's mailbox and wakes it, and each
//! worker answers between two micro-threads with a [`ThreadRecord`] per
//! micro-thread (see `dump.rs`, which makes the report).

use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::{Task, Unparker};
use crate::coroutine::Captured;
use crate::spin::SpinLock;
use crate::sys;
use crate::wait::WaitReason;

/// What one worker runs now, published for the watchdog and for dumps.
///
/// A sequence lock written only by its worker: `seq` is odd while a
/// micro-thread runs and even between two, and the fields describe the
/// micro-thread of the odd `seq` they were written for.
#[derive(Default)]
pub(crate) struct OnCpu {
    seq: AtomicU64,
    task: AtomicU64,
    /// Null, or a `&'static Location<'static>`: never anything else.
    spawned_at: AtomicPtr<Location<'static>>,
    /// The name of the last named micro-thread resumed, with its `seq`
    /// (names are rarer than resumes, and only they take this lock).
    name: SpinLock<(u64, Option<Arc<str>>)>,
}

impl OnCpu {
    /// The worker is about to resume `task`.
    #[inline]
    pub(crate) fn enter(&self, task: &Task) {
        let seq = self.seq.load(Ordering::Relaxed) + 1;
        debug_assert!(seq % 2 == 1, "a worker resumes one micro-thread at a time");
        // Pairs with the reader's acquire fence: a reader that sees any of
        // the stores below sees the even `seq` stored by `leave` before
        // them, so it cannot take them for the previous micro-thread's.
        fence(Ordering::Release);
        self.task.store(task.id(), Ordering::Relaxed);
        let spawned_at = task
            .spawned_at()
            .map_or(std::ptr::null_mut(), |at| std::ptr::from_ref(at).cast_mut());
        self.spawned_at.store(spawned_at, Ordering::Relaxed);
        if let Some(name) = task.shared_name() {
            *self.name.lock() = (seq, Some(Arc::clone(name)));
        }
        self.seq.store(seq, Ordering::Release);
    }

    /// The micro-thread resumed last has suspended or ended.
    #[inline]
    pub(crate) fn leave(&self) {
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq + 1, Ordering::Relaxed);
    }

    /// A number that changes every time the worker resumes a micro-thread
    /// or gets one back; odd while one runs.
    pub(crate) fn seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// The micro-thread running now, if one is.
    pub(crate) fn running_now(&self) -> Option<OnCpuNow> {
        let seq = self.seq();
        if seq % 2 == 1 { self.running(seq) } else { None }
    }

    /// The micro-thread running as `seq` (read with [`OnCpu::seq`]), if it
    /// still is.
    pub(crate) fn running(&self, seq: u64) -> Option<OnCpuNow> {
        let task = self.task.load(Ordering::Relaxed);
        let spawned_at = self.spawned_at.load(Ordering::Relaxed);
        let name = {
            let slot = self.name.lock();
            (slot.0 == seq).then(|| slot.1.clone()).flatten()
        };
        fence(Ordering::Acquire);
        if self.seq.load(Ordering::Relaxed) != seq {
            return None;
        }
        // SAFETY: `spawned_at` only ever holds null or a pointer made from a
        // `&'static Location<'static>` (see `enter`), which is valid for
        // reads for the rest of the program.
        let spawned_at = unsafe { spawned_at.as_ref() };
        Some(OnCpuNow { task, name, spawned_at })
    }
}

/// A micro-thread found running on a worker.
pub(crate) struct OnCpuNow {
    /// Its id.
    pub(crate) task: u64,
    /// Its name, if it has one.
    pub(crate) name: Option<Arc<str>>,
    /// Where it was spawned.
    pub(crate) spawned_at: Option<&'static Location<'static>>,
}

/// One micro-thread as its worker describes it for a dump (see
/// [`describe`]).
#[derive(Clone)]
pub(crate) struct ThreadRecord {
    /// Its id.
    pub(crate) id: u64,
    /// Its name, if it has one.
    pub(crate) name: Option<Arc<str>>,
    /// The worker it runs on.
    pub(crate) worker: usize,
    /// Parked; else ready (its worker runs none while it answers).
    pub(crate) parked: bool,
    /// If parked: what it noted it waits for (a reason and its number), and
    /// for how long it has, to a few milliseconds.
    pub(crate) waiting: Option<(&'static WaitReason, u64, Duration)>,
    /// Where it was spawned.
    pub(crate) spawned_at: Option<&'static Location<'static>>,
    /// Its stack, if the dump asked for stacks.
    pub(crate) stack: Option<Captured>,
}

/// A worker's part of a dump.
#[derive(Clone)]
pub(crate) struct WorkerAnswer {
    /// Its micro-threads.
    pub(crate) threads: Vec<ThreadRecord>,
    /// Micro-threads placed on it that have not started.
    pub(crate) not_started: usize,
}

/// One dump's request to the workers, and their answers.
pub(crate) struct Request {
    /// Whether to capture the micro-threads' stacks.
    pub(crate) stacks: bool,
    answers: Mutex<Vec<Option<WorkerAnswer>>>,
    remaining: AtomicUsize,
    caller: Unparker,
}

/// A worker's mailbox for dump requests.
#[derive(Default)]
pub(crate) struct Mailbox {
    wanted: AtomicBool,
    requests: SpinLock<Vec<Arc<Request>>>,
}

impl Mailbox {
    /// Leaves `request` for the worker. The caller then wakes the worker,
    /// after a `SeqCst` fence that pairs with the one in `Worker::sleep`:
    /// either the worker sees the request before it sleeps, or the caller
    /// sees it asleep.
    pub(crate) fn post(&self, request: Arc<Request>) {
        self.requests.lock().push(request);
        self.wanted.store(true, Ordering::Release);
    }

    /// Whether a dump waits for this worker's answer (read by the worker
    /// at its maintenance rounds and before it sleeps).
    #[inline]
    pub(crate) fn is_wanted(&self) -> bool {
        self.wanted.load(Ordering::Relaxed)
    }

    /// The requests to answer, taken.
    pub(crate) fn take(&self) -> Vec<Arc<Request>> {
        if !self.wanted.swap(false, Ordering::Acquire) {
            return Vec::new();
        }
        std::mem::take(&mut *self.requests.lock())
    }
}

impl Request {
    /// A request to `workers` workers, for `caller`, who waits for their
    /// answers; with the micro-threads' stacks if `stacks`.
    pub(crate) fn new(stacks: bool, workers: usize, caller: Unparker) -> Request {
        Request {
            stacks,
            answers: Mutex::new((0..workers).map(|_| None).collect()),
            remaining: AtomicUsize::new(workers),
            caller,
        }
    }

    /// Gives worker `index`'s answer.
    pub(crate) fn answer(&self, index: usize, answer: WorkerAnswer) {
        // A late answer finds the answers taken (an empty list): the dump
        // went on without it.
        if let Some(slot) = self
            .answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(index)
        {
            *slot = Some(answer);
        }
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.caller.clone().unpark();
        }
    }

    /// How many workers have not answered yet.
    pub(crate) fn remaining(&self) -> usize {
        self.remaining.load(Ordering::Acquire)
    }

    /// The answers given so far, by worker; a later answer is dropped.
    pub(crate) fn take_answers(&self) -> Vec<Option<WorkerAnswer>> {
        std::mem::take(&mut *self.answers.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// What a worker knows of one of its micro-threads, between two of them,
/// with the stack it captured (see `Running::capture`).
pub(crate) fn describe(task: &Task, worker: usize, stack: Option<Captured>) -> ThreadRecord {
    let parked = task.is_parked();
    let now = sys::coarse_now_ns();
    ThreadRecord {
        id: task.id(),
        name: task.shared_name().cloned(),
        worker,
        parked,
        waiting: task
            .waiting()
            .filter(|_| parked)
            .map(|(reason, number, at)| (reason, number, Duration::from_nanos(now.saturating_sub(at)))),
        spawned_at: task.spawned_at(),
        stack,
    }
}

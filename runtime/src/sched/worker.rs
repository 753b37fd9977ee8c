//! A worker: one OS thread running micro-threads.
//!
//! The loop takes the next runnable micro-thread and resumes it until it
//! parks, yields or ends. Runnable micro-threads come, in order, from:
//!
//! 1. the LIFO slot: the micro-thread just woken by the one that ran last
//!    (message-passing locality; taken at most [`LIFO_STREAK`] times in a row
//!    so that the rest of the queue is not starved),
//! 2. the local ready queue (wake-ups from this thread: timers, I/O, yields),
//! 3. the inbox (wake-ups from other threads),
//! 4. the fresh queue (micro-threads spawned here, not started yet),
//! 5. the runtime's injector (spawned from outside),
//!
//! and every [`MAINTENANCE_INTERVAL`] micro-threads the worker fires due
//! timers, polls for I/O, and moves the inbox and new micro-threads forward,
//! so none of them waits behind a busy local queue.
//!
//! With nothing to run the worker *searches*: it steals not-yet-started
//! micro-threads from the injector and other workers, spinning briefly.
//! Then, if its work has lately come back within microseconds, it *spins*
//! for about that long, polling its reactor without blocking (one worker
//! of the runtime at a time; see `Worker::spin`), and then sleeps in its
//! poller until I/O, a timer, or a wake-up.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{Ordering, fence};
use std::time::{Duration, Instant};

use slab::Slab;

use super::context;
use super::counters::Counters;
use super::headers::{HEADER_BATCH, Kept, LOCAL_HEADERS};
use super::inspect::{self, WorkerAnswer};
use super::reactor::Reactor;
use super::scheduler::Task;
use super::scheduler::{Pending, Shared, WorkerShared};
use super::timer::Timers;
use crate::coroutine::{MicroThread, Outcome, Running, Suspend};
use crate::signal;
use crate::stack::Stack;
use crate::sys;
use crate::task::{OnCancel, Wake, unwinding_or_cancel};
use crate::wait::Waiting;

/// How many times in a row the LIFO slot may be preferred.
const LIFO_STREAK: u32 = 3;

/// Every this many scheduling decisions, timers, I/O and remote queues are
/// looked at even when the local queue is busy.
const MAINTENANCE_INTERVAL: u32 = 61;

/// The least time between two non-blocking I/O polls of a busy worker (a
/// poll costs several system calls).
const IO_POLL_INTERVAL: Duration = Duration::from_micros(100);

/// Search rounds before a worker without work goes to sleep: a few
/// microseconds. Spinning longer makes hand-offs between workers faster but
/// takes the CPU from other processes on the machine, such as the clients of
/// a server sharing its cores (measured: about a fifth of the CPU of an
/// echo server under load went to spinning at 32 rounds).
const SEARCH_ROUNDS: u32 = 4;

/// The longest a worker without work spins, looking at its poller and its
/// queues, before it sleeps (see [`Worker::spin`]).
///
/// It must be well above the gaps of a ping-pong plus what a sleep adds to
/// them. Close to them, one side's sleep delays its answer, which pushes
/// the other side's gap past the ceiling, so that side sleeps too, and so
/// on. Measured on a 2-CPU virtual machine with two mq peers exchanging
/// 64-byte messages over TCP (`compare_mq`'s latency): at 25 µs each side
/// slept at a third of the round trips, which took 31 µs; at 50 µs neither
/// slept, a round trip took 12 µs (so a sleep had added about 30 µs), and
/// each side used a sixth less CPU per round trip, the wake-ups having cost
/// more than the spin.
const MAX_SPIN: Duration = Duration::from_micros(50);

/// Spins shorter than this are not worth starting: the spin limit drops to
/// zero below it.
const MIN_SPIN: Duration = Duration::from_micros(1);

/// How long a worker must have made no progress before idle workers take
/// the micro-threads placed on it that have not started.
const STEAL_AFTER: Duration = Duration::from_millis(2);

/// Spin-loop hints between two search rounds.
const SPINS_PER_ROUND: u32 = 64;

/// Something a worker can run.
enum Runnable {
    /// A started micro-thread of this worker.
    Resume(Arc<Task>),
    /// A micro-thread that has not started yet.
    Start(Pending),
}

/// A started micro-thread in the worker's table.
struct Entry {
    task: Arc<Task>,
    thread: MicroThread,
}

/// The worker's own state, touched only by its thread.
pub(crate) struct Worker {
    index: usize,
    shared: Arc<Shared>,
    running: Running<Task>,
    lifo: Cell<Option<Arc<Task>>>,
    lifo_streak: Cell<u32>,
    ready: RefCell<VecDeque<Arc<Task>>>,
    threads: RefCell<Slab<Entry>>,
    timers: RefCell<Timers>,
    /// Free stacks of the default size, warmest (freed last) at the back.
    stacks: RefCell<VecDeque<Stack>>,
    /// Headers of ended micro-threads that nobody else holds, for reuse
    /// (see `recycle_task` and `headers.rs`), warmest (freed last) at the
    /// back.
    tasks: RefCell<Vec<Kept>>,
    reactor: Reactor,
    tick: Cell<u32>,
    last_io_poll: Cell<Instant>,
    /// `sys::coarse_now_ns` at the last maintenance round or wake-up, for
    /// stamping parks (see `note_wait`).
    clock: Cell<u64>,
    /// How long to spin before sleeping, in nanoseconds (see `Worker::spin`).
    spin_limit: Cell<u64>,
    /// Micro-thread ids reserved for spawns on this worker: next, end.
    ids: Cell<(u64, u64)>,
    /// Per worker: its progress counter when last looked at, and since when.
    observed: RefCell<Vec<(u64, Instant)>>,
    /// This worker's view of every worker's load, for placing spawns, and
    /// how many more placements it serves before it is read again.
    loads: RefCell<(Vec<usize>, u32)>,
}

/// Placements a worker makes from its cached view of the other workers'
/// loads before reading them again: reading them means cache misses on lines
/// their owners keep writing.
const LOAD_REFRESH: u32 = 32;

/// How many micro-thread ids a worker reserves at a time, so that spawning
/// does not touch a counter shared by all workers.
const ID_BLOCK: u64 = 1024;

/// Runs worker `index` of `shared` on the calling thread until shutdown.
pub(crate) fn run(shared: Arc<Shared>, index: usize) {
    let _altstack = signal::AltStack::install()
        .map_err(|e| {
            log::warn!(
                target: "dhaga",
                "worker {index} has no alternate signal stack (a stack overflow will not be reported): {e}"
            );
        })
        .ok();
    let worker = Worker {
        index,
        shared,
        running: Running::default(),
        lifo: Cell::new(None),
        lifo_streak: Cell::new(0),
        ready: RefCell::new(VecDeque::new()),
        threads: RefCell::new(Slab::default()),
        timers: RefCell::new(Timers::default()),
        stacks: RefCell::new(VecDeque::new()),
        tasks: RefCell::new(Vec::new()),
        reactor: Reactor::default(),
        tick: Cell::new(0),
        last_io_poll: Cell::new(Instant::now()),
        clock: Cell::new(sys::coarse_now_ns()),
        spin_limit: Cell::new(0),
        ids: Cell::new((0, 0)),
        observed: RefCell::new(Vec::new()),
        loads: RefCell::new((Vec::new(), 0)),
    };
    // A panic in the loop itself (not in a micro-thread: those are caught
    // where they start) would leave micro-threads holding `&Worker` while it
    // is torn down; there is no recovering a worker, so abort.
    let _abort = AbortOnUnwind(index);
    let guard = context::enter_worker(&worker);
    while !worker.shared.is_shutdown() {
        match worker.next_runnable() {
            Some(runnable) => worker.run(runnable),
            None => worker.idle(),
        }
    }
    worker.shutdown();
    drop(guard);
}

/// The spin limit after an idle period of `gap` (see `Worker::learn_spin`),
/// in nanoseconds.
fn next_spin_limit(limit: u64, gap: Duration, spin_found: bool) -> u64 {
    let gap = u64::try_from(gap.as_nanos()).unwrap_or(u64::MAX);
    let max = u64::try_from(MAX_SPIN.as_nanos()).expect("MAX_SPIN fits");
    let next = if spin_found || gap < max {
        limit.max(gap.saturating_mul(2)).min(max)
    } else {
        limit / 2
    };
    if u128::from(next) < MIN_SPIN.as_nanos() {
        0
    } else {
        next
    }
}

/// Lets go of a reference to a header; if it is the last one and the
/// caller is a worker of the header's runtime, the worker keeps the header
/// for a later spawn instead of freeing it (see "Recycling" on [`Task`]).
///
/// Sound because `Arc::get_mut` succeeds only when this is the one strong
/// reference and there is no weak one: nothing else (an `Unparker`, a
/// waiter list, a timer, a run queue, the worker's table) can reach the
/// header, now or later, so reusing it cannot hand a stale wake-up to the
/// micro-thread that reuses it.
pub(crate) fn recycle_task(task: Arc<Task>) {
    // A plain load first: while someone else holds it (the worker's own
    // reference at a micro-thread's end, usually, with the handle still
    // held), `Kept::new`'s compare-and-swap would take the header's cache
    // line from the other holder's CPU only to fail.
    if Arc::strong_count(&task) != 1 {
        return; // someone else holds it: dropped by the last of them
    }
    context::with_worker(|worker| match worker {
        Some(worker) if worker.belongs_to(task.scheduler()) => {
            if let Some(kept) = Kept::new(task) {
                worker.keep_task(kept);
            }
        }
        _ => drop(task),
    });
}

/// Aborts the process if dropped while its worker thread unwinds.
struct AbortOnUnwind(usize);

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("dhaga: worker {} panicked outside any micro-thread; aborting", self.0);
            std::process::abort();
        }
    }
}

impl Worker {
    /// Its index among its runtime's workers.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// Its runtime's scheduler.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Its half of the reactor.
    pub(crate) fn reactor(&self) -> &Reactor {
        &self.reactor
    }

    /// The micro-thread it runs now, if any.
    pub(crate) fn running(&self) -> &Running<Task> {
        &self.running
    }

    /// This worker's counters (see `metrics.rs`).
    pub(crate) fn counters(&self) -> &Counters {
        &self.me().counters
    }

    /// The part of this worker that other threads reach.
    pub(crate) fn me(&self) -> &WorkerShared {
        &self.shared.workers[self.index]
    }

    /// Whether this worker belongs to the runtime `shared`.
    pub(crate) fn belongs_to(&self, shared: &Shared) -> bool {
        std::ptr::eq(Arc::as_ptr(&self.shared), shared)
    }

    /// Whether a micro-thread is running (the caller is inside it).
    #[inline]
    pub(crate) fn in_task(&self) -> bool {
        self.running.is_active()
    }

    /// The running micro-thread's task.
    pub(crate) fn current_task(&self) -> Option<Arc<Task>> {
        self.running.task()
    }

    /// An id for a micro-thread spawned here.
    pub(crate) fn next_task_id(&self) -> u64 {
        let (mut next, mut end) = self.ids.get();
        if next == end {
            next = self.shared.next_ids(ID_BLOCK);
            end = next + ID_BLOCK;
        }
        self.ids.set((next + 1, end));
        next
    }

    /// A stack for a new micro-thread, from this worker's cache if possible.
    pub(crate) fn take_stack(&self, size: Option<usize>) -> io::Result<Stack> {
        let mut cache = self.stacks.borrow_mut();
        let stack = self.shared.stacks.get(Some(&mut cache), size);
        self.counters().stacks_cached.set(cache.len() as u64);
        stack
    }

    /// A header kept for reuse, if there is one, for the caller to
    /// `Task::reset` (through `Kept::header_mut`). Refilled from the
    /// runtime's shared store when this worker has none left.
    pub(crate) fn take_task(&self) -> Option<Kept> {
        let mut tasks = self.tasks.borrow_mut();
        if tasks.is_empty() {
            self.shared.headers.take(&mut *tasks, HEADER_BATCH);
        }
        tasks.pop()
    }

    /// Keeps `task`, a header of this runtime that nobody else holds, for
    /// reuse. Kept by the worker, or by the runtime's shared store once the
    /// worker holds [`LOCAL_HEADERS`] (at most as many as its runtime keeps
    /// free stacks: a header is a few hundred bytes, a stack at least a
    /// page).
    fn keep_task(&self, task: Kept) {
        let local_cap = self.shared.config.stack_pool.min(LOCAL_HEADERS);
        if local_cap == 0 {
            return; // the runtime keeps nothing for reuse
        }
        let mut tasks = self.tasks.borrow_mut();
        // Full: the coldest ones (a batch, or all of a smaller store) go to
        // the shared store, which leaves room for `task`. (A refill from the
        // store brings at most a batch, and never more than `local_cap`: the
        // store holds at most `stack_pool` headers.)
        let freed = if tasks.len() >= local_cap {
            let spill = HEADER_BATCH.min(tasks.len());
            self.shared.headers.give(tasks.drain(..spill))
        } else {
            Vec::new()
        };
        tasks.push(task);
        drop(tasks);
        drop(freed); // freed outside the borrow
    }

    /// Places a micro-thread spawned here on the least-loaded worker
    /// (counting live micro-threads, started or waiting), staying here unless
    /// another worker has at least two fewer: a pair that talks to each other
    /// keeps its locality, while many long-lived micro-threads (connections)
    /// spread evenly, which matters because they never move once started.
    /// Gives the micro-thread back if the chosen queue is full.
    pub(crate) fn place(&self, pending: Pending, colocate: bool) -> Option<Pending> {
        let target = if colocate { self.index } else { self.choose_worker() };
        if target == self.index {
            let overflow = self.push_fresh(pending);
            // If this worker stays busy (a long-running micro-thread), an
            // idle worker must be awake to notice the stall and take it. (An
            // overflow goes to the injector, whose push notifies.)
            if overflow.is_none() {
                self.shared.notify_work();
            }
            overflow
        } else {
            self.shared.workers[target].push_fresh_remote(pending)
        }
    }

    fn choose_worker(&self) -> usize {
        let workers = &self.shared.workers;
        let n = workers.len();
        if n == 1 {
            return self.index;
        }
        let mut view = self.loads.borrow_mut();
        let (loads, countdown) = &mut *view;
        if *countdown == 0 || loads.len() != n {
            loads.clear();
            loads.extend(workers.iter().map(WorkerShared::load));
            *countdown = LOAD_REFRESH;
        }
        *countdown -= 1;
        let mine = workers[self.index].load();
        loads[self.index] = mine;
        // Scan from a rotating start so that ties spread.
        let start = self.tick.get() as usize;
        let best = (0..n)
            .map(|i| (start + i) % n)
            .min_by_key(|&i| loads[i])
            .expect("at least one worker");
        let target = if mine <= loads[best] + 1 { self.index } else { best };
        loads[target] += 1;
        target
    }

    /// Queues a new micro-thread here; gives it back if the queue is full.
    pub(crate) fn push_fresh(&self, pending: Pending) -> Option<Pending> {
        self.me().push_fresh(pending).err()
    }

    /// Makes `task`, one of ours, runnable. A micro-thread woken by the one
    /// running goes into the LIFO slot, to run next.
    pub(crate) fn schedule_local(&self, task: Arc<Task>) {
        self.counters().local_wakeups.add(1);
        if self.running.is_active() {
            if let Some(previous) = self.lifo.replace(Some(task)) {
                self.ready.borrow_mut().push_back(previous);
            }
        } else {
            self.ready.borrow_mut().push_back(task);
        }
    }

    /// Parks or yields the running micro-thread (see `park::park`).
    ///
    /// Both are cancellation points: a cancelled micro-thread unwinds here,
    /// before suspending and again after (a cancel wakes it).
    pub(crate) fn park(&self, why: Suspend, deadline: Option<Instant>) -> Wake {
        self.park_with(why, deadline, OnCancel::Unwind)
    }

    /// Notes what the running micro-thread is about to park for, for dumps
    /// (see `dump.rs`). Apart from `park_with`, whose arguments then all
    /// fit in registers: a call to it stays a tail call, which keeps the
    /// return predictions of the switch to the worker and back intact (an
    /// argument on the stack cost a yield 20 ns here).
    ///
    /// The time noted is the worker's clock, read at its maintenance rounds
    /// and when it wakes: a dump says how long a micro-thread has been
    /// parked to a few milliseconds, and a park reads no clock.
    #[inline]
    pub(crate) fn note_wait(&self, waiting: Waiting) {
        let now = self.clock.get();
        self.running
            .with_task(|task| task.note_wait(waiting.reason, waiting.number, now));
    }

    /// [`Worker::park`], where a cancelled micro-thread either unwinds or,
    /// with [`OnCancel::Report`], returns [`Wake::Cancelled`] (see
    /// `park::park_reporting_cancel`).
    pub(crate) fn park_with(&self, why: Suspend, deadline: Option<Instant>, on_cancel: OnCancel) -> Wake {
        let cancelled_here = || match on_cancel {
            OnCancel::Unwind => unwinding_or_cancel(),
            OnCancel::Report => Wake::Cancelled,
        };
        let (cancelled, notified) = self
            .running
            .with_task(|task| {
                // The token first: if it was set by a `cancel`, taking it
                // (an acquire) makes the flag stored before it visible.
                let notified = why == Suspend::Park && task.take_token();
                (task.is_cancelled(), notified)
            })
            .expect("park is called from a micro-thread");
        if cancelled || std::thread::panicking() {
            return cancelled_here();
        }
        if notified {
            return Wake::Notified;
        }
        let timer = match deadline {
            Some(deadline) => {
                if deadline <= Instant::now() {
                    return Wake::TimedOut;
                }
                let task = self.current_task().expect("park is called from a micro-thread");
                Some(self.timers.borrow_mut().insert(deadline, task))
            }
            None => None,
        };
        self.running.suspend(why);
        let fired = timer.is_some_and(|key| !self.timers.borrow_mut().remove(key));
        if self.running.with_task(|task| task.is_cancelled()) == Some(true) {
            return cancelled_here();
        }
        if fired { Wake::TimedOut } else { Wake::Notified }
    }

    /// Parks the running micro-thread until its token is set, like `park`
    /// without a deadline, but not as a cancellation point: see
    /// [`UncancellableWait`](crate::task::UncancellableWait).
    ///
    /// # Panics
    ///
    /// If the micro-thread is unwinding: suspended mid-unwind, it would
    /// leave its worker thread "panicking" for every other micro-thread.
    pub(crate) fn park_uncancellable(&self) {
        assert!(
            !std::thread::panicking(),
            "dhaga: a micro-thread that is unwinding cannot park"
        );
        let notified = self
            .running
            .with_task(Task::take_token)
            .expect("park is called from a micro-thread");
        if !notified {
            self.running.suspend(Suspend::Park);
        }
    }

    fn next_runnable(&self) -> Option<Runnable> {
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        if tick.is_multiple_of(MAINTENANCE_INTERVAL)
            && let Some(runnable) = self.maintenance()
        {
            return Some(runnable);
        }
        if let Some(task) = self.lifo.take() {
            let streak = self.lifo_streak.get();
            if streak < LIFO_STREAK {
                self.lifo_streak.set(streak + 1);
                return Some(Runnable::Resume(task));
            }
            self.ready.borrow_mut().push_back(task);
        }
        self.lifo_streak.set(0);
        if let Some(task) = self.ready.borrow_mut().pop_front() {
            return Some(Runnable::Resume(task));
        }
        let me = self.me();
        // Looks before it pops: `SegQueue::pop` makes a `SeqCst` fence
        // before it finds the queue empty, which it is at most turns. A
        // wake-up pushed just after the look is found at the next turn (or
        // by the checks before sleeping).
        if !me.inbox.is_empty()
            && let Some(task) = me.inbox.pop()
        {
            me.counters.remote_wakeups.add(1);
            return Some(Runnable::Resume(task));
        }
        me.fresh
            .pop()
            .or_else(|| self.shared.injector.pop())
            .map(Runnable::Start)
    }

    /// Periodic work of a busy worker.
    fn maintenance(&self) -> Option<Runnable> {
        self.clock.set(sys::coarse_now_ns());
        if self.me().dump.is_wanted() {
            self.answer_dumps();
        }
        let now = Instant::now();
        self.fire_timers(now);
        {
            let mut ready = self.ready.borrow_mut();
            let counters = self.counters();
            while let Some(task) = self.me().inbox.pop() {
                counters.remote_wakeups.add(1);
                ready.push_back(task);
            }
            counters.ready_depth.set(ready.len() as u64);
        }
        if !self.reactor.is_idle() && now - self.last_io_poll.get() >= IO_POLL_INTERVAL {
            self.last_io_poll.set(now);
            self.reactor.poll(self, Some(Duration::ZERO));
        }
        self.shared
            .injector
            .pop()
            .or_else(|| self.me().fresh.pop())
            .map(Runnable::Start)
    }

    /// Unparks the micro-threads whose deadline passed. Returns whether any.
    fn fire_timers(&self, now: Instant) -> bool {
        let mut fired = false;
        loop {
            // Release the borrow before unparking.
            let due = self.timers.borrow_mut().pop_due(now);
            match due {
                Some(task) => {
                    fired = true;
                    task.unpark();
                }
                None => return fired,
            }
        }
    }

    fn run(&self, runnable: Runnable) {
        match runnable {
            Runnable::Start(Pending { task, thread }) => {
                let thread = thread.start(|reserved| {
                    let mut cache = self.stacks.borrow_mut();
                    self.shared.stacks.warmer(&mut cache, reserved)
                });
                task.set_stack(thread.stack_guard, thread.stack_size);
                let slot = {
                    let mut threads = self.threads.borrow_mut();
                    let slot = threads.insert(Entry {
                        task: Arc::clone(&task),
                        thread,
                    });
                    self.me().started.store(threads.len(), Ordering::Relaxed);
                    self.counters().started.add(1);
                    slot
                };
                task.bind(self.index, slot);
                self.resume(task, slot);
            }
            Runnable::Resume(task) => {
                let slot = task.slot();
                self.resume(task, slot);
            }
        }
    }

    /// Runs the micro-thread of `task`, in slot `slot` of the table, until it
    /// suspends or ends.
    fn resume(&self, task: Arc<Task>, slot: usize) {
        let mut threads = self.threads.borrow_mut();
        let Some(entry) = threads.get_mut(slot).filter(|entry| Arc::ptr_eq(&entry.task, &task)) else {
            debug_assert!(false, "a queued micro-thread is in the table");
            return;
        };
        // The table stays borrowed while the micro-thread runs: nothing a
        // micro-thread can call touches it, and this way it runs in place.
        let on_cpu = &self.me().on_cpu;
        on_cpu.enter(&task);
        let (handed_back, outcome) = self.running.resume(task, &mut entry.thread);
        on_cpu.leave();
        match outcome {
            Outcome::Finished => {
                let entry = threads
                    .try_remove(slot)
                    .expect("the finished micro-thread is in the table");
                self.me().started.store(threads.len(), Ordering::Relaxed);
                drop(threads);
                drop(handed_back);
                recycle_task(entry.task);
                let stack = entry.thread.into_stack();
                let mut cache = self.stacks.borrow_mut();
                self.shared.stacks.put(Some(&mut cache), stack);
                let counters = self.counters();
                counters.finished.add(1);
                counters.stacks_cached.set(cache.len() as u64);
            }
            Outcome::Suspended(why) => {
                let runnable = match why {
                    Suspend::Yield => {
                        self.counters().yields.add(1);
                        true
                    }
                    Suspend::Park => {
                        self.counters().parks.add(1);
                        !entry.task.finish_park()
                    }
                };
                if runnable {
                    // Lent to a waiter list: take a new reference to requeue.
                    let task = handed_back.unwrap_or_else(|| Arc::clone(&entry.task));
                    drop(threads);
                    self.ready.borrow_mut().push_back(task);
                }
            }
        }
    }

    /// Answers the dumps that wait for this worker (see `dump.rs`): lists
    /// its micro-threads, each with its stack, captured at its park point.
    /// Called between two micro-threads.
    #[cold]
    fn answer_dumps(&self) {
        let requests = self.me().dump.take();
        if requests.is_empty() {
            return;
        }
        let tasks: Vec<(usize, Arc<Task>)> = self
            .threads
            .borrow()
            .iter()
            .map(|(slot, entry)| (slot, Arc::clone(&entry.task)))
            .collect();
        let mut threads = Vec::with_capacity(tasks.len());
        let stacks = requests.iter().any(|request| request.stacks);
        for (slot, task) in tasks {
            let captured = if stacks {
                let mut table = self.threads.borrow_mut();
                let entry = table.get_mut(slot).expect("the micro-thread is in the table");
                self.running.capture(Arc::clone(&task), &mut entry.thread)
            } else {
                None
            };
            threads.push(inspect::describe(&task, self.index, captured));
        }
        let not_started = self.me().fresh.len();
        // Each dump asked for meanwhile gets the same answer.
        for request in requests {
            request.answer(
                self.index,
                WorkerAnswer {
                    threads: threads.clone(),
                    not_started,
                },
            );
        }
    }

    /// Nothing to run: fire timers, look for work elsewhere, spin, then
    /// sleep.
    fn idle(&self) {
        if self.me().dump.is_wanted() {
            self.answer_dumps();
        }
        if !self.timers.borrow().is_empty() && self.fire_timers(Instant::now()) {
            return;
        }
        let idle_since = Instant::now();
        let mut slept = false;
        self.shared.start_searching();
        loop {
            let found = self.search();
            let last = self.shared.stop_searching();
            if found {
                if last && self.shared.has_injected_work() {
                    self.shared.notify_work();
                }
                if slept {
                    self.learn_spin(idle_since.elapsed(), false);
                }
                return;
            }
            // Once per idle period: after a wake-up for new work that
            // another worker took, straight back to sleep.
            if !slept && self.spin(idle_since) {
                self.learn_spin(idle_since.elapsed(), true);
                return;
            }
            slept = true;
            if !self.sleep() {
                self.learn_spin(idle_since.elapsed(), false);
                return;
            }
            // Woken to look for new work, and counted as searching.
        }
    }

    /// Before sleeping, polls the reactor without blocking and looks at the
    /// queues, again and again, for at most the spin limit (and not past
    /// the next timer). Returns true if that found work.
    ///
    /// A sleep costs a wake-up: the waker's system call, and the kernel
    /// switching this thread out and back in, and on a virtual machine an
    /// exit to the hypervisor when the CPU idles. When work comes back
    /// within microseconds (a server whose clients answer at once, two
    /// workers passing messages), spinning through that gap saves all of
    /// it, for the CPU time of the gap. How long is worth it depends on the
    /// program, so the limit is learned (`learn_spin`), from nothing to
    /// [`MAX_SPIN`], and only one worker of the runtime spins at a time, as
    /// Go limits its spinning threads: more would only burn CPUs.
    fn spin(&self, idle_since: Instant) -> bool {
        let limit = self.spin_limit.get();
        if limit == 0 || !self.shared.start_spinning() {
            return false;
        }
        let mut until = idle_since + Duration::from_nanos(limit);
        if let Some(timer) = self.timers.borrow().next_deadline() {
            until = until.min(timer);
        }
        let found = loop {
            if !self.reactor.is_idle() {
                self.reactor.poll(self, Some(Duration::ZERO));
            }
            if self.has_own_work() || self.shared.has_injected_work() || self.shared.is_shutdown() {
                break true;
            }
            if self.me().dump.is_wanted() || Instant::now() >= until {
                break false;
            }
            for _ in 0..SPINS_PER_ROUND {
                std::hint::spin_loop();
            }
        };
        self.shared.stop_spinning();
        let now = Instant::now();
        self.last_io_poll.set(now);
        let spun = u64::try_from((now - idle_since).as_nanos()).unwrap_or(u64::MAX);
        self.counters().idle_ns.add(spun);
        found
    }

    /// Adapts the spin limit to an idle period that lasted `gap`, from
    /// running out of work to finding some, found by the spin or not.
    ///
    /// Work found by the spin: the limit stays, or grows to twice this gap,
    /// room for gaps a little longer. Work that came after the spin gave up
    /// (or when none was tried) but within [`MAX_SPIN`]: a longer spin
    /// would have caught it, so likewise. Work that came later than that:
    /// the spin was wasted, and the limit halves, down to zero. A program
    /// whose workers wait long spins not at all, and one whose work comes
    /// back quickly spins about as long as its gaps last.
    fn learn_spin(&self, gap: Duration, spin_found: bool) {
        self.spin_limit
            .set(next_spin_limit(self.spin_limit.get(), gap, spin_found));
    }

    /// Whether something is queued for this worker alone: woken
    /// micro-threads (local or from other threads) and ones placed here.
    fn has_own_work(&self) -> bool {
        let me = self.me();
        // Not `take`: peek at the LIFO slot without emptying it.
        let lifo = self.lifo.take();
        let has_lifo = lifo.is_some();
        self.lifo.set(lifo);
        has_lifo || !self.ready.borrow().is_empty() || !me.inbox.is_empty() || !me.fresh.is_empty()
    }

    /// Looks for work for a little while. Returns true if there is some.
    fn search(&self) -> bool {
        for _ in 0..SEARCH_ROUNDS {
            // Own work first: the poll in `sleep` may have made some ready.
            if self.has_own_work() || self.shared.is_shutdown() || self.steal() {
                return true;
            }
            for _ in 0..SPINS_PER_ROUND {
                std::hint::spin_loop();
            }
        }
        false
    }

    /// Moves not-yet-started micro-threads from the injector, or from a
    /// stalled worker's fresh queue, into ours. Returns true if it got any.
    ///
    /// Micro-threads in another worker's fresh queue were placed there on
    /// purpose (see `Shared::submit`) and never move once started, so taking
    /// them from a worker that is about to run them would undo the balance
    /// for good. They are taken only from a worker that has not made progress
    /// for [`STEAL_AFTER`]: one held by a long-running micro-thread, or an OS
    /// thread the kernel has not scheduled.
    fn steal(&self) -> bool {
        if let Some(pending) = self.shared.injector.pop() {
            self.counters().steals.add(1);
            if let Some(pending) = self.push_fresh(pending) {
                self.shared.injector.push(pending);
            }
            return true;
        }
        let workers = &self.shared.workers;
        let n = workers.len();
        let start = self.tick.get() as usize;
        let mut now = None;
        for offset in 0..n {
            let index = (start + offset) % n;
            let victim = &workers[index];
            if index == self.index || !victim.is_stealable() {
                continue;
            }
            let now = *now.get_or_insert_with(Instant::now);
            if !self.stalled(index, now) {
                continue;
            }
            let mut stolen = false;
            for _ in 0..victim.fresh.len().div_ceil(2) {
                match victim.fresh.pop() {
                    Some(pending) => {
                        stolen = true;
                        self.counters().steals.add(1);
                        if let Some(pending) = self.push_fresh(pending) {
                            self.shared.injector.push(pending);
                            break;
                        }
                    }
                    None => break,
                }
            }
            if stolen {
                return true;
            }
        }
        false
    }

    /// Whether worker `index` has made no progress for [`STEAL_AFTER`], as
    /// far as this worker has watched it.
    fn stalled(&self, index: usize, now: Instant) -> bool {
        let progress = self.shared.workers[index].on_cpu.seq();
        let mut observed = self.observed.borrow_mut();
        if observed.len() <= index {
            observed.resize(self.shared.workers.len(), (u64::MAX, now));
        }
        let (seen, since) = &mut observed[index];
        if *seen != progress {
            *seen = progress;
            *since = now;
            return false;
        }
        now.duration_since(*since) >= STEAL_AFTER
    }

    /// When to look again at workers that hold stealable micro-threads but
    /// have not stalled long enough yet.
    fn next_steal_check(&self) -> Option<Instant> {
        let workers = &self.shared.workers;
        let any = (0..workers.len()).any(|i| i != self.index && workers[i].is_stealable());
        any.then(|| Instant::now() + STEAL_AFTER)
    }

    /// Sleeps in the poller until I/O, the next timer, or a wake-up. Returns
    /// true if woken by `notify_work` (and therefore counted as searching).
    fn sleep(&self) -> bool {
        let me = self.me();
        me.timerless.store(self.timers.borrow().is_empty(), Ordering::Relaxed);
        me.asleep.store(true, Ordering::Relaxed);
        me.sleeping.store(true, Ordering::SeqCst);
        self.shared.add_sleeper(self.index);
        // Pairs with the fences in `push_remote` and `notify_work`: either
        // they see us asleep, or we see their work here.
        fence(Ordering::SeqCst);
        let has_work =
            self.has_own_work() || self.shared.has_injected_work() || self.shared.is_shutdown() || me.dump.is_wanted();
        if !has_work {
            let deadline = match (self.timers.borrow().next_deadline(), self.next_steal_check()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            self.counters().ready_depth.set(0);
            let slept = Instant::now();
            let timeout = deadline.map(|deadline| deadline.saturating_duration_since(slept));
            self.reactor.poll(self, timeout);
            let woke = Instant::now();
            self.last_io_poll.set(woke);
            self.clock.set(sys::coarse_now_ns());
            let idle = u64::try_from((woke - slept).as_nanos()).unwrap_or(u64::MAX);
            self.counters().idle_ns.add(idle);
        }
        me.sleeping.store(false, Ordering::SeqCst);
        me.asleep.store(false, Ordering::Relaxed);
        // Still listed: nobody picked us for new work. Not listed:
        // `notify_work` did, and counted us as searching.
        !self.shared.remove_sleeper(self.index)
    }

    /// Unwinds every micro-thread of this worker, running their destructors,
    /// then drops whatever is still queued.
    ///
    /// Micro-threads that never started are dropped at the start of every
    /// round, not only at the end: a micro-thread may wait for them to be
    /// gone without being interrupted by its cancellation (a scope waits for
    /// its children), so it keeps suspending, and the rounds end only once
    /// what it waits for has been dropped, here or by another worker.
    fn shutdown(&self) {
        loop {
            self.shared.drain_pending();
            let slots: Vec<usize> = self.threads.borrow().iter().map(|(slot, _)| slot).collect();
            if slots.is_empty() {
                break;
            }
            for slot in slots {
                let task = self.threads.borrow().get(slot).map(|entry| Arc::clone(&entry.task));
                if let Some(task) = task {
                    task.cancel();
                    // Resumed without a wake-up: it must not look parked to
                    // a late `unpark` once it has finished.
                    task.claim();
                    // A cancelled micro-thread unwinds from its park and never
                    // suspends again, so this runs it to its end; except one
                    // in a wait that cancellation does not cut short, which
                    // is resumed again next round until that wait ends.
                    self.resume(task, slot);
                }
            }
        }
        self.lifo.take();
        self.ready.borrow_mut().clear();
        self.timers.borrow_mut().clear();
        self.reactor.clear();
        // Everything that never started, here and anywhere else (the runtime
        // may be dropped by one of its own micro-threads, when nobody else
        // is left to do it): their joins report cancellation.
        self.shared.drain_pending();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{MAX_SPIN, MIN_SPIN, next_spin_limit};

    const MAX: u64 = MAX_SPIN.as_nanos() as u64;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn short_gaps_teach_a_spin_of_about_twice_their_length() {
        // No spin yet: a gap a spin could have covered starts one.
        assert_eq!(next_spin_limit(0, us(3), false), 6_000);
        // Found by the spin: the limit stays, or grows to twice the gap.
        assert_eq!(next_spin_limit(6_000, us(2), true), 6_000);
        assert_eq!(next_spin_limit(6_000, us(5), true), 10_000);
        // Never past the most a worker spins.
        assert_eq!(next_spin_limit(6_000, MAX_SPIN - us(1), false), MAX);
        assert_eq!(next_spin_limit(MAX, us(20), true), MAX);
    }

    #[test]
    fn long_gaps_halve_the_spin_down_to_none() {
        let mut limit = MAX;
        let mut halvings = 0;
        while limit > 0 {
            let next = next_spin_limit(limit, us(500), false);
            assert!(next < limit, "a wasted spin shortened it: {limit} -> {next}");
            limit = next;
            halvings += 1;
        }
        // As many as halve the most to less than the least, no more.
        let most = (MAX_SPIN.as_nanos() / MIN_SPIN.as_nanos()).ilog2() + 1;
        assert!(halvings <= most, "{halvings} wasted spins before it stopped");
        // None at all below the least worth starting.
        assert_eq!(next_spin_limit(MIN_SPIN.as_nanos() as u64, us(500), false), 0);
        // A program that waits long never starts spinning.
        assert_eq!(next_spin_limit(0, Duration::from_millis(2), false), 0);
        assert_eq!(next_spin_limit(0, MAX_SPIN, false), 0);
    }
}

//! What the workers of one runtime share: run queues, sleep/wake bookkeeping,
//! the stack pool, and the spawn path.
//!
//! Placement: a micro-thread spawned on a worker goes into that worker's
//! *fresh* queue (not-yet-started micro-threads), one spawned from outside
//! goes into the global injector. Idle workers take from both, and steal from
//! other workers' fresh queues, so load balances at placement time. Once a
//! micro-thread has started it never moves: wake-ups for it go to its own
//! worker, through the worker's inbox when they come from another thread.
//!
//! Sleeping: an idle worker sleeps in its own poller. A wake-up costs one
//! `Poller::notify` at most, and only when the target is asleep. New work
//! wakes one sleeper only if no worker is already looking for work, the
//! protocol tokio uses; a worker that stops looking re-checks every queue
//! after announcing it, so no spawn is left behind.

use std::collections::VecDeque;
use std::io;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::Thread;
use std::time::Instant;

use crossbeam_queue::{ArrayQueue, SegQueue};
use crossbeam_utils::CachePadded;

use super::context;
use super::counters::Counters;
use super::headers::SharedHeaders;
use super::inspect::{Mailbox, OnCpu};
use crate::config::Config;
use crate::coroutine::Unstarted;
use crate::poller::Poller;
use crate::spin::SpinLock;
use crate::stack::StackPool;
use crate::sys;
use crate::task::{self, Schedule};

/// Capacity of a worker's fresh queue; more spills into the injector.
const FRESH_CAPACITY: usize = 1024;

/// A shared reference to a runtime's scheduler.
pub(crate) type SchedulerRef = Arc<Shared>;

/// The header of a micro-thread of this scheduler (see `task/`).
pub(crate) type Task = task::Task<SchedulerRef>;

/// Wakes a micro-thread of this scheduler, or an OS thread.
pub(crate) type Unparker = task::Unparker<SchedulerRef>;

/// A micro-thread that has not started, with everything it needs to start
/// on whichever worker takes it.
pub(crate) struct Pending {
    pub(crate) task: Arc<Task>,
    pub(crate) thread: Unstarted,
}

/// Options of one spawn.
#[derive(Default)]
pub(crate) struct SpawnOptions {
    pub(crate) name: Option<String>,
    pub(crate) stack_size: Option<usize>,
    /// Place it on the spawning worker (see `Builder::colocate`).
    pub(crate) colocate: bool,
    /// The caller of the spawn function (`#[track_caller]`).
    pub(crate) spawned_at: Option<&'static Location<'static>>,
    /// Start an OS thread, as thread mode does, even if the runtime is not
    /// in thread mode (the children of a scope whose caller blocks a
    /// worker, see `scope.rs`).
    pub(crate) os_thread: bool,
}

impl SpawnOptions {
    /// The defaults, for a micro-thread spawned at `at`.
    pub(crate) fn spawned_at(at: &'static Location<'static>) -> SpawnOptions {
        SpawnOptions {
            spawned_at: Some(at),
            ..SpawnOptions::default()
        }
    }
}

/// The runtime's queue of micro-threads that no worker's fresh queue holds:
/// spawned from outside the workers, or beyond [`FRESH_CAPACITY`] by a
/// worker spawning many at once (spawning 10,000 and joining them sends
/// nine in ten here).
///
/// A deque under a spin lock rather than a lock-free queue of blocks: the
/// deque keeps its memory from one burst to the next, where `SegQueue`
/// allocates (and zeroes) a block per 31 micro-threads and frees it when
/// they are taken; each operation holds the lock for a push or a pop.
pub(crate) struct Injector {
    queue: SpinLock<VecDeque<Pending>>,
    /// The queue's length, for looking without the lock (`SeqCst`: idle
    /// workers read it after announcing they sleep, see `Worker::sleep`).
    len: AtomicUsize,
    /// The most entries' room the queue keeps once emptied: as many as the
    /// runtime keeps free stacks (an entry is about a hundred bytes, a stack
    /// at least a page), so that a burst of spawns as large as the stack
    /// pool does not grow the queue again at every burst.
    kept_room: usize,
}

impl Injector {
    /// An empty queue that keeps room for `kept_room` entries once emptied.
    pub(crate) fn new(kept_room: usize) -> Injector {
        Injector {
            queue: SpinLock::new(VecDeque::new()),
            len: AtomicUsize::new(0),
            kept_room,
        }
    }

    /// Queues a micro-thread at the back.
    pub(crate) fn push(&self, pending: Pending) {
        let mut queue = self.queue.lock();
        queue.push_back(pending);
        self.len.store(queue.len(), Ordering::SeqCst);
    }

    /// Takes the micro-thread at the front, if any.
    pub(crate) fn pop(&self) -> Option<Pending> {
        if self.is_empty() {
            return None;
        }
        let mut queue = self.queue.lock();
        let pending = queue.pop_front();
        self.len.store(queue.len(), Ordering::SeqCst);
        // Emptied after a burst: give its memory back (freed after the
        // lock is let go), as the segments of a `SegQueue` would be.
        let burst = (queue.is_empty() && queue.capacity() > self.kept_room).then(|| std::mem::take(&mut *queue));
        drop(queue);
        drop(burst);
        pending
    }

    /// How many micro-threads wait here.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::SeqCst)
    }

    /// Whether none waits here.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The part of a worker that other threads reach.
pub(crate) struct WorkerShared {
    /// Not-yet-started micro-threads spawned on this worker; stealable.
    pub(crate) fresh: ArrayQueue<Pending>,
    /// Wake-ups of this worker's micro-threads sent from other threads.
    pub(crate) inbox: SegQueue<Arc<Task>>,
    /// The worker sleeps in here; only the worker waits on it.
    pub(crate) poller: Poller,
    /// True while the worker is (about to be) asleep in `poller`; cleared
    /// by whoever wakes it, so that only one wake-up notifies.
    pub(crate) sleeping: AtomicBool,
    /// True from the moment the worker decides to sleep until it is back
    /// from its poller; only the worker writes it. Idle workers do not steal
    /// from a worker in this state: what was placed on it will start as soon
    /// as it wakes, and stealing it back would undo the placement.
    pub(crate) asleep: AtomicBool,
    /// Reactor slots released by other threads, freed by the worker between
    /// two polls (see `sched/reactor.rs`).
    pub(crate) released: SegQueue<usize>,
    /// Micro-threads started on this worker and not finished; written by the
    /// worker only, read by spawners choosing where to place.
    ///
    /// On a cache line of its own, like `on_cpu` and `counters` below: the
    /// worker writes it at every start and end, while every spawn placed
    /// here from another worker reads `sleeping`, which would otherwise
    /// share its line (a cache miss per spawn: spawn+join onto another
    /// worker took 12% longer).
    pub(crate) started: CachePadded<AtomicUsize>,
    /// What the worker runs now: watched by the stall watchdog, and by idle
    /// workers to tell a stalled worker from a busy one.
    ///
    /// It and `counters` are written by the worker at every resume and
    /// park: each on cache lines of its own, so that the workers, whose
    /// `WorkerShared`s sit side by side, never write to a line another
    /// one writes.
    pub(crate) on_cpu: CachePadded<OnCpu>,
    /// What the worker did, for `Runtime::metrics`.
    pub(crate) counters: CachePadded<Counters>,
    /// Dumps waiting for this worker's answer.
    pub(crate) dump: Mailbox,
    /// Whether the worker had no timer pending when it last went to sleep
    /// (written by the worker before `asleep`; for the deadlock watch).
    pub(crate) timerless: AtomicBool,
}

impl WorkerShared {
    /// A worker's shared part, with its poller.
    fn new() -> io::Result<WorkerShared> {
        Ok(WorkerShared {
            fresh: ArrayQueue::new(FRESH_CAPACITY),
            inbox: SegQueue::new(),
            poller: Poller::new()?,
            sleeping: AtomicBool::new(false),
            asleep: AtomicBool::new(false),
            released: SegQueue::new(),
            started: CachePadded::new(AtomicUsize::new(0)),
            on_cpu: CachePadded::new(OnCpu::default()),
            counters: CachePadded::new(Counters::default()),
            dump: Mailbox::default(),
            timerless: AtomicBool::new(false),
        })
    }

    /// Whether an idle worker may take micro-threads from this one's fresh
    /// queue (see `asleep`).
    pub(crate) fn is_stealable(&self) -> bool {
        !self.fresh.is_empty() && !self.asleep.load(Ordering::Relaxed)
    }

    /// Live micro-threads placed here: started, or waiting to start.
    pub(crate) fn load(&self) -> usize {
        self.started.load(Ordering::Relaxed) + self.fresh.len()
    }

    /// Wakes the worker if it is asleep.
    pub(crate) fn wake(&self) {
        if self.sleeping.load(Ordering::SeqCst) && self.sleeping.swap(false, Ordering::SeqCst) {
            // A failed notify leaves the worker to its timeout; nothing better
            // can be done from here.
            let _ = self.poller.notify();
        }
    }

    /// Queues a new micro-thread in the fresh queue, or gives it back if
    /// the queue is full. Looks first: `ArrayQueue::push` on a full queue
    /// makes a `SeqCst` fence before it fails, and a worker spawning a burst
    /// overflows nine times in ten. A stale look only sends one to the
    /// injector instead.
    pub(crate) fn push_fresh(&self, pending: Pending) -> Result<(), Pending> {
        if self.fresh.is_full() {
            return Err(pending);
        }
        self.fresh.push(pending)
    }

    /// Queues a new micro-thread here from another thread, waking the worker
    /// if it sleeps. Gives it back if the queue is full.
    ///
    /// Unlike `push_fresh`, it does not look whether the queue is full
    /// first: that look reads the queue's head, which this worker writes at
    /// every start, so it would cost a cache miss per spawn (spawn+join onto
    /// another worker took 11% longer), while a queue chosen for being less
    /// loaded than the spawner's own is seldom full.
    pub(crate) fn push_fresh_remote(&self, pending: Pending) -> Option<Pending> {
        let full = self.fresh.push(pending).err();
        if full.is_none() {
            // No fence: `ArrayQueue::push` moves the tail with a `SeqCst`
            // compare-and-swap, `wake` reads `sleeping` with a `SeqCst` load,
            // and the sleeper stores `sleeping` with `SeqCst`, fences, and
            // reads the tail with `SeqCst` loads (`is_empty`): in the single
            // order of those operations, either the sleeper's look comes
            // after our push or our look after its store. (crossbeam-queue
            // 0.3, array_queue.rs: `push_or_else` and `is_empty`.) A fence
            // here would wait for the micro-thread just written into this
            // worker's queue to leave the store buffer, a cache miss: 7% of
            // a spawn+join onto another worker.
            self.wake();
        }
        full
    }

    /// Queues a wake-up from another thread.
    fn push_remote(&self, task: Arc<Task>) {
        self.inbox.push(task);
        // Pairs with the fence in `Worker::sleep`: either the worker sees the
        // task when it re-checks its inbox, or we see it asleep and wake it.
        fence(Ordering::SeqCst);
        self.wake();
    }
}

/// The scheduler state shared by one runtime's workers and its handles.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) workers: Box<[WorkerShared]>,
    /// Micro-threads spawned from outside the workers, and those that did
    /// not fit in a worker's fresh queue.
    pub(crate) injector: Injector,
    /// Headers of ended micro-threads, for reuse by any worker.
    pub(crate) headers: SharedHeaders,
    /// Workers asleep, for `notify_work` to pick from.
    sleepers: Mutex<Vec<usize>>,
    num_sleepers: AtomicUsize,
    /// Workers awake and looking for work.
    num_searching: AtomicUsize,
    /// Whether a worker spins before it sleeps (see `Worker::spin`): one at
    /// a time.
    /// On a cache line of its own: written at every spin, while `shutdown`
    /// beside it is read at every turn of every worker's loop.
    spinning: CachePadded<AtomicBool>,
    shutdown: AtomicBool,
    next_id: AtomicU64,
    pub(crate) stacks: StackPool,
    /// Thread mode: OS threads started by `spawn` and not finished.
    threads: AtomicUsize,
    /// The deadlock the watchdog found, for `block_on` (see `deadlock.rs`).
    pub(crate) deadlock: Found,
    /// `vm.max_map_count`, read once: thread mode keeps under it.
    max_map_count: Option<u64>,
    /// Thread mode: threads spawned since the process's memory mappings
    /// were last counted, and how many may be before the next count (see
    /// `room_for_a_thread`).
    spawned_since_count: AtomicU64,
    spawns_before_count: AtomicU64,
    /// Micro-threads (or thread-mode threads) spawned from outside the
    /// workers, for `Runtime::metrics`.
    spawned_outside: AtomicU64,
    /// When the runtime was built.
    pub(crate) started: Instant,
}

/// The memory mappings one OS thread costs: its stack and guard page, and
/// std's signal stack and guard page (16,367 threads reached Linux's
/// default limit of 65,530).
const MAPS_PER_THREAD: u64 = 4;

/// How many mappings thread mode leaves free for everything else the
/// process maps, and how many threads it starts at most between two counts
/// of the process's mappings.
const MAPS_SPARE: u64 = 256;
const SPAWNS_PER_COUNT: u64 = 256;

impl Shared {
    /// The scheduler of a runtime configured by `config`, with its
    /// workers' pollers; no worker thread runs yet.
    pub(crate) fn new(config: Config) -> io::Result<Shared> {
        let workers = (0..config.workers)
            .map(|_| WorkerShared::new())
            .collect::<io::Result<Box<[_]>>>()?;
        let stacks = StackPool::new(
            crate::stack::round_to_page(config.stack_size)?,
            config.stack_mode,
            config.stack_pool,
        );
        let (injector, headers) = (Injector::new(config.stack_pool), SharedHeaders::new(config.stack_pool));
        Ok(Shared {
            config,
            workers,
            injector,
            headers,
            sleepers: Mutex::new(Vec::new()),
            num_sleepers: AtomicUsize::new(0),
            num_searching: AtomicUsize::new(0),
            spinning: CachePadded::new(AtomicBool::new(false)),
            shutdown: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            stacks,
            threads: AtomicUsize::new(0),
            deadlock: Found::default(),
            max_map_count: sys::max_map_count(),
            spawned_since_count: AtomicU64::new(0),
            // Counts at the first spawn.
            spawns_before_count: AtomicU64::new(0),
            spawned_outside: AtomicU64::new(0),
            started: Instant::now(),
        })
    }

    /// See [`Metrics::spawned_outside`](crate::Metrics::spawned_outside).
    pub(crate) fn spawned_outside(&self) -> u64 {
        self.spawned_outside.load(Ordering::Relaxed)
    }

    /// Whether the runtime shuts down (see [`Shared::begin_shutdown`]).
    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Starts shutting down: workers unwind their micro-threads and exit.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        for worker in self.workers.iter() {
            worker.sleeping.store(false, Ordering::SeqCst);
            let _ = worker.poller.notify();
        }
    }

    /// Drops every micro-thread that never started (their joins report
    /// cancellation) and the kept headers. Called as the workers shut down
    /// and once they are gone.
    pub(crate) fn drain_pending(&self) {
        while self.injector.pop().is_some() {}
        for worker in self.workers.iter() {
            while worker.fresh.pop().is_some() {}
            while worker.inbox.pop().is_some() {}
        }
        // Kept headers hold the runtime: this breaks the cycle (see
        // `headers.rs`).
        drop(self.headers.clear());
    }

    /// OS threads started by `spawn` (thread mode, or the OS-thread
    /// children of a scope) that have not finished.
    pub(crate) fn live_threads(&self) -> usize {
        self.threads.load(Ordering::Relaxed)
    }

    /// Reserves `n` consecutive micro-thread ids; returns the first.
    pub(crate) fn next_ids(&self, n: u64) -> u64 {
        self.next_id.fetch_add(n, Ordering::Relaxed)
    }

    /// Spawns a micro-thread (an OS thread in thread mode, with
    /// `options.os_thread`, or from an OS thread started with it: see
    /// `context::spawns_os_threads`) whose body is what `make` builds
    /// around the micro-thread's header; returns the header, and the OS
    /// thread if it is one. (`join.rs` makes the join handle and the
    /// completer the body hands its outcome to; this knows neither.)
    ///
    /// `make` is called once everything the spawn can fail on before the
    /// body exists is done (the stack is allocated); if spawning fails,
    /// `make`, or the body it made, is dropped before this returns. Once
    /// spawned, the body is either called once or dropped uncalled (its
    /// runtime shut down before it started), on whichever thread gets to it.
    pub(crate) fn spawn_with<M, B>(
        self: &Arc<Self>,
        options: SpawnOptions,
        make: M,
    ) -> io::Result<(Arc<Task>, Option<Thread>)>
    where
        M: FnOnce(Arc<Task>) -> B,
        B: FnOnce() + Send + 'static,
    {
        // Inherited: an OS thread started because a worker is blocked must
        // not have its own spawns queued on that worker either.
        let os_thread = options.os_thread || context::spawns_os_threads();
        if self.config.thread_mode || os_thread {
            self.spawned_outside.fetch_add(1, Ordering::Relaxed);
            let task = Arc::new(Task::new(
                self.next_ids(1),
                options.name,
                options.spawned_at,
                Arc::clone(self),
            ));
            return self.spawn_thread(task, options.stack_size, os_thread, make);
        }
        let (id, stack, kept) = context::with_worker(|worker| match worker {
            Some(worker) if worker.belongs_to(self) => {
                worker.counters().spawned.add(1);
                let stack = worker.take_stack(options.stack_size);
                (worker.next_task_id(), stack, worker.take_task())
            }
            _ => {
                self.spawned_outside.fetch_add(1, Ordering::Relaxed);
                (self.next_ids(1), self.stacks.get(None, options.stack_size), None)
            }
        });
        let stack = stack?;
        let task = match kept {
            Some(mut kept) => {
                kept.header_mut().reset(id, options.name, options.spawned_at);
                kept.into_arc()
            }
            None => Arc::new(Task::new(id, options.name, options.spawned_at, Arc::clone(self))),
        };
        let spawned = Arc::clone(&task);
        let thread = Unstarted::new(stack, make(Arc::clone(&task)));
        self.submit(Pending { task, thread }, options.colocate);
        Ok((spawned, None))
    }

    /// Starts `task` as an OS thread. With `spawns_os_threads`, that
    /// thread's own spawns start OS threads too.
    fn spawn_thread<M, B>(
        self: &Arc<Self>,
        task: Arc<Task>,
        stack_size: Option<usize>,
        spawns_os_threads: bool,
        make: M,
    ) -> io::Result<(Arc<Task>, Option<Thread>)>
    where
        M: FnOnce(Arc<Task>) -> B,
        B: FnOnce() + Send + 'static,
    {
        self.room_for_a_thread()?;
        let mut builder = std::thread::Builder::new();
        if let Some(name) = task.name() {
            builder = builder.name(name.to_owned());
        }
        if let Some(size) = stack_size.or(self.config.thread_stack_size) {
            builder = builder.stack_size(size);
        }
        let spawned = Arc::clone(&task);
        let body = make(Arc::clone(&task));
        let runtime = Arc::clone(self);
        let counted = ThreadCounted::new(Arc::clone(self));
        let thread = builder.spawn(move || {
            let _counted = counted;
            context::set_thread_runtime(Some(runtime));
            // Where `JoinHandle::cancel`'s flag is looked for when it parks.
            context::set_thread_task(task);
            context::set_spawns_os_threads(spawns_os_threads);
            body();
        })?;
        // Returned with the header, so that every `cancel` can wake it.
        Ok((spawned, Some(thread.thread().clone())))
    }

    /// Thread mode: whether one more OS thread fits under
    /// `vm.max_map_count`. A thread that cannot map its signal stack is not
    /// refused by std but aborts the whole process (inside the new thread),
    /// so the budget is checked before. Counting the mappings reads
    /// `/proc/self/maps`, so it is not done at every spawn: after a count,
    /// half of the threads that would still fit may start before the next
    /// (at most [`SPAWNS_PER_COUNT`]), so the counts come closer together
    /// only near the limit.
    ///
    /// # Errors
    ///
    /// `ErrorKind::OutOfMemory`, naming the limit and the way out.
    fn room_for_a_thread(&self) -> io::Result<()> {
        let Some(max) = self.max_map_count else {
            return Ok(());
        };
        let since = self.spawned_since_count.fetch_add(1, Ordering::Relaxed);
        if since < self.spawns_before_count.load(Ordering::Relaxed) {
            return Ok(());
        }
        let Some(now) = sys::mapping_count() else {
            return Ok(());
        };
        let fit = max.saturating_sub(now + MAPS_SPARE) / MAPS_PER_THREAD;
        self.spawns_before_count
            .store((fit / 2).min(SPAWNS_PER_COUNT), Ordering::Relaxed);
        self.spawned_since_count.store(1, Ordering::Relaxed);
        if fit > 0 {
            return Ok(());
        }
        let threads = self.threads.load(Ordering::Relaxed);
        Err(io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "thread mode: another OS thread would take the process past vm.max_map_count \
                 ({max} memory mappings; {now} in use, {threads} threads of this runtime, each \
                 about {MAPS_PER_THREAD}); raise it (`sysctl -w vm.max_map_count=2200000` as \
                 root) or run on micro-threads"
            ),
        ))
    }

    /// Places a new micro-thread on the least-loaded worker (counting live
    /// micro-threads, started or waiting). A spawn from a worker stays there
    /// unless another has at least two fewer: a pair that talks to each other
    /// keeps its locality, while many long-lived micro-threads (connections)
    /// spread evenly, which matters because they never move once started.
    ///
    /// `colocate` keeps a spawn from a worker on that worker.
    fn submit(&self, pending: Pending, colocate: bool) {
        // From one of our workers: placed by its cached view of the loads.
        let pending = context::with_worker(|worker| match worker {
            Some(worker) if worker.belongs_to(self) => Err(worker.place(pending, colocate)),
            _ => Ok(pending),
        });
        let overflow = match pending {
            Err(overflow) => overflow,
            Ok(pending) => self.workers[self.least_loaded()].push_fresh_remote(pending),
        };
        if let Some(pending) = overflow {
            self.injector.push(pending);
            self.notify_work();
        }
        if self.is_shutdown() {
            // Raced with shutdown: nobody will run it.
            self.drain_pending();
        }
    }

    /// The least-loaded worker, read afresh (spawns from outside the
    /// workers; a worker keeps its own cached view, see `Worker::place`).
    fn least_loaded(&self) -> usize {
        let start = self.next_id.load(Ordering::Relaxed) as usize;
        let n = self.workers.len();
        (0..n)
            .map(|i| (start + i) % n)
            .min_by_key(|&i| self.workers[i].load())
            .expect("at least one worker")
    }

    /// Makes sure some worker will look at newly queued work: wakes a sleeper
    /// unless a worker is already searching.
    pub(crate) fn notify_work(&self) {
        // Pairs with the fence in `Worker::sleep` (see the module docs).
        fence(Ordering::SeqCst);
        if self.num_searching.load(Ordering::SeqCst) != 0 || self.num_sleepers.load(Ordering::SeqCst) == 0 {
            return;
        }
        let woken = {
            let mut sleepers = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
            let woken = sleepers.pop();
            if woken.is_some() {
                self.num_sleepers.fetch_sub(1, Ordering::SeqCst);
                // The woken worker starts out searching.
                self.num_searching.fetch_add(1, Ordering::SeqCst);
            }
            woken
        };
        if let Some(index) = woken {
            self.workers[index].wake();
        }
    }

    /// Counts a worker as searching for work.
    pub(crate) fn start_searching(&self) {
        self.num_searching.fetch_add(1, Ordering::SeqCst);
    }

    /// Stops counting a worker as searching. Returns true if it was the last.
    pub(crate) fn stop_searching(&self) -> bool {
        self.num_searching.fetch_sub(1, Ordering::SeqCst) == 1
    }

    /// Claims the right to spin before sleeping; false if another worker
    /// spins now.
    pub(crate) fn start_spinning(&self) -> bool {
        !self.spinning.load(Ordering::Relaxed) && !self.spinning.swap(true, Ordering::Acquire)
    }

    /// Gives up the right to spin (see [`Shared::start_spinning`]).
    pub(crate) fn stop_spinning(&self) {
        self.spinning.store(false, Ordering::Release);
    }

    /// Announces that worker `index` is going to sleep.
    pub(crate) fn add_sleeper(&self, index: usize) {
        let mut sleepers = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
        sleepers.push(index);
        self.num_sleepers.fetch_add(1, Ordering::SeqCst);
    }

    /// Takes worker `index` off the sleepers, if `notify_work` has not already.
    /// Returns true if it was still listed (it was not woken for new work).
    pub(crate) fn remove_sleeper(&self, index: usize) -> bool {
        let mut sleepers = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
        match sleepers.iter().position(|&i| i == index) {
            Some(pos) => {
                sleepers.swap_remove(pos);
                self.num_sleepers.fetch_sub(1, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    /// Whether micro-threads spawned from outside wait in the injector.
    pub(crate) fn has_injected_work(&self) -> bool {
        !self.injector.is_empty()
    }
}

/// The scheduler of a micro-thread's header: a woken micro-thread goes back
/// to its worker, into the worker's own queues if the waker runs there,
/// else into its inbox.
impl Schedule for SchedulerRef {
    /// See [`Schedule::schedule`].
    fn schedule(task: Arc<Task>) {
        let index = task.worker();
        let task = context::with_worker(|worker| match worker {
            Some(worker) if worker.belongs_to(task.scheduler()) && worker.index() == index => {
                worker.schedule_local(task);
                None
            }
            _ => Some(task),
        });
        if let Some(task) = task {
            // From a worker of the same runtime, its reference to the runtime
            // will do: no update of the runtime's reference count, a line every
            // worker would otherwise write at every wake-up it sends.
            context::with_worker(|worker| match worker {
                Some(worker) if worker.belongs_to(task.scheduler()) => worker.shared().workers[index].push_remote(task),
                _ => {
                    let shared = Arc::clone(task.scheduler());
                    shared.workers[index].push_remote(task);
                }
            });
        }
    }
}

/// The report of the deadlock found, for the `block_on`s of a runtime in
/// `Deadlock::Panic` mode (see `deadlock.rs`, which finds it).
#[derive(Default)]
pub(crate) struct Found(Mutex<Option<Arc<str>>>);

impl Found {
    /// The report, if a deadlock was found.
    pub(crate) fn get(&self) -> Option<Arc<str>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Records the report.
    pub(crate) fn set(&self, report: Arc<str>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(report);
    }
}

/// Counts one of thread mode's OS threads in `Shared::threads` while it
/// lives (dropped when its body ends, or with the closure if the thread
/// never starts).
struct ThreadCounted(Arc<Shared>);

impl ThreadCounted {
    fn new(shared: Arc<Shared>) -> ThreadCounted {
        shared.threads.fetch_add(1, Ordering::Relaxed);
        ThreadCounted(shared)
    }
}

impl Drop for ThreadCounted {
    fn drop(&mut self) {
        self.0.threads.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{Injector, Pending, Task};
    use crate::coroutine::Unstarted;

    /// Once emptied, the injector keeps the room a burst as large as its
    /// bound needed, and gives back the room of a larger one.
    #[test]
    #[cfg_attr(miri, ignore = "builds a runtime: system calls Miri does not model")]
    fn the_injector_keeps_room_up_to_its_bound() {
        let rt = crate::Runtime::builder().workers(1).build().expect("build a runtime");
        let shared = rt.scheduler();
        let pending = || Pending {
            task: Arc::new(Task::new(0, None, None, Arc::clone(shared))),
            thread: Unstarted::new(shared.stacks.get(None, None).expect("a stack"), || {}),
        };
        let injector = Injector::new(16);
        let burst = |n: usize| {
            (0..n).for_each(|_| injector.push(pending()));
            assert_eq!(injector.len(), n);
            while injector.pop().is_some() {}
            assert!(injector.is_empty());
            injector.queue.lock().capacity()
        };
        assert!(burst(10) >= 10, "a burst within the bound keeps its room");
        assert_eq!(burst(40), 0, "a larger burst's room is given back");
    }
}

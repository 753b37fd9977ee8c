//! Runtimes: building one ([`RuntimeBuilder`]), running on it
//! ([`Runtime::block_on`]), shutting it down, and the default runtime that
//! code outside any runtime spawns on.

use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use crate::config::{Config, Deadlock};
use crate::dump::{self, Dump};
use crate::join::{self, JoinHandle};
use crate::metrics::{self, Metrics};
use crate::sched::context;
use crate::sched::{self, SchedulerRef, Shared, SpawnOptions};
use crate::signal;
use crate::stack::StackMode;
use crate::watchdog;

/// Configures and builds a [`Runtime`].
///
/// # Examples
///
/// ```
/// let rt = dhaga_runtime::Runtime::builder()
///     .workers(2)
///     .stack_size(128 * 1024)
///     .build()?;
/// assert_eq!(rt.block_on(|| 1 + 1), 2);
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Debug)]
pub struct RuntimeBuilder {
    config: Config,
    stack_size_set: bool,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        RuntimeBuilder::new()
    }
}

impl RuntimeBuilder {
    /// A builder with the defaults: one worker per CPU, 64 KiB guarded
    /// stacks, micro-threads (not thread mode).
    pub fn new() -> RuntimeBuilder {
        RuntimeBuilder {
            config: Config::new(),
            stack_size_set: false,
        }
    }

    /// Sets the number of worker OS threads.
    ///
    /// # Panics
    ///
    /// If `n` is zero.
    pub fn workers(mut self, n: usize) -> RuntimeBuilder {
        assert!(n > 0, "a runtime needs at least one worker");
        self.config.workers = n;
        self
    }

    /// Sets the default usable stack size of micro-threads (rounded up to
    /// whole pages), and of threads in thread mode. Default: 64 KiB, plus a
    /// guard page.
    pub fn stack_size(mut self, bytes: usize) -> RuntimeBuilder {
        self.config.stack_size = bytes;
        self.stack_size_set = true;
        self
    }

    /// How many free stacks the runtime keeps for reuse across workers (each
    /// worker also caches 256). Default: 16 384.
    ///
    /// The same number bounds the other memory a burst of spawns leaves for
    /// the next one: the headers of ended micro-threads kept for reuse (a
    /// few hundred bytes each), and the room of the queue that spawns beyond
    /// a worker's own queue wait in (about a hundred bytes an entry). 0
    /// keeps none of them.
    pub fn stack_pool_size(mut self, stacks: usize) -> RuntimeBuilder {
        self.config.stack_pool = stacks;
        self
    }

    /// Thread mode: `spawn` starts an OS thread instead of a micro-thread;
    /// everything else (channels, joins, sleeps, I/O) is unchanged, since
    /// every blocking call behaves like its std counterpart outside a
    /// micro-thread. One flag flips a program between the two models.
    pub fn thread_mode(mut self, on: bool) -> RuntimeBuilder {
        self.config.thread_mode = on;
        self
    }

    /// Sets the name prefix of the worker threads. Default: `dhaga-worker`.
    pub fn thread_name(mut self, prefix: impl Into<String>) -> RuntimeBuilder {
        self.config.thread_name = prefix.into();
        self
    }

    /// How long a micro-thread may run without parking before the stall
    /// watchdog reports it; `Duration::ZERO` turns the watchdog off.
    /// Default: [`DEFAULT_STALL_THRESHOLD`](crate::DEFAULT_STALL_THRESHOLD)
    /// (100 ms).
    ///
    /// Such a micro-thread (one that computes for long, or calls a blocking
    /// `std` function) holds up every other micro-thread of its worker. The
    /// watchdog, a thread of the runtime that looks at the workers a few
    /// times per threshold, reports it once per stall through the [`log`]
    /// facade, at warn level with target `dhaga::watchdog`: its id, name,
    /// where it was spawned, how long it has run so far, and what to do.
    /// Nothing is reported in thread mode, where each spawn is an OS thread.
    pub fn stall_threshold(mut self, threshold: Duration) -> RuntimeBuilder {
        self.config.stall_threshold = threshold;
        self
    }

    /// What the runtime does when it finds its micro-threads deadlocked:
    /// every one parked on something only another thread can give (a
    /// channel, a lock, a join), with no timer, no I/O and no blocking job
    /// left that could wake one. Default: [`Deadlock::Log`], a report at
    /// error level through [`log`] (target `dhaga::deadlock`) with a
    /// [`dump`](crate::Runtime::dump) of every micro-thread;
    /// [`Deadlock::Panic`] also makes [`Runtime::block_on`] panic with the
    /// report, so that a test fails at once instead of hanging.
    ///
    /// An OS thread outside the runtime (or another runtime) may hold what
    /// the micro-threads wait for, which the runtime cannot see: the report
    /// says so. It is made by the watchdog thread, half a second after
    /// the last micro-thread parked (give or take a look: a quarter of the
    /// [stall threshold](Self::stall_threshold), or 25 ms with the stall
    /// watchdog off).
    /// Nothing is looked for in thread mode.
    pub fn on_deadlock(mut self, policy: Deadlock) -> RuntimeBuilder {
        self.config.on_deadlock = policy;
        self
    }

    /// Writes a [dump](crate::Runtime::dump) of the runtime to stderr each
    /// time the process receives `signal` (`libc::SIGQUIT`, say, which a
    /// terminal sends on Ctrl-\\, as Go dumps its goroutines), instead of
    /// that signal's default action. The dump is taken by a thread of the
    /// runtime, not in the signal handler. Off by default.
    ///
    /// [`build`](Self::build) fails for a signal that cannot be caught
    /// (`SIGKILL`, `SIGSTOP`) or that reports faults (`SIGSEGV`, `SIGBUS`,
    /// `SIGILL`, `SIGFPE`).
    pub fn dump_on_signal(mut self, signal: libc::c_int) -> RuntimeBuilder {
        self.config.dump_on_signal = Some(signal);
        self
    }

    /// Uses unguarded stacks carved from large slabs for micro-threads of the
    /// default stack size.
    ///
    /// Guarded stacks cost two memory mappings each, and Linux allows
    /// `vm.max_map_count` (65530 by default) mappings per process: about
    /// 30 000 guarded stacks. Slab stacks cost no mapping of their own, so a
    /// process can hold a million idle micro-threads (at 64 KiB stacks, about
    /// 8 KiB of memory each: the page in use at the top of the stack and the
    /// page holding the canary at its bottom).
    ///
    /// What it trades away: a stack overflow is no longer stopped by a guard
    /// page. Each worker checks a canary at the end of a micro-thread's stack
    /// every time it switches away from it and aborts with a message if it was
    /// overwritten, but by then the overflow may have written into the
    /// neighbouring stack, and an overflow that jumps past the canary is not
    /// seen at all. The other way to run very many micro-threads, keeping the
    /// guard pages, is to raise the limit: `sysctl -w vm.max_map_count=2200000`.
    ///
    /// # Safety
    ///
    /// The caller promises that no micro-thread of this runtime uses more
    /// stack than the runtime's stack size (micro-threads spawned with a
    /// different [`Builder::stack_size`](crate::Builder::stack_size) still
    /// get guarded stacks).
    pub unsafe fn unguarded_stacks(mut self) -> RuntimeBuilder {
        self.config.stack_mode = StackMode::Slab;
        self
    }

    /// Starts the workers.
    ///
    /// # Errors
    ///
    /// If a poller or a worker thread cannot be created, or the signal of
    /// [`dump_on_signal`](Self::dump_on_signal) cannot be caught.
    pub fn build(self) -> io::Result<Runtime> {
        let mut config = self.config;
        if self.stack_size_set {
            config.thread_stack_size = Some(config.stack_size);
        }
        let thread_mode = config.thread_mode;
        let shared = Arc::new(Shared::new(config)?);
        let mut workers = Vec::new();
        let mut watchdog = None;
        let mut dump_signal = None;
        if !thread_mode {
            // Even with slab stacks: micro-threads given another stack size
            // get guarded stacks.
            signal::install_handler();
            for index in 0..shared.config.workers {
                let name = format!("{}-{index}", shared.config.thread_name);
                let worker_shared = Arc::clone(&shared);
                let spawned = thread::Builder::new()
                    .name(name)
                    .spawn(move || sched::run(worker_shared, index));
                match spawned {
                    Ok(handle) => workers.push(handle),
                    Err(e) => {
                        shutdown(&shared, &mut workers, &mut None);
                        return Err(e);
                    }
                }
            }
            let threshold = shared.config.stall_threshold;
            if !threshold.is_zero() || shared.config.on_deadlock != Deadlock::Ignore {
                match watchdog::start(&shared, threshold) {
                    Ok(handle) => watchdog = Some(handle),
                    Err(e) => {
                        shutdown(&shared, &mut workers, &mut None);
                        return Err(e);
                    }
                }
            }
            if let Some(signal) = shared.config.dump_on_signal {
                match dump::DumpOnSignal::start(&shared, signal) {
                    Ok(started) => dump_signal = Some(started),
                    Err(e) => {
                        shutdown(&shared, &mut workers, &mut watchdog);
                        return Err(e);
                    }
                }
            }
        }
        Ok(Runtime {
            shared,
            workers: Mutex::new(workers),
            watchdog: Mutex::new(watchdog),
            dump_signal: Mutex::new(dump_signal),
        })
    }
}

/// A pool of worker threads running micro-threads.
///
/// Dropping a runtime shuts it down: every micro-thread it still has, parked
/// or runnable, is unwound on its worker (its destructors run; its join
/// reports [`Cancelled`](crate::Cancelled)), micro-threads that never started
/// are dropped, and the workers exit. In thread mode, threads already started
/// are left to finish on their own, as with `std::thread`.
pub struct Runtime {
    shared: SchedulerRef,
    workers: Mutex<Vec<thread::JoinHandle<()>>>,
    watchdog: Mutex<Option<thread::JoinHandle<()>>>,
    dump_signal: Mutex<Option<dump::DumpOnSignal>>,
}

impl Runtime {
    /// A runtime with the default configuration.
    ///
    /// # Errors
    ///
    /// See [`RuntimeBuilder::build`].
    pub fn new() -> io::Result<Runtime> {
        RuntimeBuilder::new().build()
    }

    /// A builder to configure a runtime.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::new()
    }

    /// Runs `f` as a micro-thread (in thread mode: on the calling thread) and
    /// blocks the caller until it returns.
    ///
    /// # Panics
    ///
    /// Resumes `f`'s panic, if it panics. Panics if the micro-thread's stack
    /// cannot be allocated.
    #[track_caller]
    pub fn block_on<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if self.shared.config.thread_mode && context::in_micro_thread() {
            // Not on this thread: other micro-threads of its worker would see
            // this runtime as theirs while `f` runs. On a thread of its own.
            let handle = join::spawn(&self.shared, SpawnOptions::spawned_at(Location::caller()), f)
                .unwrap_or_else(|e| panic!("{e}"));
            return handle.join().unwrap_or_else(|payload| panic::resume_unwind(payload));
        }
        if self.shared.config.thread_mode {
            let previous = context::set_thread_runtime(Some(Arc::clone(&self.shared)));
            let result = panic::catch_unwind(AssertUnwindSafe(f));
            context::set_thread_runtime(previous);
            return result.unwrap_or_else(|payload| panic::resume_unwind(payload));
        }
        let mut handle = join::spawn(&self.shared, SpawnOptions::spawned_at(Location::caller()), f)
            .unwrap_or_else(|e| panic!("{e}"));
        if self.shared.config.on_deadlock == Deadlock::Panic {
            // Looks for a deadlock report between waits.
            loop {
                match handle.join_timeout(watchdog::tick(self.shared.config.stall_threshold)) {
                    Ok(result) => return result.unwrap_or_else(|payload| panic::resume_unwind(payload)),
                    Err(waiting) => handle = waiting,
                }
                if let Some(report) = self.shared.deadlock.get() {
                    panic!("{report}");
                }
            }
        }
        handle.join().unwrap_or_else(|payload| panic::resume_unwind(payload))
    }

    /// A snapshot of the runtime's counters: per worker, micro-threads
    /// spawned, started, ended and alive, parks, wake-ups, steals, reactor
    /// waits and events, time busy and idle, queue depth; stacks and the
    /// blocking pool's threads (see [`Metrics`]).
    ///
    /// Counting costs the workers a plain store per event on a cache line
    /// of their own: metrics are always on.
    pub fn metrics(&self) -> Metrics {
        metrics::snapshot(&self.shared)
    }

    /// What every micro-thread of the runtime is doing: for each, its id,
    /// name, worker, state (running, ready or parked) and for how long,
    /// where it was spawned, what it waits for, and its stack (see
    /// [`Dump`]). `Display` it for the report.
    ///
    /// Each worker answers between two micro-threads; one that a
    /// micro-thread keeps busy for longer than a quarter of a second is
    /// reported with the micro-thread that keeps it, and its other
    /// micro-threads are left out. Callable from anywhere, a micro-thread
    /// of this runtime included (it shows as parked, waiting for the dump).
    pub fn dump(&self) -> Dump {
        dump::take(&self.shared)
    }

    /// Spawns `f` on this runtime.
    ///
    /// # Panics
    ///
    /// If the micro-thread's stack cannot be allocated (use
    /// [`Builder::spawn_on`](crate::Builder::spawn_on) to get the error
    /// instead).
    #[track_caller]
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // What `Builder::new().spawn_on(self, f)` does.
        join::spawn(&self.shared, SpawnOptions::spawned_at(Location::caller()), f).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The scheduler of this runtime.
    pub(crate) fn scheduler(&self) -> &SchedulerRef {
        &self.shared
    }

    /// The number of worker threads (zero in thread mode).
    pub fn workers(&self) -> usize {
        self.workers.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether this runtime is in thread mode.
    pub fn is_thread_mode(&self) -> bool {
        self.shared.config.thread_mode
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let workers = self.workers.get_mut().unwrap_or_else(|e| e.into_inner());
        let watchdog = self.watchdog.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(dump_signal) = self.dump_signal.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            dump_signal.stop();
        }
        shutdown(&self.shared, workers, watchdog);
    }
}

/// Shuts the runtime of `shared` down: stops its watchdog, and waits for
/// its workers to unwind their micro-threads and exit (unless called from
/// one of them).
fn shutdown(
    shared: &SchedulerRef,
    workers: &mut Vec<thread::JoinHandle<()>>,
    watchdog: &mut Option<thread::JoinHandle<()>>,
) {
    shared.begin_shutdown();
    if let Some(watchdog) = watchdog.take() {
        // It sees the shutdown at its next look; this makes that now.
        watchdog.thread().unpark();
        let _ = watchdog.join();
    }
    let inside = context::with_worker(|worker| worker.is_some_and(|worker| worker.belongs_to(shared)));
    if inside {
        // Dropped by one of its own micro-threads: the workers wind down on
        // their own; waiting for them here would wait for ourselves.
        return;
    }
    for worker in workers.drain(..) {
        let _ = worker.join();
    }
    shared.drain_pending();
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.shared.config.workers)
            .field("thread_mode", &self.shared.config.thread_mode)
            .finish_non_exhaustive()
    }
}

/// The runtime `spawn` uses outside any runtime.
fn default_runtime() -> &'static Runtime {
    static DEFAULT: OnceLock<Runtime> = OnceLock::new();
    DEFAULT.get_or_init(|| Runtime::new().unwrap_or_else(|e| panic!("dhaga: cannot start the default runtime: {e}")))
}

/// The runtime of the caller: the worker's, the thread-mode thread's, or the
/// default one.
pub(crate) fn current() -> SchedulerRef {
    context::with_worker(|worker| worker.map(|worker| Arc::clone(worker.shared())))
        .or_else(context::thread_runtime)
        .unwrap_or_else(|| Arc::clone(&default_runtime().shared))
}

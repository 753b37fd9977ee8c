//! Green threads for Rust: write sequential, blocking code — one
//! micro-thread per connection, `read`, `write`, `recv`, `send` top to bottom
//! — and run it on a few OS threads.
//!
//! # How it works
//!
//! A micro-thread is a stackful coroutine (`corosensei`) on a small pooled
//! stack (64 KiB plus a guard page by default). A runtime runs micro-threads
//! on a few worker OS threads (one per CPU by default). When a micro-thread
//! makes a call that would block — receiving from an empty channel, joining,
//! sleeping, reading a socket with no data — it *parks*: it switches back to
//! its worker, which runs another micro-thread. It is resumed when what it
//! waits for happens: a message, a timer, or readiness reported by the
//! worker's poller (epoll, kqueue, IOCP).
//!
//! A micro-thread that has started never changes OS thread. In optimised
//! builds LLVM may keep the address of a thread-local across a function call,
//! so a coroutine that resumed on another thread would read the wrong thread's
//! data; pinning makes every thread-local, std's included, behave. Load is
//! balanced when micro-threads are placed instead: idle workers take
//! micro-threads that have not started yet from busy ones.
//!
//! Outside a micro-thread every blocking call behaves like its std
//! counterpart and blocks the OS thread. So the same code runs on plain
//! threads, and a runtime in [thread mode](RuntimeBuilder::thread_mode) makes
//! `spawn` start OS threads: one flag compares the two models.
//!
//! [`scope`] spawns micro-threads that borrow the caller's locals and waits
//! for all of them, as `std::thread::scope` does for threads.
//!
//! # Features
//!
//! - `bytes` (off by default): `try_read_buf` and `Source::read_buf`, which
//!   read into the uninitialised spare capacity of a `bytes::BytesMut`, so
//!   a reader neither zeroes nor copies what it reads.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//!
//! let total = dhaga_runtime::run(|| {
//!     let handles: Vec<_> = (0..1000u64)
//!         .map(|i| {
//!             dhaga_runtime::spawn(move || {
//!                 dhaga_runtime::sleep(Duration::from_millis(10)); // parks, does not block
//!                 i
//!             })
//!         })
//!         .collect();
//!     handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
//! });
//! assert_eq!(total, 999 * 1000 / 2);
//! ```

#![warn(clippy::undocumented_unsafe_blocks)]

// The modules in layers, lowest first: each imports only from its own group
// and the groups above it (`scripts/check-layers.sh runtime/src` prints the
// layers and fails on a cycle between modules).

// System calls and the pollers, a spin lock, a shared pool of free things,
// what a park waits for.
mod poller;
mod pool;
mod primitive;
mod spin;
mod sys;
mod wait;
// Stacks, overflow reports, switching stacks; the configuration.
mod config;
mod coroutine;
mod signal;
mod stack;
// The micro-thread header: its wake-up state machine, its join slot, and
// the `Schedule` trait it wakes through.
mod task;
// The scheduler: workers, their queues, timers and reactors, the context
// thread-local. The one cycle between its files stays in the folder.
mod sched;
// What code blocks on and shares: parking, micro-thread-locals, joins,
// descriptors, channels and locks, dumps, the blocking pool.
mod blocking;
mod dump;
mod io;
mod join;
mod local;
mod park;
pub mod sync;
// Watching a runtime: its counters, the stall watchdog, the deadlock watch.
mod deadlock;
mod metrics;
mod watchdog;
// The entry points: runtimes, spawning, scopes, handles.
mod handle;
mod runtime;
mod scope;
mod spawn;

use std::time::{Duration, Instant};

pub use blocking::spawn_blocking;
pub use config::{DEFAULT_STACK_SIZE, DEFAULT_STALL_THRESHOLD, Deadlock};
pub use dump::{Dump, MicroThreadDump, ThreadState};
pub use handle::Handle;
#[cfg(feature = "bytes")]
pub use io::try_read_buf;
pub use io::{FdEvents, FdWatch, Source, fd_ready};
pub use join::JoinHandle;
pub use local::{AccessError, LocalKey};
pub use metrics::{Metrics, WorkerMetrics};
pub use park::Unparker;
pub use runtime::{Runtime, RuntimeBuilder};
pub use scope::{Scope, ScopedJoinHandle, scope};
pub use spawn::Builder;
pub use task::Cancelled;
pub use wait::WaitReason;

use coroutine::Suspend;
use sched::context;
use task::Wake;
use wait::Waiting;

/// Runs `f` as a micro-thread on a new runtime with the default
/// configuration, and returns its result once it ends. Micro-threads still
/// running then are unwound, as threads are when `main` returns.
///
/// Equivalent to `Runtime::new()?.block_on(f)`.
///
/// # Panics
///
/// If the runtime cannot start, and resumes `f`'s panic if it panics.
#[track_caller]
pub fn run<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Runtime::new()
        .unwrap_or_else(|e| panic!("dhaga: cannot start a runtime: {e}"))
        .block_on(f)
}

/// Spawns a micro-thread running `f` and returns a handle to join it.
///
/// Inside a micro-thread (or a thread-mode thread) the new micro-thread goes
/// to the same runtime; elsewhere to a default runtime, started on first use
/// and never shut down.
///
/// # Panics
///
/// If its stack cannot be allocated; [`Builder::spawn`] returns that error
/// instead.
///
/// # Examples
///
/// ```
/// let handle = dhaga_runtime::spawn(|| "hello from a micro-thread");
/// assert_eq!(handle.join().unwrap(), "hello from a micro-thread");
/// ```
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().spawn(f).unwrap_or_else(|e| panic!("{e}"))
}

/// A snapshot of the counters of the caller's runtime: the one whose
/// micro-thread (or thread-mode thread) calls this, else the default one
/// (see [`Runtime::metrics`]).
pub fn metrics() -> Metrics {
    let shared = runtime::current();
    metrics::snapshot(&shared)
}

/// What every micro-thread of the caller's runtime is doing: the one whose
/// micro-thread (or thread-mode thread) calls this, else the default one
/// (see [`Runtime::dump`]).
pub fn dump() -> Dump {
    let shared = runtime::current();
    dump::take(&shared)
}

/// Lets the other runnable micro-threads of this worker run before the
/// caller continues. Outside a micro-thread, yields the OS thread.
///
/// A cancellation point (see [`JoinHandle::cancel`]), also for thread-mode
/// threads.
pub fn yield_now() {
    context::with_worker(|worker| match worker {
        Some(worker) if worker.in_task() => {
            worker.park(Suspend::Yield, None);
        }
        _ => {
            park::thread_cancel_point();
            std::thread::yield_now()
        }
    })
}

/// Parks the calling micro-thread (or blocks the calling OS thread) for at
/// least `duration`.
///
/// A cancellation point (see [`JoinHandle::cancel`]), also for thread-mode
/// threads. A micro-thread that is unwinding (a destructor sleeping during a
/// panic or a cancellation) returns at once, since it cannot park.
pub fn sleep(duration: Duration) {
    if !in_micro_thread() && !park::in_thread_task() {
        return std::thread::sleep(duration);
    }
    let deadline = Instant::now().checked_add(duration);
    loop {
        match park::park(Waiting::on(&wait::reason::SLEEP), deadline) {
            Wake::Notified if deadline.is_none_or(|d| Instant::now() < d) => {}
            _ => return,
        }
    }
}

/// Whether the caller runs in a micro-thread.
pub fn in_micro_thread() -> bool {
    context::in_micro_thread()
}

/// Whether the calling micro-thread (or thread-mode thread) has been
/// cancelled by [`JoinHandle::cancel`] or by its runtime's shutdown. Always
/// false on other OS threads.
///
/// A cancelled micro-thread unwinds at its next park on its own; this is for
/// one that runs a long time without parking, to stop early.
///
/// # Examples
///
/// ```
/// let (tx, rx) = dhaga_runtime::sync::bounded(1);
/// let busy = dhaga_runtime::spawn(move || {
///     tx.send(()).unwrap();
///     let mut rounds = 0u64;
///     while !dhaga_runtime::is_cancelled() {
///         rounds += 1; // work that never parks
///     }
///     rounds
/// });
/// rx.recv().unwrap(); // it is running
/// busy.cancel();
/// assert!(busy.join().is_ok(), "it stopped on its own and returned");
/// ```
pub fn is_cancelled() -> bool {
    park::is_cancelled()
}

/// The [`Unparker`] of the caller: its micro-thread, or its OS thread.
pub fn current_unparker() -> Unparker {
    Unparker::current()
}

/// Parks the caller until its token is set by [`Unparker::unpark`]; returns
/// at once if the token is already set (consuming it).
///
/// Wake-ups may be spurious: call it in a loop that re-checks the condition.
/// A micro-thread that is unwinding (a destructor running during a panic or
/// a cancellation) cannot park, so this returns at once; a loop around it
/// should give up when [`std::thread::panicking`] is true.
pub fn park() {
    park::park(Waiting::on(&wait::reason::PARK), None);
}

/// Parks the caller as [`park`] does, for at most `timeout`.
pub fn park_timeout(timeout: Duration) {
    park_deadline(Instant::now().checked_add(timeout));
}

/// Parks the caller as [`park`] does, until `deadline` at the latest
/// (`None`: no deadline). Returns `true` if the deadline has passed.
pub fn park_deadline(deadline: Option<Instant>) -> bool {
    park_deadline_for(&wait::reason::PARK, 0, deadline)
}

/// [`park_deadline`], saying what the caller waits for: a
/// [`dump`](crate::dump()) shows `reason` and, unless it is zero, `number`
/// (an id, an fd) for this micro-thread while it is parked here. For
/// libraries that block through [`park`], so that their users' dumps say
/// what each micro-thread waits for in the library's own words.
pub fn park_deadline_for(reason: &'static WaitReason, number: u64, deadline: Option<Instant>) -> bool {
    match park::park(Waiting::numbered(reason, number), deadline) {
        Wake::TimedOut => true,
        Wake::Notified | Wake::Cancelled => deadline.is_some_and(|d| Instant::now() >= d),
    }
}

// The crate's README snippets run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

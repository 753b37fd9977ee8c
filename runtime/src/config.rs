//! A runtime's configuration: what a [`RuntimeBuilder`](crate::RuntimeBuilder)
//! sets, fixed once the runtime is built, and the defaults.

use std::thread;
use std::time::Duration;

use crate::stack::StackMode;

/// Default usable stack size of a micro-thread.
pub const DEFAULT_STACK_SIZE: usize = 64 * 1024;

/// Stacks the shared pool of a runtime keeps for reuse, beyond each worker's
/// own cache.
const DEFAULT_STACK_POOL: usize = 16 * 1024;

/// How long a micro-thread may keep its worker before the watchdog reports
/// it, by default.
pub const DEFAULT_STALL_THRESHOLD: Duration = Duration::from_millis(100);

/// A runtime's configuration, fixed once it is built.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) workers: usize,
    pub(crate) stack_size: usize,
    pub(crate) stack_mode: StackMode,
    pub(crate) stack_pool: usize,
    pub(crate) thread_mode: bool,
    /// Stack size of threads in thread mode (`None`: std's default).
    pub(crate) thread_stack_size: Option<usize>,
    pub(crate) thread_name: String,
    /// See [`RuntimeBuilder::stall_threshold`]; zero: no watchdog.
    pub(crate) stall_threshold: Duration,
    /// See [`RuntimeBuilder::on_deadlock`](crate::RuntimeBuilder::on_deadlock).
    pub(crate) on_deadlock: Deadlock,
    /// See [`RuntimeBuilder::dump_on_signal`](crate::RuntimeBuilder::dump_on_signal).
    pub(crate) dump_on_signal: Option<libc::c_int>,
}

/// What a runtime does when it finds its micro-threads deadlocked (see
/// [`RuntimeBuilder::on_deadlock`](crate::RuntimeBuilder::on_deadlock)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Deadlock {
    /// Makes every [`Runtime::block_on`](crate::Runtime::block_on) waiting
    /// on the runtime panic with the report (and logs it): a test fails at
    /// once with the reason instead of hanging.
    Panic,
    /// Logs the report through [`log`] at error level, target
    /// `dhaga::deadlock`, once per deadlock.
    #[default]
    Log,
    /// Does not look for deadlocks.
    Ignore,
}

impl Config {
    /// The defaults: one worker per CPU, 64 KiB guarded stacks,
    /// micro-threads (not thread mode).
    pub(crate) fn new() -> Config {
        Config {
            workers: thread::available_parallelism().map_or(1, |n| n.get()),
            stack_size: DEFAULT_STACK_SIZE,
            stack_mode: StackMode::Guarded,
            stack_pool: DEFAULT_STACK_POOL,
            thread_mode: false,
            thread_stack_size: None,
            thread_name: "dhaga-worker".into(),
            stall_threshold: DEFAULT_STALL_THRESHOLD,
            on_deadlock: Deadlock::default(),
            dump_on_signal: None,
        }
    }
}

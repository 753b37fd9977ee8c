//! The scheduler: the workers of a runtime, each an OS thread running
//! micro-threads, and what they share.
//!
//! - `scheduler.rs`: what one runtime's workers share (run queues, sleep and
//!   wake-up bookkeeping, the stack pool), where a new micro-thread is
//!   placed, and the [`Schedule`](crate::task::Schedule) implementation
//!   that sends a woken micro-thread back to its worker;
//! - `worker.rs`: one worker's loop, its own queues, and the park and
//!   resume of its micro-threads;
//! - `timer.rs`, `reactor.rs`: a worker's timers, and its half of the
//!   reactor (the descriptors in its poller, their waiters);
//! - `headers.rs`: the headers of ended micro-threads kept for reuse, each
//!   worker's few hundred and the runtime's shared store behind them;
//! - `context.rs`: the thread-local that tells code which worker (and so
//!   which micro-thread) it runs on;
//! - `counters.rs`, `inspect.rs`: what a worker publishes for metrics, the
//!   watchdog and dumps.
//!
//! The one cycle between the runtime's files is here: the scheduler places
//! micro-threads on workers and wakes them, the workers run them and reach
//! the scheduler they share, and the context thread-local points at the
//! worker. Everything below (`task/`, `coroutine.rs`, `stack.rs`, `sys.rs`)
//! knows nothing of it; everything above (`park.rs`, `join.rs`, `io.rs`,
//! `sync/`, `runtime.rs`, ...) uses it through what this module exports.

pub(crate) mod context;
mod counters;
mod headers;
mod inspect;
mod reactor;
mod scheduler;
mod timer;
mod worker;

pub(crate) use counters::Counters;
pub(crate) use inspect::{OnCpuNow, Request, ThreadRecord};
pub(crate) use reactor::SourceState;
pub(crate) use scheduler::{SchedulerRef, Shared, SpawnOptions, Task, Unparker};
pub(crate) use worker::{recycle_task, run};

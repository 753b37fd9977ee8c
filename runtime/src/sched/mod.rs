//! The scheduler: the workers of a runtime, each an OS thread running
//! micro-threads, what they share (run queues, sleep and wake-up
//! bookkeeping, the stack pool), their timers, and the thread-local that
//! tells code which worker (and which micro-thread) it runs on.
//!
//! The one cycle of the runtime's modules is here: the scheduler places
//! micro-threads on workers and wakes them, the workers run them and reach
//! the scheduler they share, and the context thread-local points at the
//! worker. Everything below (`task/`, `coroutine.rs`, `stack.rs`, `sys.rs`)
//! knows nothing of it; everything above (`park.rs`, `join.rs`, `sync/`,
//! `runtime.rs`, ...) uses it through what this module exports.

pub(crate) mod context;
mod counters;
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

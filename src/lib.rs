//! dhaga: green threads for Rust. Write servers the simple way — one
//! micro-thread per connection, blocking calls top to bottom — and run them
//! on a few OS threads.
//!
//! This crate gathers the parts: the runtime (micro-threads, channels,
//! timers, the reactor) at the top level, [`sync`] for coordination, [`net`]
//! for sockets and `mq` for ZeroMQ-compatible messaging (the `mq` feature,
//! on by default).
//!
//! # Examples
//!
//! ```
//! let (tx, rx) = dhaga::sync::bounded(0);
//! let reply = dhaga::run(move || {
//!     dhaga::spawn(move || tx.send("pong").unwrap());
//!     rx.recv().unwrap()
//! });
//! assert_eq!(reply, "pong");
//! ```

pub use dhaga_runtime::{
    AccessError, Builder, Cancelled, DEFAULT_STACK_SIZE, DEFAULT_STALL_THRESHOLD, Deadlock, Dump, JoinHandle, LocalKey,
    Metrics, MicroThreadDump, Runtime, RuntimeBuilder, Scope, ScopedJoinHandle, Source, ThreadState, WaitReason,
    WorkerMetrics, dump, in_micro_thread, is_cancelled, local, metrics, run, scope, sleep, spawn, spawn_blocking,
    yield_now,
};
pub use dhaga_runtime::{
    FdEvents, FdWatch, Unparker, current_unparker, fd_ready, park, park_deadline, park_deadline_for, park_timeout,
};

#[cfg(feature = "mq")]
pub use dhaga_mq as mq;
pub use dhaga_net as net;
pub use dhaga_runtime::select;
pub use dhaga_runtime::sync;

// The README's snippets run as doc tests: what a newcomer copies compiles.
#[cfg(all(doctest, feature = "mq"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

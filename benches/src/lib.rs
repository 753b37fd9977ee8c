//! Workloads that compare dhaga's micro-threads with OS threads, `may` and
//! `tokio`, shared by the criterion bench and the `compare_runtime` program.
//!
//! # How it works
//!
//! Each implementation under comparison is a [`Contender`]: it owns its
//! runtime (built once, outside every measurement) and runs the same
//! [`Workload`]s with its own primitives — its own spawn, its own bounded
//! channel, its own yield. A workload runs a number of *operations* and
//! returns the time they took, measured inside the runtime; each operation is
//! a fixed number of *units*, and results are reported per unit:
//!
//! | workload | one operation | one unit |
//! | --- | --- | --- |
//! | [`Workload::SpawnJoin`] | spawn [`SPAWN_BATCH`] units, then join them all | one spawn + join |
//! | [`Workload::Handoff`] | one ping-pong round trip over two bounded(1) channels | one one-way handoff |
//! | [`Workload::Yield`] | one yield | one yield |
//!
//! Idle memory is measured by [`Contender::park_idle`] together with
//! [`ProcStatus`]: park many units, each blocked receiving on its own channel,
//! and compare the process's resident set size before and after.
//!
//! The programs that measure pairs of processes (`compare_mq`) put the two
//! sides on disjoint CPUs with [`halves`] of [`allowed_cpus`] and
//! [`spawn_on`], and read each side's CPU time as it exits with
//! [`try_wait_with_cpu`].
//!
//! # Example
//!
//! ```no_run
//! use dhaga_benches::{Workload, contenders};
//!
//! for contender in contenders(2) {
//!     let per_yield = Workload::Yield.time_units(&*contender, 1_000_000) / 1_000_000;
//!     println!("{}: {per_yield:?} per yield", contender.name());
//! }
//! ```

mod affinity;
mod contenders;
mod cpus;
mod proc_status;
mod table;
mod workload;

pub use crate::contenders::{CONTENDER_NAMES, Contender, Dhaga, May, Parked, Threads, Tokio, contender, contenders};
pub use crate::cpus::{Exited, allowed_cpus, cpu_list, halves, spawn_on, try_wait_with_cpu};
pub use crate::proc_status::{ProcStatus, cpu_time, page_size};
pub use crate::table::{median, print_aligned};
pub use crate::workload::{SPAWN_BATCH, Workload};

//! The deadlock report: every micro-thread of a runtime parked on something
//! that nothing the runtime knows of can wake.
//!
//! The runtime's watchdog thread (`watchdog.rs`) looks a few times per
//! stall threshold. A deadlock is suspected when, for [`QUIET_FOR`],
//! every worker is asleep with no timer pending, nothing is queued, the
//! blocking pool runs no job, and the workers' counters of starts, ends,
//! parks and wake-ups have not moved. Only then is a dump taken, and the
//! suspicion confirmed if every micro-thread in it is parked on a wait
//! that only another thread can end (a channel, a lock, a join, a select,
//! a scope: not an fd, a timer, a library's own wait such as an mq
//! socket's, which I/O may end) and the counters still have not moved.
//! The report shows their stacks when they are few ([`MAX_STACKS`]).
//!
//! What the runtime cannot know of: an OS thread outside it (or another
//! runtime) that holds a sender or a lock the micro-threads wait for. The
//! report says so; [`Deadlock::Log`], the default, only reports, and
//! [`Deadlock::Panic`] is for tests, whose `block_on` then fails at once
//! with the reason instead of hanging.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::blocking;
use crate::config::Deadlock;
use crate::dump::{self, Dump, ThreadState};
use crate::sched::Shared;

/// Where `log` records of deadlock reports go.
pub(crate) const TARGET: &str = "dhaga::deadlock";

/// How long the runtime must have stayed quiet before a deadlock is looked
/// into: a program whose micro-threads wait a moment for an OS thread of
/// its own (which the runtime cannot see) is not reported, and a deadlock
/// lasts for ever anyway.
const QUIET_FOR: Duration = Duration::from_millis(500);

/// The most micro-threads whose stacks a report shows: each capture walks
/// a stack (touching its pages), and a report of thousands would be read
/// by nobody.
const MAX_STACKS: usize = 64;

/// The deadlock watch of one runtime, kept by its watchdog thread.
#[derive(Default)]
pub(crate) struct Watch {
    /// The counters' signature at the last look, and since when looks have
    /// found the runtime quiet with it.
    last: Option<(u64, Instant)>,
    /// The signature last looked into with a dump: not looked into again
    /// until the runtime moves.
    checked: Option<u64>,
}

impl Watch {
    /// One look at `shared`; reports a deadlock it confirms.
    pub(crate) fn look(&mut self, shared: &Arc<Shared>) {
        let policy = shared.config.on_deadlock;
        if policy == Deadlock::Ignore || shared.config.thread_mode {
            return;
        }
        let Some(signature) = quiet_signature(shared) else {
            self.last = None;
            return;
        };
        let now = Instant::now();
        let since = match self.last {
            Some((last, since)) if last == signature => since,
            _ => now,
        };
        self.last = Some((signature, since));
        if now.duration_since(since) < QUIET_FOR || self.checked == Some(signature) {
            return;
        }
        self.checked = Some(signature);
        // First without stacks, cheap whatever the number of micro-threads;
        // then, for the report, with them. A dump wakes the workers to
        // answer, which moves no counter of the signature: they need not be
        // asleep again after it, but nothing may have run meanwhile.
        let unchanged = |dump: &Dump| only_threads_can_wake(dump) && counters_signature(shared).1 == signature;
        let dump = dump::take_with(shared, false);
        if !unchanged(&dump) {
            return;
        }
        let dump = if dump.micro_threads().len() <= MAX_STACKS {
            let dump = dump::take(shared);
            if !unchanged(&dump) {
                return;
            }
            dump
        } else {
            dump
        };
        let report: Arc<str> = Arc::from(report(&dump));
        log::error!(target: TARGET, "{report}");
        if policy == Deadlock::Panic {
            shared.deadlock.set(report);
        }
    }
}

/// If the runtime is quiet — every worker asleep with no timer, nothing
/// queued, no blocking job or OS thread of its own running, micro-threads
/// alive — a number that changes whenever a worker starts, ends, parks or
/// wakes a micro-thread.
fn quiet_signature(shared: &Shared) -> Option<u64> {
    // An OS thread the runtime started, or a blocking job, may wake anyone.
    if shared.is_shutdown() || !shared.injector.is_empty() || blocking::threads().0 > 0 || shared.live_threads() > 0 {
        return None;
    }
    for worker in shared.workers.iter() {
        if !worker.asleep.load(Ordering::Relaxed)
            || !worker.timerless.load(Ordering::Relaxed)
            || !worker.fresh.is_empty()
            || !worker.inbox.is_empty()
        {
            return None;
        }
    }
    let (alive, signature) = counters_signature(shared);
    (alive > 0).then_some(signature)
}

/// The micro-threads alive, and a number that changes whenever a worker
/// starts, ends, parks or wakes a micro-thread.
fn counters_signature(shared: &Shared) -> (u64, u64) {
    let mut signature = 0u64;
    let mut alive = 0u64;
    for worker in shared.workers.iter() {
        let counters = &worker.counters;
        let (started, finished) = (counters.started.get(), counters.finished.get());
        alive += started.saturating_sub(finished);
        for moved in [
            started,
            finished,
            counters.parks.get(),
            counters.yields.get(),
            counters.local_wakeups.get(),
            counters.remote_wakeups.get(),
        ] {
            signature = signature.wrapping_mul(31).wrapping_add(moved);
        }
    }
    (alive, signature)
}

/// Whether every micro-thread of `dump` is parked on a wait only another
/// thread can end (a join, only of a micro-thread listed: one of another
/// runtime, or on an OS thread of its own, may be running).
fn only_threads_can_wake(dump: &Dump) -> bool {
    let threads = dump.micro_threads();
    dump.silent_workers().is_empty()
        && !threads.is_empty()
        && threads.iter().all(|thread| {
            thread.state() == ThreadState::Parked
                && thread.only_threads_can_wake()
                && thread
                    .joins()
                    .is_none_or(|joined| threads.iter().any(|other| other.id() == joined))
        })
}

fn report(dump: &Dump) -> String {
    format!(
        "dhaga: deadlock: all {} micro-threads of this runtime are parked, each waiting for something only \
         another thread can give (a channel, a lock, a join), and nothing the runtime knows of can wake one: no \
         timer, no I/O, no blocking job. An OS thread outside the runtime, or another runtime, may still hold \
         what they wait for; if one does, this report is wrong.\n{dump}",
        dump.micro_threads().len()
    )
}

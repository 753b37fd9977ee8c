//! A worker's timers: deadlines of its parked micro-threads.
//!
//! Only the worker's own thread touches its timers: a micro-thread registers
//! its deadline right before it parks (on its worker) and removes it right
//! after it resumes, so no locking is needed. Entries are keyed by deadline
//! and a sequence number, which makes removal of an early-woken entry
//! `O(log n)` instead of leaving garbage behind.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::scheduler::Task;

/// Identifies one timer entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerKey(Instant, u64);

/// Deadlines ordered by time.
#[derive(Default)]
pub(crate) struct Timers {
    entries: BTreeMap<TimerKey, Arc<Task>>,
    next_seq: u64,
}

impl Timers {
    /// Arms a timer that unparks `task` at `deadline`.
    pub(crate) fn insert(&mut self, deadline: Instant, task: Arc<Task>) -> TimerKey {
        let key = TimerKey(deadline, self.next_seq);
        self.next_seq += 1;
        self.entries.insert(key, task);
        key
    }

    /// Disarms a timer. Returns false if it had already fired.
    pub(crate) fn remove(&mut self, key: TimerKey) -> bool {
        self.entries.remove(&key).is_some()
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.entries.first_key_value().map(|(key, _)| key.0)
    }

    /// Removes and returns the task of the earliest timer due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Arc<Task>> {
        match self.entries.first_entry() {
            Some(entry) if entry.key().0 <= now => Some(entry.remove()),
            _ => None,
        }
    }

    /// Whether no timer is armed.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops every entry (shutdown).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}

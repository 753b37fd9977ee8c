//! What a park waits for: the reasons a dump shows for a parked
//! micro-thread, the runtime's own and those libraries name.
//!
//! Every park notes a [`Waiting`] (a reason and a number) in the parking
//! micro-thread's header, with a few plain stores; a dump reads it back
//! (see `dump.rs`), and the deadlock watch looks at whether only another
//! thread can end the wait.

/// What a parked micro-thread waits for, in words, as a [`Dump`](crate::Dump) shows it.
///
/// The runtime notes one at every park; a library that parks through
/// [`park_deadline_for`](crate::park_deadline_for) passes its own, made
/// once as a `static`:
///
/// ```
/// use dhaga_runtime::WaitReason;
///
/// static RECV: WaitReason = WaitReason::new("recv on mq socket");
/// ```
///
/// A dump shows the words and, after them, the number the park gave (an
/// id, an fd), unless it is zero.
#[derive(Debug)]
pub struct WaitReason {
    words: &'static str,
    number: Number,
    /// Only another micro-thread or OS thread can end the wait (no I/O, no
    /// timer): what a deadlock is made of.
    only_threads: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Number {
    Decimal,
    /// An address, which tells waits on the same object apart.
    Hex,
}

impl WaitReason {
    /// A reason described by `words`; the number given with it at a park is
    /// shown in decimal after them.
    pub const fn new(words: &'static str) -> WaitReason {
        WaitReason {
            words,
            number: Number::Decimal,
            only_threads: false,
        }
    }

    /// A reason whose number is an object's address, shown in hex (which
    /// tells micro-threads waiting on the same object apart).
    pub const fn at_address(words: &'static str) -> WaitReason {
        WaitReason {
            words,
            number: Number::Hex,
            only_threads: false,
        }
    }

    /// The runtime's reasons that only another thread can end.
    const fn between_threads(words: &'static str, number: Number) -> WaitReason {
        WaitReason {
            words,
            number,
            only_threads: true,
        }
    }

    /// The words.
    pub fn words(&self) -> &'static str {
        self.words
    }

    /// Whether only another micro-thread or OS thread can end the wait.
    pub(crate) fn only_threads(&self) -> bool {
        self.only_threads
    }

    /// The words and, unless it is zero, `number`, as a dump shows them.
    pub(crate) fn describe(&self, number: u64) -> String {
        match (number, self.number) {
            (0, _) => self.words.to_string(),
            (n, Number::Decimal) => format!("{} {n}", self.words),
            (n, Number::Hex) => format!("{} {n:#x}", self.words),
        }
    }
}

/// What a park is for: a reason and its number.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Waiting {
    pub(crate) reason: &'static WaitReason,
    pub(crate) number: u64,
}

impl Waiting {
    /// `reason`, with no number.
    pub(crate) const fn on(reason: &'static WaitReason) -> Waiting {
        Waiting { reason, number: 0 }
    }

    /// `reason`, for the object at `object` (an address).
    pub(crate) fn at<T: ?Sized>(reason: &'static WaitReason, object: *const T) -> Waiting {
        Waiting {
            reason,
            number: object.cast::<()>() as usize as u64,
        }
    }

    /// `reason`, with `number` (an fd, an id).
    pub(crate) const fn numbered(reason: &'static WaitReason, number: u64) -> Waiting {
        Waiting { reason, number }
    }
}

/// The runtime's own reasons.
pub(crate) mod reason {
    use super::{Number, WaitReason};

    pub(crate) static PARK: WaitReason = WaitReason::new("park");
    pub(crate) static SLEEP: WaitReason = WaitReason::new("sleep");
    pub(crate) static JOIN: WaitReason = WaitReason::between_threads("join of micro-thread", Number::Decimal);
    // Not between threads as far as deadlocks go: a scope's children may be
    // OS threads, which the runtime does not see.
    pub(crate) static SCOPE: WaitReason = WaitReason::new("scope: its micro-threads to end");
    pub(crate) static RECV: WaitReason = WaitReason::between_threads("recv on channel", Number::Hex);
    pub(crate) static SEND: WaitReason = WaitReason::between_threads("send on channel", Number::Hex);
    pub(crate) static SELECT: WaitReason = WaitReason::between_threads("select over operations:", Number::Decimal);
    pub(crate) static READABLE: WaitReason = WaitReason::new("readable fd");
    pub(crate) static WRITABLE: WaitReason = WaitReason::new("writable fd");
    pub(crate) static MUTEX: WaitReason = WaitReason::between_threads("lock of Mutex", Number::Hex);
    pub(crate) static READ_LOCK: WaitReason = WaitReason::between_threads("lock (read) of RwLock", Number::Hex);
    pub(crate) static WRITE_LOCK: WaitReason = WaitReason::between_threads("lock (write) of RwLock", Number::Hex);
    pub(crate) static CONDVAR: WaitReason = WaitReason::between_threads("wait on Condvar", Number::Hex);
    pub(crate) static SEMAPHORE: WaitReason = WaitReason::between_threads("acquire of Semaphore", Number::Hex);
    pub(crate) static BARRIER: WaitReason = WaitReason::between_threads("wait on Barrier", Number::Hex);
    pub(crate) static WAIT_GROUP: WaitReason = WaitReason::between_threads("wait on WaitGroup", Number::Hex);
    pub(crate) static ONCE: WaitReason =
        WaitReason::between_threads("lock of OnceLock (another initializes it)", Number::Hex);
    pub(crate) static DUMP: WaitReason = WaitReason::new("dump: the workers' answers");
}

#[cfg(test)]
mod tests {
    use super::reason;

    #[test]
    fn a_reason_shows_its_number_unless_zero() {
        assert_eq!(reason::SLEEP.describe(0), "sleep");
        assert_eq!(reason::READABLE.describe(7), "readable fd 7");
        assert_eq!(reason::RECV.describe(0x1f0), "recv on channel 0x1f0");
    }
}

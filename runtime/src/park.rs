//! Parking and unparking, as `std::thread::park` and `Thread::unpark` do for
//! OS threads, for whatever the caller is: a micro-thread parks alone, an OS
//! thread blocks.
//!
//! This is the primitive the runtime's own channels and joins are built on;
//! it is public so that other crates (`dhaga-mq`'s sockets) and users can
//! build their own waiting structures with it.

use std::fmt;
use std::time::{Duration, Instant};

use crate::task::{self, Wake};
use crate::wait::{WaitReason, Waiting, reason};

/// A handle that wakes one micro-thread or OS thread parked with [`park`]
/// (or makes its next `park` return at once).
///
/// Each micro-thread and OS thread has one wake-up token, as in
/// `std::thread`: `unpark` sets it, `park` consumes it or waits for it.
/// Several `unpark`s before a `park` make one wake-up.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// let done = Arc::new(AtomicBool::new(false));
/// let waiter = dhaga_runtime::current_unparker();
/// let flag = Arc::clone(&done);
/// dhaga_runtime::spawn(move || {
///     flag.store(true, Ordering::Release);
///     waiter.unpark();
/// });
/// while !done.load(Ordering::Acquire) {
///     dhaga_runtime::park(); // wake-ups may be spurious: re-check
/// }
/// ```
#[derive(Clone)]
pub struct Unparker(task::Unparker);

impl Unparker {
    /// Sets the target's wake-up token, resuming it if it is parked.
    /// Callable from any thread.
    pub fn unpark(&self) {
        self.0.clone().unpark();
    }

    /// Whether `self` and `other` wake the same micro-thread or OS thread.
    pub fn same_target(&self, other: &Unparker) -> bool {
        self.0.id() == other.0.id()
    }

    /// The runtime's own unparker, for the crate's wait lists.
    pub(crate) fn into_inner(self) -> task::Unparker {
        self.0
    }
}

impl fmt::Debug for Unparker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Unparker").field(&self.0.id()).finish()
    }
}

/// The [`Unparker`] of the caller: its micro-thread, or its OS thread.
pub fn current_unparker() -> Unparker {
    Unparker(task::Unparker::current())
}

/// Parks the caller until its token is set by [`Unparker::unpark`]; returns
/// at once if the token is already set (consuming it).
///
/// Wake-ups may be spurious: call it in a loop that re-checks the condition.
/// A micro-thread that is unwinding (a destructor running during a panic or
/// a cancellation) cannot park, so this returns at once; a loop around it
/// should give up when [`std::thread::panicking`] is true.
pub fn park() {
    task::park(Waiting::on(&reason::PARK), None);
}

/// Parks the caller as [`park`] does, for at most `timeout`.
pub fn park_timeout(timeout: Duration) {
    park_deadline(Instant::now().checked_add(timeout));
}

/// Parks the caller as [`park`] does, until `deadline` at the latest
/// (`None`: no deadline). Returns `true` if the deadline has passed.
pub fn park_deadline(deadline: Option<Instant>) -> bool {
    park_deadline_for(&reason::PARK, 0, deadline)
}

/// [`park_deadline`], saying what the caller waits for: a
/// [`dump`](crate::dump()) shows `reason` and, unless it is zero, `number`
/// (an id, an fd) for this micro-thread while it is parked here. For
/// libraries that block through [`park`], so that their users' dumps say
/// what each micro-thread waits for in the library's own words.
pub fn park_deadline_for(reason: &'static WaitReason, number: u64, deadline: Option<Instant>) -> bool {
    match task::park(Waiting::numbered(reason, number), deadline) {
        Wake::TimedOut => true,
        Wake::Notified | Wake::Cancelled => deadline.is_some_and(|d| Instant::now() >= d),
    }
}

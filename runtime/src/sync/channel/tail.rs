//! An unbounded channel's senders' end, [`Tail`]: how senders stay off the
//! receivers' lock without a wake-up being lost.
//!
//! An unbounded channel's messages are split between two queues with a lock
//! each, as in Michael and Scott's two-lock queue: senders append to the
//! *tail* (here, with a lock of its own), receivers take from the *head*
//! (`State::queue`, under the channel's lock, with the wait lists), and a
//! receiver that finds the head empty takes the whole tail at once,
//! swapping the two queues ([`Tail::take_into`]). So senders contend only
//! with each other, and with a receiver once per batch, never with every
//! receive or with the bookkeeping of waiters; and the receiver, which
//! several fast senders make the bottleneck, takes a message for the price
//! of a lock that other receivers only share. The messages keep their
//! order: the head holds only messages older than any in the tail.
//!
//! # The wake-up protocol
//!
//! A sender takes the channel's lock only if a receiver may be waiting,
//! which a flag tells it, [`Tail::receivers_listed`]. A wake-up is not lost
//! between a receiver's "nothing there" and its park because the tail's
//! lock orders the two sides:
//!
//! - a sender appends its message under the tail's lock, releases it, and
//!   then reads the flag; only if it is set does it take the channel's lock,
//!   to wake a listed receiver ([`Tail::send`]);
//! - a receiver that found nothing lists itself and sets the flag (under the
//!   channel's lock, [`Tail::set_listed`]), and then looks at the tail once
//!   more, under the tail's lock ([`Tail::take_into`]), before it parks
//!   (`Chan::wait`).
//!
//! If the receiver took the tail's lock after the sender, it finds the
//! message. If before, its release of that lock happens before the sender's
//! acquiring it, so its setting of the flag happens before the sender's
//! load, which sees it. The flag is set under the channel's lock by whoever
//! lists a receiver, and cleared under it only when no receiver is listed
//! ([`Tail::clear_listed`]), so it is never clear while one is.
//!
//! loom checks this, running these methods and the spinlock under them
//! (their atomics come from `primitive.rs`): `model.rs` beside this
//! file, `scripts/loom.sh`. Without the receiver's second look, loom finds
//! the lost wake-up.
//!
//! (Lock-free queues were measured in this place and not taken: with
//! crossbeam-queue's `SegQueue`, the segmented list crossbeam-channel's
//! unbounded flavour is built on, a receive costs two contended
//! read-modify-writes on lines the senders write, and `compare_sync`'s
//! unbounded rows came out about 1.6 times slower on the two-CPU machines
//! measured, level with crossbeam-channel; an `ArrayQueue` ring with a
//! locked overflow was no better once senders outran the receiver.)

use std::collections::VecDeque;

use crate::primitive::{AtomicBool, Ordering};
use crate::spin::SpinLock;

/// An unbounded channel's senders' end: the tail of its messages, and the
/// flags every send reads (kept on the tail's cache line, which the send
/// holds anyway).
///
/// Its methods are the two sides of the protocol in the module
/// documentation; what they need of the channel's lock (which receivers
/// are listed, waking one) is the caller's.
pub(super) struct Tail<T> {
    /// Messages sent and not yet taken that came after all those in the
    /// receivers' end (`State::queue`), under a lock of its own. Receivers
    /// take its messages a whole batch at a time, when their end is empty.
    queue: SpinLock<VecDeque<T>>,
    /// Whether a receiver may be listed on the channel's receiving wait
    /// list; never clear while one is. Set under the channel's lock by
    /// whoever lists a receiver, cleared under it when the list is empty. A
    /// send reads it after its push, to learn whether it must take the
    /// channel's lock to wake someone (module documentation).
    receivers_listed: AtomicBool,
    /// Every receiver is gone: set under the channel's lock and the tail's
    /// when the last receiver is dropped (it is never cleared), for
    /// [`Tail::send`], which takes only the tail's.
    disconnected: AtomicBool,
}

impl<T> Tail<T> {
    /// An empty tail, with no receiver listed.
    pub(super) const fn new() -> Tail<T> {
        Tail {
            queue: SpinLock::new(VecDeque::new()),
            receivers_listed: AtomicBool::new(false),
            disconnected: AtomicBool::new(false),
        }
    }

    /// The tail, its atomics made in this thread, for a model to share (see
    /// `primitive.rs`; nothing to do but under loom).
    #[cfg(test)]
    pub(super) fn made(self) -> Tail<T> {
        #[cfg(loom)]
        {
            self.receivers_listed.made();
            self.disconnected.made();
        }
        Tail {
            queue: self.queue.made(),
            ..self
        }
    }

    // The senders' side.

    /// Sends `msg` without the channel's lock: appends it under the tail's
    /// lock and then, that lock released, calls `wake` if a receiver may be
    /// listed (`wake` takes the channel's lock and wakes one). Gives the
    /// message back if every receiver is gone.
    #[inline(always)]
    pub(super) fn send(&self, msg: T, wake: impl FnOnce()) -> Result<(), T> {
        {
            let mut queue = self.queue.lock();
            // ORDERING: Relaxed; the last receiver sets it under this lock
            // too (`Tail::disconnect`), so a send comes before the
            // disconnection (its message is dropped with the channel, like
            // every message left in it) or after it, and fails.
            if self.disconnected.load(Ordering::Relaxed) {
                return Err(msg);
            }
            queue.push_back(msg);
        }
        // ORDERING: Relaxed. A receiver that lists itself sets the flag and
        // then looks at the tail under the tail's lock. If it took that lock
        // after this push, it finds the message; if before, its unlocking
        // happens before this push's locking, so this load sees the flag
        // (module documentation).
        if self.receivers_listed.load(Ordering::Relaxed) {
            wake();
        }
        Ok(())
    }

    /// Appends `msg` for a caller that holds the channel's lock, and so
    /// sees the listed receivers itself: no flag is read, and the caller
    /// has checked that a receiver is left.
    pub(super) fn push_locked(&self, msg: T) {
        self.queue.lock().push_back(msg);
    }

    // The receivers' side, under the channel's lock.

    /// A receiver (or a watcher) was just listed: sets the flag. A receiver
    /// must then look at the tail ([`Tail::take_into`], or
    /// [`Tail::is_empty`]) before it parks.
    #[inline(always)]
    pub(super) fn set_listed(&self) {
        // ORDERING: Relaxed; written under the channel's lock, before the
        // listed receiver looks at the tail under the tail's lock, which
        // orders it for a sender that pushes later (module documentation).
        self.receivers_listed.store(true, Ordering::Relaxed);
    }

    /// No receiver is listed any more: clears the flag.
    #[inline(always)]
    pub(super) fn clear_listed(&self) {
        // ORDERING: Relaxed: only done with nobody listed, and under the
        // channel's lock, which every listing takes (`set_listed`).
        self.receivers_listed.store(false, Ordering::Relaxed);
    }

    /// Moves the whole tail to `head`, the receivers' end, which is empty:
    /// the two queues are swapped, so the senders get the emptied one's
    /// allocation back. The locks are always taken in this order: the
    /// channel's, then the tail's (senders hold the tail's alone).
    #[inline(never)]
    pub(super) fn take_into(&self, head: &mut VecDeque<T>) {
        debug_assert!(head.is_empty(), "the head holds older messages");
        let mut queue = self.queue.lock();
        if !queue.is_empty() {
            std::mem::swap(head, &mut *queue);
        }
    }

    /// Whether no message is in the tail.
    pub(super) fn is_empty(&self) -> bool {
        self.queue.lock().is_empty()
    }

    /// The number of messages in the tail.
    pub(super) fn len(&self) -> usize {
        self.queue.lock().len()
    }

    /// The last receiver is gone: every later [`Tail::send`] fails.
    pub(super) fn disconnect(&self) {
        let _queue = self.queue.lock();
        // ORDERING: Relaxed, under the tail's lock; see `Tail::send`.
        self.disconnected.store(true, Ordering::Relaxed);
    }
}

/// The two sides' operations one after the other. The protocol between
/// threads is `model.rs`'s, run by loom and on OS threads (and so under
/// Miri).
#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::Tail;

    #[test]
    fn a_send_wakes_only_while_a_receiver_is_listed() {
        let tail = Tail::new();
        let mut woken = 0;
        assert_eq!(tail.send(1, || woken += 1), Ok(()));
        assert_eq!(woken, 0, "nobody listed");
        tail.set_listed();
        assert_eq!(tail.send(2, || woken += 1), Ok(()));
        assert_eq!(woken, 1, "a receiver listed");
        tail.clear_listed();
        tail.push_locked(3);
        assert_eq!(tail.len(), 3);

        let mut head = VecDeque::new();
        tail.take_into(&mut head);
        assert_eq!(head, [1, 2, 3], "the whole batch, in order");
        assert!(tail.is_empty());
        head.clear();
        tail.take_into(&mut head);
        assert!(head.is_empty(), "nothing more");

        tail.disconnect();
        assert_eq!(tail.send(4, || woken += 1), Err(4), "the message comes back");
        assert_eq!(woken, 1);
    }
}

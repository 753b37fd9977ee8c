//! A model of an unbounded channel's wake-up protocol (`tail.rs`), run by
//! loom and by plain threads: the real [`Tail`] and the real [`SpinLock`],
//! driven by senders and a receiver that do what `Chan::send_unbounded`,
//! `Chan::wake_listed` and `Chan::wait` do.
//!
//! The channel's lock guards a [`Head`] here: the receivers' end of the
//! messages and the receiving wait list, cut down to the one receiver that
//! may be listed on it. The runtime's park is `thread::park`, its unparker
//! a `thread::Thread`. A message lost fails the receiver's assertions; a
//! wake-up lost leaves the receiver parked for ever with the senders done.
//!
//! - Built with `--cfg loom` (`scripts/loom.sh`), the threads and the
//!   atomics are loom's (`primitive.rs`), and the `loom_*` models explore
//!   the interleavings of a few operations, and the outcomes of their
//!   atomics, exhaustively; loom reports a lost wake-up as a deadlock:
//!
//!   ```text
//!   RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!       cargo test -p dhaga-runtime --release --lib loom
//!   ```
//!
//! - Otherwise the `threads_*` tests run the same model on OS threads, many
//!   rounds, and under Miri (`scripts/miri.sh`) on Miri's random schedules
//!   and weak-memory outcomes; Miri reports a lost wake-up as a deadlock too.

use std::collections::VecDeque;
use std::sync::Arc;

#[cfg(loom)]
use loom::thread::{self, Thread};
#[cfg(not(loom))]
use std::thread::{self, Thread};

use super::tail::Tail;
use crate::spin::SpinLock;

/// What the channel's lock guards, as far as the protocol goes.
struct Head {
    /// The receivers' end of the messages (`State::queue`).
    queue: VecDeque<(usize, u32)>,
    /// The receiving wait list: the receiver, while it is listed.
    listed: Option<Thread>,
}

/// An unbounded channel, cut down to its wake-up protocol.
struct Channel {
    /// The channel's lock, and what it guards.
    head: SpinLock<Head>,
    /// The senders' end: the code under test.
    tail: Tail<(usize, u32)>,
}

impl Channel {
    /// An empty channel, with nobody listed.
    fn new() -> Channel {
        Channel {
            head: SpinLock::new(Head {
                queue: VecDeque::new(),
                listed: None,
            })
            .made(),
            tail: Tail::new().made(),
        }
    }

    /// `Chan::send_unbounded`.
    fn send(&self, msg: (usize, u32)) {
        self.tail
            .send(msg, || self.wake_listed())
            .expect("the receiver is here");
    }

    /// `Chan::wake_listed`: under the channel's lock, wake the listed
    /// receiver if there is a message for it (`Locked::wake_receiver`, which
    /// takes it off the list), and clear the flag once nobody is listed
    /// (`Locked::sync_listed`).
    fn wake_listed(&self) {
        let mut head = self.head.lock();
        let has_message = !head.queue.is_empty() || !self.tail.is_empty();
        if has_message && let Some(receiver) = head.listed.take() {
            receiver.unpark();
        }
        if head.listed.is_none() {
            self.tail.clear_listed();
        }
    }

    /// `Chan::wait` with `Locked::recv_step`'s attempt (`pop_message`:
    /// the head, else the whole tail). `look_again`: whether the receiver
    /// looks at the tail once more after it is listed, as `Chan::wait`
    /// does; the model without it shows the wake-up that look saves.
    fn recv(&self, look_again: bool) -> (usize, u32) {
        let mut head = self.head.lock();
        loop {
            if let Some(msg) = self.pop(&mut head) {
                self.delist(&mut head);
                return msg;
            }
            // Nothing: list the receiver (`Locked::list`, `Locked::listed`).
            head.listed = Some(thread::current());
            self.tail.set_listed();
            if look_again && let Some(msg) = self.pop(&mut head) {
                self.delist(&mut head);
                return msg;
            }
            drop(head);
            thread::park();
            head = self.head.lock();
            // Woken (taken off the list), or spuriously: try again.
        }
    }

    /// `Locked::pop_message`.
    fn pop(&self, head: &mut Head) -> Option<(usize, u32)> {
        if head.queue.is_empty() {
            self.tail.take_into(&mut head.queue);
        }
        head.queue.pop_front()
    }

    /// `Locked::delist`: off the list if still there, and the flag cleared
    /// with nobody listed.
    fn delist(&self, head: &mut Head) {
        head.listed = None;
        self.tail.clear_listed();
    }
}

/// `senders` threads each send `messages` messages while the model's own
/// thread receives them all: none is lost, each sender's arrive in order,
/// and the receiver is always woken for them.
fn senders_and_a_receiver(senders: usize, messages: u32, look_again: bool) {
    let chan = Arc::new(Channel::new());
    let threads: Vec<_> = (0..senders)
        .map(|s| {
            let chan = Arc::clone(&chan);
            thread::spawn(move || {
                for i in 0..messages {
                    chan.send((s, i));
                }
            })
        })
        .collect();
    let mut next = vec![0; senders];
    for _ in 0..senders * messages as usize {
        let (s, i) = chan.recv(look_again);
        assert_eq!(i, next[s], "sender {s}'s messages in order, none lost");
        next[s] += 1;
    }
    for t in threads {
        t.join().unwrap();
    }
    assert!(chan.tail.is_empty() && chan.head.lock().queue.is_empty());
}

/// Runs `model` in every way loom explores, with at most `preemptions`
/// preemptions unless `LOOM_MAX_PREEMPTIONS` says otherwise (`None`: no
/// bound).
#[cfg(loom)]
fn explore(preemptions: Option<usize>, model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = preemptions;
    }
    builder.check(model);
}

/// The lock itself: two threads update a loom cell under it, and loom
/// checks that the lock orders their accesses (it would report a data race
/// otherwise) and that both updates land.
#[cfg(loom)]
#[test]
fn loom_spinlock_excludes_and_orders() {
    explore(None, || {
        let lock = Arc::new(SpinLock::new(loom::cell::UnsafeCell::new(0)).made());
        let other = {
            let lock = Arc::clone(&lock);
            thread::spawn(move || {
                let guard = lock.lock();
                // SAFETY: under the lock, the only access to the cell.
                guard.with_mut(|n| unsafe { *n += 1 });
            })
        };
        {
            let guard = lock.lock();
            // SAFETY: as above.
            guard.with_mut(|n| unsafe { *n += 1 });
        }
        other.join().unwrap();
        // SAFETY: as above.
        lock.lock().with(|n| assert_eq!(unsafe { *n }, 2));
    });
}

/// One sender of two messages: the interleavings of its sends with the
/// receiver's looks, parks and wake-ups.
///
/// Explored with at most seven preemptions (unless `LOOM_MAX_PREEMPTIONS`
/// says otherwise): about 200,000 executions, seconds. Unbounded (say
/// `LOOM_MAX_PREEMPTIONS=1000`) it passes too, after some seven million
/// executions and minutes.
#[cfg(loom)]
#[test]
fn loom_one_sender_wakes_the_receiver() {
    explore(Some(7), || senders_and_a_receiver(1, 2, true));
}

/// Two senders of a message each, whose wake-ups may also race with each
/// other.
///
/// Explored with at most one preemption (unless `LOOM_MAX_PREEMPTIONS` says
/// otherwise): with two, loom finds schedules in which two threads spin on
/// the spinlock for ever, a livelock of its exploration rather than of the
/// lock (a waiter that yields is not made to see the holder's release, and
/// loom gives up at its limit of branches; tokio-rs/loom#162).
#[cfg(loom)]
#[test]
fn loom_two_senders_wake_the_receiver() {
    explore(Some(1), || senders_and_a_receiver(2, 1, true));
}

/// The mutation: a receiver that parks right after listing itself, without
/// the second look at the tail. A sender that pushed between the
/// receiver's first look and its listing read the flag clear and woke
/// nobody: loom finds the receiver parked forever.
#[cfg(loom)]
#[test]
#[should_panic(expected = "deadlock")]
fn loom_without_the_second_look_a_wake_up_is_lost() {
    explore(None, || senders_and_a_receiver(1, 2, false));
}

/// A send racing with the last receiver's leaving: it fails and gives its
/// message back, or it came first and its message is in the tail.
#[cfg(loom)]
#[test]
fn loom_a_send_racing_the_disconnection_fails_or_is_kept() {
    explore(None, || {
        let tail = Arc::new(Tail::new().made());
        let leaving = {
            let tail = Arc::clone(&tail);
            thread::spawn(move || tail.disconnect())
        };
        let sent = tail.send(7, || {});
        leaving.join().unwrap();
        match sent {
            Ok(()) => assert_eq!(tail.len(), 1, "sent before: kept"),
            Err(msg) => assert_eq!((msg, tail.len()), (7, 0), "sent after: given back"),
        }
        assert_eq!(tail.send(8, || {}), Err(8), "after the join, it fails");
    });
}

/// Rounds of the model on OS threads: fewer under Miri, which is slow.
#[cfg(not(loom))]
const ROUNDS: u32 = if cfg!(miri) { 4 } else { 2_000 };

/// Two senders of a few messages each and the receiver, on OS threads,
/// round after round: each round's receive usually finds the channel empty
/// and lists itself just as a sender sends.
#[cfg(not(loom))]
#[test]
fn threads_two_senders_wake_the_receiver() {
    for _ in 0..ROUNDS {
        senders_and_a_receiver(2, 4, true);
    }
}

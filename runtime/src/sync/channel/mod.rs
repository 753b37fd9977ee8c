//! Multi-producer multi-consumer channels that park micro-threads and block
//! OS threads, in the style of `crossbeam-channel`.
//!
//! # How it works
//!
//! A lock guards each channel's two wait lists (receivers waiting for a
//! message, senders waiting for room) and the messages on their way to the
//! receivers. A waiter re-checks the channel under the lock every time it
//! wakes, so spurious wake-ups and timeouts that race with a wake-up lose
//! nothing: a message that arrived is taken even if the timer fired too.
//!
//! # Unbounded channels: senders off the receivers' lock
//!
//! An unbounded channel's messages are split between two queues with a lock
//! each, as in Michael and Scott's two-lock queue: senders append to the
//! tail ([`Tail`], with a lock of its own), receivers take from the head
//! under the channel's lock, and a sender takes the channel's lock only if
//! a flag says a receiver may be waiting. `tail.rs` says why no wake-up is
//! lost between a receiver's "nothing there" and its park; loom checks it
//! (`model.rs`, `scripts/loom.sh`).
//!
//! # Fairness
//!
//! Waiters are served in the order they came. A blocking waiter is taken off
//! its list when it is woken; if it then finds that another thread took the
//! message (or the room) first — one that came along and did not have to
//! wait — it goes back to its place, ahead of everyone who came after it,
//! not to the back of the list: each entry carries a ticket numbered in
//! order of arrival, and a list stays sorted by ticket ([`WaitList`]).
//!
//! # Rendezvous
//!
//! Capacity zero is a rendezvous: a sender hands its message to a waiting
//! receiver, or offers it and waits until a receiver takes it. A message handed
//! over is set aside for that receiver alone ([`Handoff`](handoff::Handoff)),
//! and the hand-over is where both operations complete, as in crossbeam-channel
//! and Go: the receiver's `recv` returns that message even if the receiver was
//! cancelled after the hand-over and before it ran again (the cancellation
//! takes effect at its next park instead), so a `send` that returned `Ok` gave
//! its message to a `recv` that returned it. A receiver that is cancelled
//! already is passed over. The same holds the other way round: a sender whose
//! offer a receiver took returns `Ok`, cancelled meanwhile or not. A receiver
//! that gives up *before* a message was handed to it (it was cancelled, or
//! timed out) takes nothing with it.
//!
//! # Selectors
//!
//! A [`Select`](super::Select) waits on several channels at once. It is listed
//! on each channel's wait lists like a blocking caller, but it is not woken to
//! retry: whoever finds it listed first *commits* it to that operation (a
//! compare-and-swap on its shared state, which only one party can win) and sets
//! aside, under the channel's lock, what completing the operation needs — a
//! [`Handoff`](handoff::Handoff) holding the message for a receiving selector,
//! a reserved unit of room for a sending one. A party that loses the
//! compare-and-swap skips the selector and serves the next waiter, so a wake-up
//! is never spent on a selector that went elsewhere.
//!
//! A sending selector does not know its message until its caller completes the
//! selected operation, so on a rendezvous channel pairing it with a receiver
//! leaves that receiver a pending [`Handoff`](handoff::Handoff): the receiver
//! waits for the message (past its deadline, since the sender has committed to
//! it), and the sender fills the handoff when it completes. If the receiver is
//! cancelled while it waits, the send goes to the next receiver waiting, or
//! fails and gives the message back: it is never left in the channel as if it
//! had been received.
//!
//! # Watchers
//!
//! A poller that waits on channels beside other things (sockets, file
//! descriptors) must hear of every change but take nothing: it is not the one
//! that will receive. [`Receiver::watch`] and [`Sender::watch`] list it as a
//! *watcher* ([`Waiter::Watch`](wait_list::Waiter::Watch)) on the wait list of
//! the end it watches. Whoever would wake a waiter of that list — a sender with
//! a message, a receiver making room, a rendezvous counterpart being listed,
//! the other side leaving — wakes every watcher as well, leaving them listed,
//! and serves the first real waiter as before: the methods that pick the waiter
//! to serve pass watchers over. So a watcher never takes the one wake-up meant
//! for a blocked `recv` or `send`.
//!
//! Being listed, a watcher makes the list non-empty, which is what the plain
//! `send` and `recv` already test before they wake anyone (and sets an
//! unbounded channel's flag of listed receivers, [`Tail::set_listed`]), so they
//! pay nothing new: the watchers are counted and woken only on the paths that
//! wake someone anyway.
//!
//! # Files
//!
//! - `mod.rs`: the constructors and [`Chan`], the channel both ends share;
//! - `tail.rs`: an unbounded channel's senders' end and its wake-up protocol;
//! - `state.rs`: what the channel's lock guards, and the operations on it;
//! - `wait_list.rs`: the wait lists, in order of arrival;
//! - `handoff.rs`: messages set aside for one receiver (rendezvous,
//!   selectors);
//! - `wait.rs`: the loops that park a blocking `send` or `recv`;
//! - `sender.rs`, `receiver.rs`: the two ends' public methods;
//! - `select.rs`: what a [`Select`](super::Select) does with either end;
//! - `watch.rs`: [`Watch`], a poller's registration;
//! - `error.rs`: the error types.

mod error;
mod handoff;
#[cfg(test)]
mod model;
mod receiver;
mod select;
mod sender;
mod state;
mod tail;
mod wait;
mod wait_list;
mod watch;

pub use error::{RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError};
pub use receiver::{Iter, Receiver, TryIter};
pub use sender::Sender;
pub use watch::Watch;

use std::collections::VecDeque;
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use crate::spin::SpinLock;
use state::{Locked, State};
use tail::Tail;
use wait_list::WaitList;

/// Creates a channel holding at most `cap` messages; `cap == 0` makes every
/// send wait for a receiver (rendezvous).
///
/// # Examples
///
/// ```
/// use dhaga_runtime::sync::bounded;
///
/// let (tx, rx) = bounded(1);
/// let producer = dhaga_runtime::spawn(move || {
///     for i in 0..3 {
///         tx.send(i).unwrap(); // parks while the channel is full
///     }
/// });
/// assert_eq!(rx.iter().collect::<Vec<_>>(), [0, 1, 2]);
/// producer.join().unwrap();
/// ```
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    channel(Some(cap))
}

/// Creates a channel of unlimited capacity: `send` never waits.
///
/// Senders and receivers take different locks (see the module
/// documentation): a send contends only with other sends, and with a
/// receiver once per batch of messages.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    channel(None)
}

/// A channel of capacity `cap` (`None`: unbounded), and its two ends.
fn channel<T>(cap: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan {
        cap,
        tail: CachePadded::new(Tail::new()),
        state: CachePadded::new(SpinLock::new(State {
            cap,
            queue: VecDeque::new(),
            offers: VecDeque::new(),
            next_offer: 0,
            senders: 1,
            receivers: 1,
            receiving: WaitList::new(),
            sending: WaitList::new(),
            handoffs: Vec::new(),
            rooms: Vec::new(),
        })),
    });
    (
        Sender {
            chan: Arc::clone(&chan),
        },
        Receiver { chan },
    )
}

/// A channel, shared by its senders and receivers.
struct Chan<T> {
    /// `None`: unbounded.
    cap: Option<usize>,
    /// What an unbounded channel's send touches, on a cache line of its own.
    tail: CachePadded<Tail<T>>,
    /// The channel's lock: what receivers take. Padded, so that an unbounded
    /// channel's senders and receivers do not share a cache line.
    state: CachePadded<SpinLock<State<T>>>,
}

impl<T> Chan<T> {
    /// Takes the channel's lock.
    #[inline(always)]
    fn lock(&self) -> Locked<'_, T> {
        Locked::new(self)
    }

    /// Unbounded: sends without the lock, unless a receiver must be woken
    /// (see `tail.rs`). Gives the message back if every receiver is gone.
    #[inline(always)]
    fn send_unbounded(&self, msg: T) -> Result<(), T> {
        self.tail.send(msg, || self.wake_listed())
    }

    /// [`Chan::send_unbounded`]'s wake-up: a receiver may be listed.
    #[cold]
    #[inline(never)]
    fn wake_listed(&self) {
        let mut state = self.lock();
        if state.has_message() {
            state.wake_receiver();
        } else {
            // Someone took the message already; nobody needs waking for it.
            state.sync_listed();
        }
    }
}

/// The unbounded channel's wake-up protocol between OS threads. Nothing here
/// needs a runtime, so these also run under Miri (`scripts/miri.sh`), which
/// checks the locks and flags for data races and explores weak-memory
/// outcomes of the relaxed flags.
#[cfg(test)]
mod tests {
    use std::thread;
    use std::time::Duration;

    use super::unbounded;

    /// Rounds of the stress tests: fewer under Miri, which is slow.
    const ROUNDS: u32 = if cfg!(miri) { 40 } else { 20_000 };

    /// Long enough never to expire unless a wake-up was lost.
    const PATIENCE: Duration = Duration::from_secs(60);

    /// Two OS threads bounce a number over two unbounded channels: each
    /// receive usually finds the channel empty and parks just as the other
    /// side sends, the race a lost wake-up would lose. A lost one shows as a
    /// timeout.
    #[test]
    fn unbounded_ping_pong_between_os_threads_loses_no_wake_up() {
        let (ping_tx, ping_rx) = unbounded::<u32>();
        let (pong_tx, pong_rx) = unbounded::<u32>();
        let echo = thread::spawn(move || {
            for _ in 0..ROUNDS {
                let n = ping_rx.recv_timeout(PATIENCE).expect("a ping, not a lost wake-up");
                pong_tx.send(n + 1).unwrap();
            }
        });
        for i in 0..ROUNDS {
            ping_tx.send(i).unwrap();
            assert_eq!(
                pong_rx.recv_timeout(PATIENCE),
                Ok(i + 1),
                "round {i}: a pong, not a lost wake-up"
            );
        }
        echo.join().unwrap();
    }

    /// Several OS threads send without the lock while one receiver keeps
    /// emptying the channel and parking: every message arrives, in each
    /// sender's order, and the receiver sees the disconnection.
    #[test]
    fn unbounded_senders_and_a_parking_receiver_lose_nothing() {
        const SENDERS: u32 = 3;
        let (tx, rx) = unbounded::<(u32, u32)>();
        let senders: Vec<_> = (0..SENDERS)
            .map(|s| {
                let tx = tx.clone();
                thread::spawn(move || {
                    for i in 0..ROUNDS / 4 {
                        tx.send((s, i)).unwrap();
                        if i % 16 == 0 {
                            thread::yield_now(); // let the receiver empty it and park
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let mut next = [0; SENDERS as usize];
        loop {
            match rx.recv_timeout(PATIENCE) {
                Ok((s, i)) => {
                    assert_eq!(i, next[s as usize], "sender {s}'s messages out of order");
                    next[s as usize] += 1;
                }
                Err(super::RecvTimeoutError::Disconnected) => break,
                Err(super::RecvTimeoutError::Timeout) => panic!("a lost wake-up: {next:?} received"),
            }
        }
        assert_eq!(next, [ROUNDS / 4; SENDERS as usize]);
        for s in senders {
            s.join().unwrap();
        }
    }
}

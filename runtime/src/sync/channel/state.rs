//! What a channel's lock guards ([`State`]: the messages on their way to
//! the receivers, the wait lists, the handoffs), and the operations every
//! flavour of channel makes on it with the lock held ([`Locked`]): taking
//! and queueing messages, listing waiters, and waking them.

use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use super::Chan;
use super::handoff::{Handoff, Party, counterpart, may_hold};
use super::wait_list::{List, WaitList, Waiter};
use crate::sched::Unparker;
use crate::spin::SpinGuard;
use crate::sync::select::{Selector, SelectorId};
use crate::task::WaiterId;

#[cfg(doc)]
use super::tail::Tail;

/// What the channel's lock guards.
pub(super) struct State<T> {
    /// A copy of [`Chan::cap`], for the methods below.
    pub(super) cap: Option<usize>,
    /// The messages sent and not yet taken (bounded channels), or the
    /// receivers' end of them (unbounded channels: the older ones, before
    /// [`Chan::tail`]). Messages given back go to its front: a message set
    /// aside for a selector that dropped its operation, or, on a rendezvous
    /// channel (which otherwise queues nothing), one whose receiver gave up
    /// before it was handed over.
    pub(super) queue: VecDeque<T>,
    /// Rendezvous only: messages offered by parked senders.
    pub(super) offers: VecDeque<Offer<T>>,
    /// The id of the next offer.
    pub(super) next_offer: u64,
    /// Live [`Sender`](super::Sender)s; at zero the channel is disconnected
    /// for its receivers.
    pub(super) senders: usize,
    /// Live [`Receiver`](super::Receiver)s; at zero the channel is
    /// disconnected for its senders.
    pub(super) receivers: usize,
    /// Receivers waiting for a message.
    pub(super) receiving: WaitList,
    /// Senders waiting for room (bounded channels), and selectors with a
    /// send operation on this channel (any capacity).
    pub(super) sending: WaitList,
    /// Messages set aside for receivers that committed to taking them (and,
    /// on a rendezvous channel, for blocking receivers they were handed
    /// to). On a bounded channel each counts against the capacity until it
    /// is taken.
    pub(super) handoffs: Vec<Handoff<T>>,
    /// Bounded only: selectors that a unit of room is set aside for, until
    /// they send into it. Each counts against the capacity.
    pub(super) rooms: Vec<SelectorId>,
}

/// A rendezvous sender's message, offered while the sender is parked.
pub(super) struct Offer<T> {
    /// The offer's id, for its sender to find it again.
    pub(super) id: u64,
    /// The message offered.
    pub(super) msg: T,
    /// The parked sender, woken when its offer is taken.
    pub(super) sender: Unparker,
}

/// A channel whose lock is held: its [`State`], and the parts of the
/// [`Chan`] outside the lock (an unbounded channel's tail, the flags), which
/// the methods below keep consistent with it.
pub(super) struct Locked<'a, T> {
    /// The channel.
    pub(super) chan: &'a Chan<T>,
    /// What its lock guards, and the lock held.
    pub(super) state: SpinGuard<'a, State<T>>,
}

impl<'a, T> Locked<'a, T> {
    /// Takes `chan`'s lock.
    #[inline(always)]
    pub(super) fn new(chan: &'a Chan<T>) -> Locked<'a, T> {
        Locked {
            chan,
            state: chan.state.lock(),
        }
    }
}

impl<T> Deref for Locked<'_, T> {
    type Target = State<T>;

    #[inline(always)]
    fn deref(&self) -> &State<T> {
        &self.state
    }
}

impl<T> DerefMut for Locked<'_, T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut State<T> {
        &mut self.state
    }
}

impl<T> State<T> {
    /// Whether a send fits now (bounded and unbounded channels; never true
    /// for a rendezvous, where room is a waiting receiver).
    #[inline(always)]
    pub(super) fn has_room(&self) -> bool {
        match self.cap {
            None => true,
            Some(cap) => self.queue.len() + self.handoffs.len() + self.rooms.len() < cap,
        }
    }

    /// Wakes the first listed sender that can still use the room there is
    /// (bounded channels): a blocking one is woken to retry, a selector that
    /// can still be committed gets the room set aside.
    #[inline(never)]
    pub(super) fn wake_sender(&mut self) {
        self.sending.wake_watchers();
        match self.sending.pop_front() {
            // (`pop_front` passes watchers over.)
            None | Some(Waiter::Watch(_)) => {}
            Some(Waiter::Plain(sender)) => sender.unpark(),
            Some(Waiter::Select(selector, op)) => self.commit_sender(selector, op),
        }
    }

    /// [`State::wake_sender`] from a listed selector on.
    #[cold]
    #[inline(never)]
    fn commit_sender(&mut self, mut selector: Arc<Selector>, mut op: usize) {
        loop {
            if selector.try_commit(op) {
                self.rooms.push(selector.id());
                return selector.unpark();
            }
            match self.sending.pop_front() {
                None | Some(Waiter::Watch(_)) => return,
                Some(Waiter::Plain(sender)) => return sender.unpark(),
                Some(Waiter::Select(next, next_op)) => (selector, op) = (next, next_op),
            }
        }
    }

    /// Whether a send would not block now.
    pub(super) fn send_ready(&self, me: Option<&Selector>) -> bool {
        self.receivers == 0
            || match self.cap {
                Some(0) => counterpart(&self.receiving, me),
                _ => self.has_room(),
            }
    }
}

// The plain `send`/`recv` paths are benchmarked: what they run is inlined,
// what only selectors need (and the wake-ups, as before) stays out of line.
impl<T> Locked<'_, T> {
    /// Takes the message at the front of the channel. On an unbounded
    /// channel whose receivers' end is empty, that end first takes the
    /// senders' whole batch (swapping the two queues, so the senders get
    /// the emptied one's allocation back). Offers are not messages here.
    #[inline(always)]
    pub(super) fn pop_message(&mut self) -> Option<T> {
        if let Some(msg) = self.state.queue.pop_front() {
            return Some(msg);
        }
        if self.chan.cap.is_none() {
            self.refill();
            return self.state.queue.pop_front();
        }
        None
    }

    /// Unbounded, with the receivers' end empty: takes the senders' end.
    /// (On a receiver just listed, this is its second look at the tail that
    /// `tail.rs` requires before it parks.)
    #[inline(always)]
    fn refill(&mut self) {
        self.chan.tail.take_into(&mut self.state.queue);
    }

    /// Puts `msg`, taken out of the channel and not delivered, back at the
    /// front of the channel, for the next receiver.
    pub(super) fn give_back(&mut self, msg: T) {
        self.state.queue.push_front(msg);
    }

    /// Whether a message is in the channel, not counting offers and
    /// handoffs.
    pub(super) fn has_message(&self) -> bool {
        !self.state.queue.is_empty() || (self.chan.cap.is_none() && !self.chan.tail.is_empty())
    }

    /// Messages in the channel: queued, offered, or set aside for a
    /// receiver.
    pub(super) fn len(&self) -> usize {
        let sent = match self.chan.cap {
            None => self.chan.tail.len(),
            Some(_) => 0,
        };
        self.queue.len() + sent + self.offers.len() + self.handoffs.iter().filter(|h| h.msg.is_some()).count()
    }

    /// Takes the next message: queued, or offered by a parked sender.
    #[inline(always)]
    pub(super) fn pop(&mut self) -> Option<T> {
        if let Some(msg) = self.pop_message() {
            if !self.sending.is_empty() && self.has_room() {
                self.wake_sender();
            }
            return Some(msg);
        }
        let offer = self.offers.pop_front()?;
        offer.sender.unpark();
        Some(offer.msg)
    }

    /// Queues `msg` (bounded and unbounded channels) and wakes a receiver
    /// for it. With the lock held, an unbounded channel's listed receivers
    /// are seen directly: one that lists itself later finds the message.
    #[inline(always)]
    pub(super) fn push(&mut self, msg: T) {
        match self.chan.cap {
            None => self.chan.tail.push_locked(msg),
            Some(_) => self.state.queue.push_back(msg),
        }
        if !self.receiving.is_empty() {
            self.wake_receiver();
        }
    }

    /// Lists `waiter` on `list`; returns its ticket.
    pub(super) fn list(&mut self, list: List, waiter: Waiter) -> u64 {
        let ticket = list.of(&mut self.state).push(waiter);
        self.listed(list);
        ticket
    }

    /// Lists the blocking waiter `me` again in its place (see
    /// [`WaitList::relist`]).
    pub(super) fn relist(&mut self, list: List, me: Unparker, ticket: u64) {
        list.of(&mut self.state).relist(me, ticket);
        self.listed(list);
    }

    /// Takes the blocking waiter `me` off `list` if it is still there.
    /// Returns whether it was.
    pub(super) fn delist(&mut self, list: List, me: WaiterId) -> bool {
        let listed = list.of(&mut self.state).delist(me);
        self.sync_listed();
        listed
    }

    /// Someone was just listed on `list`. (Only unbounded channels have
    /// senders that read the flag; the others leave its line alone.)
    #[inline(always)]
    pub(super) fn listed(&self, list: List) {
        if let (List::Receiving, None) = (list, self.chan.cap) {
            // The listed receiver looks at the tail next, under the tail's
            // lock (in `Chan::wait` and `Receiver::register`), as `tail.rs`
            // requires.
            self.chan.tail.set_listed();
        }
    }

    /// Clears an unbounded channel's flag of listed receivers
    /// ([`Tail::clear_listed`]) once no receiver is listed.
    #[inline(always)]
    pub(super) fn sync_listed(&self) {
        if self.chan.cap.is_none() && self.state.receiving.is_empty() {
            self.chan.tail.clear_listed();
        }
    }

    /// Wakes the first listed receiver that can still act on the message at
    /// the front of the channel, which the caller made sure is there: a
    /// blocking one is woken to take it, a selector that can still be
    /// committed gets it set aside (on a rendezvous channel, any receiver
    /// gets it handed over). Selectors that went elsewhere are dropped from
    /// the list on the way. Returns whether someone was woken.
    #[inline(never)]
    pub(super) fn wake_receiver(&mut self) -> bool {
        self.state.receiving.wake_watchers();
        if self.chan.cap == Some(0) {
            let Some(msg) = self.state.queue.pop_front() else {
                return false;
            };
            return match self.hand_to_receiver(msg) {
                Ok(()) => true,
                Err(msg) => {
                    self.state.queue.push_front(msg);
                    false
                }
            };
        }
        let woken = loop {
            match self.state.receiving.front() {
                // (`front` passes watchers over.)
                None | Some(Waiter::Watch(_)) => break false,
                Some(Waiter::Plain(_)) => {
                    if let Some(Waiter::Plain(receiver)) = self.state.receiving.pop_front() {
                        receiver.unpark();
                    }
                    break true;
                }
                Some(Waiter::Select(selector, _)) if !selector.is_waiting() => {
                    self.state.receiving.pop_front(); // gone elsewhere
                }
                Some(Waiter::Select(..)) => {
                    // The message first (the caller made sure there is
                    // one): a selector must not be committed to nothing.
                    let Some(msg) = self.pop_message() else {
                        break false;
                    };
                    let Some(Waiter::Select(selector, op)) = self.state.receiving.pop_front() else {
                        unreachable!("the front waiter was just looked at");
                    };
                    if selector.try_commit(op) {
                        self.state
                            .handoffs
                            .push(Handoff::ready(Party::Select(selector.id()), msg));
                        selector.unpark();
                        break true;
                    }
                    // It went elsewhere meanwhile: the message stays first.
                    self.give_back(msg);
                }
            }
        };
        self.sync_listed();
        woken
    }

    /// One attempt of a blocking receive on a bounded or unbounded channel;
    /// `Err` means disconnected.
    #[inline(always)]
    pub(super) fn recv_step(&mut self) -> Option<Result<T, ()>> {
        match self.pop() {
            Some(msg) => Some(Ok(msg)),
            None if self.senders == 0 => Some(Err(())),
            None => None,
        }
    }

    /// Whether a receive would not block now. `me`, a selector listed here,
    /// is not its own counterpart.
    pub(super) fn recv_ready(&self, me: Option<&Selector>) -> bool {
        self.has_message()
            || !self.offers.is_empty()
            || self.senders == 0
            || (self.cap == Some(0) && may_hold() && counterpart(&self.sending, me))
    }
}

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
//! *tail* ([`SendersEnd::tail`], with a lock of its own), receivers take
//! from the *head* (in the channel's state, under the channel's lock, with
//! the wait lists), and a receiver that finds the head empty takes the
//! whole tail at once, swapping the two queues. So senders contend only
//! with each other, and with a receiver once per batch, never with every
//! receive or with the bookkeeping of waiters; and the receiver, which
//! several fast senders make the bottleneck, takes a message for the price
//! of a lock that other receivers only share. The messages keep their
//! order: the head holds only messages older than any in the tail.
//!
//! A sender takes the channel's lock only if a receiver may be waiting,
//! which a flag tells it, [`SendersEnd::receivers_listed`]. A wake-up is
//! not lost between a receiver's "nothing there" and its park because the
//! tail's lock orders the two sides:
//!
//! - a sender appends its message under the tail's lock, releases it, and
//!   then reads the flag; only if it is set does it take the channel's lock,
//!   to wake a listed receiver;
//! - a receiver that found nothing lists itself and sets the flag (under the
//!   channel's lock), and then looks at the tail once more, under the tail's
//!   lock, before it parks.
//!
//! If the receiver took the tail's lock after the sender, it finds the
//! message. If before, its release of that lock happens before the sender's
//! acquiring it, so its setting of the flag happens before the sender's
//! load, which sees it. The flag is set under the channel's lock by whoever
//! lists a receiver, and cleared under it only when no receiver is listed,
//! so it is never clear while one is.
//!
//! (Lock-free queues were measured in this place and not taken: with
//! crossbeam-queue's `SegQueue`, the segmented list crossbeam-channel's
//! unbounded flavour is built on, a receive costs two contended
//! read-modify-writes on lines the senders write, and `compare_sync`'s
//! unbounded rows came out about 1.6 times slower on the two-CPU machines
//! measured, level with crossbeam-channel; an `ArrayQueue` ring with a
//! locked overflow was no better once senders outran the receiver.)
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
//! receiver, or offers it and waits until a receiver takes it. A message
//! handed over is set aside for that receiver alone ([`Handoff`]), and the
//! hand-over is where both operations complete, as in crossbeam-channel and
//! Go: the receiver's `recv` returns that message even if the receiver was
//! cancelled after the hand-over and before it ran again (the cancellation
//! takes effect at its next park instead), so a `send` that returned `Ok`
//! gave its message to a `recv` that returned it. A receiver that is
//! cancelled already is passed over. The same holds the other way round: a
//! sender whose offer a receiver took returns `Ok`, cancelled meanwhile or
//! not. A receiver that gives up *before* a message was handed to it (it was
//! cancelled, or timed out) takes nothing with it.
//!
//! # Selectors
//!
//! A [`Select`](super::Select) waits on several channels at once. It is
//! listed on each channel's wait lists like a blocking caller, but it is not
//! woken to retry: whoever finds it listed first *commits* it to that
//! operation (a compare-and-swap on its shared state, which only one party
//! can win) and sets aside, under the channel's lock, what completing the
//! operation needs — a [`Handoff`] holding the message for a receiving
//! selector, a reserved unit of room for a sending one. A party that loses
//! the compare-and-swap skips the selector and serves the next waiter, so a
//! wake-up is never spent on a selector that went elsewhere.
//!
//! A sending selector does not know its message until its caller completes
//! the selected operation, so on a rendezvous channel pairing it with a
//! receiver leaves that receiver a pending [`Handoff`]: the receiver waits
//! for the message (past its deadline, since the sender has committed to
//! it), and the sender fills the handoff when it completes. If the receiver
//! is cancelled while it waits, the send goes to the next receiver waiting,
//! or fails and gives the message back: it is never left in the channel as
//! if it had been received.
//!
//! # Watchers
//!
//! A poller that waits on channels beside other things (sockets, file
//! descriptors) must hear of every change but take nothing: it is not the
//! one that will receive. [`Receiver::watch`] and [`Sender::watch`] list it
//! as a *watcher* ([`Waiter::Watch`]) on the wait list of the end it
//! watches. Whoever would wake a waiter of that list — a sender with a
//! message, a receiver making room, a rendezvous counterpart being listed,
//! the other side leaving — wakes every watcher as well, leaving them
//! listed, and serves the first real waiter as before: the methods that
//! pick the waiter to serve pass watchers over. So a watcher never takes
//! the one wake-up meant for a blocked `recv` or `send`.
//!
//! Being listed, a watcher makes the list non-empty, which is what the
//! plain `send` and `recv` already test before they wake anyone (and sets
//! an unbounded channel's [`SendersEnd::receivers_listed`]), so they pay
//! nothing new: the watchers are counted and woken only on the paths that
//! wake someone anyway.

use std::collections::VecDeque;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use super::select::{Completion, Handle, Selector, SelectorId};
use super::spin::{SpinGuard, SpinLock};
use crate::dump::{Waiting, reason};
use crate::task::{self, UncancellableWait, Unparker, WaiterId, Wake};

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

fn channel<T>(cap: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan {
        cap,
        senders_end: CachePadded::new(SendersEnd {
            tail: SpinLock::new(VecDeque::new()),
            receivers_listed: AtomicBool::new(false),
            disconnected: AtomicBool::new(false),
        }),
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

struct Chan<T> {
    /// `None`: unbounded.
    cap: Option<usize>,
    /// What an unbounded channel's send touches, on a cache line of its own.
    senders_end: CachePadded<SendersEnd<T>>,
    /// The channel's lock: what receivers take. Padded, so that an unbounded
    /// channel's senders and receivers do not share a cache line.
    state: CachePadded<SpinLock<State<T>>>,
}

/// An unbounded channel's senders' end: the tail of its messages, and the
/// flags every send reads (kept on the tail's cache line, which the send
/// holds anyway).
struct SendersEnd<T> {
    /// Messages sent and not yet taken that came after all those in
    /// [`State::queue`] (the receivers' end), under a lock of its own.
    /// Receivers take its messages a whole batch at a time, when their end
    /// is empty.
    tail: SpinLock<VecDeque<T>>,
    /// Whether a receiver may be listed in [`State::receiving`]; never clear
    /// while one is. Set under the channel's lock by whoever lists a
    /// receiver, cleared under it when the list is empty. An unbounded send
    /// reads it after its push, to learn whether it must take the channel's
    /// lock to wake someone (module documentation).
    receivers_listed: AtomicBool,
    /// Every receiver is gone: set under the channel's lock and the tail's
    /// when [`State::receivers`] reaches zero (it never goes up again), for
    /// the unbounded send, which takes only the tail's.
    disconnected: AtomicBool,
}

struct State<T> {
    /// A copy of [`Chan::cap`], for the methods below.
    cap: Option<usize>,
    /// The messages sent and not yet taken (bounded channels), or the
    /// receivers' end of them (unbounded channels: the older ones, before
    /// [`SendersEnd::tail`]). Messages given back go to its front: a message set
    /// aside for a selector that dropped its operation, or, on a rendezvous
    /// channel (which otherwise queues nothing), one whose receiver gave up
    /// before it was handed over.
    queue: VecDeque<T>,
    /// Rendezvous only: messages offered by parked senders.
    offers: VecDeque<Offer<T>>,
    next_offer: u64,
    senders: usize,
    receivers: usize,
    /// Receivers waiting for a message.
    receiving: WaitList,
    /// Senders waiting for room (bounded channels), and selectors with a
    /// send operation on this channel (any capacity).
    sending: WaitList,
    /// Messages set aside for receivers that committed to taking them (and,
    /// on a rendezvous channel, for blocking receivers they were handed
    /// to). On a bounded channel each counts against the capacity until it
    /// is taken.
    handoffs: Vec<Handoff<T>>,
    /// Bounded only: selectors that a unit of room is set aside for, until
    /// they send into it. Each counts against the capacity.
    rooms: Vec<SelectorId>,
}

struct Offer<T> {
    id: u64,
    msg: T,
    sender: Unparker,
}

/// An entry on a wait list.
enum Waiter {
    /// A blocking `send` or `recv`: woken to try again.
    Plain(Unparker),
    /// A [`Select`](super::Select) waiting on this channel as its operation
    /// number `.1`: woken by committing it to that operation.
    Select(Arc<Selector>, usize),
    /// A watcher ([`Watch`]): woken by every change of the list's condition,
    /// never taken off the list by one, never served (see "Watchers" in the
    /// module documentation).
    Watch(Arc<Unparker>),
}

impl Waiter {
    fn is(&self, selector: &Selector) -> bool {
        matches!(self, Waiter::Select(listed, _) if listed.id() == selector.id())
    }
}

/// A wait list, in order of arrival.
///
/// Each entry carries a ticket, numbered in the order waiters first came,
/// and the list stays sorted by ticket. A blocking waiter is taken off the
/// list when it is woken; if it finds that another thread was quicker (took
/// the message or the room it was woken for), [`WaitList::relist`] puts it
/// back where its ticket says — in front of everyone who came after it —
/// rather than at the back.
struct WaitList {
    entries: VecDeque<Entry>,
    next_ticket: u64,
    /// How many of the entries are [`Waiter::Watch`]; while none is, the
    /// methods that serve waiters take the front entry as before.
    watchers: usize,
}

struct Entry {
    ticket: u64,
    waiter: Waiter,
}

impl WaitList {
    const fn new() -> WaitList {
        WaitList {
            entries: VecDeque::new(),
            next_ticket: 0,
            watchers: 0,
        }
    }

    #[inline(always)]
    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[inline]
    fn len(&self) -> usize {
        self.entries.len()
    }

    #[inline]
    fn iter(&self) -> impl Iterator<Item = &Waiter> {
        self.entries.iter().map(|e| &e.waiter)
    }

    #[inline]
    fn get(&self, i: usize) -> Option<&Waiter> {
        self.entries.get(i).map(|e| &e.waiter)
    }

    /// The first waiter to serve: watchers are passed over.
    #[inline]
    fn front(&self) -> Option<&Waiter> {
        if self.watchers == 0 {
            return self.get(0);
        }
        self.iter().find(|w| !matches!(w, Waiter::Watch(_)))
    }

    /// Takes the first waiter to serve off the list; watchers stay.
    #[inline]
    fn pop_front(&mut self) -> Option<Waiter> {
        if self.watchers == 0 {
            return self.entries.pop_front().map(|e| e.waiter);
        }
        let pos = self.iter().position(|w| !matches!(w, Waiter::Watch(_)))?;
        self.remove(pos)
    }

    /// Lists a watcher (at the back, as any newcomer).
    fn watch(&mut self, watcher: Arc<Unparker>) {
        self.push(Waiter::Watch(watcher));
        self.watchers += 1;
    }

    /// Takes the watcher `watcher` off the list.
    fn unwatch(&mut self, watcher: &Arc<Unparker>) {
        let pos = self
            .iter()
            .position(|w| matches!(w, Waiter::Watch(listed) if Arc::ptr_eq(listed, watcher)));
        if let Some(pos) = pos {
            self.entries.remove(pos);
            self.watchers -= 1;
        }
    }

    /// Wakes every watcher, leaving them listed. Called wherever the list's
    /// condition may have changed (a message came, room was made, a
    /// counterpart was listed, the other side left).
    #[inline(always)]
    fn wake_watchers(&self) {
        if self.watchers > 0 {
            self.wake_watchers_slow();
        }
    }

    #[cold]
    #[inline(never)]
    fn wake_watchers_slow(&self) {
        for waiter in self.iter() {
            if let Waiter::Watch(watcher) = waiter {
                watcher.as_ref().clone().unpark();
            }
        }
    }

    #[inline]
    fn remove(&mut self, i: usize) -> Option<Waiter> {
        self.entries.remove(i).map(|e| e.waiter)
    }

    /// Lists a newcomer at the back; returns its ticket.
    #[inline]
    fn push(&mut self, waiter: Waiter) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.entries.push_back(Entry { ticket, waiter });
        ticket
    }

    /// Lists the blocking waiter `me` again under the `ticket` it first got,
    /// in its place; nothing if it is still listed (a spurious wake-up).
    #[inline]
    fn relist(&mut self, me: Unparker, ticket: u64) {
        let pos = self.entries.partition_point(|e| e.ticket < ticket);
        if self.entries.get(pos).is_some_and(|e| e.ticket == ticket) {
            return;
        }
        self.entries.insert(
            pos,
            Entry {
                ticket,
                waiter: Waiter::Plain(me),
            },
        );
    }

    /// Takes the blocking waiter `me` off the list if it is still there (a
    /// waker usually took it off already). Returns whether it was.
    #[inline]
    fn delist(&mut self, me: WaiterId) -> bool {
        match self
            .entries
            .iter()
            .position(|e| matches!(&e.waiter, Waiter::Plain(u) if u.id() == me))
        {
            Some(pos) => {
                self.entries.remove(pos);
                true
            }
            None => false,
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(&Waiter) -> bool) {
        self.entries.retain(|e| keep(&e.waiter));
    }

    /// Takes every waiter off the list, leaving the watchers.
    fn drain_waiters(&mut self) -> Vec<Waiter> {
        if self.watchers == 0 {
            return self.entries.drain(..).map(|e| e.waiter).collect();
        }
        let (watchers, waiters) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition(|e| matches!(e.waiter, Waiter::Watch(_)));
        self.entries = watchers;
        waiters.into_iter().map(|e: Entry| e.waiter).collect()
    }
}

/// Who takes the message of a [`Handoff`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Party {
    /// A blocking `recv` (rendezvous channels only).
    Plain(WaiterId),
    /// A selector that committed to receiving.
    Select(SelectorId),
}

/// A message set aside for one receiver, or promised to it.
///
/// With `msg` present, the receiver owns the message and takes it when it
/// completes its operation; nobody else can. With `msg` absent (rendezvous
/// only) the selector `sender` committed to sending to this receiver and
/// will fill `msg` when its caller completes the send, waking `wake`.
struct Handoff<T> {
    receiver: Party,
    sender: Option<SelectorId>,
    wake: Option<Unparker>,
    msg: Option<T>,
}

impl<T> Handoff<T> {
    /// A message that is already here.
    fn ready(receiver: Party, msg: T) -> Handoff<T> {
        Handoff {
            receiver,
            sender: None,
            wake: None,
            msg: Some(msg),
        }
    }

    /// A message that `sender` still owes `receiver`.
    fn promised(receiver: Party, sender: SelectorId, wake: Unparker) -> Handoff<T> {
        Handoff {
            receiver,
            sender: Some(sender),
            wake: Some(wake),
            msg: None,
        }
    }
}

/// What one attempt of a blocking operation came to.
enum Step<R> {
    /// Finished with this result.
    Done(R),
    /// Nothing yet: wait on the list, until the deadline.
    Wait,
    /// A selecting sender committed to sending to this receiver: wait for
    /// its message, deadline or not, off the list.
    Hold,
}

/// Who the caller is, found out only once it is needed (the common case,
/// an operation that needs no waiting, never needs it).
#[derive(Default)]
struct Me(Option<WaiterId>);

impl Me {
    /// A new unparker for the caller, to put on a list or in a handoff.
    #[inline]
    fn unparker(&mut self) -> Unparker {
        let unparker = Unparker::current();
        self.0 = Some(unparker.id());
        unparker
    }

    #[inline]
    fn id(&mut self) -> WaiterId {
        match self.0 {
            Some(id) => id,
            None => self.unparker().id(),
        }
    }
}

/// A channel whose lock is held: its [`State`], and the parts of the
/// [`Chan`] outside the lock (an unbounded channel's tail, the flags), which
/// the methods below keep consistent with it.
struct Locked<'a, T> {
    chan: &'a Chan<T>,
    state: SpinGuard<'a, State<T>>,
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
    fn has_room(&self) -> bool {
        match self.cap {
            None => true,
            Some(cap) => self.queue.len() + self.handoffs.len() + self.rooms.len() < cap,
        }
    }

    /// Wakes the first listed sender that can still use the room there is
    /// (bounded channels): a blocking one is woken to retry, a selector that
    /// can still be committed gets the room set aside.
    #[inline(never)]
    fn wake_sender(&mut self) {
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

    /// The caller's handoff, if a message was handed to it or a selecting
    /// sender was paired with it: the message if it is here, or to hold on
    /// for it.
    #[inline(never)]
    fn take_handoff(&mut self, me: &mut Me) -> Option<Step<Result<T, ()>>> {
        let party = Party::Plain(me.id());
        let pos = self.handoffs.iter().position(|h| h.receiver == party)?;
        Some(match self.handoffs[pos].msg.take() {
            Some(msg) => {
                self.handoffs.swap_remove(pos);
                Step::Done(Ok(msg))
            }
            None => Step::Hold,
        })
    }

    /// Rendezvous: commits the first listed selecting sender (other than
    /// `receiver` itself) to sending to `receiver`, leaving a pending
    /// handoff. Returns whether one was found.
    #[inline(never)]
    fn pair_with_sender(&mut self, receiver: Party, wake: Unparker) -> bool {
        let mut i = 0;
        while i < self.sending.len() {
            let (committed, sender) = match self.sending.get(i) {
                Some(Waiter::Select(selector, op)) if receiver != Party::Select(selector.id()) => {
                    (selector.try_commit(*op), selector.id())
                }
                _ => {
                    i += 1;
                    continue;
                }
            };
            // Committed now, or gone elsewhere: either way off the list.
            let listed = self.sending.remove(i);
            if committed {
                self.handoffs.push(Handoff::promised(receiver, sender, wake));
                if let Some(Waiter::Select(selector, _)) = listed {
                    selector.unpark();
                }
                return true;
            }
        }
        false
    }

    /// Whether a send would not block now.
    fn send_ready(&self, me: Option<&Selector>) -> bool {
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
    fn pop_message(&mut self) -> Option<T> {
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
    /// The locks are always taken in this order: the channel's, then the
    /// tail's (senders hold the tail's alone).
    #[inline(never)]
    fn refill(&mut self) {
        let mut tail = self.chan.senders_end.tail.lock();
        if !tail.is_empty() {
            std::mem::swap(&mut self.state.queue, &mut *tail);
        }
    }

    /// Puts `msg`, taken out of the channel and not delivered, back at the
    /// front of the channel, for the next receiver.
    fn give_back(&mut self, msg: T) {
        self.state.queue.push_front(msg);
    }

    /// Whether a message is in the channel, not counting offers and
    /// handoffs.
    fn has_message(&self) -> bool {
        !self.state.queue.is_empty() || (self.chan.cap.is_none() && !self.chan.senders_end.tail.lock().is_empty())
    }

    /// Messages in the channel: queued, offered, or set aside for a
    /// receiver.
    fn len(&self) -> usize {
        let sent = match self.chan.cap {
            None => self.chan.senders_end.tail.lock().len(),
            Some(_) => 0,
        };
        self.queue.len() + sent + self.offers.len() + self.handoffs.iter().filter(|h| h.msg.is_some()).count()
    }

    /// Takes the next message: queued, or offered by a parked sender.
    #[inline(always)]
    fn pop(&mut self) -> Option<T> {
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
    fn push(&mut self, msg: T) {
        match self.chan.cap {
            None => self.chan.senders_end.tail.lock().push_back(msg),
            Some(_) => self.state.queue.push_back(msg),
        }
        if !self.receiving.is_empty() {
            self.wake_receiver();
        }
    }

    /// Lists `waiter` on `list`; returns its ticket.
    fn list(&mut self, list: List, waiter: Waiter) -> u64 {
        let ticket = list.of(&mut self.state).push(waiter);
        self.listed(list);
        ticket
    }

    /// Lists the blocking waiter `me` again in its place (see
    /// [`WaitList::relist`]).
    fn relist(&mut self, list: List, me: Unparker, ticket: u64) {
        list.of(&mut self.state).relist(me, ticket);
        self.listed(list);
    }

    /// Takes the blocking waiter `me` off `list` if it is still there.
    /// Returns whether it was.
    fn delist(&mut self, list: List, me: WaiterId) -> bool {
        let listed = list.of(&mut self.state).delist(me);
        self.sync_listed();
        listed
    }

    /// Someone was just listed on `list`. (Only unbounded channels have
    /// senders that read the flag; the others leave its line alone.)
    #[inline(always)]
    fn listed(&self, list: List) {
        if let (List::Receiving, None) = (list, self.chan.cap) {
            // ORDERING: Relaxed; written under the channel's lock, before the
            // listed receiver looks at the senders' end under the tail's lock
            // (in `Chan::wait` and `Receiver::register`), which orders it for
            // a sender that pushes later (module documentation). Clearing it
            // is Relaxed too: only done with nobody listed, and under the
            // lock every listing takes.
            self.chan.senders_end.receivers_listed.store(true, Ordering::Relaxed);
        }
    }

    /// Clears [`SendersEnd::receivers_listed`] once no receiver is listed.
    #[inline(always)]
    fn sync_listed(&self) {
        if self.chan.cap.is_none() && self.state.receiving.is_empty() {
            // ORDERING: Relaxed, see `Locked::listed`.
            self.chan.senders_end.receivers_listed.store(false, Ordering::Relaxed);
        }
    }

    /// Wakes the first listed receiver that can still act on the message at
    /// the front of the channel, which the caller made sure is there: a
    /// blocking one is woken to take it, a selector that can still be
    /// committed gets it set aside (on a rendezvous channel, any receiver
    /// gets it handed over). Selectors that went elsewhere are dropped from
    /// the list on the way. Returns whether someone was woken.
    #[inline(never)]
    fn wake_receiver(&mut self) -> bool {
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

    /// Rendezvous: hands `msg` to the first listed receiver that can take
    /// it — set aside for that receiver alone, and the receiver woken — or
    /// gives it back if there is none. Receivers already cancelled, and
    /// selectors that went elsewhere, are dropped from the list on the way.
    #[inline(never)]
    fn hand_to_receiver(&mut self, msg: T) -> Result<(), T> {
        self.state.receiving.wake_watchers();
        let handed = loop {
            match self.state.receiving.pop_front() {
                // (`pop_front` passes watchers over.)
                None | Some(Waiter::Watch(_)) => break Err(msg),
                Some(Waiter::Plain(receiver)) => {
                    if receiver.is_cancelled() {
                        // Woken by its cancellation already, it would only
                        // give the message up again: pass it over.
                        continue;
                    }
                    let party = Party::Plain(receiver.id());
                    self.state.handoffs.push(Handoff::ready(party, msg));
                    receiver.unpark();
                    break Ok(());
                }
                Some(Waiter::Select(selector, op)) => {
                    if selector.try_commit(op) {
                        let party = Party::Select(selector.id());
                        self.state.handoffs.push(Handoff::ready(party, msg));
                        selector.unpark();
                        break Ok(());
                    }
                }
            }
        };
        self.sync_listed();
        handed
    }

    /// One attempt of a blocking receive on a bounded or unbounded channel;
    /// `Err` means disconnected.
    #[inline(always)]
    fn recv_step(&mut self) -> Option<Result<T, ()>> {
        match self.pop() {
            Some(msg) => Some(Ok(msg)),
            None if self.senders == 0 => Some(Err(())),
            None => None,
        }
    }

    /// One attempt of a blocking receive on a rendezvous channel, where a
    /// message may have been handed to the caller, or a selecting sender
    /// paired with it.
    #[inline(always)]
    fn recv_step_rendezvous(&mut self, me: &mut Me) -> Step<Result<T, ()>> {
        if !self.handoffs.is_empty()
            && let Some(step) = self.take_handoff(me)
        {
            return step;
        }
        if let Some(msg) = self.pop() {
            return Step::Done(Ok(msg));
        }
        if self.senders == 0 {
            return Step::Done(Err(()));
        }
        if !self.sending.is_empty() && may_hold() {
            let wake = me.unparker();
            if self.pair_with_sender(Party::Plain(wake.id()), wake) {
                return Step::Hold;
            }
        }
        Step::Wait
    }

    /// Rendezvous: pairs the selector `sender` (not listed itself) with the
    /// first listed receiver that can still take a message, leaving that
    /// receiver a pending handoff. Returns whether one was found.
    #[inline(never)]
    fn pair_with_receiver(&mut self, sender: &Selector) -> bool {
        let mut i = 0;
        let paired = loop {
            let (receiver, committed) = match self.state.receiving.get(i) {
                None => break false,
                // Cancelled, it gives up its wait when it runs: pass it over,
                // as `hand_to_receiver` does (off the list, like a selector
                // that went elsewhere).
                Some(Waiter::Plain(receiver)) => (Party::Plain(receiver.id()), !receiver.is_cancelled()),
                Some(Waiter::Select(selector, _)) if selector.id() == sender.id() => {
                    i += 1;
                    continue;
                }
                Some(Waiter::Watch(_)) => {
                    i += 1;
                    continue;
                }
                Some(Waiter::Select(selector, op)) => (Party::Select(selector.id()), selector.try_commit(*op)),
            };
            let listed = self.state.receiving.remove(i);
            if committed {
                let wake = match listed {
                    Some(Waiter::Plain(receiver)) => receiver,
                    Some(Waiter::Watch(_)) => unreachable!("watchers are passed over above"),
                    Some(Waiter::Select(selector, _)) => {
                        // It parks until the message comes; wake it now so
                        // that it notices it was chosen and stops waiting
                        // on its other channels.
                        selector.unpark();
                        selector.unparker()
                    }
                    None => unreachable!("the waiter was just looked at"),
                };
                self.state.handoffs.push(Handoff::promised(receiver, sender.id(), wake));
                break true;
            }
        };
        self.sync_listed();
        paired
    }

    /// Removes the handoff for `receiver`, who gives up waiting (its select
    /// does, or a blocking receiver unwinds). A message already in it goes
    /// back to the front of the channel, for the next receiver (on a
    /// rendezvous channel, handed to the next one waiting if there is one);
    /// a message still owed is its sender's to place. Returns whether there
    /// was one.
    #[inline(never)]
    fn abandon_handoff(&mut self, receiver: Party) -> bool {
        let Some(pos) = self.handoffs.iter().position(|h| h.receiver == receiver) else {
            return false;
        };
        if let Some(msg) = self.handoffs.swap_remove(pos).msg {
            self.give_back(msg);
            self.wake_receiver();
        }
        true
    }

    /// Whether a receive would not block now. `me`, a selector listed here,
    /// is not its own counterpart.
    fn recv_ready(&self, me: Option<&Selector>) -> bool {
        self.has_message()
            || !self.offers.is_empty()
            || self.senders == 0
            || (self.cap == Some(0) && may_hold() && counterpart(&self.sending, me))
    }
}

/// Whether the other end of a rendezvous has a waiter that `me` could pair
/// with.
///
/// Two selectors listed on opposite ends must not both back off to pair
/// with each other (each would find the other gone, forever): only the one
/// with the lower id counts the other as ready, backs off and pairs; the
/// higher one stays listed and nudges the lower one to look again.
fn counterpart(list: &WaitList, me: Option<&Selector>) -> bool {
    let mut lower = None;
    for waiter in list.iter() {
        let other = match waiter {
            Waiter::Plain(_) => return true, // a blocking receiver
            Waiter::Watch(_) => continue,    // never a counterpart
            Waiter::Select(other, _) => other,
        };
        if !other.is_waiting() {
            continue;
        }
        match me {
            None => return true,
            Some(me) if other.id() == me.id() => {}
            Some(me) if other.id() > me.id() => return true,
            Some(_) => {
                lower.get_or_insert(other);
            }
        }
    }
    if let Some(other) = lower {
        other.unpark();
    }
    false
}

/// Whether the caller may be paired with a selecting sender on a rendezvous
/// channel and hold on for its message: not if it is a cancelled
/// micro-thread or thread-mode thread (it gives up its wait), nor a
/// micro-thread that is unwinding (it cannot park).
fn may_hold() -> bool {
    !task::is_cancelled() && !task::cannot_park()
}

/// Wakes everyone on `list` (the other side of the channel is gone): the
/// waiters and selectors, taken off the list, and the watchers, left on it.
fn wake_all(list: &mut WaitList) {
    list.wake_watchers();
    for waiter in list.drain_waiters() {
        match waiter {
            Waiter::Watch(_) => unreachable!("watchers stay listed"),
            Waiter::Plain(waiter) => waiter.unpark(),
            Waiter::Select(selector, op) => {
                if selector.try_commit(op) {
                    selector.unpark();
                }
            }
        }
    }
}

/// Which wait list a waiter is on.
#[derive(Clone, Copy)]
enum List {
    Receiving,
    Sending,
}

impl List {
    fn of<T>(self, state: &mut State<T>) -> &mut WaitList {
        match self {
            List::Receiving => &mut state.receiving,
            List::Sending => &mut state.sending,
        }
    }
}

impl<T> Chan<T> {
    #[inline(always)]
    fn lock(&self) -> Locked<'_, T> {
        Locked {
            chan: self,
            state: self.state.lock(),
        }
    }

    /// Unbounded: sends without the lock, unless a receiver must be woken.
    /// Gives the message back if every receiver is gone.
    #[inline(always)]
    fn send_unbounded(&self, msg: T) -> Result<(), T> {
        {
            let mut tail = self.senders_end.tail.lock();
            // ORDERING: Relaxed; the last receiver sets it under this lock
            // too, so a send comes before the disconnection (its message is
            // dropped with the channel, like every message left in it) or
            // after it, and fails.
            if self.senders_end.disconnected.load(Ordering::Relaxed) {
                return Err(msg);
            }
            tail.push_back(msg);
        }
        // ORDERING: Relaxed. A receiver that lists itself sets the flag and
        // then looks at the senders' end under the tail's lock. If it took
        // that lock after this push, it finds the message; if before, its
        // unlocking happens before this push's locking, so this load sees
        // the flag (module documentation).
        if self.senders_end.receivers_listed.load(Ordering::Relaxed) {
            self.wake_listed();
        }
        Ok(())
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

    /// Runs `attempt` under the lock until it returns `Some`, parking on
    /// `list` in between. `Err` says why waiting stopped early (deadline, or
    /// a caller that cannot block) after one last attempt failed.
    ///
    /// On an unbounded channel the attempt that decides to park is made
    /// after the caller is listed, so a message sent without the channel's
    /// lock is either found by it or wakes the caller (module
    /// documentation). A waiter woken for nothing goes back to its place
    /// ([`WaitList::relist`]).
    fn wait<R>(
        &self,
        list: List,
        deadline: Option<Instant>,
        mut attempt: impl FnMut(&mut Locked<'_, T>) -> Option<R>,
    ) -> Result<R, Wake> {
        let mut state = self.lock();
        if let Some(result) = attempt(&mut state) {
            return Ok(result); // the common case: no waiting
        }
        let me = Unparker::current();
        let id = me.id();
        let ticket = state.list(list, Waiter::Plain(me));
        let enlisted = Delist {
            chan: self,
            list,
            me: id,
        };
        loop {
            if self.cap.is_none() {
                // Listed, with the flag set: look at the senders' end (under
                // its lock) once more; see `Chan::send_unbounded`.
                if let Some(result) = attempt(&mut state) {
                    state.delist(list, id);
                    std::mem::forget(enlisted);
                    return Ok(result);
                }
            }
            drop(state);
            let waiting = match list {
                List::Receiving => &reason::RECV,
                List::Sending => &reason::SEND,
            };
            let wake = task::park(Waiting::at(waiting, self), deadline);
            state = self.lock();
            let result = attempt(&mut state);
            if result.is_some() || wake != Wake::Notified {
                state.delist(list, id);
                std::mem::forget(enlisted);
                // A wake-up may have raced with the timeout: the attempt
                // above had the last word.
                return result.ok_or(wake);
            }
            // Spurious, or another thread was quicker: wait again, in the
            // place this waiter had.
            state.relist(list, Unparker::current(), ticket);
        }
    }

    /// [`Chan::wait`] for a receiver on a rendezvous channel, which may also
    /// hold: wait off the list, ignoring the deadline, for the message a
    /// selecting sender committed to sending it.
    ///
    /// A cancellation does not unwind the caller out of its park here (see
    /// `task::park_reporting_cancel`): a message handed to it while it was
    /// parked is returned (the sender has returned `Ok`), and only then, or
    /// once it is off the list with nothing handed to it, does it unwind. A
    /// receiver that holds keeps holding through a cancellation: the sender
    /// it was paired with has been told its send will be taken, and its
    /// caller completes (or drops) the send at once. A cancelled receiver
    /// is not paired again (`recv_step_rendezvous`, `pair_with_receiver`).
    fn wait_holding<R>(
        &self,
        deadline: Option<Instant>,
        mut attempt: impl FnMut(&mut Locked<'_, T>, &mut Me) -> Step<R>,
    ) -> Result<R, Wake> {
        let list = List::Receiving;
        let mut me = Me::default();
        let (mut holding, mut ticket) = {
            let mut state = self.lock();
            match attempt(&mut state, &mut me) {
                Step::Done(result) => return Ok(result), // the common case: no waiting
                // A micro-thread that is unwinding cannot park: rather than
                // list it for an instant, where a selecting sender could be
                // paired with it, give up now.
                Step::Wait if task::cannot_park() => return Err(Wake::Cancelled),
                Step::Wait => {
                    let waiter = Waiter::Plain(me.unparker());
                    // A receiver waiting is room for a sender.
                    state.sending.wake_watchers();
                    (false, Some(state.list(list, waiter)))
                }
                Step::Hold => (true, None),
            }
        };
        let id = me.id();
        let enlisted = Delist {
            chan: self,
            list,
            me: id,
        };
        loop {
            let wake = if holding && !task::shutting_down() {
                UncancellableWait::new().park(Waiting::at(&reason::RECV, self));
                Wake::Notified
            } else if holding {
                // The runtime shuts down: the sender may never complete its
                // send (it may be unwound itself), so give the pairing up;
                // the sender's `complete_select` hands its message on, or
                // gives it back.
                drop(enlisted); // abandons the handoff
                task::cancellation_point();
                return Err(Wake::Cancelled);
            } else {
                task::park_reporting_cancel(Waiting::at(&reason::RECV, self), deadline)
            };
            let mut state = self.lock();
            match attempt(&mut state, &mut me) {
                Step::Done(result) => {
                    // Also if cancelled meanwhile: the hand-over completed
                    // the receive. The cancellation stays pending.
                    state.delist(list, id);
                    std::mem::forget(enlisted);
                    // A wake-up may have raced with the timeout: the attempt
                    // above had the last word.
                    return Ok(result);
                }
                Step::Hold => {
                    // Paired with a selecting sender by this very attempt
                    // (after a spurious wake-up or a timeout, still listed):
                    // off the list, so that no sender hands it a second
                    // message.
                    state.delist(list, id);
                    holding = true;
                }
                Step::Wait => {
                    holding = false;
                    let wake = if task::is_cancelled() { Wake::Cancelled } else { wake };
                    if wake != Wake::Notified {
                        state.delist(list, id);
                        drop(state);
                        std::mem::forget(enlisted);
                        if wake == Wake::Cancelled {
                            task::cancellation_point();
                        }
                        return Err(wake);
                    }
                    // Spurious, or the sender we held for called it off:
                    // wait again, in our place.
                    // A receiver waiting (again) is room for a sender.
                    state.sending.wake_watchers();
                    let unparker = Unparker::current();
                    match ticket {
                        Some(ticket) => state.relist(list, unparker, ticket),
                        None => ticket = Some(state.list(list, Waiter::Plain(unparker))),
                    }
                }
            }
        }
    }
}

/// Takes a waiter off its list if it unwinds while parked (cancellation).
struct Delist<'a, T> {
    chan: &'a Chan<T>,
    list: List,
    me: WaiterId,
}

impl<T> Drop for Delist<'_, T> {
    fn drop(&mut self) {
        let mut state = self.chan.lock();
        if state.abandon_handoff(Party::Plain(self.me)) || state.delist(self.list, self.me) {
            return;
        }
        // Someone woke us (taking us off the list) for a message or for
        // room we will not use now: pass the wake-up on.
        match self.list {
            List::Receiving if state.has_message() => {
                state.wake_receiver();
            }
            List::Receiving => {}
            List::Sending if !state.sending.is_empty() && state.has_room() => state.wake_sender(),
            List::Sending => {}
        }
    }
}

/// A watcher of one end of a channel, registered by [`Receiver::watch`] or
/// [`Sender::watch`]; dropping it unregisters it.
///
/// While registered, the watcher is unparked by every change that may make
/// that end ready: a message sent (or offered, on a rendezvous channel) or
/// the last sender gone, for a receiving end; room made (a receiver
/// waiting, on a rendezvous channel) or the last receiver gone, for a
/// sending end. It is listed on the channel's wait list like a blocked
/// caller, but is never served: the one wake-up a message brings still
/// goes to a blocked receiver, and the watcher is woken beside it.
#[must_use = "the watcher is unregistered when the `Watch` is dropped"]
pub struct Watch<'a> {
    chan: &'a dyn Unwatch,
    watcher: Arc<Unparker>,
    list: List,
}

/// What dropping a [`Watch`] needs of its channel, whatever its message
/// type.
trait Unwatch {
    fn unwatch(&self, list: List, watcher: &Arc<Unparker>);
}

impl<T> Unwatch for Chan<T> {
    fn unwatch(&self, list: List, watcher: &Arc<Unparker>) {
        let mut state = self.lock();
        list.of(&mut state).unwatch(watcher);
        state.sync_listed();
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        self.chan.unwatch(self.list, &self.watcher);
    }
}

impl fmt::Debug for Watch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = match self.list {
            List::Receiving => "receiving",
            List::Sending => "sending",
        };
        f.debug_struct("Watch").field("end", &end).finish_non_exhaustive()
    }
}

/// The sending side of a channel. Clone it to send from several places.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving side of a channel. Clone it to receive in several places;
/// each message is received once.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends `msg`, parking (or blocking) while the channel is full.
    ///
    /// On a rendezvous channel this returns `Ok` once a receiver has the
    /// message: it was handed to a receiver waiting in `recv` (whose `recv`
    /// returns it, even if that receiver is cancelled meanwhile), or a
    /// receiver took it from this sender's offer.
    ///
    /// # Errors
    ///
    /// Gives the message back if every receiver is gone, or if the caller is
    /// a micro-thread that is being cancelled or unwinding (it cannot block).
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        if self.chan.cap.is_none() {
            return self.chan.send_unbounded(msg).map_err(SendError);
        }
        self.send_until(msg, None).map_err(|e| SendError(e.into_inner()))
    }

    /// Sends `msg` if that needs no waiting.
    ///
    /// # Errors
    ///
    /// `Full` if the channel is full (for capacity zero: if no receiver is
    /// waiting), `Disconnected` if every receiver is gone.
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        if self.chan.cap.is_none() {
            return self.chan.send_unbounded(msg).map_err(TrySendError::Disconnected);
        }
        let mut state = self.chan.lock();
        if state.receivers == 0 {
            return Err(TrySendError::Disconnected(msg));
        }
        match self.chan.cap {
            Some(0) => state.hand_to_receiver(msg).map_err(TrySendError::Full),
            _ if state.has_room() => {
                state.push(msg);
                Ok(())
            }
            _ => Err(TrySendError::Full(msg)),
        }
    }

    /// Sends `msg`, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// `Timeout` with the message if there was no room in time,
    /// `Disconnected` if every receiver is gone.
    pub fn send_timeout(&self, msg: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_until(msg, Instant::now().checked_add(timeout))
    }

    /// Sends `msg`, waiting until `deadline` at most for room.
    ///
    /// # Errors
    ///
    /// As [`Sender::send_timeout`].
    pub fn send_deadline(&self, msg: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.send_until(msg, Some(deadline))
    }

    fn send_until(&self, msg: T, deadline: Option<Instant>) -> Result<(), SendTimeoutError<T>> {
        match self.chan.cap {
            None => return self.chan.send_unbounded(msg).map_err(SendTimeoutError::Disconnected),
            Some(0) => return self.send_rendezvous(msg, deadline),
            Some(_) => {}
        }
        let mut msg = Some(msg);
        let sent = self.chan.wait(List::Sending, deadline, |state| {
            if state.receivers == 0 {
                return Some(Err(()));
            }
            if !state.has_room() {
                return None;
            }
            state.push(msg.take().expect("sent once"));
            Some(Ok(()))
        });
        let unsent = msg.take();
        match (sent, unsent) {
            (Ok(Ok(())), _) => Ok(()),
            (Ok(Err(())) | Err(Wake::Cancelled), Some(msg)) => Err(SendTimeoutError::Disconnected(msg)),
            (Err(_), Some(msg)) => Err(SendTimeoutError::Timeout(msg)),
            (_, None) => unreachable!("a message that was not sent is still here"),
        }
    }

    /// Capacity zero: hand the message to a waiting receiver, or offer it and
    /// wait until a receiver takes it.
    ///
    /// Parked, a cancelled sender does not unwind at once (see
    /// `task::park_reporting_cancel`): if a receiver took its offer, the
    /// send has completed and returns `Ok`; otherwise it withdraws the offer
    /// and unwinds.
    fn send_rendezvous(&self, msg: T, deadline: Option<Instant>) -> Result<(), SendTimeoutError<T>> {
        let id = {
            let mut state = self.chan.lock();
            if state.receivers == 0 {
                return Err(SendTimeoutError::Disconnected(msg));
            }
            let msg = if state.receiving.is_empty() {
                msg
            } else {
                match state.hand_to_receiver(msg) {
                    Ok(()) => return Ok(()),
                    // Only receivers that will not take it were listed.
                    Err(msg) => msg,
                }
            };
            let id = state.next_offer;
            state.next_offer += 1;
            state.offers.push_back(Offer {
                id,
                msg,
                sender: Unparker::current(),
            });
            id
        };
        let mut withdraw = Withdraw {
            chan: &self.chan,
            id: Some(id),
        };
        loop {
            let wake = task::park_reporting_cancel(Waiting::at(&reason::SEND, &*self.chan), deadline);
            let mut state = self.chan.lock();
            let Some(pos) = state.offers.iter().position(|o| o.id == id) else {
                withdraw.id = None;
                return Ok(()); // taken (also if cancelled meanwhile)
            };
            let disconnected = state.receivers == 0;
            if disconnected || wake != Wake::Notified {
                withdraw.id = None;
                let offer = state.offers.remove(pos).expect("offer is present");
                drop(state);
                if wake == Wake::Cancelled {
                    task::cancellation_point();
                }
                return Err(match wake {
                    Wake::TimedOut if !disconnected => SendTimeoutError::Timeout(offer.msg),
                    _ => SendTimeoutError::Disconnected(offer.msg),
                });
            }
        }
    }

    /// Whether the channel holds no message.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of messages in the channel.
    pub fn len(&self) -> usize {
        self.chan.lock().len()
    }

    /// The channel's capacity (`None`: unbounded).
    pub fn capacity(&self) -> Option<usize> {
        self.chan.cap
    }

    /// Whether a [`send`](Sender::send) would not wait now: the channel
    /// has room (always, unbounded; on a rendezvous channel, a receiver is
    /// waiting), or every receiver is gone and `send` would fail.
    ///
    /// A snapshot: another sender may take the room first.
    pub fn is_ready(&self) -> bool {
        self.chan.lock().send_ready(None)
    }

    /// Registers `unparker` as a watcher of this sending end: until the
    /// returned [`Watch`] is dropped, every change that may make
    /// [`is_ready`](Sender::is_ready) true unparks it, taking no wake-up
    /// from a blocked sender. See [`Receiver::watch`].
    pub fn watch(&self, unparker: crate::Unparker) -> Watch<'_> {
        let watcher = Arc::new(unparker.into_inner());
        self.chan.lock().sending.watch(Arc::clone(&watcher));
        Watch {
            chan: &*self.chan,
            watcher,
            list: List::Sending,
        }
    }

    /// Completes a send that a select committed `me` to (see
    /// [`SelectedOperation::send`](super::SelectedOperation::send)).
    pub(super) fn complete_select(&self, me: &Selector, msg: T) -> Result<(), SendError<T>> {
        let mut state = self.chan.lock();
        if let Some(pos) = state.rooms.iter().position(|&s| s == me.id()) {
            state.rooms.swap_remove(pos);
            if state.receivers == 0 {
                return Err(SendError(msg));
            }
            state.push(msg); // into the room set aside
            return Ok(());
        }
        if let Some(handoff) = state.handoffs.iter_mut().find(|h| h.sender == Some(me.id())) {
            handoff.sender = None;
            handoff.msg = Some(msg);
            if let Some(receiver) = handoff.wake.take() {
                receiver.unpark();
            }
            return Ok(());
        }
        if state.receivers == 0 {
            return Err(SendError(msg));
        }
        match self.chan.cap {
            // The rendezvous receiver we were paired with gave up waiting
            // for the message (it was cancelled): to the next receiver
            // waiting, or back to the caller, never left in the channel as
            // if it had been received.
            Some(0) => state.hand_to_receiver(msg).map_err(SendError),
            // Unbounded: no room was needed.
            _ => {
                state.push(msg);
                Ok(())
            }
        }
    }
}

/// Withdraws a rendezvous offer if its sender unwinds while parked.
struct Withdraw<'a, T> {
    chan: &'a Chan<T>,
    id: Option<u64>,
}

impl<T> Drop for Withdraw<'_, T> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            let mut state = self.chan.lock();
            state.offers.retain(|o| o.id != id);
        }
    }
}

impl<T> Receiver<T> {
    /// Receives a message, parking (or blocking) until one arrives.
    ///
    /// # Errors
    ///
    /// If the channel is empty and every sender is gone, or if the caller is
    /// a micro-thread that is being cancelled or unwinding (it cannot block).
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_until(None).map_err(|_| RecvError)
    }

    /// Receives a message if one is ready.
    ///
    /// On a rendezvous channel whose only sender waiting is a
    /// [`Select`](super::Select), this commits that select to sending here
    /// and waits the moment it takes its caller to complete the send.
    ///
    /// # Errors
    ///
    /// `Empty` if there is none, `Disconnected` if there is none and every
    /// sender is gone.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut state = self.chan.lock();
        match state.pop() {
            Some(msg) => Ok(msg),
            None if state.senders == 0 => Err(TryRecvError::Disconnected),
            None if self.chan.cap == Some(0) && !state.sending.is_empty() && may_hold() => {
                drop(state);
                // A selecting sender may be listed: pair with it (waiting
                // for its message), with a deadline that has passed.
                match self.recv_until(Some(Instant::now())) {
                    Ok(msg) => Ok(msg),
                    Err(RecvTimeoutError::Disconnected) => Err(TryRecvError::Disconnected),
                    Err(RecvTimeoutError::Timeout) => Err(TryRecvError::Empty),
                }
            }
            None => Err(TryRecvError::Empty),
        }
    }

    /// Receives a message, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// `Timeout` if none arrived in time, `Disconnected` if the channel is
    /// empty and every sender is gone.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_until(Instant::now().checked_add(timeout))
    }

    /// Receives a message, waiting until `deadline` at most.
    ///
    /// # Errors
    ///
    /// As [`Receiver::recv_timeout`].
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.recv_until(Some(deadline))
    }

    #[inline(always)]
    fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        let received = match self.chan.cap {
            Some(0) => self
                .chan
                .wait_holding(deadline, |state, me| state.recv_step_rendezvous(me)),
            _ => self.chan.wait(List::Receiving, deadline, |state| state.recv_step()),
        };
        match received {
            Ok(Ok(msg)) => Ok(msg),
            Err(Wake::TimedOut) => Err(RecvTimeoutError::Timeout),
            Ok(Err(())) | Err(_) => Err(RecvTimeoutError::Disconnected),
        }
    }

    /// A blocking iterator over messages; ends when the channel is empty and
    /// every sender is gone.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { receiver: self }
    }

    /// An iterator over the messages ready now.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { receiver: self }
    }

    /// Whether the channel holds no message.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of messages in the channel.
    pub fn len(&self) -> usize {
        self.chan.lock().len()
    }

    /// The channel's capacity (`None`: unbounded).
    pub fn capacity(&self) -> Option<usize> {
        self.chan.cap
    }

    /// Whether a [`recv`](Receiver::recv) would not wait now: a message is
    /// in the channel (or, on a rendezvous channel, a sender is waiting),
    /// or every sender is gone and `recv` would fail.
    ///
    /// A snapshot: another receiver may take the message first.
    pub fn is_ready(&self) -> bool {
        self.chan.lock().recv_ready(None)
    }

    /// Registers `unparker` as a *watcher* of this receiving end: until the
    /// returned [`Watch`] is dropped, every change that may make
    /// [`is_ready`](Receiver::is_ready) true unparks it. Nothing is taken:
    /// a receiver blocked in `recv` still gets the message and the wake-up
    /// it was waiting for, and the watcher is woken beside it.
    ///
    /// This is how a poller waits on channels and other things at once
    /// (`dhaga-mq`'s `Poller` does): watch everything, look at everything
    /// (a change made before the watch was registered is seen then), and
    /// park until unparked or a deadline, looking again after every
    /// wake-up. Wake-ups may be spurious.
    ///
    /// # Examples
    ///
    /// ```
    /// use dhaga_runtime::sync::unbounded;
    ///
    /// let (tx, rx) = unbounded();
    /// let _watch = rx.watch(dhaga_runtime::current_unparker());
    /// let sender = dhaga_runtime::spawn(move || tx.send("hello").unwrap());
    /// while !rx.is_ready() {
    ///     dhaga_runtime::park(); // the watch unparks us
    /// }
    /// assert_eq!(rx.try_recv(), Ok("hello"));
    /// # sender.join().unwrap();
    /// ```
    pub fn watch(&self, unparker: crate::Unparker) -> Watch<'_> {
        let watcher = Arc::new(unparker.into_inner());
        let mut state = self.chan.lock();
        state.receiving.watch(Arc::clone(&watcher));
        // The flag makes an unbounded channel's senders take the lock and
        // wake the watchers, as for a listed receiver.
        state.listed(List::Receiving);
        Watch {
            chan: &*self.chan,
            watcher,
            list: List::Receiving,
        }
    }

    /// Completes a receive that a select committed `me` to (see
    /// [`SelectedOperation::recv`](super::SelectedOperation::recv)).
    pub(super) fn complete_select(&self, me: &Selector) -> Result<T, RecvError> {
        let mut state = self.chan.lock();
        let party = Party::Select(me.id());
        if let Some(pos) = state
            .handoffs
            .iter()
            .position(|h| h.receiver == party && h.msg.is_some())
        {
            let msg = state
                .handoffs
                .swap_remove(pos)
                .msg
                .expect("the handoff holds a message");
            // On a bounded channel the handoff held a unit of capacity.
            if !state.sending.is_empty() && state.has_room() {
                state.wake_sender();
            }
            return Ok(msg);
        }
        // Committed because every sender is gone; what is still queued can
        // be taken.
        state.pop().ok_or(RecvError)
    }
}

/// What a [`Select`](super::Select) does with a receiver: the selector side
/// of the protocol in the module documentation.
impl<T> Handle for Receiver<T> {
    fn channel(&self) -> usize {
        Arc::as_ptr(&self.chan) as usize
    }

    fn try_select(&self, me: &Selector) -> bool {
        let mut state = self.chan.lock();
        let party = Party::Select(me.id());
        // On a bounded channel the message keeps its unit of capacity while
        // it is set aside, so taking it wakes no sender yet.
        let msg = match state.cap {
            Some(0) => state.pop(),
            _ => state.pop_message(),
        };
        if let Some(msg) = msg {
            state.handoffs.push(Handoff::ready(party, msg));
            return true;
        }
        state.senders == 0
            || (state.cap == Some(0)
                && !state.sending.is_empty()
                && may_hold()
                && state.pair_with_sender(party, me.unparker()))
    }

    fn register(&self, me: &Arc<Selector>, op: usize) -> bool {
        let mut state = self.chan.lock();
        // Listed, with the flag set, before `recv_ready` looks at the
        // senders' end: as in `Chan::wait`.
        state.list(List::Receiving, Waiter::Select(Arc::clone(me), op));
        if state.cap == Some(0) {
            // A receiver waiting is room, on a rendezvous channel.
            state.sending.wake_watchers();
        }
        state.recv_ready(Some(me))
    }

    fn is_ready(&self, me: Option<&Selector>) -> bool {
        self.chan.lock().recv_ready(me)
    }

    fn unregister(&self, me: &Selector) {
        let mut state = self.chan.lock();
        state.receiving.retain(|w| !w.is(me));
        state.sync_listed();
    }

    fn completion(&self, me: &Selector) -> Completion {
        let party = Party::Select(me.id());
        let state = self.chan.lock();
        match state.handoffs.iter().find(|h| h.receiver == party) {
            Some(handoff) if handoff.msg.is_some() => Completion::Ready,
            Some(_) => Completion::Owed,
            // Committed because every sender is gone.
            None if state.senders == 0 => Completion::Ready,
            None => Completion::CalledOff,
        }
    }

    fn release(&self, me: &Selector) {
        self.chan.lock().abandon_handoff(Party::Select(me.id()));
    }
}

/// What a [`Select`](super::Select) does with a sender.
impl<T> Handle for Sender<T> {
    fn channel(&self) -> usize {
        Arc::as_ptr(&self.chan) as usize
    }

    fn try_select(&self, me: &Selector) -> bool {
        let mut state = self.chan.lock();
        if state.receivers == 0 {
            return true;
        }
        match state.cap {
            None => true,
            Some(0) => state.pair_with_receiver(me),
            Some(_) if state.has_room() => {
                state.rooms.push(me.id());
                true
            }
            Some(_) => false,
        }
    }

    fn register(&self, me: &Arc<Selector>, op: usize) -> bool {
        let mut state = self.chan.lock();
        state.list(List::Sending, Waiter::Select(Arc::clone(me), op));
        if state.cap == Some(0) {
            // A sender waiting is a message, on a rendezvous channel.
            state.receiving.wake_watchers();
        }
        state.send_ready(Some(me))
    }

    fn is_ready(&self, me: Option<&Selector>) -> bool {
        self.chan.lock().send_ready(me)
    }

    fn unregister(&self, me: &Selector) {
        self.chan.lock().sending.retain(|w| !w.is(me));
    }

    fn completion(&self, _: &Selector) -> Completion {
        Completion::Ready
    }

    fn release(&self, me: &Selector) {
        let mut state = self.chan.lock();
        if let Some(pos) = state.rooms.iter().position(|&s| s == me.id()) {
            state.rooms.swap_remove(pos);
            if !state.sending.is_empty() && state.has_room() {
                state.wake_sender();
            }
        } else if let Some(pos) = state.handoffs.iter().position(|h| h.sender == Some(me.id())) {
            // The receiver we were paired with goes back to waiting.
            if let Some(receiver) = state.handoffs.swap_remove(pos).wake {
                receiver.unpark();
            }
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.lock().senders += 1;
        Sender {
            chan: Arc::clone(&self.chan),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.lock().receivers += 1;
        Receiver {
            chan: Arc::clone(&self.chan),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = self.chan.lock();
        state.senders -= 1;
        if state.senders == 0 {
            wake_all(&mut state.receiving);
            state.sync_listed();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.chan.lock();
        state.receivers -= 1;
        if state.receivers == 0 {
            {
                // ORDERING: Relaxed, under the tail's lock; see
                // `Chan::send_unbounded`.
                let _tail = self.chan.senders_end.tail.lock();
                self.chan.senders_end.disconnected.store(true, Ordering::Relaxed);
            }
            wake_all(&mut state.sending);
            for offer in &state.offers {
                offer.sender.clone().unpark();
            }
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

/// Blocking iterator returned by [`Receiver::iter`].
#[derive(Debug)]
pub struct Iter<'a, T> {
    receiver: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.receiver.recv().ok()
    }
}

/// Non-blocking iterator returned by [`Receiver::try_iter`].
#[derive(Debug)]
pub struct TryIter<'a, T> {
    receiver: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.receiver.try_recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

/// The message could not be sent: every receiver is gone.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

/// Why [`Sender::try_send`] failed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel is full.
    Full(T),
    /// Every receiver is gone.
    Disconnected(T),
}

/// Why [`Sender::send_timeout`] failed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SendTimeoutError<T> {
    /// No room in time.
    Timeout(T),
    /// Every receiver is gone.
    Disconnected(T),
}

/// The channel is empty and every sender is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvError;

/// Why [`Receiver::try_recv`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// No message is ready.
    Empty,
    /// The channel is empty and every sender is gone.
    Disconnected,
}

/// Why [`Receiver::recv_timeout`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvTimeoutError {
    /// No message arrived in time.
    Timeout,
    /// The channel is empty and every sender is gone.
    Disconnected,
}

impl<T> SendError<T> {
    /// The message that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> TrySendError<T> {
    /// The message that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(msg) | TrySendError::Disconnected(msg) => msg,
        }
    }

    /// Whether the channel was full.
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full(_))
    }

    /// Whether every receiver is gone.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, TrySendError::Disconnected(_))
    }
}

impl<T> SendTimeoutError<T> {
    /// The message that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            SendTimeoutError::Timeout(msg) | SendTimeoutError::Disconnected(msg) => msg,
        }
    }

    /// Whether the send timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, SendTimeoutError::Timeout(_))
    }

    /// Whether every receiver is gone.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, SendTimeoutError::Disconnected(_))
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Disconnected(_) => f.write_str("Disconnected(..)"),
        }
    }
}

impl<T> fmt::Debug for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendTimeoutError::Timeout(_) => f.write_str("Timeout(..)"),
            SendTimeoutError::Disconnected(_) => f.write_str("Disconnected(..)"),
        }
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a channel with no receivers")
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("sending on a full channel"),
            TrySendError::Disconnected(_) => f.write_str("sending on a channel with no receivers"),
        }
    }
}

impl<T> fmt::Display for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendTimeoutError::Timeout(_) => f.write_str("timed out sending on a full channel"),
            SendTimeoutError::Disconnected(_) => f.write_str("sending on a channel with no receivers"),
        }
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("receiving on an empty channel with no senders")
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("receiving on an empty channel"),
            TryRecvError::Disconnected => f.write_str("receiving on an empty channel with no senders"),
        }
    }
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvTimeoutError::Timeout => f.write_str("timed out receiving on an empty channel"),
            RecvTimeoutError::Disconnected => f.write_str("receiving on an empty channel with no senders"),
        }
    }
}

impl<T> std::error::Error for SendError<T> {}
impl<T> std::error::Error for TrySendError<T> {}
impl<T> std::error::Error for SendTimeoutError<T> {}
impl std::error::Error for RecvError {}
impl std::error::Error for TryRecvError {}
impl std::error::Error for RecvTimeoutError {}

impl<T> From<SendError<T>> for TrySendError<T> {
    fn from(SendError(msg): SendError<T>) -> Self {
        TrySendError::Disconnected(msg)
    }
}

impl<T> From<SendError<T>> for SendTimeoutError<T> {
    fn from(SendError(msg): SendError<T>) -> Self {
        SendTimeoutError::Disconnected(msg)
    }
}

impl From<RecvError> for TryRecvError {
    fn from(_: RecvError) -> Self {
        TryRecvError::Disconnected
    }
}

impl From<RecvError> for RecvTimeoutError {
    fn from(_: RecvError) -> Self {
        RecvTimeoutError::Disconnected
    }
}

/// The wait list's order, and the unbounded channel's wake-up protocol
/// between OS threads. Nothing here needs a runtime, so these also run
/// under Miri (`cargo +nightly miri test -p dhaga-runtime --lib
/// sync::channel`), which checks the locks and flags for data races and
/// explores weak-memory outcomes of the relaxed flags.
#[cfg(test)]
mod tests {
    use std::thread;
    use std::time::Duration;

    use super::{Unparker, WaitList, Waiter, unbounded};

    /// Rounds of the stress tests: fewer under Miri, which is slow.
    const ROUNDS: u32 = if cfg!(miri) { 40 } else { 20_000 };

    /// Long enough never to expire unless a wake-up was lost.
    const PATIENCE: Duration = Duration::from_secs(60);

    fn ids(list: &WaitList) -> Vec<u64> {
        list.entries.iter().map(|e| e.ticket).collect()
    }

    #[test]
    fn a_relisted_waiter_goes_back_to_its_place() {
        let me = Unparker::current();
        let mut list = WaitList::new();
        let tickets: Vec<u64> = (0..4).map(|_| list.push(Waiter::Plain(me.clone()))).collect();
        assert_eq!(tickets, [0, 1, 2, 3]);
        // The first two are woken (taken off), lose their race and come
        // back, in either order: they are ahead of 2 and 3 again, in order.
        list.pop_front();
        list.pop_front();
        list.relist(me.clone(), 1);
        list.relist(me.clone(), 0);
        assert_eq!(ids(&list), [0, 1, 2, 3]);
        // Relisting one still listed (a spurious wake-up) changes nothing.
        list.relist(me.clone(), 2);
        assert_eq!(ids(&list), [0, 1, 2, 3]);
        // Newcomers go to the back, after everyone relisted.
        list.remove(2);
        assert_eq!(list.push(Waiter::Plain(me.clone())), 4);
        list.relist(me, 2);
        assert_eq!(ids(&list), [0, 1, 2, 3, 4]);
    }

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

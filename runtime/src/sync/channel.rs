//! Multi-producer multi-consumer channels that park micro-threads and block
//! OS threads, in the style of `crossbeam-channel`.
//!
//! One lock guards the queue and two wait lists (receivers waiting for a
//! message, senders waiting for room). A waiter re-checks the channel under
//! the lock every time it wakes, so spurious wake-ups and timeouts that race
//! with a wake-up lose nothing: a message that arrived is taken even if the
//! timer fired too.
//!
//! Capacity zero is a rendezvous: a sender hands its message to a waiting
//! receiver, or offers it and waits until a receiver takes it.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::spin::{SpinGuard, SpinLock};
use crate::task::{self, Unparker, WaiterId, Wake};

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
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    channel(None)
}

fn channel<T>(cap: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan {
        cap,
        state: SpinLock::new(State {
            queue: VecDeque::new(),
            offers: VecDeque::new(),
            next_offer: 0,
            senders: 1,
            receivers: 1,
            receiving: VecDeque::new(),
            sending: VecDeque::new(),
        }),
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
    state: SpinLock<State<T>>,
}

struct State<T> {
    queue: VecDeque<T>,
    /// Rendezvous only: messages offered by parked senders.
    offers: VecDeque<Offer<T>>,
    next_offer: u64,
    senders: usize,
    receivers: usize,
    /// Receivers waiting for a message.
    receiving: VecDeque<Unparker>,
    /// Senders waiting for room (bounded channels).
    sending: VecDeque<Unparker>,
}

struct Offer<T> {
    id: u64,
    msg: T,
    sender: Unparker,
}

impl<T> State<T> {
    fn pop(&mut self) -> Option<T> {
        if let Some(msg) = self.queue.pop_front() {
            wake_one(&mut self.sending);
            return Some(msg);
        }
        let offer = self.offers.pop_front()?;
        offer.sender.unpark();
        Some(offer.msg)
    }

    fn push(&mut self, msg: T) {
        self.queue.push_back(msg);
        wake_one(&mut self.receiving);
    }
}

fn wake_one(list: &mut VecDeque<Unparker>) {
    if let Some(waiter) = list.pop_front() {
        waiter.unpark();
    }
}

fn wake_all(list: &mut VecDeque<Unparker>) {
    for waiter in list.drain(..) {
        waiter.unpark();
    }
}

/// Puts the caller on `list` unless it is there already.
fn enlist(list: &mut VecDeque<Unparker>, me: WaiterId) {
    if !list.iter().any(|w| w.id() == me) {
        list.push_back(Unparker::current());
    }
}

/// Takes the caller off `list` if it is still there (a waker usually took
/// it off already).
fn delist(list: &mut VecDeque<Unparker>, me: WaiterId) {
    if let Some(pos) = list.iter().position(|w| w.id() == me) {
        list.remove(pos);
    }
}

/// Which wait list a waiter is on.
#[derive(Clone, Copy)]
enum List {
    Receiving,
    Sending,
}

impl List {
    fn of<T>(self, state: &mut State<T>) -> &mut VecDeque<Unparker> {
        match self {
            List::Receiving => &mut state.receiving,
            List::Sending => &mut state.sending,
        }
    }
}

impl<T> Chan<T> {
    fn lock(&self) -> SpinGuard<'_, State<T>> {
        self.state.lock()
    }

    /// Runs `attempt` under the lock until it returns `Some`, parking on
    /// `list` in between. `Err` says why waiting stopped early (deadline,
    /// or a caller that cannot block) after one last attempt failed.
    fn wait<R>(
        &self,
        list: List,
        deadline: Option<Instant>,
        mut attempt: impl FnMut(&mut State<T>) -> Option<R>,
    ) -> Result<R, Wake> {
        let me = {
            let mut state = self.lock();
            if let Some(result) = attempt(&mut state) {
                return Ok(result); // the common case: no waiting
            }
            let me = Unparker::current();
            let id = me.id();
            list.of(&mut state).push_back(me);
            id
        };
        let enlisted = Delist { chan: self, list, me };
        loop {
            let wake = task::park(deadline);
            let mut state = self.lock();
            let result = attempt(&mut state);
            if result.is_some() || wake != Wake::Notified {
                delist(list.of(&mut state), me);
                std::mem::forget(enlisted);
                // A wake-up may have raced with the timeout: the attempt
                // above had the last word.
                return result.ok_or(wake);
            }
            // Spurious, or another waiter was quicker: wait again.
            enlist(list.of(&mut state), me);
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
        let list = self.list.of(&mut state);
        let listed = list.iter().any(|w| w.id() == self.me);
        if listed {
            delist(list, self.me);
        } else {
            // Someone woke us (taking us off the list) for a message or for
            // room we will not use now: pass the wake-up on.
            wake_one(list);
        }
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
    /// # Errors
    ///
    /// Gives the message back if every receiver is gone, or if the caller is
    /// a micro-thread that is being cancelled or unwinding (it cannot block).
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        self.send_until(msg, None).map_err(|e| SendError(e.into_inner()))
    }

    /// Sends `msg` if that needs no waiting.
    ///
    /// # Errors
    ///
    /// `Full` if the channel is full (for capacity zero: if no receiver is
    /// waiting), `Disconnected` if every receiver is gone.
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        let mut state = self.chan.lock();
        if state.receivers == 0 {
            return Err(TrySendError::Disconnected(msg));
        }
        let room = match self.chan.cap {
            None => true,
            // Popped receivers already own a queued message; a receiver
            // still listed is waiting for one.
            Some(0) => !state.receiving.is_empty(),
            Some(cap) => state.queue.len() < cap,
        };
        if room {
            state.push(msg);
            Ok(())
        } else {
            Err(TrySendError::Full(msg))
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
            Some(0) => self.send_rendezvous(msg, deadline),
            cap => {
                let mut msg = Some(msg);
                let sent = self.chan.wait(List::Sending, deadline, |state| {
                    if state.receivers == 0 {
                        return Some(Err(()));
                    }
                    if cap.is_some_and(|cap| state.queue.len() >= cap) {
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
        }
    }

    /// Capacity zero: hand the message to a waiting receiver, or offer it and
    /// wait until a receiver takes it.
    fn send_rendezvous(&self, msg: T, deadline: Option<Instant>) -> Result<(), SendTimeoutError<T>> {
        let me = Unparker::current();
        let id = {
            let mut state = self.chan.lock();
            if state.receivers == 0 {
                return Err(SendTimeoutError::Disconnected(msg));
            }
            if !state.receiving.is_empty() {
                state.push(msg); // hands it to the first listed receiver
                return Ok(());
            }
            let id = state.next_offer;
            state.next_offer += 1;
            state.offers.push_back(Offer { id, msg, sender: me });
            id
        };
        let mut withdraw = Withdraw {
            chan: &self.chan,
            id: Some(id),
        };
        loop {
            let wake = task::park(deadline);
            let mut state = self.chan.lock();
            let Some(pos) = state.offers.iter().position(|o| o.id == id) else {
                withdraw.id = None;
                return Ok(()); // taken
            };
            let disconnected = state.receivers == 0;
            if disconnected || wake != Wake::Notified {
                withdraw.id = None;
                let offer = state.offers.remove(pos).expect("offer is present");
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
        let state = self.chan.lock();
        state.queue.len() + state.offers.len()
    }

    /// The channel's capacity (`None`: unbounded).
    pub fn capacity(&self) -> Option<usize> {
        self.chan.cap
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
    /// # Errors
    ///
    /// `Empty` if there is none, `Disconnected` if there is none and every
    /// sender is gone.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut state = self.chan.lock();
        match state.pop() {
            Some(msg) => Ok(msg),
            None if state.senders == 0 => Err(TryRecvError::Disconnected),
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

    fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        let received = self.chan.wait(List::Receiving, deadline, |state| match state.pop() {
            Some(msg) => Some(Ok(msg)),
            None if state.senders == 0 => Some(Err(RecvTimeoutError::Disconnected)),
            None => None,
        });
        match received {
            Ok(result) => result,
            Err(Wake::TimedOut) => Err(RecvTimeoutError::Timeout),
            Err(_) => Err(RecvTimeoutError::Disconnected),
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
        let state = self.chan.lock();
        state.queue.len() + state.offers.len()
    }

    /// The channel's capacity (`None`: unbounded).
    pub fn capacity(&self) -> Option<usize> {
        self.chan.cap
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
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.chan.lock();
        state.receivers -= 1;
        if state.receivers == 0 {
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

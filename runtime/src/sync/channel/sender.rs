//! The sending end of a channel, [`Sender`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::state::Offer;
use super::wait_list::{List, wake_all};
use super::{Chan, SendError, SendTimeoutError, TrySendError, Watch};
use crate::park as task;
use crate::sched::Unparker;
use crate::task::Wake;
use crate::wait::{Waiting, reason};

/// The sending side of a channel. Clone it to send from several places.
pub struct Sender<T> {
    /// The channel, shared with the receivers and the other senders.
    pub(super) chan: Arc<Chan<T>>,
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

    /// Sends `msg`, waiting for room until `deadline` if there is one.
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
    /// from a blocked sender. See [`Receiver::watch`](super::Receiver::watch).
    pub fn watch(&self, unparker: crate::Unparker) -> Watch<'_> {
        self.chan.watch(List::Sending, unparker)
    }
}

/// Withdraws a rendezvous offer if its sender unwinds while parked.
struct Withdraw<'a, T> {
    /// The channel offered on.
    chan: &'a Chan<T>,
    /// The offer, while it is to be withdrawn.
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

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.lock().senders += 1;
        Sender {
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

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

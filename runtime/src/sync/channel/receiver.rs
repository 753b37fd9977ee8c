//! The receiving end of a channel, [`Receiver`], and its iterators.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::handoff::may_hold;
use super::wait_list::{List, wake_all};
use super::{Chan, RecvError, RecvTimeoutError, TryRecvError, Watch};
use crate::task::Wake;

/// The receiving side of a channel. Clone it to receive in several places;
/// each message is received once.
pub struct Receiver<T> {
    /// The channel, shared with the senders and the other receivers.
    pub(super) chan: Arc<Chan<T>>,
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
    /// [`Select`](crate::sync::Select), this commits that select to sending
    /// here and waits the moment it takes its caller to complete the send.
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
    /// Receives a message, waiting until `deadline` if there is one.
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
        self.chan.watch(List::Receiving, unparker)
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

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.chan.lock();
        state.receivers -= 1;
        if state.receivers == 0 {
            self.chan.tail.disconnect();
            wake_all(&mut state.sending);
            for offer in &state.offers {
                offer.sender.clone().unpark();
            }
        }
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

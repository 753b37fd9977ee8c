//! A poller's registration on one end of a channel, [`Watch`]. See
//! "Watchers" in the module documentation of `channel`.

use std::fmt;
use std::sync::Arc;

use super::Chan;
use super::wait_list::List;
use crate::sched::Unparker;

#[cfg(doc)]
use super::{Receiver, Sender};

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
    /// The channel watched.
    chan: &'a dyn Unwatch,
    /// The watcher, as listed.
    watcher: Arc<Unparker>,
    /// The list it is on: the receiving or the sending end's.
    list: List,
}

impl<T> Chan<T> {
    /// Registers `unparker` as a watcher of the end whose waiters wait on
    /// `list` ([`Receiver::watch`], [`Sender::watch`]).
    pub(super) fn watch(&self, list: List, unparker: crate::Unparker) -> Watch<'_> {
        let watcher = Arc::new(unparker.into_inner());
        let mut state = self.lock();
        list.of(&mut state).watch(Arc::clone(&watcher));
        // On a receiving end, the flag makes an unbounded channel's senders
        // take the lock and wake the watchers, as for a listed receiver.
        state.listed(list);
        Watch {
            chan: self,
            watcher,
            list,
        }
    }
}

/// What dropping a [`Watch`] needs of its channel, whatever its message
/// type.
trait Unwatch {
    /// Takes `watcher` off `list`.
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

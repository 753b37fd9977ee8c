//! What a [`Select`](crate::sync::Select) does with a channel's ends: the
//! channel's side of `sync/select.rs` (see "Selectors" in the module
//! documentation of `channel`). A select lists itself on the wait lists
//! like a blocking caller, but whoever finds it listed commits it and sets
//! aside what completing the operation needs; the select then completes it
//! here.

use std::sync::Arc;

use super::handoff::{Handoff, Party, may_hold};
use super::wait_list::{List, Waiter};
use super::{Receiver, RecvError, SendError, Sender};
use crate::sync::select::{Completion, Handle, Selector};

impl<T> Sender<T> {
    /// Completes a send that a select committed `me` to (see
    /// [`SelectedOperation::send`](crate::sync::SelectedOperation::send)).
    pub(in crate::sync) fn complete_select(&self, me: &Selector, msg: T) -> Result<(), SendError<T>> {
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

impl<T> Receiver<T> {
    /// Completes a receive that a select committed `me` to (see
    /// [`SelectedOperation::recv`](crate::sync::SelectedOperation::recv)).
    pub(in crate::sync) fn complete_select(&self, me: &Selector) -> Result<T, RecvError> {
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

/// What a [`Select`](crate::sync::Select) does with a receiver: the selector
/// side of the protocol in the module documentation of `channel`.
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

/// What a [`Select`](crate::sync::Select) does with a sender.
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

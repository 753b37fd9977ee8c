//! The loops that park a blocking `send` or `recv` until the channel lets
//! it go on: [`Chan::wait`], and [`Chan::wait_holding`] for a rendezvous
//! receiver that may be holding on for a selecting sender's message.
//!
//! A waiter re-checks the channel under the lock every time it wakes, so
//! spurious wake-ups and timeouts that race with a wake-up lose nothing: a
//! message that arrived is taken even if the timer fired too.

use std::time::Instant;

use super::Chan;
use super::handoff::Party;
use super::state::Locked;
use super::wait_list::{List, Waiter};
use crate::park::{self as task, UncancellableWait};
use crate::sched::Unparker;
use crate::task::{WaiterId, Wake};
use crate::wait::{Waiting, reason};

/// What one attempt of a blocking operation came to.
pub(super) enum Step<R> {
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
pub(super) struct Me(Option<WaiterId>);

impl Me {
    /// A new unparker for the caller, to put on a list or in a handoff.
    #[inline]
    pub(super) fn unparker(&mut self) -> Unparker {
        let unparker = Unparker::current();
        self.0 = Some(unparker.id());
        unparker
    }

    /// The caller's id.
    #[inline]
    pub(super) fn id(&mut self) -> WaiterId {
        match self.0 {
            Some(id) => id,
            None => self.unparker().id(),
        }
    }
}

impl<T> Chan<T> {
    /// Runs `attempt` under the lock until it returns `Some`, parking on
    /// `list` in between. `Err` says why waiting stopped early (deadline, or
    /// a caller that cannot block) after one last attempt failed.
    ///
    /// On an unbounded channel the attempt that decides to park is made after
    /// the caller is listed, so a message sent without the channel's lock is
    /// either found by it or wakes the caller (`tail.rs`). A waiter woken for
    /// nothing goes back to its place
    /// ([`WaitList::relist`](super::wait_list::WaitList::relist)).
    pub(super) fn wait<R>(
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
    pub(super) fn wait_holding<R>(
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
    /// The channel waited on.
    chan: &'a Chan<T>,
    /// The list the waiter is on.
    list: List,
    /// The waiter.
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

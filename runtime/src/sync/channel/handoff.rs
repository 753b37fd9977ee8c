//! Messages set aside for one receiver ([`Handoff`]): a message handed to a
//! blocking receiver on a rendezvous channel, one set aside for a selector
//! committed to receiving it, or one a selecting sender owes the receiver
//! it was paired with. See "Rendezvous" and "Selectors" in the module
//! documentation of `channel`.

use super::state::Locked;
use super::wait::{Me, Step};
use super::wait_list::{WaitList, Waiter};
use crate::park as task;
use crate::sched::Unparker;
use crate::sync::select::{Selector, SelectorId};
use crate::task::WaiterId;

/// Who takes the message of a [`Handoff`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Party {
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
pub(super) struct Handoff<T> {
    /// Who takes the message.
    pub(super) receiver: Party,
    /// The selecting sender that owes the message, until it sends it.
    pub(super) sender: Option<SelectorId>,
    /// The receiver to wake when the owed message comes.
    pub(super) wake: Option<Unparker>,
    /// The message, once it is here.
    pub(super) msg: Option<T>,
}

impl<T> Handoff<T> {
    /// A message that is already here.
    pub(super) fn ready(receiver: Party, msg: T) -> Handoff<T> {
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

impl<T> Locked<'_, T> {
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
    pub(super) fn pair_with_sender(&mut self, receiver: Party, wake: Unparker) -> bool {
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

    /// Rendezvous: hands `msg` to the first listed receiver that can take
    /// it — set aside for that receiver alone, and the receiver woken — or
    /// gives it back if there is none. Receivers already cancelled, and
    /// selectors that went elsewhere, are dropped from the list on the way.
    #[inline(never)]
    pub(super) fn hand_to_receiver(&mut self, msg: T) -> Result<(), T> {
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

    /// One attempt of a blocking receive on a rendezvous channel, where a
    /// message may have been handed to the caller, or a selecting sender
    /// paired with it.
    #[inline(always)]
    pub(super) fn recv_step_rendezvous(&mut self, me: &mut Me) -> Step<Result<T, ()>> {
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
    pub(super) fn pair_with_receiver(&mut self, sender: &Selector) -> bool {
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
    pub(super) fn abandon_handoff(&mut self, receiver: Party) -> bool {
        let Some(pos) = self.handoffs.iter().position(|h| h.receiver == receiver) else {
            return false;
        };
        if let Some(msg) = self.handoffs.swap_remove(pos).msg {
            self.give_back(msg);
            self.wake_receiver();
        }
        true
    }
}

/// Whether the other end of a rendezvous has a waiter that `me` could pair
/// with.
///
/// Two selectors listed on opposite ends must not both back off to pair
/// with each other (each would find the other gone, forever): only the one
/// with the lower id counts the other as ready, backs off and pairs; the
/// higher one stays listed and nudges the lower one to look again.
pub(super) fn counterpart(list: &WaitList, me: Option<&Selector>) -> bool {
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
pub(super) fn may_hold() -> bool {
    !task::is_cancelled() && !task::cannot_park()
}

//! A channel's wait lists: who waits for a message, who waits for room, in
//! order of arrival ([`WaitList`], see "Fairness" in the module
//! documentation of `channel`), and what each entry is ([`Waiter`]): a
//! blocking caller, a select, or a watcher, which whatever serves a waiter
//! passes over.

use std::collections::VecDeque;
use std::sync::Arc;

use super::state::State;
use crate::sched::Unparker;
use crate::sync::select::Selector;
use crate::task::WaiterId;

/// An entry on a wait list.
pub(super) enum Waiter {
    /// A blocking `send` or `recv`: woken to try again.
    Plain(Unparker),
    /// A [`Select`](crate::sync::Select) waiting on this channel as its
    /// operation number `.1`: woken by committing it to that operation.
    Select(Arc<Selector>, usize),
    /// A watcher ([`Watch`](super::Watch)): woken by every change of the
    /// list's condition, never taken off the list by one, never served (see
    /// "Watchers" in the module documentation of `channel`).
    Watch(Arc<Unparker>),
}

impl Waiter {
    /// Whether this is `selector`, listed.
    pub(super) fn is(&self, selector: &Selector) -> bool {
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
pub(super) struct WaitList {
    /// The entries, sorted by ticket.
    entries: VecDeque<Entry>,
    /// The ticket of the next newcomer.
    next_ticket: u64,
    /// How many of the entries are [`Waiter::Watch`]; while none is, the
    /// methods that serve waiters take the front entry as before.
    watchers: usize,
}

/// A waiter on a [`WaitList`], with its ticket.
struct Entry {
    /// Its place in the order of arrival.
    ticket: u64,
    /// Who waits.
    waiter: Waiter,
}

impl WaitList {
    /// An empty list.
    pub(super) const fn new() -> WaitList {
        WaitList {
            entries: VecDeque::new(),
            next_ticket: 0,
            watchers: 0,
        }
    }

    #[inline(always)]
    /// Whether nobody is listed, watchers included.
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[inline]
    /// How many are listed, watchers included.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    #[inline]
    /// The listed, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Waiter> {
        self.entries.iter().map(|e| &e.waiter)
    }

    #[inline]
    /// The `i`th listed.
    pub(super) fn get(&self, i: usize) -> Option<&Waiter> {
        self.entries.get(i).map(|e| &e.waiter)
    }

    /// The first waiter to serve: watchers are passed over.
    #[inline]
    pub(super) fn front(&self) -> Option<&Waiter> {
        if self.watchers == 0 {
            return self.get(0);
        }
        self.iter().find(|w| !matches!(w, Waiter::Watch(_)))
    }

    /// Takes the first waiter to serve off the list; watchers stay.
    #[inline]
    pub(super) fn pop_front(&mut self) -> Option<Waiter> {
        if self.watchers == 0 {
            return self.entries.pop_front().map(|e| e.waiter);
        }
        let pos = self.iter().position(|w| !matches!(w, Waiter::Watch(_)))?;
        self.remove(pos)
    }

    /// Lists a watcher (at the back, as any newcomer).
    pub(super) fn watch(&mut self, watcher: Arc<Unparker>) {
        self.push(Waiter::Watch(watcher));
        self.watchers += 1;
    }

    /// Takes the watcher `watcher` off the list.
    pub(super) fn unwatch(&mut self, watcher: &Arc<Unparker>) {
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
    pub(super) fn wake_watchers(&self) {
        if self.watchers > 0 {
            self.wake_watchers_slow();
        }
    }

    #[cold]
    #[inline(never)]
    /// [`WaitList::wake_watchers`] with watchers listed.
    fn wake_watchers_slow(&self) {
        for waiter in self.iter() {
            if let Waiter::Watch(watcher) = waiter {
                watcher.as_ref().clone().unpark();
            }
        }
    }

    #[inline]
    /// Takes the `i`th listed off the list.
    pub(super) fn remove(&mut self, i: usize) -> Option<Waiter> {
        self.entries.remove(i).map(|e| e.waiter)
    }

    /// Lists a newcomer at the back; returns its ticket.
    #[inline]
    pub(super) fn push(&mut self, waiter: Waiter) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.entries.push_back(Entry { ticket, waiter });
        ticket
    }

    /// Lists the blocking waiter `me` again under the `ticket` it first got,
    /// in its place; nothing if it is still listed (a spurious wake-up).
    #[inline]
    pub(super) fn relist(&mut self, me: Unparker, ticket: u64) {
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
    pub(super) fn delist(&mut self, me: WaiterId) -> bool {
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

    /// Keeps only the listed that `keep` keeps.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&Waiter) -> bool) {
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

/// Wakes everyone on `list` (the other side of the channel is gone): the
/// waiters and selectors, taken off the list, and the watchers, left on it.
pub(super) fn wake_all(list: &mut WaitList) {
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
pub(super) enum List {
    /// [`State::receiving`]: receivers waiting for a message.
    Receiving,
    /// [`State::sending`]: senders waiting for room.
    Sending,
}

impl List {
    /// The list itself, in `state`.
    pub(super) fn of<T>(self, state: &mut State<T>) -> &mut WaitList {
        match self {
            List::Receiving => &mut state.receiving,
            List::Sending => &mut state.sending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Unparker, WaitList, Waiter};

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
}

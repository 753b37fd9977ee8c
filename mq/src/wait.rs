//! Waiting for a condition guarded by someone else's lock: the one wait
//! primitive of the socket layer.
//!
//! A [`Notify`] is a list of parked waiters. A waiter checks its condition,
//! registers, checks again (so a change between the two checks is not
//! missed), and parks; whoever changes the condition calls
//! [`Notify::notify_one`] or [`Notify::notify_all`]. It works for
//! micro-threads and OS threads alike, through the runtime's park/unpark.
//!
//! A waiter that was notified but leaves without acting on it (its deadline
//! passed, or it is unwinding) passes the notification on, so that a wake-up
//! meant for "someone" is never lost.
//!
//! A [`Notify`] also has *watchers*: parties that want to hear of every
//! change but act on none (a [`Poller`](crate::Poller) waiting on several
//! sockets at once). Every notification, one or all, wakes every watcher in
//! addition to the waiters it wakes, and a watcher stays registered until
//! it leaves. A watcher therefore never takes the one wake-up of
//! [`Notify::notify_one`] from a waiter that would have acted on it, which
//! registering the poller as one more waiter would do.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use dhaga_runtime::{Unparker, WaitReason, current_unparker, park_deadline_for};

/// Parked waiters of one condition, and its watchers.
#[derive(Default)]
pub(crate) struct Notify {
    lists: Mutex<Lists>,
    /// Number of registered waiters and watchers, read without the lock so
    /// that a notification with nobody waiting or watching costs one load.
    count: AtomicUsize,
}

#[derive(Default)]
struct Lists {
    waiters: VecDeque<Arc<Waiter>>,
    /// Few and short-lived (one per poller and socket polled); each is
    /// woken by every notification.
    watchers: Vec<Arc<Unparker>>,
}

struct Waiter {
    unparker: Unparker,
    notified: AtomicBool,
}

/// What a wait is for, as a dump of the runtime shows it: a reason and
/// the address of the object waited on.
#[derive(Clone, Copy)]
pub(crate) struct Why {
    reason: &'static WaitReason,
    object: u64,
}

impl Why {
    /// Waiting for `reason` on `object`.
    pub(crate) fn on<T>(reason: &'static WaitReason, object: &T) -> Why {
        Why {
            reason,
            object: std::ptr::from_ref(object) as usize as u64,
        }
    }
}

/// The socket layer's own waits, besides a socket's `recv` and `send` (see
/// `SocketType::recv_reason`).
pub(crate) mod reason {
    use dhaga_runtime::WaitReason;

    pub(crate) static OUTBOX: WaitReason = WaitReason::at_address("mq: messages for a peer, queue");
    pub(crate) static RECONNECT: WaitReason = WaitReason::at_address("mq: the time to reconnect, socket");
    pub(crate) static DETACHED: WaitReason = WaitReason::at_address("mq: its peers to be served (linger), socket");
    pub(crate) static ROOM: WaitReason = WaitReason::at_address("mq: room at an inproc peer, queue");
    pub(crate) static TERM: WaitReason = WaitReason::at_address("mq: its sockets to close (term), context");
    #[cfg(test)]
    pub(crate) static TEST: WaitReason = WaitReason::new("mq: a test condition");
}

/// Why [`Notify::wait_until`] gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gave {
    /// The deadline passed.
    TimedOut,
    /// The caller is unwinding (a panic or a cancellation) and cannot park.
    Unwinding,
}

impl Notify {
    pub(crate) fn new() -> Notify {
        Notify::default()
    }

    /// Wakes the longest-waiting waiter, if any, and every watcher.
    pub(crate) fn notify_one(&self) {
        // Pairs with the fences in `wait_until` and `watch`: either the
        // registration is visible here, or our caller's change is visible to
        // the waiter's or watcher's second check.
        fence(Ordering::SeqCst);
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let waiter = {
            let mut lists = self.lock();
            let waiter = lists.waiters.pop_front();
            if waiter.is_some() {
                self.count.fetch_sub(1, Ordering::Relaxed);
            }
            lists.wake_watchers();
            waiter
        };
        if let Some(waiter) = waiter {
            waiter.notified.store(true, Ordering::Release);
            waiter.unparker.unpark();
        }
    }

    /// Wakes every waiter and every watcher.
    pub(crate) fn notify_all(&self) {
        fence(Ordering::SeqCst);
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let waiters: Vec<_> = {
            let mut lists = self.lock();
            self.count.fetch_sub(lists.waiters.len(), Ordering::Relaxed);
            lists.wake_watchers();
            lists.waiters.drain(..).collect()
        };
        for waiter in waiters {
            waiter.notified.store(true, Ordering::Release);
            waiter.unparker.unpark();
        }
    }

    /// Returns the first `Some` that `ready` yields, parking between tries
    /// until notified; gives up at `deadline` (after one last try). A dump
    /// shows the caller waiting for `why`.
    ///
    /// `ready` is called with no lock of ours held; it takes whatever lock
    /// guards the condition itself.
    pub(crate) fn wait_until<T>(
        &self,
        why: Why,
        deadline: Option<Instant>,
        mut ready: impl FnMut() -> Option<T>,
    ) -> Result<T, Gave> {
        loop {
            if let Some(value) = ready() {
                return Ok(value);
            }
            if std::thread::panicking() {
                return Err(Gave::Unwinding);
            }
            let waiter = Arc::new(Waiter {
                unparker: current_unparker(),
                notified: AtomicBool::new(false),
            });
            {
                let mut lists = self.lock();
                lists.waiters.push_back(Arc::clone(&waiter));
                self.count.fetch_add(1, Ordering::Relaxed);
            }
            // From here until it is notified, the waiter must leave the list
            // on every way out, unwinding included: a cancellation unwinds
            // out of `park_deadline`, and a dead waiter left behind would
            // swallow the next `notify_one`.
            let mut registered = Registered {
                notify: self,
                waiter,
                armed: true,
            };
            fence(Ordering::SeqCst);
            if let Some(value) = ready() {
                return Ok(value);
            }
            while !registered.waiter.notified.load(Ordering::Acquire) {
                if park_deadline_for(why.reason, why.object, deadline) {
                    drop(registered);
                    return ready().ok_or(Gave::TimedOut);
                }
                if std::thread::panicking() {
                    return Err(Gave::Unwinding);
                }
            }
            // Notified: `notify_*` took it off the list already.
            registered.armed = false;
            // Notified: the loop tries again (someone else may have taken
            // what the notification was for; then we wait again).
        }
    }

    /// Registers `unparker` as a watcher: from now until the returned
    /// guard is dropped, every notification unparks it.
    ///
    /// The watcher checks its conditions after this returns (and after
    /// every wake-up), as a waiter does after registering: a change made
    /// before the registration is seen by that check, a change made after
    /// it wakes the watcher.
    pub(crate) fn watch(&self, unparker: Unparker) -> Watch<'_> {
        let unparker = Arc::new(unparker);
        {
            let mut lists = self.lock();
            lists.watchers.push(Arc::clone(&unparker));
            self.count.fetch_add(1, Ordering::Relaxed);
        }
        // Pairs with the fence in `notify_*` (see there).
        fence(Ordering::SeqCst);
        Watch { notify: self, unparker }
    }

    /// Unregisters `waiter`; if it was notified meanwhile, hands the
    /// notification to the next waiter so it is not lost.
    fn leave(&self, waiter: &Arc<Waiter>) {
        let removed = {
            let mut lists = self.lock();
            let position = lists.waiters.iter().position(|w| Arc::ptr_eq(w, waiter));
            if let Some(position) = position {
                lists.waiters.remove(position);
                self.count.fetch_sub(1, Ordering::Relaxed);
            }
            position.is_some()
        };
        if !removed {
            self.notify_one();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Lists> {
        // Nothing panics while holding it; poisoned lists are still valid.
        self.lists.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Lists {
    /// Unparks every watcher. Called under the lock: watchers are few, and
    /// this way the list needs no copy.
    fn wake_watchers(&self) {
        for watcher in &self.watchers {
            watcher.unpark();
        }
    }
}

/// A watcher registered with [`Notify::watch`]; dropping it unregisters it.
pub(crate) struct Watch<'a> {
    notify: &'a Notify,
    unparker: Arc<Unparker>,
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        let mut lists = self.notify.lock();
        let position = lists.watchers.iter().position(|w| Arc::ptr_eq(w, &self.unparker));
        if let Some(position) = position {
            lists.watchers.swap_remove(position);
            self.notify.count.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A waiter in a [`Notify`]'s list; dropping it leaves the list (passing on
/// a notification it got meanwhile).
struct Registered<'a> {
    notify: &'a Notify,
    waiter: Arc<Waiter>,
    /// Cleared once the waiter is off the list.
    armed: bool,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.notify.leave(&self.waiter);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    #[test]
    fn a_change_between_the_checks_is_not_missed() {
        let notify = Arc::new(Notify::new());
        let value = Arc::new(AtomicU32::new(0));
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let (notify, value) = (Arc::clone(&notify), Arc::clone(&value));
                dhaga_runtime::spawn(move || {
                    let mut got = 0;
                    for _ in 0..1000 {
                        notify
                            .wait_until(Why::on(&reason::TEST, &()), None, || {
                                // Takes one unit if there is one. (A single
                                // failed compare-exchange would not do: it
                                // would report "nothing" while units are
                                // left, and the wake-up for them would be
                                // spent.)
                                value
                                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| v.checked_sub(1))
                                    .ok()
                                    .map(drop)
                            })
                            .unwrap();
                        got += 1;
                    }
                    got
                })
            })
            .collect();
        for _ in 0..8000 {
            value.fetch_add(1, Ordering::AcqRel);
            notify.notify_one();
        }
        let total: u32 = waiters.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 8000);
    }

    #[test]
    fn a_watcher_takes_no_wake_up_from_a_waiter() {
        dhaga_testutil::within_limit(|| {
            let notify = Arc::new(Notify::new());
            let flag = Arc::new(AtomicBool::new(false));
            let watch = notify.watch(current_unparker());
            let waiter = {
                let (notify, flag) = (Arc::clone(&notify), Arc::clone(&flag));
                std::thread::spawn(move || {
                    notify
                        .wait_until(Why::on(&reason::TEST, &()), None, || {
                            flag.load(Ordering::Acquire).then_some(())
                        })
                        .unwrap();
                })
            };
            // The waiter is listed once the count shows it beside the watcher.
            while notify.count.load(Ordering::Relaxed) < 2 {
                std::thread::yield_now();
            }
            flag.store(true, Ordering::Release);
            notify.notify_one();
            // The one wake-up reached the waiter (or this would hang) ...
            waiter.join().unwrap();
            // ... and the watcher too: its park returns at once.
            let deadline = Instant::now() + Duration::from_secs(30);
            assert!(
                !dhaga_runtime::park_deadline(Some(deadline)),
                "the watcher was not woken"
            );
            drop(watch);
            assert_eq!(notify.count.load(Ordering::Relaxed), 0);
        });
    }

    #[test]
    fn a_deadline_gives_up() {
        let notify = Notify::new();
        let deadline = Instant::now() + Duration::from_millis(20);
        assert_eq!(
            notify.wait_until(Why::on(&reason::TEST, &()), Some(deadline), || None::<()>),
            Err(Gave::TimedOut)
        );
        assert_eq!(notify.count.load(Ordering::Relaxed), 0);
    }
}

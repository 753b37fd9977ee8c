//! The worker's half of the reactor: which descriptors are in its poller,
//! the readiness of each, and the waiters it wakes.
//!
//! Each worker has its own poller; a micro-thread waits on its own
//! worker's poller, registering the descriptor there the first time (in
//! edge-triggered mode where supported, so no re-arming per wait). Every
//! readiness event bumps a per-direction counter and wakes that direction's
//! waiters. A waiter reads the counter *before* its operation; if, when it
//! comes to park, the counter has moved, readiness arrived in between and
//! it retries instead of parking — so no edge is ever lost, whichever
//! worker reported it. On platforms without edge mode the registration is
//! oneshot and re-armed on every wait.
//!
//! Each registration is a [`Registration`], which deletes the descriptor
//! from the poller when dropped. The public face, `Source` and `FdWatch`,
//! is `io.rs`'s.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use slab::Slab;

use super::context;
use super::scheduler::{SchedulerRef, Unparker};
use super::worker::Worker;
use crate::coroutine::Suspend;
use crate::poller::{self, Event, Events, PollMode};
use crate::sys::{self, Direction};
use crate::task::{WaiterId, Wake};
use crate::wait::{Waiting, reason};

/// Readiness of one descriptor, shared by its `Source` and the workers whose
/// pollers hold it.
pub(crate) struct SourceState {
    /// Readiness events seen so far, per direction.
    ticks: [AtomicU64; 2],
    /// One more than the read tick at which a short stream read left the
    /// stream empty (see `Source::read_stream_with`); 0: none.
    drained: AtomicU64,
    /// Whether a poller said the peer shut its side down, an error is
    /// pending or urgent data came (or cannot say; see
    /// `poller::exceptional`): set before the readiness is counted, and
    /// never cleared. A short read then does not mean that a new edge will
    /// come for what is left.
    exceptional: AtomicBool,
    inner: Mutex<Inner>,
}

/// What a [`SourceState`] keeps under its lock.
#[derive(Default)]
struct Inner {
    /// Parked waiters per direction.
    waiters: [Vec<Unparker>; 2],
    /// An `FdWatch`'s watcher and the directions it watches: woken by
    /// every event in those directions, and left in place.
    watcher: Option<(Unparker, [bool; 2])>,
    /// The pollers the descriptor is in.
    registrations: Vec<Registration>,
}

/// A direction's index in the per-direction arrays.
fn index(dir: Direction) -> usize {
    match dir {
        Direction::Read => 0,
        Direction::Write => 1,
    }
}

impl SourceState {
    /// A descriptor's readiness, registered nowhere yet.
    pub(crate) fn new() -> SourceState {
        SourceState {
            ticks: [AtomicU64::new(0), AtomicU64::new(0)],
            drained: AtomicU64::new(0),
            exceptional: AtomicBool::new(false),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Its waiters, watcher and registrations, locked.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The readiness events seen in `dir` so far.
    #[inline]
    pub(crate) fn tick(&self, dir: Direction) -> u64 {
        self.ticks[index(dir)].load(Ordering::Acquire)
    }

    /// One more than the read tick at which a short stream read left the
    /// stream empty; 0: none (see `Source::read_stream_with`).
    pub(crate) fn drained(&self) -> u64 {
        self.drained.load(Ordering::Relaxed)
    }

    /// Records that a short stream read at read tick `tick` left the
    /// stream empty.
    pub(crate) fn set_drained(&self, tick: u64) {
        self.drained.store(tick + 1, Ordering::Relaxed);
    }

    /// Whether a poller reported a hang-up, an error or urgent data (see
    /// the field).
    pub(crate) fn exceptional(&self) -> bool {
        self.exceptional.load(Ordering::Relaxed)
    }

    /// Makes `unparker` the watcher of the descriptor's readiness in the
    /// directions `[read, write]` (see `FdWatch`).
    pub(crate) fn set_watcher(&self, unparker: Unparker, directions: [bool; 2]) {
        self.lock().watcher = Some((unparker, directions));
    }

    /// Waits for readiness in `dir` newer than `tick`: a micro-thread parks
    /// on its worker's poller, registering the descriptor there first; an
    /// OS thread blocks in `poll(2)`.
    ///
    /// # Errors
    ///
    /// `TimedOut` once `deadline` passes; what registering the descriptor
    /// reports; an error if the micro-thread is cancelled while unwinding.
    pub(crate) fn wait(
        self: &Arc<Self>,
        fd: BorrowedFd<'_>,
        dir: Direction,
        tick: u64,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        context::with_worker(|worker| match worker {
            Some(worker) if worker.in_task() => self.park_on(worker, fd, dir, tick, deadline),
            _ => block_on_poll(fd, dir, deadline),
        })
    }

    /// [`SourceState::wait`] for a micro-thread of `worker`.
    fn park_on(
        self: &Arc<Self>,
        worker: &Worker,
        fd: BorrowedFd<'_>,
        dir: Direction,
        tick: u64,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        let _listed = {
            let mut inner = self.lock();
            if self.tick(dir) != tick {
                return Ok(()); // readiness arrived since the operation ran
            }
            self.arm(&mut inner, worker, fd)?;
            let me = Unparker::Task(worker.current_task().expect("a micro-thread parks"));
            let id = me.id();
            inner.waiters[index(dir)].push(me);
            // From here on, every way out, unwinding out of `park` included
            // (a cancellation), takes the entry off the list again.
            Listed {
                state: self,
                dir,
                tick,
                me: id,
            }
        };
        let waiting = match dir {
            Direction::Read => &reason::READABLE,
            Direction::Write => &reason::WRITABLE,
        };
        let number = u64::try_from(fd.as_raw_fd()).unwrap_or(0);
        worker.note_wait(Waiting::numbered(waiting, number));
        let wake = worker.park(Suspend::Park, deadline);
        if wake != Wake::Notified {
            if wake == Wake::TimedOut && self.tick(dir) != tick {
                // Readiness won the race with the timer: one more attempt.
                return Ok(());
            }
            // `_listed` leaves the list. A wake-up racing with this is
            // harmless: the caller retries its operation only on `Ok`.
            return Err(match wake {
                Wake::TimedOut => io::ErrorKind::TimedOut.into(),
                _ => io::Error::other("dhaga: the micro-thread was cancelled while waiting for I/O"),
            });
        }
        Ok(())
    }

    /// Registers the descriptor with the poller of the caller's worker, for
    /// an `FdWatch`: `Some` with the outcome if the caller is a micro-thread
    /// and that poller has edge mode, else `None` (nothing done).
    pub(crate) fn arm_here(self: &Arc<Self>, fd: BorrowedFd<'_>) -> Option<io::Result<()>> {
        context::with_worker(|worker| match worker {
            Some(worker) if worker.in_task() && worker.me().poller.supports_edge() => {
                let mut inner = self.lock();
                Some(self.arm(&mut inner, worker, fd))
            }
            _ => None,
        })
    }

    /// Makes sure the descriptor is registered with `worker`'s poller.
    fn arm(self: &Arc<Self>, inner: &mut Inner, worker: &Worker, fd: BorrowedFd<'_>) -> io::Result<()> {
        let shared = worker.shared();
        let index = worker.index();
        let poller = &worker.me().poller;
        let edge = poller.supports_edge();
        let registered = inner
            .registrations
            .iter()
            .find(|registration| registration.is_on(shared, index))
            .map(|registration| registration.slot);
        match registered {
            // Edge mode: registered once, never re-armed.
            Some(_) if edge => Ok(()),
            Some(slot) => poller.modify(fd, Event::all(slot)),
            None => {
                let slot = worker.reactor().sources.borrow_mut().insert(Arc::clone(self));
                let mode = if edge { PollMode::Edge } else { PollMode::Oneshot };
                // SAFETY: `Poller::add` requires the descriptor to be deleted
                // from the poller before it is closed: what a `Registration`
                // does when dropped. The one made here goes straight into
                // `registrations`, which `deregister` empties, and the owners
                // of the descriptor call it before closing it (`Source`'s
                // drop and `into_inner`, `FdWatch`'s drop).
                let added = unsafe { poller.add_with_mode(fd.as_raw_fd(), Event::all(slot), mode) };
                match added {
                    Ok(()) => {
                        inner.registrations.push(Registration {
                            scheduler: Arc::clone(shared),
                            worker: index,
                            slot,
                            fd: fd.as_raw_fd(),
                        });
                        Ok(())
                    }
                    Err(e) => {
                        worker.reactor().sources.borrow_mut().try_remove(slot);
                        Err(e)
                    }
                }
            }
        }
    }

    /// Records readiness reported by a poller and wakes the waiters.
    pub(crate) fn ready(&self, readable: bool, writable: bool, exceptional: bool) {
        if exceptional {
            self.exceptional.store(true, Ordering::Relaxed);
        }
        let mut inner = self.lock();
        if let Some((watcher, [read, write])) = &inner.watcher
            && ((readable && *read) || (writable && *write))
        {
            watcher.clone().unpark();
        }
        for (dir, ready) in [(Direction::Read, readable), (Direction::Write, writable)] {
            if ready {
                self.ticks[index(dir)].fetch_add(1, Ordering::Release);
                // Unparking only queues the waiter (it never runs here, nor
                // takes this lock), so it is done under the lock, keeping the
                // list's allocation for the next waiters.
                for waiter in inner.waiters[index(dir)].drain(..) {
                    waiter.unpark();
                }
            }
        }
    }

    /// Deletes the descriptor from every poller it was added to (drops
    /// its registrations). Its owner calls this before closing it.
    pub(crate) fn deregister(&self) {
        let registrations = std::mem::take(&mut self.lock().registrations);
        drop(registrations);
    }

    /// How many waiters are listed for `dir`.
    #[cfg(test)]
    pub(crate) fn waiters(&self, dir: Direction) -> usize {
        self.lock().waiters[index(dir)].len()
    }
}

/// A descriptor in one worker's poller, which it deletes from the poller
/// when dropped, freeing its slot in the worker's table of sources.
///
/// The poller requires a descriptor to be deleted before it is closed (a
/// closed descriptor's number may be reused for another file, whose events
/// would then reach this entry), so a registration must be dropped while
/// its descriptor is open: `SourceState::arm` makes them, and keeps them in
/// its `registrations` until `SourceState::deregister`, which the
/// descriptor's owner calls before closing it.
struct Registration {
    /// The runtime whose worker's poller holds the descriptor.
    scheduler: SchedulerRef,
    /// The worker.
    worker: usize,
    /// The source's slot in the worker's [`Reactor`], and its key in the
    /// poller.
    slot: usize,
    /// The descriptor, open while this exists.
    fd: RawFd,
}

impl Registration {
    /// Whether this is a registration with worker `index` of `shared`.
    fn is_on(&self, shared: &SchedulerRef, index: usize) -> bool {
        Arc::ptr_eq(&self.scheduler, shared) && self.worker == index
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let target = &self.scheduler.workers[self.worker];
        // SAFETY: the descriptor is open while its registration exists (see
        // the type's docs); borrowed only for the call.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let _ = target.poller.delete(fd);
        // The worker frees the slot between two polls, so events already
        // fetched for it still find it (see `Reactor::poll`).
        target.released.push(self.slot);
    }
}

/// A waiter's entry on a [`SourceState`]'s list for one direction, taken
/// off the list when this is dropped, however the wait ends: woken, timed
/// out, or unwound out of its park by a cancellation. Without it an unwound
/// waiter's entry would stay behind, holding its finished micro-thread's
/// header, until the next readiness event, and a spurious wake-up would
/// leave a second entry for the same waiter once it parked again.
struct Listed<'a> {
    state: &'a SourceState,
    dir: Direction,
    /// The readiness count when the entry was listed.
    tick: u64,
    me: WaiterId,
}

impl Drop for Listed<'_> {
    fn drop(&mut self) {
        // A readiness event since the listing drained the list: it counts
        // and drains under the lock that the listing held, having seen the
        // count unchanged. So the entry is gone (or going) and the lock is
        // not needed, which keeps the common wake-up free of it.
        if self.state.tick(self.dir) != self.tick {
            return;
        }
        let mut inner = self.state.lock();
        let waiters = &mut inner.waiters[index(self.dir)];
        if let Some(pos) = waiters.iter().position(|w| w.id() == self.me) {
            waiters.swap_remove(pos);
        }
    }
}

/// Blocks the OS thread in `poll(2)` until `fd` is ready or `deadline`.
fn block_on_poll(fd: BorrowedFd<'_>, dir: Direction, deadline: Option<Instant>) -> io::Result<()> {
    loop {
        let timeout = match deadline {
            None => None,
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => return Err(io::ErrorKind::TimedOut.into()),
            },
        };
        // `false`: timed out (caught above next time round) or interrupted.
        if sys::wait_fd(fd.as_raw_fd(), dir, timeout)? {
            return Ok(());
        }
    }
}

/// A worker's side of the reactor: the sources registered with its poller.
#[derive(Default)]
pub(crate) struct Reactor {
    /// The sources registered here, by slot (their key in the poller).
    sources: RefCell<Slab<Arc<SourceState>>>,
    /// Where the poller's events are fetched into, kept between polls.
    events: RefCell<Option<Events>>,
}

impl Reactor {
    /// Whether any source is registered here.
    pub(crate) fn is_idle(&self) -> bool {
        self.sources.borrow().is_empty()
    }

    /// Waits for events on `worker`'s poller (at most for `timeout`;
    /// `Some(Duration::ZERO)` polls without blocking) and wakes the
    /// waiters. Returns the number of events.
    pub(crate) fn poll(&self, worker: &Worker, timeout: Option<Duration>) -> usize {
        let me = worker.me();
        let mut events = self.events.borrow_mut();
        let events = events.get_or_insert_with(Events::new);
        events.clear();
        let n = match me.poller.wait(events, timeout) {
            Ok(n) => {
                me.counters.reactor_waits.add(1);
                me.counters.reactor_events.add(n as u64);
                n
            }
            Err(e) => {
                // Nothing sensible to do but report and carry on; a broken
                // poller would otherwise stop this worker silently.
                log::error!(target: "dhaga", "worker {} failed to poll: {e}", worker.index());
                0
            }
        };
        {
            // Held while dispatching: waking a waiter only queues it, and
            // nothing that queueing does touches this table.
            let sources = self.sources.borrow();
            for event in events.iter() {
                if let Some(source) = sources.get(event.key) {
                    source.ready(event.readable, event.writable, poller::exceptional(&event));
                }
            }
        }
        // Only now, after this batch's events were handled, can released
        // slots be reused: their descriptors were deleted before release, so
        // later polls cannot report them.
        let mut sources = self.sources.borrow_mut();
        while let Some(slot) = me.released.pop() {
            sources.try_remove(slot);
        }
        n
    }

    /// Drops every source reference (shutdown).
    pub(crate) fn clear(&self) {
        *self.sources.borrow_mut() = Slab::default();
    }
}

//! Waiting on several sockets at once: [`Poller`] and [`poll`], libzmq's
//! `zmq_poller` and `zmq_poll`, for a program that serves more than one
//! socket from one micro-thread or OS thread (the Guide's `mspoller`)
//! instead of giving each socket a micro-thread of its own.
//!
//! # How it works
//!
//! Each socket has two wait lists (`Notify`): `recv` callers wait on one
//! for a message, `send` callers on the other for room, and whoever changes
//! either condition notifies it. A poll checks every socket it was given;
//! if none is ready, it registers as a *watcher* on the wait list of each
//! condition it asked for, checks again (so a change between the two checks
//! is not missed), and parks until a notification or its deadline,
//! checking again after every wake-up.
//!
//! A watcher is woken by every notification but takes none away from the
//! waiters: a message that wakes one blocked `recv` wakes the poller as
//! well, and the `recv` still gets it. So a poller and a blocking `recv` (or
//! `send`) may wait on the same socket, and neither misses its wake-up.
//!
//! A poll parks the calling micro-thread, or blocks the calling OS thread,
//! as every wait in dhaga does.

use std::fmt;
use std::ops::BitOr;
use std::time::{Duration, Instant};

use dhaga_runtime::{current_unparker, park_deadline};

use crate::error::{Error, Result};
use crate::socket::Socket;

/// What to wait for on a socket: [`READABLE`](Interest::READABLE),
/// [`WRITABLE`](Interest::WRITABLE), or both (`READABLE | WRITABLE`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interest {
    readable: bool,
    writable: bool,
}

impl Interest {
    /// Nothing: the socket stays in the poll but is not waited for.
    pub const NONE: Interest = Interest {
        readable: false,
        writable: false,
    };

    /// A `recv` would not wait (libzmq's `ZMQ_POLLIN`).
    pub const READABLE: Interest = Interest {
        readable: true,
        writable: false,
    };

    /// A `send` would not wait (libzmq's `ZMQ_POLLOUT`).
    pub const WRITABLE: Interest = Interest {
        readable: false,
        writable: true,
    };

    /// Both `self` and `other` (what `|` does, usable in a `const`).
    pub const fn add(self, other: Interest) -> Interest {
        Interest {
            readable: self.readable || other.readable,
            writable: self.writable || other.writable,
        }
    }

    /// Whether readability is asked for.
    pub fn is_readable(self) -> bool {
        self.readable
    }

    /// Whether writability is asked for.
    pub fn is_writable(self) -> bool {
        self.writable
    }

    fn is_none(self) -> bool {
        self == Interest::NONE
    }
}

impl BitOr for Interest {
    type Output = Interest;

    fn bitor(self, other: Interest) -> Interest {
        self.add(other)
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.readable, self.writable) {
            (false, false) => f.write_str("NONE"),
            (true, false) => f.write_str("READABLE"),
            (false, true) => f.write_str("WRITABLE"),
            (true, true) => f.write_str("READABLE | WRITABLE"),
        }
    }
}

/// What a poll found on a socket, among what was asked for.
///
/// *Readable*: a `recv` would return at once: a message is waiting, or the
/// socket is closed and `recv` would fail. A socket that may not receive
/// now is never readable, as with libzmq: a PUSH, a REQ that has not sent
/// its request, a REP that owes a reply.
///
/// *Writable*: a `send` would not wait: a peer has room for the message, or
/// the socket drops what it cannot deliver (ROUTER, and a REP's reply), or
/// the socket is closed and `send` would fail. A socket that may not send
/// now is never writable: a PULL, a REQ waiting for its reply, a REP with no
/// request to answer. A ROUTER with `router_mandatory` is writable when some
/// peer has room; a send to a full peer still waits.
///
/// Readiness is what the socket looked like during the poll: another
/// thread may take the message or the room first. Act on it with
/// [`Socket::try_recv`] and [`Socket::try_send`], which never wait, when
/// other threads use the socket too.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct Readiness {
    readable: bool,
    writable: bool,
}

impl Readiness {
    /// Whether the socket was readable (and that was asked for).
    pub fn is_readable(self) -> bool {
        self.readable
    }

    /// Whether the socket was writable (and that was asked for).
    pub fn is_writable(self) -> bool {
        self.writable
    }

    /// Whether neither was found.
    pub fn is_empty(self) -> bool {
        !self.readable && !self.writable
    }
}

/// A socket, what to wait for on it, and what the last poll found: one
/// entry of [`poll`] (libzmq's `zmq_pollitem_t`).
#[derive(Debug)]
pub struct PollItem<'a> {
    socket: &'a Socket,
    interest: Interest,
    readiness: Readiness,
}

impl<'a> PollItem<'a> {
    /// An entry waiting for `interest` on `socket`.
    pub fn new(socket: &'a Socket, interest: Interest) -> PollItem<'a> {
        PollItem {
            socket,
            interest,
            readiness: Readiness::default(),
        }
    }

    /// The socket.
    pub fn socket(&self) -> &'a Socket {
        self.socket
    }

    /// What is waited for.
    pub fn interest(&self) -> Interest {
        self.interest
    }

    /// Changes what the next polls wait for.
    pub fn set_interest(&mut self, interest: Interest) {
        self.interest = interest;
    }

    /// What the last poll found.
    pub fn readiness(&self) -> Readiness {
        self.readiness
    }

    /// Whether the last poll found the socket readable.
    pub fn is_readable(&self) -> bool {
        self.readiness.readable
    }

    /// Whether the last poll found the socket writable.
    pub fn is_writable(&self) -> bool {
        self.readiness.writable
    }

    /// Looks at the socket now; returns whether it is ready.
    fn check(&mut self) -> bool {
        let core = self.socket.core();
        self.readiness = Readiness {
            readable: self.interest.readable && core.is_readable(),
            writable: self.interest.writable && core.send_room(1) > 0,
        };
        !self.readiness.is_empty()
    }
}

/// Waits until at least one of `items` is ready for what it asks, or
/// `timeout` passes (`None`: no timeout; zero: just look). Returns how many
/// items are ready, 0 if the timeout passed first; each item's
/// [`readiness`](PollItem::readiness) says what it found.
///
/// The same socket may be in several items, and the items may be used from
/// other threads meanwhile (see [`Readiness`]).
///
/// # Errors
///
/// [`Error::InvalidArgument`] when no item asks for anything and there is
/// no timeout (the poll would never return), and [`Error::Closed`] when the
/// caller is unwinding (cancelled) and cannot wait.
///
/// # Examples
///
/// Serving two sockets from one thread, as the Guide's `mspoller` does:
///
/// ```
/// use dhaga_mq::{Context, Interest, PollItem, SocketType, poll};
///
/// let ctx = Context::new();
/// let tasks = ctx.socket(SocketType::Pull);
/// tasks.bind("inproc://tasks").unwrap();
/// let control = ctx.socket(SocketType::Pull);
/// control.bind("inproc://control").unwrap();
///
/// let feeder = ctx.socket(SocketType::Push);
/// feeder.connect("inproc://tasks").unwrap();
/// feeder.send("task").unwrap();
///
/// let mut items = [
///     PollItem::new(&tasks, Interest::READABLE),
///     PollItem::new(&control, Interest::READABLE),
/// ];
/// assert_eq!(poll(&mut items, None).unwrap(), 1);
/// assert!(items[0].is_readable() && !items[1].is_readable());
/// assert_eq!(tasks.try_recv().unwrap(), "task".into());
/// ```
pub fn poll(items: &mut [PollItem<'_>], timeout: Option<Duration>) -> Result<usize> {
    if timeout.is_none() && items.iter().all(|item| item.interest.is_none()) {
        return Err(Error::InvalidArgument(
            "a poll with nothing to wait for and no timeout would never return",
        ));
    }
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    // Most polls of a busy program find something at once, and register
    // nowhere.
    let ready = check(items);
    if ready > 0 || timeout == Some(Duration::ZERO) {
        return Ok(ready);
    }
    if std::thread::panicking() {
        return Err(Error::Closed);
    }
    let unparker = current_unparker();
    // Dropped on every way out, unwinding from a cancelled park included.
    let _watches: Vec<_> = items
        .iter()
        .flat_map(|item| {
            let (core, interest) = (item.socket.core(), item.interest);
            let readable = interest.readable.then(|| core.watch_readable(unparker.clone()));
            let writable = interest.writable.then(|| core.watch_writable(unparker.clone()));
            readable.into_iter().chain(writable)
        })
        .collect();
    loop {
        let ready = check(items);
        if ready > 0 {
            return Ok(ready);
        }
        if std::thread::panicking() {
            return Err(Error::Closed);
        }
        if park_deadline(deadline) {
            return Ok(check(items));
        }
    }
}

/// Looks at every item; returns how many are ready.
fn check(items: &mut [PollItem<'_>]) -> usize {
    items.iter_mut().map(PollItem::check).filter(|&ready| ready).count()
}

/// A set of sockets to wait on together, each with what to wait for
/// ([`Interest`]); [`poll`](Poller::poll) waits until some are ready.
///
/// The same as [`poll`] over a list of [`PollItem`]s that the poller keeps,
/// addressed by the index [`add`](Poller::add) returns.
///
/// # Examples
///
/// Waiting on a REQ for its reply, with a timeout, as the Guide's Lazy
/// Pirate client does:
///
/// ```
/// use std::time::Duration;
/// use dhaga_mq::{Context, Interest, Poller, SocketType};
///
/// let ctx = Context::new();
/// let server = ctx.socket(SocketType::Rep);
/// server.bind("inproc://lazy").unwrap();
/// let client = ctx.socket(SocketType::Req);
/// client.connect("inproc://lazy").unwrap();
///
/// let mut poller = Poller::new();
/// let reply = poller.add(&client, Interest::READABLE);
///
/// client.send("ping").unwrap();
/// // Nobody answers yet: the poll times out.
/// assert_eq!(poller.poll(Some(Duration::from_millis(10))).unwrap(), 0);
///
/// assert_eq!(server.recv().unwrap(), "ping".into());
/// server.send("pong").unwrap();
/// assert_eq!(poller.poll(Some(Duration::from_secs(10))).unwrap(), 1);
/// assert!(poller.readiness(reply).is_readable());
/// assert_eq!(client.recv().unwrap(), "pong".into());
/// ```
#[derive(Debug, Default)]
pub struct Poller<'a> {
    items: Vec<PollItem<'a>>,
}

impl<'a> Poller<'a> {
    /// A poller with no sockets.
    pub fn new() -> Poller<'a> {
        Poller::default()
    }

    /// Adds `socket`, waited for as `interest` says; returns its index.
    pub fn add(&mut self, socket: &'a Socket, interest: Interest) -> usize {
        self.items.push(PollItem::new(socket, interest));
        self.items.len() - 1
    }

    /// Changes what the socket at `index` is waited for.
    ///
    /// # Panics
    ///
    /// If `index` was not returned by [`add`](Poller::add).
    pub fn set_interest(&mut self, index: usize, interest: Interest) {
        self.items[index].set_interest(interest);
    }

    /// Waits as [`poll`](fn@poll) does, until some socket is ready or
    /// `timeout` passes; returns how many are ready (0 on timeout).
    ///
    /// # Errors
    ///
    /// As [`poll`](fn@poll).
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<usize> {
        poll(&mut self.items, timeout)
    }

    /// What the last poll found on the socket at `index`.
    ///
    /// # Panics
    ///
    /// If `index` was not returned by [`add`](Poller::add).
    pub fn readiness(&self, index: usize) -> Readiness {
        self.items[index].readiness
    }

    /// The entries, in the order they were added.
    pub fn items(&self) -> &[PollItem<'a>] {
        &self.items
    }
}

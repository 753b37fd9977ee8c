//! Waiting on several sockets at once: [`Poller`] and [`poll`], libzmq's
//! `zmq_poller` and `zmq_poll`, for a program that serves more than one
//! socket from one micro-thread or OS thread (the Guide's `mspoller`)
//! instead of giving each socket a micro-thread of its own.
//!
//! One wait for everything: beside sockets, a poll takes dhaga channels
//! (a [`Receiver`] is readable when a `recv` would not wait, a [`Sender`]
//! writable when a `send` would not) and file descriptors (anything
//! [`AsFd`]: a `dhaga::net::TcpStream`, a pipe, a std socket), as
//! libzmq's `zmq_poller_add_fd` and `zmq_pollitem_t`'s `fd` do, in any
//! mix.
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
//! Channels and descriptors are waited for the same way, with the
//! runtime's watchers. A channel watcher
//! ([`Receiver::watch`](dhaga_runtime::sync::Receiver::watch)) is listed on
//! the channel's wait list and woken by every change there, and, like a
//! socket's, takes no wake-up from a blocked `recv` or `send`. A
//! descriptor watcher ([`FdWatch`]) registers a duplicate of the
//! descriptor, edge-triggered, with the caller's worker's poller (or, on
//! an OS thread, with the runtime's helper thread's); it reads nothing.
//! Whether a descriptor is ready is always decided by `poll(2)` with a zero
//! timeout ([`fd_ready`]), never by the edge that woke the poll, so a
//! descriptor is reported *level-triggered*, as libzmq reports it: ready
//! for as long as it stays ready, whoever else reads it. A closed peer or
//! a pending error counts as readable (a read would return at once).
//!
//! Nothing is registered for a poll that finds something ready at once;
//! one that waits registers a duplicate descriptor for each descriptor it
//! waits on (a `dup(2)`, two `epoll_ctl`s and a `close(2)` per wait).
//!
//! A poll parks the calling micro-thread, or blocks the calling OS thread,
//! as every wait in dhaga does.

use std::fmt;
use std::ops::BitOr;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use dhaga_runtime::sync::{Receiver, Sender, Watch};
use dhaga_runtime::{FdEvents, FdWatch, Unparker, WaitReason, current_unparker, fd_ready, park_deadline_for};

use crate::error::{Error, Result};
use crate::socket::Socket;

/// What to wait for on a socket, channel or descriptor:
/// [`READABLE`](Interest::READABLE),
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

    fn fd_events(self) -> FdEvents {
        FdEvents::new(self.readable, self.writable)
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

/// What a poll found on a socket, channel or descriptor, among what was
/// asked for.
///
/// For a channel's [`Receiver`], *readable*: a `recv` would not wait (a
/// message is there, or every sender is gone and `recv` fails); it is
/// never writable. For a [`Sender`], *writable*: a `send` would not wait
/// (there is room, or every receiver is gone and `send` fails); never
/// readable. For a descriptor, what `poll(2)` says now (see
/// [`FdEvents`]): a hang-up or an error counts as readable and writable.
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

/// A socket, channel end or descriptor, what to wait for on it, and what
/// the last poll found: one entry of [`poll`] (libzmq's `zmq_pollitem_t`,
/// whose `fd` field [`PollItem::from_fd`] fills).
#[derive(Debug)]
pub struct PollItem<'a> {
    target: Target<'a>,
    interest: Interest,
    readiness: Readiness,
}

/// What a [`PollItem`] waits on.
enum Target<'a> {
    Socket(&'a Socket),
    Channel(&'a (dyn ChannelEnd + Sync)),
    Fd(BorrowedFd<'a>),
}

impl fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Socket(socket) => f.debug_tuple("Socket").field(socket).finish(),
            Target::Channel(end) if end.is_sender() => f.write_str("Sender"),
            Target::Channel(_) => f.write_str("Receiver"),
            Target::Fd(fd) => f.debug_tuple("Fd").field(fd).finish(),
        }
    }
}

/// A channel's [`Receiver`] or [`Sender`], whatever its message type.
trait ChannelEnd {
    fn is_sender(&self) -> bool;
    /// Whether the end's operation would not wait now.
    fn is_ready(&self) -> bool;
    fn watch(&self, unparker: Unparker) -> Watch<'_>;
}

impl<T> ChannelEnd for Receiver<T> {
    fn is_sender(&self) -> bool {
        false
    }

    fn is_ready(&self) -> bool {
        Receiver::is_ready(self)
    }

    fn watch(&self, unparker: Unparker) -> Watch<'_> {
        Receiver::watch(self, unparker)
    }
}

impl<T> ChannelEnd for Sender<T> {
    fn is_sender(&self) -> bool {
        true
    }

    fn is_ready(&self) -> bool {
        Sender::is_ready(self)
    }

    fn watch(&self, unparker: Unparker) -> Watch<'_> {
        Sender::watch(self, unparker)
    }
}

impl<'a> PollItem<'a> {
    /// An entry waiting for `interest` on `socket`.
    pub fn new(socket: &'a Socket, interest: Interest) -> PollItem<'a> {
        PollItem::with(Target::Socket(socket), interest)
    }

    /// An entry waiting until a `recv` on `receiver` would not wait
    /// ([`Interest::READABLE`]; a receiver is never writable).
    pub fn from_receiver<T: Send>(receiver: &'a Receiver<T>) -> PollItem<'a> {
        PollItem::with(Target::Channel(receiver), Interest::READABLE)
    }

    /// An entry waiting until a `send` on `sender` would not wait
    /// ([`Interest::WRITABLE`]; a sender is never readable).
    pub fn from_sender<T: Send>(sender: &'a Sender<T>) -> PollItem<'a> {
        PollItem::with(Target::Channel(sender), Interest::WRITABLE)
    }

    /// An entry waiting for `interest` on a file descriptor (libzmq's
    /// `zmq_pollitem_t` with `fd` set): a `dhaga::net::TcpStream`, a
    /// pipe, any [`AsFd`]. Level-triggered: see [`Readiness`]. The
    /// descriptor is only looked at, never read or written, and its mode
    /// (blocking or not) is left as it is.
    pub fn from_fd(fd: &'a impl AsFd, interest: Interest) -> PollItem<'a> {
        PollItem::with(Target::Fd(fd.as_fd()), interest)
    }

    fn with(target: Target<'a>, interest: Interest) -> PollItem<'a> {
        PollItem {
            target,
            interest,
            readiness: Readiness::default(),
        }
    }

    /// The socket.
    ///
    /// # Panics
    ///
    /// If the entry is a channel's or a descriptor's; see
    /// [`as_socket`](PollItem::as_socket).
    pub fn socket(&self) -> &'a Socket {
        self.as_socket()
            .expect("PollItem::socket: the entry is a channel's or a descriptor's, not a socket's")
    }

    /// The socket, if the entry is a socket's.
    pub fn as_socket(&self) -> Option<&'a Socket> {
        match self.target {
            Target::Socket(socket) => Some(socket),
            _ => None,
        }
    }

    /// The descriptor, if the entry is a descriptor's.
    pub fn fd(&self) -> Option<BorrowedFd<'a>> {
        match self.target {
            Target::Fd(fd) => Some(fd),
            _ => None,
        }
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

    /// Looks at the target now; returns whether it is ready.
    fn check(&mut self) -> Result<bool> {
        let interest = self.interest;
        self.readiness = match self.target {
            Target::Socket(socket) => {
                let core = socket.core();
                Readiness {
                    readable: interest.readable && core.is_readable(),
                    writable: interest.writable && core.send_room(1) > 0,
                }
            }
            Target::Channel(end) => {
                let wanted = if end.is_sender() {
                    interest.writable
                } else {
                    interest.readable
                };
                let ready = wanted && end.is_ready();
                Readiness {
                    readable: ready && !end.is_sender(),
                    writable: ready && end.is_sender(),
                }
            }
            Target::Fd(_) if interest.is_none() => Readiness::default(),
            Target::Fd(fd) => {
                let ready = fd_ready(fd, interest.fd_events())?;
                Readiness {
                    readable: ready.is_readable(),
                    writable: ready.is_writable(),
                }
            }
        };
        Ok(!self.readiness.is_empty())
    }
}

/// The watchers of one waiting poll, unregistered when dropped.
#[derive(Default)]
struct Watches<'a> {
    sockets: Vec<crate::wait::Watch<'a>>,
    channels: Vec<Watch<'a>>,
    fds: Vec<FdWatch>,
}

impl<'a> Watches<'a> {
    /// Registers `unparker` with everything `items` wait for.
    fn register(items: &[PollItem<'a>], unparker: &Unparker) -> Result<Watches<'a>> {
        let mut watches = Watches::default();
        for item in items {
            let interest = item.interest;
            match item.target {
                Target::Socket(socket) => {
                    let core = socket.core();
                    if interest.readable {
                        watches.sockets.push(core.watch_readable(unparker.clone()));
                    }
                    if interest.writable {
                        watches.sockets.push(core.watch_writable(unparker.clone()));
                    }
                }
                Target::Channel(end) => {
                    if (end.is_sender() && interest.writable) || (!end.is_sender() && interest.readable) {
                        watches.channels.push(end.watch(unparker.clone()));
                    }
                }
                Target::Fd(_) if interest.is_none() => {}
                Target::Fd(fd) => watches
                    .fds
                    .push(FdWatch::new(fd, interest.fd_events(), unparker.clone())?),
            }
        }
        Ok(watches)
    }
}

/// Waits until at least one of `items` (sockets, channel ends,
/// descriptors) is ready for what it asks, or
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
/// no timeout (the poll would never return), [`Error::Closed`] when the
/// caller is unwinding (cancelled) and cannot wait, and [`Error::Io`] when
/// a descriptor cannot be polled (`EBADF`: it is not open) or watched
/// (`EMFILE`: no descriptor left for its duplicate).
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
    let ready = check(items)?;
    if ready > 0 || timeout == Some(Duration::ZERO) {
        return Ok(ready);
    }
    if std::thread::panicking() {
        return Err(Error::Closed);
    }
    /// As a dump of the runtime shows a poll.
    static POLL: WaitReason = WaitReason::new("mq poll over items:");
    let unparker = current_unparker();
    // Dropped on every way out, unwinding from a cancelled park included.
    let _watches = Watches::register(items, &unparker)?;
    loop {
        let ready = check(items)?;
        if ready > 0 {
            return Ok(ready);
        }
        if std::thread::panicking() {
            return Err(Error::Closed);
        }
        if park_deadline_for(&POLL, items.len() as u64, deadline) {
            return check(items);
        }
    }
}

/// Looks at every item; returns how many are ready.
fn check(items: &mut [PollItem<'_>]) -> Result<usize> {
    let mut ready = 0;
    for item in items {
        ready += usize::from(item.check()?);
    }
    Ok(ready)
}

/// A set of sockets, channel ends and descriptors to wait on together,
/// each with what to wait for ([`Interest`]); [`poll`](Poller::poll) waits
/// until some are ready (libzmq's `zmq_poller`, pyzmq's `Poller`).
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
        self.push(PollItem::new(socket, interest))
    }

    /// Adds a channel's `receiver`, waited for until a `recv` would not
    /// wait ([`Interest::READABLE`]); returns its index.
    pub fn add_receiver<T: Send>(&mut self, receiver: &'a Receiver<T>) -> usize {
        self.push(PollItem::from_receiver(receiver))
    }

    /// Adds a channel's `sender`, waited for until a `send` would not wait
    /// ([`Interest::WRITABLE`]); returns its index.
    pub fn add_sender<T: Send>(&mut self, sender: &'a Sender<T>) -> usize {
        self.push(PollItem::from_sender(sender))
    }

    /// Adds a file descriptor, waited for as `interest` says (libzmq's
    /// `zmq_poller_add_fd`); returns its index. See
    /// [`PollItem::from_fd`].
    ///
    /// # Examples
    ///
    /// A PULL socket, a channel and a pipe, in one wait:
    ///
    /// ```
    /// use std::io::Write;
    /// use std::time::Duration;
    /// use dhaga_mq::{Context, Interest, Poller, SocketType};
    ///
    /// let ctx = Context::new();
    /// let pull = ctx.socket(SocketType::Pull);
    /// pull.bind("inproc://work").unwrap();
    /// let (tx, rx) = dhaga_runtime::sync::unbounded::<&str>();
    /// let (reader, mut writer) = std::io::pipe().unwrap();
    ///
    /// let mut poller = Poller::new();
    /// let socket = poller.add(&pull, Interest::READABLE);
    /// let channel = poller.add_receiver(&rx);
    /// let pipe = poller.add_fd(&reader, Interest::READABLE);
    ///
    /// writer.write_all(b"x").unwrap();
    /// assert_eq!(poller.poll(Some(Duration::from_secs(10))).unwrap(), 1);
    /// assert!(poller.readiness(pipe).is_readable());
    /// assert!(!poller.readiness(socket).is_readable() && !poller.readiness(channel).is_readable());
    /// # drop(tx);
    /// ```
    pub fn add_fd(&mut self, fd: &'a impl AsFd, interest: Interest) -> usize {
        self.push(PollItem::from_fd(fd, interest))
    }

    fn push(&mut self, item: PollItem<'a>) -> usize {
        self.items.push(item);
        self.items.len() - 1
    }

    /// Changes what the entry at `index` is waited for.
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

    /// What the last poll found on the entry at `index`.
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

//! Socket monitoring: what happens to a socket's connections, as events on
//! a channel (libzmq's `zmq_socket_monitor`).
//!
//! libzmq publishes events on an `inproc` PAIR socket as two-frame
//! messages; here they are values of [`MonitorEvent`] on a
//! [`Receiver`] of the runtime's channels, so a program reads them with
//! `recv`, `recv_timeout`, `try_recv`, an iterator or a `select`, from a
//! micro-thread or an OS thread alike.
//!
//! Events are emitted where they happen: the accept and connect loops and
//! each connection's micro-thread. With no monitor attached an event costs
//! one atomic load: it is built (endpoint cloned, error copied) only when
//! someone watches. The channel is bounded and the socket never waits for
//! the watcher: when the watcher falls [`CAPACITY`] events behind, newer
//! events are dropped (libzmq's monitor socket drops at its high-water mark
//! too).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::ops::{BitOr, BitOrAssign};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use dhaga_runtime::sync::{Receiver, Sender, TrySendError, bounded};

use crate::endpoint::Endpoint;
use crate::zmtp::ProtocolError;

/// How many events may wait for the watcher before newer ones are dropped
/// (libzmq's default high-water mark, which bounds its monitor socket).
pub(crate) const CAPACITY: usize = 1000;

/// Something that happened to one of a socket's endpoints or connections,
/// as libzmq's `zmq_socket_monitor` reports it.
///
/// Each event names the endpoint it concerns: for a listener and the
/// connections it accepted, the endpoint as bound (with the port the system
/// picked); for a connection the socket made, the endpoint as given to
/// `connect`. Events of a connection also carry the peer's address (a TCP
/// peer's IP address and port; `None` over `ipc`), as libzmq's second
/// version of the monitor does. Only `tcp://` and `ipc://` endpoints have
/// events; `inproc` has none (nor has it in libzmq). The last event is
/// [`MonitorStopped`], when the socket closes or another monitor replaces
/// this one; the channel ends after it.
///
/// A connection the socket accepted reports [`Accepted`], then
/// [`HandshakeSucceeded`] or [`HandshakeFailed`], and ends with
/// [`Disconnected`] unless the socket itself closed. A connection the
/// socket makes reports [`Connected`] (or [`ConnectDelayed`] when the
/// attempt fails), the same handshake events, and [`ConnectRetried`] each
/// time it waits to try again, after a failure or after a disconnection.
///
/// Variants may gain fields, so patterns name the fields they use and end
/// with `..`.
///
/// [`Accepted`]: MonitorEvent::Accepted
/// [`HandshakeSucceeded`]: MonitorEvent::HandshakeSucceeded
/// [`HandshakeFailed`]: MonitorEvent::HandshakeFailed
/// [`Disconnected`]: MonitorEvent::Disconnected
/// [`Connected`]: MonitorEvent::Connected
/// [`ConnectDelayed`]: MonitorEvent::ConnectDelayed
/// [`ConnectRetried`]: MonitorEvent::ConnectRetried
/// [`MonitorStopped`]: MonitorEvent::MonitorStopped
#[derive(Debug)]
#[non_exhaustive]
pub enum MonitorEvent {
    /// A connection to the peer was established (`ZMQ_EVENT_CONNECTED`);
    /// the ZMTP handshake comes next.
    #[non_exhaustive]
    Connected {
        /// The endpoint connected to.
        endpoint: Endpoint,
        /// The peer's address (TCP; `None` over `ipc`).
        peer: Option<SocketAddr>,
    },
    /// A connection attempt failed and the connection is pending: the
    /// socket keeps trying (`ZMQ_EVENT_CONNECT_DELAYED`). libzmq reports
    /// it when a non-blocking `connect` is under way; dhaga's `connect`
    /// parks until it succeeds or fails, so this comes with the failure.
    #[non_exhaustive]
    ConnectDelayed {
        /// The endpoint being connected to.
        endpoint: Endpoint,
        /// Why the attempt failed (nothing listening, unreachable, a name
        /// that does not resolve).
        error: io::Error,
    },
    /// The socket waits `interval` before its next connection attempt, after
    /// a failed attempt or a lost connection (`ZMQ_EVENT_CONNECT_RETRIED`).
    #[non_exhaustive]
    ConnectRetried {
        /// The endpoint being connected to.
        endpoint: Endpoint,
        /// The wait before the next attempt (the reconnect interval,
        /// doubling up to its maximum).
        interval: Duration,
    },
    /// The socket is bound and accepts connections (`ZMQ_EVENT_LISTENING`).
    #[non_exhaustive]
    Listening {
        /// The endpoint as bound.
        endpoint: Endpoint,
    },
    /// `bind` failed (`ZMQ_EVENT_BIND_FAILED`); `bind` returns the same
    /// error.
    #[non_exhaustive]
    BindFailed {
        /// The endpoint as given to `bind`.
        endpoint: Endpoint,
        /// Why (the address is in use, the path is not writable, …).
        error: io::Error,
    },
    /// A peer connected to a bound endpoint (`ZMQ_EVENT_ACCEPTED`); the
    /// ZMTP handshake comes next.
    #[non_exhaustive]
    Accepted {
        /// The bound endpoint.
        endpoint: Endpoint,
        /// The peer's address (TCP; `None` over `ipc`).
        peer: Option<SocketAddr>,
    },
    /// Accepting a connection failed (`ZMQ_EVENT_ACCEPT_FAILED`); the
    /// listener goes on.
    #[non_exhaustive]
    AcceptFailed {
        /// The bound endpoint.
        endpoint: Endpoint,
        /// Why.
        error: io::Error,
    },
    /// A listener stopped: the endpoint was unbound or the socket closed
    /// (`ZMQ_EVENT_CLOSED`). Connections it accepted are not affected by an
    /// unbind. (libzmq also reports this for the descriptor of each failed
    /// connection attempt; here those are [`ConnectDelayed`] alone.)
    ///
    /// [`ConnectDelayed`]: MonitorEvent::ConnectDelayed
    #[non_exhaustive]
    Closed {
        /// The endpoint as bound.
        endpoint: Endpoint,
    },
    /// A connection ended other than by this socket closing
    /// (`ZMQ_EVENT_DISCONNECTED`): the peer closed it or broke the
    /// protocol, the handshake failed, the heartbeat timed out, or the
    /// network failed. A connection the socket made is tried again.
    #[non_exhaustive]
    Disconnected {
        /// The endpoint of the connection.
        endpoint: Endpoint,
        /// The peer's address (TCP; `None` over `ipc`).
        peer: Option<SocketAddr>,
    },
    /// The ZMTP handshake completed (`ZMQ_EVENT_HANDSHAKE_SUCCEEDED`):
    /// messages flow, unless the socket refuses the peer (a PAIR's second
    /// peer, a routing id a ROUTER already has), which [`Disconnected`]
    /// then reports.
    ///
    /// [`Disconnected`]: MonitorEvent::Disconnected
    #[non_exhaustive]
    HandshakeSucceeded {
        /// The endpoint of the connection.
        endpoint: Endpoint,
        /// The peer's address (TCP; `None` over `ipc`).
        peer: Option<SocketAddr>,
    },
    /// The ZMTP handshake failed; [`Disconnected`] follows
    /// (`ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL`, `_NO_DETAIL`).
    ///
    /// [`Disconnected`]: MonitorEvent::Disconnected
    #[non_exhaustive]
    HandshakeFailed {
        /// The endpoint of the connection.
        endpoint: Endpoint,
        /// The peer's address (TCP; `None` over `ipc`).
        peer: Option<SocketAddr>,
        /// What went wrong.
        reason: HandshakeFailure,
    },
    /// The monitor stopped (`ZMQ_EVENT_MONITOR_STOPPED`): the socket closed,
    /// or [`Socket::monitor`](crate::Socket::monitor) was called again. It
    /// is the last event; the channel ends after it.
    MonitorStopped,
}

impl MonitorEvent {
    /// The endpoint the event concerns (none for
    /// [`MonitorStopped`](MonitorEvent::MonitorStopped)).
    pub fn endpoint(&self) -> Option<&Endpoint> {
        match self {
            MonitorEvent::Connected { endpoint, .. }
            | MonitorEvent::ConnectDelayed { endpoint, .. }
            | MonitorEvent::ConnectRetried { endpoint, .. }
            | MonitorEvent::Listening { endpoint }
            | MonitorEvent::BindFailed { endpoint, .. }
            | MonitorEvent::Accepted { endpoint, .. }
            | MonitorEvent::AcceptFailed { endpoint, .. }
            | MonitorEvent::Closed { endpoint }
            | MonitorEvent::Disconnected { endpoint, .. }
            | MonitorEvent::HandshakeSucceeded { endpoint, .. }
            | MonitorEvent::HandshakeFailed { endpoint, .. } => Some(endpoint),
            MonitorEvent::MonitorStopped => None,
        }
    }

    /// The address of the peer of the connection the event concerns, when
    /// it concerns one over TCP.
    pub fn peer(&self) -> Option<SocketAddr> {
        match self {
            MonitorEvent::Connected { peer, .. }
            | MonitorEvent::Accepted { peer, .. }
            | MonitorEvent::Disconnected { peer, .. }
            | MonitorEvent::HandshakeSucceeded { peer, .. }
            | MonitorEvent::HandshakeFailed { peer, .. } => *peer,
            _ => None,
        }
    }

    /// The event's kind, as the bit of [`MonitorEvents`] (libzmq's
    /// `ZMQ_EVENT_*` value) that selects it.
    pub fn kind(&self) -> MonitorEvents {
        match self {
            MonitorEvent::Connected { .. } => MonitorEvents::CONNECTED,
            MonitorEvent::ConnectDelayed { .. } => MonitorEvents::CONNECT_DELAYED,
            MonitorEvent::ConnectRetried { .. } => MonitorEvents::CONNECT_RETRIED,
            MonitorEvent::Listening { .. } => MonitorEvents::LISTENING,
            MonitorEvent::BindFailed { .. } => MonitorEvents::BIND_FAILED,
            MonitorEvent::Accepted { .. } => MonitorEvents::ACCEPTED,
            MonitorEvent::AcceptFailed { .. } => MonitorEvents::ACCEPT_FAILED,
            MonitorEvent::Closed { .. } => MonitorEvents::CLOSED,
            MonitorEvent::Disconnected { .. } => MonitorEvents::DISCONNECTED,
            MonitorEvent::HandshakeSucceeded { .. } => MonitorEvents::HANDSHAKE_SUCCEEDED,
            MonitorEvent::HandshakeFailed { reason, .. } => match reason {
                HandshakeFailure::Protocol(_) => MonitorEvents::HANDSHAKE_FAILED_PROTOCOL,
                HandshakeFailure::Auth(_) => MonitorEvents::HANDSHAKE_FAILED_AUTH,
                HandshakeFailure::NoDetail(_) => MonitorEvents::HANDSHAKE_FAILED_NO_DETAIL,
            },
            MonitorEvent::MonitorStopped => MonitorEvents::MONITOR_STOPPED,
        }
    }
}

impl fmt::Display for MonitorEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(endpoint) = self.endpoint() else {
            return f.write_str("monitor stopped");
        };
        write!(f, "{endpoint}")?;
        if let Some(peer) = self.peer() {
            write!(f, " (peer {peer})")?;
        }
        match self {
            MonitorEvent::Connected { .. } => f.write_str(": connected"),
            MonitorEvent::ConnectDelayed { error, .. } => write!(f, ": connect delayed: {error}"),
            MonitorEvent::ConnectRetried { interval, .. } => write!(f, ": connecting again in {interval:?}"),
            MonitorEvent::Listening { .. } => f.write_str(": listening"),
            MonitorEvent::BindFailed { error, .. } => write!(f, ": bind failed: {error}"),
            MonitorEvent::Accepted { .. } => f.write_str(": accepted a connection"),
            MonitorEvent::AcceptFailed { error, .. } => write!(f, ": accept failed: {error}"),
            MonitorEvent::Closed { .. } => f.write_str(": closed"),
            MonitorEvent::Disconnected { .. } => f.write_str(": disconnected"),
            MonitorEvent::HandshakeSucceeded { .. } => f.write_str(": handshake succeeded"),
            MonitorEvent::HandshakeFailed { reason, .. } => write!(f, ": handshake failed: {reason}"),
            MonitorEvent::MonitorStopped => Ok(()),
        }
    }
}

/// A set of [`MonitorEvent`] kinds: which events a monitor reports
/// ([`Socket::monitor_events`](crate::Socket::monitor_events)), with
/// libzmq's `ZMQ_EVENT_*` values, so a mask written for libzmq means the
/// same here.
///
/// # Examples
///
/// ```
/// use dhaga_mq::MonitorEvents;
///
/// let connections = MonitorEvents::ACCEPTED | MonitorEvents::DISCONNECTED;
/// assert!(connections.contains(MonitorEvents::ACCEPTED));
/// assert!(!connections.contains(MonitorEvents::LISTENING));
/// assert_eq!(connections.bits(), 0x0020 | 0x0200);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MonitorEvents(u16);

impl MonitorEvents {
    /// `ZMQ_EVENT_CONNECTED`: [`MonitorEvent::Connected`].
    pub const CONNECTED: MonitorEvents = MonitorEvents(0x0001);
    /// `ZMQ_EVENT_CONNECT_DELAYED`: [`MonitorEvent::ConnectDelayed`].
    pub const CONNECT_DELAYED: MonitorEvents = MonitorEvents(0x0002);
    /// `ZMQ_EVENT_CONNECT_RETRIED`: [`MonitorEvent::ConnectRetried`].
    pub const CONNECT_RETRIED: MonitorEvents = MonitorEvents(0x0004);
    /// `ZMQ_EVENT_LISTENING`: [`MonitorEvent::Listening`].
    pub const LISTENING: MonitorEvents = MonitorEvents(0x0008);
    /// `ZMQ_EVENT_BIND_FAILED`: [`MonitorEvent::BindFailed`].
    pub const BIND_FAILED: MonitorEvents = MonitorEvents(0x0010);
    /// `ZMQ_EVENT_ACCEPTED`: [`MonitorEvent::Accepted`].
    pub const ACCEPTED: MonitorEvents = MonitorEvents(0x0020);
    /// `ZMQ_EVENT_ACCEPT_FAILED`: [`MonitorEvent::AcceptFailed`].
    pub const ACCEPT_FAILED: MonitorEvents = MonitorEvents(0x0040);
    /// `ZMQ_EVENT_CLOSED`: [`MonitorEvent::Closed`].
    pub const CLOSED: MonitorEvents = MonitorEvents(0x0080);
    /// `ZMQ_EVENT_DISCONNECTED`: [`MonitorEvent::Disconnected`].
    pub const DISCONNECTED: MonitorEvents = MonitorEvents(0x0200);
    /// `ZMQ_EVENT_MONITOR_STOPPED`: [`MonitorEvent::MonitorStopped`].
    pub const MONITOR_STOPPED: MonitorEvents = MonitorEvents(0x0400);
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL`: [`MonitorEvent::HandshakeFailed`]
    /// with [`HandshakeFailure::NoDetail`].
    pub const HANDSHAKE_FAILED_NO_DETAIL: MonitorEvents = MonitorEvents(0x0800);
    /// `ZMQ_EVENT_HANDSHAKE_SUCCEEDED`: [`MonitorEvent::HandshakeSucceeded`].
    pub const HANDSHAKE_SUCCEEDED: MonitorEvents = MonitorEvents(0x1000);
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL`: [`MonitorEvent::HandshakeFailed`]
    /// with [`HandshakeFailure::Protocol`].
    pub const HANDSHAKE_FAILED_PROTOCOL: MonitorEvents = MonitorEvents(0x2000);
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_AUTH`: [`MonitorEvent::HandshakeFailed`]
    /// with [`HandshakeFailure::Auth`].
    pub const HANDSHAKE_FAILED_AUTH: MonitorEvents = MonitorEvents(0x4000);
    /// Every handshake failure.
    pub const HANDSHAKE_FAILED: MonitorEvents = MonitorEvents(0x0800 | 0x2000 | 0x4000);
    /// `ZMQ_EVENT_ALL`: every event.
    pub const ALL: MonitorEvents = MonitorEvents(0xffff);
    /// No event.
    pub const NONE: MonitorEvents = MonitorEvents(0);

    /// The set libzmq's `events` argument `bits` selects (bits with no
    /// event are kept and mean nothing, as in libzmq).
    pub const fn from_bits(bits: u16) -> MonitorEvents {
        MonitorEvents(bits)
    }

    /// The set as libzmq's bit mask.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether every event of `other` is in the set.
    pub const fn contains(self, other: MonitorEvents) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set and `other` have an event in common.
    pub const fn intersects(self, other: MonitorEvents) -> bool {
        self.0 & other.0 != 0
    }
}

impl BitOr for MonitorEvents {
    type Output = MonitorEvents;

    fn bitor(self, other: MonitorEvents) -> MonitorEvents {
        MonitorEvents(self.0 | other.0)
    }
}

impl BitOrAssign for MonitorEvents {
    fn bitor_assign(&mut self, other: MonitorEvents) {
        self.0 |= other.0;
    }
}

impl fmt::Debug for MonitorEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MonitorEvents({:#06x})", self.0)
    }
}

/// Why a ZMTP handshake failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum HandshakeFailure {
    /// The peer broke the protocol or was refused: not a ZMTP greeting, a
    /// version before 3.0, another security mechanism, a malformed READY, a
    /// socket type that cannot talk to ours, an ERROR command
    /// (`ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL`). Its text names the
    /// violation and the values involved.
    Protocol(ProtocolError),
    /// The ZAP handler refused the peer, or the peer's handler refused us
    /// (`ZMQ_EVENT_HANDSHAKE_FAILED_AUTH`): the RFC 27 status code, 300
    /// (temporary failure), 400 (refused) or 500 (the handler failed).
    Auth(u16),
    /// The peer closed the connection, the handshake interval passed, or
    /// the connection failed (`ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL`, whose
    /// value is the `errno`): the error says which (`UnexpectedEof`,
    /// `TimedOut`, or the system's error).
    NoDetail(io::Error),
}

impl fmt::Display for HandshakeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeFailure::Protocol(error) => write!(f, "protocol error: {error}"),
            HandshakeFailure::Auth(status) => write!(f, "authentication failed: ZAP status {status}"),
            HandshakeFailure::NoDetail(error) => error.fmt(f),
        }
    }
}

/// Where a socket sends its events: nowhere until [`Monitor::start`].
#[derive(Default)]
pub(crate) struct Monitor {
    /// Whether a watcher is attached, read without the lock so that an
    /// event nobody watches costs one load.
    on: AtomicBool,
    watcher: Mutex<Option<Watcher>>,
}

/// The attached watcher's channel and the events it asked for.
struct Watcher {
    sender: Sender<MonitorEvent>,
    events: MonitorEvents,
}

impl Watcher {
    /// Tells the watcher it is detached, if it asked to be told.
    fn stopped(self) {
        if self.events.contains(MonitorEvents::MONITOR_STOPPED) {
            let _ = self.sender.try_send(MonitorEvent::MonitorStopped);
        }
    }
}

impl Monitor {
    fn lock(&self) -> MutexGuard<'_, Option<Watcher>> {
        // Nothing panics while holding it; a poisoned slot is still valid.
        self.watcher.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Attaches a new watcher of `events`, detaching the one before (which
    /// gets its `MonitorStopped`, and its channel ends), as a second
    /// `zmq_socket_monitor` replaces the first.
    pub(crate) fn start(&self, events: MonitorEvents) -> Receiver<MonitorEvent> {
        let (sender, receiver) = bounded(CAPACITY);
        let old = self.lock().replace(Watcher { sender, events });
        self.on.store(true, Ordering::Release);
        if let Some(old) = old {
            old.stopped();
        }
        receiver
    }

    /// Detaches the watcher: it gets `MonitorStopped` (libzmq's
    /// `ZMQ_EVENT_MONITOR_STOPPED`) if it asked for it, and its channel
    /// ends once it has read what was sent.
    pub(crate) fn stop(&self) {
        self.on.store(false, Ordering::Release);
        let old = self.lock().take();
        if let Some(old) = old {
            old.stopped();
        }
    }

    /// Sends the event `make` builds, if someone watches events of its
    /// kind. A full channel drops it; a watcher that dropped its receiver
    /// is detached.
    pub(crate) fn emit(&self, make: impl FnOnce() -> MonitorEvent) {
        if !self.on.load(Ordering::Acquire) {
            return;
        }
        let mut watcher = self.lock();
        let Some(attached) = watcher.as_ref() else {
            return;
        };
        let event = make();
        if !attached.events.contains(event.kind()) {
            return;
        }
        match attached.sender.try_send(event) {
            Ok(()) | Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => {
                *watcher = None;
                self.on.store(false, Ordering::Release);
            }
        }
    }
}

/// A copy of `error` for an event, the original going to a caller or a
/// log (`io::Error` is not `Clone`): the OS error when there is one, else
/// the kind and the message.
pub(crate) fn copy_error(error: &io::Error) -> io::Error {
    match error.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(error.kind(), error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listening(port: u16) -> MonitorEvent {
        MonitorEvent::Listening {
            endpoint: format!("tcp://127.0.0.1:{port}").parse().unwrap(),
        }
    }

    #[test]
    fn nothing_is_built_without_a_watcher() {
        let monitor = Monitor::default();
        monitor.emit(|| unreachable!("built with nobody watching"));
        let events = monitor.start(MonitorEvents::ALL);
        monitor.stop();
        monitor.emit(|| unreachable!("built after the watcher was detached"));
        assert!(matches!(events.recv(), Ok(MonitorEvent::MonitorStopped)));
        assert!(events.recv().is_err(), "the channel ended");
    }

    #[test]
    fn a_new_watcher_replaces_the_old_one() {
        let monitor = Monitor::default();
        let first = monitor.start(MonitorEvents::ALL);
        monitor.emit(|| listening(1));
        let second = monitor.start(MonitorEvents::ALL);
        monitor.emit(|| listening(2));
        assert!(matches!(first.recv(), Ok(MonitorEvent::Listening { .. })));
        assert!(matches!(first.recv(), Ok(MonitorEvent::MonitorStopped)));
        assert!(first.recv().is_err(), "the first channel ended");
        assert_eq!(
            second.recv().unwrap().endpoint().unwrap().to_string(),
            "tcp://127.0.0.1:2"
        );
    }

    #[test]
    fn a_watcher_that_falls_behind_loses_the_newest_events() {
        let monitor = Monitor::default();
        let events = monitor.start(MonitorEvents::ALL);
        for port in 0..CAPACITY as u16 + 10 {
            monitor.emit(|| listening(port));
        }
        let got: Vec<_> = events.try_iter().map(|e| e.endpoint().unwrap().to_string()).collect();
        assert_eq!(got.len(), CAPACITY);
        assert_eq!(got[0], "tcp://127.0.0.1:0");
    }

    #[test]
    fn a_dropped_receiver_detaches_the_watcher() {
        let monitor = Monitor::default();
        drop(monitor.start(MonitorEvents::ALL));
        monitor.emit(|| listening(1));
        assert!(!monitor.on.load(Ordering::Acquire));
        monitor.emit(|| unreachable!("built after the watcher left"));
    }

    #[test]
    fn a_mask_leaves_out_the_events_not_asked_for() {
        let monitor = Monitor::default();
        let events = monitor.start(MonitorEvents::CLOSED);
        monitor.emit(|| listening(1));
        monitor.emit(|| MonitorEvent::Closed {
            endpoint: "tcp://127.0.0.1:1".parse().unwrap(),
        });
        monitor.stop();
        assert!(matches!(events.recv(), Ok(MonitorEvent::Closed { .. })));
        assert!(
            events.recv().is_err(),
            "no Listening, no MonitorStopped: the channel ended"
        );
    }

    #[test]
    fn kinds_are_libzmq_values() {
        let failed = |reason| MonitorEvent::HandshakeFailed {
            endpoint: "tcp://127.0.0.1:1".parse().unwrap(),
            peer: None,
            reason,
        };
        assert_eq!(failed(HandshakeFailure::Auth(400)).kind().bits(), 0x4000);
        assert_eq!(
            failed(HandshakeFailure::Protocol(ProtocolError::MissingSocketType))
                .kind()
                .bits(),
            0x2000
        );
        assert_eq!(
            failed(HandshakeFailure::NoDetail(io::ErrorKind::TimedOut.into()))
                .kind()
                .bits(),
            0x0800
        );
        assert!(MonitorEvents::HANDSHAKE_FAILED.contains(failed(HandshakeFailure::Auth(300)).kind()));
        assert_eq!(listening(1).kind().bits(), 0x0008);
        assert_eq!(MonitorEvent::MonitorStopped.kind().bits(), 0x0400);
        assert_eq!(MonitorEvent::MonitorStopped.to_string(), "monitor stopped");
    }

    #[test]
    fn copied_errors_keep_the_os_code_or_the_kind() {
        let refused = io::Error::from_raw_os_error(111);
        assert_eq!(copy_error(&refused).raw_os_error(), Some(111));
        let custom = io::Error::new(io::ErrorKind::TimedOut, "the handshake timed out");
        let copy = copy_error(&custom);
        assert_eq!(copy.kind(), io::ErrorKind::TimedOut);
        assert_eq!(copy.to_string(), "the handshake timed out");
    }
}

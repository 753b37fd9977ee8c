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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use dhaga_runtime::sync::{Receiver, Sender, TrySendError, bounded};

use crate::endpoint::Endpoint;

/// How many events may wait for the watcher before newer ones are dropped
/// (libzmq's default high-water mark, which bounds its monitor socket).
pub(crate) const CAPACITY: usize = 1000;

/// Something that happened to one of a socket's endpoints or connections,
/// as libzmq's `zmq_socket_monitor` reports it.
///
/// Each event names the endpoint it concerns: for a listener and the
/// connections it accepted, the endpoint as bound (with the port the system
/// picked); for a connection the socket made, the endpoint as given to
/// `connect`. Only `tcp://` and `ipc://` endpoints have events; `inproc`
/// has none (nor has it in libzmq).
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
#[derive(Debug)]
#[non_exhaustive]
pub enum MonitorEvent {
    /// A connection to the peer was established (`ZMQ_EVENT_CONNECTED`);
    /// the ZMTP handshake comes next.
    #[non_exhaustive]
    Connected {
        /// The endpoint connected to.
        endpoint: Endpoint,
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
    },
    /// The ZMTP handshake failed; [`Disconnected`] follows
    /// (`ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL`, `_NO_DETAIL`).
    ///
    /// [`Disconnected`]: MonitorEvent::Disconnected
    #[non_exhaustive]
    HandshakeFailed {
        /// The endpoint of the connection.
        endpoint: Endpoint,
        /// What went wrong.
        reason: HandshakeFailure,
    },
}

impl MonitorEvent {
    /// The endpoint the event concerns.
    pub fn endpoint(&self) -> &Endpoint {
        match self {
            MonitorEvent::Connected { endpoint }
            | MonitorEvent::ConnectDelayed { endpoint, .. }
            | MonitorEvent::ConnectRetried { endpoint, .. }
            | MonitorEvent::Listening { endpoint }
            | MonitorEvent::BindFailed { endpoint, .. }
            | MonitorEvent::Accepted { endpoint }
            | MonitorEvent::AcceptFailed { endpoint, .. }
            | MonitorEvent::Closed { endpoint }
            | MonitorEvent::Disconnected { endpoint }
            | MonitorEvent::HandshakeSucceeded { endpoint }
            | MonitorEvent::HandshakeFailed { endpoint, .. } => endpoint,
        }
    }
}

impl fmt::Display for MonitorEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let endpoint = self.endpoint();
        match self {
            MonitorEvent::Connected { .. } => write!(f, "{endpoint}: connected"),
            MonitorEvent::ConnectDelayed { error, .. } => write!(f, "{endpoint}: connect delayed: {error}"),
            MonitorEvent::ConnectRetried { interval, .. } => {
                write!(f, "{endpoint}: connecting again in {interval:?}")
            }
            MonitorEvent::Listening { .. } => write!(f, "{endpoint}: listening"),
            MonitorEvent::BindFailed { error, .. } => write!(f, "{endpoint}: bind failed: {error}"),
            MonitorEvent::Accepted { .. } => write!(f, "{endpoint}: accepted a connection"),
            MonitorEvent::AcceptFailed { error, .. } => write!(f, "{endpoint}: accept failed: {error}"),
            MonitorEvent::Closed { .. } => write!(f, "{endpoint}: closed"),
            MonitorEvent::Disconnected { .. } => write!(f, "{endpoint}: disconnected"),
            MonitorEvent::HandshakeSucceeded { .. } => write!(f, "{endpoint}: handshake succeeded"),
            MonitorEvent::HandshakeFailed { reason, .. } => write!(f, "{endpoint}: handshake failed: {reason}"),
        }
    }
}

/// Why a ZMTP handshake failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum HandshakeFailure {
    /// The peer broke the protocol or was refused: not a ZMTP greeting, a
    /// version before 3.0, another security mechanism, a malformed READY, a
    /// socket type that cannot talk to ours, an ERROR command
    /// (`ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL`). The text names the
    /// violation and the values involved.
    Protocol(String),
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
            HandshakeFailure::Protocol(reason) => write!(f, "protocol error: {reason}"),
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
    sender: Mutex<Option<Sender<MonitorEvent>>>,
}

impl Monitor {
    fn lock(&self) -> MutexGuard<'_, Option<Sender<MonitorEvent>>> {
        // Nothing panics while holding it; a poisoned slot is still valid.
        self.sender.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Attaches a new watcher, detaching (ending the channel of) the one
    /// before, as a second `zmq_socket_monitor` replaces the first.
    pub(crate) fn start(&self) -> Receiver<MonitorEvent> {
        let (sender, receiver) = bounded(CAPACITY);
        *self.lock() = Some(sender);
        self.on.store(true, Ordering::Release);
        receiver
    }

    /// Detaches the watcher: its channel ends once it has read what was
    /// sent (libzmq's `ZMQ_EVENT_MONITOR_STOPPED`).
    pub(crate) fn stop(&self) {
        self.on.store(false, Ordering::Release);
        *self.lock() = None;
    }

    /// Sends the event `make` builds, if someone watches. A full channel
    /// drops it; a watcher that dropped its receiver is detached.
    pub(crate) fn emit(&self, make: impl FnOnce() -> MonitorEvent) {
        if !self.on.load(Ordering::Acquire) {
            return;
        }
        let mut sender = self.lock();
        let Some(channel) = sender.as_ref() else {
            return;
        };
        match channel.try_send(make()) {
            Ok(()) | Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => {
                *sender = None;
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
        let events = monitor.start();
        monitor.stop();
        monitor.emit(|| unreachable!("built after the watcher was detached"));
        assert!(events.recv().is_err(), "the channel ended");
    }

    #[test]
    fn a_new_watcher_replaces_the_old_one() {
        let monitor = Monitor::default();
        let first = monitor.start();
        monitor.emit(|| listening(1));
        let second = monitor.start();
        monitor.emit(|| listening(2));
        assert!(matches!(first.recv(), Ok(MonitorEvent::Listening { .. })));
        assert!(first.recv().is_err(), "the first channel ended");
        assert_eq!(second.recv().unwrap().endpoint().to_string(), "tcp://127.0.0.1:2");
    }

    #[test]
    fn a_watcher_that_falls_behind_loses_the_newest_events() {
        let monitor = Monitor::default();
        let events = monitor.start();
        for port in 0..CAPACITY as u16 + 10 {
            monitor.emit(|| listening(port));
        }
        let got: Vec<_> = events.try_iter().map(|e| e.endpoint().to_string()).collect();
        assert_eq!(got.len(), CAPACITY);
        assert_eq!(got[0], "tcp://127.0.0.1:0");
    }

    #[test]
    fn a_dropped_receiver_detaches_the_watcher() {
        let monitor = Monitor::default();
        drop(monitor.start());
        monitor.emit(|| listening(1));
        assert!(!monitor.on.load(Ordering::Acquire));
        monitor.emit(|| unreachable!("built after the watcher left"));
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

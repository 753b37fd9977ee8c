//! The errors of `dhaga::mq`.

use std::fmt;
use std::io;

use crate::{Msg, SocketType};

/// What went wrong with a socket operation.
///
/// Connections that fail or that a peer breaks (bad protocol, lost network)
/// are not errors of `send` or `recv`: the socket drops that peer, logs the
/// reason, reconnects where it connected, and goes on serving the others.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The endpoint string is not one this library understands.
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `inproc` bind to a name another socket of the context has bound.
    AddrInUse(String),
    /// `unbind`/`disconnect` of an endpoint the socket did not bind or
    /// connect.
    EndpointNotFound(String),
    /// The socket type cannot do this (`recv` on PUSH, `send` on PULL).
    NotSupported {
        /// The socket's type.
        socket_type: SocketType,
        /// The operation it cannot do.
        operation: &'static str,
    },
    /// The operation is not allowed in the socket's current state: REQ
    /// must alternate `send` and `recv`, REP must `recv` a request before
    /// it can `send` a reply (libzmq's `EFSM`).
    InvalidState(&'static str),
    /// The two socket types cannot talk to each other (an `inproc` connect).
    IncompatibleSocketType {
        /// Our type.
        ours: SocketType,
        /// The peer's type.
        peer: SocketType,
    },
    /// A socket option was given a value outside its range (libzmq's
    /// `EINVAL` from `zmq_setsockopt`).
    InvalidOption {
        /// The option, as its setter names it (`"heartbeat_ttl"`).
        option: &'static str,
        /// What the option accepts.
        reason: &'static str,
    },
    /// A ROUTER with `router_mandatory` set was asked to send to a routing id
    /// that is not connected.
    HostUnreachable,
    /// A message with no frames cannot be sent.
    EmptyMessage,
    /// An argument the operation cannot work with (libzmq's `EINVAL`): a
    /// poll with nothing to wait for and no timeout, a proxy control
    /// command that is not one.
    InvalidArgument(&'static str),
    /// The send or receive timeout passed (libzmq's `EAGAIN` after
    /// `ZMQ_SNDTIMEO`/`ZMQ_RCVTIMEO`).
    TimedOut,
    /// A non-blocking `try_send`/`try_recv` could not proceed now (`EAGAIN`).
    WouldBlock,
    /// The socket has been closed, or its caller is unwinding (cancelled)
    /// and cannot wait.
    Closed,
    /// The socket's context was shut down ([`Context::shutdown`] or
    /// [`Context::term`]: libzmq's `ETERM`), or the runtime whose
    /// micro-threads served it (its listeners, connections and
    /// reconnections) has shut down, so that nothing will arrive or leave
    /// any more; in that case messages that had arrived are still received
    /// first. The socket stays this way: close it, and make a new one in a
    /// live context, on a running runtime.
    ///
    /// [`Context::shutdown`]: crate::Context::shutdown
    /// [`Context::term`]: crate::Context::term
    Terminated,
    /// [`Socket::recv_string`](crate::Socket::recv_string) received a
    /// message that is not one frame of UTF-8 text; here it is, not lost.
    NotText(Msg),
    /// An I/O error from binding, connecting or resolving.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidEndpoint { endpoint, reason } => write!(f, "invalid endpoint {endpoint:?}: {reason}"),
            Error::AddrInUse(endpoint) => write!(f, "{endpoint} is already bound"),
            Error::EndpointNotFound(endpoint) => write!(f, "{endpoint} was not bound or connected by this socket"),
            Error::NotSupported { socket_type, operation } => {
                write!(f, "a {socket_type} socket cannot {operation}")
            }
            Error::InvalidState(what) => write!(f, "operation not allowed now: {what}"),
            Error::IncompatibleSocketType { ours, peer } => write!(f, "a {ours} socket cannot talk to a {peer} socket"),
            Error::InvalidOption { option, reason } => write!(f, "invalid {option}: {reason}"),
            Error::HostUnreachable => f.write_str("no peer with that routing id is connected"),
            Error::EmptyMessage => f.write_str("a message needs at least one frame"),
            Error::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
            Error::TimedOut => f.write_str("timed out"),
            Error::WouldBlock => f.write_str("the operation would block"),
            Error::Closed => f.write_str("the socket is closed"),
            Error::Terminated => f.write_str("the socket's context or the runtime serving it has shut down"),
            Error::NotText(msg) => write!(
                f,
                "the message received ({} frames, {} bytes) is not one frame of UTF-8 text",
                msg.len(),
                msg.size()
            ),
            Error::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

/// A failed send: why, and the message, given back to the caller.
#[derive(Debug)]
pub struct SendError {
    error: Error,
    msg: Msg,
}

impl SendError {
    pub(crate) fn new(error: Error, msg: Msg) -> SendError {
        SendError { error, msg }
    }

    /// Why the send failed.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The message that was not sent.
    pub fn into_msg(self) -> Msg {
        self.msg
    }

    /// Both parts.
    pub fn into_parts(self) -> (Error, Msg) {
        (self.error, self.msg)
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "send failed: {}", self.error)
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Error {
        e.error
    }
}

/// The result type of `dhaga::mq`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

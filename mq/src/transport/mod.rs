//! Byte streams to peers: TCP and Unix domain sockets (`ipc`), both from
//! `dhaga::net`, so every blocking call parks only the connection's
//! micro-thread. This layer knows bytes only, nothing of sockets, pipes or
//! messages. (`inproc` carries messages, not bytes: it is a kind of peer,
//! in `socket/peer/inproc.rs`.)

mod ipc;
mod stream;
mod tcp;

use std::io;

use self::ipc::IpcListener;
pub(crate) use self::stream::Stream;
use self::tcp::TcpAcceptor;
use crate::endpoint::Endpoint;
use crate::options::TcpOptions;

/// A bound listener.
pub(crate) enum Listener {
    Tcp(TcpAcceptor),
    Ipc(IpcListener),
}

impl Listener {
    /// Binds `endpoint` (tcp or ipc), listening with `backlog`
    /// (`ZMQ_BACKLOG`) and, for tcp, with `tcp`'s options, and returns the
    /// listener and the endpoint as bound (the port the system picked, for
    /// port 0).
    pub(crate) fn bind(endpoint: &Endpoint, backlog: u32, tcp: &TcpOptions) -> io::Result<(Listener, Endpoint)> {
        match endpoint {
            Endpoint::Tcp { host, port } => {
                let (listener, bound) = TcpAcceptor::bind(host, *port, backlog, tcp)?;
                Ok((Listener::Tcp(listener), bound))
            }
            Endpoint::Ipc(addr) => {
                let listener = IpcListener::bind(addr, backlog)?;
                Ok((Listener::Ipc(listener), endpoint.clone()))
            }
            Endpoint::Inproc(_) => unreachable!("inproc endpoints are not bound to a listener"),
        }
    }

    /// Waits for the next connection.
    pub(crate) fn accept(&self) -> io::Result<Stream> {
        match self {
            Listener::Tcp(l) => l.accept(),
            Listener::Ipc(l) => l.accept(),
        }
    }
}

/// Connects to `endpoint` (tcp or ipc; tcp with `tcp`'s options).
pub(crate) fn connect(endpoint: &Endpoint, tcp: &TcpOptions) -> io::Result<Stream> {
    match endpoint {
        Endpoint::Tcp { host, port } => tcp::connect(host, *port, tcp),
        Endpoint::Ipc(addr) => ipc::connect(addr),
        Endpoint::Inproc(_) => unreachable!("inproc endpoints are not connected by a stream"),
    }
}

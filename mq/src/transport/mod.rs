//! Byte streams to peers: TCP and Unix domain sockets (`ipc`), both from
//! `dhaga::net`, so every blocking call parks only the connection's
//! micro-thread. This layer knows bytes only, nothing of sockets, pipes or
//! messages. (`inproc` carries messages, not bytes: it is a kind of peer,
//! in `socket/peer/inproc.rs`.)

mod ipc;
mod tcp;

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use dhaga_net::{TcpStream, UnixStream};

use crate::endpoint::Endpoint;
use crate::options::TcpOptions;

pub(crate) use ipc::IpcListener;
pub(crate) use tcp::TcpAcceptor;

/// A connection to a peer.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Ipc(UnixStream),
}

/// Calls `$method` on whichever stream it is.
macro_rules! each_stream {
    ($stream:expr, $s:ident => $body:expr) => {
        match $stream {
            Stream::Tcp($s) => $body,
            Stream::Ipc($s) => $body,
        }
    };
}

impl Stream {
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        each_stream!(self, s => (&*s).read(buf))
    }

    /// Reads into `buf`'s spare capacity (none: reads nothing); see
    /// `dhaga_net::TcpStream::read_buf`.
    pub(crate) fn read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
        each_stream!(self, s => s.read_buf(buf))
    }

    pub(crate) fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        each_stream!(self, s => (&*s).write_all(buf))
    }

    /// Writes every byte of `bufs`, gathering them in as few `writev`s as
    /// the socket takes.
    /// Writes all of `bufs`, by the deadline `deadline()` gives before each
    /// write, if any (it may appear during a long write: the socket
    /// closed): each write may wait only for what is left of it, so a peer
    /// that reads a little now and then cannot stretch it
    /// ([`io::ErrorKind::TimedOut`] once it has passed).
    pub(crate) fn write_all_vectored(
        &self,
        mut bufs: &mut [IoSlice<'_>],
        deadline: impl Fn() -> Option<Instant>,
    ) -> io::Result<()> {
        IoSlice::advance_slices(&mut bufs, 0);
        while !bufs.is_empty() {
            if let Some(deadline) = deadline() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "the linger time is over"));
                }
                self.set_write_timeout(Some(left))?;
            }
            match each_stream!(self, s => (&*s).write_vectored(bufs)) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut bufs, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        each_stream!(self, s => s.shutdown(how))
    }

    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        each_stream!(self, s => s.set_read_timeout(timeout))
    }

    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        each_stream!(self, s => s.set_write_timeout(timeout))
    }

    /// The peer's address as libzmq's `Peer-Address` property and ZAP
    /// requests give it: a TCP peer's IP address (no port), nothing for ipc.
    pub(crate) fn peer_address(&self) -> String {
        match self {
            Stream::Tcp(s) => s.peer_addr().map_or_else(|_| String::new(), |a| a.ip().to_string()),
            Stream::Ipc(_) => String::new(),
        }
    }

    /// A TCP peer's address, for monitor events (`None` over ipc).
    pub(crate) fn peer_socket_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            Stream::Tcp(s) => s.peer_addr().ok(),
            Stream::Ipc(_) => None,
        }
    }

    /// A description of the peer for log lines.
    pub(crate) fn peer(&self) -> String {
        match self {
            Stream::Tcp(s) => s
                .peer_addr()
                .map_or_else(|_| "tcp peer".to_owned(), |a| format!("tcp://{a}")),
            Stream::Ipc(_) => "ipc peer".to_owned(),
        }
    }
}

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

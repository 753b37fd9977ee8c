//! A connection to a peer, TCP or ipc, as one type: the reads and writes
//! every connection makes, whichever it is.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use dhaga_net::{TcpStream, UnixStream};

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

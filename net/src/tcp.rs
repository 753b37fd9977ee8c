//! TCP: [`TcpListener`] and [`TcpStream`], method for method like std's.

use std::fmt;
use std::io;
use std::net::{self, Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Type};

use crate::addr::{ToSocketAddrs, each_addr};
use crate::socket::{Socket, is_connect_in_progress, mode_methods, stream_io, timeout_methods};

/// A TCP socket server, listening for connections.
///
/// Like [`std::net::TcpListener`]; `accept` parks the calling micro-thread
/// until a connection arrives (on an OS thread it blocks). When the process
/// runs out of file descriptors, `accept` backs off and retries instead of
/// failing or spinning, and serves again once descriptors are free.
pub struct TcpListener {
    inner: Socket<net::TcpListener>,
}

impl TcpListener {
    mode_methods!();

    /// Creates a listener bound to `addr` (the first of its addresses that
    /// binds). Port 0 picks a free port: see [`TcpListener::local_addr`].
    ///
    /// # Errors
    ///
    /// As [`std::net::TcpListener::bind`].
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(addr, |addr| net::TcpListener::bind(addr)).and_then(TcpListener::from_std)
    }

    /// Accepts a new connection, parking until one arrives.
    ///
    /// # Errors
    ///
    /// As [`std::net::TcpListener::accept`], except that running out of file
    /// descriptors is waited out, not returned (unless in non-blocking mode);
    /// `WouldBlock` in non-blocking mode.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = self.inner.accept(net::TcpListener::accept)?;
        Ok((TcpStream::from_std(stream)?, peer))
    }

    /// An endless iterator over incoming connections (`accept` in a loop).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The local address, with the actual port if bound to port 0.
    ///
    /// # Errors
    ///
    /// As [`std::net::TcpListener::local_addr`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// Another handle to the same listener.
    ///
    /// # Errors
    ///
    /// If the descriptor cannot be duplicated.
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        Ok(TcpListener {
            inner: self.inner.try_clone(net::TcpListener::try_clone)?,
        })
    }

    /// Sets `IP_TTL`.
    ///
    /// # Errors
    ///
    /// As [`std::net::TcpListener::set_ttl`].
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.get_ref().set_ttl(ttl)
    }

    /// Gets `IP_TTL`.
    ///
    /// # Errors
    ///
    /// As [`std::net::TcpListener::ttl`].
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.get_ref().ttl()
    }

    /// Wraps a std listener.
    ///
    /// The descriptor is switched to non-blocking mode, a flag that any
    /// duplicate of it shares: use the socket through dhaga only from now on.
    ///
    /// # Errors
    ///
    /// If it cannot be switched to non-blocking mode.
    pub fn from_std(listener: net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            inner: Socket::new(listener)?,
        })
    }

    /// The std listener, back in blocking mode.
    ///
    /// # Errors
    ///
    /// `InvalidInput` while clones made by `try_clone` are alive (blocking
    /// mode is one flag, shared by all of them), or if it cannot be switched
    /// back to blocking mode.
    pub fn into_std(self) -> io::Result<net::TcpListener> {
        self.inner.into_inner(|l| l.set_nonblocking(false))
    }
}

/// Iterator over a listener's connections; see [`TcpListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

/// A TCP connection.
///
/// Like [`std::net::TcpStream`]; reads, writes and connects park the calling
/// micro-thread until the socket is ready (on an OS thread they block). A
/// read or write that runs past the socket's timeout fails with
/// `WouldBlock`, as std's do on Unix. `Read` and `Write` are implemented for
/// `&TcpStream` too, so one micro-thread can read while another writes.
pub struct TcpStream {
    inner: Socket<net::TcpStream>,
}

impl TcpStream {
    mode_methods!();
    timeout_methods!();

    /// Connects to `addr`, trying each address it resolves to in turn.
    ///
    /// # Errors
    ///
    /// As [`std::net::TcpStream::connect`] (for example `ConnectionRefused`).
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(addr, |addr| TcpStream::connect_addr(addr, None))
    }

    /// Connects to `addr`, giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// `TimedOut` when the timeout passes; `InvalidInput` for a zero timeout;
    /// otherwise as [`std::net::TcpStream::connect_timeout`].
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        TcpStream::connect_addr(addr, Some(timeout))
    }

    fn connect_addr(addr: &SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
        let socket = socket2::Socket::new(Domain::for_address(*addr), Type::STREAM, Some(Protocol::TCP))?;
        let stream = TcpStream::from_std(socket.into())?;
        match SockRef::from(stream.inner.get_ref()).connect(&(*addr).into()) {
            Ok(()) => return Ok(stream),
            Err(e) if is_connect_in_progress(&e) => {}
            Err(e) => return Err(e),
        }
        stream.inner.writable(timeout)?;
        if let Some(e) = stream.take_error()? {
            return Err(e);
        }
        // Writable without an error, but make sure it is connected.
        stream.peer_addr()?;
        Ok(stream)
    }

    /// The remote address.
    ///
    /// # Errors
    ///
    /// As [`std::net::TcpStream::peer_addr`].
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// As [`std::net::TcpStream::local_addr`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// Shuts down the read half, the write half, or both; micro-threads
    /// parked on the socket wake up and see end of file or an error.
    ///
    /// # Errors
    ///
    /// As [`std::net::TcpStream::shutdown`].
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }

    /// Another handle to the same connection, sharing its timeouts.
    ///
    /// # Errors
    ///
    /// If the descriptor cannot be duplicated.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream {
            inner: self.inner.try_clone(net::TcpStream::try_clone)?,
        })
    }

    /// Reads without consuming, parking until data arrives.
    ///
    /// # Errors
    ///
    /// As [`std::net::TcpStream::peek`].
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(|s| s.peek(buf))
    }

    /// Sets `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// As [`std::net::TcpStream::set_nodelay`].
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.get_ref().set_nodelay(nodelay)
    }

    /// Gets `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// As [`std::net::TcpStream::nodelay`].
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.get_ref().nodelay()
    }

    /// Sets `IP_TTL`.
    ///
    /// # Errors
    ///
    /// As [`std::net::TcpStream::set_ttl`].
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.get_ref().set_ttl(ttl)
    }

    /// Gets `IP_TTL`.
    ///
    /// # Errors
    ///
    /// As [`std::net::TcpStream::ttl`].
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.get_ref().ttl()
    }

    /// Wraps a connected std stream.
    ///
    /// The descriptor is switched to non-blocking mode, a flag that any
    /// duplicate of it shares: use the socket through dhaga only from now on.
    ///
    /// # Errors
    ///
    /// If it cannot be switched to non-blocking mode.
    pub fn from_std(stream: net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            inner: Socket::new(stream)?,
        })
    }

    /// The std stream, back in blocking mode (timeouts are not carried over).
    ///
    /// # Errors
    ///
    /// `InvalidInput` while clones made by `try_clone` are alive (blocking
    /// mode is one flag, shared by all of them), or if it cannot be switched
    /// back to blocking mode.
    pub fn into_std(self) -> io::Result<net::TcpStream> {
        self.inner.into_inner(|s| s.set_nonblocking(false))
    }
}

macro_rules! fd_traits {
    ($($t:ty),*) => {$(
        impl AsRawFd for $t {
            fn as_raw_fd(&self) -> RawFd {
                self.inner.get_ref().as_raw_fd()
            }
        }

        impl AsFd for $t {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.inner.get_ref().as_fd()
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.inner.get_ref(), f)
            }
        }
    )*};
}

fd_traits!(TcpListener, TcpStream);
stream_io!(TcpStream);
pub(crate) use fd_traits;

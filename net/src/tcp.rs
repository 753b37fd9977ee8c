//! TCP: [`TcpListener`] and [`TcpStream`], method for method like std's.
//! Their sockets are created in `tcp_socket.rs` (a listener's through a
//! [`TcpSocket`]), and every connect, [`TcpSocket::connect`]'s too, goes
//! through [`TcpStream::connect_socket`].

use std::fmt;
use std::io;
use std::net::{self, Shutdown, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use socket2::SockRef;

use crate::addr::each_addr;
use crate::listen;
#[cfg(feature = "bytes")]
use crate::socket::read_buf_method;
use crate::socket::{Socket, is_connect_in_progress, mode_methods, stream_io, timeout_methods};
use crate::tcp_socket::{self, TcpSocket};

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
    /// `addr` is anything std's `ToSocketAddrs` takes; a host name in text is
    /// looked up on the blocking pool ([where names are looked up](crate#addresses)).
    ///
    /// Unlike std, which queues at most 128 connections that have not been
    /// accepted yet, it listens with the system's limit, as Go does
    /// (`net.core.somaxconn` on Linux, 1024 elsewhere), so a burst of
    /// connects does not overflow the queue and wait for retransmitted SYNs.
    /// [`TcpListener::bind_with_backlog`] chooses the length.
    ///
    /// # Errors
    ///
    /// As [`std::net::TcpListener::bind`].
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        TcpListener::bind_with_backlog(addr, listen::system_backlog())
    }

    /// Creates a listener bound to `addr`, as [`TcpListener::bind`] does,
    /// whose kernel queue holds about `backlog` connections that are
    /// complete but not accepted yet (the `backlog` of `listen(2)`; Linux
    /// keeps one more). Beyond that, new connects wait: the kernel drops
    /// their SYNs, and the peer retransmits them after a second or more.
    ///
    /// The kernel caps the length at its limit (`net.core.somaxconn` on
    /// Linux), so `u32::MAX` asks for the most the system allows; 0 is the
    /// least it allows (on Linux, one waiting connection).
    ///
    /// # Errors
    ///
    /// As [`std::net::TcpListener::bind`]: each address `addr` resolves to
    /// is tried in turn, and the last one's error is returned (for example
    /// `AddrInUse`, or `AddrNotAvailable` for an address that is not the
    /// machine's).
    ///
    /// # Examples
    ///
    /// A listener that keeps at most about 16 connections waiting to be
    /// accepted:
    ///
    /// ```
    /// use dhaga_net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind_with_backlog("127.0.0.1:0", 16)?;
    /// let client = TcpStream::connect(listener.local_addr()?)?;
    /// let (server, peer) = listener.accept()?;
    /// assert_eq!(peer, client.local_addr()?);
    /// # drop(server);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn bind_with_backlog<A: ToSocketAddrs>(addr: A, backlog: u32) -> io::Result<TcpListener> {
        each_addr(addr, |addr| {
            let socket = TcpSocket::for_addr(*addr)?;
            // As std does: a restarted server can bind its port again while
            // connections of the previous one linger in TIME_WAIT.
            socket.set_reuseaddr(true)?;
            socket.bind(*addr)?;
            socket.listen(backlog)
        })
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
    /// Blocking mode is one flag of the open socket, shared by every
    /// duplicate of its descriptor. Clones made by `try_clone` are counted
    /// (see below); duplicates made otherwise (std's `try_clone`,
    /// `try_clone_to_owned`, `dup(2)`) cannot be seen: if another dhaga
    /// socket was made from one, its calls block its worker from now on.
    /// Convert such a socket with `OwnedFd::from` instead, which leaves the
    /// descriptor non-blocking.
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
    #[cfg(feature = "bytes")]
    read_buf_method!();

    /// Connects to `addr`, trying each address it resolves to in turn.
    ///
    /// `addr` is anything std's `ToSocketAddrs` takes; a host name in text is
    /// looked up on the blocking pool ([where names are looked up](crate#addresses)).
    ///
    /// # Errors
    ///
    /// As [`std::net::TcpStream::connect`] (for example `ConnectionRefused`).
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(addr, |addr| {
            TcpStream::connect_socket(tcp_socket::new_socket(addr)?, addr, None)
        })
    }

    /// Connects to `addr`, giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// `TimedOut` when the timeout passes; `InvalidInput` for a zero timeout;
    /// otherwise as [`std::net::TcpStream::connect_timeout`].
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        TcpStream::connect_socket(tcp_socket::new_socket(addr)?, addr, Some(timeout))
    }

    /// Connects `socket` (new, perhaps bound and with options set) to
    /// `addr`: every connect goes through here, [`TcpSocket::connect`] too.
    /// The connect is non-blocking; while it is in progress the caller
    /// parks until the socket is writable (or `timeout` passes), and then
    /// the socket's pending error (`SO_ERROR`) says how it ended.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a zero `timeout`, as std; `TimedOut` when it
    /// passes; otherwise what `connect(2)` reports.
    pub(crate) fn connect_socket(
        socket: socket2::Socket,
        addr: &SocketAddr,
        timeout: Option<Duration>,
    ) -> io::Result<TcpStream> {
        if timeout.is_some_and(|t| t.is_zero()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
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
    /// Blocking mode is one flag of the open socket, shared by every
    /// duplicate of its descriptor. Clones made by `try_clone` are counted
    /// (see below); duplicates made otherwise (std's `try_clone`,
    /// `try_clone_to_owned`, `dup(2)`) cannot be seen: if another dhaga
    /// socket was made from one, its calls block its worker from now on.
    /// Convert such a socket with `OwnedFd::from` instead, which leaves the
    /// descriptor non-blocking.
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

/// std's descriptor traits and conversions for a socket type wrapping the
/// std type `$std` ([`descriptor_traits`]), `From<$std>`, and `Debug`,
/// which shows the std socket.
macro_rules! fd_traits {
    ($($t:ident($std:ty)),*) => {$(
        $crate::tcp::descriptor_traits!($t($std));

        /// Wraps the std socket and switches it to non-blocking mode, as
        /// `from_std` does, a flag that any duplicate of it shares.
        ///
        /// # Panics
        ///
        /// If the descriptor cannot be switched to non-blocking mode, which
        /// does not happen to an open socket.
        impl From<$std> for $t {
            fn from(socket: $std) -> $t {
                $t {
                    inner: crate::socket::Socket::from_owned(socket),
                }
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.inner.get_ref(), f)
            }
        }
    )*};
}

/// std's descriptor traits and conversions (`AsFd`, `AsRawFd`, `FromRawFd`,
/// `IntoRawFd`, `From<OwnedFd>` and `Into<OwnedFd>`) for a socket type whose
/// `inner` is a [`Socket`] of `$inner`. [`TcpSocket`] has these alone: it
/// wraps a `socket2::Socket`, which stays out of the public API.
macro_rules! descriptor_traits {
    ($t:ident($inner:ty)) => {
        impl std::os::fd::AsRawFd for $t {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.inner.get_ref().as_raw_fd()
            }
        }

        impl std::os::fd::AsFd for $t {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.inner.get_ref().as_fd()
            }
        }

        /// Takes ownership of `fd` and switches it to non-blocking mode, as
        /// `From<OwnedFd>` does.
        ///
        /// # Panics
        ///
        /// As `From<OwnedFd>`.
        #[allow(
            unsafe_code,
            reason = "`FromRawFd` is std's trait, its method unsafe by contract; the orphan rule puts the impl here"
        )]
        impl std::os::fd::FromRawFd for $t {
            /// # Safety
            ///
            /// As for std's `from_raw_fd`: `fd` must be an open descriptor
            /// that the caller owns and gives up (nothing else closes it).
            unsafe fn from_raw_fd(fd: std::os::fd::RawFd) -> $t {
                // SAFETY: the caller's promise under `FromRawFd`'s contract,
                // passed on unchanged: `fd` is open and owned by the caller,
                // who hands that ownership over here.
                let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
                $t::from(fd)
            }
        }

        /// Gives the descriptor up, out of the reactor and not closed, and
        /// still in non-blocking mode, as `Into<OwnedFd>` describes.
        impl std::os::fd::IntoRawFd for $t {
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                std::os::fd::OwnedFd::from(self).into_raw_fd()
            }
        }

        /// Takes ownership of a socket descriptor (it should be of the kind
        /// this type wraps, as for std) and switches it to non-blocking
        /// mode, a flag that any duplicate of it shares: use the socket
        /// through dhaga only from now on.
        ///
        /// # Panics
        ///
        /// If the descriptor cannot be switched to non-blocking mode, which
        /// does not happen to an open socket.
        impl From<std::os::fd::OwnedFd> for $t {
            fn from(fd: std::os::fd::OwnedFd) -> $t {
                $t {
                    inner: crate::socket::Socket::from_owned(<$inner>::from(fd)),
                }
            }
        }

        /// The descriptor, removed from the reactor and not closed. It stays
        /// in non-blocking mode, as tokio's and async-io's do: call
        /// `set_nonblocking(false)` on the std socket made from it if you
        /// need blocking mode. (The mode is one flag of the open socket,
        /// shared by every duplicate of the descriptor, and another dhaga
        /// socket may be one — a `try_clone` clone, or a socket made from
        /// a `dup` — whose calls would block its worker in blocking mode.)
        impl From<$t> for std::os::fd::OwnedFd {
            fn from(socket: $t) -> std::os::fd::OwnedFd {
                socket.inner.into_owned().into()
            }
        }
    };
}

fd_traits!(TcpListener(net::TcpListener), TcpStream(net::TcpStream));
stream_io!(TcpStream);
pub(crate) use {descriptor_traits, fd_traits};

//! Unix domain sockets: [`UnixListener`], [`UnixStream`], [`UnixDatagram`],
//! method for method like `std::os::unix::net`.

use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::unix::net::{self, SocketAddr};
use std::path::Path;
use std::time::Duration;

use socket2::{Domain, SockAddr, SockRef, Type};

use crate::listen;
#[cfg(feature = "bytes")]
use crate::socket::read_buf_method;
use crate::socket::{Socket, is_connect_in_progress, mode_methods, stream_io, timeout_methods};
use crate::tcp::fd_traits;

/// A Unix domain socket server, listening for connections.
///
/// Like [`std::os::unix::net::UnixListener`]; `accept` parks the calling
/// micro-thread (blocks an OS thread), and waits out file-descriptor
/// exhaustion as [`TcpListener::accept`](crate::TcpListener::accept) does.
pub struct UnixListener {
    inner: Socket<net::UnixListener>,
}

impl UnixListener {
    mode_methods!();

    /// Creates a listener bound to `path`.
    ///
    /// It keeps as many connections waiting to be accepted as the system
    /// allows, as [`TcpListener::bind`](crate::TcpListener::bind) does
    /// (`net.core.somaxconn` on Linux, 1024 elsewhere);
    /// [`UnixListener::bind_with_backlog`] chooses the length.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixListener::bind`].
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        UnixListener::bind_with_backlog(path, listen::system_backlog())
    }

    /// Creates a listener bound to `path`, as [`UnixListener::bind`] does,
    /// whose queue holds about `backlog` connections that are not accepted
    /// yet (the `backlog` of `listen(2)`; Linux keeps one more). Beyond
    /// that, a connect waits until an `accept` makes room (a non-blocking
    /// one fails with `WouldBlock`).
    ///
    /// The kernel caps the length at its limit (`net.core.somaxconn` on
    /// Linux), so `u32::MAX` asks for the most the system allows; 0 is the
    /// least it allows (on Linux, one waiting connection).
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixListener::bind`]: for example
    /// `AddrInUse` if a file exists at `path`, `InvalidInput` for a path too
    /// long for a socket address or holding a zero byte.
    ///
    /// # Examples
    ///
    /// ```
    /// use dhaga_net::{UnixListener, UnixStream};
    ///
    /// let dir = std::env::temp_dir().join(format!("dhaga-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("backlog.sock");
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind_with_backlog(&path, 16)?;
    /// let client = UnixStream::connect(&path)?;
    /// let (server, _) = listener.accept()?;
    /// # drop((client, server));
    /// std::fs::remove_file(&path)?;
    /// # std::fs::remove_dir(&dir)?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn bind_with_backlog<P: AsRef<Path>>(path: P, backlog: u32) -> io::Result<UnixListener> {
        UnixListener::listen_on(&path_addr(path.as_ref())?, backlog)
    }

    /// Creates a listener bound to `addr`, with the system's limit on
    /// waiting connections, as [`UnixListener::bind`].
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixListener::bind_addr`].
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixListener> {
        UnixListener::bind_addr_with_backlog(addr, listen::system_backlog())
    }

    /// Creates a listener bound to `addr` (a path or, on Linux, an abstract
    /// name) that keeps about `backlog` connections waiting, as
    /// [`UnixListener::bind_with_backlog`].
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixListener::bind_addr`].
    pub fn bind_addr_with_backlog(addr: &SocketAddr, backlog: u32) -> io::Result<UnixListener> {
        UnixListener::listen_on(&unix_addr(addr)?, backlog)
    }

    /// A new socket, bound to `addr` and listening, as std makes one but
    /// with the backlog given.
    fn listen_on(addr: &SockAddr, backlog: u32) -> io::Result<UnixListener> {
        let socket = socket2::Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.bind(addr)?;
        listen::listen(&socket, backlog)?;
        UnixListener::from_std(socket.into())
    }

    /// Accepts a new connection, parking until one arrives.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixListener::accept`], except that running
    /// out of file descriptors is waited out.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, peer) = self.inner.accept(net::UnixListener::accept)?;
        Ok((UnixStream::from_std(stream)?, peer))
    }

    /// An endless iterator over incoming connections.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixListener::local_addr`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// Another handle to the same listener.
    ///
    /// # Errors
    ///
    /// If the descriptor cannot be duplicated.
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        Ok(UnixListener {
            inner: self.inner.try_clone(net::UnixListener::try_clone)?,
        })
    }

    /// Wraps a std listener.
    ///
    /// The descriptor is switched to non-blocking mode, a flag that any
    /// duplicate of it shares: use the socket through dhaga only from now on.
    ///
    /// # Errors
    ///
    /// If it cannot be switched to non-blocking mode.
    pub fn from_std(listener: net::UnixListener) -> io::Result<UnixListener> {
        Ok(UnixListener {
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
    pub fn into_std(self) -> io::Result<net::UnixListener> {
        self.inner.into_inner(|l| l.set_nonblocking(false))
    }
}

/// Iterator over a listener's connections; see [`UnixListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<UnixStream>;

    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

/// A Unix domain stream connection.
///
/// Like [`std::os::unix::net::UnixStream`], with the same parking behaviour
/// as [`TcpStream`](crate::TcpStream).
pub struct UnixStream {
    inner: Socket<net::UnixStream>,
}

impl UnixStream {
    mode_methods!();
    timeout_methods!();
    #[cfg(feature = "bytes")]
    read_buf_method!();

    /// Connects to the socket at `path`.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixStream::connect`].
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let addr = SockAddr::unix(path)?;
        loop {
            let socket = socket2::Socket::new(Domain::UNIX, Type::STREAM, None)?;
            let stream = UnixStream::from_std(socket.into())?;
            match SockRef::from(stream.inner.get_ref()).connect(&addr) {
                Ok(()) => return Ok(stream),
                // A full backlog: the listener has not accepted for a while.
                // The connection was not started; try again a little later.
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                    dhaga_runtime::sleep(Duration::from_millis(1));
                }
                Err(e) if is_connect_in_progress(&e) => {
                    stream.inner.writable(None)?;
                    return match stream.take_error()? {
                        Some(e) => Err(e),
                        None => Ok(stream),
                    };
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Connects to the socket at `addr` (a path or, on Linux, an abstract
    /// name).
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixStream::connect_addr`].
    pub fn connect_addr(addr: &SocketAddr) -> io::Result<UnixStream> {
        match addr.as_pathname() {
            Some(path) => UnixStream::connect(path),
            // Abstract and unnamed addresses: std connects (a Unix connect
            // completes at once, or fails with the backlog full).
            None => UnixStream::from_std(net::UnixStream::connect_addr(addr)?),
        }
    }

    /// A connected pair of sockets.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixStream::pair`].
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixStream::local_addr`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The remote address.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixStream::peer_addr`].
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// Shuts down the read half, the write half, or both.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixStream::shutdown`].
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }

    /// Another handle to the same connection, sharing its timeouts.
    ///
    /// # Errors
    ///
    /// If the descriptor cannot be duplicated.
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        Ok(UnixStream {
            inner: self.inner.try_clone(net::UnixStream::try_clone)?,
        })
    }

    /// Wraps a connected std stream.
    ///
    /// The descriptor is switched to non-blocking mode, a flag that any
    /// duplicate of it shares: use the socket through dhaga only from now on.
    ///
    /// # Errors
    ///
    /// If it cannot be switched to non-blocking mode.
    pub fn from_std(stream: net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            inner: Socket::new(stream)?,
        })
    }

    /// The std stream, back in blocking mode.
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
    pub fn into_std(self) -> io::Result<net::UnixStream> {
        self.inner.into_inner(|s| s.set_nonblocking(false))
    }
}

/// A Unix domain datagram socket.
///
/// Like [`std::os::unix::net::UnixDatagram`], with the same parking
/// behaviour as [`UdpSocket`](crate::UdpSocket).
pub struct UnixDatagram {
    inner: Socket<net::UnixDatagram>,
}

impl UnixDatagram {
    mode_methods!();
    timeout_methods!();

    /// Creates a socket bound to `path`.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixDatagram::bind`].
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(net::UnixDatagram::bind(path)?)
    }

    /// Creates a socket bound to `addr`.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixDatagram::bind_addr`].
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(net::UnixDatagram::bind_addr(addr)?)
    }

    /// Sets the peer for `send` and `recv` to `addr`.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixDatagram::connect_addr`].
    pub fn connect_addr(&self, addr: &SocketAddr) -> io::Result<()> {
        self.inner.get_ref().connect_addr(addr)
    }

    /// Sends `buf` to the socket at `addr`.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixDatagram::send_to_addr`].
    pub fn send_to_addr(&self, buf: &[u8], addr: &SocketAddr) -> io::Result<usize> {
        self.inner.write(|s| s.send_to_addr(buf, addr))
    }

    /// Creates a socket bound to no address.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixDatagram::unbound`].
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(net::UnixDatagram::unbound()?)
    }

    /// A connected pair of sockets.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixDatagram::pair`].
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = net::UnixDatagram::pair()?;
        Ok((UnixDatagram::from_std(a)?, UnixDatagram::from_std(b)?))
    }

    /// Sets the peer for `send` and `recv`.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixDatagram::connect`].
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.inner.get_ref().connect(path)
    }

    /// Sends to the connected peer.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixDatagram::send`].
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(|s| s.send(buf))
    }

    /// Receives from the connected peer, parking until a datagram arrives.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixDatagram::recv`].
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(|s| s.recv(buf))
    }

    /// Sends `buf` to the socket at `path`.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixDatagram::send_to`].
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        self.inner.write(|s| s.send_to(buf, path))
    }

    /// Receives one datagram and its sender's address.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixDatagram::recv_from`].
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read(|s| s.recv_from(buf))
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixDatagram::local_addr`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixDatagram::peer_addr`].
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// Shuts down the read half, the write half, or both.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixDatagram::shutdown`].
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }

    /// Another handle to the same socket, sharing its timeouts.
    ///
    /// # Errors
    ///
    /// If the descriptor cannot be duplicated.
    pub fn try_clone(&self) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            inner: self.inner.try_clone(net::UnixDatagram::try_clone)?,
        })
    }

    /// Wraps a std socket.
    ///
    /// The descriptor is switched to non-blocking mode, a flag that any
    /// duplicate of it shares: use the socket through dhaga only from now on.
    ///
    /// # Errors
    ///
    /// If it cannot be switched to non-blocking mode.
    pub fn from_std(socket: net::UnixDatagram) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            inner: Socket::new(socket)?,
        })
    }

    /// The std socket, back in blocking mode.
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
    pub fn into_std(self) -> io::Result<net::UnixDatagram> {
        self.inner.into_inner(|s| s.set_nonblocking(false))
    }
}

/// The address of the socket file at `path`, refused as std refuses it
/// when it holds a zero byte (which would make it another address, or an
/// abstract name).
fn path_addr(path: &Path) -> io::Result<SockAddr> {
    use std::os::unix::ffi::OsStrExt;
    if path.as_os_str().as_bytes().contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "paths must not contain interior null bytes",
        ));
    }
    SockAddr::unix(path)
}

/// std's Unix socket address as socket2's: a path, an abstract name (Linux),
/// or unnamed (binding it lets Linux pick an abstract name, as std's
/// `bind_addr` does).
fn unix_addr(addr: &SocketAddr) -> io::Result<SockAddr> {
    if let Some(path) = addr.as_pathname() {
        return path_addr(path);
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        #[cfg(target_os = "android")]
        use std::os::android::net::SocketAddrExt;
        #[cfg(target_os = "linux")]
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::ffi::OsStrExt;
        if let Some(name) = addr.as_abstract_name() {
            // An abstract name is a `sun_path` that starts with a zero byte.
            let path = [&[0], name].concat();
            return SockAddr::unix(std::ffi::OsStr::from_bytes(&path));
        }
    }
    SockAddr::unix("")
}

fd_traits!(
    UnixListener(net::UnixListener),
    UnixStream(net::UnixStream),
    UnixDatagram(net::UnixDatagram)
);
stream_io!(UnixStream);

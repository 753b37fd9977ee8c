//! [`TcpSocket`]: a TCP socket before it connects or listens, for the
//! options that must be set by then (and [`Keepalive`], the probes' timing).
//!
//! std has no such type; this is tokio's `TcpSocket`, whose `connect`
//! parks the micro-thread instead of being a future. It is also where every
//! TCP socket of this crate is created: [`TcpListener::bind`] makes a
//! `TcpSocket`, [`TcpStream::connect`] a bare socket ([`new_socket`]), and
//! both kinds connect through [`TcpStream::connect_socket`].

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, Type};

use crate::listen;
use crate::socket::Socket;
use crate::tcp::{TcpListener, TcpStream, descriptor_traits};

/// A TCP socket that has not connected or started listening yet, for
/// setting options first: the local address or port to connect from,
/// `SO_REUSEADDR`, buffer sizes, keepalive probes, and so on.
///
/// Like tokio's `TcpSocket`. Create one with [`TcpSocket::new_v4`],
/// [`TcpSocket::new_v6`] or [`TcpSocket::for_addr`], set its options, then
/// turn it into a [`TcpStream`] with [`TcpSocket::connect`] (which parks
/// the calling micro-thread until the connection is made; on an OS thread
/// it blocks) or into a [`TcpListener`] with [`TcpSocket::listen`].
///
/// The options stay with the socket: the stream or listener made from it
/// has them. Connections that a listener accepts inherit most of the
/// listener's options on Linux (buffer sizes, keepalive and its timing,
/// `TCP_NODELAY`, the type of service, the user timeout); other systems
/// copy fewer of them.
///
/// The socket is close-on-exec and in non-blocking mode from the start, as
/// dhaga's sockets are. Options are set with `setsockopt(2)` at once, which
/// never blocks.
///
/// # Examples
///
/// A server whose socket may reuse its port, and a client that connects
/// with small buffers and without Nagle's algorithm:
///
/// ```
/// use std::io::{Read, Write};
/// use std::net::SocketAddr;
/// use dhaga_net::TcpSocket;
///
/// let reply = dhaga_runtime::run(|| {
///     let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
///     let server = TcpSocket::for_addr(addr)?;
///     server.set_reuseaddr(true)?;
///     server.bind(addr)?;
///     let listener = server.listen(128)?;
///     let addr = listener.local_addr()?;
///     dhaga_runtime::spawn(move || {
///         let (mut stream, _) = listener.accept()?;
///         let mut buf = [0; 4];
///         stream.read_exact(&mut buf)?;
///         stream.write_all(b"pong")
///     });
///
///     let client = TcpSocket::new_v4()?;
///     client.set_send_buffer_size(16 * 1024)?;
///     client.set_nodelay(true)?;
///     let mut stream = client.connect(addr)?; // parks until connected
///     assert!(stream.nodelay()?);
///     stream.write_all(b"ping")?;
///     let mut reply = [0; 4];
///     stream.read_exact(&mut reply)?;
///     std::io::Result::Ok(reply)
/// })?;
/// assert_eq!(&reply, b"pong");
/// # std::io::Result::Ok(())
/// ```
pub struct TcpSocket {
    inner: Socket<socket2::Socket>,
}

impl TcpSocket {
    /// Creates an IPv4 TCP socket.
    ///
    /// # Errors
    ///
    /// What `socket(2)` reports, for example `EMFILE` when the process is
    /// out of file descriptors.
    pub fn new_v4() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV4)
    }

    /// Creates an IPv6 TCP socket.
    ///
    /// # Errors
    ///
    /// What `socket(2)` reports, for example `EMFILE` when the process is
    /// out of file descriptors, or `EAFNOSUPPORT` on a system without IPv6.
    pub fn new_v6() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV6)
    }

    /// Creates a TCP socket of `addr`'s family (IPv4 or IPv6), the one that
    /// can connect to `addr` or bind to it.
    ///
    /// # Errors
    ///
    /// As [`TcpSocket::new_v4`] and [`TcpSocket::new_v6`].
    pub fn for_addr(addr: SocketAddr) -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::for_address(addr))
    }

    fn new(domain: Domain) -> io::Result<TcpSocket> {
        Ok(TcpSocket {
            inner: Socket::new(socket(domain)?)?,
        })
    }

    fn get_ref(&self) -> &socket2::Socket {
        self.inner.get_ref()
    }

    /// Sets `SO_REUSEADDR`: whether `bind` may take a local address that
    /// connections of an earlier socket still hold (in `TIME_WAIT`). On by
    /// default for [`TcpListener::bind`], as std has it.
    ///
    /// # Errors
    ///
    /// What `setsockopt(2)` reports.
    pub fn set_reuseaddr(&self, reuseaddr: bool) -> io::Result<()> {
        self.get_ref().set_reuse_address(reuseaddr)
    }

    /// Gets `SO_REUSEADDR`.
    ///
    /// # Errors
    ///
    /// What `getsockopt(2)` reports.
    pub fn reuseaddr(&self) -> io::Result<bool> {
        self.get_ref().reuse_address()
    }

    /// Sets `SO_REUSEPORT`: whether several sockets may bind the same
    /// address and port, when each of them sets it before `bind`. On Linux
    /// the kernel spreads incoming connections among the listeners that
    /// share a port this way.
    ///
    /// Not on Solaris and illumos, which lack the option.
    ///
    /// # Errors
    ///
    /// What `setsockopt(2)` reports.
    #[cfg(not(any(
        target_os = "solaris",
        target_os = "illumos",
        target_os = "cygwin",
        target_os = "nuttx",
        target_os = "wasi"
    )))]
    pub fn set_reuseport(&self, reuseport: bool) -> io::Result<()> {
        self.get_ref().set_reuse_port(reuseport)
    }

    /// Gets `SO_REUSEPORT`.
    ///
    /// # Errors
    ///
    /// What `getsockopt(2)` reports.
    #[cfg(not(any(
        target_os = "solaris",
        target_os = "illumos",
        target_os = "cygwin",
        target_os = "nuttx",
        target_os = "wasi"
    )))]
    pub fn reuseport(&self) -> io::Result<bool> {
        self.get_ref().reuse_port()
    }

    /// Sets the size of the send buffer (`SO_SNDBUF`), in bytes.
    ///
    /// The kernel adjusts the size: Linux doubles it (for its bookkeeping)
    /// and keeps it between a minimum and `net.core.wmem_max`. Read the
    /// result with [`TcpSocket::send_buffer_size`].
    ///
    /// # Errors
    ///
    /// What `setsockopt(2)` reports.
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        self.get_ref().set_send_buffer_size(to_usize(size))
    }

    /// Gets the size of the send buffer (`SO_SNDBUF`), in bytes.
    ///
    /// # Errors
    ///
    /// What `getsockopt(2)` reports.
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        self.get_ref().send_buffer_size().map(to_u32)
    }

    /// Sets the size of the receive buffer (`SO_RCVBUF`), in bytes. Set
    /// before connecting or listening, it also sets the TCP window scale
    /// the connection offers.
    ///
    /// The kernel adjusts the size: Linux doubles it (for its bookkeeping)
    /// and keeps it between a minimum and `net.core.rmem_max`. Read the
    /// result with [`TcpSocket::recv_buffer_size`].
    ///
    /// # Errors
    ///
    /// What `setsockopt(2)` reports.
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        self.get_ref().set_recv_buffer_size(to_usize(size))
    }

    /// Gets the size of the receive buffer (`SO_RCVBUF`), in bytes.
    ///
    /// # Errors
    ///
    /// What `getsockopt(2)` reports.
    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        self.get_ref().recv_buffer_size().map(to_u32)
    }

    /// Sets `SO_KEEPALIVE`: whether the system probes a connection that has
    /// been idle for a while, and drops it when the peer does not answer.
    /// The system's defaults say when and how often (on Linux, after two
    /// hours); [`TcpSocket::set_tcp_keepalive`] sets them for this socket.
    ///
    /// # Errors
    ///
    /// What `setsockopt(2)` reports.
    pub fn set_keepalive(&self, keepalive: bool) -> io::Result<()> {
        self.get_ref().set_keepalive(keepalive)
    }

    /// Gets `SO_KEEPALIVE`.
    ///
    /// # Errors
    ///
    /// What `getsockopt(2)` reports.
    pub fn keepalive(&self) -> io::Result<bool> {
        self.get_ref().keepalive()
    }

    /// Turns keepalive probes on (`SO_KEEPALIVE`) and sets the parameters
    /// that `keepalive` gives (`TCP_KEEPIDLE`, or `TCP_KEEPALIVE` on Apple
    /// systems; `TCP_KEEPINTVL`; `TCP_KEEPCNT`); those it leaves unset keep
    /// their current values. This is how ZeroMQ's `ZMQ_TCP_KEEPALIVE_IDLE`,
    /// `_INTVL` and `_CNT` are applied.
    ///
    /// # Errors
    ///
    /// What `setsockopt(2)` reports (`InvalidInput` for a time the system
    /// does not take, such as zero on Linux); `Unsupported` for an interval
    /// or a count on a system that cannot set them (OpenBSD).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use dhaga_net::{Keepalive, TcpSocket};
    ///
    /// let socket = TcpSocket::new_v4()?;
    /// let keepalive = Keepalive::new()
    ///     .with_time(Duration::from_secs(60))
    ///     .with_interval(Duration::from_secs(10))
    ///     .with_retries(5);
    /// socket.set_tcp_keepalive(&keepalive)?;
    /// assert!(socket.keepalive()?);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn set_tcp_keepalive(&self, keepalive: &Keepalive) -> io::Result<()> {
        self.get_ref().set_tcp_keepalive(&keepalive.to_socket2()?)
    }

    /// Sets `TCP_NODELAY`: when on, small writes are sent at once instead
    /// of being held back to be sent with later ones (Nagle's algorithm).
    ///
    /// # Errors
    ///
    /// What `setsockopt(2)` reports.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.get_ref().set_tcp_nodelay(nodelay)
    }

    /// Gets `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// What `getsockopt(2)` reports.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.get_ref().tcp_nodelay()
    }

    /// Sets the type of service of the packets sent (the DSCP and ECN
    /// bits): `IP_TOS` on an IPv4 socket and `IPV6_TCLASS`, the same field
    /// of the IPv6 header, on an IPv6 one. This is ZeroMQ's `ZMQ_TOS`.
    ///
    /// # Errors
    ///
    /// What `setsockopt(2)` reports, or `getsockname(2)` (which tells the
    /// socket's family).
    #[cfg(any(
        target_os = "android",
        target_os = "dragonfly",
        target_os = "freebsd",
        target_os = "illumos",
        target_os = "linux",
        target_os = "macos",
        target_os = "netbsd",
        target_os = "openbsd"
    ))]
    pub fn set_tos(&self, tos: u32) -> io::Result<()> {
        if self.is_ipv6()? {
            self.get_ref().set_tclass_v6(tos)
        } else {
            self.get_ref().set_tos_v4(tos)
        }
    }

    /// Gets the type of service: `IP_TOS` of an IPv4 socket, `IPV6_TCLASS`
    /// of an IPv6 one. See [`TcpSocket::set_tos`].
    ///
    /// # Errors
    ///
    /// What `getsockopt(2)` or `getsockname(2)` reports.
    #[cfg(any(
        target_os = "android",
        target_os = "dragonfly",
        target_os = "freebsd",
        target_os = "illumos",
        target_os = "linux",
        target_os = "macos",
        target_os = "netbsd",
        target_os = "openbsd"
    ))]
    pub fn tos(&self) -> io::Result<u32> {
        if self.is_ipv6()? {
            self.get_ref().tclass_v6()
        } else {
            self.get_ref().tos_v4()
        }
    }

    /// Whether this is an IPv6 socket (its local address tells, bound or
    /// not).
    #[cfg(any(
        target_os = "android",
        target_os = "dragonfly",
        target_os = "freebsd",
        target_os = "illumos",
        target_os = "linux",
        target_os = "macos",
        target_os = "netbsd",
        target_os = "openbsd"
    ))]
    fn is_ipv6(&self) -> io::Result<bool> {
        Ok(self.get_ref().local_addr()?.is_ipv6())
    }

    /// Binds the socket to a network interface by name (`SO_BINDTODEVICE`):
    /// it then sends and receives only through that interface, whatever the
    /// routing table says. `None` or an empty name removes the binding.
    /// This is ZeroMQ's `ZMQ_BINDTODEVICE`.
    ///
    /// Linux, Android and Fuchsia only.
    ///
    /// # Errors
    ///
    /// What `setsockopt(2)` reports: `ENODEV` for an interface that does not
    /// exist; `PermissionDenied` without `CAP_NET_RAW` before Linux 5.7,
    /// and since then to change a binding already made.
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    pub fn bind_device(&self, interface: Option<&[u8]>) -> io::Result<()> {
        self.get_ref().bind_device(interface)
    }

    /// Gets the interface the socket is bound to (`SO_BINDTODEVICE`), if any.
    ///
    /// Linux, Android and Fuchsia only.
    ///
    /// # Errors
    ///
    /// What `getsockopt(2)` reports.
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    pub fn device(&self) -> io::Result<Option<Vec<u8>>> {
        self.get_ref().device()
    }

    /// Sets `TCP_USER_TIMEOUT`: how long sent data may stay unacknowledged
    /// (or unsent, for want of window) before the system gives up on the
    /// connection and reports `TimedOut`; it also bounds keepalive probing.
    /// `None` or zero restores the system's behaviour (retransmissions for
    /// about 15 minutes on Linux). Set in milliseconds, at most
    /// `u32::MAX` of them. This is how ZeroMQ's `ZMQ_TCP_MAXRT` works on
    /// Linux.
    ///
    /// Linux, Android and Fuchsia only.
    ///
    /// # Errors
    ///
    /// What `setsockopt(2)` reports.
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    pub fn set_tcp_user_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.get_ref().set_tcp_user_timeout(timeout)
    }

    /// Gets `TCP_USER_TIMEOUT`; `None` when it is not set.
    ///
    /// Linux, Android and Fuchsia only.
    ///
    /// # Errors
    ///
    /// What `getsockopt(2)` reports.
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    pub fn tcp_user_timeout(&self) -> io::Result<Option<Duration>> {
        self.get_ref().tcp_user_timeout()
    }

    /// Sets `SO_LINGER`: what closing the socket does with data not sent
    /// yet. `None` (the default): the close returns at once and the system
    /// sends the data in the background. `Some(Duration::ZERO)`: the close
    /// discards the data and resets the connection (the peer sees
    /// `ConnectionReset`), leaving no `TIME_WAIT` behind.
    ///
    /// A longer time makes the close wait for the data to be sent, up to
    /// that time, and on Linux the wait blocks the OS thread that drops the
    /// socket even though it is in non-blocking mode: in a micro-thread,
    /// the whole worker. Prefer `shutdown` and reading to end of file
    /// before dropping.
    ///
    /// # Errors
    ///
    /// What `setsockopt(2)` reports.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.get_ref().set_linger(linger)
    }

    /// Gets `SO_LINGER`.
    ///
    /// # Errors
    ///
    /// What `getsockopt(2)` reports.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        self.get_ref().linger()
    }

    /// Binds the socket to a local address: to listen on it, or to connect
    /// from it. Port 0 picks a free port, which [`TcpSocket::local_addr`]
    /// tells.
    ///
    /// # Errors
    ///
    /// What `bind(2)` reports: for example `AddrInUse` (see
    /// [`TcpSocket::set_reuseaddr`]), `AddrNotAvailable` for an address
    /// that is not the machine's, `InvalidInput` when the socket is bound
    /// already, `EAFNOSUPPORT` on Linux for an address of the other family.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        self.get_ref().bind(&addr.into())
    }

    /// The local address: after `bind`, with the actual port if bound to
    /// port 0; before, the unspecified address with port 0.
    ///
    /// # Errors
    ///
    /// What `getsockname(2)` reports; `InvalidInput` if the descriptor is
    /// not an IPv4 or IPv6 socket (one made with `FromRawFd`).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.get_ref()
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IPv4 or IPv6 socket"))
    }

    /// Takes the pending socket error (`SO_ERROR`).
    ///
    /// # Errors
    ///
    /// If the option cannot be read.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.get_ref().take_error()
    }

    /// Connects to `addr`, parking the calling micro-thread until the
    /// connection is made (on an OS thread it blocks), and returns the
    /// stream, which keeps the options set on this socket. Unless the socket
    /// was bound, the system picks its local address and port.
    ///
    /// # Errors
    ///
    /// As [`TcpStream::connect`]: for example `ConnectionRefused`, or
    /// `AddrNotAvailable` when no local port is free (or the bound one is
    /// taken by a connection to the same peer).
    pub fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect_socket(self.inner.into_owned(), &addr, None)
    }

    /// Connects to `addr` as [`TcpSocket::connect`] does, giving up after
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// As [`TcpStream::connect_timeout`]: `TimedOut` when the timeout
    /// passes, `InvalidInput` for a zero timeout, otherwise as
    /// [`TcpSocket::connect`].
    pub fn connect_timeout(self, addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        TcpStream::connect_socket(self.inner.into_owned(), &addr, Some(timeout))
    }

    /// Starts listening and returns the listener, which keeps the options
    /// set on this socket (bind it first, or the system picks a port).
    ///
    /// `backlog` is how many connections the kernel completes and keeps
    /// until they are accepted, as for [`TcpListener::bind_with_backlog`]:
    /// the kernel caps it at its limit (`net.core.somaxconn` on Linux), so
    /// `u32::MAX` asks for the most the system allows.
    ///
    /// # Errors
    ///
    /// What `listen(2)` reports; `AddrInUse` when the socket is not bound
    /// and no port is free, or when it is bound to a port that another
    /// listener holds (both with `SO_REUSEADDR`, neither with
    /// `SO_REUSEPORT`).
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        let socket = self.inner.into_owned();
        listen::listen(&socket, backlog)?;
        TcpListener::from_std(socket.into())
    }
}

descriptor_traits!(TcpSocket(socket2::Socket));

impl fmt::Debug for TcpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpSocket")
            .field("fd", &self.as_raw_fd())
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

/// A new TCP socket for `addr`'s family, to connect to it or bind it. See
/// [`TcpSocket::for_addr`], the public way.
pub(crate) fn new_socket(addr: &SocketAddr) -> io::Result<socket2::Socket> {
    socket(Domain::for_address(*addr))
}

/// A new TCP socket, close-on-exec (socket2 sets it), and non-blocking
/// already where `socket(2)` takes `SOCK_NONBLOCK`, which saves the
/// `fcntl` that the reactor's `Source::new` otherwise makes.
fn socket(domain: Domain) -> io::Result<socket2::Socket> {
    #[cfg(any(
        target_os = "android",
        target_os = "dragonfly",
        target_os = "freebsd",
        target_os = "fuchsia",
        target_os = "illumos",
        target_os = "linux",
        target_os = "netbsd",
        target_os = "openbsd"
    ))]
    let ty = Type::STREAM.nonblocking();
    #[cfg(not(any(
        target_os = "android",
        target_os = "dragonfly",
        target_os = "freebsd",
        target_os = "fuchsia",
        target_os = "illumos",
        target_os = "linux",
        target_os = "netbsd",
        target_os = "openbsd"
    )))]
    let ty = Type::STREAM;
    socket2::Socket::new(domain, ty, Some(Protocol::TCP))
}

/// A size for `setsockopt`: `usize` holds any `u32` on the systems dhaga
/// runs on; the kernel caps what it takes.
fn to_usize(size: u32) -> usize {
    usize::try_from(size).unwrap_or(usize::MAX)
}

/// A size from `getsockopt`, which the kernel keeps in a C `int`.
fn to_u32(size: usize) -> u32 {
    u32::try_from(size).unwrap_or(u32::MAX)
}

/// When and how often TCP keepalive probes are sent, for
/// [`TcpSocket::set_tcp_keepalive`]. Each parameter left unset keeps the
/// socket's current value (the system's default, unless set before).
///
/// Probes start once a connection has been idle for the keepalive `time`,
/// then go every `interval`; after `retries` of them unanswered the
/// connection is dropped and its calls fail with `TimedOut`. The system
/// counts in whole seconds: less than a second is rounded down (and zero
/// is refused on Linux).
///
/// dhaga's own type rather than `socket2::TcpKeepalive`, so that socket2
/// stays out of the public API and its versions can change under it.
///
/// # Examples
///
/// ZeroMQ's `ZMQ_TCP_KEEPALIVE_IDLE` of 60 s and `ZMQ_TCP_KEEPALIVE_CNT` of
/// 3, leaving the interval to the system:
///
/// ```
/// use std::time::Duration;
/// use dhaga_net::Keepalive;
///
/// let keepalive = Keepalive::new().with_time(Duration::from_secs(60)).with_retries(3);
/// assert_eq!(keepalive.time(), Some(Duration::from_secs(60)));
/// assert_eq!(keepalive.interval(), None);
/// assert_eq!(keepalive.retries(), Some(3));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Keepalive {
    time: Option<Duration>,
    interval: Option<Duration>,
    retries: Option<u32>,
}

impl Keepalive {
    /// No parameter set: the socket's current values stay.
    pub const fn new() -> Keepalive {
        Keepalive {
            time: None,
            interval: None,
            retries: None,
        }
    }

    /// How long a connection is idle before the first probe
    /// (`TCP_KEEPIDLE`; `TCP_KEEPALIVE` on Apple systems).
    #[must_use]
    pub const fn with_time(self, time: Duration) -> Keepalive {
        Keepalive {
            time: Some(time),
            ..self
        }
    }

    /// The time between two probes (`TCP_KEEPINTVL`).
    #[must_use]
    pub const fn with_interval(self, interval: Duration) -> Keepalive {
        Keepalive {
            interval: Some(interval),
            ..self
        }
    }

    /// How many probes go unanswered before the connection is dropped
    /// (`TCP_KEEPCNT`).
    #[must_use]
    pub const fn with_retries(self, retries: u32) -> Keepalive {
        Keepalive {
            retries: Some(retries),
            ..self
        }
    }

    /// The idle time before the first probe, if set.
    pub const fn time(&self) -> Option<Duration> {
        self.time
    }

    /// The time between probes, if set.
    pub const fn interval(&self) -> Option<Duration> {
        self.interval
    }

    /// The number of unanswered probes that drop the connection, if set.
    pub const fn retries(&self) -> Option<u32> {
        self.retries
    }

    /// socket2's form of the parameters; `Unsupported` for those the
    /// system cannot set.
    fn to_socket2(self) -> io::Result<socket2::TcpKeepalive> {
        let mut params = socket2::TcpKeepalive::new();
        if let Some(time) = self.time {
            params = params.with_time(time);
        }
        #[cfg(any(
            target_os = "android",
            target_os = "dragonfly",
            target_os = "freebsd",
            target_os = "fuchsia",
            target_os = "illumos",
            target_os = "ios",
            target_os = "linux",
            target_os = "macos",
            target_os = "netbsd",
            target_os = "tvos",
            target_os = "visionos",
            target_os = "watchos"
        ))]
        {
            if let Some(interval) = self.interval {
                params = params.with_interval(interval);
            }
            if let Some(retries) = self.retries {
                params = params.with_retries(retries);
            }
        }
        #[cfg(not(any(
            target_os = "android",
            target_os = "dragonfly",
            target_os = "freebsd",
            target_os = "fuchsia",
            target_os = "illumos",
            target_os = "ios",
            target_os = "linux",
            target_os = "macos",
            target_os = "netbsd",
            target_os = "tvos",
            target_os = "visionos",
            target_os = "watchos"
        )))]
        if self.interval.is_some() || self.retries.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this system cannot set the keepalive interval or count",
            ));
        }
        Ok(params)
    }
}

//! UDP: [`UdpSocket`], method for method like std's.

use std::fmt;
use std::io;
use std::net::{self, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use crate::addr::{each_addr, first_addr};
use crate::socket::{Socket, mode_methods, timeout_methods};
use crate::tcp::fd_traits;

/// A UDP socket.
///
/// Like [`std::net::UdpSocket`]; receives (and sends, when the socket buffer
/// is full) park the calling micro-thread until the socket is ready (on an OS
/// thread they block). A call that runs past the socket's timeout fails with
/// `WouldBlock`, as std's do on Unix.
pub struct UdpSocket {
    inner: Socket<net::UdpSocket>,
}

impl UdpSocket {
    mode_methods!();
    timeout_methods!();

    /// Creates a socket bound to `addr` (the first of its addresses that
    /// binds).
    ///
    /// `addr` is anything std's `ToSocketAddrs` takes; a host name in text is
    /// looked up on the blocking pool ([where names are looked up](crate#addresses)).
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::bind`].
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        each_addr(addr, |addr| net::UdpSocket::bind(addr)).and_then(UdpSocket::from_std)
    }

    /// Sends `buf` to `addr` (its first address).
    ///
    /// `addr` is anything std's `ToSocketAddrs` takes; a host name in text is
    /// looked up on the blocking pool ([where names are looked up](crate#addresses)).
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::send_to`].
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let addr = first_addr(addr)?;
        self.inner.write(|s| s.send_to(buf, addr))
    }

    /// Receives one datagram, parking until one arrives.
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::recv_from`].
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read(|s| s.recv_from(buf))
    }

    /// Receives one datagram without consuming it.
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::peek_from`].
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read(|s| s.peek_from(buf))
    }

    /// Sets the peer for `send` and `recv` and filters datagrams to it.
    ///
    /// `addr` is anything std's `ToSocketAddrs` takes; a host name in text is
    /// looked up on the blocking pool ([where names are looked up](crate#addresses)).
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::connect`].
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(addr, |addr| self.inner.get_ref().connect(addr))
    }

    /// Sends to the connected peer.
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::send`].
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(|s| s.send(buf))
    }

    /// Receives from the connected peer.
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::recv`].
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(|s| s.recv(buf))
    }

    /// Receives from the connected peer without consuming.
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::peek`].
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(|s| s.peek(buf))
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::local_addr`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::peer_addr`].
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// Another handle to the same socket, sharing its timeouts.
    ///
    /// # Errors
    ///
    /// If the descriptor cannot be duplicated.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            inner: self.inner.try_clone(net::UdpSocket::try_clone)?,
        })
    }

    /// Sets `SO_BROADCAST`.
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::set_broadcast`].
    pub fn set_broadcast(&self, broadcast: bool) -> io::Result<()> {
        self.inner.get_ref().set_broadcast(broadcast)
    }

    /// Gets `SO_BROADCAST`.
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::broadcast`].
    pub fn broadcast(&self) -> io::Result<bool> {
        self.inner.get_ref().broadcast()
    }

    /// Sets `IP_TTL`.
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::set_ttl`].
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.get_ref().set_ttl(ttl)
    }

    /// Gets `IP_TTL`.
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::ttl`].
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.get_ref().ttl()
    }

    /// Joins an IPv4 multicast group.
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::join_multicast_v4`].
    pub fn join_multicast_v4(&self, group: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.inner.get_ref().join_multicast_v4(group, interface)
    }

    /// Leaves an IPv4 multicast group.
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::leave_multicast_v4`].
    pub fn leave_multicast_v4(&self, group: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.inner.get_ref().leave_multicast_v4(group, interface)
    }

    /// Joins an IPv6 multicast group.
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::join_multicast_v6`].
    pub fn join_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner.get_ref().join_multicast_v6(group, interface)
    }

    /// Leaves an IPv6 multicast group.
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::leave_multicast_v6`].
    pub fn leave_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner.get_ref().leave_multicast_v6(group, interface)
    }

    /// Sets `IP_MULTICAST_LOOP`.
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::set_multicast_loop_v4`].
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.inner.get_ref().set_multicast_loop_v4(on)
    }

    /// Gets `IP_MULTICAST_LOOP`.
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::multicast_loop_v4`].
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.inner.get_ref().multicast_loop_v4()
    }

    /// Gets `IP_MULTICAST_TTL`.
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::multicast_ttl_v4`].
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.inner.get_ref().multicast_ttl_v4()
    }

    /// Sets `IPV6_MULTICAST_LOOP`.
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::set_multicast_loop_v6`].
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        self.inner.get_ref().set_multicast_loop_v6(on)
    }

    /// Gets `IPV6_MULTICAST_LOOP`.
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::multicast_loop_v6`].
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        self.inner.get_ref().multicast_loop_v6()
    }

    /// Sets `IP_MULTICAST_TTL`.
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::set_multicast_ttl_v4`].
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.inner.get_ref().set_multicast_ttl_v4(ttl)
    }

    /// Wraps a std socket.
    ///
    /// The descriptor is switched to non-blocking mode, a flag that any
    /// duplicate of it shares: use the socket through dhaga only from now on.
    ///
    /// # Errors
    ///
    /// If it cannot be switched to non-blocking mode.
    pub fn from_std(socket: net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
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
    pub fn into_std(self) -> io::Result<net::UdpSocket> {
        self.inner.into_inner(|s| s.set_nonblocking(false))
    }
}

fd_traits!(UdpSocket(net::UdpSocket));

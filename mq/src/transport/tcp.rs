//! `tcp://`: TCP with Nagle's algorithm off (ZeroMQ batches on its own),
//! and the socket's TCP options ([`TcpOptions`]) set on every socket
//! before it listens or connects.

use std::io;
use std::net::SocketAddr;

use dhaga_net::{Keepalive, TcpListener, TcpSocket};

use super::stream::Stream;
use crate::endpoint::{Endpoint, Host};
use crate::options::TcpOptions;

/// A bound TCP listener.
pub(crate) struct TcpAcceptor(TcpListener);

impl TcpAcceptor {
    /// Binds `host:port`, keeping `backlog` connections waiting to be
    /// accepted, with `options` set on the listening socket (the
    /// connections it accepts inherit them).
    pub(crate) fn bind(
        host: &Host,
        port: u16,
        backlog: u32,
        options: &TcpOptions,
    ) -> io::Result<(TcpAcceptor, Endpoint)> {
        let addrs = match (Endpoint::tcp_bind_ip(host), host) {
            (Some(ip), _) => vec![SocketAddr::new(ip, port)],
            (None, Host::Name(name)) => dhaga_net::lookup_host((name.as_str(), port))?.collect(),
            (None, _) => unreachable!("only names lack an address"),
        };
        let listener = first_of(addrs, |addr| {
            let socket = socket_for(addr, options)?;
            // As std does: a restarted server binds its port again while
            // connections of the previous one linger in TIME_WAIT.
            socket.set_reuseaddr(true)?;
            socket.bind(addr)?;
            socket.listen(backlog)
        })?;
        let bound = Endpoint::from_tcp(listener.local_addr()?);
        Ok((TcpAcceptor(listener), bound))
    }

    pub(crate) fn accept(&self) -> io::Result<Stream> {
        let (stream, _) = self.0.accept()?;
        stream.set_nodelay(true)?;
        Ok(Stream::Tcp(stream))
    }
}

/// Connects to `host:port` with `options` (within its connect timeout,
/// if it has one), trying each address a name resolves to in turn.
pub(crate) fn connect(host: &Host, port: u16, options: &TcpOptions) -> io::Result<Stream> {
    let addrs = match host {
        Host::Ip(ip) => vec![SocketAddr::new(*ip, port)],
        Host::Name(name) => dhaga_net::lookup_host((name.as_str(), port))?.collect(),
        Host::Any => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot connect to `*`: name a host",
            ));
        }
    };
    let stream = first_of(addrs, |addr| {
        let socket = socket_for(addr, options)?;
        match options.connect_timeout {
            Some(timeout) => socket.connect_timeout(addr, timeout),
            None => socket.connect(addr),
        }
    })?;
    stream.set_nodelay(true)?;
    Ok(Stream::Tcp(stream))
}

/// The result of `f` for the first of `addrs` it succeeds with, or its
/// last error.
fn first_of<T>(addrs: Vec<SocketAddr>, mut f: impl FnMut(SocketAddr) -> io::Result<T>) -> io::Result<T> {
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "the name resolved to no address");
    for addr in addrs {
        match f(addr) {
            Ok(done) => return Ok(done),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A socket for `addr`'s family with `options` set, as libzmq sets them
/// (the keepalive timings only with keepalive on).
fn socket_for(addr: SocketAddr, options: &TcpOptions) -> io::Result<TcpSocket> {
    let socket = TcpSocket::for_addr(addr)?;
    if let Some(size) = options.send_buffer {
        socket.set_send_buffer_size(size)?;
    }
    if let Some(size) = options.recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    if let Some(on) = options.keepalive {
        socket.set_keepalive(on)?;
        if on {
            let mut timing = Keepalive::new();
            if let Some(idle) = options.keepalive_idle {
                timing = timing.with_time(idle);
            }
            if let Some(interval) = options.keepalive_interval {
                timing = timing.with_interval(interval);
            }
            if let Some(count) = options.keepalive_count {
                timing = timing.with_retries(count);
            }
            if timing != Keepalive::new() {
                socket.set_tcp_keepalive(&timing)?;
            }
        }
    }
    if options.tos != 0 {
        set_tos(&socket, options.tos)?;
    }
    if let Some(timeout) = options.max_retransmit {
        set_max_retransmit(&socket, timeout)?;
    }
    if let Some(device) = &options.device {
        bind_device(&socket, device)?;
    }
    Ok(socket)
}

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
fn set_tos(socket: &TcpSocket, tos: u32) -> io::Result<()> {
    socket.set_tos(tos)
}

#[cfg(not(any(
    target_os = "android",
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "illumos",
    target_os = "linux",
    target_os = "macos",
    target_os = "netbsd",
    target_os = "openbsd"
)))]
fn set_tos(_: &TcpSocket, _: u32) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "tos: the type of service cannot be set on this system",
    ))
}

/// `ZMQ_TCP_MAXRT` is `TCP_USER_TIMEOUT` where the system has it, and
/// ignored elsewhere, as libzmq does.
#[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
fn set_max_retransmit(socket: &TcpSocket, timeout: std::time::Duration) -> io::Result<()> {
    socket.set_tcp_user_timeout(Some(timeout))
}

#[cfg(not(any(target_os = "android", target_os = "fuchsia", target_os = "linux")))]
fn set_max_retransmit(_: &TcpSocket, _: std::time::Duration) -> io::Result<()> {
    Ok(())
}

#[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
fn bind_device(socket: &TcpSocket, device: &str) -> io::Result<()> {
    socket.bind_device(Some(device.as_bytes()))
}

#[cfg(not(any(target_os = "android", target_os = "fuchsia", target_os = "linux")))]
fn bind_device(_: &TcpSocket, _: &str) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "bind_to_device: sockets cannot be bound to a device on this system",
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use socket2::SockRef;

    use super::*;

    /// Every option, as a `tcp://` socket gets it.
    fn all_set() -> TcpOptions {
        TcpOptions {
            send_buffer: Some(64 * 1024),
            recv_buffer: Some(96 * 1024),
            keepalive: Some(true),
            keepalive_idle: Some(Duration::from_secs(30)),
            keepalive_interval: Some(Duration::from_secs(7)),
            keepalive_count: Some(4),
            max_retransmit: Some(Duration::from_millis(2500)),
            tos: 0x28,
            device: None,
            connect_timeout: Some(Duration::from_secs(5)),
        }
    }

    #[track_caller]
    fn assert_set(socket: SockRef<'_>, what: &str) {
        // Linux doubles the buffer sizes asked for (room for its
        // bookkeeping); other systems keep them.
        assert!(socket.send_buffer_size().unwrap() >= 64 * 1024, "{what}: SO_SNDBUF");
        assert!(socket.recv_buffer_size().unwrap() >= 96 * 1024, "{what}: SO_RCVBUF");
        assert!(socket.keepalive().unwrap(), "{what}: SO_KEEPALIVE");
        #[cfg(target_os = "linux")]
        {
            assert_eq!(
                socket.tcp_keepalive_time().unwrap(),
                Duration::from_secs(30),
                "{what}: TCP_KEEPIDLE"
            );
            assert_eq!(
                socket.tcp_keepalive_interval().unwrap(),
                Duration::from_secs(7),
                "{what}: TCP_KEEPINTVL"
            );
            assert_eq!(socket.tcp_keepalive_retries().unwrap(), 4, "{what}: TCP_KEEPCNT");
            assert_eq!(
                socket.tcp_user_timeout().unwrap(),
                Some(Duration::from_millis(2500)),
                "{what}: TCP_USER_TIMEOUT"
            );
            assert_eq!(socket.tos_v4().unwrap(), 0x28, "{what}: IP_TOS");
        }
        assert!(socket.tcp_nodelay().unwrap(), "{what}: TCP_NODELAY");
    }

    #[test]
    fn bound_and_connected_sockets_get_every_option() {
        let options = all_set();
        dhaga_runtime::run(move || {
            let host = Host::Ip([127, 0, 0, 1].into());
            let (acceptor, bound) = TcpAcceptor::bind(&host, 0, 16, &options).unwrap();
            let Endpoint::Tcp { port, .. } = bound else {
                panic!("a tcp endpoint: {bound}")
            };
            let connected = connect(&host, port, &options).unwrap();
            let accepted = acceptor.accept().unwrap();
            for (stream, what) in [(&connected, "the connected socket"), (&accepted, "the accepted socket")] {
                let Stream::Tcp(stream) = stream else {
                    panic!("{what}: a tcp stream")
                };
                assert_set(SockRef::from(stream), what);
            }
        });
    }

    #[test]
    fn unset_options_leave_the_systems_defaults() {
        dhaga_runtime::run(move || {
            let host = Host::Ip([127, 0, 0, 1].into());
            let (acceptor, bound) = TcpAcceptor::bind(&host, 0, 16, &TcpOptions::default()).unwrap();
            let Endpoint::Tcp { port, .. } = bound else {
                panic!("a tcp endpoint: {bound}")
            };
            let Stream::Tcp(stream) = connect(&host, port, &TcpOptions::default()).unwrap() else {
                panic!("a tcp stream")
            };
            drop(acceptor);
            let socket = SockRef::from(&stream);
            assert!(!socket.keepalive().unwrap(), "keepalive is off by default");
            #[cfg(target_os = "linux")]
            assert_eq!(socket.tos_v4().unwrap(), 0, "no type of service");
        });
    }

    #[test]
    fn keepalive_off_sets_no_timing() {
        let options = TcpOptions {
            keepalive: Some(false),
            keepalive_idle: Some(Duration::from_secs(30)),
            ..TcpOptions::default()
        };
        dhaga_runtime::run(move || {
            let host = Host::Ip([127, 0, 0, 1].into());
            let (acceptor, bound) = TcpAcceptor::bind(&host, 0, 16, &options).unwrap();
            let Endpoint::Tcp { port, .. } = bound else {
                panic!("a tcp endpoint: {bound}")
            };
            let Stream::Tcp(stream) = connect(&host, port, &options).unwrap() else {
                panic!("a tcp stream")
            };
            drop(acceptor);
            let socket = SockRef::from(&stream);
            assert!(!socket.keepalive().unwrap());
            #[cfg(target_os = "linux")]
            assert_ne!(socket.tcp_keepalive_time().unwrap(), Duration::from_secs(30));
        });
    }
}

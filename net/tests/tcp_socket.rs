//! `TcpSocket`: options set before connecting or listening take effect
//! (read back through the socket's getters and, as a check independent of
//! them, through socket2 on the stream or listener made from it) and stay
//! with the stream or listener; on Linux accepted connections inherit them
//! from the listener; binding before connecting picks the local port;
//! `listen` uses the backlog asked for; `connect` and `connect_timeout`
//! succeed, are refused and time out as `TcpStream`'s do, and park only
//! their micro-thread; the descriptor conversions; `SO_BINDTODEVICE` on
//! Linux.
//!
//! Each test runs in micro-threads of a one-worker runtime (where a call
//! that blocked the worker instead of parking would stall the others), and
//! the connecting ones on an OS thread too.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::time::{Duration, Instant};

use dhaga_net::{Keepalive, TcpListener, TcpSocket, TcpStream};
use dhaga_runtime::sync::unbounded;
use socket2::SockRef;

use util::{CTXS, Ctx, JoinWithin, RecvWithin, full_backlog_listener};

/// 127.0.0.1, port 0 (any free port).
const LOCALHOST_V4: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// ::1, port 0 (any free port).
const LOCALHOST_V6: SocketAddr = SocketAddr::new(std::net::IpAddr::V6(Ipv6Addr::LOCALHOST), 0);

/// A type of service with the ECN bits clear (DSCP AF11): Linux keeps the
/// ECN bits of a TCP socket to itself, so a value with them set would not
/// read back as set.
const TOS: u32 = 0x28;

/// Runs `f` in a micro-thread of a fresh one-worker runtime and returns
/// its value; `what` names it if it does not end.
fn in_micro_thread<T, F>(what: &str, f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let rt = util::runtime(1);
    util::start(&rt, Ctx::Micro, f).join_within(what)
}

/// A listener on an ephemeral port of 127.0.0.1.
fn listener() -> TcpListener {
    TcpListener::bind(LOCALHOST_V4).expect("bind 127.0.0.1:0")
}

/// An address of 127.0.0.1 on which nothing listens (a port that was just
/// bound and released).
fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind(LOCALHOST_V4).unwrap();
    l.local_addr().unwrap()
}

/// A connected pair made from `socket`: (the stream `socket` became, the
/// accepted side).
fn connect_pair(socket: TcpSocket) -> (TcpStream, TcpStream) {
    let l = listener();
    let client = socket.connect(l.local_addr().unwrap()).expect("connect");
    let (server, _) = l.accept().expect("accept");
    (client, server)
}

/// Whether this process runs as root (then `SO_BINDTODEVICE` is allowed
/// whatever the kernel's version).
#[cfg(target_os = "linux")]
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether the descriptor has close-on-exec set.
fn is_cloexec(fd: &impl AsRawFd) -> bool {
    // SAFETY: F_GETFD only reads the flags of a descriptor the caller keeps
    // open for the call.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    assert!(flags >= 0, "fcntl(F_GETFD): {}", std::io::Error::last_os_error());
    flags & libc::FD_CLOEXEC != 0
}

#[test]
fn a_new_socket_is_non_blocking_close_on_exec_and_unbound() {
    util::within_limit(|| {
        in_micro_thread("the new sockets to be checked", || {
            for (socket, family) in [
                (TcpSocket::new_v4(), "IPv4"),
                (TcpSocket::for_addr(LOCALHOST_V4), "IPv4"),
            ] {
                let socket = socket.expect("create a socket");
                assert!(SockRef::from(&socket).nonblocking().unwrap(), "{family}: non-blocking");
                assert!(is_cloexec(&socket), "{family}: close-on-exec");
                assert_eq!(
                    socket.local_addr().unwrap(),
                    SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0)
                );
                assert!(socket.take_error().unwrap().is_none());
            }
            match TcpSocket::new_v6() {
                Ok(socket) => {
                    assert!(SockRef::from(&socket).nonblocking().unwrap(), "IPv6: non-blocking");
                    assert!(is_cloexec(&socket), "IPv6: close-on-exec");
                    assert!(socket.local_addr().unwrap().is_ipv6());
                    let for_v6 = TcpSocket::for_addr(LOCALHOST_V6).unwrap();
                    assert!(for_v6.local_addr().unwrap().is_ipv6(), "for_addr of ::1 is IPv6");
                }
                Err(e) if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => {
                    eprintln!("note: no IPv6 on this machine ({e}); its sockets are not checked");
                }
                Err(e) => panic!("new_v6: {e}"),
            }
        });
    });
}

#[test]
fn buffer_sizes_take_effect_and_stay_with_the_stream() {
    // Odd sizes, unlike any default, between Linux's minimum and its
    // `net.core.wmem_max`/`rmem_max` defaults (208 KiB).
    const SEND: u32 = 12_345;
    const RECV: u32 = 23_456;
    util::within_limit(|| {
        in_micro_thread("the buffer sizes to be checked", || {
            let socket = TcpSocket::new_v4().unwrap();
            socket.set_send_buffer_size(SEND).unwrap();
            socket.set_recv_buffer_size(RECV).unwrap();
            let (send, recv) = (socket.send_buffer_size().unwrap(), socket.recv_buffer_size().unwrap());
            if cfg!(target_os = "linux") {
                // Linux doubles the size asked for (room for its bookkeeping).
                assert_eq!((send, recv), (2 * SEND, 2 * RECV), "Linux doubles the sizes");
            } else {
                assert!(send >= SEND && recv >= RECV, "asked {SEND}/{RECV}, got {send}/{recv}");
            }
            let (stream, _server) = connect_pair(socket);
            let sock = SockRef::from(&stream);
            assert_eq!(
                sock.send_buffer_size().unwrap(),
                send as usize,
                "the stream's SO_SNDBUF"
            );
            assert_eq!(
                sock.recv_buffer_size().unwrap(),
                recv as usize,
                "the stream's SO_RCVBUF"
            );
        });
    });
}

#[test]
fn keepalive_on_off_and_its_timing() {
    util::within_limit(|| {
        in_micro_thread("the keepalive options to be checked", || {
            let socket = TcpSocket::new_v4().unwrap();
            assert!(!socket.keepalive().unwrap(), "off by default");
            socket.set_keepalive(true).unwrap();
            assert!(socket.keepalive().unwrap());
            socket.set_keepalive(false).unwrap();
            assert!(!socket.keepalive().unwrap());

            // Setting the timing turns keepalive on.
            let timing = Keepalive::new()
                .with_time(Duration::from_secs(61))
                .with_interval(Duration::from_secs(7))
                .with_retries(4);
            socket.set_tcp_keepalive(&timing).unwrap();
            assert!(socket.keepalive().unwrap(), "set_tcp_keepalive turns keepalive on");
            // A parameter left unset keeps its value.
            socket
                .set_tcp_keepalive(&Keepalive::new().with_time(Duration::from_secs(62)))
                .unwrap();

            let (stream, _server) = connect_pair(socket);
            let sock = SockRef::from(&stream);
            assert!(sock.keepalive().unwrap(), "the stream's SO_KEEPALIVE");
            assert_eq!(
                sock.tcp_keepalive_time().unwrap(),
                Duration::from_secs(62),
                "TCP_KEEPIDLE"
            );
            assert_eq!(
                sock.tcp_keepalive_interval().unwrap(),
                Duration::from_secs(7),
                "TCP_KEEPINTVL"
            );
            assert_eq!(sock.tcp_keepalive_retries().unwrap(), 4, "TCP_KEEPCNT");

            if cfg!(target_os = "linux") {
                // Linux counts in seconds and refuses zero.
                let e = TcpSocket::new_v4()
                    .unwrap()
                    .set_tcp_keepalive(&Keepalive::new().with_time(Duration::from_millis(500)))
                    .expect_err("Linux refuses a keepalive time under a second (zero seconds)");
                assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
            }
        });
    });
}

#[test]
fn nodelay_and_linger() {
    util::within_limit(|| {
        in_micro_thread("TCP_NODELAY and SO_LINGER to be checked", || {
            let socket = TcpSocket::new_v4().unwrap();
            assert!(!socket.nodelay().unwrap(), "off by default");
            assert_eq!(socket.linger().unwrap(), None, "off by default");
            for linger in [Some(Duration::ZERO), Some(Duration::from_secs(3)), None] {
                socket.set_linger(linger).unwrap();
                assert_eq!(socket.linger().unwrap(), linger);
            }
            socket.set_nodelay(true).unwrap();
            assert!(socket.nodelay().unwrap());
            // Linger 0: dropping the stream resets the connection.
            socket.set_linger(Some(Duration::ZERO)).unwrap();

            let (stream, mut server) = connect_pair(socket);
            assert!(stream.nodelay().unwrap(), "the stream keeps TCP_NODELAY");
            assert_eq!(SockRef::from(&stream).linger().unwrap(), Some(Duration::ZERO));
            drop(stream);
            let e = server
                .read(&mut [0; 1])
                .expect_err("linger 0: the close resets the connection");
            assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
        });
    });
}

#[test]
fn type_of_service_is_ip_tos_for_ipv4_and_the_traffic_class_for_ipv6() {
    util::within_limit(|| {
        in_micro_thread("the type of service to be checked", || {
            let v4 = TcpSocket::new_v4().unwrap();
            v4.set_tos(TOS).unwrap();
            assert_eq!(v4.tos().unwrap(), TOS);
            let (stream, _server) = connect_pair(v4);
            assert_eq!(SockRef::from(&stream).tos_v4().unwrap(), TOS, "the stream's IP_TOS");

            match TcpSocket::new_v6() {
                Ok(v6) => {
                    v6.set_tos(TOS).unwrap();
                    assert_eq!(v6.tos().unwrap(), TOS);
                    assert_eq!(SockRef::from(&v6).tclass_v6().unwrap(), TOS, "IPV6_TCLASS");
                }
                Err(e) if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => {
                    eprintln!("note: no IPv6 on this machine ({e}); IPV6_TCLASS is not checked");
                }
                Err(e) => panic!("new_v6: {e}"),
            }
        });
    });
}

#[cfg(target_os = "linux")]
#[test]
fn tcp_user_timeout() {
    util::within_limit(|| {
        in_micro_thread("TCP_USER_TIMEOUT to be checked", || {
            let socket = TcpSocket::new_v4().unwrap();
            assert_eq!(socket.tcp_user_timeout().unwrap(), None, "unset by default");
            socket.set_tcp_user_timeout(Some(Duration::from_millis(1500))).unwrap();
            assert_eq!(socket.tcp_user_timeout().unwrap(), Some(Duration::from_millis(1500)));
            socket.set_tcp_user_timeout(None).unwrap();
            assert_eq!(socket.tcp_user_timeout().unwrap(), None);
            socket.set_tcp_user_timeout(Some(Duration::from_secs(20))).unwrap();
            let (stream, _server) = connect_pair(socket);
            assert_eq!(
                SockRef::from(&stream).tcp_user_timeout().unwrap(),
                Some(Duration::from_secs(20)),
                "the stream's TCP_USER_TIMEOUT"
            );
        });
    });
}

#[cfg(target_os = "linux")]
#[test]
fn accepted_connections_inherit_the_listeners_options() {
    // What `TcpSocket`'s documentation says of Linux.
    const RECV: u32 = 34_567;
    util::within_limit(|| {
        in_micro_thread("the accepted connection's options to be checked", || {
            let socket = TcpSocket::for_addr(LOCALHOST_V4).unwrap();
            socket.set_recv_buffer_size(RECV).unwrap();
            socket.set_nodelay(true).unwrap();
            socket.set_tos(TOS).unwrap();
            socket.set_tcp_user_timeout(Some(Duration::from_secs(9))).unwrap();
            socket
                .set_tcp_keepalive(&Keepalive::new().with_time(Duration::from_secs(33)).with_retries(2))
                .unwrap();
            socket.bind(LOCALHOST_V4).unwrap();
            let l = socket.listen(16).unwrap();
            let _client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let (accepted, _) = l.accept().unwrap();
            let sock = SockRef::from(&accepted);
            assert_eq!(sock.recv_buffer_size().unwrap(), 2 * RECV as usize, "SO_RCVBUF");
            assert!(sock.tcp_nodelay().unwrap(), "TCP_NODELAY");
            assert_eq!(sock.tos_v4().unwrap(), TOS, "IP_TOS");
            assert_eq!(
                sock.tcp_user_timeout().unwrap(),
                Some(Duration::from_secs(9)),
                "TCP_USER_TIMEOUT"
            );
            assert!(sock.keepalive().unwrap(), "SO_KEEPALIVE");
            assert_eq!(
                sock.tcp_keepalive_time().unwrap(),
                Duration::from_secs(33),
                "TCP_KEEPIDLE"
            );
            assert_eq!(sock.tcp_keepalive_retries().unwrap(), 2, "TCP_KEEPCNT");
        });
    });
}

#[test]
fn reuseaddr_and_reuseport() {
    util::within_limit(|| {
        in_micro_thread("SO_REUSEADDR and SO_REUSEPORT to be checked", || {
            let socket = TcpSocket::new_v4().unwrap();
            assert!(!socket.reuseaddr().unwrap(), "off by default");
            socket.set_reuseaddr(true).unwrap();
            assert!(socket.reuseaddr().unwrap());
            socket.set_reuseaddr(false).unwrap();
            assert!(!socket.reuseaddr().unwrap());

            // Two listeners on one port, each with SO_REUSEPORT; a third
            // without it cannot bind there.
            let first = TcpSocket::new_v4().unwrap();
            assert!(!first.reuseport().unwrap(), "off by default");
            first.set_reuseport(true).unwrap();
            assert!(first.reuseport().unwrap());
            first.bind(LOCALHOST_V4).unwrap();
            let addr = first.local_addr().unwrap();
            let first = first.listen(16).unwrap();
            let second = TcpSocket::new_v4().unwrap();
            second.set_reuseport(true).unwrap();
            second
                .bind(addr)
                .expect("SO_REUSEPORT on both: the second binds the same port");
            let second = second.listen(16).unwrap();
            assert_eq!(second.local_addr().unwrap(), addr);
            let third = TcpSocket::new_v4().unwrap();
            let e = third.bind(addr).expect_err("without SO_REUSEPORT the port is taken");
            assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e}");
            drop((first, second));
        });
    });
}

#[test]
fn a_socket_bound_before_connecting_connects_from_its_port() {
    util::within_limit(|| {
        let rt = util::runtime(1);
        for ctx in CTXS {
            let l = listener();
            let addr = l.local_addr().unwrap();
            let server = util::start(&rt, Ctx::Micro, move || {
                let (mut s, peer) = l.accept().expect("accept");
                s.write_all(b"hi").unwrap();
                peer
            });
            let client = util::start(&rt, ctx, move || {
                let socket = TcpSocket::new_v4().unwrap();
                socket.bind(LOCALHOST_V4).unwrap();
                let local = socket.local_addr().unwrap();
                assert_ne!(local.port(), 0, "bind to port 0 picks a port");
                let mut stream = socket.connect(addr).expect("connect from the bound port");
                assert_eq!(stream.local_addr().unwrap(), local);
                assert_eq!(stream.peer_addr().unwrap(), addr);
                let mut buf = [0; 2];
                stream.read_exact(&mut buf).unwrap();
                assert_eq!(&buf, b"hi");
                local
            });
            let local = client.join_within(&format!("the {ctx:?} client to connect from its bound port"));
            let peer = server.join_within("the server to accept");
            assert_eq!(peer, local, "{ctx:?}: the server sees the port the client bound");
        }
    });
}

#[cfg(target_os = "linux")]
#[test]
fn listen_uses_the_backlog_asked_for_and_accepts() {
    util::within_limit(|| {
        let rt = util::runtime(1);
        for ctx in CTXS {
            let socket = TcpSocket::for_addr(LOCALHOST_V4).unwrap();
            socket.bind(LOCALHOST_V4).unwrap();
            let l = socket.listen(3).unwrap();
            assert_eq!(util::accept_queue(&l), (0, 3), "TCP_INFO: nothing queued, backlog 3");
            let addr = l.local_addr().unwrap();
            let server = util::start(&rt, Ctx::Micro, move || {
                let (s, peer) = l.accept().expect("accept");
                assert_eq!(s.local_addr().unwrap(), addr);
                peer
            });
            let client = util::start(&rt, ctx, move || TcpSocket::new_v4().unwrap().connect(addr).unwrap());
            let client = client.join_within(&format!("the {ctx:?} client to connect"));
            let peer = server.join_within(&format!("the server to accept the {ctx:?} client"));
            assert_eq!(peer, client.local_addr().unwrap());
        }
    });
}

#[test]
fn a_v6_socket_listens_and_connects_on_ipv6() {
    util::within_limit(|| {
        in_micro_thread("the IPv6 connection", || {
            let socket = match TcpSocket::for_addr(LOCALHOST_V6) {
                Ok(socket) => socket,
                Err(e) if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => {
                    eprintln!("note: no IPv6 on this machine ({e}); not checked");
                    return;
                }
                Err(e) => panic!("for_addr(::1): {e}"),
            };
            match socket.bind(LOCALHOST_V6) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::AddrNotAvailable => {
                    eprintln!("note: no ::1 on this machine ({e}); not checked");
                    return;
                }
                Err(e) => panic!("bind ::1: {e}"),
            }
            let l = socket.listen(16).unwrap();
            let addr = l.local_addr().unwrap();
            assert!(addr.is_ipv6());
            let stream = TcpSocket::new_v6().unwrap().connect(addr).unwrap();
            let (_server, peer) = l.accept().unwrap();
            assert_eq!(peer, stream.local_addr().unwrap());

            let e = TcpSocket::new_v4()
                .unwrap()
                .bind(LOCALHOST_V6)
                .expect_err("an IPv4 socket cannot bind an IPv6 address");
            assert!(
                matches!(e.raw_os_error(), Some(libc::EAFNOSUPPORT | libc::EINVAL)),
                "{e}"
            );
        });
    });
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    util::within_limit(|| {
        let rt = util::runtime(1);
        for ctx in CTXS {
            let addr = closed_port();
            let e = util::start(&rt, ctx, move || TcpSocket::new_v4().unwrap().connect(addr))
                .join_within(&format!("the {ctx:?} connect to a closed port to fail"))
                .expect_err("nothing listens there");
            assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{ctx:?}: {e}");
            let e = util::start(&rt, ctx, move || {
                TcpSocket::new_v4().unwrap().connect_timeout(addr, util::PATIENCE)
            })
            .join_within(&format!("the {ctx:?} connect_timeout to a closed port to fail"))
            .expect_err("nothing listens there");
            assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{ctx:?}: {e}");
        }
    });
}

#[test]
fn connect_timeout_connects_times_out_and_refuses_zero() {
    const T: Duration = Duration::from_millis(200);
    util::within_limit(|| {
        let rt = util::runtime(1);
        let open = listener();
        let open_addr = open.local_addr().unwrap();
        let (full, _fill) = full_backlog_listener();
        let full_addr = full.local_addr().unwrap();
        for ctx in CTXS {
            util::start(&rt, ctx, move || {
                let stream = TcpSocket::new_v4()
                    .unwrap()
                    .connect_timeout(open_addr, util::PATIENCE)
                    .expect("connect within the timeout");
                assert_eq!(stream.peer_addr().unwrap(), open_addr);

                let t0 = Instant::now();
                let e = TcpSocket::new_v4()
                    .unwrap()
                    .connect_timeout(full_addr, T)
                    .expect_err("the backlog is full: the SYN is dropped");
                let took = t0.elapsed();
                assert_eq!(e.kind(), ErrorKind::TimedOut, "{ctx:?}: {e}");
                assert!(took >= T, "{ctx:?}: timed out after {took:?}, before {T:?}");
                assert!(took < T + Duration::from_secs(5), "{ctx:?}: timed out after {took:?}");

                let e = TcpSocket::new_v4()
                    .unwrap()
                    .connect_timeout(open_addr, Duration::ZERO)
                    .expect_err("a zero timeout");
                assert_eq!(e.kind(), ErrorKind::InvalidInput, "{ctx:?}: {e}");
            })
            .join_within(&format!("the {ctx:?} connects with a timeout"));
        }
        drop(open);
    });
}

#[test]
fn a_connect_in_progress_parks_only_its_micro_thread() {
    util::within_limit(|| {
        // One worker: had the connect blocked it, nothing else would run.
        let rt = util::runtime(1);
        let (full, _fill) = full_backlog_listener();
        let addr = full.local_addr().unwrap();
        let (about_to_connect, connecting) = unbounded();
        let connect = util::start(&rt, Ctx::Micro, move || {
            let socket = TcpSocket::new_v4().unwrap();
            about_to_connect.send(()).unwrap();
            socket.connect(addr)
        });
        connecting.recv_within("the micro-thread to start its connect");
        connect.wait_parked("the connect to a full backlog to park");
        let other = rt.spawn(|| 7);
        let seven = other
            .join_within("another micro-thread on the connecting one's worker")
            .expect("it returns");
        assert_eq!(seven, 7);
        // Room in the queue: the connect's next SYN (retransmitted after
        // about a second) gets through.
        let (_queued, _) = full.accept().unwrap();
        let stream = connect
            .join_within("the connect to complete once the backlog has room")
            .expect("connect");
        assert_eq!(stream.peer_addr().unwrap(), addr);
    });
}

#[cfg(target_os = "linux")]
#[test]
fn bind_device_binds_to_an_interface() {
    util::within_limit(|| {
        if !is_root() {
            // Linux lets other users bind an unbound socket to a device
            // since 5.7, but changing a binding takes CAP_NET_RAW, which
            // this test does; root has it.
            eprintln!("SKIPPED bind_device_binds_to_an_interface: not root, and SO_BINDTODEVICE needs CAP_NET_RAW");
            return;
        }
        in_micro_thread("SO_BINDTODEVICE to be checked", || {
            let l = listener();
            let socket = TcpSocket::new_v4().unwrap();
            assert_eq!(socket.device().unwrap(), None, "unbound by default");
            socket.bind_device(Some(b"lo")).expect("as root, bind to lo");
            assert_eq!(socket.device().unwrap().as_deref(), Some(&b"lo"[..]));
            socket.bind_device(None).expect("as root, remove the binding");
            assert_eq!(socket.device().unwrap(), None);
            socket.bind_device(Some(b"lo")).unwrap();
            let stream = socket
                .connect(l.local_addr().unwrap())
                .expect("connect to 127.0.0.1 through lo");
            assert_eq!(
                SockRef::from(&stream).device().unwrap().as_deref(),
                Some(&b"lo"[..]),
                "the stream stays bound to lo"
            );

            let e = TcpSocket::new_v4()
                .unwrap()
                .bind_device(Some(b"dhaga-no-such0"))
                .expect_err("no such interface");
            assert_eq!(e.raw_os_error(), Some(libc::ENODEV), "{e}");
        });
    });
}

#[test]
fn descriptor_conversions() {
    util::within_limit(|| {
        in_micro_thread("the descriptor conversions", || {
            let socket = TcpSocket::new_v4().unwrap();
            socket.set_reuseaddr(true).unwrap();
            let fd = socket.as_raw_fd();
            assert_eq!(socket.as_fd().as_raw_fd(), fd);
            let debug = format!("{socket:?}");
            assert_eq!(debug, format!("TcpSocket {{ fd: {fd}, local_addr: Some(0.0.0.0:0) }}"));

            // Out and back in: the same open socket, options and all.
            let raw = socket.into_raw_fd();
            assert_eq!(raw, fd);
            // SAFETY: `raw` was just given up by `into_raw_fd`, is open, and
            // nothing else owns or closes it.
            let socket = unsafe { TcpSocket::from_raw_fd(raw) };
            assert!(socket.reuseaddr().unwrap(), "the option is the socket's");
            let owned = OwnedFd::from(socket);
            assert!(SockRef::from(&owned).nonblocking().unwrap(), "handed out non-blocking");

            // A blocking descriptor coming in is made non-blocking.
            let blocking = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            assert!(!blocking.nonblocking().unwrap());
            let socket = TcpSocket::from(OwnedFd::from(blocking));
            assert!(SockRef::from(&socket).nonblocking().unwrap(), "made non-blocking");
            drop(owned);

            // And it still connects.
            let (mut client, mut server) = connect_pair(socket);
            client.write_all(b"x").unwrap();
            let mut b = [0; 1];
            server.read_exact(&mut b).unwrap();
            assert_eq!(&b, b"x");
        });
    });
}

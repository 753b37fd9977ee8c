//! What lets code written for std port unchanged: std's descriptor traits
//! and conversions on every socket type (out to a raw descriptor or an
//! `OwnedFd` and back in, std sockets converted in, the non-blocking mode a
//! descriptor leaves in, which other dhaga sockets over a `dup` of it rely
//! on), generic code over std's `ToSocketAddrs`, `lookup_host`, and
//! `Read`/`Write` of the runtime's `Source` over any descriptor (a pipe),
//! vectored calls with more buffers than one system call takes included.
//!
//! Every runtime here has one worker: a call that blocked it instead of
//! parking would keep the other side from ever running. Each such wait is
//! checked as "the waiter parks" before the other side acts, so a blocked
//! worker fails the test by name instead of hanging it. Every other wait
//! has a deadline too ([`util::PATIENCE`]): a read timeout on a std socket,
//! a bounded join of the thread that makes a call std cannot time out (a
//! listener's `accept`).
#![cfg(unix)]

mod util;

use std::io::{self, ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};

use dhaga_net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream};
use dhaga_runtime::sync::bounded;
use dhaga_runtime::{Runtime, Source, spawn};

use util::{Ctx, JoinWithin, PATIENCE, RecvWithin, Task, TempDir};

/// Whether `fd` is in non-blocking mode (`O_NONBLOCK`).
fn is_nonblocking(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: F_GETFL only reads the flags of `fd`, which is open (borrowed).
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    assert!(flags >= 0, "fcntl(F_GETFL): {}", io::Error::last_os_error());
    flags & libc::O_NONBLOCK != 0
}

/// Runs `wait` in a micro-thread of `rt` and checks that it parks (a call
/// that blocked the worker would not) before running `wake` on this thread;
/// returns what `wait` returned. `what` names the wait in failures.
fn parks_until<T, W>(rt: &Runtime, what: &str, wait: W, wake: impl FnOnce()) -> T
where
    W: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (started_tx, started_rx) = bounded(1);
    let waiter = util::start(rt, Ctx::Micro, move || {
        started_tx.send(()).unwrap();
        wait()
    });
    started_rx.recv_within(&format!("the micro-thread that waits for {what} to start"));
    // One that blocked its worker would never park; one whose wait failed
    // (say, the descriptor could not be added to the poller) ends instead,
    // and its result tells why.
    util::wait_until(
        &format!("the micro-thread to park waiting for {what} (one that blocked its worker never parks)"),
        || waiter.is_parked() || waiter.is_finished(),
    );
    wake();
    waiter.join_within(&format!("the micro-thread to get {what}"))
}

/// `result`, or a failure naming `what` the call waited for: a read on a
/// socket whose read timeout is [`PATIENCE`] gives up with `WouldBlock`.
#[track_caller]
fn waited<T>(what: &str, result: io::Result<T>) -> T {
    result.unwrap_or_else(|e| panic!("waited at most {PATIENCE:?} for {what}: {e}"))
}

/// Runs `call` — a std call that has no timeout of its own, such as a
/// blocking listener's `accept` — on an OS thread; fails the test, naming
/// `what`, if it has not returned within [`PATIENCE`] (the thread is left
/// behind).
#[track_caller]
fn on_a_thread_within<T, F>(what: &str, call: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Task::os_thread(call).join_within(what)
}

/// The socket a test talks to from its own OS thread: its reads get a
/// deadline.
trait Peer: Read + Write {
    /// Sets a read timeout of [`PATIENCE`], so that bytes that never come
    /// fail the test instead of hanging it.
    fn bound_reads(&self);
}

/// [`Peer`] for socket types with std's `set_read_timeout`.
macro_rules! peer {
    ($($t:ty),*) => {$(
        impl Peer for $t {
            fn bound_reads(&self) {
                <$t>::set_read_timeout(self, Some(PATIENCE)).expect("set a read timeout");
            }
        }
    )*};
}

peer!(std::net::TcpStream, std::os::unix::net::UnixStream, UnixStream);

/// `stream` (on `rt`) parks on a read until `peer` (on this thread) writes,
/// and the bytes arrive; then `stream` writes back. Returns `stream`.
fn stream_works<S, P>(rt: &Runtime, what: &str, stream: S, peer: &mut P) -> S
where
    S: Read + Write + Send + 'static,
    P: Peer,
{
    peer.bound_reads();
    let (mut stream, got) = parks_until(
        rt,
        &format!("bytes on {what}"),
        move || {
            let mut stream = stream;
            let mut buf = [0u8; 5];
            let got = stream.read_exact(&mut buf).map(|()| buf);
            (stream, got)
        },
        || peer.write_all(b"hello").unwrap(),
    );
    assert_eq!(&got.unwrap_or_else(|e| panic!("{what}: read: {e}")), b"hello", "{what}");
    stream.write_all(b"back").unwrap();
    let mut back = [0u8; 4];
    waited(&format!("the reply of {what}, on its peer"), peer.read_exact(&mut back));
    assert_eq!(&back, b"back", "{what}");
    stream
}

/// A descriptor handed out stays non-blocking: another dhaga socket may
/// share the flag (a clone, or one made from a `dup`).
fn assert_handed_out_nonblocking(what: &str, fd: BorrowedFd<'_>) {
    assert!(
        is_nonblocking(fd),
        "{what}: a descriptor handed out stays in non-blocking mode"
    );
}

/// A runtime with one worker.
fn one_worker() -> Runtime {
    util::runtime(1)
}

#[test]
fn tcp_stream_round_trips_through_raw_fd_and_owned_fd() {
    util::within_limit(|| {
        let rt = one_worker();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = on_a_thread_within("the std listener's accept of the peer's connection", move || l.accept())
            .expect("accept the peer's connection");
        // A blocking std stream comes in non-blocking, and parks.
        let s = TcpStream::from(s);
        assert!(is_nonblocking(s.as_fd()), "From<std TcpStream> makes it non-blocking");
        // Registered with the worker's poller by this first wait...
        let s = stream_works(&rt, "the TcpStream from std", s, &mut peer);
        // ...and removed by into_raw_fd: added again, it would fail (EEXIST).
        let fd = s.into_raw_fd();
        // SAFETY: `fd` is open and owned here: `into_raw_fd` gave it up.
        assert_handed_out_nonblocking("TcpStream::into_raw_fd", unsafe { BorrowedFd::borrow_raw(fd) });
        // SAFETY: `fd` came from `into_raw_fd` and nothing else owns it.
        let s = unsafe { TcpStream::from_raw_fd(fd) };
        assert!(is_nonblocking(s.as_fd()), "from_raw_fd makes it non-blocking");
        let s = stream_works(&rt, "the TcpStream from a raw fd", s, &mut peer);
        let owned = OwnedFd::from(s);
        assert_handed_out_nonblocking("OwnedFd::from(TcpStream)", owned.as_fd());
        let s = stream_works(&rt, "the TcpStream from an OwnedFd", TcpStream::from(owned), &mut peer);
        // And out to std, blocking once asked to, as the docs say.
        let mut std_s = std::net::TcpStream::from(OwnedFd::from(s));
        std_s.set_nonblocking(false).unwrap();
        std_s.set_read_timeout(Some(PATIENCE)).unwrap();
        peer.write_all(b"to std").unwrap();
        let mut buf = [0u8; 6];
        waited("bytes on the std stream, in blocking mode", std_s.read_exact(&mut buf));
        assert_eq!(&buf, b"to std");
    });
}

#[test]
fn tcp_listener_round_trips_through_raw_fd_and_owned_fd() {
    util::within_limit(|| {
        let rt = one_worker();
        // A blocking std listener converted in: accept parks.
        let l = TcpListener::from(std::net::TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = l.local_addr().unwrap();
        assert!(is_nonblocking(l.as_fd()));
        let accept = |l: TcpListener, what: &str| -> TcpListener {
            let (l, peer) = parks_until(
                &rt,
                &format!("a connection to {what}"),
                move || {
                    let peer = l.accept().map(|(_, peer)| peer);
                    (l, peer)
                },
                || drop(std::net::TcpStream::connect(addr).unwrap()),
            );
            assert!(peer.unwrap().ip().is_loopback(), "{what}");
            l
        };
        let l = accept(l, "the TcpListener from std");
        let fd = l.into_raw_fd();
        // SAFETY: `fd` is open and owned here: `into_raw_fd` gave it up.
        assert_handed_out_nonblocking("TcpListener::into_raw_fd", unsafe { BorrowedFd::borrow_raw(fd) });
        // SAFETY: `fd` came from `into_raw_fd` and nothing else owns it.
        let l = accept(unsafe { TcpListener::from_raw_fd(fd) }, "the TcpListener from a raw fd");
        let owned = OwnedFd::from(l);
        assert_handed_out_nonblocking("OwnedFd::from(TcpListener)", owned.as_fd());
        let l = accept(TcpListener::from(owned), "the TcpListener from an OwnedFd");
        // Out to std, blocking once asked to: its accept finds the
        // connection.
        let std_l = std::net::TcpListener::from(OwnedFd::from(l));
        std_l.set_nonblocking(false).unwrap();
        let c = std::net::TcpStream::connect(addr).unwrap();
        let accepted = on_a_thread_within("the std listener's blocking accept", move || std_l.accept());
        assert_eq!(accepted.unwrap().1, c.local_addr().unwrap());
    });
}

#[test]
fn udp_socket_round_trips_through_raw_fd_and_owned_fd() {
    util::within_limit(|| {
        let rt = one_worker();
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let socket = UdpSocket::from(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        let addr = socket.local_addr().unwrap();
        assert!(is_nonblocking(socket.as_fd()));
        let recv = |socket: UdpSocket, what: &str| -> UdpSocket {
            let (socket, got) = parks_until(
                &rt,
                &format!("a datagram on {what}"),
                move || {
                    let mut buf = [0u8; 16];
                    let got = socket.recv_from(&mut buf).map(|(n, from)| (buf[..n].to_vec(), from));
                    (socket, got)
                },
                || assert_eq!(peer.send_to(b"ping", addr).unwrap(), 4),
            );
            let (bytes, from) = got.unwrap();
            assert_eq!((&bytes[..], from), (&b"ping"[..], peer.local_addr().unwrap()), "{what}");
            socket
        };
        let socket = recv(socket, "the UdpSocket from std");
        let fd = socket.into_raw_fd();
        // SAFETY: `fd` is open and owned here: `into_raw_fd` gave it up.
        assert_handed_out_nonblocking("UdpSocket::into_raw_fd", unsafe { BorrowedFd::borrow_raw(fd) });
        // SAFETY: `fd` came from `into_raw_fd` and nothing else owns it.
        let socket = recv(unsafe { UdpSocket::from_raw_fd(fd) }, "the UdpSocket from a raw fd");
        let owned = OwnedFd::from(socket);
        assert_handed_out_nonblocking("OwnedFd::from(UdpSocket)", owned.as_fd());
        let socket = recv(UdpSocket::from(owned), "the UdpSocket from an OwnedFd");
        let std_socket = std::net::UdpSocket::from(OwnedFd::from(socket));
        std_socket.set_nonblocking(false).unwrap();
        std_socket.set_read_timeout(Some(PATIENCE)).unwrap();
        peer.send_to(b"std", addr).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(waited("a datagram on the std socket", std_socket.recv(&mut buf)), 3);
    });
}

#[test]
fn unix_stream_round_trips_through_raw_fd_and_owned_fd() {
    util::within_limit(|| {
        let rt = one_worker();
        let (s, mut peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let s = UnixStream::from(s);
        assert!(is_nonblocking(s.as_fd()));
        let s = stream_works(&rt, "the UnixStream from std", s, &mut peer);
        let fd = s.into_raw_fd();
        // SAFETY: `fd` is open and owned here: `into_raw_fd` gave it up.
        assert_handed_out_nonblocking("UnixStream::into_raw_fd", unsafe { BorrowedFd::borrow_raw(fd) });
        // SAFETY: `fd` came from `into_raw_fd` and nothing else owns it.
        let s = stream_works(
            &rt,
            "the UnixStream from a raw fd",
            unsafe { UnixStream::from_raw_fd(fd) },
            &mut peer,
        );
        let owned = OwnedFd::from(s);
        assert_handed_out_nonblocking("OwnedFd::from(UnixStream)", owned.as_fd());
        let s = stream_works(
            &rt,
            "the UnixStream from an OwnedFd",
            UnixStream::from(owned),
            &mut peer,
        );
        // Both ends dhaga's, each parked in turn.
        let (a, b) = UnixStream::pair().unwrap();
        let mut b = b;
        let a = stream_works(&rt, "one end of a dhaga pair", a, &mut b);
        drop((a, s));
    });
}

#[test]
fn unix_listener_round_trips_through_raw_fd_and_owned_fd() {
    util::within_limit(|| {
        let rt = one_worker();
        let dir = TempDir::new("fd-listener");
        let path = dir.join("l.sock");
        let l = UnixListener::from(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(is_nonblocking(l.as_fd()));
        let accept = |l: UnixListener, what: &str| -> UnixListener {
            let path = path.clone();
            let (l, accepted) = parks_until(
                &rt,
                &format!("a connection to {what}"),
                move || {
                    let accepted = l.accept().map(drop);
                    (l, accepted)
                },
                || drop(std::os::unix::net::UnixStream::connect(&path).unwrap()),
            );
            accepted.unwrap_or_else(|e| panic!("{what}: accept: {e}"));
            l
        };
        let l = accept(l, "the UnixListener from std");
        let fd = l.into_raw_fd();
        // SAFETY: `fd` is open and owned here: `into_raw_fd` gave it up.
        assert_handed_out_nonblocking("UnixListener::into_raw_fd", unsafe { BorrowedFd::borrow_raw(fd) });
        // SAFETY: `fd` came from `into_raw_fd` and nothing else owns it.
        let l = accept(
            unsafe { UnixListener::from_raw_fd(fd) },
            "the UnixListener from a raw fd",
        );
        let owned = OwnedFd::from(l);
        assert_handed_out_nonblocking("OwnedFd::from(UnixListener)", owned.as_fd());
        let l = accept(UnixListener::from(owned), "the UnixListener from an OwnedFd");
        let std_l = std::os::unix::net::UnixListener::from(OwnedFd::from(l));
        std_l.set_nonblocking(false).unwrap();
        let _c = std::os::unix::net::UnixStream::connect(&path).unwrap();
        on_a_thread_within("the std listener's blocking accept", move || std_l.accept())
            .expect("a blocking accept of the std listener");
    });
}

#[test]
fn unix_datagram_round_trips_through_raw_fd_and_owned_fd() {
    util::within_limit(|| {
        let rt = one_worker();
        let (socket, peer) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let socket = UnixDatagram::from(socket);
        assert!(is_nonblocking(socket.as_fd()));
        let recv = |socket: UnixDatagram, what: &str| -> UnixDatagram {
            let (socket, got) = parks_until(
                &rt,
                &format!("a datagram on {what}"),
                move || {
                    let mut buf = [0u8; 16];
                    let got = socket.recv(&mut buf).map(|n| buf[..n].to_vec());
                    (socket, got)
                },
                || assert_eq!(peer.send(b"ping").unwrap(), 4),
            );
            assert_eq!(got.unwrap(), b"ping", "{what}");
            socket
        };
        let socket = recv(socket, "the UnixDatagram from std");
        let fd = socket.into_raw_fd();
        // SAFETY: `fd` is open and owned here: `into_raw_fd` gave it up.
        assert_handed_out_nonblocking("UnixDatagram::into_raw_fd", unsafe { BorrowedFd::borrow_raw(fd) });
        // SAFETY: `fd` came from `into_raw_fd` and nothing else owns it.
        let socket = recv(
            unsafe { UnixDatagram::from_raw_fd(fd) },
            "the UnixDatagram from a raw fd",
        );
        let owned = OwnedFd::from(socket);
        assert_handed_out_nonblocking("OwnedFd::from(UnixDatagram)", owned.as_fd());
        let socket = recv(UnixDatagram::from(owned), "the UnixDatagram from an OwnedFd");
        let std_socket = std::os::unix::net::UnixDatagram::from(OwnedFd::from(socket));
        std_socket.set_nonblocking(false).unwrap();
        std_socket.set_read_timeout(Some(PATIENCE)).unwrap();
        peer.send(b"std").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(waited("a datagram on the std socket", std_socket.recv(&mut buf)), 3);
    });
}

#[test]
fn a_handed_out_descriptor_stays_non_blocking_and_open() {
    util::within_limit(|| {
        // Whatever mode the socket showed.
        for nonblocking in [false, true] {
            let (a, _b) = UnixStream::pair().unwrap();
            a.set_nonblocking(nonblocking).unwrap();
            let owned = OwnedFd::from(a);
            assert_handed_out_nonblocking(&format!("after set_nonblocking({nonblocking})"), owned.as_fd());
        }

        // A clone, still dhaga's, shares the flag and keeps parking.
        let rt = one_worker();
        let (a, mut peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let a = UnixStream::from(a);
        let clone = a.try_clone().unwrap();
        let owned = OwnedFd::from(a);
        assert_handed_out_nonblocking("with a try_clone clone alive", owned.as_fd());
        let clone = stream_works(&rt, "the clone of a socket handed out", clone, &mut peer);
        drop((clone, owned));

        // The descriptor handed out is not closed: its std socket, switched
        // to blocking mode as the docs say, talks.
        let (a, peer) = UnixStream::pair().unwrap();
        let fd = a.into_raw_fd();
        // SAFETY: `fd` came from `into_raw_fd` and nothing else owns it.
        let mut a = unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) };
        a.set_nonblocking(false).unwrap();
        assert!(!is_nonblocking(a.as_fd()), "set_nonblocking(false) on the std socket");
        a.write_all(b"open").unwrap();
        peer.bound_reads();
        let mut buf = [0u8; 4];
        waited("the std socket's bytes, on its peer", (&peer).read_exact(&mut buf));
        assert_eq!(&buf, b"open");
    });
}

/// Two dhaga sockets over one open socket, through a duplicate of its
/// descriptor made outside `try_clone` (which dhaga cannot count).
type Dup = fn(std::os::unix::net::UnixStream) -> (UnixStream, UnixStream);

/// A conversion that hands a socket's descriptor out.
type Handout = fn(UnixStream) -> OwnedFd;

#[test]
fn a_socket_over_a_dup_of_a_handed_out_descriptor_keeps_parking() {
    util::within_limit(|| {
        let rt = one_worker();
        let dups: [(&str, Dup); 3] = [
            ("std's try_clone, then From each", |s| {
                (UnixStream::from(s.try_clone().unwrap()), UnixStream::from(s))
            }),
            ("try_clone_to_owned, then From<OwnedFd>", |s| {
                let dup = s.as_fd().try_clone_to_owned().unwrap();
                (UnixStream::from(s), UnixStream::from(dup))
            }),
            ("FromRawFd of dup(2)", |s| {
                // SAFETY: dup only reads the descriptor number; `s` keeps
                // it open for the call.
                let fd = unsafe { libc::dup(s.as_raw_fd()) };
                assert!(fd >= 0, "dup: {}", io::Error::last_os_error());
                // SAFETY: dup returned a new open descriptor that nothing
                // else owns.
                (UnixStream::from(s), unsafe { UnixStream::from_raw_fd(fd) })
            }),
        ];
        let handouts: [(&str, Handout); 2] = [
            ("OwnedFd::from", OwnedFd::from),
            ("into_raw_fd", |s| {
                // SAFETY: `into_raw_fd` gave the descriptor up: open, and owned
                // by nothing else.
                unsafe { OwnedFd::from_raw_fd(s.into_raw_fd()) }
            }),
        ];
        for (dup_how, dup) in dups {
            for (handout_how, handout) in handouts {
                let what = format!("the socket left after {handout_how} of its {dup_how} twin");
                let (s, mut peer) = std::os::unix::net::UnixStream::pair().unwrap();
                let (twin, kept) = dup(s);
                // The kept socket waits once before, registered with the
                // worker's poller, as one in use would be.
                let kept = stream_works(&rt, &format!("{what}, before"), kept, &mut peer);
                let owned = handout(twin);
                assert_handed_out_nonblocking(&what, owned.as_fd());
                assert!(is_nonblocking(kept.as_fd()), "{what}: still non-blocking");
                // In blocking mode its read would block the one worker, and
                // never park.
                let kept = stream_works(&rt, &what, kept, &mut peer);
                drop((kept, owned));
            }
        }
    });
}

/// Generic code written against std's trait, as a library would have it.
fn connect_to<A: std::net::ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
    TcpStream::connect(addr)
}

fn bind_to<A: std::net::ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
    TcpListener::bind(addr)
}

fn send_to<A: std::net::ToSocketAddrs>(socket: &UdpSocket, addr: A) -> io::Result<usize> {
    socket.send_to(b"generic", addr)
}

/// `dhaga_net::ToSocketAddrs` is std's trait: a bound on one satisfies the
/// other.
fn through_dhaga_bound<A: dhaga_net::ToSocketAddrs>(addr: A) -> io::Result<std::net::TcpStream> {
    std::net::TcpStream::connect(addr)
}

/// A program's own address type, implementing std's trait.
struct Loopback(u16);

impl std::net::ToSocketAddrs for Loopback {
    type Iter = std::option::IntoIter<SocketAddr>;

    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        Ok(Some(SocketAddr::from((Ipv4Addr::LOCALHOST, self.0))).into_iter())
    }
}

#[test]
fn generic_code_over_std_to_socket_addrs_binds_connects_and_sends() {
    util::within_limit(|| {
        let rt = one_worker();
        rt.block_on(|| {
            let l = bind_to(Loopback(0)).expect("bind through a program's own address type");
            let port = l.local_addr().unwrap().port();
            let acceptor = spawn(move || {
                (0..4)
                    .map(|_| l.accept().map(|(_, from)| from))
                    .collect::<io::Result<Vec<_>>>()
            });
            let text = format!("127.0.0.1:{port}"); // borrowed below: not 'static
            let clients = [
                connect_to(Loopback(port)).expect("connect: own type"),
                connect_to(text.as_str()).expect("connect: a borrowed &str"),
                connect_to(("localhost", port)).expect("connect: a name, looked up on the blocking pool"),
            ];
            let std_client = through_dhaga_bound(&text).expect("std's connect with dhaga's bound");
            let accepted = acceptor
                .join_within("the acceptor, which parks between the four connects")
                .unwrap()
                .unwrap();
            let mut expected: Vec<SocketAddr> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
            expected.push(std_client.local_addr().unwrap());
            let mut accepted = accepted;
            accepted.sort();
            expected.sort();
            assert_eq!(accepted, expected);

            let receiver = UdpSocket::bind(Loopback(0)).unwrap();
            receiver.set_read_timeout(Some(PATIENCE)).unwrap();
            let to = receiver.local_addr().unwrap();
            let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
            assert_eq!(send_to(&sender, to).unwrap(), 7);
            assert_eq!(send_to(&sender, Loopback(to.port())).unwrap(), 7);
            assert_eq!(send_to(&sender, format!("localhost:{}", to.port())).unwrap(), 7);
            let mut buf = [0u8; 16];
            for i in 0..3 {
                let (n, from) = waited(&format!("datagram {i} of 3"), receiver.recv_from(&mut buf));
                assert_eq!((&buf[..n], from), (&b"generic"[..], sender.local_addr().unwrap()));
            }
        });
    });
}

#[test]
fn lookup_host_resolves_names_and_numbers() {
    util::within_limit(|| {
        let rt = one_worker();
        for ctx in util::CTXS {
            util::start(&rt, ctx, move || {
                let l = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = l.local_addr().unwrap();
                let port = addr.port();
                // A name: every address is a loopback one, with the port.
                let named: Vec<SocketAddr> = dhaga_net::lookup_host(format!("localhost:{port}"))
                    .expect("lookup of localhost")
                    .collect();
                assert!(!named.is_empty(), "{ctx:?}: localhost resolves");
                assert!(
                    named.iter().all(|a| a.ip().is_loopback() && a.port() == port),
                    "{ctx:?}: localhost:{port} resolved to {named:?}"
                );
                let by_pair: Vec<SocketAddr> = dhaga_net::lookup_host(("localhost", port)).unwrap().collect();
                assert_eq!(by_pair, named, "{ctx:?}: (host, port) resolves as host:port");
                // A number: parsed in place, exactly itself.
                let numeric: Vec<SocketAddr> = dhaga_net::lookup_host(format!("127.0.0.1:{port}")).unwrap().collect();
                assert_eq!(numeric, [addr], "{ctx:?}");
                let ip: Vec<SocketAddr> = dhaga_net::lookup_host((IpAddr::from(Ipv4Addr::LOCALHOST), port))
                    .unwrap()
                    .collect();
                assert_eq!(ip, [addr], "{ctx:?}");
                // What it resolved connects (one of localhost's addresses is
                // the listener's).
                let first_v4 = named.iter().find(|a| a.is_ipv4()).copied();
                if let Some(v4) = first_v4 {
                    let c = TcpStream::connect(v4).unwrap();
                    assert_eq!(l.accept().unwrap().1, c.local_addr().unwrap());
                }
                // Text that is no address fails as std's does.
                let err = dhaga_net::lookup_host("localhost").unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidInput, "{ctx:?}: no port");
            })
            .join_within(&format!("the lookups on a {ctx:?} thread"));
        }
    });
}

/// A pipe: (read end, write end).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
    let rc = unsafe { libc::pipe(fds.as_mut_ptr()) };
    assert_eq!(rc, 0, "pipe: {}", io::Error::last_os_error());
    // SAFETY: pipe(2) succeeded: both are open and owned by nothing else.
    let read = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    // SAFETY: as for the read end.
    let write = unsafe { OwnedFd::from_raw_fd(fds[1]) };
    (read, write)
}

#[test]
fn source_reads_a_pipe_parked_until_the_writer_writes() {
    util::within_limit(|| {
        let rt = one_worker();
        let (read, write) = pipe();
        let reader = Source::new(read).unwrap();
        assert!(
            is_nonblocking(reader.as_fd()),
            "Source::new makes any descriptor non-blocking"
        );
        // The writer end stays blocking: written from this OS thread.
        let mut writer = std::fs::File::from(write);
        let (reader, got) = parks_until(
            &rt,
            "bytes in the pipe",
            move || {
                let mut buf = [0u8; 5];
                let got = (&reader).read_exact(&mut buf).map(|()| buf);
                (reader, got)
            },
            || writer.write_all(b"hello").unwrap(),
        );
        assert_eq!(&got.unwrap(), b"hello");
        // Vectored, and end of file once the writer is gone.
        let (mut reader, got) = parks_until(
            &rt,
            "the rest of the pipe, and its end",
            move || {
                let mut reader = reader;
                let (mut a, mut b) = ([0u8; 2], [0u8; 8]);
                let n = reader.read_vectored(&mut [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)]);
                let first = n.map(|n| [&a[..], &b[..]].concat()[..n].to_vec());
                let mut rest = Vec::new();
                let end = reader.read_to_end(&mut rest);
                (reader, (first, rest, end))
            },
            || {
                writer.write_all(b"world").unwrap();
                drop(writer);
            },
        );
        let (first, rest, end) = got;
        let mut all = first.unwrap();
        assert!(end.is_ok(), "read to the end: {end:?}");
        all.extend(rest);
        assert_eq!(all, b"world");
        assert_eq!(reader.read(&mut [0u8; 1]).unwrap(), 0, "end of file stays");
    });
}

#[test]
fn source_writes_park_while_the_pipe_is_full() {
    // A writer and a reader micro-thread on one worker: the writer fills
    // the pipe and must park (checked before the reader starts) for the
    // reader to run and drain it.
    util::within_limit(|| {
        let rt = one_worker();
        const LEN: usize = 1 << 20;
        let data = util::pattern(3, LEN);
        let expected = data.clone();
        let (read, write) = pipe();
        let (reader, writer) = (Source::new(read).unwrap(), Source::new(write).unwrap());
        let mut reading = None;
        parks_until(
            &rt,
            "room in the full pipe",
            move || {
                let mut writer = writer;
                let (head, tail) = data.split_at(LEN / 2);
                // Vectored, then plain, until all is written.
                let mut slices = [IoSlice::new(&head[..1000]), IoSlice::new(&head[1000..])];
                let mut slices = &mut slices[..];
                while !slices.is_empty() {
                    let n = writer.write_vectored(slices).unwrap();
                    IoSlice::advance_slices(&mut slices, n);
                }
                writer.write_all(tail).unwrap();
                writer.flush().unwrap();
                // Dropping the writer ends the pipe for the reader.
            },
            || {
                reading = Some(util::start(&rt, Ctx::Micro, move || {
                    let mut got = Vec::with_capacity(LEN);
                    (&reader).read_to_end(&mut got).map(|_| got)
                }));
            },
        );
        let got = reading
            .expect("the reader was started")
            .join_within("the reader micro-thread, reading the pipe to its end")
            .expect("read the pipe to its end");
        assert!(got == expected, "the pipe carried every byte, in order");
    });
}

/// The most buffers one `readv`/`writev` takes here (`IOV_MAX`).
fn iov_max() -> usize {
    // SAFETY: sysconf only reads a system setting.
    let max = unsafe { libc::sysconf(libc::_SC_IOV_MAX) };
    usize::try_from(max).unwrap_or_else(|_| panic!("sysconf(_SC_IOV_MAX): {}", io::Error::last_os_error()))
}

#[test]
fn source_vectored_calls_take_at_most_iov_max_buffers_each() {
    // More buffers than one readv/writev takes: passed all at once they
    // would fail with EINVAL. Each call takes the first IOV_MAX, and the
    // caller's loop (write_all, a read loop) carries on with the rest.
    util::within_limit(|| {
        const SLICES: usize = 2000;
        let max = iov_max();
        assert!(max < SLICES, "IOV_MAX is {max}: the test needs more buffers than that");

        // One byte a buffer, on this OS thread: the empty pipe has room for
        // all of them, so what a call moves is what it was given.
        let (read, write) = pipe();
        let (reader, writer) = (Source::new(read).unwrap(), Source::new(write).unwrap());
        let data = util::pattern(5, SLICES);
        let ones: Vec<IoSlice<'_>> = data.chunks(1).map(IoSlice::new).collect();
        let n = (&writer)
            .write_vectored(&ones)
            .expect("writev of more than IOV_MAX buffers");
        assert_eq!(n, max, "one writev writes the first IOV_MAX buffers");
        (&writer).write_all(&data[n..]).unwrap();
        let mut got = vec![0u8; SLICES];
        let mut bufs: Vec<IoSliceMut<'_>> = got.chunks_mut(1).map(IoSliceMut::new).collect();
        let n = (&reader)
            .read_vectored(&mut bufs)
            .expect("readv of more than IOV_MAX buffers");
        assert_eq!(n, max, "one readv fills the first IOV_MAX buffers");
        drop(bufs);
        (&reader).read_exact(&mut got[n..]).unwrap();
        assert!(got == data, "the bytes came through in order");

        // Many calls, in micro-threads on one worker: the writer's loop
        // over 2000 buffers writes far more than the pipe holds, so it
        // parks between short writes until the reader, filling 2000
        // buffers a call, drains the pipe.
        const SLICE: usize = 128;
        let rt = one_worker();
        let data = util::pattern(6, SLICES * SLICE);
        let expected = data.clone();
        let mut reading = None;
        parks_until(
            &rt,
            "room in the pipe for 2000 buffers",
            move || {
                let writer = writer;
                let mut slices: Vec<IoSlice<'_>> = data.chunks(SLICE).map(IoSlice::new).collect();
                let mut slices = &mut slices[..];
                while !slices.is_empty() {
                    let n = (&writer).write_vectored(slices).expect("writev");
                    assert!(n > 0, "a writev with room wrote nothing");
                    IoSlice::advance_slices(&mut slices, n);
                }
            },
            || {
                reading = Some(util::start(&rt, Ctx::Micro, move || {
                    let mut got = vec![0u8; SLICES * SLICE];
                    let mut filled = 0;
                    while filled < got.len() {
                        let mut bufs: Vec<IoSliceMut<'_>> =
                            got[filled..].chunks_mut(SLICE).map(IoSliceMut::new).collect();
                        match (&reader).read_vectored(&mut bufs)? {
                            0 => break,
                            n => filled += n,
                        }
                    }
                    got.truncate(filled);
                    let end = (&reader).read(&mut [0u8; 1])?;
                    io::Result::Ok((got, end))
                }));
            },
        );
        let (got, end) = reading
            .expect("the reader was started")
            .join_within("the reader micro-thread, reading 2000 buffers a call")
            .expect("readv");
        assert!(got == expected, "the pipe carried every byte, in order");
        assert_eq!(end, 0, "then the end of the pipe");
    });
}

//! The listen backlog: `bind` queues as many unaccepted connections as the
//! system allows (std queues 128), `bind_with_backlog` as many as asked, for
//! TCP and Unix listeners; 0 and `u32::MAX` are accepted and clamped by the
//! kernel; listeners made either way accept from micro-threads.
//!
//! The counts are Linux's: a listener with backlog `n` holds `n + 1`
//! connections, and `net.core.somaxconn` caps `n`. The TCP listener's own
//! figures (its queue's length and limit) are read with `TCP_INFO`, so the
//! tests know when the queue is full instead of guessing.
#![cfg(target_os = "linux")]

mod util;

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::os::unix::net::SocketAddr as UnixSocketAddr;
use std::path::Path;
use std::time::Duration;

use dhaga_net::{TcpListener, UnixListener, UnixStream};
use socket2::{Domain, SockAddr, Socket, Type};

use util::{Ctx, PATIENCE, TempDir, accept_queue};

/// How long a connect beyond a full TCP backlog is watched, not to
/// complete. A negative can only be watched for a while: the kernel drops
/// the SYN of such a connect and the client retransmits it (after 1 s, then
/// 2 s...), and since nobody accepts, the queue stays full and every
/// retransmission is dropped too. So the connect can never complete here,
/// and a short window shows it without making the test slow.
const NO_CONNECT_WINDOW: Duration = Duration::from_millis(300);

/// The system's limit on listen backlogs.
fn somaxconn() -> u32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .expect("read /proc/sys/net/core/somaxconn")
        .trim()
        .parse()
        .expect("somaxconn is a number")
}

/// Waits until `listener` holds `n` connections, all the client-side
/// connects of which have completed.
#[track_caller]
fn wait_queued(listener: &TcpListener, n: u32) {
    util::wait_until(&format!("{n} connections in the listener's accept queue"), || {
        accept_queue(listener).0 == n
    });
}

/// `n` connects to `addr`, each of which must complete with nobody
/// accepting.
#[track_caller]
fn tcp_connects(addr: SocketAddr, n: usize, why: &str) -> Vec<StdTcpStream> {
    (0..n)
        .map(|i| {
            StdTcpStream::connect_timeout(&addr, PATIENCE)
                .unwrap_or_else(|e| panic!("connect {} of {n}, nobody accepting ({why}): {e}", i + 1))
        })
        .collect()
}

/// A connect to a listener whose backlog is full: it must not complete
/// within [`NO_CONNECT_WINDOW`].
#[track_caller]
fn assert_tcp_connect_waits(addr: SocketAddr, what: &str) {
    match StdTcpStream::connect_timeout(&addr, NO_CONNECT_WINDOW) {
        Err(e) if e.kind() == ErrorKind::TimedOut => {}
        Ok(_) => panic!("{what}: a connect beyond the backlog completed"),
        Err(e) => panic!("{what}: a connect beyond the backlog failed instead of waiting: {e}"),
    }
}

/// A non-blocking connect to the Unix socket at `addr`: `Ok` when the
/// listener's queue took it, `WouldBlock` when its backlog is full. A Unix
/// connect completes (or not) within the call, so this needs no waiting.
fn unix_connect_now(addr: &SockAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    socket.connect(addr)?;
    Ok(socket)
}

/// `n` connects to the Unix listener at `addr`, each of which must complete
/// with nobody accepting.
#[track_caller]
fn unix_connects(addr: &SockAddr, n: usize, why: &str) -> Vec<Socket> {
    (0..n)
        .map(|i| {
            unix_connect_now(addr).unwrap_or_else(|e| panic!("connect {} of {n}, nobody accepting ({why}): {e}", i + 1))
        })
        .collect()
}

/// A connect to a Unix listener whose backlog is full fails at once with
/// `WouldBlock` (`EAGAIN`).
#[track_caller]
fn assert_unix_connect_refused_for_now(addr: &SockAddr, what: &str) {
    match unix_connect_now(addr) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok(_) => panic!("{what}: a connect beyond the backlog completed"),
        Err(e) => panic!("{what}: a connect beyond the backlog failed with {e}, not WouldBlock"),
    }
}

/// A listener of either kind.
trait Listener: Send + 'static {
    /// Accepts one connection and closes it.
    fn accept_one(&self) -> io::Result<()>;
}

impl Listener for TcpListener {
    fn accept_one(&self) -> io::Result<()> {
        self.accept().map(drop)
    }
}

impl Listener for UnixListener {
    fn accept_one(&self) -> io::Result<()> {
        self.accept().map(drop)
    }
}

/// Accepts `n` connections on a micro-thread (each is queued already, so
/// none waits) and gives the listener back.
fn accept_on_micro_thread<L: Listener>(listener: L, n: usize) -> L {
    let rt = util::runtime(1);
    util::start(&rt, Ctx::Micro, move || {
        for i in 0..n {
            listener
                .accept_one()
                .unwrap_or_else(|e| panic!("accept {} of {n}: {e}", i + 1));
        }
        listener
    })
    .join_within(&format!("a micro-thread to accept {n} queued connections"))
}

#[test]
fn tcp_bind_listens_with_the_system_limit() {
    util::within_limit(|| {
        util::raise_nofile_limit();
        let limit = somaxconn();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        assert_eq!(accept_queue(&listener), (0, limit), "bind's backlog is somaxconn");
        // A thousand connects complete without one accept; std's 128 would
        // leave all but 129 waiting for SYN retransmissions.
        let n = 1000.min(limit as usize + 1);
        let addr = listener.local_addr().unwrap();
        let clients = tcp_connects(addr, n, "bind listens with somaxconn");
        wait_queued(&listener, n as u32);
        let listener = accept_on_micro_thread(listener, n);
        assert_eq!(accept_queue(&listener).0, 0);
        drop(clients);
    });
}

#[test]
fn tcp_bind_with_backlog_queues_that_many_connections() {
    const BACKLOG: u32 = 4;
    util::within_limit(|| {
        let listener = TcpListener::bind_with_backlog("127.0.0.1:0", BACKLOG).unwrap();
        assert_eq!(accept_queue(&listener), (0, BACKLOG));
        let addr = listener.local_addr().unwrap();
        let mut clients = tcp_connects(addr, BACKLOG as usize + 1, "the backlog holds them");
        wait_queued(&listener, BACKLOG + 1);
        assert_tcp_connect_waits(addr, "backlog 4, 5 connections queued");
        // Once one is accepted, there is room for one more.
        let listener = accept_on_micro_thread(listener, 1);
        clients.extend(tcp_connects(addr, 1, "an accept made room"));
        wait_queued(&listener, BACKLOG + 1);
        assert_tcp_connect_waits(addr, "backlog 4, full again");
        accept_on_micro_thread(listener, BACKLOG as usize + 1);
    });
}

#[test]
fn tcp_backlogs_of_zero_and_u32_max_are_clamped_by_the_kernel() {
    util::within_limit(|| {
        let zero = TcpListener::bind_with_backlog("127.0.0.1:0", 0).unwrap();
        assert_eq!(accept_queue(&zero), (0, 0));
        let addr = zero.local_addr().unwrap();
        let _client = tcp_connects(addr, 1, "backlog 0 holds one connection");
        wait_queued(&zero, 1);
        assert_tcp_connect_waits(addr, "backlog 0, 1 connection queued");
        accept_on_micro_thread(zero, 1);

        let max = TcpListener::bind_with_backlog("127.0.0.1:0", u32::MAX).unwrap();
        assert_eq!(accept_queue(&max), (0, somaxconn()), "u32::MAX is capped at somaxconn");
        let _client = tcp_connects(max.local_addr().unwrap(), 1, "backlog u32::MAX");
        accept_on_micro_thread(max, 1);
    });
}

#[test]
fn tcp_bind_with_backlog_tries_each_address() {
    util::within_limit(|| {
        // The first address is another listener's: its bind fails, and the
        // next address binds.
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let addrs: [SocketAddr; 2] = [taken.local_addr().unwrap(), "127.0.0.1:0".parse().unwrap()];
        let listener = TcpListener::bind_with_backlog(&addrs[..], 2).unwrap();
        assert_ne!(listener.local_addr().unwrap(), addrs[0]);
        assert_eq!(accept_queue(&listener), (0, 2));
        let e = TcpListener::bind_with_backlog(&addrs[..1], 2).expect_err("a port with a listener");
        assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e}");
        // std's SO_REUSEADDR: the port of a listener with a connection in
        // TIME_WAIT binds again.
        let addr = listener.local_addr().unwrap();
        let client = StdTcpStream::connect_timeout(&addr, PATIENCE).expect("connect");
        let (server, _) = listener.accept().unwrap();
        drop(server); // the server closes first: its side goes to TIME_WAIT
        drop(client);
        drop(listener);
        TcpListener::bind_with_backlog(addr, 2).expect("rebind a port in TIME_WAIT");
    });
}

#[test]
fn unix_bind_listens_with_the_system_limit() {
    util::within_limit(|| {
        util::raise_nofile_limit();
        let dir = TempDir::new("backlog");
        let path = dir.join("default.sock");
        let listener = UnixListener::bind(&path).unwrap();
        // With the system's limit, a thousand connects complete without
        // one accept (with 128, the 130th would fail with WouldBlock).
        let n = 1000.min(somaxconn() as usize + 1);
        let addr = SockAddr::unix(&path).unwrap();
        let clients = unix_connects(&addr, n, "bind listens with somaxconn");
        accept_on_micro_thread(listener, n);
        drop(clients);
    });
}

#[test]
fn unix_bind_with_backlog_queues_that_many_connections() {
    const BACKLOG: u32 = 4;
    util::within_limit(|| {
        let dir = TempDir::new("backlog");
        let path = dir.join("four.sock");
        let listener = UnixListener::bind_with_backlog(&path, BACKLOG).unwrap();
        let addr = SockAddr::unix(&path).unwrap();
        let mut clients = unix_connects(&addr, BACKLOG as usize + 1, "the backlog holds them");
        assert_unix_connect_refused_for_now(&addr, "backlog 4, 5 connections queued");
        // Once one is accepted, there is room for one more.
        let listener = accept_on_micro_thread(listener, 1);
        clients.extend(unix_connects(&addr, 1, "an accept made room"));
        assert_unix_connect_refused_for_now(&addr, "backlog 4, full again");
        // dhaga's blocking connect, started against the full queue,
        // completes once the queued connections are accepted.
        let rt = util::runtime(1);
        let waiting = {
            let path = path.clone();
            util::start(&rt, Ctx::Micro, move || UnixStream::connect(path))
        };
        let listener = accept_on_micro_thread(listener, BACKLOG as usize + 1);
        waiting
            .join_within("a connect to a full backlog, once accepts made room")
            .expect("connect");
        drop(listener);
    });
}

#[test]
fn unix_backlogs_of_zero_and_u32_max_are_clamped_by_the_kernel() {
    util::within_limit(|| {
        util::raise_nofile_limit();
        let dir = TempDir::new("backlog");
        let path = dir.join("zero.sock");
        let zero = UnixListener::bind_with_backlog(&path, 0).unwrap();
        let addr = SockAddr::unix(&path).unwrap();
        let _client = unix_connects(&addr, 1, "backlog 0 holds one connection");
        assert_unix_connect_refused_for_now(&addr, "backlog 0, 1 connection queued");
        accept_on_micro_thread(zero, 1);

        let path = dir.join("max.sock");
        let max = UnixListener::bind_with_backlog(&path, u32::MAX).unwrap();
        let n = 1000.min(somaxconn() as usize + 1);
        let clients = unix_connects(&SockAddr::unix(&path).unwrap(), n, "backlog u32::MAX");
        accept_on_micro_thread(max, n);
        drop(clients);
    });
}

#[test]
fn unix_bind_addr_with_backlog_binds_paths_and_abstract_names() {
    use std::os::linux::net::SocketAddrExt;
    util::within_limit(|| {
        let dir = TempDir::new("backlog");
        let path = dir.join("addr.sock");
        let by_path = UnixSocketAddr::from_pathname(&path).unwrap();
        let name = format!("dhaga-backlog-test-{}", std::process::id());
        let by_name = UnixSocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        for (addr, raw) in [
            (by_path, SockAddr::unix(&path).unwrap()),
            (by_name, SockAddr::unix(format!("\0{name}")).unwrap()),
        ] {
            let listener = UnixListener::bind_addr_with_backlog(&addr, 1).unwrap();
            let bound = listener.local_addr().unwrap();
            assert_eq!(bound.as_pathname(), addr.as_pathname());
            assert_eq!(bound.as_abstract_name(), addr.as_abstract_name());
            let _clients = unix_connects(&raw, 2, "backlog 1 holds two");
            assert_unix_connect_refused_for_now(&raw, "backlog 1, 2 connections queued");
            let listener = accept_on_micro_thread(listener, 2);
            drop(listener);
            // bind_addr, with the system's limit, binds the same address
            // (once the socket file is gone; an abstract name goes with
            // its socket).
            let _ = std::fs::remove_file(&path);
            let again = UnixListener::bind_addr(&addr).expect("bind_addr");
            let client = UnixStream::connect_addr(&addr).expect("connect_addr");
            drop((client, again));
        }
    });
}

#[test]
fn unix_bind_refuses_what_std_refuses() {
    util::within_limit(|| {
        let dir = TempDir::new("backlog");
        let path = dir.join("taken.sock");
        let _first = UnixListener::bind_with_backlog(&path, 4).unwrap();
        let e = UnixListener::bind_with_backlog(&path, 4).expect_err("a taken path");
        assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e}");
        let e = UnixListener::bind(Path::new("nul\0inside")).expect_err("a path with a zero byte");
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        let long = dir.join(&"x".repeat(200));
        let e = UnixListener::bind(&long).expect_err("a path too long");
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    });
}

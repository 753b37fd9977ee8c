//! Helpers shared by dhaga-mq's integration tests.
#![allow(dead_code, unused_imports, reason = "each test file uses a part")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use dhaga_mq::{Interest, Msg, PollItem, Socket, SocketType, poll};

pub(crate) use dhaga_testutil::{JoinWithin, PATIENCE, RecvWithin, Task, wait_until, within_limit};

/// The transports every behaviour is checked over.
pub(crate) const TRANSPORTS: [&str; 3] = ["tcp", "ipc", "inproc"];

/// A fresh endpoint of `transport` to bind: a system-picked TCP port on
/// loopback, a new socket file, a new inproc name.
pub(crate) fn endpoint(transport: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    match transport {
        "tcp" => "tcp://127.0.0.1:*".to_owned(),
        "ipc" => format!("ipc://{}/dhaga-mq-test-{pid}-{n}.sock", std::env::temp_dir().display()),
        "inproc" => format!("inproc://test-{pid}-{n}"),
        other => panic!("unknown transport {other}"),
    }
}

/// An endpoint nobody listens on: a port that was free a moment ago.
pub(crate) fn unreachable_tcp() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("tcp://{}", listener.local_addr().unwrap())
}

/// A socket with receive and send timeouts, so a bug fails a test instead
/// of hanging it.
pub(crate) fn socket(socket_type: SocketType) -> Socket {
    with_timeouts(Socket::new(socket_type))
}

/// `socket` with receive and send timeouts of [`PATIENCE`] (for sockets of
/// a context of their own).
pub(crate) fn with_timeouts(socket: Socket) -> Socket {
    socket.set_recv_timeout(Some(PATIENCE));
    socket.set_send_timeout(Some(PATIENCE));
    socket
}

/// A socket's blocking calls with a deadline that names what they wait
/// for: `rep.recv_within("request 3")` fails the test with "receiving
/// request 3 (receive timeout 30s): timed out" instead of a bare
/// `TimedOut`.
///
/// The deadline is the socket's own timeout ([`socket`] sets both to
/// [`PATIENCE`]); a socket without one is refused, as its wait would be
/// bounded by the hang guard alone.
pub(crate) trait SocketWithin {
    /// Receives a message; fails the test, naming `what`, if none comes
    /// within the receive timeout or the receive fails.
    #[track_caller]
    fn recv_within(&self, what: &str) -> Msg;

    /// Sends a message; fails the test, naming `what`, if there is no room
    /// within the send timeout or the send fails.
    #[track_caller]
    fn send_within(&self, msg: impl Into<Msg>, what: &str);
}

impl SocketWithin for Socket {
    #[track_caller]
    fn recv_within(&self, what: &str) -> Msg {
        let Some(timeout) = self.recv_timeout() else {
            panic!("receiving {what} on a socket without a receive timeout: nothing bounds the wait");
        };
        self.recv()
            .unwrap_or_else(|e| panic!("receiving {what} (receive timeout {timeout:?}): {e}"))
    }

    #[track_caller]
    fn send_within(&self, msg: impl Into<Msg>, what: &str) {
        let Some(timeout) = self.send_timeout() else {
            panic!("sending {what} on a socket without a send timeout: nothing bounds the wait");
        };
        if let Err(e) = self.send(msg) {
            panic!("sending {what} (send timeout {timeout:?}): {e}");
        }
    }
}

/// Binds a new socket on a fresh endpoint of `transport`; returns it and
/// the endpoint to connect to.
pub(crate) fn bound(socket_type: SocketType, transport: &str) -> (Socket, String) {
    let socket = socket(socket_type);
    socket.bind(endpoint(transport)).unwrap();
    let endpoint = socket.last_endpoint().unwrap();
    (socket, endpoint)
}

/// A new socket connected to `endpoint`.
pub(crate) fn connected(socket_type: SocketType, endpoint: &str) -> Socket {
    let socket = socket(socket_type);
    socket.connect(endpoint).unwrap();
    socket
}

/// A message's frames as strings.
pub(crate) fn text(msg: &Msg) -> Vec<String> {
    msg.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect()
}

/// Whether `socket` is ready for `interest` right now (a poll that does not
/// wait).
pub(crate) fn is_ready(socket: &Socket, interest: Interest) -> bool {
    let mut items = [PollItem::new(socket, interest)];
    poll(&mut items, Some(Duration::ZERO)).unwrap() == 1
}

/// Polls `socket` until it is ready for `interest`; fails the test, naming
/// `what`, if it is not within [`PATIENCE`].
#[track_caller]
pub(crate) fn wait_ready(socket: &Socket, interest: Interest, what: &str) {
    let mut items = [PollItem::new(socket, interest)];
    if poll(&mut items, Some(PATIENCE)).unwrap() == 0 {
        panic!("waited {PATIENCE:?} for {what}: the socket never became ready for {interest:?}");
    }
}

/// A frame of `body` that sets `freed` when its last reference goes, so a
/// test sees when a socket (or a connection) lets go of a message.
pub(crate) fn tracked(freed: &Arc<AtomicBool>, body: &'static [u8]) -> Bytes {
    struct Tracked {
        freed: Arc<AtomicBool>,
        body: &'static [u8],
    }
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.freed.store(true, Ordering::Release);
        }
    }
    impl AsRef<[u8]> for Tracked {
        fn as_ref(&self) -> &[u8] {
            self.body
        }
    }
    Bytes::from_owner(Tracked {
        freed: Arc::clone(freed),
        body,
    })
}

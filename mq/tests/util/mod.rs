//! Helpers shared by dhaga-mq's integration tests.
#![allow(dead_code, unused_imports, reason = "each test file uses a part")]

use std::sync::atomic::{AtomicUsize, Ordering};

use dhaga_mq::{Msg, Socket, SocketType};

pub(crate) use dhaga_testutil::{JoinWithin, PATIENCE, RecvWithin, wait_until, within_limit};

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

/// A socket with receive and send timeouts, so a bug fails a test instead
/// of hanging it.
pub(crate) fn socket(socket_type: SocketType) -> Socket {
    let socket = Socket::new(socket_type);
    socket.set_recv_timeout(Some(PATIENCE));
    socket.set_send_timeout(Some(PATIENCE));
    socket
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

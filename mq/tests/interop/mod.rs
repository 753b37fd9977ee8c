//! What the interop tests (`interop_libzmq.rs`, `interop_pyzmq.rs`)
//! share: the messages every exchange carries (the Python peers in
//! `tests/peers/common.py` build the same ones), how a failing comparison
//! is shown, dhaga sockets that time out instead of hanging, and a scratch
//! directory for `ipc://` paths.

#![allow(dead_code, reason = "each interop test file uses a part")]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use dhaga_mq::{Msg, Socket, SocketType};

pub(crate) use dhaga_testutil::within_limit;

/// How long any send or receive of an interop test may wait: a peer that
/// does not answer fails the test instead of hanging it.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

/// The largest frame the exchanges carry: 1 MiB, far past the short/long
/// frame boundary and past one 64 KiB read.
pub(crate) const BIG: usize = 1 << 20;

/// A frame of `len` bytes that starts at `seed` and counts modulo 251 (a
/// prime, so a frame shifted by a power of two does not compare equal).
///
/// `common.py`'s `frame(length, seed)` builds the same bytes.
pub(crate) fn frame(len: usize, seed: u8) -> Bytes {
    (0..len).map(|i| ((i + usize::from(seed)) % 251) as u8).collect()
}

/// The messages every pattern exchange sends, in order: a one-frame
/// message, one empty frame, frames of 255 and 256 bytes (the largest short
/// frame and the smallest long one, ZMTP 3.1 §"Framing"), a 1 MiB frame,
/// and a multipart message mixing all of them with empty frames.
///
/// `common.py`'s `payloads()` builds the same list.
pub(crate) fn payloads() -> Vec<Vec<Bytes>> {
    vec![
        vec![Bytes::from_static(b"hello")],
        vec![Bytes::new()],
        vec![frame(255, 1)],
        vec![frame(256, 2)],
        vec![frame(BIG, 3)],
        vec![
            Bytes::from_static(b"multi"),
            Bytes::new(),
            frame(255, 4),
            frame(256, 5),
            Bytes::new(),
            frame(BIG, 6),
            Bytes::from_static(b"end"),
        ],
    ]
}

/// The answer to `request` in the request/reply exchanges: a marker
/// frame, then the request's frames, so both directions carry every
/// payload (`common.py`'s `reply_to`).
pub(crate) fn reply_to(request: &[Bytes]) -> Vec<Bytes> {
    let mut reply = vec![Bytes::from_static(b"re:")];
    reply.extend(request.iter().cloned());
    reply
}

/// Frames as a short description: each frame's length and first bytes
/// (a 1 MiB frame in a panic message would drown it).
pub(crate) fn show<F: AsRef<[u8]>>(frames: &[F]) -> String {
    let mut text = String::from("[");
    for (i, frame) in frames.iter().enumerate() {
        let frame = frame.as_ref();
        if i > 0 {
            text.push_str(", ");
        }
        let head = &frame[..frame.len().min(12)];
        match std::str::from_utf8(head) {
            Ok(s) if s.chars().all(|c| !c.is_control()) => write!(text, "{}B {s:?}", frame.len()),
            _ => write!(text, "{}B {head:02x?}", frame.len()),
        }
        .expect("writing to a String");
        if frame.len() > head.len() {
            text.push('…');
        }
    }
    text.push(']');
    text
}

/// Asserts that two messages have the same frames, showing both briefly
/// when they do not.
#[track_caller]
pub(crate) fn assert_frames<A: AsRef<[u8]>, B: AsRef<[u8]>>(got: &[A], want: &[B], what: &str) {
    let same = got.len() == want.len() && got.iter().zip(want).all(|(g, w)| g.as_ref() == w.as_ref());
    assert!(same, "{what}:\n  got  {}\n  want {}", show(got), show(want));
}

/// A message made of `frames`.
pub(crate) fn msg(frames: &[Bytes]) -> Msg {
    frames.iter().cloned().collect()
}

/// A dhaga socket whose sends and receives give up after [`TIMEOUT`].
pub(crate) fn dhaga_socket(socket_type: SocketType) -> Socket {
    let socket = Socket::new(socket_type);
    socket.set_recv_timeout(Some(TIMEOUT));
    socket.set_send_timeout(Some(TIMEOUT));
    socket
}

/// Receives on a dhaga socket, failing the test (with `what` in the
/// message) on a timeout or an error.
#[track_caller]
pub(crate) fn dhaga_recv(socket: &Socket, what: &str) -> Msg {
    socket
        .recv()
        .unwrap_or_else(|e| panic!("{what}: dhaga {} recv: {e}", socket.socket_type()))
}

/// Sends on a dhaga socket, failing the test on a timeout or an error.
#[track_caller]
pub(crate) fn dhaga_send(socket: &Socket, msg: Msg, what: &str) {
    if let Err(e) = socket.send(msg) {
        panic!("{what}: dhaga {} send: {e}", socket.socket_type());
    }
}

/// The transports the interop tests cross.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// `tcp://127.0.0.1`.
    Tcp,
    /// `ipc://` with a path in a [`Scratch`] directory.
    Ipc,
}

/// A directory for `ipc://` socket files, removed when dropped.
pub(crate) struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    /// A fresh directory named after the test (`tag`) and this process.
    pub(crate) fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("dhaga-interop-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        Scratch { dir }
    }

    /// An endpoint to bind on `transport`: `tcp://127.0.0.1:*` (the system
    /// picks the port; read it back from the bound socket), or an `ipc://`
    /// path in this directory named `name`.
    pub(crate) fn bind_endpoint(&self, transport: Transport, name: &str) -> String {
        match transport {
            Transport::Tcp => "tcp://127.0.0.1:*".to_owned(),
            Transport::Ipc => format!("ipc://{}", self.dir.join(name).display()),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// [`TIMEOUT`] in libzmq's unit.
pub(crate) const TIMEOUT_MS: i32 = TIMEOUT.as_millis() as i32;

/// Which side binds; the other connects.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Binder {
    Dhaga,
    Libzmq,
}

/// Every transport with every binding side.
pub(crate) const CASES: [(Transport, Binder); 4] = [
    (Transport::Tcp, Binder::Dhaga),
    (Transport::Tcp, Binder::Libzmq),
    (Transport::Ipc, Binder::Dhaga),
    (Transport::Ipc, Binder::Libzmq),
];

/// Binds one of `dhaga` and `libzmq` to `endpoint`, as `binder` says, and
/// connects the other to it (at the port the system picked); failures name
/// `what`.
pub(crate) fn join(dhaga: &Socket, libzmq: &zmq::Socket, binder: Binder, endpoint: &str, what: &str) {
    match binder {
        Binder::Dhaga => {
            dhaga
                .bind(endpoint)
                .unwrap_or_else(|e| panic!("{what}: dhaga bind: {e}"));
            let bound = dhaga.last_endpoint().expect("bound endpoint");
            libzmq
                .connect(&bound)
                .unwrap_or_else(|e| panic!("{what}: libzmq connect {bound}: {e}"));
        }
        Binder::Libzmq => {
            libzmq
                .bind(endpoint)
                .unwrap_or_else(|e| panic!("{what}: libzmq bind: {e}"));
            let bound = libzmq.get_last_endpoint().expect("ZMQ_LAST_ENDPOINT").expect("utf-8");
            dhaga
                .connect(&bound)
                .unwrap_or_else(|e| panic!("{what}: dhaga connect {bound}: {e}"));
        }
    }
}

/// A libzmq socket whose sends and receives give up after [`TIMEOUT`], and
/// whose close drops what is unsent (the tests close only after the other
/// side confirmed what it needed).
pub(crate) fn libzmq_socket(ctx: &zmq::Context, kind: zmq::SocketType) -> zmq::Socket {
    let socket = ctx.socket(kind).expect("libzmq socket");
    socket.set_rcvtimeo(TIMEOUT_MS).expect("ZMQ_RCVTIMEO");
    socket.set_sndtimeo(TIMEOUT_MS).expect("ZMQ_SNDTIMEO");
    socket.set_linger(0).expect("ZMQ_LINGER");
    socket
}

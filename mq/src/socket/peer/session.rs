//! What every connection of a socket shares, whatever it speaks (ZMTP,
//! or a STREAM's raw bytes): where it came from, how its peer is attached
//! to one of the socket's pipes and detached at the end, and how its
//! micro-threads start and take turns with the others of their worker.
//! (libzmq's session ties an engine to its pipe the same way.)

use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use dhaga_runtime::JoinHandle;

use crate::endpoint::Endpoint;
use crate::options::TcpOptions;
use crate::socket::core::{Core, ListenerId};
use crate::socket::pipe::{Outbox, PipeId};
use crate::transport::{self, Stream};
use crate::zmtp::Mechanism;

/// The message property only this side sets with the peer's address
/// (beside the user id its ZAP handler gave it: `zmtp.rs`).
pub(super) const PEER_ADDRESS: &str = "Peer-Address";

/// How much one `read` asks for at first, and at most: a connection whose
/// reads fill the buffer doubles it, so a quiet peer costs little memory
/// and a busy one is read in large chunks. (A ZMTP reader also makes room
/// for the rest of a large frame, up to `MAX_READ` more: see
/// `reader::make_room`.)
pub(super) const FIRST_READ: usize = 4 * 1024;
pub(super) const MAX_READ: usize = 64 * 1024;

/// Buffers per `writev`, well under every platform's `IOV_MAX` (1024 on
/// Linux).
pub(super) const MAX_IOVECS: usize = 512;

/// How much a connection's reader or writer does before it lets the other
/// micro-threads of its worker run: frames and commands decoded, reads,
/// batches written. A peer that sends without pause (a flood of PINGs)
/// never makes a read wait, so without this its reader would keep the
/// worker, and every other connection on it, for as long as it sends.
pub(super) const TURN: u32 = 128;

/// Counts work towards a [`TURN`] and yields the worker at each one.
#[derive(Default)]
pub(super) struct Turn(u32);

impl Turn {
    pub(super) fn did(&mut self, work: u32) {
        self.0 += work;
        if self.0 >= TURN {
            self.0 = 0;
            dhaga_runtime::yield_now();
        }
    }
}

/// Why a connection ended.
pub(super) enum End {
    /// The socket closed (or the pipe went away): do not reconnect.
    Closed,
    /// The peer went away or broke the protocol: reconnect if we connected.
    Lost(String),
    /// The handshake failed: as `Lost`, unless `ZMQ_RECONNECT_STOP` says
    /// to give up then.
    HandshakeFailed(String),
}

/// Where a connection comes from.
pub(super) enum Origin {
    /// A `connect`, whose pipe it serves.
    Connected(PipeId),
    /// An accept of this listener.
    Accepted(Arc<AcceptStop>),
}

/// How an accept loop is told to stop.
pub(crate) struct AcceptStop {
    /// Names the listener in the pipes of the connections it accepted.
    pub(crate) id: ListenerId,
    /// Set by whoever stops the loop; checked after every accept.
    stop: AtomicBool,
    /// Whether the loop runs in a micro-thread (cancel wakes it) or on an
    /// OS thread of a thread-mode runtime (a connection must wake it).
    in_micro_thread: AtomicBool,
}

impl AcceptStop {
    pub(crate) fn new() -> AcceptStop {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        AcceptStop {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            stop: AtomicBool::new(false),
            in_micro_thread: AtomicBool::new(false),
        }
    }

    /// The accept loop starts on the calling micro-thread or thread:
    /// records which, for [`stop`](AcceptStop::stop).
    pub(super) fn loop_starts_here(&self) {
        self.in_micro_thread
            .store(dhaga_runtime::in_micro_thread(), Ordering::Release);
    }

    /// Whether the loop was told to stop (its endpoint unbound, or the
    /// socket closed).
    pub(crate) fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Stops the loop behind `acceptor`, accepting on `endpoint`, and waits
    /// for it to end.
    pub(crate) fn stop(&self, acceptor: JoinHandle<()>, endpoint: &Endpoint) {
        self.stop.store(true, Ordering::Release);
        if self.in_micro_thread.load(Ordering::Acquire) {
            acceptor.cancel();
        } else if !acceptor.is_finished() {
            // An OS thread blocked in `accept` cannot be cancelled; a
            // connection wakes it, and it sees the flag.
            let _ = transport::connect(&endpoint.reachable(), &TcpOptions::default());
        }
        let _ = acceptor.join();
    }
}

/// The stack of a connection's micro-threads (its reader and its writer):
/// the runtime's default, or with CURVE [`CURVE_STACK`].
pub(crate) fn connection_stack(mechanism: Mechanism) -> Option<usize> {
    (mechanism == Mechanism::Curve).then_some(CURVE_STACK)
}

/// The stack of a CURVE connection's micro-threads. X25519 and
/// XSalsa20-Poly1305 need under 8 KiB optimised but up to 64 KiB in a debug
/// build, beyond a 64 KiB stack with the connection's own frames; only the
/// pages a stack touches take memory.
const CURVE_STACK: usize = 256 * 1024;

/// Spawns `f` on the caller's worker (see `dhaga_runtime::Builder::colocate`),
/// on a stack of `stack` bytes (`None`: the runtime's default).
pub(crate) fn spawn_colocated<T: Send + 'static>(
    stack: Option<usize>,
    f: impl FnOnce() -> T + Send + 'static,
) -> JoinHandle<T> {
    let builder = dhaga_runtime::Builder::new().colocate();
    let builder = match stack {
        Some(bytes) => builder.stack_size(bytes),
        None => builder,
    };
    builder
        .spawn(f)
        .unwrap_or_else(|e| panic!("dhaga-mq: cannot start a connection's micro-thread: {e}"))
}

/// A connection whose peer the socket took (see [`attach`]): what its
/// reader, its writer and its end need. [`finish`](Attached::finish)
/// detaches it.
pub(super) struct Attached<'a> {
    pub(super) core: &'a Arc<Core>,
    pub(super) stream: &'a Arc<Stream>,
    /// The peer's pipe in the socket.
    pub(super) pipe: PipeId,
    /// What the socket queues for the peer, for the writer.
    pub(super) outbox: Arc<Outbox>,
}

/// Attaches the peer that came with `identity` on `stream` to the socket,
/// through the pipe of the `connect` it came `origin`ally from, or a new
/// pipe (an accepted connection); or says how the connection ends
/// (refused).
pub(super) fn attach<'a>(
    core: &'a Arc<Core>,
    stream: &'a Arc<Stream>,
    origin: Origin,
    identity: Option<Bytes>,
) -> Result<Attached<'a>, End> {
    let (pipe, outbox) = match &origin {
        Origin::Connected(pipe) => match core.outbox(*pipe) {
            Some(outbox) => (*pipe, outbox),
            None => return Err(End::Closed),
        },
        Origin::Accepted(listener) => {
            let (pipe, outbox) = core.add_pipe(false);
            if !core.set_listener(pipe, listener.id, || listener.is_stopped()) {
                core.remove_pipe(pipe);
                return Err(End::Closed);
            }
            (pipe, outbox)
        }
    };
    if let Err(reason) = core.attach(pipe, identity, Some(Arc::clone(stream))) {
        core.remove_pipe_if_transient(pipe);
        // Closed, or unbound meanwhile: this socket's doing.
        if core.is_closed() || matches!(&origin, Origin::Accepted(listener) if listener.is_stopped()) {
            return Err(End::Closed);
        }
        return Err(End::Lost(format!("refused: {reason}")));
    }
    Ok(Attached {
        core,
        stream,
        pipe,
        outbox,
    })
}

impl Attached<'_> {
    /// Ends the connection, whose reader ended with `end`: stops its
    /// `writer` and detaches the pipe. If the peer is lost (not by this
    /// socket's doing), queues a departure notice first with
    /// `notify_departure`.
    pub(super) fn finish(self, writer: JoinHandle<()>, end: End, notify_departure: bool) -> End {
        let Attached {
            core,
            stream,
            pipe,
            outbox,
        } = self;
        // On a closed socket the reader saw the peer close (after the writer
        // sent everything and half-closed), or the linger deadline cut the
        // connection off: the writer, done or waiting for that deadline, is
        // told to stop. Otherwise the connection is over and so is the
        // writing, including a `write` the writer may be stuck in (a peer that
        // stopped reading).
        outbox.stop_writer();
        if !core.is_closed() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let _ = writer.join();
        let _ = stream.shutdown(Shutdown::Both);
        // Closed by this socket (closing, or `disconnect` removing the pipe),
        // not lost: nothing to report, nobody to reconnect.
        let ours = core.is_closed() || !core.wants_connection(pipe);
        if !ours && notify_departure && matches!(end, End::Lost(_)) {
            core.push_departure(pipe);
        }
        core.detach(pipe);
        if ours { End::Closed } else { end }
    }
}

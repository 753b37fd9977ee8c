//! One connection to a peer, served the way dhaga serves everything: by
//! micro-threads running sequential code.
//!
//! The connection's micro-thread performs the ZMTP handshake, attaches the
//! peer to the socket, starts a writer micro-thread and then reads: each
//! `read` takes whatever bytes have arrived (up to 64 KiB, or the rest of a
//! large frame) straight into the input buffer, and the decoder turns them
//! into as many frames as they hold, each a view of that buffer. The writer
//! takes everything the socket queued for this peer at once and sends it in
//! one `write`.
//!
//! A peer that breaks the protocol, stalls its handshake or disconnects is
//! dropped (the reason is logged at `info`); nothing else is affected.
//! Where the socket connected, the connector then reconnects after the
//! reconnect interval, doubling it up to the maximum. With heartbeats on,
//! the writer also sends PINGs and the reader hangs up on a peer silent
//! since one (see `heartbeat.rs`).
//!
//! Each step a monitor can see (connected, accepted, handshake, lost) is
//! reported to the socket's [`Monitor`](crate::monitor::Monitor) where it
//! happens; with no monitor that costs one load.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use dhaga_runtime::JoinHandle;

use super::heartbeat::{Liveness, Pinger, ttl_from_wire};
use super::raw;
use super::zap::{self, ZapFailure};
use crate::endpoint::Endpoint;
use crate::monitor::{HandshakeFailure, MonitorEvent};
use crate::options::{ReconnectStop, RouterNotify, TcpOptions};
use crate::socket::core::{Core, Delivered, ListenerId};
use crate::socket::pattern::subscription_msg;
use crate::socket::pipe::{Batch, Next, Outbox, PipeId, Take};
use crate::transport::{self, Listener, Stream};
use crate::wait::{Why, reason};
use crate::zmtp::{
    Command, Decoder, Handshake, Item, MAX_HEADER_LEN, Mechanism, Metadata, ProtocolError, Sealer, encode_command,
    encode_frame, encode_frame_header,
};
use crate::{Msg, SocketType};

/// The message properties only this side sets: the peer's address, and
/// the user id its ZAP handler gave it.
pub(super) const PEER_ADDRESS: &str = "Peer-Address";
const USER_ID: &str = "User-Id";

/// How much one `read` asks for at first, and at most: a connection whose
/// reads fill the buffer doubles it, so a quiet peer costs little memory
/// and a busy one is read in large chunks. (A ZMTP reader also makes room
/// for the rest of a large frame, up to `MAX_READ` more: see [`make_room`].)
pub(super) const FIRST_READ: usize = 4 * 1024;
pub(super) const MAX_READ: usize = 64 * 1024;

/// Frames at least this big are written from their own buffer instead of
/// being copied into the batch.
const LARGE_FRAME: usize = 32 * 1024;

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
pub(crate) enum Origin {
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

/// Accepts connections on `listener` until stopped.
pub(crate) fn accept_loop(core: Arc<Core>, listener: Listener, endpoint: Endpoint, stop: Arc<AcceptStop>) {
    stop.in_micro_thread
        .store(dhaga_runtime::in_micro_thread(), Ordering::Release);
    while !stop.stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok(_) if stop.stop.load(Ordering::Acquire) => return,
            Ok(stream) => {
                let peer = stream.peer_socket_addr();
                core.monitor.emit(|| MonitorEvent::Accepted {
                    endpoint: endpoint.clone(),
                    peer,
                });
                let core = Arc::clone(&core);
                let endpoint = endpoint.clone();
                let origin = Origin::Accepted(Arc::clone(&stop));
                let service = core.service();
                let stack = connection_stack(core.options().mechanism);
                spawn_colocated(stack, move || {
                    let _service = service.started();
                    if let End::Lost(reason) | End::HandshakeFailed(reason) =
                        serve(&core, Arc::new(stream), origin, &endpoint)
                    {
                        log::info!("{endpoint}: connection dropped: {reason}");
                        core.monitor.emit(|| MonitorEvent::Disconnected { endpoint, peer });
                    }
                });
            }
            // `accept` backs off by itself on descriptor exhaustion; anything
            // else is the peer's (a reset before accept).
            Err(e) => {
                log::debug!("{endpoint}: accept failed: {e}");
                core.monitor.emit(|| MonitorEvent::AcceptFailed {
                    endpoint: endpoint.clone(),
                    error: e,
                });
            }
        }
    }
}

/// Connects `pipe` to `endpoint`, and again whenever the connection ends,
/// until the socket closes or the pipe is disconnected.
pub(crate) fn connect_loop(core: Arc<Core>, endpoint: Endpoint, pipe: PipeId) {
    let mut backoff = core.options().reconnect_ivl;
    loop {
        if !core.wants_connection(pipe) {
            return;
        }
        let tcp = core.options().tcp.clone();
        match transport::connect(&endpoint, &tcp) {
            Ok(stream) => {
                let peer = stream.peer_socket_addr();
                core.monitor.emit(|| MonitorEvent::Connected {
                    endpoint: endpoint.clone(),
                    peer,
                });
                backoff = core.options().reconnect_ivl;
                let end = serve(&core, Arc::new(stream), Origin::Connected(pipe), &endpoint);
                let (reason, stop_flag) = match end {
                    End::Closed => return,
                    End::Lost(reason) => (reason, ReconnectStop::AFTER_DISCONNECT),
                    End::HandshakeFailed(reason) => (reason, ReconnectStop::HANDSHAKE_FAILED),
                };
                core.monitor.emit(|| MonitorEvent::Disconnected {
                    endpoint: endpoint.clone(),
                    peer,
                });
                if core.options().reconnect_stop.contains(stop_flag) {
                    log::info!("{endpoint}: connection lost: {reason}; not reconnecting (reconnect_stop)");
                    core.remove_pipe(pipe);
                    return;
                }
                log::info!("{endpoint}: connection lost: {reason}; reconnecting");
            }
            Err(e)
                if e.kind() == io::ErrorKind::ConnectionRefused
                    && core.options().reconnect_stop.contains(ReconnectStop::CONN_REFUSED) =>
            {
                log::info!("{endpoint}: connect refused; not retrying (reconnect_stop)");
                core.monitor.emit(|| MonitorEvent::ConnectDelayed {
                    endpoint: endpoint.clone(),
                    error: e,
                });
                core.remove_pipe(pipe);
                return;
            }
            Err(e) => {
                log::debug!("{endpoint}: connect failed: {e}; retrying in {backoff:?}");
                core.monitor.emit(|| MonitorEvent::ConnectDelayed {
                    endpoint: endpoint.clone(),
                    error: e,
                });
            }
        }
        let deadline = Instant::now().checked_add(backoff);
        // Sleeps the interval, or less if the pipe stops being wanted.
        // (A socket that closed with messages to deliver keeps its pace.)
        let wanted = core.wants_connection(pipe);
        if wanted {
            core.counters.reconnects.add(1);
            core.monitor.emit(|| MonitorEvent::ConnectRetried {
                endpoint: endpoint.clone(),
                interval: backoff,
            });
        }
        let _ = core
            .closed_notify
            .wait_until(Why::on(&reason::RECONNECT, &*core), deadline, || {
                (core.wants_connection(pipe) != wanted).then_some(())
            });
        let max = core.options().reconnect_ivl_max;
        if max > backoff {
            backoff = (backoff * 2).min(max);
        }
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

/// Runs one connection to `endpoint`: handshake, then reading, with a
/// writer beside.
fn serve(core: &Arc<Core>, stream: Arc<Stream>, origin: Origin, endpoint: &Endpoint) -> End {
    if core.socket_type == SocketType::Stream {
        return raw::serve(core, stream, origin, endpoint);
    }
    let options = core.options().clone();
    let peer_addr = stream.peer_socket_addr();
    let identity = match core.socket_type {
        SocketType::Req | SocketType::Dealer | SocketType::Router => options.routing_id.clone(),
        _ => None,
    };
    let mut input = BytesMut::new();

    // The whole handshake must be over by the handshake interval's end,
    // however its bytes trickle in (zero: no limit, as libzmq's 0); each
    // read and write may wait only for what is left of it.
    let deadline = (!options.handshake_ivl.is_zero()).then(|| Instant::now() + options.handshake_ivl);
    let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "the handshake timed out");
    // Checked at bind and connect; options changed since may not add up.
    let security = match options.security() {
        Ok(security) => security,
        Err(e) => {
            log::warn!("{endpoint}: cannot handshake: {e}");
            return handshake_failed(
                core,
                endpoint,
                peer_addr,
                HandshakeFailure::NoDetail(io::Error::new(io::ErrorKind::InvalidInput, e.to_string())),
            );
        }
    };
    let mut handshake = Handshake::new(core.socket_type, identity, security).with_properties(options.metadata.clone());
    let address = stream.peer_address();
    let peer = loop {
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return handshake_failed(core, endpoint, peer_addr, HandshakeFailure::NoDetail(timed_out()));
            }
            let _ = stream.set_read_timeout(Some(left));
            let _ = stream.set_write_timeout(Some(left));
        }
        let mut step = handshake.advance(&mut input);
        // The handshake may wait for the ZAP handler's word about the peer
        // (then it goes on with what has arrived, before reading more).
        let mut asked = false;
        if matches!(step, Ok(None))
            && let Some(request) = handshake.zap_request()
        {
            asked = true;
            step = match zap::ask(core, &request, &address, deadline) {
                None => handshake.zap_unavailable(options.zap_enforce_domain),
                Some(Ok(reply)) => handshake.zap_replied(reply),
                Some(Err(ZapFailure::Protocol(e))) => Err(e),
                Some(Err(ZapFailure::Io(e))) => {
                    return handshake_failed(core, endpoint, peer_addr, HandshakeFailure::NoDetail(e));
                }
            };
        }
        let mut out = BytesMut::new();
        handshake.output(&mut out);
        if !out.is_empty()
            && let Err(e) = stream.write_all(&out)
        {
            let e = if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) {
                timed_out()
            } else {
                e
            };
            return handshake_failed(core, endpoint, peer_addr, HandshakeFailure::NoDetail(e));
        }
        match step {
            Ok(Some(peer)) => break peer,
            Ok(None) if asked => continue,
            Ok(None) => {}
            Err(e) => {
                let failure = match e.auth_status() {
                    Some(status) => HandshakeFailure::Auth(status),
                    None => HandshakeFailure::Protocol(e.to_string()),
                };
                return handshake_failed(core, endpoint, peer_addr, failure);
            }
        }
        // Never no room, so a read of 0 bytes is the end of the stream.
        make_room(&mut input, 0, FIRST_READ);
        let failure = match stream.read_buf(&mut input) {
            Ok(0) => io::Error::new(io::ErrorKind::UnexpectedEof, "the peer closed during the handshake"),
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => timed_out(),
            Err(e) => e,
        };
        return handshake_failed(core, endpoint, peer_addr, HandshakeFailure::NoDetail(failure));
    };
    let _ = stream.set_read_timeout(None);
    let _ = stream.set_write_timeout(None);
    let (sealer, opener) = handshake.cipher().unzip();
    let decoder = match opener {
        Some(opener) => Decoder::encrypted(options.message_limit(), opener),
        None => Decoder::new(options.message_limit()),
    };
    // What every message from this peer carries (`Msg::property`): what we
    // know of it first (its address, what the ZAP handler said), then its
    // own handshake properties, less the names only we may set: lookups
    // take the first match, and a peer must not pass itself off as another
    // user.
    let mut properties = Metadata::new();
    if !address.is_empty() {
        properties = properties.with(PEER_ADDRESS, &address);
    }
    if let Some(user_id) = &peer.user_id {
        properties = properties.with(USER_ID, user_id);
    }
    properties = properties
        .with_all(&peer.zap_metadata)
        .with_all(&peer.metadata.clone().without(&[USER_ID, PEER_ADDRESS]));
    let properties = Arc::new(properties);
    core.monitor.emit(|| MonitorEvent::HandshakeSucceeded {
        endpoint: endpoint.clone(),
        peer: peer_addr,
    });

    let (pipe, outbox) = match attach(core, &stream, origin, peer.identity.clone()) {
        Ok(attached) => attached,
        Err(end) => return end,
    };
    let notify = if core.socket_type == SocketType::Router {
        options.router_notify
    } else {
        RouterNotify::NONE
    };
    if notify.contains(RouterNotify::CONNECT) {
        core.push_arrival(pipe);
    }

    let pinger = Pinger::new(&options, peer.minor, Instant::now());
    let liveness = pinger.as_ref().map(Pinger::liveness);
    let writer = {
        let (stream, outbox) = (Arc::clone(&stream), Arc::clone(&outbox));
        // Beside its reader: a PING's PONG, and a reply the application
        // sends from the micro-thread the reader woke, reach the writer
        // without waking another worker.
        let minor = peer.minor;
        let stack = connection_stack(options.mechanism);
        spawn_colocated(stack, move || write_loop(&stream, &outbox, minor, pinger, sealer))
    };
    let end = read_loop(
        core,
        &stream,
        pipe,
        &outbox,
        input,
        decoder,
        &properties,
        liveness.as_deref(),
    );
    finish(
        core,
        &stream,
        pipe,
        &outbox,
        writer,
        end,
        notify.contains(RouterNotify::DISCONNECT),
    )
}

/// Attaches the peer that came with `identity` on `stream` to the socket,
/// through the pipe of the `connect` it came `origin`ally from, or a new
/// pipe (an accepted connection): the pipe and its outbox, or how the
/// connection ends (refused).
pub(super) fn attach(
    core: &Arc<Core>,
    stream: &Arc<Stream>,
    origin: Origin,
    identity: Option<Bytes>,
) -> Result<(PipeId, Arc<Outbox>), End> {
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
    Ok((pipe, outbox))
}

/// Ends an attached connection whose reader ended with `end`: stops its
/// `writer` and detaches the pipe. If the peer is lost (not by this
/// socket's doing), queues a departure notice first with
/// `notify_departure`.
pub(super) fn finish(
    core: &Core,
    stream: &Stream,
    pipe: PipeId,
    outbox: &Outbox,
    writer: JoinHandle<()>,
    end: End,
    notify_departure: bool,
) -> End {
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

/// Reports a failed handshake to the monitor; the connection ends.
fn handshake_failed(core: &Core, endpoint: &Endpoint, peer: Option<SocketAddr>, failure: HandshakeFailure) -> End {
    let reason = format!("handshake failed: {failure}");
    core.counters.handshakes_failed.add(1);
    core.monitor.emit(|| MonitorEvent::HandshakeFailed {
        endpoint: endpoint.clone(),
        peer,
        reason: failure,
    });
    End::HandshakeFailed(reason)
}

/// Decodes frames into messages and hands them to the socket in batches.
/// With heartbeats on, tells the writer whenever the peer is heard from
/// (`liveness`).
///
/// A PING with a TTL (RFC 37) asks us to hang up if nothing follows it
/// within the TTL: its end bounds the reads until something arrives (bytes,
/// or anything decoded after the PING), which clears it until the next
/// such PING, as in libzmq. With heartbeats on, the reads are bounded by
/// our own heartbeat timeout too (or, while none runs, by the earliest end
/// one could have), and the reader hangs up when it expires: the writer,
/// which starts it, may be stuck in a `write` to a peer that stopped
/// reading. Both are judged at the read's deadline, after the runtime's
/// last read there, not at the time the reader gets to look (which, on a
/// loaded machine, may be later than bytes that came in time).
#[expect(clippy::too_many_arguments, reason = "the state `serve` set up, handed over as is")]
fn read_loop(
    core: &Core,
    stream: &Stream,
    pipe: PipeId,
    outbox: &Outbox,
    mut input: BytesMut,
    mut decoder: Decoder,
    properties: &Arc<Metadata>,
    liveness: Option<&Liveness>,
) -> End {
    let publishes = matches!(core.socket_type, SocketType::Pub | SocketType::XPub);
    let mut partial = Msg::new();
    let mut batch = VecDeque::new();
    // When the peer's TTL runs out, and the read timeout set now.
    let mut ttl_end: Option<Instant> = None;
    let mut read_timeout: Option<Duration> = None;
    let mut read_size = FIRST_READ;
    let mut turn = Turn::default();
    loop {
        loop {
            let item = decoder.decode(&mut input);
            turn.did(1);
            if matches!(item, Ok(Some(_))) {
                // Anything decoded after a PING clears its TTL (a PING
                // with a TTL sets a new one below).
                ttl_end = None;
            }
            match item {
                Ok(Some(Item::Frame { more, body })) => {
                    partial.push_back(body);
                    if !more {
                        partial.set_properties(properties);
                        batch.push_back(std::mem::take(&mut partial));
                    }
                }
                // A subscription travels on as a message, the form a 3.0
                // peer sends and XPUB's user receives (see `pubsub.rs`).
                Ok(Some(Item::Command(Command::Subscribe(prefix)))) if publishes => {
                    batch.push_back(subscription_msg(true, &prefix));
                }
                Ok(Some(Item::Command(Command::Cancel(prefix)))) if publishes => {
                    batch.push_back(subscription_msg(false, &prefix));
                }
                Ok(Some(Item::Command(command))) => {
                    if let Command::Ping { ttl_deciseconds, .. } = command {
                        ttl_end = ttl_from_wire(ttl_deciseconds).map(|ttl| Instant::now() + ttl);
                    }
                    if let Some(error) = on_command(command, outbox) {
                        return End::Lost(format!("protocol error: {error}"));
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // Whole messages that came before the violation are
                    // delivered, as libzmq does.
                    if !batch.is_empty() {
                        core.deliver(pipe, &mut batch);
                    }
                    return End::Lost(format!("protocol error: {e}"));
                }
            }
        }
        if !batch.is_empty() && matches!(deliver(core, pipe, &mut batch, liveness), Delivered::Closed) {
            if !core.is_closed() {
                // The pipe is gone (disconnected or unbound).
                return End::Closed;
            }
            // The socket closed: nothing more is delivered, but reading
            // goes on until the peer closes. Shutting the read side instead
            // would tell an ipc peer, whose kernel reports it with the
            // half-close that follows as a hang-up; libzmq then drops what
            // it had not read yet if its input is paused.
            batch.clear();
        }
        let read_from = Instant::now();
        let timeout = read_timeout_for(read_from, ttl_end, liveness);
        if timeout != read_timeout {
            read_timeout = timeout;
            let _ = stream.set_read_timeout(read_timeout);
        }
        let missing = decoder.missing(&input);
        // Never 0, so a read of 0 bytes is the end of the stream.
        let room = make_room(&mut input, missing, read_size);
        let read = stream.read_buf(&mut input);
        turn.did(1);
        match read {
            Ok(0) => return End::Lost("the peer closed the connection".to_owned()),
            Ok(n) => {
                if n == room && read_size < MAX_READ {
                    read_size *= 2;
                }
                ttl_end = None;
                if let Some(liveness) = liveness {
                    liveness.heard();
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                // Nothing came by the read's deadline (the runtime tried once
                // more after it): judged there, not now.
                let deadline = read_timeout.map_or_else(Instant::now, |timeout| read_from + timeout);
                if ttl_end.is_some_and(|end| deadline >= end) {
                    return End::Lost("nothing received within the peer's heartbeat TTL".to_owned());
                }
                if let Some(timeout) = liveness.and_then(|l| l.expired(deadline)) {
                    return End::Lost(format!(
                        "nothing received within the heartbeat timeout ({timeout:?}) after a PING"
                    ));
                }
                // Only a check: nothing has run out yet.
            }
            Err(e) => return End::Lost(e.to_string()),
        }
    }
}

/// Makes room in `input`, whose front item (what the decoder left) lacks
/// `missing` bytes (0: not known, or nothing begun), for the next read;
/// returns the room there is (never 0), all of which the read may fill.
///
/// A frame larger than `read_size` gets room for its rest (at most
/// [`MAX_READ`], whatever its header says: a peer's word alone never makes
/// us reserve more) and for the header of the frame after it, and no more
/// if the buffer must grow: so the read ends where the frame does, the next
/// read starts with the next frame's header, and a 64 KiB frame takes one
/// read and is not copied. Otherwise the room is `read_size`, reserved only
/// once less than half of it is left, so that reads of a few small
/// messages do not reallocate the buffer each time.
///
/// Growing the buffer copies only what it holds that the decoder has not
/// taken yet: part of one frame (frames already decoded are views of the
/// old buffer, which lives on until they are dropped).
fn make_room(input: &mut BytesMut, missing: usize, read_size: usize) -> usize {
    let spare = input.capacity() - input.len();
    if missing > 0 && input.len() + missing > read_size {
        let room = missing.min(MAX_READ) + MAX_HEADER_LEN;
        if spare < room {
            input.reserve(room);
        }
    } else if spare < read_size / 2 {
        input.reserve(read_size);
    }
    input.capacity() - input.len()
}

/// How long the reader's next `read`, starting `now`, may wait: until the
/// peer's TTL runs out, or (heartbeats on) until our heartbeat timeout may
/// end ([`Liveness::next_look`]); without either, for ever.
fn read_timeout_for(now: Instant, ttl_end: Option<Instant>, liveness: Option<&Liveness>) -> Option<Duration> {
    let look = liveness.and_then(|l| l.next_look(now));
    let wake = match (ttl_end, look) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    // A zero timeout would mean "none"; and something has run out already.
    Some(wake.saturating_duration_since(now).max(Duration::from_millis(1)))
}

/// Hands `batch` to the socket. While that waits for room, the peer is not
/// silent (its bytes wait on us), which the heartbeat timeout must
/// know.
fn deliver(core: &Core, pipe: PipeId, batch: &mut VecDeque<Msg>, liveness: Option<&Liveness>) -> Delivered {
    let Some(liveness) = liveness else {
        return core.deliver(pipe, batch);
    };
    liveness.waiting(true);
    let delivered = core.deliver(pipe, batch);
    liveness.waiting(false);
    delivered
}

/// Handles a command that arrived after the handshake; `Some(error)`
/// drops the peer.
fn on_command(command: Command, outbox: &Outbox) -> Option<ProtocolError> {
    match command {
        Command::Ready(_) => Some(ProtocolError::CommandAfterHandshake("READY".to_owned())),
        Command::Error { reason } => Some(ProtocolError::PeerError(reason)),
        // A peer with heartbeats on (libzmq's ZMQ_HEARTBEAT_IVL) drops us
        // unless we answer its PING with a PONG echoing its context (RFC 37
        // §"Connection Heartbeat"). (Its TTL is the reader's business.)
        Command::Ping { context, .. } => {
            outbox.owe_pong(context);
            None
        }
        // Subscriptions mean nothing to a socket that does not publish;
        // PONG answers a PING we did not send; unknown commands are
        // ignored (RFC 37).
        Command::Pong { .. } | Command::Subscribe(_) | Command::Cancel(_) | Command::Unknown { .. } => None,
    }
}

/// Writes what the socket queues for this peer, each batch in one write,
/// until told to stop, or until the socket closed and the queue is empty.
/// Subscriptions are written in the form the peer's ZMTP version (3.`minor`)
/// knows. With heartbeats on (`pinger`), wakes up for each PING too (the
/// reader judges whether the peer answers).
fn write_loop(stream: &Stream, outbox: &Outbox, minor: u8, mut pinger: Option<Pinger>, mut sealer: Option<Sealer>) {
    let mut out = BytesMut::new();
    let mut turn = Turn::default();
    loop {
        let mut batch = match outbox.take_until(pinger.as_ref().map(Pinger::deadline)) {
            Take::Msgs(batch) => batch,
            Take::Idle => Batch::default(),
            Take::Stop => return,
            Take::Drained => {
                drained(stream, outbox);
                return;
            }
        };
        if let Some(ping) = pinger.as_mut().and_then(|p| p.beat(Instant::now())) {
            batch.push_command_first(ping);
        }
        if batch.is_empty() {
            continue;
        }
        // After close, everything must be written by the linger deadline,
        // which the writer keeps itself, write by write (the timer `close`
        // starts runs on the closing caller's runtime, which may end first).
        let written = match &mut sealer {
            None => write_batch(stream, &mut out, &batch, minor, outbox),
            Some(sealer) => write_sealed(stream, &mut out, &batch, minor, outbox, sealer),
        };
        if let Err(e) = written {
            log::debug!("{}: write failed: {e}", stream.peer());
            // Wake the reader so the connection ends.
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        turn.did(1 + u32::try_from(batch.msgs.len()).unwrap_or(TURN));
    }
}

/// Ends the writing of a closed socket's connection once everything is
/// written: half-closes, as TCP's orderly release does. The peer reads what
/// is left, sees the end and closes its side, which ends the connection's
/// reader. (Hanging up both directions at once makes libzmq drop an ipc
/// connection's unread messages when its input is paused at the high-water
/// mark.) A peer that never closes is cut off at the linger deadline: by
/// the timer `close` starts, and here too, should that timer's runtime have
/// ended.
fn drained(stream: &Stream, outbox: &Outbox) {
    let _ = stream.shutdown(Shutdown::Write);
    if let Some(deadline) = outbox.linger_deadline()
        && !outbox.stopped_by(deadline)
    {
        let _ = stream.shutdown(Shutdown::Both);
    }
}

/// The message a command goes to a peer of ZMTP 3.`minor` as, if it does:
/// 3.0 has no subscription commands, so a 3.0 peer gets them as messages
/// (RFC 37, "Publish-Subscribe Pattern").
fn as_message_for(command: &Command, minor: u8) -> Option<Bytes> {
    match command {
        Command::Subscribe(prefix) | Command::Cancel(prefix) if minor == 0 => {
            let subscribe = matches!(command, Command::Subscribe(_));
            subscription_msg(subscribe, prefix).pop_front()
        }
        _ => None,
    }
}

/// How much a CURVE batch encrypts before writing it: the frames are copied
/// while they are sealed, so a batch of large messages goes out in pieces
/// of about this size instead of all at once.
const SEALED_CHUNK: usize = 256 * 1024;

/// Seals `batch` into MESSAGEs (CURVE) and writes them, in pieces of about
/// [`SEALED_CHUNK`]. After the socket closed, by `outbox`'s linger
/// deadline.
fn write_sealed(
    stream: &Stream,
    out: &mut BytesMut,
    batch: &Batch,
    minor: u8,
    outbox: &Outbox,
    sealer: &mut Sealer,
) -> io::Result<()> {
    let exhausted = |e: ProtocolError| io::Error::other(e.to_string());
    out.clear();
    for next in batch.in_order() {
        let msg = match next {
            Next::Command(command) => {
                match as_message_for(command, minor) {
                    Some(frame) => sealer
                        .seal(out, false, false, frame.len(), |out| out.extend_from_slice(&frame))
                        .map_err(exhausted)?,
                    None => sealer
                        .seal(out, false, true, command.body_len(), |out| command.write_body(out))
                        .map_err(exhausted)?,
                }
                continue;
            }
            Next::Msg(msg) => msg,
        };
        let last = msg.len() - 1;
        for (i, frame) in msg.iter().enumerate() {
            sealer
                .seal(out, i < last, false, frame.len(), |out| out.extend_from_slice(frame))
                .map_err(exhausted)?;
        }
        if out.len() >= SEALED_CHUNK {
            stream.write_all_vectored(&mut [IoSlice::new(out)], || outbox.linger_deadline())?;
            out.clear();
        }
    }
    if !out.is_empty() {
        stream.write_all_vectored(&mut [IoSlice::new(out)], || outbox.linger_deadline())?;
    }
    Ok(())
}

/// Encodes `batch` and writes it with as few `writev`s as possible:
/// headers, commands and small frames are copied into `out`, large frames
/// go out from their own buffers, all gathered. After the socket closed, by
/// `outbox`'s linger deadline.
fn write_batch(stream: &Stream, out: &mut BytesMut, batch: &Batch, minor: u8, outbox: &Outbox) -> io::Result<()> {
    /// A piece of the batch: a stretch of `out`, or a large frame.
    enum Piece<'a> {
        Encoded(Range<usize>),
        Frame(&'a [u8]),
    }
    out.clear();
    let mut pieces = Vec::new();
    let mut encoded_from = 0;
    for next in batch.in_order() {
        let msg = match next {
            Next::Command(command) => {
                match as_message_for(command, minor) {
                    Some(frame) => encode_frame(out, false, &frame),
                    None => encode_command(out, command),
                }
                continue;
            }
            Next::Msg(msg) => msg,
        };
        let last = msg.len() - 1;
        for (i, frame) in msg.iter().enumerate() {
            let more = i < last;
            if frame.len() >= LARGE_FRAME {
                let mut header = [0u8; MAX_HEADER_LEN];
                let n = encode_frame_header(more, frame.len(), &mut header);
                out.extend_from_slice(&header[..n]);
                pieces.push(Piece::Encoded(encoded_from..out.len()));
                pieces.push(Piece::Frame(frame));
                encoded_from = out.len();
            } else {
                encode_frame(out, more, frame);
            }
        }
    }
    if encoded_from < out.len() {
        pieces.push(Piece::Encoded(encoded_from..out.len()));
    }
    // `out` is complete: the stretches can be borrowed now.
    for chunk in pieces.chunks(MAX_IOVECS) {
        let mut slices: Vec<IoSlice<'_>> = chunk
            .iter()
            .map(|piece| match piece {
                Piece::Encoded(range) => IoSlice::new(&out[range.clone()]),
                Piece::Frame(frame) => IoSlice::new(frame),
            })
            .collect();
        stream.write_all_vectored(&mut slices, || outbox.linger_deadline())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::{FIRST_READ, MAX_HEADER_LEN, MAX_READ, make_room};

    #[test]
    fn the_rest_of_a_64_kib_frame_gets_room_for_one_read() {
        // The header and a little of the body came with the last read.
        let mut input = BytesMut::from(&[0u8; MAX_HEADER_LEN + 100][..]);
        let missing = 64 * 1024 - 100;
        let room = make_room(&mut input, missing, MAX_READ);
        assert!(room >= missing + MAX_HEADER_LEN, "room for {room} bytes");
    }

    #[test]
    fn a_huge_declared_frame_reserves_no_more_than_a_large_read() {
        let mut input = BytesMut::from(&[0u8; MAX_HEADER_LEN][..]);
        let room = make_room(&mut input, 1 << 40, FIRST_READ);
        assert!(room >= MAX_READ, "room for {room} bytes");
        assert!(
            input.capacity() <= 2 * (MAX_READ + 2 * MAX_HEADER_LEN),
            "{} bytes reserved",
            input.capacity()
        );
    }

    #[test]
    fn small_reads_reuse_the_room_left() {
        let mut input = BytesMut::new();
        let room = make_room(&mut input, 0, FIRST_READ);
        assert!(room >= FIRST_READ);
        let at = input.as_ptr();
        // A few small messages came and were decoded: half the room is left.
        input.extend_from_slice(&[0; 100]);
        let _ = input.split();
        assert!(make_room(&mut input, 0, FIRST_READ) >= FIRST_READ / 2);
        assert_eq!(input.as_ptr(), at.wrapping_add(100), "the buffer was replaced");
    }
}

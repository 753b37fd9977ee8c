//! One ZMTP connection to a peer, served the way dhaga serves everything:
//! by micro-threads running sequential code.
//!
//! The connection's micro-thread performs the ZMTP handshake, attaches the
//! peer to the socket, starts a writer micro-thread (`writer.rs`) and then
//! reads (`reader.rs`): each `read` takes whatever bytes have arrived
//! straight into the input buffer, and the decoder turns them into as many
//! frames as they hold. The writer takes everything the socket queued for
//! this peer at once and sends it in one `write`. With heartbeats on, the
//! writer also sends PINGs and the reader hangs up on a peer silent since
//! one (see `heartbeat.rs`).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use dhaga_runtime::JoinHandle;

use super::heartbeat::Pinger;
use super::reader::{Reader, make_room};
use super::session::{Attached, End, FIRST_READ, Origin, PEER_ADDRESS, attach, connection_stack, spawn_colocated};
use super::writer::write_loop;
use super::zap::{self, ZapFailure};
use crate::SocketType;
use crate::endpoint::Endpoint;
use crate::monitor::{HandshakeFailure, MonitorEvent};
use crate::options::{Options, RouterNotify};
use crate::socket::core::Core;
use crate::transport::Stream;
use crate::zmtp::{Decoder, Handshake, Metadata, PeerInfo, ProtocolError, Sealer};

/// The message property only this side sets with the user id the peer's
/// ZAP handler gave it (beside its address, [`PEER_ADDRESS`]).
const USER_ID: &str = "User-Id";

/// Where the handshake is after a step: done (what it learnt of the peer),
/// waiting for more bytes, or failed.
type Step = Result<Option<PeerInfo>, ProtocolError>;

/// Runs one ZMTP connection to `endpoint`: handshake, then reading, with a
/// writer beside.
pub(super) fn serve(core: &Arc<Core>, stream: Arc<Stream>, origin: Origin, endpoint: &Endpoint) -> End {
    let connection = Connection {
        core,
        options: core.options().clone(),
        peer_addr: stream.peer_socket_addr(),
        address: stream.peer_address(),
        stream,
        endpoint,
    };
    match connection.handshake() {
        Ok((handshake, peer, input)) => connection.run(origin, handshake, &peer, input),
        Err(end) => end,
    }
}

/// A ZMTP connection being served: what its handshake and the rest of its
/// life share.
struct Connection<'a> {
    core: &'a Arc<Core>,
    /// The socket's options when the connection was made.
    options: Options,
    stream: Arc<Stream>,
    endpoint: &'a Endpoint,
    /// The peer's address for monitor events (TCP; `None` over `ipc`).
    peer_addr: Option<SocketAddr>,
    /// The peer's address as `Peer-Address` and ZAP requests give it.
    address: String,
}

impl Connection<'_> {
    /// Performs the ZMTP handshake: what it ends with, what it learnt of
    /// the peer and the bytes read past it; or how the connection ends.
    ///
    /// The whole handshake must be over by the handshake interval's end,
    /// however its bytes trickle in (zero: no limit, as libzmq's 0); each
    /// read and write may wait only for what is left of it.
    fn handshake(&self) -> Result<(Handshake, PeerInfo, BytesMut), End> {
        let ivl = self.options.handshake_ivl;
        let deadline = (!ivl.is_zero()).then(|| Instant::now() + ivl);
        let mut handshake = self.start_handshake()?;
        let mut input = BytesMut::new();
        let peer = loop {
            self.limit_io_to(deadline)?;
            let (step, asked) = self.advance(&mut handshake, &mut input, deadline)?;
            self.write_output(&mut handshake)?;
            match step {
                Ok(Some(peer)) => break peer,
                // It goes on with what has arrived, before reading more.
                Ok(None) if asked => {}
                Ok(None) => self.read_more(&mut input)?,
                Err(e) => {
                    let failure = match e.auth_status() {
                        Some(status) => HandshakeFailure::Auth(status),
                        None => HandshakeFailure::Protocol(e),
                    };
                    return Err(self.failed(failure));
                }
            }
        };
        let _ = self.stream.set_read_timeout(None);
        let _ = self.stream.set_write_timeout(None);
        Ok((handshake, peer, input))
    }

    /// The handshake this socket makes: its type, its routing id (REQ,
    /// DEALER, ROUTER), its security mechanism and its properties.
    fn start_handshake(&self) -> Result<Handshake, End> {
        let identity = match self.core.socket_type {
            SocketType::Req | SocketType::Dealer | SocketType::Router => self.options.routing_id.clone(),
            _ => None,
        };
        // Checked at bind and connect; options changed since may not add up.
        let security = self.options.security().map_err(|e| {
            log::warn!("{}: cannot handshake: {e}", self.endpoint);
            let e = io::Error::new(io::ErrorKind::InvalidInput, e.to_string());
            self.failed(HandshakeFailure::NoDetail(e))
        })?;
        let handshake = Handshake::new(self.core.socket_type, identity, security);
        Ok(handshake.with_properties(self.options.metadata.clone()))
    }

    /// Lets the next read and write wait only for what is left until
    /// `deadline`; the handshake fails once nothing is.
    fn limit_io_to(&self, deadline: Option<Instant>) -> Result<(), End> {
        let Some(deadline) = deadline else {
            return Ok(());
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.failed(HandshakeFailure::NoDetail(timed_out())));
        }
        let _ = self.stream.set_read_timeout(Some(left));
        let _ = self.stream.set_write_timeout(Some(left));
        Ok(())
    }

    /// Takes the handshake as far as `input` lets it. Where it waits for
    /// the ZAP handler's word about the peer, asks for it (by `deadline`)
    /// and goes on with the answer: then `asked` is true.
    fn advance(
        &self,
        handshake: &mut Handshake,
        input: &mut BytesMut,
        deadline: Option<Instant>,
    ) -> Result<(Step, bool), End> {
        let step = handshake.advance(input);
        if !matches!(step, Ok(None)) {
            return Ok((step, false));
        }
        let Some(request) = handshake.zap_request() else {
            return Ok((step, false));
        };
        let step = match zap::ask(self.core, &request, &self.address, deadline) {
            None => handshake.zap_unavailable(self.options.zap_enforce_domain),
            Some(Ok(reply)) => handshake.zap_replied(reply),
            Some(Err(ZapFailure::Protocol(e))) => Err(e),
            Some(Err(ZapFailure::Io(e))) => return Err(self.failed(HandshakeFailure::NoDetail(e))),
        };
        Ok((step, true))
    }

    /// Writes what the handshake has for the peer, if anything.
    fn write_output(&self, handshake: &mut Handshake) -> Result<(), End> {
        let mut out = BytesMut::new();
        handshake.output(&mut out);
        if out.is_empty() {
            return Ok(());
        }
        self.stream.write_all(&out).map_err(|e| {
            let e = if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) {
                timed_out()
            } else {
                e
            };
            self.failed(HandshakeFailure::NoDetail(e))
        })
    }

    /// Reads what the peer sends next into `input`.
    fn read_more(&self, input: &mut BytesMut) -> Result<(), End> {
        // Never no room, so a read of 0 bytes is the end of the stream.
        make_room(input, 0, FIRST_READ);
        let failure = match self.stream.read_buf(input) {
            Ok(0) => io::Error::new(io::ErrorKind::UnexpectedEof, "the peer closed during the handshake"),
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => timed_out(),
            Err(e) => e,
        };
        Err(self.failed(HandshakeFailure::NoDetail(failure)))
    }

    /// Reports a failed handshake to the monitor; the connection ends.
    fn failed(&self, failure: HandshakeFailure) -> End {
        let reason = format!("handshake failed: {failure}");
        self.core.counters.handshakes_failed.add(1);
        self.core.monitor.emit(|| MonitorEvent::HandshakeFailed {
            endpoint: self.endpoint.clone(),
            peer: self.peer_addr,
            reason: failure,
        });
        End::HandshakeFailed(reason)
    }

    /// After the handshake with `peer`: attaches it to the socket, through
    /// the pipe of the `connect` it came `origin`ally from or a new one,
    /// then reads from it, with a writer beside, until the connection ends.
    fn run(&self, origin: Origin, mut handshake: Handshake, peer: &PeerInfo, input: BytesMut) -> End {
        let (sealer, opener) = handshake.cipher().unzip();
        let decoder = match opener {
            Some(opener) => Decoder::encrypted(self.options.message_limit(), opener),
            None => Decoder::new(self.options.message_limit()),
        };
        let properties = self.properties(peer);
        self.core.monitor.emit(|| MonitorEvent::HandshakeSucceeded {
            endpoint: self.endpoint.clone(),
            peer: self.peer_addr,
        });
        let attached = match attach(self.core, &self.stream, origin, peer.identity.clone()) {
            Ok(attached) => attached,
            Err(end) => return end,
        };
        let notify = if self.core.socket_type == SocketType::Router {
            self.options.router_notify
        } else {
            RouterNotify::NONE
        };
        if notify.contains(RouterNotify::CONNECT) {
            self.core.push_arrival(attached.pipe);
        }
        let pinger = Pinger::new(&self.options, peer.minor, Instant::now());
        let liveness = pinger.as_ref().map(Pinger::liveness);
        let writer = self.start_writer(&attached, peer.minor, pinger, sealer);
        let end = Reader::new(&attached, input, decoder, &properties, liveness.as_deref()).run();
        attached.finish(writer, end, notify.contains(RouterNotify::DISCONNECT))
    }

    /// What every message from `peer` carries (`Msg::property`): what we
    /// know of it first (its address, what the ZAP handler said), then its
    /// own handshake properties, less the names only we may set: lookups
    /// take the first match, and a peer must not pass itself off as
    /// another user.
    fn properties(&self, peer: &PeerInfo) -> Arc<Metadata> {
        let mut properties = Metadata::new();
        if !self.address.is_empty() {
            properties = properties.with(PEER_ADDRESS, &self.address);
        }
        if let Some(user_id) = &peer.user_id {
            properties = properties.with(USER_ID, user_id);
        }
        properties = properties
            .with_all(&peer.zap_metadata)
            .with_all(&peer.metadata.clone().without(&[USER_ID, PEER_ADDRESS]));
        Arc::new(properties)
    }

    /// Starts the writer of the `attached` connection to a peer of ZMTP
    /// 3.`minor`, with heartbeats (`pinger`) and encryption (`sealer`) if
    /// they are on. It runs beside its reader: a PING's PONG, and a reply
    /// the application sends from the micro-thread the reader woke, reach
    /// the writer without waking another worker.
    fn start_writer(
        &self,
        attached: &Attached<'_>,
        minor: u8,
        pinger: Option<Pinger>,
        sealer: Option<Sealer>,
    ) -> JoinHandle<()> {
        let (stream, outbox) = (Arc::clone(attached.stream), Arc::clone(&attached.outbox));
        let stack = connection_stack(self.options.mechanism);
        spawn_colocated(stack, move || write_loop(&stream, &outbox, minor, pinger, sealer))
    }
}

/// The error of a handshake that ran out of time.
fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the handshake timed out")
}

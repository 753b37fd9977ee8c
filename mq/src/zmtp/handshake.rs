//! The connection handshake, as a pure state machine: greetings both ways,
//! then the security mechanism's commands (NULL: one READY each way; CURVE:
//! see `curve.rs`).

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};

use super::command::{Command, split_name};
use super::curve::{self, ClientKeys};
use super::error::ProtocolError;
use super::frame::{FLAG_COMMAND, encode_command, parse_header};
use super::greeting::{GREETING_LEN, Greeting};
use super::mechanism::Mechanism;
use super::metadata::{IDENTITY, Metadata, SOCKET_TYPE};
use super::nacl::{PublicKey, SecretKey};
use crate::socket_type::SocketType;

/// Largest command accepted during the handshake. A READY carries a socket type, an identity of
/// at most 255 bytes and a few application properties; a peer announcing more is refused before
/// anything of it is buffered ("a peer MAY allocate memory to a connection only after the
/// security handshake is complete", RFC 37 §"Security Considerations").
pub(crate) const MAX_HANDSHAKE_COMMAND_LEN: u64 = 64 * 1024;

/// Longest identity a peer may announce (RFC 23 §"The Identity Property": `identity =
/// 0*255OCTET`).
const MAX_IDENTITY_LEN: usize = 255;

/// First byte an identity must not start with: "identities starting with a zero octet are
/// reserved for implementations' internal use" (RFC 23 §"The Identity Property").
const RESERVED_IDENTITY_START: u8 = 0;

/// What we learnt about the peer in the handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PeerInfo {
    /// The peer's socket type, compatible with ours.
    pub(crate) socket_type: SocketType,
    /// The peer's non-empty `Identity` property (ROUTER uses it as the routing id), valid per
    /// RFC 23: at most 255 bytes, not starting with a zero byte. `None` if the peer sent none or
    /// an empty one. When our socket is not a ROUTER an invalid identity is ignored (`None`), as
    /// RFC 23 says non-ROUTER sockets ignore the property; a ROUTER refuses the peer.
    pub(crate) identity: Option<Bytes>,
    /// The negotiated minor version: 0 for a 3.0 peer (subscriptions travel as messages, no
    /// PING/PONG), 1 for 3.1 and newer peers.
    pub(crate) minor: u8,
    /// All the properties of the peer's READY, including `Socket-Type` and `Identity`.
    pub(crate) metadata: Metadata,
    /// A CURVE server's client: its long-term public key (`None` otherwise).
    pub(crate) curve_key: Option<PublicKey>,
}

/// The security a connection's handshake runs with, from its socket's options.
#[derive(Clone, Debug)]
pub(crate) enum Security {
    /// NULL: no authentication, no encryption.
    Null,
    /// A CURVE client with its keys and the server's public key.
    CurveClient(Arc<ClientKeys>),
    /// A CURVE server with its long-term secret key.
    CurveServer(Arc<SecretKey>),
}

impl Security {
    /// The mechanism named in our greeting.
    fn mechanism(&self) -> Mechanism {
        match self {
            Security::Null => Mechanism::Null,
            Security::CurveClient(_) | Security::CurveServer(_) => Mechanism::Curve,
        }
    }

    /// Whether our greeting claims the server role.
    fn as_server(&self) -> bool {
        matches!(self, Security::CurveServer(_))
    }
}

impl std::fmt::Debug for ClientKeys {
    /// Shows the public keys only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKeys")
            .field("public", &z85::encode(self.public))
            .field("server", &z85::encode(self.server))
            .finish_non_exhaustive()
    }
}

/// Where the handshake is.
enum State {
    /// Collecting the peer's 64-byte greeting.
    Greeting,
    /// NULL: greetings exchanged and our READY queued; waiting for the peer's READY.
    NullReady,
    /// CURVE client: HELLO sent; waiting for WELCOME, then (INITIATE sent) for READY.
    CurveClient(curve::Client),
    /// CURVE server: waiting for HELLO, then (WELCOME sent) for INITIATE.
    CurveServer(curve::Server),
    /// The peer's READY was accepted and returned.
    Done,
    /// The handshake failed with this error; the peer must be dropped.
    Failed(ProtocolError),
}

/// One connection's handshake, as a pure state machine: bytes in, bytes out, no I/O.
///
/// Both peers send their 64-byte greeting at once (we do not use libzmq's 11-byte partial
/// greeting, which only serves to talk to pre-3.0 peers) and check the other's. Then, with NULL,
/// each sends a READY command with its `Socket-Type` (and `Identity`, if given) and checks the
/// other's; with CURVE, the client and the server exchange HELLO, WELCOME, INITIATE and READY
/// (see `curve.rs`), the properties travelling in INITIATE and READY. The peer may deliver its
/// bytes in any pieces; [`advance`](Handshake::advance) takes what has arrived.
///
/// A connection drives it like this: write [`output`](Handshake::output), read into a buffer,
/// call [`advance`](Handshake::advance), repeat until it returns the [`PeerInfo`]; then flush
/// `output` once more, take the [`cipher`](Handshake::cipher) (CURVE), and hand the rest of the
/// read buffer to a [`Decoder`](super::decoder::Decoder).
pub(crate) struct Handshake {
    /// Our socket type, announced in our READY and checked against the peer's.
    ours: SocketType,
    /// The identity announced in our READY, if any.
    identity: Option<Bytes>,
    /// Our security mechanism and keys.
    security: Security,
    /// Bytes queued for the peer and not yet taken by `output`: at most a greeting, a READY (or
    /// a mechanism's command) and an ERROR.
    pending: BytesMut,
    /// The peer's greeting as far as it has arrived (copied out of the input so the caller's
    /// buffer can be reused).
    greeting: [u8; GREETING_LEN],
    /// How many bytes of `greeting` have arrived.
    greeting_len: usize,
    /// The negotiated minor version, once the greeting is in.
    minor: u8,
    /// Where the handshake is.
    state: State,
    /// CURVE's session once the handshake is done, for [`cipher`](Handshake::cipher).
    session: Option<curve::Session>,
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handshake")
            .field("ours", &self.ours)
            .field("mechanism", &self.security.mechanism())
            .field("greeting_len", &self.greeting_len)
            .finish_non_exhaustive()
    }
}

impl Handshake {
    /// A handshake for a socket of type `ours`, with the given security.
    ///
    /// `identity`: the Identity property to send (ROUTER peers use it); `None` sends no Identity
    /// property, `Some` of an empty value sends an empty one (as libzmq's DEALER and REQ do).
    /// The caller validates it (at most 255 bytes, not starting with a zero byte; debug builds
    /// assert this).
    pub(crate) fn new(ours: SocketType, identity: Option<Bytes>, security: Security) -> Handshake {
        debug_assert!(
            identity
                .as_ref()
                .is_none_or(|id| id.len() <= MAX_IDENTITY_LEN && id.first() != Some(&RESERVED_IDENTITY_START)),
            "invalid identity {identity:?}"
        );
        let greeting = Greeting::ours(security.mechanism(), security.as_server()).encode();
        Handshake {
            ours,
            identity,
            security,
            pending: BytesMut::from(&greeting[..]),
            greeting: [0; GREETING_LEN],
            greeting_len: 0,
            minor: 0,
            state: State::Greeting,
            session: None,
        }
    }

    /// Bytes to write now (our greeting; later our READY or ERROR); drains what it returns.
    pub(crate) fn output(&mut self, out: &mut BytesMut) {
        out.extend_from_slice(&self.pending);
        self.pending.clear();
    }

    /// The sealer and opener of the traffic after a CURVE handshake that
    /// completed (`None` with NULL, or when taken already).
    pub(crate) fn cipher(&mut self) -> Option<(curve::Sealer, curve::Opener)> {
        self.session.take().map(curve::Session::split)
    }

    /// Consumes as much of `input` as the handshake needs (leaving any bytes that follow it, e.g.
    /// the peer's first messages, in `input`). Ok(Some(peer)) when done (after which the caller
    /// must still flush `output`), Ok(None) when more input is needed, Err when the peer must be
    /// dropped (after `output` yields an ERROR command to send if the RFC says to send one, e.g.
    /// incompatible socket type).
    ///
    /// Bad signatures and versions are refused as soon as their bytes arrive, and a command
    /// longer than [`MAX_HANDSHAKE_COMMAND_LEN`] as soon as its header does. Once failed, every
    /// further call returns the same error without consuming input.
    ///
    /// # Errors
    ///
    /// The greeting's errors ([`Greeting::decode`]), [`ProtocolError::MechanismMismatch`],
    /// the frame and command errors of a malformed command,
    /// [`ProtocolError::UnexpectedInHandshake`] for a message or another command than the
    /// mechanism expects, [`ProtocolError::PeerError`] if the peer sent ERROR, CURVE's errors
    /// (boxes that do not open, bad nonces, malformed commands), the socket-type errors
    /// ([`ProtocolError::MissingSocketType`], [`ProtocolError::UnknownSocketType`],
    /// [`ProtocolError::IncompatibleSocketType`], after which `output` yields an ERROR command),
    /// and for a ROUTER the identity errors.
    ///
    /// # Panics
    ///
    /// If called again after it returned `Ok(Some(_))`: the rest of the input belongs to the
    /// decoder.
    pub(crate) fn advance(&mut self, input: &mut BytesMut) -> Result<Option<PeerInfo>, ProtocolError> {
        loop {
            match self.state {
                State::Greeting => {
                    if !self.take_greeting(input)? {
                        return Ok(None);
                    }
                }
                State::Done => panic!("Handshake::advance called after the handshake completed"),
                State::Failed(ref error) => return Err(error.clone()),
                State::NullReady | State::CurveClient(_) | State::CurveServer(_) => {
                    let Some((name, data)) = self.take_command(input)? else {
                        return Ok(None);
                    };
                    if let Some(peer) = self.on_command(&name, data)? {
                        return Ok(Some(peer));
                    }
                }
            }
        }
    }

    /// Moves greeting bytes from `input`; once all 64 are there, checks them and queues our
    /// first command (NULL's READY, CURVE's HELLO). Returns whether the greeting is complete.
    fn take_greeting(&mut self, input: &mut BytesMut) -> Result<bool, ProtocolError> {
        let n = (GREETING_LEN - self.greeting_len).min(input.len());
        self.greeting[self.greeting_len..self.greeting_len + n].copy_from_slice(&input[..n]);
        input.advance(n);
        self.greeting_len += n;
        if let Err(error) = Greeting::check_prefix(&self.greeting[..self.greeting_len]) {
            return Err(self.fail(error));
        }
        if self.greeting_len < GREETING_LEN {
            return Ok(false);
        }
        let peer = Greeting::decode(&self.greeting).map_err(|error| self.fail(error))?;
        let mechanism = self.security.mechanism();
        if peer.mechanism != mechanism {
            return Err(self.fail(ProtocolError::MechanismMismatch {
                ours: mechanism,
                peer: peer.mechanism,
            }));
        }
        // The peer's as-server flag is not checked: libzmq always sends it as zero. Two
        // servers or two clients fail at the first command instead.
        self.minor = peer.negotiated_minor();
        let ready = Command::Ready(self.our_metadata());
        self.state = match &self.security {
            Security::Null => {
                encode_command(&mut self.pending, &ready);
                State::NullReady
            }
            Security::CurveClient(keys) => {
                let client = curve::Client::new(Arc::clone(keys));
                client.hello(&mut self.pending).map_err(|error| self.fail(error))?;
                State::CurveClient(client)
            }
            Security::CurveServer(secret) => State::CurveServer(curve::Server::new(Arc::clone(secret))),
        };
        Ok(true)
    }

    /// Our READY properties: `Socket-Type`, and `Identity` if we have one.
    fn our_metadata(&self) -> Metadata {
        let mut metadata = Metadata::new().with(SOCKET_TYPE, self.ours.name());
        if let Some(identity) = &self.identity {
            metadata = metadata.with(IDENTITY, identity);
        }
        metadata
    }

    /// Takes the next command from `input` once it has arrived whole, as its name and data.
    fn take_command(&mut self, input: &mut BytesMut) -> Result<Option<(Bytes, Bytes)>, ProtocolError> {
        // The flags byte is judged alone first, so that what it shows does not depend on
        // whether the size arrived with it: a message frame is refused before its size is read.
        if let Some(&flags) = input.first() {
            parse_header(&[flags]).map_err(|error| self.fail(error))?;
            if flags & FLAG_COMMAND == 0 {
                return Err(self.fail(ProtocolError::UnexpectedInHandshake("a message frame".into())));
            }
        }
        let header = parse_header(input).map_err(|error| self.fail(error))?;
        let Some(header) = header else {
            return Ok(None);
        };
        if header.body_len > MAX_HANDSHAKE_COMMAND_LEN {
            return Err(self.fail(ProtocolError::HandshakeCommandTooLarge {
                size: header.body_len,
                max: MAX_HANDSHAKE_COMMAND_LEN,
            }));
        }
        // At most MAX_HANDSHAKE_COMMAND_LEN, which fits any usize.
        let body_len = header.body_len as usize;
        if input.len() - header.header_len < body_len {
            return Ok(None);
        }
        input.advance(header.header_len);
        let body = input.split_to(body_len).freeze();
        split_name(body).map(Some).map_err(|error| self.fail(error))
    }

    /// Handles one command of the handshake; `Some(peer)` when it completed it.
    fn on_command(&mut self, name: &[u8], data: Bytes) -> Result<Option<PeerInfo>, ProtocolError> {
        if name == b"ERROR" {
            // Any mechanism's peer may refuse us (a CURVE server in clear, with a ZAP status).
            return match Command::decode_parts(name, data) {
                Ok(Command::Error { reason }) => Err(self.fail(ProtocolError::PeerError(reason))),
                Ok(_) => unreachable!("an ERROR decodes as ERROR"),
                Err(error) => Err(self.fail(error)),
            };
        }
        let unexpected = |expected: &'static str| ProtocolError::UnexpectedCommand {
            expected,
            received: String::from_utf8_lossy(name).into_owned(),
        };
        let mut ours = BytesMut::new();
        if !matches!(self.state, State::NullReady) {
            self.our_metadata().encode(&mut ours);
        }
        match &mut self.state {
            State::NullReady => match Command::decode_parts(name, data) {
                Ok(Command::Ready(metadata)) => self.accept(metadata).map(Some),
                Ok(other) => {
                    let what = format!("command {}", String::from_utf8_lossy(other.name()));
                    Err(self.fail(ProtocolError::UnexpectedInHandshake(what)))
                }
                Err(error) => Err(self.fail(error)),
            },
            State::CurveClient(client) => {
                let step = match name {
                    b"WELCOME" => client.on_welcome(&data, &ours, &mut self.pending).map(|()| None),
                    b"READY" => client.on_ready(&data).map(Some),
                    _ => Err(unexpected("WELCOME")),
                };
                match step {
                    Ok(None) => Ok(None),
                    Ok(Some((metadata, session))) => {
                        let metadata =
                            Metadata::decode(Bytes::copy_from_slice(&metadata)).map_err(|error| self.fail(error))?;
                        let peer = self.accept(metadata)?;
                        self.session = Some(session);
                        Ok(Some(peer))
                    }
                    Err(error) => Err(self.fail(error)),
                }
            }
            State::CurveServer(server) => {
                let step = match name {
                    b"HELLO" => server.on_hello(&data, &mut self.pending).map(|()| None),
                    b"INITIATE" => server.on_initiate(&data).map(Some),
                    _ => Err(unexpected("HELLO")),
                };
                match step {
                    Ok(None) => Ok(None),
                    Ok(Some(mut initiated)) => {
                        let metadata = Metadata::decode(Bytes::copy_from_slice(&initiated.metadata))
                            .map_err(|error| self.fail(error))?;
                        let mut peer = self.accept(metadata)?;
                        peer.curve_key = Some(initiated.client);
                        curve::ready(&mut initiated.session, &ours, &mut self.pending);
                        self.session = Some(initiated.session);
                        Ok(Some(peer))
                    }
                    Err(error) => Err(self.fail(error)),
                }
            }
            State::Greeting | State::Done | State::Failed(_) => unreachable!("no command is taken now"),
        }
    }

    /// Checks the peer's READY metadata and completes the handshake.
    fn accept(&mut self, metadata: Metadata) -> Result<PeerInfo, ProtocolError> {
        let socket_type = match metadata.socket_type() {
            Ok(peer) if self.ours.is_compatible(peer) => peer,
            Ok(peer) => return Err(self.refuse(ProtocolError::IncompatibleSocketType { ours: self.ours, peer })),
            Err(error) => return Err(self.refuse(error)),
        };
        let identity = match metadata.identity().filter(|id| !id.is_empty()) {
            None => None,
            Some(id) => match check_identity(id) {
                Ok(()) => Some(id.clone()),
                Err(error) if self.ours == SocketType::Router => return Err(self.fail(error)),
                Err(_) => None,
            },
        };
        self.state = State::Done;
        Ok(PeerInfo {
            socket_type,
            identity,
            minor: self.minor,
            metadata,
            curve_key: None,
        })
    }

    /// Fails the handshake, first queueing an ERROR command: "When a peer validates the socket
    /// type, it SHOULD handle errors by returning an ERROR command, and then disconnecting the
    /// peer" (RFC 23 §"The Socket-Type Property").
    fn refuse(&mut self, error: ProtocolError) -> ProtocolError {
        encode_command(
            &mut self.pending,
            &Command::Error {
                reason: error_reason(&error),
            },
        );
        self.fail(error)
    }

    /// Records `error` as the handshake's outcome and returns it.
    fn fail(&mut self, error: ProtocolError) -> ProtocolError {
        self.state = State::Failed(error.clone());
        error
    }
}

/// Checks a non-empty identity against RFC 23 §"The Identity Property".
fn check_identity(identity: &[u8]) -> Result<(), ProtocolError> {
    if identity.len() > MAX_IDENTITY_LEN {
        Err(ProtocolError::IdentityTooLong(identity.len()))
    } else if identity.first() == Some(&RESERVED_IDENTITY_START) {
        Err(ProtocolError::IdentityReserved)
    } else {
        Ok(())
    }
}

/// The reason text of the ERROR we send for `error`, written from our side. RFC 23's grammar
/// allows only visible ASCII (`error-reason = short-size 0*255VCHAR`, no spaces), so words are
/// joined with hyphens and anything else becomes `?`.
fn error_reason(error: &ProtocolError) -> String {
    let text = match error {
        ProtocolError::IncompatibleSocketType { ours, peer } => format!("Socket-Type-{peer}-cannot-talk-to-{ours}"),
        ProtocolError::MissingSocketType => "Socket-Type-missing".to_owned(),
        ProtocolError::UnknownSocketType(name) => format!("Socket-Type-unknown:{name}"),
        other => other.to_string().replace(' ', "-"),
    };
    text.chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zmtp::decoder::{Decoder, Item};
    use crate::zmtp::frame::encode_frame;

    /// The outcome of running two handshakes against each other in memory.
    struct Pair {
        /// What each side's `advance` finally returned.
        results: [Result<PeerInfo, ProtocolError>; 2],
        /// Everything each side wrote.
        wrote: [BytesMut; 2],
    }

    /// Runs handshakes `a` and `b` against each other until both finish, passing all output at
    /// once each round.
    fn run(mut a: Handshake, mut b: Handshake) -> Pair {
        let sides = [&mut a, &mut b];
        let mut inputs = [BytesMut::new(), BytesMut::new()];
        let mut wrote = [BytesMut::new(), BytesMut::new()];
        let mut results: [Option<Result<PeerInfo, ProtocolError>>; 2] = [None, None];
        for _round in 0..10 {
            for i in 0..2 {
                let mut out = BytesMut::new();
                sides[i].output(&mut out);
                wrote[i].extend_from_slice(&out);
                inputs[1 - i].extend_from_slice(&out);
            }
            for i in 0..2 {
                if results[i].is_none() {
                    results[i] = sides[i].advance(&mut inputs[i]).transpose();
                }
            }
            if results.iter().all(Option::is_some) {
                for i in 0..2 {
                    sides[i].output(&mut wrote[i]);
                }
                let [a, b] = results;
                return Pair {
                    results: [a.unwrap(), b.unwrap()],
                    wrote,
                };
            }
        }
        panic!("the handshake did not finish");
    }

    /// The commands in what a side wrote, after its greeting.
    fn commands(wrote: &BytesMut) -> Vec<Command> {
        let mut rest = BytesMut::from(&wrote[GREETING_LEN..]);
        let mut decoder = Decoder::new(None);
        let mut commands = Vec::new();
        while let Some(item) = decoder.decode(&mut rest).unwrap() {
            let Item::Command(command) = item else {
                panic!("a message frame in a handshake")
            };
            commands.push(command);
        }
        commands
    }

    #[test]
    fn every_pair_of_socket_types() {
        for a in SocketType::ALL {
            for b in SocketType::ALL {
                let pair = run(
                    Handshake::new(a, None, Security::Null),
                    Handshake::new(b, None, Security::Null),
                );
                if a.is_compatible(b) {
                    let [Ok(peer_of_a), Ok(peer_of_b)] = &pair.results else {
                        panic!("{a}/{b}: {:?}", pair.results);
                    };
                    assert_eq!((peer_of_a.socket_type, peer_of_b.socket_type), (b, a));
                    assert_eq!((peer_of_a.minor, peer_of_b.minor), (1, 1));
                    assert_eq!((&peer_of_a.identity, &peer_of_b.identity), (&None, &None));
                    assert_eq!(commands(&pair.wrote[0]).len(), 1, "{a}/{b}: one READY, no ERROR");
                } else {
                    assert_eq!(
                        pair.results,
                        [
                            Err(ProtocolError::IncompatibleSocketType { ours: a, peer: b }),
                            Err(ProtocolError::IncompatibleSocketType { ours: b, peer: a }),
                        ]
                    );
                    for (i, ours, peer) in [(0, a, b), (1, b, a)] {
                        let reason = format!("Socket-Type-{peer}-cannot-talk-to-{ours}");
                        assert!(
                            matches!(&commands(&pair.wrote[i])[..], [Command::Ready(_), Command::Error { reason: r }] if *r == reason)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn identities_travel() {
        let dealer = Handshake::new(
            SocketType::Dealer,
            Some(Bytes::from_static(b"worker-1")),
            Security::Null,
        );
        let router = Handshake::new(SocketType::Router, None, Security::Null);
        let pair = run(dealer, router);
        let [Ok(peer_of_dealer), Ok(peer_of_router)] = pair.results else {
            panic!("{:?}", pair.results)
        };
        assert_eq!(peer_of_router.identity, Some(Bytes::from_static(b"worker-1")));
        assert_eq!(
            peer_of_router.metadata.get("identity").map(|v| &v[..]),
            Some(&b"worker-1"[..])
        );
        assert_eq!(peer_of_dealer.identity, None);

        // An empty Identity is sent but is no identity.
        let pair = run(
            Handshake::new(SocketType::Req, Some(Bytes::new()), Security::Null),
            Handshake::new(SocketType::Router, None, Security::Null),
        );
        let [_, Ok(peer_of_router)] = pair.results else {
            panic!()
        };
        assert_eq!(peer_of_router.identity, None);
        assert_eq!(peer_of_router.metadata.identity(), Some(&Bytes::new()));
    }

    /// The bytes a peer of type `name` sends: greeting with the given version, then a READY with
    /// the given extra properties.
    fn peer_bytes(major: u8, minor: u8, properties: Metadata) -> BytesMut {
        let mut bytes = BytesMut::new();
        let mut greeting = Greeting::ours(Mechanism::Null, false).encode();
        greeting[10] = major;
        greeting[11] = minor;
        bytes.extend_from_slice(&greeting);
        encode_command(&mut bytes, &Command::Ready(properties));
        bytes
    }

    #[test]
    fn version_negotiation_with_3_0_and_newer_peers() {
        for (major, minor, negotiated) in [(3, 0, 0), (3, 1, 1), (3, 7, 1), (4, 0, 1)] {
            let mut input = peer_bytes(major, minor, Metadata::new().with("Socket-Type", "PUB"));
            let mut handshake = Handshake::new(SocketType::Sub, None, Security::Null);
            let peer = handshake.advance(&mut input).unwrap().unwrap();
            assert_eq!(
                (peer.socket_type, peer.minor),
                (SocketType::Pub, negotiated),
                "{major}.{minor}"
            );
            assert!(input.is_empty());
        }
    }

    #[test]
    fn bytes_after_the_ready_are_left_for_the_decoder() {
        let mut input = peer_bytes(3, 1, Metadata::new().with("Socket-Type", "REP"));
        encode_frame(&mut input, false, b"first message");
        let mut handshake = Handshake::new(SocketType::Req, None, Security::Null);
        handshake.advance(&mut input).unwrap().unwrap();
        let mut expected = BytesMut::new();
        encode_frame(&mut expected, false, b"first message");
        assert_eq!(input, expected);
    }

    #[test]
    fn our_output_is_greeting_then_ready() {
        let mut handshake = Handshake::new(SocketType::Dealer, Some(Bytes::new()), Security::Null);
        let mut out = BytesMut::new();
        handshake.output(&mut out);
        assert_eq!(out[..], Greeting::ours(Mechanism::Null, false).encode());
        out.clear();
        handshake.output(&mut out);
        assert!(out.is_empty(), "output drains");
        let mut input = peer_bytes(3, 1, Metadata::new().with("Socket-Type", "ROUTER"));
        handshake.advance(&mut input).unwrap().unwrap();
        handshake.output(&mut out);
        // RFC 37 §"Worked Example": the DEALER's READY, byte for byte.
        let mut expected = vec![0x04, 41, 5];
        expected.extend(b"READY");
        expected.push(11);
        expected.extend(b"Socket-Type");
        expected.extend([0, 0, 0, 6]);
        expected.extend(b"DEALER");
        expected.push(8);
        expected.extend(b"Identity");
        expected.extend([0, 0, 0, 0]);
        assert_eq!(out[..], expected);
    }

    #[test]
    fn peer_error_is_reported() {
        let mut input = BytesMut::from(&Greeting::ours(Mechanism::Null, false).encode()[..]);
        encode_command(
            &mut input,
            &Command::Error {
                reason: "go away".into(),
            },
        );
        let mut handshake = Handshake::new(SocketType::Req, None, Security::Null);
        let error = ProtocolError::PeerError("go away".into());
        assert_eq!(handshake.advance(&mut input), Err(error.clone()));
        // Failing is final.
        assert_eq!(handshake.advance(&mut BytesMut::from(&b"more"[..])), Err(error));
    }

    #[test]
    fn socket_type_problems_send_error() {
        for (properties, error) in [
            (Metadata::new(), ProtocolError::MissingSocketType),
            (
                Metadata::new().with("Socket-Type", "CLIENT"),
                ProtocolError::UnknownSocketType("CLIENT".into()),
            ),
        ] {
            let mut handshake = Handshake::new(SocketType::Req, None, Security::Null);
            assert_eq!(handshake.advance(&mut peer_bytes(3, 1, properties)), Err(error));
            let mut out = BytesMut::new();
            handshake.output(&mut out);
            assert!(matches!(commands(&out)[..], [Command::Ready(_), Command::Error { .. }]));
        }
    }

    #[test]
    fn router_refuses_invalid_identities_others_ignore_them() {
        let long = vec![b'x'; 256];
        for (identity, error) in [
            (&long[..], ProtocolError::IdentityTooLong(256)),
            (&b"\0abc"[..], ProtocolError::IdentityReserved),
        ] {
            let properties = Metadata::new().with("Socket-Type", "DEALER").with("Identity", identity);
            let mut router = Handshake::new(SocketType::Router, None, Security::Null);
            assert_eq!(router.advance(&mut peer_bytes(3, 1, properties.clone())), Err(error));
            let mut dealer = Handshake::new(SocketType::Dealer, None, Security::Null);
            let peer = dealer.advance(&mut peer_bytes(3, 1, properties)).unwrap().unwrap();
            assert_eq!(peer.identity, None);
        }
    }

    #[test]
    fn anything_but_ready_or_error_is_refused() {
        let greeting = Greeting::ours(Mechanism::Null, false).encode();
        let mut message = BytesMut::from(&greeting[..]);
        message.extend_from_slice(&[0x00]); // a message frame's flags: refused before its size
        assert_eq!(
            Handshake::new(SocketType::Req, None, Security::Null).advance(&mut message),
            Err(ProtocolError::UnexpectedInHandshake("a message frame".into()))
        );
        let mut ping = BytesMut::from(&greeting[..]);
        encode_command(
            &mut ping,
            &Command::Ping {
                ttl_deciseconds: 0,
                context: Bytes::new(),
            },
        );
        assert_eq!(
            Handshake::new(SocketType::Req, None, Security::Null).advance(&mut ping),
            Err(ProtocolError::UnexpectedInHandshake("command PING".into()))
        );
    }

    #[test]
    fn oversized_ready_is_refused_at_its_header() {
        let mut input = BytesMut::from(&Greeting::ours(Mechanism::Null, false).encode()[..]);
        input.extend_from_slice(&[0x06, 0, 0, 0, 0, 0, 1, 0, 1]);
        assert_eq!(
            Handshake::new(SocketType::Req, None, Security::Null).advance(&mut input),
            Err(ProtocolError::HandshakeCommandTooLarge {
                size: 65_537,
                max: MAX_HANDSHAKE_COMMAND_LEN
            })
        );
    }

    #[test]
    fn old_and_foreign_peers_are_refused_early() {
        // A ZMTP 1.0 peer's first byte is a short identity length.
        let mut handshake = Handshake::new(SocketType::Req, None, Security::Null);
        assert_eq!(
            handshake.advance(&mut BytesMut::from(&[0x01][..])),
            Err(ProtocolError::BadSignature { offset: 0, found: 0x01 })
        );
        // A ZMTP 2.0 peer: signature, revision 1, socket type, then its identity frame.
        let mut zmtp2 = BytesMut::from(&[0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 0x01, 0x03, 0x00, 0x00][..]);
        assert_eq!(
            Handshake::new(SocketType::Req, None, Security::Null).advance(&mut zmtp2),
            Err(ProtocolError::UnsupportedVersion { major: 1, minor: 3 })
        );
        // An HTTP client.
        assert_eq!(
            Handshake::new(SocketType::Req, None, Security::Null)
                .advance(&mut BytesMut::from(&b"GET / HTTP/1.1\r\n"[..])),
            Err(ProtocolError::BadSignature { offset: 0, found: b'G' })
        );
    }

    #[test]
    fn error_reasons_are_visible_ascii() {
        for error in [
            ProtocolError::IncompatibleSocketType {
                ours: SocketType::Req,
                peer: SocketType::Pub,
            },
            ProtocolError::UnknownSocketType("späce and\nnewline".into()),
            ProtocolError::MissingSocketType,
        ] {
            let reason = error_reason(&error);
            assert!(
                !reason.is_empty() && reason.bytes().all(|b| b.is_ascii_graphic()),
                "{reason:?}"
            );
        }
    }
}

//! The connection handshake, as a pure state machine: greetings both ways,
//! then the security mechanism's commands (NULL: one READY each way; PLAIN
//! and CURVE: see `plain.rs` and `curve.rs`), with the ZAP handler asked
//! where libzmq asks it.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};

use super::command::{Command, split_name};
use super::curve::{self, ClientKeys};
use super::error::ProtocolError;
use super::frame::{FLAG_COMMAND, encode_command, encode_raw_command, parse_header};
use super::greeting::{GREETING_LEN, Greeting};
use super::mechanism::Mechanism;
use super::metadata::{IDENTITY, Metadata, SOCKET_TYPE};
use super::nacl::{PublicKey, SecretKey};
use super::plain;
use super::zap::{ZapReply, ZapRequest};
use crate::socket_type::SocketType;
use zeroize::Zeroizing;

/// Largest command accepted during the handshake. A READY carries a socket type, an identity of
/// at most 255 bytes and a few application properties; a peer announcing more is refused before
/// anything of it is buffered ("a peer MAY allocate memory to a connection only after the
/// security handshake is complete", RFC 37 §"Security Considerations").
pub(crate) const MAX_HANDSHAKE_COMMAND_LEN: u64 = 64 * 1024;

/// How libzmq's PLAIN server (4.3.5 and before) begins its ERROR command: its C string
/// `"\x05ERROR"` reads as the hex escape `\x05E` followed by `RROR`, so the name's size and
/// first letter come out as one byte, `^`. libzmq's PLAIN clients compare the same five bytes,
/// and so accept it; dhaga's take it as the ERROR it means.
const LIBZMQ_PLAIN_ERROR: &[u8] = b"^RROR";

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
    /// The user id the ZAP handler gave the peer, if it gave one.
    pub(crate) user_id: Option<Bytes>,
    /// The properties the ZAP handler gave the peer.
    pub(crate) zap_metadata: Metadata,
}

/// Our READY properties: `Socket-Type`, `Identity` if we have one, then the
/// application's own (`ZMQ_METADATA`).
fn our_metadata(ours: SocketType, identity: Option<&Bytes>, extra: &[(String, Bytes)]) -> Metadata {
    let mut metadata = Metadata::new().with(SOCKET_TYPE, ours.name());
    if let Some(identity) = identity {
        metadata = metadata.with(IDENTITY, identity);
    }
    extra
        .iter()
        .fold(metadata, |metadata, (name, value)| metadata.with(name, value))
}

/// The security a connection's handshake runs with, from its socket's options.
#[derive(Clone, Debug)]
pub(crate) enum Security {
    /// NULL: no authentication, no encryption. With `zap`, the ZAP handler is asked about the
    /// peer anyway (libzmq does so when the socket has a ZAP domain).
    Null {
        /// Whether to ask the ZAP handler.
        zap: bool,
    },
    /// A PLAIN client with its user name and password.
    PlainClient(Arc<PlainCredentials>),
    /// A PLAIN server: the ZAP handler checks the credentials.
    PlainServer,
    /// A CURVE client with its keys and the server's public key.
    CurveClient(Arc<ClientKeys>),
    /// A CURVE server with its long-term secret key.
    CurveServer(Arc<SecretKey>),
}

impl Security {
    /// NULL without ZAP: libzmq's default.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) const NULL: Security = Security::Null { zap: false };

    /// The mechanism named in our greeting.
    fn mechanism(&self) -> Mechanism {
        match self {
            Security::Null { .. } => Mechanism::Null,
            Security::PlainClient(_) | Security::PlainServer => Mechanism::Plain,
            Security::CurveClient(_) | Security::CurveServer(_) => Mechanism::Curve,
        }
    }

    /// Whether our greeting claims the server role.
    fn as_server(&self) -> bool {
        matches!(self, Security::PlainServer | Security::CurveServer(_))
    }
}

/// A PLAIN client's user name and password (each at most 255 bytes); the password is zeroed
/// when dropped and never shown.
pub(crate) struct PlainCredentials {
    pub(crate) username: Bytes,
    pub(crate) password: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for PlainCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
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
    /// PLAIN client: HELLO sent; waiting for WELCOME, then (INITIATE sent) for READY.
    PlainClient {
        /// Whether WELCOME came.
        welcomed: bool,
    },
    /// PLAIN server: waiting for HELLO, then (ZAP said yes, WELCOME sent) for INITIATE.
    PlainServer {
        /// Whether WELCOME went.
        welcomed: bool,
    },
    /// CURVE client: HELLO sent; waiting for WELCOME, then (INITIATE sent) for READY.
    CurveClient(curve::Client),
    /// CURVE server: waiting for HELLO, then (WELCOME sent) for INITIATE.
    CurveServer(curve::Server),
    /// Waiting for the ZAP handler's reply ([`Handshake::zap_replied`]), then going on.
    Zap(AfterZap),
    /// The peer's READY was accepted and returned.
    Done,
    /// The handshake failed with this error; the peer must be dropped.
    Failed(ProtocolError),
}

/// What a handshake does once the ZAP handler admitted the peer.
enum AfterZap {
    /// NULL: send our READY and wait for the peer's.
    NullReady,
    /// PLAIN server: send WELCOME and wait for INITIATE.
    PlainWelcome,
    /// CURVE server: accept the client's INITIATE and send READY.
    CurveReady {
        /// The client's properties.
        metadata: Metadata,
        /// What its INITIATE gave us.
        initiated: Box<curve::Initiated>,
    },
}

/// One connection's handshake, as a pure state machine: bytes in, bytes out, no I/O.
///
/// Both peers send their 64-byte greeting at once (we do not use libzmq's 11-byte partial
/// greeting, which only serves to talk to pre-3.0 peers) and check the other's. Then, with NULL,
/// each sends a READY command with its `Socket-Type` (and `Identity`, if given) and checks the
/// other's; with PLAIN and CURVE, the client and the server exchange HELLO, WELCOME, INITIATE
/// and READY (see `plain.rs` and `curve.rs`), the properties travelling in INITIATE and READY.
/// The peer may deliver its bytes in any pieces; [`advance`](Handshake::advance) takes what has
/// arrived.
///
/// A connection drives it like this: write [`output`](Handshake::output), read into a buffer,
/// call [`advance`](Handshake::advance), repeat until it returns the [`PeerInfo`]; then flush
/// `output` once more, take the [`cipher`](Handshake::cipher) (CURVE), and hand the rest of the
/// read buffer to a [`Decoder`](super::decoder::Decoder). When `advance` returns `Ok(None)`
/// with a [`zap_request`](Handshake::zap_request) waiting, the connection asks the ZAP handler
/// and gives the answer to [`zap_replied`](Handshake::zap_replied) (or says there is no handler
/// with [`zap_unavailable`](Handshake::zap_unavailable)) before going on.
pub(crate) struct Handshake {
    /// Our socket type, announced in our READY and checked against the peer's.
    ours: SocketType,
    /// The identity announced in our READY, if any.
    identity: Option<Bytes>,
    /// The application's own properties (`ZMQ_METADATA`), announced after
    /// `Socket-Type` and `Identity`.
    extra: Vec<(String, Bytes)>,
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
    /// A question for the ZAP handler, until the connection takes it.
    zap_request: Option<ZapRequest>,
    /// What the ZAP handler said about the peer: its user id and properties.
    admitted: Option<ZapReply>,
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
            extra: Vec::new(),
            security,
            pending: BytesMut::from(&greeting[..]),
            greeting: [0; GREETING_LEN],
            greeting_len: 0,
            minor: 0,
            state: State::Greeting,
            zap_request: None,
            admitted: None,
            session: None,
        }
    }

    /// Bytes to write now (our greeting; later our READY or ERROR); drains what it returns.
    pub(crate) fn output(&mut self, out: &mut BytesMut) {
        out.extend_from_slice(&self.pending);
        self.pending.clear();
    }

    /// The sealer and opener of the traffic after a CURVE handshake that
    /// completed (`None` with NULL and PLAIN, or when taken already).
    pub(crate) fn cipher(&mut self) -> Option<(curve::Sealer, curve::Opener)> {
        self.session.take().map(curve::Session::split)
    }

    /// The question for the ZAP handler, once: when `advance` returns `Ok(None)` with one
    /// waiting, the handshake cannot go on until [`zap_replied`](Handshake::zap_replied) or
    /// [`zap_unavailable`](Handshake::zap_unavailable).
    pub(crate) fn zap_request(&mut self) -> Option<ZapRequest> {
        self.zap_request.take()
    }

    /// Goes on with the ZAP handler's answer, as [`advance`](Handshake::advance) does with
    /// input (the caller calls `advance` again on `Ok(None)`).
    ///
    /// # Errors
    ///
    /// [`ProtocolError::Unauthorized`] for a status other than 200 (after `output` yields an
    /// ERROR with the status, unless it was 300), and what going on may find wrong with the
    /// peer's properties (CURVE, whose INITIATE carried them).
    ///
    /// # Panics
    ///
    /// If the handshake was not waiting for ZAP.
    pub(crate) fn zap_replied(&mut self, reply: ZapReply) -> Result<Option<PeerInfo>, ProtocolError> {
        let State::Zap(after) = std::mem::replace(&mut self.state, State::Done) else {
            panic!("Handshake::zap_replied without a ZAP request");
        };
        match reply.status {
            200 => {}
            status => {
                let refusal = ProtocolError::Unauthorized {
                    status,
                    text: reply.text,
                };
                // "A 300 ... the server SHALL NOT send an ERROR" (libzmq drops the peer silently).
                if status != 300 {
                    encode_command(
                        &mut self.pending,
                        &Command::Error {
                            reason: status.to_string(),
                        },
                    );
                }
                return Err(self.fail(refusal));
            }
        }
        self.admitted = Some(reply);
        match after {
            AfterZap::NullReady => {
                let ready = Command::Ready(self.our_metadata());
                encode_command(&mut self.pending, &ready);
                self.state = State::NullReady;
                Ok(None)
            }
            AfterZap::PlainWelcome => {
                encode_raw_command(&mut self.pending, "WELCOME", &[]);
                self.state = State::PlainServer { welcomed: true };
                Ok(None)
            }
            AfterZap::CurveReady { metadata, initiated } => self.curve_ready(metadata, *initiated).map(Some),
        }
    }

    /// Goes on without a ZAP handler to ask: NULL and CURVE admit the peer (libzmq's rule,
    /// which lets CURVE encrypt without authenticating) unless `enforce` (libzmq's
    /// `ZMQ_ZAP_ENFORCE_DOMAIN`); PLAIN cannot check the password and refuses it.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::NoZapHandler`] for PLAIN, or when enforced; what going on may find
    /// wrong, as [`zap_replied`](Handshake::zap_replied).
    pub(crate) fn zap_unavailable(&mut self, enforce: bool) -> Result<Option<PeerInfo>, ProtocolError> {
        if enforce || matches!(self.state, State::Zap(AfterZap::PlainWelcome)) {
            return Err(self.fail(ProtocolError::NoZapHandler));
        }
        self.zap_replied(ZapReply::admitted())
    }

    /// Consumes as much of `input` as the handshake needs (leaving any bytes that follow it, e.g.
    /// the peer's first messages, in `input`). Ok(Some(peer)) when done (after which the caller
    /// must still flush `output`), Ok(None) when more input is needed (or the ZAP handler's
    /// answer, see [`zap_request`](Handshake::zap_request)), Err when the peer must be dropped
    /// (after `output` yields an ERROR command to send if the RFC says to send one, e.g.
    /// incompatible socket type).
    ///
    /// Bad signatures and versions are refused as soon as their bytes arrive, and a command
    /// longer than [`MAX_HANDSHAKE_COMMAND_LEN`] as soon as its header does. Once failed, every
    /// further call returns the same error without consuming input.
    ///
    /// # Errors
    ///
    /// The greeting's errors ([`Greeting::decode`]), [`ProtocolError::MechanismMismatch`], the
    /// frame and command errors of a malformed command, [`ProtocolError::UnexpectedInHandshake`]
    /// and [`ProtocolError::UnexpectedCommand`] for a message or another command than the
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
                // The peer's next bytes wait in `input` for the handler's answer.
                State::Zap(_) => return Ok(None),
                State::NullReady
                | State::PlainClient { .. }
                | State::PlainServer { .. }
                | State::CurveClient(_)
                | State::CurveServer(_) => {
                    let Some((name, data)) = self.take_command(input)? else {
                        return Ok(None);
                    };
                    if let Some(peer) = self.on_command(name, data)? {
                        return Ok(Some(peer));
                    }
                }
            }
        }
    }

    /// Moves greeting bytes from `input`; once all 64 are there, checks them and queues our
    /// first command (NULL's READY, a client's HELLO). Returns whether the greeting is complete.
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
            Security::Null { zap: false } => {
                encode_command(&mut self.pending, &ready);
                State::NullReady
            }
            Security::Null { zap: true } => self.ask_zap(Mechanism::Null, Vec::new(), AfterZap::NullReady),
            Security::PlainClient(credentials) => {
                plain::hello(&mut self.pending, &credentials.username, &credentials.password);
                State::PlainClient { welcomed: false }
            }
            Security::PlainServer => State::PlainServer { welcomed: false },
            Security::CurveClient(keys) => {
                let client = curve::Client::new(Arc::clone(keys));
                client.hello(&mut self.pending).map_err(|error| self.fail(error))?;
                State::CurveClient(client)
            }
            Security::CurveServer(secret) => State::CurveServer(curve::Server::new(Arc::clone(secret))),
        };
        Ok(true)
    }

    /// Queues a question for the ZAP handler and returns the state that waits for its answer.
    fn ask_zap(&mut self, mechanism: Mechanism, credentials: Vec<Bytes>, after: AfterZap) -> State {
        self.zap_request = Some(ZapRequest { mechanism, credentials });
        State::Zap(after)
    }

    /// Announces the application's properties (`ZMQ_METADATA`: names that
    /// start with `X-`, checked by the caller) in our READY too.
    pub(crate) fn with_properties(mut self, properties: Vec<(String, Bytes)>) -> Handshake {
        self.extra = properties;
        self
    }

    /// Our READY properties.
    fn our_metadata(&self) -> Metadata {
        our_metadata(self.ours, self.identity.as_ref(), &self.extra)
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
        if self.security.mechanism() == Mechanism::Plain && body.starts_with(LIBZMQ_PLAIN_ERROR) {
            return Ok(Some((
                Bytes::from_static(b"ERROR"),
                body.slice(LIBZMQ_PLAIN_ERROR.len()..),
            )));
        }
        split_name(body).map(Some).map_err(|error| self.fail(error))
    }

    /// Handles one command of the handshake; `Some(peer)` when it completed it.
    fn on_command(&mut self, name: Bytes, data: Bytes) -> Result<Option<PeerInfo>, ProtocolError> {
        if &name[..] == b"ERROR" {
            // Any mechanism's peer may refuse us (a server in clear, with a ZAP status).
            return match Command::decode_parts(name, data) {
                Ok(Command::Error { reason }) => Err(self.fail(ProtocolError::PeerError(reason))),
                Ok(_) => unreachable!("an ERROR decodes as ERROR"),
                Err(error) => Err(self.fail(error)),
            };
        }
        let expected = match &self.state {
            State::NullReady => "READY",
            State::PlainClient { welcomed: false } | State::CurveClient(_) => "WELCOME",
            State::PlainClient { welcomed: true } => "READY",
            State::PlainServer { welcomed: false } | State::CurveServer(_) => "HELLO",
            State::PlainServer { welcomed: true } => "INITIATE",
            State::Greeting | State::Zap(_) | State::Done | State::Failed(_) => {
                unreachable!("no command is taken now")
            }
        };
        let unexpected = || ProtocolError::UnexpectedCommand {
            expected,
            received: String::from_utf8_lossy(&name).into_owned(),
        };
        let step = match (&mut self.state, &name[..]) {
            (State::NullReady, _) => match Command::decode_parts(name.clone(), data) {
                Ok(Command::Ready(metadata)) => return self.accept(metadata).map(Some),
                Ok(other) => {
                    let what = format!("command {}", String::from_utf8_lossy(other.name()));
                    Err(ProtocolError::UnexpectedInHandshake(what))
                }
                Err(error) => Err(error),
            },

            (State::PlainClient { welcomed: false }, b"WELCOME") if data.is_empty() => {
                let ready = self.our_metadata();
                let mut metadata = BytesMut::new();
                ready.encode(&mut metadata);
                encode_raw_command(&mut self.pending, "INITIATE", &[&metadata]);
                self.state = State::PlainClient { welcomed: true };
                return Ok(None);
            }
            (State::PlainClient { welcomed: true }, b"READY") => match Metadata::decode(data) {
                Ok(metadata) => return self.accept(metadata).map(Some),
                Err(error) => Err(error),
            },
            (State::PlainServer { welcomed: false }, b"HELLO") => match plain::parse_hello(&data) {
                Ok((username, password)) => {
                    self.state = self.ask_zap(Mechanism::Plain, vec![username, password], AfterZap::PlainWelcome);
                    return Ok(None);
                }
                Err(error) => Err(error),
            },
            (State::PlainServer { welcomed: true }, b"INITIATE") => match Metadata::decode(data) {
                Ok(metadata) => {
                    let peer = self.accept(metadata)?;
                    let ours = self.our_metadata_bytes();
                    encode_raw_command(&mut self.pending, "READY", &[&ours]);
                    return Ok(Some(peer));
                }
                Err(error) => Err(error),
            },

            (State::CurveClient(client), b"WELCOME") => {
                let ours = {
                    let mut out = BytesMut::new();
                    our_metadata(self.ours, self.identity.as_ref(), &self.extra).encode(&mut out);
                    out
                };
                client.on_welcome(&data, &ours, &mut self.pending)
            }
            (State::CurveClient(client), b"READY") => match client.on_ready(&data) {
                Ok((metadata, session)) => {
                    let metadata = Metadata::decode(Bytes::copy_from_slice(&metadata)).map_err(|e| self.fail(e))?;
                    let peer = self.accept(metadata)?;
                    self.session = Some(session);
                    return Ok(Some(peer));
                }
                Err(error) => Err(error),
            },
            (State::CurveServer(server), b"HELLO") => server.on_hello(&data, &mut self.pending),
            (State::CurveServer(server), b"INITIATE") => match server.on_initiate(&data) {
                Ok(initiated) => {
                    let metadata =
                        Metadata::decode(Bytes::copy_from_slice(&initiated.metadata)).map_err(|e| self.fail(e))?;
                    let credentials = vec![Bytes::copy_from_slice(&initiated.client)];
                    let after = AfterZap::CurveReady {
                        metadata,
                        initiated: Box::new(initiated),
                    };
                    self.state = self.ask_zap(Mechanism::Curve, credentials, after);
                    return Ok(None);
                }
                Err(error) => Err(error),
            },
            _ => Err(unexpected()),
        };
        match step {
            Ok(()) => Ok(None),
            Err(error) => Err(self.fail(error)),
        }
    }

    /// Our READY properties, encoded.
    fn our_metadata_bytes(&self) -> BytesMut {
        let mut out = BytesMut::new();
        self.our_metadata().encode(&mut out);
        out
    }

    /// A CURVE server admits its client: checks its properties and sends READY.
    fn curve_ready(&mut self, metadata: Metadata, mut initiated: curve::Initiated) -> Result<PeerInfo, ProtocolError> {
        let mut peer = self.accept(metadata)?;
        peer.curve_key = Some(initiated.client);
        let ours = self.our_metadata_bytes();
        curve::ready(&mut initiated.session, &ours, &mut self.pending);
        self.session = Some(initiated.session);
        Ok(peer)
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
        let admitted = self.admitted.take();
        Ok(PeerInfo {
            socket_type,
            identity,
            minor: self.minor,
            metadata,
            curve_key: None,
            user_id: admitted
                .as_ref()
                .map(|reply| reply.user_id.clone())
                .filter(|id| !id.is_empty()),
            zap_metadata: admitted.map(|reply| reply.metadata).unwrap_or_default(),
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

    /// Runs a client and a server handshake against each other, the server's ZAP handler
    /// answering `zap` (or there being none); returns both outcomes and the server's request.
    fn run_with_zap(
        mut client: Handshake,
        mut server: Handshake,
        zap: Option<ZapReply>,
    ) -> ([Result<PeerInfo, ProtocolError>; 2], Option<ZapRequest>) {
        let mut to_client = BytesMut::new();
        let mut to_server = BytesMut::new();
        let mut results: [Option<Result<PeerInfo, ProtocolError>>; 2] = [None, None];
        let mut request = None;
        for _round in 0..10 {
            client.output(&mut to_server);
            server.output(&mut to_client);
            if results[0].is_none() {
                results[0] = client.advance(&mut to_client).transpose();
            }
            if results[1].is_none() {
                results[1] = server.advance(&mut to_server).transpose();
                if let Some(asked) = server.zap_request() {
                    request = Some(asked);
                    results[1] = match zap.clone() {
                        Some(reply) => server.zap_replied(reply),
                        None => server.zap_unavailable(false),
                    }
                    .transpose();
                }
            }
            // A side that failed is done; a client refused stops when the server's ERROR
            // arrives or the server is done.
            if results.iter().all(Option::is_some) {
                let [a, b] = results;
                return ([a.unwrap(), b.unwrap()], request);
            }
            if results[1].as_ref().is_some_and(Result::is_err) && results[0].is_none() {
                server.output(&mut to_client);
                results[0] = Some(
                    client
                        .advance(&mut to_client)
                        .transpose()
                        .unwrap_or(Err(ProtocolError::PeerError("silence".into()))),
                );
            }
        }
        panic!("the handshake did not finish: {results:?}");
    }

    fn plain_client(password: &[u8]) -> Handshake {
        let credentials = PlainCredentials {
            username: Bytes::from_static(b"admin"),
            password: Zeroizing::new(password.to_vec()),
        };
        Handshake::new(SocketType::Req, None, Security::PlainClient(Arc::new(credentials)))
    }

    fn reply(status: u16, user_id: &'static [u8]) -> ZapReply {
        ZapReply {
            status,
            text: String::new(),
            user_id: Bytes::from_static(user_id),
            metadata: Metadata::new().with("X-Role", "admin"),
        }
    }

    #[test]
    fn plain_asks_zap_with_the_credentials_and_passes_its_word_on() {
        let server = Handshake::new(SocketType::Rep, None, Security::PlainServer);
        let ([client, server], request) = run_with_zap(plain_client(b"secret"), server, Some(reply(200, b"alice")));
        let (client, server) = (client.unwrap(), server.unwrap());
        assert_eq!(
            (client.socket_type, server.socket_type),
            (SocketType::Rep, SocketType::Req)
        );
        assert_eq!(
            request,
            Some(ZapRequest {
                mechanism: Mechanism::Plain,
                credentials: vec![Bytes::from_static(b"admin"), Bytes::from_static(b"secret")],
            })
        );
        assert_eq!(server.user_id, Some(Bytes::from_static(b"alice")));
        assert_eq!(server.zap_metadata.get("x-role").map(|v| &v[..]), Some(&b"admin"[..]));
        assert_eq!(client.user_id, None);
    }

    #[test]
    fn zap_refusals_send_error_except_300() {
        for (status, error_sent) in [(300, false), (400, true), (500, true)] {
            let mut server = Handshake::new(SocketType::Rep, None, Security::PlainServer);
            let mut client = plain_client(b"guess");
            let (mut to_server, mut to_client) = (BytesMut::new(), BytesMut::new());
            server.output(&mut to_client);
            assert_eq!(client.advance(&mut to_client), Ok(None));
            client.output(&mut to_server);
            assert_eq!(server.advance(&mut to_server), Ok(None));
            assert!(server.zap_request().is_some(), "the HELLO asks ZAP");
            let refused = server.zap_replied(reply(status, b"")).unwrap_err();
            assert_eq!(refused.auth_status(), Some(status));
            server.output(&mut to_client);
            let expected: &[Command] = if error_sent {
                &[Command::Error {
                    reason: status.to_string(),
                }]
            } else {
                &[]
            };
            let mut sent = to_client.clone();
            let mut decoder = Decoder::new(None);
            let mut got = Vec::new();
            while let Some(Item::Command(command)) = decoder.decode(&mut sent).unwrap() {
                got.push(command);
            }
            assert_eq!(got, expected, "status {status}");
            if error_sent {
                // The client reports the handler's code.
                assert_eq!(client.advance(&mut to_client).unwrap_err().auth_status(), Some(status));
            }
        }
    }

    #[test]
    fn plain_without_a_zap_handler_is_refused_curve_and_null_are_not() {
        let server = Handshake::new(SocketType::Rep, None, Security::PlainServer);
        let ([_, server], _) = run_with_zap(plain_client(b"secret"), server, None);
        assert_eq!(server.unwrap_err(), ProtocolError::NoZapHandler);

        let null = Handshake::new(SocketType::Rep, None, Security::Null { zap: true });
        let ([client, server], request) =
            run_with_zap(Handshake::new(SocketType::Req, None, Security::NULL), null, None);
        assert!(client.is_ok() && server.is_ok());
        assert_eq!(request.map(|r| r.mechanism), Some(Mechanism::Null));
    }

    #[test]
    fn libzmqs_malformed_plain_error_is_understood() {
        let mut client = plain_client(b"guess");
        let mut input = BytesMut::from(&Greeting::ours(Mechanism::Plain, true).encode()[..]);
        input.extend_from_slice(b"\x04\x09^RROR\x03400");
        let error = client.advance(&mut input).unwrap_err();
        assert_eq!(error, ProtocolError::PeerError("400".into()));
        assert_eq!(error.auth_status(), Some(400));
    }

    #[test]
    fn every_pair_of_socket_types() {
        for a in SocketType::ALL {
            for b in SocketType::ALL {
                let pair = run(
                    Handshake::new(a, None, Security::NULL),
                    Handshake::new(b, None, Security::NULL),
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
            Security::NULL,
        );
        let router = Handshake::new(SocketType::Router, None, Security::NULL);
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
            Handshake::new(SocketType::Req, Some(Bytes::new()), Security::NULL),
            Handshake::new(SocketType::Router, None, Security::NULL),
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
            let mut handshake = Handshake::new(SocketType::Sub, None, Security::NULL);
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
        let mut handshake = Handshake::new(SocketType::Req, None, Security::NULL);
        handshake.advance(&mut input).unwrap().unwrap();
        let mut expected = BytesMut::new();
        encode_frame(&mut expected, false, b"first message");
        assert_eq!(input, expected);
    }

    #[test]
    fn our_output_is_greeting_then_ready() {
        let mut handshake = Handshake::new(SocketType::Dealer, Some(Bytes::new()), Security::NULL);
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
        let mut handshake = Handshake::new(SocketType::Req, None, Security::NULL);
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
            let mut handshake = Handshake::new(SocketType::Req, None, Security::NULL);
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
            let mut router = Handshake::new(SocketType::Router, None, Security::NULL);
            assert_eq!(router.advance(&mut peer_bytes(3, 1, properties.clone())), Err(error));
            let mut dealer = Handshake::new(SocketType::Dealer, None, Security::NULL);
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
            Handshake::new(SocketType::Req, None, Security::NULL).advance(&mut message),
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
            Handshake::new(SocketType::Req, None, Security::NULL).advance(&mut ping),
            Err(ProtocolError::UnexpectedInHandshake("command PING".into()))
        );
    }

    #[test]
    fn oversized_ready_is_refused_at_its_header() {
        let mut input = BytesMut::from(&Greeting::ours(Mechanism::Null, false).encode()[..]);
        input.extend_from_slice(&[0x06, 0, 0, 0, 0, 0, 1, 0, 1]);
        assert_eq!(
            Handshake::new(SocketType::Req, None, Security::NULL).advance(&mut input),
            Err(ProtocolError::HandshakeCommandTooLarge {
                size: 65_537,
                max: MAX_HANDSHAKE_COMMAND_LEN
            })
        );
    }

    #[test]
    fn old_and_foreign_peers_are_refused_early() {
        // A ZMTP 1.0 peer's first byte is a short identity length.
        let mut handshake = Handshake::new(SocketType::Req, None, Security::NULL);
        assert_eq!(
            handshake.advance(&mut BytesMut::from(&[0x01][..])),
            Err(ProtocolError::BadSignature { offset: 0, found: 0x01 })
        );
        // A ZMTP 2.0 peer: signature, revision 1, socket type, then its identity frame.
        let mut zmtp2 = BytesMut::from(&[0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 0x01, 0x03, 0x00, 0x00][..]);
        assert_eq!(
            Handshake::new(SocketType::Req, None, Security::NULL).advance(&mut zmtp2),
            Err(ProtocolError::UnsupportedVersion { major: 1, minor: 3 })
        );
        // An HTTP client.
        assert_eq!(
            Handshake::new(SocketType::Req, None, Security::NULL)
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

//! The connection handshake with the NULL mechanism, as a pure state machine:
//! greetings both ways, then one READY command each way.

use bytes::{Buf, Bytes, BytesMut};

use super::command::Command;
use super::error::ProtocolError;
use super::frame::{FLAG_COMMAND, encode_command, parse_header};
use super::greeting::{GREETING_LEN, Greeting};
use super::mechanism::Mechanism;
use super::metadata::{IDENTITY, Metadata, SOCKET_TYPE};
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
}

/// Where the handshake is.
#[derive(Debug)]
enum State {
    /// Collecting the peer's 64-byte greeting.
    Greeting,
    /// Greetings exchanged and our READY queued; waiting for the peer's READY.
    Ready {
        /// The negotiated minor version.
        minor: u8,
    },
    /// The peer's READY was accepted and returned.
    Done,
    /// The handshake failed with this error; the peer must be dropped.
    Failed(ProtocolError),
}

/// The NULL-mechanism handshake of one connection, as a pure state machine: bytes in, bytes
/// out, no I/O.
///
/// Both peers send their 64-byte greeting at once (we do not use libzmq's 11-byte partial
/// greeting, which only serves to talk to pre-3.0 peers), check the other's, then each sends a
/// READY command with its `Socket-Type` (and `Identity`, if given) and checks the other's. The
/// peer may deliver its greeting and READY in any pieces; [`advance`](Handshake::advance) takes
/// what has arrived.
///
/// A connection drives it like this: write [`output`](Handshake::output), read into a buffer,
/// call [`advance`](Handshake::advance), repeat until it returns the [`PeerInfo`]; then flush
/// `output` once more and hand the rest of the read buffer to a
/// [`Decoder`](super::decoder::Decoder).
#[derive(Debug)]
pub(crate) struct Handshake {
    /// Our socket type, announced in our READY and checked against the peer's.
    ours: SocketType,
    /// The identity announced in our READY, if any.
    identity: Option<Bytes>,
    /// Our security mechanism (only NULL for now).
    mechanism: Mechanism,
    /// Bytes queued for the peer and not yet taken by `output`: at most a greeting, a READY and
    /// an ERROR.
    pending: BytesMut,
    /// The peer's greeting as far as it has arrived (copied out of the input so the caller's
    /// buffer can be reused).
    greeting: [u8; GREETING_LEN],
    /// How many bytes of `greeting` have arrived.
    greeting_len: usize,
    /// Where the handshake is.
    state: State,
}

impl Handshake {
    /// A handshake for a socket of type `ours`, with the NULL mechanism.
    ///
    /// `identity`: the Identity property to send (ROUTER peers use it); `None` sends no Identity
    /// property, `Some` of an empty value sends an empty one (as libzmq's DEALER and REQ do).
    /// The caller validates it (at most 255 bytes, not starting with a zero byte; debug builds
    /// assert this). `as_server`: RFC 23 as-server flag (false for NULL).
    pub(crate) fn new(ours: SocketType, identity: Option<Bytes>, as_server: bool) -> Handshake {
        debug_assert!(
            identity
                .as_ref()
                .is_none_or(|id| id.len() <= MAX_IDENTITY_LEN && id.first() != Some(&RESERVED_IDENTITY_START)),
            "invalid identity {identity:?}"
        );
        let mechanism = Mechanism::Null;
        Handshake {
            ours,
            identity,
            mechanism,
            pending: BytesMut::from(&Greeting::ours(mechanism, as_server).encode()[..]),
            greeting: [0; GREETING_LEN],
            greeting_len: 0,
            state: State::Greeting,
        }
    }

    /// Bytes to write now (our greeting; later our READY or ERROR); drains what it returns.
    pub(crate) fn output(&mut self, out: &mut BytesMut) {
        out.extend_from_slice(&self.pending);
        self.pending.clear();
    }

    /// Consumes as much of `input` as the handshake needs (leaving any bytes that follow it, e.g.
    /// the peer's first messages, in `input`). Ok(Some(peer)) when done (after which the caller
    /// must still flush `output`), Ok(None) when more input is needed, Err when the peer must be
    /// dropped (after `output` yields an ERROR command to send if the RFC says to send one, e.g.
    /// incompatible socket type).
    ///
    /// Bad signatures and versions are refused as soon as their bytes arrive, and a READY longer
    /// than [`MAX_HANDSHAKE_COMMAND_LEN`] as soon as its header does. Once failed, every further
    /// call returns the same error without consuming input.
    ///
    /// # Errors
    ///
    /// The greeting's errors ([`Greeting::decode`]), [`ProtocolError::MechanismMismatch`], the
    /// frame and command errors of a malformed READY, [`ProtocolError::UnexpectedInHandshake`]
    /// for a message or another command instead of READY, [`ProtocolError::PeerError`] if the
    /// peer sent ERROR, the socket-type errors ([`ProtocolError::MissingSocketType`],
    /// [`ProtocolError::UnknownSocketType`], [`ProtocolError::IncompatibleSocketType`], after
    /// which `output` yields an ERROR command), and for a ROUTER the identity errors.
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
                State::Ready { minor } => return self.take_ready(input, minor),
                State::Done => panic!("Handshake::advance called after the handshake completed"),
                State::Failed(ref error) => return Err(error.clone()),
            }
        }
    }

    /// Moves greeting bytes from `input`; once all 64 are there, checks them and queues our
    /// READY. Returns whether the greeting is complete.
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
        if peer.mechanism != self.mechanism {
            return Err(self.fail(ProtocolError::MechanismMismatch {
                ours: self.mechanism,
                peer: peer.mechanism,
            }));
        }
        let mut ready = Metadata::new().with(SOCKET_TYPE, self.ours.name());
        if let Some(identity) = &self.identity {
            ready = ready.with(IDENTITY, identity);
        }
        encode_command(&mut self.pending, &Command::Ready(ready));
        self.state = State::Ready {
            minor: peer.negotiated_minor(),
        };
        Ok(true)
    }

    /// Takes the peer's READY (or ERROR) from `input` once it has arrived whole.
    fn take_ready(&mut self, input: &mut BytesMut, minor: u8) -> Result<Option<PeerInfo>, ProtocolError> {
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
        match Command::decode(body) {
            Ok(Command::Ready(metadata)) => self.accept(metadata, minor),
            Ok(Command::Error { reason }) => Err(self.fail(ProtocolError::PeerError(reason))),
            Ok(other) => {
                let what = format!("command {}", String::from_utf8_lossy(other.name()));
                Err(self.fail(ProtocolError::UnexpectedInHandshake(what)))
            }
            Err(error) => Err(self.fail(error)),
        }
    }

    /// Checks the peer's READY metadata and completes the handshake.
    fn accept(&mut self, metadata: Metadata, minor: u8) -> Result<Option<PeerInfo>, ProtocolError> {
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
        Ok(Some(PeerInfo {
            socket_type,
            identity,
            minor,
            metadata,
        }))
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
                let pair = run(Handshake::new(a, None, false), Handshake::new(b, None, false));
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
        let dealer = Handshake::new(SocketType::Dealer, Some(Bytes::from_static(b"worker-1")), false);
        let router = Handshake::new(SocketType::Router, None, false);
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
            Handshake::new(SocketType::Req, Some(Bytes::new()), false),
            Handshake::new(SocketType::Router, None, false),
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
            let mut handshake = Handshake::new(SocketType::Sub, None, false);
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
        let mut handshake = Handshake::new(SocketType::Req, None, false);
        handshake.advance(&mut input).unwrap().unwrap();
        let mut expected = BytesMut::new();
        encode_frame(&mut expected, false, b"first message");
        assert_eq!(input, expected);
    }

    #[test]
    fn our_output_is_greeting_then_ready() {
        let mut handshake = Handshake::new(SocketType::Dealer, Some(Bytes::new()), false);
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
        let mut handshake = Handshake::new(SocketType::Req, None, false);
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
            let mut handshake = Handshake::new(SocketType::Req, None, false);
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
            let mut router = Handshake::new(SocketType::Router, None, false);
            assert_eq!(router.advance(&mut peer_bytes(3, 1, properties.clone())), Err(error));
            let mut dealer = Handshake::new(SocketType::Dealer, None, false);
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
            Handshake::new(SocketType::Req, None, false).advance(&mut message),
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
            Handshake::new(SocketType::Req, None, false).advance(&mut ping),
            Err(ProtocolError::UnexpectedInHandshake("command PING".into()))
        );
    }

    #[test]
    fn oversized_ready_is_refused_at_its_header() {
        let mut input = BytesMut::from(&Greeting::ours(Mechanism::Null, false).encode()[..]);
        input.extend_from_slice(&[0x06, 0, 0, 0, 0, 0, 1, 0, 1]);
        assert_eq!(
            Handshake::new(SocketType::Req, None, false).advance(&mut input),
            Err(ProtocolError::HandshakeCommandTooLarge {
                size: 65_537,
                max: MAX_HANDSHAKE_COMMAND_LEN
            })
        );
    }

    #[test]
    fn old_and_foreign_peers_are_refused_early() {
        // A ZMTP 1.0 peer's first byte is a short identity length.
        let mut handshake = Handshake::new(SocketType::Req, None, false);
        assert_eq!(
            handshake.advance(&mut BytesMut::from(&[0x01][..])),
            Err(ProtocolError::BadSignature { offset: 0, found: 0x01 })
        );
        // A ZMTP 2.0 peer: signature, revision 1, socket type, then its identity frame.
        let mut zmtp2 = BytesMut::from(&[0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 0x01, 0x03, 0x00, 0x00][..]);
        assert_eq!(
            Handshake::new(SocketType::Req, None, false).advance(&mut zmtp2),
            Err(ProtocolError::UnsupportedVersion { major: 1, minor: 3 })
        );
        // An HTTP client.
        assert_eq!(
            Handshake::new(SocketType::Req, None, false).advance(&mut BytesMut::from(&b"GET / HTTP/1.1\r\n"[..])),
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

//! Everything a peer can do wrong on the wire, as one error type.

use std::error::Error;
use std::fmt;

use super::mechanism::Mechanism;
use crate::socket_type::SocketType;

/// A violation of ZMTP by the peer (or a refusal of what it announced).
///
/// The connection that produced it is dropped; nothing else is affected. A
/// monitor sees it when it ends a handshake
/// ([`HandshakeFailure::Protocol`](crate::HandshakeFailure::Protocol)). The
/// [`Display`](fmt::Display) text is one line fit for a log or a monitor event
/// and names the values involved, e.g. "frame of 2000000 bytes exceeds the
/// maximum message size 1048576".
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The first ten bytes are not a ZMTP signature (`%xFF`, 8 bytes padding, `%x7F`): the peer
    /// speaks ZMTP 1.0 or is not ZeroMQ at all.
    BadSignature {
        /// Offset of the first wrong byte in the greeting (0 or 9).
        offset: usize,
        /// The byte found there.
        found: u8,
    },
    /// The peer's greeting announces a version older than 3.0, which this crate does not speak.
    UnsupportedVersion {
        /// The peer's major version (a ZMTP 2.0 peer sends 1 or 2).
        major: u8,
        /// The byte after it (the minor version for 3.x; something else for older peers).
        minor: u8,
    },
    /// The greeting names a security mechanism this crate does not implement.
    UnsupportedMechanism(String),
    /// The peer's security mechanism is not ours (RFC 23 §"Authentication and Confidentiality":
    /// the connection MUST then be closed).
    MechanismMismatch {
        /// The mechanism we announced.
        ours: Mechanism,
        /// The mechanism the peer announced.
        peer: Mechanism,
    },
    /// A frame's flags byte has one of the reserved bits 7-3 set.
    ReservedFlags(u8),
    /// A command frame has the MORE flag set (it "SHALL be zero on command frames").
    CommandWithMore,
    /// A command frame arrived between two frames of one multipart message.
    CommandInsideMessage,
    /// A frame is longer than the maximum message size (or than ZMTP's 2^63-1 limit, or than
    /// this machine's memory).
    FrameTooLarge {
        /// The size the frame header announces.
        size: u64,
        /// The limit it exceeds.
        max: u64,
    },
    /// A multipart message grew past the maximum message size (or this machine's memory) while
    /// it arrived: its frames so far and the next one's header, counted as the decoder does.
    MessageTooLarge {
        /// The message's size with the frame whose header showed it: bodies, and 32 bytes for
        /// each frame after the eighth.
        size: u64,
        /// Its frames, the one announced included.
        frames: u64,
        /// The limit it exceeds.
        max: u64,
    },
    /// A command during the handshake is longer than the handshake accepts.
    HandshakeCommandTooLarge {
        /// The size the frame header announces.
        size: u64,
        /// The limit it exceeds.
        max: u64,
    },
    /// A command frame whose name has zero length (or whose body is empty).
    EmptyCommandName,
    /// A command frame whose name runs past the end of its body.
    CommandNameTruncated {
        /// The name length the command announces.
        len: usize,
        /// The bytes of body there are after the length.
        available: usize,
    },
    /// A command frame whose name is not ASCII letters (RFC 23 `command-name-char = ALPHA`).
    InvalidCommandName(String),
    /// A command whose body does not follow its grammar.
    MalformedCommand {
        /// The command's name.
        command: &'static str,
        /// What is wrong, e.g. "name truncated".
        problem: &'static str,
    },
    /// The metadata of a READY command does not follow its grammar (truncated property, empty
    /// name, character outside the property-name charset).
    MalformedMetadata(&'static str),
    /// During the NULL handshake the peer sent something other than READY or ERROR.
    UnexpectedInHandshake(String),
    /// A handshake command (READY) arrived after the handshake was complete.
    CommandAfterHandshake(String),
    /// The peer sent an ERROR command: it refuses the connection.
    PeerError(String),
    /// The peer's READY has no `Socket-Type` property.
    MissingSocketType,
    /// The peer's `Socket-Type` names a type this crate does not implement.
    UnknownSocketType(String),
    /// The peer's socket type cannot talk to ours (RFC 23 §"The Socket-Type Property").
    IncompatibleSocketType {
        /// Our socket type.
        ours: SocketType,
        /// The type the peer announced.
        peer: SocketType,
    },
    /// The peer's `Identity` is longer than 255 bytes (RFC 23 §"The Identity Property").
    IdentityTooLong(usize),
    /// The peer's `Identity` starts with a zero byte, which is reserved for implementations.
    IdentityReserved,
    /// The peer sent a handshake command other than the one the mechanism expects now.
    UnexpectedCommand {
        /// The command expected.
        expected: &'static str,
        /// The name of the command received.
        received: String,
    },
    /// The peer's CURVE HELLO announces a CurveZMQ version other than 1.0.
    UnsupportedCurveVersion {
        /// The major version announced.
        major: u8,
        /// The minor version announced.
        minor: u8,
    },
    /// A CURVE box did not open: forged or altered, or sealed with keys other than the ones
    /// this side holds (a client configured with the wrong server key makes the server's
    /// HELLO box fail).
    BoxOpenFailed(&'static str),
    /// The peer's CURVE key is a low-order point, whose shared secret with any key is known.
    WeakKey(&'static str),
    /// A CURVE short nonce did not increase: a replayed or reordered command or message.
    NonceNotIncreasing {
        /// The nonce received.
        nonce: u64,
        /// The last nonce accepted from this peer.
        last: u64,
    },
    /// Our CURVE short nonce reached 2^64-1: the connection must end before it repeats.
    NoncesExhausted,
    /// The ZAP handler refused the peer (RFC 27 status 300, 400 or 500).
    Unauthorized {
        /// The status code.
        status: u16,
        /// The handler's status text.
        text: String,
    },
    /// No ZAP handler is bound to ask about the peer, where one must be: a PLAIN server's
    /// (libzmq refuses the peer too), or any with `zap_enforce_domain`.
    NoZapHandler,
    /// The ZAP handler's reply does not follow RFC 27.
    MalformedZapReply(&'static str),
}

impl ProtocolError {
    /// The RFC 27 status code, when this is an authentication failure: our ZAP handler refused
    /// the peer, or the peer's ERROR carries its handler's code (libzmq's
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_AUTH`).
    pub(crate) fn auth_status(&self) -> Option<u16> {
        match self {
            ProtocolError::Unauthorized { status, .. } => Some(*status),
            ProtocolError::PeerError(reason) => match reason.as_str() {
                "300" => Some(300),
                "400" => Some(400),
                "500" => Some(500),
                _ => None,
            },
            _ => None,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::BadSignature { offset, found } => write!(
                f,
                "not a ZMTP 3 peer: greeting byte {offset} is {found:#04x} (ZMTP 1.0 or not ZeroMQ)"
            ),
            ProtocolError::UnsupportedVersion { major, minor } => {
                write!(f, "unsupported ZMTP version {major}.{minor}")
            }
            ProtocolError::UnsupportedMechanism(name) => {
                write!(f, "unsupported security mechanism {name:?}")
            }
            ProtocolError::MechanismMismatch { ours, peer } => {
                write!(f, "peer uses security mechanism {peer}, we use {ours}")
            }
            ProtocolError::ReservedFlags(flags) => {
                write!(f, "frame flags {flags:#04x} have reserved bits set")
            }
            ProtocolError::CommandWithMore => f.write_str("command frame has the MORE flag set"),
            ProtocolError::CommandInsideMessage => f.write_str("command frame received inside a multipart message"),
            ProtocolError::FrameTooLarge { size, max } => {
                write!(f, "frame of {size} bytes exceeds the maximum message size {max}")
            }
            ProtocolError::MessageTooLarge { size, frames, max } => write!(
                f,
                "message of {size} bytes in {frames} frames exceeds the maximum message size {max}"
            ),
            ProtocolError::HandshakeCommandTooLarge { size, max } => {
                write!(f, "handshake command of {size} bytes exceeds the limit {max}")
            }
            ProtocolError::EmptyCommandName => f.write_str("command with an empty name"),
            ProtocolError::CommandNameTruncated { len, available } => {
                write!(f, "command name of {len} bytes truncated to {available}")
            }
            ProtocolError::InvalidCommandName(name) => {
                write!(f, "command name {name:?} is not ASCII letters")
            }
            ProtocolError::MalformedCommand { command, problem } => {
                write!(f, "malformed {command} command: {problem}")
            }
            ProtocolError::MalformedMetadata(problem) => write!(f, "malformed metadata: {problem}"),
            ProtocolError::UnexpectedInHandshake(what) => {
                write!(f, "expected READY or ERROR during the NULL handshake, received {what}")
            }
            ProtocolError::CommandAfterHandshake(name) => {
                write!(f, "command {name} received after the handshake")
            }
            ProtocolError::PeerError(reason) => write!(f, "peer refused the connection: {reason:?}"),
            ProtocolError::MissingSocketType => f.write_str("peer's READY has no Socket-Type property"),
            ProtocolError::UnknownSocketType(name) => write!(f, "peer announced unknown socket type {name:?}"),
            ProtocolError::IncompatibleSocketType { ours, peer } => {
                write!(f, "peer socket type {peer} cannot talk to {ours}")
            }
            ProtocolError::IdentityTooLong(len) => {
                write!(f, "peer identity of {len} bytes exceeds the maximum 255")
            }
            ProtocolError::IdentityReserved => f.write_str("peer identity starts with a zero byte (reserved)"),
            ProtocolError::UnexpectedCommand { expected, received } => {
                write!(f, "expected the {expected} command, received {received}")
            }
            ProtocolError::UnsupportedCurveVersion { major, minor } => {
                write!(f, "unsupported CurveZMQ version {major}.{minor}")
            }
            ProtocolError::BoxOpenFailed(what) => write!(f, "{what} did not open"),
            ProtocolError::WeakKey(what) => write!(f, "{what} is a low-order point"),
            ProtocolError::NonceNotIncreasing { nonce, last } => {
                write!(
                    f,
                    "CURVE short nonce {nonce} does not follow {last} (replayed or reordered)"
                )
            }
            ProtocolError::NoncesExhausted => f.write_str("CURVE short nonces exhausted"),
            ProtocolError::Unauthorized { status, text } => {
                write!(f, "the ZAP handler refused the peer: {status} {text:?}")
            }
            ProtocolError::NoZapHandler => {
                f.write_str("no ZAP handler is bound at inproc://zeromq.zap.01 to decide on the peer")
            }
            ProtocolError::MalformedZapReply(problem) => write!(f, "malformed ZAP reply: {problem}"),
        }
    }
}

impl Error for ProtocolError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_values() {
        let cases = [
            (
                ProtocolError::UnsupportedVersion { major: 2, minor: 0 },
                "unsupported ZMTP version 2.0",
            ),
            (
                ProtocolError::FrameTooLarge {
                    size: 2_000_000,
                    max: 1_048_576,
                },
                "frame of 2000000 bytes exceeds the maximum message size 1048576",
            ),
            (
                ProtocolError::CommandAfterHandshake("READY".into()),
                "command READY received after the handshake",
            ),
            (
                ProtocolError::IncompatibleSocketType {
                    ours: SocketType::Req,
                    peer: SocketType::Pub,
                },
                "peer socket type PUB cannot talk to REQ",
            ),
            (
                ProtocolError::BadSignature { offset: 0, found: 0x01 },
                "not a ZMTP 3 peer: greeting byte 0 is 0x01 (ZMTP 1.0 or not ZeroMQ)",
            ),
            (
                ProtocolError::ReservedFlags(0x81),
                "frame flags 0x81 have reserved bits set",
            ),
            (
                ProtocolError::MalformedCommand {
                    command: "PING",
                    problem: "TTL truncated",
                },
                "malformed PING command: TTL truncated",
            ),
            (
                ProtocolError::UnsupportedMechanism("PLAIN".into()),
                "unsupported security mechanism \"PLAIN\"",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
            // One line, so it fits a log line or a monitor event.
            assert!(!error.to_string().contains('\n'));
        }
    }
}

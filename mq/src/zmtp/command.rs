//! Commands: the frames ZMTP itself uses (handshake, subscriptions,
//! heartbeats), as opposed to application messages.
//!
//! A command frame's body is a name and data:
//!
//! ```text
//! command-body = name-size (1 byte) name (1..=255 ASCII letters) data
//! ```
//!
//! (RFC 23 §"Formal Grammar": `command-name = short-size 1*255command-name-char`.)

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::error::ProtocolError;
use super::metadata::Metadata;

/// Size of a command name's length field (RFC 23 §"Formal Grammar": `command-name = short-size
/// 1*255command-name-char`).
const NAME_SIZE_LEN: usize = 1;
/// Name of the command that ends the NULL handshake, carrying metadata (RFC 23 §"The NULL
/// Security Mechanism": `ready = command-size %d5 "READY" metadata`).
const READY: &str = "READY";
/// Name of the command that refuses a connection (RFC 23 §"The NULL Security Mechanism":
/// `error = command-size %d5 "ERROR" error-reason`).
const ERROR: &str = "ERROR";
/// Name of the command a subscriber sends to subscribe to a prefix (RFC 37 §"The
/// Publish-Subscribe Pattern": `subscribe = command-size %d9 "SUBSCRIBE" subscription`).
const SUBSCRIBE: &str = "SUBSCRIBE";
/// Name of the command a subscriber sends to cancel a subscription (RFC 37 §"The
/// Publish-Subscribe Pattern": `cancel = command-size %d6 "CANCEL" subscription`).
const CANCEL: &str = "CANCEL";
/// Name of the heartbeat request (RFC 37 §"Connection Heartbeating": `ping = command-size %d4
/// "PING" ping-ttl ping-context`).
const PING: &str = "PING";
/// Name of the heartbeat reply (RFC 37 §"Connection Heartbeating": `pong = command-size %d4
/// "PONG" ping-context`).
const PONG: &str = "PONG";
/// Size of an ERROR reason's length field (RFC 23 §"The NULL Security Mechanism": `error-reason
/// = short-size 0*255VCHAR`).
const REASON_SIZE_LEN: usize = 1;
/// Longest ERROR reason (RFC 23 §"The NULL Security Mechanism": `0*255VCHAR`).
const MAX_REASON_LEN: usize = 255;
/// Size of a PING's time-to-live, in tenths of a second, network byte order (RFC 37
/// §"Connection Heartbeating": `ping-ttl = 2OCTET`).
const PING_TTL_LEN: usize = 2;
/// Longest PING/PONG context: it "MUST not exceed 16 octets" (RFC 37 §"Connection
/// Heartbeating": `ping-context = 0*16OCTET`).
pub(crate) const MAX_PING_CONTEXT_LEN: usize = 16;

/// Whether `c` may appear in a command name (RFC 23 §"Formal Grammar": `command-name-char =
/// ALPHA`).
fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphabetic()
}

/// Splits a command frame's body into its name and its data, checking the name (1 to 255 ASCII
/// letters).
///
/// # Errors
///
/// [`ProtocolError::EmptyCommandName`], [`ProtocolError::CommandNameTruncated`],
/// [`ProtocolError::InvalidCommandName`].
pub(crate) fn split_name(mut body: Bytes) -> Result<(Bytes, Bytes), ProtocolError> {
    // An empty body has no name at all: the same violation as a zero-length name.
    let name_len = usize::from(body.first().copied().unwrap_or(0));
    if name_len == 0 {
        return Err(ProtocolError::EmptyCommandName);
    }
    if body.len() < NAME_SIZE_LEN + name_len {
        return Err(ProtocolError::CommandNameTruncated {
            len: name_len,
            available: body.len() - NAME_SIZE_LEN,
        });
    }
    body.advance(NAME_SIZE_LEN);
    let name = body.split_to(name_len);
    if !name.iter().copied().all(is_name_char) {
        return Err(ProtocolError::InvalidCommandName(
            String::from_utf8_lossy(&name).into_owned(),
        ));
    }
    Ok((name, body))
}

/// A ZMTP command.
///
/// Command names are matched exactly (`READY`, not `ready`), as libzmq does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// End of the NULL handshake: the sender's metadata (`Socket-Type`, `Identity`, …).
    Ready(Metadata),
    /// The sender refuses the connection; `reason` is for logs only (RFC 23 §"Error Handling").
    /// Reasons longer than 255 bytes are cut (at a character boundary) when encoded; a reason
    /// received that is not UTF-8 is decoded lossily.
    Error {
        /// Why the sender refuses, free text.
        reason: String,
    },
    /// Subscribe to messages starting with this prefix (ZMTP 3.1 only; a 3.0 peer sends a
    /// message `\x01prefix` instead).
    Subscribe(Bytes),
    /// Cancel one earlier subscription to this prefix (ZMTP 3.1 only; 3.0: `\x00prefix`).
    Cancel(Bytes),
    /// Heartbeat request (ZMTP 3.1 only): answer with a PONG echoing `context`.
    Ping {
        /// Hint to disconnect if no traffic arrives within this many tenths of a second; 0: none.
        ttl_deciseconds: u16,
        /// Opaque bytes to echo in the PONG, at most 16.
        context: Bytes,
    },
    /// Heartbeat reply (ZMTP 3.1 only), echoing the PING's context (at most 16 bytes).
    Pong {
        /// The context of the PING this answers.
        context: Bytes,
    },
    /// A command this crate does not know (a security mechanism's, or a newer spec's). "ZMTP
    /// does not define the syntax nor semantics of commands" beyond its own; the caller ignores
    /// unknown ones after the handshake, as libzmq does.
    Unknown {
        /// The command name (1 to 255 ASCII letters).
        name: Bytes,
        /// The command data after the name.
        body: Bytes,
    },
}

impl Command {
    /// The command's name, e.g. `b"READY"`.
    pub(crate) fn name(&self) -> &[u8] {
        match self {
            Command::Ready(_) => READY.as_bytes(),
            Command::Error { .. } => ERROR.as_bytes(),
            Command::Subscribe(_) => SUBSCRIBE.as_bytes(),
            Command::Cancel(_) => CANCEL.as_bytes(),
            Command::Ping { .. } => PING.as_bytes(),
            Command::Pong { .. } => PONG.as_bytes(),
            Command::Unknown { name, .. } => name,
        }
    }

    /// The ERROR reason as it goes on the wire: at most 255 bytes, cut at a character boundary.
    fn wire_reason(reason: &str) -> &str {
        let mut end = reason.len().min(MAX_REASON_LEN);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        &reason[..end]
    }

    /// Size of the command's frame body: name size, name and data.
    pub(crate) fn body_len(&self) -> usize {
        let data_len = match self {
            Command::Ready(metadata) => metadata.encoded_len(),
            Command::Error { reason } => REASON_SIZE_LEN + Command::wire_reason(reason).len(),
            Command::Subscribe(prefix) | Command::Cancel(prefix) => prefix.len(),
            Command::Ping { context, .. } => PING_TTL_LEN + context.len(),
            Command::Pong { context } => context.len(),
            Command::Unknown { body, .. } => body.len(),
        };
        NAME_SIZE_LEN + self.name().len() + data_len
    }

    /// Appends the command's frame body ([`body_len`](Command::body_len) bytes) to `out`.
    ///
    /// In debug builds, asserts what the types cannot: a PING/PONG context of at most 16 bytes
    /// and an `Unknown` name of 1 to 255 letters.
    pub(crate) fn write_body(&self, out: &mut BytesMut) {
        let name = self.name();
        debug_assert!(!name.is_empty() && name.len() <= usize::from(u8::MAX) && name.iter().copied().all(is_name_char));
        out.put_u8(name.len() as u8);
        out.put_slice(name);
        match self {
            Command::Ready(metadata) => metadata.encode(out),
            Command::Error { reason } => {
                let reason = Command::wire_reason(reason);
                out.put_u8(reason.len() as u8);
                out.put_slice(reason.as_bytes());
            }
            Command::Subscribe(prefix) | Command::Cancel(prefix) => out.put_slice(prefix),
            Command::Ping {
                ttl_deciseconds,
                context,
            } => {
                debug_assert!(context.len() <= MAX_PING_CONTEXT_LEN);
                out.put_u16(*ttl_deciseconds);
                out.put_slice(context);
            }
            Command::Pong { context } => {
                debug_assert!(context.len() <= MAX_PING_CONTEXT_LEN);
                out.put_slice(context);
            }
            Command::Unknown { body, .. } => out.put_slice(body),
        }
    }

    /// Parses a command frame's body. The data of the result shares `body`'s buffer.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::EmptyCommandName`], [`ProtocolError::CommandNameTruncated`],
    /// [`ProtocolError::InvalidCommandName`] (not letters),
    /// [`ProtocolError::MalformedCommand`] (ERROR reason or PING TTL truncated, PING/PONG
    /// context over 16 bytes) and [`ProtocolError::MalformedMetadata`] (a READY's properties).
    pub(crate) fn decode(body: Bytes) -> Result<Command, ProtocolError> {
        let (name, data) = split_name(body)?;
        Command::decode_parts(name, data)
    }

    /// Decodes a command from its name (checked already, see [`split_name`]) and its data.
    ///
    /// # Errors
    ///
    /// As [`decode`](Command::decode), but for the name's.
    pub(crate) fn decode_parts(name: Bytes, data: Bytes) -> Result<Command, ProtocolError> {
        let command = match &name[..] {
            n if n == READY.as_bytes() => Command::Ready(Metadata::decode(data)?),
            n if n == ERROR.as_bytes() => Command::Error {
                reason: decode_reason(data)?,
            },
            n if n == SUBSCRIBE.as_bytes() => Command::Subscribe(data),
            n if n == CANCEL.as_bytes() => Command::Cancel(data),
            n if n == PING.as_bytes() => {
                let mut data = data;
                if data.len() < PING_TTL_LEN {
                    return Err(ProtocolError::MalformedCommand {
                        command: PING,
                        problem: "TTL truncated",
                    });
                }
                let ttl_deciseconds = data.get_u16();
                Command::Ping {
                    ttl_deciseconds,
                    context: check_context(PING, data)?,
                }
            }
            n if n == PONG.as_bytes() => Command::Pong {
                context: check_context(PONG, data)?,
            },
            _ => Command::Unknown { name, body: data },
        };
        Ok(command)
    }
}

/// Parses an ERROR command's data: a 1-byte length and that many bytes of reason. Bytes after
/// the reason are ignored (as libzmq does).
fn decode_reason(mut data: Bytes) -> Result<String, ProtocolError> {
    let Some(&len) = data.first() else {
        return Err(ProtocolError::MalformedCommand {
            command: ERROR,
            problem: "reason size missing",
        });
    };
    let len = usize::from(len);
    if data.len() < REASON_SIZE_LEN + len {
        return Err(ProtocolError::MalformedCommand {
            command: ERROR,
            problem: "reason truncated",
        });
    }
    data.advance(REASON_SIZE_LEN);
    Ok(String::from_utf8_lossy(&data[..len]).into_owned())
}

/// Checks a PING or PONG context's length.
fn check_context(command: &'static str, context: Bytes) -> Result<Bytes, ProtocolError> {
    if context.len() > MAX_PING_CONTEXT_LEN {
        return Err(ProtocolError::MalformedCommand {
            command,
            problem: "context longer than 16 bytes",
        });
    }
    Ok(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(command: &Command) -> Bytes {
        let mut out = BytesMut::new();
        command.write_body(&mut out);
        assert_eq!(out.len(), command.body_len(), "{command:?}");
        out.freeze()
    }

    pub(crate) fn every_command() -> Vec<Command> {
        vec![
            Command::Ready(Metadata::new()),
            Command::Ready(
                Metadata::new()
                    .with("Socket-Type", b"ROUTER")
                    .with("X-Hello", vec![0; 1000]),
            ),
            Command::Error { reason: String::new() },
            Command::Error {
                reason: "Invalid-Socket-Type".into(),
            },
            Command::Subscribe(Bytes::new()),
            Command::Subscribe(Bytes::from_static(b"topic\0\xff")),
            Command::Cancel(Bytes::from_static(b"topic")),
            Command::Ping {
                ttl_deciseconds: 0,
                context: Bytes::new(),
            },
            Command::Ping {
                ttl_deciseconds: 65_535,
                context: Bytes::from_static(&[7; 16]),
            },
            Command::Pong { context: Bytes::new() },
            Command::Pong {
                context: Bytes::from_static(b"0123456789abcdef"),
            },
            Command::Unknown {
                name: Bytes::from_static(b"HELLO"),
                body: Bytes::from_static(b"\0\x01"),
            },
            Command::Unknown {
                name: Bytes::from(vec![b'Z'; 255]),
                body: Bytes::new(),
            },
        ]
    }

    #[test]
    fn every_command_round_trips() {
        for command in every_command() {
            assert_eq!(Command::decode(body(&command)), Ok(command));
        }
    }

    #[test]
    fn layouts() {
        assert_eq!(
            body(&Command::Subscribe(Bytes::from_static(b"A"))),
            &b"\x09SUBSCRIBEA"[..]
        );
        assert_eq!(body(&Command::Cancel(Bytes::new())), &b"\x06CANCEL"[..]);
        assert_eq!(
            body(&Command::Ping {
                ttl_deciseconds: 0x0102,
                context: Bytes::from_static(b"c")
            }),
            &b"\x04PING\x01\x02c"[..]
        );
        assert_eq!(
            body(&Command::Pong {
                context: Bytes::from_static(b"c")
            }),
            &b"\x04PONGc"[..]
        );
        assert_eq!(body(&Command::Error { reason: "no".into() }), &b"\x05ERROR\x02no"[..]);
    }

    #[test]
    fn long_error_reasons_are_cut_at_a_char_boundary() {
        let reason = "é".repeat(200); // 400 bytes
        let decoded = Command::decode(body(&Command::Error { reason })).unwrap();
        assert_eq!(
            decoded,
            Command::Error {
                reason: "é".repeat(127)
            }
        ); // 254 bytes
    }

    #[test]
    fn names_are_exact() {
        let decoded = Command::decode(Bytes::from_static(b"\x05readyX")).unwrap();
        assert_eq!(
            decoded,
            Command::Unknown {
                name: Bytes::from_static(b"ready"),
                body: Bytes::from_static(b"X")
            }
        );
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let decode = |bytes: &'static [u8]| Command::decode(Bytes::from_static(bytes));
        assert_eq!(decode(b""), Err(ProtocolError::EmptyCommandName));
        assert_eq!(decode(b"\x00"), Err(ProtocolError::EmptyCommandName));
        assert_eq!(decode(b"\x00READY"), Err(ProtocolError::EmptyCommandName));
        assert_eq!(
            decode(b"\x06READY"),
            Err(ProtocolError::CommandNameTruncated { len: 6, available: 5 })
        );
        assert_eq!(
            decode(b"\x04PI-G"),
            Err(ProtocolError::InvalidCommandName("PI-G".into()))
        );
        assert_eq!(
            decode(b"\x02\x00\x01"),
            Err(ProtocolError::InvalidCommandName("\0\u{1}".into()))
        );
        assert_eq!(
            decode(b"\x05READY\x0bSocket-Type\x00\x00"),
            Err(ProtocolError::MalformedMetadata("property value size truncated"))
        );
        assert_eq!(
            decode(b"\x05READY\x01"),
            Err(ProtocolError::MalformedMetadata("property name truncated"))
        );
        assert_eq!(
            decode(b"\x05ERROR"),
            Err(ProtocolError::MalformedCommand {
                command: ERROR,
                problem: "reason size missing"
            })
        );
        assert_eq!(
            decode(b"\x05ERROR\x03ab"),
            Err(ProtocolError::MalformedCommand {
                command: ERROR,
                problem: "reason truncated"
            })
        );
        assert_eq!(
            decode(b"\x04PING\x01"),
            Err(ProtocolError::MalformedCommand {
                command: PING,
                problem: "TTL truncated"
            })
        );
        assert_eq!(
            decode(b"\x04PING\x00\x00-----------------"),
            Err(ProtocolError::MalformedCommand {
                command: PING,
                problem: "context longer than 16 bytes"
            })
        );
        assert_eq!(
            decode(b"\x04PONG-----------------"),
            Err(ProtocolError::MalformedCommand {
                command: PONG,
                problem: "context longer than 16 bytes"
            })
        );
    }
}

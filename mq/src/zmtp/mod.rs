//! ZMTP 3.1, the ZeroMQ wire protocol, as a pure codec: bytes in, values out,
//! no I/O and no runtime.
//!
//! The specifications are rfc.zeromq.org 23/ZMTP (ZMTP 3.0) and 37/ZMTP (3.1,
//! which adds the SUBSCRIBE, CANCEL, PING and PONG commands). Where they are
//! loose this module does what libzmq does, and says so.
//!
//! # How a connection uses it
//!
//! A connection's life has two phases, each with its own type.
//!
//! 1. **Handshake** ([`Handshake`]). Each side sends a 64-byte [`Greeting`]
//!    (signature, version 3.1, security [`Mechanism`]) and, once it has the
//!    other's, a READY [`Command`] with its [`Metadata`]: `Socket-Type` and
//!    optionally `Identity`. The connection loops: write what
//!    [`Handshake::output`] gives, read from the socket into a `BytesMut`, call
//!    [`Handshake::advance`] on it. `advance` returns the [`PeerInfo`] once the
//!    peer's READY is in and accepted (then `output` is flushed one last time),
//!    or an error, after which `output` may hold an ERROR command to send before
//!    closing. A peer that speaks an older ZMTP, announces another mechanism or
//!    an incompatible socket type is refused here.
//!
//! 2. **Traffic** ([`Decoder`], [`encode_frame`], [`encode_command`]). The
//!    read buffer, with whatever followed the peer's READY still in it, goes to
//!    a [`Decoder`]; each call to [`Decoder::decode`] takes one [`Item`] off
//!    the front — a message frame or a command — or returns `Ok(None)` when
//!    the buffer holds only part of one. A reader decodes every item a single
//!    `read` brought before reading again. Frame bodies are views of the read
//!    buffer (`Bytes`), not copies. The writer encodes frames with
//!    [`encode_frame`] (copying small bodies next to their header) or
//!    [`encode_frame_header`] (to gather a header and a shared body in one
//!    `writev`), and commands with [`encode_command`].
//!
//! ```text
//! connect/accept
//!   handshake = Handshake::new(socket_type, identity, false)
//!   loop { handshake.output(&mut wbuf); write(wbuf); read(&mut rbuf);
//!          if let Some(peer) = handshake.advance(&mut rbuf)? { break } }
//!   handshake.output(&mut wbuf); write(wbuf)
//!   decoder = Decoder::new(max_msg_size)
//!   loop { while let Some(item) = decoder.decode(&mut rbuf)? { deliver(item) }
//!          read(&mut rbuf) }
//! ```
//!
//! Version 3.0 peers are talked to in their dialect: [`PeerInfo::minor`] is 0
//! and the socket layer then sends subscriptions as messages and no PING.
//!
//! # Hostile input
//!
//! Every error is a [`ProtocolError`] and means "drop this connection"; no
//! input makes the codec panic. Nothing is allocated or reserved in proportion
//! to a length the peer announces: a frame header claiming 2^63 bytes costs
//! nothing until the bytes actually arrive; a frame that would take a message
//! (counted whole, all its frames) past the maximum message size, or past this
//! machine's memory when none is set, is refused at its header; and property
//! names and values are slices of a command body that has fully arrived.

mod command;
mod curve;
#[cfg(test)]
mod curve_wire;
mod decoder;
mod error;
mod frame;
mod greeting;
mod handshake;
mod mechanism;
mod metadata;
mod nacl;
mod plain;
#[cfg(test)]
mod tests;
mod zap;

#[cfg(feature = "fuzzing")]
pub(crate) use self::curve::fuzz_opener;
#[cfg(feature = "fuzzing")]
pub(crate) use self::decoder::machine_memory;
pub use self::error::ProtocolError;
pub use self::mechanism::Mechanism;
pub(crate) use self::{
    command::Command,
    curve::{ClientKeys, Sealer},
    decoder::{Decoder, Item, message_cost},
    frame::{MAX_HEADER_LEN, encode_command, encode_frame, encode_frame_header},
    handshake::{Handshake, PeerInfo, PlainCredentials, Security},
    metadata::Metadata,
    nacl::{KEY_LEN, PublicKey, SecretKey},
    plain::MAX_CREDENTIAL_LEN,
    zap::{ZAP_ENDPOINT, ZapReply, ZapRequest},
};

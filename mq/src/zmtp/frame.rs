//! Frames: a flags byte, a 1- or 8-byte size, and a body; and the encoders
//! that write them.
//!
//! ```text
//! short frame:  flags (LONG clear)  size: 1 byte             body: 0..=255 bytes
//! long frame:   flags (LONG set)    size: 8 bytes, big-endian body: 0..=2^63-1 bytes
//! ```
//!
//! (RFC 23 §"Framing".) Every frame after the greeting is either a message
//! frame or, with the COMMAND flag, a command.

use bytes::{BufMut, BytesMut};

use super::command::Command;
use super::error::ProtocolError;

/// Flags bit 0, MORE: "More frames to follow"; set on every frame of a multipart message but the
/// last (RFC 23 §"Framing"). It "SHALL be zero on command frames".
pub(crate) const FLAG_MORE: u8 = 0x01;
/// Flags bit 1, LONG: the size field is 8 bytes instead of 1 (RFC 23 §"Framing").
pub(crate) const FLAG_LONG: u8 = 0x02;
/// Flags bit 2, COMMAND: the frame is a command, not a message frame (RFC 23 §"Framing").
pub(crate) const FLAG_COMMAND: u8 = 0x04;
/// Flags bits 7-3: "reserved for future use and MUST be zero" (RFC 23 §"Framing").
const FLAGS_RESERVED: u8 = 0xF8;
/// Size of the flags field (RFC 23 §"Framing": "a flags field (1 octet)").
const FLAGS_LEN: usize = 1;
/// Size of a short frame's size field (RFC 23 §"Formal Grammar": `short-size = OCTET`).
const SHORT_SIZE_LEN: usize = 1;
/// Size of a long frame's size field, in network byte order (RFC 23 §"Formal Grammar":
/// `long-size = 8OCTET`).
const LONG_SIZE_LEN: usize = 8;
/// Largest body a short frame can carry (RFC 23 §"Framing": "A short frame has a body of 0 to
/// 255 octets"); larger bodies use a long frame.
const MAX_SHORT_SIZE: usize = 255;
/// Largest body any frame may carry (RFC 23 §"Framing": "A long frame has a body of 0 to 2^63-1
/// octets").
pub(crate) const MAX_FRAME_SIZE: u64 = i64::MAX as u64;
/// Size of a short frame's header: flags and a 1-byte size (RFC 23 §"Framing").
const SHORT_HEADER_LEN: usize = FLAGS_LEN + SHORT_SIZE_LEN;
/// Size of a long frame's header: flags and an 8-byte size (RFC 23 §"Framing").
const LONG_HEADER_LEN: usize = FLAGS_LEN + LONG_SIZE_LEN;
/// The largest frame header: flags and an 8-byte size (RFC 23 §"Framing").
pub(crate) const MAX_HEADER_LEN: usize = LONG_HEADER_LEN;

/// A parsed frame header: what the flags say and how long the body is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    /// The flags byte; its reserved bits are zero.
    pub(crate) flags: u8,
    /// The body size the header announces (at most [`MAX_FRAME_SIZE`]); the body may not have
    /// arrived yet.
    pub(crate) body_len: u64,
    /// Size of the header itself: 2 for a short frame, 9 for a long one.
    pub(crate) header_len: usize,
}

impl FrameHeader {
    /// Whether the frame is a command.
    pub(crate) fn is_command(&self) -> bool {
        self.flags & FLAG_COMMAND != 0
    }

    /// Whether more frames of the same message follow.
    pub(crate) fn more(&self) -> bool {
        self.flags & FLAG_MORE != 0
    }
}

/// Parses the frame header at the start of `buf`.
///
/// Returns `Ok(None)` if `buf` does not hold the whole header yet. Flags are checked as soon as
/// the first byte is there, so garbage is refused without waiting for more input.
///
/// A long header announcing a body of 255 bytes or less is accepted: RFC 23 says large bodies
/// SHOULD use long frames and small ones SHOULD use short frames, not MUST, and libzmq accepts
/// either.
///
/// # Errors
///
/// [`ProtocolError::ReservedFlags`] if a reserved bit is set, [`ProtocolError::CommandWithMore`]
/// for a command with MORE, [`ProtocolError::FrameTooLarge`] for a size over 2^63-1.
pub(crate) fn parse_header(buf: &[u8]) -> Result<Option<FrameHeader>, ProtocolError> {
    let Some(&flags) = buf.first() else {
        return Ok(None);
    };
    if flags & FLAGS_RESERVED != 0 {
        return Err(ProtocolError::ReservedFlags(flags));
    }
    if flags & FLAG_COMMAND != 0 && flags & FLAG_MORE != 0 {
        return Err(ProtocolError::CommandWithMore);
    }
    let header = if flags & FLAG_LONG != 0 {
        let Some(size) = buf.get(FLAGS_LEN..LONG_HEADER_LEN) else {
            return Ok(None);
        };
        let mut network_order = [0; LONG_SIZE_LEN];
        network_order.copy_from_slice(size);
        let body_len = u64::from_be_bytes(network_order);
        if body_len > MAX_FRAME_SIZE {
            return Err(ProtocolError::FrameTooLarge {
                size: body_len,
                max: MAX_FRAME_SIZE,
            });
        }
        FrameHeader {
            flags,
            body_len,
            header_len: LONG_HEADER_LEN,
        }
    } else {
        let Some(&size) = buf.get(FLAGS_LEN) else {
            return Ok(None);
        };
        FrameHeader {
            flags,
            body_len: u64::from(size),
            header_len: SHORT_HEADER_LEN,
        }
    };
    Ok(Some(header))
}

/// Writes a header with the given flags (LONG is added when needed) for a body of `len` bytes,
/// short if the body fits in 255 bytes, long otherwise; returns the header's length.
fn encode_header(flags: u8, len: usize, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
    match u8::try_from(len) {
        Ok(short) if len <= MAX_SHORT_SIZE => {
            out[0] = flags;
            out[FLAGS_LEN] = short;
            SHORT_HEADER_LEN
        }
        _ => {
            // usize is at most 64 bits on every supported platform, so this is lossless.
            let len = len as u64;
            debug_assert!(len <= MAX_FRAME_SIZE);
            out[0] = flags | FLAG_LONG;
            out[FLAGS_LEN..LONG_HEADER_LEN].copy_from_slice(&len.to_be_bytes());
            LONG_HEADER_LEN
        }
    }
}

/// Writes a message frame's header (flags + size) into `out` and returns its length; the body is
/// written separately (so a writer can gather header + shared body with writev or copy both into
/// one buffer).
///
/// The header is short for bodies of up to 255 bytes and long above, as RFC 23 §"Framing"
/// recommends.
pub(crate) fn encode_frame_header(more: bool, len: usize, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
    let flags = if more { FLAG_MORE } else { 0 };
    encode_header(flags, len, out)
}

/// Appends a message frame (header and a copy of `body`) to `out`.
pub(crate) fn encode_frame(out: &mut BytesMut, more: bool, body: &[u8]) {
    let mut header = [0; MAX_HEADER_LEN];
    let header_len = encode_frame_header(more, body.len(), &mut header);
    out.reserve(header_len + body.len());
    out.put_slice(&header[..header_len]);
    out.put_slice(body);
}

/// Appends a command frame to `out`: the COMMAND flag, the size, the name and the command's data.
pub(crate) fn encode_command(out: &mut BytesMut, command: &Command) {
    let body_len = command.body_len();
    let mut header = [0; MAX_HEADER_LEN];
    let header_len = encode_header(FLAG_COMMAND, body_len, &mut header);
    out.reserve(header_len + body_len);
    out.put_slice(&header[..header_len]);
    let before = out.len();
    command.write_body(out);
    debug_assert_eq!(
        out.len() - before,
        body_len,
        "Command::body_len disagrees with write_body"
    );
}

/// Appends a command frame to `out` from its name and the pieces of its data, for the commands
/// a security mechanism builds itself (HELLO, WELCOME, INITIATE, a CURVE READY).
pub(crate) fn encode_raw_command(out: &mut BytesMut, name: &str, data: &[&[u8]]) {
    debug_assert!(!name.is_empty() && name.len() <= MAX_SHORT_SIZE);
    let body_len = 1 + name.len() + data.iter().map(|piece| piece.len()).sum::<usize>();
    let mut header = [0; MAX_HEADER_LEN];
    let header_len = encode_header(FLAG_COMMAND, body_len, &mut header);
    out.reserve(header_len + body_len);
    out.put_slice(&header[..header_len]);
    out.put_u8(name.len() as u8);
    out.put_slice(name.as_bytes());
    for piece in data {
        out.put_slice(piece);
    }
}

/// Appends the header of a frame with exactly these flags (LONG added when needed) for a body of
/// `len` bytes; the body is written after it by the caller.
pub(crate) fn encode_header_with(out: &mut BytesMut, flags: u8, len: usize) {
    let mut header = [0; MAX_HEADER_LEN];
    let header_len = encode_header(flags, len, &mut header);
    out.put_slice(&header[..header_len]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(more: bool, len: usize) -> Vec<u8> {
        let mut out = [0; MAX_HEADER_LEN];
        let n = encode_frame_header(more, len, &mut out);
        out[..n].to_vec()
    }

    #[test]
    fn short_long_boundary() {
        assert_eq!(header(false, 0), [0x00, 0]);
        assert_eq!(header(true, 0), [0x01, 0]);
        assert_eq!(header(false, 255), [0x00, 255]);
        assert_eq!(header(false, 256), [0x02, 0, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(header(true, 256), [0x03, 0, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(header(false, 1 << 32), [0x02, 0, 0, 0, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn parse_is_the_inverse_of_encode() {
        for more in [false, true] {
            for len in [0, 1, 254, 255, 256, 65_536, 1 << 40] {
                let bytes = header(more, len);
                let parsed = parse_header(&bytes).unwrap().unwrap();
                assert_eq!(parsed.body_len, len as u64);
                assert_eq!(parsed.header_len, bytes.len());
                assert_eq!(parsed.more(), more);
                assert!(!parsed.is_command());
                // Every shorter prefix is incomplete, not an error.
                for cut in 0..bytes.len() {
                    assert_eq!(parse_header(&bytes[..cut]), Ok(None));
                }
            }
        }
    }

    #[test]
    fn long_header_for_a_small_body_is_accepted() {
        let parsed = parse_header(&[0x02, 0, 0, 0, 0, 0, 0, 0, 3]).unwrap().unwrap();
        assert_eq!((parsed.body_len, parsed.header_len), (3, 9));
    }

    #[test]
    fn flag_violations_are_refused_at_the_first_byte() {
        for flags in [0x08, 0x10, 0x80, 0xFF, 0x0C] {
            assert_eq!(parse_header(&[flags]), Err(ProtocolError::ReservedFlags(flags)));
        }
        assert_eq!(parse_header(&[0x05]), Err(ProtocolError::CommandWithMore));
        assert_eq!(parse_header(&[0x07]), Err(ProtocolError::CommandWithMore));
    }

    #[test]
    fn sizes_over_2_pow_63_are_refused() {
        let mut bytes = [0x02, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            parse_header(&bytes),
            Err(ProtocolError::FrameTooLarge {
                size: 1 << 63,
                max: MAX_FRAME_SIZE
            })
        );
        bytes[1] = 0x7F;
        bytes[2..].fill(0xFF);
        assert_eq!(parse_header(&bytes).unwrap().unwrap().body_len, MAX_FRAME_SIZE);
    }

    #[test]
    fn encode_frame_appends_header_and_body() {
        let mut out = BytesMut::new();
        encode_frame(&mut out, true, b"abc");
        encode_frame(&mut out, false, &[7; 300]);
        assert_eq!(&out[..5], &[0x01, 3, b'a', b'b', b'c']);
        assert_eq!(&out[5..14], &[0x02, 0, 0, 0, 0, 0, 0, 1, 44]);
        assert_eq!(out.len(), 14 + 300);
    }
}

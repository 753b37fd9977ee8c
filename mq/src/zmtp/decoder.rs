//! The traffic decoder: turns the bytes a peer sends after the handshake into
//! message frames and commands.

use bytes::{Buf, Bytes, BytesMut};

use super::command::Command;
use super::error::ProtocolError;
use super::frame::parse_header;

/// One unit of traffic: a message frame or a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Item {
    /// A frame of a message; the message ends with the first frame whose `more` is false.
    Frame {
        /// Whether more frames of the same message follow.
        more: bool,
        /// The frame's bytes, sharing the read buffer they arrived in.
        body: Bytes,
    },
    /// A command (SUBSCRIBE, PING, …). A `Command::Ready` or `Command::Error` here arrived after
    /// the handshake: the socket layer decides what that means
    /// ([`ProtocolError::CommandAfterHandshake`] for a READY).
    Command(Command),
}

/// Decodes frames from a peer's byte stream, after the greeting and handshake.
///
/// The decoder never allocates and never reserves space in the caller's buffer: a frame header
/// announcing 2^62 bytes reserves nothing, and the buffer only grows by what the caller actually
/// reads. Frame bodies are split off the front of the buffer and frozen, so a message frame is a
/// view of the read buffer, not a copy.
///
/// Between calls it remembers whether a multipart message is in progress, to refuse a command
/// between two of its frames.
#[derive(Debug)]
pub(crate) struct Decoder {
    /// Largest frame body accepted, if any limit (libzmq's `ZMQ_MAXMSGSIZE`, checked per frame
    /// as libzmq does).
    max_msg_size: Option<u64>,
    /// Whether the last frame returned had MORE set, so the next frame belongs to the same
    /// message.
    in_message: bool,
}

impl Decoder {
    /// A decoder that refuses frames longer than `max_msg_size` bytes (`None`: only ZMTP's own
    /// 2^63-1 limit).
    pub(crate) fn new(max_msg_size: Option<u64>) -> Decoder {
        Decoder {
            max_msg_size,
            in_message: false,
        }
    }

    /// Takes one complete item off the front of `buf` (frame bodies are `split_to(n).freeze()`:
    /// zero-copy, sharing the read buffer), Ok(None) if `buf` holds only part of one (the caller
    /// reads more and calls again), Err on a protocol violation (the connection is then dropped).
    ///
    /// Violations are reported as soon as the bytes that show them are there: a bad flags byte
    /// or an oversized length is refused before its body arrives.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::ReservedFlags`], [`ProtocolError::CommandWithMore`],
    /// [`ProtocolError::CommandInsideMessage`], [`ProtocolError::FrameTooLarge`], or any error of
    /// [`Command::decode`] for a malformed command body. After an error the decoder's state is
    /// unspecified; the connection must be dropped.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Item>, ProtocolError> {
        let Some(header) = parse_header(buf)? else {
            return Ok(None);
        };
        if header.is_command() && self.in_message {
            return Err(ProtocolError::CommandInsideMessage);
        }
        if let Some(max) = self.max_msg_size {
            if header.body_len > max {
                return Err(ProtocolError::FrameTooLarge {
                    size: header.body_len,
                    max,
                });
            }
        }
        // A 32-bit machine cannot hold a frame over 4 GiB, whatever the limit says.
        let body_len = usize::try_from(header.body_len).map_err(|_| ProtocolError::FrameTooLarge {
            size: header.body_len,
            max: usize::MAX as u64,
        })?;
        if buf.len() - header.header_len < body_len {
            return Ok(None);
        }
        buf.advance(header.header_len);
        let body = buf.split_to(body_len).freeze();
        if header.is_command() {
            return Command::decode(body).map(|command| Some(Item::Command(command)));
        }
        self.in_message = header.more();
        Ok(Some(Item::Frame {
            more: header.more(),
            body,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zmtp::frame::{encode_command, encode_frame};
    use crate::zmtp::metadata::Metadata;

    /// Decodes everything in `bytes`, checking that nothing is left over.
    fn decode_all(decoder: &mut Decoder, bytes: &[u8]) -> Vec<Item> {
        let mut buf = BytesMut::from(bytes);
        let mut items = Vec::new();
        while let Some(item) = decoder.decode(&mut buf).unwrap() {
            items.push(item);
        }
        assert!(buf.is_empty(), "{} bytes left", buf.len());
        items
    }

    #[test]
    fn every_frame_form_round_trips() {
        let mut out = BytesMut::new();
        let mut expected = Vec::new();
        for len in [0, 1, 255, 256, 65_536] {
            for more in [true, false] {
                let body = Bytes::from((0..len).map(|i| i as u8).collect::<Vec<u8>>());
                encode_frame(&mut out, more, &body);
                expected.push(Item::Frame { more, body });
            }
        }
        let ping = Command::Ping {
            ttl_deciseconds: 10,
            context: Bytes::from_static(b"ctx"),
        };
        encode_command(&mut out, &ping);
        expected.push(Item::Command(ping));
        let big_ready = Command::Ready(Metadata::new().with("X-Big", vec![1; 300]));
        encode_command(&mut out, &big_ready);
        expected.push(Item::Command(big_ready));
        assert_eq!(decode_all(&mut Decoder::new(None), &out), expected);
    }

    #[test]
    fn bodies_share_the_read_buffer() {
        let mut out = BytesMut::new();
        encode_frame(&mut out, false, &[5; 1000]);
        let range = out.as_ptr() as usize..out.as_ptr() as usize + out.len();
        let Some(Item::Frame { body, .. }) = Decoder::new(None).decode(&mut out).unwrap() else {
            panic!("no frame");
        };
        assert!(range.contains(&(body.as_ptr() as usize)), "the body was copied");
    }

    #[test]
    fn huge_declared_frames_reserve_nothing() {
        for size in [1u64 << 32, (1 << 32) + 1, 1 << 62, crate::zmtp::frame::MAX_FRAME_SIZE] {
            let mut buf = BytesMut::with_capacity(64);
            buf.extend_from_slice(&[0x02]);
            buf.extend_from_slice(&size.to_be_bytes());
            buf.extend_from_slice(b"only a little of the body");
            let before = (buf.len(), buf.capacity());
            assert_eq!(Decoder::new(None).decode(&mut buf), Ok(None));
            assert_eq!((buf.len(), buf.capacity()), before, "the buffer was touched");
        }
    }

    #[test]
    fn frames_over_the_limit_are_refused_before_their_body() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[0x02]);
        buf.extend_from_slice(&2_000_000u64.to_be_bytes());
        let error = Decoder::new(Some(1_048_576)).decode(&mut buf).unwrap_err();
        assert_eq!(
            error,
            ProtocolError::FrameTooLarge {
                size: 2_000_000,
                max: 1_048_576
            }
        );
        assert_eq!(
            error.to_string(),
            "frame of 2000000 bytes exceeds the maximum message size 1048576"
        );

        // The limit applies to commands too, and a frame of exactly the limit passes.
        let mut buf = BytesMut::from(&[0x04, 11][..]);
        assert!(matches!(
            Decoder::new(Some(10)).decode(&mut buf),
            Err(ProtocolError::FrameTooLarge { .. })
        ));
        let mut buf = BytesMut::new();
        encode_frame(&mut buf, false, &[0; 10]);
        assert!(matches!(
            Decoder::new(Some(10)).decode(&mut buf),
            Ok(Some(Item::Frame { .. }))
        ));
    }

    #[test]
    fn a_command_inside_a_message_is_refused() {
        let mut buf = BytesMut::new();
        encode_frame(&mut buf, true, b"first");
        encode_command(&mut buf, &Command::Pong { context: Bytes::new() });
        let mut decoder = Decoder::new(None);
        assert!(matches!(
            decoder.decode(&mut buf),
            Ok(Some(Item::Frame { more: true, .. }))
        ));
        assert_eq!(decoder.decode(&mut buf), Err(ProtocolError::CommandInsideMessage));

        // Between messages a command is fine.
        let mut buf = BytesMut::new();
        encode_frame(&mut buf, true, b"first");
        encode_frame(&mut buf, false, b"last");
        encode_command(&mut buf, &Command::Pong { context: Bytes::new() });
        encode_frame(&mut buf, false, b"next");
        assert_eq!(decode_all(&mut Decoder::new(None), &buf).len(), 4);
    }

    #[test]
    fn flag_violations_are_refused() {
        for (bytes, error) in [
            (&[0x08, 0][..], ProtocolError::ReservedFlags(0x08)),
            (&[0x85][..], ProtocolError::ReservedFlags(0x85)),
            (&[0x05, 0][..], ProtocolError::CommandWithMore),
        ] {
            assert_eq!(Decoder::new(None).decode(&mut BytesMut::from(bytes)), Err(error));
        }
    }

    #[test]
    fn ready_after_the_handshake_is_observable() {
        let mut buf = BytesMut::new();
        let ready = Command::Ready(Metadata::new().with("Socket-Type", b"REQ"));
        encode_command(&mut buf, &ready);
        assert_eq!(decode_all(&mut Decoder::new(None), &buf), [Item::Command(ready)]);
    }

    #[test]
    fn partial_input_is_left_alone() {
        let mut whole = BytesMut::new();
        encode_frame(&mut whole, false, &[1; 300]);
        for cut in 0..whole.len() {
            let mut buf = BytesMut::from(&whole[..cut]);
            assert_eq!(Decoder::new(None).decode(&mut buf), Ok(None));
            assert_eq!(buf.len(), cut);
        }
    }
}

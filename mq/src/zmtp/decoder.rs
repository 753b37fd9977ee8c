//! The traffic decoder: turns the bytes a peer sends after the handshake into
//! message frames and commands.

use std::sync::OnceLock;

use bytes::{Buf, Bytes, BytesMut};

use super::command::Command;
use super::curve::{MESSAGE_OVERHEAD, Opener};
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

/// What a frame after the first [`FREE_FRAMES`] adds to a message's size beyond its body, for the
/// limits: the handle a frame is kept in (a [`Bytes`], four words). Counting it bounds a message
/// of millions of empty frames like one of as many bytes.
pub(crate) const FRAME_COST: u64 = 32;

/// The frames of a message that cost only their bodies: envelopes (REQ's empty delimiter,
/// ROUTER's routing ids) then fit a small maximum message size as they do in libzmq, which
/// checks each frame alone.
pub(crate) const FREE_FRAMES: u64 = 8;

/// What a message's `frames` frames (with `bodies` bytes in all) count for against the limits.
pub(crate) fn message_cost(bodies: u64, frames: u64) -> u64 {
    bodies.saturating_add(FRAME_COST.saturating_mul(frames.saturating_sub(FREE_FRAMES)))
}

/// Decodes frames from a peer's byte stream, after the greeting and handshake.
///
/// The decoder never allocates and never reserves space in the caller's buffer: a frame header
/// announcing 2^62 bytes reserves nothing, and the buffer only grows by what the caller actually
/// reads. Frame bodies are split off the front of the buffer and frozen, so a message frame is a
/// view of the read buffer, not a copy.
///
/// Every message is held to a size limit, checked at each frame's header, before its body
/// arrives: the maximum message size if one is set (libzmq's `ZMQ_MAXMSGSIZE`), and in any case
/// this machine's memory ([`machine_memory`]), which no message can exceed and still be held. A
/// multipart message counts whole, while it arrives ([`message_cost`]): its frames' bodies and
/// [`FRAME_COST`] for each frame after the first [`FREE_FRAMES`], so a message that never ends is
/// refused once it reaches the limit. (libzmq checks each frame alone.) A command is held to the
/// limit alone.
///
/// Between calls it remembers the multipart message in progress, to count it and to refuse a
/// command between two of its frames.
pub(crate) struct Decoder {
    /// Largest message accepted: the maximum message size, if any, and at most the machine's
    /// memory.
    limit: u64,
    /// Whether the last frame returned had MORE set, so the next frame belongs to the same
    /// message.
    in_message: bool,
    /// The bodies' bytes of the message in progress so far.
    message_bytes: u64,
    /// The frames of the message in progress so far.
    message_frames: u64,
    /// After a CURVE handshake: opens the MESSAGE each frame and command arrives in.
    opener: Option<Opener>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("limit", &self.limit)
            .field("in_message", &self.in_message)
            .field("encrypted", &self.opener.is_some())
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// A decoder that refuses messages longer than `max_msg_size` bytes (`None`: no limit but the
    /// machine's memory).
    pub(crate) fn new(max_msg_size: Option<u64>) -> Decoder {
        Decoder {
            limit: message_limit(max_msg_size),
            in_message: false,
            message_bytes: 0,
            message_frames: 0,
            opener: None,
        }
    }

    /// A decoder for the traffic after a CURVE handshake: every frame is a MESSAGE that
    /// `opener` opens, and the limits apply to the frame or command inside.
    pub(crate) fn encrypted(max_msg_size: Option<u64>, opener: Opener) -> Decoder {
        Decoder {
            opener: Some(opener),
            ..Decoder::new(max_msg_size)
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
    /// [`ProtocolError::CommandInsideMessage`], [`ProtocolError::FrameTooLarge`],
    /// [`ProtocolError::MessageTooLarge`], or any error of [`Command::decode`] for a malformed
    /// command body. After an error the decoder's state is unspecified; the connection must be
    /// dropped.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Item>, ProtocolError> {
        let Some(header) = parse_header(buf)? else {
            return Ok(None);
        };
        // What the limits judge: the frame, or with CURVE the frame or command its MESSAGE
        // carries (whether it is a command, and its MORE flag, are known once it is open).
        let inner_len = if self.opener.is_some() {
            if header.more() {
                return Err(ProtocolError::MalformedCommand {
                    command: "MESSAGE",
                    problem: "the frame carrying it has the MORE flag set",
                });
            }
            header
                .body_len
                .checked_sub(MESSAGE_OVERHEAD as u64)
                .ok_or(ProtocolError::MalformedCommand {
                    command: "MESSAGE",
                    problem: "shorter than 33 bytes",
                })?
        } else {
            if header.is_command() && self.in_message {
                return Err(ProtocolError::CommandInsideMessage);
            }
            header.body_len
        };
        if self.in_message {
            let size = message_cost(self.message_bytes.saturating_add(inner_len), self.message_frames + 1);
            if size > self.limit {
                return Err(ProtocolError::MessageTooLarge {
                    size,
                    frames: self.message_frames + 1,
                    max: self.limit,
                });
            }
        } else if inner_len > self.limit {
            return Err(ProtocolError::FrameTooLarge {
                size: inner_len,
                max: self.limit,
            });
        }
        // At most the limit (and a MESSAGE's overhead), which is at most isize::MAX.
        let body_len = usize::try_from(header.body_len).expect("the limit fits in memory");
        if buf.len() - header.header_len < body_len {
            return Ok(None);
        }
        buf.advance(header.header_len);
        let body = buf.split_to(body_len);
        let (more, command, body) = match &mut self.opener {
            None => (header.more(), header.is_command(), body.freeze()),
            Some(opener) => {
                let opened = opener.open(body)?;
                if opened.command && opened.more {
                    return Err(ProtocolError::CommandWithMore);
                }
                if opened.command && self.in_message {
                    return Err(ProtocolError::CommandInsideMessage);
                }
                (opened.more, opened.command, opened.body)
            }
        };
        if command {
            return Command::decode(body).map(|command| Some(Item::Command(command)));
        }
        let body_len = body.len() as u64;
        if self.in_message {
            self.message_bytes += body_len;
            self.message_frames += 1;
        } else {
            self.message_bytes = body_len;
            self.message_frames = 1;
        }
        self.in_message = more;
        Ok(Some(Item::Frame { more, body }))
    }

    /// How many bytes the item at the front of `buf` still lacks: its header's and body's
    /// lengths less what `buf` holds. 0 if `buf` holds it whole, or does not yet hold its whole
    /// header (or holds a bad one, which [`Decoder::decode`] refuses).
    ///
    /// For the reader to size its next read after [`Decoder::decode`] returned `Ok(None)`: the
    /// header was then held to the limits, but a limit may be the machine's memory, so the reader
    /// bounds what it reserves itself. Nothing is reserved here.
    pub(crate) fn missing(&self, buf: &[u8]) -> usize {
        match parse_header(buf) {
            Ok(Some(header)) => {
                let whole = (header.header_len as u64).saturating_add(header.body_len);
                usize::try_from(whole.saturating_sub(buf.len() as u64)).unwrap_or(usize::MAX)
            }
            Ok(None) | Err(_) => 0,
        }
    }
}

/// The largest message a decoder accepts: `max_msg_size` if set, and at most the machine's
/// memory.
fn message_limit(max_msg_size: Option<u64>) -> u64 {
    max_msg_size.map_or(u64::MAX, |max| max).min(machine_memory())
}

/// This machine's memory in bytes, RAM and swap (`MemTotal` + `SwapTotal` of `/proc/meminfo`),
/// read once: more than any message can take and still be held. Where that is not known,
/// `isize::MAX`, the most one allocation can be.
pub(crate) fn machine_memory() -> u64 {
    static MEMORY: OnceLock<u64> = OnceLock::new();
    *MEMORY.get_or_init(|| {
        let most = isize::MAX as u64;
        let Ok(meminfo) = std::fs::read_to_string("/proc/meminfo") else {
            return most;
        };
        let kib = |name: &str| {
            meminfo.lines().find_map(|line| {
                let value = line.strip_prefix(name)?.strip_prefix(':')?;
                value.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()
            })
        };
        match (kib("MemTotal"), kib("SwapTotal")) {
            (Some(ram), swap) => ram.saturating_add(swap.unwrap_or(0)).saturating_mul(1024).min(most),
            (None, _) => most,
        }
    })
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
        let memory = machine_memory();
        for size in [1u64 << 32, (1 << 32) + 1, memory] {
            let size = size.min(memory);
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
    fn frames_no_machine_could_hold_are_refused_at_their_header() {
        let memory = machine_memory();
        assert!(memory >= 1 << 20, "this machine has {memory} bytes of memory?");
        for size in [memory + 1, 1 << 62, crate::zmtp::frame::MAX_FRAME_SIZE] {
            for flags in [0x02, 0x03, 0x06] {
                let mut buf = BytesMut::from(&[flags][..]);
                buf.extend_from_slice(&size.to_be_bytes());
                assert_eq!(
                    Decoder::new(None).decode(&mut buf),
                    Err(ProtocolError::FrameTooLarge { size, max: memory }),
                    "flags {flags:#04x}, size {size}"
                );
            }
            // A limit set higher than the machine's memory does not raise it.
            let mut buf = BytesMut::from(&[0x02][..]);
            buf.extend_from_slice(&size.to_be_bytes());
            assert!(matches!(
                Decoder::new(Some(u64::MAX)).decode(&mut buf),
                Err(ProtocolError::FrameTooLarge { max, .. }) if max == memory
            ));
        }
    }

    #[test]
    fn a_multipart_message_counts_whole_against_the_limit() {
        // 50 + 50 = 100 bytes: exactly the limit passes.
        let mut buf = BytesMut::new();
        encode_frame(&mut buf, true, &[1; 50]);
        encode_frame(&mut buf, false, &[2; 50]);
        // The count starts again with the next message.
        encode_frame(&mut buf, true, &[3; 50]);
        encode_frame(&mut buf, false, &[4; 50]);
        assert_eq!(decode_all(&mut Decoder::new(Some(100)), &buf).len(), 4);

        // One byte more is refused at the second frame's header, before its body.
        let mut buf = BytesMut::new();
        encode_frame(&mut buf, true, &[1; 50]);
        buf.extend_from_slice(&[0x00, 51]);
        let mut decoder = Decoder::new(Some(100));
        assert!(matches!(
            decoder.decode(&mut buf),
            Ok(Some(Item::Frame { more: true, .. }))
        ));
        let error = decoder.decode(&mut buf).unwrap_err();
        assert_eq!(
            error,
            ProtocolError::MessageTooLarge {
                size: 101,
                frames: 2,
                max: 100
            }
        );
        assert_eq!(
            error.to_string(),
            "message of 101 bytes in 2 frames exceeds the maximum message size 100"
        );
    }

    #[test]
    fn envelopes_cost_only_their_bytes() {
        // A REQ's request: an empty delimiter, then the body; a ROUTER's: a routing id before.
        let mut buf = BytesMut::new();
        encode_frame(&mut buf, true, b"");
        encode_frame(&mut buf, false, b"hello");
        encode_frame(&mut buf, true, b"\x00\x6b\x8b\x45\x67");
        encode_frame(&mut buf, true, b"");
        encode_frame(&mut buf, false, b"hello");
        assert_eq!(decode_all(&mut Decoder::new(Some(16)), &buf).len(), 5);
    }

    #[test]
    fn a_message_that_never_ends_is_refused_at_the_limit() {
        // Empty frames cost FRAME_COST each after the first FREE_FRAMES: with a limit of 1,000
        // bytes the 40th frame would make 32 * 32 = 1,024.
        let mut buf = BytesMut::new();
        for _ in 0..1000 {
            encode_frame(&mut buf, true, b"");
        }
        let mut decoder = Decoder::new(Some(1000));
        let mut frames = 0;
        let error = loop {
            match decoder.decode(&mut buf) {
                Ok(Some(_)) => frames += 1,
                Ok(None) => panic!("all 1,000 frames accepted"),
                Err(error) => break error,
            }
        };
        assert_eq!(frames, 39);
        assert_eq!(
            error,
            ProtocolError::MessageTooLarge {
                size: 32 * FRAME_COST,
                frames: 40,
                max: 1000
            }
        );
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
    fn missing_counts_what_the_front_item_lacks() {
        let decoder = Decoder::new(None);
        let mut whole = BytesMut::new();
        encode_frame(&mut whole, false, &[1; 300]);
        encode_frame(&mut whole, false, b"next");
        let first = 9 + 300;
        // No whole header yet: not known.
        for cut in 0..9 {
            assert_eq!(decoder.missing(&whole[..cut]), 0, "cut at {cut}");
        }
        for cut in 9..=first {
            assert_eq!(decoder.missing(&whole[..cut]), first - cut, "cut at {cut}");
        }
        // The front item whole: nothing missing, whatever follows.
        assert_eq!(decoder.missing(&whole), 0);
        // A short frame's header is two bytes.
        assert_eq!(decoder.missing(&[0x00, 200, 1, 2]), 200 - 2);
        // A bad header: nothing. A huge one: what it says (the reader bounds what it reserves).
        assert_eq!(decoder.missing(&[0x08, 0]), 0);
        let mut huge = vec![0x02];
        huge.extend_from_slice(&(1u64 << 62).to_be_bytes());
        assert_eq!(
            decoder.missing(&huge),
            usize::try_from(1u64 << 62).unwrap_or(usize::MAX)
        );
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

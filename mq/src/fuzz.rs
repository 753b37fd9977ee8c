//! Entry points of the fuzz targets in the repository's `fuzz/` directory: not an API.
//!
//! This module exists only with the `fuzzing` feature (off by default) and is hidden from the
//! documentation. Each function is one fuzz target, with the target's name: it takes arbitrary
//! bytes, hands them to one part of the pure ZMTP codec (or to [`Endpoint`] parsing) and panics
//! when an invariant breaks, which the fuzzer reports as a crash with the input that caused it.
//!
//! Besides "no input makes the code panic", the invariants are:
//!
//! - **What is decoded is what the bytes say.** A small model of the RFCs written here (frame
//!   flags and sizes, command names, metadata properties, greeting fields, the NULL handshake's
//!   rules) judges the same bytes, and the codec must agree with it: same items, same errors. A
//!   decoded frame is therefore never longer than its input.
//! - **Reads do not matter.** The same bytes give the same items, errors and leftovers whether
//!   they arrive at once, a byte at a time or in uneven pieces.
//! - **Decoding and encoding agree.** Whatever is decoded re-encodes to bytes that decode to the
//!   same value, and to the very same bytes where the encoding is canonical.
//! - **A peer's announced lengths cost nothing.** The decoder never grows the caller's buffer: a
//!   header announcing 2^62 bytes reserves nothing. The fuzz crate also bounds every single
//!   allocation by a small multiple of the input's size (`fuzz/src/lib.rs`).
//! - **Errors are one line**, as logs and monitor events need; the ERROR we send is visible
//!   ASCII.
//!
//! The seed corpus under `fuzz/corpus` is written by this module's tests, which also replay
//! every file there on the stable toolchain: `cargo test -p dhaga-mq --features fuzzing --lib
//! fuzz` (with `DHAGA_WRITE_SEEDS=1` to rewrite the seeds).

use std::fmt;

use bytes::{Bytes, BytesMut};

use crate::endpoint::{Endpoint, Host, ToEndpoint};
use crate::error::Error;
use crate::socket_type::SocketType;
use crate::zmtp::{
    Command, Decoder, Handshake, Item, MAX_HEADER_LEN, ProtocolError, Security, encode_command, encode_frame,
    encode_frame_header, machine_memory,
};

/// Flags bit 0, MORE: more frames of the message follow (RFC 23 §"Framing").
const MORE: u8 = 0x01;
/// Flags bit 1, LONG: an 8-byte size follows the flags instead of a 1-byte one (RFC 23
/// §"Framing").
const LONG: u8 = 0x02;
/// Flags bit 2, COMMAND: the frame is a command (RFC 23 §"Framing").
const COMMAND: u8 = 0x04;
/// Flags bits 7-3: "reserved for future use and MUST be zero" (RFC 23 §"Framing").
const RESERVED: u8 = 0xF8;
/// Size of a short frame's header: flags and a 1-byte size (RFC 23 §"Framing").
const SHORT_HEADER_LEN: usize = 2;
/// Size of a long frame's header: flags and an 8-byte big-endian size (RFC 23 §"Framing").
const LONG_HEADER_LEN: usize = 9;
/// Largest body a short frame carries (RFC 23 §"Framing").
const MAX_SHORT_BODY: usize = 255;
/// Largest body any frame may announce, 2^63-1 (RFC 23 §"Framing").
const MAX_BODY: u64 = i64::MAX as u64;
/// What each frame after a message's eighth adds to its size, for the limits (the decoder
/// documents 32 bytes, a frame's handle, beyond 8 frames that cost only their bodies).
const FRAME_COST: u64 = 32;
/// The frames of a message that cost only their bodies (the decoder's `FREE_FRAMES`).
const FREE_FRAMES: u64 = 8;
/// Largest command the NULL handshake accepts (`handshake.rs`: `MAX_HANDSHAKE_COMMAND_LEN`).
const MAX_HANDSHAKE_COMMAND: u64 = 64 * 1024;
/// Longest PING/PONG context (RFC 37 §"Connection Heartbeating": `ping-context = 0*16OCTET`).
const MAX_PING_CONTEXT: usize = 16;
/// Size of a PING's TTL (RFC 37 §"Connection Heartbeating": `ping-ttl = 2OCTET`).
const PING_TTL_LEN: usize = 2;
/// Longest ERROR reason on the wire (RFC 23 §"The NULL Security Mechanism": `0*255VCHAR`).
const MAX_REASON: usize = 255;
/// Longest identity (RFC 23 §"The Identity Property": `identity = 0*255OCTET`).
const MAX_IDENTITY: usize = 255;
/// Largest metadata value size (RFC 23 §"The NULL Security Mechanism": 2^31-1).
const MAX_VALUE: u32 = i32::MAX as u32;
/// The commands ZMTP 3.1 defines (RFC 23 and RFC 37); any other name decodes as unknown.
const KNOWN_COMMANDS: [&[u8]; 6] = [b"READY", b"ERROR", b"SUBSCRIBE", b"CANCEL", b"PING", b"PONG"];

/// Size of a greeting (RFC 23 §"Formal Grammar": the filler "extends the greeting to 64 octets").
const GREETING_LEN: usize = 64;
/// Offset and value of the signature's first byte, `%xFF` (RFC 23 §"Formal Grammar").
const SIGNATURE_START: (usize, u8) = (0, 0xFF);
/// Offset and value of the signature's last byte, `%x7F`, after 8 bytes of padding (RFC 23
/// §"Formal Grammar").
const SIGNATURE_END: (usize, u8) = (9, 0x7F);
/// Offset of the major version; the minor version follows it (RFC 23 §"Formal Grammar").
const MAJOR: usize = 10;
/// Offset of the minor version (RFC 23 §"Formal Grammar").
const MINOR: usize = 11;
/// The mechanism name, null-padded to 20 bytes (RFC 23 §"Formal Grammar").
const MECHANISM: std::ops::Range<usize> = 12..32;
/// Offset of the as-server flag (RFC 23 §"Formal Grammar").
const AS_SERVER: usize = 32;

/// The decoder: ZMTP traffic after the handshake (frames and commands), as a reader sees it.
///
/// Decodes `data` at once, a byte at a time and in uneven pieces, with and without a maximum
/// message size, checking every call against the model; then checks that each frame and command
/// re-encodes faithfully.
pub fn decoder(data: &[u8]) {
    let whole = decode_stream(data, None, &[], true);
    let bytewise = decode_stream(data, None, &vec![1; data.len()], false);
    assert_eq!(whole, bytewise, "decoding at once and a byte at a time differ");
    // A limit that refuses the larger frames, read in pieces of 1 to 32 bytes.
    let largest = whole
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Frame { body, .. } => Some(body.len() as u64),
            Item::Command(_) => None,
        })
        .max()
        .unwrap_or(0);
    let pieces: Vec<usize> = data.iter().map(|&byte| usize::from(byte % 32) + 1).collect();
    decode_stream(data, Some(largest / 2), &pieces, false);
}

/// The command parser: `body` is a whole command frame body (name size, name, data), any name.
pub fn command(body: &[u8]) {
    let input = Bytes::copy_from_slice(body);
    match (expected_command(body), Command::decode(input.clone())) {
        (Ok(()), Ok(command)) => {
            check_command(body, &command);
            check_shares(&input, &command);
        }
        (Err(expected), Err(error)) if expected.matches(&error) => check_error(&error),
        (expected, result) => panic!("Command::decode gave {result:?}, the model expects {expected:?}"),
    }
}

/// The READY parser: `data` is what follows the name, i.e. the metadata properties.
pub fn metadata(data: &[u8]) {
    command(&command_body(b"READY", data));
}

/// The SUBSCRIBE and CANCEL parsers: `data` is the subscription prefix.
pub fn command_subscribe(data: &[u8]) {
    command(&command_body(b"SUBSCRIBE", data));
    command(&command_body(b"CANCEL", data));
}

/// The PING and PONG parsers: `data` is what follows the name (PING: TTL and context; PONG:
/// context).
pub fn command_ping(data: &[u8]) {
    command(&command_body(b"PING", data));
    command(&command_body(b"PONG", data));
}

/// The ERROR parser: `data` is what follows the name (reason size and reason).
pub fn command_error(data: &[u8]) {
    command(&command_body(b"ERROR", data));
}

/// The greeting: the first 64 bytes of `data` (or fewer) are a peer's greeting, fed to a REQ
/// socket's handshake at once and a byte at a time; an accepted greeting is followed by a REP's
/// READY and must give the negotiated version.
pub fn greeting(data: &[u8]) {
    /// A REP peer's READY: `Socket-Type` = `REP`.
    const READY_FROM_REP: &[u8] = b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03REP";
    let greeting = &data[..data.len().min(GREETING_LEN)];
    let verdict = judge_greeting(greeting);
    for pieces in [Vec::new(), vec![1; greeting.len()]] {
        let mut handshake = Handshake::new(SocketType::Req, None, Security::NULL);
        let (result, left) = feed(|buf| handshake.advance(buf), greeting, &pieces);
        match (&verdict, result) {
            (Verdict::Incomplete, Ok(None)) => assert!(left.is_empty(), "greeting bytes left over"),
            (Verdict::Refused(expected), Err(error)) if error == *expected => check_error(&error),
            (Verdict::OtherMechanism(name), Err(error)) if other_mechanism(name, &error) => check_error(&error),
            (Verdict::Accepted { minor }, Ok(None)) => {
                assert!(left.is_empty(), "greeting bytes left over");
                let mut ready = BytesMut::from(READY_FROM_REP);
                let peer = handshake.advance(&mut ready);
                let Ok(Some(peer)) = peer else {
                    panic!("a REP's READY after an accepted greeting gave {peer:?}");
                };
                assert_eq!(
                    (peer.socket_type, peer.minor, &peer.identity),
                    (SocketType::Rep, *minor, &None)
                );
            }
            (verdict, result) => panic!("the handshake gave {result:?} for a greeting the model finds {verdict:?}"),
        }
    }
}

/// The NULL handshake: `data` is everything a peer sends (greeting, READY or anything else, and
/// whatever follows), fed at once to a handshake of every socket type, each checked against the
/// model of RFC 23. For one of them (picked by the last byte), the same bytes fed a byte at a
/// time and in uneven pieces must give the same outcome, leave the same bytes for the decoder
/// and make it write the same.
pub fn handshake(data: &[u8]) {
    let identified = (SocketType::Dealer, Some(Bytes::from_static(b"fuzz")));
    let configurations: Vec<_> = SocketType::ALL
        .map(|ours| (ours, None))
        .into_iter()
        .chain([identified])
        .collect();
    let mut outcomes = configurations
        .iter()
        .map(|(ours, identity)| shake(*ours, identity.clone(), data, &[]))
        .collect::<Vec<_>>();
    let chosen = usize::from(data.last().copied().unwrap_or(0)) % configurations.len();
    let (ours, identity) = configurations[chosen].clone();
    let whole = outcomes.swap_remove(chosen);
    let pieces: Vec<usize> = data.iter().map(|&byte| usize::from(byte % 16) + 1).collect();
    let bytewise = shake(ours, identity.clone(), data, &vec![1; data.len()]);
    assert_eq!(
        whole, bytewise,
        "{ours}: a handshake at once and a byte at a time differ"
    );
    let uneven = shake(ours, identity, data, &pieces);
    assert_eq!(whole, uneven, "{ours}: a handshake at once and in pieces differ");
}

/// A secured server's handshake: `data` is everything a client sends after its greeting,
/// which names PLAIN (even first byte) or CURVE (odd).
///
/// Besides the general invariants: a CURVE server never completes a handshake and never asks
/// ZAP, since no input can forge a box sealed to its key (or open its cookie, whose key is made
/// afresh for each connection); a PLAIN server asks ZAP exactly for a well-formed HELLO, with its
/// user name and password, and completes (admitted by a handler answering 200) exactly on a
/// well-formed INITIATE after it, whichever pieces the bytes come in.
pub fn secure_server(data: &[u8]) {
    let (curve, data) = match data.split_first() {
        Some((&first, rest)) => (first % 2 == 1, rest),
        None => return,
    };
    let serve = |pieces: &[usize]| {
        let security = if curve {
            Security::CurveServer(std::sync::Arc::new(crate::zmtp::SecretKey::from_bytes(&[7; 32])))
        } else {
            Security::PlainServer
        };
        let mut handshake = Handshake::new(SocketType::Rep, None, security);
        let mut input = greeting_for(if curve { "CURVE" } else { "PLAIN" });
        input.extend_from_slice(data);
        let mut asked = Vec::new();
        let mut buf = BytesMut::new();
        let mut fed = 0;
        let mut pieces = pieces.iter().copied();
        let result = loop {
            let piece = pieces.next().unwrap_or(usize::MAX).max(1).min(input.len() - fed);
            buf.extend_from_slice(&input[fed..fed + piece]);
            fed += piece;
            let mut step = handshake.advance(&mut buf);
            // As a connection does: after the handler's answer, go on with what has arrived.
            while matches!(step, Ok(None)) {
                let Some(request) = handshake.zap_request() else { break };
                asked.push(request);
                step = handshake.zap_replied(crate::zmtp::ZapReply::admitted());
                if matches!(step, Ok(None)) {
                    step = handshake.advance(&mut buf);
                }
            }
            if !matches!(step, Ok(None)) || fed == input.len() {
                break step;
            }
        };
        if let Err(error) = &result {
            check_error(error);
        }
        if curve {
            assert!(
                asked.is_empty(),
                "a CURVE server asked ZAP about forged bytes: {asked:?}"
            );
            assert!(
                !matches!(result, Ok(Some(_))),
                "a CURVE handshake completed on forged bytes"
            );
        }
        for request in &asked {
            assert!(request.credentials.iter().all(|c| c.len() <= 255));
        }
        (result, asked)
    };
    let whole = serve(&[]);
    let bytewise = serve(&vec![1; data.len() + GREETING_LEN]);
    let pieces: Vec<usize> = data.iter().map(|&byte| usize::from(byte % 16) + 1).collect();
    let uneven = serve(&pieces);
    assert_eq!(whole, bytewise, "at once and a byte at a time differ");
    assert_eq!(whole, uneven, "at once and in pieces differ");
}

/// A client's greeting naming `mechanism`, version 3.1.
fn greeting_for(mechanism: &str) -> Vec<u8> {
    let mut bytes = vec![0; GREETING_LEN];
    bytes[SIGNATURE_START.0] = SIGNATURE_START.1;
    bytes[SIGNATURE_END.0] = SIGNATURE_END.1;
    bytes[MAJOR] = 3;
    bytes[MINOR] = 1;
    bytes[MECHANISM][..mechanism.len()].copy_from_slice(mechanism.as_bytes());
    bytes
}

/// The traffic decoder after a CURVE handshake, on bytes that are not MESSAGEs sealed with its
/// session's key: it never yields an item (a box cannot be forged), never grows the buffer, and
/// fails the same way whichever pieces the bytes come in.
pub fn curve_decoder(data: &[u8]) {
    let decode = |pieces: &[usize]| {
        let opener = crate::zmtp::fuzz_opener();
        let mut decoder = Decoder::encrypted(Some(1 << 20), opener);
        let (result, _) = feed(
            |buf| {
                let capacity = buf.capacity();
                let item = decoder.decode(buf);
                assert!(buf.capacity() <= capacity, "the decoder grew the buffer");
                item
            },
            data,
            pieces,
        );
        assert!(!matches!(result, Ok(Some(_))), "a forged MESSAGE opened: {result:?}");
        if let Err(error) = &result {
            check_error(error);
        }
        result.map(|_| ())
    };
    if data.is_empty() {
        return;
    }
    let whole = decode(&[]);
    assert_eq!(
        whole,
        decode(&vec![1; data.len()]),
        "at once and a byte at a time differ"
    );
}

/// A ZAP handler's reply: `data` split into frames (each preceded by its one-byte length).
/// Parsing never panics, and accepts only RFC 27's status codes.
pub fn zap_reply(data: &[u8]) {
    let mut frames = Vec::new();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        frames.push(Bytes::copy_from_slice(&tail[..len]));
        rest = &tail[len..];
    }
    match crate::zmtp::ZapReply::parse(&frames) {
        Ok(reply) => assert!([200, 300, 400, 500].contains(&reply.status), "status {}", reply.status),
        Err(error) => check_error(&error),
    }
}

/// Endpoint parsing: `data`, if UTF-8, as an endpoint string. A parsed endpoint prints as a
/// string that parses back to it (and prints the same again); a refused one is reported with the
/// string as given.
pub fn endpoint(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match text.parse::<Endpoint>() {
        Ok(endpoint) => {
            let printed = endpoint.to_string();
            let again: Endpoint = printed
                .parse()
                .unwrap_or_else(|error| panic!("{text:?} printed as {printed:?}, which does not parse: {error}"));
            assert_eq!(again, endpoint, "{text:?} printed as {printed:?}");
            assert_eq!(again.to_string(), printed);
            assert_eq!(text.to_endpoint().ok(), Some(endpoint.clone()));
            let reachable = endpoint.reachable();
            assert_eq!(reachable.reachable(), reachable, "reachable is not idempotent");
            if let Endpoint::Tcp { host, .. } = &endpoint {
                assert_eq!(Endpoint::tcp_bind_ip(host).is_none(), matches!(host, Host::Name(_)));
            }
        }
        Err(Error::InvalidEndpoint { endpoint, reason }) => {
            assert_eq!(endpoint, text, "the error quotes another string");
            assert!(!reason.is_empty());
        }
        Err(other) => panic!("{text:?}: parsing failed with {other:?}, not InvalidEndpoint"),
    }
}

/// A frame header as RFC 23 §"Framing" reads it.
#[derive(Debug)]
enum Header {
    /// More bytes are needed to know.
    Incomplete,
    /// The bytes so far break the grammar.
    Invalid(ProtocolError),
    /// A whole header: its flags, its own length and the body size it announces.
    Complete { flags: u8, len: usize, body_len: u64 },
}

/// Reads the frame header at the start of `buf`.
fn header(buf: &[u8]) -> Header {
    let Some(&flags) = buf.first() else {
        return Header::Incomplete;
    };
    if flags & RESERVED != 0 {
        return Header::Invalid(ProtocolError::ReservedFlags(flags));
    }
    if flags & COMMAND != 0 && flags & MORE != 0 {
        return Header::Invalid(ProtocolError::CommandWithMore);
    }
    if flags & LONG == 0 {
        return match buf.get(1) {
            Some(&size) => Header::Complete {
                flags,
                len: SHORT_HEADER_LEN,
                body_len: u64::from(size),
            },
            None => Header::Incomplete,
        };
    }
    let Some(size) = buf.get(1..LONG_HEADER_LEN) else {
        return Header::Incomplete;
    };
    let body_len = u64::from_be_bytes(size.try_into().expect("8 bytes"));
    if body_len > MAX_BODY {
        return Header::Invalid(ProtocolError::FrameTooLarge {
            size: body_len,
            max: MAX_BODY,
        });
    }
    Header::Complete {
        flags,
        len: LONG_HEADER_LEN,
        body_len,
    }
}

/// What one call of [`Decoder::decode`] must do with a buffer.
#[derive(Debug)]
enum Step {
    /// Return `Ok(None)` and leave the buffer alone.
    Wait,
    /// Fail with this error.
    Fail(ProtocolError),
    /// Take a message frame: `header` bytes of header, then `body` bytes of body.
    Frame { more: bool, header: usize, body: usize },
    /// Take a command frame; the result is `Command::decode`'s of its body.
    Command { header: usize, body: usize },
}

/// What the decoder must do with `buf`, in its documented order: flags, then a command inside a
/// message, then the size limit, then whether the body is all there. `message` is the bodies'
/// bytes and the frames of the multipart message in progress, if any.
fn step(buf: &[u8], message: Option<(u64, u64)>, max: Option<u64>) -> Step {
    let (flags, header_len, body_len) = match header(buf) {
        Header::Incomplete => return Step::Wait,
        Header::Invalid(error) => return Step::Fail(error),
        Header::Complete { flags, len, body_len } => (flags, len, body_len),
    };
    let is_command = flags & COMMAND != 0;
    if is_command && message.is_some() {
        return Step::Fail(ProtocolError::CommandInsideMessage);
    }
    // The maximum message size, if any, and never more than the machine's memory.
    let limit = max.unwrap_or(u64::MAX).min(machine_memory());
    match message {
        Some((bytes, frames)) => {
            let frames = frames + 1;
            let handles = FRAME_COST.saturating_mul(frames.saturating_sub(FREE_FRAMES));
            let size = bytes.saturating_add(body_len).saturating_add(handles);
            if size > limit {
                return Step::Fail(ProtocolError::MessageTooLarge {
                    size,
                    frames,
                    max: limit,
                });
            }
        }
        None if body_len > limit => {
            return Step::Fail(ProtocolError::FrameTooLarge {
                size: body_len,
                max: limit,
            });
        }
        None => {}
    }
    let body = usize::try_from(body_len).expect("the machine's memory fits in a usize");
    if buf.len() - header_len < body {
        Step::Wait
    } else if is_command {
        Step::Command {
            header: header_len,
            body,
        }
    } else {
        Step::Frame {
            more: flags & MORE != 0,
            header: header_len,
            body,
        }
    }
}

/// What a decoder made of a whole stream: its items, then the error that stopped it or the
/// number of bytes left waiting for more.
#[derive(Debug, PartialEq)]
struct Decoded {
    items: Vec<Item>,
    end: Result<usize, ProtocolError>,
}

/// Feeds `stream` to a fresh decoder in pieces (the sizes in `pieces`, then the rest at once),
/// decoding all it can after each piece, and checks every call against [`step`]: the result,
/// what it took from the buffer, and that it never grew the buffer. With `re_encode`, also
/// checks each item's re-encoding ([`check_frame`], [`check_command`]).
fn decode_stream(stream: &[u8], max: Option<u64>, pieces: &[usize], re_encode: bool) -> Decoded {
    let mut decoder = Decoder::new(max);
    let mut buf = BytesMut::new();
    // `buf` holds stream[start..fed].
    let (mut start, mut fed) = (0, 0);
    // The multipart message in progress: its bodies' bytes so far and its frames.
    let mut message: Option<(u64, u64)> = None;
    let mut items = Vec::new();
    let mut pieces = pieces.iter().copied();
    loop {
        let piece = pieces.next().unwrap_or(usize::MAX).max(1).min(stream.len() - fed);
        buf.extend_from_slice(&stream[fed..fed + piece]);
        fed += piece;
        loop {
            let capacity = buf.capacity();
            let expected = step(&buf, message, max);
            let result = decoder.decode(&mut buf);
            assert!(
                buf.capacity() <= capacity,
                "decode grew the buffer from {capacity} to {} bytes",
                buf.capacity()
            );
            let (header, body, item) = match (expected, result) {
                (Step::Wait, Ok(None)) => {
                    assert_eq!(buf.len(), fed - start, "decode took bytes and returned nothing");
                    break;
                }
                (Step::Fail(expected), Err(error)) if error == expected => {
                    check_error(&error);
                    return Decoded { items, end: Err(error) };
                }
                (Step::Frame { more, header, body }, Ok(Some(Item::Frame { more: got, body: frame })))
                    if got == more =>
                {
                    assert_eq!(frame[..], stream[start + header..][..body], "the frame's body");
                    if re_encode {
                        check_frame(more, &frame);
                    }
                    let size = body as u64;
                    message = more.then(|| message.map_or((size, 1), |(bytes, frames)| (bytes + size, frames + 1)));
                    (header, body, Item::Frame { more, body: frame })
                }
                (Step::Command { header, body }, result) => {
                    let bytes = &stream[start + header..][..body];
                    match (Command::decode(Bytes::copy_from_slice(bytes)), result) {
                        (Ok(expected), Ok(Some(Item::Command(command)))) if command == expected => {
                            if re_encode {
                                check_command(bytes, &command);
                            }
                            (header, body, Item::Command(command))
                        }
                        (Err(expected), Err(error)) if error == expected => {
                            check_error(&error);
                            return Decoded { items, end: Err(error) };
                        }
                        (expected, result) => {
                            panic!("at byte {start}: the decoder gave {result:?}, Command::decode {expected:?}")
                        }
                    }
                }
                (expected, result) => {
                    panic!("at byte {start}: the decoder gave {result:?}, the model expects {expected:?}")
                }
            };
            items.push(item);
            start += header + body;
            assert_eq!(buf.len(), fed - start, "decode took more or less than the item");
        }
        if fed == stream.len() {
            assert_eq!(buf[..], stream[start..], "decode changed bytes it did not take");
            return Decoded {
                items,
                end: Ok(fed - start),
            };
        }
    }
}

/// Checks that a decoded frame re-encodes, with the header RFC 23 recommends (short up to 255
/// bytes), to bytes that decode to the same frame.
fn check_frame(more: bool, body: &Bytes) {
    let mut header = [0; MAX_HEADER_LEN];
    let header_len = encode_frame_header(more, body.len(), &mut header);
    let mut encoded = BytesMut::new();
    encode_frame(&mut encoded, more, body);
    assert_eq!(encoded[..header_len], header[..header_len], "encode_frame's header");
    let expected_len = if body.len() <= MAX_SHORT_BODY {
        SHORT_HEADER_LEN
    } else {
        LONG_HEADER_LEN
    };
    match self::header(&encoded) {
        Header::Complete { flags, len, body_len } => assert_eq!(
            (flags & (MORE | COMMAND), len, body_len),
            (if more { MORE } else { 0 }, expected_len, body.len() as u64),
            "an encoded frame's header"
        ),
        other => panic!("an encoded frame's header reads as {other:?}"),
    }
    let mut decoder = Decoder::new(None);
    let again = decoder.decode(&mut encoded);
    assert_eq!(
        again,
        Ok(Some(Item::Frame {
            more,
            body: body.clone()
        })),
        "a re-encoded frame"
    );
    assert!(encoded.is_empty(), "a re-encoded frame has bytes left over");
}

/// A command frame's body: name size, name, data.
fn command_body(name: &[u8], data: &[u8]) -> Vec<u8> {
    let mut body = vec![u8::try_from(name.len()).expect("a short name")];
    body.extend_from_slice(name);
    body.extend_from_slice(data);
    body
}

/// Splits a command body into its name and data (RFC 23 §"Formal Grammar": `command-name =
/// short-size 1*255command-name-char`, `command-name-char = ALPHA`).
fn split_name(body: &[u8]) -> Result<(&[u8], &[u8]), ProtocolError> {
    let len = usize::from(body.first().copied().unwrap_or(0));
    if len == 0 {
        return Err(ProtocolError::EmptyCommandName);
    }
    let Some(name) = body.get(1..1 + len) else {
        return Err(ProtocolError::CommandNameTruncated {
            len,
            available: body.len() - 1,
        });
    };
    if !name.iter().all(u8::is_ascii_alphabetic) {
        return Err(ProtocolError::InvalidCommandName(
            String::from_utf8_lossy(name).into_owned(),
        ));
    }
    Ok((name, &body[1 + len..]))
}

/// The properties of a metadata block (RFC 23 §"The NULL Security Mechanism": `property = name
/// value`, `name = short-size 1*255name-char`, `value = 4OCTET *OCTET`, names of `ALPHA | DIGIT
/// | "-" | "_" | "." | "+"`, values at most 2^31-1 bytes), or `None` if it breaks the grammar.
fn properties(mut data: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut properties = Vec::new();
    while let Some((&name_len, rest)) = data.split_first() {
        let name_len = usize::from(name_len);
        if name_len == 0 || rest.len() < name_len {
            return None;
        }
        let (name, rest) = rest.split_at(name_len);
        if !name.iter().all(|&c| c.is_ascii_alphanumeric() || b"-_.+".contains(&c)) {
            return None;
        }
        let (size, rest) = rest.split_at_checked(4)?;
        let size = u32::from_be_bytes(size.try_into().expect("4 bytes"));
        if size > MAX_VALUE {
            return None;
        }
        let (value, rest) = rest.split_at_checked(size as usize)?;
        properties.push((name, value));
        data = rest;
    }
    Some(properties)
}

/// The value of the first property called `name`, ignoring ASCII case (RFC 23: "The case of
/// names SHALL NOT be significant"; libzmq takes the first).
fn first<'a>(properties: &[(&[u8], &'a [u8])], name: &str) -> Option<&'a [u8]> {
    properties
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .map(|&(_, value)| value)
}

/// The socket type a `Socket-Type` value names (ignoring case), if any.
fn socket_type_named(name: &[u8]) -> Option<SocketType> {
    SocketType::ALL
        .into_iter()
        .find(|ty| ty.name().as_bytes().eq_ignore_ascii_case(name))
}

/// An error the model expects: this one exactly, or any of a kind whose wording is the codec's.
enum Expect {
    /// Exactly this error.
    Exactly(ProtocolError),
    /// An error of a kind (named for messages) that this function recognises.
    Kind(&'static str, fn(&ProtocolError) -> bool),
}

impl Expect {
    /// Whether `error` is what is expected.
    fn matches(&self, error: &ProtocolError) -> bool {
        match self {
            Expect::Exactly(expected) => error == expected,
            Expect::Kind(_, is) => is(error),
        }
    }
}

impl fmt::Debug for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Exactly(error) => write!(f, "Err({error:?})"),
            Expect::Kind(kind, _) => write!(f, "Err({kind})"),
        }
    }
}

/// Whether `Command::decode` must accept `body`, and if not, with what error.
fn expected_command(body: &[u8]) -> Result<(), Expect> {
    let (name, data) = split_name(body).map_err(Expect::Exactly)?;
    let valid = match name {
        b"READY" => properties(data).is_some(),
        // error-reason = short-size 0*255VCHAR; bytes after it are ignored, as libzmq does.
        b"ERROR" => data.first().is_some_and(|&len| data.len() > usize::from(len)),
        b"PING" => (PING_TTL_LEN..=PING_TTL_LEN + MAX_PING_CONTEXT).contains(&data.len()),
        b"PONG" => data.len() <= MAX_PING_CONTEXT,
        _ => true,
    };
    match name {
        _ if valid => Ok(()),
        b"READY" => Err(Expect::Kind("MalformedMetadata", |e| {
            matches!(e, ProtocolError::MalformedMetadata(_))
        })),
        b"ERROR" => Err(Expect::Kind("MalformedCommand ERROR", |e| {
            matches!(e, ProtocolError::MalformedCommand { command: "ERROR", .. })
        })),
        b"PING" => Err(Expect::Kind("MalformedCommand PING", |e| {
            matches!(e, ProtocolError::MalformedCommand { command: "PING", .. })
        })),
        _ => Err(Expect::Kind("MalformedCommand PONG", |e| {
            matches!(e, ProtocolError::MalformedCommand { command: "PONG", .. })
        })),
    }
}

/// Checks a command that `Command::decode` made of `body` against the model, then its
/// re-encoding: the same bytes where the encoding is canonical, and bytes that decode to the
/// same command.
fn check_command(body: &[u8], command: &Command) {
    let (name, data) = split_name(body).expect("a command was decoded from a body with an invalid name");
    assert_eq!(command.name(), name, "the command's name");
    // The bytes the command must re-encode to, where it keeps everything it was sent.
    let mut canonical = Some(body);
    match command {
        Command::Ready(metadata) => {
            let properties = properties(data).expect("READY accepted with malformed metadata");
            for &(name, _) in &properties {
                let name = std::str::from_utf8(name).expect("an ASCII name");
                assert_eq!(
                    metadata.get(name).map(|v| &v[..]),
                    first(&properties, name),
                    "property {name}"
                );
            }
            assert_eq!(metadata.encoded_len(), data.len(), "the metadata's encoded length");
            assert_eq!(metadata.identity().map(|v| &v[..]), first(&properties, "Identity"));
            match (first(&properties, "Socket-Type"), metadata.socket_type()) {
                (None, Err(ProtocolError::MissingSocketType)) => {}
                (Some(name), Ok(ty)) => assert_eq!(socket_type_named(name), Some(ty)),
                (Some(name), Err(ProtocolError::UnknownSocketType(_))) => assert_eq!(socket_type_named(name), None),
                (name, result) => panic!("Socket-Type {name:?} gave {result:?}"),
            }
        }
        Command::Error { reason } => {
            let len = usize::from(data[0]);
            let sent = &data[1..1 + len];
            assert_eq!(*reason, String::from_utf8_lossy(sent), "the ERROR reason");
            // Bytes after the reason are dropped, and a reason that is not UTF-8 is decoded lossily.
            canonical = std::str::from_utf8(sent)
                .is_ok()
                .then(|| &body[..body.len() - data.len() + 1 + len]);
        }
        Command::Subscribe(prefix) | Command::Cancel(prefix) => assert_eq!(prefix[..], *data, "the prefix"),
        Command::Ping {
            ttl_deciseconds,
            context,
        } => {
            assert_eq!(ttl_deciseconds.to_be_bytes(), data[..PING_TTL_LEN], "the PING's TTL");
            assert_eq!(context[..], data[PING_TTL_LEN..], "the PING's context");
            assert!(context.len() <= MAX_PING_CONTEXT);
        }
        Command::Pong { context } => {
            assert_eq!(context[..], *data, "the PONG's context");
            assert!(context.len() <= MAX_PING_CONTEXT);
        }
        Command::Unknown { name, body } => {
            assert!(
                !KNOWN_COMMANDS.contains(&&name[..]),
                "a known command decoded as unknown"
            );
            assert_eq!(body[..], *data, "an unknown command's data");
        }
    }

    let mut encoded = BytesMut::new();
    encode_command(&mut encoded, command);
    let (flags, header_len, body_len) = match header(&encoded) {
        Header::Complete { flags, len, body_len } => (flags, len, body_len),
        other => panic!("an encoded command's header reads as {other:?}"),
    };
    assert_eq!(flags & !LONG, COMMAND, "an encoded command's flags");
    assert_eq!(body_len, command.body_len() as u64, "Command::body_len");
    assert_eq!(
        header_len as u64 + body_len,
        encoded.len() as u64,
        "an encoded command's length"
    );
    if let Some(canonical) = canonical {
        assert_eq!(encoded[header_len..], *canonical, "a re-encoded command");
    }
    let mut decoder = Decoder::new(None);
    let again = match decoder.decode(&mut encoded) {
        Ok(Some(Item::Command(again))) if encoded.is_empty() => again,
        other => panic!("a re-encoded {command:?} decodes as {other:?}"),
    };
    match (command, &again) {
        // A reason over 255 bytes (possible after lossy decoding) is cut at a character boundary.
        (Command::Error { reason }, Command::Error { reason: cut }) if reason.len() > MAX_REASON => {
            assert!(
                reason.starts_with(cut.as_str()) && cut.len() + 4 > MAX_REASON,
                "{reason:?} cut to {cut:?}"
            );
        }
        _ => assert_eq!(again, *command, "a re-encoded command decodes differently"),
    }
}

/// Checks that the data a command keeps is a view of the body it was decoded from, not a copy
/// (`Command::decode`: "The data of the result shares `body`'s buffer").
fn check_shares(input: &Bytes, command: &Command) {
    let range = input.as_ptr_range();
    let shares = |part: &Bytes| part.is_empty() || range.contains(&part.as_ptr());
    let shared = match command {
        Command::Subscribe(data) | Command::Cancel(data) => shares(data),
        Command::Ping { context, .. } | Command::Pong { context } => shares(context),
        Command::Unknown { name, body } => shares(name) && shares(body),
        Command::Ready(metadata) => metadata.identity().is_none_or(shares),
        Command::Error { .. } => true,
    };
    assert!(shared, "{command:?} copied its data");
}

/// Checks an error's text: one non-empty line, as logs and monitor events need.
fn check_error(error: &ProtocolError) {
    let text = error.to_string();
    assert!(
        !text.is_empty() && !text.contains(['\n', '\r']),
        "{error:?} displays as {text:?}"
    );
}

/// What a handshake must make of the first bytes of a peer's greeting (RFC 23 §"Formal
/// Grammar", RFC 37 §"Version Negotiation").
#[derive(Debug)]
enum Verdict {
    /// Fewer than 64 bytes, and nothing wrong so far.
    Incomplete,
    /// A ZMTP 3 greeting with the NULL mechanism; the minor version both sides then speak.
    Accepted { minor: u8 },
    /// Refused with this error, as soon as its bytes are there.
    Refused(ProtocolError),
    /// Another mechanism, named up to its first zero byte: unsupported (or, once the crate has
    /// it, not ours).
    OtherMechanism(String),
}

/// Judges a greeting prefix of at most 64 bytes.
fn judge_greeting(greeting: &[u8]) -> Verdict {
    for (offset, byte) in [SIGNATURE_START, SIGNATURE_END] {
        match greeting.get(offset) {
            Some(&found) if found != byte => return Verdict::Refused(ProtocolError::BadSignature { offset, found }),
            Some(_) => {}
            None => return Verdict::Incomplete,
        }
    }
    if greeting.len() > MINOR && greeting[MAJOR] < 3 {
        return Verdict::Refused(ProtocolError::UnsupportedVersion {
            major: greeting[MAJOR],
            minor: greeting[MINOR],
        });
    }
    if greeting.len() < GREETING_LEN {
        return Verdict::Incomplete;
    }
    let mechanism = &greeting[MECHANISM];
    let (name, padding) = mechanism.split_at(mechanism.iter().position(|&b| b == 0).unwrap_or(mechanism.len()));
    if name != b"NULL" || padding.iter().any(|&b| b != 0) {
        return Verdict::OtherMechanism(String::from_utf8_lossy(name).into_owned());
    }
    // "A peer SHALL always use its own protocol when talking to an equal or higher protocol
    // peer" (RFC 37): 3.0 with a 3.0 peer, 3.1 with anything newer.
    let minor = if greeting[MAJOR] == 3 {
        greeting[MINOR].min(1)
    } else {
        1
    };
    Verdict::Accepted { minor }
}

/// Whether `error` refuses a greeting naming mechanism `name` other than NULL: as unsupported, or,
/// for a mechanism the crate has, as not ours.
fn other_mechanism(name: &str, error: &ProtocolError) -> bool {
    match error {
        ProtocolError::UnsupportedMechanism(found) => found == name,
        ProtocolError::MechanismMismatch { .. } => true,
        _ => false,
    }
}

/// What a handshake must make of the bytes after an accepted greeting (RFC 23 §"The NULL
/// Security Mechanism", §"The Socket-Type Property", §"The Identity Property").
#[derive(Debug)]
enum Ready<'a> {
    /// Wait for more, taking nothing.
    Wait,
    /// Refuse; `error_sent`: an ERROR command goes to the peer first (socket-type problems).
    Refuse { error: Expect, error_sent: bool },
    /// Accept: the peer's socket type and identity, the READY's body and the bytes it took.
    Accept {
        socket_type: SocketType,
        identity: Option<&'a [u8]>,
        body: &'a [u8],
        used: usize,
    },
}

/// Judges what a peer sent after its greeting, for a socket of type `ours`.
fn judge_ready(rest: &[u8], ours: SocketType) -> Ready<'_> {
    let refuse = |error| Ready::Refuse {
        error: Expect::Exactly(error),
        error_sent: false,
    };
    let Some(&flags) = rest.first() else {
        return Ready::Wait;
    };
    // A message frame is refused by its flags byte, whatever follows it.
    if flags & RESERVED == 0 && flags & COMMAND == 0 {
        return refuse(ProtocolError::UnexpectedInHandshake("a message frame".into()));
    }
    let (header_len, body_len) = match header(rest) {
        Header::Incomplete => return Ready::Wait,
        Header::Invalid(error) => return refuse(error),
        Header::Complete { len, body_len, .. } => (len, body_len),
    };
    if body_len > MAX_HANDSHAKE_COMMAND {
        return refuse(ProtocolError::HandshakeCommandTooLarge {
            size: body_len,
            max: MAX_HANDSHAKE_COMMAND,
        });
    }
    let used = header_len + body_len as usize;
    let Some(body) = rest.get(header_len..used) else {
        return Ready::Wait;
    };
    if let Err(error) = expected_command(body) {
        return Ready::Refuse {
            error,
            error_sent: false,
        };
    }
    let (name, data) = split_name(body).expect("a valid name");
    match name {
        b"READY" => {}
        b"ERROR" => {
            let reason = &data[1..][..usize::from(data[0])];
            return refuse(ProtocolError::PeerError(String::from_utf8_lossy(reason).into_owned()));
        }
        other => {
            let what = format!("command {}", String::from_utf8_lossy(other));
            return refuse(ProtocolError::UnexpectedInHandshake(what));
        }
    }
    let properties = properties(data).expect("valid metadata");
    let socket_type = match first(&properties, "Socket-Type").map(|name| (name, socket_type_named(name))) {
        Some((_, Some(peer))) if ours.is_compatible(peer) => peer,
        problem => {
            let error = match problem {
                None => Expect::Exactly(ProtocolError::MissingSocketType),
                Some((_, None)) => Expect::Kind("UnknownSocketType", |e| {
                    matches!(e, ProtocolError::UnknownSocketType(_))
                }),
                Some((_, Some(peer))) => Expect::Exactly(ProtocolError::IncompatibleSocketType { ours, peer }),
            };
            return Ready::Refuse {
                error,
                error_sent: true,
            };
        }
    };
    let identity = match first(&properties, "Identity").filter(|id| !id.is_empty()) {
        Some(id) if id.len() > MAX_IDENTITY || id[0] == 0 => {
            if ours == SocketType::Router {
                // The grammar's length first, then the reserved first byte.
                return refuse(if id.len() > MAX_IDENTITY {
                    ProtocolError::IdentityTooLong(id.len())
                } else {
                    ProtocolError::IdentityReserved
                });
            }
            // Sockets other than ROUTER ignore the property.
            None
        }
        identity => identity,
    };
    Ready::Accept {
        socket_type,
        identity,
        body,
        used,
    }
}

/// Feeds `input` to a handshake's `advance` in pieces (the sizes in `pieces`, then the rest at
/// once) until it returns anything but `Ok(None)` or the input runs out. Returns the last result
/// and the bytes not taken (left in the buffer or never fed).
fn feed<P>(
    mut advance: impl FnMut(&mut BytesMut) -> Result<Option<P>, ProtocolError>,
    input: &[u8],
    pieces: &[usize],
) -> (Result<Option<P>, ProtocolError>, Vec<u8>) {
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut pieces = pieces.iter().copied();
    loop {
        let piece = pieces.next().unwrap_or(usize::MAX).max(1).min(input.len() - fed);
        buf.extend_from_slice(&input[fed..fed + piece]);
        fed += piece;
        let result = advance(&mut buf);
        if !matches!(result, Ok(None)) || fed == input.len() {
            let mut left = buf.to_vec();
            left.extend_from_slice(&input[fed..]);
            return (result, left);
        }
    }
}

/// Runs a handshake of a socket of type `ours` on a peer's bytes, fed in `pieces`, and checks it
/// against the model. Returns its outcome, the bytes it left for the decoder (when it succeeded)
/// and everything it wrote, for comparison with other ways of feeding the same bytes.
fn shake(
    ours: SocketType,
    identity: Option<Bytes>,
    input: &[u8],
    pieces: &[usize],
) -> (
    Result<Option<impl fmt::Debug + PartialEq + use<>>, ProtocolError>,
    Vec<u8>,
    BytesMut,
) {
    let mut handshake = Handshake::new(ours, identity.clone(), Security::NULL);
    let mut out = BytesMut::new();
    handshake.output(&mut out);
    let (result, left) = feed(|buf| handshake.advance(buf), input, pieces);
    if let Err(error) = &result {
        check_error(error);
        // Failing is final, and takes nothing more.
        let mut more = BytesMut::from(&b"more"[..]);
        assert_eq!(
            handshake.advance(&mut more),
            Err(error.clone()),
            "{ours}: after a failure"
        );
        assert_eq!(more[..], b"more"[..], "{ours}: took input after a failure");
    }
    handshake.output(&mut out);
    let commands = our_commands(&out);

    let (greeting, rest) = input.split_at(input.len().min(GREETING_LEN));
    let minor = match (judge_greeting(greeting), &result) {
        (Verdict::Accepted { minor }, _) => minor,
        (Verdict::Incomplete, Ok(None)) => {
            assert!(
                commands.is_empty(),
                "{ours}: wrote {commands:?} before the peer's greeting"
            );
            return (result, left, out);
        }
        (Verdict::Refused(expected), Err(error)) if *error == expected => {
            assert!(commands.is_empty(), "{ours}: wrote {commands:?} to a refused greeting");
            return (result, Vec::new(), out);
        }
        (Verdict::OtherMechanism(name), Err(error)) if other_mechanism(&name, error) => {
            assert!(commands.is_empty(), "{ours}: wrote {commands:?} to a refused greeting");
            return (result, Vec::new(), out);
        }
        (verdict, result) => panic!("{ours}: the handshake gave {result:?} for a greeting the model finds {verdict:?}"),
    };

    // Our READY went out once the peer's greeting was accepted.
    let Some(Command::Ready(metadata)) = commands.first() else {
        panic!("{ours}: wrote {commands:?} after an accepted greeting, not READY");
    };
    assert_eq!(
        metadata.get("Socket-Type").map(|v| &v[..]),
        Some(ours.name().as_bytes()),
        "{ours}: our Socket-Type"
    );
    assert_eq!(metadata.identity(), identity.as_ref(), "{ours}: our Identity");
    let sent_error = match &commands[1..] {
        [] => false,
        [Command::Error { reason }] => {
            let visible = reason.bytes().all(|b| b.is_ascii_graphic());
            assert!(
                !reason.is_empty() && visible,
                "{ours}: ERROR reason {reason:?} is not visible ASCII"
            );
            true
        }
        more => panic!("{ours}: wrote {more:?} after READY"),
    };

    match (judge_ready(rest, ours), &result) {
        (Ready::Wait, Ok(None)) => {
            assert_eq!(left, rest, "{ours}: took bytes while waiting for the READY");
            assert!(!sent_error);
        }
        (Ready::Refuse { error, error_sent }, Err(found)) if error.matches(found) => {
            assert_eq!(
                sent_error, error_sent,
                "{ours}: whether an ERROR went out for {found:?}"
            );
            return (result, Vec::new(), out);
        }
        (
            Ready::Accept {
                socket_type,
                identity: peer_identity,
                body,
                used,
            },
            Ok(Some(peer)),
        ) => {
            assert_eq!(peer.socket_type, socket_type, "{ours}: the peer's socket type");
            assert_eq!(peer.minor, minor, "{ours}: the negotiated version");
            assert_eq!(peer.identity.as_deref(), peer_identity, "{ours}: the peer's identity");
            assert_eq!(left, rest[used..], "{ours}: what the handshake left for the decoder");
            assert!(!sent_error);
            let mut encoded = BytesMut::new();
            encode_command(&mut encoded, &Command::Ready(peer.metadata.clone()));
            assert!(
                encoded.ends_with(body),
                "{ours}: the peer's metadata re-encodes differently"
            );
        }
        (expected, result) => panic!("{ours}: the handshake gave {result:?} where the model expects {expected:?}"),
    }
    (result, left, out)
}

/// Checks that what a handshake wrote starts with our greeting, byte for byte as RFC 23 lays it
/// out (ZMTP 3.1, NULL, not as-server, zero padding and filler), and returns the commands that
/// follow it (all of them whole).
fn our_commands(out: &[u8]) -> Vec<Command> {
    let (greeting, rest) = out.split_at_checked(GREETING_LEN).expect("our greeting is 64 bytes");
    let mut expected = [0; GREETING_LEN];
    expected[SIGNATURE_START.0] = SIGNATURE_START.1;
    expected[SIGNATURE_END.0] = SIGNATURE_END.1;
    expected[MAJOR] = 3;
    expected[MINOR] = 1;
    expected[MECHANISM][..4].copy_from_slice(b"NULL");
    expected[AS_SERVER] = 0;
    assert_eq!(greeting, expected, "our greeting");
    let mut rest = BytesMut::from(rest);
    let mut decoder = Decoder::new(None);
    let mut commands = Vec::new();
    loop {
        match decoder.decode(&mut rest) {
            Ok(Some(Item::Command(command))) => commands.push(command),
            Ok(None) if rest.is_empty() => return commands,
            other => panic!("we wrote {other:?} during a handshake"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// A fuzz target's function.
    type Target = fn(&[u8]);

    /// Every target, by name: the file in `fuzz/fuzz_targets/` and the folder in `fuzz/corpus/`.
    const TARGETS: [(&str, Target); 12] = [
        ("decoder", decoder),
        ("greeting", greeting),
        ("command", command),
        ("command_subscribe", command_subscribe),
        ("command_ping", command_ping),
        ("command_error", command_error),
        ("metadata", metadata),
        ("handshake", handshake),
        ("endpoint", endpoint),
        ("secure_server", secure_server),
        ("curve_decoder", curve_decoder),
        ("zap_reply", zap_reply),
    ];

    /// The seed corpus: `fuzz/corpus/<target>/`.
    fn corpus() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
    }

    /// A frame with these flags and body; long if the flags say so or the body needs it.
    fn frame(flags: u8, body: &[u8]) -> Vec<u8> {
        let mut bytes = vec![flags];
        if flags & LONG != 0 || body.len() > MAX_SHORT_BODY {
            bytes[0] |= LONG;
            bytes.extend((body.len() as u64).to_be_bytes());
        } else {
            bytes.push(body.len() as u8);
        }
        bytes.extend(body);
        bytes
    }

    /// A command frame.
    fn command_frame(name: &str, data: &[u8]) -> Vec<u8> {
        frame(COMMAND, &command_body(name.as_bytes(), data))
    }

    /// A metadata property.
    fn property(name: &str, value: &[u8]) -> Vec<u8> {
        let mut bytes = vec![name.len() as u8];
        bytes.extend(name.as_bytes());
        bytes.extend((value.len() as u32).to_be_bytes());
        bytes.extend(value);
        bytes
    }

    /// A READY command's data: `Socket-Type` and, if given, `Identity`.
    fn ready(socket_type: &str, identity: Option<&[u8]>) -> Vec<u8> {
        let mut data = property("Socket-Type", socket_type.as_bytes());
        if let Some(identity) = identity {
            data.extend(property("Identity", identity));
        }
        data
    }

    /// A greeting with this version, mechanism and role.
    fn greeting_bytes(major: u8, minor: u8, mechanism: &str, as_server: bool) -> Vec<u8> {
        let mut bytes = vec![0; GREETING_LEN];
        bytes[SIGNATURE_START.0] = SIGNATURE_START.1;
        bytes[SIGNATURE_END.0] = SIGNATURE_END.1;
        bytes[MAJOR] = major;
        bytes[MINOR] = minor;
        bytes[MECHANISM][..mechanism.len()].copy_from_slice(mechanism.as_bytes());
        bytes[AS_SERVER] = u8::from(as_server);
        bytes
    }

    /// A greeting followed by these frames.
    fn then(greeting: &[u8], frames: &[&[u8]]) -> Vec<u8> {
        [&[greeting][..], frames].concat().concat()
    }

    /// The seeds: (target, file name, bytes). Valid traffic of every kind, and the known-bad
    /// inputs the codec must refuse cheaply.
    fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
        let null31 = greeting_bytes(3, 1, "NULL", false);
        let long_body: Vec<u8> = (0..=255).cycle().take(300).collect();
        vec![
            // Traffic after the handshake.
            ("decoder", "frame-short", frame(0, b"Hello")),
            ("decoder", "frame-empty", frame(0, b"")),
            ("decoder", "frame-long", frame(0, &long_body)),
            ("decoder", "frame-long-header-small-body", frame(LONG, b"abc")),
            (
                "decoder",
                "multipart",
                [frame(MORE, b"routing-id"), frame(MORE, b""), frame(0, b"World")].concat(),
            ),
            (
                "decoder",
                "commands-between-messages",
                [
                    frame(0, b"one"),
                    command_frame("SUBSCRIBE", b"topic"),
                    command_frame("CANCEL", b"topic"),
                    command_frame("PING", b"\x00\x0actx"),
                    command_frame("PONG", b"ctx"),
                    frame(MORE, b"two"),
                    frame(0, b"parts"),
                    command_frame("ERROR", b"\x04late"),
                    command_frame("READY", &ready("REQ", None)),
                    command_frame("HELLO", b"unknown"),
                ]
                .concat(),
            ),
            ("decoder", "partial-frame", frame(0, &long_body)[..100].to_vec()),
            (
                "decoder",
                "bad-length-2-62",
                [&[LONG, 0x40, 0, 0, 0, 0, 0, 0, 0][..], b"a little"].concat(),
            ),
            ("decoder", "bad-length-2-63", vec![LONG, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            (
                "decoder",
                "bad-command-length-2-62",
                vec![COMMAND | LONG, 0x40, 0, 0, 0, 0, 0, 0, 0],
            ),
            ("decoder", "bad-reserved-flags", vec![0x08, 0]),
            ("decoder", "bad-reserved-flags-high", vec![0x80 | MORE, 1, b'x']),
            ("decoder", "bad-command-with-more", vec![COMMAND | MORE, 0]),
            (
                "decoder",
                "bad-command-inside-message",
                [frame(MORE, b"first"), command_frame("PONG", b"")].concat(),
            ),
            ("decoder", "bad-command-empty-name", frame(COMMAND, b"\x00")),
            // Command bodies, any name.
            (
                "command",
                "ready-socket-type",
                command_body(b"READY", &ready("DEALER", None)),
            ),
            (
                "command",
                "ready-identity",
                command_body(b"READY", &ready("REQ", Some(b"worker-1"))),
            ),
            ("command", "ready-empty", command_body(b"READY", b"")),
            ("command", "subscribe", command_body(b"SUBSCRIBE", b"weather.")),
            ("command", "cancel", command_body(b"CANCEL", b"weather.")),
            ("command", "ping", command_body(b"PING", b"\x00\x32context")),
            ("command", "pong", command_body(b"PONG", b"context")),
            ("command", "error", command_body(b"ERROR", b"\x13Invalid-Socket-Type")),
            ("command", "unknown", command_body(b"HELLO", b"\x00\x01")),
            ("command", "unknown-lowercase-ready", command_body(b"ready", b"x")),
            ("command", "bad-empty", Vec::new()),
            ("command", "bad-name-truncated", b"\x06READY".to_vec()),
            ("command", "bad-name-not-letters", b"\x04PI-G".to_vec()),
            // A READY's data: the metadata.
            ("metadata", "socket-type", ready("ROUTER", None)),
            ("metadata", "socket-type-identity", ready("DEALER", Some(b""))),
            (
                "metadata",
                "many",
                [
                    ready("sub", Some(b"\x01id")),
                    property("X-Big", &long_body),
                    property("identity", b"second"),
                    property("a.b_c+d-9", b""),
                ]
                .concat(),
            ),
            (
                "metadata",
                "bad-value-2-31",
                [&b"\x01a\x80\x00\x00\x00"[..], b"short"].concat(),
            ),
            (
                "metadata",
                "bad-value-2-31-1",
                [&b"\x01a\x7f\xff\xff\xff"[..], b"short"].concat(),
            ),
            ("metadata", "bad-name-empty", b"\x00\x00\x00\x00\x00".to_vec()),
            ("metadata", "bad-name-char", property("Socket Type", b"REQ")),
            // SUBSCRIBE/CANCEL data.
            ("command_subscribe", "topic", b"weather.".to_vec()),
            ("command_subscribe", "everything", Vec::new()),
            ("command_subscribe", "binary", b"\x00\xff\x01".to_vec()),
            // PING/PONG data.
            ("command_ping", "ttl-context", b"\x00\x32context".to_vec()),
            ("command_ping", "ttl-only", b"\x01\x02".to_vec()),
            ("command_ping", "context-16", [&b"\xff\xff"[..], &[7; 16]].concat()),
            ("command_ping", "bad-context-17", [&b"\x00\x00"[..], &[7; 17]].concat()),
            ("command_ping", "bad-ttl-truncated", b"\x01".to_vec()),
            // ERROR data.
            ("command_error", "reason", b"\x13Invalid-Socket-Type".to_vec()),
            ("command_error", "empty", b"\x00".to_vec()),
            ("command_error", "trailing", b"\x02noextra".to_vec()),
            ("command_error", "not-utf8", b"\x03\xff\xfe\xc3".to_vec()),
            ("command_error", "bad-truncated", b"\x05ab".to_vec()),
            ("command_error", "bad-missing", Vec::new()),
            // Greetings.
            ("greeting", "null-3-1", null31.clone()),
            ("greeting", "null-3-0", greeting_bytes(3, 0, "NULL", false)),
            ("greeting", "null-4-0", greeting_bytes(4, 0, "NULL", false)),
            ("greeting", "null-as-server", greeting_bytes(3, 1, "NULL", true)),
            ("greeting", "plain-3-1", greeting_bytes(3, 1, "PLAIN", true)),
            ("greeting", "curve-3-1", greeting_bytes(3, 1, "CURVE", false)),
            ("greeting", "partial-11", null31[..11].to_vec()),
            ("greeting", "bad-zmtp-2-0", greeting_bytes(2, 0, "NULL", false)),
            ("greeting", "bad-zmtp-1-0", b"\x01\x00".to_vec()),
            ("greeting", "bad-http", b"GET / HTTP/1.1\r\n".to_vec()),
            // A peer's whole handshake, and what may follow it.
            (
                "handshake",
                "rep",
                then(&null31, &[&command_frame("READY", &ready("REP", None))]),
            ),
            (
                "handshake",
                "dealer-identity-then-messages",
                then(
                    &null31,
                    &[
                        &command_frame("READY", &ready("DEALER", Some(b"worker-1"))),
                        &frame(MORE, b""),
                        &frame(0, b"Hello"),
                    ],
                ),
            ),
            (
                "handshake",
                "pub-3-0",
                then(
                    &greeting_bytes(3, 0, "NULL", false),
                    &[&command_frame("READY", &ready("PUB", None))],
                ),
            ),
            (
                "handshake",
                "router-long-ready",
                then(
                    &null31,
                    &[&frame(
                        COMMAND | LONG,
                        &command_body(
                            b"READY",
                            &[ready("ROUTER", None), property("X-Big", &long_body)].concat(),
                        ),
                    )],
                ),
            ),
            (
                "handshake",
                "error",
                then(&null31, &[&command_frame("ERROR", b"\x07go-away")]),
            ),
            (
                "handshake",
                "bad-unknown-socket-type",
                then(&null31, &[&command_frame("READY", &ready("CLIENT", None))]),
            ),
            (
                "handshake",
                "bad-no-socket-type",
                then(&null31, &[&command_frame("READY", b"")]),
            ),
            (
                "handshake",
                "bad-reserved-identity",
                then(&null31, &[&command_frame("READY", &ready("DEALER", Some(b"\x00abc")))]),
            ),
            (
                "handshake",
                "bad-long-identity",
                then(&null31, &[&command_frame("READY", &ready("REQ", Some(&[b'x'; 256])))]),
            ),
            (
                "handshake",
                "bad-ping",
                then(&null31, &[&command_frame("PING", b"\x00\x00")]),
            ),
            ("handshake", "bad-message", then(&null31, &[&frame(0, b"Hello")])),
            (
                "handshake",
                "bad-ready-2-62",
                then(&null31, &[&[COMMAND | LONG, 0x40, 0, 0, 0, 0, 0, 0, 0]]),
            ),
            // Found by the handshake target: a long message frame announcing over 2^63 bytes is
            // refused as too large when its whole header arrives at once, but as a message frame
            // when its flags byte arrives alone.
            (
                "handshake",
                "regression-message-frame-over-2-63",
                then(&null31, &[&[LONG, 0x80, 0, 0, 0, 0, 0, 0, 0]]),
            ),
            // Secured servers: PLAIN (even first byte) and CURVE (odd).
            (
                "secure_server",
                "plain-hello-initiate",
                [
                    &[0][..],
                    &command_frame("HELLO", b"\x05admin\x06secret"),
                    &command_frame("INITIATE", &ready("REQ", None)),
                ]
                .concat(),
            ),
            (
                "secure_server",
                "plain-bad-hello",
                [&[0][..], &command_frame("HELLO", b"\x05adm")].concat(),
            ),
            (
                "secure_server",
                "curve-short-hello",
                [&[1][..], &command_frame("HELLO", &[0; 100])].concat(),
            ),
            (
                "secure_server",
                "curve-hello-zeros",
                [
                    &[1][..],
                    &command_frame("HELLO", &[[1, 0].as_slice(), &[0; 192]].concat()),
                ]
                .concat(),
            ),
            (
                "secure_server",
                "curve-initiate-first",
                [&[1][..], &command_frame("INITIATE", &[0; 300])].concat(),
            ),
            // CURVE traffic that was not sealed with the session's key.
            (
                "curve_decoder",
                "message",
                frame(0, &[&b"\x07MESSAGE"[..], &[0, 0, 0, 0, 0, 0, 0, 3], &[0; 17]].concat()),
            ),
            ("curve_decoder", "short-message", frame(0, b"\x07MESSAGE1234")),
            ("curve_decoder", "not-a-message", command_frame("PING", b"\x00\x00")),
            (
                "curve_decoder",
                "huge",
                [&[LONG][..], &(1u64 << 62).to_be_bytes()].concat(),
            ),
            // ZAP replies: frames, each after its length.
            (
                "zap_reply",
                "admitted",
                b"\x031.0\x011\x03200\x02OK\x05alice\x00".to_vec(),
            ),
            ("zap_reply", "refused", b"\x031.0\x011\x03400\x02no\x00\x00".to_vec()),
            ("zap_reply", "bad-status", b"\x031.0\x011\x03201\x00\x00\x00".to_vec()),
            (
                "zap_reply",
                "bad-metadata",
                b"\x031.0\x011\x03200\x00\x00\x03\x05Hel".to_vec(),
            ),
            // Endpoint strings.
            ("endpoint", "tcp-ipv4", b"tcp://127.0.0.1:5555".to_vec()),
            ("endpoint", "tcp-any", b"tcp://*:*".to_vec()),
            ("endpoint", "tcp-ipv6", b"tcp://[::1]:80".to_vec()),
            ("endpoint", "tcp-name", b"tcp://localhost:1".to_vec()),
            ("endpoint", "ipc-path", b"ipc:///tmp/dhaga.sock".to_vec()),
            ("endpoint", "ipc-abstract", b"ipc://@abstract".to_vec()),
            ("endpoint", "inproc", b"inproc://workers".to_vec()),
            ("endpoint", "bad-pgm", b"pgm://eth0;239.0.0.1:5555".to_vec()),
            ("endpoint", "bad-ipv6", b"tcp://[::1:5555".to_vec()),
            ("endpoint", "bad-no-port", b"tcp://127.0.0.1".to_vec()),
        ]
    }

    #[test]
    fn seeds_are_in_the_corpus() {
        let write = std::env::var_os("DHAGA_WRITE_SEEDS").is_some();
        for (target, name, bytes) in seeds() {
            let path = corpus().join(target).join(name);
            if write {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &bytes).unwrap();
            } else {
                let found = std::fs::read(&path).ok();
                assert!(
                    found.as_ref() == Some(&bytes),
                    "{} is missing or stale: rerun with DHAGA_WRITE_SEEDS=1",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn the_corpus_replays_clean() {
        for (target, run) in TARGETS {
            let dir = corpus().join(target);
            let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            for entry in entries {
                let path = entry.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                if let Err(panic) = std::panic::catch_unwind(|| run(&bytes)) {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
                    panic!("{target} crashes on {}: {message:?}", path.display());
                }
            }
        }
    }
}

//! Tests across the codec's parts: a whole connection's byte stream (greeting,
//! READY, traffic) delivered in arbitrary pieces, and hostile input.

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::socket_type::SocketType;
use crate::zmtp::frame::encode_command;
use crate::zmtp::greeting::{GREETING_LEN, Greeting};
use crate::zmtp::handshake::PeerInfo;
use crate::zmtp::mechanism::Mechanism;
use crate::zmtp::metadata::Metadata;

/// The receiving end of a connection, fed bytes in whatever pieces they arrive: a handshake,
/// then a decoder, as a connection's reader would run them.
struct Receiver {
    /// The handshake, until it completes.
    handshake: Handshake,
    /// What the handshake learnt, once complete.
    peer: Option<PeerInfo>,
    /// The traffic decoder, used once the handshake is complete.
    decoder: Decoder,
    /// Bytes read and not yet consumed.
    buf: BytesMut,
    /// Everything decoded so far.
    items: Vec<Item>,
}

impl Receiver {
    fn new(ours: SocketType) -> Receiver {
        Receiver {
            handshake: Handshake::new(ours, None, Security::NULL),
            peer: None,
            decoder: Decoder::new(None),
            buf: BytesMut::new(),
            items: Vec::new(),
        }
    }

    /// Delivers one piece of the stream and processes everything it completes.
    fn feed(&mut self, piece: &[u8]) -> Result<(), ProtocolError> {
        self.buf.extend_from_slice(piece);
        if self.peer.is_none() {
            match self.handshake.advance(&mut self.buf)? {
                Some(peer) => self.peer = Some(peer),
                None => return Ok(()),
            }
        }
        while let Some(item) = self.decoder.decode(&mut self.buf)? {
            self.items.push(item);
        }
        Ok(())
    }
}

/// Encodes `items` as a peer would send them after the handshake.
fn encode_items(items: &[Item]) -> BytesMut {
    let mut out = BytesMut::new();
    for item in items {
        match item {
            Item::Frame { more, body } => encode_frame(&mut out, *more, body),
            Item::Command(command) => encode_command(&mut out, command),
        }
    }
    out
}

/// A REP peer's side of a connection: greeting, READY, then `items`.
fn rep_stream(items: &[Item]) -> BytesMut {
    let mut stream = BytesMut::from(&Greeting::ours(Mechanism::Null, false).encode()[..]);
    let ready = Metadata::new().with("Socket-Type", "REP").with("X-Note", "a property");
    encode_command(&mut stream, &Command::Ready(ready));
    stream.extend_from_slice(&encode_items(items));
    stream
}

/// A stream with every kind of item: frames on both sides of the short/long boundary, a
/// multipart message, an empty frame, and commands between messages.
fn sample_items() -> Vec<Item> {
    let frame = |more, body: &[u8]| Item::Frame {
        more,
        body: Bytes::copy_from_slice(body),
    };
    vec![
        frame(false, b"hello"),
        frame(true, b""),
        frame(true, &[1; 255]),
        frame(false, &[2; 256]),
        Item::Command(Command::Ping {
            ttl_deciseconds: 30,
            context: Bytes::from_static(b"ctx"),
        }),
        Item::Command(Command::Subscribe(Bytes::from_static(b"weather"))),
        frame(false, &[3; 1000]),
        Item::Command(Command::Unknown {
            name: Bytes::from_static(b"JOIN"),
            body: Bytes::from_static(b"g"),
        }),
        frame(false, b"last"),
    ]
}

#[test]
fn one_byte_at_a_time_gives_the_same_items_as_all_at_once() {
    let items = sample_items();
    let stream = rep_stream(&items);

    let mut whole = Receiver::new(SocketType::Req);
    whole.feed(&stream).unwrap();
    assert_eq!(whole.items, items);
    assert_eq!(whole.peer.as_ref().map(|p| p.socket_type), Some(SocketType::Rep));

    let mut bytewise = Receiver::new(SocketType::Req);
    for (i, byte) in stream.iter().enumerate() {
        bytewise.feed(&[*byte]).unwrap();
        // Nothing is decoded early, and the item count only grows when an item's last byte
        // arrives: the decoded items are always a prefix of the expected ones.
        assert_eq!(bytewise.items[..], items[..bytewise.items.len()], "after byte {i}");
    }
    assert_eq!(bytewise.items, items);
    assert_eq!(bytewise.peer, whole.peer);
    assert!(bytewise.buf.is_empty());
}

#[test]
fn every_truncation_of_a_valid_stream_is_incomplete_not_an_error() {
    let items = sample_items();
    let stream = rep_stream(&items);
    for cut in 0..stream.len() {
        let mut receiver = Receiver::new(SocketType::Req);
        receiver.feed(&stream[..cut]).unwrap();
        assert!(receiver.items.len() < items.len(), "cut at {cut}");
        assert_eq!(receiver.items[..], items[..receiver.items.len()]);
    }
}

/// Any message frame or command (commands with the sizes and contents the codec round-trips).
fn command() -> impl Strategy<Value = Command> {
    let bytes = |max| vec(any::<u8>(), 0..max).prop_map(Bytes::from);
    let property = ("[A-Za-z0-9._+-]{1,20}", vec(any::<u8>(), 0..300));
    prop_oneof![
        vec(property, 0..4).prop_map(|properties| {
            let metadata = properties
                .iter()
                .fold(Metadata::new(), |m, (name, value)| m.with(name, value));
            Command::Ready(metadata)
        }),
        "[ -~]{0,255}".prop_map(|reason| Command::Error { reason }),
        bytes(300).prop_map(Command::Subscribe),
        bytes(300).prop_map(Command::Cancel),
        (any::<u16>(), bytes(17)).prop_map(|(ttl_deciseconds, context)| Command::Ping {
            ttl_deciseconds,
            context
        }),
        bytes(17).prop_map(|context| Command::Pong { context }),
        ("[A-Z]{1,12}", bytes(300))
            .prop_filter("known names decode as their own variant", |(name, _)| {
                !["READY", "ERROR", "SUBSCRIBE", "CANCEL", "PING", "PONG"].contains(&name.as_str())
            })
            .prop_map(|(name, body)| Command::Unknown {
                name: Bytes::from(name),
                body
            }),
    ]
}

/// A valid traffic sequence: whole messages (1 to 4 frames) and commands between them.
fn traffic() -> impl Strategy<Value = Vec<Item>> {
    let message = vec(vec(any::<u8>(), 0..600), 1..4).prop_map(|frames| {
        let last = frames.len() - 1;
        frames
            .into_iter()
            .enumerate()
            .map(|(i, body)| Item::Frame {
                more: i < last,
                body: Bytes::from(body),
            })
            .collect::<Vec<_>>()
    });
    let entry = prop_oneof![message, command().prop_map(|c| vec![Item::Command(c)])];
    vec(entry, 0..12).prop_map(|entries| entries.into_iter().flatten().collect())
}

/// Splits `bytes` at the given cut points (taken modulo its length).
fn pieces(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.push(0);
    cuts.push(bytes.len());
    cuts.sort_unstable();
    cuts.windows(2).map(|w| bytes[w[0]..w[1]].to_vec()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Random valid traffic, after a real handshake, comes out identical however the stream is
    /// split into reads.
    #[test]
    fn valid_traffic_round_trips_through_any_split(items in traffic(), cuts in vec(any::<usize>(), 0..20)) {
        let stream = rep_stream(&items);
        let mut receiver = Receiver::new(SocketType::Dealer);
        for piece in pieces(&stream, &cuts) {
            receiver.feed(&piece).unwrap();
        }
        prop_assert_eq!(receiver.items, items);
        prop_assert!(receiver.buf.is_empty());
    }

    /// Two handshakes exchanging output in random pieces both complete, whatever the pieces.
    #[test]
    fn handshakes_complete_through_any_split(
        a_cuts in vec(any::<usize>(), 0..10),
        b_cuts in vec(any::<usize>(), 0..10),
        a_index in 0..SocketType::ALL.len(),
    ) {
        let a_type = SocketType::ALL[a_index];
        let b_type = *SocketType::ALL.iter().find(|t| a_type.is_compatible(**t)).unwrap();
        let mut a = Handshake::new(a_type, Some(Bytes::from_static(b"id-a")), Security::NULL);
        let mut b = Handshake::new(b_type, Some(Bytes::from_static(b"id-b")), Security::NULL);
        // Each side writes everything it has; the other reads it in the chosen pieces.
        let (mut a_in, mut b_in) = (BytesMut::new(), BytesMut::new());
        let (mut a_peer, mut b_peer) = (None, None);
        for _round in 0..4 {
            let (mut a_out, mut b_out) = (BytesMut::new(), BytesMut::new());
            a.output(&mut a_out);
            b.output(&mut b_out);
            for piece in pieces(&a_out, &a_cuts) {
                b_in.extend_from_slice(&piece);
                if b_peer.is_none() {
                    b_peer = b.advance(&mut b_in).unwrap();
                }
            }
            for piece in pieces(&b_out, &b_cuts) {
                a_in.extend_from_slice(&piece);
                if a_peer.is_none() {
                    a_peer = a.advance(&mut a_in).unwrap();
                }
            }
        }
        let (a_peer, b_peer) = (a_peer.unwrap(), b_peer.unwrap());
        prop_assert_eq!((a_peer.socket_type, b_peer.socket_type), (b_type, a_type));
        let (id_a, id_b) = (Bytes::from_static(b"id-a"), Bytes::from_static(b"id-b"));
        prop_assert_eq!(a_peer.metadata.identity(), Some(&id_b));
        prop_assert_eq!(b_peer.metadata.identity(), Some(&id_a));
        prop_assert!(a_in.is_empty() && b_in.is_empty());
    }

    /// Random bytes never make the decoder panic, and it never grows the caller's buffer.
    #[test]
    fn decoder_survives_random_bytes(bytes in vec(any::<u8>(), 0..2000), max in prop::option::of(0u64..5000)) {
        let mut buf = BytesMut::from(&bytes[..]);
        let capacity = buf.capacity();
        let mut decoder = Decoder::new(max);
        while let Ok(Some(_)) = decoder.decode(&mut buf) {
            prop_assert!(buf.capacity() <= capacity);
        }
        prop_assert!(buf.capacity() <= capacity);
    }

    /// Random bytes after a valid greeting (so that they reach the READY parser), or from the
    /// start, never make the handshake panic; it never grows the caller's buffer, and what it
    /// queues for output stays small (greeting, READY, ERROR).
    #[test]
    fn handshake_survives_random_bytes(
        bytes in vec(any::<u8>(), 0..2000),
        with_greeting in any::<bool>(),
        command_flags in any::<bool>(),
    ) {
        let mut input = BytesMut::new();
        if with_greeting {
            input.extend_from_slice(&Greeting::ours(Mechanism::Null, false).encode());
            if command_flags {
                input.extend_from_slice(&[0x04]); // make a command frame likely
            }
        }
        input.extend_from_slice(&bytes);
        let mut input = BytesMut::from(&input[..]);
        let capacity = input.capacity();
        let mut handshake = Handshake::new(SocketType::Router, None, Security::NULL);
        let result = handshake.advance(&mut input);
        prop_assert!(input.capacity() <= capacity);
        let mut out = BytesMut::new();
        handshake.output(&mut out);
        prop_assert!(out.len() <= GREETING_LEN + 64 + 300, "{} bytes of output", out.len());
        if let Ok(Some(peer)) = result {
            prop_assert!(peer.socket_type.is_compatible(SocketType::Router));
        }
    }

    /// A valid stream with one byte flipped is either still valid or refused; never a panic.
    #[test]
    fn corrupted_streams_never_panic(items in traffic(), position in any::<usize>(), byte in any::<u8>()) {
        let mut stream = rep_stream(&items);
        let position = position % stream.len();
        stream[position] = byte;
        let mut receiver = Receiver::new(SocketType::Req);
        let _ = receiver.feed(&stream);
    }
}

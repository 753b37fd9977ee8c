//! Subscriptions on the wire, checked byte by byte against raw peers: a
//! ZMTP 3.1 peer exchanges SUBSCRIBE and CANCEL commands, a 3.0 peer
//! subscription messages (RFC 37, "Publish-Subscribe Pattern"; RFC 23 for
//! 3.0), in both directions.

mod util;

mod raw;

use dhaga_mq::{Msg, SocketType};
use raw::{Frame, RawPeer};
use util::{SocketWithin, bound, within_limit};

/// A subscription as a 3.`minor` peer sends it: a SUBSCRIBE or CANCEL
/// command (3.1), or a message whose first byte is 1 or 0 (3.0). Returns the
/// frame's bytes, and the frame as it reads back.
fn subscription(minor: u8, subscribe: bool, prefix: &[u8]) -> (Vec<u8>, Frame) {
    let frame = match (minor, subscribe) {
        (0, on) => Frame {
            command: false,
            more: false,
            body: [&[u8::from(on)][..], prefix].concat(),
        },
        (_, true) => Frame {
            command: true,
            more: false,
            body: [&b"\x09SUBSCRIBE"[..], prefix].concat(),
        },
        (_, false) => Frame {
            command: true,
            more: false,
            body: [&b"\x06CANCEL"[..], prefix].concat(),
        },
    };
    let flags = if frame.command { 0x04 } else { 0 };
    let bytes = [&[flags, frame.body.len() as u8][..], &frame.body].concat();
    (bytes, frame)
}

/// A data frame as it reads back.
fn data(more: bool, body: &[u8]) -> Frame {
    Frame {
        command: false,
        more,
        body: body.to_vec(),
    }
}

#[test]
fn a_sub_sends_commands_to_31_peers_and_messages_to_30_peers() {
    within_limit(|| {
        for minor in [0, 1] {
            let (sub, endpoint) = bound(SocketType::Sub, "tcp");
            sub.subscribe("early").unwrap();
            let mut publisher = RawPeer::connect_speaking(&endpoint, "PUB", minor);
            // A subscription made before the peer came, then one after.
            let want = |subscribe, prefix| subscription(minor, subscribe, prefix).1;
            assert_eq!(
                publisher.frame_within(&format!("3.{minor}: the subscription to early")),
                want(true, b"early"),
                "3.{minor}"
            );
            sub.subscribe("late").unwrap();
            assert_eq!(
                publisher.frame_within(&format!("3.{minor}: the subscription to late")),
                want(true, b"late"),
                "3.{minor}"
            );
            sub.unsubscribe("early").unwrap();
            assert_eq!(
                publisher.frame_within(&format!("3.{minor}: the cancel of early")),
                want(false, b"early"),
                "3.{minor}"
            );
            // And the SUB takes what matches.
            publisher.send(&[&[0x01, 9][..], b"late news"].concat());
            publisher.send(&raw::message(b"body"));
            assert_eq!(
                sub.recv_within(&format!("3.{minor}: the late news")),
                Msg::from_iter(["late news", "body"]),
                "3.{minor}"
            );
        }
    });
}

#[test]
fn a_pub_takes_subscriptions_from_31_and_30_peers() {
    within_limit(|| {
        for minor in [0, 1] {
            let (publisher, endpoint) = bound(SocketType::XPub, "tcp");
            let mut sub = RawPeer::connect_speaking(&endpoint, "SUB", minor);
            sub.send(&subscription(minor, true, b"A").0);
            // The XPUB shows it when it is applied.
            assert_eq!(
                &publisher.recv_within(&format!("3.{minor}: the subscription to A"))[0][..],
                b"\x01A",
                "3.{minor}"
            );
            publisher.send("B: not for it").unwrap();
            publisher.send(Msg::from_iter(["A: for it", "2nd"])).unwrap();
            assert_eq!(
                sub.frame_within(&format!("3.{minor}: the message for A")),
                data(true, b"A: for it"),
                "3.{minor}"
            );
            assert_eq!(
                sub.frame_within(&format!("3.{minor}: the second frame of the message for A")),
                data(false, b"2nd"),
                "3.{minor}"
            );
            sub.send(&subscription(minor, false, b"A").0);
            assert_eq!(
                &publisher.recv_within(&format!("3.{minor}: the cancel of A"))[0][..],
                b"\x00A",
                "3.{minor}"
            );
            publisher.send("A: too late").unwrap();
            sub.send(&subscription(minor, true, b"Z").0);
            assert_eq!(
                &publisher.recv_within(&format!("3.{minor}: the subscription to Z"))[0][..],
                b"\x01Z",
                "3.{minor}"
            );
            publisher.send("Z: next").unwrap();
            assert_eq!(
                sub.frame_within(&format!("3.{minor}: the message for Z")),
                data(false, b"Z: next"),
                "3.{minor}: nothing for A came first"
            );
        }
    });
}

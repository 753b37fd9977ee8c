//! Subscriptions on the wire, checked byte by byte against raw peers: a
//! ZMTP 3.1 peer exchanges SUBSCRIBE and CANCEL commands, a 3.0 peer
//! subscription messages (RFC 37, "Publish-Subscribe Pattern"; RFC 23 for
//! 3.0), in both directions.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;

use dhaga_mq::{Msg, SocketType};
use util::{PATIENCE, bound, within_limit};

/// Frame flags (RFC 23 §"Framing").
const MORE: u8 = 0x01;
const LONG: u8 = 0x02;
const COMMAND: u8 = 0x04;

/// A raw peer that has completed the handshake as `socket_type`, speaking
/// ZMTP 3.`minor`.
struct RawPeer {
    stream: TcpStream,
}

impl RawPeer {
    fn connect(endpoint: &str, minor: u8, socket_type: &str) -> RawPeer {
        let mut stream = TcpStream::connect(endpoint.trim_start_matches("tcp://")).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut greeting = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, minor];
        greeting.extend_from_slice(b"NULL");
        greeting.resize(64, 0);
        stream.write_all(&greeting).unwrap();
        let mut body = vec![5];
        body.extend_from_slice(b"READY");
        body.push(11);
        body.extend_from_slice(b"Socket-Type");
        body.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
        body.extend_from_slice(socket_type.as_bytes());
        stream.write_all(&[COMMAND, body.len() as u8]).unwrap();
        stream.write_all(&body).unwrap();

        let mut peer = RawPeer { stream };
        let mut theirs = [0u8; 64];
        peer.stream.read_exact(&mut theirs).unwrap();
        assert_eq!((theirs[10], theirs[11]), (3, 1), "dhaga speaks 3.1");
        let (flags, ready) = peer.frame();
        assert!(flags & COMMAND != 0 && ready.starts_with(b"\x05READY"), "a READY");
        peer
    }

    /// Reads one frame: its flags and body.
    fn frame(&mut self) -> (u8, Vec<u8>) {
        let mut flags = [0u8];
        self.stream.read_exact(&mut flags).unwrap();
        let len = if flags[0] & LONG != 0 {
            let mut len = [0u8; 8];
            self.stream.read_exact(&mut len).unwrap();
            u64::from_be_bytes(len) as usize
        } else {
            let mut len = [0u8];
            self.stream.read_exact(&mut len).unwrap();
            usize::from(len[0])
        };
        let mut body = vec![0; len];
        self.stream.read_exact(&mut body).unwrap();
        (flags[0], body)
    }

    fn send_frame(&mut self, flags: u8, body: &[u8]) {
        self.stream.write_all(&[flags, body.len() as u8]).unwrap();
        self.stream.write_all(body).unwrap();
    }

    /// Sends a subscription the way a 3.`minor` peer does.
    fn subscribe(&mut self, minor: u8, subscribe: bool, prefix: &[u8]) {
        let body = match (minor, subscribe) {
            (0, on) => [&[u8::from(on)][..], prefix].concat(),
            (_, true) => [&b"\x09SUBSCRIBE"[..], prefix].concat(),
            (_, false) => [&b"\x06CANCEL"[..], prefix].concat(),
        };
        self.send_frame(if minor == 0 { 0 } else { COMMAND }, &body);
    }
}

#[test]
fn a_sub_sends_commands_to_31_peers_and_messages_to_30_peers() {
    within_limit(|| {
        for minor in [0, 1] {
            let (sub, endpoint) = bound(SocketType::Sub, "tcp");
            sub.subscribe("early").unwrap();
            let mut publisher = RawPeer::connect(&endpoint, minor, "PUB");
            // A subscription made before the peer came, then one after.
            let want = |subscribe: bool, prefix: &[u8]| match minor {
                0 => (0, [&[u8::from(subscribe)][..], prefix].concat()),
                _ if subscribe => (COMMAND, [&b"\x09SUBSCRIBE"[..], prefix].concat()),
                _ => (COMMAND, [&b"\x06CANCEL"[..], prefix].concat()),
            };
            assert_eq!(publisher.frame(), want(true, b"early"), "3.{minor}");
            sub.subscribe("late").unwrap();
            assert_eq!(publisher.frame(), want(true, b"late"), "3.{minor}");
            sub.unsubscribe("early").unwrap();
            assert_eq!(publisher.frame(), want(false, b"early"), "3.{minor}");
            // And the SUB takes what matches.
            publisher.send_frame(MORE, b"late news");
            publisher.send_frame(0, b"body");
            assert_eq!(sub.recv().unwrap(), Msg::from_iter(["late news", "body"]), "3.{minor}");
        }
    });
}

#[test]
fn a_pub_takes_subscriptions_from_31_and_30_peers() {
    within_limit(|| {
        for minor in [0, 1] {
            let (publisher, endpoint) = bound(SocketType::XPub, "tcp");
            let mut sub = RawPeer::connect(&endpoint, minor, "SUB");
            sub.subscribe(minor, true, b"A");
            // The XPUB shows it when it is applied.
            assert_eq!(&publisher.recv().unwrap()[0][..], b"\x01A", "3.{minor}");
            publisher.send("B: not for it").unwrap();
            publisher.send(Msg::from_iter(["A: for it", "2nd"])).unwrap();
            assert_eq!(sub.frame(), (MORE, b"A: for it".to_vec()), "3.{minor}");
            assert_eq!(sub.frame(), (0, b"2nd".to_vec()), "3.{minor}");
            sub.subscribe(minor, false, b"A");
            assert_eq!(&publisher.recv().unwrap()[0][..], b"\x00A", "3.{minor}");
            publisher.send("A: too late").unwrap();
            sub.subscribe(minor, true, b"Z");
            assert_eq!(&publisher.recv().unwrap()[0][..], b"\x01Z", "3.{minor}");
            publisher.send("Z: next").unwrap();
            assert_eq!(
                sub.frame(),
                (0, b"Z: next".to_vec()),
                "3.{minor}: nothing for A came first"
            );
        }
    });
}

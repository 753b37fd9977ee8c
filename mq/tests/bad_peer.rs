//! Hostile and broken peers, speaking raw bytes over TCP: each is dropped
//! (its connection closed) and the socket keeps serving a well-behaved
//! peer.

mod raw;
mod util;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use dhaga_mq::{Error, Msg, Socket, SocketType};
use raw::{greeting, ready};
use util::{JoinWithin, PATIENCE, RecvWithin, SocketWithin, bound, connected, within_limit};

/// Connects a raw TCP client that sends `bytes` and then reads until the
/// server closes the connection; returns what the server sent.
#[track_caller]
fn send_raw(endpoint: &str, bytes: &[u8]) -> Vec<u8> {
    let addr = endpoint.trim_start_matches("tcp://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(bytes).unwrap();
    until_the_server_hangs_up(&mut stream)
}

/// Reads until the server closes `stream` (or resets it); returns what it
/// sent. Fails the test if it has not hung up within [`PATIENCE`].
#[track_caller]
fn until_the_server_hangs_up(stream: &mut TcpStream) -> Vec<u8> {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut received = Vec::new();
    match stream.read_to_end(&mut received) {
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
            panic!("waited {PATIENCE:?} for the server to drop the connection: {e}")
        }
        // The end of the stream, or a reset.
        _ => received,
    }
}

/// Checks that `rep` still answers a well-behaved REQ.
#[track_caller]
fn still_serves(rep: &Socket, endpoint: &str) {
    let req = connected(SocketType::Req, endpoint);
    req.send_within("still there?", "the good peer's request");
    assert_eq!(rep.recv_within("the good peer's request"), Msg::from("still there?"));
    rep.send_within("yes", "the reply to the good peer");
    assert_eq!(req.recv_within("the reply to the good peer"), Msg::from("yes"));
}

#[test]
fn garbage_instead_of_a_greeting_is_dropped() {
    within_limit(|| {
        let (rep, endpoint) = bound(SocketType::Rep, "tcp");
        for garbage in [
            &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            &[0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7E][..],
        ] {
            let received = send_raw(&endpoint, garbage);
            assert!(received.len() <= 64, "at most our greeting before the drop");
        }
        still_serves(&rep, &endpoint);
    });
}

#[test]
fn old_versions_and_unknown_mechanisms_are_dropped() {
    within_limit(|| {
        let (rep, endpoint) = bound(SocketType::Rep, "tcp");
        let mut v2 = greeting();
        v2[10] = 2;
        send_raw(&endpoint, &v2);
        let mut plain = greeting();
        plain[12..16].copy_from_slice(b"PLAI");
        send_raw(&endpoint, &plain);
        still_serves(&rep, &endpoint);
    });
}

#[test]
fn an_incompatible_socket_type_gets_an_error_command() {
    within_limit(|| {
        let (rep, endpoint) = bound(SocketType::Rep, "tcp");
        let mut bytes = greeting();
        bytes.extend(ready("PUSH"));
        let received = send_raw(&endpoint, &bytes);
        assert!(received.len() > 64, "greeting, then READY/ERROR");
        let rest = &received[64..];
        let text = String::from_utf8_lossy(rest);
        assert!(text.contains("ERROR"), "an ERROR command: {text:?}");
        still_serves(&rep, &endpoint);
    });
}

#[test]
fn protocol_violations_after_the_handshake_are_dropped() {
    within_limit(|| {
        let (pull, endpoint) = bound(SocketType::Pull, "tcp");
        let handshake = || {
            let mut bytes = greeting();
            bytes.extend(ready("PUSH"));
            bytes
        };
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("reserved flag bits", vec![0x80, 1, b'x']),
            ("a command inside a multipart message", {
                let mut v = vec![0x01, 1, b'a'];
                v.extend(ready("PUSH"));
                v
            }),
            ("a second READY", ready("PUSH")),
            // More than any machine holds: refused at the header, as
            // libzmq does (its allocation fails), not waited for.
            ("a long frame of 2^62 bytes", {
                let mut v = vec![0x02];
                v.extend_from_slice(&(1u64 << 62).to_be_bytes());
                v.extend_from_slice(b"only a few bytes follow");
                v
            }),
            ("a long frame of 2^63-1 bytes", {
                let mut v = vec![0x03];
                v.extend_from_slice(&i64::MAX.to_be_bytes());
                v.extend_from_slice(b"only a few bytes follow");
                v
            }),
        ];
        for (what, violation) in cases {
            let mut bytes = handshake();
            bytes.extend(violation);
            let addr = endpoint.trim_start_matches("tcp://");
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.write_all(&bytes).unwrap();
            stream.set_read_timeout(Some(PATIENCE)).unwrap();
            let result = stream.read_to_end(&mut Vec::new());
            assert!(
                result.is_ok(),
                "{what}: the server closes the connection (waited {PATIENCE:?}): {result:?}"
            );
        }
        // No partial or invalid message was delivered, and a good peer is served.
        let push = connected(SocketType::Push, &endpoint);
        push.send_within("good", "the good peer's message");
        assert_eq!(pull.recv_within("the good peer's message"), Msg::from("good"));
    });
}

#[test]
fn truncation_at_every_byte_harms_nobody() {
    within_limit(|| {
        let (pull, endpoint) = bound(SocketType::Pull, "tcp");
        let mut stream = greeting();
        stream.extend(ready("PUSH"));
        // A two-frame message, then a one-frame message.
        stream.extend([0x01, 3, b'o', b'n', b'e', 0x00, 3, b't', b'w', b'o', 0x00, 5]);
        stream.extend(b"three");
        let whole = stream.len();
        for cut in 0..whole {
            let addr = endpoint.trim_start_matches("tcp://");
            let mut raw = TcpStream::connect(addr).unwrap();
            raw.write_all(&stream[..cut]).unwrap();
            // Half-close: the server reads everything, sees the end, and
            // closes; reading our side to the end waits for that.
            raw.shutdown(std::net::Shutdown::Write).unwrap();
            until_the_server_hangs_up(&mut raw);
        }
        // Only whole messages were delivered: [one, two] for cuts after its
        // last byte, [three] only for the full stream (not sent here). The
        // server delivers what it decoded before it reads the end and hangs
        // up, so all of it is queued by now.
        let complete_two = whole - 7; // cuts from here on include [one, two]
        let expected = whole - complete_two;
        for n in 0..expected {
            let msg = pull.recv_within(&format!("[one, two] {n} of {expected}"));
            assert_eq!(msg, ["one", "two"].into_iter().collect::<Msg>());
        }
        assert!(
            matches!(pull.try_recv(), Err(Error::WouldBlock)),
            "one [one, two] per cut after it was complete, and nothing else"
        );
    });
}

#[test]
fn a_ping_is_answered_with_a_pong_carrying_its_context() {
    within_limit(|| {
        let (_pull, endpoint) = bound(SocketType::Pull, "tcp");
        let addr = endpoint.trim_start_matches("tcp://");
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut bytes = greeting();
        bytes.extend(ready("PUSH"));
        // PING: name, TTL (2 bytes, deciseconds), context (RFC 37).
        let mut ping = vec![4];
        ping.extend_from_slice(b"PING");
        ping.extend_from_slice(&[0, 50]);
        ping.extend_from_slice(b"ctx");
        bytes.extend([0x04, ping.len() as u8]);
        bytes.extend(ping);
        stream.write_all(&bytes).unwrap();
        // Their greeting, their READY, then our PONG.
        let mut greeting_back = [0u8; 64];
        stream.read_exact(&mut greeting_back).expect("their greeting");
        let mut header = [0u8; 2];
        stream.read_exact(&mut header).expect("their READY's header");
        let mut ready_back = vec![0u8; header[1] as usize];
        stream.read_exact(&mut ready_back).expect("their READY");
        stream.read_exact(&mut header).expect("the PONG's header");
        assert_eq!(header[0], 0x04, "a command");
        let mut pong = vec![0u8; header[1] as usize];
        stream.read_exact(&mut pong).expect("the PONG");
        assert_eq!(pong, b"\x04PONGctx");
    });
}

/// A peer that floods PINGs and reads none of the PONGs is owed one PONG
/// at a time, as libzmq keeps it: a newer PING replaces a PONG not sent
/// yet, so what the flood leaves queued is bounded by the socket buffers,
/// not by the flood. (It grew without bound: 3.5 GiB for 1 GiB of PINGs.)
///
/// The peer sends a million PINGs and reads nothing (its receive buffer
/// holds about 128 KiB of PONGs, the socket's send buffer some more); then
/// one PING with the context `last` and a message,
/// which the PULL receiving proves the reader went through the flood. Then
/// it reads the PONGs until `last`'s: there must be far fewer than PINGs.
#[test]
fn a_ping_flood_that_reads_nothing_is_owed_one_pong_at_a_time() {
    const PINGS: usize = 1_000_000;
    within_limit(|| {
        let (pull, endpoint) = bound(SocketType::Pull, "tcp");
        let mut peer = raw::RawPeer::connect(&endpoint, "PUSH");
        let one = raw::ping(0, b"ctx");
        let flood: Vec<u8> = one.iter().copied().cycle().take(one.len() * PINGS).collect();
        peer.send(&flood);
        peer.send(&raw::ping(0, b"last"));
        peer.send(&raw::message(b"after the flood"));
        assert_eq!(
            pull.recv_within("the message after the flood"),
            Msg::from("after the flood")
        );
        let mut pongs = 0;
        loop {
            let frame = peer.frame_within(&format!("PONG {pongs}, until the one for `last`"));
            assert!(frame.is_command("PONG"), "only PONGs come: {frame:?}");
            pongs += 1;
            if frame.data() == b"last" {
                break;
            }
        }
        assert!(
            pongs < PINGS / 2,
            "{pongs} PONGs for {PINGS} PINGs: the unsent ones were kept, not replaced"
        );
    });
}

/// A peer that floods a socket never starves the socket's other peers: its
/// connection's reader, which never has to wait for bytes, lets the other
/// micro-threads of its worker run every so often. Here the server runs on
/// a runtime of one worker; a REQ gets its reply while the flood goes on
/// (the flood stops only once the reply has come, or after the test's
/// patience). (A PING flood kept other clients from being served.)
#[test]
fn a_flooding_peer_does_not_starve_the_others() {
    within_limit(|| {
        let runtime = dhaga_runtime::Runtime::builder().workers(1).build().unwrap();
        let (endpoint_tx, endpoint_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = dhaga_runtime::sync::bounded::<()>(1);
        let server = std::thread::spawn(move || {
            runtime.block_on(move || {
                let (rep, endpoint) = bound(SocketType::Rep, "tcp");
                endpoint_tx.send(endpoint).unwrap();
                let request = rep.recv_within("the good peer's request");
                rep.send_within(request, "the reply to the good peer");
                // Keeps the socket (and the flooding connection) up until the
                // test is done.
                stop_rx.recv_within("the end of the test");
            });
        });
        let endpoint = util::RecvWithin::recv_within(&endpoint_rx, "the server's endpoint");

        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let chunks = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (flooding_tx, flooding_rx) = std::sync::mpsc::channel();
        let flooder = {
            let (endpoint, done, chunks) = (
                endpoint.clone(),
                std::sync::Arc::clone(&done),
                std::sync::Arc::clone(&chunks),
            );
            std::thread::spawn(move || {
                let mut peer = raw::RawPeer::connect(&endpoint, "REQ");
                let one = raw::ping(0, b"");
                let chunk: Vec<u8> = one.iter().copied().cycle().take(one.len() * 8192).collect();
                while !done.load(std::sync::atomic::Ordering::Acquire) {
                    peer.send(&chunk);
                    if chunks.fetch_add(1, std::sync::atomic::Ordering::Release) == 0 {
                        flooding_tx.send(()).unwrap();
                    }
                }
            })
        };
        flooding_rx.recv_within("the flood to start");
        let req = connected(SocketType::Req, &endpoint);
        req.send_within("served?", "the good peer's request, during the flood");
        assert_eq!(
            req.recv_within("the reply to the good peer, during the flood"),
            Msg::from("served?")
        );
        // The flood went on: the server still reads it after the reply.
        let at_reply = chunks.load(std::sync::atomic::Ordering::Acquire);
        util::wait_until("the flood to go on after the good peer was served", || {
            chunks.load(std::sync::atomic::Ordering::Acquire) > at_reply
        });
        done.store(true, std::sync::atomic::Ordering::Release);
        flooder.join_within("the flooding peer").unwrap();
        stop_tx.send(()).unwrap();
        server.join_within("the server").unwrap();
    });
}

/// The handshake interval bounds the whole handshake, not each read: a
/// peer that sends its greeting and READY one byte every 20 ms (each read
/// getting a byte long before the interval) is cut off once the interval
/// is over, not let in two seconds later. (A greeting sent a byte every
/// 10 s kept a connection, and its descriptor, for ever.)
#[test]
fn a_handshake_that_trickles_in_is_cut_off_at_the_handshake_interval() {
    const IVL: Duration = Duration::from_millis(300);
    within_limit(|| {
        let rep = util::socket(SocketType::Rep);
        rep.set_handshake_ivl(IVL);
        rep.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = rep.last_endpoint().unwrap();
        let mut stream = TcpStream::connect(endpoint.trim_start_matches("tcp://")).unwrap();
        let started = std::time::Instant::now();
        let (hung_up_tx, hung_up_rx) = std::sync::mpsc::channel();
        let mut watcher = stream.try_clone().unwrap();
        std::thread::spawn(move || {
            let received = until_the_server_hangs_up(&mut watcher);
            let _ = hung_up_tx.send((started.elapsed(), received.len()));
        });
        let mut hello = greeting();
        hello.extend(ready("REQ"));
        let mut hung_up = None;
        for byte in hello {
            if let Ok(hang_up) = hung_up_rx.try_recv() {
                hung_up = Some(hang_up);
                break;
            }
            // The attack's pace, not an ordering: the server must not wait
            // for it to end.
            if stream.write_all(&[byte]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let (after, received) =
            hung_up.unwrap_or_else(|| hung_up_rx.recv_within("the server to hang up on the trickling handshake"));
        assert!(after >= IVL, "cut off after {after:?}, within the handshake interval");
        assert!(received <= 64, "at most the server's greeting came ({received} bytes)");
        let trickle = Duration::from_millis(20) * 64;
        assert!(
            after < trickle,
            "cut off after {after:?}: the handshake was let finish instead ({trickle:?} to send the greeting alone)"
        );
        still_serves(&rep, &endpoint);
    });
}

/// Sends `frames` after a PUSH's handshake to `endpoint`, in 64 KiB writes,
/// until they are all sent or the server hangs up; returns how many bytes
/// it took (the server's hang-up cuts the writes short).
fn flood_after_handshake(endpoint: &str, frames: impl Iterator<Item = Vec<u8>>) -> usize {
    let mut stream = TcpStream::connect(endpoint.trim_start_matches("tcp://")).unwrap();
    let mut hello = greeting();
    hello.extend(ready("PUSH"));
    stream.write_all(&hello).unwrap();
    let mut sent = 0;
    let mut chunk = Vec::new();
    for frame in frames {
        chunk.extend(frame);
        if chunk.len() >= 64 * 1024 {
            if stream.write_all(&chunk).is_err() {
                return sent;
            }
            sent += chunk.len();
            chunk.clear();
        }
    }
    if stream.write_all(&chunk).is_ok() {
        sent += chunk.len();
        until_the_server_hangs_up(&mut stream);
    }
    sent
}

#[test]
fn a_multipart_message_that_never_ends_is_cut_off_at_the_maximum_message_size() {
    within_limit(|| {
        let pull = util::socket(SocketType::Pull);
        pull.set_max_msg_size(Some(64 * 1024));
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = pull.last_endpoint().unwrap();
        // Sixteen million empty frames, all with MORE: 32 MB on the wire,
        // each frame counted 32 bytes (its handle) against the 64 KiB.
        let sent = flood_after_handshake(&endpoint, std::iter::repeat_n(vec![0x01, 0], 16_000_000));
        assert!(
            sent < 16 * 1024 * 1024,
            "the server took {sent} bytes of a message over its maximum size before hanging up"
        );
        // A message whose frames each fit but whose whole does not.
        let frame = |more: u8| {
            let mut v = vec![0x02 | more];
            v.extend_from_slice(&(40_000u64).to_be_bytes());
            v.extend(std::iter::repeat_n(b'x', 40_000));
            v
        };
        flood_after_handshake(&endpoint, [frame(1), frame(0)].into_iter());
        // Nothing of either was delivered; a good peer is served.
        let push = connected(SocketType::Push, &endpoint);
        push.send_within("good", "the good peer's message");
        assert_eq!(pull.recv_within("the good peer's message"), Msg::from("good"));
    });
}

#[test]
fn a_message_over_the_memory_limit_is_cut_off_at_its_header() {
    within_limit(|| {
        let pull = util::socket(SocketType::Pull);
        pull.set_memory_limit(Some(64 * 1024));
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = pull.last_endpoint().unwrap();
        // Announces 1 MiB and sends 64 KiB of it: the server must not wait
        // for the rest.
        let mut frame = vec![0x02];
        frame.extend_from_slice(&(1u64 << 20).to_be_bytes());
        frame.extend(std::iter::repeat_n(b'x', 64 * 1024));
        flood_after_handshake(&endpoint, std::iter::once(frame));
        let push = connected(SocketType::Push, &endpoint);
        push.send_within("good", "the good peer's message");
        assert_eq!(pull.recv_within("the good peer's message"), Msg::from("good"));
    });
}

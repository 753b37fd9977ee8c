//! A socket's metrics count what went through it: messages and bytes in
//! and out, drops at the high-water mark, reconnects, failed handshakes.

mod util;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use dhaga_mq::SocketType;
use util::{SocketWithin, TRANSPORTS, bound, connected, unreachable_tcp, wait_until, within_limit};

#[test]
fn messages_and_bytes_in_and_out_are_counted() {
    within_limit(|| {
        for transport in TRANSPORTS {
            let (pull, endpoint) = bound(SocketType::Pull, transport);
            let push = connected(SocketType::Push, &endpoint);
            let bodies = ["a", "bb", "ccc", "dddd", "eeeee"];
            for body in bodies {
                push.send_within(body, &format!("{transport}: {body}"));
            }
            for body in bodies {
                assert_eq!(
                    &pull.recv_within(&format!("{transport}: {body}"))[0][..],
                    body.as_bytes()
                );
            }
            let bytes = bodies.iter().map(|b| b.len() as u64).sum::<u64>();
            let sent = push.metrics();
            assert_eq!(
                (sent.msgs_out, sent.bytes_out, sent.msgs_in),
                (5, bytes, 0),
                "{transport}: {sent:?}"
            );
            let received = pull.metrics();
            assert_eq!(
                (received.msgs_in, received.bytes_in, received.msgs_out),
                (5, bytes, 0),
                "{transport}: {received:?}"
            );
        }
    });
}

#[test]
fn a_publishers_drops_at_the_high_water_mark_are_counted() {
    within_limit(|| {
        let publisher = util::socket(SocketType::Pub);
        publisher.set_send_hwm(1);
        let endpoint = util::endpoint("inproc");
        publisher.bind(&endpoint).unwrap();
        let subscriber = util::socket(SocketType::Sub);
        subscriber.set_recv_hwm(1);
        subscriber.connect(&endpoint).unwrap();
        subscriber.subscribe("").unwrap();
        // Until the subscription is in, nothing goes anywhere (and nothing
        // is dropped at a mark).
        wait_until("the subscription to reach the publisher", || {
            publisher.send_within("probe", "a probe");
            subscriber.try_recv().is_ok()
        });
        let before = publisher.metrics();
        // The subscriber reads nothing meanwhile: past what the marks hold,
        // each update is dropped for it.
        const UPDATES: u64 = 100;
        for i in 0..UPDATES {
            publisher.send_within(format!("{i}"), "an update");
        }
        let after = publisher.metrics();
        assert_eq!(after.msgs_out, before.msgs_out + UPDATES, "{after:?}");
        let drops = after.hwm_drops - before.hwm_drops;
        assert!(drops >= 1, "{before:?} {after:?}");
        // Every update was either dropped or arrives, in order.
        let mut arrived = Vec::new();
        while arrived.len() as u64 + drops < UPDATES {
            let msg = subscriber.recv_within("the updates that were not dropped");
            if let Ok(update) = std::str::from_utf8(&msg[0]).unwrap().parse::<u64>() {
                arrived.push(update);
            }
        }
        assert!(arrived.is_sorted(), "{arrived:?}");
        assert!(subscriber.try_recv().is_err(), "more arrived than were not dropped");
    });
}

#[test]
fn reconnects_and_failed_handshakes_are_counted() {
    within_limit(|| {
        let lonely = util::socket(SocketType::Push);
        lonely.set_reconnect_ivl(Duration::from_millis(5));
        lonely.connect(unreachable_tcp()).unwrap();
        wait_until("two reconnects to be counted", || lonely.metrics().reconnects >= 2);

        let (server, endpoint) = bound(SocketType::Pull, "tcp");
        let address = endpoint.trim_start_matches("tcp://");
        let mut garbage = TcpStream::connect(address).unwrap();
        // Not a ZMTP greeting: the signature's first byte must be 0xff.
        garbage.write_all(&[0u8; 64]).unwrap();
        wait_until("the failed handshake to be counted", || {
            server.metrics().handshakes_failed >= 1
        });
        let counted = server.metrics();
        assert_eq!(
            (counted.handshakes_failed, counted.msgs_in, counted.reconnects),
            (1, 0, 0),
            "{counted:?}"
        );
    });
}

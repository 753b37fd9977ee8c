//! PUB, SUB, XPUB and XSUB (rfc.zeromq.org 29/PUBSUB) between dhaga
//! sockets, over every transport.
//!
//! A publisher cannot know when a subscription has reached it, except by
//! seeing a message get through: [`sync`] publishes markers until the
//! subscriber receives them, and [`recv`] skips markers that were still on
//! their way.

mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dhaga_mq::{Error, Msg, Socket, SocketType};
use util::{PATIENCE, SocketWithin, TRANSPORTS, bound, connected, text, within_limit};

/// Markers start with this byte, which no other message in these tests
/// does.
const MARKER: char = '\u{1}';

/// From when this returns, every subscription `sub` made before has
/// reached `publisher`.
///
/// In two steps, with markers of its own: one getting through shows the
/// connection is up, but not that the subscriptions sent when it came up
/// have arrived (they travel in no set order, maybe in several reads). A
/// second marker subscribed to after that travels behind all of them on
/// that connection, so its getting through shows they were applied.
fn sync(publisher: &Socket, sub: &Socket) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    for step in ["up", "applied"] {
        let marker = format!("{MARKER}{step} {n}");
        sub.subscribe(&marker).unwrap();
        sub.set_recv_timeout(Some(Duration::from_millis(5)));
        let deadline = Instant::now() + PATIENCE;
        loop {
            publisher.send(marker.clone()).unwrap();
            match sub.recv() {
                Ok(msg) if text(&msg) == [marker.as_str()] => break,
                Ok(msg) if text(&msg)[0].starts_with(MARKER) => {} // a late one
                Ok(msg) => panic!("unexpected {msg:?}"),
                Err(Error::TimedOut) => assert!(Instant::now() < deadline, "{marker:?} never got through"),
                Err(e) => panic!("{e}"),
            }
        }
        sub.set_recv_timeout(Some(PATIENCE));
    }
}

/// The next message that is not a late marker; fails the test, naming
/// `what`, if none comes within the receive timeout.
#[track_caller]
fn recv(sub: &Socket, what: &str) -> Vec<String> {
    loop {
        let msg = text(&sub.recv_within(what));
        if !msg[0].starts_with(MARKER) {
            return msg;
        }
    }
}

fn subscriber(endpoint: &str, prefixes: &[&str]) -> Socket {
    let sub = connected(SocketType::Sub, endpoint);
    for prefix in prefixes {
        sub.subscribe(prefix).unwrap();
    }
    sub
}

#[test]
fn a_subscriber_gets_exactly_what_its_prefixes_match() {
    within_limit(|| {
        for transport in TRANSPORTS {
            let (publisher, endpoint) = bound(SocketType::Pub, transport);
            let sub = subscriber(&endpoint, &["10001 ", "2", "END"]);
            sync(&publisher, &sub);
            let sent = ["10001 1", "10002 2", "2", "20 x", "1000", "", "10001 ", "3", "END"];
            for msg in sent {
                publisher.send(msg).unwrap();
            }
            let mut got = Vec::new();
            loop {
                let msg = recv(&sub, &format!("{transport}: the next match, up to END")).remove(0);
                if msg == "END" {
                    break;
                }
                got.push(msg);
            }
            assert_eq!(got, ["10001 1", "2", "20 x", "10001 "], "{transport}");
        }
    });
}

#[test]
fn the_empty_prefix_matches_everything_and_filters_see_only_the_first_frame() {
    within_limit(|| {
        for transport in TRANSPORTS {
            let (publisher, endpoint) = bound(SocketType::Pub, transport);
            let everything = subscriber(&endpoint, &[""]);
            let topic_a = subscriber(&endpoint, &["A"]);
            sync(&publisher, &everything);
            sync(&publisher, &topic_a);
            publisher.send(Msg::from_iter(["B", "A body"])).unwrap();
            publisher.send(Msg::from_iter(["A", "", "body"])).unwrap();
            assert_eq!(
                recv(&everything, &format!("{transport}: B, at the subscriber to everything")),
                ["B", "A body"],
                "{transport}"
            );
            assert_eq!(
                recv(&everything, &format!("{transport}: A, at the subscriber to everything")),
                ["A", "", "body"],
                "{transport}"
            );
            assert_eq!(
                recv(&topic_a, &format!("{transport}: A, at the subscriber to A")),
                ["A", "", "body"],
                "{transport}: multipart, whole"
            );
        }
    });
}

#[test]
fn unsubscribe_undoes_exactly_one_subscribe() {
    within_limit(|| {
        for transport in TRANSPORTS {
            let (publisher, endpoint) = bound(SocketType::XPub, transport);
            let sub = subscriber(&endpoint, &["A", "A", "Z"]);
            // The XPUB sees each prefix's first subscription.
            let mut seen: Vec<_> = (0..2)
                .map(|n| publisher.recv_within(&format!("{transport}: new subscription {n} of 2"))[0].to_vec())
                .collect();
            seen.sort();
            assert_eq!(seen, [&b"\x01A"[..], b"\x01Z"], "{transport}");

            sub.unsubscribe("A").unwrap();
            publisher.send("A1").unwrap();
            publisher.send("Z1").unwrap();
            assert_eq!(
                recv(&sub, &format!("{transport}: A1")),
                ["A1"],
                "{transport}: one subscription to A is left"
            );
            assert_eq!(recv(&sub, &format!("{transport}: Z1")), ["Z1"], "{transport}");

            sub.unsubscribe("A").unwrap();
            // The last cancel shows, once applied.
            assert_eq!(
                &publisher.recv_within(&format!("{transport}: the cancel of A"))[0][..],
                b"\x00A",
                "{transport}"
            );
            publisher.send("A2").unwrap();
            publisher.send("Z2").unwrap();
            assert_eq!(
                recv(&sub, &format!("{transport}: Z2")),
                ["Z2"],
                "{transport}: A is no longer subscribed"
            );
        }
    });
}

#[test]
fn late_joiners_miss_earlier_messages_and_get_later_ones() {
    within_limit(|| {
        for transport in TRANSPORTS {
            let (publisher, endpoint) = bound(SocketType::Pub, transport);
            // Nobody subscribes yet: these go nowhere, and never block.
            for i in 0..5000 {
                publisher.send(format!("early {i}")).unwrap();
            }
            let sub = subscriber(&endpoint, &[""]);
            sync(&publisher, &sub);
            publisher.send("late").unwrap();
            assert_eq!(
                recv(&sub, &format!("{transport}: the late message")),
                ["late"],
                "{transport}"
            );
            assert!(
                matches!(sub.try_recv(), Err(Error::WouldBlock)),
                "{transport}: nothing else"
            );
        }
    });
}

#[test]
fn a_stalled_subscriber_is_dropped_at_its_high_water_mark_while_others_get_everything() {
    within_limit(|| {
        for transport in TRANSPORTS {
            let (publisher, endpoint) = bound(SocketType::Pub, transport);
            let fast = subscriber(&endpoint, &[""]);
            let stalled = subscriber(&endpoint, &[""]);
            stalled.set_recv_hwm(100);
            sync(&publisher, &fast);
            sync(&publisher, &stalled);
            // Far more than the stalled peer's queues and socket buffers
            // hold. The publisher waits only for the fast subscriber, in
            // rounds smaller than its high-water mark, so that one never
            // misses anything.
            const ROUNDS: usize = 200;
            const PER_ROUND: usize = 100;
            let body = "x".repeat(1000);
            for round in 0..ROUNDS {
                for i in 0..PER_ROUND {
                    publisher
                        .send(Msg::from_iter([format!("{}", round * PER_ROUND + i), body.clone()]))
                        .unwrap();
                }
                for i in 0..PER_ROUND {
                    let n = round * PER_ROUND + i;
                    assert_eq!(
                        recv(&fast, &format!("{transport}: message {n}, at the fast subscriber"))[0],
                        format!("{n}"),
                        "{transport}"
                    );
                }
            }
            // The stalled subscriber got the start, in order, then nothing.
            // (What it holds is taken until nothing comes for 200 ms: a
            // message still on its way then only shortens the list, which
            // the assertions allow.)
            let mut got = Vec::new();
            stalled.set_recv_timeout(Some(Duration::from_millis(200)));
            while let Ok(msg) = stalled.recv() {
                if !text(&msg)[0].starts_with(MARKER) {
                    got.push(text(&msg)[0].parse::<usize>().unwrap());
                }
            }
            assert!(got.len() < ROUNDS * PER_ROUND, "{transport}: nothing was dropped");
            assert!(got.windows(2).all(|w| w[0] < w[1]), "{transport}: out of order");
        }
    });
}

#[test]
fn xpub_sees_new_subscriptions_and_the_last_cancel_when_a_peer_leaves() {
    within_limit(|| {
        for transport in TRANSPORTS {
            let (xpub, endpoint) = bound(SocketType::XPub, transport);
            let one = connected(SocketType::Sub, &endpoint);
            let two = connected(SocketType::Sub, &endpoint);
            one.subscribe("weather").unwrap();
            assert_eq!(
                &xpub.recv_within(&format!("{transport}: the subscription to weather"))[0][..],
                b"\x01weather",
                "{transport}"
            );
            two.subscribe("weather").unwrap();
            two.subscribe("news").unwrap();
            // "weather" is not new: only "news" shows.
            assert_eq!(
                &xpub.recv_within(&format!("{transport}: the subscription to news"))[0][..],
                b"\x01news",
                "{transport}"
            );
            drop(two);
            // Its leaving ends "news"; "weather" still has a subscriber.
            assert_eq!(
                &xpub.recv_within(&format!("{transport}: the cancel of news"))[0][..],
                b"\x00news",
                "{transport}"
            );
            drop(one);
            assert_eq!(
                &xpub.recv_within(&format!("{transport}: the cancel of weather"))[0][..],
                b"\x00weather",
                "{transport}"
            );
        }
    });
}

#[test]
fn a_verbose_xpub_sees_every_subscription() {
    within_limit(|| {
        let (xpub, endpoint) = bound(SocketType::XPub, "tcp");
        xpub.set_xpub_verbose(true).unwrap();
        let one = connected(SocketType::Sub, &endpoint);
        let two = connected(SocketType::Sub, &endpoint);
        one.subscribe("A").unwrap();
        assert_eq!(&xpub.recv_within("the first subscription to A")[0][..], b"\x01A");
        two.subscribe("A").unwrap();
        assert_eq!(&xpub.recv_within("the second subscription to A")[0][..], b"\x01A");
        assert!(matches!(
            Socket::new(SocketType::Pub).set_xpub_verbose(true),
            Err(Error::NotSupported { .. })
        ));
    });
}

#[test]
fn xsub_subscribes_with_messages_and_receives_unfiltered() {
    within_limit(|| {
        for transport in TRANSPORTS {
            let (xpub, endpoint) = bound(SocketType::XPub, transport);
            let xsub = connected(SocketType::XSub, &endpoint);
            xsub.send_within(&b"\x01A"[..], &format!("{transport}: the subscription to A"));
            assert_eq!(
                &xpub.recv_within(&format!("{transport}: the subscription to A"))[0][..],
                b"\x01A",
                "{transport}"
            );
            // Anything else an XSUB sends goes upstream as it is.
            xsub.send_within("hello upstream", &format!("{transport}: the message upstream"));
            assert_eq!(
                text(&xpub.recv_within(&format!("{transport}: the message upstream"))),
                ["hello upstream"],
                "{transport}"
            );
            xpub.send("A1").unwrap();
            assert_eq!(
                text(&xsub.recv_within(&format!("{transport}: A1"))),
                ["A1"],
                "{transport}"
            );
            xsub.send_within(&b"\x00A"[..], &format!("{transport}: the cancel of A"));
            assert_eq!(
                &xpub.recv_within(&format!("{transport}: the cancel of A"))[0][..],
                b"\x00A",
                "{transport}"
            );
        }
    });
}

#[test]
fn subscriptions_survive_the_publisher_restarting() {
    within_limit(|| {
        let publisher = util::socket(SocketType::Pub);
        publisher.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = publisher.last_endpoint().unwrap();
        let sub = subscriber(&endpoint, &["A"]);
        sync(&publisher, &sub);
        drop(publisher);
        // A new publisher on the same port: the subscriber reconnects and
        // subscribes again by itself.
        let publisher = util::socket(SocketType::Pub);
        publisher.bind(&endpoint).unwrap();
        sync(&publisher, &sub);
        publisher.send("B").unwrap();
        publisher.send("A again").unwrap();
        assert_eq!(recv(&sub, "the message from the new publisher"), ["A again"]);
    });
}

#[test]
fn a_publisher_may_connect_to_its_subscribers() {
    within_limit(|| {
        for transport in TRANSPORTS {
            let (sub, endpoint) = bound(SocketType::Sub, transport);
            sub.subscribe("A").unwrap();
            let publisher = connected(SocketType::Pub, &endpoint);
            sync(&publisher, &sub);
            publisher.send("B").unwrap();
            publisher.send("A").unwrap();
            assert_eq!(
                recv(&sub, &format!("{transport}: the message for A")),
                ["A"],
                "{transport}"
            );
        }
    });
}

#[test]
fn a_subscriber_fair_queues_its_publishers() {
    within_limit(|| {
        let (one, endpoint_one) = bound(SocketType::Pub, "tcp");
        let (two, endpoint_two) = bound(SocketType::Pub, "tcp");
        let sub = subscriber(&endpoint_one, &[""]);
        sub.connect(&endpoint_two).unwrap();
        sync(&one, &sub);
        sync(&two, &sub);
        for i in 0..3 {
            one.send(format!("one {i}")).unwrap();
            two.send(format!("two {i}")).unwrap();
        }
        let mut got: Vec<_> = (0..6)
            .map(|n| recv(&sub, &format!("message {n} of 6")).remove(0))
            .collect();
        got.sort();
        assert_eq!(got, ["one 0", "one 1", "one 2", "two 0", "two 1", "two 2"]);
    });
}

#[test]
fn the_wrong_operation_for_the_type_is_refused() {
    let publisher = Socket::new(SocketType::Pub);
    assert!(matches!(publisher.recv(), Err(Error::NotSupported { .. })));
    assert!(matches!(publisher.subscribe("A"), Err(Error::NotSupported { .. })));
    let sub = Socket::new(SocketType::Sub);
    assert!(matches!(sub.send("A").unwrap_err().error(), Error::NotSupported { .. }));
    assert!(matches!(
        Socket::new(SocketType::XSub).subscribe("A"),
        Err(Error::NotSupported { .. })
    ));
    assert_eq!(sub.linger(), Some(Duration::ZERO), "SUB does not linger, as in libzmq");
}

/// Publishes `probe` until `sub` receives it: then `sub`'s subscription
/// to it has been applied by `xpub`, whether or not its user read it.
fn until_applied(xpub: &Socket, sub: &Socket, probe: &'static str) {
    sub.set_recv_timeout(Some(Duration::from_millis(5)));
    let deadline = Instant::now() + PATIENCE;
    loop {
        xpub.send(probe).unwrap();
        match sub.recv() {
            Ok(msg) if text(&msg) == [probe] => break,
            Ok(msg) => panic!("unexpected {msg:?}"),
            Err(Error::TimedOut) => assert!(Instant::now() < deadline, "{probe} never applied"),
            Err(e) => panic!("{e}"),
        }
    }
    sub.set_recv_timeout(Some(PATIENCE));
}

#[test]
fn xpub_hears_a_leaving_peers_cancel_after_its_subscribe() {
    within_limit(|| {
        for transport in TRANSPORTS {
            let (xpub, endpoint) = bound(SocketType::XPub, transport);
            let sub = connected(SocketType::Sub, &endpoint);
            sub.subscribe("A").unwrap();
            // Applied, and not read by the XPUB's user yet.
            until_applied(&xpub, &sub, "A probe");
            drop(sub);
            let heard: Vec<_> = ["the subscription", "the cancel at the leaving"]
                .map(|what| xpub.recv_within(&format!("{transport}: {what}"))[0].to_vec())
                .into();
            assert_eq!(heard, [&b"\x01A"[..], b"\x00A"], "{transport}");
        }
    });
}

#[test]
fn an_xpub_that_is_never_read_still_applies_subscriptions() {
    within_limit(|| {
        for transport in TRANSPORTS {
            let xpub = util::socket(SocketType::XPub);
            xpub.set_recv_hwm(2);
            xpub.bind(util::endpoint(transport)).unwrap();
            let sub = connected(SocketType::Sub, &xpub.last_endpoint().unwrap());
            for prefix in ["a", "b", "c", "d", "x"] {
                sub.subscribe(prefix).unwrap();
            }
            until_applied(&xpub, &sub, "x");
        }
    });
}

/// `ZMQ_INVERT_MATCHING` on PUB and SUB: the SUB receives what none of its
/// prefixes starts; `topics_count` counts distinct prefixes on both sides.
#[test]
fn inverted_matching_delivers_what_no_prefix_matches() {
    within_limit(|| {
        let (publisher, endpoint) = bound(SocketType::Pub, "tcp");
        publisher.set_invert_matching(true).unwrap();
        let subscriber = connected(SocketType::Sub, &endpoint);
        subscriber.set_invert_matching(true).unwrap();
        assert!(subscriber.invert_matching());
        subscriber.subscribe("A").unwrap();
        subscriber.subscribe("A").unwrap();
        subscriber.subscribe("B").unwrap();
        assert_eq!(subscriber.topics_count(), 2);
        // The subscriptions reach the publisher before it sends.
        util::wait_until("the publisher to count both prefixes", || publisher.topics_count() == 2);
        for topic in ["Apple", "Cherry", "Banana", "END"] {
            publisher.send_within(topic, "a topic");
        }
        assert_eq!(subscriber.recv_within("Cherry"), Msg::from("Cherry"));
        assert_eq!(subscriber.recv_within("END"), Msg::from("END"));
        assert!(util::socket(SocketType::Req).set_invert_matching(true).is_err());

        let xpub = util::socket(SocketType::XPub);
        assert!(!xpub.xpub_verbose() && !xpub.xpub_verboser());
        xpub.set_xpub_verboser(true).unwrap();
        assert!(xpub.xpub_verbose() && xpub.xpub_verboser());
        xpub.set_xpub_verbose(true).unwrap();
        assert!(
            xpub.xpub_verbose() && !xpub.xpub_verboser(),
            "as in libzmq, VERBOSE after VERBOSER"
        );
    });
}

#[test]
fn only_first_subscribe_keeps_binary_frames_after_data_as_data() {
    within_limit(|| {
        for only_first in [false, true] {
            let (xpub, endpoint) = bound(SocketType::XPub, "tcp");
            let xsub = connected(SocketType::XSub, &endpoint);
            xpub.set_only_first_subscribe(only_first).unwrap();
            xsub.set_only_first_subscribe(only_first).unwrap();
            assert_eq!(xsub.only_first_subscribe(), only_first);
            // The connection is up once a subscription made on it arrives.
            xsub.send_within(Msg::from(&b"\x01sync"[..]), "the sync subscription");
            assert_eq!(text(&xpub.recv_within("the sync subscription")), ["\u{1}sync"]);
            let mixed: Msg = [&b"data"[..], b"\x01B"].into_iter().collect();
            xsub.send_within(mixed, "the mixed message");
            xsub.send_within(Msg::from("end"), "the end marker");
            let mut got = Vec::new();
            loop {
                let msg = text(&xpub.recv_within("what the mixed message became"));
                if msg == ["end"] {
                    break;
                }
                got.push(msg);
            }
            if only_first {
                assert_eq!(
                    got,
                    [vec!["data".to_owned(), "\u{1}B".to_owned()]],
                    "one ordinary message"
                );
                assert_eq!(xpub.topics_count(), 1, "only sync");
            } else {
                // The subscription goes first (as a command), the data after.
                assert_eq!(got, [vec!["\u{1}B".to_owned()], vec!["data".to_owned()]]);
                assert_eq!(xpub.topics_count(), 2);
            }
        }
        let sub = util::socket(SocketType::Sub);
        assert!(matches!(
            sub.set_only_first_subscribe(true),
            Err(Error::NotSupported { .. })
        ));
        assert!(matches!(sub.set_xpub_manual(true), Err(Error::NotSupported { .. })));
    });
}

#[test]
fn an_xsub_subscription_keeps_its_place_among_the_messages_sent_around_it() {
    within_limit(|| {
        for transport in TRANSPORTS {
            let (xpub, endpoint) = bound(SocketType::XPub, transport);
            let xsub = connected(SocketType::XSub, &endpoint);
            xsub.send_within(
                Msg::from(&b"\x01sync"[..]),
                &format!("{transport}: the sync subscription"),
            );
            assert_eq!(
                text(&xpub.recv_within(&format!("{transport}: the sync subscription"))),
                ["\u{1}sync"]
            );
            // Sent without a pause, so that one batch takes all three.
            xsub.send_within("before", &format!("{transport}: the message before"));
            xsub.send_within(Msg::from(&b"\x01A"[..]), &format!("{transport}: the subscription"));
            xsub.send_within("after", &format!("{transport}: the message after"));
            let got: Vec<_> = (0..3)
                .map(|_| text(&xpub.recv_within(&format!("{transport}: the three, in order")))[0].clone())
                .collect();
            assert_eq!(got, ["before", "\u{1}A", "after"], "{transport}");
        }
    });
}

/// An XPUB whose user is behind loses no subscription (a proxy forwards
/// every one upstream), whatever its receive high-water mark.
#[test]
fn an_xpub_behind_its_subscribers_loses_nothing() {
    within_limit(|| {
        let xpub = util::socket(SocketType::XPub);
        xpub.set_recv_hwm(4);
        xpub.bind("tcp://127.0.0.1:*").unwrap();
        let sub = connected(SocketType::Sub, &xpub.last_endpoint().unwrap());
        for i in 0..50 {
            sub.subscribe(format!("topic-{i:02}")).unwrap();
        }
        // They come in no set order: the connection may start after them.
        let mut heard: Vec<_> = (0..50)
            .map(|i| text(&xpub.recv_within(&format!("subscription {i} of 50"))).remove(0))
            .collect();
        heard.sort();
        let want: Vec<_> = (0..50).map(|i| format!("\u{1}topic-{i:02}")).collect();
        assert_eq!(heard, want);
        assert_eq!(xpub.topics_count(), 50);
    });
}

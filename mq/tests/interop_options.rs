//! Options whose effect a peer sees, against the real libzmq (in this
//! process, through the `zmq` crate): `ZMQ_METADATA`, `ZMQ_PROBE_ROUTER`,
//! `ZMQ_XPUB_WELCOME_MSG` and `ZMQ_CONNECT_ROUTING_ID`, each set on dhaga's
//! side and, where libzmq's crate can set it, on libzmq's, read on the
//! other.

mod interop;

use bytes::Bytes;
use dhaga_mq::{Error, RouterNotify, SocketType};
use interop::{TIMEOUT, assert_frames, dhaga_recv, dhaga_send, dhaga_socket, libzmq_socket, msg, within_limit};

/// Receives a whole message on a libzmq socket, failing on its timeout.
#[track_caller]
fn libzmq_recv(socket: &zmq::Socket, what: &str) -> Vec<Vec<u8>> {
    socket
        .recv_multipart(0)
        .unwrap_or_else(|e| panic!("{what}: libzmq recv (timeout {TIMEOUT:?}): {e}"))
}

/// A libzmq socket of `kind` bound to a free loopback port, and its endpoint.
fn libzmq_bound(ctx: &zmq::Context, kind: zmq::SocketType) -> (zmq::Socket, String) {
    let socket = libzmq_socket(ctx, kind);
    socket.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = socket.get_last_endpoint().unwrap().unwrap();
    (socket, endpoint)
}

#[test]
fn metadata_reaches_libzmq_and_comes_back_from_it() {
    within_limit(|| {
        let ctx = zmq::Context::new();
        let (rep, endpoint) = libzmq_bound(&ctx, zmq::REP);
        let req = dhaga_socket(SocketType::Req);
        req.set_metadata("X-Region:eu-west").unwrap();
        req.set_metadata("X-Shard:7").unwrap();
        req.set_metadata("X-Region:us-east").unwrap(); // replaces
        assert_eq!(req.metadata().len(), 2);
        req.connect(&endpoint).unwrap();
        dhaga_send(&req, msg(&[Bytes::from_static(b"Hello")]), "the request");

        let mut request = zmq::Message::new();
        rep.recv(&mut request, 0).expect("libzmq receives the request");
        assert_eq!(request.gets("X-Region"), Some("us-east"));
        let mut request_again = request;
        assert_eq!(request_again.gets("X-Shard"), Some("7"));
        rep.send("World", 0).unwrap();
        assert_frames(dhaga_recv(&req, "the reply").frames(), &[b"World"], "the reply");
    });
}

#[test]
fn metadata_refuses_what_libzmq_refuses() {
    let socket = dhaga_socket(SocketType::Dealer);
    // libzmq's own list of bad properties (its test_app_meta).
    let too_long = format!("X-{}:value", "k".repeat(254));
    for bad in [
        ":",
        "key:",
        ":value",
        "keyvalue",
        "",
        "Region:eu",
        "X-Region:",
        too_long.as_str(),
    ] {
        assert!(
            matches!(
                socket.set_metadata(bad),
                Err(Error::InvalidOption { option: "metadata", .. })
            ),
            "{bad:?} was accepted"
        );
    }
    assert!(socket.metadata().is_empty());
    socket.set_metadata(&format!("X-{}:value", "k".repeat(253))).unwrap();
}

#[test]
fn a_probing_dealer_and_router_announce_themselves_to_a_libzmq_router() {
    within_limit(|| {
        let ctx = zmq::Context::new();
        for dhaga_type in [SocketType::Dealer, SocketType::Req, SocketType::Router] {
            let (router, endpoint) = libzmq_bound(&ctx, zmq::ROUTER);
            let prober = dhaga_socket(dhaga_type);
            prober.set_probe_router(true);
            assert!(prober.probe_router());
            prober.connect(&endpoint).unwrap();
            // Nothing sent by the application: the probe arrives by itself.
            let probe = libzmq_recv(&router, &format!("{dhaga_type}'s probe"));
            assert_eq!(probe.len(), 2, "{dhaga_type}: [routing id, empty]: {probe:?}");
            assert!(probe[1].is_empty(), "{dhaga_type}: {probe:?}");
            // The probe does not disturb the pattern: a round trip follows,
            // from the id the probe announced.
            match dhaga_type {
                SocketType::Req => {
                    dhaga_send(&prober, msg(&[Bytes::from_static(b"ask")]), "REQ's request");
                    let request = libzmq_recv(&router, "REQ's request");
                    assert_eq!(request, [probe[0].clone(), Vec::new(), b"ask".to_vec()]);
                    router.send_multipart([&probe[0][..], b"", b"answer"], 0).unwrap();
                    assert_frames(dhaga_recv(&prober, "REQ's reply").frames(), &[b"answer"], "REQ's reply");
                }
                _ => {
                    router.send_multipart([&probe[0][..], b"routed"], 0).unwrap();
                    let got = dhaga_recv(&prober, &format!("{dhaga_type}: the routed message"));
                    let frames = got.frames();
                    // A ROUTER receives it after the libzmq ROUTER's id.
                    assert_frames(&frames[frames.len() - 1..], &[b"routed"], &format!("{dhaga_type}"));
                }
            }
        }
    });
}

#[test]
fn a_probing_libzmq_dealer_announces_itself_to_a_dhaga_router() {
    within_limit(|| {
        let ctx = zmq::Context::new();
        let router = dhaga_socket(SocketType::Router);
        router.bind("tcp://127.0.0.1:*").unwrap();
        let dealer = libzmq_socket(&ctx, zmq::DEALER);
        dealer.set_probe_router(true).unwrap();
        dealer.set_identity(b"prober").unwrap();
        dealer.connect(&router.last_endpoint().unwrap()).unwrap();
        let probe = dhaga_recv(&router, "libzmq's probe");
        assert_frames(probe.frames(), &[&b"prober"[..], b""], "libzmq's probe");
    });
}

#[test]
fn a_libzmq_subscriber_gets_the_welcome_message_first() {
    within_limit(|| {
        let ctx = zmq::Context::new();
        let xpub = dhaga_socket(SocketType::XPub);
        xpub.set_xpub_welcome_msg(Some(Bytes::from_static(b"Welcome")));
        xpub.bind("tcp://127.0.0.1:*").unwrap();
        let sub = libzmq_socket(&ctx, zmq::SUB);
        sub.set_subscribe(b"W").unwrap();
        sub.connect(&xpub.last_endpoint().unwrap()).unwrap();
        assert_eq!(libzmq_recv(&sub, "the welcome message"), [b"Welcome".to_vec()]);
        // The XPUB receives the subscription as usual.
        assert_frames(
            dhaga_recv(&xpub, "the subscription").frames(),
            &[b"\x01W"],
            "subscription",
        );
    });
}

#[test]
fn a_router_names_the_peer_of_its_next_connect() {
    within_limit(|| {
        let ctx = zmq::Context::new();
        // The peer announces a routing id of its own; the name the ROUTER
        // chose for its connect wins.
        let dealer = libzmq_socket(&ctx, zmq::DEALER);
        dealer.set_identity(b"announced").unwrap();
        dealer.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = dealer.get_last_endpoint().unwrap().unwrap();
        let router = dhaga_socket(SocketType::Router);
        assert!(router.set_connect_routing_id(Bytes::new()).is_err());
        assert!(router.set_connect_routing_id(&b"\0reserved"[..]).is_err());
        router.set_connect_routing_id(&b"server-1"[..]).unwrap();
        router.connect(&endpoint).unwrap();

        dealer.send("hello", 0).unwrap();
        let got = dhaga_recv(&router, "the DEALER's message");
        assert_frames(got.frames(), &[&b"server-1"[..], b"hello"], "the message from server-1");
        dhaga_send(
            &router,
            msg(&[Bytes::from_static(b"server-1"), Bytes::from_static(b"hi")]),
            "to server-1",
        );
        assert_eq!(libzmq_recv(&dealer, "the reply to server-1"), [b"hi".to_vec()]);
    });
}

#[test]
fn a_correlating_req_sends_request_ids_and_takes_only_the_matching_reply() {
    within_limit(|| {
        let ctx = zmq::Context::new();
        let (router, endpoint) = libzmq_bound(&ctx, zmq::ROUTER);
        let req = dhaga_socket(SocketType::Req);
        req.set_req_correlate(true).unwrap();
        req.connect(&endpoint).unwrap();
        dhaga_send(&req, msg(&[Bytes::from_static(b"ask")]), "the request");
        let request = libzmq_recv(&router, "the correlated request");
        assert_eq!(request.len(), 4, "[peer, request id, delimiter, body]: {request:?}");
        let (peer, id) = (&request[0], &request[1]);
        assert_eq!(id.len(), 4, "libzmq's request ids are 4 bytes");
        assert_eq!(request[2..], [Vec::new(), b"ask".to_vec()]);

        // A reply with another id is dropped; the matching one is taken.
        let stale = (u32::from_be_bytes(id[..].try_into().unwrap()).wrapping_sub(1)).to_be_bytes();
        router
            .send_multipart([&peer[..], &stale[..], b"", b"stale"], 0)
            .unwrap();
        router.send_multipart([&peer[..], &id[..], b"", b"answer"], 0).unwrap();
        assert_frames(
            dhaga_recv(&req, "the matching reply").frames(),
            &[b"answer"],
            "the reply",
        );

        // The next request has the next id.
        dhaga_send(&req, msg(&[Bytes::from_static(b"again")]), "the second request");
        let second = libzmq_recv(&router, "the second request");
        let next = u32::from_be_bytes(id[..].try_into().unwrap()).wrapping_add(1);
        assert_eq!(second[1], next.to_be_bytes());
        assert!(dhaga_socket(SocketType::Dealer).set_req_correlate(true).is_err());
    });
}

#[test]
fn a_relaxed_req_sends_again_and_abandons_the_old_reply() {
    within_limit(|| {
        let ctx = zmq::Context::new();
        let (router, endpoint) = libzmq_bound(&ctx, zmq::ROUTER);
        let req = dhaga_socket(SocketType::Req);
        req.connect(&endpoint).unwrap();
        dhaga_send(&req, msg(&[Bytes::from_static(b"first")]), "the first request");
        assert!(
            matches!(req.send("too soon"), Err(e) if matches!(e.error(), Error::InvalidState(_))),
            "strict by default"
        );
        req.set_req_relaxed(true).unwrap();
        req.set_req_correlate(true).unwrap();
        let first = libzmq_recv(&router, "the first request");
        dhaga_send(
            &req,
            msg(&[Bytes::from_static(b"second")]),
            "the second request, before any reply",
        );
        let second = libzmq_recv(&router, "the second request");
        assert_eq!(second.last().unwrap(), b"second");
        // The reply to the first (no request id: it was sent uncorrelated)
        // and one to the second: only the second's is received.
        router.send_multipart([&first[0][..], b"", b"late"], 0).unwrap();
        router
            .send_multipart([&second[0][..], &second[1][..], b"", b"fresh"], 0)
            .unwrap();
        assert_frames(
            dhaga_recv(&req, "the reply to the second").frames(),
            &[b"fresh"],
            "the reply",
        );
    });
}

#[test]
fn a_handing_over_router_gives_a_taken_routing_id_to_the_newcomer() {
    within_limit(|| {
        let ctx = zmq::Context::new();
        let router = dhaga_socket(SocketType::Router);
        router.set_router_handover(true).unwrap();
        router.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = router.last_endpoint().unwrap();
        let dealer = |body: &str| {
            let dealer = libzmq_socket(&ctx, zmq::DEALER);
            dealer.set_identity(b"same").unwrap();
            dealer.connect(&endpoint).unwrap();
            dealer.send(body, 0).unwrap();
            dealer
        };
        let old = dealer("from the first");
        assert_frames(
            dhaga_recv(&router, "the first").frames(),
            &[&b"same"[..], b"from the first"],
            "first",
        );
        let new = dealer("from the second");
        assert_frames(
            dhaga_recv(&router, "the second").frames(),
            &[&b"same"[..], b"from the second"],
            "second",
        );
        dhaga_send(
            &router,
            msg(&[Bytes::from_static(b"same"), Bytes::from_static(b"to the newcomer")]),
            "routed",
        );
        assert_eq!(libzmq_recv(&new, "the routed message"), [b"to the newcomer".to_vec()]);
        assert!(matches!(old.recv_multipart(zmq::DONTWAIT), Err(zmq::Error::EAGAIN)));
        assert!(dhaga_socket(SocketType::Dealer).set_router_handover(true).is_err());
    });
}

#[test]
fn an_immediate_dealer_queues_nothing_for_a_peer_that_is_not_there() {
    within_limit(|| {
        let ctx = zmq::Context::new();
        let (router, live) = libzmq_bound(&ctx, zmq::ROUTER);
        let nobody = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("tcp://{}", listener.local_addr().unwrap())
        };
        let dealer = dhaga_socket(SocketType::Dealer);
        dealer.set_immediate(true);
        assert!(dealer.immediate());
        // No connection is up: nothing may be queued.
        dealer.connect(&nobody).unwrap();
        assert!(matches!(dealer.try_send("early"), Err(e) if matches!(e.error(), Error::WouldBlock)));
        // Round robin over the live peer alone: every message reaches it
        // (without IMMEDIATE, every other one would wait for `nobody`).
        dealer.connect(&live).unwrap();
        for i in 0..10 {
            dhaga_send(&dealer, msg(&[Bytes::from(format!("m{i}"))]), &format!("message {i}"));
        }
        for i in 0..10 {
            let got = libzmq_recv(&router, &format!("message {i} at the live peer"));
            assert_eq!(got[1], format!("m{i}").into_bytes());
        }
    });
}

#[test]
fn a_nodrop_publisher_waits_for_a_full_libzmq_subscriber_and_loses_nothing() {
    within_limit(|| {
        let ctx = zmq::Context::new();
        let publisher = dhaga_socket(SocketType::Pub);
        publisher.set_xpub_nodrop(true).unwrap();
        publisher.set_send_hwm(2);
        publisher.bind("tcp://127.0.0.1:*").unwrap();
        let subscriber = libzmq_socket(&ctx, zmq::SUB);
        subscriber.set_rcvhwm(1).unwrap();
        subscriber.set_subscribe(b"").unwrap();
        subscriber.connect(&publisher.last_endpoint().unwrap()).unwrap();
        dhaga_testutil::wait_until("the subscription to reach the publisher", || {
            publisher.topics_count() == 1
        });

        // The subscriber reads nothing: once its buffers and the publisher's
        // queue are full, a send would have to drop; it refuses instead.
        let body = vec![7u8; 256 * 1024];
        let mut sent = 0u32;
        loop {
            let mut frame = sent.to_be_bytes().to_vec();
            frame.extend_from_slice(&body);
            match publisher.try_send(frame) {
                Ok(()) => sent += 1,
                Err(e) if matches!(e.error(), Error::WouldBlock) => break,
                Err(e) => panic!("try_send: {}", e.error()),
            }
            assert!(
                sent < 10_000,
                "the publisher never refused: it drops instead of waiting"
            );
        }
        // Everything sent arrives, in order.
        for i in 0..sent {
            let got = libzmq_recv(&subscriber, &format!("message {i} of {sent}"));
            assert_eq!(got[0][..4], i.to_be_bytes(), "message {i} of {sent}");
        }
        assert!(dhaga_socket(SocketType::Sub).set_xpub_nodrop(true).is_err());
    });
}

#[test]
fn a_conflating_push_sends_only_its_newest_message() {
    within_limit(|| {
        let ctx = zmq::Context::new();
        let address = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("tcp://{}", listener.local_addr().unwrap())
        };
        let push = dhaga_socket(SocketType::Push);
        push.set_conflate(true).unwrap();
        assert!(push.conflate());
        push.connect(&address).unwrap();
        // Nobody listens yet: each send replaces the last, none waits.
        for i in 0..100 {
            push.try_send(format!("{i}")).unwrap();
        }
        let pull = libzmq_socket(&ctx, zmq::PULL);
        pull.bind(&address).unwrap();
        assert_eq!(libzmq_recv(&pull, "the newest message"), [b"99".to_vec()]);
        push.try_send("after").unwrap();
        assert_eq!(
            libzmq_recv(&pull, "the next one"),
            [b"after".to_vec()],
            "nothing older came"
        );
        assert!(dhaga_socket(SocketType::Req).set_conflate(true).is_err());
    });
}

#[test]
fn a_conflating_pull_keeps_only_the_newest_of_what_arrives() {
    within_limit(|| {
        let ctx = zmq::Context::new();
        let pull = dhaga_socket(SocketType::Pull);
        pull.set_conflate(true).unwrap();
        pull.set_recv_hwm(1);
        pull.bind("tcp://127.0.0.1:*").unwrap();
        // libzmq queues all of it before the connection, then sends it in a
        // burst; the PULL is never held back (its high-water mark of 1 does
        // not apply) and keeps the newest.
        let push = libzmq_socket(&ctx, zmq::PUSH);
        push.connect(&pull.last_endpoint().unwrap()).unwrap();
        for i in 0..1000 {
            push.send(format!("{i}").as_str(), 0).unwrap();
        }
        let mut got = Vec::new();
        loop {
            let n: u32 = dhaga_recv(&pull, "the newest message")
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            got.push(n);
            if n == 999 {
                break;
            }
        }
        assert!(got.windows(2).all(|w| w[0] < w[1]), "in order: {got:?}");
        assert!(got.len() < 1000, "older messages were replaced: {} received", got.len());
    });
}

#[test]
fn a_verbose_xsub_passes_every_unsubscribe_to_a_libzmq_xpub() {
    within_limit(|| {
        let ctx = zmq::Context::new();
        for verbose in [false, true] {
            let xpub = libzmq_socket(&ctx, zmq::XPUB);
            xpub.set_xpub_verbose(true).unwrap();
            xpub.bind("tcp://127.0.0.1:*").unwrap();
            let xsub = dhaga_socket(SocketType::XSub);
            xsub.set_xsub_verbose_unsubscribe(verbose).unwrap();
            xsub.connect(xpub.get_last_endpoint().unwrap().unwrap()).unwrap();
            // Connected first (a new connection gets each prefix once).
            dhaga_send(&xsub, msg(&[Bytes::from_static(b"\x01Q")]), "the first subscription");
            assert_eq!(libzmq_recv(&xpub, "the first subscription"), [b"\x01Q".to_vec()]);
            for change in [&b"\x01A"[..], b"\x01A", b"\x00A", b"\x01Z"] {
                dhaga_send(&xsub, msg(&[Bytes::copy_from_slice(change)]), "a subscription change");
            }
            let mut got = Vec::new();
            while got.last().map(Vec::as_slice) != Some(&b"\x01Z"[..]) {
                got.push(libzmq_recv(&xpub, "the subscriptions upstream").remove(0));
            }
            // libzmq's XPUB keeps one subscription per peer and prefix, so
            // the first cancel undoes it: it passes on whatever comes.
            let cancels = got.iter().filter(|m| m[..] == b"\x00A"[..]).count();
            assert_eq!(cancels, usize::from(verbose), "verbose {verbose}: {got:?}");
        }
        assert!(
            dhaga_socket(SocketType::Sub)
                .set_xsub_verbose_unsubscribe(true)
                .is_err()
        );
    });
}

#[test]
fn a_notifying_router_reports_a_libzmq_dealer_arriving_and_leaving() {
    within_limit(|| {
        let router = dhaga_socket(SocketType::Router);
        router
            .set_router_notify(RouterNotify::CONNECT | RouterNotify::DISCONNECT)
            .unwrap();
        router.bind("tcp://127.0.0.1:*").unwrap();
        let ctx = zmq::Context::new();
        let dealer = libzmq_socket(&ctx, zmq::DEALER);
        dealer.set_identity(b"libzmq-dealer").unwrap();
        dealer.connect(&router.last_endpoint().unwrap()).unwrap();
        assert_frames(
            dhaga_recv(&router, "the arrival notice").frames(),
            &[&b"libzmq-dealer"[..], b""],
            "the arrival notice",
        );
        dealer.send("last words", 0).unwrap();
        drop(dealer);
        drop(ctx);
        assert_frames(
            dhaga_recv(&router, "the dealer's message").frames(),
            &[&b"libzmq-dealer"[..], b"last words"],
            "the dealer's message",
        );
        assert_frames(
            dhaga_recv(&router, "the departure notice").frames(),
            &[&b"libzmq-dealer"[..], b""],
            "the departure notice",
        );
    });
}

#[test]
fn a_stream_talks_raw_bytes_with_a_libzmq_stream() {
    within_limit(|| {
        // dhaga's STREAM serves, libzmq's connects: neither sends a
        // greeting, each sees the other's bytes as they are.
        let server = dhaga_socket(SocketType::Stream);
        server.bind("tcp://127.0.0.1:*").unwrap();
        let ctx = zmq::Context::new();
        let client = libzmq_socket(&ctx, zmq::STREAM);
        client.connect(&server.last_endpoint().unwrap()).unwrap();
        // libzmq's STREAM reports its connection as [id, ""] too.
        let arrival = libzmq_recv(&client, "libzmq's connection notice");
        assert_eq!(arrival.len(), 2, "[id, \"\"]");
        assert!(arrival[1].is_empty());
        let client_id = arrival[0].clone();
        let server_side = dhaga_recv(&server, "dhaga's arrival notice");
        assert_eq!(server_side.len(), 2);
        assert!(server_side[1].is_empty());
        let id = server_side[0].clone();

        client.send(&client_id, zmq::SNDMORE).unwrap();
        client.send("ping\n", 0).unwrap();
        let mut got = Vec::new();
        while got.len() < 5 {
            let msg = dhaga_recv(&server, "the client's bytes");
            assert_eq!(msg[0], id);
            got.extend_from_slice(&msg[1]);
        }
        assert_eq!(got, b"ping\n");

        dhaga_send(&server, msg(&[id.clone(), Bytes::from_static(b"pong\n")]), "the answer");
        let mut got = Vec::new();
        while got.len() < 5 {
            let msg = libzmq_recv(&client, "the answer");
            assert_eq!(msg[0], client_id);
            got.extend_from_slice(&msg[1]);
        }
        assert_eq!(got, b"pong\n");

        // dhaga closes: libzmq reports the departure as [id, ""].
        dhaga_send(&server, msg(&[id, Bytes::new()]), "the close");
        let departure = libzmq_recv(&client, "libzmq's departure notice");
        assert_eq!(departure, [client_id, Vec::new()]);
    });
}

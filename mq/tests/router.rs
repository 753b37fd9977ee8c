//! DEALER and ROUTER (rfc.zeromq.org 28/REQREP): routing ids, envelopes,
//! unroutable messages, and PAIR's single peer.

mod util;

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dhaga_mq::{Context, Error, Interest, Msg, RouterNotify, SocketType};
use util::{RecvWithin, SocketWithin, Task, bound, connected, text, wait_ready, with_timeouts, within_limit};

#[test]
fn router_prefixes_generated_routing_ids_and_routes_replies_back() {
    within_limit(|| {
        for transport in util::TRANSPORTS {
            let (router, endpoint) = bound(SocketType::Router, transport);
            let dealers: Vec<_> = (0..3).map(|_| connected(SocketType::Dealer, &endpoint)).collect();
            for (k, dealer) in dealers.iter().enumerate() {
                dealer.send_within(format!("from {k}"), &format!("{transport}: dealer {k}'s message"));
            }
            let mut ids = Vec::new();
            for n in 0..3 {
                let mut msg = router.recv_within(&format!("{transport}: message {n} of 3 from the dealers"));
                assert_eq!(msg.len(), 2, "{transport}: [routing id, body]");
                let id = msg.pop_front().unwrap();
                assert_eq!(id.len(), 5, "{transport}: generated ids are 5 bytes");
                assert_eq!(id[0], 0, "{transport}: generated ids start with a zero byte");
                let body = text(&msg)[0].clone();
                ids.push((id, body));
            }
            for (id, body) in &ids {
                router.send_within(
                    [id.clone(), format!("re: {body}").into()].into_iter().collect::<Msg>(),
                    &format!("{transport}: the reply to {body}"),
                );
            }
            for (k, dealer) in dealers.iter().enumerate() {
                assert_eq!(
                    text(&dealer.recv_within(&format!("{transport}: the reply to dealer {k}"))),
                    [format!("re: from {k}")],
                    "{transport}"
                );
            }
        }
    });
}

#[test]
fn a_peer_chosen_routing_id_is_used() {
    within_limit(|| {
        let (router, endpoint) = bound(SocketType::Router, "tcp");
        let dealer = util::socket(SocketType::Dealer);
        dealer.set_routing_id("worker-7").unwrap();
        dealer.connect(&endpoint).unwrap();
        dealer.send_within("ready", "the worker's ready");
        assert_eq!(text(&router.recv_within("the worker's ready")), ["worker-7", "ready"]);
        router.send_within(["worker-7", "job"].into_iter().collect::<Msg>(), "the job");
        assert_eq!(text(&dealer.recv_within("the job")), ["job"]);
    });
}

#[test]
fn a_duplicate_routing_id_is_refused_and_the_first_peer_kept() {
    within_limit(|| {
        let (router, endpoint) = bound(SocketType::Router, "inproc");
        let first = util::socket(SocketType::Dealer);
        first.set_routing_id("same").unwrap();
        first.connect(&endpoint).unwrap();
        first.send_within("one", "the first peer's first message");
        assert_eq!(
            text(&router.recv_within("the first peer's first message")),
            ["same", "one"]
        );
        let second = util::socket(SocketType::Dealer);
        second.set_routing_id("same").unwrap();
        second.connect(&endpoint).unwrap();
        second.send_within("two", "the duplicate's message");
        first.send_within("three", "the first peer's second message");
        // Only the first peer's messages arrive; the duplicate never attached.
        assert_eq!(
            text(&router.recv_within("the first peer's second message")),
            ["same", "three"]
        );
        // Proving that "two" never comes takes a wait: inproc has no monitor
        // events, and nothing else tells that the duplicate was refused.
        router.set_recv_timeout(Some(Duration::from_millis(50)));
        assert!(matches!(router.recv(), Err(Error::TimedOut)));
    });
}

#[test]
fn unroutable_messages_are_dropped_or_reported_with_mandatory() {
    within_limit(|| {
        let router = util::socket(SocketType::Router);
        router.send_within(["nobody", "lost"].into_iter().collect::<Msg>(), "a message for nobody");
        router.set_router_mandatory(true);
        let err = router
            .send(["nobody", "kept"].into_iter().collect::<Msg>())
            .unwrap_err();
        assert!(matches!(err.error(), Error::HostUnreachable));
        assert_eq!(
            text(&err.into_msg()),
            ["nobody", "kept"],
            "the message comes back whole"
        );
        let err = router.send("only an id").unwrap_err();
        assert!(matches!(err.error(), Error::EmptyMessage));
    });
}

#[test]
fn req_through_router_sees_the_envelope() {
    within_limit(|| {
        let (router, endpoint) = bound(SocketType::Router, "tcp");
        let req = connected(SocketType::Req, &endpoint);
        req.send_within("hello", "the request");
        let msg = router.recv_within("the request");
        assert_eq!(msg.len(), 3, "[id, empty delimiter, body]");
        assert!(msg[1].is_empty());
        assert_eq!(&msg[2][..], b"hello");
        router.send_within(
            [msg[0].clone(), msg[1].clone(), "world".into()]
                .into_iter()
                .collect::<Msg>(),
            "the reply",
        );
        assert_eq!(text(&req.recv_within("the reply")), ["world"]);
    });
}

#[test]
fn dealer_to_rep_with_an_explicit_delimiter() {
    within_limit(|| {
        let (rep, endpoint) = bound(SocketType::Rep, "ipc");
        let dealer = connected(SocketType::Dealer, &endpoint);
        for i in 0..10 {
            dealer.send_within(
                ["".to_owned(), format!("{i}")].into_iter().collect::<Msg>(),
                &format!("request {i}"),
            );
        }
        for i in 0..10 {
            assert_eq!(text(&rep.recv_within(&format!("request {i}"))), [i.to_string()]);
            rep.send_within(format!("ok {i}"), &format!("the reply to request {i}"));
        }
        for i in 0..10 {
            assert_eq!(
                text(&dealer.recv_within(&format!("the reply to request {i}"))),
                ["".to_owned(), format!("ok {i}")]
            );
        }
    });
}

#[test]
fn pair_takes_one_peer() {
    within_limit(|| {
        for transport in util::TRANSPORTS {
            let (a, endpoint) = bound(SocketType::Pair, transport);
            let b = connected(SocketType::Pair, &endpoint);
            b.send_within("ping", &format!("{transport}: ping"));
            assert_eq!(a.recv_within(&format!("{transport}: ping")), Msg::from("ping"));
            a.send_within("pong", &format!("{transport}: pong"));
            assert_eq!(b.recv_within(&format!("{transport}: pong")), Msg::from("pong"));
            // A second peer is refused: its message never arrives.
            let intruder = connected(SocketType::Pair, &endpoint);
            intruder.send_within("intrusion", &format!("{transport}: the intruder's message"));
            b.send_within("still you", &format!("{transport}: the peer's second message"));
            assert_eq!(
                a.recv_within(&format!("{transport}: the peer's second message")),
                Msg::from("still you")
            );
            // Proving that the intrusion never comes takes a wait: nothing
            // tells an inproc socket that it refused a peer.
            a.set_recv_timeout(Some(Duration::from_millis(50)));
            assert!(matches!(a.recv(), Err(Error::TimedOut)), "{transport}");
        }
    });
}

/// A ROUTER_MANDATORY send blocked on a full peer was not woken when that
/// peer went away (`detach` notified nobody); it waited for its timeout
/// (bug 3 of the seven a second reader found).
#[test]
fn a_mandatory_send_blocked_on_a_full_peer_returns_when_the_peer_leaves() {
    within_limit(|| {
        let ctx = Context::new();
        let router = with_timeouts(ctx.socket(SocketType::Router));
        router.set_router_mandatory(true);
        router.set_send_hwm(1);
        router.set_send_timeout(Some(Duration::from_secs(10)));
        router.bind("inproc://mandatory").unwrap();
        let dealer = with_timeouts(ctx.socket(SocketType::Dealer));
        dealer.set_recv_hwm(1);
        dealer.set_routing_id("d").unwrap();
        dealer.connect("inproc://mandatory").unwrap();
        dealer.send_within("hi", "the dealer's greeting");
        assert_eq!(text(&router.recv_within("the dealer's greeting")), ["d", "hi"]);
        // Fill the way to the dealer, one message at a time, each step seen
        // happen: the dealer's queue (its high-water mark, 1), the pump
        // that moves messages to it, which then holds one while it waits
        // for room, and the router's queue (1).
        let to_dealer = |i: usize| Msg::from_iter(["d".to_owned(), format!("{i}")]);
        router.try_send(to_dealer(0)).unwrap();
        wait_ready(&dealer, Interest::READABLE, "message 0 in the dealer's queue");
        router.try_send(to_dealer(1)).unwrap();
        wait_ready(
            &router,
            Interest::WRITABLE,
            "the pump to take message 1 (and wait for room with it)",
        );
        router.try_send(to_dealer(2)).unwrap();
        let full = router.try_send(to_dealer(3)).unwrap_err();
        assert!(matches!(full.error(), Error::WouldBlock), "{full}");
        // Nothing makes room now: a send waits for good.
        let router = Arc::new(router);
        let r = Arc::clone(&router);
        let (sending, about_to_send) = mpsc::channel();
        let sender = Task::os_thread(move || {
            sending.send(()).unwrap();
            let result = r.send(full.into_msg());
            (result.map_err(|e| e.into_parts().0), Instant::now())
        });
        about_to_send.recv_within("the sender to start");
        sender.wait_parked("the sender to wait in send for room");
        let left = Instant::now();
        drop(dealer);
        let (result, at) = sender.join_within("the send blocked on the peer that left");
        let waited = at.duration_since(left);
        match result {
            Err(error) => assert!(
                waited < Duration::from_secs(2) && !matches!(error, Error::TimedOut),
                "the send waited {waited:?} for a gone peer ({error})"
            ),
            Ok(()) => panic!("a message for a gone peer was sent"),
        }
    });
}

#[test]
fn router_notify_reports_a_peer_arriving_and_leaving() {
    within_limit(|| {
        for transport in ["tcp", "ipc"] {
            let router = util::socket(SocketType::Router);
            assert_eq!(router.router_notify(), RouterNotify::NONE);
            router
                .set_router_notify(RouterNotify::CONNECT | RouterNotify::DISCONNECT)
                .unwrap();
            router.bind(util::endpoint(transport)).unwrap();
            let dealer = util::socket(SocketType::Dealer);
            dealer.set_routing_id("d1").unwrap();
            dealer.connect(router.last_endpoint().unwrap()).unwrap();
            assert_eq!(
                text(&router.recv_within(&format!("{transport}: the arrival notice"))),
                ["d1", ""]
            );
            dealer.send_within("bye", &format!("{transport}: the dealer's last message"));
            drop(dealer);
            assert_eq!(
                text(&router.recv_within(&format!("{transport}: the dealer's last message"))),
                ["d1", "bye"]
            );
            assert_eq!(
                text(&router.recv_within(&format!("{transport}: the departure notice"))),
                ["d1", ""]
            );
        }
    });
}

#[test]
fn router_notify_connect_alone_reports_arrivals_only() {
    within_limit(|| {
        let router = util::socket(SocketType::Router);
        router.set_router_notify(RouterNotify::CONNECT).unwrap();
        router.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = router.last_endpoint().unwrap();
        let first = connected(SocketType::Dealer, &endpoint);
        let id = router.recv_within("the first arrival")[0].clone();
        drop(first);
        // The next thing received is the second peer's arrival, under
        // another id: the first one's departure was not reported.
        let _second = connected(SocketType::Dealer, &endpoint);
        let next = router.recv_within("the second arrival");
        assert_eq!(next.len(), 2);
        assert!(next[1].is_empty() && next[0] != id, "{:?}", text(&next));
        let dealer = util::socket(SocketType::Dealer);
        assert!(matches!(
            dealer.set_router_notify(RouterNotify::CONNECT),
            Err(Error::NotSupported { .. })
        ));
    });
}

#[test]
fn unbind_ends_the_connections_accepted_there_and_drops_their_input() {
    within_limit(|| {
        for transport in ["tcp", "ipc"] {
            let router = util::socket(SocketType::Router);
            router.set_router_mandatory(true);
            router.bind(util::endpoint(transport)).unwrap();
            let endpoint = router.last_endpoint().unwrap();
            let dealer = util::socket(SocketType::Dealer);
            dealer.set_routing_id("gone").unwrap();
            let events = dealer.monitor_events(dhaga_mq::MonitorEvents::DISCONNECTED);
            dealer.connect(&endpoint).unwrap();
            dealer.send_within("read", &format!("{transport}: the message read"));
            assert_eq!(
                text(&router.recv_within(&format!("{transport}: the message read"))),
                ["gone", "read"]
            );
            dealer.send_within("unread", &format!("{transport}: the message left unread"));
            wait_ready(
                &router,
                Interest::READABLE,
                &format!("{transport}: the message left unread"),
            );
            router.unbind(&endpoint).unwrap();
            assert!(
                matches!(router.try_recv(), Err(Error::WouldBlock)),
                "{transport}: the unread message is dropped"
            );
            let to_gone: Msg = ["gone", "anyone?"].into_iter().collect();
            assert!(
                matches!(router.send(to_gone), Err(e) if matches!(e.error(), Error::HostUnreachable)),
                "{transport}: the peer is gone"
            );
            match events.recv_timeout(util::PATIENCE) {
                Ok(dhaga_mq::MonitorEvent::Disconnected { .. }) => {}
                other => panic!("{transport}: waiting for the dealer to lose its connection: {other:?}"),
            }
        }
    });
}

//! DEALER and ROUTER (rfc.zeromq.org 28/REQREP): routing ids, envelopes,
//! unroutable messages.

mod util;

use std::time::Duration;

use dhaga_mq::{Error, Msg, SocketType};
use util::{bound, connected, text, within_limit};

#[test]
fn router_prefixes_generated_routing_ids_and_routes_replies_back() {
    within_limit(|| {
        for transport in util::TRANSPORTS {
            let (router, endpoint) = bound(SocketType::Router, transport);
            let dealers: Vec<_> = (0..3).map(|_| connected(SocketType::Dealer, &endpoint)).collect();
            for (k, dealer) in dealers.iter().enumerate() {
                dealer.send(format!("from {k}")).unwrap();
            }
            let mut ids = Vec::new();
            for _ in 0..3 {
                let mut msg = router.recv().unwrap();
                assert_eq!(msg.len(), 2, "{transport}: [routing id, body]");
                let id = msg.pop_front().unwrap();
                assert_eq!(id.len(), 5, "{transport}: generated ids are 5 bytes");
                assert_eq!(id[0], 0, "{transport}: generated ids start with a zero byte");
                let body = text(&msg)[0].clone();
                ids.push((id, body));
            }
            for (id, body) in &ids {
                router
                    .send([id.clone(), format!("re: {body}").into()].into_iter().collect::<Msg>())
                    .unwrap();
            }
            for (k, dealer) in dealers.iter().enumerate() {
                assert_eq!(text(&dealer.recv().unwrap()), [format!("re: from {k}")], "{transport}");
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
        dealer.send("ready").unwrap();
        assert_eq!(text(&router.recv().unwrap()), ["worker-7", "ready"]);
        router.send(["worker-7", "job"].into_iter().collect::<Msg>()).unwrap();
        assert_eq!(text(&dealer.recv().unwrap()), ["job"]);
    });
}

#[test]
fn a_duplicate_routing_id_is_refused_and_the_first_peer_kept() {
    within_limit(|| {
        let (router, endpoint) = bound(SocketType::Router, "inproc");
        let first = util::socket(SocketType::Dealer);
        first.set_routing_id("same").unwrap();
        first.connect(&endpoint).unwrap();
        first.send("one").unwrap();
        assert_eq!(text(&router.recv().unwrap()), ["same", "one"]);
        let second = util::socket(SocketType::Dealer);
        second.set_routing_id("same").unwrap();
        second.connect(&endpoint).unwrap();
        second.send("two").unwrap();
        first.send("three").unwrap();
        // Only the first peer's messages arrive; the duplicate never attached.
        assert_eq!(text(&router.recv().unwrap()), ["same", "three"]);
        router.set_recv_timeout(Some(Duration::from_millis(50)));
        assert!(matches!(router.recv(), Err(Error::TimedOut)));
    });
}

#[test]
fn unroutable_messages_are_dropped_or_reported_with_mandatory() {
    within_limit(|| {
        let router = util::socket(SocketType::Router);
        router.send(["nobody", "lost"].into_iter().collect::<Msg>()).unwrap();
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
        req.send("hello").unwrap();
        let msg = router.recv().unwrap();
        assert_eq!(msg.len(), 3, "[id, empty delimiter, body]");
        assert!(msg[1].is_empty());
        assert_eq!(&msg[2][..], b"hello");
        router
            .send(
                [msg[0].clone(), msg[1].clone(), "world".into()]
                    .into_iter()
                    .collect::<Msg>(),
            )
            .unwrap();
        assert_eq!(text(&req.recv().unwrap()), ["world"]);
    });
}

#[test]
fn dealer_to_rep_with_an_explicit_delimiter() {
    within_limit(|| {
        let (rep, endpoint) = bound(SocketType::Rep, "ipc");
        let dealer = connected(SocketType::Dealer, &endpoint);
        for i in 0..10 {
            dealer
                .send(["".to_owned(), format!("{i}")].into_iter().collect::<Msg>())
                .unwrap();
        }
        for i in 0..10 {
            assert_eq!(text(&rep.recv().unwrap()), [i.to_string()]);
            rep.send(format!("ok {i}")).unwrap();
        }
        for i in 0..10 {
            assert_eq!(text(&dealer.recv().unwrap()), ["".to_owned(), format!("ok {i}")]);
        }
    });
}

#[test]
fn pair_takes_one_peer() {
    within_limit(|| {
        for transport in util::TRANSPORTS {
            let (a, endpoint) = bound(SocketType::Pair, transport);
            let b = connected(SocketType::Pair, &endpoint);
            b.send("ping").unwrap();
            assert_eq!(a.recv().unwrap(), Msg::from("ping"), "{transport}");
            a.send("pong").unwrap();
            assert_eq!(b.recv().unwrap(), Msg::from("pong"), "{transport}");
            // A second peer is refused: its message never arrives.
            let intruder = connected(SocketType::Pair, &endpoint);
            intruder.send("intrusion").unwrap();
            b.send("still you").unwrap();
            assert_eq!(a.recv().unwrap(), Msg::from("still you"), "{transport}");
            a.set_recv_timeout(Some(Duration::from_millis(50)));
            assert!(matches!(a.recv(), Err(Error::TimedOut)), "{transport}");
        }
    });
}

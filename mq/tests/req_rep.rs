//! REQ and REP (rfc.zeromq.org 28/REQREP) between dhaga sockets over every
//! transport.

mod raw;
mod util;

use std::net::TcpListener;

use dhaga_mq::{Error, Msg, SocketType};
use raw::RawPeer;
use util::{JoinWithin, SocketWithin, TRANSPORTS, bound, connected, text, within_limit};

#[test]
fn request_reply_round_trips_over_every_transport() {
    within_limit(|| {
        for transport in TRANSPORTS {
            let (rep, endpoint) = bound(SocketType::Rep, transport);
            let req = connected(SocketType::Req, &endpoint);
            for i in 0..50 {
                let request: Msg = [format!("request {i}"), String::new(), "x".repeat(i * 10)]
                    .into_iter()
                    .collect();
                req.send_within(request.clone(), &format!("{transport}: request {i}"));
                let got = rep.recv_within(&format!("{transport}: request {i}"));
                assert_eq!(got, request, "{transport}");
                rep.send_within(
                    ["reply".to_owned(), format!("{i}")].into_iter().collect::<Msg>(),
                    &format!("{transport}: the reply to request {i}"),
                );
                assert_eq!(
                    text(&req.recv_within(&format!("{transport}: the reply to request {i}"))),
                    ["reply", &i.to_string()],
                    "{transport}"
                );
            }
        }
    });
}

#[test]
fn connect_before_bind_queues_the_request() {
    within_limit(|| {
        for transport in ["ipc", "inproc"] {
            let endpoint = util::endpoint(transport);
            let req = connected(SocketType::Req, &endpoint);
            // Nobody bound yet: it waits in the pipe.
            req.send_within("early", &format!("{transport}: the early request"));
            let rep = util::socket(SocketType::Rep);
            rep.bind(&endpoint).unwrap();
            assert_eq!(
                rep.recv_within(&format!("{transport}: the early request")),
                Msg::from("early"),
                "{transport}"
            );
            rep.send_within("late", &format!("{transport}: the reply"));
            assert_eq!(
                req.recv_within(&format!("{transport}: the reply")),
                Msg::from("late"),
                "{transport}"
            );
        }
    });
}

#[test]
fn req_and_rep_enforce_alternation() {
    within_limit(|| {
        let (rep, endpoint) = bound(SocketType::Rep, "inproc");
        let req = connected(SocketType::Req, &endpoint);
        assert!(matches!(req.recv(), Err(Error::InvalidState(_))));
        assert!(matches!(
            rep.send("unasked").map_err(|e| e.into_parts().0),
            Err(Error::InvalidState(_))
        ));
        req.send_within("one", "request one");
        let err = req.send("two").unwrap_err();
        assert!(matches!(err.error(), Error::InvalidState(_)));
        assert_eq!(
            err.into_msg(),
            Msg::from("two"),
            "the refused message comes back unchanged"
        );
        assert_eq!(rep.recv_within("request one"), Msg::from("one"));
        assert!(matches!(rep.recv(), Err(Error::InvalidState(_))));
        rep.send_within("answer", "the answer to request one");
        assert_eq!(req.recv_within("the answer to request one"), Msg::from("answer"));
        // The cycle starts again.
        req.send_within("three", "request three");
        assert_eq!(rep.recv_within("request three"), Msg::from("three"));
    });
}

#[test]
fn req_round_robins_over_several_reps_and_each_reply_returns_to_its_requester() {
    within_limit(|| {
        let reps: Vec<_> = (0..3).map(|_| bound(SocketType::Rep, "tcp")).collect();
        let req = util::socket(SocketType::Req);
        for (_, endpoint) in &reps {
            req.connect(endpoint).unwrap();
        }
        // Serve each REP in its own micro-thread, tagging replies.
        let servers: Vec<_> = reps
            .into_iter()
            .enumerate()
            .map(|(k, (rep, _))| {
                dhaga_runtime::spawn(move || {
                    let mut served = 0;
                    loop {
                        let request = rep.recv_within(&format!("REP {k}: the next request"));
                        if request == Msg::from("stop") {
                            rep.send_within("stopped", &format!("REP {k}: the reply to stop"));
                            return served;
                        }
                        rep.send_within(format!("{k}"), &format!("REP {k}: a reply"));
                        served += 1;
                    }
                })
            })
            .collect();
        let mut replies_from = [0; 3];
        for i in 0..30 {
            req.send_within("work", &format!("request {i}"));
            let k: usize = text(&req.recv_within(&format!("the reply to request {i}")))[0]
                .parse()
                .unwrap();
            replies_from[k] += 1;
        }
        for k in 0..3 {
            req.send_within("stop", &format!("stop {k}"));
            req.recv_within(&format!("the reply to stop {k}"));
        }
        let served: Vec<usize> = servers
            .into_iter()
            .enumerate()
            .map(|(k, s)| s.join_within(&format!("REP {k}'s server")).unwrap())
            .collect();
        assert_eq!(served, replies_from);
        assert_eq!(replies_from, [10, 10, 10], "round robin over connected peers");
    });
}

#[test]
fn one_rep_serves_many_concurrent_req_micro_threads() {
    within_limit(|| {
        let (rep, endpoint) = bound(SocketType::Rep, "tcp");
        let server = dhaga_runtime::spawn(move || {
            for n in 0..200 * 5 {
                let request = rep.recv_within(&format!("request {n} of 1000"));
                rep.send_within(request, &format!("the echo of request {n} of 1000"));
            }
        });
        let clients: Vec<_> = (0..200)
            .map(|c| {
                let endpoint = endpoint.clone();
                dhaga_runtime::spawn(move || {
                    let req = connected(SocketType::Req, &endpoint);
                    for i in 0..5 {
                        let body = format!("{c}/{i}");
                        req.send_within(body.as_str().to_owned(), &format!("request {body}"));
                        assert_eq!(text(&req.recv_within(&format!("the echo of {body}"))), [body]);
                    }
                })
            })
            .collect();
        for (c, client) in clients.into_iter().enumerate() {
            client.join_within(&format!("client {c}")).unwrap();
        }
        server.join_within("the server").unwrap();
    });
}

#[test]
fn a_request_without_delimiter_is_discarded_by_rep() {
    within_limit(|| {
        // A DEALER talking to a REP must add the empty delimiter itself; a
        // message without one is malformed and dropped (28/REQREP).
        let (rep, endpoint) = bound(SocketType::Rep, "inproc");
        let dealer = connected(SocketType::Dealer, &endpoint);
        dealer.send_within("no envelope", "the request without a delimiter");
        dealer.send_within(
            ["", "with envelope"].into_iter().collect::<Msg>(),
            "the request with a delimiter",
        );
        assert_eq!(
            rep.recv_within("the request with a delimiter"),
            Msg::from("with envelope")
        );
        rep.send_within("ok", "the reply");
        assert_eq!(text(&dealer.recv_within("the reply")), ["", "ok"]);
    });
}

/// REQ kept a second (duplicate) reply queued and handed it out as the
/// reply to the next request; libzmq drops queued replies on each new
/// request (bug 4 of the seven a second reader found).
#[test]
fn a_new_request_drops_replies_still_queued_for_the_last_one() {
    within_limit(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let req = connected(SocketType::Req, &format!("tcp://{}", listener.local_addr().unwrap()));
        let mut router = RawPeer::accept(&listener, "ROUTER");
        req.send_within("one", "request one");
        assert_eq!(router.message_within("request one"), [&b""[..], b"one"]);
        // Both replies in one write: the REQ's reader takes them in one read
        // and queues them together, so the duplicate is queued by the time
        // the first reply can be received.
        let mut replies = raw::multipart(&[b"", b"reply 1"]);
        replies.extend(raw::multipart(&[b"", b"reply 1 again"]));
        router.send(&replies);
        assert_eq!(text(&req.recv_within("reply 1")), ["reply 1"]);
        req.send_within("two", "request two");
        assert_eq!(router.message_within("request two"), [&b""[..], b"two"]);
        router.send(&raw::multipart(&[b"", b"reply 2"]));
        assert_eq!(
            text(&req.recv_within("the reply to request two")),
            ["reply 2"],
            "REQ's reply to \"two\""
        );
    });
}

//! REQ and REP (rfc.zeromq.org 28/REQREP) between dhaga sockets over every
//! transport.

mod util;

use dhaga_mq::{Error, Msg, SocketType};
use util::{TRANSPORTS, bound, connected, text, within_limit};

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
                req.send(request.clone()).unwrap();
                let got = rep.recv().unwrap();
                assert_eq!(got, request, "{transport}");
                rep.send(["reply".to_owned(), format!("{i}")].into_iter().collect::<Msg>())
                    .unwrap();
                assert_eq!(text(&req.recv().unwrap()), ["reply", &i.to_string()], "{transport}");
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
            req.send("early").unwrap(); // nobody bound yet: it waits in the pipe
            let rep = util::socket(SocketType::Rep);
            rep.bind(&endpoint).unwrap();
            assert_eq!(rep.recv().unwrap(), Msg::from("early"), "{transport}");
            rep.send("late").unwrap();
            assert_eq!(req.recv().unwrap(), Msg::from("late"), "{transport}");
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
        req.send("one").unwrap();
        let err = req.send("two").unwrap_err();
        assert!(matches!(err.error(), Error::InvalidState(_)));
        assert_eq!(
            err.into_msg(),
            Msg::from("two"),
            "the refused message comes back unchanged"
        );
        assert_eq!(rep.recv().unwrap(), Msg::from("one"));
        assert!(matches!(rep.recv(), Err(Error::InvalidState(_))));
        rep.send("answer").unwrap();
        assert_eq!(req.recv().unwrap(), Msg::from("answer"));
        req.send("three").unwrap(); // the cycle starts again
        assert_eq!(rep.recv().unwrap(), Msg::from("three"));
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
                    while let Ok(request) = rep.recv() {
                        if request == Msg::from("stop") {
                            rep.send("stopped").unwrap();
                            break;
                        }
                        rep.send(format!("{k}")).unwrap();
                        served += 1;
                    }
                    served
                })
            })
            .collect();
        let mut replies_from = [0; 3];
        for _ in 0..30 {
            req.send("work").unwrap();
            let k: usize = text(&req.recv().unwrap())[0].parse().unwrap();
            replies_from[k] += 1;
        }
        for _ in 0..3 {
            req.send("stop").unwrap();
            req.recv().unwrap();
        }
        let served: Vec<usize> = servers.into_iter().map(|s| s.join().unwrap()).collect();
        assert_eq!(served, replies_from);
        assert_eq!(replies_from, [10, 10, 10], "round robin over connected peers");
    });
}

#[test]
fn one_rep_serves_many_concurrent_req_micro_threads() {
    within_limit(|| {
        let (rep, endpoint) = bound(SocketType::Rep, "tcp");
        let server = dhaga_runtime::spawn(move || {
            for _ in 0..200 * 5 {
                let request = rep.recv().unwrap();
                rep.send(request).unwrap();
            }
        });
        let clients: Vec<_> = (0..200)
            .map(|c| {
                let endpoint = endpoint.clone();
                dhaga_runtime::spawn(move || {
                    let req = connected(SocketType::Req, &endpoint);
                    for i in 0..5 {
                        let body = format!("{c}/{i}");
                        req.send(body.as_str().to_owned()).unwrap();
                        assert_eq!(text(&req.recv().unwrap()), [body]);
                    }
                })
            })
            .collect();
        for client in clients {
            client.join().unwrap();
        }
        server.join().unwrap();
    });
}

#[test]
fn a_request_without_delimiter_is_discarded_by_rep() {
    within_limit(|| {
        // A DEALER talking to a REP must add the empty delimiter itself; a
        // message without one is malformed and dropped (28/REQREP).
        let (rep, endpoint) = bound(SocketType::Rep, "inproc");
        let dealer = connected(SocketType::Dealer, &endpoint);
        dealer.send("no envelope").unwrap();
        dealer.send(["", "with envelope"].into_iter().collect::<Msg>()).unwrap();
        assert_eq!(rep.recv().unwrap(), Msg::from("with envelope"));
        rep.send("ok").unwrap();
        assert_eq!(text(&dealer.recv().unwrap()), ["", "ok"]);
    });
}

//! The proxy (`proxy`, `proxy_steerable`): a ROUTER/DEALER queue between
//! REQ clients and REP workers, a PULL/PUSH streamer with back-pressure,
//! directions a socket type cannot take, one socket proxied to itself, the
//! capture socket, the control commands (libzmq 4.3's), and a proxy with
//! libzmq peers on both sides.

#[allow(unused_imports, reason = "the proxy's interop test uses a part")]
mod interop;
mod util;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use dhaga_mq::{Error, Interest, Msg, PollItem, Socket, SocketType, poll, proxy, proxy_steerable};
use util::{JoinWithin, PATIENCE, SocketWithin, bound, connected, text, within_limit};

/// Runs a steerable proxy on a micro-thread, with a PAIR control socket;
/// returns the proxy's handle and the other end of its control socket.
fn steered(
    frontend: Arc<Socket>,
    backend: Arc<Socket>,
    capture: Option<Arc<Socket>>,
) -> (dhaga_runtime::JoinHandle<dhaga_mq::Result<()>>, Socket) {
    let (control, endpoint) = bound(SocketType::Pair, "inproc");
    let proxy = dhaga_runtime::spawn(move || proxy_steerable(&frontend, &backend, capture.as_deref(), &control));
    (proxy, connected(SocketType::Pair, &endpoint))
}

/// Sends TERMINATE and checks that the proxy returns `Ok(())`.
#[track_caller]
fn terminate(proxy: dhaga_runtime::JoinHandle<dhaga_mq::Result<()>>, steer: &Socket) {
    steer.send_within("TERMINATE", "the TERMINATE command");
    proxy.join_within("the proxy, told to TERMINATE").unwrap().unwrap();
}

/// The eight counters of a STATISTICS reply.
#[track_caller]
fn statistics(steer: &Socket) -> [u64; 8] {
    steer.send_within("STATISTICS", "the STATISTICS command");
    let reply = steer.recv_within("the STATISTICS reply");
    assert_eq!(reply.len(), 8, "eight frames");
    std::array::from_fn(|i| u64::from_ne_bytes(reply[i][..].try_into().expect("a u64 per frame")))
}

#[test]
fn a_router_dealer_queue_serves_req_clients_and_rep_workers() {
    within_limit(|| {
        const CLIENTS: usize = 4;
        const WORKERS: usize = 3;
        const REQUESTS: usize = 200;
        let (frontend, clients_endpoint) = bound(SocketType::Router, "tcp");
        let (backend, workers_endpoint) = bound(SocketType::Dealer, "inproc");
        let (proxy, steer) = steered(Arc::new(frontend), Arc::new(backend), None);
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let endpoint = workers_endpoint.clone();
                dhaga_runtime::spawn(move || {
                    let worker = connected(SocketType::Rep, &endpoint);
                    let mut served = 0;
                    loop {
                        let request = worker.recv_within(&format!("worker {w}'s next request"));
                        let stop = request == Msg::from("stop");
                        let mut reply = request;
                        reply.push_back(format!("worker {w}"));
                        worker.send_within(reply, &format!("worker {w}'s reply"));
                        if stop {
                            return served;
                        }
                        served += 1;
                    }
                })
            })
            .collect();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let endpoint = clients_endpoint.clone();
                dhaga_runtime::spawn(move || {
                    let client = connected(SocketType::Req, &endpoint);
                    for i in 0..REQUESTS {
                        let request: Msg = [format!("client {c}"), format!("{i}")].into_iter().collect();
                        client.send_within(request, &format!("client {c}'s request {i}"));
                        let reply = text(&client.recv_within(&format!("the reply to client {c}'s request {i}")));
                        assert_eq!(reply[..2], [format!("client {c}"), format!("{i}")]);
                        assert!(reply[2].starts_with("worker "));
                    }
                })
            })
            .collect();
        for (c, client) in clients.into_iter().enumerate() {
            client.join_within(&format!("client {c}")).unwrap();
        }
        // The DEALER deals one request to each worker in turn.
        let client = connected(SocketType::Req, &clients_endpoint);
        for w in 0..WORKERS {
            client.send_within("stop", &format!("stop {w}"));
            client.recv_within(&format!("the reply to stop {w}"));
        }
        let served: usize = workers
            .into_iter()
            .enumerate()
            .map(|(w, worker)| worker.join_within(&format!("worker {w}")).unwrap())
            .sum();
        assert_eq!(served, CLIENTS * REQUESTS);
        terminate(proxy, &steer);
    });
}

#[test]
fn a_streamer_moves_every_message_whole_and_in_order() {
    within_limit(|| {
        for transport in util::TRANSPORTS {
            let (frontend, in_endpoint) = bound(SocketType::Pull, transport);
            let (backend, out_endpoint) = bound(SocketType::Push, transport);
            frontend.set_recv_hwm(8);
            backend.set_send_hwm(8);
            // `proxy` runs as long as its sockets do: this one outlives the test.
            drop(dhaga_runtime::spawn(move || proxy(&frontend, &backend, None)));
            let sink = connected(SocketType::Pull, &out_endpoint);
            sink.set_recv_hwm(8);
            let source = connected(SocketType::Push, &in_endpoint);
            let sender = dhaga_runtime::spawn(move || {
                for i in 0..5000 {
                    let msg: Msg = [Bytes::from(format!("{i}")), Bytes::new(), Bytes::from(vec![7; i % 300])]
                        .into_iter()
                        .collect();
                    source.send_within(msg, &format!("{transport}: message {i}"));
                }
            });
            for i in 0..5000 {
                let msg = sink.recv_within(&format!("{transport}: message {i}, through the proxy"));
                assert_eq!(msg.len(), 3, "{transport}: message {i} whole");
                assert_eq!(msg[0], Bytes::from(format!("{i}")), "{transport}: in order");
                assert!(msg[1].is_empty() && msg[2].len() == i % 300);
            }
            sender.join_within(&format!("{transport}: the sender")).unwrap();
        }
    });
}

#[test]
fn a_full_destination_holds_the_source_back() {
    within_limit(|| {
        let (frontend, in_endpoint) = bound(SocketType::Pull, "inproc");
        let (backend, out_endpoint) = bound(SocketType::Push, "inproc");
        frontend.set_recv_hwm(2);
        backend.set_send_hwm(2);
        let (proxy, steer) = steered(Arc::new(frontend), Arc::new(backend), None);
        let sink = util::socket(SocketType::Pull);
        sink.set_recv_hwm(2);
        sink.connect(&out_endpoint).unwrap();
        let source = util::socket(SocketType::Push);
        source.set_send_hwm(2);
        source.connect(&in_endpoint).unwrap();
        // Nobody reads the sink: the sends stop after the few messages the
        // queues on the way hold, instead of piling up in the proxy. (A send
        // that finds no room for 200 ms counts as stopped: a measurement,
        // not an ordering.)
        source.set_send_timeout(Some(Duration::from_millis(200)));
        let mut sent = 0;
        while sent < 10_000 && source.send(format!("{sent}")).is_ok() {
            sent += 1;
        }
        assert!(
            sent < 100,
            "{sent} messages went into a proxy whose output nobody reads"
        );
        for i in 0..sent {
            assert_eq!(text(&sink.recv_within(&format!("message {i}"))), [i.to_string()]);
        }
        // And it flows again.
        source.set_send_timeout(Some(PATIENCE));
        source.send_within("again", "the message once the sink reads");
        assert_eq!(text(&sink.recv_within("the message once the sink reads")), ["again"]);
        terminate(proxy, &steer);
    });
}

#[test]
fn a_push_frontend_forwards_only_from_the_backend() {
    within_limit(|| {
        let (frontend, front_endpoint) = bound(SocketType::Push, "inproc");
        let (backend, back_endpoint) = bound(SocketType::Pull, "tcp");
        let (proxy, steer) = steered(Arc::new(frontend), Arc::new(backend), None);
        let sink = connected(SocketType::Pull, &front_endpoint);
        let source = connected(SocketType::Push, &back_endpoint);
        for i in 0..100 {
            source.send_within(format!("{i}"), &format!("message {i}"));
        }
        for i in 0..100 {
            assert_eq!(
                text(&sink.recv_within(&format!("message {i}, from the backend"))),
                [i.to_string()]
            );
        }
        let [f_in, _, f_out, _, b_in, _, b_out, _] = statistics(&steer);
        assert_eq!((f_in, f_out, b_in, b_out), (0, 100, 100, 0));
        terminate(proxy, &steer);
    });
}

#[test]
fn one_socket_proxied_to_itself_returns_messages_to_their_senders() {
    within_limit(|| {
        let (router, endpoint) = bound(SocketType::Router, "tcp");
        let router = Arc::new(router);
        let (proxy, steer) = steered(Arc::clone(&router), router, None);
        let dealers: Vec<_> = (0..3).map(|_| connected(SocketType::Dealer, &endpoint)).collect();
        for round in 0..50 {
            for (d, dealer) in dealers.iter().enumerate() {
                dealer.send_within(format!("{d}.{round}"), &format!("dealer {d}'s message {round}"));
            }
            for (d, dealer) in dealers.iter().enumerate() {
                assert_eq!(
                    text(&dealer.recv_within(&format!("dealer {d}'s message {round}, returned"))),
                    [format!("{d}.{round}")]
                );
            }
        }
        terminate(proxy, &steer);
    });
}

#[test]
fn a_capture_socket_gets_a_copy_of_every_message_both_ways() {
    within_limit(|| {
        let (frontend, clients_endpoint) = bound(SocketType::Router, "inproc");
        let (backend, workers_endpoint) = bound(SocketType::Dealer, "inproc");
        let (capture, capture_endpoint) = bound(SocketType::Push, "inproc");
        let tap = connected(SocketType::Pull, &capture_endpoint);
        let (proxy, steer) = steered(Arc::new(frontend), Arc::new(backend), Some(Arc::new(capture)));
        let worker = connected(SocketType::Rep, &workers_endpoint);
        let client = connected(SocketType::Req, &clients_endpoint);
        for i in 0..20 {
            client.send_within(format!("request {i}"), &format!("request {i}"));
            let request = worker.recv_within(&format!("request {i}"));
            worker.send_within(
                format!("reply to {}", text(&request).concat()),
                &format!("the reply to request {i}"),
            );
            assert_eq!(
                text(&client.recv_within(&format!("the reply to request {i}"))),
                [format!("reply to request {i}")]
            );
            // As the proxy saw them: the ROUTER's routing id, the REQ's
            // delimiter, the body.
            for body in [format!("request {i}"), format!("reply to request {i}")] {
                let copy = text(&tap.recv_within(&format!("the copy of {body:?}")));
                assert_eq!(copy.len(), 3, "{copy:?}");
                assert_eq!(copy[1..], [String::new(), body]);
            }
        }
        terminate(proxy, &steer);
        // Commands are copied too.
        assert_eq!(text(&tap.recv_within("the copy of TERMINATE")), ["TERMINATE"]);
    });
}

#[test]
fn a_capture_socket_with_no_room_does_not_hold_the_proxy_up() {
    within_limit(|| {
        let (frontend, in_endpoint) = bound(SocketType::Pull, "inproc");
        let (backend, out_endpoint) = bound(SocketType::Push, "inproc");
        // Bound, never connected: no room at all.
        let (capture, _) = bound(SocketType::Push, "inproc");
        let (proxy, steer) = steered(Arc::new(frontend), Arc::new(backend), Some(Arc::new(capture)));
        let sink = connected(SocketType::Pull, &out_endpoint);
        let source = connected(SocketType::Push, &in_endpoint);
        for i in 0..3000 {
            source.send_within(format!("{i}"), &format!("message {i}"));
            assert_eq!(
                text(&sink.recv_within(&format!("message {i}, through the proxy"))),
                [i.to_string()]
            );
        }
        terminate(proxy, &steer);
    });
}

#[test]
fn a_steerable_proxy_pauses_resumes_counts_and_terminates() {
    within_limit(|| {
        let (frontend, in_endpoint) = bound(SocketType::Pull, "inproc");
        let (backend, out_endpoint) = bound(SocketType::Push, "inproc");
        let frontend = Arc::new(frontend);
        let (proxy, steer) = steered(Arc::clone(&frontend), Arc::new(backend), None);
        let sink = connected(SocketType::Pull, &out_endpoint);
        let source = connected(SocketType::Push, &in_endpoint);

        source.send_within(["abc", "defgh"].into_iter().collect::<Msg>(), "the first message");
        source.send_within("xy", "the second message");
        assert_eq!(text(&sink.recv_within("the first message")), ["abc", "defgh"]);
        assert_eq!(text(&sink.recv_within("the second message")), ["xy"]);
        // As libzmq 4.3 counts: a multipart message is one message, with
        // the bytes of all its frames.
        assert_eq!(statistics(&steer), [2, 10, 0, 0, 0, 0, 2, 10]);

        steer.send_within("PAUSE", "the PAUSE command");
        // Commands are handled in order: once this is answered, the proxy
        // is paused.
        assert_eq!(statistics(&steer), [2, 10, 0, 0, 0, 0, 2, 10]);
        for i in 0..5 {
            source.send_within(format!("{i}"), &format!("message {i}, while paused"));
        }
        // The messages reach the frontend and stay there.
        let mut items = [PollItem::new(&frontend, Interest::READABLE)];
        assert_eq!(
            poll(&mut items, Some(PATIENCE)).unwrap(),
            1,
            "waited {PATIENCE:?} for the messages to reach the paused proxy's frontend"
        );
        assert_eq!(statistics(&steer), [2, 10, 0, 0, 0, 0, 2, 10]);
        assert!(matches!(sink.try_recv(), Err(Error::WouldBlock)));

        steer.send_within("RESUME", "the RESUME command");
        for i in 0..5 {
            assert_eq!(
                text(&sink.recv_within(&format!("message {i}, once resumed"))),
                [i.to_string()]
            );
        }
        assert_eq!(statistics(&steer), [7, 15, 0, 0, 0, 0, 7, 15]);

        terminate(proxy, &steer);
        // The sockets are left as they were, ready for other use.
        source.send_within("after", "the message after the proxy");
        assert_eq!(text(&frontend.recv_within("the message after the proxy")), ["after"]);
    });
}

#[test]
fn a_rep_control_socket_gets_a_reply_to_every_command() {
    within_limit(|| {
        let (frontend, _) = bound(SocketType::Pull, "inproc");
        let (backend, _) = bound(SocketType::Push, "inproc");
        let (control, control_endpoint) = bound(SocketType::Rep, "inproc");
        let proxy = dhaga_runtime::spawn(move || proxy_steerable(&frontend, &backend, None, &control));
        let steer = connected(SocketType::Req, &control_endpoint);
        for command in ["PAUSE", "RESUME", "STATISTICS", "PAUSE", "TERMINATE"] {
            steer.send_within(command, &format!("the command {command}"));
            let reply = steer.recv_within(&format!("the reply to {command}"));
            if command == "STATISTICS" {
                assert_eq!(reply.len(), 8);
            } else {
                assert_eq!(text(&reply), [""], "{command}");
            }
        }
        proxy.join_within("the proxy, told to TERMINATE").unwrap().unwrap();
    });
}

#[test]
fn a_command_that_is_not_one_stops_the_proxy_with_an_error() {
    within_limit(|| {
        let bad: [Msg; 3] = [
            Msg::from("HELLO"),
            Msg::from("pause"),
            ["PAUSE", "now"].into_iter().collect(),
        ];
        for command in bad {
            let (frontend, _) = bound(SocketType::Pull, "inproc");
            let (backend, _) = bound(SocketType::Push, "inproc");
            let (proxy, steer) = steered(Arc::new(frontend), Arc::new(backend), None);
            steer.send_within(command.clone(), &format!("the command {command:?}"));
            let result = proxy.join_within(&format!("the proxy, sent {command:?}")).unwrap();
            assert!(
                matches!(result, Err(Error::InvalidArgument(_))),
                "{command:?}: {result:?}"
            );
        }
    });
}

#[test]
fn a_proxy_between_libzmq_peers() {
    within_limit(|| {
        const TIMEOUT_MS: i32 = interop::TIMEOUT.as_millis() as i32;
        let ctx = zmq::Context::new();
        let libzmq = |kind| {
            let socket = ctx.socket(kind).unwrap();
            socket.set_rcvtimeo(TIMEOUT_MS).unwrap();
            socket.set_sndtimeo(TIMEOUT_MS).unwrap();
            socket.set_linger(0).unwrap();
            socket
        };
        let (frontend, clients_endpoint) = bound(SocketType::Router, "tcp");
        let (backend, workers_endpoint) = bound(SocketType::Dealer, "tcp");
        // Steered by a libzmq PAIR over tcp.
        let (control, control_endpoint) = bound(SocketType::Pair, "tcp");
        let proxy = dhaga_runtime::spawn(move || proxy_steerable(&frontend, &backend, None, &control));

        let payloads = interop::payloads();
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let worker = libzmq(zmq::REP);
                worker.connect(&workers_endpoint).unwrap();
                thread::spawn(move || {
                    // Echoes until told to stop.
                    loop {
                        let request = worker.recv_multipart(0).expect("libzmq worker recv");
                        worker
                            .send_multipart(request.iter().map(|f| &f[..]), 0)
                            .expect("libzmq worker send");
                        if request == [b"stop".to_vec()] {
                            return;
                        }
                    }
                })
            })
            .collect();
        let clients: Vec<_> = (0..2)
            .map(|c| {
                let client = libzmq(zmq::REQ);
                client.connect(&clients_endpoint).unwrap();
                let payloads = payloads.clone();
                thread::spawn(move || {
                    for round in 0..10 {
                        for payload in &payloads {
                            let mut request = vec![format!("{c}.{round}").into_bytes()];
                            request.extend(payload.iter().map(|f| f.to_vec()));
                            client
                                .send_multipart(request.iter().map(|f| &f[..]), 0)
                                .expect("libzmq client send");
                            let reply = client.recv_multipart(0).expect("libzmq client recv");
                            assert!(reply == request, "client {c} round {round}: the echo differs");
                        }
                    }
                    client
                })
            })
            .collect();
        let clients: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(c, client)| client.join_within(&format!("libzmq client {c}")).unwrap())
            .collect();
        for w in 0..2 {
            clients[0].send("stop", 0).expect("libzmq client send stop");
            clients[0]
                .recv_multipart(0)
                .unwrap_or_else(|e| panic!("libzmq client receiving the reply to stop {w}: {e}"));
        }
        for (w, worker) in workers.into_iter().enumerate() {
            worker.join_within(&format!("libzmq worker {w}")).unwrap();
        }

        let steer = libzmq(zmq::PAIR);
        steer.connect(&control_endpoint).unwrap();
        steer.send("STATISTICS", 0).expect("libzmq steer send STATISTICS");
        let stats: Vec<u64> = steer
            .recv_multipart(0)
            .unwrap_or_else(|e| panic!("libzmq steer receiving the STATISTICS reply: {e}"))
            .iter()
            .map(|f| u64::from_ne_bytes(f[..].try_into().unwrap()))
            .collect();
        let exchanges = 2 * 10 * payloads.len() as u64 + 2;
        // Requests in at the frontend and out at the backend, replies back.
        assert_eq!([stats[0], stats[2], stats[4], stats[6]], [exchanges; 4]);
        steer.send("TERMINATE", 0).expect("libzmq steer send TERMINATE");
        proxy.join_within("the proxy, told to TERMINATE").unwrap().unwrap();
    });
}

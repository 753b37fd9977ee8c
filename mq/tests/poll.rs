//! The poller (`Poller`, `poll`): each socket's readiness, timeouts,
//! wake-ups sent from OS threads and from micro-threads to pollers on
//! either, room appearing, REQ and REP turns, and no wake-up lost to a
//! blocking `recv` waiting on the same socket.

mod util;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use dhaga_mq::{Error, Interest, Msg, PollItem, Poller, Socket, SocketType, poll};
use dhaga_runtime::sync::bounded;
use dhaga_testutil::{CTX_PAIRS, CTXS, start_default};
use util::{JoinWithin, PATIENCE, RecvWithin, SocketWithin, bound, connected, text, within_limit};

const BOTH: Interest = Interest::READABLE.add(Interest::WRITABLE);

/// Polls `socket` alone for `interest`, failing the test if it is not
/// ready within [`PATIENCE`].
#[track_caller]
fn wait_for(socket: &Socket, interest: Interest) {
    let mut items = [PollItem::new(socket, interest)];
    let started = Instant::now();
    assert_eq!(poll(&mut items, Some(PATIENCE)).unwrap(), 1, "{interest:?} never came");
    // Seen at the deadline only: no notification woke the poll.
    assert!(started.elapsed() < PATIENCE, "{interest:?} came without a wake-up");
}

#[test]
fn each_socket_reports_its_own_readiness() {
    within_limit(|| {
        let (pull, endpoint) = bound(SocketType::Pull, "inproc");
        let push = connected(SocketType::Push, &endpoint);
        let (idle, _) = bound(SocketType::Pull, "inproc");
        let (rep, rep_endpoint) = bound(SocketType::Rep, "inproc");
        let req = connected(SocketType::Req, &rep_endpoint);
        push.send_within("waiting", "the message for the PULL");
        wait_for(&pull, Interest::READABLE);

        let mut poller = Poller::new();
        let [p_pull, p_idle, p_push, p_req, p_rep] = [&pull, &idle, &push, &req, &rep].map(|s| poller.add(s, BOTH));
        assert_eq!(poller.poll(Some(Duration::ZERO)).unwrap(), 3);
        let found = |i| {
            let r = poller.readiness(i);
            (r.is_readable(), r.is_writable())
        };
        assert_eq!(found(p_pull), (true, false), "a PULL with a message");
        assert_eq!(found(p_idle), (false, false), "a PULL with none");
        assert_eq!(found(p_push), (false, true), "a PUSH with a peer");
        assert_eq!(found(p_req), (false, true), "a REQ sends first");
        assert_eq!(found(p_rep), (false, false), "a REP with no request");

        // Only what is asked for is reported.
        poller.set_interest(p_pull, Interest::WRITABLE);
        poller.set_interest(p_push, Interest::READABLE);
        assert_eq!(poller.poll(Some(Duration::ZERO)).unwrap(), 1);
        assert!(poller.readiness(p_pull).is_empty() && poller.readiness(p_push).is_empty());
        assert!(poller.readiness(p_req).is_writable());
    });
}

#[test]
fn req_and_rep_readiness_follows_their_turns() {
    within_limit(|| {
        let (rep, endpoint) = bound(SocketType::Rep, "tcp");
        let req = connected(SocketType::Req, &endpoint);
        let mut poller = Poller::new();
        let [p_req, p_rep] = [&req, &rep].map(|s| poller.add(s, BOTH));
        let found = |poller: &mut Poller<'_>, i| {
            poller.poll(Some(Duration::ZERO)).unwrap();
            let r = poller.readiness(i);
            (r.is_readable(), r.is_writable())
        };
        for round in 0..3 {
            assert_eq!(found(&mut poller, p_req), (false, true), "round {round}");
            req.send_within(format!("request {round}"), &format!("request {round}"));
            assert_eq!(found(&mut poller, p_req), (false, false), "a REQ waiting for its reply");
            wait_for(&rep, Interest::READABLE);
            assert_eq!(found(&mut poller, p_rep), (true, false));
            assert_eq!(
                text(&rep.recv_within(&format!("request {round}"))),
                [format!("request {round}")]
            );
            assert_eq!(found(&mut poller, p_rep), (false, true), "a REP owing a reply");
            rep.send_within(format!("reply {round}"), &format!("reply {round}"));
            assert_eq!(found(&mut poller, p_rep), (false, false));
            wait_for(&req, Interest::READABLE);
            assert_eq!(found(&mut poller, p_req), (true, false));
            assert_eq!(
                text(&req.recv_within(&format!("reply {round}"))),
                [format!("reply {round}")]
            );
        }
    });
}

#[test]
fn a_poll_that_times_out_returns_zero() {
    within_limit(|| {
        for ctx in CTXS {
            start_default(ctx, move || {
                let (pull, _) = bound(SocketType::Pull, "inproc");
                let (pull2, _) = bound(SocketType::Pull, "tcp");
                let mut items = [PollItem::new(&pull, Interest::READABLE), PollItem::new(&pull2, BOTH)];
                assert_eq!(poll(&mut items, Some(Duration::ZERO)).unwrap(), 0, "{ctx:?}");
                let timeout = Duration::from_millis(30);
                let started = Instant::now();
                assert_eq!(poll(&mut items, Some(timeout)).unwrap(), 0, "{ctx:?}");
                assert!(started.elapsed() >= timeout, "{ctx:?}: returned early");
                assert!(items.iter().all(|item| item.readiness().is_empty()));
            })
            .join_within(&format!("{ctx:?}: the polls"));
        }
    });
}

#[test]
fn a_poll_with_nothing_to_wait_for_fails_instead_of_hanging() {
    within_limit(|| {
        assert!(matches!(Poller::new().poll(None), Err(Error::InvalidArgument(_))));
        let (pull, _) = bound(SocketType::Pull, "inproc");
        let mut poller = Poller::new();
        poller.add(&pull, Interest::NONE);
        assert!(matches!(poller.poll(None), Err(Error::InvalidArgument(_))));
        // With a timeout it is a sleep.
        assert_eq!(poller.poll(Some(Duration::from_millis(1))).unwrap(), 0);
    });
}

#[test]
fn a_message_sent_from_a_thread_or_micro_thread_wakes_the_poll() {
    within_limit(|| {
        for (poller_ctx, sender_ctx) in CTX_PAIRS {
            let what = format!("poller on {poller_ctx:?}, sender on {sender_ctx:?}");
            let (a, a_endpoint) = bound(SocketType::Pull, "tcp");
            let (b, b_endpoint) = bound(SocketType::Pull, "inproc");
            let (go, went) = bounded::<usize>(1);
            let sender = start_default(sender_ctx, move || {
                let pushes = [
                    connected(SocketType::Push, &a_endpoint),
                    connected(SocketType::Push, &b_endpoint),
                ];
                // Each round the poller says which socket to send to just
                // before it polls, so most sends find it parked. (The poller
                // ends the loop by ending; its polls are bounded.)
                while let Ok(round) = went.recv() {
                    pushes[round % 2].send_within(format!("{round}"), &format!("round {round}'s message"));
                }
            });
            let poller = start_default(poller_ctx, move || {
                let mut poller = Poller::new();
                let sockets = [poller.add(&a, Interest::READABLE), poller.add(&b, Interest::READABLE)];
                for round in 0..200 {
                    go.send(round).unwrap();
                    let started = Instant::now();
                    assert_eq!(poller.poll(Some(PATIENCE)).unwrap(), 1, "round {round}");
                    assert!(started.elapsed() < PATIENCE, "round {round}: no wake-up");
                    let (ready, idle) = (sockets[round % 2], sockets[1 - round % 2]);
                    assert!(poller.readiness(ready).is_readable(), "round {round}");
                    assert!(poller.readiness(idle).is_empty(), "round {round}");
                    let socket = [&a, &b][round % 2];
                    assert_eq!(text(&socket.try_recv().unwrap()), [round.to_string()]);
                }
            });
            poller.join_within(&format!("{what}: the poller"));
            sender.join_within(&format!("{what}: the sender"));
            eprintln!("ok: {what}");
        }
    });
}

#[test]
fn room_appearing_wakes_a_poll_for_writable() {
    within_limit(|| {
        for ctx in CTXS {
            let endpoint = util::endpoint("ipc");
            // Messages for a peer that is not there yet wait in its queue,
            // until the high-water mark.
            let push = util::socket(SocketType::Push);
            push.set_send_hwm(4);
            push.set_reconnect_ivl(Duration::from_millis(10));
            push.connect(&endpoint).unwrap();
            for i in 0..4 {
                push.try_send(format!("{i}")).unwrap();
            }
            assert!(matches!(push.try_send("full").unwrap_err().error(), Error::WouldBlock));
            let mut poller = Poller::new();
            let index = poller.add(&push, Interest::WRITABLE);
            assert_eq!(poller.poll(Some(Duration::ZERO)).unwrap(), 0);

            let (go, went) = bounded::<()>(1);
            let peer = start_default(ctx, move || {
                went.recv_within("the go to bind");
                let pull = util::socket(SocketType::Pull);
                pull.bind(&endpoint).unwrap();
                let got: Vec<_> = (0..4)
                    .map(|i| text(&pull.recv_within(&format!("queued message {i}"))).concat())
                    .collect();
                assert_eq!(got, ["0", "1", "2", "3"]);
            });
            go.send(()).unwrap();
            assert_eq!(poller.poll(Some(PATIENCE)).unwrap(), 1, "{ctx:?}: room never appeared");
            assert!(poller.readiness(index).is_writable());
            peer.join_within(&format!("{ctx:?}: the peer"));
        }
    });
}

#[test]
fn req_and_rep_turns_taken_on_other_threads_wake_pollers() {
    within_limit(|| {
        for ctx in CTXS {
            let (rep, endpoint) = bound(SocketType::Rep, "inproc");
            let req = connected(SocketType::Req, &endpoint);
            let (rep, req) = (Arc::new(rep), Arc::new(req));
            // The helper takes the turns the poll waits for; it is told to
            // just before the poll starts, so the poll is usually parked by
            // then.
            let (go, went) = bounded::<Option<Msg>>(1);
            let helper = {
                let (rep, req) = (Arc::clone(&rep), Arc::clone(&req));
                // Ends when the test drops `go`.
                start_default(ctx, move || {
                    while let Ok(step) = went.recv() {
                        match step {
                            None => drop(req.recv_within("the REQ's reply, for the helper")),
                            Some(reply) => rep.send_within(reply, "the REP's reply, from the helper"),
                        }
                    }
                })
            };
            let client = connected(SocketType::Req, &endpoint);
            for round in 0..50 {
                // A REQ is writable again once its reply is received.
                req.send_within(format!("{round}"), &format!("round {round}: the request"));
                let request = rep.recv_within(&format!("round {round}: the request"));
                rep.send_within(request, &format!("round {round}: the reply"));
                wait_for(&req, Interest::READABLE);
                go.send(None).unwrap();
                wait_for(&req, Interest::WRITABLE);

                // A REP is readable again once it has replied, if another
                // request waits.
                client.send_within("other", &format!("round {round}: the other client's request"));
                wait_for(&rep, Interest::READABLE);
                let first = rep.recv_within(&format!("round {round}: the first of two requests"));
                req.send_within("more", &format!("round {round}: the second request"));
                go.send(Some(first)).unwrap();
                wait_for(&rep, Interest::READABLE);
                let second = rep.recv_within(&format!("round {round}: the second of two requests"));
                rep.send_within(second, &format!("round {round}: the reply to the second"));
                client.recv_within(&format!("round {round}: the other client's reply"));
                req.recv_within(&format!("round {round}: the reply to the second request"));
            }
            drop(go);
            helper.join_within(&format!("{ctx:?}: the helper"));
        }
    });
}

#[test]
fn a_poller_takes_no_wake_up_from_a_blocking_recv_on_the_same_socket() {
    within_limit(|| {
        for (poller_ctx, receiver_ctx) in CTX_PAIRS {
            let (pull, endpoint) = bound(SocketType::Pull, "inproc");
            let (stop, stop_endpoint) = bound(SocketType::Pull, "inproc");
            let pull = Arc::new(pull);
            let (got, gotten) = bounded::<Msg>(1);
            // A blocking `recv` and a poller wait on the same socket; each
            // message wakes the `recv` (with its receive timeout, a wake-up
            // lost to the poller would fail the test).
            let receiver = {
                let pull = Arc::clone(&pull);
                start_default(receiver_ctx, move || {
                    for i in 0..500 {
                        got.send(pull.recv_within(&format!("message {i}"))).unwrap();
                    }
                })
            };
            let poller = {
                let pull = Arc::clone(&pull);
                start_default(poller_ctx, move || {
                    let mut poller = Poller::new();
                    poller.add(&pull, Interest::READABLE);
                    let stopped = poller.add(&stop, Interest::READABLE);
                    let mut wakes = 0;
                    loop {
                        assert!(
                            poller.poll(Some(PATIENCE)).unwrap() > 0,
                            "waited {PATIENCE:?} for a message or the stop"
                        );
                        if poller.readiness(stopped).is_readable() {
                            return wakes;
                        }
                        wakes += 1;
                        // Only looks: the message is the receiver's. Let
                        // the receiver take it before looking again.
                        if dhaga_runtime::in_micro_thread() {
                            dhaga_runtime::yield_now();
                        } else {
                            thread::yield_now();
                        }
                    }
                })
            };
            let push = connected(SocketType::Push, &endpoint);
            for i in 0..500 {
                push.send_within(format!("{i}"), &format!("message {i}"));
                assert_eq!(
                    text(&gotten.recv_within(&format!("message {i}, from the receiver"))),
                    [i.to_string()]
                );
            }
            receiver.join_within("the receiver");
            connected(SocketType::Push, &stop_endpoint).send_within("stop", "the stop");
            let wakes = poller.join_within("the poller, told to stop");
            eprintln!("{poller_ctx:?}/{receiver_ctx:?}: the poller saw {wakes} messages before the receiver took them");
        }
    });
}

#[test]
fn many_rounds_of_polling_from_micro_threads() {
    within_limit(|| {
        const SOURCES: usize = 4;
        const EACH: usize = 2000;
        let mut sinks = Vec::new();
        let mut pushers = Vec::new();
        for s in 0..SOURCES {
            let (pull, endpoint) = bound(SocketType::Pull, if s % 2 == 0 { "tcp" } else { "inproc" });
            pull.set_recv_hwm(16);
            sinks.push(pull);
            pushers.push(dhaga_runtime::spawn(move || {
                let push = connected(SocketType::Push, &endpoint);
                push.set_send_hwm(8);
                for i in 0..EACH {
                    push.send_within(format!("{i}"), &format!("source {s}'s message {i}"));
                }
            }));
        }
        let counts = dhaga_runtime::spawn(move || {
            let mut poller = Poller::new();
            for sink in &sinks {
                poller.add(sink, Interest::READABLE);
            }
            let mut next = [0; SOURCES];
            let mut polls = 0;
            while next.iter().sum::<usize>() < SOURCES * EACH {
                assert!(
                    poller.poll(Some(PATIENCE)).unwrap() > 0,
                    "waited {PATIENCE:?} for more messages after {next:?}"
                );
                polls += 1;
                for (s, sink) in sinks.iter().enumerate() {
                    if !poller.readiness(s).is_readable() {
                        continue;
                    }
                    while let Ok(msg) = sink.try_recv() {
                        assert_eq!(text(&msg), [next[s].to_string()], "source {s} in order");
                        next[s] += 1;
                    }
                }
            }
            polls
        })
        .join_within("the polling micro-thread")
        .unwrap();
        for (s, pusher) in pushers.into_iter().enumerate() {
            pusher.join_within(&format!("source {s}'s pusher")).unwrap();
        }
        assert!(counts > 0);
    });
}

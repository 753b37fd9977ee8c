//! Ending a context: `Context::shutdown` wakes every blocked call of its
//! sockets with `Error::Terminated` and fails every later one, and
//! `Context::term` also waits until the sockets are closed and have
//! delivered what they queued (libzmq's `zmq_ctx_shutdown` and
//! `zmq_ctx_term`).

mod util;

use std::time::Duration;

use dhaga_mq::{Context, Error, Interest, Msg, PollItem, Socket, SocketType, poll};
use dhaga_runtime::Runtime;
use dhaga_testutil::{CTXS, RecvWithin, Task, child_role, describe, run_child, start};
use util::{SocketWithin, with_timeouts, within_limit};

fn runtime() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

#[test]
fn shutdown_wakes_blocked_receivers_senders_and_pollers() {
    within_limit(|| {
        let rt = runtime();
        for ctx in CTXS {
            let context = Context::new();
            // Nothing will ever arrive, and a PUSH with no peer (nothing
            // connected) has nowhere to put a message.
            let pull = context.socket(SocketType::Pull);
            pull.bind("inproc://never-fed").unwrap();
            let push = context.socket(SocketType::Push);
            let poller = context.socket(SocketType::Pull);
            poller.bind("inproc://never-polled").unwrap();

            let receiver = start(&rt, ctx, move || pull.recv());
            let sender = start(&rt, ctx, move || terminated(push.send("stuck")));
            let polling = start(&rt, ctx, move || {
                let mut items = [PollItem::new(&poller, Interest::READABLE)];
                let ready = poll(&mut items, None).unwrap();
                (ready, poller.recv())
            });
            receiver.wait_parked("the receiver to block in recv");
            sender.wait_parked("the sender to block in send");
            polling.wait_parked("the poller to block in poll");

            context.shutdown();
            assert!(context.is_terminated());
            assert!(
                matches!(receiver.join_within("the receiver"), Err(Error::Terminated)),
                "{ctx:?}"
            );
            assert!(
                sender.join_within("the sender"),
                "the sender woke with Error::Terminated ({ctx:?})"
            );
            let (ready, after) = polling.join_within("the poller");
            assert_eq!(ready, 1, "a poll on an ended socket returns it ready ({ctx:?})");
            assert!(matches!(after, Err(Error::Terminated)), "{ctx:?}");
        }
    });
}

#[test]
fn after_shutdown_every_call_fails_even_with_messages_queued() {
    within_limit(|| {
        let context = Context::new();
        let pull = context.socket(SocketType::Pull);
        pull.bind("inproc://queued").unwrap();
        let push = with_timeouts(context.socket(SocketType::Push));
        push.connect("inproc://queued").unwrap();
        push.send_within("waiting", "a message to queue");
        util::wait_ready(&pull, Interest::READABLE, "the message to be queued");

        context.shutdown();
        context.shutdown(); // twice: nothing more
        assert!(
            matches!(pull.recv(), Err(Error::Terminated)),
            "libzmq returns ETERM, not the message"
        );
        assert!(matches!(pull.try_recv(), Err(Error::Terminated)));
        assert!(terminated(push.send("more")));
        assert!(matches!(pull.bind("inproc://another"), Err(Error::Terminated)));
        assert!(matches!(push.connect(util::unreachable_tcp()), Err(Error::Terminated)));

        // A socket made afterwards is born ended.
        let late = context.socket(SocketType::Req);
        assert!(matches!(late.bind("tcp://127.0.0.1:*"), Err(Error::Terminated)));
        assert!(matches!(late.try_recv(), Err(Error::Terminated)));

        // Closing still works, and says so.
        pull.close();
        assert!(matches!(pull.recv(), Err(Error::Closed)));
    });
}

#[test]
fn term_waits_until_every_socket_is_closed() {
    within_limit(|| {
        let rt = runtime();
        for ctx in CTXS {
            let context = Context::new();
            let rep = context.socket(SocketType::Rep);
            rep.bind("inproc://service").unwrap();
            let (woke, woken) = dhaga_runtime::sync::bounded(1);
            let (release, released) = dhaga_runtime::sync::bounded::<()>(1);
            // A server that, once woken by the shutdown, holds its socket
            // until told to let go.
            let server = start(&rt, ctx, move || {
                let result = rep.recv();
                woke.send(matches!(result, Err(Error::Terminated))).unwrap();
                released.recv().unwrap();
                drop(rep);
            });
            server.wait_parked("the server to block in recv");

            let terminating = {
                let context = context.clone();
                start(&rt, ctx, move || context.term())
            };
            assert!(
                woken.recv_within("the server to wake"),
                "it woke with Error::Terminated ({ctx:?})"
            );
            terminating.wait_parked("term to wait for the open socket");
            assert!(
                !terminating.is_finished(),
                "term returned while a socket was open ({ctx:?})"
            );

            release.send(()).unwrap();
            server.join_within("the server to drop its socket");
            terminating.join_within("term, once the socket closed");
        }
    });
}

#[test]
fn term_waits_for_queued_messages_within_the_linger_time() {
    within_limit(|| {
        let rt = runtime();
        let port = util::unreachable_tcp();

        // Linger for ever: term waits until a peer appears and takes it.
        let context = Context::new();
        let push = with_timeouts(context.socket(SocketType::Push));
        push.connect(&port).unwrap();
        push.send_within("the last word", "a message queued for a peer to come");
        drop(push);
        let terminating = {
            let context = context.clone();
            Task::Micro(rt.spawn(move || context.term()))
        };
        terminating.wait_parked("term to wait for the queued message");
        assert!(!terminating.is_finished(), "term returned with a message undelivered");

        let pull = util::socket(SocketType::Pull);
        pull.bind(&port).unwrap();
        assert_eq!(
            pull.recv_within("the message delivered during term"),
            Msg::from("the last word")
        );
        terminating.join_within("term, once the message was delivered");

        // Linger zero: term gives up on the message at once.
        let context = Context::new();
        let push = with_timeouts(context.socket(SocketType::Push));
        push.set_linger(Some(Duration::ZERO));
        push.connect(util::unreachable_tcp()).unwrap();
        push.send_within("dropped", "a message queued for nobody");
        drop(push);
        Task::Micro(rt.spawn(move || context.term())).join_within("term with linger zero");
    });
}

#[test]
fn term_returns_at_once_with_no_sockets_and_the_authenticator_ends() {
    within_limit(|| {
        Context::new().term();
        // A ZAP handler's socket lives in the context: its micro-thread
        // ends on the shutdown and closes it, so term does not wait for it.
        let context = Context::new();
        let auth = dhaga_mq::Authenticator::with_context(&context).unwrap();
        let rt = runtime();
        let terminating = {
            let context = context.clone();
            Task::Micro(rt.spawn(move || context.term()))
        };
        terminating.join_within("term with an Authenticator's socket in the context");
        drop(auth);
    });
}

/// In a child process: the shared context is process-wide.
#[test]
fn the_shared_context_is_replaced_after_it_is_shut_down() {
    if child_role().as_deref() == Some("shared") {
        let old = Socket::new(SocketType::Pull);
        old.bind("inproc://old").unwrap();
        drop(old);
        let shared = Context::shared();
        shared.term();
        assert!(shared.is_terminated());
        assert!(!Context::shared().is_terminated(), "a new shared context");
        let fresh = Socket::new(SocketType::Pair);
        fresh.bind("inproc://old").unwrap();
        println!("fresh shared context works");
        return;
    }
    let out = run_child("the_shared_context_is_replaced_after_it_is_shut_down", "shared");
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("fresh shared context works"));
}

/// Whether a send failed with `Error::Terminated`.
fn terminated(sent: Result<(), dhaga_mq::SendError>) -> bool {
    sent.is_err_and(|e| matches!(e.error(), Error::Terminated))
}

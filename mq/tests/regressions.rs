//! Regression tests for bugs a second reader found in the socket layer,
//! each of which failed before its fix.

mod util;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dhaga_mq::{Context, Error, Msg, SocketType};
use util::{bound, connected, text, within_limit};

/// Bug 1: A micro-thread cancelled while parked in `recv` leaves its waiter in
/// `readable`; the next `notify_one` goes to it and a live receiver sleeps on.
#[test]
fn a_cancelled_receiver_does_not_swallow_the_next_wake_up() {
    within_limit(|| {
        let (pull, endpoint) = bound(SocketType::Pull, "inproc");
        let push = connected(SocketType::Push, &endpoint);
        let pull = Arc::new(pull);
        let p = Arc::clone(&pull);
        let doomed = dhaga_runtime::spawn(move || p.recv());
        dhaga_runtime::sleep(Duration::from_millis(100));
        doomed.cancel();
        assert!(doomed.join().unwrap_err().is::<dhaga_runtime::Cancelled>());
        let p = Arc::clone(&pull);
        let live = dhaga_runtime::spawn(move || p.recv());
        dhaga_runtime::sleep(Duration::from_millis(100));
        push.send("hello").unwrap();
        let got = live.join_timeout(Duration::from_secs(3));
        assert!(got.is_ok(), "the live receiver never woke although a message is queued");
    });
}

/// Bug 2: After close, `connect_loop`'s back-off wait returns at once (its
/// condition is `is_closed()`), so a socket closed with a message for an
/// unreachable peer reconnects in a tight loop, forever (default linger).
#[test]
fn a_closed_socket_lingering_for_a_dead_peer_does_not_spin() {
    within_limit(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepts = Arc::new(AtomicUsize::new(0));
        let n = Arc::clone(&accepts);
        std::thread::spawn(move || {
            // A peer that hangs up at once: every handshake fails.
            for stream in listener.incoming() {
                drop(stream);
                n.fetch_add(1, Ordering::Relaxed);
            }
        });
        let push = Context::new().socket(SocketType::Push);
        push.connect(format!("tcp://127.0.0.1:{port}")).unwrap();
        push.send("queued").unwrap();
        dhaga_runtime::sleep(Duration::from_millis(300));
        let before = accepts.load(Ordering::Relaxed);
        drop(push);
        dhaga_runtime::sleep(Duration::from_secs(1));
        let after = accepts.load(Ordering::Relaxed) - before;
        // reconnect_ivl is 100 ms: about 10 attempts a second.
        assert!(after <= 20, "{after} reconnections in one second after close");
    });
}

/// Bug 3: A ROUTER_MANDATORY send blocked on a full peer is not woken when that
/// peer goes away (`detach` notifies nobody); it waits for its timeout.
#[test]
fn a_mandatory_router_send_blocked_on_a_peer_that_leaves_returns() {
    within_limit(|| {
        let ctx = Context::new();
        let router = ctx.socket(SocketType::Router);
        router.set_router_mandatory(true);
        router.set_send_hwm(1);
        router.set_send_timeout(Some(Duration::from_secs(10)));
        router.bind("inproc://mandatory").unwrap();
        let dealer = ctx.socket(SocketType::Dealer);
        dealer.set_recv_hwm(1);
        dealer.set_routing_id("d").unwrap();
        dealer.connect("inproc://mandatory").unwrap();
        dealer.send("hi").unwrap();
        assert_eq!(text(&router.recv().unwrap()), ["d", "hi"]);
        let router = Arc::new(router);
        let r = Arc::clone(&router);
        let sender = std::thread::spawn(move || {
            for i in 0.. {
                if let Err(e) = r.send(Msg::from_iter(["d".to_owned(), format!("{i}")])) {
                    return (i, e.error().to_string(), Instant::now());
                }
            }
            unreachable!()
        });
        std::thread::sleep(Duration::from_millis(300));
        let left = Instant::now();
        drop(dealer);
        let (i, error, at) = sender.join().unwrap();
        let waited = at.duration_since(left);
        assert!(
            waited < Duration::from_secs(2),
            "send {i} waited {waited:?} for a gone peer ({error})"
        );
    });
}

/// Bug 4: REQ keeps a second (duplicate) reply queued and hands it out as the
/// reply to the next request; libzmq drops queued replies on each new request.
#[test]
fn req_does_not_take_a_stale_reply_for_the_next_request() {
    within_limit(|| {
        let (router, endpoint) = bound(SocketType::Router, "tcp");
        let req = connected(SocketType::Req, &endpoint);
        req.set_recv_timeout(Some(Duration::from_millis(500)));
        req.send("one").unwrap();
        let mut request = router.recv().unwrap();
        let id = request.pop_front().unwrap();
        for reply in ["reply 1", "reply 1 again"] {
            router
                .send(Msg::from_iter([id.clone(), Bytes::new(), Bytes::from(reply)]))
                .unwrap();
        }
        assert_eq!(text(&req.recv().unwrap()), ["reply 1"]);
        std::thread::sleep(Duration::from_millis(100));
        req.send("two").unwrap();
        // Nobody answered "two": libzmq times out here.
        match req.recv() {
            Err(Error::TimedOut) => {}
            other => panic!("REQ's reply to \"two\": {other:?}"),
        }
    });
}

/// Bug 5: `deliver` treats a vanished pipe as "wait" (`get_mut(&pipe)?`): an
/// inproc pump parked on a full pipe that is finished and then emptied
/// waits forever, holding both sockets and its messages.
#[test]
fn an_inproc_pump_ends_when_its_pipe_goes() {
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
    impl AsRef<[u8]> for Flag {
        fn as_ref(&self) -> &[u8] {
            b"tracked"
        }
    }
    within_limit(|| {
        let ctx = Context::new();
        let binder = ctx.socket(SocketType::Dealer);
        binder.set_recv_hwm(1);
        binder.bind("inproc://pump").unwrap();
        let connecter = ctx.socket(SocketType::Dealer);
        connecter.connect("inproc://pump").unwrap();
        let freed = Arc::new(AtomicBool::new(false));
        connecter.send("first").unwrap();
        connecter
            .send(Msg::from(vec![Bytes::from_owner(Flag(Arc::clone(&freed)))]))
            .unwrap();
        dhaga_runtime::sleep(Duration::from_millis(100)); // pump connecter->binder waits for room
        connecter.disconnect("inproc://pump").unwrap();
        // The other pump meets the finished pipe, ends, and finishes the binder's pipe.
        binder.send("to nobody").unwrap();
        dhaga_runtime::sleep(Duration::from_millis(100));
        // Emptying the finished pipe removes it; the waiting pump wakes to a missing pipe.
        assert_eq!(text(&binder.recv().unwrap()), ["first"]);
        dhaga_runtime::sleep(Duration::from_millis(100));
        drop(connecter);
        drop(binder);
        drop(ctx);
        dhaga_runtime::sleep(Duration::from_millis(500));
        assert!(
            freed.load(Ordering::Acquire),
            "the pump still holds the message (and both sockets)"
        );
    });
}

/// Bug 6: In thread mode the acceptor is an OS thread in poll(2), which
/// `cancel` cannot interrupt: dropping a bound socket hangs.
#[test]
fn dropping_a_bound_socket_in_thread_mode_returns() {
    within_limit(|| {
        let runtime = dhaga_runtime::Runtime::builder().thread_mode(true).build().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            runtime.block_on(|| {
                let rep = Context::new().socket(SocketType::Rep);
                rep.bind("tcp://127.0.0.1:*").unwrap();
                dhaga_runtime::sleep(Duration::from_millis(200)); // the acceptor is in poll(2) now
                drop(rep);
            });
            tx.send(()).unwrap();
        });
        assert!(
            rx.recv_timeout(Duration::from_secs(3)).is_ok(),
            "Socket::drop hangs in thread mode"
        );
    });
}

/// Bug 7: Core -> Context -> Registry.waiting -> Arc<Core>: a socket that
/// connected to an inproc name nobody bound is never freed, nor its queue,
/// nor its context (even with linger 0).
#[test]
fn a_dropped_inproc_connecter_is_freed() {
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
    impl AsRef<[u8]> for Flag {
        fn as_ref(&self) -> &[u8] {
            b"tracked"
        }
    }
    within_limit(|| {
        let freed = Arc::new(AtomicBool::new(false));
        {
            let ctx = Context::new();
            let push = ctx.socket(SocketType::Push);
            push.set_linger(Some(Duration::ZERO));
            push.connect("inproc://nobody").unwrap();
            push.send(Msg::from(vec![Bytes::from_owner(Flag(Arc::clone(&freed)))]))
                .unwrap();
        }
        dhaga_runtime::sleep(Duration::from_millis(300));
        assert!(freed.load(Ordering::Acquire), "socket, queue and context leaked");
    });
}

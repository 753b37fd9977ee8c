//! `inproc://` connections end cleanly: a pump (the micro-thread moving one
//! direction's messages) ends when its pipe goes, and a socket that
//! connected to a name nobody bound is freed when dropped, with its queue
//! and its context.

mod util;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dhaga_mq::{Context, Interest, Msg, SocketType};
use dhaga_runtime::Runtime;
use util::{SocketWithin, is_ready, text, tracked, wait_ready, wait_until, with_timeouts, within_limit};

/// `deliver` treated a vanished pipe as "wait" (`get_mut(&pipe)?`): an
/// inproc pump parked on a full pipe that was finished and then emptied
/// waited forever, holding both sockets and its messages (bug 5 of the
/// seven a second reader found).
#[test]
fn a_pump_waiting_for_room_ends_when_its_pipe_goes() {
    within_limit(|| {
        // One worker, on which the test runs too: a micro-thread runs until
        // it parks, so whenever the test has waited for something, the pumps
        // have gone as far as they can.
        let runtime = Runtime::builder().workers(1).build().unwrap();
        runtime.block_on(|| {
            let ctx = Context::new();
            let binder = with_timeouts(ctx.socket(SocketType::Dealer));
            binder.set_recv_hwm(1);
            binder.bind("inproc://pump").unwrap();
            let connecter = with_timeouts(ctx.socket(SocketType::Dealer));
            connecter.connect("inproc://pump").unwrap();
            let freed = Arc::new(AtomicBool::new(false));
            connecter.send_within("first", "the first message");
            connecter.send_within(Msg::from(vec![tracked(&freed, b"tracked")]), "the tracked message");
            // The pump connecter->binder took both, delivered "first", which
            // fills the binder's queue, and waits for room with the tracked
            // message in hand.
            wait_ready(&binder, Interest::READABLE, "the first message in the binder's queue");
            connecter.disconnect("inproc://pump").unwrap();
            // The other pump meets the finished pipe, ends, and finishes the
            // binder's pipe, which then takes no more messages.
            binder.send_within("to nobody", "a message for the disconnected peer");
            wait_until("the binder's pipe to be finished", || {
                !is_ready(&binder, Interest::WRITABLE)
            });
            // Emptying the finished pipe removes it; the waiting pump wakes
            // to a missing pipe.
            assert_eq!(text(&binder.recv_within("the first message")), ["first"]);
            // Lets it take that look before the sockets close (closing would
            // end it anyway): on one worker, yielding runs the micro-thread
            // just woken first. An order, not a wait.
            dhaga_runtime::yield_now();
            drop(connecter);
            drop(binder);
            drop(ctx);
            wait_until("the pump to let go of the tracked message (and both sockets)", || {
                freed.load(Ordering::Acquire)
            });
        });
    });
}

/// Linger bounds an inproc connection as it bounds a tcp one: a closed
/// sender's pump that waits for room at a receiver that does not read gives
/// up at the linger deadline, dropping what it holds, instead of
/// delivering it whenever the receiver reads again.
#[test]
fn linger_bounds_a_pump_waiting_for_room() {
    within_limit(|| {
        let ctx = Context::new();
        let pull = with_timeouts(ctx.socket(SocketType::Pull));
        pull.set_recv_hwm(1);
        pull.bind("inproc://linger-pump").unwrap();
        let push = with_timeouts(ctx.socket(SocketType::Push));
        push.set_send_hwm(1);
        push.set_linger(Some(Duration::ZERO));
        push.connect("inproc://linger-pump").unwrap();
        let freed = Arc::new(AtomicBool::new(false));
        push.send_within("first", "the first message");
        // The pump delivers "first", which fills the PULL's queue, then
        // takes the tracked message and waits for room with it in hand.
        wait_ready(&pull, Interest::READABLE, "the first message in the PULL's queue");
        push.send_within(Msg::from(vec![tracked(&freed, b"tracked")]), "the tracked message");
        wait_until("the pump to take the tracked message", || {
            is_ready(&push, Interest::WRITABLE)
        });
        // No linger: the pump gives up at once and lets go of the message.
        push.close();
        wait_until("the pump to drop the tracked message at the linger deadline", || {
            freed.load(Ordering::Acquire)
        });
        assert_eq!(text(&pull.recv_within("the first message")), ["first"]);
        assert!(
            matches!(pull.try_recv(), Err(dhaga_mq::Error::WouldBlock)),
            "nothing after the linger deadline"
        );
    });
}

/// Core -> Context -> Registry.waiting -> Arc<Core>: a socket that
/// connected to an inproc name nobody bound was never freed, nor its queue,
/// nor its context, even with linger 0 (bug 7 of the seven a second reader
/// found).
#[test]
fn a_dropped_connecter_to_a_name_nobody_bound_is_freed() {
    within_limit(|| {
        let freed = Arc::new(AtomicBool::new(false));
        {
            let ctx = Context::new();
            let push = with_timeouts(ctx.socket(SocketType::Push));
            push.set_linger(Some(Duration::ZERO));
            push.connect("inproc://nobody").unwrap();
            push.send_within(Msg::from(vec![tracked(&freed, b"tracked")]), "the tracked message");
        }
        wait_until(
            "the dropped socket's queue (and the socket, and its context) to be freed",
            || freed.load(Ordering::Acquire),
        );
    });
}

/// `recv_string` gives a one-frame text message as a `String`, and any
/// other message back inside `Error::NotText`, not lost; borrowed strings
/// and bytes send as they are.
#[test]
fn recv_string_and_borrowed_sends() {
    within_limit(|| {
        let ctx = Context::new();
        let a = with_timeouts(ctx.socket(SocketType::Pair));
        a.bind("inproc://recv-string").unwrap();
        let b = with_timeouts(ctx.socket(SocketType::Pair));
        b.connect("inproc://recv-string").unwrap();

        let name = String::from("alice");
        b.send(name.as_str()).unwrap();
        assert_eq!(a.recv_string().unwrap(), "alice");

        let buf = [0xFFu8, b'x', b'y'];
        b.send(&buf[..1]).unwrap();
        match a.recv_string() {
            Err(dhaga_mq::Error::NotText(msg)) => assert_eq!(msg, Msg::from(vec![0xFFu8])),
            other => panic!("not UTF-8: {other:?}"),
        }
        b.send(Msg::from_iter(["two", "frames"])).unwrap();
        match a.recv_string() {
            Err(dhaga_mq::Error::NotText(msg)) => assert_eq!(msg.to_string(), "two|frames"),
            other => panic!("two frames: {other:?}"),
        }
    });
}

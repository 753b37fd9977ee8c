//! A socket whose runtime shut down under it: its listeners, connections
//! and reconnections ran there and are gone, so its calls fail with
//! `Error::Terminated` instead of waiting for what will never come.

mod util;

use dhaga_mq::{Error, Interest, MonitorEvent, Msg, PollItem, Socket, SocketType, poll};
use dhaga_runtime::Runtime;
use dhaga_testutil::{PATIENCE, Task};
use util::{SocketWithin, connected, within_limit};

/// A socket made and bound (or connected) on a runtime of its own, which
/// the caller drops to end it.
fn on_own_runtime(socket_type: SocketType, setup: impl FnOnce(&Socket) + Send + 'static) -> (Runtime, Socket) {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let socket = rt.block_on(move || {
        // No timeouts: what bounds the waits below is the fix under test
        // (and `within_limit`).
        let socket = Socket::new(socket_type);
        setup(&socket);
        socket
    });
    (rt, socket)
}

/// Waits until `socket` has a message to receive.
#[track_caller]
fn wait_readable(socket: &Socket, what: &str) {
    let mut items = [PollItem::new(socket, Interest::READABLE)];
    let ready = poll(&mut items, Some(PATIENCE)).unwrap();
    assert_eq!(ready, 1, "waited {PATIENCE:?} for {what}");
}

#[test]
fn what_arrived_is_received_then_calls_fail() {
    within_limit(|| {
        let (rt, pull) = on_own_runtime(SocketType::Pull, |pull| pull.bind("tcp://127.0.0.1:*").unwrap());
        let endpoint = pull.last_endpoint().unwrap();
        let push = connected(SocketType::Push, &endpoint);
        push.send_within("arrived in time", "the message before the end");
        wait_readable(&pull, "the message before the end");
        drop(rt);
        assert_eq!(pull.recv().unwrap(), Msg::from("arrived in time"));
        assert!(matches!(pull.recv(), Err(Error::Terminated)), "nothing more will come");
        assert!(matches!(pull.try_recv(), Err(Error::Terminated)));
        assert!(matches!(pull.bind("tcp://127.0.0.1:*"), Err(Error::Terminated)));
        assert!(matches!(pull.connect(&endpoint), Err(Error::Terminated)));
        // A poller sees it ready, so that a poll loop gets to the error.
        wait_readable(&pull, "the socket whose runtime ended to poll ready");
        assert_eq!(
            Error::Terminated.to_string(),
            "the socket's context or the runtime serving it has shut down"
        );
    });
}

#[test]
fn a_receiver_waiting_on_another_thread_is_woken() {
    within_limit(|| {
        let (rt, pull) = on_own_runtime(SocketType::Pull, |pull| pull.bind("tcp://127.0.0.1:*").unwrap());
        let push = connected(SocketType::Push, &pull.last_endpoint().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        let receiver = Task::os_thread(move || {
            tx.send(dhaga_testutil::current_tid()).unwrap();
            pull.recv()
        });
        let tid = util::RecvWithin::recv_within(&rx, "the receiver to start");
        dhaga_testutil::wait_os_thread_blocked("the receiver to block in recv", tid);
        drop(rt);
        let got = receiver.join_within("the receiver to wake when the runtime ended");
        assert!(matches!(got, Err(Error::Terminated)), "{got:?}");
        drop(push);
    });
}

/// An inproc connection runs on the connecting side's runtime: its end is
/// a peer leaving for the binder, not the end of the binder's socket.
#[test]
fn a_connecting_peers_runtime_ending_does_not_end_the_binder() {
    within_limit(|| {
        // The server runs on the default runtime, which never ends.
        let server = util::socket(SocketType::Pull);
        let name = util::endpoint("inproc");
        server.bind(&name).unwrap();
        server.bind("tcp://127.0.0.1:*").unwrap();
        let tcp = server.last_endpoint().unwrap();
        let rt = Runtime::builder().workers(1).build().unwrap();
        let client = rt.block_on(move || {
            let client = Socket::new(SocketType::Push);
            client.connect(&name).unwrap();
            client.send("from the short-lived runtime").unwrap();
            client
        });
        assert_eq!(
            server.recv_within("the inproc client's message"),
            Msg::from("from the short-lived runtime")
        );
        drop(rt);
        assert!(
            matches!(server.try_recv(), Err(Error::WouldBlock)),
            "the server goes on"
        );
        server.bind("tcp://127.0.0.1:*").unwrap();
        let push = connected(SocketType::Push, &tcp);
        push.send_within("still served", "a tcp peer's message");
        assert_eq!(server.recv_within("a tcp peer's message"), Msg::from("still served"));
        drop(client);
    });
}

/// Thread mode leaves the threads it started to finish on their own: a
/// socket served by them goes on working, and a connection that ends
/// normally there is no sign of the runtime's end.
#[test]
fn a_socket_served_by_thread_mode_threads_goes_on_after_the_runtime_is_dropped() {
    within_limit(|| {
        let rt = Runtime::builder().thread_mode(true).build().unwrap();
        let (pull, events) = rt.block_on(|| {
            let pull = util::socket(SocketType::Pull);
            let events = pull.monitor();
            pull.bind("tcp://127.0.0.1:*").unwrap();
            (pull, events)
        });
        let endpoint = pull.last_endpoint().unwrap();
        drop(rt);
        let first = connected(SocketType::Push, &endpoint);
        first.send_within("one", "the first peer's message");
        assert_eq!(pull.recv_within("the first peer's message"), Msg::from("one"));
        drop(first);
        while !matches!(
            util::RecvWithin::recv_within(&events, "the first peer's connection to end"),
            MonitorEvent::Disconnected { .. }
        ) {}
        assert!(matches!(pull.try_recv(), Err(Error::WouldBlock)), "not terminated");
        let second = connected(SocketType::Push, &endpoint);
        second.send_within("two", "the second peer's message");
        assert_eq!(pull.recv_within("the second peer's message"), Msg::from("two"));
    });
}

#[test]
fn close_does_not_wait_for_connections_that_are_gone() {
    within_limit(|| {
        // Messages wait for a peer that never comes; the default linger
        // waits for ever for them to be delivered, by a connector that
        // the runtime's end unwound.
        let unreachable = util::unreachable_tcp();
        let (rt, push) = on_own_runtime(SocketType::Push, move |push| push.connect(&unreachable).unwrap());
        push.send("never delivered").unwrap();
        assert_eq!(push.linger(), None);
        drop(rt);
        let closer = Task::os_thread(move || push.close());
        closer.join_within("close of a socket whose runtime ended");
    });
}

#[test]
fn a_sender_waiting_for_room_is_woken() {
    within_limit(|| {
        let unreachable = util::unreachable_tcp();
        let (rt, push) = on_own_runtime(SocketType::Push, move |push| {
            push.set_send_hwm(1);
            push.connect(&unreachable).unwrap();
        });
        push.send("fills the queue").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let sender = Task::os_thread(move || {
            tx.send(dhaga_testutil::current_tid()).unwrap();
            push.send("waits for room").map_err(|e| e.error().to_string())
        });
        let tid = util::RecvWithin::recv_within(&rx, "the sender to start");
        dhaga_testutil::wait_os_thread_blocked("the sender to block in send", tid);
        drop(rt);
        let sent = sender.join_within("the sender to wake when the runtime ended");
        assert_eq!(sent, Err(Error::Terminated.to_string()));
    });
}

//! High-water marks, timeouts, linger, the maximum message size, the
//! listen backlog, and connection options reading back.

mod util;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dhaga_mq::{Error, MonitorEvent, Msg, SocketType};
use util::{JoinWithin, RecvWithin, SocketWithin, bound, connected, text, unreachable_tcp, wait_until, within_limit};

#[test]
fn sends_beyond_the_high_water_mark_wait_then_time_out() {
    within_limit(|| {
        let push = util::socket(SocketType::Push);
        push.set_send_hwm(5);
        push.connect(unreachable_tcp()).unwrap();
        // The peer is unreachable: five messages wait in its pipe.
        for i in 0..5 {
            push.try_send(format!("{i}")).unwrap();
        }
        let err = push.try_send("6th").unwrap_err();
        assert!(matches!(err.error(), Error::WouldBlock));
        push.set_send_timeout(Some(Duration::from_millis(30)));
        let err = push.send("6th").unwrap_err();
        assert!(matches!(err.error(), Error::TimedOut));
        assert_eq!(err.into_msg(), Msg::from("6th"));
    });
}

#[test]
fn a_socket_without_peers_blocks_senders_and_receivers() {
    within_limit(|| {
        let dealer = util::socket(SocketType::Dealer);
        dealer.set_send_timeout(Some(Duration::from_millis(20)));
        dealer.set_recv_timeout(Some(Duration::from_millis(20)));
        assert!(matches!(dealer.send("x").unwrap_err().error(), Error::TimedOut));
        assert!(matches!(dealer.recv(), Err(Error::TimedOut)));
        assert!(matches!(dealer.try_recv(), Err(Error::WouldBlock)));
    });
}

#[test]
fn a_blocked_sender_resumes_when_the_receiver_reads() {
    within_limit(|| {
        for transport in util::TRANSPORTS {
            let pull = util::socket(SocketType::Pull);
            pull.set_recv_hwm(10);
            pull.bind(util::endpoint(transport)).unwrap();
            let push = util::socket(SocketType::Push);
            push.set_send_hwm(10);
            push.connect(pull.last_endpoint().unwrap()).unwrap();
            let (sent_tx, sent_rx) = dhaga_runtime::sync::unbounded();
            let sender = dhaga_runtime::spawn(move || {
                for i in 0..2000 {
                    push.send_within(format!("{i}"), &format!("{transport}: message {i}"));
                    sent_tx.send(i).unwrap();
                }
            });
            // The sender gets ahead by at most what the pipe holds (both
            // marks, the transport's buffers) and waits for us.
            for i in 0..2000 {
                assert_eq!(
                    text(&pull.recv_within(&format!("{transport}: message {i}"))),
                    [i.to_string()],
                    "{transport}"
                );
            }
            sender.join_within(&format!("{transport}: the sender")).unwrap();
            assert_eq!(sent_rx.try_iter().count(), 2000);
        }
    });
}

#[test]
fn closing_with_default_linger_delivers_what_was_queued() {
    within_limit(|| {
        for endpoint in [unreachable_tcp(), util::endpoint("ipc"), util::endpoint("inproc")] {
            let transport = endpoint.split(':').next().unwrap().to_owned();
            let push = connected(SocketType::Push, &endpoint);
            push.set_reconnect_ivl(Duration::from_millis(10));
            for i in 0..100 {
                push.send_within(format!("{i}"), &format!("{transport}: message {i}"));
            }
            drop(push); // nobody bound yet: the messages wait for the peer
            let pull = util::socket(SocketType::Pull);
            pull.bind(&endpoint).unwrap();
            for i in 0..100 {
                assert_eq!(
                    text(&pull.recv_within(&format!("{transport}: message {i}"))),
                    [i.to_string()],
                    "{transport}"
                );
            }
        }
    });
}

#[test]
fn closing_with_zero_linger_drops_what_was_queued() {
    within_limit(|| {
        let endpoint = util::endpoint("ipc");
        let push = connected(SocketType::Push, &endpoint);
        push.set_linger(Some(Duration::ZERO));
        // Were the closed socket still trying, it would come within the
        // window below.
        push.set_reconnect_ivl(Duration::from_millis(10));
        for i in 0..100 {
            push.send_within(format!("{i}"), &format!("message {i}"));
        }
        drop(push);
        let pull = util::socket(SocketType::Pull);
        pull.bind(&endpoint).unwrap();
        // Proving that nothing comes takes a wait: the socket is gone, and
        // with it anything that could report what it did.
        pull.set_recv_timeout(Some(Duration::from_millis(100)));
        assert!(matches!(pull.recv(), Err(Error::TimedOut)));
    });
}

#[test]
fn a_frame_over_the_maximum_size_drops_that_peer_only() {
    within_limit(|| {
        let pull = util::socket(SocketType::Pull);
        pull.set_max_msg_size(Some(1000));
        let events = pull.monitor();
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = pull.last_endpoint().unwrap();
        let big = connected(SocketType::Push, &endpoint);
        big.send_within(vec![0u8; 1001], "the oversized message");
        let small = connected(SocketType::Push, &endpoint);
        small.send_within(vec![1u8; 1000], "the largest message allowed");
        small.send_within("second", "the message after it");
        assert_eq!(
            pull.recv_within("the largest message allowed"),
            Msg::from(vec![1u8; 1000])
        );
        assert_eq!(text(&pull.recv_within("the message after it")), ["second"]);
        // The oversized frame's sender is disconnected (the only peer to
        // be): the frame went with its connection, and cannot come now.
        while !matches!(
            events.recv_within("the oversized message's sender to be disconnected"),
            MonitorEvent::Disconnected { .. }
        ) {}
        assert!(matches!(pull.try_recv(), Err(Error::WouldBlock)));
        drop(big);
    });
}

#[test]
fn the_receive_timeout_applies_to_each_call() {
    within_limit(|| {
        let (pull, endpoint) = bound(SocketType::Pull, "inproc");
        pull.set_recv_timeout(Some(Duration::from_millis(10)));
        assert!(matches!(pull.recv(), Err(Error::TimedOut)));
        let push = connected(SocketType::Push, &endpoint);
        push.send_within("now", "the message after the timeout");
        // No timeout at all: the receive runs on a micro-thread whose join
        // is bounded instead.
        pull.set_recv_timeout(None);
        let got = dhaga_runtime::spawn(move || pull.recv())
            .join_within("the message after the timeout, received without a timeout")
            .unwrap();
        assert_eq!(got.unwrap(), Msg::from("now"));
    });
}

#[test]
fn linger_bounds_a_writer_blocked_on_a_peer_that_stopped_reading() {
    within_limit(|| {
        let pull = util::socket(SocketType::Pull);
        pull.set_recv_hwm(1);
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let push = util::socket(SocketType::Push);
        push.set_send_hwm(1);
        // A send that finds no room for this long counts as "full" (a
        // measurement, not an ordering).
        push.set_send_timeout(Some(Duration::from_millis(200)));
        push.set_linger(Some(Duration::from_millis(50)));
        push.connect(pull.last_endpoint().unwrap()).unwrap();
        // Fill the pipe, the socket buffers and the writer's hands with
        // 1 MiB messages nobody reads; the last one is tracked.
        let freed = Arc::new(AtomicBool::new(false));
        let mut sent = 0;
        loop {
            let frame = util::tracked(&freed, &[0; 1 << 20]);
            match push.send(Msg::from(vec![frame])) {
                Ok(()) => sent += 1,
                Err(e) if matches!(e.error(), Error::TimedOut) => break,
                Err(e) => panic!("{e}"),
            }
            assert!(sent < 1000, "the peer never pushed back");
        }
        freed.store(false, Ordering::Release); // only messages still held count now
        drop(push);
        // Within the linger time plus slack, the blocked writer gives up and
        // lets go of what it held.
        wait_until("the blocked writer to let go of its messages", || {
            freed.load(Ordering::Acquire)
        });
        drop(pull);
    });
}

#[test]
fn the_backlog_is_libzmqs_by_default_and_reads_back() {
    within_limit(|| {
        let socket = util::socket(SocketType::Pull);
        assert_eq!(socket.backlog(), 100, "libzmq's default ZMQ_BACKLOG");
        for backlog in [0, 1, 5000, u32::MAX] {
            socket.set_backlog(backlog);
            assert_eq!(socket.backlog(), backlog);
        }
    });
}

/// The connection options read back what was set, from libzmq's defaults.
#[test]
fn connection_options_read_back() {
    let router = dhaga_mq::Socket::new(SocketType::Router);
    assert_eq!(
        router.reconnect_ivl(),
        Duration::from_millis(100),
        "libzmq's ZMQ_RECONNECT_IVL"
    );
    assert_eq!(router.reconnect_ivl_max(), Duration::ZERO);
    assert_eq!(router.handshake_ivl(), Duration::from_secs(30));
    assert!(!router.router_mandatory());
    router.set_reconnect_ivl(Duration::from_millis(250));
    router.set_reconnect_ivl_max(Duration::from_secs(5));
    router.set_handshake_ivl(Duration::ZERO);
    router.set_router_mandatory(true);
    assert_eq!(router.reconnect_ivl(), Duration::from_millis(250));
    assert_eq!(router.reconnect_ivl_max(), Duration::from_secs(5));
    assert_eq!(router.handshake_ivl(), Duration::ZERO);
    assert!(router.router_mandatory());
}

#[test]
fn a_socket_with_a_small_backlog_accepts_every_peer() {
    const PEERS: usize = 20;
    within_limit(|| {
        for transport in ["tcp", "ipc"] {
            let pull = util::socket(SocketType::Pull);
            pull.set_backlog(1);
            pull.bind(util::endpoint(transport)).unwrap();
            let endpoint = pull.last_endpoint().unwrap();
            // One after another: each peer's message arrives (so the socket
            // has accepted it) before the next connects, as a burst beyond
            // the backlog would make TCP peers wait for SYN retransmissions
            // (seconds), which shows the kernel, not the socket.
            let pushes: Vec<_> = (0..PEERS)
                .map(|i| {
                    let push = connected(SocketType::Push, &endpoint);
                    push.send_within(format!("{i}"), &format!("{transport}: peer {i}'s message"));
                    let got = pull.recv_within(&format!("{transport}: peer {i}'s message"));
                    assert_eq!(text(&got), [i.to_string()], "{transport}");
                    push
                })
                .collect();
            drop(pushes);
        }
    });
}

/// While the socket's accepting micro-threads cannot run, an ipc endpoint
/// holds exactly as many connections as its backlog allows (Linux queues
/// backlog + 1) and the next connect waits; each endpoint keeps the
/// backlog that was set when it was bound. Then the socket accepts them
/// all and works.
#[cfg(target_os = "linux")]
#[test]
fn the_backlog_applies_to_endpoints_bound_after_it_is_set() {
    use std::os::unix::net::UnixStream;
    use std::sync::mpsc;
    use util::{PATIENCE, Task};

    within_limit(|| {
        let runtime = dhaga_runtime::Runtime::builder().workers(1).build().unwrap();
        let (bound_tx, bound_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let holder = runtime.spawn(move || {
            let pull = util::socket(SocketType::Pull);
            pull.set_backlog(2);
            pull.bind(util::endpoint("ipc")).unwrap();
            let two = pull.last_endpoint().unwrap();
            pull.set_backlog(5);
            pull.bind(util::endpoint("ipc")).unwrap();
            let five = pull.last_endpoint().unwrap();
            bound_tx.send([(two, 2), (five, 5)]).unwrap();
            // This blocks the runtime's only worker, so the accepting
            // micro-threads that `bind` spawned on it do not run: nothing
            // leaves the listeners' queues until the go-ahead.
            go_rx
                .recv_timeout(PATIENCE)
                .expect("the go-ahead to let the socket accept");
            pull
        });
        let endpoints = bound_rx.recv_within("the socket to bind two endpoints");
        let mut held = Vec::new();
        let mut waiting = Vec::new();
        for (endpoint, backlog) in endpoints.clone() {
            let path = endpoint.strip_prefix("ipc://").unwrap().to_owned();
            let fitting = {
                let path = path.clone();
                Task::os_thread(move || {
                    (0..=backlog)
                        .map(|i| UnixStream::connect(&path).unwrap_or_else(|e| panic!("connect {i}: {e}")))
                        .collect::<Vec<_>>()
                })
            };
            held.extend(fitting.join_within(&format!(
                "the {} connects that a backlog of {backlog} holds",
                backlog + 1
            )));
            let (started_tx, started_rx) = mpsc::channel();
            let beyond = Task::os_thread(move || {
                started_tx.send(()).unwrap();
                UnixStream::connect(&path)
            });
            started_rx.recv_within("the connect beyond the backlog to start");
            wait_until(
                &format!("the connect beyond a backlog of {backlog} to wait (or complete)"),
                || beyond.is_parked() || beyond.is_finished(),
            );
            assert!(
                !beyond.is_finished(),
                "connect {} to {endpoint} completed: the backlog of {backlog} was not applied",
                backlog + 2
            );
            waiting.push(beyond);
        }
        go_tx.send(()).unwrap();
        let pull = holder.join_within("the socket's micro-thread, let go").unwrap();
        for beyond in waiting {
            beyond
                .join_within("a connect beyond the backlog, once the socket accepts")
                .expect("connect");
        }
        for (endpoint, _) in endpoints {
            let push = connected(SocketType::Push, &endpoint);
            push.send_within("hello", &format!("a message through {endpoint}"));
            assert_eq!(
                text(&pull.recv_within(&format!("the message through {endpoint}"))),
                ["hello"]
            );
        }
        drop(held);
    });
}

#[test]
fn the_memory_limit_holds_peers_back_and_loses_nothing() {
    within_limit(|| {
        let pull = util::socket(SocketType::Pull);
        assert_eq!(pull.memory_limit(), None, "no limit by default");
        pull.set_memory_limit(Some(1 << 20));
        assert_eq!(pull.memory_limit(), Some(1 << 20));
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = pull.last_endpoint().unwrap();
        // Two peers, 5 MB each in 100 KB messages: five times what may
        // wait in the socket at once, so most of it waits in the peers and
        // the kernel's buffers until `recv` makes room.
        let senders: Vec<_> = (0..2u8)
            .map(|peer| {
                let push = connected(SocketType::Push, &endpoint);
                dhaga_runtime::spawn(move || {
                    for i in 0..50u8 {
                        push.send_within([peer, i].repeat(50_000), "a 100 KB message");
                    }
                    push.close();
                })
            })
            .collect();
        let mut next = [0u8; 2];
        for _ in 0..100 {
            let msg = pull.recv_within("the next 100 KB message");
            let frame = &msg.frames()[0];
            assert_eq!(frame.len(), 100_000);
            let (peer, i) = (usize::from(frame[0]), frame[1]);
            assert_eq!(i, next[peer], "peer {peer}'s messages in order, none lost");
            assert!(frame.chunks(2).all(|pair| pair == [frame[0], i]), "message intact");
            next[peer] += 1;
        }
        for sender in senders {
            sender.join_within("a sender").unwrap();
        }
    });
}

/// `ZMQ_RECONNECT_STOP`: a connect gives up, and its endpoint is as if
/// disconnected (the PUSH has nowhere to send: not writable), when the
/// connection is refused, when the handshake fails, or after a lost
/// connection, each only when asked.
#[test]
fn reconnect_stop_gives_up_on_the_conditions_asked_for() {
    use dhaga_mq::{Interest, ReconnectStop};
    within_limit(|| {
        let gives_up = |push: &dhaga_mq::Socket, what: &str| {
            wait_until(what, || !util::is_ready(push, Interest::WRITABLE));
        };

        // Refused: nobody listens.
        let push = util::socket(SocketType::Push);
        push.set_reconnect_ivl(Duration::from_millis(10));
        push.set_reconnect_stop(ReconnectStop::CONN_REFUSED);
        assert_eq!(push.reconnect_stop(), ReconnectStop::CONN_REFUSED);
        push.connect(unreachable_tcp()).unwrap();
        gives_up(&push, "the PUSH to give up on a refused connection");

        // The handshake fails: a PUSH cannot talk to a PUSH.
        let (other, endpoint) = bound(SocketType::Push, "tcp");
        let push = util::socket(SocketType::Push);
        push.set_reconnect_ivl(Duration::from_millis(10));
        push.set_reconnect_stop(ReconnectStop::HANDSHAKE_FAILED | ReconnectStop::CONN_REFUSED);
        push.connect(&endpoint).unwrap();
        gives_up(&push, "the PUSH to give up after a failed handshake");
        drop(other);

        // Lost after it was up.
        let (pull, endpoint) = bound(SocketType::Pull, "tcp");
        let push = util::socket(SocketType::Push);
        push.set_reconnect_ivl(Duration::from_millis(10));
        push.set_reconnect_stop(ReconnectStop::AFTER_DISCONNECT);
        push.connect(&endpoint).unwrap();
        push.send_within("up", "a message over the connection");
        assert_eq!(pull.recv_within("the message"), Msg::from("up"));
        drop(pull);
        gives_up(&push, "the PUSH to give up after the lost connection");

        // Without it, a refused connection is tried again: the endpoint
        // stays, and takes messages for when its peer comes.
        let push = util::socket(SocketType::Push);
        let address = unreachable_tcp();
        push.connect(&address).unwrap();
        push.send_within("queued", "a message queued for a peer to come");
        let pull = util::socket(SocketType::Pull);
        pull.bind(&address).unwrap();
        assert_eq!(pull.recv_within("the queued message"), Msg::from("queued"));
    });
}

#[test]
fn tcp_options_read_back_and_refuse_what_the_system_would() {
    let socket = util::socket(SocketType::Dealer);
    assert_eq!(
        (
            socket.send_buffer_size(),
            socket.recv_buffer_size(),
            socket.tcp_keepalive()
        ),
        (None, None, None),
        "the system's defaults"
    );
    socket.set_send_buffer_size(Some(1 << 20));
    socket.set_recv_buffer_size(Some(1 << 19));
    socket.set_tcp_keepalive(Some(true));
    socket.set_tcp_keepalive_idle(Some(Duration::from_secs(60))).unwrap();
    socket.set_tcp_keepalive_interval(Some(Duration::from_secs(5))).unwrap();
    socket.set_tcp_keepalive_count(Some(3)).unwrap();
    socket.set_tcp_maxrt(Some(Duration::from_secs(2)));
    socket.set_tos(0xb8);
    socket.set_connect_timeout(Some(Duration::from_millis(500)));
    assert_eq!(socket.send_buffer_size(), Some(1 << 20));
    assert_eq!(socket.recv_buffer_size(), Some(1 << 19));
    assert_eq!(socket.tcp_keepalive(), Some(true));
    assert_eq!(socket.tcp_keepalive_idle(), Some(Duration::from_secs(60)));
    assert_eq!(socket.tcp_keepalive_interval(), Some(Duration::from_secs(5)));
    assert_eq!(socket.tcp_keepalive_count(), Some(3));
    assert_eq!(socket.tcp_maxrt(), Some(Duration::from_secs(2)));
    assert_eq!(socket.tos(), 0xb8);
    assert_eq!(socket.connect_timeout(), Some(Duration::from_millis(500)));
    // Zero is libzmq's "the system's default".
    socket.set_tcp_maxrt(Some(Duration::ZERO));
    socket.set_connect_timeout(Some(Duration::ZERO));
    assert_eq!((socket.tcp_maxrt(), socket.connect_timeout()), (None, None));

    for (result, option) in [
        (
            socket.set_tcp_keepalive_idle(Some(Duration::from_millis(500))),
            "tcp_keepalive_idle",
        ),
        (
            socket.set_tcp_keepalive_idle(Some(Duration::from_millis(1500))),
            "tcp_keepalive_idle",
        ),
        (
            socket.set_tcp_keepalive_interval(Some(Duration::ZERO)),
            "tcp_keepalive_interval",
        ),
        (socket.set_tcp_keepalive_count(Some(0)), "tcp_keepalive_count"),
        #[cfg(target_os = "linux")]
        (socket.set_bind_to_device(Some("")), "bind_to_device"),
        #[cfg(target_os = "linux")]
        (socket.set_bind_to_device(Some("a-name-too-long-0")), "bind_to_device"),
    ] {
        assert!(
            matches!(&result, Err(Error::InvalidOption { option: o, .. }) if *o == option),
            "{option}: {result:?}"
        );
    }
    assert_eq!(
        socket.tcp_keepalive_idle(),
        Some(Duration::from_secs(60)),
        "a refused value changes nothing"
    );
    #[cfg(target_os = "linux")]
    {
        socket.set_bind_to_device(Some("lo")).unwrap();
        assert_eq!(socket.bind_to_device().as_deref(), Some("lo"));
    }
}

#[test]
#[cfg(target_os = "linux")]
fn bind_to_device_binds_through_the_interface_or_fails_clearly() {
    within_limit(|| {
        // The loopback interface carries loopback traffic: bound to it, a
        // REP serves a REQ that is bound to it too.
        let rep = util::socket(SocketType::Rep);
        rep.set_bind_to_device(Some("lo")).unwrap();
        if let Err(e) = rep.bind("tcp://127.0.0.1:*") {
            // Kernels before 5.7 let only CAP_NET_RAW bind to a device.
            panic!("binding to device lo (needs root or CAP_NET_RAW before Linux 5.7): {e}");
        }
        let req = util::socket(SocketType::Req);
        req.set_bind_to_device(Some("lo")).unwrap();
        req.connect(rep.last_endpoint().unwrap()).unwrap();
        req.send_within("through lo", "the request");
        assert_eq!(rep.recv_within("the request"), Msg::from("through lo"));

        // No such interface: the bind fails at once, a connect keeps
        // trying and says why.
        let nowhere = util::socket(SocketType::Rep);
        nowhere.set_bind_to_device(Some("nosuchdev0")).unwrap();
        let e = nowhere.bind("tcp://127.0.0.1:*").unwrap_err();
        assert!(
            matches!(&e, Error::Io(io) if io.raw_os_error() == Some(libc::ENODEV)),
            "bind to a missing device: {e}"
        );
        let lost = util::socket(SocketType::Req);
        lost.set_bind_to_device(Some("nosuchdev0")).unwrap();
        let events = lost.monitor_events(dhaga_mq::MonitorEvents::CONNECT_DELAYED);
        lost.connect(rep.last_endpoint().unwrap()).unwrap();
        match events.recv_timeout(util::PATIENCE) {
            Ok(MonitorEvent::ConnectDelayed { error, .. }) => {
                assert_eq!(error.raw_os_error(), Some(libc::ENODEV), "{error}");
            }
            other => panic!("waiting for the connect to fail: {other:?}"),
        }
    });
}

#[test]
fn connect_timeout_gives_up_an_attempt_that_hangs() {
    within_limit(|| {
        // A listener whose accept queue is full: the kernel drops further
        // SYNs, so a connect neither succeeds nor fails.
        let listener = dhaga_net::TcpListener::bind_with_backlog("127.0.0.1:0", 0).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut fill = Vec::new();
        loop {
            assert!(fill.len() < 16, "16 connections and the listener's backlog is not full");
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
                Ok(stream) => fill.push(stream),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break,
                Err(e) => panic!("filling the backlog: {e}"),
            }
        }
        let dealer = util::socket(SocketType::Dealer);
        dealer.set_connect_timeout(Some(Duration::from_millis(50)));
        let events = dealer.monitor_events(dhaga_mq::MonitorEvents::CONNECT_DELAYED);
        dealer.connect(format!("tcp://{addr}")).unwrap();
        match events.recv_timeout(util::PATIENCE) {
            Ok(MonitorEvent::ConnectDelayed { error, .. }) => {
                assert_eq!(error.kind(), std::io::ErrorKind::TimedOut, "{error}");
            }
            other => panic!("waiting for the connect to time out: {other:?}"),
        }
        drop(fill);
    });
}

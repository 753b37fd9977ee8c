//! ZMTP heartbeats (RFC 37 §"Connection Heartbeating"; libzmq's
//! `ZMQ_HEARTBEAT_IVL`, `_TIMEOUT` and `_TTL`): PINGs at the interval
//! carrying our TTL; a peer silent for the timeout after a PING dropped, and
//! reconnected where we connected; a peer's TTL honoured, and cleared by
//! what follows its PING; libzmq peers kept, pinging us and pinged by us,
//! while the application leaves the socket alone.
//!
//! The timeouts under test are waited for (each well under a second) and
//! their lower bounds asserted loosely; a connection that must stay up is
//! watched for a few timeouts (a measurement: nothing but time can show
//! that something does not happen); everything else is ordered by what
//! arrives.

mod raw;
mod util;

use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use dhaga_mq::{Error, Interest, MonitorEvent, Msg, Socket, SocketType};
use dhaga_runtime::sync::{Receiver, TryRecvError};
use raw::RawPeer;
use util::{JoinWithin, RecvWithin, SocketWithin, wait_ready, within_limit};

/// The heartbeat interval and timeout of most tests.
const IVL: Duration = Duration::from_millis(50);
const TIMEOUT: Duration = Duration::from_millis(200);

/// The timeout of the tests where a libzmq peer must answer in time to keep
/// the connection up: long enough that its I/O thread, stalled by a loaded
/// machine, is not taken for a silent peer.
const ANSWER_TIMEOUT: Duration = Duration::from_millis(600);

/// A socket that PINGs every [`IVL`] and drops a peer silent for
/// [`TIMEOUT`] after one.
fn heartbeating(socket_type: SocketType) -> Socket {
    let socket = util::socket(socket_type);
    socket.set_heartbeat_ivl(Some(IVL));
    socket.set_heartbeat_timeout(Some(TIMEOUT));
    socket
}

/// The next monitor event, expected to be `what`; fails the test, naming
/// it, if none comes within [`util::PATIENCE`].
#[track_caller]
fn next_event(events: &Receiver<MonitorEvent>, what: &str) -> MonitorEvent {
    events.recv_within(&format!("the monitor event {what}"))
}

/// Expects the events of a bound socket's first accepted connection:
/// `Listening`, `Accepted`, `HandshakeSucceeded`.
#[track_caller]
fn expect_one_connection_accepted(events: &Receiver<MonitorEvent>) {
    assert!(matches!(
        next_event(events, "Listening"),
        MonitorEvent::Listening { .. }
    ));
    assert!(matches!(next_event(events, "Accepted"), MonitorEvent::Accepted { .. }));
    assert!(matches!(
        next_event(events, "HandshakeSucceeded"),
        MonitorEvent::HandshakeSucceeded { .. }
    ));
}

/// Asserts that no event is waiting (the connection is still up).
#[track_caller]
fn no_more_events(events: &Receiver<MonitorEvent>) {
    match events.try_recv() {
        Err(TryRecvError::Empty) => {}
        other => panic!("no event expected, got {other:?}"),
    }
}

#[test]
fn a_silent_peer_is_dropped_after_the_heartbeat_timeout() {
    within_limit(|| {
        let pull = heartbeating(SocketType::Pull);
        let events = pull.monitor();
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = pull.last_endpoint().unwrap();

        // Timed from before the connection: the timeout starts later, when
        // the first PING goes out, and a busy test thread may see that late.
        let since = Instant::now();
        let mut peer = RawPeer::connect(&endpoint, "PUSH");
        let frames = peer.until_closed();
        let silent_for = since.elapsed();
        // The first PING after one interval, then the whole timeout.
        assert!(
            silent_for >= TIMEOUT,
            "dropped after {silent_for:?}, within the timeout"
        );
        assert!(
            !frames.is_empty() && frames.iter().all(|f| f.is_command("PING")),
            "PINGs, and nothing else, until the drop: {frames:?}"
        );
        expect_one_connection_accepted(&events);
        assert!(matches!(
            next_event(&events, "Disconnected"),
            MonitorEvent::Disconnected { .. }
        ));
    });
}

/// A PONG that arrived before the timeout ended keeps the peer, even when
/// this side looks only after the end: here the runtime's one worker is
/// held by a busy micro-thread from just after the PING until well past
/// the timeout, and the PONG comes meanwhile (a loaded machine, made
/// certain). The connection must then still carry a message. Before, the
/// writer woke past the end and hung up without reading.
#[test]
fn a_pong_that_came_in_time_keeps_the_peer_even_if_we_look_late() {
    within_limit(|| {
        let rt = dhaga_runtime::Runtime::builder().workers(1).build().unwrap();
        rt.block_on(|| {
            let pull = heartbeating(SocketType::Pull);
            let events = pull.monitor();
            pull.bind("tcp://127.0.0.1:*").unwrap();
            let endpoint = pull.last_endpoint().unwrap();
            // The runtime's channels: the receivers park, and do not hold
            // the one worker.
            let (pinged_tx, pinged_rx) = dhaga_runtime::sync::bounded::<Instant>(1);
            let (hogging_tx, hogging_rx) = dhaga_runtime::sync::bounded::<()>(1);
            let ponged = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let peer = {
                let ponged = std::sync::Arc::clone(&ponged);
                thread::spawn(move || {
                    let mut peer = RawPeer::connect(&endpoint, "PUSH");
                    let ping = peer.frame_within("the first PING");
                    assert!(ping.is_command("PING"), "{ping:?}");
                    pinged_tx.send(Instant::now()).unwrap();
                    hogging_rx.recv_within("the worker held by the busy micro-thread");
                    peer.send(&raw::pong(b""));
                    ponged.store(true, std::sync::atomic::Ordering::Release);
                    peer
                })
            };
            let pinged = pinged_rx.recv_within("the peer to read the first PING");
            let hog = dhaga_runtime::spawn(move || {
                hogging_tx.send(()).unwrap();
                // No park: the connection's reader and writer, on this
                // worker, cannot run until the timeout is long over.
                let until = pinged + TIMEOUT * 2;
                while !ponged.load(std::sync::atomic::Ordering::Acquire) || Instant::now() < until {
                    std::hint::spin_loop();
                }
            });
            hog.join_within("the busy micro-thread").unwrap();
            let mut peer = peer.join_within("the peer's PONG").unwrap();
            peer.send(&raw::message(b"still here"));
            assert_eq!(
                pull.recv_within("a message on the connection that answered in time"),
                Msg::from("still here")
            );
            expect_one_connection_accepted(&events);
            no_more_events(&events);
        });
    });
}

#[test]
fn a_connecting_socket_reconnects_when_its_peer_falls_silent() {
    within_limit(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("tcp://{}", listener.local_addr().unwrap());
        let dealer = heartbeating(SocketType::Dealer);
        dealer.set_reconnect_ivl(Duration::from_millis(10));
        let events = dealer.monitor();
        dealer.connect(&endpoint).unwrap();

        let mut silent = RawPeer::accept(&listener, "ROUTER");
        silent.until_closed();
        let mut second = RawPeer::accept(&listener, "ROUTER");
        dealer.send_within("back", "the message after the reconnection");
        let frame = std::iter::from_fn(|| Some(second.frame_within("the message after the reconnection")))
            .find(|f| !f.command)
            .unwrap();
        assert_eq!(frame.body, b"back", "the message went over the new connection");

        let order: Vec<_> = (0..6)
            .map(
                |n| match next_event(&events, &format!("event {n} of the drop and the reconnection")) {
                    MonitorEvent::Connected { .. } => "connected",
                    MonitorEvent::HandshakeSucceeded { .. } => "handshake",
                    MonitorEvent::Disconnected { .. } => "disconnected",
                    MonitorEvent::ConnectRetried { interval, .. } => {
                        assert_eq!(interval, Duration::from_millis(10));
                        "retried"
                    }
                    other => panic!("unexpected {other:?}"),
                },
            )
            .collect();
        assert_eq!(
            order,
            [
                "connected",
                "handshake",
                "disconnected",
                "retried",
                "connected",
                "handshake"
            ]
        );
    });
}

#[test]
fn pings_come_at_the_interval_carrying_our_ttl() {
    within_limit(|| {
        let ivl = Duration::from_millis(100);
        let pull = util::socket(SocketType::Pull);
        pull.set_heartbeat_ivl(Some(ivl));
        pull.set_heartbeat_ttl(Some(Duration::from_millis(1250))).unwrap();
        // Not the subject here, and long: this thread answers each PING,
        // and a loaded machine may hold it up for a while.
        pull.set_heartbeat_timeout(Some(ANSWER_TIMEOUT));
        pull.bind("tcp://127.0.0.1:*").unwrap();
        // From before the connection, which comes before the first PING.
        let since = Instant::now();
        let mut peer = RawPeer::connect(&pull.last_endpoint().unwrap(), "PUSH");
        for i in 0..5 {
            let frame = peer.frame_within(&format!("PING {i}"));
            assert!(frame.is_command("PING"), "PING {i}: {frame:?}");
            assert_eq!(frame.data(), [0, 12], "TTL 1.2 s in tenths of a second, no context");
            peer.send(&raw::pong(b""));
        }
        // Over five PINGs, not between two: a gap seen from here has no
        // lower bound (a late read shortens the next gap), but PINGs sent
        // too often bring five too soon.
        assert!(since.elapsed() >= ivl * 4, "five PINGs in {:?}", since.elapsed());
        peer.send(&raw::message(b"still here"));
        assert_eq!(pull.recv_within("the message after the PINGs"), Msg::from("still here"));
    });
}

#[test]
fn a_peer_that_pings_with_a_ttl_then_falls_silent_is_dropped() {
    within_limit(|| {
        let pull = util::socket(SocketType::Pull);
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let events = pull.monitor();
        let mut peer = RawPeer::connect(&pull.last_endpoint().unwrap(), "PUSH");

        let ttl = Duration::from_millis(300);
        let since = Instant::now();
        peer.send(&raw::ping(3, b"ctx"));
        let frames = peer.until_closed();
        let elapsed = since.elapsed();
        assert!(elapsed >= ttl * 4 / 5, "dropped after {elapsed:?}, within the TTL");
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert!(frames[0].is_command("PONG") && frames[0].data() == b"ctx");
        assert!(matches!(next_event(&events, "Accepted"), MonitorEvent::Accepted { .. }));
        assert!(matches!(
            next_event(&events, "HandshakeSucceeded"),
            MonitorEvent::HandshakeSucceeded { .. }
        ));
        assert!(matches!(
            next_event(&events, "Disconnected"),
            MonitorEvent::Disconnected { .. }
        ));
    });
}

#[test]
fn a_message_after_a_ping_clears_its_ttl() {
    within_limit(|| {
        let pull = util::socket(SocketType::Pull);
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let mut peer = RawPeer::connect(&pull.last_endpoint().unwrap(), "PUSH");

        let mut bytes = raw::ping(1, b"");
        bytes.extend(raw::message(b"after the PING"));
        peer.send(&bytes);
        assert_eq!(
            pull.recv_within("the message after the PING"),
            Msg::from("after the PING")
        );
        assert!(peer.frame_within("the PONG").is_command("PONG"));
        // Three times the TTL of 100 ms, with nothing from either side (a
        // measurement: only time shows the TTL no longer runs).
        assert!(peer.still_open_after(Duration::from_millis(300)), "dropped");
        peer.send(&raw::message(b"later"));
        assert_eq!(pull.recv_within("the message after the silence"), Msg::from("later"));
    });
}

#[test]
fn a_peer_whose_messages_wait_for_room_is_not_silent() {
    within_limit(|| {
        let pull = heartbeating(SocketType::Pull);
        pull.set_recv_hwm(1);
        let events = pull.monitor();
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let mut peer = RawPeer::connect(&pull.last_endpoint().unwrap(), "PUSH");
        let mut bytes = Vec::new();
        for body in [&b"one"[..], b"two", b"three"] {
            bytes.extend(raw::message(body));
        }
        peer.send(&bytes);
        // The first is queued (the high-water mark): the reader waits for
        // room with the other two in hand.
        wait_ready(&pull, Interest::READABLE, "the first message to be queued");

        // The application takes nothing for three timeouts, and the peer,
        // which has nothing more to say, must not count as silent. (A
        // measurement, not an ordering: only time shows that the timeout
        // does not strike.)
        thread::sleep(TIMEOUT * 3);
        for body in ["one", "two", "three"] {
            assert_eq!(pull.recv_within(&format!("the message {body:?}")), Msg::from(body));
        }
        peer.send(&raw::message(b"four"));
        assert_eq!(
            pull.recv_within("the message after the wait"),
            Msg::from("four"),
            "the same connection"
        );
        expect_one_connection_accepted(&events);
        no_more_events(&events);
    });
}

#[test]
fn heartbeat_options_are_off_by_default_and_the_ttl_fits_16_bits() {
    let socket = Socket::new(SocketType::Dealer);
    assert_eq!(socket.heartbeat_ivl(), None);
    assert_eq!(socket.heartbeat_timeout(), None);
    assert_eq!(socket.heartbeat_ttl(), None);

    socket.set_heartbeat_ivl(Some(Duration::from_secs(1)));
    assert_eq!(socket.heartbeat_ivl(), Some(Duration::from_secs(1)));
    socket.set_heartbeat_ivl(Some(Duration::ZERO));
    assert_eq!(socket.heartbeat_ivl(), None, "zero is off, as in libzmq");
    socket.set_heartbeat_timeout(Some(Duration::from_secs(3)));
    assert_eq!(socket.heartbeat_timeout(), Some(Duration::from_secs(3)));

    socket.set_heartbeat_ttl(Some(Duration::from_millis(1299))).unwrap();
    assert_eq!(
        socket.heartbeat_ttl(),
        Some(Duration::from_millis(1200)),
        "whole tenths"
    );
    socket
        .set_heartbeat_ttl(Some(Duration::from_millis(6_553_500)))
        .unwrap();
    assert_eq!(socket.heartbeat_ttl(), Some(Duration::from_millis(6_553_500)));
    let err = socket.set_heartbeat_ttl(Some(Duration::from_secs(6554))).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidOption {
                option: "heartbeat_ttl",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        socket.heartbeat_ttl(),
        Some(Duration::from_millis(6_553_500)),
        "unchanged"
    );
    socket.set_heartbeat_ttl(Some(Duration::from_millis(99))).unwrap();
    assert_eq!(socket.heartbeat_ttl(), None, "under a tenth of a second: no TTL");
}

/// A libzmq socket whose sends and receives give up after
/// [`util::PATIENCE`] and whose close drops what is unsent.
fn libzmq_socket(ctx: &zmq::Context, kind: zmq::SocketType) -> zmq::Socket {
    let patience = util::PATIENCE.as_millis() as i32;
    let socket = ctx.socket(kind).expect("libzmq socket");
    socket.set_rcvtimeo(patience).unwrap();
    socket.set_sndtimeo(patience).unwrap();
    socket.set_linger(0).unwrap();
    socket
}

/// A PAIR receiving `socket`'s libzmq monitor events.
fn libzmq_monitor(ctx: &zmq::Context, socket: &zmq::Socket, name: &str) -> zmq::Socket {
    let endpoint = format!("inproc://{name}-{}", std::process::id());
    socket.monitor(&endpoint, zmq::SocketEvent::ALL as i32).unwrap();
    let monitor = libzmq_socket(ctx, zmq::PAIR);
    monitor.connect(&endpoint).unwrap();
    monitor
}

/// How many times libzmq reported a disconnection so far.
fn libzmq_disconnections(monitor: &zmq::Socket) -> usize {
    let mut n = 0;
    loop {
        match monitor.recv_multipart(zmq::DONTWAIT) {
            Ok(frames) => {
                let event = zmq::SocketEvent::from_raw(u16::from_le_bytes([frames[0][0], frames[0][1]]));
                n += usize::from(event == zmq::SocketEvent::DISCONNECTED);
            }
            Err(zmq::Error::EAGAIN) => return n,
            Err(e) => panic!("libzmq monitor: {e}"),
        }
    }
}

/// One message each way between a libzmq PAIR and a dhaga PAIR.
#[track_caller]
fn exchange(libzmq: &zmq::Socket, dhaga: &Socket, round: usize) {
    let to_dhaga = format!("to dhaga {round}");
    libzmq
        .send(to_dhaga.as_bytes(), 0)
        .unwrap_or_else(|e| panic!("libzmq sending {to_dhaga:?}: {e}"));
    assert_eq!(dhaga.recv_within(&format!("{to_dhaga:?}")), Msg::from(to_dhaga.clone()));
    let to_libzmq = format!("to libzmq {round}");
    dhaga.send_within(to_libzmq.clone(), &format!("{to_libzmq:?}"));
    let got = libzmq.recv_bytes(0).unwrap_or_else(|e| {
        panic!(
            "libzmq receiving {to_libzmq:?} (receive timeout {:?}): {e}",
            util::PATIENCE
        )
    });
    assert_eq!(got, to_libzmq.as_bytes());
}

#[test]
fn libzmq_and_dhaga_ping_each_other_while_the_application_is_away() {
    within_limit(|| {
        let pair = heartbeating(SocketType::Pair);
        pair.set_heartbeat_timeout(Some(ANSWER_TIMEOUT));
        pair.set_heartbeat_ttl(Some(ANSWER_TIMEOUT * 2)).unwrap();
        let events = pair.monitor();
        pair.bind("tcp://127.0.0.1:*").unwrap();
        let ctx = zmq::Context::new();
        let peer = libzmq_socket(&ctx, zmq::PAIR);
        peer.set_heartbeat_ivl(IVL.as_millis() as i32).unwrap();
        peer.set_heartbeat_timeout(ANSWER_TIMEOUT.as_millis() as i32).unwrap();
        peer.set_heartbeat_ttl((ANSWER_TIMEOUT * 2).as_millis() as i32).unwrap();
        let peer_events = libzmq_monitor(&ctx, &peer, "both-ping");
        peer.connect(&pair.last_endpoint().unwrap()).unwrap();

        for round in 0..3 {
            if round > 0 {
                // Neither application touches its socket for two timeouts:
                // only the connections' own PINGs and PONGs keep them up. (A
                // measurement, not an ordering: only time shows that no
                // timeout strikes.)
                thread::sleep(ANSWER_TIMEOUT * 2);
            }
            exchange(&peer, &pair, round);
        }
        expect_one_connection_accepted(&events);
        no_more_events(&events);
        assert_eq!(libzmq_disconnections(&peer_events), 0, "libzmq dropped the connection");
    });
}

#[test]
fn dhaga_pings_a_libzmq_peer_which_answers() {
    within_limit(|| {
        let ctx = zmq::Context::new();
        let peer = libzmq_socket(&ctx, zmq::PAIR);
        peer.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = peer.get_last_endpoint().unwrap().unwrap();
        // libzmq sends no PINGs of its own: only its PONGs answer ours.
        let pair = heartbeating(SocketType::Pair);
        pair.set_heartbeat_timeout(Some(ANSWER_TIMEOUT));
        let events = pair.monitor();
        pair.connect(&endpoint).unwrap();

        exchange(&peer, &pair, 0);
        // Past the timeout three times over, nobody sending anything. (A
        // measurement, not an ordering: only time shows that the timeout
        // does not strike while libzmq answers our PINGs.)
        thread::sleep(ANSWER_TIMEOUT * 3);
        exchange(&peer, &pair, 1);
        assert!(matches!(
            next_event(&events, "Connected"),
            MonitorEvent::Connected { .. }
        ));
        assert!(matches!(
            next_event(&events, "HandshakeSucceeded"),
            MonitorEvent::HandshakeSucceeded { .. }
        ));
        no_more_events(&events);
    });
}

/// The timeout ends a connection whose writer is stuck in a `write`: here
/// the peer read our first PING (so the timeout started) and then nothing
/// more, with far more queued for it than the socket buffers hold. (The
/// writer, stuck, sends no more PINGs; the reader judges the silence.)
#[test]
fn the_timeout_ends_a_connection_stuck_writing_to_a_silent_peer() {
    const ONE_MIB: usize = 1 << 20;
    within_limit(|| {
        let push = util::socket(SocketType::Push);
        push.set_heartbeat_ivl(Some(IVL));
        push.set_heartbeat_timeout(Some(TIMEOUT));
        let events = push.monitor();
        push.bind("tcp://127.0.0.1:*").unwrap();
        // Timed from before the connection: the timeout starts when the PING
        // goes out, and a busy test thread may read it late.
        let since = Instant::now();
        let mut peer = RawPeer::connect(&push.last_endpoint().unwrap(), "PULL");
        assert!(peer.frame_within("the first PING").is_command("PING"));
        for i in 0..64 {
            push.send_within(Msg::from(vec![0u8; ONE_MIB]), &format!("1 MiB message {i}"));
        }
        loop {
            match events.recv_timeout(Duration::from_secs(10)) {
                Ok(MonitorEvent::Disconnected { .. }) => break,
                Ok(_) => {}
                Err(e) => panic!("still connected {:?} after the connection: {e}", since.elapsed()),
            }
        }
        assert!(
            since.elapsed() >= TIMEOUT,
            "dropped early: {:?} after the connection",
            since.elapsed()
        );
        drop(peer);
    });
}

/// Anything decoded after a PING clears its TTL, subscriptions included
/// (as in libzmq): a PING with a TTL of 100 ms and a SUBSCRIBE in one
/// write, then a long silence, keeps the connection.
#[test]
fn a_subscription_after_a_ping_clears_its_ttl() {
    within_limit(|| {
        let (publisher, endpoint) = util::bound(SocketType::Pub, "tcp");
        let mut peer = RawPeer::connect(&endpoint, "SUB");
        let mut bytes = raw::ping(1, b"");
        bytes.extend(raw::command("SUBSCRIBE", b"A"));
        peer.send(&bytes);
        assert!(peer.frame_within("the PONG").is_command("PONG"));
        // Three times the TTL (a measurement: only time shows the TTL no
        // longer runs).
        assert!(
            peer.still_open_after(Duration::from_millis(300)),
            "dropped: the SUBSCRIBE did not clear the PING's TTL"
        );
        drop(publisher);
    });
}

//! Publish-subscribe interop with the real libzmq (the system's, through
//! the `zmq` crate), in this process, in both roles over tcp and ipc:
//! prefix filters at a publisher of the other library, every payload
//! through a topic, and XPUBs seeing the other library's subscribes and
//! cancels (ZMTP 3.1 SUBSCRIBE/CANCEL commands on the wire: libzmq 4.3
//! sends and understands them).

mod interop;

use std::sync::mpsc::TryRecvError;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dhaga_mq::{Msg, Socket, SocketType};
use dhaga_testutil::{JoinWithin, Task, wait_until};

use interop::{
    Binder, CASES, Scratch, TIMEOUT, assert_frames, dhaga_recv, dhaga_socket, libzmq_socket, msg, payloads,
    within_limit,
};

/// Receives a one-frame message on a libzmq socket (whose receive timeout
/// is [`TIMEOUT`]), failing the test with `what` on a timeout or an error.
#[track_caller]
fn libzmq_recv_bytes(socket: &zmq::Socket, what: &str) -> Vec<u8> {
    socket
        .recv_bytes(0)
        .unwrap_or_else(|e| panic!("{what}: libzmq recv: {e}"))
}

/// The marker a publisher sends until the subscriber has one: then the
/// connection is up.
const SYNC: &[u8] = b"\x01sync";
/// The marker subscribed to once the connection is up: it travels behind
/// the subscriptions sent when the connection came up (in no set order,
/// maybe in several reads), so its getting through shows they all arrived.
const MARK: &[u8] = b"\x01mark";

/// Whether `frames` is a marker still on its way.
fn is_marker(frames: &[impl AsRef<[u8]>]) -> bool {
    frames.len() == 1 && [SYNC, MARK].contains(&frames[0].as_ref())
}

/// Binds one socket and connects the other as `binder` says.
fn link(dhaga: &Socket, libzmq: &zmq::Socket, endpoint: &str, binder: Binder) {
    match binder {
        Binder::Dhaga => {
            dhaga.bind(endpoint).unwrap();
            libzmq.connect(&dhaga.last_endpoint().unwrap()).unwrap();
        }
        Binder::Libzmq => {
            libzmq.bind(endpoint).unwrap();
            dhaga.connect(libzmq.get_last_endpoint().unwrap().unwrap()).unwrap();
        }
    }
}

/// Receives on `dhaga` while letting `libzmq` work: a libzmq socket
/// attaches a new connection (and, a SUB, sends it its subscriptions) only
/// when its own thread calls into it, which is this thread.
#[track_caller]
fn dhaga_recv_pumping(dhaga: &Socket, libzmq: &zmq::Socket, what: &str) -> Msg {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        libzmq.get_events().unwrap();
        match dhaga.try_recv() {
            Ok(msg) => return msg,
            Err(dhaga_mq::Error::WouldBlock) => {
                assert!(Instant::now() < deadline, "{what}: nothing arrived");
                dhaga_runtime::yield_now();
            }
            Err(e) => panic!("{what}: dhaga recv: {e}"),
        }
    }
}

/// Runs `case` for every transport and binding side.
fn each_case(tag: &'static str, case: fn(&zmq::Context, &str, Binder, &str)) {
    within_limit(move || {
        let scratch = Scratch::new(tag);
        let ctx = zmq::Context::new();
        for (i, (transport, binder)) in CASES.into_iter().enumerate() {
            let what = format!("{tag} over {transport:?}, {binder:?} binds");
            let endpoint = scratch.bind_endpoint(transport, &format!("{tag}-{i}"));
            case(&ctx, &endpoint, binder, &what);
        }
    });
}

/// Messages with topics: (first frame, whether "10001 " or "2" matches).
const TOPICS: [(&str, bool); 8] = [
    ("10001 12 34", true),
    ("10002 1 1", false),
    ("2", true),
    ("20 x", true),
    ("1000", false),
    ("", false),
    ("10001 ", true),
    ("3", false),
];

/// Every payload, behind a topic frame the subscriber subscribed to.
fn topical_payloads() -> Vec<Vec<Bytes>> {
    payloads()
        .into_iter()
        .map(|payload| {
            let mut frames = vec![Bytes::from_static(b"P")];
            frames.extend(payload);
            frames
        })
        .collect()
}

#[test]
fn libzmq_sub_filters_against_dhaga_pub() {
    each_case("dhaga-pub", |ctx, endpoint, binder, what| {
        let publisher = dhaga_socket(SocketType::Pub);
        let sub = libzmq_socket(ctx, zmq::SUB);
        for prefix in [SYNC, b"10001 ", b"2", b"P", b"END"] {
            sub.set_subscribe(prefix).unwrap();
        }
        link(&publisher, &sub, endpoint, binder);
        // Sync: publish markers until one arrives, twice.
        sub.set_rcvtimeo(5).unwrap();
        for marker in [SYNC, MARK] {
            if marker == MARK {
                sub.set_subscribe(MARK).unwrap();
            }
            let deadline = Instant::now() + TIMEOUT;
            loop {
                publisher.send(marker).unwrap();
                match sub.recv_bytes(0) {
                    Ok(m) if m == marker => break,
                    Ok(m) if is_marker(&[&m]) => {}
                    Ok(m) => panic!("{what}: unexpected {m:?}"),
                    Err(_) => assert!(Instant::now() < deadline, "{what}: never synced"),
                }
            }
        }
        sub.set_rcvtimeo(TIMEOUT.as_millis() as i32).unwrap();
        let recv = || loop {
            let frames = sub
                .recv_multipart(0)
                .unwrap_or_else(|e| panic!("{what}: libzmq recv: {e}"));
            if !is_marker(&frames) {
                return frames;
            }
        };

        for (topic, _) in TOPICS {
            publisher.send(topic).unwrap();
        }
        publisher.send("END").unwrap();
        let mut got = Vec::new();
        loop {
            let frames = recv();
            if frames == [b"END"] {
                break;
            }
            got.push(String::from_utf8(frames[0].clone()).unwrap());
        }
        let want: Vec<_> = TOPICS.iter().filter(|(_, m)| *m).map(|(t, _)| t.to_owned()).collect();
        assert_eq!(got, want, "{what}");

        for payload in topical_payloads() {
            publisher.send(msg(&payload)).unwrap();
            assert_frames(&recv(), &payload, what);
        }
    });
}

#[test]
fn dhaga_sub_filters_against_libzmq_pub() {
    each_case("libzmq-pub", |ctx, endpoint, binder, what| {
        let publisher = libzmq_socket(ctx, zmq::PUB);
        let sub = dhaga_socket(SocketType::Sub);
        for prefix in [SYNC, b"10001 ", b"2", b"P", b"END"] {
            sub.subscribe(prefix).unwrap();
        }
        link(&sub, &publisher, endpoint, binder);
        // Sync: publish markers until one arrives, twice.
        sub.set_recv_timeout(Some(Duration::from_millis(5)));
        for marker in [SYNC, MARK] {
            if marker == MARK {
                sub.subscribe(MARK).unwrap();
            }
            let deadline = Instant::now() + TIMEOUT;
            loop {
                publisher.send(marker, 0).unwrap();
                match sub.recv() {
                    Ok(m) if &m[0][..] == marker => break,
                    Ok(m) if is_marker(m.frames()) => {}
                    Ok(m) => panic!("{what}: unexpected {m:?}"),
                    Err(_) => assert!(Instant::now() < deadline, "{what}: never synced"),
                }
            }
        }
        sub.set_recv_timeout(Some(TIMEOUT));
        let recv = || loop {
            let m = sub.recv().unwrap_or_else(|e| panic!("{what}: dhaga recv: {e}"));
            if !is_marker(m.frames()) {
                return m;
            }
        };

        for (topic, _) in TOPICS {
            publisher.send(topic, 0).unwrap();
        }
        publisher.send("END", 0).unwrap();
        let mut got = Vec::new();
        loop {
            let m = recv();
            if &m[0][..] == b"END" {
                break;
            }
            got.push(String::from_utf8(m[0].to_vec()).unwrap());
        }
        let want: Vec<_> = TOPICS.iter().filter(|(_, m)| *m).map(|(t, _)| t.to_owned()).collect();
        assert_eq!(got, want, "{what}");

        for payload in topical_payloads() {
            publisher.send_multipart(payload.iter().map(|f| f.to_vec()), 0).unwrap();
            assert_frames(recv().frames(), &payload, what);
        }
    });
}

#[test]
fn libzmq_xpub_sees_dhaga_sub_subscribe_and_cancel() {
    each_case("libzmq-xpub", |ctx, endpoint, binder, what| {
        let xpub = libzmq_socket(ctx, zmq::XPUB);
        let sub = dhaga_socket(SocketType::Sub);
        link(&sub, &xpub, endpoint, binder);
        let xpub_recv = |step: &str| libzmq_recv_bytes(&xpub, &format!("{what}: libzmq XPUB, {step}"));
        sub.subscribe("weather").unwrap();
        assert_eq!(xpub_recv("the subscribe"), b"\x01weather", "{what}");
        sub.subscribe("").unwrap();
        assert_eq!(xpub_recv("the empty subscribe"), b"\x01", "{what}");
        xpub.send("weather: sunny", 0).unwrap();
        assert_eq!(&dhaga_recv(&sub, what)[0][..], b"weather: sunny", "{what}");
        sub.unsubscribe("weather").unwrap();
        assert_eq!(xpub_recv("the cancel"), b"\x00weather", "{what}");
        sub.unsubscribe("").unwrap();
        assert_eq!(xpub_recv("the empty cancel"), b"\x00", "{what}");
    });
}

#[test]
fn dhaga_xpub_sees_libzmq_sub_subscribe_and_cancel() {
    each_case("dhaga-xpub", |ctx, endpoint, binder, what| {
        let xpub = dhaga_socket(SocketType::XPub);
        let sub = libzmq_socket(ctx, zmq::SUB);
        link(&xpub, &sub, endpoint, binder);
        sub.set_subscribe(b"weather").unwrap();
        assert_eq!(&dhaga_recv_pumping(&xpub, &sub, what)[0][..], b"\x01weather", "{what}");
        xpub.send("weather: rain").unwrap();
        xpub.send("news: none").unwrap();
        xpub.send("weather: end").unwrap();
        assert_eq!(libzmq_recv_bytes(&sub, what), b"weather: rain", "{what}");
        assert_eq!(libzmq_recv_bytes(&sub, what), b"weather: end", "{what}");
        sub.set_unsubscribe(b"weather").unwrap();
        assert_eq!(&dhaga_recv_pumping(&xpub, &sub, what)[0][..], b"\x00weather", "{what}");
    });
}

#[test]
fn libzmq_xsub_and_dhaga_xpub_pass_messages_both_ways() {
    each_case("libzmq-xsub", |ctx, endpoint, binder, what| {
        let xpub = dhaga_socket(SocketType::XPub);
        let xsub = libzmq_socket(ctx, zmq::XSUB);
        link(&xpub, &xsub, endpoint, binder);
        xsub.send(&b"\x01A"[..], 0).unwrap();
        // The subscription is sent once the connection is attached: from
        // then on, upstream messages have somewhere to go.
        assert_eq!(&dhaga_recv_pumping(&xpub, &xsub, what)[0][..], b"\x01A", "{what}");
        xsub.send("upstream", 0).unwrap();
        assert_eq!(&dhaga_recv(&xpub, what)[0][..], b"upstream", "{what}");
        xpub.send("A1").unwrap();
        assert_eq!(libzmq_recv_bytes(&xsub, what), b"A1", "{what}");
    });
}

/// A dhaga XSUB/XPUB proxy between libzmq publishers and subscribers: the
/// subscribers' subscriptions reach the publishers (which filter), and the
/// updates come down, from every publisher, to the subscribers that want
/// them.
#[test]
fn a_dhaga_proxy_between_libzmq_publishers_and_subscribers() {
    within_limit(|| {
        let ctx = zmq::Context::new();
        // Two libzmq publishers; XPUBs, so they show what reaches them.
        let publishers: Vec<_> = (0..2)
            .map(|_| {
                let xpub = libzmq_socket(&ctx, zmq::XPUB);
                xpub.bind("tcp://127.0.0.1:*").unwrap();
                xpub
            })
            .collect();
        let frontend = dhaga_socket(SocketType::XSub);
        for publisher in &publishers {
            frontend
                .connect(publisher.get_last_endpoint().unwrap().unwrap())
                .unwrap();
        }
        let backend = dhaga_socket(SocketType::XPub);
        backend.bind("tcp://127.0.0.1:*").unwrap();
        let downstream = backend.last_endpoint().unwrap();
        let proxy = dhaga_runtime::spawn(move || dhaga_mq::proxy(&frontend, &backend, None));

        let subscribers: Vec<_> = ["A", "B"]
            .into_iter()
            .map(|topic| {
                let sub = libzmq_socket(&ctx, zmq::SUB);
                sub.set_subscribe(topic.as_bytes()).unwrap();
                sub.connect(&downstream).unwrap();
                sub
            })
            .collect();
        // Each subscription travels up through the proxy to every
        // publisher. (The subscribers' own sockets get to work whenever
        // this thread calls into them.)
        for publisher in &publishers {
            let mut seen = Vec::new();
            let deadline = Instant::now() + TIMEOUT;
            publisher.set_rcvtimeo(5).unwrap();
            while seen.len() < 2 {
                for sub in &subscribers {
                    sub.get_events().unwrap();
                }
                if let Ok(m) = publisher.recv_bytes(0) {
                    seen.push(m);
                }
                assert!(Instant::now() < deadline, "subscriptions never arrived: {seen:?}");
            }
            seen.sort();
            assert_eq!(seen, [b"\x01A".to_vec(), b"\x01B".to_vec()]);
        }
        // Each publisher ends with an "end" of each subscribed topic: it
        // comes down the same way after anything the publisher sent before,
        // so a subscriber that has both ends has all it will get.
        for (i, publisher) in publishers.iter().enumerate() {
            for topic in ["A", "B", "C", "A end", "B end"] {
                publisher.send(format!("{topic} from {i}").as_bytes(), 0).unwrap();
            }
        }
        for (sub, topic) in subscribers.iter().zip(["A", "B"]) {
            sub.set_rcvtimeo(TIMEOUT.as_millis() as i32).unwrap();
            let ends = [format!("{topic} end from 0"), format!("{topic} end from 1")];
            let (mut got, mut ended) = (Vec::new(), Vec::new());
            while ended.len() < ends.len() {
                let m = String::from_utf8(libzmq_recv_bytes(sub, &format!("libzmq SUB to {topic}"))).unwrap();
                if ends.contains(&m) {
                    ended.push(m);
                } else {
                    got.push(m);
                }
            }
            got.sort();
            assert_eq!(
                got,
                [format!("{topic} from 0"), format!("{topic} from 1")],
                "{topic}: its own updates and nothing else (no C)"
            );
        }
        proxy.cancel();
        let _ = proxy.join_within("the proxy to end once cancelled");
    });
}

/// A micro-thread publishing in a loop that never parks does not starve
/// the writers of its own worker: here the only worker runs the publisher
/// and the connection's writer both, and the libzmq subscriber still gets
/// far more than what one high-water mark holds.
#[test]
fn a_publishing_loop_lets_its_workers_writers_run() {
    const MESSAGES: usize = 50_000;
    within_limit(|| {
        let runtime = dhaga_runtime::Runtime::builder().workers(1).build().unwrap();
        let received = runtime.block_on(|| {
            let ctx = zmq::Context::new();
            let publisher = dhaga_socket(SocketType::Pub);
            publisher.bind("tcp://127.0.0.1:*").unwrap();
            let sub = libzmq_socket(&ctx, zmq::SUB);
            sub.set_subscribe(b"").unwrap();
            sub.set_rcvhwm(0).unwrap(); // no limit: what arrives stays
            sub.connect(&publisher.last_endpoint().unwrap()).unwrap();
            sub.set_rcvtimeo(0).unwrap();
            let deadline = Instant::now() + TIMEOUT;
            loop {
                publisher.send(SYNC).unwrap();
                dhaga_runtime::yield_now();
                if sub.recv_bytes(0).is_ok() {
                    break;
                }
                assert!(Instant::now() < deadline, "never synced");
            }
            sub.set_rcvtimeo(TIMEOUT.as_millis() as i32).unwrap();
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            let reader = Task::os_thread(move || {
                let mut received = 0;
                loop {
                    match sub.recv_bytes(0) {
                        Ok(m) if m == b"END" => break,
                        Ok(m) if m == SYNC => {}
                        Ok(_) => received += 1,
                        Err(e) => panic!("{e} after {received}"),
                    }
                }
                done_tx.send(()).unwrap();
                received
            });
            for i in 0..MESSAGES {
                publisher.send(format!("{i}")).unwrap();
            }
            // An END may be dropped like anything else: until one arrives
            // (or the reader failed: its join says why).
            wait_until("the libzmq SUB to receive an END", || match done_rx.try_recv() {
                Err(TryRecvError::Empty) => {
                    publisher.send("END").unwrap();
                    false
                }
                Ok(()) | Err(TryRecvError::Disconnected) => true,
            });
            reader.join_within("the libzmq SUB's reader, which counts what arrived")
        });
        assert!(received > 5 * 1000, "{received} of {MESSAGES}");
    });
}

#[test]
fn a_manual_dhaga_xpub_decides_what_a_libzmq_sub_gets() {
    each_case("manual-xpub", |ctx, endpoint, binder, what| {
        let xpub = dhaga_socket(SocketType::XPub);
        xpub.set_xpub_manual(true).unwrap();
        let sub = libzmq_socket(ctx, zmq::SUB);
        link(&xpub, &sub, endpoint, binder);
        sub.set_subscribe(b"weather").unwrap();
        assert_eq!(&dhaga_recv_pumping(&xpub, &sub, what)[0][..], b"\x01weather", "{what}");
        // Granted narrower than asked: only Paris.
        xpub.subscribe("weather/paris").unwrap();
        xpub.send("weather/london: rain").unwrap();
        xpub.send("weather/paris: sun").unwrap();
        assert_eq!(libzmq_recv_bytes(&sub, what), b"weather/paris: sun", "{what}");
        // A cancel is the user's to apply too.
        sub.set_unsubscribe(b"weather").unwrap();
        assert_eq!(&dhaga_recv_pumping(&xpub, &sub, what)[0][..], b"\x00weather", "{what}");
        xpub.unsubscribe("weather/paris").unwrap();
        assert_eq!(xpub.topics_count(), 0, "{what}");
    });
}

#[test]
fn every_subscription_frame_of_a_multipart_message_counts_both_ways() {
    each_case("multipart-subscriptions", |ctx, endpoint, binder, what| {
        // dhaga's XSUB sends [1 "A", 1 "B"]: libzmq's XPUB hears two
        // subscriptions, as from its own XSUB.
        let xpub = libzmq_socket(ctx, zmq::XPUB);
        let xsub = dhaga_socket(SocketType::XSub);
        link(&xsub, &xpub, endpoint, binder);
        // Once the connection is up (a subscription made before it would
        // come with the others, in no set order), the message itself goes.
        interop::dhaga_send(&xsub, Msg::from(SYNC), what);
        assert_eq!(libzmq_recv_bytes(&xpub, what), SYNC, "{what}");
        let both: Msg = [&b"\x01A"[..], b"\x01B"].into_iter().collect();
        interop::dhaga_send(&xsub, both, what);
        assert_eq!(libzmq_recv_bytes(&xpub, what), b"\x01A", "{what}");
        assert_eq!(libzmq_recv_bytes(&xpub, what), b"\x01B", "{what}");
        xpub.send("B1", 0).unwrap();
        assert_eq!(&dhaga_recv(&xsub, what)[0][..], b"B1", "{what}");
    });
    each_case("multipart-subscriptions-up", |ctx, endpoint, binder, what| {
        // And libzmq's XSUB sending them to dhaga's XPUB.
        let xpub = dhaga_socket(SocketType::XPub);
        let xsub = libzmq_socket(ctx, zmq::XSUB);
        link(&xpub, &xsub, endpoint, binder);
        xsub.send(SYNC, 0).unwrap();
        assert_eq!(&dhaga_recv_pumping(&xpub, &xsub, what)[0][..], SYNC, "{what}");
        xsub.send(&b"\x01A"[..], zmq::SNDMORE).unwrap();
        xsub.send(&b"\x01B"[..], 0).unwrap();
        let first = dhaga_recv_pumping(&xpub, &xsub, what);
        assert_eq!(&first[0][..], b"\x01A", "{what}");
        assert_eq!(&dhaga_recv(&xpub, what)[0][..], b"\x01B", "{what}");
    });
}

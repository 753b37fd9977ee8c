//! Interop with the real libzmq (the system's, through the `zmq` crate), in
//! this process.
//!
//! libzmq runs its own I/O threads and dhaga serves a socket used from a
//! plain thread on its default runtime, so one OS thread can drive both
//! sides step by step: each step waits for the other side's message (with
//! a receive timeout on every socket, so a bug fails instead of hanging),
//! never for time. (One test watches for time on purpose: that libzmq's
//! heartbeats do not drop dhaga is an event that must not happen.)
//!
//! Every pattern dhaga has is crossed with libzmq in both roles (dhaga
//! binds and libzmq connects, and the reverse) over tcp and ipc, carrying
//! `interop::payloads` (one frame, an empty frame, 255/256-byte frames
//! either side of the short/long boundary, 1 MiB, multipart with empty
//! frames). Then: envelopes and routing ids through ROUTERs on either side
//! (and a correlating REQ's longer envelope), round-robin and
//! fair-queueing against several libzmq peers, refusal of a peer of the
//! wrong type and of a PAIR's second peer, reconnection to a restarted
//! peer, connecting before the peer binds, and libzmq's heartbeats.

mod interop;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dhaga_mq::{Error, MonitorEvent, Msg, Socket, SocketType};
use dhaga_testutil::Task;

use interop::{
    Binder, CASES, Scratch, TIMEOUT, TIMEOUT_MS, Transport, assert_frames, dhaga_recv, dhaga_send, dhaga_socket, join,
    libzmq_socket, msg, payloads, reply_to, show, within_limit,
};

/// Receives a whole message on a libzmq socket, failing on a timeout.
#[track_caller]
fn libzmq_recv(socket: &zmq::Socket, what: &str) -> Vec<Bytes> {
    match socket.recv_multipart(0) {
        Ok(frames) => frames.into_iter().map(Bytes::from).collect(),
        Err(e) => panic!("{what}: libzmq recv: {e}"),
    }
}

/// Sends a whole message on a libzmq socket, failing on a timeout.
#[track_caller]
fn libzmq_send(socket: &zmq::Socket, frames: &[Bytes], what: &str) {
    if let Err(e) = socket.send_multipart(frames.iter().map(|f| &f[..]), 0) {
        panic!("{what}: libzmq send of {}: {e}", show(frames));
    }
}

/// Asserts that a libzmq socket has no message waiting.
#[track_caller]
fn assert_libzmq_idle(socket: &zmq::Socket, what: &str) {
    match socket.recv_multipart(zmq::DONTWAIT) {
        Err(zmq::Error::EAGAIN) => {}
        Ok(frames) => panic!("{what}: unexpected message {}", show(&frames)),
        Err(e) => panic!("{what}: libzmq recv: {e}"),
    }
}

/// `frames` after an empty delimiter frame (a DEALER speaking to a REP).
fn delimited(frames: &[Bytes]) -> Vec<Bytes> {
    let mut out = vec![Bytes::new()];
    out.extend(frames.iter().cloned());
    out
}

/// A dhaga socket and a libzmq socket connected to each other.
struct Link {
    /// The case, for failure messages.
    what: String,
    dhaga: Socket,
    libzmq: zmq::Socket,
}

impl Link {
    /// Makes both sockets and binds one, connects the other, as `case` says;
    /// `name` names the ipc path.
    fn new(
        ctx: &zmq::Context,
        scratch: &Scratch,
        name: &str,
        (transport, binder): (Transport, Binder),
        dhaga_type: SocketType,
        libzmq_type: zmq::SocketType,
    ) -> Link {
        let what = format!("dhaga {dhaga_type} with libzmq {libzmq_type:?} over {transport:?}, {binder:?} binds");
        let dhaga = dhaga_socket(dhaga_type);
        let libzmq = libzmq_socket(ctx, libzmq_type);
        let endpoint = scratch.bind_endpoint(transport, name);
        join(&dhaga, &libzmq, binder, &endpoint, &what);
        Link { what, dhaga, libzmq }
    }

    #[track_caller]
    fn dhaga_send(&self, frames: &[Bytes]) {
        dhaga_send(&self.dhaga, msg(frames), &self.what);
    }

    #[track_caller]
    fn dhaga_recv(&self) -> Msg {
        dhaga_recv(&self.dhaga, &self.what)
    }

    #[track_caller]
    fn libzmq_send(&self, frames: &[Bytes]) {
        libzmq_send(&self.libzmq, frames, &self.what);
    }

    #[track_caller]
    fn libzmq_recv(&self) -> Vec<Bytes> {
        libzmq_recv(&self.libzmq, &self.what)
    }

    #[track_caller]
    fn check<A: AsRef<[u8]>, B: AsRef<[u8]>>(&self, got: &[A], want: &[B], step: &str) {
        assert_frames(got, want, &format!("{}: {step}", self.what));
    }
}

/// Runs `exchange` over a fresh link for every transport and binding side.
fn each_case(tag: &'static str, dhaga_type: SocketType, libzmq_type: zmq::SocketType, exchange: fn(&Link)) {
    within_limit(move || {
        let scratch = Scratch::new(tag);
        let ctx = zmq::Context::new();
        for (i, case) in CASES.into_iter().enumerate() {
            let link = Link::new(&ctx, &scratch, &format!("{tag}-{i}"), case, dhaga_type, libzmq_type);
            exchange(&link);
        }
    });
}

/// A request/reply exchange of every payload between an asking and an
/// answering socket type, run with either library asking.
struct Dialogue {
    /// What the asking socket sends for a payload.
    ask: fn(&[Bytes]) -> Vec<Bytes>,
    /// Checks what the answering socket received for a payload and
    /// returns what it sends back.
    check_request: fn(&Link, &[Bytes], &[Bytes]) -> Vec<Bytes>,
    /// What the asking socket must receive for a payload.
    reply_frames: fn(&[Bytes]) -> Vec<Bytes>,
}

impl Dialogue {
    /// dhaga asks, libzmq answers.
    fn dhaga_asks(&self, link: &Link) {
        for payload in payloads() {
            link.dhaga_send(&(self.ask)(&payload));
            let request = link.libzmq_recv();
            let answer = (self.check_request)(link, &request, &payload);
            link.libzmq_send(&answer);
            let reply = link.dhaga_recv();
            link.check(
                reply.frames(),
                &(self.reply_frames)(&payload),
                "the reply dhaga received",
            );
        }
    }

    /// libzmq asks, dhaga answers.
    fn libzmq_asks(&self, link: &Link) {
        for payload in payloads() {
            link.libzmq_send(&(self.ask)(&payload));
            let request = link.dhaga_recv();
            let answer = (self.check_request)(link, request.frames(), &payload);
            link.dhaga_send(&answer);
            let reply = link.libzmq_recv();
            link.check(&reply, &(self.reply_frames)(&payload), "the reply libzmq received");
        }
    }
}

/// REQ asks REP: the envelope is invisible on both sides.
const REQ_REP: Dialogue = Dialogue {
    ask: <[Bytes]>::to_vec,
    check_request: |link, request, payload| {
        link.check(request, payload, "the request REP received");
        reply_to(payload)
    },
    reply_frames: reply_to,
};

/// DEALER asks REP: the DEALER writes the empty delimiter itself and sees
/// it in the reply.
const DEALER_REP: Dialogue = Dialogue {
    ask: delimited,
    check_request: |link, request, payload| {
        link.check(request, payload, "the request REP received (without the delimiter)");
        reply_to(payload)
    },
    reply_frames: |payload| delimited(&reply_to(payload)),
};

/// REQ asks ROUTER: the ROUTER sees `[routing id, "", body…]` and answers
/// with the same envelope.
const REQ_ROUTER: Dialogue = Dialogue {
    ask: <[Bytes]>::to_vec,
    check_request: |link, request, payload| {
        assert!(
            request.len() >= 3 && !request[0].is_empty() && request[1].is_empty(),
            "{}: a ROUTER must see [id, \"\", body…] from a REQ, got {}",
            link.what,
            show(request)
        );
        link.check(&request[2..], payload, "the body ROUTER received");
        let mut answer = request[..2].to_vec();
        answer.extend(reply_to(payload));
        answer
    },
    reply_frames: reply_to,
};

/// DEALER asks ROUTER: the ROUTER sees `[routing id, body…]`.
const DEALER_ROUTER: Dialogue = Dialogue {
    ask: <[Bytes]>::to_vec,
    check_request: |link, request, payload| {
        assert!(
            request.len() >= 2 && !request[0].is_empty(),
            "{}: a ROUTER must see [id, body…] from a DEALER, got {}",
            link.what,
            show(request)
        );
        link.check(&request[1..], payload, "the body ROUTER received");
        let mut answer = vec![request[0].clone()];
        answer.extend(reply_to(payload));
        answer
    },
    reply_frames: reply_to,
};

#[test]
fn req_rep_dhaga_req() {
    each_case("req-rep-d", SocketType::Req, zmq::REP, |link| REQ_REP.dhaga_asks(link));
}

#[test]
fn req_rep_dhaga_rep() {
    each_case("req-rep-z", SocketType::Rep, zmq::REQ, |link| REQ_REP.libzmq_asks(link));
}

#[test]
fn dealer_router_dhaga_dealer() {
    each_case("dealer-router-d", SocketType::Dealer, zmq::ROUTER, |link| {
        DEALER_ROUTER.dhaga_asks(link)
    });
}

#[test]
fn dealer_router_dhaga_router() {
    each_case("dealer-router-z", SocketType::Router, zmq::DEALER, |link| {
        DEALER_ROUTER.libzmq_asks(link)
    });
}

/// The REQ envelope through a libzmq ROUTER: it sees `[id, "", body…]`
/// from a dhaga REQ, and its answer with that envelope reaches the REQ.
#[test]
fn req_router_dhaga_req() {
    each_case("req-router-d", SocketType::Req, zmq::ROUTER, |link| {
        REQ_ROUTER.dhaga_asks(link)
    });
}

#[test]
fn req_router_dhaga_router() {
    each_case("req-router-z", SocketType::Router, zmq::REQ, |link| {
        REQ_ROUTER.libzmq_asks(link)
    });
}

#[test]
fn dealer_rep_dhaga_dealer() {
    each_case("dealer-rep-d", SocketType::Dealer, zmq::REP, |link| {
        DEALER_REP.dhaga_asks(link)
    });
}

#[test]
fn dealer_rep_dhaga_rep() {
    each_case("dealer-rep-z", SocketType::Rep, zmq::DEALER, |link| {
        DEALER_REP.libzmq_asks(link)
    });
}

/// Every payload, in order, from a dhaga PUSH to a libzmq PULL (all sent
/// before the first is received: they queue).
#[test]
fn push_pull_dhaga_push() {
    each_case("push-pull-d", SocketType::Push, zmq::PULL, |link| {
        let all = payloads();
        for payload in &all {
            link.dhaga_send(payload);
        }
        for payload in &all {
            link.check(&link.libzmq_recv(), payload, "what libzmq PULL received");
        }
        assert!(matches!(link.dhaga.recv(), Err(Error::NotSupported { .. })));
    });
}

#[test]
fn push_pull_dhaga_pull() {
    each_case("push-pull-z", SocketType::Pull, zmq::PUSH, |link| {
        let all = payloads();
        for payload in &all {
            link.libzmq_send(payload);
        }
        for payload in &all {
            link.check(link.dhaga_recv().frames(), payload, "what dhaga PULL received");
        }
    });
}

/// PAIR both ways: each payload goes from dhaga to libzmq and its reply
/// comes back.
#[test]
fn pair_pair() {
    each_case("pair", SocketType::Pair, zmq::PAIR, |link| {
        for payload in payloads() {
            link.dhaga_send(&payload);
            link.check(&link.libzmq_recv(), &payload, "what libzmq PAIR received");
            link.libzmq_send(&reply_to(&payload));
            link.check(
                link.dhaga_recv().frames(),
                &reply_to(&payload),
                "what dhaga PAIR received",
            );
        }
    });
}

/// A libzmq peer's routing id as a dhaga ROUTER sees it: `Some(id)` when
/// the peer chose it, otherwise generated.
fn assert_routing_id(id: &[u8], chosen: Option<&[u8]>, what: &str) {
    match chosen {
        Some(chosen) => assert_eq!(id, chosen, "{what}: the routing id the peer chose"),
        // libzmq's generated ids, which dhaga copies: a zero byte and a
        // 32-bit counter (a chosen id may not start with a zero byte).
        None => assert!(
            id.len() == 5 && id[0] == 0,
            "{what}: a generated routing id is 0 and 4 bytes, got {id:02x?}"
        ),
    }
}

/// A dhaga ROUTER serves libzmq REQ and DEALER peers at once, some with
/// routing ids they chose (`ZMQ_ROUTING_ID`), some with ids it generated;
/// each answer reaches only the peer its id names; an unknown id is
/// dropped, or refused with `router_mandatory`.
#[test]
fn dhaga_router_routes_to_libzmq_req_and_dealer_peers() {
    within_limit(|| {
        let router = dhaga_socket(SocketType::Router);
        router.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = router.last_endpoint().unwrap();
        let ctx = zmq::Context::new();
        let peers: Vec<(&str, zmq::Socket, Option<&[u8]>)> = [
            ("req", zmq::REQ, None),
            ("named-req", zmq::REQ, Some(&b"req-chosen"[..])),
            ("dealer", zmq::DEALER, None),
            ("named-dealer", zmq::DEALER, Some(&b"dealer-chosen"[..])),
        ]
        .into_iter()
        .map(|(name, kind, chosen)| {
            let socket = libzmq_socket(&ctx, kind);
            if let Some(id) = chosen {
                socket.set_identity(id).unwrap();
            }
            socket.connect(&endpoint).unwrap();
            libzmq_send(&socket, &[Bytes::from(name)], name);
            (name, socket, chosen)
        })
        .collect();

        // Learn every peer's id from its request.
        let mut ids = BTreeMap::new();
        for _ in 0..peers.len() {
            let request = dhaga_recv(&router, "dhaga ROUTER");
            let frames = request.frames();
            let body = match frames {
                [_, delimiter, body] if delimiter.is_empty() => body,
                [_, body] => body,
                _ => panic!("dhaga ROUTER received {}", show(frames)),
            };
            let name = std::str::from_utf8(body).unwrap().to_owned();
            let is_req = frames.len() == 3;
            assert_eq!(is_req, name.ends_with("req"), "{name}: a REQ's request has a delimiter");
            assert!(
                ids.insert(name, frames[0].clone()).is_none(),
                "one request from each peer"
            );
        }
        for (name, _, chosen) in &peers {
            assert_routing_id(&ids[*name], *chosen, name);
        }
        let distinct: BTreeSet<_> = ids.values().collect();
        assert_eq!(distinct.len(), peers.len(), "routing ids are distinct: {ids:?}");

        // Answer in the opposite order; each peer gets its own answer.
        for (name, _, _) in peers.iter().rev() {
            let mut answer = Msg::from(format!("answer for {name}"));
            if name.ends_with("req") {
                answer.push_front(Bytes::new());
            }
            answer.push_front(ids[*name].clone());
            dhaga_send(&router, answer, name);
        }
        for (name, socket, _) in &peers {
            assert_frames(&libzmq_recv(socket, name), &[format!("answer for {name}")], name);
        }

        // An unknown id: dropped silently, or refused with the message
        // given back when the ROUTER is mandatory.
        let lost: Msg = ["nobody", "lost"].into_iter().collect();
        router.send(lost.clone()).expect("an unroutable message is dropped");
        router.set_router_mandatory(true);
        let (error, back) = router.send(lost.clone()).unwrap_err().into_parts();
        assert!(matches!(error, Error::HostUnreachable), "{error}");
        assert_eq!(back, lost);
        let dealer = &peers[3];
        dhaga_send(
            &router,
            [ids[dealer.0].clone(), Bytes::from("again")].into_iter().collect(),
            "mandatory",
        );
        assert_frames(
            &libzmq_recv(&dealer.1, "dealer"),
            &["again"],
            "after the unroutable sends",
        );
        for (name, socket, _) in peers.iter().filter(|p| p.0.ends_with("dealer")) {
            assert_libzmq_idle(socket, name);
        }
    });
}

/// A libzmq ROUTER sees the routing id a dhaga DEALER or REQ chose
/// (`set_routing_id`, up to the longest, 255 bytes), or one it generated
/// for a dhaga peer without one, and routes its answers by them.
#[test]
fn libzmq_router_sees_dhaga_routing_ids() {
    within_limit(|| {
        let ctx = zmq::Context::new();
        let router = libzmq_socket(&ctx, zmq::ROUTER);
        router.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = router.get_last_endpoint().unwrap().unwrap();
        let peers: Vec<(&str, Socket, Option<&[u8]>)> = [
            ("named-dealer", SocketType::Dealer, Some(&b"dhaga-dealer"[..])),
            ("named-req", SocketType::Req, Some(&b"dhaga-req"[..])),
            ("dealer", SocketType::Dealer, None),
            // The longest id there is: its READY property is 255 bytes.
            ("longest-dealer", SocketType::Dealer, Some(&[b'L'; 255][..])),
        ]
        .into_iter()
        .map(|(name, kind, chosen)| {
            let socket = dhaga_socket(kind);
            if let Some(id) = chosen {
                socket.set_routing_id(id).unwrap();
                assert_eq!(socket.routing_id().as_deref(), Some(id));
            }
            socket.connect(&endpoint).unwrap();
            dhaga_send(&socket, Msg::from(name), name);
            (name, socket, chosen)
        })
        .collect();

        let mut ids = BTreeMap::new();
        for _ in 0..peers.len() {
            let request = libzmq_recv(&router, "libzmq ROUTER");
            let body = request.last().unwrap();
            let name = std::str::from_utf8(body).unwrap().to_owned();
            let want_len = if name.ends_with("req") { 3 } else { 2 };
            assert_eq!(request.len(), want_len, "{name}: {}", show(&request));
            assert!(
                ids.insert(name, request[0].clone()).is_none(),
                "one request from each peer"
            );
        }
        for (name, _, chosen) in &peers {
            assert_routing_id(&ids[*name], *chosen, name);
        }

        for (name, _, _) in peers.iter().rev() {
            let mut answer = vec![ids[*name].clone()];
            if name.ends_with("req") {
                answer.push(Bytes::new());
            }
            answer.push(Bytes::from(format!("answer for {name}")));
            libzmq_send(&router, &answer, name);
        }
        for (name, socket, _) in &peers {
            assert_frames(dhaga_recv(socket, name).frames(), &[format!("answer for {name}")], name);
        }
    });
}

/// A dhaga PUSH connected to three libzmq PULLs deals its messages out in
/// turn: each PULL receives every third message, in order.
#[test]
fn dhaga_push_round_robins_over_libzmq_pulls() {
    within_limit(|| {
        let scratch = Scratch::new("round-robin");
        let ctx = zmq::Context::new();
        for transport in [Transport::Tcp, Transport::Ipc] {
            let pulls: Vec<zmq::Socket> = (0..3)
                .map(|i| {
                    let pull = libzmq_socket(&ctx, zmq::PULL);
                    pull.bind(&scratch.bind_endpoint(transport, &format!("pull-{i}")))
                        .unwrap();
                    pull
                })
                .collect();
            let push = dhaga_socket(SocketType::Push);
            for pull in &pulls {
                push.connect(pull.get_last_endpoint().unwrap().unwrap()).unwrap();
            }
            let per_pull = 10;
            for i in 0..per_pull * pulls.len() {
                dhaga_send(&push, Msg::from(i.to_string()), "dhaga PUSH");
            }
            let mut firsts = BTreeSet::new();
            for pull in &pulls {
                let got: Vec<usize> = (0..per_pull)
                    .map(|_| {
                        let frames = libzmq_recv(pull, "libzmq PULL");
                        std::str::from_utf8(&frames[0]).unwrap().parse().unwrap()
                    })
                    .collect();
                let want: Vec<usize> = (0..per_pull).map(|k| got[0] + k * pulls.len()).collect();
                assert_eq!(got, want, "{transport:?}: each PULL gets every third message");
                firsts.insert(got[0]);
                assert_libzmq_idle(pull, "libzmq PULL");
            }
            assert_eq!(
                firsts,
                (0..pulls.len()).collect(),
                "{transport:?}: every PULL had a turn"
            );
        }
    });
}

/// A dhaga PULL fair-queues libzmq PUSHes: while two of them flood it
/// (each from its own thread, their queues full), a message from a third
/// gets its turn after at most one message of each flood. A queue that
/// served the busiest peers first would leave it waiting for as long as
/// they flood.
///
/// Everything is judged by what the PULL received, never by what libzmq
/// accepted to send (which includes what waits in its queues and in the
/// kernel's buffers), and nothing depends on timing. The PULL pauses until
/// both floods find their queues full (a send that would block): every
/// buffer between them and the PULL is full. The third peer then connects,
/// sends its message and closes; its connection's end, which the PULL's
/// monitor reports after everything it carried was queued, proves the
/// message is waiting in the PULL. Then the PULL resumes. Every message
/// arrives once and in its sender's order. (The exact turns with more
/// peers are the core's unit tests' business; here the peers are real
/// libzmq sockets.)
#[test]
fn dhaga_pull_fair_queues_libzmq_pushes() {
    within_limit(|| {
        let pull = dhaga_socket(SocketType::Pull);
        let events = pull.monitor();
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = pull.last_endpoint().unwrap();
        let ctx = zmq::Context::new();

        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let (blocked_tx, blocked_rx) = std::sync::mpsc::channel();
        let floods: Vec<thread::JoinHandle<()>> = (0..2u8)
            .map(|i| {
                let push = libzmq_socket(&ctx, zmq::PUSH);
                push.connect(&endpoint).unwrap();
                let (stop, paused, blocked_tx) = (Arc::clone(&stop), Arc::clone(&paused), blocked_tx.clone());
                thread::spawn(move || {
                    let mut told = false;
                    for seq in 0u64.. {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let frame = Bytes::from(format!("{i} {seq}"));
                        let paused_before = paused.load(Ordering::SeqCst);
                        match push.send(&frame[..], zmq::DONTWAIT) {
                            Ok(()) => {}
                            Err(zmq::Error::EAGAIN) => {
                                if paused_before && !told {
                                    told = true;
                                    let _ = blocked_tx.send(());
                                }
                                libzmq_send(&push, &[frame], "flooding PUSH, its queue full");
                            }
                            Err(e) => panic!("flooding PUSH {i}: libzmq send: {e}"),
                        }
                    }
                })
            })
            .collect();

        // Receives one message: which flood sent it, or `None` for the
        // single message.
        let mut next = [0u64; 2];
        let mut take = || {
            let got = dhaga_recv(&pull, "dhaga PULL");
            let text = std::str::from_utf8(&got[0]).unwrap().to_owned();
            if text == "single" {
                return None;
            }
            let (from, seq) = text.split_once(' ').unwrap();
            let (from, seq): (usize, u64) = (from.parse().unwrap(), seq.parse().unwrap());
            assert_eq!(seq, next[from], "messages from flood {from} arrive in order");
            next[from] += 1;
            Some(from)
        };
        // Both floods are flowing once a message of each has arrived.
        let mut seen = [false; 2];
        while seen != [true; 2] {
            seen[take().expect("the single message is not sent yet")] = true;
        }
        paused.store(true, Ordering::SeqCst);
        for _ in 0..2 {
            blocked_rx
                .recv_timeout(TIMEOUT)
                .expect("both floods find their queues full while the PULL pauses");
        }

        let single = libzmq_socket(&ctx, zmq::PUSH);
        single.set_linger(TIMEOUT_MS).expect("ZMQ_LINGER");
        single.connect(&endpoint).unwrap();
        libzmq_send(&single, &[Bytes::from_static(b"single")], "single PUSH");
        drop(single); // libzmq sends what it holds, then closes
        loop {
            match events.recv_timeout(TIMEOUT) {
                Ok(MonitorEvent::Disconnected { .. }) => break,
                Ok(_) => {}
                Err(e) => panic!("the single peer's connection ended after delivering its message: {e:?}"),
            }
        }

        let mut floods_first = 0;
        while take().is_some() {
            floods_first += 1;
        }
        assert!(
            floods_first <= 2,
            "the single message waited while the floods delivered {floods_first} messages, not at most one each"
        );

        stop.store(true, Ordering::Relaxed);
        for flood in floods {
            // A flood blocked on a full queue needs the PULL to go on
            // taking until it sees the stop.
            while !flood.is_finished() {
                let _ = pull.try_recv();
                thread::yield_now();
            }
            flood.join().expect("a flooding PUSH failed");
        }
    });
}

/// Receives events from a libzmq socket monitor until one of `until`,
/// failing the test (naming `what` and the events awaited) if none has come
/// within [`TIMEOUT`], however many other events came meanwhile (a peer
/// that keeps reconnecting reports events without end).
#[track_caller]
fn wait_for_event(monitor: &zmq::Socket, until: &[zmq::SocketEvent], what: &str) -> zmq::SocketEvent {
    let deadline = Instant::now() + TIMEOUT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frames = match monitor
            .set_rcvtimeo(left.as_millis() as i32)
            .and_then(|()| monitor.recv_multipart(0))
        {
            Ok(frames) => frames,
            Err(e) => panic!("{what}: waited {TIMEOUT:?} for one of {until:?}, saw {seen:?}: libzmq recv: {e}"),
        };
        let event = zmq::SocketEvent::from_raw(u16::from_le_bytes([frames[0][0], frames[0][1]]));
        if until.contains(&event) {
            return event;
        }
        seen.push(event);
    }
}

/// A round trip from a libzmq REQ through a dhaga REP.
fn round_trip(rep: &Socket, req: &zmq::Socket, text: &str) {
    libzmq_send(req, &[Bytes::from(text.to_owned())], "good REQ");
    assert_frames(
        dhaga_recv(rep, "dhaga REP").frames(),
        &[text],
        "the good peer's request",
    );
    dhaga_send(rep, Msg::from(format!("re: {text}")), "dhaga REP");
    assert_frames(
        &libzmq_recv(req, "good REQ"),
        &[format!("re: {text}")],
        "the good peer's reply",
    );
}

/// Waits on a dhaga socket's monitor for the end of the connection it
/// refused in the handshake (the only one it has accepted so far):
/// `HandshakeFailed`, then `Disconnected`, never `HandshakeSucceeded`.
/// The end is reported after everything the connection carried was
/// queued, so from then on a message it carried would be waiting in the
/// socket.
#[track_caller]
fn wait_refused(events: &dhaga_runtime::sync::Receiver<MonitorEvent>, what: &str) {
    let deadline = Instant::now() + TIMEOUT;
    let mut failed = false;
    loop {
        match events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(MonitorEvent::HandshakeFailed { .. }) => failed = true,
            Ok(MonitorEvent::Disconnected { .. }) => {
                assert!(failed, "{what}: the connection ended without a failed handshake");
                return;
            }
            Ok(event @ MonitorEvent::HandshakeSucceeded { .. }) => {
                panic!("{what}: dhaga must refuse the peer in the handshake, but: {event}")
            }
            Ok(_) => {}
            Err(e) => panic!("{what}: waited {TIMEOUT:?} for its refused connection to end: {e:?}"),
        }
    }
}

/// A libzmq PUSH cannot talk to a dhaga REP: its connection ends in the
/// handshake, its message never arrives, and the REP keeps serving a
/// libzmq REQ meanwhile.
#[test]
fn incompatible_libzmq_peer_is_refused() {
    within_limit(|| {
        let rep = dhaga_socket(SocketType::Rep);
        let events = rep.monitor();
        rep.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = rep.last_endpoint().unwrap();
        let ctx = zmq::Context::new();

        let bad = libzmq_socket(&ctx, zmq::PUSH);
        bad.monitor("inproc://bad-push", zmq::SocketEvent::ALL as i32).unwrap();
        let monitor = libzmq_socket(&ctx, zmq::PAIR);
        monitor.connect("inproc://bad-push").unwrap();
        bad.connect(&endpoint).unwrap();
        // Queued in the PUSH's pipe until a handshake succeeds (never).
        libzmq_send(&bad, &[Bytes::from_static(b"bad")], "bad PUSH");
        let ended = [
            zmq::SocketEvent::HANDSHAKE_SUCCEEDED,
            zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL,
            zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL,
            zmq::SocketEvent::DISCONNECTED,
        ];
        let event = wait_for_event(&monitor, &ended, "bad PUSH monitor");
        assert_ne!(
            event,
            zmq::SocketEvent::HANDSHAKE_SUCCEEDED,
            "PUSH and REP must not complete a handshake"
        );
        // dhaga's side of it: anything the connection carried is queued
        // by the time its end is reported.
        wait_refused(&events, "dhaga REP's monitor, the bad PUSH");

        let good = libzmq_socket(&ctx, zmq::REQ);
        good.connect(&endpoint).unwrap();
        // libzmq gives up on a peer that failed its handshake (it does not
        // reconnect); the REP serves the good peer, and nothing else is
        // queued in it.
        round_trip(&rep, &good, "first");
        round_trip(&rep, &good, "second");
        match rep.try_recv() {
            Err(Error::WouldBlock) => {}
            other => panic!("nothing but the good peer's requests may arrive, got {other:?}"),
        }
    });
}

/// ZMTP 3.1's greeting for the NULL mechanism (RFC 23 §"The greeting").
fn raw_greeting() -> Vec<u8> {
    let mut greeting = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, 1];
    let mut mechanism = [0u8; 20];
    mechanism[..4].copy_from_slice(b"NULL");
    greeting.extend_from_slice(&mechanism);
    greeting.push(0); // as-server
    greeting.extend_from_slice(&[0; 31]);
    greeting
}

/// A READY command saying `Socket-Type` is `socket_type` (RFC 23 §"Commands").
fn raw_ready(socket_type: &[u8]) -> Vec<u8> {
    let mut body = vec![5];
    body.extend_from_slice(b"READY");
    body.push(11);
    body.extend_from_slice(b"Socket-Type");
    body.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    body.extend_from_slice(socket_type);
    let mut command = vec![0x04, body.len() as u8];
    command.extend(body);
    command
}

/// The check is dhaga's own: libzmq refuses a wrong peer type on its side
/// too, so here a hand-written ZMTP peer that does not check claims to be
/// a PUSH and sends a message at once. dhaga closes the connection, the
/// message never reaches the REP, and a libzmq REQ is served meanwhile.
#[test]
fn incompatible_raw_zmtp_peer_is_refused() {
    within_limit(|| {
        let rep = dhaga_socket(SocketType::Rep);
        let events = rep.monitor();
        rep.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = rep.last_endpoint().unwrap();
        let addr = endpoint.strip_prefix("tcp://").unwrap();

        let mut raw = TcpStream::connect(addr).unwrap();
        raw.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut hello = raw_greeting();
        hello.extend(raw_ready(b"PUSH"));
        hello.extend_from_slice(&[0x00, 3]);
        hello.extend_from_slice(b"bad");
        raw.write_all(&hello).unwrap();
        let mut heard = Vec::new();
        match raw.read_to_end(&mut heard) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("dhaga must close the connection of a PUSH to a REP: {e}"),
        }
        assert!(
            heard.len() >= 11 && heard[0] == 0xFF && heard[9] == 0x7F && heard[10] == 3,
            "dhaga greeted the peer before refusing it: {heard:02x?}"
        );
        // Anything the refused connection carried is queued by the time
        // the monitor reports its end.
        wait_refused(&events, "dhaga REP's monitor, the raw PUSH");

        let ctx = zmq::Context::new();
        let good = libzmq_socket(&ctx, zmq::REQ);
        good.connect(&endpoint).unwrap();
        round_trip(&rep, &good, "after the refusal");
        match rep.try_recv() {
            Err(Error::WouldBlock) => {}
            other => panic!("the refused peer's message must not arrive, got {other:?}"),
        }
    });
}

/// A dhaga socket connected to a libzmq peer that is closed (its context
/// terminated, so every fd is gone) and bound anew at the same endpoint,
/// three times: dhaga reconnects on its own each time. The libzmq side
/// speaks first on each new connection, so whatever dhaga sends after
/// receiving it rides the new connection.
fn reconnects(tag: &str, dhaga_type: SocketType, libzmq_type: zmq::SocketType, answers: bool) {
    let scratch = Scratch::new(tag);
    for transport in [Transport::Tcp, Transport::Ipc] {
        let dhaga = dhaga_socket(dhaga_type);
        let mut endpoint = scratch.bind_endpoint(transport, "restarted");
        for life in 0..3 {
            let what = format!("{tag} over {transport:?}, libzmq peer's life {life}");
            let ctx = zmq::Context::new();
            let peer = libzmq_socket(&ctx, libzmq_type);
            peer.bind(&endpoint)
                .unwrap_or_else(|e| panic!("{what}: bind {endpoint}: {e}"));
            if life == 0 {
                endpoint = peer.get_last_endpoint().unwrap().unwrap();
                dhaga.connect(&endpoint).unwrap();
            }
            // Waits (up to the send timeout) for dhaga to connect.
            let hello = [Bytes::from(format!("life {life}"))];
            libzmq_send(&peer, &hello, &what);
            assert_frames(dhaga_recv(&dhaga, &what).frames(), &hello, &what);
            if answers {
                dhaga_send(&dhaga, msg(&reply_to(&hello)), &what);
                assert_frames(&libzmq_recv(&peer, &what), &reply_to(&hello), &what);
            }
            drop(peer);
            drop(ctx);
        }
    }
}

#[test]
fn dhaga_dealer_reconnects_to_restarted_libzmq_dealer() {
    within_limit(|| reconnects("restart-dealer", SocketType::Dealer, zmq::DEALER, true));
}

#[test]
fn dhaga_rep_reconnects_to_restarted_libzmq_req() {
    within_limit(|| reconnects("restart-rep", SocketType::Rep, zmq::REQ, true));
}

#[test]
fn dhaga_pull_reconnects_to_restarted_libzmq_push() {
    within_limit(|| reconnects("restart-pull", SocketType::Pull, zmq::PUSH, false));
}

/// A tcp endpoint nobody listens on (a port the system just gave out and
/// took back).
fn unused_tcp_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("tcp://{}", listener.local_addr().unwrap())
}

/// dhaga PUSH and REQ sockets connect and send before their libzmq peers
/// have bound: the messages wait in dhaga and arrive, in order, once the
/// peers bind.
#[test]
fn dhaga_connects_before_libzmq_binds() {
    within_limit(|| {
        let scratch = Scratch::new("early");
        for transport in [Transport::Tcp, Transport::Ipc] {
            let (push_at, req_at) = match transport {
                Transport::Tcp => (unused_tcp_endpoint(), unused_tcp_endpoint()),
                Transport::Ipc => (
                    scratch.bind_endpoint(transport, "pull"),
                    scratch.bind_endpoint(transport, "rep"),
                ),
            };
            let what = format!("{transport:?}");
            let push = dhaga_socket(SocketType::Push);
            push.connect(&push_at).unwrap();
            let all = payloads();
            for payload in &all {
                dhaga_send(&push, msg(payload), &what);
            }
            let req = dhaga_socket(SocketType::Req);
            req.connect(&req_at).unwrap();
            dhaga_send(&req, Msg::from("early request"), &what);

            let ctx = zmq::Context::new();
            let pull = libzmq_socket(&ctx, zmq::PULL);
            pull.bind(&push_at).unwrap();
            for payload in &all {
                assert_frames(&libzmq_recv(&pull, &what), payload, &what);
            }
            let rep = libzmq_socket(&ctx, zmq::REP);
            rep.bind(&req_at).unwrap();
            assert_frames(&libzmq_recv(&rep, &what), &["early request"], &what);
            libzmq_send(&rep, &[Bytes::from_static(b"late reply")], &what);
            assert_frames(dhaga_recv(&req, &what).frames(), &["late reply"], &what);
        }
    });
}

/// A libzmq REQ with `ZMQ_REQ_CORRELATE` puts a request id in front of the
/// delimiter (`[request id, "", body]`); a dhaga REP keeps the whole
/// envelope and sends it back, so the REQ matches each reply to its
/// request.
#[test]
fn dhaga_rep_keeps_libzmq_req_correlate_envelope() {
    within_limit(|| {
        let rep = dhaga_socket(SocketType::Rep);
        rep.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = rep.last_endpoint().unwrap();
        let ctx = zmq::Context::new();
        let req = libzmq_socket(&ctx, zmq::REQ);
        req.set_req_correlate(true).unwrap();
        req.set_req_relaxed(true).unwrap();
        req.connect(&endpoint).unwrap();
        for payload in payloads() {
            libzmq_send(&req, &payload, "correlating REQ");
            let request = dhaga_recv(&rep, "dhaga REP");
            assert_frames(request.frames(), &payload, "the REP sees only the body");
            dhaga_send(&rep, msg(&reply_to(&payload)), "dhaga REP");
            // libzmq drops a reply whose request id does not match.
            assert_frames(
                &libzmq_recv(&req, "correlating REQ"),
                &reply_to(&payload),
                "the matched reply",
            );
        }
    });
}

/// A dhaga PAIR talks to one peer: a second libzmq PAIR that connects is
/// turned away (its message never arrives), and the first keeps talking.
#[test]
fn dhaga_pair_turns_away_a_second_libzmq_pair() {
    within_limit(|| {
        let pair = dhaga_socket(SocketType::Pair);
        pair.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = pair.last_endpoint().unwrap();
        let ctx = zmq::Context::new();
        let first = libzmq_socket(&ctx, zmq::PAIR);
        first.connect(&endpoint).unwrap();
        libzmq_send(&first, &[Bytes::from_static(b"first")], "first PAIR");
        assert_frames(
            dhaga_recv(&pair, "dhaga PAIR").frames(),
            &["first"],
            "from the first PAIR",
        );

        let second = libzmq_socket(&ctx, zmq::PAIR);
        second
            .monitor("inproc://second-pair", zmq::SocketEvent::ALL as i32)
            .unwrap();
        let monitor = libzmq_socket(&ctx, zmq::PAIR);
        monitor.connect("inproc://second-pair").unwrap();
        second.connect(&endpoint).unwrap();
        libzmq_send(&second, &[Bytes::from_static(b"second")], "second PAIR");
        // The handshake completes (the types match); then dhaga drops the
        // connection, and libzmq keeps retrying.
        let ended = [
            zmq::SocketEvent::DISCONNECTED,
            zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL,
        ];
        wait_for_event(&monitor, &ended, "second PAIR monitor");
        wait_for_event(&monitor, &ended, "second PAIR monitor, after a retry");

        dhaga_send(&pair, Msg::from("to the first"), "dhaga PAIR");
        assert_frames(&libzmq_recv(&first, "first PAIR"), &["to the first"], "the first PAIR");
        libzmq_send(&first, &[Bytes::from_static(b"first again")], "first PAIR");
        assert_frames(
            dhaga_recv(&pair, "dhaga PAIR").frames(),
            &["first again"],
            "only the first PAIR's messages arrive",
        );
        assert_libzmq_idle(&second, "second PAIR");
    });
}

/// libzmq peers with heartbeats on (`ZMQ_HEARTBEAT_IVL`) send PINGs and
/// drop a connection on which nothing comes back within the timeout: dhaga
/// answers each PING with a PONG, so an idle connection stays up.
#[test]
fn libzmq_heartbeats_keep_an_idle_connection_to_dhaga() {
    within_limit(|| {
        let router = dhaga_socket(SocketType::Router);
        router.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = router.last_endpoint().unwrap();
        let ctx = zmq::Context::new();
        let dealer = libzmq_socket(&ctx, zmq::DEALER);
        let (interval_ms, timeout_ms) = (50, 500);
        dealer.set_heartbeat_ivl(interval_ms).unwrap();
        dealer.set_heartbeat_timeout(timeout_ms).unwrap();
        dealer
            .monitor("inproc://heartbeats", zmq::SocketEvent::ALL as i32)
            .unwrap();
        let monitor = libzmq_socket(&ctx, zmq::PAIR);
        monitor.connect("inproc://heartbeats").unwrap();
        dealer.connect(&endpoint).unwrap();
        libzmq_send(&dealer, &[Bytes::from_static(b"hello")], "libzmq DEALER");
        let hello = dhaga_recv(&router, "dhaga ROUTER");
        assert_frames(&hello.frames()[1..], &["hello"], "the DEALER's first message");
        let id = hello[0].clone();

        // Idle for three heartbeat timeouts (thirty PINGs): the chance for libzmq to give
        // up on a peer that does not answer its PINGs. A measurement window, not an
        // ordering: what the test shows is that an event (libzmq's DISCONNECTED) does
        // not happen, and nothing marks the moment libzmq would have given up, so
        // only time can. (A loaded machine only makes the window look longer to
        // libzmq's timers, never shorter.)
        thread::sleep(Duration::from_millis(3 * timeout_ms as u64));
        loop {
            match monitor.recv_multipart(zmq::DONTWAIT) {
                Ok(frames) => {
                    let event = zmq::SocketEvent::from_raw(u16::from_le_bytes([frames[0][0], frames[0][1]]));
                    assert_ne!(
                        event,
                        zmq::SocketEvent::DISCONNECTED,
                        "libzmq dropped the idle connection: dhaga did not answer its PINGs"
                    );
                }
                Err(zmq::Error::EAGAIN) => break,
                Err(e) => panic!("monitor: {e}"),
            }
        }
        // The same connection (the routing id still routes) carries traffic.
        dhaga_send(
            &router,
            [id, Bytes::from_static(b"still here")].into_iter().collect(),
            "dhaga ROUTER",
        );
        assert_frames(
            &libzmq_recv(&dealer, "libzmq DEALER"),
            &["still here"],
            "after the idle time",
        );
    });
}

/// A ROUTER talks to a ROUTER when both chose routing ids (a broker
/// mesh): the libzmq ROUTER addresses dhaga's by the id dhaga chose, and
/// dhaga's sees the libzmq ROUTER's chosen id and answers by it.
#[test]
fn dhaga_router_and_libzmq_router_address_each_other() {
    within_limit(|| {
        let router = dhaga_socket(SocketType::Router);
        router.set_routing_id("dhaga-router").unwrap();
        router.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = router.last_endpoint().unwrap();
        let ctx = zmq::Context::new();
        let peer = libzmq_socket(&ctx, zmq::ROUTER);
        peer.set_identity(b"libzmq-router").unwrap();
        peer.set_router_mandatory(true).unwrap();
        peer.monitor("inproc://router-router", zmq::SocketEvent::ALL as i32)
            .unwrap();
        let monitor = libzmq_socket(&ctx, zmq::PAIR);
        monitor.connect("inproc://router-router").unwrap();
        peer.connect(&endpoint).unwrap();
        // A ROUTER can address its peer once the handshake told it the id.
        let event = wait_for_event(
            &monitor,
            &[zmq::SocketEvent::HANDSHAKE_SUCCEEDED, zmq::SocketEvent::DISCONNECTED],
            "libzmq ROUTER monitor",
        );
        assert_eq!(event, zmq::SocketEvent::HANDSHAKE_SUCCEEDED);
        libzmq_send(
            &peer,
            &[Bytes::from_static(b"dhaga-router"), Bytes::from_static(b"ping")],
            "libzmq ROUTER",
        );
        assert_frames(
            dhaga_recv(&router, "dhaga ROUTER").frames(),
            &["libzmq-router", "ping"],
            "dhaga's ROUTER sees the chosen id",
        );
        dhaga_send(&router, ["libzmq-router", "pong"].into_iter().collect(), "dhaga ROUTER");
        assert_frames(
            &libzmq_recv(&peer, "libzmq ROUTER"),
            &["dhaga-router", "pong"],
            "libzmq's ROUTER sees dhaga's chosen id",
        );
    });
}

/// Many messages of many small frames (0 to 600 bytes, so frames straddle
/// the reads' boundaries in every way) both ways through a PAIR,
/// pipelined: everything is sent before anything is received.
#[test]
fn pair_carries_many_multipart_messages_both_ways() {
    within_limit(|| {
        let scratch = Scratch::new("pair-many");
        let ctx = zmq::Context::new();
        // A fixed pseudo-random sequence (a linear congruential generator).
        let mut state = 0x2545_f491_u32;
        let mut next = move |below: u32| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 8) % below
        };
        let messages: Vec<Vec<Bytes>> = (0..300)
            .map(|_| {
                (0..1 + next(40))
                    .map(|_| interop::frame(next(601) as usize, next(251) as u8))
                    .collect()
            })
            .collect();
        for (i, case) in CASES.into_iter().enumerate() {
            let link = Link::new(&ctx, &scratch, &format!("many-{i}"), case, SocketType::Pair, zmq::PAIR);
            for message in &messages {
                link.dhaga_send(message);
            }
            for message in &messages {
                link.check(&link.libzmq_recv(), message, "what libzmq received");
                link.libzmq_send(message);
            }
            for message in &messages {
                link.check(link.dhaga_recv().frames(), message, "what dhaga received");
            }
        }
    });
}

/// Linux's abstract socket names (`ipc://@name`) mean the same name to
/// dhaga and libzmq, whichever binds.
#[test]
fn abstract_ipc_names_match_libzmq() {
    within_limit(|| {
        let ctx = zmq::Context::new();
        for (i, binder) in [Binder::Dhaga, Binder::Libzmq].into_iter().enumerate() {
            let endpoint = format!("ipc://@dhaga-interop-{}-{i}", std::process::id());
            let rep = dhaga_socket(SocketType::Rep);
            let req = libzmq_socket(&ctx, zmq::REQ);
            match binder {
                Binder::Dhaga => {
                    rep.bind(&endpoint).unwrap();
                    req.connect(&endpoint).unwrap();
                }
                Binder::Libzmq => {
                    // A REQ binds as well as any socket; dhaga's REP connects.
                    req.bind(&endpoint).unwrap();
                    rep.connect(&endpoint).unwrap();
                }
            }
            round_trip(&rep, &req, &format!("over {endpoint}, {binder:?} binds"));
        }
    });
}

/// Frame sizes either side of dhaga's own boundaries: its writer sends
/// frames from 32 KiB up from their own buffers instead of copying them
/// into the batch, and its reader reads 64 KiB at a time.
const BOUNDARY_SIZES: [usize; 10] = [
    0,
    1,
    32 * 1024 - 1,
    32 * 1024,
    32 * 1024 + 1,
    100,
    65535,
    65536,
    65537,
    255,
];

/// The `n`th message of [`streams_cross_dhaga_boundaries`]: every third
/// one multipart.
fn boundary_message(n: usize) -> Vec<Bytes> {
    let size = |k: usize| BOUNDARY_SIZES[k % BOUNDARY_SIZES.len()];
    let seed = (n % 251) as u8;
    if n.is_multiple_of(3) {
        (0..4).map(|k| interop::frame(size(n + k), seed)).collect()
    } else {
        vec![interop::frame(size(n), seed)]
    }
}

/// A long stream of messages with frames around dhaga's internal batch and
/// read sizes, more than the high-water marks hold, each way between a
/// PUSH and a PULL, with the receiving side on its own thread: every
/// message arrives whole and in order while the sender waits for room.
#[test]
fn streams_cross_dhaga_boundaries() {
    const COUNT: usize = 1500;
    within_limit(|| {
        let ctx = zmq::Context::new();
        // dhaga sends, libzmq receives.
        let pull = libzmq_socket(&ctx, zmq::PULL);
        pull.set_rcvhwm(10).unwrap();
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = pull.get_last_endpoint().unwrap().unwrap();
        let receiver = Task::os_thread(move || {
            for n in 0..COUNT {
                assert_frames(
                    &libzmq_recv(&pull, "libzmq PULL"),
                    &boundary_message(n),
                    &format!("message {n}"),
                );
            }
        });
        let push = dhaga_socket(SocketType::Push);
        push.set_send_hwm(10);
        push.connect(&endpoint).unwrap();
        for n in 0..COUNT {
            dhaga_send(&push, msg(&boundary_message(n)), "dhaga PUSH");
        }
        receiver.join_within("the libzmq PULL's thread, receiving the stream");

        // libzmq sends, dhaga receives.
        let pull = dhaga_socket(SocketType::Pull);
        pull.set_recv_hwm(10);
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = pull.last_endpoint().unwrap();
        let push = libzmq_socket(&ctx, zmq::PUSH);
        push.set_sndhwm(10).unwrap();
        push.connect(&endpoint).unwrap();
        let sender = Task::os_thread(move || {
            for n in 0..COUNT {
                libzmq_send(&push, &boundary_message(n), "libzmq PUSH");
            }
            push
        });
        for n in 0..COUNT {
            assert_frames(
                dhaga_recv(&pull, "dhaga PULL").frames(),
                &boundary_message(n),
                &format!("message {n}"),
            );
        }
        drop(sender.join_within("the libzmq PUSH's thread, sending the stream"));
    });
}

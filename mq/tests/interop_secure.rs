//! CURVE (RFC 26) and PLAIN (RFC 24) against the real libzmq (the
//! system's, through the `zmq` crate, built with libsodium), in this
//! process.
//!
//! Every pattern is crossed with libzmq with dhaga as the CURVE server and
//! as the client, and as the PLAIN server (its `Authenticator` checking the
//! password) and as the client (a libzmq ZAP handler checking it), over tcp
//! and ipc, with either side binding, carrying `interop::payloads` (0 B,
//! 1 MiB, multipart) both ways. Then the
//! refusals: a client holding the wrong server key, and a server that is
//! not a CURVE server, deliver nothing, and the dhaga side's monitor
//! reports the failed handshake. Every wait is a receive with a timeout.

mod interop;

use std::time::{Duration, Instant};

use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use dhaga_mq::{
    Authenticator, Context, HandshakeFailure, MonitorEvent, Socket, SocketType, curve_keypair, curve_public,
};
use interop::{
    Binder, CASES, Scratch, TIMEOUT, TIMEOUT_MS, Transport, assert_frames, dhaga_recv, dhaga_send, dhaga_socket, join,
    libzmq_socket, msg, payloads, within_limit,
};

/// Which side is the CURVE server.
#[derive(Clone, Copy, Debug)]
enum Server {
    Dhaga,
    Libzmq,
}

/// The keys of one test: the server's pair and the client's.
struct Keys {
    server_public: String,
    server_secret: String,
    client_public: String,
    client_secret: String,
}

impl Keys {
    fn new() -> Keys {
        let (server, client) = (curve_keypair(), curve_keypair());
        Keys {
            server_public: server.public().to_owned(),
            server_secret: server.secret().to_owned(),
            client_public: client.public().to_owned(),
            client_secret: client.secret().to_owned(),
        }
    }
}

fn dhaga_curve(socket: &Socket, role: Server, keys: &Keys) {
    match role {
        Server::Dhaga => {
            socket.set_curve_server(true);
            socket.set_curve_secretkey(&keys.server_secret).unwrap();
        }
        Server::Libzmq => {
            socket.set_curve_serverkey(&keys.server_public).unwrap();
            socket.set_curve_publickey(&keys.client_public).unwrap();
            socket.set_curve_secretkey(&keys.client_secret).unwrap();
        }
    }
    assert_eq!(socket.mechanism(), dhaga_mq::Mechanism::Curve);
}

fn libzmq_curve(socket: &zmq::Socket, role: Server, keys: &Keys) {
    match role {
        Server::Libzmq => {
            socket.set_curve_server(true).unwrap();
            socket.set_curve_secretkey(keys.server_secret.as_bytes()).unwrap();
        }
        Server::Dhaga => {
            socket.set_curve_serverkey(keys.server_public.as_bytes()).unwrap();
            socket.set_curve_publickey(keys.client_public.as_bytes()).unwrap();
            socket.set_curve_secretkey(keys.client_secret.as_bytes()).unwrap();
        }
    }
}

/// The mechanisms the pattern exchanges run with.
#[derive(Clone, Copy, Debug)]
enum Mechanism {
    Curve,
    Plain,
}

/// The PLAIN credentials of the exchanges.
const USER: &str = "admin";
const PASSWORD: &str = "secret";

/// A dhaga socket and a libzmq socket talking CURVE or PLAIN.
struct Link {
    what: String,
    dhaga: Socket,
    libzmq: zmq::Socket,
    /// A dhaga PLAIN server's ZAP handler, in the dhaga socket's context.
    _auth: Option<Authenticator>,
}

/// A libzmq ZAP handler in `ctx` admitting PLAIN peers with `USER` and
/// `PASSWORD` (400 for any other) and every CURVE peer, until dropped.
struct LibzmqZap {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl LibzmqZap {
    fn start(ctx: &zmq::Context) -> LibzmqZap {
        let handler = libzmq_socket(ctx, zmq::REP);
        handler.bind("inproc://zeromq.zap.01").unwrap();
        // Wakes every 50 ms to see whether to stop: a poll, not an ordering.
        handler.set_rcvtimeo(50).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    let Ok(request) = handler.recv_multipart(0) else {
                        continue;
                    };
                    // PLAIN: the password decides; CURVE clients are all admitted.
                    let admitted = match &request[5][..] {
                        b"PLAIN" => {
                            request.len() == 8 && request[6] == USER.as_bytes() && request[7] == PASSWORD.as_bytes()
                        }
                        _ => true,
                    };
                    let status: &[u8] = if admitted { b"200" } else { b"400" };
                    let reply: [&[u8]; 6] = [b"1.0", &request[1], status, b"", USER.as_bytes(), b""];
                    handler.send_multipart(reply, 0).unwrap();
                }
            })
        };
        LibzmqZap {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for LibzmqZap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Link {
    #[expect(clippy::too_many_arguments, reason = "one case of the cross product, spelled out")]
    fn new(
        ctx: &zmq::Context,
        scratch: &Scratch,
        name: &str,
        (transport, binder): (Transport, Binder),
        (mechanism, server): (Mechanism, Server),
        keys: &Keys,
        dhaga_type: SocketType,
        libzmq_type: zmq::SocketType,
    ) -> Link {
        let what = format!(
            "{mechanism:?}, {server:?} serves: dhaga {dhaga_type} with libzmq {libzmq_type:?} over {transport:?}, {binder:?} binds"
        );
        // A context per link: a dhaga PLAIN server's ZAP handler is bound in it.
        let context = Context::new();
        let dhaga = context.socket(dhaga_type);
        dhaga.set_recv_timeout(Some(TIMEOUT));
        dhaga.set_send_timeout(Some(TIMEOUT));
        let libzmq = libzmq_socket(ctx, libzmq_type);
        let mut auth = None;
        match mechanism {
            Mechanism::Curve => {
                dhaga_curve(&dhaga, server, keys);
                libzmq_curve(&libzmq, server, keys);
            }
            Mechanism::Plain => match server {
                Server::Dhaga => {
                    let authenticator = Authenticator::with_context(&context).unwrap();
                    authenticator.configure_plain("*", [(USER, PASSWORD)]);
                    auth = Some(authenticator);
                    dhaga.set_plain_server(true);
                    libzmq.set_plain_username(Some(USER)).unwrap();
                    libzmq.set_plain_password(Some(PASSWORD)).unwrap();
                }
                Server::Libzmq => {
                    libzmq.set_plain_server(true).unwrap();
                    dhaga.set_plain_username(USER).unwrap();
                    dhaga.set_plain_password(PASSWORD).unwrap();
                }
            },
        }
        let endpoint = scratch.bind_endpoint(transport, name);
        join(&dhaga, &libzmq, binder, &endpoint, &what);
        Link {
            what,
            dhaga,
            libzmq,
            _auth: auth,
        }
    }

    fn libzmq_recv(&self) -> Vec<Bytes> {
        match self.libzmq.recv_multipart(0) {
            Ok(frames) => frames.into_iter().map(Bytes::from).collect(),
            Err(e) => panic!("{}: libzmq recv: {e}", self.what),
        }
    }

    fn libzmq_send(&self, frames: &[Bytes]) {
        if let Err(e) = self.libzmq.send_multipart(frames.iter().map(|f| &f[..]), 0) {
            panic!("{}: libzmq send: {e}", self.what);
        }
    }
}

/// Every mechanism with each side serving.
const SECURITIES: [(Mechanism, Server); 4] = [
    (Mechanism::Curve, Server::Dhaga),
    (Mechanism::Curve, Server::Libzmq),
    (Mechanism::Plain, Server::Dhaga),
    (Mechanism::Plain, Server::Libzmq),
];

/// Runs `exchange` over a CURVE and a PLAIN link for every transport,
/// binding side and server side.
fn each_case(tag: &'static str, dhaga_type: SocketType, libzmq_type: zmq::SocketType, exchange: fn(&Link)) {
    each_case_secured(tag, &SECURITIES, dhaga_type, libzmq_type, exchange);
}

/// Runs `exchange` for every transport and binding side, secured each of
/// these ways. A libzmq ZAP handler runs only if a PLAIN case has libzmq
/// serve.
fn each_case_secured(
    tag: &'static str,
    securities: &'static [(Mechanism, Server)],
    dhaga_type: SocketType,
    libzmq_type: zmq::SocketType,
    exchange: fn(&Link),
) {
    within_limit(move || {
        let scratch = Scratch::new(tag);
        let ctx = zmq::Context::new();
        let _zap = securities
            .iter()
            .any(|&security| matches!(security, (Mechanism::Plain, Server::Libzmq)))
            .then(|| LibzmqZap::start(&ctx));
        let keys = Keys::new();
        for &(mechanism, server) in securities {
            for (i, case) in CASES.into_iter().enumerate() {
                let name = format!("{tag}-{mechanism:?}-{server:?}-{i}");
                let security = (mechanism, server);
                let link = Link::new(&ctx, &scratch, &name, case, security, &keys, dhaga_type, libzmq_type);
                exchange(&link);
            }
        }
    });
}

/// A request each way for every payload: the asker's frames arrive as
/// sent, and the answer (the request reversed) too.
fn ask_and_answer(link: &Link, dhaga_asks: bool, envelope: &[Bytes]) {
    for payload in payloads() {
        let mut answer: Vec<Bytes> = payload.iter().rev().cloned().collect();
        if dhaga_asks {
            dhaga_send(&link.dhaga, msg(&payload), &link.what);
            let request = link.libzmq_recv();
            assert_frames(&request[envelope.len()..], &payload, &link.what);
            let mut reply = request[..envelope.len()].to_vec();
            reply.append(&mut answer.clone());
            link.libzmq_send(&reply);
            let reply = dhaga_recv(&link.dhaga, &link.what);
            assert_frames(reply.frames(), &answer, &link.what);
        } else {
            link.libzmq_send(&payload);
            let request = dhaga_recv(&link.dhaga, &link.what);
            let frames = request.frames();
            assert_frames(&frames[envelope.len()..], &payload, &link.what);
            let mut reply = frames[..envelope.len()].to_vec();
            reply.append(&mut answer);
            dhaga_send(&link.dhaga, msg(&reply), &link.what);
            let reply = link.libzmq_recv();
            assert_frames(&reply, &payload.iter().rev().cloned().collect::<Vec<_>>(), &link.what);
        }
    }
}

#[test]
fn req_rep_both_ways() {
    each_case("curve-req", SocketType::Req, zmq::REP, |link| {
        ask_and_answer(link, true, &[])
    });
    // Without a PLAIN libzmq REQ server, and so without a libzmq ZAP handler:
    // a libzmq REQ never receives a reply once its server side asked one
    // (libzmq with itself alike; czmq issue 2171, jeromq issue 872).
    each_case_secured("curve-rep", &SECURITIES[..3], SocketType::Rep, zmq::REQ, |link| {
        ask_and_answer(link, false, &[])
    });
}

#[test]
fn dealer_router_both_ways() {
    // A libzmq ROUTER sees the dealer's routing id first.
    each_case("curve-dealer", SocketType::Dealer, zmq::ROUTER, |link| {
        for payload in payloads() {
            dhaga_send(&link.dhaga, msg(&payload), &link.what);
            let got = link.libzmq_recv();
            assert_frames(&got[1..], &payload, &link.what);
            let mut back = vec![got[0].clone()];
            back.extend(payload.iter().cloned());
            link.libzmq_send(&back);
            assert_frames(dhaga_recv(&link.dhaga, &link.what).frames(), &payload, &link.what);
        }
    });
    each_case("curve-router", SocketType::Router, zmq::DEALER, |link| {
        for payload in payloads() {
            link.libzmq_send(&payload);
            let got = dhaga_recv(&link.dhaga, &link.what);
            assert_frames(&got.frames()[1..], &payload, &link.what);
            dhaga_send(&link.dhaga, msg(got.frames()), &link.what);
            assert_frames(&link.libzmq_recv(), &payload, &link.what);
        }
    });
}

#[test]
fn push_pull_and_pair_both_ways() {
    each_case("curve-push", SocketType::Push, zmq::PULL, |link| {
        for payload in payloads() {
            dhaga_send(&link.dhaga, msg(&payload), &link.what);
            assert_frames(&link.libzmq_recv(), &payload, &link.what);
        }
    });
    each_case("curve-pull", SocketType::Pull, zmq::PUSH, |link| {
        for payload in payloads() {
            link.libzmq_send(&payload);
            assert_frames(dhaga_recv(&link.dhaga, &link.what).frames(), &payload, &link.what);
        }
    });
    each_case("curve-pair", SocketType::Pair, zmq::PAIR, |link| {
        ask_and_answer(link, true, &[]);
        ask_and_answer(link, false, &[]);
    });
}

/// The subscriber's subscription travels encrypted (a SUBSCRIBE command
/// inside a MESSAGE); publishing goes on until the first message arrives,
/// as a late joiner misses what came before.
#[test]
fn pub_sub_both_ways() {
    each_case("curve-pub", SocketType::Pub, zmq::SUB, |link| {
        link.libzmq.set_subscribe(b"").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        link.libzmq.set_rcvtimeo(50).unwrap();
        loop {
            assert!(
                Instant::now() < deadline,
                "{}: the subscription never arrived",
                link.what
            );
            dhaga_send(&link.dhaga, msg(&[Bytes::from_static(b"tick")]), &link.what);
            if link.libzmq.recv_multipart(0).is_ok() {
                break;
            }
        }
    });
    each_case("curve-sub", SocketType::Sub, zmq::PUB, |link| {
        link.dhaga.subscribe(b"").unwrap();
        link.dhaga.set_recv_timeout(Some(Duration::from_millis(50)));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(
                Instant::now() < deadline,
                "{}: the subscription never arrived",
                link.what
            );
            link.libzmq_send(&[Bytes::from_static(b"tick")]);
            if link.dhaga.recv().is_ok() {
                break;
            }
        }
    });
}

/// Waits for the monitor's `HandshakeFailed`, skipping other events.
fn handshake_failure(events: &dhaga_runtime::sync::Receiver<MonitorEvent>, what: &str) -> HandshakeFailure {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match events.recv_deadline(deadline) {
            Ok(MonitorEvent::HandshakeFailed { reason, .. }) => return reason,
            Ok(MonitorEvent::HandshakeSucceeded { .. }) => panic!("{what}: the handshake succeeded"),
            Ok(_) => {}
            Err(e) => panic!("{what}: no HandshakeFailed within 10 s: {e:?}"),
        }
    }
}

#[test]
fn a_client_with_the_wrong_server_key_gets_nothing() {
    within_limit(|| {
        let ctx = zmq::Context::new();
        let keys = Keys::new();
        let impostor = curve_keypair();
        // dhaga serves; libzmq's client trusts another server key.
        let server = dhaga_socket(SocketType::Pull);
        dhaga_curve(&server, Server::Dhaga, &keys);
        let events = server.monitor();
        server.bind("tcp://127.0.0.1:*").unwrap();
        let client = libzmq_socket(&ctx, zmq::PUSH);
        client.set_curve_serverkey(impostor.public().as_bytes()).unwrap();
        client.set_curve_publickey(keys.client_public.as_bytes()).unwrap();
        client.set_curve_secretkey(keys.client_secret.as_bytes()).unwrap();
        client.connect(&server.last_endpoint().unwrap()).unwrap();
        client.send("secret", zmq::DONTWAIT).ok();
        let failure = handshake_failure(&events, "dhaga server, client with the wrong key");
        assert!(
            matches!(&failure, HandshakeFailure::Protocol(error) if error.to_string().contains("HELLO box")),
            "{failure}"
        );
        server.set_recv_timeout(Some(Duration::from_millis(200)));
        assert!(server.recv().is_err(), "a message arrived");

        // libzmq serves; dhaga's client trusts the impostor's key.
        let server = libzmq_socket(&ctx, zmq::PULL);
        libzmq_curve(&server, Server::Libzmq, &keys);
        server.bind("tcp://127.0.0.1:*").unwrap();
        let client = dhaga_socket(SocketType::Push);
        client.set_curve_serverkey(impostor.public()).unwrap();
        client.set_curve_secretkey(&keys.client_secret).unwrap();
        let events = client.monitor();
        client.connect(server.get_last_endpoint().unwrap().unwrap()).unwrap();
        client.try_send("secret").ok();
        // libzmq drops the connection without a word; dhaga sees it close.
        let failure = handshake_failure(&events, "libzmq server, dhaga client with the wrong key");
        assert!(matches!(failure, HandshakeFailure::NoDetail(_)), "{failure}");
        server.set_rcvtimeo(200).unwrap();
        assert!(server.recv_bytes(0).is_err(), "a message arrived");
    });
}

/// A CURVE client and a NULL server refuse each other: the handshake
/// fails on dhaga's side (libzmq closes once it reads our greeting, or we
/// refuse its) and nothing is delivered.
#[test]
fn a_curve_client_and_a_null_server_do_not_talk() {
    within_limit(|| {
        let ctx = zmq::Context::new();
        let keys = Keys::new();
        let server = libzmq_socket(&ctx, zmq::PULL);
        server.bind("tcp://127.0.0.1:*").unwrap();
        let client = dhaga_socket(SocketType::Push);
        dhaga_curve(&client, Server::Libzmq, &keys);
        let events = client.monitor();
        client.connect(server.get_last_endpoint().unwrap().unwrap()).unwrap();
        client.try_send("secret").ok();
        let failure = handshake_failure(&events, "dhaga CURVE client, libzmq NULL server");
        assert!(
            matches!(&failure, HandshakeFailure::Protocol(error) if error.to_string().contains("NULL"))
                || matches!(&failure, HandshakeFailure::NoDetail(_)),
            "{failure}"
        );
        server.set_rcvtimeo(200).unwrap();
        assert!(server.recv_bytes(0).is_err(), "a message arrived");
    });
}

/// Heartbeats travel inside MESSAGEs both ways: libzmq's PINGs to dhaga
/// are answered (or libzmq would drop the connection), and dhaga's PINGs
/// are understood as commands by libzmq (not delivered to its application
/// as messages) and answered (or dhaga would drop the connection).
#[test]
fn heartbeats_travel_encrypted() {
    within_limit(|| {
        let ctx = zmq::Context::new();
        let keys = Keys::new();
        let router = dhaga_socket(SocketType::Router);
        dhaga_curve(&router, Server::Dhaga, &keys);
        router.set_heartbeat_ivl(Some(Duration::from_millis(50)));
        router.set_heartbeat_timeout(Some(Duration::from_millis(500)));
        let events = router.monitor();
        router.bind("tcp://127.0.0.1:*").unwrap();
        let dealer = libzmq_socket(&ctx, zmq::DEALER);
        libzmq_curve(&dealer, Server::Dhaga, &keys);
        dealer.set_heartbeat_ivl(50).unwrap();
        dealer.set_heartbeat_timeout(500).unwrap();
        dealer.connect(&router.last_endpoint().unwrap()).unwrap();
        dealer.send("hello", 0).unwrap();
        let hello = dhaga_recv(&router, "dhaga ROUTER");
        let id = hello[0].clone();

        // Idle for three heartbeat timeouts (thirty PINGs each way): libzmq's application
        // waits that long for a message that must not come (a PING of ours taken for one),
        // while either side would drop a peer that did not answer its PINGs.
        dealer.set_rcvtimeo(1500).unwrap();
        match dealer.recv_multipart(0) {
            Err(zmq::Error::EAGAIN) => {}
            other => panic!("libzmq's application received {other:?}: a PING taken for a message?"),
        }
        dealer.set_rcvtimeo(TIMEOUT_MS).unwrap();
        while let Ok(event) = events.try_recv() {
            assert!(
                !matches!(event, MonitorEvent::Disconnected { .. }),
                "the connection was dropped: {event}"
            );
        }
        router.set_recv_timeout(Some(Duration::ZERO));
        assert!(
            router.try_recv().is_err(),
            "dhaga's application received a message while idle"
        );
        dhaga_send(&router, msg(&[id, Bytes::from_static(b"still here")]), "dhaga ROUTER");
        assert_eq!(dealer.recv_bytes(0).unwrap(), b"still here");
    });
}

#[test]
fn keys_agree_with_libzmq() {
    let (public, secret) = {
        let pair = zmq::CurveKeyPair::new().unwrap();
        (
            zmq::z85_encode(&pair.public_key).unwrap(),
            zmq::z85_encode(&pair.secret_key).unwrap(),
        )
    };
    assert_eq!(curve_public(&secret).unwrap(), public);
    // And the same key as 32 bytes.
    assert_eq!(curve_public(zmq::z85_decode(&secret).unwrap()).unwrap(), public);
}

//! PLAIN (RFC 24) and ZAP (RFC 27) against the real libzmq, in this
//! process: dhaga's PLAIN server with its [`Authenticator`] and libzmq's
//! client, libzmq's PLAIN server with a libzmq ZAP handler and dhaga's
//! client; CURVE clients admitted or refused by key; NULL peers asked
//! about when the socket has a ZAP domain; and what the ZAP handler says
//! of a peer (its user id) on every message from it.
//!
//! Each test has its own contexts, so the handlers (bound at
//! `inproc://zeromq.zap.01`) of tests running side by side do not meet.
//! Every wait has a deadline.

mod interop;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dhaga_mq::{
    Authenticator, Context, HandshakeFailure, Mechanism, MonitorEvent, Msg, Socket, SocketType, curve_keypair,
};
use interop::{TIMEOUT, libzmq_socket, within_limit};

/// A dhaga socket of `context` whose sends and receives give up after
/// [`TIMEOUT`].
fn socket(context: &Context, socket_type: SocketType) -> Socket {
    let socket = context.socket(socket_type);
    socket.set_recv_timeout(Some(TIMEOUT));
    socket.set_send_timeout(Some(TIMEOUT));
    socket
}

/// Waits for the monitor's `HandshakeFailed` (or success), skipping other
/// events.
fn handshake_outcome(events: &dhaga_runtime::sync::Receiver<MonitorEvent>, what: &str) -> Result<(), HandshakeFailure> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match events.recv_deadline(deadline) {
            Ok(MonitorEvent::HandshakeFailed { reason, .. }) => return Err(reason),
            Ok(MonitorEvent::HandshakeSucceeded { .. }) => return Ok(()),
            Ok(_) => {}
            Err(e) => panic!("{what}: no handshake outcome within {TIMEOUT:?}: {e:?}"),
        }
    }
}

/// Asserts that nothing arrives on a libzmq socket within a short window:
/// the peer was refused, so there is no event to wait for.
fn assert_libzmq_gets_nothing(socket: &zmq::Socket, what: &str) {
    socket.set_rcvtimeo(200).unwrap();
    if let Ok(msg) = socket.recv_bytes(0) {
        panic!("{what}: {msg:?} arrived");
    }
}

/// A libzmq ZAP handler in `ctx` answering `requests` requests with what
/// `decide` says (status code and user id), then stopping. Returns the
/// requests it saw.
fn libzmq_zap_handler(
    ctx: &zmq::Context,
    requests: usize,
    decide: fn(&[Vec<u8>]) -> (&'static str, &'static str),
) -> thread::JoinHandle<Vec<Vec<Vec<u8>>>> {
    let handler = libzmq_socket(ctx, zmq::REP);
    handler.bind("inproc://zeromq.zap.01").unwrap();
    thread::spawn(move || {
        (0..requests)
            .map(|_| {
                let request = handler.recv_multipart(0).expect("a ZAP request within the timeout");
                let (status, user_id) = decide(&request);
                let reply: [&[u8]; 6] = [b"1.0", &request[1], status.as_bytes(), b"", user_id.as_bytes(), b""];
                handler.send_multipart(reply, 0).unwrap();
                request
            })
            .collect()
    })
}

#[test]
fn plain_dhaga_server_with_the_authenticator() {
    within_limit(|| {
        let context = Context::new();
        let auth = Authenticator::with_context(&context).unwrap();
        auth.configure_plain("*", [("admin", "secret")]);
        let server = socket(&context, SocketType::Rep);
        server.set_plain_server(true);
        assert_eq!(server.mechanism(), Mechanism::Plain);
        let events = server.monitor();
        server.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = server.last_endpoint().unwrap();

        let ctx = zmq::Context::new();
        let client = libzmq_socket(&ctx, zmq::REQ);
        client.set_plain_username(Some("admin")).unwrap();
        client.set_plain_password(Some("secret")).unwrap();
        client.connect(&endpoint).unwrap();
        assert_eq!(handshake_outcome(&events, "the right password").ok(), Some(()));
        client.send("hello", 0).unwrap();
        let request = server.recv().unwrap();
        assert_eq!(request, Msg::from("hello"));
        // What the handshake and the ZAP handler said of the peer.
        assert_eq!(request.gets("User-Id"), Some("admin"));
        assert_eq!(request.gets("Socket-Type"), Some("REQ"));
        assert_eq!(request.gets("peer-address"), Some("127.0.0.1"));
        assert_eq!(request.gets("No-Such-Property"), None);
        server.send("world").unwrap();
        assert_eq!(client.recv_bytes(0).unwrap(), b"world");

        // A wrong password: refused with 400, which the client's libzmq reports as an
        // authentication failure; nothing is delivered.
        let intruder = libzmq_socket(&ctx, zmq::REQ);
        intruder.set_plain_username(Some("admin")).unwrap();
        intruder.set_plain_password(Some("guess")).unwrap();
        intruder.connect(&endpoint).unwrap();
        intruder.send("let me in", zmq::DONTWAIT).ok();
        match handshake_outcome(&events, "a wrong password") {
            Err(HandshakeFailure::Auth(400)) => {}
            other => panic!("a wrong password: {other:?}"),
        }
        server.set_recv_timeout(Some(Duration::from_millis(200)));
        assert!(server.recv().is_err(), "the intruder's request arrived");
        auth.stop();
    });
}

/// A peer cannot pass itself off as another user: its handshake
/// properties do not override the `User-Id` its ZAP handler gave it, nor
/// its `Peer-Address`. A raw PLAIN client logs in as `guest` and names
/// itself `root` in its INITIATE.
#[test]
fn a_peer_cannot_set_its_own_user_id() {
    within_limit(|| {
        let context = Context::new();
        let auth = Authenticator::with_context(&context).unwrap();
        auth.configure_plain("*", [("guest", "guest")]);
        let server = socket(&context, SocketType::Pull);
        server.set_plain_server(true);
        server.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = server.last_endpoint().unwrap();
        let mut stream = TcpStream::connect(endpoint.trim_start_matches("tcp://")).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();

        let mut greeting = vec![0u8; 64];
        greeting[0] = 0xFF;
        greeting[9] = 0x7F;
        greeting[10] = 3;
        greeting[11] = 1;
        greeting[12..17].copy_from_slice(b"PLAIN");
        stream.write_all(&greeting).unwrap();
        let mut theirs = [0u8; 64];
        stream.read_exact(&mut theirs).unwrap();
        let command = |name: &str, data: &[u8]| {
            let mut body = vec![name.len() as u8];
            body.extend(name.as_bytes());
            body.extend(data);
            let mut frame = vec![0x04, body.len() as u8];
            frame.extend(body);
            frame
        };
        let property = |name: &str, value: &str| {
            let mut bytes = vec![name.len() as u8];
            bytes.extend(name.as_bytes());
            bytes.extend((value.len() as u32).to_be_bytes());
            bytes.extend(value.as_bytes());
            bytes
        };
        stream.write_all(&command("HELLO", b"\x05guest\x05guest")).unwrap();
        let mut welcome = [0u8; 10];
        stream.read_exact(&mut welcome).unwrap();
        assert_eq!(&welcome[3..], b"WELCOME");
        let initiate = [
            property("Socket-Type", "PUSH"),
            property("User-Id", "root"),
            property("Peer-Address", "10.9.9.9"),
            property("X-Shoe-Size", "42"),
        ]
        .concat();
        stream.write_all(&command("INITIATE", &initiate)).unwrap();
        stream.write_all(&[0x00, 5]).unwrap();
        stream.write_all(b"hello").unwrap();

        let msg = server.recv().unwrap();
        assert_eq!(msg, Msg::from("hello"));
        assert_eq!(msg.gets("User-Id"), Some("guest"));
        assert_eq!(msg.gets("Peer-Address"), Some("127.0.0.1"));
        assert_eq!(
            msg.gets("X-Shoe-Size"),
            Some("42"),
            "the peer's own properties still come"
        );
    });
}

#[test]
fn plain_dhaga_client_and_libzmq_server() {
    within_limit(|| {
        let ctx = zmq::Context::new();
        let zap = libzmq_zap_handler(&ctx, 2, |request| {
            // version, id, domain, address, routing id, mechanism, user name, password
            match (&request[5][..], &request[6][..], &request[7][..]) {
                (b"PLAIN", b"admin", b"secret") => ("200", "admin"),
                _ => ("400", ""),
            }
        });
        let server = libzmq_socket(&ctx, zmq::PULL);
        server.set_plain_server(true).unwrap();
        server.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = server.get_last_endpoint().unwrap().unwrap();

        let context = Context::new();
        let client = socket(&context, SocketType::Push);
        client.set_plain_username("admin").unwrap();
        client.set_plain_password("secret").unwrap();
        let events = client.monitor();
        client.connect(&endpoint).unwrap();
        assert_eq!(handshake_outcome(&events, "the right password").ok(), Some(()));
        client.send("hello").unwrap();
        assert_eq!(server.recv_bytes(0).unwrap(), b"hello");

        let intruder = socket(&context, SocketType::Push);
        intruder.set_plain_username("admin").unwrap();
        intruder.set_plain_password("guess").unwrap();
        let events = intruder.monitor();
        intruder.connect(&endpoint).unwrap();
        intruder.try_send("let me in").ok();
        match handshake_outcome(&events, "a wrong password") {
            Err(HandshakeFailure::Auth(400)) => {}
            other => panic!("a wrong password: {other:?}"),
        }
        assert_libzmq_gets_nothing(&server, "libzmq's PLAIN server");
        let requests = zap.join().unwrap();
        assert_eq!(requests.len(), 2);
        // What a REP handler receives (the delimiter taken off): version, id, domain,
        // address, routing id, mechanism, user name, password.
        let plain: [&[u8]; 8] = [b"1.0", b"1", b"", b"127.0.0.1", b"", b"PLAIN", b"admin", b"secret"];
        assert_eq!(requests[0].iter().map(|f| &f[..]).collect::<Vec<_>>(), plain);
    });
}

#[test]
fn a_plain_server_without_a_zap_handler_refuses_everybody() {
    within_limit(|| {
        let context = Context::new();
        let server = socket(&context, SocketType::Pull);
        server.set_plain_server(true);
        let events = server.monitor();
        server.bind("tcp://127.0.0.1:*").unwrap();
        let ctx = zmq::Context::new();
        let client = libzmq_socket(&ctx, zmq::PUSH);
        client.set_plain_username(Some("admin")).unwrap();
        client.set_plain_password(Some("secret")).unwrap();
        client.connect(&server.last_endpoint().unwrap()).unwrap();
        client.send("hello", zmq::DONTWAIT).ok();
        match handshake_outcome(&events, "no ZAP handler") {
            Err(HandshakeFailure::Protocol(error)) if error.to_string().contains("ZAP handler") => {}
            other => panic!("no ZAP handler: {other:?}"),
        }
        server.set_recv_timeout(Some(Duration::from_millis(200)));
        assert!(server.recv().is_err());
    });
}

#[test]
fn curve_clients_admitted_by_key() {
    within_limit(|| {
        let context = Context::new();
        let auth = Authenticator::with_context(&context).unwrap();
        let (server_keys, friend, stranger) = (curve_keypair(), curve_keypair(), curve_keypair());
        auth.configure_curve("*", [friend.public()]).unwrap();
        let server = socket(&context, SocketType::Pull);
        server.set_curve_server(true);
        server.set_curve_secretkey(server_keys.secret()).unwrap();
        let events = server.monitor();
        server.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = server.last_endpoint().unwrap();

        let ctx = zmq::Context::new();
        let connect = |keys: &dhaga_mq::CurveKeyPair| {
            let client = libzmq_socket(&ctx, zmq::PUSH);
            client.set_curve_serverkey(server_keys.public().as_bytes()).unwrap();
            client.set_curve_publickey(keys.public().as_bytes()).unwrap();
            client.set_curve_secretkey(keys.secret().as_bytes()).unwrap();
            client.connect(&endpoint).unwrap();
            client
        };
        let friendly = connect(&friend);
        assert_eq!(handshake_outcome(&events, "a known key").ok(), Some(()));
        friendly.send("hello", 0).unwrap();
        let msg = server.recv().unwrap();
        assert_eq!(
            msg.gets("User-Id"),
            Some(friend.public()),
            "the user id is the client's key"
        );

        let strange = connect(&stranger);
        strange.send("let me in", zmq::DONTWAIT).ok();
        match handshake_outcome(&events, "an unknown key") {
            Err(HandshakeFailure::Auth(400)) => {}
            other => panic!("an unknown key: {other:?}"),
        }
        server.set_recv_timeout(Some(Duration::from_millis(200)));
        assert!(server.recv().is_err(), "the stranger's message arrived");

        // And a dhaga client refused by libzmq's handler sees the 400 too.
        let zap = libzmq_zap_handler(&ctx, 1, |_| ("400", ""));
        let libzmq_server = libzmq_socket(&ctx, zmq::PULL);
        libzmq_server.set_curve_server(true).unwrap();
        libzmq_server
            .set_curve_secretkey(server_keys.secret().as_bytes())
            .unwrap();
        libzmq_server.bind("tcp://127.0.0.1:*").unwrap();
        let client = socket(&context, SocketType::Push);
        client.set_curve_serverkey(server_keys.public()).unwrap();
        client.set_curve_secretkey(stranger.secret()).unwrap();
        let events = client.monitor();
        client
            .connect(libzmq_server.get_last_endpoint().unwrap().unwrap())
            .unwrap();
        match handshake_outcome(&events, "refused by libzmq's handler") {
            Err(HandshakeFailure::Auth(400)) => {}
            other => panic!("refused by libzmq's handler: {other:?}"),
        }
        let request = &zap.join().unwrap()[0];
        assert_eq!(&request[5][..], b"CURVE");
        assert_eq!(
            request[6],
            dhaga_mq::z85_decode(stranger.public()).unwrap(),
            "the credential is the client's public key"
        );
    });
}

/// Without a ZAP handler a CURVE server admits any client, unless told to
/// enforce: then it refuses them.
#[test]
fn zap_enforce_domain_refuses_when_nobody_decides() {
    within_limit(|| {
        let context = Context::new();
        let server_keys = curve_keypair();
        let server = socket(&context, SocketType::Pull);
        server.set_curve_server(true);
        server.set_curve_secretkey(server_keys.secret()).unwrap();
        let events = server.monitor();
        server.bind("tcp://127.0.0.1:*").unwrap();
        let ctx = zmq::Context::new();
        let connect = || {
            let keys = curve_keypair();
            let client = libzmq_socket(&ctx, zmq::PUSH);
            client.set_curve_serverkey(server_keys.public().as_bytes()).unwrap();
            client.set_curve_publickey(keys.public().as_bytes()).unwrap();
            client.set_curve_secretkey(keys.secret().as_bytes()).unwrap();
            client.connect(&server.last_endpoint().unwrap()).unwrap();
            client
        };
        let _admitted = connect();
        assert_eq!(handshake_outcome(&events, "no handler, not enforced").ok(), Some(()));
        server.set_zap_enforce_domain(true);
        assert!(server.zap_enforce_domain());
        let _refused = connect();
        match handshake_outcome(&events, "no handler, enforced") {
            Err(HandshakeFailure::Protocol(error)) if error.to_string().contains("ZAP handler") => {}
            other => panic!("no handler, enforced: {other:?}"),
        }
    });
}

/// With a ZAP domain, NULL connections ask the handler too (libzmq's
/// rule); without one they do not.
#[test]
fn null_peers_are_asked_about_when_the_socket_has_a_zap_domain() {
    within_limit(|| {
        let context = Context::new();
        let auth = Authenticator::with_context(&context).unwrap();
        auth.deny("127.0.0.1");
        let server = socket(&context, SocketType::Pull);
        let events = server.monitor();
        server.bind("tcp://127.0.0.1:*").unwrap();
        let ctx = zmq::Context::new();
        let client = libzmq_socket(&ctx, zmq::PUSH);
        client.connect(&server.last_endpoint().unwrap()).unwrap();
        assert_eq!(handshake_outcome(&events, "no domain: not asked").ok(), Some(()));
        client.send("hello", 0).unwrap();
        assert_eq!(server.recv().unwrap(), Msg::from("hello"));

        server.set_zap_domain("global").unwrap();
        assert_eq!(server.zap_domain(), Bytes::from_static(b"global"));
        let endpoint = "tcp://127.0.0.1:0";
        server.bind(endpoint).unwrap();
        let second = libzmq_socket(&ctx, zmq::PUSH);
        second.connect(&server.last_endpoint().unwrap()).unwrap();
        second.send("denied", zmq::DONTWAIT).ok();
        match handshake_outcome(&events, "a domain: asked, and denied") {
            Err(HandshakeFailure::Auth(400)) => {}
            other => panic!("a domain: {other:?}"),
        }
    });
}

//! CURVE on the wire, checked field by field against libzmq (the system's,
//! through the `zmq` crate) and against a hostile client.
//!
//! The captures put a raw TCP socket where one side would be and drive
//! the other side of the handshake with this crate's own CURVE code: every
//! command libzmq sends is taken apart (name, length, version, padding,
//! nonce values, box sizes, the frame kind a MESSAGE travels in) before it
//! is used, so a field out of place fails with its name, not as a box that
//! does not open.
//!
//! The attacks complete a real handshake with a dhaga CURVE server and
//! then replay, alter and reorder sealed MESSAGEs: each must end the
//! connection and deliver nothing of what was sent wrongly.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::command::split_name;
use super::curve::{self, ClientKeys, Opener, Sealer};
use super::frame::{FLAG_COMMAND, parse_header};
use super::greeting::{GREETING_LEN, Greeting};
use super::mechanism::Mechanism;
use super::metadata::Metadata;
use super::nacl::SecretKey;
use crate::{MonitorEvent, Socket, SocketType};

/// How long any read of these tests may wait.
const PATIENCE: Duration = Duration::from_secs(10);

/// One frame read off a raw stream: its flags byte and its body.
fn read_frame(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut header = vec![0u8; 2];
    stream
        .read_exact(&mut header)
        .expect("a frame header within the timeout");
    if header[0] & 0x02 != 0 {
        header.resize(9, 0);
        stream.read_exact(&mut header[2..]).expect("a long frame header");
    }
    let parsed = parse_header(&header).unwrap().unwrap();
    let mut body = vec![0u8; usize::try_from(parsed.body_len).unwrap()];
    stream.read_exact(&mut body).expect("a frame body within the timeout");
    (parsed.flags, body)
}

/// A command read off a raw stream, as its name and data.
fn read_command(stream: &mut TcpStream, expected: &str) -> Bytes {
    let (flags, body) = read_frame(stream);
    assert_eq!(
        flags & FLAG_COMMAND,
        FLAG_COMMAND,
        "{expected} comes in a command frame"
    );
    let (name, data) = split_name(Bytes::from(body)).unwrap();
    assert_eq!(&name[..], expected.as_bytes());
    data
}

/// Writes our greeting and reads the peer's, checking it names CURVE.
fn greet(stream: &mut TcpStream, as_server: bool) {
    stream
        .write_all(&Greeting::ours(Mechanism::Curve, as_server).encode())
        .unwrap();
    let mut greeting = [0u8; GREETING_LEN];
    stream.read_exact(&mut greeting).expect("libzmq's greeting");
    let peer = Greeting::decode(&greeting).unwrap();
    assert_eq!(peer.mechanism, Mechanism::Curve);
    // libzmq sends its as-server flag as zero whatever its role.
    assert!(!peer.as_server);
}

fn short_nonce(bytes: &[u8]) -> u64 {
    u64::from_be_bytes(bytes[..8].try_into().unwrap())
}

/// Both long-term key pairs of a test.
struct Keys {
    server: Arc<SecretKey>,
    client: SecretKey,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            server: Arc::new(SecretKey::generate()),
            client: SecretKey::generate(),
        }
    }

    fn client_keys(&self) -> Arc<ClientKeys> {
        Arc::new(ClientKeys {
            public: self.client.public_key(),
            secret: self.client.clone(),
            server: self.server.public_key(),
        })
    }
}

fn metadata_of(socket_type: &str) -> BytesMut {
    let mut out = BytesMut::new();
    Metadata::new().with("Socket-Type", socket_type).encode(&mut out);
    out
}

/// The MESSAGE in one frame: it travels as a message frame (flags 0, or
/// LONG), not a command; returns its body.
fn read_message(stream: &mut TcpStream) -> BytesMut {
    let (flags, body) = read_frame(stream);
    assert_eq!(flags & !0x02, 0, "libzmq sends MESSAGE as a message frame");
    assert_eq!(&body[..8], b"\x07MESSAGE");
    BytesMut::from(&body[..])
}

#[test]
fn libzmq_clients_commands_field_by_field() {
    let keys = Keys::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let ctx = zmq::Context::new();
    let client = ctx.socket(zmq::PUSH).unwrap();
    client.set_linger(0).unwrap();
    client.set_curve_serverkey(&keys.server.public_key()).unwrap();
    client.set_curve_publickey(&keys.client.public_key()).unwrap();
    client.set_curve_secretkey(&keys.client.to_bytes()[..]).unwrap();
    client
        .connect(&format!("tcp://{}", listener.local_addr().unwrap()))
        .unwrap();
    let (mut stream, _) = listener.accept().unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    greet(&mut stream, true);

    // HELLO: version 1.0, 72 zero bytes, C', short nonce 1, an 80-byte box.
    let hello = read_command(&mut stream, "HELLO");
    assert_eq!(hello.len(), 194, "HELLO is 200 bytes with its name");
    assert_eq!(&hello[..2], [1, 0], "CurveZMQ 1.0");
    assert!(hello[2..74].iter().all(|&b| b == 0), "72 bytes of zero padding");
    assert_eq!(short_nonce(&hello[106..]), 1, "HELLO's short nonce");
    let mut server = curve::Server::new(Arc::clone(&keys.server));
    let mut out = BytesMut::new();
    server.on_hello(&hello, &mut out).expect("libzmq's HELLO opens");
    stream.write_all(&out).unwrap();

    // INITIATE: our cookie back, short nonce 2, the box of C, the vouch and the metadata.
    let initiate = read_command(&mut stream, "INITIATE");
    assert_eq!(short_nonce(&initiate[96..]), 2, "INITIATE's short nonce");
    let metadata_len = initiate.len() - 248;
    let mut initiated = server.on_initiate(&initiate).expect("libzmq's INITIATE opens");
    assert_eq!(initiated.client, keys.client.public_key(), "the vouched long-term key");
    assert_eq!(
        initiated.metadata.len(),
        metadata_len,
        "the box holds 128 bytes and the metadata"
    );
    let metadata = Metadata::decode(Bytes::copy_from_slice(&initiated.metadata)).unwrap();
    assert_eq!(metadata.get("Socket-Type").map(|v| &v[..]), Some(&b"PUSH"[..]));
    out.clear();
    curve::ready(&mut initiated.session, &metadata_of("PULL"), &mut out);
    stream.write_all(&out).unwrap();

    // libzmq's first message: nonce 3, in a message frame, flags and body inside the box.
    client.send_multipart([&b"first"[..], b""], 0).unwrap();
    let (_, mut opener) = initiated.session.split();
    for (nonce, more, body) in [(3, true, &b"first"[..]), (4, false, b"")] {
        let message = read_message(&mut stream);
        assert_eq!(short_nonce(&message[8..]), nonce);
        assert_eq!(message.len(), 33 + body.len(), "name, nonce, tag, flags, body");
        let opened = opener.open(message).unwrap();
        assert_eq!((opened.more, opened.command, &opened.body[..]), (more, false, body));
    }
}

#[test]
fn libzmq_servers_commands_field_by_field() {
    let keys = Keys::new();
    let ctx = zmq::Context::new();
    let server = ctx.socket(zmq::PUSH).unwrap();
    server.set_linger(0).unwrap();
    server.set_curve_server(true).unwrap();
    server.set_curve_secretkey(&keys.server.to_bytes()[..]).unwrap();
    server.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = server.get_last_endpoint().unwrap().unwrap();
    let mut stream = TcpStream::connect(endpoint.trim_start_matches("tcp://")).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    greet(&mut stream, false);

    let mut client = curve::Client::new(keys.client_keys());
    let mut out = BytesMut::new();
    client.hello(&mut out).unwrap();
    stream.write_all(&out).unwrap();

    // WELCOME: a 16-byte long nonce and a 144-byte box.
    let welcome = read_command(&mut stream, "WELCOME");
    assert_eq!(welcome.len(), 160, "WELCOME is 168 bytes with its name");
    out.clear();
    client
        .on_welcome(&welcome, &metadata_of("PULL"), &mut out)
        .expect("libzmq's WELCOME opens");
    stream.write_all(&out).unwrap();

    // READY: short nonce 1 and the box of its metadata.
    let ready = read_command(&mut stream, "READY");
    assert_eq!(short_nonce(&ready), 1, "READY's short nonce");
    let (metadata, session) = client.on_ready(&ready).expect("libzmq's READY opens");
    assert_eq!(ready.len(), 8 + 16 + metadata.len());
    let metadata = Metadata::decode(Bytes::copy_from_slice(&metadata)).unwrap();
    assert_eq!(metadata.get("Socket-Type").map(|v| &v[..]), Some(&b"PUSH"[..]));

    let (_, mut opener) = session.split();
    server.send("hello", 0).unwrap();
    let message = read_message(&mut stream);
    assert_eq!(
        short_nonce(&message[8..]),
        2,
        "the server's first MESSAGE follows READY"
    );
    let opened = opener.open(message).unwrap();
    assert_eq!(
        (opened.more, opened.command, &opened.body[..]),
        (false, false, &b"hello"[..])
    );
}

/// A dhaga CURVE server and a hostile client that completed a real
/// handshake with it: the stream, and the sealer of the client's session.
struct Attack {
    pull: Socket,
    events: dhaga_runtime::sync::Receiver<MonitorEvent>,
    stream: TcpStream,
    sealer: Sealer,
}

impl Attack {
    fn new() -> Attack {
        let keys = Keys::new();
        let pull = Socket::new(SocketType::Pull);
        pull.set_curve_server(true);
        pull.set_curve_secretkey(&keys.server.to_bytes()[..]).unwrap();
        pull.set_recv_timeout(Some(PATIENCE));
        let events = pull.monitor();
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = pull.last_endpoint().unwrap();
        let mut stream = TcpStream::connect(endpoint.trim_start_matches("tcp://")).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream
            .write_all(&Greeting::ours(Mechanism::Curve, false).encode())
            .unwrap();
        let mut greeting = [0u8; GREETING_LEN];
        stream.read_exact(&mut greeting).unwrap();
        assert_eq!(Greeting::decode(&greeting).unwrap().mechanism, Mechanism::Curve);
        let mut client = curve::Client::new(keys.client_keys());
        let mut out = BytesMut::new();
        client.hello(&mut out).unwrap();
        stream.write_all(&out).unwrap();
        let welcome = read_command(&mut stream, "WELCOME");
        out.clear();
        client.on_welcome(&welcome, &metadata_of("PUSH"), &mut out).unwrap();
        stream.write_all(&out).unwrap();
        let ready = read_command(&mut stream, "READY");
        let (_, session) = client.on_ready(&ready).unwrap();
        let (sealer, _): (Sealer, Opener) = session.split();
        Attack {
            pull,
            events,
            stream,
            sealer,
        }
    }

    fn sealed(&mut self, body: &[u8]) -> BytesMut {
        let mut out = BytesMut::new();
        self.sealer
            .seal(&mut out, false, false, body.len(), |out| out.extend_from_slice(body))
            .unwrap();
        out
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    fn recv(&self) -> Bytes {
        self.pull.recv().expect("a delivered message within the timeout")[0].clone()
    }

    /// Waits for the server to end the connection (our read sees the end),
    /// then checks that it reported it and delivered nothing more.
    fn expect_dropped(mut self) {
        match self.stream.read(&mut [0u8; 64]) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("the connection was not dropped: {other:?}"),
        }
        let lost = std::iter::from_fn(|| self.events.recv_timeout(PATIENCE).ok())
            .any(|event| matches!(event, MonitorEvent::Disconnected { .. }));
        assert!(lost, "no Disconnected event");
        // What came before the violation was delivered before the connection ended.
        self.pull.set_recv_timeout(Some(Duration::ZERO));
        if let Ok(msg) = self.pull.recv() {
            panic!("{msg:?} was delivered");
        }
    }
}

#[test]
fn a_replayed_message_ends_the_connection() {
    let mut attack = Attack::new();
    let message = attack.sealed(b"pay 100");
    attack.send(&message);
    attack.send(&message);
    assert_eq!(attack.recv(), "pay 100");
    attack.expect_dropped();
}

#[test]
fn a_tampered_message_ends_the_connection() {
    let mut attack = Attack::new();
    let mut message = attack.sealed(b"pay 100");
    let last = message.len() - 1;
    message[last] ^= 0x01;
    attack.send(&message);
    // A genuine one after it is not read any more.
    let later = attack.sealed(b"later");
    attack.send(&later);
    attack.expect_dropped();
}

#[test]
fn a_nonce_going_backwards_ends_the_connection() {
    let mut attack = Attack::new();
    let first = attack.sealed(b"first");
    let second = attack.sealed(b"second");
    attack.send(&second);
    attack.send(&first);
    assert_eq!(attack.recv(), "second");
    attack.expect_dropped();
}

#[test]
fn a_well_behaved_client_is_served() {
    // The control: the same client, nothing wrong, everything delivered in order.
    let mut attack = Attack::new();
    for body in [&b"one"[..], b"two", b"three"] {
        let message = attack.sealed(body);
        attack.send(&message);
        assert_eq!(attack.recv(), body);
    }
}

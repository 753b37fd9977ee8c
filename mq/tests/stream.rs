//! STREAM (libzmq's `ZMQ_STREAM`): raw TCP and ipc peers, no ZMTP. Each
//! read arrives as `[routing id, bytes]`, `[routing id, bytes]` writes,
//! `[routing id, ""]` closes; arrivals and departures arrive as
//! `[routing id, ""]`. The peers here are plain std sockets, so every byte
//! on the wire is the test's own.

mod util;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;

use bytes::Bytes;
use dhaga_mq::{Error, Msg, SocketType};
use util::{PATIENCE, SocketWithin, bound, connected, text, within_limit};

/// A std TCP connection to a `tcp://host:port` endpoint, whose reads and
/// writes give up after [`PATIENCE`].
fn raw_tcp(endpoint: &str) -> TcpStream {
    let stream = TcpStream::connect(endpoint.strip_prefix("tcp://").unwrap()).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.set_write_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// The message `[id, bytes…]`: `bytes` for the peer `id` names.
fn addressed(id: &Bytes, bytes: &[&'static [u8]]) -> Msg {
    std::iter::once(id.clone())
        .chain(bytes.iter().map(|b| Bytes::from_static(b)))
        .collect()
}

/// Receives `[id, bytes]` messages from `id` until `len` bytes came;
/// fails the test, naming `what`, on anything else.
#[track_caller]
fn recv_bytes(socket: &dhaga_mq::Socket, id: &Bytes, len: usize, what: &str) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < len {
        let msg = socket.recv_within(what);
        assert_eq!(msg.len(), 2, "{what}: [routing id, bytes], got {:?}", text(&msg));
        assert_eq!(&msg[0], id, "{what}: from the peer");
        assert!(!msg[1].is_empty(), "{what}: bytes, not a notification");
        got.extend_from_slice(&msg[1]);
    }
    got
}

/// Receives a notification (`[id, ""]`), returning the id.
#[track_caller]
fn recv_notice(socket: &dhaga_mq::Socket, what: &str) -> Bytes {
    let msg = socket.recv_within(what);
    assert_eq!(msg.len(), 2, "{what}: [routing id, \"\"], got {:?}", text(&msg));
    assert!(msg[1].is_empty(), "{what}: an empty frame, got {:?}", text(&msg));
    msg[0].clone()
}

/// Reads from `stream` until it ends; fails the test, naming `what`, if
/// it does not within [`PATIENCE`].
#[track_caller]
fn read_to_end(mut stream: impl Read, what: &str) -> Vec<u8> {
    let mut got = Vec::new();
    stream
        .read_to_end(&mut got)
        .unwrap_or_else(|e| panic!("reading {what} to its end: {e}"));
    got
}

#[test]
fn a_bound_stream_serves_a_raw_tcp_client() {
    within_limit(|| {
        let (server, endpoint) = bound(SocketType::Stream, "tcp");
        let mut client = raw_tcp(&endpoint);
        let id = recv_notice(&server, "the client's arrival");
        assert_eq!(id.len(), 5, "a generated routing id");
        assert_eq!(id[0], 0, "a generated routing id starts with a zero byte");

        client.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let request = recv_bytes(&server, &id, 18, "the request");
        assert_eq!(request, b"GET / HTTP/1.0\r\n\r\n");

        // Several frames are written one after the other.
        let reply = addressed(&id, &[b"HTTP/1.0 200 OK\r\n\r\n", b"hello"]);
        server.send_within(reply, "the reply");
        // An empty message closes the connection, after what came before.
        server.send_within(addressed(&id, &[b""]), "the close");
        assert_eq!(read_to_end(&client, "the reply"), b"HTTP/1.0 200 OK\r\n\r\nhello");
    });
}

#[test]
fn a_peer_that_leaves_is_reported_after_its_bytes() {
    within_limit(|| {
        for transport in ["tcp", "ipc"] {
            let (server, endpoint) = bound(SocketType::Stream, transport);
            let mut client: Box<dyn Write> = match transport {
                "tcp" => Box::new(raw_tcp(&endpoint)),
                _ => Box::new(UnixStream::connect(endpoint.strip_prefix("ipc://").unwrap()).unwrap()),
            };
            let id = recv_notice(&server, &format!("{transport}: the arrival"));
            client.write_all(b"last words").unwrap();
            drop(client);
            assert_eq!(
                recv_bytes(&server, &id, 10, &format!("{transport}: the last words")),
                b"last words"
            );
            assert_eq!(recv_notice(&server, &format!("{transport}: the departure")), id);
            // The peer is gone: sending to it fails.
            let to_gone = addressed(&id, &[b"anyone?"]);
            assert!(
                matches!(server.send(to_gone), Err(e) if matches!(e.error(), Error::HostUnreachable)),
                "{transport}: a send to a departed peer"
            );
        }
    });
}

#[test]
fn without_notify_only_bytes_arrive() {
    within_limit(|| {
        let server = util::socket(SocketType::Stream);
        assert!(server.stream_notify());
        server.set_stream_notify(false).unwrap();
        assert!(!server.stream_notify());
        server.bind("tcp://127.0.0.1:*").unwrap();
        let mut client = raw_tcp(&server.last_endpoint().unwrap());
        client.write_all(b"ping").unwrap();
        let msg = server.recv_within("the bytes");
        assert_eq!(text(&msg)[1], "ping", "bytes first, no arrival notice");
        let id = msg[0].clone();
        server.send_within(addressed(&id, &[b"pong"]), "the answer");
        let mut answer = [0u8; 4];
        client.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"pong");
        client.shutdown(Shutdown::Write).unwrap();
        // The peer's end closes the connection, without a notice: the next
        // thing received is the next peer's bytes.
        assert_eq!(read_to_end(&client, "the connection after the peer's end"), b"");
        let mut next = raw_tcp(&server.last_endpoint().unwrap());
        next.write_all(b"next").unwrap();
        assert_eq!(text(&server.recv_within("the next peer's bytes"))[1], "next");
    });
}

#[test]
fn a_connecting_stream_talks_to_a_plain_tcp_server() {
    within_limit(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_read_timeout(Some(PATIENCE)).unwrap();
            let mut request = [0u8; 5];
            conn.read_exact(&mut request).unwrap();
            conn.write_all(b"reply to ").unwrap();
            conn.write_all(&request).unwrap();
            // Closing ends the connection: the STREAM hears of it.
        });
        let client = connected(SocketType::Stream, &format!("tcp://{address}"));
        let id = recv_notice(&client, "the connection");
        client.send_within(addressed(&id, &[b"hello"]), "the request");
        assert_eq!(recv_bytes(&client, &id, 14, "the reply"), b"reply to hello");
        assert_eq!(recv_notice(&client, "the server's close"), id);
        server.join().unwrap();
    });
}

#[test]
fn connect_routing_id_names_the_peer() {
    within_limit(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let client = util::socket(SocketType::Stream);
        client.set_connect_routing_id("web").unwrap();
        client.connect(format!("tcp://{address}")).unwrap();
        let (_conn, _) = listener.accept().unwrap();
        assert_eq!(&recv_notice(&client, "the connection")[..], b"web");
        // A second connect under that id would be refused at every attempt.
        client.set_connect_routing_id("web").unwrap();
        assert!(matches!(
            client.connect(format!("tcp://{address}")),
            Err(Error::InvalidOption {
                option: "connect_routing_id",
                ..
            })
        ));
    });
}

#[test]
fn bad_sends_and_inproc_are_refused() {
    within_limit(|| {
        let (server, _) = bound(SocketType::Stream, "tcp");
        let unknown: Msg = [&b"\0nope"[..], b"data"].into_iter().collect();
        let e = server.send(unknown).unwrap_err();
        assert!(matches!(e.error(), Error::HostUnreachable), "unknown routing id: {e}");
        assert_eq!(text(&e.into_msg()), ["\0nope", "data"], "the message comes back whole");
        let alone = server.send(Msg::from("id-only")).unwrap_err();
        assert!(matches!(alone.error(), Error::EmptyMessage), "no bytes frame: {alone}");
        for result in [server.bind("inproc://raw"), server.connect("inproc://raw")] {
            assert!(
                matches!(
                    result,
                    Err(Error::NotSupported {
                        socket_type: SocketType::Stream,
                        ..
                    })
                ),
                "inproc: {result:?}"
            );
        }
        let router = util::socket(SocketType::Router);
        assert!(matches!(
            router.set_stream_notify(true),
            Err(Error::NotSupported { .. })
        ));
    });
}

#[test]
fn an_ended_connection_goes_at_once_for_the_application() {
    within_limit(|| {
        let (server, endpoint) = bound(SocketType::Stream, "tcp");
        let mut client = raw_tcp(&endpoint);
        let id = recv_notice(&server, "the arrival");
        client.write_all(b"unread").unwrap();
        util::wait_ready(&server, dhaga_mq::Interest::READABLE, "the client's bytes");
        server.send_within(addressed(&id, &[b""]), "the end of the connection");
        // What it sent and was not received is gone, and its id: the end
        // is the application's doing, so no departure notice follows.
        assert!(
            matches!(server.try_recv(), Err(Error::WouldBlock)),
            "its input is dropped"
        );
        let e = server.send(addressed(&id, &[b"anyone?"])).unwrap_err();
        assert!(matches!(e.error(), Error::HostUnreachable), "its id is gone: {e}");
        assert_eq!(read_to_end(&client, "the ended connection"), b"");
        assert!(
            matches!(server.try_recv(), Err(Error::WouldBlock)),
            "nothing after the end"
        );
    });
}

#[test]
fn ending_a_connection_to_a_peer_that_does_not_read_takes_the_linger_time_at_most() {
    within_limit(|| {
        let server = util::socket(SocketType::Stream);
        server.set_send_buffer_size(Some(4096));
        server.set_linger(Some(std::time::Duration::ZERO));
        server.bind("tcp://127.0.0.1:*").unwrap();
        let client = raw_tcp(&server.last_endpoint().unwrap());
        let id = recv_notice(&server, "the arrival");
        // More than the kernel buffers hold: the writer waits in a write.
        let big = Bytes::from(vec![b'x'; 16 << 20]);
        server.send_within(Msg::from_iter([id.clone(), big]), "the big message");
        // The end does not queue behind it: no linger, the connection is
        // cut off now, and the client sees its end after what got through.
        server.send_within(addressed(&id, &[b""]), "the end of the connection");
        let mut got = Vec::new();
        let ended = (&client).read_to_end(&mut got);
        assert!(
            ended.is_ok()
                || ended
                    .as_ref()
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
            "the client's read ends: {ended:?}"
        );
        assert!(got.len() < 16 << 20, "cut off before the end: {} bytes", got.len());
    });
}

#[test]
fn close_does_not_wait_for_a_raw_peer_that_stays() {
    within_limit(|| {
        let (server, endpoint) = bound(SocketType::Stream, "tcp");
        let mut client = raw_tcp(&endpoint);
        let id = recv_notice(&server, "the arrival");
        server.send_within(addressed(&id, &[b"hi"]), "the greeting");
        let mut hi = [0u8; 2];
        client.read_exact(&mut hi).unwrap();
        // The client keeps its end open and sends nothing: close returns
        // once everything is written (the default linger waits for that,
        // not for the peer), and the client sees the end.
        let (closed, returned) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            server.close();
            let _ = closed.send(());
        });
        returned.recv_timeout(PATIENCE).expect("close to return");
        assert_eq!(read_to_end(&client, "the closed connection"), b"");
    });
}

#[test]
fn a_connect_keeps_its_routing_id_and_an_ended_connect_stays_ended() {
    within_limit(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let client = util::socket(SocketType::Stream);
        client.set_reconnect_ivl(std::time::Duration::from_millis(1));
        client.connect(format!("tcp://{address}")).unwrap();
        let (first, _) = listener.accept().unwrap();
        let id = recv_notice(&client, "the first connection");
        drop(first);
        assert_eq!(recv_notice(&client, "the first connection's end"), id);
        let (mut second, _) = listener.accept().unwrap();
        assert_eq!(
            recv_notice(&client, "the second connection"),
            id,
            "one id for the connect"
        );
        // The application ends it: no reconnection follows.
        client.send_within(addressed(&id, &[b""]), "the end");
        second.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut rest = Vec::new();
        second.read_to_end(&mut rest).unwrap();
        listener.set_nonblocking(true).unwrap();
        // A reconnection would come within a few reconnect intervals (1 ms).
        let gone = std::time::Instant::now() + std::time::Duration::from_millis(300);
        while std::time::Instant::now() < gone {
            match listener.accept() {
                Ok(_) => panic!("the STREAM reconnected after the application ended its connection"),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("accept: {e}"),
            }
        }
    });
}

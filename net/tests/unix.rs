//! Unix domain sockets end to end: `UnixListener`/`UnixStream` through a
//! socket file and through `pair`, between micro-threads, between OS threads
//! and mixed, on a single worker where a blocking call would deadlock;
//! `incoming` with a micro-thread per connection; `shutdown`; `try_clone`
//! with a reader and a writer; connect errors; and `UnixDatagram` bound,
//! unbound, connected and paired.
#![cfg(unix)]

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::path::Path;

use dhaga_net::{UnixDatagram, UnixListener, UnixStream};
use dhaga_runtime::{Runtime, spawn};

use util::{CTX_PAIRS, CTXS, Ctx, JoinWithin, PATIENCE, TempDir, echo};

/// One connection through a socket file: the server accepts and echoes,
/// the client sends messages of several sizes, half-closes and reads EOF.
fn echo_once(rt: &Runtime, dir: &TempDir, (sctx, cctx): (Ctx, Ctx)) {
    let path = dir.join(&format!("echo-{sctx:?}-{cctx:?}.sock"));
    let l = UnixListener::bind(&path).expect("bind");
    assert_eq!(l.local_addr().unwrap().as_pathname(), Some(path.as_path()));
    let server = util::start(rt, sctx, move || {
        let (s, from) = l.accept().expect("accept");
        assert!(from.is_unnamed(), "an unbound client has no name: {from:?}");
        echo(s)
    });
    let client_path = path.clone();
    let client = util::start(rt, cctx, move || {
        let mut c = UnixStream::connect(&client_path).expect("connect");
        assert_eq!(c.peer_addr().unwrap().as_pathname(), Some(client_path.as_path()));
        let mut total = 0u64;
        for (i, len) in [1usize, 9, 4096, 50_000].into_iter().enumerate() {
            let msg = util::pattern(i as u64, len);
            c.write_all(&msg).unwrap();
            let mut back = vec![0u8; len];
            c.read_exact(&mut back).unwrap();
            assert!(back == msg, "echo of message {i} ({len} bytes) differs");
            total += len as u64;
        }
        c.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        assert_eq!(c.read_to_end(&mut rest).unwrap(), 0);
        total
    });
    let sent = client.join_within(&format!("the {cctx:?} client's echoed messages and EOF"));
    let echoed = server.join_within(&format!("the {sctx:?} server to echo up to EOF"));
    assert_eq!(echoed, sent, "{sctx:?}/{cctx:?}");
}

#[test]
fn stream_echo_through_a_socket_file_between_all_contexts() {
    util::within_limit(|| {
        let dir = TempDir::new("echo");
        for workers in [1, 2] {
            let rt = util::runtime(workers);
            for ctxs in CTX_PAIRS {
                echo_once(&rt, &dir, ctxs);
                let _ = std::fs::remove_file(dir.join(&format!("echo-{:?}-{:?}.sock", ctxs.0, ctxs.1)));
            }
        }
    });
}

#[test]
fn pair_ping_pong_between_all_contexts() {
    const ROUNDS: u64 = 1000;
    util::within_limit(|| {
        let rt = util::runtime(1);
        for (actx, bctx) in CTX_PAIRS {
            let (mut a, mut b) = UnixStream::pair().unwrap();
            let ponger = util::start(&rt, bctx, move || {
                let mut buf = [0u8; 8];
                for _ in 0..ROUNDS {
                    b.read_exact(&mut buf).unwrap();
                    b.write_all(&(u64::from_le_bytes(buf) * 2).to_le_bytes()).unwrap();
                }
                // The pinger drops its end: EOF.
                b.read(&mut buf).unwrap()
            });
            let pinger = util::start(&rt, actx, move || {
                let mut buf = [0u8; 8];
                for i in 0..ROUNDS {
                    a.write_all(&i.to_le_bytes()).unwrap();
                    a.read_exact(&mut buf).unwrap();
                    assert_eq!(u64::from_le_bytes(buf), i * 2);
                }
            });
            pinger.join_within(&format!("the {actx:?} pinger's {ROUNDS} round trips"));
            let eof = ponger.join_within(&format!("the {bctx:?} ponger's answers and EOF"));
            assert_eq!(eof, 0, "EOF ({actx:?}/{bctx:?})");
        }
    });
}

#[test]
fn incoming_serves_a_micro_thread_per_connection() {
    const CLIENTS: u64 = 50;
    util::within_limit(|| {
        let dir = TempDir::new("incoming");
        let path = dir.join("srv.sock");
        let l = UnixListener::bind(&path).unwrap();
        let sum = dhaga_runtime::run(move || {
            let server = spawn(move || {
                let handlers: Vec<_> = l
                    .incoming()
                    .take(CLIENTS as usize)
                    .map(|s| {
                        let mut s = s.expect("incoming");
                        spawn(move || {
                            let mut b = [0u8; 8];
                            s.read_exact(&mut b).unwrap();
                            let v = u64::from_le_bytes(b);
                            s.write_all(&(v + 100).to_le_bytes()).unwrap();
                            v
                        })
                    })
                    .collect();
                handlers
                    .into_iter()
                    .enumerate()
                    .map(|(i, h)| h.join_within(&format!("handler {i}'s answer")).unwrap())
                    .sum::<u64>()
            });
            let clients: Vec<_> = (0..CLIENTS)
                .map(|i| {
                    let path = path.clone();
                    spawn(move || {
                        let mut c = UnixStream::connect(&path).unwrap();
                        c.write_all(&i.to_le_bytes()).unwrap();
                        let mut b = [0u8; 8];
                        c.read_exact(&mut b).unwrap();
                        assert_eq!(u64::from_le_bytes(b), i + 100);
                    })
                })
                .collect();
            for (i, c) in clients.into_iter().enumerate() {
                c.join_within(&format!("client {i}'s round trip")).unwrap();
            }
            server.join_within("the server's handlers").unwrap()
        });
        assert_eq!(sum, (0..CLIENTS).sum::<u64>());
    });
}

#[test]
fn shutdown_write_gives_the_peer_eof() {
    util::within_limit(|| {
        let rt = util::runtime(1);
        for (actx, bctx) in CTX_PAIRS {
            let (a, b) = UnixStream::pair().unwrap();
            let reader = util::start(&rt, bctx, move || {
                let mut b = b;
                let mut all = Vec::new();
                b.read_to_end(&mut all).unwrap();
                b.write_all(b"bye").unwrap();
                all
            });
            let writer = util::start(&rt, actx, move || {
                let mut a = a;
                a.write_all(b"all of it").unwrap();
                a.shutdown(Shutdown::Write).unwrap();
                let mut back = Vec::new();
                a.read_to_end(&mut back).unwrap();
                back
            });
            let bye = writer.join_within(&format!("the {actx:?} writer's read of the answer to EOF"));
            assert_eq!(bye, b"bye");
            let all = reader.join_within(&format!("the {bctx:?} reader's read to EOF"));
            assert_eq!(all, b"all of it", "{actx:?}/{bctx:?}");
        }
    });
}

#[test]
fn try_clone_gives_a_reader_and_a_writer_on_one_socket() {
    const BULK: u64 = 4 << 20;
    util::within_limit(|| {
        let rt = util::runtime(2);
        for (wctx, rctx) in CTX_PAIRS {
            let (c, s) = UnixStream::pair().unwrap();
            let server = rt.spawn(move || echo(s));
            let w = c.try_clone().unwrap();
            let writer = util::start(&rt, wctx, move || {
                let mut w = w;
                let mut pos = 0u64;
                while pos < BULK {
                    let len = 50_000.min(BULK - pos) as usize;
                    w.write_all(&util::stream_chunk(pos, len)).unwrap();
                    pos += len as u64;
                }
                w.shutdown(Shutdown::Write).unwrap();
                pos
            });
            let reader = util::start(&rt, rctx, move || {
                let mut c = c;
                let mut buf = vec![0u8; 9000];
                let mut pos = 0u64;
                loop {
                    let n = c.read(&mut buf).unwrap();
                    if n == 0 {
                        return pos;
                    }
                    for &b in &buf[..n] {
                        assert_eq!(b, util::stream_byte(pos), "byte {pos}");
                        pos += 1;
                    }
                }
            });
            let how = format!("{wctx:?} writer, {rctx:?} reader");
            assert_eq!(writer.join_within(&format!("the bulk write ({how})")), BULK);
            assert_eq!(
                reader.join_within(&format!("the bulk read to EOF ({how})")),
                BULK,
                "{how}"
            );
            let echoed = server.join_within(&format!("the echo server to EOF ({how})")).unwrap();
            assert_eq!(echoed, BULK);
        }
    });
}

#[test]
fn connect_errors_and_a_taken_path() {
    util::within_limit(|| {
        let rt = util::runtime(1);
        let dir = TempDir::new("errors");
        let stale = dir.join("stale.sock");
        drop(UnixListener::bind(&stale).unwrap());
        assert!(stale.exists(), "the socket file outlives its listener");
        let taken = dir.join("taken.sock");
        let _l = UnixListener::bind(&taken).unwrap();
        let e = UnixListener::bind(&taken).expect_err("the path exists");
        assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e}");
        for ctx in CTXS {
            let missing = dir.join("missing.sock");
            let stale = stale.clone();
            util::start(&rt, ctx, move || {
                let e = UnixStream::connect(&missing).expect_err("no such file");
                assert_eq!(e.kind(), ErrorKind::NotFound, "{ctx:?}: {e}");
                let e = UnixStream::connect(&stale).expect_err("nobody listens");
                assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{ctx:?}: {e}");
            })
            .join_within(&format!("the {ctx:?} connects to a missing and a stale path"));
        }
    });
}

/// The path a datagram came from.
fn from_path(addr: &std::os::unix::net::SocketAddr) -> &Path {
    addr.as_pathname().expect("a bound sender has a path")
}

#[test]
fn datagram_send_to_and_recv_from_between_all_contexts() {
    const ROUNDS: u64 = 500;
    util::within_limit(|| {
        let rt = util::runtime(1);
        let dir = TempDir::new("dgram");
        for (i, (actx, bctx)) in CTX_PAIRS.into_iter().enumerate() {
            let (pa, pb) = (dir.join(&format!("a{i}.sock")), dir.join(&format!("b{i}.sock")));
            let a = UnixDatagram::bind(&pa).unwrap();
            let b = UnixDatagram::bind(&pb).unwrap();
            let (pa2, pb2) = (pa.clone(), pb.clone());
            let ponger = util::start(&rt, bctx, move || {
                let mut buf = [0u8; 4096];
                for _ in 0..ROUNDS {
                    let (n, from) = b.recv_from(&mut buf).unwrap();
                    assert_eq!(from_path(&from), pa2);
                    let reply: Vec<u8> = buf[..n].iter().map(|x| x ^ 0xff).collect();
                    b.send_to(&reply, &pa2).unwrap();
                }
            });
            let pinger = util::start(&rt, actx, move || {
                let mut buf = [0u8; 4096];
                for r in 0..ROUNDS {
                    let msg = util::pattern(r, 1 + (r as usize * 13) % 3000);
                    assert_eq!(a.send_to(&msg, &pb2).unwrap(), msg.len());
                    let (n, from) = a.recv_from(&mut buf).unwrap();
                    assert_eq!(from_path(&from), pb2);
                    assert_eq!(n, msg.len());
                    assert!(buf[..n].iter().zip(&msg).all(|(x, m)| *x == m ^ 0xff), "reply {r}");
                }
            });
            pinger.join_within(&format!("the {actx:?} pinger's {ROUNDS} round trips"));
            ponger.join_within(&format!("the {bctx:?} ponger's {ROUNDS} answers"));
            let _ = (std::fs::remove_file(&pa), std::fs::remove_file(&pb));
        }
    });
}

#[test]
fn datagram_pair_ping_pong_on_a_single_worker() {
    const ROUNDS: u64 = 2000;
    util::within_limit(|| {
        let rt = util::runtime(1);
        let sum = rt.block_on(|| {
            let (a, b) = UnixDatagram::pair().unwrap();
            a.set_read_timeout(Some(PATIENCE)).unwrap();
            let ponger = spawn(move || {
                let mut buf = [0u8; 8];
                for _ in 0..ROUNDS {
                    assert_eq!(b.recv(&mut buf).unwrap(), 8);
                    b.send(&(u64::from_le_bytes(buf) + 3).to_le_bytes()).unwrap();
                }
            });
            let mut sum = 0;
            let mut buf = [0u8; 8];
            for i in 0..ROUNDS {
                a.send(&i.to_le_bytes()).unwrap();
                let n = a
                    .recv(&mut buf)
                    .unwrap_or_else(|e| panic!("the answer to datagram {i}: {e}"));
                assert_eq!(n, 8);
                sum += u64::from_le_bytes(buf);
            }
            ponger.join_within("the ponger's last answer").unwrap();
            sum
        });
        assert_eq!(sum, (0..ROUNDS).map(|i| i + 3).sum::<u64>());
    });
}

#[test]
fn datagram_unbound_and_connected() {
    util::within_limit(|| {
        let rt = util::runtime(1);
        let dir = TempDir::new("unbound");
        for (sctx, rctx) in CTX_PAIRS {
            let path = dir.join("server.sock");
            let _ = std::fs::remove_file(&path);
            let server = UnixDatagram::bind(&path).unwrap();
            let receiver = util::start(&rt, rctx, move || {
                let mut buf = [0u8; 64];
                let (n, from) = server.recv_from(&mut buf).unwrap();
                assert!(from.is_unnamed(), "an unbound sender has no name: {from:?}");
                buf[..n].to_vec()
            });
            let sender = util::start(&rt, sctx, move || {
                let s = UnixDatagram::unbound().unwrap();
                s.connect(&path).unwrap();
                s.send(b"from nowhere").unwrap()
            });
            assert_eq!(sender.join_within(&format!("the {sctx:?} unbound sender's send")), 12);
            let got = receiver.join_within(&format!("the {rctx:?} receiver's datagram"));
            assert_eq!(got, b"from nowhere", "{sctx:?}/{rctx:?}");
        }
    });
}

/// The `*_addr` forms take a `std::os::unix::net::SocketAddr`.
#[test]
fn socket_addr_forms() {
    let dir = TempDir::new("addr-forms");
    let stream_path = dir.path().join("stream.sock");
    let addr = std::os::unix::net::SocketAddr::from_pathname(&stream_path).unwrap();
    let reply = dhaga_runtime::run(move || {
        let listener = UnixListener::bind_addr(&addr).unwrap();
        let server = spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(b"pong").unwrap();
        });
        let mut client = UnixStream::connect_addr(&addr).unwrap();
        client.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut reply = [0; 4];
        client.read_exact(&mut reply).expect("the server's pong");
        server.join_within("the server's accept and pong").unwrap();
        reply
    });
    assert_eq!(&reply, b"pong");

    let a_addr = std::os::unix::net::SocketAddr::from_pathname(dir.path().join("a.sock")).unwrap();
    let b_addr = std::os::unix::net::SocketAddr::from_pathname(dir.path().join("b.sock")).unwrap();
    let a = UnixDatagram::bind_addr(&a_addr).unwrap();
    let b = UnixDatagram::bind_addr(&b_addr).unwrap();
    a.send_to_addr(b"one", &b_addr).unwrap();
    b.connect_addr(&a_addr).unwrap();
    b.send(b"two").unwrap();
    let mut buf = [0; 8];
    assert_eq!(b.recv_from(&mut buf).map(|(n, _)| n).unwrap(), 3);
    assert_eq!(&buf[..3], b"one");
    assert_eq!(a.recv(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"two");
}

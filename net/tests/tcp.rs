//! TCP end to end: `TcpListener` and `TcpStream` between micro-threads,
//! between OS threads and mixed (micro-thread server with an OS-thread
//! client and the reverse); on a single worker, where a call that blocked
//! instead of parking would deadlock; every `ToSocketAddrs` form; refused
//! connections; `shutdown` of either half; `try_clone` and `&TcpStream`
//! shared by a reader and a writer micro-thread; vectored I/O and `peek`;
//! socket options; and the `from_std`/`into_std` conversions.

mod util;

use std::io::{ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use dhaga_net::{TcpListener, TcpStream};
use dhaga_runtime::sync::{bounded, unbounded};
use dhaga_runtime::{Runtime, spawn};

use util::{CTX_PAIRS, CTXS, Ctx, JoinWithin, PATIENCE, RecvWithin, echo};

/// A listener on an ephemeral port of 127.0.0.1.
fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

/// An address of 127.0.0.1 on which nothing listens (a port that was just
/// bound and released).
fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Message sizes of the echo tests: a byte, a few, several segments.
const SIZES: [usize; 6] = [1, 7, 1000, 8192, 20_000, 32 * 1024];

/// One connection: the server accepts and echoes, the client sends every
/// size in turn, checks each echo, half-closes and reads EOF. Checks the
/// addresses both sides see.
fn echo_once(rt: &Runtime, (sctx, cctx): (Ctx, Ctx)) {
    let l = listener();
    let addr = l.local_addr().unwrap();
    assert_eq!(addr.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_ne!(addr.port(), 0, "bind to port 0 picks a port");
    let server = util::start(rt, sctx, move || {
        let (s, from) = l.accept().expect("accept");
        assert_eq!(s.peer_addr().unwrap(), from, "accept's address is the peer's");
        assert_eq!(s.local_addr().unwrap(), addr);
        (from, echo(s))
    });
    let client = util::start(rt, cctx, move || {
        let mut c = TcpStream::connect(addr).expect("connect");
        assert_eq!(c.peer_addr().unwrap(), addr);
        let mut total = 0u64;
        for (i, &len) in SIZES.iter().enumerate() {
            let msg = util::pattern(i as u64, len);
            c.write_all(&msg).unwrap();
            let mut back = vec![0u8; len];
            c.read_exact(&mut back).unwrap();
            assert!(back == msg, "echo of message {i} ({len} bytes) differs");
            total += len as u64;
        }
        c.flush().unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        assert_eq!(c.read_to_end(&mut rest).unwrap(), 0, "EOF once the server ends");
        (c.local_addr().unwrap(), total)
    });
    let (client_addr, sent) = client.join_within(&format!("the {cctx:?} client's echoed messages and EOF"));
    let (from, echoed) = server.join_within(&format!("the {sctx:?} server to echo up to EOF"));
    assert_eq!(
        from, client_addr,
        "accept returned the client's address ({sctx:?}/{cctx:?})"
    );
    assert_eq!(echoed, sent, "{sctx:?}/{cctx:?}");
}

#[test]
fn echo_between_all_contexts() {
    util::within_limit(|| {
        // One worker: a call that blocked the worker instead of parking
        // would deadlock the micro-thread/micro-thread case.
        for workers in [1, 2] {
            let rt = util::runtime(workers);
            for ctxs in CTX_PAIRS {
                echo_once(&rt, ctxs);
            }
        }
    });
}

#[test]
fn run_and_spawn_serve_a_connection_per_micro_thread() {
    // The shape of a real server: `run`, `incoming`, a micro-thread per
    // connection; clients on OS threads and micro-threads alike.
    const CLIENTS: u64 = 40;
    util::within_limit(|| {
        let l = listener();
        let addr = l.local_addr().unwrap();
        let outcome = dhaga_runtime::run(move || {
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
                            s.write_all(&(v * 3 + 1).to_le_bytes()).unwrap();
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
            let client = move |i: u64| {
                let mut c = TcpStream::connect(addr).unwrap();
                c.write_all(&i.to_le_bytes()).unwrap();
                let mut b = [0u8; 8];
                c.read_exact(&mut b).unwrap();
                assert_eq!(u64::from_le_bytes(b), i * 3 + 1);
            };
            // The OS-thread clients report through a channel: joining an
            // OS thread here would block this worker, not park.
            let (os_done_tx, os_done_rx) = unbounded::<u64>();
            let mut os = Vec::new();
            let mut micro = Vec::new();
            for i in 0..CLIENTS {
                if i % 2 == 0 {
                    let done = os_done_tx.clone();
                    os.push(thread::spawn(move || {
                        client(i);
                        done.send(i).unwrap();
                    }));
                } else {
                    micro.push(spawn(move || client(i)));
                }
            }
            drop(os_done_tx);
            for h in micro {
                h.join_within("a micro-thread client's answer").unwrap();
            }
            for n in 1..=CLIENTS / 2 {
                os_done_rx.recv_within(&format!("OS-thread client {n} of {} to finish", CLIENTS / 2));
            }
            let sum = server.join_within("the server's handlers").unwrap();
            (sum, os_done_rx, os)
        });
        let (sum, os_done_rx, os) = outcome;
        for h in os {
            h.join_within("an OS-thread client's end").unwrap();
        }
        assert!(os_done_rx.is_empty(), "more OS-thread clients finished than started");
        assert_eq!(sum, (0..CLIENTS).sum::<u64>());
    });
}

#[test]
fn connect_to_a_port_without_listener_is_refused() {
    util::within_limit(|| {
        let rt = util::runtime(1);
        for ctx in CTXS {
            util::start(&rt, ctx, move || {
                let addr = closed_port();
                let e = TcpStream::connect(addr).expect_err("nothing listens");
                assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "connect ({ctx:?}): {e}");
                let t0 = Instant::now();
                let e = TcpStream::connect_timeout(&addr, Duration::from_secs(20)).expect_err("nothing listens");
                assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "connect_timeout ({ctx:?}): {e}");
                assert!(t0.elapsed() < Duration::from_secs(10), "refusal is not a timeout");
            })
            .join_within(&format!("the {ctx:?} connects to a closed port to be refused"));
        }
    });
}

#[test]
fn connect_tries_every_address_of_a_list() {
    // std's rule: try each address in turn, return the first connection.
    util::within_limit(|| {
        let rt = util::runtime(1);
        for ctx in CTXS {
            let l = listener();
            let good = l.local_addr().unwrap();
            let server = rt.spawn(move || l.accept().unwrap().1);
            let client = util::start(&rt, ctx, move || {
                let addrs = [closed_port(), good];
                let c = TcpStream::connect(&addrs[..]).expect("the second address listens");
                assert_eq!(c.peer_addr().unwrap(), good);
                c.local_addr().unwrap()
            })
            .join_within(&format!("the {ctx:?} connect through a list of addresses"));
            let accepted = server.join_within("the accept of the connection").unwrap();
            assert_eq!(accepted, client, "{ctx:?}");
        }
    });
}

#[test]
fn bind_and_connect_accept_every_to_socket_addrs_form() {
    util::within_limit(|| {
        let rt = util::runtime(2);
        for ctx in CTXS {
            // Bind through four forms, one listener each.
            let listeners = [
                TcpListener::bind("127.0.0.1:0").unwrap(),
                TcpListener::bind(String::from("127.0.0.1:0")).unwrap(),
                TcpListener::bind(("127.0.0.1", 0)).unwrap(),
                TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap(),
            ];
            for l in &listeners {
                let a = l.local_addr().unwrap();
                assert_eq!(a.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
                assert_ne!(a.port(), 0);
            }
            let l = listeners.into_iter().next_back().unwrap();
            let port = l.local_addr().unwrap().port();
            const FORMS: u8 = 8;
            let server = rt.spawn(move || {
                let mut seen = Vec::new();
                for _ in 0..FORMS {
                    let (mut s, _) = l.accept().unwrap();
                    let mut b = [0u8; 1];
                    s.read_exact(&mut b).unwrap();
                    seen.push(b[0]);
                }
                seen
            });
            util::start(&rt, ctx, move || {
                let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
                let addr = SocketAddr::new(localhost, port);
                // Names resolve (through the blocking pool inside a
                // micro-thread); "localhost" may also give ::1 first, which
                // is refused, then 127.0.0.1.
                let streams = [
                    TcpStream::connect(addr),
                    TcpStream::connect((localhost, port)),
                    TcpStream::connect((Ipv4Addr::LOCALHOST, port)),
                    TcpStream::connect(("127.0.0.1", port)),
                    TcpStream::connect(format!("127.0.0.1:{port}").as_str()),
                    TcpStream::connect(format!("127.0.0.1:{port}")),
                    TcpStream::connect(("localhost", port)),
                    TcpStream::connect(format!("localhost:{port}")),
                ];
                for (i, s) in streams.into_iter().enumerate() {
                    let mut s = s.unwrap_or_else(|e| panic!("connect form {i} ({ctx:?}): {e}"));
                    s.write_all(&[i as u8]).unwrap();
                }
            })
            .join_within(&format!("the {ctx:?} connects through every form"));
            let seen = server.join_within("the server's accept of every form").unwrap();
            assert_eq!(seen, (0..FORMS).collect::<Vec<_>>(), "{ctx:?}");
        }
    });
}

#[test]
fn bind_to_a_port_in_use_fails() {
    let l = listener();
    let e = TcpListener::bind(l.local_addr().unwrap()).expect_err("the port is taken");
    assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e}");
}

#[test]
fn shutdown_write_gives_the_peer_eof_and_the_other_direction_still_works() {
    util::within_limit(|| {
        let rt = util::runtime(1);
        for (sctx, cctx) in CTX_PAIRS {
            let l = listener();
            let addr = l.local_addr().unwrap();
            let server = util::start(&rt, sctx, move || {
                let (mut s, _) = l.accept().unwrap();
                let mut req = Vec::new();
                s.read_to_end(&mut req).unwrap();
                // EOF is sticky.
                assert_eq!(s.read(&mut [0u8; 4]).unwrap(), 0);
                s.write_all(b"response").unwrap();
                req
            });
            let client = util::start(&rt, cctx, move || {
                let mut c = TcpStream::connect(addr).unwrap();
                c.write_all(b"request").unwrap();
                c.shutdown(Shutdown::Write).unwrap();
                let e = c.write(b"more").expect_err("write after shutdown(Write)");
                assert_eq!(e.kind(), ErrorKind::BrokenPipe, "{e}");
                let mut resp = Vec::new();
                c.read_to_end(&mut resp).unwrap();
                resp
            });
            let resp = client.join_within(&format!("the {cctx:?} client's read of the response"));
            assert_eq!(resp, b"response", "{sctx:?}/{cctx:?}");
            let req = server.join_within(&format!("the {sctx:?} server's read of the request to EOF"));
            assert_eq!(req, b"request", "{sctx:?}/{cctx:?}");
        }
    });
}

#[test]
fn shutdown_read_makes_reads_return_eof_at_once() {
    util::within_limit(|| {
        let rt = util::runtime(1);
        for ctx in CTXS {
            let l = listener();
            let addr = l.local_addr().unwrap();
            let c = TcpStream::connect(addr).unwrap();
            let (mut s, _) = l.accept().unwrap();
            util::start(&rt, ctx, move || {
                let mut c = c;
                c.shutdown(Shutdown::Read).unwrap();
                // Nothing was sent: without the shutdown this would wait.
                assert_eq!(c.read(&mut [0u8; 16]).unwrap(), 0, "{ctx:?}");
                assert_eq!(c.read(&mut [0u8; 16]).unwrap(), 0, "{ctx:?}");
                // The write half is still open.
                c.write_all(b"still writes").unwrap();
            })
            .join_within(&format!("the {ctx:?} reads after shutdown(Read)"));
            s.set_read_timeout(Some(PATIENCE)).unwrap();
            let mut b = [0u8; 12];
            s.read_exact(&mut b).expect("the bytes written after shutdown(Read)");
            assert_eq!(&b, b"still writes");
        }
    });
}

#[test]
fn shutdown_both_ends_the_connection_for_both_sides() {
    util::within_limit(|| {
        let rt = util::runtime(1);
        for (actx, bctx) in CTX_PAIRS {
            let l = listener();
            let addr = l.local_addr().unwrap();
            let (ready_tx, ready_rx) = bounded::<()>(1);
            let peer = util::start(&rt, bctx, move || {
                let (mut s, _) = l.accept().unwrap();
                ready_tx.send(()).unwrap();
                // Parks until the other side shuts down.
                let mut rest = Vec::new();
                s.read_to_end(&mut rest).unwrap();
                rest.len()
            });
            let closer = util::start(&rt, actx, move || {
                let mut c = TcpStream::connect(addr).unwrap();
                ready_rx.recv_within("the peer's accept");
                c.shutdown(Shutdown::Both).unwrap();
                assert_eq!(c.read(&mut [0u8; 4]).unwrap(), 0);
                assert!(c.write(b"x").is_err(), "write after shutdown(Both)");
            });
            closer.join_within(&format!("the {actx:?} closer's shutdown(Both)"));
            let rest = peer.join_within(&format!("the {bctx:?} peer's read to EOF after the shutdown"));
            assert_eq!(rest, 0, "{actx:?}/{bctx:?}");
        }
    });
}

/// Bytes sent each way by the clone tests: many times the socket buffers,
/// so that the reader and the writer both park many times.
const BULK: u64 = 4 << 20;

/// Writes `BULK` bytes of the stream pattern to `w`, in uneven chunks.
fn write_bulk(mut w: impl Write) -> u64 {
    let mut pos = 0u64;
    let mut i = 0u64;
    while pos < BULK {
        let len = (1000 + (i * 7919) % 60_000).min(BULK - pos) as usize;
        w.write_all(&util::stream_chunk(pos, len)).expect("bulk write");
        pos += len as u64;
        i += 1;
    }
    pos
}

/// Reads from `r` until EOF, checking every byte against the stream pattern.
fn read_bulk(mut r: impl Read) -> u64 {
    let mut buf = vec![0u8; 10_000];
    let mut pos = 0u64;
    loop {
        let n = r.read(&mut buf).expect("bulk read");
        if n == 0 {
            return pos;
        }
        for &b in &buf[..n] {
            assert_eq!(b, util::stream_byte(pos), "byte {pos}");
            pos += 1;
        }
    }
}

#[test]
fn try_clone_gives_a_reader_and_a_writer_on_one_socket() {
    util::within_limit(|| {
        for workers in [1, 2] {
            let rt = util::runtime(workers);
            for (wctx, rctx) in CTX_PAIRS {
                let l = listener();
                let addr = l.local_addr().unwrap();
                let server = rt.spawn(move || echo(l.accept().unwrap().0));
                let c = TcpStream::connect(addr).unwrap();
                let w = c.try_clone().unwrap();
                assert_ne!(w.as_raw_fd(), c.as_raw_fd(), "a clone is a new descriptor");
                assert_eq!(w.local_addr().unwrap(), c.local_addr().unwrap(), "of the same socket");
                let writer = util::start(&rt, wctx, move || {
                    let n = write_bulk(&w);
                    // Shuts down the socket, not just this descriptor: the
                    // server sees EOF and closes, the reader then sees EOF.
                    w.shutdown(Shutdown::Write).unwrap();
                    n
                });
                let reader = util::start(&rt, rctx, move || read_bulk(c));
                let how = format!("{wctx:?} writer, {rctx:?} reader, {workers} workers");
                assert_eq!(writer.join_within(&format!("the bulk write ({how})")), BULK);
                assert_eq!(
                    reader.join_within(&format!("the bulk read to EOF ({how})")),
                    BULK,
                    "{how}"
                );
                let echoed = server.join_within(&format!("the echo server to EOF ({how})")).unwrap();
                assert_eq!(echoed, BULK);
            }
        }
    });
}

#[test]
fn one_stream_read_and_written_through_references_by_two_micro_threads() {
    // `Read` and `Write` for `&TcpStream`: one descriptor with a reader and
    // a writer parked on it at the same time.
    util::within_limit(|| {
        for workers in [1, 2] {
            let rt = util::runtime(workers);
            let l = listener();
            let addr = l.local_addr().unwrap();
            let server = rt.spawn(move || echo(l.accept().unwrap().0));
            let c = Arc::new(TcpStream::connect(addr).unwrap());
            let (w, r) = (Arc::clone(&c), c);
            let writer = rt.spawn(move || {
                let n = write_bulk(&*w);
                w.shutdown(Shutdown::Write).unwrap();
                n
            });
            let reader = rt.spawn(move || read_bulk(&*r));
            let written = writer
                .join_within(&format!("the bulk write ({workers} workers)"))
                .unwrap();
            assert_eq!(written, BULK);
            let read = reader
                .join_within(&format!("the bulk read to EOF ({workers} workers)"))
                .unwrap();
            assert_eq!(read, BULK, "{workers} workers");
            let echoed = server
                .join_within(&format!("the echo server to EOF ({workers} workers)"))
                .unwrap();
            assert_eq!(echoed, BULK);
        }
    });
}

#[test]
fn vectored_io_and_peek() {
    util::within_limit(|| {
        let rt = util::runtime(1);
        for (sctx, cctx) in CTX_PAIRS {
            let l = listener();
            let addr = l.local_addr().unwrap();
            let (sent_tx, sent_rx) = bounded::<()>(1);
            let server = util::start(&rt, sctx, move || {
                let (mut s, _) = l.accept().unwrap();
                // Peek parks (or blocks) until data arrives, and leaves it.
                let mut peeked = [0u8; 64];
                let mut n = s.peek(&mut peeked).unwrap();
                while n < 20 {
                    n = s.peek(&mut peeked).unwrap();
                }
                assert_eq!(&peeked[..n], b"hello vectored world");
                let (mut a, mut b) = ([0u8; 6], [0u8; 32]);
                let mut bufs = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
                let got = s.read_vectored(&mut bufs).unwrap();
                assert_eq!(got, 20);
                assert_eq!(&a, b"hello ");
                assert_eq!(&b[..14], b"vectored world");
                sent_rx.recv_within("the client's report that it wrote");
                s.write_all(b"ok").unwrap();
                s
            });
            let client = util::start(&rt, cctx, move || {
                let mut c = TcpStream::connect(addr).unwrap();
                let bufs = [
                    IoSlice::new(b"hello "),
                    IoSlice::new(b"vectored "),
                    IoSlice::new(b"world"),
                ];
                assert_eq!(c.write_vectored(&bufs).unwrap(), 20);
                sent_tx.send(()).unwrap();
                let mut b = [0u8; 8];
                let n = c.peek(&mut b).unwrap();
                assert_eq!(&b[..n], &b"ok"[..n]);
                let mut all = [0u8; 2];
                c.read_exact(&mut all).unwrap();
                assert_eq!(&all, b"ok", "peek did not consume");
            });
            client.join_within(&format!("the {cctx:?} client's peek and read of the answer"));
            drop(server.join_within(&format!("the {sctx:?} server's peek and vectored read")));
        }
    });
}

#[test]
fn socket_options_and_addresses() {
    util::within_limit(|| {
        let rt = util::runtime(1);
        rt.block_on(|| {
            let l = listener();
            let addr = l.local_addr().unwrap();
            assert!(l.as_raw_fd() >= 0);
            l.set_ttl(77).unwrap();
            assert_eq!(l.ttl().unwrap(), 77);
            assert!(l.take_error().unwrap().is_none());

            // A clone of the listener accepts from the same queue.
            let l2 = l.try_clone().unwrap();
            assert_eq!(l2.local_addr().unwrap(), addr);
            assert_ne!(l2.as_raw_fd(), l.as_raw_fd());
            let acceptor = spawn(move || l2.accept().unwrap());
            let c = TcpStream::connect(addr).unwrap();
            let (s, from) = acceptor.join_within("the accept through the listener's clone").unwrap();
            assert_eq!(from, c.local_addr().unwrap());
            assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
            assert_eq!(c.peer_addr().unwrap(), s.local_addr().unwrap());

            c.set_nodelay(true).unwrap();
            assert!(c.nodelay().unwrap());
            c.set_nodelay(false).unwrap();
            assert!(!c.nodelay().unwrap());
            c.set_ttl(33).unwrap();
            assert_eq!(c.ttl().unwrap(), 33);
            assert!(c.take_error().unwrap().is_none());
            assert!(s.take_error().unwrap().is_none());
            assert_ne!(c.as_raw_fd(), s.as_raw_fd());
            drop(l);
        });
    });
}

#[test]
fn from_std_sockets_park_instead_of_blocking() {
    // One worker. The acceptor starts the connector and then accepts: the
    // connector runs only if accept parks. Then the reader starts a
    // micro-thread that lets an OS thread write, and reads: it gets data
    // only if its read parks. A converted socket that blocked its worker
    // would deadlock here.
    util::within_limit(|| {
        let rt = util::runtime(1);
        let std_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_l.local_addr().unwrap();
        let (go_tx, go_rx) = bounded::<()>(1);
        let (peer_tx, peer_rx) = bounded::<std::net::TcpStream>(1);
        let os_writer = thread::spawn(move || {
            let mut peer = peer_rx.recv_within("the client socket, converted to std");
            // If the read blocked the worker, the go-ahead never comes; this
            // thread then fails, and its end closes the peer, ending the read.
            go_rx.recv_within("the go-ahead, sent only while the reader is parked");
            peer.write_all(b"hello").unwrap();
            peer
        });
        // The accept's deadline. An accept that blocked the worker would
        // never see the connector, which cannot run: after PATIENCE this
        // thread connects in its place, and the accept's address names the
        // failure below.
        let (accepted_tx, accepted_rx) = std::sync::mpsc::channel::<()>();
        let watchdog = thread::spawn(move || {
            if accepted_rx.recv_timeout(PATIENCE).is_err() {
                drop(std::net::TcpStream::connect(addr));
            }
        });
        let got = rt.block_on(move || {
            let l = TcpListener::from_std(std_l).unwrap();
            let connector = spawn(move || TcpStream::connect(addr).unwrap());
            let (s, from) = l.accept().unwrap();
            let _ = accepted_tx.send(());
            let c = connector
                .join_within("the connector, which runs only while accept parks")
                .unwrap();
            assert_eq!(
                from,
                c.local_addr().unwrap(),
                "waited {PATIENCE:?} for the accept of the connector's connection: accept blocked the worker"
            );
            // The client side travels to the OS thread as a std socket.
            let peer = c.into_std().unwrap();
            peer.set_nonblocking(false).unwrap();
            peer_tx.send(peer).unwrap();
            // The server side goes to std and back.
            let s = TcpStream::from_std(s.into_std().unwrap()).unwrap();
            let signal = spawn(move || go_tx.send(()).unwrap());
            let mut buf = [0u8; 5];
            (&s).read_exact(&mut buf).expect("the OS thread's hello");
            signal
                .join_within("the micro-thread that lets the OS thread write")
                .unwrap();
            (s, buf)
        });
        let (s, buf) = got;
        assert_eq!(&buf, b"hello");
        watchdog.join_within("the accept's watchdog").unwrap();
        // A dhaga stream used from a plain thread blocks like std.
        let mut peer = os_writer.join_within("the OS thread that wrote hello").unwrap();
        (&s).write_all(b"back").unwrap();
        peer.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut back = [0u8; 4];
        peer.read_exact(&mut back)
            .expect("the bytes written from a plain thread");
        assert_eq!(&back, b"back");
        // And a dhaga listener converts back to std.
        let l = listener();
        let addr = l.local_addr().unwrap();
        let std_l = l.into_std().unwrap();
        std_l.set_nonblocking(false).unwrap();
        let c = std::net::TcpStream::connect(addr).unwrap();
        let (_s, from) = std_l.accept().unwrap();
        assert_eq!(from, c.local_addr().unwrap());
    });
}

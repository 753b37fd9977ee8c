//! UDP end to end: `UdpSocket` datagrams between micro-threads, between OS
//! threads and mixed; `connect`ed sockets with `send`/`recv` on a single
//! worker (where a blocking call would deadlock), filtering other senders;
//! `peek_from`/`peek` leaving the datagram; truncation; `try_clone` with a
//! reader and a writer micro-thread; options; and the refusal a connected
//! socket gets back from a closed port.

mod util;

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use dhaga_net::UdpSocket;
use dhaga_runtime::spawn;
use dhaga_runtime::sync::bounded;

use util::{CTX_PAIRS, CTXS, JoinWithin, PATIENCE, RecvWithin};

/// A socket on an ephemeral port of 127.0.0.1.
fn bind() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

/// An address of 127.0.0.1 where no UDP socket is bound.
fn closed_port() -> SocketAddr {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// The answer to a datagram: its bytes reversed.
fn answer(msg: &[u8]) -> Vec<u8> {
    msg.iter().rev().copied().collect()
}

#[test]
fn send_to_and_recv_from_between_all_contexts() {
    const ROUNDS: u64 = 300;
    util::within_limit(|| {
        let rt = util::runtime(1);
        for (actx, bctx) in CTX_PAIRS {
            let (a, b) = (bind(), bind());
            let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
            assert_eq!(a_addr.ip(), Ipv4Addr::LOCALHOST);
            let ponger = util::start(&rt, bctx, move || {
                let mut buf = vec![0u8; 65_536];
                for _ in 0..ROUNDS {
                    let (n, from) = b.recv_from(&mut buf).unwrap();
                    assert_eq!(from, a_addr);
                    assert_eq!(b.send_to(&answer(&buf[..n]), from).unwrap(), n);
                }
            });
            let pinger = util::start(&rt, actx, move || {
                let mut buf = vec![0u8; 65_536];
                for i in 0..ROUNDS {
                    // Up to a near-maximal datagram once in a while.
                    let len = if i % 100 == 99 {
                        60_000
                    } else {
                        1 + (i as usize * 37) % 1400
                    };
                    let msg = util::pattern(i, len);
                    // The destination in the forms `ToSocketAddrs` takes.
                    let sent = match i % 3 {
                        0 => a.send_to(&msg, b_addr),
                        1 => a.send_to(&msg, ("127.0.0.1", b_addr.port())),
                        _ => a.send_to(&msg, format!("127.0.0.1:{}", b_addr.port()).as_str()),
                    };
                    assert_eq!(sent.unwrap(), len);
                    let (n, from) = a.recv_from(&mut buf).unwrap();
                    assert_eq!(from, b_addr);
                    assert!(buf[..n] == answer(&msg)[..], "answer {i} ({len} bytes)");
                }
            });
            pinger.join_within(&format!("the {actx:?} pinger's {ROUNDS} round trips"));
            ponger.join_within(&format!("the {bctx:?} ponger's {ROUNDS} answers"));
        }
    });
}

#[test]
fn connected_send_and_recv_on_a_single_worker() {
    // Both ends are micro-threads of a one-worker runtime: each recv must
    // park for the other to run.
    const ROUNDS: u64 = 2000;
    util::within_limit(|| {
        let rt = util::runtime(1);
        let (a, b) = (bind(), bind());
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        a.connect(b_addr).unwrap();
        b.connect(("127.0.0.1", a_addr.port())).unwrap();
        assert_eq!(a.peer_addr().unwrap(), b_addr);
        assert_eq!(b.peer_addr().unwrap(), a_addr);
        a.set_read_timeout(Some(PATIENCE)).unwrap();
        let sum = rt.block_on(move || {
            let ponger = spawn(move || {
                let mut buf = [0u8; 8];
                for _ in 0..ROUNDS {
                    assert_eq!(b.recv(&mut buf).unwrap(), 8);
                    let v = u64::from_le_bytes(buf);
                    b.send(&(v + 1).to_le_bytes()).unwrap();
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
                let v = u64::from_le_bytes(buf);
                assert_eq!(v, i + 1);
                sum += v;
            }
            ponger.join_within("the ponger's last answer").unwrap();
            sum
        });
        assert_eq!(sum, (1..=ROUNDS).sum::<u64>());
    });
}

#[test]
fn a_connected_socket_only_receives_from_its_peer() {
    util::within_limit(|| {
        let rt = util::runtime(1);
        for ctx in CTXS {
            let (a, peer, other) = (bind(), bind(), bind());
            a.connect(peer.local_addr().unwrap()).unwrap();
            let a_addr = a.local_addr().unwrap();
            // Loopback delivers in order: the stranger's datagram arrives
            // first and is dropped by the kernel.
            other.send_to(b"stranger", a_addr).unwrap();
            peer.send_to(b"peer", a_addr).unwrap();
            let got = util::start(&rt, ctx, move || {
                let mut buf = [0u8; 32];
                let (n, from) = a.recv_from(&mut buf).unwrap();
                (buf[..n].to_vec(), from)
            })
            .join_within(&format!("the {ctx:?} receive of the peer's datagram"));
            assert_eq!(got, (b"peer".to_vec(), peer.local_addr().unwrap()), "{ctx:?}");
        }
    });
}

#[test]
fn peek_from_and_peek_leave_the_datagram() {
    util::within_limit(|| {
        let rt = util::runtime(1);
        rt.block_on(|| {
            let (a, b) = (bind(), bind());
            let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
            a.set_read_timeout(Some(PATIENCE)).unwrap();
            // The sender runs only once the peeking micro-thread parks.
            let sender = spawn(move || {
                b.send_to(b"first", a_addr).unwrap();
                b.send_to(b"second", a_addr).unwrap();
                b
            });
            let mut buf = [0u8; 32];
            for _ in 0..2 {
                let (n, from) = a.peek_from(&mut buf).expect("a peek at the first datagram");
                assert_eq!((&buf[..n], from), (&b"first"[..], b_addr));
            }
            let (n, from) = a.recv_from(&mut buf).expect("the first datagram");
            assert_eq!((&buf[..n], from), (&b"first"[..], b_addr));
            let (n, _) = a.recv_from(&mut buf).expect("the second datagram");
            assert_eq!(&buf[..n], b"second");
            let b = sender.join_within("the sender of two datagrams").unwrap();

            // The connected forms.
            a.connect(b_addr).unwrap();
            let sender = spawn(move || b.send_to(b"third", a_addr).unwrap());
            let n = a.peek(&mut buf).expect("a peek at the third datagram");
            assert_eq!(&buf[..n], b"third");
            let n = a.recv(&mut buf).expect("the third datagram");
            assert_eq!(&buf[..n], b"third");
            assert_eq!(sender.join_within("the sender of the third datagram").unwrap(), 5);
        });
    });
}

#[test]
fn a_datagram_larger_than_the_buffer_is_truncated() {
    util::within_limit(|| {
        let rt = util::runtime(1);
        for ctx in CTXS {
            let (a, b) = (bind(), bind());
            let a_addr = a.local_addr().unwrap();
            b.send_to(&[9u8; 100], a_addr).unwrap();
            b.send_to(b"next", a_addr).unwrap();
            util::start(&rt, ctx, move || {
                let mut small = [0u8; 10];
                let (n, _) = a.recv_from(&mut small).unwrap();
                assert_eq!((n, small), (10, [9u8; 10]), "{ctx:?}");
                // The rest of the datagram is gone.
                let mut buf = [0u8; 100];
                let (n, _) = a.recv_from(&mut buf).unwrap();
                assert_eq!(&buf[..n], b"next", "{ctx:?}");
            })
            .join_within(&format!("the {ctx:?} receives of a truncated datagram and the next"));
        }
    });
}

#[test]
fn try_clone_gives_a_reader_and_a_writer_on_one_socket() {
    // The writer sends datagram i on one descriptor only after the reader,
    // on the other, has received the answer to i - 1 (UDP may drop what
    // overflows a buffer, so the two go in lockstep through a channel).
    const ROUNDS: u64 = 2000;
    util::within_limit(|| {
        for workers in [1, 2] {
            let rt = util::runtime(workers);
            let (a, echo) = (bind(), bind());
            let echo_addr = echo.local_addr().unwrap();
            let a2 = a.try_clone().unwrap();
            assert_eq!(a2.local_addr().unwrap(), a.local_addr().unwrap());
            let echoer = rt.spawn(move || {
                let mut buf = [0u8; 16];
                for _ in 0..ROUNDS {
                    let (n, from) = echo.recv_from(&mut buf).unwrap();
                    echo.send_to(&buf[..n], from).unwrap();
                }
            });
            let (turn_tx, turn_rx) = bounded::<u64>(1);
            let writer = rt.spawn(move || {
                for i in 0..ROUNDS {
                    assert_eq!(turn_rx.recv_within("the reader's turn to send"), i);
                    a2.send_to(&i.to_le_bytes(), echo_addr).unwrap();
                }
            });
            let reader = rt.spawn(move || {
                let mut buf = [0u8; 16];
                for i in 0..ROUNDS {
                    turn_tx.send(i).unwrap();
                    let (n, from) = a.recv_from(&mut buf).unwrap();
                    assert_eq!((n, from), (8, echo_addr));
                    assert_eq!(u64::from_le_bytes(buf[..8].try_into().unwrap()), i);
                }
            });
            reader
                .join_within(&format!("the reader's {ROUNDS} echoes ({workers} workers)"))
                .unwrap();
            writer.join_within("the writer's last datagram").unwrap();
            echoer.join_within("the echoer's last echo").unwrap();
        }
    });
}

#[test]
fn options_and_addresses() {
    let s = UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
    s.set_broadcast(true).unwrap();
    assert!(s.broadcast().unwrap());
    s.set_broadcast(false).unwrap();
    assert!(!s.broadcast().unwrap());
    let e = s.peer_addr().expect_err("not connected");
    assert_eq!(e.kind(), ErrorKind::NotConnected, "{e}");
    let t = UdpSocket::bind(("127.0.0.1", 0)).unwrap();
    assert_ne!(t.local_addr().unwrap(), s.local_addr().unwrap());
}

#[test]
fn a_connected_socket_learns_that_the_port_is_closed() {
    // Loopback answers a datagram to a closed port with ICMP port
    // unreachable; a connected socket reports it on its next receive, which
    // must wake a parked receiver.
    util::within_limit(|| {
        let rt = util::runtime(1);
        for ctx in CTXS {
            util::start(&rt, ctx, move || {
                let a = bind();
                a.connect(closed_port()).unwrap();
                // Shorter than the join's patience: a receive that is never
                // woken fails here, with the kind it got.
                a.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                a.send(b"anyone?").unwrap();
                let e = a.recv(&mut [0u8; 16]).expect_err("nobody answers");
                assert_eq!(
                    e.kind(),
                    ErrorKind::ConnectionRefused,
                    "{ctx:?}: the receive was not woken by the port's refusal: {e}"
                );
            })
            .join_within(&format!("the {ctx:?} receive that learns of the closed port"));
        }
    });
}

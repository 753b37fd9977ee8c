//! Many connections and many park/wake cycles: 5,000 TCP connections open at
//! once in one process, server and clients all micro-threads of one runtime,
//! each echoing a few round trips with every byte checked; many connections
//! doing many round trips on all workers; one TCP socket handed from
//! micro-thread to micro-thread across every worker, parking on it once
//! each; one UDP socket read by micro-threads on every worker at once. A
//! missed wake-up (a oneshot registration not re-armed) hangs these tests.

mod util;

use util::{JoinWithin, PATIENCE, RecvWithin, echo};

use std::collections::{BTreeSet, HashSet};
use std::io::{Read, Write};
use std::net::{Shutdown, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use dhaga_net::{TcpListener, TcpStream, UdpSocket};
use dhaga_runtime::sync::{RecvTimeoutError, bounded, unbounded};
use dhaga_runtime::{Runtime, spawn};

/// A listener on an ephemeral port of 127.0.0.1.
fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

/// Workers of the runtimes of the "every worker" tests.
const WORKERS: usize = 4;

/// Makes sure the first [`WORKERS`] micro-threads that call it run on
/// different workers: each blocks its worker (deliberately, and only until
/// all of them have started), so no two of them can have started on the
/// same worker. Others return at once. `started` counts the arrivals.
///
/// A std barrier with a deadline: it polls the count, sleeping its OS
/// thread between polls (a wait on the count, not an ordering sleep; a
/// yield instead would let another micro-thread start on this worker).
fn pin_to_distinct_workers(index: usize, started: &AtomicUsize) {
    if index >= WORKERS {
        return;
    }
    started.fetch_add(1, Ordering::SeqCst);
    let deadline = Instant::now() + PATIENCE;
    while started.load(Ordering::SeqCst) < WORKERS {
        assert!(
            Instant::now() < deadline,
            "waited {PATIENCE:?} for the first {WORKERS} micro-threads to start, each on a worker of its own: \
             {} started",
            started.load(Ordering::SeqCst)
        );
        thread::sleep(Duration::from_micros(100));
    }
}

/// The length of round trip `r` of connection `i`.
fn msg_len(i: usize, r: usize) -> usize {
    1 + (i * 131 + r * 977) % 3000
}

#[test]
fn five_thousand_concurrent_connections_echo() {
    const CONNS: usize = 5000;
    const ROUNDS: usize = 4;
    /// Connections started but not yet accepted, at most: keeps the
    /// listener's queue short, so no SYN is dropped and retried a second
    /// later.
    const IN_FLIGHT: usize = 64;
    util::within_limit(|| {
        let hard = util::raise_nofile_limit();
        let needed = 2 * CONNS as u64 + 256;
        assert!(
            hard >= needed,
            "this test needs {needed} open files and RLIMIT_NOFILE's hard limit is {hard}: raise it (ulimit -Hn)"
        );
        let l = listener();
        let addr = l.local_addr().unwrap();
        let rt = Runtime::new().unwrap();
        let (sent, echoed, accepted) = rt.block_on(move || {
            let (permit_tx, permit_rx) = bounded::<()>(IN_FLIGHT);
            let (connected_tx, connected_rx) = unbounded::<()>();
            // Never sent on: dropping it releases every client at once.
            let (go_tx, go_rx) = bounded::<()>(1);
            let server = spawn(move || {
                let mut handlers = Vec::with_capacity(CONNS);
                for _ in 0..CONNS {
                    let (s, _) = l.accept().expect("accept");
                    permit_rx.recv_within("the permit of the accepted client");
                    handlers.push(spawn(move || echo(s)));
                }
                let accepted = handlers.len();
                let echoed = handlers
                    .into_iter()
                    .enumerate()
                    .map(|(i, h)| h.join_within(&format!("handler {i} to echo up to EOF")).unwrap())
                    .sum::<u64>();
                (echoed, accepted)
            });
            let clients: Vec<_> = (0..CONNS)
                .map(|i| {
                    let (permit_tx, connected_tx, go_rx) = (permit_tx.clone(), connected_tx.clone(), go_rx.clone());
                    spawn(move || {
                        permit_tx.send(()).unwrap();
                        let mut c = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {i}: {e}"));
                        connected_tx.send(()).unwrap();
                        let released = go_rx.recv_timeout(PATIENCE);
                        assert_eq!(
                            released,
                            Err(RecvTimeoutError::Disconnected),
                            "client {i} waited {PATIENCE:?} for the go, the drop of the sender"
                        );
                        let mut sent = 0u64;
                        for r in 0..ROUNDS {
                            let msg = util::pattern((i * ROUNDS + r) as u64, msg_len(i, r));
                            c.write_all(&msg).unwrap();
                            let mut back = vec![0u8; msg.len()];
                            c.read_exact(&mut back).unwrap();
                            assert!(back == msg, "connection {i}, round trip {r}: the echo differs");
                            sent += msg.len() as u64;
                        }
                        c.shutdown(Shutdown::Write).unwrap();
                        assert_eq!(c.read(&mut [0u8; 16]).unwrap(), 0, "EOF after the server's end");
                        sent
                    })
                })
                .collect();
            drop((permit_tx, connected_tx, go_rx));
            // Every connection is open before any data moves.
            for n in 1..=CONNS {
                connected_rx.recv_within(&format!("connection {n} of {CONNS} to be open"));
            }
            drop(go_tx);
            let sent: u64 = clients
                .into_iter()
                .enumerate()
                .map(|(i, h)| h.join_within(&format!("client {i}'s round trips and EOF")).unwrap())
                .sum();
            let (echoed, accepted) = server.join_within("the server's handlers").unwrap();
            (sent, echoed, accepted)
        });
        let expected: u64 = (0..CONNS)
            .flat_map(|i| (0..ROUNDS).map(move |r| msg_len(i, r) as u64))
            .sum();
        assert_eq!(accepted, CONNS);
        assert_eq!(sent, expected);
        assert_eq!(echoed, expected);
    });
}

#[test]
fn many_connections_many_round_trips_on_all_workers() {
    const CONNS: u64 = 100;
    const ROUNDS: u64 = 400;
    util::within_limit(|| {
        let rt = util::runtime(WORKERS);
        let l = listener();
        let addr = l.local_addr().unwrap();
        let total = rt.block_on(move || {
            let server = spawn(move || {
                let handlers: Vec<_> = (0..CONNS)
                    .map(|_| {
                        let (mut s, _) = l.accept().unwrap();
                        spawn(move || {
                            let mut b = [0u8; 8];
                            for _ in 0..ROUNDS {
                                s.read_exact(&mut b).unwrap();
                                s.write_all(&(u64::from_le_bytes(b) + 1).to_le_bytes()).unwrap();
                            }
                        })
                    })
                    .collect();
                for (i, h) in handlers.into_iter().enumerate() {
                    h.join_within(&format!("handler {i}'s {ROUNDS} answers")).unwrap();
                }
            });
            let clients: Vec<_> = (0..CONNS)
                .map(|c| {
                    spawn(move || {
                        let mut s = TcpStream::connect(addr).unwrap();
                        let mut sum = 0;
                        let mut b = [0u8; 8];
                        for r in 0..ROUNDS {
                            let v = c * ROUNDS + r;
                            s.write_all(&v.to_le_bytes()).unwrap();
                            s.read_exact(&mut b).unwrap();
                            assert_eq!(u64::from_le_bytes(b), v + 1);
                            sum += v + 1;
                        }
                        sum
                    })
                })
                .collect();
            let total = clients
                .into_iter()
                .enumerate()
                .map(|(i, h)| h.join_within(&format!("client {i}'s {ROUNDS} round trips")).unwrap())
                .sum::<u64>();
            server.join_within("the server's handlers").unwrap();
            total
        });
        let n = CONNS * ROUNDS;
        assert_eq!(total, (1..=n).sum::<u64>());
    });
}

#[test]
fn one_tcp_socket_parked_on_by_micro_threads_on_every_worker() {
    // The reading end is handed from micro-thread to micro-thread (the
    // first four pinned to the four workers); each parks on it for one
    // message, which an OS thread writes only after the reader asked for it.
    // The same socket is thus registered and re-armed from every worker in
    // turn.
    const READERS: usize = 16;
    const MESSAGES: u64 = 3000;
    util::within_limit(|| {
        let rt = util::runtime(WORKERS);
        let pin = Arc::new(AtomicUsize::new(0));
        let l = listener();
        let addr = l.local_addr().unwrap();
        let writer = std::net::TcpStream::connect(addr).unwrap();
        let (reader, _) = l.accept().unwrap();
        let (asks_tx, asks_rx) = unbounded::<u64>();
        let (turns, inboxes): (Vec<_>, Vec<_>) = (0..READERS).map(|_| bounded::<Option<(TcpStream, u64)>>(1)).unzip();
        let (done_tx, done_rx) = bounded::<TcpStream>(1);
        let mut handles = Vec::new();
        for (r, inbox) in inboxes.into_iter().enumerate() {
            let next = turns[(r + 1) % READERS].clone();
            let asks = asks_tx.clone();
            let done = done_tx.clone();
            let pin = Arc::clone(&pin);
            handles.push(rt.spawn(move || {
                pin_to_distinct_workers(r, &pin);
                let mut got = 0u64;
                let worker = thread::current().id();
                while let Some((mut s, i)) = inbox.recv_within("the socket, or the end, from the previous reader") {
                    asks.send(i).unwrap();
                    let mut b = [0u8; 8];
                    s.read_exact(&mut b).unwrap();
                    assert_eq!(u64::from_le_bytes(b), i * 7);
                    got += 1;
                    if i + 1 == MESSAGES {
                        done.send(s).unwrap();
                    } else {
                        next.send(Some((s, i + 1))).unwrap();
                    }
                }
                (got, worker)
            }));
        }
        drop((asks_tx, done_tx));
        let os_writer = thread::spawn(move || {
            let mut w = writer;
            for i in asks_rx.iter() {
                w.write_all(&(i * 7).to_le_bytes()).unwrap();
            }
        });
        turns[0].send(Some((reader, 0))).unwrap();
        let s = done_rx.recv_within(&format!("the socket back after the last of {MESSAGES} messages"));
        for t in &turns {
            t.send(None).unwrap();
        }
        let per: Vec<_> = handles
            .into_iter()
            .enumerate()
            .map(|(r, h)| h.join_within(&format!("reader {r} to end")).unwrap())
            .collect();
        assert_eq!(per.iter().map(|(n, _)| n).sum::<u64>(), MESSAGES);
        assert!(per.iter().all(|&(n, _)| n > 0), "every reader had turns");
        let workers: HashSet<_> = per.iter().map(|&(_, w)| w).collect();
        assert_eq!(workers.len(), WORKERS, "the readers ran on every worker");
        drop(s);
        os_writer.join_within("the OS-thread writer to end").unwrap();
    });
}

#[test]
fn one_udp_socket_read_at_once_by_micro_threads_on_every_worker() {
    // Sixteen micro-threads, on all four workers (four of them pinned one
    // to each), all park on one socket at the same time; datagrams arrive in bursts. Every datagram
    // is received exactly once, and every receiver ends.
    const RECEIVERS: usize = 16;
    const BURSTS: u64 = 100;
    const BURST: u64 = 32;
    const STOP: u64 = u64::MAX;
    util::within_limit(|| {
        let rt = util::runtime(WORKERS);
        let pin = Arc::new(AtomicUsize::new(0));
        let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        let to = sock.local_addr().unwrap();
        let (got_tx, got_rx) = unbounded::<u64>();
        let receivers: Vec<_> = (0..RECEIVERS)
            .map(|r| {
                let sock = Arc::clone(&sock);
                let got = got_tx.clone();
                let pin = Arc::clone(&pin);
                rt.spawn(move || {
                    pin_to_distinct_workers(r, &pin);
                    let mut b = [0u8; 8];
                    let mut n = 0u64;
                    loop {
                        assert_eq!(sock.recv(&mut b).unwrap(), 8);
                        let v = u64::from_le_bytes(b);
                        if v == STOP {
                            return (n, thread::current().id());
                        }
                        got.send(v).unwrap();
                        n += 1;
                    }
                })
            })
            .collect();
        drop(got_tx);
        let sender = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        let mut seen = BTreeSet::new();
        for b in 0..BURSTS {
            for k in 0..BURST {
                sender.send_to(&(b * BURST + k).to_le_bytes(), to).unwrap();
            }
            // The whole burst is received before the next is sent, so the
            // socket's buffer never overflows.
            for k in 0..BURST {
                let v = got_rx.recv_within(&format!("datagram {k} of burst {b} to be received"));
                assert!(seen.insert(v), "datagram {v} received twice");
            }
        }
        assert_eq!(seen.len() as u64, BURSTS * BURST);
        for _ in 0..RECEIVERS {
            sender.send_to(&STOP.to_le_bytes(), to).unwrap();
        }
        let per: Vec<_> = receivers
            .into_iter()
            .enumerate()
            .map(|(r, h)| {
                h.join_within(&format!("receiver {r} to get its stop datagram"))
                    .unwrap()
            })
            .collect();
        assert_eq!(per.iter().map(|(n, _)| n).sum::<u64>(), BURSTS * BURST);
        let workers: HashSet<_> = per.iter().map(|&(_, w)| w).collect();
        assert_eq!(workers.len(), WORKERS, "the receivers ran on every worker");
    });
}

//! The reactor's `Source`: `read_with`/`write_with` on `UnixStream` pairs,
//! parking micro-threads (and poll-blocking OS threads) until the socket is
//! ready; many park/wake cycles on one socket and across many sockets and
//! workers (a missed oneshot re-arm would hang); `readable` on data that is
//! already buffered; deadlines giving `TimedOut` inside micro-threads and on
//! plain OS threads.

mod util;

use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};

use dhaga_runtime::sync::{bounded, unbounded};
use dhaga_runtime::{Runtime, RuntimeBuilder, Source, spawn};

use util::{CTX_PAIRS, Ctx, JoinWithin, PATIENCE, RecvWithin};

type Sock = Source<UnixStream>;

/// A connected pair of sources.
fn pair() -> (Sock, Sock) {
    let (a, b) = UnixStream::pair().unwrap();
    (Source::new(a).unwrap(), Source::new(b).unwrap())
}

/// Writes all of `buf`, parking on `WouldBlock`.
fn write_all(s: &Sock, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let n = s.write_with(None, |mut io| io.write(buf))?;
        buf = &buf[n..];
    }
    Ok(())
}

/// Fills all of `buf`, parking on `WouldBlock`.
fn read_exact(s: &Sock, buf: &mut [u8]) -> io::Result<()> {
    let mut at = 0;
    while at < buf.len() {
        let rest = &mut buf[at..];
        let n = s.read_with(None, |mut io| io.read(rest))?;
        if n == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        at += n;
    }
    Ok(())
}

fn send_u64(s: &Sock, v: u64) {
    write_all(s, &v.to_le_bytes()).unwrap();
}

fn recv_u64(s: &Sock) -> u64 {
    let mut b = [0u8; 8];
    read_exact(s, &mut b).unwrap();
    u64::from_le_bytes(b)
}

/// `rounds` round trips: the pinger sends n, the ponger answers n + 1.
fn ping_pong(rt: &Runtime, (pctx, qctx): (Ctx, Ctx), rounds: u64) {
    let (a, b) = pair();
    let ponger = util::start(rt, qctx, move || {
        for _ in 0..rounds {
            let v = recv_u64(&b);
            send_u64(&b, v + 1);
        }
        // The pinger closes its end: read_with sees EOF.
        let mut buf = [0u8; 1];
        b.read_with(None, |mut io| io.read(&mut buf)).unwrap()
    });
    let pinger = util::start(rt, pctx, move || {
        let mut sum = 0;
        for i in 0..rounds {
            send_u64(&a, i * 2);
            let v = recv_u64(&a);
            assert_eq!(v, i * 2 + 1);
            sum += v;
        }
        sum
    });
    let sum = pinger.join_within(&format!("the pinger ({pctx:?}/{qctx:?})"));
    assert_eq!(sum, (0..rounds).map(|i| i * 2 + 1).sum::<u64>(), "{pctx:?}/{qctx:?}");
    assert_eq!(
        ponger.join_within(&format!("the ponger to see EOF ({pctx:?}/{qctx:?})")),
        0,
        "EOF after the peer closed ({pctx:?}/{qctx:?})"
    );
}

#[test]
fn ping_pong_between_all_contexts() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for ctxs in CTX_PAIRS {
            ping_pong(&rt, ctxs, 2000);
        }
    });
}

#[test]
fn many_sockets_many_workers_many_cycles() {
    // 200 pairs, 300 round trips each: 120 000 parks on 400 sockets, spread
    // over all workers.
    const PAIRS: u64 = 200;
    const ROUNDS: u64 = 300;
    util::within_limit(|| {
        let rt = RuntimeBuilder::new().workers(4).build().unwrap();
        let total = rt.block_on(|| {
            let mut handles = Vec::new();
            for p in 0..PAIRS {
                let (a, b) = pair();
                handles.push(spawn(move || {
                    for _ in 0..ROUNDS {
                        let v = recv_u64(&b);
                        send_u64(&b, v + 1);
                    }
                    0
                }));
                handles.push(spawn(move || {
                    let mut sum = 0;
                    for i in 0..ROUNDS {
                        send_u64(&a, p * ROUNDS + i);
                        sum += recv_u64(&a);
                    }
                    sum
                }));
            }
            handles
                .into_iter()
                .map(|h| h.join_within("a pinger or ponger of the 200 pairs").unwrap())
                .sum::<u64>()
        });
        let n = PAIRS * ROUNDS;
        assert_eq!(total, (0..n).map(|v| v + 1).sum::<u64>());
    });
}

#[test]
fn one_socket_read_by_micro_threads_on_every_worker() {
    // The reading end is handed from micro-thread to micro-thread (spawned
    // across all workers); each parks on it for one message, written by an
    // OS thread only after the reader asked for it. The same fd is thus
    // registered and re-armed from many workers in turn.
    const READERS: usize = 16;
    const MESSAGES: u64 = 3000;
    util::within_limit(|| {
        let rt = RuntimeBuilder::new().workers(4).build().unwrap();
        let (reader, writer) = UnixStream::pair().unwrap();
        let (asks_tx, asks_rx) = unbounded::<u64>();
        let (turns, inboxes): (Vec<_>, Vec<_>) = (0..READERS).map(|_| bounded::<Option<(Sock, u64)>>(1)).unzip();
        let (done_tx, done_rx) = bounded::<Sock>(1);
        let mut handles = Vec::new();
        for (r, inbox) in inboxes.into_iter().enumerate() {
            let next = turns[(r + 1) % READERS].clone();
            let asks = asks_tx.clone();
            let done = done_tx.clone();
            handles.push(rt.spawn(move || {
                let mut got = 0u64;
                while let Some((src, i)) = inbox.recv().unwrap() {
                    asks.send(i).unwrap();
                    let v = recv_u64(&src);
                    assert_eq!(v, i * 7);
                    got += 1;
                    if i + 1 == MESSAGES {
                        done.send(src).unwrap();
                    } else {
                        next.send(Some((src, i + 1))).unwrap();
                    }
                }
                got
            }));
        }
        drop((asks_tx, done_tx));
        let os_writer = thread::spawn(move || {
            let mut w = writer;
            for i in asks_rx.iter() {
                w.write_all(&(i * 7).to_le_bytes()).unwrap();
            }
        });
        turns[0].send(Some((Source::new(reader).unwrap(), 0))).unwrap();
        let src = done_rx.recv_within("the reader of the last message to hand the socket back");
        for t in &turns {
            t.send(None).unwrap(); // every inbox is empty: no wait
        }
        let per: Vec<u64> = handles
            .into_iter()
            .map(|h| h.join_within("a reader to stop").unwrap())
            .collect();
        assert_eq!(per.iter().sum::<u64>(), MESSAGES);
        assert!(per.iter().all(|&n| n > 0), "every reader had turns: {per:?}");
        drop(src);
        os_writer.join_within("the OS-thread writer to stop").unwrap();
    });
}

#[test]
fn write_with_parks_until_the_peer_drains() {
    // 8 MiB through a socket buffer of a few hundred KiB: the writer parks
    // many times on a full buffer, the reader on an empty one.
    const TOTAL: usize = 8 * 1024 * 1024;
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for (wctx, rctx) in CTX_PAIRS {
            let (a, b) = pair();
            let writer = util::start(&rt, wctx, move || {
                let chunk: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
                let mut sent = 0;
                while sent < TOTAL {
                    write_all(&a, &chunk).unwrap();
                    sent += chunk.len();
                }
            });
            let reader = util::start(&rt, rctx, move || {
                let mut buf = vec![0u8; 10_000];
                let mut pos = 0usize;
                loop {
                    let k = b.read_with(None, |mut io| io.read(&mut buf)).unwrap();
                    if k == 0 {
                        break;
                    }
                    for &byte in &buf[..k] {
                        assert_eq!(byte, ((pos % 65536) % 251) as u8, "byte {pos}");
                        pos += 1;
                    }
                }
                pos
            });
            writer.join_within(&format!("the writer ({wctx:?} -> {rctx:?})"));
            let n = reader.join_within(&format!("the reader to see EOF ({wctx:?} -> {rctx:?})"));
            assert_eq!(n, TOTAL, "{wctx:?} -> {rctx:?}");
        }
    });
}

/// A read with a deadline on a socket nobody writes to times out, and not
/// before the deadline.
fn read_deadline() {
    let (a, b) = pair();
    let deadline = Instant::now() + Duration::from_millis(50);
    let mut buf = [0u8; 8];
    let err = a
        .read_with(Some(deadline), |mut io| io.read(&mut buf))
        .expect_err("nothing to read");
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert!(Instant::now() >= deadline, "timed out before the deadline");
    // The source still works after a timeout.
    let mut w: &UnixStream = b.get_ref();
    w.write_all(b"x").unwrap();
    let n = a.read_with(Some(Instant::now() + PATIENCE), |mut io| io.read(&mut buf));
    assert_eq!(n.expect("the byte written after the timeout, within PATIENCE"), 1);
}

/// A write with a deadline on a full socket times out, and not before.
fn write_deadline() {
    let (a, _b) = pair();
    // Fill the socket buffer (the source made it non-blocking).
    let chunk = vec![7u8; 65536];
    let mut raw: &UnixStream = a.get_ref();
    loop {
        match raw.write(&chunk) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("filling the buffer: {e}"),
        }
    }
    let deadline = Instant::now() + Duration::from_millis(50);
    let err = a
        .write_with(Some(deadline), |mut io| io.write(&chunk))
        .expect_err("the buffer is full");
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert!(Instant::now() >= deadline, "timed out before the deadline");
}

#[test]
fn deadlines_time_out_in_micro_threads() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        rt.block_on(|| {
            // Several at once, on all workers.
            let hs: Vec<_> = (0..20)
                .map(|i| spawn(move || if i % 2 == 0 { read_deadline() } else { write_deadline() }))
                .collect();
            for h in hs {
                h.join_within("a micro-thread waiting for its deadline").unwrap();
            }
        });
    });
}

#[test]
fn deadlines_time_out_on_os_threads() {
    util::within_limit(|| {
        read_deadline();
        write_deadline();
    });
}

#[test]
fn deadline_does_not_fire_when_data_arrives_in_time() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for (rctx, wctx) in CTX_PAIRS {
            let (a, b) = pair();
            let (ready_tx, ready_rx) = bounded::<()>(1);
            let reader = util::start(&rt, rctx, move || {
                ready_tx.send(()).unwrap();
                let mut buf = [0u8; 4];
                let deadline = Instant::now() + PATIENCE;
                let n = a.read_with(Some(deadline), |mut io| io.read(&mut buf));
                (n.expect("data before the deadline"), buf)
            });
            ready_rx.recv_within("the reader to start");
            // The data arrives while the reader waits with its deadline.
            reader.wait_parked(&format!("the reader to wait in read_with ({rctx:?})"));
            util::start(&rt, wctx, move || write_all(&b, b"ping").unwrap())
                .join_within(&format!("the writer ({wctx:?})"));
            let (n, buf) = reader.join_within(&format!("the reader ({rctx:?})"));
            assert_eq!(&buf[..n], &b"ping"[..n]);
            assert!(n > 0, "{rctx:?}/{wctx:?}");
        }
    });
}

/// `readable` must return at once when data is already buffered, even after
/// the readiness edge was consumed by an earlier wait. (A regression test: a
/// review found it waiting for an edge that had come and gone.)
#[test]
fn readable_returns_when_data_is_already_buffered() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        rt.block_on(|| {
            let (a, mut b) = UnixStream::pair().unwrap();
            let a = Source::new(a).unwrap();
            b.write_all(b"one").unwrap();
            a.readable(Some(Instant::now() + PATIENCE))
                .expect("readable with three bytes written");
            let mut buf = [0; 1];
            a.read_with(None, |mut s| s.read(&mut buf)).unwrap();
            // Two bytes still buffered, no new edge will come.
            a.readable(Some(Instant::now() + PATIENCE))
                .expect("readable with data buffered");
        });
    });
}

#[test]
fn source_sets_nonblocking_and_exposes_the_io() {
    let (a, _b) = UnixStream::pair().unwrap();
    let fd = a.as_raw_fd();
    let src = Source::new(a).unwrap();
    assert_eq!(src.get_ref().as_raw_fd(), fd);
    // SAFETY: `fd` is open (owned by `src`); F_GETFL only reads its flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(flags >= 0);
    assert_ne!(flags & libc::O_NONBLOCK, 0, "Source::new sets O_NONBLOCK");
    let mut buf = [0u8; 1];
    let mut raw: &UnixStream = src.get_ref();
    let e = raw.read(&mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
}

#[test]
fn op_errors_other_than_would_block_are_returned() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        rt.block_on(|| {
            let (a, b) = pair();
            let mut calls = 0;
            let r: io::Result<()> = a.read_with(None, |_| {
                calls += 1;
                Err(io::Error::new(ErrorKind::InvalidData, "custom"))
            });
            assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidData);
            assert_eq!(calls, 1, "a real error is not retried");
            // A WouldBlock from the op parks until the socket is readable
            // (here it already is), then the op is retried.
            write_all(&b, b"z").unwrap();
            let mut first = true;
            let mut buf = [0u8; 1];
            let n = a
                .read_with(None, |mut io| {
                    if std::mem::take(&mut first) {
                        return Err(ErrorKind::WouldBlock.into());
                    }
                    io.read(&mut buf)
                })
                .unwrap();
            assert_eq!((n, buf[0]), (1, b'z'));
        });
    });
}

//! `Source::read_stream_with`: after a short read of a byte stream, the
//! next read waits for readiness before it tries (no read that would fail
//! with `WouldBlock`), and never waits with bytes there: those that came
//! between the two reads, or while it waited, are read; on micro-threads
//! and OS threads.

mod util;

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dhaga_runtime::{Runtime, Source};

use util::CTXS;

/// A std socket to write with and, at its other end, a source to read.
fn pair() -> (UnixStream, Arc<Source<UnixStream>>) {
    let (a, b) = UnixStream::pair().unwrap();
    (a, Arc::new(Source::new(b).unwrap()))
}

/// One `read_stream_with` of up to 64 bytes, counting the reads it tries.
fn read<S>(source: &Source<S>, tries: &AtomicUsize, deadline: Option<Instant>) -> std::io::Result<Vec<u8>>
where
    S: AsFd,
    for<'a> &'a S: Read,
{
    let mut buf = [0; 64];
    let n = source.read_stream_with(deadline, buf.len(), |mut s| {
        tries.fetch_add(1, Ordering::Relaxed);
        s.read(&mut buf)
    })?;
    Ok(buf[..n].to_vec())
}

#[test]
fn after_a_short_read_the_next_waits_before_it_tries() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for ctx in CTXS {
            let (mut a, b) = pair();
            let tries = Arc::new(AtomicUsize::new(0));
            a.write_all(b"ping").unwrap();
            let (about_to_wait, waits) = std::sync::mpsc::sync_channel(1);
            let reader = {
                let (b, tries) = (Arc::clone(&b), Arc::clone(&tries));
                util::start(&rt, ctx, move || {
                    let first = read(&b, &tries, None).unwrap();
                    let tries_first = tries.swap(0, Ordering::Relaxed);
                    about_to_wait.send(util::current_tid()).unwrap();
                    (first, tries_first, read(&b, &tries, None).unwrap())
                })
            };
            let tid = waits.recv_timeout(util::PATIENCE).expect("the first read to be done");
            // The second read waits: a micro-thread parks, an OS thread
            // blocks in poll(2).
            match ctx {
                util::Ctx::Micro => reader.wait_parked("the second read to wait"),
                util::Ctx::Os => util::wait_os_thread_blocked("the second read to wait in poll", tid),
            }
            a.write_all(b"pong").unwrap();
            let (first, tries_first, second) = reader.join_within(&format!("the reader ({ctx:?})"));
            assert_eq!((&first[..], tries_first), (&b"ping"[..], 1), "{ctx:?}");
            assert_eq!(&second[..], b"pong", "{ctx:?}");
            // Without the hint the second read would have tried once in
            // vain (`WouldBlock`), then again once woken.
            assert_eq!(
                tries.load(Ordering::Relaxed),
                1,
                "{ctx:?}: the second read tried in vain first"
            );
        }
    });
}

#[test]
fn bytes_that_come_between_a_short_read_and_the_next_are_read() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for ctx in CTXS {
            let (mut a, b) = pair();
            let got = util::run_in(&rt, ctx, move || {
                let tries = AtomicUsize::new(0);
                a.write_all(b"one").unwrap();
                let first = read(&b, &tries, None).unwrap();
                // More comes before the next read: readiness came after the
                // short read, so the next read tries at once and gets it.
                a.write_all(b"two").unwrap();
                let second = read(&b, &tries, Some(Instant::now() + util::PATIENCE)).unwrap();
                (first, second)
            });
            assert_eq!((&got.0[..], &got.1[..]), (&b"one"[..], &b"two"[..]), "{ctx:?}");
        }
    });
}

#[test]
fn a_deadline_after_a_short_read_still_reads_what_came() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for ctx in CTXS {
            let (mut a, b) = pair();
            let got = util::run_in(&rt, ctx, move || {
                let tries = AtomicUsize::new(0);
                a.write_all(b"one").unwrap();
                let first = read(&b, &tries, None).unwrap();
                // Nothing more: the next read times out, after one try at
                // its deadline.
                tries.store(0, Ordering::Relaxed);
                let timed_out = read(&b, &tries, Some(Instant::now() + Duration::from_millis(20)));
                let tries_timed_out = tries.load(Ordering::Relaxed);
                (first, timed_out.map_err(|e| e.kind()), tries_timed_out)
            });
            assert_eq!(&got.0[..], b"one", "{ctx:?}");
            assert_eq!(got.1, Err(std::io::ErrorKind::TimedOut), "{ctx:?}");
            assert_eq!(got.2, 1, "{ctx:?}: one last try at the deadline, none before the wait");
        }
    });
}

#[test]
fn a_full_read_leaves_no_hint() {
    util::within_limit(|| {
        let (mut a, b) = pair();
        let tries = AtomicUsize::new(0);
        a.write_all(&[7; 100]).unwrap();
        // 64 of 100: full, so the next read tries at once and gets the rest.
        assert_eq!(read(&b, &tries, None).unwrap().len(), 64);
        assert_eq!(read(&b, &tries, None).unwrap().len(), 36);
        assert_eq!(tries.load(Ordering::Relaxed), 2);
    });
}

/// TCP urgent data: a read stops short at its mark with more bytes behind
/// it, and no new edge comes for those. The poller reports urgent data,
/// and the short read after it must not make the next read wait.
#[test]
fn a_read_stopped_at_the_urgent_mark_does_not_make_the_next_wait() {
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;
    use std::sync::atomic::AtomicBool;

    util::within_limit(|| {
        let rt = dhaga_runtime::RuntimeBuilder::new().workers(1).build().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let server = Arc::new(Source::new(server).unwrap());
        let reader = {
            let server = Arc::clone(&server);
            rt.spawn(move || {
                let tries = AtomicUsize::new(0);
                let first = read(&server, &tries, None).unwrap();
                // No deadline: a read that waited for an edge that never
                // comes would hang, and the join below says so.
                let second = read(&server, &tries, None);
                (first, second.map_err(|e| e.kind()))
            })
        };
        util::wait_until("the reader to wait for bytes", || reader.is_parked());
        // Hold the worker, so that everything arrives before it polls and
        // comes as one event: no later edge for what follows the mark.
        let (hogging, release) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let hog = {
            let (hogging, release) = (Arc::clone(&hogging), Arc::clone(&release));
            rt.spawn(move || {
                hogging.store(true, Ordering::Release);
                while !release.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
            })
        };
        util::wait_until("the hog to hold the worker", || hogging.load(Ordering::Acquire));
        client.write_all(b"hello").unwrap();
        // SAFETY: one byte from a live buffer, on the client's open socket.
        let sent = unsafe { libc::send(client.as_raw_fd(), b"!".as_ptr().cast(), 1, libc::MSG_OOB) };
        assert_eq!(sent, 1, "send(MSG_OOB): {}", std::io::Error::last_os_error());
        client.write_all(b"world").unwrap();
        release.store(true, Ordering::Release);
        hog.join().unwrap();
        let Ok(result) = reader.join_timeout(util::PATIENCE) else {
            panic!(
                "waited {:?} for the reader to read what follows the urgent mark",
                util::PATIENCE
            );
        };
        let (first, second) = result.unwrap();
        assert_eq!(&first[..], b"hello", "the read stops at the urgent mark");
        assert_eq!(second.as_deref(), Ok(&b"world"[..]), "what follows the mark is read");
        drop(server);
    });
}

//! `Source::read_buf` and `try_read_buf` (the `bytes` feature): reads into a
//! `BytesMut`'s spare capacity that park like `read` (micro-threads and OS
//! threads), take more than 64 KiB in one call when that much is reserved
//! and has arrived, return at once without spare capacity, see end of file,
//! and keep `read_with`'s deadline.

mod util;

use std::io::{ErrorKind, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use dhaga_runtime::{Runtime, Source, try_read_buf};

use util::{CTXS, PATIENCE};

/// A std socket to write with and, at its other end, a source to read.
fn pair() -> (UnixStream, Source<UnixStream>) {
    let (a, b) = UnixStream::pair().unwrap();
    (a, Source::new(b).unwrap())
}

#[test]
fn read_buf_parks_until_the_bytes_come() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for ctx in CTXS {
            let (mut a, b) = pair();
            let reader = util::start(&rt, ctx, move || {
                let mut buf = BytesMut::with_capacity(4096);
                let n = b.read_buf(&mut buf).unwrap();
                (n, buf)
            });
            reader.wait_parked(&format!("the reader ({ctx:?}) to wait for bytes"));
            a.write_all(b"hello").unwrap();
            let (n, buf) = reader.join_within(&format!("the reader ({ctx:?}) to read"));
            assert_eq!((n, &buf[..]), (5, &b"hello"[..]), "{ctx:?}");
        }
    });
}

#[test]
fn a_reserved_read_takes_more_than_64_kib_at_once() {
    const LEN: usize = 100 * 1024;
    util::within_limit(|| {
        let (mut a, b) = pair();
        // All of it waits in the socket (a Unix socket's send buffer holds
        // about 200 KiB) before the one read.
        let sent: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
        a.write_all(&sent).unwrap();
        let got = dhaga_runtime::run(move || {
            let mut buf = BytesMut::new();
            buf.reserve(128 * 1024);
            let at = buf.as_ptr();
            let n = b.read_buf(&mut buf).unwrap();
            assert_eq!(buf.as_ptr(), at, "the read moved the buffer");
            (n, buf)
        });
        assert_eq!(got.0, LEN, "one read took {} of {LEN} bytes", got.0);
        assert!(got.1[..] == sent[..], "the bytes differ");
    });
}

#[test]
fn read_buf_without_spare_capacity_returns_at_once() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for ctx in CTXS {
            // Nothing is ever written: a read that waited would hang.
            let (a, b) = pair();
            let n = util::run_in(&rt, ctx, move || {
                let mut full = BytesMut::from(&b"full"[..]);
                assert_eq!(full.len(), full.capacity());
                let n = b.read_buf(&mut full).unwrap();
                assert_eq!(&full[..], b"full");
                n
            });
            assert_eq!(n, 0, "{ctx:?}");
            drop(a);
        }
    });
}

#[test]
fn read_buf_sees_the_end_of_file() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for ctx in CTXS {
            let (a, b) = pair();
            let reader = util::start(&rt, ctx, move || {
                let mut buf = BytesMut::with_capacity(64);
                let n = b.read_buf(&mut buf).unwrap();
                (n, buf.len())
            });
            reader.wait_parked(&format!("the reader ({ctx:?}) to wait for bytes"));
            drop(a);
            let (n, len) = reader.join_within(&format!("the reader ({ctx:?}) to see the end"));
            assert_eq!((n, len), (0, 0), "{ctx:?}");
        }
    });
}

#[test]
fn try_read_buf_in_read_with_keeps_its_deadline() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for ctx in CTXS {
            let (mut a, b) = pair();
            let (error, buf, b) = util::run_in(&rt, ctx, move || {
                let mut buf = BytesMut::with_capacity(64);
                let deadline = Instant::now() + Duration::from_millis(20);
                let result = b.read_with(Some(deadline), |s| try_read_buf(s.as_fd(), &mut buf));
                assert!(Instant::now() >= deadline, "gave up before the deadline");
                (result.unwrap_err(), buf, b)
            });
            assert_eq!(error.kind(), ErrorKind::TimedOut, "{ctx:?}");
            assert!(buf.is_empty(), "{ctx:?}");
            // What comes later is read into the same buffer.
            a.write_all(b"late").unwrap();
            let got = util::run_in(&rt, ctx, move || {
                let mut buf = buf;
                let deadline = Instant::now() + PATIENCE;
                b.read_with(Some(deadline), |s| try_read_buf(s.as_fd(), &mut buf))
                    .unwrap();
                buf
            });
            assert_eq!(&got[..], b"late", "{ctx:?}");
        }
    });
}

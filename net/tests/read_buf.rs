//! `read_buf` on `TcpStream` and `UnixStream` (the `bytes` feature): reads
//! into a `BytesMut`'s spare capacity exactly as `read` reads into a slice:
//! parking until bytes come (micro-threads and OS threads), `Ok(0)` at end
//! of file, `WouldBlock` once the read timeout passes (never before) or at
//! once in non-blocking mode, nothing read without spare capacity; and more
//! than 64 KiB in one call when that much is reserved and has arrived.

mod util;

use std::io::{self, ErrorKind, Write};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use dhaga_net::{TcpListener, TcpSocket, TcpStream, UnixStream};

use util::{CTXS, PATIENCE};

/// The read timeout the timeout tests set.
const T: Duration = Duration::from_millis(50);

/// What the tests need of both stream types.
trait Stream: io::Write + Send + 'static {
    fn read_buf(&self, buf: &mut BytesMut) -> io::Result<usize>;
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()>;
}

macro_rules! stream {
    ($t:ty) => {
        impl Stream for $t {
            fn read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
                <$t>::read_buf(self, buf)
            }
            fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                <$t>::set_read_timeout(self, timeout)
            }
            fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
                <$t>::set_nonblocking(self, nonblocking)
            }
        }
    };
}
stream!(TcpStream);
stream!(UnixStream);

/// A connected TCP pair: (client, accepted server side).
fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

fn unix_pair() -> (UnixStream, UnixStream) {
    UnixStream::pair().unwrap()
}

/// A reader that waits for bytes gets them, appended to what its buffer
/// held, and then the end of file once the writer is gone.
fn parks_until_bytes_then_sees_the_end<S: Stream>(pair: fn() -> (S, S)) {
    let rt = util::runtime(2);
    for ctx in CTXS {
        let (mut a, b) = pair();
        let reader = util::start(&rt, ctx, move || {
            let mut buf = BytesMut::with_capacity(4096);
            buf.extend_from_slice(b">> ");
            let first = b.read_buf(&mut buf).unwrap();
            let end = b.read_buf(&mut buf).unwrap();
            (first, end, buf)
        });
        reader.wait_parked(&format!("the reader ({ctx:?}) to wait for bytes"));
        a.write_all(b"hello").unwrap();
        drop(a);
        let (first, end, buf) = reader.join_within(&format!("the reader ({ctx:?})"));
        assert_eq!((first, end, &buf[..]), (5, 0, &b">> hello"[..]), "{ctx:?}");
    }
}

#[test]
fn tcp_read_buf_parks_until_bytes_then_sees_the_end() {
    util::within_limit(|| parks_until_bytes_then_sees_the_end(tcp_pair));
}

#[test]
fn unix_read_buf_parks_until_bytes_then_sees_the_end() {
    util::within_limit(|| parks_until_bytes_then_sees_the_end(unix_pair));
}

/// With a read timeout, `read_buf` gives `WouldBlock` as `read` does, not
/// before the timeout; in non-blocking mode at once; then the socket reads
/// on into the same buffer.
fn times_out_as_read_does<S: Stream>(pair: fn() -> (S, S)) {
    let rt = util::runtime(2);
    for ctx in CTXS {
        let (mut a, b) = pair();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = util::start(&rt, ctx, move || {
            let mut buf = BytesMut::with_capacity(64);
            b.set_read_timeout(Some(T)).unwrap();
            let start = Instant::now();
            let res = b.read_buf(&mut buf);
            util::assert_timed_out("read_buf", res, start.elapsed(), T);
            b.set_nonblocking(true).unwrap();
            let start = Instant::now();
            let res = b.read_buf(&mut buf);
            assert_eq!(res.unwrap_err().kind(), ErrorKind::WouldBlock, "non-blocking");
            assert!(
                start.elapsed() < T,
                "non-blocking read_buf waited {:?}",
                start.elapsed()
            );
            b.set_nonblocking(false).unwrap();
            assert!(buf.is_empty());
            tx.send(()).unwrap();
            b.set_read_timeout(Some(PATIENCE)).unwrap();
            let n = b.read_buf(&mut buf).unwrap();
            (n, buf)
        });
        util::RecvWithin::recv_within(&rx, &format!("the reader ({ctx:?}) to time out"));
        a.write_all(b"late").unwrap();
        let (n, buf) = reader.join_within(&format!("the reader ({ctx:?}) to read the late bytes"));
        assert_eq!((n, &buf[..]), (4, &b"late"[..]), "{ctx:?}");
    }
}

#[test]
fn tcp_read_buf_times_out_as_read_does() {
    util::within_limit(|| times_out_as_read_does(tcp_pair));
}

#[test]
fn unix_read_buf_times_out_as_read_does() {
    util::within_limit(|| times_out_as_read_does(unix_pair));
}

/// Without spare capacity nothing is read and nothing waited for (no byte
/// is ever written here: a read that waited would hang).
fn reads_nothing_without_spare_capacity<S: Stream>(pair: fn() -> (S, S)) {
    let rt = util::runtime(2);
    for ctx in CTXS {
        let (a, b) = pair();
        let n = util::start(&rt, ctx, move || {
            let mut full = BytesMut::from(&b"full"[..]);
            assert_eq!(full.len(), full.capacity());
            let n = b.read_buf(&mut full).unwrap();
            assert_eq!(&full[..], b"full");
            n
        })
        .join_within(&format!("the reader ({ctx:?}) with a full buffer"));
        assert_eq!(n, 0, "{ctx:?}");
        drop(a);
    }
}

#[test]
fn tcp_read_buf_reads_nothing_without_spare_capacity() {
    util::within_limit(|| reads_nothing_without_spare_capacity(tcp_pair));
}

#[test]
fn unix_read_buf_reads_nothing_without_spare_capacity() {
    util::within_limit(|| reads_nothing_without_spare_capacity(unix_pair));
}

/// What one `read_buf` takes of `LARGE` bytes that have all arrived, with
/// 128 KiB reserved: all of them, in place.
const LARGE: usize = 100 * 1024;

fn one_read(b: &impl Stream) -> BytesMut {
    let mut buf = BytesMut::with_capacity(128 * 1024);
    let at = buf.as_ptr();
    let n = b.read_buf(&mut buf).unwrap();
    assert_eq!(n, LARGE, "one read took {n} of {LARGE} bytes");
    assert_eq!(buf.as_ptr(), at, "the read moved the buffer");
    buf
}

#[test]
fn unix_read_buf_takes_more_than_64_kib_at_once() {
    util::within_limit(|| {
        let (mut a, b) = unix_pair();
        // A Unix socket's send buffer holds about 200 KiB: all of it waits
        // in the socket before the read.
        let sent = util::pattern(1, LARGE);
        a.write_all(&sent).unwrap();
        let buf = dhaga_runtime::run(move || one_read(&b));
        assert!(buf[..] == sent[..], "the bytes differ");
    });
}

#[test]
fn tcp_read_buf_takes_more_than_64_kib_at_once() {
    util::within_limit(|| {
        // A receive buffer (inherited by the accepted socket) that holds all
        // of it, so that the sender finishes before the read.
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(1 << 20).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(16).unwrap();
        let mut a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (b, _) = listener.accept().unwrap();
        let sent = util::pattern(2, LARGE);
        a.write_all(&sent).unwrap();
        let buf = dhaga_runtime::run(move || {
            // Loopback delivers in segments: wait until all have arrived.
            let mut peeked = vec![0; LARGE];
            util::wait_until("all the bytes to arrive", || b.peek(&mut peeked).unwrap() == LARGE);
            one_read(&b)
        });
        assert!(buf[..] == sent[..], "the bytes differ");
    });
}

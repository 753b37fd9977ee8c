//! Ending a socket that another micro-thread is parked on: `shutdown` from
//! elsewhere wakes the parked reader (end of file) and writer (an error),
//! instead of leaving them parked forever. (Dropping a `try_clone` handle
//! closes only that descriptor; the socket stays open, as with std.)

mod util;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Duration;

use dhaga_net::{TcpListener, TcpStream};
use dhaga_runtime::sync::bounded;

use util::{JoinWithin, RecvWithin};

/// A connected pair: (ours, the peer's), both dhaga streams.
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

#[test]
fn shutdown_wakes_a_parked_reader() {
    let result = util::within_limit(|| {
        dhaga_runtime::run(|| {
            let (stream, _peer) = pair();
            let stream = Arc::new(stream);
            // Buffered: the report does not park, so the reader's first
            // park after it is the read.
            let (parking_tx, parking_rx) = bounded::<()>(1);
            let reader = {
                let stream = Arc::clone(&stream);
                dhaga_runtime::spawn(move || {
                    parking_tx.send(()).unwrap();
                    let mut buf = [0; 16];
                    (&*stream).read(&mut buf) // no data will come: parks
                })
            };
            parking_rx.recv_within("the reader's report that it is about to read");
            util::wait_until("the reader parked in its read", || reader.is_parked());
            stream.shutdown(Shutdown::Both).unwrap();
            reader.join_within("the parked reader, woken by the shutdown").unwrap()
        })
    });
    assert_eq!(result.unwrap(), 0, "a shut-down socket reads as end of file");
}

#[test]
fn shutdown_wakes_a_parked_writer() {
    // Longer than the join's patience: a writer the shutdown does not wake
    // fails the join, naming it, before its own timeout could end it.
    const WRITE_TIMEOUT: Duration = Duration::from_secs(120);
    let result = util::within_limit(|| {
        dhaga_runtime::run(|| {
            let (stream, _peer) = pair();
            stream.set_write_timeout(Some(WRITE_TIMEOUT)).unwrap();
            let stream = Arc::new(stream);
            // Buffered: the report does not park, so the writer's first
            // park after it is a write that found the buffers full.
            let (writing_tx, writing_rx) = bounded::<()>(1);
            let writer = {
                let stream = Arc::clone(&stream);
                dhaga_runtime::spawn(move || {
                    writing_tx.send(()).unwrap();
                    // The peer never reads: the buffers fill and the write parks.
                    let chunk = vec![7u8; 1 << 16];
                    loop {
                        if let Err(e) = (&*stream).write(&chunk) {
                            return e;
                        }
                    }
                })
            };
            writing_rx.recv_within("the writer's report that it starts writing");
            util::wait_until("the writer parked in a write on full buffers", || writer.is_parked());
            stream.shutdown(Shutdown::Both).unwrap();
            writer.join_within("the parked writer, woken by the shutdown").unwrap()
        })
    });
    assert_ne!(
        result.kind(),
        std::io::ErrorKind::WouldBlock,
        "woken by the shutdown, not by the {WRITE_TIMEOUT:?} write timeout: {result}"
    );
}

/// `into_std` must not switch the socket back to blocking mode while a clone
/// still uses it through dhaga: the flag is shared, and the clone's calls
/// would block its worker instead of parking.
#[test]
fn into_std_refuses_while_clones_are_alive() {
    let (stream, _peer) = pair();
    let clone = stream.try_clone().unwrap();
    let err = stream.into_std().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    // Alone, it converts.
    let std_stream = clone.into_std().unwrap();
    std_stream.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
}

//! Ending a socket that another micro-thread is parked on: `shutdown` from
//! elsewhere wakes the parked reader (end of file) and writer (an error),
//! instead of leaving them parked forever. (Dropping a `try_clone` handle
//! closes only that descriptor; the socket stays open, as with std.)

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Duration;

use dhaga_net::{TcpListener, TcpStream};
use dhaga_runtime::sync::bounded;

/// A connected pair: (ours, the peer's), both dhaga streams.
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

#[test]
fn shutdown_wakes_a_parked_reader() {
    let result = dhaga_runtime::run(|| {
        let (stream, _peer) = pair();
        let stream = Arc::new(stream);
        let (parking_tx, parking_rx) = bounded::<()>(0);
        let reader = {
            let stream = Arc::clone(&stream);
            dhaga_runtime::spawn(move || {
                parking_tx.send(()).unwrap();
                let mut buf = [0; 16];
                (&*stream).read(&mut buf) // no data will come: parks
            })
        };
        parking_rx.recv().unwrap();
        dhaga_runtime::yield_now(); // let it reach the read and park
        stream.shutdown(Shutdown::Both).unwrap();
        reader.join().unwrap()
    });
    assert_eq!(result.unwrap(), 0, "a shut-down socket reads as end of file");
}

#[test]
fn shutdown_wakes_a_parked_writer() {
    let result = dhaga_runtime::run(|| {
        let (stream, peer) = pair();
        stream.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
        let stream = Arc::new(stream);
        let (parked_tx, parked_rx) = bounded::<()>(0);
        let writer = {
            let stream = Arc::clone(&stream);
            dhaga_runtime::spawn(move || {
                parked_tx.send(()).unwrap();
                // The peer never reads: the buffers fill and the write parks.
                let chunk = vec![7u8; 1 << 16];
                loop {
                    if let Err(e) = (&*stream).write(&chunk) {
                        return e;
                    }
                }
            })
        };
        parked_rx.recv().unwrap();
        // Wait until the writer is stuck: a peek on the peer shows data, and
        // yielding lets the writer fill the buffers and park.
        let mut byte = [0; 1];
        peer.peek(&mut byte).unwrap();
        for _ in 0..100 {
            dhaga_runtime::yield_now();
        }
        stream.shutdown(Shutdown::Both).unwrap();
        writer.join().unwrap()
    });
    assert_ne!(
        result.kind(),
        std::io::ErrorKind::WouldBlock,
        "woken by the shutdown, not by the 30 s timeout: {result}"
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

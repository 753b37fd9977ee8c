//! Closing a socket with `close` sends what was queued before it returns,
//! as libzmq's `zmq_ctx_term` does (within the linger time), so a program
//! can send and then end without losing its last messages.

use std::time::Duration;

use bytes::Bytes;
use dhaga_mq::{Socket, SocketType};
use dhaga_runtime::Runtime;
use dhaga_testutil::within_limit;

/// More than the send high-water mark, so that `close` comes while the
/// outbox is full; each message bigger than a loopback socket buffer holds
/// in a few writes, so that the writer is still busy when it does.
const MESSAGES: usize = 2_000;
const SIZE: usize = 16 * 1024;

/// A PUSH on a runtime of its own sends, closes and its runtime ends at
/// once (as a program's `main` returns): the PULL still gets everything.
#[test]
fn close_returns_once_what_was_queued_is_sent() {
    within_limit(|| {
        let pull = Socket::new(SocketType::Pull);
        pull.set_recv_timeout(Some(Duration::from_secs(5)));
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = pull.last_endpoint().unwrap();
        // Reads all along, as a peer does (one that stopped reading would
        // keep `close` waiting, as it keeps libzmq's `zmq_ctx_term`).
        let receiver = std::thread::spawn(move || {
            (0..MESSAGES)
                .map(|_| pull.recv().map(|msg| msg.size()))
                .take_while(Result::is_ok)
                .count()
        });

        let runtime = Runtime::new().unwrap();
        runtime.block_on(move || {
            let push = Socket::new(SocketType::Push);
            push.connect(&endpoint).unwrap();
            let payload = Bytes::from(vec![7u8; SIZE]);
            for _ in 0..MESSAGES {
                push.send(payload.clone()).unwrap();
            }
            push.close();
        });
        // Unwinds whatever micro-threads of that runtime are left.
        drop(runtime);

        assert_eq!(receiver.join().unwrap(), MESSAGES, "messages were lost");
    });
}

/// With a linger time, `close` gives up waiting for a peer that reads
/// nothing once the time has passed.
#[test]
fn close_waits_no_longer_than_the_linger_time() {
    within_limit(|| {
        // A PULL that never reads: its queue and the socket buffers fill up.
        let pull = Socket::new(SocketType::Pull);
        pull.set_recv_hwm(1);
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = pull.last_endpoint().unwrap();

        let push = Socket::new(SocketType::Push);
        push.set_linger(Some(Duration::from_millis(50)));
        push.set_send_timeout(Some(Duration::from_millis(200)));
        push.connect(&endpoint).unwrap();
        let payload = Bytes::from(vec![7u8; SIZE]);
        // Until the outbox is full too.
        while push.send(payload.clone()).is_ok() {}
        // Returns (the hang guard fails the test otherwise).
        push.close();
        drop(pull);
    });
}

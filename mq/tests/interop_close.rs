//! Closing a dhaga socket delivers everything it queued to a libzmq peer,
//! even one that is not reading at that moment (its input paused at the
//! high-water mark): the connection is released in order (half-close, the
//! peer reads the rest and closes), not hung up at once, which makes libzmq
//! drop what it had not read yet over ipc.

use std::time::Duration;

use dhaga_mq::{Socket, SocketType};
use dhaga_testutil::{RecvWithin, Task, within_limit};

/// Many more than the PULL's high-water mark, so its input pauses.
const MESSAGES: usize = 3_000;

/// The PULL's high-water mark: small, so that it stops reading early.
const PULL_HWM: i32 = 100;

fn close_delivers_everything_to_a_paused_libzmq_pull(endpoint: &str) {
    let ctx = zmq::Context::new();
    let pull = ctx.socket(zmq::PULL).unwrap();
    pull.set_rcvtimeo(10_000).unwrap();
    pull.set_rcvhwm(PULL_HWM).unwrap();
    pull.bind(endpoint).unwrap();
    let endpoint = pull.get_last_endpoint().unwrap().unwrap();

    // The PULL reads nothing until the PUSH has closed: its input is
    // paused at the high-water mark when the PUSH hangs up.
    let push = Socket::new(SocketType::Push);
    // Room for every message in the PUSH's own queue, so no send waits
    // however little the kernel's socket buffers hold (over ipc that
    // depends on how the writes were batched: each one costs a buffer).
    push.set_send_hwm(MESSAGES);
    push.set_send_timeout(Some(Duration::from_secs(20)));
    push.connect(&endpoint).unwrap();
    let (sent_tx, sent_rx) = std::sync::mpsc::channel();
    let sender = Task::os_thread(move || {
        for i in 0..MESSAGES {
            push.send(format!("{i}"))
                .unwrap_or_else(|e| panic!("dhaga PUSH: send {i} of {MESSAGES}: {e}"));
        }
        sent_tx.send(()).unwrap();
        // Returns once the peer has read everything and closed its side.
        push.close();
    });
    // Every message is queued and the sender waits in `close` (which
    // cannot return before the PULL reads), while the PULL has read none
    // of them.
    sent_rx.recv_within("the dhaga PUSH to queue every message");
    sender.wait_parked("the dhaga PUSH's thread to wait in close");
    for i in 0..MESSAGES {
        let msg = pull
            .recv_bytes(0)
            .unwrap_or_else(|e| panic!("{endpoint}: message {i} of {MESSAGES}: {e}"));
        assert_eq!(msg, i.to_string().into_bytes(), "{endpoint}");
    }
    sender.join_within("the dhaga PUSH's close, once the PULL has read everything");
}

#[test]
fn close_delivers_everything_over_ipc() {
    within_limit(|| {
        let dir = std::env::temp_dir();
        for run in 0..5 {
            let path = dir.join(format!("dhaga-close-{}-{run}.sock", std::process::id()));
            close_delivers_everything_to_a_paused_libzmq_pull(&format!("ipc://{}", path.display()));
        }
    });
}

/// The connection is made after the close: the socket keeps connecting
/// to deliver what it queued, and that connection must end in the same
/// orderly way.
#[test]
fn close_delivers_everything_to_a_peer_that_binds_after_the_close() {
    within_limit(|| {
        let path = std::env::temp_dir().join(format!("dhaga-close-late-{}.sock", std::process::id()));
        let endpoint = format!("ipc://{}", path.display());
        let push = Socket::new(SocketType::Push);
        push.set_send_hwm(MESSAGES);
        push.set_send_timeout(Some(Duration::from_secs(20)));
        push.connect(&endpoint).unwrap();
        for i in 0..MESSAGES {
            push.send(format!("{i}"))
                .unwrap_or_else(|e| panic!("dhaga PUSH: send {i} of {MESSAGES}: {e}"));
        }
        let (closing_tx, closing_rx) = std::sync::mpsc::channel();
        let closer = Task::os_thread(move || {
            closing_tx.send(()).unwrap();
            push.close();
        });
        // The PULL binds once the closer waits in `close` (which cannot
        // return before a peer has read everything).
        closing_rx.recv_within("the closer's thread to start");
        closer.wait_parked("the dhaga PUSH's thread to wait in close");

        let ctx = zmq::Context::new();
        let pull = ctx.socket(zmq::PULL).unwrap();
        pull.set_rcvtimeo(10_000).unwrap();
        pull.set_rcvhwm(PULL_HWM).unwrap();
        pull.bind(&endpoint).unwrap();
        for i in 0..MESSAGES {
            let msg = pull
                .recv_bytes(0)
                .unwrap_or_else(|e| panic!("message {i} of {MESSAGES}: {e}"));
            assert_eq!(msg, i.to_string().into_bytes());
        }
        closer.join_within("the dhaga PUSH's close, once the PULL has read everything");
        let _ = std::fs::remove_file(path);
    });
}

#[test]
fn close_delivers_everything_over_tcp() {
    within_limit(|| close_delivers_everything_to_a_paused_libzmq_pull("tcp://127.0.0.1:*"));
}

//! Closing a socket: `close` sends what was queued before it returns, as
//! libzmq's `zmq_ctx_term` does (within the linger time), so a program can
//! send and then end without losing its last messages; it returns once the
//! linger time has passed, at once when nothing is owed to anyone, and in
//! thread mode too; and a socket closed with
//! messages for a peer that never takes them keeps trying at its reconnect
//! interval, not in a loop.

mod raw;
mod util;

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use dhaga_mq::{Context, MonitorEvent, Socket, SocketType};
use dhaga_runtime::Runtime;
use dhaga_testutil::JoinWithin;
use util::{PATIENCE, RecvWithin, SocketWithin, Task, with_timeouts, within_limit};

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
        let pull = util::socket(SocketType::Pull);
        pull.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = pull.last_endpoint().unwrap();
        // Reads all along, as a peer does (one that stopped reading would
        // keep `close` waiting, as it keeps libzmq's `zmq_ctx_term`).
        let receiver = Task::os_thread(move || {
            (0..MESSAGES)
                .map(|_| pull.recv().map(|msg| msg.size()))
                .take_while(Result::is_ok)
                .count()
        });

        Task::os_thread(move || {
            let runtime = Runtime::new().unwrap();
            runtime.block_on(move || {
                // The default linger: `close` waits for as long as it takes.
                let push = Socket::new(SocketType::Push);
                push.set_send_timeout(Some(PATIENCE));
                push.connect(&endpoint).unwrap();
                let payload = Bytes::from(vec![7u8; SIZE]);
                for i in 0..MESSAGES {
                    push.send_within(payload.clone(), &format!("message {i}"));
                }
                push.close();
            });
            // Unwinds whatever micro-threads of that runtime are left.
            drop(runtime);
        })
        .join_within("the PUSH's program: its sends, its close and its runtime's end");

        let received = receiver.join_within("the PULL's receiver");
        assert_eq!(
            received, MESSAGES,
            "messages were lost (or a receive waited {PATIENCE:?} in vain)"
        );
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
        // A send that finds no room for this long counts as "full" (a
        // measurement, not an ordering).
        push.set_send_timeout(Some(Duration::from_millis(200)));
        push.connect(&endpoint).unwrap();
        let payload = Bytes::from(vec![7u8; SIZE]);
        // Until the outbox is full too.
        while push.send(payload.clone()).is_ok() {}
        Task::os_thread(move || push.close()).join_within("close, which waits no longer than the linger time (50 ms)");
        drop(pull);
    });
}

/// With nothing to deliver, `close` returns at once, whatever the peers
/// do: here a PULL (which never sends) and an idle PUSH, each with a peer
/// that completed its handshake and then fell silent, with the default
/// linger (wait for ever). (Both waited for the silent peer to close its
/// side, for ever.)
#[test]
fn close_with_nothing_to_deliver_returns_at_once_whatever_the_peers_do() {
    within_limit(|| {
        for (socket_type, peer_type) in [(SocketType::Pull, "PUSH"), (SocketType::Push, "PULL")] {
            let socket = Socket::new(socket_type);
            let events = socket.monitor();
            socket.bind("tcp://127.0.0.1:*").unwrap();
            let endpoint = socket.last_endpoint().unwrap();
            let _silent = raw::RawPeer::connect(&endpoint, peer_type);
            loop {
                match events.recv_within(&format!("{socket_type}: the silent peer's handshake")) {
                    MonitorEvent::HandshakeSucceeded { .. } => break,
                    _ => continue,
                }
            }
            Task::os_thread(move || socket.close()).join_within(&format!(
                "{socket_type}: close, with nothing to deliver and a silent peer"
            ));
        }
    });
}

/// After close, `connect_loop`'s back-off wait returned at once (its
/// condition is `is_closed()`), so a socket closed with a message for an
/// unreachable peer reconnected in a tight loop, forever (default linger)
/// (bug 2 of the seven a second reader found).
#[test]
fn a_closed_socket_lingering_for_a_dead_peer_retries_at_its_interval() {
    within_limit(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepts = Arc::new(AtomicUsize::new(0));
        let n = Arc::clone(&accepts);
        thread::spawn(move || {
            // A peer that hangs up at once: every handshake fails.
            for stream in listener.incoming() {
                drop(stream);
                n.fetch_add(1, Ordering::Relaxed);
            }
        });
        let push = with_timeouts(Context::new().socket(SocketType::Push));
        let events = push.monitor();
        push.connect(format!("tcp://127.0.0.1:{port}")).unwrap();
        push.send_within("queued", "the message for the dead peer");
        // The peer hung up and the socket waits to try again: its
        // connect loop runs.
        while !matches!(
            events.recv_within("a retry after the peer hung up"),
            MonitorEvent::ConnectRetried { .. }
        ) {}
        let before = accepts.load(Ordering::Relaxed);
        drop(push);
        // A measurement, not an ordering: how often the closed socket
        // connects in one second.
        thread::sleep(Duration::from_secs(1));
        let after = accepts.load(Ordering::Relaxed) - before;
        // reconnect_ivl is 100 ms: about 10 attempts a second.
        assert!(after <= 20, "{after} reconnections in one second after close");
    });
}

/// In thread mode the acceptor is an OS thread in poll(2), which `cancel`
/// could not interrupt: dropping a bound socket hung (bug 6 of the seven a
/// second reader found).
#[test]
fn dropping_a_bound_socket_in_thread_mode_returns() {
    within_limit(|| {
        let runtime = Runtime::builder().thread_mode(true).build().unwrap();
        Task::os_thread(move || {
            runtime.block_on(|| {
                let rep = with_timeouts(Context::new().socket(SocketType::Rep));
                let events = rep.monitor();
                rep.bind("tcp://127.0.0.1:*").unwrap();
                let address = rep.last_endpoint().unwrap();
                // A connection accepted shows the acceptor's loop running;
                // from there it goes straight back into poll(2).
                let client = TcpStream::connect(address.trim_start_matches("tcp://")).unwrap();
                while !matches!(
                    events.recv_within("the acceptor to accept a connection"),
                    MonitorEvent::Accepted { .. }
                ) {}
                drop(client);
                drop(rep);
            });
        })
        .join_within("Socket::drop to return in thread mode");
    });
}

/// The linger deadline holds against a peer that reads a little now and
/// then, and without the timer that `close` starts on the closing caller's
/// runtime: the connection's writer keeps the deadline itself. (Each write
/// waited for the whole linger time again, so a peer reading 1 MiB every
/// 50 ms kept a 200 ms linger going for as long as the queue lasted.)
#[test]
fn a_peer_reading_slowly_cannot_stretch_the_linger_time() {
    const QUEUED: usize = 200 * 1024 * 1024;
    within_limit(|| {
        // The connections run on the default runtime.
        let push = util::socket(SocketType::Push);
        push.set_linger(Some(Duration::from_millis(200)));
        push.bind("tcp://127.0.0.1:*").unwrap();
        let mut peer = raw::RawPeer::connect(&push.last_endpoint().unwrap(), "PULL");
        let mib = Bytes::from(vec![7u8; 1024 * 1024]);
        for _ in 0..QUEUED / mib.len() {
            push.send_within(mib.clone(), "a 1 MiB message (the same bytes each time)");
        }
        // Dropped (closed, not waited for) on a runtime that ends at once:
        // its cut-off timer goes with it.
        let closer = Runtime::builder().workers(1).build().unwrap();
        closer.block_on(move || drop(push));
        drop(closer);
        // 20 MiB/s: the queue would take 10 s to read.
        let mut read = 0;
        let mut chunk = vec![0u8; 1024 * 1024];
        loop {
            match std::io::Read::read(&mut peer.stream, &mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
            // The attack's pace, not an ordering.
            thread::sleep(Duration::from_millis(50));
        }
        assert!(
            read < QUEUED / 2,
            "the peer read {read} of {QUEUED} bytes before the connection ended: the linger time stretched"
        );
    });
}

/// After everything was delivered, a peer that never closes its side is
/// cut off at the linger deadline even when the timer `close` started is
/// gone with its runtime: the writer, done writing, keeps the deadline.
#[test]
fn a_peer_that_never_closes_is_cut_off_at_the_linger_deadline() {
    within_limit(|| {
        let push = util::socket(SocketType::Push);
        push.set_linger(Some(Duration::from_millis(200)));
        push.bind("tcp://127.0.0.1:*").unwrap();
        let mut peer = raw::RawPeer::connect(&push.last_endpoint().unwrap(), "PULL");
        push.send_within("the last message", "the message before close");
        assert_eq!(
            peer.message_within("the message before close"),
            [b"the last message".to_vec()]
        );
        let closer = Runtime::builder().workers(1).build().unwrap();
        closer.block_on(move || drop(push));
        drop(closer);
        // The peer keeps its side open and writes now and then (a byte of
        // a frame it never finishes): once the connection is gone, a write
        // fails.
        let mut writes = 0;
        util::wait_until("the connection to be cut off at the linger deadline", || {
            writes += 1;
            // The peer's pace, not an ordering.
            thread::sleep(Duration::from_millis(20));
            std::io::Write::write(&mut peer.stream, &[0x00]).is_err()
        });
        assert!(writes > 1, "the connection ended before the peer wrote");
    });
}

/// `close` works through an `Arc`: a micro-thread blocked in `recv` on the
/// shared socket wakes with `Error::Closed`, and so does every later call;
/// closing twice is harmless.
#[test]
fn close_through_an_arc_wakes_blocked_calls() {
    within_limit(|| {
        dhaga_runtime::run(|| {
            let socket = std::sync::Arc::new(dhaga_mq::Socket::new(SocketType::Pull));
            socket.bind("tcp://127.0.0.1:*").unwrap();
            let (started_tx, started_rx) = dhaga_runtime::sync::bounded(1);
            let blocked = {
                let socket = std::sync::Arc::clone(&socket);
                dhaga_runtime::spawn(move || {
                    started_tx.send(()).unwrap();
                    socket.recv()
                })
            };
            started_rx
                .recv_timeout(PATIENCE)
                .expect("the receiver starts within the patience");
            socket.close();
            let woken = blocked.join_within("the blocked recv to end once the socket closed");
            assert!(matches!(woken, Ok(Err(dhaga_mq::Error::Closed))), "{woken:?}");
            assert!(matches!(socket.recv(), Err(dhaga_mq::Error::Closed)));
            assert!(matches!(socket.bind("tcp://127.0.0.1:*"), Err(dhaga_mq::Error::Closed)));
            socket.close();
        });
    });
}

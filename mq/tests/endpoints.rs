//! Binding, connecting, unbinding and disconnecting; reconnection.

mod util;

use std::time::Duration;

use dhaga_mq::{Error, Interest, MonitorEvent, MonitorEvents, Msg, Socket, SocketType};
use util::{PATIENCE, RecvWithin, SocketWithin, bound, connected, within_limit};

#[test]
fn malformed_endpoints_are_clear_errors() {
    let socket = Socket::new(SocketType::Pair);
    for endpoint in [
        "",
        "tcp://",
        "tcp://127.0.0.1",
        "tcp://127.0.0.1:http",
        "udp://x:1",
        "inproc://",
    ] {
        assert!(
            matches!(socket.bind(endpoint), Err(Error::InvalidEndpoint { .. })),
            "bind {endpoint:?}"
        );
        assert!(
            matches!(socket.connect(endpoint), Err(Error::InvalidEndpoint { .. })),
            "connect {endpoint:?}"
        );
    }
    for wildcard in ["tcp://*:5555", "tcp://127.0.0.1:*", "tcp://127.0.0.1:0"] {
        let err = socket.connect(wildcard).unwrap_err();
        assert!(
            matches!(err, Error::InvalidEndpoint { .. }),
            "connect {wildcard}: {err}"
        );
    }
}

#[test]
fn a_bound_port_reads_back_and_cannot_be_bound_twice() {
    let (first, endpoint) = bound(SocketType::Pull, "tcp");
    assert!(
        endpoint.starts_with("tcp://127.0.0.1:") && !endpoint.ends_with(":0"),
        "{endpoint}"
    );
    let second = Socket::new(SocketType::Pull);
    assert!(matches!(second.bind(&endpoint), Err(Error::Io(_))));
    let (_inproc, name) = bound(SocketType::Pull, "inproc");
    assert!(matches!(second.bind(&name), Err(Error::AddrInUse(_))));
    drop(first);
}

#[test]
fn wildcard_host_binds_every_interface() {
    within_limit(|| {
        let pull = util::socket(SocketType::Pull);
        pull.bind("tcp://*:*").unwrap();
        let endpoint = pull.last_endpoint().unwrap();
        let port = endpoint.rsplit(':').next().unwrap();
        assert!(endpoint.starts_with("tcp://0.0.0.0:"), "{endpoint}");
        let push = connected(SocketType::Push, &format!("tcp://127.0.0.1:{port}"));
        push.send_within("via loopback", "the message via loopback");
        assert_eq!(pull.recv_within("the message via loopback"), Msg::from("via loopback"));
    });
}

#[test]
fn incompatible_inproc_peers_are_refused_at_connect() {
    let (_rep, endpoint) = bound(SocketType::Rep, "inproc");
    let push = Socket::new(SocketType::Push);
    assert!(matches!(
        push.connect(&endpoint),
        Err(Error::IncompatibleSocketType { .. })
    ));
}

#[test]
fn unbind_and_disconnect_need_their_endpoint() {
    within_limit(|| {
        let (pull, endpoint) = bound(SocketType::Pull, "tcp");
        assert!(matches!(
            pull.unbind("tcp://127.0.0.1:1"),
            Err(Error::EndpointNotFound(_))
        ));
        assert!(matches!(pull.disconnect(&endpoint), Err(Error::EndpointNotFound(_))));
        let push = connected(SocketType::Push, &endpoint);
        push.send_within("before", "the message before the unbind");
        assert_eq!(pull.recv_within("the message before the unbind"), Msg::from("before"));
        // Unbinding stops accepting and, as in libzmq, ends the connections
        // accepted there: what they delivered and was not received yet is
        // dropped.
        let events = push.monitor_events(MonitorEvents::DISCONNECTED);
        push.send_within("unread", "the message left unread");
        util::wait_ready(&pull, Interest::READABLE, "the message left unread");
        pull.unbind(&endpoint).unwrap();
        assert!(
            matches!(pull.try_recv(), Err(Error::WouldBlock)),
            "the unread message is dropped"
        );
        match events.recv_timeout(PATIENCE) {
            Ok(MonitorEvent::Disconnected { .. }) => {}
            other => panic!("waiting for the pusher to lose its connection: {other:?}"),
        }
        push.disconnect(&endpoint).unwrap();
        assert!(matches!(push.disconnect(&endpoint), Err(Error::EndpointNotFound(_))));
    });
}

#[test]
fn a_connecting_socket_reconnects_after_its_peer_restarts() {
    within_limit(|| {
        for transport in ["tcp", "ipc"] {
            let (pull, endpoint) = bound(SocketType::Pull, transport);
            let push = util::socket(SocketType::Push);
            push.set_reconnect_ivl(Duration::from_millis(10));
            let events = push.monitor();
            push.connect(&endpoint).unwrap();
            push.send_within("first life", &format!("{transport}: the first message"));
            assert_eq!(
                pull.recv_within(&format!("{transport}: the first message")),
                Msg::from("first life"),
                "{transport}"
            );
            drop(pull);
            // Same endpoint, new socket: the PUSH reconnects by itself.
            let pull = util::socket(SocketType::Pull);
            pull.bind(&endpoint).unwrap();
            // A message sent while the peer was away may go into the dying
            // connection: send once the new one is up.
            let mut lost = false;
            loop {
                match events.recv_within(&format!("{transport}: the PUSH to reconnect")) {
                    MonitorEvent::Disconnected { .. } => lost = true,
                    MonitorEvent::HandshakeSucceeded { .. } if lost => break,
                    _ => {}
                }
            }
            push.send_within("second life", &format!("{transport}: the message after the restart"));
            assert_eq!(
                pull.recv_within(&format!("{transport}: the message after the restart")),
                Msg::from("second life"),
                "{transport}"
            );
        }
    });
}

/// A socket that binds an ipc path another socket already listens on takes
/// it over (as libzmq's bind does); when the displaced socket closes, it
/// leaves the new listener's socket file alone, and peers still reach the
/// new one. (The displaced socket unlinked the path, so nobody could
/// connect to the new listener any more.)
#[test]
fn a_displaced_ipc_binder_leaves_the_new_binders_socket_file() {
    within_limit(|| {
        let path = std::env::temp_dir().join(format!("dhaga-takeover-{}.sock", std::process::id()));
        let endpoint = format!("ipc://{}", path.display());
        let first = util::socket(SocketType::Pull);
        first.bind(&endpoint).unwrap();
        let second = util::socket(SocketType::Pull);
        second.bind(&endpoint).unwrap();
        first.close();
        assert!(path.exists(), "the second binder's socket file is still there");
        let push = connected(SocketType::Push, &endpoint);
        push.send_within("to the second", "a message for the second binder");
        assert_eq!(
            second.recv_within("the message through the path the second binder took over"),
            Msg::from("to the second")
        );
        drop(second);
        assert!(!path.exists(), "the second binder removes its own socket file");
    });
}

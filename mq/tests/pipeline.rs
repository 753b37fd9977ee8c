//! PUSH and PULL (rfc.zeromq.org 30/PIPELINE).

mod util;

use std::collections::HashSet;

use dhaga_mq::{Error, Msg, SocketType};
use util::{TRANSPORTS, bound, connected, text, within_limit};

#[test]
fn every_pushed_message_arrives_once_over_every_transport() {
    within_limit(|| {
        for transport in TRANSPORTS {
            let (pull, endpoint) = bound(SocketType::Pull, transport);
            let push = connected(SocketType::Push, &endpoint);
            // More than the high-water marks hold: the sender blocks until
            // the receiver catches up.
            let sender = dhaga_runtime::spawn(move || {
                for i in 0..5000 {
                    push.send(format!("{i}")).unwrap();
                }
            });
            for i in 0..5000 {
                assert_eq!(
                    text(&pull.recv().unwrap()),
                    [i.to_string()],
                    "{transport}: order from one peer"
                );
            }
            sender.join().unwrap();
        }
    });
}

#[test]
fn push_spreads_work_over_pullers() {
    within_limit(|| {
        let push = util::socket(SocketType::Push);
        let pulls: Vec<_> = (0..3)
            .map(|_| {
                let (pull, endpoint) = bound(SocketType::Pull, "tcp");
                push.connect(&endpoint).unwrap();
                pull
            })
            .collect();
        for i in 0..300 {
            push.send(format!("{i}")).unwrap();
        }
        for (k, pull) in pulls.iter().enumerate() {
            for j in 0..100 {
                // Connect-side pipes exist from `connect` on, so the split is exact.
                assert_eq!(text(&pull.recv().unwrap()), [(k + 3 * j).to_string()]);
            }
        }
    });
}

#[test]
fn pull_gathers_from_many_pushers() {
    within_limit(|| {
        let (pull, endpoint) = bound(SocketType::Pull, "tcp");
        let pushers: Vec<_> = (0..20)
            .map(|p| {
                let endpoint = endpoint.clone();
                dhaga_runtime::spawn(move || {
                    let push = connected(SocketType::Push, &endpoint);
                    for i in 0..100 {
                        push.send([format!("{p}"), format!("{i}")].into_iter().collect::<Msg>())
                            .unwrap();
                    }
                    // Closing lingers until everything queued is sent.
                })
            })
            .collect();
        let mut seen = HashSet::new();
        let mut next = [0; 20];
        for _ in 0..2000 {
            let msg = text(&pull.recv().unwrap());
            let (p, i): (usize, usize) = (msg[0].parse().unwrap(), msg[1].parse().unwrap());
            assert_eq!(i, next[p], "messages from one pusher stay in order");
            next[p] += 1;
            assert!(seen.insert((p, i)));
        }
        for pusher in pushers {
            pusher.join().unwrap();
        }
        assert!(matches!(pull.try_recv(), Err(Error::WouldBlock)));
    });
}

#[test]
fn the_wrong_direction_is_not_supported() {
    let push = util::socket(SocketType::Push);
    let pull = util::socket(SocketType::Pull);
    assert!(matches!(push.recv(), Err(Error::NotSupported { .. })));
    let err = pull.send("x").unwrap_err();
    assert!(matches!(err.error(), Error::NotSupported { .. }));
}

#[test]
fn multipart_messages_arrive_whole() {
    within_limit(|| {
        for transport in TRANSPORTS {
            let (pull, endpoint) = bound(SocketType::Pull, transport);
            let push = connected(SocketType::Push, &endpoint);
            let sizes = [0usize, 1, 255, 256, 65_535, 65_536, 1 << 20];
            let msg: Msg = sizes.iter().map(|&n| vec![(n % 251) as u8; n]).collect();
            for _ in 0..3 {
                push.send(msg.clone()).unwrap();
            }
            for _ in 0..3 {
                assert_eq!(pull.recv().unwrap(), msg, "{transport}");
            }
        }
    });
}

#[test]
fn inproc_moves_frames_without_copying() {
    within_limit(|| {
        let (pull, endpoint) = bound(SocketType::Pull, "inproc");
        let push = connected(SocketType::Push, &endpoint);
        let msg = Msg::from(vec![7u8; 4096]);
        let address = msg[0].as_ptr();
        push.send(msg).unwrap();
        assert_eq!(pull.recv().unwrap()[0].as_ptr(), address);
    });
}

//! PUSH and PULL (rfc.zeromq.org 30/PIPELINE).

mod util;

use std::collections::HashSet;

use dhaga_mq::{Error, Msg, SocketType};
use util::{JoinWithin, SocketWithin, TRANSPORTS, bound, connected, text, within_limit};

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
                    push.send_within(format!("{i}"), &format!("{transport}: message {i}"));
                }
            });
            for i in 0..5000 {
                assert_eq!(
                    text(&pull.recv_within(&format!("{transport}: message {i}"))),
                    [i.to_string()],
                    "{transport}: order from one peer"
                );
            }
            sender.join_within(&format!("{transport}: the sender")).unwrap();
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
            push.send_within(format!("{i}"), &format!("message {i}"));
        }
        for (k, pull) in pulls.iter().enumerate() {
            for j in 0..100 {
                // Connect-side pipes exist from `connect` on, so the split is exact.
                let i = k + 3 * j;
                assert_eq!(
                    text(&pull.recv_within(&format!("message {i}, at PULL {k}"))),
                    [i.to_string()]
                );
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
                        push.send_within(
                            [format!("{p}"), format!("{i}")].into_iter().collect::<Msg>(),
                            &format!("pusher {p}'s message {i}"),
                        );
                    }
                    // Closing lingers until everything queued is sent.
                })
            })
            .collect();
        let mut seen = HashSet::new();
        let mut next = [0; 20];
        for n in 0..2000 {
            let msg = text(&pull.recv_within(&format!("message {n} of 2000")));
            let (p, i): (usize, usize) = (msg[0].parse().unwrap(), msg[1].parse().unwrap());
            assert_eq!(i, next[p], "messages from one pusher stay in order");
            next[p] += 1;
            assert!(seen.insert((p, i)));
        }
        for (p, pusher) in pushers.into_iter().enumerate() {
            pusher.join_within(&format!("pusher {p}")).unwrap();
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
            for i in 0..3 {
                push.send_within(msg.clone(), &format!("{transport}: message {i}"));
            }
            for i in 0..3 {
                assert_eq!(
                    pull.recv_within(&format!("{transport}: message {i}")),
                    msg,
                    "{transport}"
                );
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
        push.send_within(msg, "the message");
        assert_eq!(pull.recv_within("the message")[0].as_ptr(), address);
    });
}

//! Rendezvous channels (`bounded(0)`) with several receivers parked at once:
//! each send is handed to one of them and wakes it. (`channel.rs` covers
//! channels as a whole.)

mod util;

use dhaga_runtime::sync::{bounded, unbounded};
use dhaga_runtime::{RuntimeBuilder, spawn};

use util::{JoinWithin, RecvWithin, wait_until};

/// Capacity zero: two parked receivers, two sends. The second send used to
/// post an offer without waking the second receiver, so both waited forever.
/// (A regression test: a review found it.)
#[test]
fn each_send_on_a_rendezvous_channel_wakes_a_parked_receiver() {
    util::within_limit(|| {
        let rt = RuntimeBuilder::new().workers(1).build().unwrap();
        rt.block_on(|| {
            let (tx, rx) = bounded::<u32>(0);
            let (about_tx, about_rx) = unbounded::<()>();
            let receivers: Vec<_> = (0..2)
                .map(|_| {
                    let rx = rx.clone();
                    let about = about_tx.clone();
                    spawn(move || {
                        about.send(()).unwrap();
                        rx.recv()
                    })
                })
                .collect();
            for _ in 0..2 {
                about_rx.recv_within("a receiver to start");
            }
            for (i, receiver) in receivers.iter().enumerate() {
                wait_until(&format!("receiver {i} to park in recv"), || receiver.is_parked());
            }
            // Before the fix the second send, and the second receiver, hung.
            let sender = spawn(move || {
                tx.send(1).expect("first send");
                tx.send(2).expect("second send");
            });
            sender
                .join_within("the two sends to the parked receivers to return")
                .unwrap();
            let mut got: Vec<u32> = receivers
                .into_iter()
                .enumerate()
                .map(|(i, h)| {
                    h.join_within(&format!("receiver {i} to get its message"))
                        .unwrap()
                        .expect("a message, not a disconnect")
                })
                .collect();
            got.sort_unstable();
            assert_eq!(got, [1, 2]);
        });
    });
}

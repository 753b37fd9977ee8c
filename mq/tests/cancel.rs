//! Cancelling a micro-thread parked in a socket call: the socket forgets
//! that waiter, and the next one gets the wake-up.

mod util;

use std::sync::Arc;

use dhaga_mq::{Msg, SocketType};
use util::{JoinWithin, bound, connected, wait_until, within_limit};

/// A micro-thread cancelled while parked in `recv` left its waiter in
/// `readable`; the next `notify_one` went to it and a live receiver slept on
/// (bug 1 of the seven a second reader found).
#[test]
fn a_receiver_cancelled_in_recv_does_not_swallow_the_next_wake_up() {
    within_limit(|| {
        let (pull, endpoint) = bound(SocketType::Pull, "inproc");
        // No receive timeout: the last look a receiver takes at its deadline
        // would find the message and hide a lost wake-up. The joins below
        // bound the waits instead.
        pull.set_recv_timeout(None);
        let push = connected(SocketType::Push, &endpoint);
        let pull = Arc::new(pull);
        let p = Arc::clone(&pull);
        let doomed = dhaga_runtime::spawn(move || p.recv());
        // Nothing is queued: its first park is in `recv`.
        wait_until("the doomed receiver parked in recv", || doomed.is_parked());
        doomed.cancel();
        let ended = doomed.join_within("the cancelled receiver");
        assert!(ended.unwrap_err().is::<dhaga_runtime::Cancelled>());
        let p = Arc::clone(&pull);
        let live = dhaga_runtime::spawn(move || p.recv());
        wait_until("the live receiver parked in recv", || live.is_parked());
        push.send("hello").unwrap();
        let got = live
            .join_within("the live receiver to wake although a message is queued")
            .unwrap()
            .unwrap();
        assert_eq!(got, Msg::from("hello"));
    });
}

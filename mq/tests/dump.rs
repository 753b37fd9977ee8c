//! A dump of the runtime names the mq socket, by type and address, and the
//! operation that each micro-thread blocked in mq waits for.

mod util;

use std::sync::Arc;

use dhaga_mq::SocketType;
use dhaga_runtime::{RuntimeBuilder, ThreadState};

use util::{JoinWithin, wait_until, within_limit};

#[test]
fn a_dump_names_the_socket_and_the_operation_of_blocked_micro_threads() {
    within_limit(|| {
        let rt = RuntimeBuilder::new().workers(1).build().unwrap();
        // A PULL socket with no peer: recv blocks. A PUSH socket with no
        // peer: send blocks (libzmq's behaviour), the message kept.
        let pull = Arc::new(util::socket(SocketType::Pull));
        let push = Arc::new(util::socket(SocketType::Push));
        let receiver = rt.spawn({
            let pull = Arc::clone(&pull);
            move || pull.recv().is_ok()
        });
        wait_until("the receiver to block in recv", || receiver.is_parked());
        let sender = rt.spawn({
            let push = Arc::clone(&push);
            move || push.send("held").is_ok()
        });
        wait_until("the sender to block in send", || sender.is_parked());

        let dump = rt.dump();
        let text = dump.to_string();
        for (id, words) in [
            (receiver.id(), "recv on mq PULL socket 0x"),
            (sender.id(), "send on mq PUSH socket 0x"),
        ] {
            let thread = dump
                .micro_thread(id)
                .unwrap_or_else(|| panic!("{id} is listed:\n{text}"));
            assert_eq!(thread.state(), ThreadState::Parked, "{text}");
            let waiting = thread.waiting_for().unwrap_or_default();
            assert!(
                waiting.starts_with(words),
                "micro-thread {id} waits for {words}…, not {waiting:?}:\n{text}"
            );
        }
        // The dump woke neither: each still waits until its socket closes.
        assert!(receiver.is_parked() && sender.is_parked(), "{text}");
        drop(rt);
        let _ = receiver.join_within("the receiver, ended by the runtime's shutdown");
        let _ = sender.join_within("the sender, ended by the runtime's shutdown");
        drop((pull, push));
    });
}

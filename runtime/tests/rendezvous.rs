//! Rendezvous channels (`bounded(0)`) with several receivers parked at once:
//! each send is handed to one of them and wakes it; and what a cancellation
//! does to a hand-over: a `send` that returned `Ok` gave its message to a
//! receive that returns it, and a message that was not received is never
//! left in the channel as if it had been. (`channel.rs` covers channels as
//! a whole.)

mod util;

use dhaga_runtime::sync::{Receiver, RecvError, Select, Sender, TryRecvError, TrySendError, bounded, unbounded};
use dhaga_runtime::{Cancelled, JoinHandle, Runtime, RuntimeBuilder, spawn, yield_now};

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

/// A runtime with one worker: micro-threads run one at a time, so a
/// micro-thread woken by the driver does not run before the driver parks,
/// and the driver can cancel it in between.
fn one_worker() -> Runtime {
    RuntimeBuilder::new().workers(1).build().unwrap()
}

/// Spawns `body` after it reports that it started, and returns once it is
/// parked (in the blocking call `body` makes first).
fn parked<T: Send + 'static>(what: &str, body: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    let (about_tx, about_rx) = bounded::<()>(1);
    let handle = spawn(move || {
        about_tx.send(()).unwrap();
        body()
    });
    about_rx.recv_within(&format!("{what} to start"));
    wait_until(&format!("{what} to park"), || handle.is_parked());
    handle
}

/// Joins a micro-thread that must have been unwound by its cancellation.
#[track_caller]
fn assert_cancelled<T>(handle: JoinHandle<T>, what: &str) {
    match handle.join_within(what) {
        Err(payload) => assert!(payload.is::<Cancelled>(), "{what}: a panic, not the cancellation"),
        Ok(_) => panic!("{what}: returned instead of unwinding at its next park"),
    }
}

/// Asserts that nothing was left in the channel.
#[track_caller]
fn assert_empty(rx: &Receiver<u32>) {
    assert_eq!(rx.len(), 0, "a message was left in the channel");
    assert_eq!(
        rx.try_recv(),
        Err(TryRecvError::Empty),
        "a message was left in the channel"
    );
}

/// A receiver parked in `recv` is handed a message (the send returns `Ok`)
/// and cancelled before it runs again. Its `recv` must return the message,
/// as crossbeam's and Go's would (the hand-over completed the receive), and
/// the cancellation take effect at its next park. It used to unwind out of
/// the park, leaving the message queued in the channel although the sender
/// had returned `Ok`.
#[test]
fn a_message_handed_to_a_receiver_cancelled_before_it_runs_is_received() {
    util::within_limit(|| {
        one_worker().block_on(|| {
            let (tx, rx) = bounded::<u32>(0);
            let (got_tx, got_rx) = unbounded::<Result<u32, RecvError>>();
            let keep = rx.clone();
            let receiver = parked("the receiver", move || {
                got_tx.send(rx.recv()).unwrap();
                yield_now(); // its next park: the cancellation unwinds it here
            });
            tx.send(7).expect("handed to the parked receiver");
            receiver.cancel();
            assert_cancelled(receiver, "the receiver cancelled after the hand-over");
            assert_eq!(
                got_rx.try_recv(),
                Ok(Ok(7)),
                "the receiver's recv did not return the message the send handed over"
            );
            assert_empty(&keep);
        });
    });
}

/// A receiver that is cancelled while parked, before any sender comes, is
/// not handed a message: a send finds no receiver waiting.
#[test]
fn a_receiver_cancelled_before_a_send_is_passed_over() {
    util::within_limit(|| {
        one_worker().block_on(|| {
            let (tx, rx) = bounded::<u32>(0);
            let keep = rx.clone();
            let receiver = parked("the receiver", move || rx.recv());
            receiver.cancel(); // it cannot run before this micro-thread parks
            assert_eq!(
                tx.try_send(7),
                Err(TrySendError::Full(7)),
                "the cancelled receiver was handed the message"
            );
            assert_cancelled(receiver, "the receiver cancelled before any send");
            assert_empty(&keep);
        });
    });
}

/// A sender parked with its offer, whose offer a receiver takes before the
/// sender is cancelled: its `send` completed, and returns `Ok`.
#[test]
fn a_sender_whose_offer_was_taken_returns_ok_even_if_cancelled_then() {
    util::within_limit(|| {
        one_worker().block_on(|| {
            let (tx, rx) = bounded::<u32>(0);
            let (sent_tx, sent_rx) = unbounded::<bool>();
            let sender = parked("the sender", move || {
                sent_tx.send(tx.send(7).is_ok()).unwrap();
                yield_now();
            });
            assert_eq!(rx.try_recv(), Ok(7), "the offer is taken");
            sender.cancel();
            assert_cancelled(sender, "the sender cancelled after its offer was taken");
            assert_eq!(
                sent_rx.try_recv(),
                Ok(true),
                "the send that was received did not return Ok"
            );
        });
    });
}

/// A select waiting to receive is committed by a blocking sender, which
/// sets the message aside for it and returns `Ok`; the select is cancelled
/// before it runs again. It must return its operation with that message
/// (and unwind at its next park), not give the message back to the channel.
#[test]
fn a_select_committed_before_its_cancellation_returns_its_operation() {
    util::within_limit(|| {
        one_worker().block_on(|| {
            let (tx, rx) = bounded::<u32>(0);
            let (_tx2, rx2) = bounded::<u32>(0);
            let (got_tx, got_rx) = unbounded::<Result<u32, RecvError>>();
            let keep = rx.clone();
            let selecting = parked("the select", move || {
                let mut select = Select::new();
                let index = select.recv(&rx);
                select.recv(&rx2);
                let op = select.select();
                assert_eq!(op.index(), index, "committed to the channel that was sent on");
                got_tx.send(op.recv(&rx)).unwrap();
                yield_now();
            });
            tx.send(7).expect("handed to the waiting select");
            selecting.cancel();
            assert_cancelled(selecting, "the select cancelled after it was committed");
            assert_eq!(
                got_rx.try_recv(),
                Ok(Ok(7)),
                "the committed select did not get its message"
            );
            assert_empty(&keep);
        });
    });
}

/// A select's send is paired with a parked receiver, which is cancelled
/// before the send is completed. The receiver holds on through its
/// cancellation for the message it was promised (the select was told that
/// its send would be taken): completing the send returns `Ok`, the
/// receiver's `recv` returns the message, and it unwinds at its next park.
/// It used to give the pairing up, and the send then failed with
/// `SendError` although a receiver was alive. If the select drops its
/// operation instead, the receiver unwinds with nothing received.
#[test]
fn a_receiver_cancelled_while_a_selected_send_is_owed_to_it_still_receives_it() {
    util::within_limit(|| {
        one_worker().block_on(|| {
            let (tx, rx) = bounded::<u32>(0);
            let keep = rx.clone();
            let (got_tx, got_rx) = unbounded::<Result<u32, RecvError>>();
            let receiver = parked("the receiver", {
                let rx = rx.clone();
                move || {
                    got_tx.send(rx.recv()).unwrap();
                    yield_now(); // its next park: the cancellation unwinds it here
                }
            });
            let mut select = Select::new();
            select.send(&tx);
            let op = select.try_select().expect("paired with the parked receiver");
            receiver.cancel();
            assert_eq!(op.send(&tx, 7), Ok(()), "the paired receiver takes the message");
            assert_cancelled(receiver, "the receiver cancelled while the message was owed to it");
            assert_eq!(
                got_rx.try_recv(),
                Ok(Ok(7)),
                "the receiver's recv did not return the message"
            );
            assert_empty(&keep);

            // The select drops its operation instead of completing it.
            let receiver = parked("the second receiver", move || rx.recv());
            let mut select = Select::new();
            select.send(&tx);
            let op = select.try_select().expect("paired with the parked receiver");
            receiver.cancel();
            drop(op);
            assert_cancelled(receiver, "the receiver whose select dropped its send");
            assert_eq!(tx.try_send(8), Err(TrySendError::Full(8)), "nobody is waiting now");
            assert_empty(&keep);
        });
    });
}

/// Spawns a micro-thread that selects a send of `msg` on `tx` (or the end
/// of the wait, on `end`), and returns once it is parked in the select.
/// Its result: whether it sent.
fn selecting_sender(rt: &Runtime, tx: Sender<u32>, msg: u32, end: Receiver<u32>) -> JoinHandle<bool> {
    let sender = rt.spawn(move || {
        let mut select = Select::new();
        let send = select.send(&tx);
        select.recv(&end);
        let op = select.select();
        if op.index() == send {
            op.send(&tx, msg).is_ok()
        } else {
            op.recv(&end).expect("the end of the wait");
            false
        }
    });
    wait_until("the selecting sender to park", || sender.is_parked());
    sender
}

/// Runs `body` with a guard whose destructor runs `on_drop` while `body`
/// panics; returns what `on_drop` returned.
fn while_unwinding<R: Send + 'static>(on_drop: impl FnOnce() -> R + Send + 'static) -> R {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    let (out_tx, out_rx) = unbounded();
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _guard = Guard(Some(move || out_tx.send(on_drop()).unwrap()));
        std::panic::panic_any("unwinding on purpose");
    }));
    assert!(unwound.is_err());
    out_rx.try_recv().expect("the destructor ran")
}

/// An OS thread that receives in a destructor while unwinding can park,
/// so it takes the message of a select waiting to send, as it would if
/// it were not unwinding. It used to be barred from pairing with a select
/// (like an unwinding micro-thread, which cannot park), and waited in vain.
#[test]
fn an_unwinding_os_thread_receives_from_a_waiting_select() {
    util::within_limit(|| {
        let rt = one_worker();
        let (tx, rx) = bounded::<u32>(0);
        let (_end_tx, end_rx) = bounded::<u32>(0);
        let sender = selecting_sender(&rt, tx, 7, end_rx);
        let got = while_unwinding(move || rx.recv_timeout(util::PATIENCE));
        assert_eq!(got, Ok(7), "the receive in the destructor");
        assert!(
            sender.join_within("the selecting sender").unwrap(),
            "its send went through"
        );
    });
}

/// A micro-thread that is unwinding cannot park: its `try_recv` on a
/// rendezvous channel with a select waiting to send must not pair with the
/// select (it could not wait for the message), and says `Empty`, not
/// `Disconnected`: the channel's senders are alive.
#[test]
fn an_unwinding_micro_thread_try_recv_with_a_select_waiting_to_send_says_empty() {
    util::within_limit(|| {
        let rt = one_worker();
        let (tx, rx) = bounded::<u32>(0);
        let (end_tx, end_rx) = bounded::<u32>(1);
        let keep = rx.clone();
        let sender = selecting_sender(&rt, tx, 7, end_rx);
        let tried = rt.spawn(move || while_unwinding(move || rx.try_recv()));
        assert_eq!(
            tried.join_within("the unwinding micro-thread").unwrap(),
            Err(TryRecvError::Empty)
        );
        end_tx.send(0).unwrap();
        assert!(
            !sender.join_within("the selecting sender").unwrap(),
            "nobody took its message"
        );
        assert_eq!(
            keep.try_recv(),
            Err(TryRecvError::Disconnected),
            "nothing was left in the channel"
        );
    });
}

/// A cancelled micro-thread that selects a receive in a destructor does
/// not commit a select waiting to send (it could not wait for the message
/// either): that select is ended by its other operation, which a third
/// micro-thread completes once the cancelled one has unwound.
#[test]
fn a_cancelled_selecting_receiver_does_not_commit_a_waiting_select() {
    util::within_limit(|| {
        one_worker().block_on(|| {
            let (tx, rx) = bounded::<u32>(0);
            let (end_tx, end_rx) = bounded::<u32>(1);
            let (_gate_tx, gate_rx) = bounded::<u32>(0);
            let keep = rx.clone();
            struct SelectOnDrop(Receiver<u32>);
            impl Drop for SelectOnDrop {
                fn drop(&mut self) {
                    let mut select = Select::new();
                    select.recv(&self.0);
                    let _ = select.select().recv(&self.0);
                }
            }
            let receiver = parked("the receiver", move || {
                let _guard = SelectOnDrop(rx);
                let _ = gate_rx.recv();
            });
            receiver.cancel(); // queued; it runs when this micro-thread parks
            let ender = spawn(move || {
                let joined = receiver.join_within("the cancelled receiver");
                end_tx.send(0).unwrap();
                joined.is_err()
            });
            let mut select = Select::new();
            let send = select.send(&tx);
            let end = select.recv(&end_rx);
            let op = select.select(); // parks: the receiver unwinds now
            assert!(ender.join_within("the micro-thread that ends the select").unwrap());
            assert_eq!(
                op.index(),
                end,
                "the select was committed to its send (operation {send}) by a receiver that was unwinding"
            );
            assert_eq!(op.recv(&end_rx), Ok(0));
            assert_empty(&keep);
        });
    });
}

/// A cancelled receiver holds on for a message a select owes it; if the
/// select never completes nor drops its send (it was forgotten), the
/// receiver keeps holding, but the runtime's shutdown still ends it.
#[test]
fn shutdown_ends_a_receiver_holding_for_a_send_that_never_comes() {
    util::within_limit(|| {
        let rt = one_worker();
        let (tx, rx) = bounded::<u32>(0);
        let receiver = rt.spawn(move || rx.recv());
        wait_until("the receiver to park", || receiver.is_parked());
        let mut select = Select::new();
        select.send(&tx);
        std::mem::forget(select.try_select().expect("paired with the parked receiver"));
        receiver.cancel();
        let (dropped_tx, dropped_rx) = unbounded();
        std::thread::spawn(move || {
            drop(rt);
            dropped_tx.send(()).unwrap();
        });
        dropped_rx.recv_within("the runtime's shutdown");
        assert_cancelled(receiver, "the holding receiver, at shutdown");
    });
}

/// A select's send passes over a receiver that was cancelled before it
/// ran, as a plain send does (`try_send` says `Full`): it used to be paired
/// with it, and completing it then failed with `SendError` although a
/// receiver handle was alive and the cancellation came first.
#[test]
fn a_select_send_passes_over_a_receiver_cancelled_before_it() {
    util::within_limit(|| {
        one_worker().block_on(|| {
            let (tx, rx) = bounded::<u32>(0);
            let keep = rx.clone();
            let receiver = parked("the receiver", move || rx.recv());
            receiver.cancel(); // it cannot run before this micro-thread parks
            let mut select = Select::new();
            select.send(&tx);
            let selected = select.try_select();
            let Ok(op) = selected else {
                return; // passed over, as try_send would
            };
            let joined = receiver.join_timeout(util::PATIENCE).expect("the receiver ends");
            assert!(joined.is_err(), "the cancelled receiver unwinds");
            let sent = op.send(&tx, 7);
            panic!(
                "try_select on a send paired with a receiver cancelled before the select ran \
                 (try_send would have said Full); completing it: {sent:?}; receivers alive: {}",
                keep.capacity() == Some(0)
            );
        });
    });
}

/// A selected send on an unbounded channel with a parked receiver goes
/// through `Locked::push` under the channel's lock (tail lock taken inside);
/// checks it does not deadlock and wakes the receiver.
#[test]
fn a_selected_send_on_unbounded_wakes_a_parked_receiver() {
    util::within_limit(|| {
        one_worker().block_on(|| {
            let (tx, rx) = unbounded::<u32>();
            let receiver = parked("the receiver", move || rx.recv());
            let mut select = Select::new();
            select.send(&tx);
            let op = select.try_select().expect("unbounded is always ready");
            op.send(&tx, 5).unwrap();
            assert_eq!(receiver.join_within("the receiver").unwrap(), Ok(5));
        });
    });
}

/// A rendezvous receiver that was cancelled (and passed over by a sender,
/// so off the list) makes one last attempt when it runs. With a select
/// waiting to send, that attempt used to commit the select to it and then
/// abandon the pairing: the select returned its send, with no receiver to
/// take it. It must not pair at all: the select here is ended by its other
/// operation, which a third micro-thread completes once the cancelled
/// receiver has unwound.
#[test]
fn a_cancelled_receiver_on_its_way_out_does_not_commit_a_waiting_select() {
    use util::JoinWithin;
    util::within_limit(|| {
        one_worker().block_on(|| {
            let (tx, rx) = bounded::<u32>(0);
            let (end_tx, end_rx) = bounded::<u32>(1);
            let keep = rx.clone();
            let receiver = parked("the receiver", move || rx.recv());
            receiver.cancel(); // queued; it runs when this micro-thread parks
            assert_eq!(
                tx.try_send(1),
                Err(TrySendError::Full(1)),
                "the cancelled receiver is passed over"
            );
            // Runs after the receiver (one worker, in order): ends the
            // select below once the receiver is gone.
            let ender = spawn(move || {
                let joined = receiver.join_within("the cancelled receiver");
                end_tx.send(0).unwrap();
                joined.is_err()
            });
            let mut select = Select::new();
            let send = select.send(&tx);
            let end = select.recv(&end_rx);
            let op = select.select(); // parks: the receiver runs its last attempt now
            let unwound = ender
                .join_within("the micro-thread that ends the select")
                .expect("it does not panic");
            assert!(unwound, "the cancelled receiver unwinds");
            assert_eq!(
                op.index(),
                end,
                "the select was committed to its send (operation {send}) by the cancelled receiver's last \
                 attempt, with nobody to take it"
            );
            assert_eq!(op.recv(&end_rx), Ok(0));
            assert_eq!(keep.try_recv(), Err(dhaga_runtime::sync::TryRecvError::Empty));
        });
    });
}

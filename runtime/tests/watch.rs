//! Watchers: a channel watcher is woken by a message without taking the
//! wake-up of a receiver blocked on the same channel, and an `FdWatch`
//! wakes an OS thread or a micro-thread when a descriptor becomes readable,
//! reading nothing.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::Instant;

use dhaga_runtime::sync::{bounded, unbounded};
use dhaga_runtime::{FdEvents, FdWatch, current_unparker, fd_ready, park_deadline};
use dhaga_testutil::{CTXS, PATIENCE, RecvWithin, start_default, within_limit};

/// Parks until `ready` holds, failing the test after [`PATIENCE`].
fn park_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !ready() {
        assert!(!park_deadline(Some(deadline)), "waited {PATIENCE:?} for {what}");
    }
}

#[test]
fn a_channel_watcher_takes_no_wake_up_from_a_blocked_receiver() {
    within_limit(|| {
        for ctx in CTXS {
            for cap in [None, Some(1)] {
                let (tx, rx) = match cap {
                    None => unbounded::<u32>(),
                    Some(cap) => bounded::<u32>(cap),
                };
                let (parked_tx, parked) = bounded::<()>(1);
                let receiver = {
                    let rx = rx.clone();
                    start_default(ctx, move || {
                        parked_tx.send(()).unwrap();
                        rx.recv_within("the message")
                    })
                };
                parked.recv_within("the receiver to start");
                receiver.wait_parked("the receiver to block in recv");
                let watch = rx.watch(current_unparker());
                tx.send(5).unwrap();
                // The receiver got its wake-up (else this fails) ...
                assert_eq!(receiver.join_within("the receiver"), 5);
                // ... and the watcher still watches: another message
                // makes the channel ready and wakes it.
                tx.send(6).unwrap();
                park_until("the watched channel to be ready", || rx.is_ready());
                drop(watch);
                assert_eq!(rx.try_recv(), Ok(6));
            }
        }
    });
}

#[test]
fn an_fd_watch_wakes_its_watcher_and_reads_nothing() {
    within_limit(|| {
        for ctx in CTXS {
            let (mut a, mut b) = UnixStream::pair().unwrap();
            let (watching_tx, watching) = bounded::<()>(1);
            let watcher = start_default(ctx, move || {
                let watch = FdWatch::new(b.as_fd(), FdEvents::READABLE, current_unparker()).unwrap();
                assert!(fd_ready(b.as_fd(), FdEvents::READABLE).unwrap().is_empty());
                watching_tx.send(()).unwrap();
                park_until("the descriptor to be readable", || {
                    fd_ready(b.as_fd(), FdEvents::READABLE).unwrap().is_readable()
                });
                drop(watch);
                let mut byte = [0];
                b.read_exact(&mut byte).unwrap();
                byte[0]
            });
            watching.recv_within("the watcher to register");
            watcher.wait_parked("the watcher to park");
            a.write_all(b"z").unwrap();
            assert_eq!(watcher.join_within("the watcher"), b'z');
        }
    });
}

/// A watcher of a rendezvous channel's sending end is woken when a
/// receiver waits again: here one that a select's send had been paired
/// with, handed back when the select dropped its operation. (A review found
/// that relisting under its old ticket woke no watcher.)
#[test]
fn a_send_watcher_is_woken_when_a_receiver_waits_again() {
    within_limit(|| {
        let rt = dhaga_runtime::RuntimeBuilder::new().workers(2).build().unwrap();
        rt.block_on(|| {
            let (tx, rx) = bounded::<u32>(0);
            let receiver = dhaga_runtime::spawn(move || rx.recv().unwrap());
            dhaga_testutil::wait_until("the receiver to park in recv", || receiver.is_parked());
            let mut select = dhaga_runtime::sync::Select::new();
            select.send(&tx);
            let op = select.try_select().expect("paired with the waiting receiver");
            assert!(!tx.is_ready(), "the only receiver is paired");
            let (watching_tx, watching) = bounded::<()>(1);
            let watcher = dhaga_runtime::spawn({
                let tx = tx.clone();
                move || {
                    let _watch = tx.watch(current_unparker());
                    watching_tx.send(()).unwrap();
                    park_until("the sending end to be ready", || tx.is_ready());
                }
            });
            watching.recv_within("the watcher to register");
            dhaga_testutil::wait_until("the watcher to park", || watcher.is_parked());
            drop(op); // the receiver waits again
            dhaga_testutil::JoinWithin::join_within(watcher, "the watcher").unwrap();
            drop(select);
            tx.send(7).unwrap();
            assert_eq!(
                dhaga_testutil::JoinWithin::join_within(receiver, "the receiver").unwrap(),
                7
            );
        });
    });
}

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
use dhaga_testutil::{CTXS, Ctx, PATIENCE, RecvWithin, Task, within_limit};

fn start<T, F>(ctx: Ctx, f: F) -> Task<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match ctx {
        Ctx::Os => Task::os_thread(f),
        Ctx::Micro => Task::Micro(dhaga_runtime::spawn(f)),
    }
}

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
                    start(ctx, move || {
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
            let watcher = start(ctx, move || {
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

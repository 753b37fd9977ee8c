//! One wait for everything: a `Poller` over an mq socket, a dhaga channel
//! and file descriptors (a pipe, a TCP stream) wakes for each kind alone,
//! from OS threads and micro-threads, reports exactly what is ready, times
//! out with nothing ready, counts a disconnected channel and a closed peer
//! as readable, and takes no wake-up from a blocking `recv` on the same
//! channel.

mod util;

use std::io::{PipeReader, PipeWriter, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use dhaga_mq::{Interest, Poller, Socket, SocketType};
use dhaga_net::TcpStream;
use dhaga_runtime::sync::{Receiver, Sender, TryRecvError, bounded, unbounded};
use dhaga_testutil::{CTX_PAIRS, CTXS, Ctx, Task, start_default};
use util::{PATIENCE, RecvWithin, bound, connected, within_limit};

/// One of each kind of thing a poller waits on.
struct Things {
    pull: Socket,
    rx: Receiver<u32>,
    pipe_reader: PipeReader,
    tcp: TcpStream,
}

/// The other end of each of [`Things`], which makes it ready.
struct Peers {
    push: Socket,
    tx: Option<Sender<u32>>,
    pipe_writer: Option<PipeWriter>,
    tcp_peer: Option<std::net::TcpStream>,
}

/// The indexes `Things::poller` gives them.
const SOCKET: usize = 0;
const CHANNEL: usize = 1;
const PIPE: usize = 2;
const TCP: usize = 3;
const KINDS: [usize; 4] = [SOCKET, CHANNEL, PIPE, TCP];

fn things() -> (Things, Peers) {
    let (pull, endpoint) = bound(SocketType::Pull, "inproc");
    let push = connected(SocketType::Push, &endpoint);
    let (tx, rx) = unbounded();
    let (pipe_reader, pipe_writer) = std::io::pipe().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (tcp_peer, _) = listener.accept().unwrap();
    (
        Things {
            pull,
            rx,
            pipe_reader,
            tcp,
        },
        Peers {
            push,
            tx: Some(tx),
            pipe_writer: Some(pipe_writer),
            tcp_peer: Some(tcp_peer),
        },
    )
}

impl Things {
    /// A poller over the readable ends, in the order of [`KINDS`].
    fn poller(&self) -> Poller<'_> {
        let mut poller = Poller::new();
        assert_eq!(poller.add(&self.pull, Interest::READABLE), SOCKET);
        assert_eq!(poller.add_receiver(&self.rx), CHANNEL);
        assert_eq!(poller.add_fd(&self.pipe_reader, Interest::READABLE), PIPE);
        assert_eq!(poller.add_fd(&self.tcp, Interest::READABLE), TCP);
        poller
    }
}

impl Peers {
    /// Makes `kind` readable: a message, or a byte.
    fn make_ready(&mut self, kind: usize) {
        match kind {
            SOCKET => self.push.send("ping").unwrap(),
            CHANNEL => self.tx.as_ref().unwrap().send(7).unwrap(),
            PIPE => self.pipe_writer.as_mut().unwrap().write_all(b"x").unwrap(),
            TCP => self.tcp_peer.as_mut().unwrap().write_all(b"x").unwrap(),
            _ => unreachable!(),
        }
    }

    /// Makes `kind` readable by closing its end.
    fn close(&mut self, kind: usize) {
        match kind {
            CHANNEL => drop(self.tx.take()),
            PIPE => drop(self.pipe_writer.take()),
            TCP => drop(self.tcp_peer.take()),
            _ => unreachable!(),
        }
    }
}

/// The indexes the poller found readable.
fn readable(poller: &Poller<'_>) -> Vec<usize> {
    KINDS
        .into_iter()
        .filter(|&i| poller.readiness(i).is_readable())
        .collect()
}

/// Starts a poller over `things` on `ctx`, waits until it is parked in its
/// poll (at most [`PATIENCE`]), and returns it; it returns how many it
/// found ready, which, and the things.
fn parked_poller(ctx: Ctx, things: Things) -> Task<(usize, Vec<usize>, Things)> {
    let (about_to_poll, polling) = bounded::<()>(1);
    let task = start_default(ctx, move || {
        let mut poller = things.poller();
        about_to_poll.send(()).unwrap();
        let n = poller.poll(Some(PATIENCE)).unwrap();
        let found = readable(&poller);
        drop(poller);
        (n, found, things)
    });
    polling.recv_within("the poller to start");
    task.wait_parked("the poller to park in its poll");
    task
}

/// Parks a poller on `poller_ctx`, has a waker on `waker_ctx` do `act` to
/// `kind`, and checks that the poller woke (before its deadline) with
/// exactly `kind` readable. Returns the things and their peers.
fn wake_one(poller_ctx: Ctx, waker_ctx: Ctx, kind: usize, act: fn(&mut Peers, usize)) -> (Things, Peers) {
    let (things, mut peers) = things();
    let poller = parked_poller(poller_ctx, things);
    let started = Instant::now();
    let peers = start_default(waker_ctx, move || {
        act(&mut peers, kind);
        peers
    })
    .join_within("the waker");
    let (n, found, things) = poller.join_within(&format!("the poller, woken through kind {kind}"));
    assert!(
        started.elapsed() < PATIENCE,
        "kind {kind}: no wake-up, only the deadline"
    );
    assert_eq!(
        (n, found),
        (1, vec![kind]),
        "{poller_ctx:?} poller, {waker_ctx:?} waker"
    );
    (things, peers)
}

#[test]
fn each_kind_alone_wakes_a_parked_poller() {
    within_limit(|| {
        for (poller_ctx, waker_ctx) in CTX_PAIRS {
            for kind in KINDS {
                wake_one(poller_ctx, waker_ctx, kind, Peers::make_ready);
            }
        }
    });
}

#[test]
fn a_disconnected_channel_and_a_closed_peer_wake_a_parked_poller_as_readable() {
    within_limit(|| {
        for (poller_ctx, waker_ctx) in CTX_PAIRS {
            for kind in [CHANNEL, PIPE, TCP] {
                let (things, _peers) = wake_one(poller_ctx, waker_ctx, kind, Peers::close);
                if kind == CHANNEL {
                    assert_eq!(things.rx.try_recv(), Err(TryRecvError::Disconnected));
                }
            }
        }
    });
}

#[test]
fn a_poll_reports_exactly_the_ready_ones() {
    within_limit(|| {
        for ctx in CTXS {
            let (things, mut peers) = things();
            peers.make_ready(SOCKET);
            peers.make_ready(PIPE);
            let things = start_default(ctx, move || {
                let mut poller = things.poller();
                // The inproc message may take a moment to reach the PULL.
                let deadline = Instant::now() + PATIENCE;
                loop {
                    let n = poller.poll(Some(PATIENCE)).unwrap();
                    if n == 2 {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "waited {PATIENCE:?} for the socket and the pipe"
                    );
                }
                assert_eq!(readable(&poller), [SOCKET, PIPE]);
                // Level-triggered: still readable, nothing was read.
                assert_eq!(poller.poll(Some(Duration::ZERO)).unwrap(), 2);
                drop(poller);
                things
            })
            .join_within("the poll");
            drop(things);
        }
    });
}

#[test]
fn a_poll_with_nothing_ready_times_out() {
    within_limit(|| {
        for ctx in CTXS {
            let (things, _peers) = things();
            start_default(ctx, move || {
                let mut poller = things.poller();
                let started = Instant::now();
                assert_eq!(poller.poll(Some(Duration::from_millis(50))).unwrap(), 0);
                assert!(
                    started.elapsed() >= Duration::from_millis(50),
                    "returned before its timeout"
                );
                assert_eq!(readable(&poller), Vec::<usize>::new());
                drop(poller);
                drop(things);
            })
            .join_within("the poll that times out");
        }
    });
}

#[test]
fn a_sender_is_writable_when_room_appears() {
    within_limit(|| {
        for (poller_ctx, receiver_ctx) in CTX_PAIRS {
            let (tx, rx) = bounded::<u32>(1);
            tx.send(1).unwrap(); // full
            let (about_to_poll, polling) = bounded::<()>(1);
            let poller = start_default(poller_ctx, move || {
                let mut poller = Poller::new();
                let room = poller.add_sender(&tx);
                assert_eq!(
                    poller.poll(Some(Duration::ZERO)).unwrap(),
                    0,
                    "a full channel is not writable"
                );
                about_to_poll.send(()).unwrap();
                assert_eq!(poller.poll(Some(PATIENCE)).unwrap(), 1, "waited {PATIENCE:?} for room");
                assert!(poller.readiness(room).is_writable());
                tx.try_send(2).unwrap();
            });
            polling.recv_within("the poller to start");
            poller.wait_parked("the poller to park for room");
            let receiver = start_default(receiver_ctx, move || {
                assert_eq!(rx.recv_within("the first message"), 1);
                assert_eq!(rx.recv_within("the message sent into the room"), 2);
            });
            poller.join_within("the poller");
            receiver.join_within("the receiver");
        }
    });
}

/// A blocking `recv` and a poller wait on the same channel; every message
/// must reach the `recv` (a wake-up lost to the poller would leave it
/// waiting until its deadline and fail the test), and wake the poller too.
#[test]
fn a_poller_takes_no_wake_up_from_a_blocking_recv_on_the_same_channel() {
    within_limit(|| {
        for (poller_ctx, receiver_ctx) in CTX_PAIRS {
            for cap in [None, Some(1), Some(0)] {
                let (tx, rx) = match cap {
                    None => unbounded::<u32>(),
                    Some(cap) => bounded::<u32>(cap),
                };
                let (stop_tx, stop_rx) = bounded::<()>(1);
                let (got, gotten) = bounded::<u32>(1);
                let receiver = {
                    let rx = rx.clone();
                    start_default(receiver_ctx, move || {
                        for i in 0..300 {
                            got.send(rx.recv_within(&format!("message {i} ({cap:?})"))).unwrap();
                        }
                    })
                };
                let poller = start_default(poller_ctx, move || {
                    let mut poller = Poller::new();
                    let channel = poller.add_receiver(&rx);
                    let stopped = poller.add_receiver(&stop_rx);
                    loop {
                        assert!(
                            poller.poll(Some(PATIENCE)).unwrap() > 0,
                            "waited {PATIENCE:?} for a message or the stop"
                        );
                        if poller.readiness(stopped).is_readable() {
                            // The last message, sent before the stop, is
                            // there for nobody else: still watched, the
                            // channel is seen ready.
                            if cap != Some(0) {
                                let seen = poller.readiness(channel).is_readable();
                                assert!(seen, "the last message unseen ({cap:?})");
                            }
                            return rx.try_recv();
                        }
                        // Only looks: the message is the receiver's.
                        if dhaga_runtime::in_micro_thread() {
                            dhaga_runtime::yield_now();
                        } else {
                            std::thread::yield_now();
                        }
                    }
                });
                for i in 0..300 {
                    tx.send(i).unwrap();
                    assert_eq!(gotten.recv_within(&format!("the receiver to get {i}")), i);
                }
                receiver.join_within("the receiver");
                if cap != Some(0) {
                    tx.send(u32::MAX).unwrap();
                }
                stop_tx.send(()).unwrap();
                let last = poller.join_within("the poller");
                if cap != Some(0) {
                    assert_eq!(last, Ok(u32::MAX));
                }
            }
        }
    });
}

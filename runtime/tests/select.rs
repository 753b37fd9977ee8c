//! `dhaga_runtime::sync::Select` and `select!`: what counts as ready
//! (messages, room, a waiting peer on a rendezvous, disconnection), timeouts
//! and `default`, fairness, rendezvous pairing against blocked callers and
//! against other selects, mixed send and receive operations, stress between
//! micro-threads on all workers and OS threads, and shutdown while parked.

mod sync_util;
mod util;

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use dhaga_runtime::select;
use dhaga_runtime::sync::{
    Receiver, RecvError, Select, SendError, Sender, TryRecvError, TrySendError, bounded, unbounded,
};
use dhaga_runtime::{Runtime, in_micro_thread, run};

use util::{CTX_PAIRS, CTXS, Ctx, JoinWithin, RecvWithin};

/// Long enough never to expire in a passing test: a guard against hangs.
const LONG: Duration = Duration::from_secs(30);

/// A channel of capacity `cap` (`None`: unbounded).
fn chan<T>(cap: Option<usize>) -> (Sender<T>, Receiver<T>) {
    cap.map_or_else(unbounded, bounded)
}

/// A small deterministic generator for test choices.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Runs a single-threaded check on this OS thread, then inside a
/// micro-thread.
fn on_os_thread_and_micro_thread(check: fn()) {
    util::within_limit(move || {
        assert!(!in_micro_thread());
        check();
        run(move || {
            assert!(in_micro_thread());
            check();
        });
    });
}

/// Receives with one select over every channel still connected until all
/// are disconnected and empty, giving each message to `f` with the index of
/// its channel.
fn drain<T>(rxs: &[Receiver<T>], mut f: impl FnMut(usize, T)) {
    let mut live: Vec<usize> = (0..rxs.len()).collect();
    while !live.is_empty() {
        let mut sel = Select::new();
        for &k in &live {
            sel.recv(&rxs[k]);
        }
        let op = sel.select();
        let i = op.index();
        match op.recv(&rxs[live[i]]) {
            Ok(msg) => f(live[i], msg),
            Err(RecvError) => {
                live.swap_remove(i);
            }
        }
    }
}

#[test]
fn try_select_picks_only_what_is_ready() {
    on_os_thread_and_micro_thread(|| {
        let mut empty = Select::new();
        assert!(empty.try_select().is_err());
        assert!(empty.try_ready().is_err());
        assert!(empty.select_timeout(Duration::from_millis(1)).is_err());

        let (tx0, rx0) = bounded::<u32>(0);
        let (tx1, rx1) = bounded::<u32>(1);
        let (txu, rxu) = unbounded::<u32>();
        let mut sel = Select::new();
        let _ = sel.recv(&rx0);
        let _ = sel.recv(&rx1);
        let ru = sel.recv(&rxu);
        assert!(sel.try_select().is_err(), "nothing was sent");
        assert!(sel.try_ready().is_err());
        txu.send(7).unwrap();
        assert_eq!(sel.try_ready(), Ok(ru));
        let op = sel.try_select().unwrap();
        assert_eq!(op.index(), ru);
        assert_eq!(op.recv(&rxu), Ok(7));
        assert!(sel.try_select().is_err(), "the one message was taken");

        // Send operations: room on bounded(1), none on a rendezvous
        // without a receiver.
        let mut sel = Select::new();
        let _ = sel.send(&tx0);
        let s1 = sel.send(&tx1);
        let op = sel.try_select().unwrap();
        assert_eq!(op.index(), s1);
        op.send(&tx1, 5).unwrap();
        assert!(
            sel.try_select().is_err(),
            "bounded(1) is full, nobody waits on the rendezvous"
        );
        assert_eq!(rx1.try_recv(), Ok(5));

        // Completing with the wrong channel is a bug the operation reports.
        txu.send(8).unwrap();
        let mut sel = Select::new();
        sel.recv(&rxu);
        let op = sel.select();
        let wrong = panic::catch_unwind(AssertUnwindSafe(|| op.recv(&rx1)));
        assert!(wrong.is_err(), "recv on another channel must panic");
        // The panicking call dropped the operation: the message is back.
        assert_eq!(rxu.try_recv(), Ok(8));
    });
}

#[test]
fn select_macro_arms_bodies_and_hygiene() {
    on_os_thread_and_micro_thread(|| {
        let (tx, rx) = unbounded::<u32>();
        let (stx, srx) = bounded::<String>(1);
        stx.send("filler".into()).unwrap();

        // `default` runs when nothing is ready.
        let r = select! {
            recv(rx) -> _ => 1,
            default => 2,
        };
        assert_eq!(r, 2);

        // A send's message is evaluated only if its arm is selected, and
        // the macro's own bindings do not shadow the caller's.
        let made = Cell::new(0);
        let make = || {
            made.set(made.get() + 1);
            String::from("made")
        };
        let (sel, op, handle, index) = (1, 2, 3, 4);
        tx.send(10).unwrap();
        let got = select! {
            recv(rx) -> msg => msg.unwrap() + sel + op + handle + index,
            send(stx, make()) -> res => { res.unwrap(); 0 }
        };
        assert_eq!(got, 20);
        assert_eq!(made.get(), 0, "the send arm was not selected");
        assert_eq!(srx.recv().unwrap(), "filler");
        let sent = select! {
            recv(&rx) -> _ => false,
            send(&stx, make()) -> res => res.is_ok(),
        };
        assert!(sent);
        assert_eq!(made.get(), 1);
        assert_eq!(srx.recv().unwrap(), "made");

        // Block bodies without commas, `default(timeout)`, `break` out of
        // the caller's loop, a nested select.
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        let mut total = 0;
        loop {
            select! {
                recv(rx) -> msg => {
                    total += msg.unwrap();
                    select! {
                        recv(srx) -> _ => panic!("nothing was sent"),
                        default => {}
                    }
                }
                default(Duration::from_millis(5)) => {
                    break;
                }
            }
        }
        assert_eq!(total, 3);
    });
}

/// A `select!` with 32 arms, 16 receives and 16 sends, where a random one is
/// the only one ready each round: the arm that runs is that one.
#[test]
fn select_macro_with_32_arms() {
    on_os_thread_and_micro_thread(|| {
        let ins: Vec<_> = (0..16).map(|_| unbounded::<u32>()).collect();
        let outs: Vec<_> = (0..16).map(|_| bounded::<u32>(1)).collect();
        for (tx, _) in &outs {
            tx.send(u32::MAX).unwrap(); // full: not ready
        }
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for round in 0..300 {
            let k = rng.below(32);
            if k < 16 {
                ins[k].0.send(round).unwrap();
            } else {
                outs[k - 16].1.try_recv().unwrap(); // room: ready
            }
            let (arm, v) = select! {
                recv(ins[0].1) -> v => (0, v.unwrap()),
                recv(ins[1].1) -> v => (1, v.unwrap()),
                recv(ins[2].1) -> v => (2, v.unwrap()),
                recv(ins[3].1) -> v => (3, v.unwrap()),
                recv(ins[4].1) -> v => (4, v.unwrap()),
                recv(ins[5].1) -> v => (5, v.unwrap()),
                recv(ins[6].1) -> v => (6, v.unwrap()),
                recv(ins[7].1) -> v => (7, v.unwrap()),
                recv(ins[8].1) -> v => (8, v.unwrap()),
                recv(ins[9].1) -> v => (9, v.unwrap()),
                recv(ins[10].1) -> v => (10, v.unwrap()),
                recv(ins[11].1) -> v => (11, v.unwrap()),
                recv(ins[12].1) -> v => (12, v.unwrap()),
                recv(ins[13].1) -> v => (13, v.unwrap()),
                recv(ins[14].1) -> v => (14, v.unwrap()),
                recv(ins[15].1) -> v => (15, v.unwrap()),
                send(outs[0].0, round) -> r => (16, r.map(|()| round).unwrap()),
                send(outs[1].0, round) -> r => (17, r.map(|()| round).unwrap()),
                send(outs[2].0, round) -> r => (18, r.map(|()| round).unwrap()),
                send(outs[3].0, round) -> r => (19, r.map(|()| round).unwrap()),
                send(outs[4].0, round) -> r => (20, r.map(|()| round).unwrap()),
                send(outs[5].0, round) -> r => (21, r.map(|()| round).unwrap()),
                send(outs[6].0, round) -> r => (22, r.map(|()| round).unwrap()),
                send(outs[7].0, round) -> r => (23, r.map(|()| round).unwrap()),
                send(outs[8].0, round) -> r => (24, r.map(|()| round).unwrap()),
                send(outs[9].0, round) -> r => (25, r.map(|()| round).unwrap()),
                send(outs[10].0, round) -> r => (26, r.map(|()| round).unwrap()),
                send(outs[11].0, round) -> r => (27, r.map(|()| round).unwrap()),
                send(outs[12].0, round) -> r => (28, r.map(|()| round).unwrap()),
                send(outs[13].0, round) -> r => (29, r.map(|()| round).unwrap()),
                send(outs[14].0, round) -> r => (30, r.map(|()| round).unwrap()),
                send(outs[15].0, round) -> r => (31, r.map(|()| round).unwrap()),
            };
            assert_eq!((arm, v), (k, round));
        }
        for (i, (_, rx)) in outs.iter().enumerate() {
            assert_eq!(rx.len(), 1, "output {i} is full again");
        }
    });
}

#[test]
fn operations_on_disconnected_channels_are_ready() {
    on_os_thread_and_micro_thread(|| {
        for cap in [Some(0), Some(2), None] {
            let (tx, rx) = chan::<u8>(cap);
            let (tx2, rx2) = chan::<u8>(cap);
            drop(tx);
            drop(rx2);
            select! {
                recv(rx) -> r => assert_eq!(r, Err(RecvError)),
                default => panic!("a receive with no sender left is ready ({cap:?})"),
            }
            select! {
                send(tx2, 9) -> r => assert_eq!(r, Err(SendError(9))),
                default => panic!("a send with no receiver left is ready ({cap:?})"),
            }
        }
        // Messages still queued come first.
        let (tx, rx) = bounded::<u8>(2);
        tx.send(1).unwrap();
        drop(tx);
        let mut sel = Select::new();
        sel.recv(&rx);
        assert_eq!(sel.select().recv(&rx), Ok(1));
        assert_eq!(sel.select().recv(&rx), Err(RecvError));
    });
}

/// A select parked in `waiter`'s context wakes with the error when the last
/// sender (then the last receiver) goes in `dropper`'s context.
fn disconnect_wakes_parked_select(rt: &Runtime, waiter: Ctx, dropper: Ctx) {
    for cap in [Some(0), Some(1), None] {
        let (tx, rx) = chan::<u8>(cap);
        let (_keep, idle) = bounded::<u8>(0);
        let (ready_tx, ready_rx) = bounded::<()>(1);
        let w = util::start(rt, waiter, move || {
            ready_tx.send(()).unwrap();
            select! {
                recv(idle) -> _ => panic!("nothing is sent on this channel"),
                recv(rx) -> r => r,
            }
        });
        ready_rx.recv_within("the waiter's report that it is about to select");
        w.wait_parked("the select waiting on rx");
        util::start(rt, dropper, move || drop(tx)).join_within("the task dropping the last sender");
        let r = w.join_within("the select woken by the disconnection");
        assert_eq!(r, Err(RecvError), "{waiter:?}/{dropper:?} {cap:?}");
    }
    // A send parked on a rendezvous channel, and on a full one.
    for cap in [0, 1] {
        let (tx, rx) = bounded::<u8>(cap);
        for _ in 0..cap {
            tx.send(0).unwrap();
        }
        let (ready_tx, ready_rx) = bounded::<()>(1);
        let w = util::start(rt, waiter, move || {
            ready_tx.send(()).unwrap();
            select! { send(tx, 4) -> r => r }
        });
        ready_rx.recv_within("the waiter's report that it is about to select");
        w.wait_parked("the select waiting to send on tx");
        util::start(rt, dropper, move || drop(rx)).join_within("the task dropping the last receiver");
        let r = w.join_within("the select woken by the disconnection");
        assert_eq!(r, Err(SendError(4)), "{waiter:?}/{dropper:?} {cap}");
    }
}

#[test]
fn disconnect_wakes_a_parked_select() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for (waiter, dropper) in CTX_PAIRS {
            disconnect_wakes_parked_select(&rt, waiter, dropper);
        }
    });
}

#[test]
fn timeouts_zero_expired_and_elapsed() {
    on_os_thread_and_micro_thread(|| {
        let (_tx, rx) = unbounded::<u8>();
        let (tx0, rx0) = bounded::<u8>(0);
        let mut sel = Select::new();
        sel.recv(&rx);
        sel.send(&tx0);
        assert!(sel.select_timeout(Duration::ZERO).is_err());
        let past = Instant::now()
            .checked_sub(Duration::from_millis(5))
            .unwrap_or_else(Instant::now);
        assert!(sel.select_deadline(past).is_err());
        let d = Duration::from_millis(20);
        let t0 = Instant::now();
        assert!(sel.select_timeout(d).is_err());
        assert!(t0.elapsed() >= d, "returned early: {:?}", t0.elapsed());
        let t0 = Instant::now();
        let r = select! {
            recv(rx) -> _ => false,
            default(d) => true,
        };
        assert!(r && t0.elapsed() >= d);
        // The timed-out select is listed nowhere: it does not take a
        // rendezvous message, and offers none.
        assert!(matches!(tx0.try_send(1), Err(TrySendError::Full(1))));
        assert_eq!(rx0.try_recv(), Err(TryRecvError::Empty));
    });
}

#[test]
fn select_timeout_takes_a_message_sent_meanwhile() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for (sctx, rctx) in CTX_PAIRS {
            for cap in [Some(0), Some(1), None] {
                let (tx, rx) = chan::<u32>(cap);
                let (_keep, idle) = unbounded::<u32>();
                let (ready_tx, ready_rx) = bounded::<()>(1);
                let receiver = util::start(&rt, rctx, move || {
                    ready_tx.send(()).unwrap();
                    let mut sel = Select::new();
                    sel.recv(&idle);
                    let i = sel.recv(&rx);
                    let op = sel.select_timeout(LONG).expect("a message comes");
                    assert_eq!(op.index(), i);
                    let first = op.recv(&rx).unwrap();
                    let second = select! {
                        recv(rx) -> v => v.unwrap(),
                        default(LONG) => panic!("a second message comes"),
                    };
                    (first, second)
                });
                ready_rx.recv_within("the receiver's report that it is about to select");
                receiver.wait_parked("the select_timeout waiting on rx");
                util::start(&rt, sctx, move || {
                    tx.send(77).unwrap();
                    tx.send(78).unwrap();
                })
                .join_within("the sender of 77 and 78");
                let got = receiver.join_within("the receiver of 77 and 78");
                assert_eq!(got, (77, 78), "{sctx:?} -> {rctx:?} {cap:?}");
            }
        }
    });
}

#[test]
fn many_operations_each_ready_at_random() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for (sctx, rctx) in CTX_PAIRS {
            let (txs, rxs): (Vec<_>, Vec<_>) = (0..32)
                .map(|k| chan::<(usize, u32)>([Some(0), Some(1), Some(3), None][k % 4]))
                .unzip();
            let n = 2000u32;
            let sender = util::start(&rt, sctx, move || {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
                for i in 0..n {
                    let k = rng.below(txs.len());
                    txs[k].send((k, i)).unwrap();
                }
            });
            let receiver = util::start(&rt, rctx, move || {
                let mut got = Vec::new();
                let mut last = HashMap::new();
                drain(&rxs, |k, (tag, i)| {
                    assert_eq!(k, tag, "a message came out of another channel");
                    if let Some(prev) = last.insert(k, i) {
                        assert!(prev < i, "channel {k} reordered {prev} and {i}");
                    }
                    got.push(i);
                });
                got
            });
            sender.join_within("the sender on random channels");
            let mut got = receiver.join_within("the receiver draining the 32 channels");
            got.sort_unstable();
            assert_eq!(got, (0..n).collect::<Vec<_>>(), "{sctx:?} -> {rctx:?}");
        }
    });
}

#[test]
fn fair_among_operations_that_are_ready() {
    on_os_thread_and_micro_thread(|| {
        let n = 6000;
        // Two receives that are always ready, a fresh `select!` each time.
        let (tx1, rx1) = unbounded::<()>();
        let (tx2, rx2) = unbounded::<()>();
        for _ in 0..n {
            tx1.send(()).unwrap();
            tx2.send(()).unwrap();
        }
        let mut counts = [0; 2];
        for _ in 0..n {
            select! {
                recv(rx1) -> _ => counts[0] += 1,
                recv(rx2) -> _ => counts[1] += 1,
            }
        }
        assert!(counts.iter().all(|&c| c > n / 5), "receives picked {counts:?} times");

        // Three sends that are always ready, one `Select` reused.
        let chans: Vec<_> = (0..3).map(|_| unbounded::<()>()).collect();
        let mut sel = Select::new();
        for (tx, _) in &chans {
            sel.send(tx);
        }
        let mut counts = [0; 3];
        for _ in 0..n {
            let op = sel.select();
            let i = op.index();
            op.send(&chans[i].0, ()).unwrap();
            counts[i] += 1;
        }
        assert!(counts.iter().all(|&c| c > n / 10), "sends picked {counts:?} times");
        for (i, (_, rx)) in chans.iter().enumerate() {
            assert_eq!(rx.len(), counts[i]);
        }
    });
}

#[test]
fn select_with_both_ends_of_a_rendezvous_does_not_pair_with_itself() {
    on_os_thread_and_micro_thread(|| {
        let (tx, rx) = bounded::<u8>(0);
        let mut sel = Select::new();
        sel.send(&tx);
        sel.recv(&rx);
        assert!(sel.try_select().is_err());
        assert!(sel.select_timeout(Duration::from_millis(10)).is_err());
        assert!(matches!(tx.try_send(1), Err(TrySendError::Full(1))));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
}

#[test]
fn rendezvous_send_operations_reach_blocked_receivers() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for (sctx, rctx) in CTX_PAIRS {
            let (txs, rxs): (Vec<_>, Vec<_>) = (0..4).map(|_| bounded::<u64>(0)).unzip();
            let receivers: Vec<_> = rxs
                .into_iter()
                .map(|rx| util::start(&rt, rctx, move || rx.iter().collect::<Vec<_>>()))
                .collect();
            let n = 1500u64;
            util::start(&rt, sctx, move || {
                let mut sel = Select::new();
                for tx in &txs {
                    sel.send(tx);
                }
                for i in 0..n {
                    let op = sel.select();
                    let k = op.index();
                    op.send(&txs[k], i).unwrap();
                }
            })
            .join_within("the select sending to the blocked receivers");
            let mut all: Vec<u64> = receivers
                .into_iter()
                .enumerate()
                .flat_map(|(k, r)| r.join_within(&format!("receiver {k}")))
                .collect();
            all.sort_unstable();
            assert_eq!(all, (0..n).collect::<Vec<_>>(), "{sctx:?} -> {rctx:?}");
        }
    });
}

#[test]
fn rendezvous_receive_operations_take_from_blocked_senders() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for (sctx, rctx) in CTX_PAIRS {
            let (txs, rxs): (Vec<_>, Vec<_>) = (0..4).map(|_| bounded::<u64>(0)).unzip();
            let per = 400u64;
            let senders: Vec<_> = txs
                .into_iter()
                .enumerate()
                .map(|(k, tx)| {
                    util::start(&rt, sctx, move || {
                        for i in 0..per {
                            tx.send(k as u64 * per + i).unwrap();
                        }
                    })
                })
                .collect();
            let mut all = util::start(&rt, rctx, move || {
                let mut all = Vec::new();
                drain(&rxs, |_, v| all.push(v));
                all
            })
            .join_within("the select draining the blocked senders");
            for (k, s) in senders.into_iter().enumerate() {
                s.join_within(&format!("sender {k}"));
            }
            all.sort_unstable();
            assert_eq!(all, (0..4 * per).collect::<Vec<_>>(), "{sctx:?} -> {rctx:?}");
        }
    });
}

/// Two selects at opposite ends of rendezvous channels pair up: a
/// ping-pong where each side also waits on a channel that never delivers.
#[test]
fn select_against_select_ping_pong() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for (actx, bctx) in CTX_PAIRS {
            let (ping_tx, ping_rx) = bounded::<u32>(0);
            let (pong_tx, pong_rx) = bounded::<u32>(0);
            let (never_tx, never_rx) = bounded::<u32>(0);
            let never_rx2 = never_rx.clone();
            let rounds = 500;
            let a = util::start(&rt, actx, move || {
                for i in 0..rounds {
                    select! {
                        send(ping_tx, i) -> r => r.unwrap(),
                        recv(never_rx) -> _ => panic!("never"),
                    }
                    select! {
                        recv(pong_rx) -> r => assert_eq!(r, Ok(i + 1)),
                        recv(never_rx) -> _ => panic!("never"),
                    }
                }
            });
            let b = util::start(&rt, bctx, move || {
                for i in 0..rounds {
                    let v = select! {
                        recv(ping_rx) -> r => r.unwrap(),
                        recv(never_rx2) -> _ => panic!("never"),
                    };
                    assert_eq!(v, i);
                    select! {
                        send(pong_tx, v + 1) -> r => r.unwrap(),
                        recv(never_rx2) -> _ => panic!("never"),
                    }
                }
            });
            a.join_within("side a of the ping-pong");
            b.join_within("side b of the ping-pong");
            drop(never_tx);
        }
    });
}

/// Two selects that each offer both to send and to receive on one
/// rendezvous channel: every round pairs one side's send with the other's
/// receive, never a select with itself.
#[test]
fn symmetric_selects_on_one_rendezvous_pair_up() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for (actx, bctx) in CTX_PAIRS {
            let (tx, rx) = bounded::<u8>(0);
            let side = |me: u8| {
                let (tx, rx) = (tx.clone(), rx.clone());
                move || {
                    let (mut sent, mut received) = (0u32, 0u32);
                    for _ in 0..400 {
                        select! {
                            send(tx, me) -> r => {
                                r.unwrap();
                                sent += 1;
                            }
                            recv(rx) -> r => {
                                assert_eq!(r, Ok(1 - me), "a select received its own message");
                                received += 1;
                            }
                        }
                    }
                    (sent, received)
                }
            };
            let a = util::start(&rt, actx, side(0));
            let b = util::start(&rt, bctx, side(1));
            let (a, b) = (a.join_within("side a"), b.join_within("side b"));
            assert_eq!((a.0, a.1), (b.1, b.0), "{actx:?}/{bctx:?}");
            assert_eq!(a.0 + a.1, 400);
        }
    });
}

/// A wake-up a select did not use reaches the next waiter: a message on
/// `a` while a select waits on `a` and `b` and a plain receiver waits on
/// `a`, and a message on `b` at the same time.
#[test]
fn a_wake_up_the_select_did_not_use_reaches_another_waiter() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for (sctx, rctx) in CTX_PAIRS {
            for cap in [0, 1] {
                for round in 0..40 {
                    let (ta, ra) = bounded::<u32>(cap);
                    let (tb, rb) = bounded::<u32>(cap);
                    let (ready_tx, ready_rx) = unbounded::<()>();
                    let (ra2, rb2, ready2) = (ra.clone(), rb.clone(), ready_tx.clone());
                    let plain = util::start(&rt, rctx, move || {
                        ready2.send(()).unwrap();
                        ra2.recv_timeout(LONG)
                    });
                    let selecting = util::start(&rt, if round % 2 == 0 { rctx } else { sctx }, move || {
                        ready_tx.send(()).unwrap();
                        select! {
                            recv(ra) -> v => ('a', v.unwrap()),
                            recv(rb) -> v => ('b', v.unwrap()),
                        }
                    });
                    ready_rx.recv_within("the first waiter's report that it is about to wait");
                    ready_rx.recv_within("the second waiter's report that it is about to wait");
                    plain.wait_parked("the plain receiver waiting on a");
                    selecting.wait_parked("the select waiting on a and b");
                    let ta2 = ta.clone();
                    let sa = util::start(&rt, sctx, move || ta.send(1).unwrap());
                    let sb = util::start(&rt, sctx, move || tb.send(2).unwrap());
                    match selecting.join_within("the select, woken by a message") {
                        ('b', 2) => assert_eq!(
                            plain.join_within("the plain receiver, woken by the message on a"),
                            Ok(1),
                            "the message on `a` was stranded"
                        ),
                        ('a', 1) => {
                            ta2.send(3).unwrap();
                            assert_eq!(plain.join_within("the plain receiver of 3"), Ok(3));
                            assert_eq!(rb2.recv_within("the message on b"), 2);
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                    sa.join_within("the sender on a");
                    sb.join_within("the sender on b");
                }
            }
        }
    });
}

/// A relay whose select mixes receive operations (from producers) with
/// send operations (to consumers) while it holds messages to pass on.
#[test]
fn send_and_receive_operations_mixed() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for (rctx, pctx) in CTX_PAIRS {
            let (in_txs, in_rxs): (Vec<_>, Vec<_>) = [Some(0), Some(2), None].into_iter().map(chan::<u64>).unzip();
            let (out_txs, out_rxs): (Vec<_>, Vec<_>) = [Some(0), Some(1), None].into_iter().map(chan::<u64>).unzip();
            let per = 500u64;
            let producers: Vec<_> = in_txs
                .into_iter()
                .enumerate()
                .map(|(k, tx)| {
                    util::start(&rt, pctx, move || {
                        for i in 0..per {
                            tx.send(k as u64 * per + i).unwrap();
                        }
                    })
                })
                .collect();
            let consumers: Vec<_> = out_rxs
                .into_iter()
                .map(|rx| util::start(&rt, pctx, move || rx.iter().collect::<Vec<_>>()))
                .collect();
            util::start(&rt, rctx, move || {
                let mut live: Vec<usize> = (0..in_rxs.len()).collect();
                let mut pending = VecDeque::new();
                while !live.is_empty() || !pending.is_empty() {
                    let mut sel = Select::new();
                    for &k in &live {
                        sel.recv(&in_rxs[k]);
                    }
                    if !pending.is_empty() {
                        for tx in &out_txs {
                            sel.send(tx);
                        }
                    }
                    let op = sel.select();
                    let i = op.index();
                    if i < live.len() {
                        match op.recv(&in_rxs[live[i]]) {
                            Ok(v) => pending.push_back(v),
                            Err(RecvError) => {
                                live.swap_remove(i);
                            }
                        }
                    } else {
                        let msg = pending.pop_front().unwrap();
                        op.send(&out_txs[i - live.len()], msg).unwrap();
                    }
                }
            })
            .join_within("the relay");
            for (k, p) in producers.into_iter().enumerate() {
                p.join_within(&format!("producer {k}"));
            }
            let mut all: Vec<u64> = consumers
                .into_iter()
                .enumerate()
                .flat_map(|(k, c)| c.join_within(&format!("consumer {k}")))
                .collect();
            all.sort_unstable();
            assert_eq!(all, (0..3 * per).collect::<Vec<_>>(), "{rctx:?}/{pctx:?}");
        }
    });
}

#[test]
fn a_dropped_selected_operation_loses_nothing() {
    on_os_thread_and_micro_thread(|| {
        // A receive: the message goes back to the channel.
        for cap in [Some(1), Some(3), None] {
            let (tx, rx) = chan::<u32>(cap);
            tx.send(1).unwrap();
            let mut sel = Select::new();
            sel.recv(&rx);
            drop(sel.select());
            assert_eq!(rx.try_recv(), Ok(1), "{cap:?}");
        }
        // A send: the room set aside is free again.
        let (tx, rx) = bounded::<u32>(1);
        let mut sel = Select::new();
        sel.send(&tx);
        let op = sel.select();
        assert!(
            matches!(tx.try_send(5), Err(TrySendError::Full(5))),
            "the room is set aside"
        );
        drop(op);
        tx.try_send(6).unwrap();
        assert_eq!(rx.try_recv(), Ok(6));
    });
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for ctx in CTXS {
            // A rendezvous send paired with a blocked receiver, dropped: the
            // receiver keeps waiting, and gets the next message.
            let (tx, rx) = bounded::<u32>(0);
            let receiver = util::start(&rt, ctx, move || rx.recv_timeout(LONG));
            let mut sel = Select::new();
            sel.send(&tx);
            let mut paired = None;
            util::wait_until("the blocked receiver to be listed", || {
                paired = sel.try_select().ok();
                paired.is_some()
            });
            drop(paired);
            // A receiver that gave up wrongly would end; one that keeps
            // waiting is parked in its receive (again, if the pairing woke
            // it). Wake-ups happen inside the calls above, so once it is
            // seen parked it is waiting for good.
            util::wait_until("the receiver back to waiting after the dropped send", || {
                receiver.is_parked() || receiver.is_finished()
            });
            assert!(
                !receiver.is_finished(),
                "the receiver gave up: {:?} ({ctx:?})",
                receiver.join()
            );
            tx.send_timeout(8, util::PATIENCE)
                .expect("the receiver, still waiting, takes the next message");
            assert_eq!(receiver.join_within("the receiver of 8"), Ok(8), "{ctx:?}");

            // A rendezvous receive that took a blocked sender's message,
            // dropped: the message waits in the channel.
            let (tx, rx) = bounded::<u32>(0);
            let sender = util::start(&rt, ctx, move || tx.send(9));
            let mut sel = Select::new();
            sel.recv(&rx);
            drop(sel.select());
            sender.join_within("the sender whose message was set back").unwrap();
            assert_eq!(rx.try_recv(), Ok(9), "{ctx:?}");
        }
    });
}

/// A select waiting to receive on a rendezvous channel, paired with a
/// select's send whose caller then drops the operation, goes back to
/// waiting and takes the next message.
#[test]
fn a_select_paired_with_a_dropped_send_keeps_waiting() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for (rctx, sctx) in CTX_PAIRS {
            for _ in 0..30 {
                let (tx, rx) = bounded::<u32>(0);
                let (_keep, idle) = bounded::<u32>(0);
                let receiver = util::start(&rt, rctx, move || {
                    select! {
                        recv(rx) -> v => v,
                        recv(idle) -> _ => panic!("nothing is sent on this channel"),
                    }
                });
                util::start(&rt, sctx, move || {
                    let mut sel = Select::new();
                    sel.send(&tx);
                    drop(sel.select()); // paired with the receiver, whichever came first
                    tx.send(5).unwrap();
                })
                .join_within("the sender that drops its paired send, then sends 5");
                assert_eq!(
                    receiver.join_within("the select receiving 5"),
                    Ok(5),
                    "{rctx:?}/{sctx:?}"
                );
            }
        }
    });
}

/// Micro-threads on every worker and OS threads, sending with `send` and
/// with selects, receiving with selects and with `recv`, over shared
/// channels of every kind: every message arrives exactly once.
#[test]
fn stress_selects_from_micro_threads_and_os_threads() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        let caps = [Some(0), Some(0), Some(1), Some(1), Some(4), Some(4), None, None];
        let (txs, rxs): (Vec<_>, Vec<_>) = caps.into_iter().map(chan::<u64>).unzip();
        let per = 300u64;
        let producers = 42u64;
        let mut consumers = Vec::new();
        for c in 0..24 {
            let ctx = if c % 8 == 7 { Ctx::Os } else { Ctx::Micro };
            let rxs = rxs.clone();
            consumers.push(util::start(&rt, ctx, move || {
                let mut got = Vec::new();
                if c % 6 == 0 {
                    // A plain receiver on one channel.
                    got.extend(rxs[c % rxs.len()].iter());
                } else {
                    drain(&rxs, |_, v| got.push(v));
                }
                got
            }));
        }
        drop(rxs);
        let mut senders = Vec::new();
        for p in 0..producers {
            let ctx = if p % 10 == 9 { Ctx::Os } else { Ctx::Micro };
            let txs = txs.clone();
            senders.push(util::start(&rt, ctx, move || {
                let mut rng = Rng(p * 7919 + 1);
                for i in 0..per {
                    let id = p * per + i;
                    if rng.below(2) == 0 {
                        txs[rng.below(txs.len())].send(id).unwrap();
                    } else {
                        let picks = [rng.below(txs.len()), rng.below(txs.len()), rng.below(txs.len())];
                        let mut sel = Select::new();
                        for &k in &picks {
                            sel.send(&txs[k]);
                        }
                        let op = sel.select();
                        let k = picks[op.index()];
                        op.send(&txs[k], id).unwrap();
                    }
                }
            }));
        }
        drop(txs);
        for (p, s) in senders.into_iter().enumerate() {
            s.join_within(&format!("producer {p}"));
        }
        let mut all: Vec<u64> = consumers
            .into_iter()
            .enumerate()
            .flat_map(|(c, t)| t.join_within(&format!("consumer {c}")))
            .collect();
        all.sort_unstable();
        let expected: Vec<u64> = (0..producers * per).collect();
        assert_eq!(all.len(), expected.len(), "lost or duplicated messages");
        assert_eq!(all, expected);
    });
}

/// Dropping the runtime unwinds micro-threads parked in selects of every
/// kind; what was set aside for them goes back, nothing stays listed, and
/// the channels work as before.
#[test]
fn shutdown_while_parked_in_select() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        let (tx0, rx0) = bounded::<u32>(0);
        let (tx1, rx1) = bounded::<u32>(1);
        tx1.send(1000).unwrap(); // full
        let (txu, rxu) = unbounded::<u32>();
        let (txr, rxr) = bounded::<u32>(0); // nobody receives while it runs
        let (got_tx, got_rx) = unbounded::<u32>();
        let (ready_tx, ready_rx) = unbounded::<()>();
        let room_sends = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (rx0, rxu, tx1, txr) = (rx0.clone(), rxu.clone(), tx1.clone(), txr.clone());
                let (got_tx, ready_tx, room_sends) = (got_tx.clone(), ready_tx.clone(), room_sends.clone());
                rt.spawn(move || {
                    ready_tx.send(()).unwrap();
                    loop {
                        // Completing a receive and passing the message on
                        // never parks, so a message is either passed on or
                        // was never taken.
                        select! {
                            recv(rx0) -> v => got_tx.send(v.unwrap()).unwrap(),
                            recv(rxu) -> v => got_tx.send(v.unwrap()).unwrap(),
                            send(tx1, 2000) -> r => {
                                r.unwrap();
                                room_sends.fetch_add(1, Ordering::SeqCst);
                            }
                            send(txr, 3000) -> _ => panic!("nobody receives here"),
                        }
                    }
                })
            })
            .collect();
        for i in 0..8 {
            ready_rx.recv_within(&format!("report {i} of 8 selecting micro-threads"));
        }
        for i in 0..50 {
            tx0.send(i).unwrap();
        }
        for i in 50..400 {
            txu.send(i).unwrap();
        }
        // Room appears just before the shutdown: a select committed to it
        // may unwind before sending.
        assert_eq!(rx1.recv_within("the message filling bounded(1)"), 1000);
        drop(rt);
        for (i, t) in tasks.into_iter().enumerate() {
            let r = t.join_within(&format!("selecting micro-thread {i}, unwound by the shutdown"));
            assert!(r.is_err(), "a micro-thread parked forever was unwound");
        }

        let mut seen: Vec<u32> = got_rx.try_iter().collect();
        seen.extend(rxu.try_iter());
        seen.extend(rx0.try_iter());
        seen.sort_unstable();
        assert_eq!(seen, (0..400).collect::<Vec<_>>(), "messages lost or duplicated");
        // At most one select used the room; whether or not, it is usable.
        let in_room: Vec<u32> = rx1.try_iter().collect();
        assert_eq!(in_room.len(), room_sends.load(Ordering::SeqCst));
        tx1.try_send(5).expect("the room is not held by an unwound select");
        assert_eq!(rx1.try_recv(), Ok(5));
        // No unwound select is listed: rendezvous sends find no receiver,
        // receives find no sender, and pairs of plain callers still meet.
        assert!(matches!(tx0.try_send(1), Err(TrySendError::Full(1))));
        assert_eq!(rxr.try_recv(), Err(TryRecvError::Empty));
        let receiver = thread::spawn(move || rx0.recv());
        tx0.send_timeout(7, util::PATIENCE).expect("an OS thread receives 7");
        assert_eq!(receiver.join_within("the OS thread receiving 7").unwrap(), Ok(7));
        let sender = thread::spawn(move || txr.send(8));
        assert_eq!(rxr.recv_within("8, from an OS thread"), 8);
        sender.join_within("the OS thread sending 8").unwrap().unwrap();
    });
}

/// A select in a destructor that runs while a micro-thread unwinds at
/// shutdown cannot wait: it fails at once instead.
#[test]
fn select_in_a_destructor_during_shutdown_fails_instead_of_waiting() {
    struct SelectOnDrop {
        rx: Receiver<u32>,
        report: Sender<(Result<u32, RecvError>, bool)>,
    }
    impl Drop for SelectOnDrop {
        fn drop(&mut self) {
            let waited = select! {
                recv(self.rx) -> _ => false,
                default(Duration::from_secs(3600)) => true,
            };
            let mut sel = Select::new();
            sel.recv(&self.rx);
            let r = sel.select().recv(&self.rx);
            let _ = self.report.send((r, waited));
        }
    }
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        let (_keep, rx) = bounded::<u32>(0);
        let (report_tx, report_rx) = unbounded();
        let (ready_tx, ready_rx) = bounded::<()>(1);
        let task = rt.spawn(move || {
            let _guard = SelectOnDrop { rx, report: report_tx };
            ready_tx.send(()).unwrap();
            dhaga_runtime::sleep(Duration::from_secs(3600));
        });
        ready_rx.recv_within("the micro-thread's report that it is about to sleep");
        util::wait_until("the micro-thread parked in its sleep", || task.is_parked());
        drop(rt);
        assert!(task.join_within("the micro-thread unwound by the shutdown").is_err());
        assert_eq!(report_rx.recv_within("the destructor's report"), (Err(RecvError), true));
    });
}

//! `dhaga_runtime::sync` channels: bounded, unbounded and rendezvous
//! semantics (capacity, FIFO order, `try_*`, `len`/`is_empty`, iterators),
//! disconnection when the last sender or receiver goes, timeouts, and MPMC
//! traffic between micro-threads, between OS threads, and mixed.

mod util;

use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

use dhaga_runtime::sync::{
    Receiver, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sender, TryRecvError, TrySendError, bounded,
    unbounded,
};
use dhaga_runtime::{Runtime, in_micro_thread, run};

use util::{CTX_PAIRS, Ctx, JoinWithin, RecvWithin};

/// Runs a single-threaded semantics check on this OS thread, then again
/// inside a micro-thread.
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

#[test]
fn bounded_capacity_and_fifo() {
    on_os_thread_and_micro_thread(|| {
        let (tx, rx) = bounded::<u32>(3);
        assert!(rx.is_empty());
        for i in 0..3 {
            tx.try_send(i).unwrap();
        }
        assert_eq!(rx.len(), 3);
        assert!(!rx.is_empty());
        match tx.try_send(99) {
            Err(TrySendError::Full(v)) => assert_eq!(v, 99, "the value comes back"),
            other => panic!("expected Full(99), got {other:?}"),
        }
        assert_eq!(rx.try_recv().unwrap(), 0);
        tx.try_send(3).unwrap();
        assert_eq!(rx.len(), 3);
        let got: Vec<u32> = rx.try_iter().collect();
        assert_eq!(got, vec![1, 2, 3]);
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
        assert_eq!(rx.len(), 0);
    });
}

#[test]
fn bounded_send_timeout_on_full_channel() {
    on_os_thread_and_micro_thread(|| {
        let (tx, rx) = bounded::<String>(1);
        tx.send("kept".into()).unwrap();
        let d = Duration::from_millis(30);
        let t0 = Instant::now();
        match tx.send_timeout("late".into(), d) {
            Err(SendTimeoutError::Timeout(v)) => assert_eq!(v, "late"),
            other => panic!("expected Timeout, got {other:?}"),
        }
        assert!(t0.elapsed() >= d, "send_timeout returned early: {:?}", t0.elapsed());
        // The timed-out value was not enqueued.
        assert_eq!(rx.recv().unwrap(), "kept");
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
        // With room, send_timeout succeeds at once.
        tx.send_timeout("fits".into(), d).unwrap();
        assert_eq!(rx.try_recv().unwrap(), "fits");
    });
}

#[test]
fn rendezvous_has_no_buffer() {
    on_os_thread_and_micro_thread(|| {
        let (tx, rx) = bounded::<u8>(0);
        assert!(matches!(tx.try_send(1), Err(TrySendError::Full(1))));
        let d = Duration::from_millis(30);
        let t0 = Instant::now();
        assert!(matches!(tx.send_timeout(2, d), Err(SendTimeoutError::Timeout(2))));
        assert!(t0.elapsed() >= d);
        assert!(rx.is_empty());
        assert_eq!(rx.len(), 0);
        // A receiver that timed out is not waiting any more: a later
        // try_send must not hand it the value.
        let t0 = Instant::now();
        assert!(matches!(rx.recv_timeout(d), Err(RecvTimeoutError::Timeout)));
        assert!(t0.elapsed() >= d);
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
    });
}

#[test]
fn unbounded_never_blocks_and_keeps_order() {
    on_os_thread_and_micro_thread(|| {
        let (tx, rx) = unbounded::<u64>();
        for i in 0..100_000 {
            tx.send(i).unwrap();
        }
        tx.try_send(100_000).unwrap();
        tx.send_timeout(100_001, Duration::ZERO).unwrap();
        assert_eq!(rx.len(), 100_002);
        drop(tx);
        let mut expected = 0;
        for v in rx.iter() {
            assert_eq!(v, expected);
            expected += 1;
        }
        assert_eq!(expected, 100_002);
    });
}

#[test]
fn recv_timeout_on_empty_channel() {
    on_os_thread_and_micro_thread(|| {
        for (tx, rx) in [bounded::<u8>(0), bounded::<u8>(4), unbounded::<u8>()] {
            let d = Duration::from_millis(25);
            let t0 = Instant::now();
            assert!(matches!(rx.recv_timeout(d), Err(RecvTimeoutError::Timeout)));
            assert!(t0.elapsed() >= d, "recv_timeout returned early: {:?}", t0.elapsed());
            drop(tx);
            assert!(matches!(rx.recv_timeout(d), Err(RecvTimeoutError::Disconnected)));
        }
    });
}

#[test]
fn dropping_the_last_sender_disconnects_after_draining() {
    on_os_thread_and_micro_thread(|| {
        for (tx, rx) in [bounded::<u8>(4), unbounded::<u8>()] {
            let tx2 = tx.clone();
            tx.send(1).unwrap();
            tx2.send(2).unwrap();
            drop(tx);
            // One sender left: still connected.
            assert!(matches!(rx.try_recv(), Ok(1)));
            assert!(matches!(rx.recv_timeout(Duration::from_millis(1)), Ok(2)));
            assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
            tx2.send(3).unwrap();
            drop(tx2);
            // Buffered messages survive the disconnect.
            assert_eq!(rx.recv().unwrap(), 3);
            assert!(matches!(rx.recv(), Err(RecvError)));
            assert!(matches!(rx.try_recv(), Err(TryRecvError::Disconnected)));
            assert!(matches!(
                rx.recv_timeout(Duration::from_millis(1)),
                Err(RecvTimeoutError::Disconnected)
            ));
            assert_eq!(rx.iter().count(), 0);
        }
        let (tx, rx) = bounded::<u8>(0);
        drop(tx);
        assert!(matches!(rx.recv(), Err(RecvError)));
    });
}

#[test]
fn dropping_the_last_receiver_disconnects_and_returns_the_value() {
    on_os_thread_and_micro_thread(|| {
        for (tx, rx) in [bounded::<String>(0), bounded::<String>(2), unbounded::<String>()] {
            let rx2 = rx.clone();
            drop(rx);
            // One receiver left: still connected.
            assert!(matches!(tx.try_send("a".into()), Ok(()) | Err(TrySendError::Full(_))));
            drop(rx2);
            match tx.send("b".into()) {
                Err(SendError(v)) => assert_eq!(v, "b"),
                Ok(()) => panic!("send succeeded with no receiver"),
            }
            match tx.try_send("c".into()) {
                Err(TrySendError::Disconnected(v)) => assert_eq!(v, "c"),
                other => panic!("expected Disconnected, got {other:?}"),
            }
            match tx.send_timeout("d".into(), Duration::from_millis(1)) {
                Err(SendTimeoutError::Disconnected(v)) => assert_eq!(v, "d"),
                other => panic!("expected Disconnected, got {other:?}"),
            }
        }
    });
}

/// A receiver parked in `recv` (in `waiter`'s context) wakes with `RecvError`
/// when the last sender is dropped in `dropper`'s context; a sender parked in
/// `send` on a full channel wakes with its value when the last receiver goes.
fn disconnect_wakes_parked(rt: &Runtime, waiter: Ctx, dropper: Ctx) {
    // Parked receiver.
    let (tx, rx) = bounded::<u8>(0);
    let (ready_tx, ready_rx) = bounded::<()>(1);
    let w = util::start(rt, waiter, move || {
        ready_tx.send(()).unwrap();
        rx.recv()
    });
    ready_rx.recv_within("the receiver's report that it is about to receive");
    w.wait_parked("the receiver parked in recv");
    util::start(rt, dropper, move || drop(tx)).join_within("the task dropping the last sender");
    let r = w.join_within("the receiver woken by the disconnection");
    assert!(matches!(r, Err(RecvError)), "{waiter:?}/{dropper:?}");

    // Parked sender on a full channel.
    let (tx, rx) = bounded::<u32>(1);
    tx.send(1).unwrap();
    let (ready_tx, ready_rx) = bounded::<()>(1);
    let w = util::start(rt, waiter, move || {
        ready_tx.send(()).unwrap();
        tx.send(2)
    });
    ready_rx.recv_within("the sender's report that it is about to send");
    w.wait_parked("the sender parked in send on a full channel");
    util::start(rt, dropper, move || drop(rx)).join_within("the task dropping the last receiver");
    match w.join_within("the sender woken by the disconnection") {
        Err(SendError(v)) => assert_eq!(v, 2),
        Ok(()) => panic!("send into a dropped channel succeeded ({waiter:?}/{dropper:?})"),
    }
}

#[test]
fn disconnect_wakes_parked_senders_and_receivers() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for (waiter, dropper) in CTX_PAIRS {
            disconnect_wakes_parked(&rt, waiter, dropper);
        }
    });
}

/// Values sent by producer `p` are `p * STRIDE + i`.
const STRIDE: u64 = 1 << 32;

/// `producers` producers (in `pctx`) send `per` values each through a
/// channel, `consumers` consumers (in `cctx`) drain it until it disconnects.
/// Checks that every value arrives exactly once, and that each consumer sees
/// each producer's values in order.
fn mpmc(
    rt: &Runtime,
    (tx, rx): (Sender<u64>, Receiver<u64>),
    (pctx, cctx): (Ctx, Ctx),
    producers: u64,
    consumers: usize,
    per: u64,
) {
    let consumer_tasks: Vec<_> = (0..consumers)
        .map(|_| {
            let rx = rx.clone();
            util::start(rt, cctx, move || rx.iter().collect::<Vec<u64>>())
        })
        .collect();
    drop(rx);
    let producer_tasks: Vec<_> = (0..producers)
        .map(|p| {
            let tx = tx.clone();
            util::start(rt, pctx, move || {
                for i in 0..per {
                    tx.send(p * STRIDE + i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    for (p, t) in producer_tasks.into_iter().enumerate() {
        t.join_within(&format!("producer {p} ({pctx:?}->{cctx:?})"));
    }
    let mut counts: HashMap<u64, u32> = HashMap::new();
    for (c, t) in consumer_tasks.into_iter().enumerate() {
        let got = t.join_within(&format!("consumer {c} ({pctx:?}->{cctx:?})"));
        let mut last: HashMap<u64, u64> = HashMap::new();
        for v in got {
            let (p, i) = (v / STRIDE, v % STRIDE);
            if let Some(prev) = last.insert(p, i) {
                assert!(
                    prev < i,
                    "consumer {c} got {i} after {prev} from producer {p} ({pctx:?}->{cctx:?})"
                );
            }
            *counts.entry(v).or_default() += 1;
        }
    }
    assert_eq!(
        counts.len() as u64,
        producers * per,
        "lost messages ({pctx:?}->{cctx:?})"
    );
    assert!(
        counts.values().all(|&n| n == 1),
        "duplicated messages ({pctx:?}->{cctx:?})"
    );
}

#[test]
fn mpmc_bounded_between_all_contexts() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for pair in CTX_PAIRS {
            mpmc(&rt, bounded(16), pair, 4, 3, 5000);
            mpmc(&rt, bounded(1), pair, 3, 4, 2000);
        }
    });
}

#[test]
fn mpmc_rendezvous_between_all_contexts() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for pair in CTX_PAIRS {
            mpmc(&rt, bounded(0), pair, 4, 3, 2000);
        }
    });
}

#[test]
fn mpmc_unbounded_between_all_contexts() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for pair in CTX_PAIRS {
            mpmc(&rt, unbounded(), pair, 4, 3, 5000);
        }
    });
}

#[test]
fn mpmc_many_micro_threads_and_os_threads_together() {
    // 200 micro-thread producers and 4 OS-thread producers into one bounded
    // channel, drained by 100 micro-threads and 2 OS threads.
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        let (tx, rx) = bounded::<u64>(8);
        let per = 500u64;
        let mut consumers = Vec::new();
        for c in 0..102 {
            let ctx = if c < 100 { Ctx::Micro } else { Ctx::Os };
            let rx = rx.clone();
            consumers.push(util::start(&rt, ctx, move || {
                rx.iter().fold((0u64, 0u64), |(n, s), v| (n + 1, s + v))
            }));
        }
        drop(rx);
        let mut producers = Vec::new();
        for p in 0..204u64 {
            let ctx = if p < 200 { Ctx::Micro } else { Ctx::Os };
            let tx = tx.clone();
            producers.push(util::start(&rt, ctx, move || {
                for i in 0..per {
                    tx.send(p * per + i).unwrap();
                }
            }));
        }
        drop(tx);
        for (p, t) in producers.into_iter().enumerate() {
            t.join_within(&format!("producer {p}"));
        }
        let (n, s) = consumers
            .into_iter()
            .enumerate()
            .map(|(c, t)| t.join_within(&format!("consumer {c}")))
            .fold((0, 0), |(n, s), (n2, s2)| (n + n2, s + s2));
        let total = 204 * per;
        assert_eq!(n, total);
        assert_eq!(s, (0..total).sum::<u64>());
    });
}

#[test]
fn rendezvous_send_completes_only_with_a_receiver() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for (sctx, rctx) in CTX_PAIRS {
            let (tx, rx) = bounded::<u32>(0);
            let (sent_tx, sent_rx) = unbounded::<u32>();
            let sender = util::start(&rt, sctx, move || {
                for i in 0..100 {
                    tx.send(i).unwrap();
                    // The receiver may be gone after the last one.
                    let _ = sent_tx.send(i);
                }
            });
            let receiver = util::start(&rt, rctx, move || {
                for i in 0..100 {
                    // With no buffer, the sender cannot be more than one
                    // message ahead of the receiver.
                    let reported = sent_rx.try_iter().last();
                    if let Some(r) = reported {
                        assert!(r < i, "send {r} completed before recv {i}");
                    }
                    assert_eq!(rx.recv().unwrap(), i);
                }
            });
            sender.join_within("the rendezvous sender");
            receiver.join_within("the rendezvous receiver");
        }
    });
}

#[test]
fn recv_timeout_gets_a_value_sent_later_from_any_context() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        for (sctx, rctx) in CTX_PAIRS {
            let (tx, rx) = bounded::<u32>(0);
            let (ready_tx, ready_rx) = bounded::<()>(1);
            let receiver = util::start(&rt, rctx, move || {
                ready_tx.send(()).unwrap();
                rx.recv_timeout(Duration::from_secs(30))
            });
            ready_rx.recv_within("the receiver's report that it is about to receive");
            receiver.wait_parked("the receiver parked in recv_timeout");
            util::start(&rt, sctx, move || {
                tx.send_timeout(77, Duration::from_secs(30)).unwrap();
            })
            .join_within("the sender of 77");
            let r = receiver.join_within("the receiver of 77");
            assert!(matches!(r, Ok(77)), "{sctx:?} -> {rctx:?}");
        }
    });
}

#[test]
fn many_timed_out_waiters_then_traffic() {
    // Micro-threads and OS threads repeatedly time out on the same channels;
    // afterwards the channels still deliver every message exactly once.
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        let (tx, rx) = bounded::<u64>(0);
        let (timed_out_tx, timed_out_rx) = unbounded::<()>();
        let waiters: Vec<_> = (0..40)
            .map(|w| {
                let rx = rx.clone();
                let timed_out_tx = timed_out_tx.clone();
                let ctx = if w % 10 == 0 { Ctx::Os } else { Ctx::Micro };
                util::start(&rt, ctx, move || {
                    let mut timeouts = 0u32;
                    for _ in 0..20 {
                        match rx.recv_timeout(Duration::from_millis(1)) {
                            Err(RecvTimeoutError::Timeout) => timeouts += 1,
                            other => panic!("nothing was sent yet, got {other:?}"),
                        }
                    }
                    timed_out_tx.send(()).unwrap();
                    let mut got = Vec::new();
                    while let Ok(v) = rx.recv() {
                        got.push(v);
                    }
                    (timeouts, got)
                })
            })
            .collect();
        drop(rx);
        // Send only once every waiter has finished timing out.
        for i in 0..40 {
            timed_out_rx.recv_within(&format!("report {i} of 40 waiters done timing out"));
        }
        let sender = thread::spawn(move || {
            for v in 0..2000u64 {
                tx.send(v).unwrap();
            }
        });
        sender.join_within("the sender of 2000 messages").unwrap();
        let mut all = Vec::new();
        for (i, w) in waiters.into_iter().enumerate() {
            let (timeouts, got) = w.join_within(&format!("waiter {i}, receiving until disconnected"));
            assert_eq!(timeouts, 20);
            all.extend(got);
        }
        all.sort_unstable();
        assert_eq!(all, (0..2000).collect::<Vec<u64>>());
    });
}

/// A runtime with one worker: micro-threads run one at a time, in the order
/// the tests below make them runnable, so the order of events is theirs.
fn one_worker() -> Runtime {
    dhaga_runtime::RuntimeBuilder::new().workers(1).build().unwrap()
}

/// Spawns a micro-thread that reports on `about` that it started, receives
/// one message, and logs `(name, message)` on `log`. Returns once it is
/// parked in `recv`.
fn parked_receiver(
    name: &'static str,
    rx: &Receiver<u32>,
    log: &Sender<(&'static str, u32)>,
) -> dhaga_runtime::JoinHandle<()> {
    let (about_tx, about_rx) = bounded::<()>(1);
    let (rx, log) = (rx.clone(), log.clone());
    let receiver = dhaga_runtime::spawn(move || {
        about_tx.send(()).unwrap();
        let msg = rx.recv().expect("a message, not a disconnection");
        log.send((name, msg)).unwrap();
    });
    about_rx.recv_within(&format!("receiver {name} to start"));
    util::wait_until(&format!("receiver {name} to park in recv"), || receiver.is_parked());
    receiver
}

/// Fairness: receiver A waits first, then B. A message wakes A, but the
/// driver takes it (`try_recv`) before A runs; A finds nothing and waits
/// again. The next message must go to A, whose place was at the front, not
/// to B, which came after it (A used to go to the back of the list).
#[test]
fn a_woken_receiver_that_loses_the_race_keeps_its_place() {
    util::within_limit(|| {
        let rt = one_worker();
        for (kind, (tx, rx)) in [("bounded", bounded::<u32>(4)), ("unbounded", unbounded::<u32>())] {
            rt.block_on(move || {
                let (log_tx, log) = unbounded();
                let a = parked_receiver("A", &rx, &log_tx);
                let b = parked_receiver("B", &rx, &log_tx);
                tx.send(1).unwrap(); // wakes A, which cannot run yet
                assert_eq!(
                    rx.try_recv(),
                    Ok(1),
                    "{kind}: the driver takes the message A was woken for"
                );
                util::wait_until(&format!("{kind}: A, woken for nothing, to wait again"), || {
                    a.is_parked()
                });
                tx.send(2).unwrap();
                let (first, msg) = log.recv_within(&format!("{kind}: the receiver woken for message 2"));
                assert_eq!(
                    (first, msg),
                    ("A", 2),
                    "{kind}: the receiver that lost the race was served after one that came later"
                );
                tx.send(3).unwrap();
                assert_eq!(log.recv_within(&format!("{kind}: B's message")), ("B", 3));
                a.join_within(&format!("{kind}: receiver A")).unwrap();
                b.join_within(&format!("{kind}: receiver B")).unwrap();
            });
        }
    });
}

/// Fairness, senders: on a full `bounded(1)`, sender A waits first, then B.
/// Taking the message makes room and wakes A, but the driver fills the room
/// (`try_send`) before A runs; A finds the channel full and waits again.
/// When room comes next, it must be A's message that takes it, not B's.
#[test]
fn a_woken_sender_that_loses_the_race_keeps_its_place() {
    util::within_limit(|| {
        let rt = one_worker();
        rt.block_on(|| {
            let (tx, rx) = bounded::<u32>(1);
            tx.send(0).unwrap();
            let parked_sender = |name: &str, msg: u32| {
                let (about_tx, about_rx) = bounded::<()>(1);
                let tx = tx.clone();
                let sender = dhaga_runtime::spawn(move || {
                    about_tx.send(()).unwrap();
                    tx.send(msg).expect("sent, not disconnected");
                });
                about_rx.recv_within(&format!("sender {name} to start"));
                util::wait_until(&format!("sender {name} to park in send"), || sender.is_parked());
                sender
            };
            let a = parked_sender("A", 10);
            let b = parked_sender("B", 20);
            assert_eq!(rx.try_recv(), Ok(0)); // room: wakes A, which cannot run yet
            tx.try_send(99).expect("the driver fills the room A was woken for");
            util::wait_until("A, woken for nothing, to wait again", || a.is_parked());
            assert_eq!(rx.try_recv(), Ok(99)); // room again
            assert_eq!(
                rx.recv_within("the message of the sender woken for the room"),
                10,
                "the sender that lost the race was served after one that came later"
            );
            assert_eq!(rx.recv_within("B's message"), 20);
            a.join_within("sender A").unwrap();
            b.join_within("sender B").unwrap();
        });
    });
}

/// Unbounded channels send without a lock, so a receiver's "nothing there,
/// park" races with senders that do not take the lock: a lost wake-up
/// would leave a receiver parked with a message waiting. Pairs of tasks in
/// every pairing of contexts, all at once on all workers, bounce numbers
/// over two unbounded channels, so that nearly every receive parks just as
/// the other side sends; a lost wake-up shows as a receive that waited
/// `PATIENCE` for its message.
#[test]
fn unbounded_ping_pong_loses_no_wake_up_between_all_contexts() {
    const ROUNDS: u64 = 20_000;
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        let tasks: Vec<_> = CTX_PAIRS
            .into_iter()
            .chain(CTX_PAIRS)
            .flat_map(|(pctx, ectx)| {
                let (ping_tx, ping_rx) = unbounded::<u64>();
                let (pong_tx, pong_rx) = unbounded::<u64>();
                let echo = util::start(&rt, ectx, move || {
                    for i in 0..ROUNDS {
                        let n = ping_rx.recv_within(&format!("ping {i} ({pctx:?}->{ectx:?})"));
                        pong_tx.send(n + 1).unwrap();
                    }
                });
                let pinger = util::start(&rt, pctx, move || {
                    for i in 0..ROUNDS {
                        ping_tx.send(i).unwrap();
                        assert_eq!(pong_rx.recv_within(&format!("pong {i} ({pctx:?}->{ectx:?})")), i + 1);
                    }
                });
                [echo, pinger]
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            t.join_within(&format!("ping-pong task {i}"));
        }
    });
}

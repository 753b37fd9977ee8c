//! Thread-locals across parks. A started micro-thread never changes OS
//! thread, so a `thread_local!` read before and after a park (channel `recv`,
//! `sleep`, `yield_now`, `join`, a wake-up from an OS thread) finds its own
//! worker's value every time, under load on all workers. The suite runs with
//! an optimised profile, where LLVM may keep a thread-local's address in a
//! register across a call: a micro-thread that migrated would then read the
//! old worker's value, which this test compares against `gettid(2)`.

mod util;

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use dhaga_runtime::sync::{Sender, bounded, unbounded};
use dhaga_runtime::{Runtime, RuntimeBuilder, sleep, spawn, yield_now};

use util::JoinWithin;

thread_local! {
    /// (tag, tid): a distinct tag and the OS thread id, stored on first use.
    static TAG: Cell<(u64, i64)> = const { Cell::new((0, 0)) };
}

static NEXT_TAG: AtomicU64 = AtomicU64::new(1);

/// The OS thread id of the caller, read with a system call (never cached).
#[inline(never)]
fn os_tid() -> i64 {
    // SAFETY: gettid takes no arguments and cannot fail.
    i64::from(unsafe { libc::syscall(libc::SYS_gettid) } as i32)
}

/// This thread's (tag, tid), stored the first time a thread asks. Inlined so
/// that the thread-local access sits in the caller, next to the park.
#[inline(always)]
fn tag() -> (u64, i64) {
    TAG.with(|t| {
        let v = t.get();
        if v.0 != 0 {
            v
        } else {
            let v = (NEXT_TAG.fetch_add(1, Ordering::Relaxed), os_tid());
            t.set(v);
            v
        }
    })
}

/// What one micro-thread saw.
#[derive(Default)]
struct Seen {
    /// (tag, tid) pairs observed.
    tags: HashSet<(u64, i64)>,
    /// Parks after which the thread-local differed from before the park, or
    /// from the thread actually running.
    mismatches: u64,
    /// The first mismatch, described.
    first: Option<String>,
    /// Number of parks done.
    parks: u64,
}

impl Seen {
    /// Adds what another micro-thread (or another load) saw.
    fn merge(&mut self, other: Seen) {
        self.tags.extend(other.tags);
        self.mismatches += other.mismatches;
        self.parks += other.parks;
        if self.first.is_none() {
            self.first = other.first;
        }
    }

    /// The OS threads the micro-threads ran on.
    fn tids(&self) -> HashSet<i64> {
        self.tags.iter().map(|&(_, tid)| tid).collect()
    }

    fn check(&mut self, kind: &str, before: (u64, i64), std_before: thread::ThreadId) {
        let after = tag();
        let now = os_tid();
        let std_after = thread::current().id();
        self.parks += 1;
        self.tags.insert(before);
        self.tags.insert(after);
        if after != before || after.1 != now || before.1 != now || std_after != std_before {
            self.mismatches += 1;
            self.first.get_or_insert_with(|| {
                format!(
                    "after {kind}: thread-local before {before:?}, after {after:?}, \
                     running on tid {now}; std ThreadId {std_before:?} -> {std_after:?}"
                )
            });
        }
    }
}

/// A request to an OS-thread echo server: the value and where to answer.
type EchoReq = (u64, Sender<u64>);

/// Parks `iters` times in rotation through every kind of park, comparing the
/// thread-local before and after each one.
fn park_loop(
    id: u64,
    iters: u64,
    to_peer: Sender<u64>,
    from_peer: dhaga_runtime::sync::Receiver<u64>,
    echo: Sender<EchoReq>,
) -> Seen {
    let mut seen = Seen::default();
    let (reply_tx, reply_rx) = bounded::<u64>(1);
    for i in 0..iters {
        match i % 6 {
            0 => {
                let before = tag();
                let std_before = thread::current().id();
                yield_now();
                seen.check("yield_now", before, std_before);
            }
            1 => {
                let before = tag();
                let std_before = thread::current().id();
                sleep(Duration::from_micros(200));
                seen.check("sleep", before, std_before);
            }
            2 | 3 => {
                // Ping-pong with the peer micro-thread (likely on another
                // worker): the recv parks until the peer's send wakes it.
                to_peer.send(id * 1_000_000 + i).unwrap();
                let before = tag();
                let std_before = thread::current().id();
                let v = from_peer.recv().unwrap();
                seen.check("channel recv", before, std_before);
                assert_eq!(v % 1_000_000, i, "peer out of step");
            }
            4 => {
                // Woken by an OS thread.
                echo.send((i, reply_tx.clone())).unwrap();
                let before = tag();
                let std_before = thread::current().id();
                let v = reply_rx.recv().unwrap();
                seen.check("recv woken by an OS thread", before, std_before);
                assert_eq!(v, i + 1);
            }
            _ => {
                let before = tag();
                let std_before = thread::current().id();
                let v = spawn(move || i * 2).join().unwrap();
                seen.check("join", before, std_before);
                assert_eq!(v, i * 2);
            }
        }
    }
    seen
}

/// Runs `pairs` pairs of micro-threads through `park_loop` on `rt`, with
/// wake-ups also coming from 3 OS threads; returns the merged observations.
fn under_load(rt: &Runtime, pairs: u64, iters: u64) -> Seen {
    let (echo_tx, echo_rx) = unbounded::<EchoReq>();
    let servers: Vec<_> = (0..3)
        .map(|_| {
            let echo_rx = echo_rx.clone();
            thread::spawn(move || {
                for (v, reply) in echo_rx.iter() {
                    reply.send(v + 1).unwrap();
                }
            })
        })
        .collect();
    drop(echo_rx);
    let mut handles = Vec::new();
    for p in 0..pairs {
        let (a_tx, a_rx) = bounded::<u64>(1);
        let (b_tx, b_rx) = bounded::<u64>(1);
        let echo_a = echo_tx.clone();
        let echo_b = echo_tx.clone();
        handles.push(rt.spawn(move || park_loop(2 * p, iters, a_tx, b_rx, echo_a)));
        handles.push(rt.spawn(move || park_loop(2 * p + 1, iters, b_tx, a_rx, echo_b)));
    }
    drop(echo_tx);
    let mut all = Seen::default();
    for h in handles {
        all.merge(h.join_within("a park loop").expect("park loop panicked"));
    }
    for s in servers {
        s.join_within("an echo server thread").unwrap();
    }
    all
}

fn assert_own_thread_values(seen: &Seen, workers: usize) {
    assert_eq!(
        seen.mismatches,
        0,
        "{} of {} parks saw a foreign thread-local; first: {}",
        seen.mismatches,
        seen.parks,
        seen.first.as_deref().unwrap_or("")
    );
    // Each worker thread got one distinct tag, and each tag belongs to one
    // thread.
    let mut by_tag: HashMap<u64, i64> = HashMap::new();
    for &(tag, tid) in &seen.tags {
        if let Some(prev) = by_tag.insert(tag, tid) {
            assert_eq!(prev, tid, "tag {tag} seen on two threads");
        }
    }
    let tids = seen.tids();
    assert_eq!(tids.len(), by_tag.len(), "one tag per thread: {:?}", seen.tags);
    assert!(
        tids.len() <= workers,
        "{workers} workers but micro-threads ran on {} threads",
        tids.len()
    );
    assert!(
        tids.len() >= 2,
        "{LOADS} loads all ran on a single worker (tid {tids:?}) of {workers}: the test did not \
         exercise several workers"
    );
}

/// Loads for `under_load` that the test may run before the micro-threads
/// have run on two workers.
const LOADS: usize = 5;

/// Runs `under_load` again until the micro-threads have run on at least two
/// workers, at most [`LOADS`] times, and returns all that was seen. A load
/// that ran on one worker proves nothing about migration, and on a loaded
/// machine one worker can start every micro-thread before the others wake
/// (started micro-threads never move); every load's parks are checked.
fn under_load_on_two_workers(rt: &Runtime, pairs: u64, iters: u64) -> Seen {
    let mut all = Seen::default();
    for _ in 0..LOADS {
        all.merge(under_load(rt, pairs, iters));
        if all.tids().len() >= 2 {
            break;
        }
    }
    all
}

#[test]
fn thread_local_survives_parks_on_default_runtime() {
    let seen = util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        under_load_on_two_workers(&rt, 200, 300)
    });
    let cpus = thread::available_parallelism().map_or(2, |n| n.get());
    assert_own_thread_values(&seen, cpus);
}

#[test]
fn thread_local_survives_parks_with_more_workers_than_cores() {
    let seen = util::within_limit(|| {
        let rt = RuntimeBuilder::new().workers(4).build().unwrap();
        under_load_on_two_workers(&rt, 200, 300)
    });
    assert_own_thread_values(&seen, 4);
}

#[test]
fn thread_local_survives_parks_in_block_on_root() {
    // The root micro-thread of block_on parks in join() and recv while the
    // runtime is busy, and keeps seeing its own worker's value.
    util::within_limit(|| {
        let rt = RuntimeBuilder::new().workers(2).build().unwrap();
        let (mismatches, first) = rt.block_on(|| {
            let mut mismatches = 0u32;
            let mut first = None;
            for i in 0..200u64 {
                let before = tag();
                let kids: Vec<_> = (0..20u64)
                    .map(|k| {
                        spawn(move || {
                            yield_now();
                            k + i
                        })
                    })
                    .collect();
                let sum: u64 = kids
                    .into_iter()
                    .map(|h| h.join_within("a child of the root").unwrap())
                    .sum();
                assert_eq!(sum, (0..20).sum::<u64>() + 20 * i);
                let after = tag();
                let now = os_tid();
                if before != after || after.1 != now {
                    mismatches += 1;
                    first.get_or_insert((before, after, now));
                }
            }
            (mismatches, first)
        });
        assert_eq!(mismatches, 0, "first mismatch (before, after, tid): {first:?}");
    });
}

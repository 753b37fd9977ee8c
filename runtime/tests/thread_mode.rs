//! Thread mode: a runtime built with `thread_mode(true)` starts an OS thread
//! per spawn and otherwise behaves the same. Each behaviour (spawn/join,
//! channels, sleep, panic isolation, join from an OS thread, the reactor) is
//! one function taking a `&Runtime`, run once on micro-threads and once in
//! thread mode.

mod util;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use dhaga_runtime::sync::{RecvTimeoutError, bounded, unbounded};
use dhaga_runtime::{Builder, Runtime, RuntimeBuilder, Source, in_micro_thread, sleep, spawn};

use util::{JoinWithin, PATIENCE, RecvWithin, Task, wait_until};

fn micro() -> Runtime {
    RuntimeBuilder::new().build().unwrap()
}

fn threads() -> Runtime {
    RuntimeBuilder::new().thread_mode(true).build().unwrap()
}

/// Spawn from inside `block_on` and from outside, join everywhere.
fn spawn_and_join(rt: &Runtime) {
    let total = rt.block_on(|| {
        let hs: Vec<_> = (0..64u64).map(|i| spawn(move || i * i)).collect();
        let nested = spawn(|| spawn(|| 5u64).join_within("the nested child").unwrap() + 1);
        let named = Builder::new()
            .name("named".into())
            .stack_size(256 * 1024)
            .spawn(|| 100u64)
            .unwrap();
        hs.into_iter()
            .map(|h| h.join_within("one of 64 children").unwrap())
            .sum::<u64>()
            + nested.join_within("the nesting child").unwrap()
            + named.join_within("the named child").unwrap()
    });
    assert_eq!(total, (0..64u64).map(|i| i * i).sum::<u64>() + 6 + 100);
    let h = rt.spawn(|| String::from("outside"));
    assert_eq!(h.join_within("the task spawned from outside").unwrap(), "outside");
}

/// Producers and consumers spawned on the runtime, over bounded, rendezvous
/// and unbounded channels, plus timeouts and disconnects.
fn channels(rt: &Runtime) {
    for (tx, rx) in [bounded::<u64>(4), bounded::<u64>(0), unbounded::<u64>()] {
        let sum = rt.block_on(move || {
            let consumers: Vec<_> = (0..3)
                .map(|_| {
                    let rx = rx.clone();
                    spawn(move || rx.iter().sum::<u64>())
                })
                .collect();
            let producers: Vec<_> = (0..4u64)
                .map(|p| {
                    let tx = tx.clone();
                    spawn(move || {
                        for i in 0..500 {
                            tx.send(p * 500 + i).unwrap();
                        }
                    })
                })
                .collect();
            drop((tx, rx));
            for p in producers {
                p.join_within("a producer").unwrap();
            }
            consumers
                .into_iter()
                .map(|c| c.join_within("a consumer to see the disconnect").unwrap())
                .sum::<u64>()
        });
        assert_eq!(sum, (0..2000u64).sum::<u64>());
    }
    rt.block_on(|| {
        let (tx, rx) = bounded::<u8>(0);
        let d = Duration::from_millis(20);
        let t0 = Instant::now();
        assert!(matches!(rx.recv_timeout(d), Err(RecvTimeoutError::Timeout)));
        assert!(t0.elapsed() >= d);
        let h = spawn(move || rx.recv().is_err());
        drop(tx);
        assert!(
            h.join_within("the receiver woken by the disconnect").unwrap(),
            "dropping the sender wakes the receiver"
        );
    });
}

/// Sleep lower bound, and sleeps overlap.
fn sleeping(rt: &Runtime) {
    let (each, all) = rt.block_on(|| {
        let t0 = Instant::now();
        let hs: Vec<_> = (0..16)
            .map(|_| {
                spawn(|| {
                    let t = Instant::now();
                    sleep(Duration::from_millis(50));
                    t.elapsed()
                })
            })
            .collect();
        let each: Vec<Duration> = hs
            .into_iter()
            .map(|h| h.join_within("one of 16 sleepers").unwrap())
            .collect();
        (each, t0.elapsed())
    });
    assert!(each.iter().all(|&d| d >= Duration::from_millis(50)), "{each:?}");
    assert!(
        all < Duration::from_secs(5),
        "16 × 50 ms sleeps did not overlap: {all:?}"
    );
}

/// A panic ends only its task; the payload reaches join; block_on re-raises.
fn panic_isolation(rt: &Runtime) {
    rt.block_on(|| {
        let hs: Vec<_> = (0..20u32)
            .map(|i| spawn(move || if i % 4 == 1 { panic!("task {i}") } else { i }))
            .collect();
        for (i, h) in (0..20u32).zip(hs) {
            match h.join_within(&format!("task {i}")) {
                Ok(v) => assert_eq!(v, i),
                Err(p) => {
                    assert_eq!(i % 4, 1, "task {i} should not have panicked");
                    assert_eq!(util::panic_text(&*p), Some(&*format!("task {i}")));
                }
            }
        }
    });
    let r = panic::catch_unwind(AssertUnwindSafe(|| rt.block_on(|| -> u8 { panic!("root") })));
    assert_eq!(util::panic_text(&*r.unwrap_err()), Some("root"));
    assert_eq!(rt.block_on(|| 1u8), 1, "the runtime is still usable");
}

/// A task waiting on a channel is joined from another OS thread.
fn join_from_os_thread(rt: &Runtime) {
    let (tx, rx) = bounded::<u32>(0);
    let h = rt.spawn(move || rx.recv().unwrap() * 3);
    assert!(!h.is_finished());
    wait_until("the task to park in recv", || h.is_parked());
    let (joining_tx, joining_rx) = mpsc::channel();
    let joiner = Task::os_thread(move || {
        joining_tx.send(()).unwrap();
        h.join().unwrap()
    });
    joining_rx.recv_within("the joiner thread to start");
    joiner.wait_parked("the joiner thread to block in join");
    tx.send_timeout(14, PATIENCE).expect("the parked task takes the value");
    assert_eq!(joiner.join_within("the joiner thread to return the result"), 42);
}

/// Ping-pong over a Source pair between two tasks, plus a deadline.
fn reactor(rt: &Runtime) {
    let (a, b) = UnixStream::pair().unwrap();
    let (a, b) = (Source::new(a).unwrap(), Source::new(b).unwrap());
    let sum = rt.block_on(move || {
        let ponger = spawn(move || {
            let mut buf = [0u8; 1];
            loop {
                let n = b.read_with(None, |mut io| io.read(&mut buf)).unwrap();
                if n == 0 {
                    return;
                }
                let reply = [buf[0].wrapping_add(1)];
                b.write_with(None, |mut io| io.write(&reply)).unwrap();
            }
        });
        let mut sum = 0u64;
        let mut buf = [0u8; 1];
        for i in 0..500u32 {
            let out = [(i % 200) as u8];
            a.write_with(None, |mut io| io.write(&out)).unwrap();
            let n = a.read_with(None, |mut io| io.read(&mut buf)).unwrap();
            assert_eq!(n, 1);
            sum += u64::from(buf[0]);
        }
        let deadline = Instant::now() + Duration::from_millis(30);
        let e = a.read_with(Some(deadline), |mut io| io.read(&mut buf)).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert!(Instant::now() >= deadline);
        drop(a);
        ponger.join_within("the ponger to see EOF").unwrap();
        sum
    });
    assert_eq!(sum, (0..500u64).map(|i| i % 200 + 1).sum::<u64>());
}

macro_rules! both_modes {
    ($($body:ident => $micro:ident, $threads:ident;)*) => {$(
        #[test]
        fn $micro() {
            util::within_limit(|| $body(&micro()));
        }

        #[test]
        fn $threads() {
            util::within_limit(|| $body(&threads()));
        }
    )*};
}

both_modes! {
    spawn_and_join => spawn_and_join_micro_threads, spawn_and_join_thread_mode;
    channels => channels_micro_threads, channels_thread_mode;
    sleeping => sleeping_micro_threads, sleeping_thread_mode;
    panic_isolation => panic_isolation_micro_threads, panic_isolation_thread_mode;
    join_from_os_thread => join_from_os_thread_micro_threads, join_from_os_thread_thread_mode;
    reactor => reactor_micro_threads, reactor_thread_mode;
}

#[test]
fn thread_mode_spawn_starts_an_os_thread_each() {
    // 16 tasks and the root meet, each blocking its OS thread while it
    // waits for the others (`wait_until` sleeps outside a micro-thread):
    // only possible if each task has an OS thread of its own.
    util::within_limit(|| {
        let rt = threads();
        let tids = rt.block_on(|| {
            assert!(!in_micro_thread(), "thread mode runs no micro-threads");
            let arrived = Arc::new(AtomicUsize::new(0));
            let meet = move |arrived: &AtomicUsize| {
                arrived.fetch_add(1, Ordering::SeqCst);
                wait_until("the 16 tasks and the root to be running at once", || {
                    arrived.load(Ordering::SeqCst) == 17
                });
            };
            let hs: Vec<_> = (0..16)
                .map(|_| {
                    let arrived = arrived.clone();
                    spawn(move || {
                        meet(&arrived);
                        (thread::current().id(), in_micro_thread())
                    })
                })
                .collect();
            meet(&arrived);
            hs.into_iter()
                .map(|h| h.join_within("a task that met the others").unwrap())
                .collect::<Vec<_>>()
        });
        assert!(tids.iter().all(|&(_, micro)| !micro));
        let distinct: HashSet<_> = tids.iter().map(|&(id, _)| id).collect();
        assert_eq!(distinct.len(), 16);
    });
}

/// A micro-thread may start an OS thread (`block_on` of a thread-mode
/// runtime runs `f` on one): the spawn must fit in its 64 KiB stack. (A
/// regression test: counting the process's mappings before the spawn read
/// `/proc/self/maps` into a 64 KiB buffer on the stack, and overflowed it.)
#[test]
fn a_micro_thread_can_block_on_a_thread_mode_runtime() {
    util::within_limit(|| {
        let rt = Arc::new(threads());
        let inner = Arc::clone(&rt);
        let micro = micro();
        let in_micro = micro.block_on(move || inner.block_on(in_micro_thread));
        assert!(!in_micro, "f ran on an OS thread of its own");
    });
}

/// At `vm.max_map_count`, thread mode's `spawn` returns an error naming the
/// limit instead of letting the process die: std maps each new thread's
/// signal stack inside that thread and aborts the process when it cannot.
/// The child process takes up most of its mappings first (one large
/// mapping split page by page), then spawns parked threads until refused.
#[test]
fn thread_mode_at_the_mapping_limit_refuses_to_spawn_instead_of_aborting() {
    if util::child_role().as_deref() == Some("mappings") {
        let max: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .expect("vm.max_map_count (Linux)")
            .trim()
            .parse()
            .unwrap();
        // Leave room for about 1,000 threads (4 mappings each).
        let pages = max.saturating_sub(4_000 + 4 * 1_000);
        let page = 4096;
        // SAFETY: a fresh anonymous private mapping, owned by this process
        // until it exits; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                pages * page,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED, "mmap: {}", std::io::Error::last_os_error());
        // Every other page made inaccessible: each page its own mapping.
        for i in (0..pages).step_by(2) {
            let page_start = base.cast::<u8>().wrapping_add(i * page);
            // SAFETY: the page lies inside the mapping made above, which
            // nothing reads.
            let rc = unsafe { libc::mprotect(page_start.cast(), page, libc::PROT_NONE) };
            assert_eq!(rc, 0, "mprotect: {}", std::io::Error::last_os_error());
        }
        let rt = threads();
        let (release_tx, release_rx) = unbounded::<()>();
        let mut started = 0usize;
        let refusal = loop {
            let release = release_rx.clone();
            match Builder::new().stack_size(64 * 1024).spawn_on(&rt, move || {
                let _ = release.recv();
            }) {
                Ok(_) => started += 1,
                Err(e) => break e,
            }
            assert!(started < 100_000, "no refusal after {started} threads");
        };
        drop(release_tx);
        println!("REFUSED after {started} threads: {:?}: {refusal}", refusal.kind());
        std::process::exit(0);
    }
    let out = util::run_child(
        "thread_mode_at_the_mapping_limit_refuses_to_spawn_instead_of_aborting",
        "mappings",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the process survived: {}", util::describe(&out));
    assert!(
        stdout.contains("REFUSED") && stdout.contains("OutOfMemory") && stdout.contains("vm.max_map_count"),
        "spawn said why it refused: {}",
        util::describe(&out)
    );
}

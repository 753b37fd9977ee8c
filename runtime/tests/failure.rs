//! Failure: a panicking micro-thread ends alone (its `join` returns the
//! payload it raised, everything else carries on); a result whose destructor
//! panics aborts the process with a message (checked in a child process,
//! whichever side drops it); a stack overflow is caught
//! by the guard page and aborts with a message naming the micro-thread and
//! its stack size (checked in a child process); running out of address space
//! for stacks gives an `OutOfMemory` error naming `vm.max_map_count` (also in
//! a child process, under a low `RLIMIT_AS`).

mod util;

use std::hint::black_box;
use std::os::unix::process::ExitStatusExt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dhaga_runtime::sync::{RecvTimeoutError, bounded, unbounded};
use dhaga_runtime::{Builder, Runtime, RuntimeBuilder, run, spawn, yield_now};

use util::{JoinWithin, PATIENCE, RecvWithin, wait_until};

/// A payload type that is neither `&str` nor `String`.
#[derive(Debug, PartialEq)]
struct Custom(u32);

#[test]
fn panic_ends_only_its_micro_thread() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        rt.block_on(|| {
            let handles: Vec<_> = (0..300u32)
                .map(|i| {
                    spawn(move || {
                        yield_now();
                        match i % 10 {
                            3 => panic!("boom {i}"),
                            7 => panic::panic_any(Custom(i)),
                            _ => i,
                        }
                    })
                })
                .collect();
            for (i, h) in (0..300u32).zip(handles) {
                match (i % 10, h.join_within(&format!("micro-thread {i}"))) {
                    (3, Err(p)) => assert_eq!(util::panic_text(&*p), Some(&*format!("boom {i}"))),
                    (7, Err(p)) => assert_eq!(p.downcast_ref::<Custom>(), Some(&Custom(i))),
                    (_, Ok(v)) => assert_eq!(v, i),
                    (k, r) => panic!("micro-thread {i} (kind {k}): unexpected {:?}", r.is_ok()),
                }
            }
        });
        // The runtime carries on after all those panics.
        let sum = rt.block_on(|| {
            (0..100u64)
                .map(|i| spawn(move || i))
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join_within("a micro-thread spawned after the panics").unwrap())
                .sum::<u64>()
        });
        assert_eq!(sum, (0..100).sum::<u64>());
    });
}

#[test]
fn panic_while_others_are_parked_on_the_same_runtime() {
    util::within_limit(|| {
        // One worker: the parked micro-threads share it with the panicking
        // ones and must all still be woken afterwards.
        let rt = RuntimeBuilder::new().workers(1).build().unwrap();
        rt.block_on(|| {
            let (tx, rx) = unbounded::<u32>();
            let parked: Vec<_> = (0..50)
                .map(|_| {
                    let rx = rx.clone();
                    spawn(move || rx.recv().unwrap())
                })
                .collect();
            wait_until("the 50 receivers to park", || parked.iter().all(|h| h.is_parked()));
            let panickers: Vec<_> = (0..50)
                .map(|i| spawn(move || -> u32 { panic!("panicker {i}") }))
                .collect();
            for (i, h) in panickers.into_iter().enumerate() {
                assert!(h.join_within(&format!("panicker {i}")).is_err());
            }
            for i in 0..50 {
                tx.send(i).unwrap();
            }
            let mut got: Vec<u32> = parked
                .into_iter()
                .map(|h| h.join_within("a parked receiver woken after the panics").unwrap())
                .collect();
            got.sort_unstable();
            assert_eq!(got, (0..50).collect::<Vec<_>>());
        });
    });
}

#[test]
fn panic_unwinds_the_micro_thread_stack() {
    // Destructors on the panicking micro-thread's stack run, so a sender it
    // held is dropped and the receiver sees the disconnect.
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        struct Guard(Arc<AtomicUsize>);
        impl Drop for Guard {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let d = drops.clone();
        let (tx, rx) = bounded::<u8>(0);
        let (go_tx, go_rx) = bounded::<()>(0);
        let h = rt.spawn(move || {
            let _guard = Guard(d);
            let _tx = tx;
            go_rx.recv().unwrap();
            panic!("after a park");
        });
        go_tx.send_timeout((), PATIENCE).expect("the micro-thread takes the go");
        assert!(
            matches!(rx.recv_timeout(PATIENCE), Err(RecvTimeoutError::Disconnected)),
            "the panicking micro-thread's sender is dropped by its unwinding"
        );
        let p = h.join_within("the panicked micro-thread").unwrap_err();
        assert_eq!(util::panic_text(&*p), Some("after a park"));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn block_on_reraises_and_the_runtime_stays_usable() {
    util::within_limit(|| {
        let rt = Runtime::new().unwrap();
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(|| -> u8 { panic::panic_any(Custom(42)) })
        }));
        let p = r.expect_err("block_on must re-raise");
        assert_eq!(p.downcast_ref::<Custom>(), Some(&Custom(42)));
        assert_eq!(
            rt.block_on(|| spawn(|| 5).join_within("a micro-thread after the panic").unwrap()),
            5
        );
    });
}

#[test]
fn panic_in_global_runtime_micro_thread_is_isolated() {
    util::within_limit(|| {
        let bad = spawn(|| -> u8 { panic!("global boom") });
        let good = spawn(|| 9u8);
        let p = bad.join_within("the panicking micro-thread").unwrap_err();
        assert_eq!(util::panic_text(&*p), Some("global boom"));
        assert_eq!(good.join_within("the micro-thread beside it").unwrap(), 9);
        assert_eq!(spawn(|| 10u8).join_within("a micro-thread after it").unwrap(), 10);
    });
}

#[test]
fn run_after_a_panicking_run() {
    util::within_limit(|| {
        assert!(panic::catch_unwind(|| run(|| -> u8 { panic!("first run") })).is_err());
        assert_eq!(run(|| 3u8), 3);
    });
}

// ---------------------------------------------------------------------------
// A result that panics when dropped (child process)
// ---------------------------------------------------------------------------

/// A micro-thread result that panics when dropped aborts the process with a
/// message, whichever side drops it: the worker (the handle was detached
/// first) or the caller (the handle is dropped after the micro-thread ended).
/// (A regression test: a review found the panic unwinding into the worker,
/// and later the caller's side unwinding where it dropped the handle.)
#[test]
fn a_result_that_panics_when_dropped_aborts_with_a_message() {
    /// Panics when dropped, saying so first on `dropping`.
    struct Bomb(std::sync::mpsc::Sender<()>);
    impl Drop for Bomb {
        fn drop(&mut self) {
            let _ = self.0.send(());
            panic!("boom");
        }
    }
    match util::child_role().as_deref() {
        Some("detached") => {
            let rt = Runtime::new().unwrap();
            let (dropping_tx, dropping_rx) = std::sync::mpsc::channel();
            // Dropping a detached `JoinHandle` never waits for the micro-thread.
            drop(rt.spawn(move || Bomb(dropping_tx)));
            // The worker drops the result meanwhile and the process aborts.
            dropping_rx.recv_within("the worker to drop the detached result");
            // The abort follows the panic at once and ends this process:
            // there is no event to wait for, so this sleep only bounds the
            // wait, after which surviving is the failure.
            std::thread::sleep(PATIENCE);
            println!("CHILD SURVIVED {PATIENCE:?} after the result's destructor panicked");
            std::process::exit(0);
        }
        Some("finished") => {
            let rt = Runtime::new().unwrap();
            let (dropping_tx, dropping_rx) = std::sync::mpsc::channel();
            let handle = rt.spawn(move || Bomb(dropping_tx));
            wait_until("the micro-thread returning a Bomb to finish", || handle.is_finished());
            drop(handle);
            println!("CHILD SURVIVED: dropping the handle returned");
            // Not reached by a correct runtime; says whether the destructor ran.
            println!("destructor ran: {}", dropping_rx.try_recv().is_ok());
            std::process::exit(0);
        }
        _ => {}
    }
    for role in ["detached", "finished"] {
        let out = util::run_child("a_result_that_panics_when_dropped_aborts_with_a_message", role);
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGABRT),
            "{role}: {}",
            util::describe(&out)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("panicked when dropped"), "{role}: {stderr}");
    }
}

// ---------------------------------------------------------------------------
// Stack overflow (child process)
// ---------------------------------------------------------------------------

/// Stack size of the overflowing micro-threads.
const OVERFLOW_STACK: usize = 128 * 1024;

/// Recurses until the stack runs out, touching every frame.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    let mut frame = [0u8; 512];
    frame[(depth % 512) as usize] = depth as u8;
    let frame = black_box(frame);
    black_box(recurse(black_box(depth + 1))) + u64::from(frame[7])
}

/// The ways a message might write 128 KiB.
fn mentions_stack_size(line: &str) -> bool {
    ["131072", "128 KiB", "128KiB", "128 kB", "128kB", "128 KB", "128K"]
        .iter()
        .any(|s| line.contains(s))
}

/// Runs in the child: overflow a micro-thread's stack. Never returns.
fn overflow_in_child(name: Option<&str>) -> ! {
    let rt = RuntimeBuilder::new().workers(2).build().unwrap();
    let name = name.map(str::to_owned);
    rt.block_on(move || {
        // Something else parked on the runtime, to show the abort is not
        // waiting for anyone.
        let (_keep, rx) = bounded::<()>(0);
        let _parked = spawn(move || rx.recv());
        let mut b = Builder::new().stack_size(OVERFLOW_STACK);
        if let Some(name) = name {
            b = b.name(name);
        }
        let h = b.spawn(|| recurse(0)).unwrap();
        let r = h.join();
        println!("CHILD SURVIVED: join returned {:?}", r.is_ok());
    });
    std::process::exit(3);
}

/// The stderr line the overflow handler printed.
fn overflow_line(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "the child must die of SIGABRT\n{}",
        util::describe(out)
    );
    stderr
        .lines()
        .find(|l| l.contains("dhaga: micro-thread"))
        .unwrap_or_else(|| panic!("no `dhaga: micro-thread` line\n{}", util::describe(out)))
        .to_owned()
}

/// Runs of ASCII digits in `s`.
fn numbers(s: &str) -> Vec<&str> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .collect()
}

#[test]
fn stack_overflow_of_a_named_micro_thread_aborts_with_a_message() {
    if util::child_role().as_deref() == Some("overflow-named") {
        overflow_in_child(Some("deep-recursion"));
    }
    let out = util::run_child(
        "stack_overflow_of_a_named_micro_thread_aborts_with_a_message",
        "overflow-named",
    );
    let line = overflow_line(&out);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("CHILD SURVIVED"));
    assert!(line.contains("overflowed its stack"), "line: {line}");
    assert!(
        line.contains("\"deep-recursion\"") || line.contains("'deep-recursion'"),
        "the name in quotes: {line}"
    );
    assert!(mentions_stack_size(&line), "the stack size (128 KiB): {line}");
    // The id and the size are both numbers.
    assert!(numbers(&line).len() >= 2, "the micro-thread's id: {line}");
}

#[test]
fn stack_overflow_of_an_unnamed_micro_thread_aborts_with_a_message() {
    if util::child_role().as_deref() == Some("overflow-unnamed") {
        overflow_in_child(None);
    }
    let out = util::run_child(
        "stack_overflow_of_an_unnamed_micro_thread_aborts_with_a_message",
        "overflow-unnamed",
    );
    let line = overflow_line(&out);
    assert!(line.contains("overflowed its stack"), "line: {line}");
    assert!(mentions_stack_size(&line), "the stack size (128 KiB): {line}");
    assert!(numbers(&line).len() >= 2, "the micro-thread's id: {line}");
}

/// Runs in the child: overflow a micro-thread that starts on another stack
/// than the one reserved for it at spawn (a default-size stack, traded for
/// the warmest one its worker has free). Never returns.
fn overflow_on_a_traded_stack_in_child() -> ! {
    let rt = RuntimeBuilder::new()
        .workers(1)
        .stack_size(OVERFLOW_STACK)
        .build()
        .unwrap();
    rt.block_on(|| {
        // Two stacks freed: the next spawn reserves the one freed first and
        // starts on the one freed last.
        let (a, b) = (spawn(|| 1), spawn(|| 2));
        assert_eq!(a.join().unwrap() + b.join().unwrap(), 3);
        let r = spawn(|| recurse(0)).join();
        println!("CHILD SURVIVED: join returned {:?}", r.is_ok());
    });
    std::process::exit(3);
}

#[test]
fn stack_overflow_on_a_stack_traded_at_start_aborts_with_a_message() {
    if util::child_role().as_deref() == Some("overflow-traded") {
        overflow_on_a_traded_stack_in_child();
    }
    let out = util::run_child(
        "stack_overflow_on_a_stack_traded_at_start_aborts_with_a_message",
        "overflow-traded",
    );
    let line = overflow_line(&out);
    assert!(line.contains("overflowed its stack"), "line: {line}");
    assert!(mentions_stack_size(&line), "the stack size (128 KiB): {line}");
}

// ---------------------------------------------------------------------------
// Stack allocation failure (child process)
// ---------------------------------------------------------------------------

/// The process's virtual memory size in bytes, from /proc/self/status.
fn vm_size() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Sets the soft `RLIMIT_AS` of this process.
fn set_address_space_limit(bytes: libc::rlim_t) {
    let rlim = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: `rlim` is a valid rlimit that lives across the call.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_AS, &rlim) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

/// Runs in the child: limit the address space, spawn until spawning fails,
/// and print what the error was.
fn alloc_failure_in_child() {
    const STACK: usize = 1024 * 1024;
    const HEADROOM: u64 = 64 * 1024 * 1024;
    // One worker: its thread has started by the time the root micro-thread
    // runs, so no thread (with its signal stack) starts under the limit.
    // And no watchdog thread, whose start races with the limit: a first
    // malloc there reserves a 64 MiB arena, the whole headroom, and its
    // signal stack then cannot be mapped (std aborts the process).
    let rt = RuntimeBuilder::new()
        .workers(1)
        .stall_threshold(std::time::Duration::ZERO)
        .on_deadlock(dhaga_runtime::Deadlock::Ignore)
        .build()
        .unwrap();
    let report = rt.block_on(|| {
        let (release_tx, release_rx) = unbounded::<()>();
        let limit = vm_size() + HEADROOM;
        set_address_space_limit(limit);
        let mut alive = Vec::new();
        let mut failure = None;
        for _ in 0..5000 {
            let rx = release_rx.clone();
            match Builder::new().stack_size(STACK).spawn(move || rx.recv().is_err()) {
                Ok(h) => alive.push(h),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let spawned = alive.len();
        let report = match failure {
            Some(e) => format!("ALLOC_RESULT spawned={spawned} kind={:?} msg={e}", e.kind()),
            None => format!("ALLOC_RESULT spawned={spawned} no error"),
        };
        // Report before anything else can go wrong, then lift the limit:
        // what follows checks the runtime, not the limit.
        println!("\n{report}");
        set_address_space_limit(libc::RLIM_INFINITY);
        // The runtime is still usable: the live micro-threads finish.
        drop(release_tx);
        let mut finished = 0;
        for h in alive {
            assert!(
                h.join_within("a live micro-thread released by the disconnect").unwrap(),
                "released by the disconnect"
            );
            finished += 1;
        }
        println!("ALLOC_FINISHED {finished} of {spawned}");
        report
    });
    drop(rt);
    println!("ALLOC_DONE");
    assert!(report.contains("kind=OutOfMemory"));
}

#[test]
fn stack_allocation_failure_is_a_clear_out_of_memory_error() {
    if util::child_role().as_deref() == Some("alloc-failure") {
        alloc_failure_in_child();
        return;
    }
    let out = util::run_child(
        "stack_allocation_failure_is_a_clear_out_of_memory_error",
        "alloc-failure",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("ALLOC_RESULT"))
        .unwrap_or_else(|| panic!("the child printed no result\n{}", util::describe(&out)));
    assert!(!line.contains("no error"), "spawning never failed: {line}");
    assert!(line.contains("kind=OutOfMemory"), "error kind: {line}");
    assert!(line.contains("vm.max_map_count"), "the message names the limit: {line}");
    assert!(
        line.contains("unguarded_stacks") || line.contains("sysctl"),
        "the message names the way out: {line}"
    );
    assert!(
        out.status.success() && stdout.contains("ALLOC_DONE"),
        "after the failure the runtime must go on and shut down cleanly\n{}",
        util::describe(&out)
    );
}

//! Dumps: every micro-thread of a runtime with its id, name, worker, state,
//! where it was spawned, what it waits for in words, and its stack; a
//! worker that a micro-thread keeps is reported with that micro-thread.

mod util;

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use dhaga_runtime::sync::{Mutex, bounded};
use dhaga_runtime::{Builder, Dump, JoinHandle, Runtime, RuntimeBuilder, Source, ThreadState, WaitReason};

use util::{JoinWithin, PATIENCE, wait_until};

/// A dump that every worker answered. A worker whose micro-threads are all
/// parked answers at once, but on a loaded machine it may not get a CPU
/// within the dump's answer window; these tests are about what the answers
/// say, so they ask again until every worker has answered.
fn answered_dump(rt: &Runtime) -> Dump {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let dump = rt.dump();
        if dump.silent_workers().is_empty() {
            return dump;
        }
        assert!(
            Instant::now() < deadline,
            "every worker answers a dump within {PATIENCE:?}:\n{dump}"
        );
    }
}

/// A frame a stack must show.
#[inline(never)]
fn waits_in_a_recognisable_frame(rx: &dhaga_runtime::sync::Receiver<u32>) -> Option<u32> {
    rx.recv().ok()
}

/// Spawns a micro-thread named `name` on `rt` and returns once it parked.
fn parked<T: Send + 'static>(rt: &Runtime, name: &str, body: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    let handle = Builder::new().name(name.to_string()).spawn_on(rt, body).expect("spawn");
    wait_until(&format!("{name} to park"), || handle.is_parked());
    handle
}

#[test]
fn a_dump_says_what_each_parked_micro_thread_waits_for() {
    util::within_limit(|| {
        let rt = RuntimeBuilder::new().workers(2).build().unwrap();
        let (tx, rx) = bounded::<u32>(1);
        let (full_tx, _full_rx) = bounded::<u32>(1);
        full_tx.try_send(0).unwrap();
        let lock = Arc::new(Mutex::new(()));
        let held = lock.lock();
        let (a, _b) = UnixStream::pair().unwrap();
        let fd = a.as_raw_fd();

        let receiver = parked(&rt, "receiver", move || waits_in_a_recognisable_frame(&rx));
        let sender = parked(&rt, "sender", move || full_tx.send(1).is_ok());
        let sleeper = parked(&rt, "sleeper", || dhaga_runtime::sleep(Duration::from_secs(3600)));
        let locker = parked(&rt, "locker", {
            let lock = Arc::clone(&lock);
            move || drop(lock.lock())
        });
        let reader = parked(&rt, "reader", move || Source::new(a).unwrap().readable(None).is_ok());
        let receiver_id = receiver.id();
        let joiner = parked(&rt, "joiner", move || receiver.join().is_ok());

        let dump = answered_dump(&rt);
        let text = dump.to_string();
        let find = |handle_id: u64, name: &str| {
            let thread = dump
                .micro_thread(handle_id)
                .unwrap_or_else(|| panic!("{name} ({handle_id}) is in the dump:\n{text}"));
            assert_eq!(thread.name(), Some(name), "{text}");
            assert_eq!(thread.state(), ThreadState::Parked, "{name}:\n{text}");
            assert!(
                thread.for_how_long().is_some(),
                "{name} has been parked for some time:\n{text}"
            );
            let at = thread.spawned_at().expect("where it was spawned");
            assert!(
                at.file().ends_with("dump.rs"),
                "{name} was spawned in this file, not {at}"
            );
            assert!(
                text.contains(&format!("micro-thread {handle_id} \"{name}\": parked")),
                "{name} in the report:\n{text}"
            );
            thread
                .waiting_for()
                .unwrap_or_else(|| panic!("{name} waits for something:\n{text}"))
                .to_string()
        };
        assert!(
            find(receiver_id, "receiver").starts_with("recv on channel 0x"),
            "{text}"
        );
        assert!(find(sender.id(), "sender").starts_with("send on channel 0x"), "{text}");
        assert_eq!(find(sleeper.id(), "sleeper"), "sleep", "{text}");
        assert!(find(locker.id(), "locker").starts_with("lock of Mutex 0x"), "{text}");
        assert_eq!(find(reader.id(), "reader"), format!("readable fd {fd}"), "{text}");
        assert_eq!(
            find(joiner.id(), "joiner"),
            format!("join of micro-thread {receiver_id}"),
            "{text}"
        );

        let stack = dump
            .micro_thread(receiver_id)
            .unwrap()
            .stack()
            .expect("a parked micro-thread's stack");
        assert!(
            stack.contains("waits_in_a_recognisable_frame"),
            "the receiver's stack shows the frame it parked in:\n{stack}"
        );
        assert!(
            !stack.contains("Running::suspend"),
            "the park machinery is left out of the stack:\n{stack}"
        );

        // The dump woke nobody: each still waits, and ends once given what
        // it waits for.
        tx.send(5).unwrap();
        assert!(joiner.join_within("the joiner").unwrap());
        drop(held);
        locker.join_within("the locker").unwrap();
        assert!(sender.is_parked(), "the dump did not wake the sender");
        drop(rt);
        assert!(sleeper.join_within("the sleeper, unwound by shutdown").is_err());
    });
}

#[test]
fn a_dump_taken_inside_a_micro_thread_shows_it_waiting_for_the_dump() {
    util::within_limit(|| {
        let rt = RuntimeBuilder::new().workers(1).build().unwrap();
        let dumper = rt.spawn(dhaga_runtime::dump);
        let me = dumper.id();
        let dump = dumper.join_within("the micro-thread taking a dump").unwrap();
        let text = dump.to_string();
        let caller = dump
            .micro_thread(me)
            .unwrap_or_else(|| panic!("the caller is listed:\n{text}"));
        assert_eq!(caller.state(), ThreadState::Parked, "{text}");
        assert_eq!(caller.waiting_for(), Some("dump: the workers' answers"), "{text}");
        assert!(caller.stack().is_some_and(|s| s.contains("dump")), "{text}");
    });
}

#[test]
fn a_worker_kept_by_a_micro_thread_is_reported_with_it() {
    util::within_limit(|| {
        let rt = RuntimeBuilder::new().workers(1).build().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let started = Arc::new(Barrier::new(2));
        let hog = Builder::new()
            .name("hog".to_string())
            .spawn_on(&rt, {
                let stop = Arc::clone(&stop);
                let started = Arc::clone(&started);
                move || {
                    started.wait();
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                }
            })
            .unwrap();
        started.wait();
        let dump = rt.dump();
        stop.store(true, Ordering::Relaxed);
        let text = dump.to_string();
        let thread = dump
            .micro_thread(hog.id())
            .unwrap_or_else(|| panic!("the hog is listed:\n{text}"));
        assert_eq!(thread.state(), ThreadState::Running, "{text}");
        assert_eq!(thread.name(), Some("hog"), "{text}");
        assert!(
            thread.stack().is_none(),
            "a running micro-thread's stack is not read:\n{text}"
        );
        assert!(text.contains("worker 0: did not answer"), "{text}");
        hog.join_within("the hog").unwrap();
    });
}

#[test]
fn a_library_names_its_own_waits() {
    static ORDER: WaitReason = WaitReason::new("order from the kitchen, ticket");
    util::within_limit(|| {
        let rt = RuntimeBuilder::new().workers(1).build().unwrap();
        let waiter = parked(&rt, "diner", || {
            while !dhaga_runtime::park_deadline_for(&ORDER, 42, None) {}
        });
        let dump = answered_dump(&rt);
        let text = dump.to_string();
        let thread = dump
            .micro_thread(waiter.id())
            .unwrap_or_else(|| panic!("listed:\n{text}"));
        assert_eq!(
            thread.waiting_for(),
            Some("order from the kitchen, ticket 42"),
            "{text}"
        );
        drop(rt);
        let _ = waiter.join_within("the diner, unwound by shutdown");
    });
}

/// With `dump_on_signal`, the signal writes the dump to stderr. Run in a
/// child process, whose stderr is a pipe it reads itself until the dump is
/// there: the signal's thread writes it without any other notice.
#[test]
fn a_signal_writes_the_dump_to_stderr() {
    if util::child_role().as_deref() == Some("dump on signal") {
        return dump_on_signal_child();
    }
    let out = util::run_child("a_signal_writes_the_dump_to_stderr", "dump on signal");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", util::describe(&out));
    assert!(stdout.contains("dhaga dump: "), "{}", util::describe(&out));
    assert!(
        stdout.contains("\"waiting for a signal\": parked") && stdout.contains("recv on channel 0x"),
        "{}",
        util::describe(&out)
    );
}

fn dump_on_signal_child() {
    use std::io::Read;
    use std::os::fd::FromRawFd;

    let rt = RuntimeBuilder::new()
        .workers(1)
        .dump_on_signal(libc::SIGUSR1)
        .build()
        .unwrap();
    let (_tx, rx) = bounded::<u32>(0);
    let _parked = parked(&rt, "waiting for a signal", move || rx.recv().ok());
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    // SAFETY: both are open descriptors; dup2 makes fd 2 (stderr) the
    // pipe's writing end, which nothing in this process holds as a Rust
    // object.
    assert_eq!(unsafe { libc::dup2(fds[1], 2) }, 2, "dup2");
    // SAFETY: raising a signal this process handles (dump_on_signal).
    assert_eq!(unsafe { libc::raise(libc::SIGUSR1) }, 0, "raise");
    // SAFETY: `fds[0]` is the pipe's reading end, owned by nothing else.
    let mut reading = unsafe { std::fs::File::from_raw_fd(fds[0]) };
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("waiting for a signal") {
        let n = reading.read(&mut buf).expect("the dump on stderr");
        assert!(n > 0, "stderr closed before the dump: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    while !seen.ends_with('\n') || !seen.contains("recv on channel") {
        let n = reading.read(&mut buf).expect("the rest of the dump");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    println!("{seen}");
}

#[test]
fn a_signal_that_cannot_be_caught_is_refused_at_build() {
    let built = RuntimeBuilder::new().workers(1).dump_on_signal(libc::SIGKILL).build();
    assert!(built.is_err(), "SIGKILL cannot be caught");
}

/// A micro-thread that parks inside a coroutine of its own runs on that
/// coroutine's stack, whose room the dump cannot know: its stack is not
/// captured (a capture there crashed the process with 8 KiB left of a 16
/// KiB stack). In a child process, since a crash would take the test
/// binary with it.
#[test]
fn a_micro_thread_parked_inside_its_own_coroutine_is_dumped_without_its_stack() {
    if util::child_role().as_deref() == Some("nested coroutine") {
        return nested_coroutine_child();
    }
    let out = util::run_child(
        "a_micro_thread_parked_inside_its_own_coroutine_is_dumped_without_its_stack",
        "nested coroutine",
    );
    assert!(out.status.success(), "{}", util::describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("(no stack: it parked inside a coroutine of its own)"),
        "{}",
        util::describe(&out)
    );
}

/// Uses stack down to `limit` + `leave`, then runs `f`.
#[inline(never)]
fn burn_stack(limit: usize, leave: usize, f: &mut dyn FnMut()) {
    let pad = [0u8; 256];
    std::hint::black_box(&pad);
    let here = std::ptr::addr_of!(pad) as usize;
    if here - limit <= leave {
        f();
    } else {
        burn_stack(limit, leave, f);
    }
    std::hint::black_box(&pad);
}

fn nested_coroutine_child() {
    use corosensei::stack::{DefaultStack, Stack};
    use corosensei::{Coroutine, Yielder};

    let inner = DefaultStack::new(16 * 1024).unwrap();
    let limit = inner.limit().get();
    let rt = RuntimeBuilder::new().workers(1).build().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let (unparker_tx, unparker_rx) = std::sync::mpsc::channel();
    let thread = rt.spawn({
        let done = Arc::clone(&done);
        move || {
            unparker_tx.send(dhaga_runtime::current_unparker()).unwrap();
            let mut coroutine = Coroutine::with_stack(inner, move |_: &Yielder<(), ()>, ()| {
                burn_stack(limit, 8 * 1024, &mut || {
                    while !done.load(Ordering::Acquire) {
                        dhaga_runtime::park();
                    }
                });
            });
            let _ = coroutine.resume(());
        }
    });
    let unparker = unparker_rx
        .recv_timeout(util::PATIENCE)
        .expect("the micro-thread starts");
    wait_until("the micro-thread to park in its coroutine", || thread.is_parked());
    println!("{}", rt.dump());
    done.store(true, Ordering::Release);
    unparker.unpark();
    thread.join_within("the micro-thread").unwrap();
}

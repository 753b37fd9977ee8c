//! Dumps: what every micro-thread of a runtime is doing, and what each
//! parked one waits for, with its stack.
//!
//! # How a dump is taken
//!
//! A worker's micro-threads live in its own table, which only its thread
//! touches, and a parked micro-thread's stack can be walked soundly only by
//! code running on that stack. So the caller of [`Runtime::dump`] does not
//! read the workers: it asks them. It leaves a request with each worker and
//! wakes it; each worker answers between two micro-threads (at its next
//! maintenance round, or before it sleeps), listing its table. For each
//! micro-thread it reads what the micro-thread noted before it last parked
//! (a [`WaitReason`](crate::WaitReason), a number, and when, on a coarse
//! clock: a few plain stores per park) and, for its stack, resumes it with
//! a request that its park point answers by capturing a backtrace and
//! suspending again (`Running::suspend`), without waking it. Symbols are
//! resolved by the caller, when the dump is displayed, not by the workers.
//! (The workers' side, the mailbox and the records they answer with, is
//! `sched/inspect.rs`; this module makes the report from the records.)
//!
//! A worker that does not answer within [`ANSWER_WITHIN`] is running one
//! micro-thread that keeps it (the watchdog's case): the dump names that
//! micro-thread, from the record the worker publishes for the watchdog,
//! without a stack.
//!
//! [`Runtime::dump`]: crate::Runtime::dump

use std::backtrace::Backtrace;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{Ordering, fence};
use std::time::{Duration, Instant};

use crate::coroutine::Captured;
use crate::park;
use crate::sched::{Request, Shared, ThreadRecord, Unparker};
use crate::wait::{Waiting, reason};

/// How long a dump waits for each worker's answer.
pub(crate) const ANSWER_WITHIN: Duration = Duration::from_millis(250);

/// Where a micro-thread was when the dump was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// On its worker's CPU, which it has kept since the dump was asked for.
    Running,
    /// Runnable, waiting for its turn (woken, or yielded).
    Ready,
    /// Parked: waiting for what [`MicroThreadDump::waiting_for`] says.
    Parked,
}

impl fmt::Display for ThreadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ThreadState::Running => "running",
            ThreadState::Ready => "ready",
            ThreadState::Parked => "parked",
        })
    }
}

/// One micro-thread in a [`Dump`].
#[derive(Debug, Clone)]
pub struct MicroThreadDump {
    id: u64,
    name: Option<Arc<str>>,
    worker: usize,
    state: ThreadState,
    for_how_long: Option<Duration>,
    spawned_at: Option<&'static Location<'static>>,
    waiting_for: Option<String>,
    /// Parked on a wait only another thread can end.
    only_threads: bool,
    /// Joining this micro-thread.
    joins: Option<u64>,
    stack: Stack,
}

/// A micro-thread's stack in a dump.
#[derive(Debug, Clone)]
enum Stack {
    Captured(Arc<Backtrace>),
    Missing(&'static str),
}

impl MicroThreadDump {
    /// The report of what a worker said of one of its micro-threads.
    fn from_record(record: ThreadRecord) -> MicroThreadDump {
        let waiting = record.waiting;
        MicroThreadDump {
            id: record.id,
            name: record.name,
            worker: record.worker,
            state: if record.parked {
                ThreadState::Parked
            } else {
                ThreadState::Ready
            },
            for_how_long: waiting.map(|(_, _, how_long)| how_long),
            spawned_at: record.spawned_at,
            waiting_for: waiting.map(|(reason, number, _)| reason.describe(number)),
            only_threads: waiting.is_some_and(|(reason, _, _)| reason.only_threads()),
            joins: waiting
                .filter(|(waiting, _, _)| std::ptr::eq(*waiting, &reason::JOIN))
                .map(|(_, id, _)| id),
            stack: match record.stack {
                Some(Captured::Stack(backtrace)) => Stack::Captured(backtrace),
                Some(Captured::TooDeep) => Stack::Missing("too little of its stack is left to walk it"),
                Some(Captured::Elsewhere) => Stack::Missing("it parked inside a coroutine of its own"),
                None => Stack::Missing("not asked for"),
            },
        }
    }

    /// Its id (as in [`JoinHandle::id`](crate::JoinHandle::id)).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Its name, if it was given one ([`Builder::name`](crate::Builder::name)).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The worker it runs on.
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// Running, ready or parked.
    pub fn state(&self) -> ThreadState {
        self.state
    }

    /// How long it has been parked, or running (to a few milliseconds).
    pub fn for_how_long(&self) -> Option<Duration> {
        self.for_how_long
    }

    /// Where it was spawned.
    pub fn spawned_at(&self) -> Option<&'static Location<'static>> {
        self.spawned_at
    }

    /// What it waits for, in words (parked micro-threads): e.g. `recv on
    /// channel 0x…`, `sleep`, `readable fd 7`, `lock of Mutex 0x…`, `join of
    /// micro-thread 12`.
    pub fn waiting_for(&self) -> Option<&str> {
        self.waiting_for.as_deref()
    }

    /// Whether it is parked on a wait only another thread can end.
    pub(crate) fn only_threads_can_wake(&self) -> bool {
        self.only_threads
    }

    /// The micro-thread it joins, if it is parked joining one.
    pub(crate) fn joins(&self) -> Option<u64> {
        self.joins
    }

    /// Its stack, the runtime's own frames left out; `None` if it could not
    /// be captured (a running micro-thread's cannot).
    pub fn stack(&self) -> Option<String> {
        match &self.stack {
            Stack::Captured(backtrace) => Some(user_frames(&backtrace.to_string())),
            Stack::Missing(_) => None,
        }
    }
}

/// Everything a runtime's micro-threads were doing, micro-thread by
/// micro-thread: see [`Runtime::dump`](crate::Runtime::dump) and
/// [`dump`](crate::dump()). Its `Display` is the report.
#[derive(Debug)]
pub struct Dump {
    threads: Vec<MicroThreadDump>,
    workers: usize,
    /// Workers that did not answer in time.
    silent: Vec<usize>,
    not_started: usize,
    thread_mode: bool,
}

impl Dump {
    /// Every micro-thread found, by worker.
    pub fn micro_threads(&self) -> &[MicroThreadDump] {
        &self.threads
    }

    /// The micro-thread with this id, if it was found.
    pub fn micro_thread(&self, id: u64) -> Option<&MicroThreadDump> {
        self.threads.iter().find(|thread| thread.id == id)
    }

    /// The workers that did not answer within the dump's window: each was
    /// kept by the micro-thread listed as running on it, or did not get a
    /// CPU in time on a loaded machine.
    pub fn silent_workers(&self) -> &[usize] {
        &self.silent
    }

    /// Micro-threads spawned and not started yet (not listed).
    pub fn not_started(&self) -> usize {
        self.not_started
    }
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.thread_mode {
            return writeln!(
                f,
                "dhaga dump: the runtime is in thread mode: its micro-threads are OS threads, which a \
                 debugger lists"
            );
        }
        writeln!(
            f,
            "dhaga dump: {} micro-threads on {} workers, {} not started yet",
            self.threads.len(),
            self.workers,
            self.not_started
        )?;
        for worker in 0..self.workers {
            let silent = self.silent.contains(&worker);
            writeln!(
                f,
                "worker {worker}:{}",
                if silent {
                    " did not answer: a micro-thread keeps it (its other micro-threads are not listed)"
                } else {
                    ""
                }
            )?;
            for thread in self.threads.iter().filter(|thread| thread.worker == worker) {
                write!(f, "  micro-thread {}", thread.id)?;
                if let Some(name) = &thread.name {
                    write!(f, " \"{name}\"")?;
                }
                write!(f, ": {}", thread.state)?;
                if let Some(how_long) = thread.for_how_long {
                    write!(f, " for {} ms", how_long.as_millis())?;
                }
                if let Some(what) = &thread.waiting_for {
                    write!(f, ", waiting for {what}")?;
                }
                if let Some(at) = thread.spawned_at {
                    write!(f, "; spawned at {}:{}:{}", at.file(), at.line(), at.column())?;
                }
                writeln!(f)?;
                match &thread.stack {
                    Stack::Captured(backtrace) => {
                        for line in user_frames(&backtrace.to_string()).lines() {
                            writeln!(f, "    {line}")?;
                        }
                    }
                    Stack::Missing(why) => writeln!(f, "    (no stack: {why})")?,
                }
            }
        }
        Ok(())
    }
}

/// A backtrace taken at a park point, without the frames of the park
/// machinery above the caller's code and of the coroutine's start below it.
fn user_frames(backtrace: &str) -> String {
    // std's format: "  N: symbol" lines, each followed by "at file:line"
    // lines.
    let mut frames: Vec<Vec<&str>> = Vec::new();
    for line in backtrace.lines() {
        let trimmed = line.trim_start();
        let is_frame = trimmed
            .split_once(": ")
            .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if is_frame || frames.is_empty() {
            frames.push(vec![trimmed]);
        } else if let Some(frame) = frames.last_mut() {
            frame.push(trimmed);
        }
    }
    let symbol = |frame: &Vec<&str>| frame[0].split_once(": ").map_or("", |(_, s)| s).to_string();
    let machinery = |s: &str| {
        s.starts_with("std::backtrace")
            || s.starts_with("dhaga_runtime::dump::")
            || s.starts_with("dhaga_runtime::coroutine")
            || s.starts_with("dhaga_runtime::sched::")
            || s.starts_with("dhaga_runtime::park::")
            || s.starts_with("dhaga_runtime::task")
            || s.starts_with("std::thread::local")
            || s.starts_with("<std::thread::local")
            || s.starts_with("__rust")
    };
    let first = frames.iter().position(|f| !machinery(&symbol(f))).unwrap_or(0);
    let end = frames
        .iter()
        .skip(first)
        .position(|f| {
            let s = symbol(f);
            s.starts_with("dhaga_runtime::join::Completer")
                || s.starts_with("dhaga_runtime::coroutine::MicroThread::prepare")
                || s.starts_with("corosensei")
        })
        .map_or(frames.len(), |n| first + n);
    let mut out = String::new();
    for frame in &frames[first..end] {
        for line in frame {
            if !out.is_empty() {
                out.push('\n');
            }
            if !line.starts_with("at ") {
                out.push_str(line);
            } else {
                out.push_str("    ");
                out.push_str(line);
            }
        }
    }
    out
}

/// Takes a dump of the runtime `shared`.
pub(crate) fn take(shared: &Arc<Shared>) -> Dump {
    take_with(shared, true)
}

/// Takes a dump of the runtime `shared`, with or without stacks (which
/// cost a walk of each micro-thread's stack).
pub(crate) fn take_with(shared: &Arc<Shared>, stacks: bool) -> Dump {
    let workers = shared.workers.len();
    let thread_mode = shared.config.thread_mode;
    if thread_mode || workers == 0 || shared.is_shutdown() {
        return Dump {
            threads: Vec::new(),
            workers,
            silent: Vec::new(),
            not_started: 0,
            thread_mode,
        };
    }
    let request = Arc::new(Request::new(stacks, workers, Unparker::current()));
    for worker in shared.workers.iter() {
        worker.dump.post(Arc::clone(&request));
        // Pairs with the fence in `Worker::sleep`: either the worker sees the
        // request before it sleeps, or we see it asleep and wake it.
        fence(Ordering::SeqCst);
        worker.wake();
    }
    let deadline = Instant::now() + ANSWER_WITHIN;
    // A micro-thread that is unwinding cannot park: its parks return at
    // once, and its own worker cannot answer while it runs. It gets what
    // the others answered by then (none, most likely).
    while request.remaining() > 0 && Instant::now() < deadline && !park::cannot_park() {
        park::park(Waiting::on(&reason::DUMP), Some(deadline));
    }
    let mut answers = request.take_answers();
    let mut threads = Vec::new();
    let mut silent = Vec::new();
    let mut not_started = shared.injector.len();
    for (index, answer) in answers.iter_mut().enumerate() {
        match answer.take() {
            Some(answer) => {
                threads.extend(answer.threads.into_iter().map(MicroThreadDump::from_record));
                not_started += answer.not_started;
            }
            None => {
                silent.push(index);
                if let Some(running) = shared.workers[index].on_cpu.running_now() {
                    threads.push(MicroThreadDump {
                        id: running.task,
                        name: running.name,
                        worker: index,
                        state: ThreadState::Running,
                        for_how_long: None,
                        spawned_at: running.spawned_at,
                        waiting_for: None,
                        only_threads: false,
                        joins: None,
                        stack: Stack::Missing("a running micro-thread's stack cannot be read from another thread"),
                    });
                }
            }
        }
    }
    Dump {
        threads,
        workers,
        silent,
        not_started,
        thread_mode,
    }
}

/// The thread of [`RuntimeBuilder::dump_on_signal`]: waits for the signal
/// (delivered by `signal-hook`'s handler through a self-pipe) and writes a
/// dump of its runtime to stderr each time.
///
/// [`RuntimeBuilder::dump_on_signal`]: crate::RuntimeBuilder::dump_on_signal
pub(crate) struct DumpOnSignal {
    handle: signal_hook::iterator::Handle,
    thread: std::thread::JoinHandle<()>,
}

impl DumpOnSignal {
    pub(crate) fn start(shared: &Arc<Shared>, signal: libc::c_int) -> std::io::Result<DumpOnSignal> {
        // Fault signals are the overflow report's (`signal.rs`) or cannot be
        // caught at all; signal-hook would panic on some of them.
        if signal_hook::consts::FORBIDDEN.contains(&signal) || signal == libc::SIGBUS {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("dump_on_signal: signal {signal} cannot be caught, or reports faults"),
            ));
        }
        let mut signals = signal_hook::iterator::Signals::new([signal])?;
        let handle = signals.handle();
        let shared = Arc::downgrade(shared);
        let thread = std::thread::Builder::new()
            .name("dhaga-dump-signal".into())
            .spawn(move || {
                for _ in signals.forever() {
                    let Some(shared) = shared.upgrade() else { return };
                    let dump = take(&shared);
                    drop(shared);
                    // One write of the whole report, so that it is not
                    // interleaved with other output line by line.
                    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), dump.to_string().as_bytes());
                }
            });
        match thread {
            Ok(thread) => Ok(DumpOnSignal { handle, thread }),
            Err(e) => {
                handle.close();
                Err(e)
            }
        }
    }

    /// Stops listening for the signal (its handler stays, writing to a
    /// closed pipe) and ends the thread.
    pub(crate) fn stop(self) {
        self.handle.close();
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_frames_drop_the_park_machinery_and_the_coroutine_start() {
        let backtrace = "   0: std::backtrace::Backtrace::force_capture
             at /rustc/library/std/src/backtrace.rs:312:9
   1: dhaga_runtime::coroutine::Running::suspend
             at ./src/coroutine.rs:208:18
   2: dhaga_runtime::park::park
   3: dhaga_runtime::sync::channel::Receiver<T>::recv
             at ./src/sync/channel.rs:100:5
   4: app::serve
             at ./src/main.rs:20:9
   5: dhaga_runtime::coroutine::MicroThread::prepare::{{closure}}
   6: corosensei::coroutine::on_stack
";
        assert_eq!(
            user_frames(backtrace),
            "3: dhaga_runtime::sync::channel::Receiver<T>::recv\n    at ./src/sync/channel.rs:100:5\n4: \
             app::serve\n    at ./src/main.rs:20:9"
        );
    }
}

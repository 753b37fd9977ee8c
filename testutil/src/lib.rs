//! Helpers shared by the integration tests of the dhaga crates: a guard
//! that turns a hang into a failure, a runner that re-executes the test
//! binary as a child process, and a way to run the same code on an OS thread
//! or on a micro-thread.

use std::any::Any;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use dhaga_runtime::Runtime;

/// Environment variable that tells a re-executed test binary which crashing
/// (or limit-breaking) part of a test to run.
pub const CHILD_ENV: &str = "DHAGA_TEST_CHILD";

/// How long any test body may run before it is declared hung. Generous: the
/// tests are meant to finish in a few seconds, this only stops a hang from
/// stalling the whole suite.
pub const HANG_LIMIT: Duration = Duration::from_secs(120);

/// The role this process was started with by [`run_child`], if any.
pub fn child_role() -> Option<String> {
    std::env::var(CHILD_ENV).ok()
}

/// Re-executes the current test binary to run only `test_name`, with
/// [`CHILD_ENV`] set to `role`, and returns its exit status and output.
///
/// A child that has not exited after [`HANG_LIMIT`] is killed (by its pid)
/// and the calling test fails.
pub fn run_child(test_name: &str, role: &str) -> Output {
    let exe = std::env::current_exe().expect("current_exe");
    let child = Command::new(exe)
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, role)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child test process");
    output_within(child, HANG_LIMIT, &format!("child `{test_name}` (role {role})"))
}

/// Waits for `child` to exit and returns its output; fails the test,
/// naming `what`, if it has not exited within `limit` (the child is killed
/// by its pid then).
#[track_caller]
pub fn output_within(child: Child, limit: Duration, what: &str) -> Output {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap_or_else(|e| panic!("cannot wait for {what}: {e}")),
        Err(_) => {
            // SAFETY: `pid` is the id of a child nobody has reaped yet (the
            // waiting thread is still blocked on it); kill(2) touches no
            // memory of ours.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("{what} did not exit within {limit:?}");
        }
    }
}

/// The path of an example program of the package whose tests call this,
/// built by `cargo test` beside the test binary
/// (`target/<profile>/examples/`); built here (with `cargo`, in
/// `manifest_dir`) if a filtered run skipped it. Call it as
/// `example_program(name, env!("CARGO"), env!("CARGO_MANIFEST_DIR"))`.
pub fn example_program(name: &str, cargo: &str, manifest_dir: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target/<profile>/deps/<test>");
    let program = profile_dir.join("examples").join(name);
    if !program.exists() {
        let profile = profile_dir
            .file_name()
            .and_then(|p| p.to_str())
            .expect("a profile directory");
        let profile = if profile == "debug" { "dev" } else { profile };
        let status = Command::new(cargo)
            .args(["build", "--example", name, "--profile", profile])
            .current_dir(manifest_dir)
            .status()
            .expect("run cargo");
        assert!(status.success(), "cargo build --example {name} failed");
    }
    program
}

/// Formats a child's output for an assertion message.
pub fn describe(out: &Output) -> String {
    format!(
        "status: {:?}\n--- child stdout ---\n{}\n--- child stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `f` on a fresh OS thread and returns its value, re-raising its panic.
/// If `f` has not returned after [`HANG_LIMIT`], the test fails instead of
/// hanging (the stuck thread is left behind; the test process exits anyway).
pub fn within_limit<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("test-body".into())
        .spawn(move || {
            let _ = tx.send(panic::catch_unwind(AssertUnwindSafe(f)));
        })
        .expect("spawn test body thread");
    match rx.recv_timeout(HANG_LIMIT) {
        Ok(Ok(v)) => v,
        Ok(Err(payload)) => panic::resume_unwind(payload),
        Err(_) => panic!("test body did not finish within {HANG_LIMIT:?}: something hangs"),
    }
}

/// The text of a panic payload (`&str` or `String`), if it has one.
pub fn panic_text(payload: &(dyn Any + Send)) -> Option<&str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Some(s)
    } else {
        payload.downcast_ref::<String>().map(String::as_str)
    }
}

/// Where a piece of test code runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ctx {
    /// A plain OS thread (`std::thread::spawn`): blocking calls block it.
    Os,
    /// A micro-thread of the given runtime: blocking calls park it.
    Micro,
}

/// Both contexts, for tests that run one piece of code in each.
pub const CTXS: [Ctx; 2] = [Ctx::Os, Ctx::Micro];

/// Every pairing of contexts, for "between micro-threads, between OS threads,
/// and mixed" tests.
pub const CTX_PAIRS: [(Ctx, Ctx); 4] = [
    (Ctx::Os, Ctx::Os),
    (Ctx::Os, Ctx::Micro),
    (Ctx::Micro, Ctx::Os),
    (Ctx::Micro, Ctx::Micro),
];

/// A piece of test code started by [`start`].
pub enum Task<T> {
    /// Running on an OS thread, whose kernel thread id is filled in as it
    /// starts (for [`Task::wait_parked`]).
    Os(thread::JoinHandle<T>, Arc<OnceLock<i32>>),
    /// Running on a micro-thread.
    Micro(dhaga_runtime::JoinHandle<T>),
}

impl<T: Send + 'static> Task<T> {
    /// Starts `f` on a new OS thread.
    pub fn os_thread<F>(f: F) -> Task<T>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let tid = Arc::new(OnceLock::new());
        let mine = Arc::clone(&tid);
        let handle = thread::spawn(move || {
            // SAFETY: gettid has no preconditions and cannot fail.
            let _ = mine.set(unsafe { libc::gettid() });
            f()
        });
        Task::Os(handle, tid)
    }
}

impl<T> Task<T> {
    /// Waits for the task and returns its value, re-raising its panic.
    /// Fails the test, naming `what`, if it has not ended within
    /// [`PATIENCE`].
    #[track_caller]
    pub fn join_within(self, what: &str) -> T {
        let result = match self {
            Task::Os(h, _) => h.join_within(what),
            Task::Micro(h) => h.join_within(what),
        };
        result.unwrap_or_else(|payload| panic::resume_unwind(payload))
    }

    /// Waits for the task and returns its value, re-raising its panic. The
    /// wait is bounded by the test's hang guard only: prefer
    /// [`Task::join_within`], which names what was waited for.
    pub fn join(self) -> T {
        let result = match self {
            Task::Os(h, _) => h.join(),
            Task::Micro(h) => h.join(),
        };
        result.unwrap_or_else(|payload| panic::resume_unwind(payload))
    }

    /// Waits until the task is parked (blocked, for an OS thread), so that
    /// a test can order "the waiter is waiting" before "wake it" without a
    /// sleep. Fails the test, naming `what`, after [`PATIENCE`].
    ///
    /// Call it after the task has reported (on a channel) that it is about
    /// to make the blocking call in question, and use buffered channels for
    /// such reports: then its first park after the report is that call.
    /// A micro-thread's state comes from [`dhaga_runtime::JoinHandle::is_parked`];
    /// an OS thread's from the kernel (`/proc/self/task/<tid>/stat`, state
    /// `S`), so this needs Linux for OS threads.
    #[track_caller]
    pub fn wait_parked(&self, what: &str) {
        wait_until(what, || self.is_parked());
    }

    /// Whether the task is parked (blocked, for an OS thread) right now: see
    /// [`Task::wait_parked`]. A snapshot.
    pub fn is_parked(&self) -> bool {
        match self {
            Task::Micro(h) => h.is_parked(),
            Task::Os(_, tid) => tid.get().is_some_and(|&tid| os_thread_sleeps(tid)),
        }
    }

    /// Whether the task has ended (its result is ready).
    pub fn is_finished(&self) -> bool {
        match self {
            Task::Os(h, _) => h.is_finished(),
            Task::Micro(h) => h.is_finished(),
        }
    }
}

/// The kernel's id of the calling OS thread, for [`os_thread_sleeps`] and
/// [`wait_os_thread_blocked`].
pub fn current_tid() -> i32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() }
}

/// Waits until the OS thread `tid` of this process is blocked in the kernel
/// ([`os_thread_sleeps`]); fails the test, naming `what`, after
/// [`PATIENCE`].
///
/// For a thread that [`Task::wait_parked`] cannot see: a worker blocked by
/// an unwinding micro-thread, or a thread-mode micro-thread blocked in a
/// system call (a socket wait), which `JoinHandle::is_parked` does not
/// count. The thread reports (sending [`current_tid`]) on a buffered channel
/// just before the call, so that its first sleep after the report is that
/// call.
#[track_caller]
pub fn wait_os_thread_blocked(what: &str, tid: i32) {
    wait_until(what, || os_thread_sleeps(tid));
}

/// Whether the kernel reports the thread `tid` of this process as sleeping
/// (state `S`: blocked in a futex, a `poll`, a `read`...). False once the
/// thread has ended.
#[cfg(target_os = "linux")]
pub fn os_thread_sleeps(tid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else {
        return false; // the thread has ended
    };
    // "tid (comm) S ...": the command may hold spaces and parentheses.
    stat.rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('S'))
}

#[cfg(not(target_os = "linux"))]
pub fn os_thread_sleeps(_tid: i32) -> bool {
    panic!("Task::wait_parked needs /proc to see an OS thread's state (Linux)")
}

/// Starts `f` in the given context; micro-threads go on `rt`.
pub fn start<T, F>(rt: &Runtime, ctx: Ctx, f: F) -> Task<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match ctx {
        Ctx::Os => Task::os_thread(f),
        Ctx::Micro => Task::Micro(rt.spawn(f)),
    }
}

/// Starts `f` on an OS thread or a micro-thread of the default runtime
/// (the one `dhaga_runtime::spawn` uses outside any runtime).
pub fn start_default<T, F>(ctx: Ctx, f: F) -> Task<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match ctx {
        Ctx::Os => Task::os_thread(f),
        Ctx::Micro => Task::Micro(dhaga_runtime::spawn(f)),
    }
}

/// How long a test waits for any one thing (a message, a thread's end, a
/// state) before it fails, naming what it waited for. Generous: on a loaded
/// 2-core machine an event that normally takes microseconds can take
/// hundreds of milliseconds; this only turns a hang into a clear failure.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Fails the test: `what` did not happen within [`PATIENCE`].
#[track_caller]
fn gave_up(what: &str, detail: &dyn std::fmt::Display) -> ! {
    panic!("waited {PATIENCE:?} for {what}: {detail}")
}

/// Polls `condition` until it holds; fails the test, naming `what`, if it
/// does not within [`PATIENCE`]. For states that have no event to wait on
/// (a thread parked, a counter reached); between polls the caller yields
/// (a micro-thread) or sleeps 100 µs (an OS thread).
#[track_caller]
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        if Instant::now() >= deadline {
            gave_up(what, &"it never happened");
        }
        if dhaga_runtime::in_micro_thread() {
            dhaga_runtime::yield_now();
        } else {
            thread::sleep(Duration::from_micros(100));
        }
    }
}

/// A receive bounded by [`PATIENCE`]: `rx.recv_within("the reply")` fails
/// the test with "waited 30s for the reply: ..." instead of hanging.
pub trait RecvWithin<T> {
    /// Receives a value, failing the test (naming `what`) on a timeout or a
    /// disconnection.
    #[track_caller]
    fn recv_within(&self, what: &str) -> T;
}

impl<T> RecvWithin<T> for dhaga_runtime::sync::Receiver<T> {
    #[track_caller]
    fn recv_within(&self, what: &str) -> T {
        self.recv_timeout(PATIENCE).unwrap_or_else(|e| gave_up(what, &e))
    }
}

impl<T> RecvWithin<T> for mpsc::Receiver<T> {
    #[track_caller]
    fn recv_within(&self, what: &str) -> T {
        self.recv_timeout(PATIENCE).unwrap_or_else(|e| gave_up(what, &e))
    }
}

/// A join bounded by [`PATIENCE`], returning what `join` returns.
pub trait JoinWithin<T> {
    /// Waits for the thread or micro-thread to end; fails the test (naming
    /// `what`) if it has not within [`PATIENCE`].
    #[track_caller]
    fn join_within(self, what: &str) -> thread::Result<T>;
}

impl<T> JoinWithin<T> for dhaga_runtime::JoinHandle<T> {
    #[track_caller]
    fn join_within(self, what: &str) -> thread::Result<T> {
        self.join_timeout(PATIENCE)
            .unwrap_or_else(|_| gave_up(what, &"the micro-thread did not end"))
    }
}

impl<T> JoinWithin<T> for dhaga_runtime::ScopedJoinHandle<'_, T> {
    #[track_caller]
    fn join_within(self, what: &str) -> thread::Result<T> {
        // No timed join for a scoped micro-thread: poll for the end (polling
        // a state, not ordering anything), then take the result.
        wait_until(what, || self.is_finished());
        self.join()
    }
}

impl<T> JoinWithin<T> for thread::JoinHandle<T> {
    #[track_caller]
    fn join_within(self, what: &str) -> thread::Result<T> {
        // std has no timed join: poll for the end (polling a state, not
        // ordering anything).
        wait_until(what, || self.is_finished());
        self.join()
    }
}

/// Runs `f` in the given context and returns its value.
pub fn run_in<T, F>(rt: &Runtime, ctx: Ctx, f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    start(rt, ctx, f).join()
}

/// The soft and hard limits on open files (`RLIMIT_NOFILE`).
#[allow(clippy::unnecessary_cast)] // `rlim_t` is not `u64` on every Unix.
pub fn nofile_limit() -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable `rlimit` for getrlimit to fill.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(rc, 0, "getrlimit: {}", io::Error::last_os_error());
    (lim.rlim_cur as u64, lim.rlim_max as u64)
}

/// Sets the soft limit on open files to `soft`, keeping the hard limit.
pub fn set_nofile_soft_limit(soft: u64) {
    let (_, hard) = nofile_limit();
    let lim = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: `lim` is a valid `rlimit`; setrlimit only reads it.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    assert_eq!(
        rc,
        0,
        "setrlimit(RLIMIT_NOFILE, {soft}): {}",
        io::Error::last_os_error()
    );
}

/// Raises the soft limit on open files to the hard limit and returns it.
pub fn raise_nofile_limit() -> u64 {
    let (soft, hard) = nofile_limit();
    if soft < hard {
        set_nofile_soft_limit(hard);
    }
    hard
}

/// The highest file descriptor this process has open, read from
/// `/proc/self/fd` (Linux) or `/dev/fd` (the BSDs and macOS).
pub fn highest_open_fd() -> u64 {
    let dir = std::fs::read_dir("/proc/self/fd")
        .or_else(|_| std::fs::read_dir("/dev/fd"))
        .expect("list open file descriptors");
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .unwrap_or(2)
}

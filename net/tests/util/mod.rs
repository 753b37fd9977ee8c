//! Helpers shared by the integration tests of `dhaga-net`: a guard that turns
//! a hang into a failure, a runner that re-executes the test binary as a
//! child process, a way to run the same code on an OS thread or on a
//! micro-thread, byte patterns, temporary socket directories, and the
//! process-wide limits and counters (open files, CPU time) some tests need.
//!
//! Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{self, ErrorKind};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use dhaga_runtime::Runtime;

/// Environment variable that tells a re-executed test binary which part of
/// a test to run.
pub(crate) const CHILD_ENV: &str = "DHAGA_TEST_CHILD";

/// How long any test body may run before it is declared hung. Generous: the
/// tests finish in a few seconds, this only stops a hang from stalling the
/// whole suite.
pub(crate) const HANG_LIMIT: Duration = Duration::from_secs(60);

/// The role this process was started with by [`run_child`], if any.
pub(crate) fn child_role() -> Option<String> {
    std::env::var(CHILD_ENV).ok()
}

/// Re-executes the current test binary to run only `test_name`, with
/// [`CHILD_ENV`] set to `role`, and returns its exit status and output.
///
/// A child that has not exited after [`HANG_LIMIT`] is killed (by its pid)
/// and the calling test fails.
pub(crate) fn run_child(test_name: &str, role: &str) -> Output {
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
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(HANG_LIMIT) {
        Ok(out) => out.expect("wait for child test process"),
        Err(_) => {
            // SAFETY: `pid` is the id of the child this function started and
            // has not yet reaped (the waiting thread is still blocked on it).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("child `{test_name}` (role {role}) did not exit within {HANG_LIMIT:?}");
        }
    }
}

/// Formats a child's output for an assertion message.
pub(crate) fn describe(out: &Output) -> String {
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
pub(crate) fn within_limit<T, F>(f: F) -> T
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

/// Where a piece of test code runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ctx {
    /// A plain OS thread (`std::thread::spawn`): blocking calls block it.
    Os,
    /// A micro-thread of the given runtime: blocking calls park it.
    Micro,
}

/// Both contexts, for tests that run one piece of code in each.
pub(crate) const CTXS: [Ctx; 2] = [Ctx::Os, Ctx::Micro];

/// Every pairing of contexts, for "between micro-threads, between OS threads,
/// and mixed" tests.
pub(crate) const CTX_PAIRS: [(Ctx, Ctx); 4] = [
    (Ctx::Os, Ctx::Os),
    (Ctx::Os, Ctx::Micro),
    (Ctx::Micro, Ctx::Os),
    (Ctx::Micro, Ctx::Micro),
];

/// A piece of test code started by [`start`].
pub(crate) enum Task<T> {
    /// Running on an OS thread.
    Os(thread::JoinHandle<T>),
    /// Running on a micro-thread.
    Micro(dhaga_runtime::JoinHandle<T>),
}

impl<T> Task<T> {
    /// Waits for the task and returns its value, re-raising its panic.
    pub(crate) fn join(self) -> T {
        let result = match self {
            Task::Os(h) => h.join(),
            Task::Micro(h) => h.join(),
        };
        result.unwrap_or_else(|payload| panic::resume_unwind(payload))
    }
}

/// Starts `f` in the given context; micro-threads go on `rt`.
pub(crate) fn start<T, F>(rt: &Runtime, ctx: Ctx, f: F) -> Task<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match ctx {
        Ctx::Os => Task::Os(thread::spawn(f)),
        Ctx::Micro => Task::Micro(rt.spawn(f)),
    }
}

/// Runs `f` in the given context and returns its value.
pub(crate) fn run_in<T, F>(rt: &Runtime, ctx: Ctx, f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    start(rt, ctx, f).join()
}

/// A runtime with `workers` worker threads.
pub(crate) fn runtime(workers: usize) -> Runtime {
    Runtime::builder().workers(workers).build().expect("build a runtime")
}

/// `len` bytes that depend on `seed` and on their position, so that a byte
/// delivered to the wrong place, twice or not at all is noticed.
pub(crate) fn pattern(seed: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(31).wrapping_add(seed.wrapping_mul(7919)) % 251) as u8)
        .collect()
}

/// The byte at `pos` of an endless stream whose bytes are `pos % 251`.
pub(crate) fn stream_byte(pos: u64) -> u8 {
    (pos % 251) as u8
}

/// Bytes `from..from + len` of the stream of [`stream_byte`].
pub(crate) fn stream_chunk(from: u64, len: usize) -> Vec<u8> {
    (from..from + len as u64).map(stream_byte).collect()
}

/// Checks that `res` is a timeout as `std` reports it for a socket with a
/// read or write timeout on Unix (`WouldBlock`), and that the call took at
/// least `timeout` (never early) and not absurdly long.
pub(crate) fn assert_timed_out<T: std::fmt::Debug>(what: &str, res: io::Result<T>, took: Duration, timeout: Duration) {
    match res {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("{what}: expected Err(WouldBlock) after the timeout, got {other:?}"),
    }
    assert!(
        took >= timeout,
        "{what}: timed out after {took:?}, before its timeout {timeout:?}"
    );
    assert!(
        took < timeout + Duration::from_secs(5),
        "{what}: timed out after {took:?}, long after its timeout {timeout:?}"
    );
}

/// A directory for Unix socket files, removed with its contents on drop.
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh, empty directory whose name contains `name` and the
    /// process id (short: socket paths are limited to about 100 bytes).
    pub(crate) fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("dhaga-net-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir { path }
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// A path named `file` inside the directory (not created).
    pub(crate) fn join(&self, file: &str) -> PathBuf {
        self.path.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The soft and hard limits on open files (`RLIMIT_NOFILE`).
#[allow(clippy::unnecessary_cast)] // `rlim_t` is not `u64` on every Unix.
pub(crate) fn nofile_limit() -> (u64, u64) {
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
pub(crate) fn set_nofile_soft_limit(soft: u64) {
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
pub(crate) fn raise_nofile_limit() -> u64 {
    let (soft, hard) = nofile_limit();
    if soft < hard {
        set_nofile_soft_limit(hard);
    }
    hard
}

/// The highest file descriptor this process has open, read from
/// `/proc/self/fd` (Linux) or `/dev/fd` (the BSDs and macOS).
pub(crate) fn highest_open_fd() -> u64 {
    let dir = std::fs::read_dir("/proc/self/fd")
        .or_else(|_| std::fs::read_dir("/dev/fd"))
        .expect("list open file descriptors");
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .unwrap_or(2)
}

/// CPU time (user plus system) used so far by all threads of this process.
pub(crate) fn process_cpu_time() -> Duration {
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable `rusage` for getrusage to fill.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage: {}", io::Error::last_os_error());
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Whether `e` says the process or the system ran out of file descriptors.
pub(crate) fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

//! Helpers shared by the integration tests of the dhaga crates: a guard
//! that turns a hang into a failure, a runner that re-executes the test
//! binary as a child process, and a way to run the same code on an OS thread
//! or on a micro-thread.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

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
    /// Running on an OS thread.
    Os(thread::JoinHandle<T>),
    /// Running on a micro-thread.
    Micro(dhaga_runtime::JoinHandle<T>),
}

impl<T> Task<T> {
    /// Waits for the task and returns its value, re-raising its panic.
    pub fn join(self) -> T {
        let result = match self {
            Task::Os(h) => h.join(),
            Task::Micro(h) => h.join(),
        };
        result.unwrap_or_else(|payload| panic::resume_unwind(payload))
    }
}

/// Starts `f` in the given context; micro-threads go on `rt`.
pub fn start<T, F>(rt: &Runtime, ctx: Ctx, f: F) -> Task<T>
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
pub fn run_in<T, F>(rt: &Runtime, ctx: Ctx, f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    start(rt, ctx, f).join()
}

//! The helpers the runtime's integration tests share (see `dhaga-testutil`).
#![allow(unused_imports, dead_code)]

pub(crate) use dhaga_testutil::{
    CTX_PAIRS, CTXS, Ctx, HANG_LIMIT, JoinWithin, PATIENCE, RecvWithin, Task, child_role, describe, panic_text,
    run_child, run_in, start, wait_until, within_limit,
};

/// The kernel thread id of the calling thread.
pub(crate) fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() }
}

/// Waits until the OS thread `tid` of this process is blocked in the kernel
/// (state `S` in `/proc/self/task/<tid>/stat`); fails the test, naming
/// `what`, after [`PATIENCE`].
///
/// For a thread that [`Task::wait_parked`] cannot see: a thread-mode
/// micro-thread blocked in a system call (a socket wait), which
/// `JoinHandle::is_parked` does not count. As there, the thread reports on a
/// buffered channel (sending its `tid`) just before the call, so that its
/// first sleep after the report is that call.
#[track_caller]
pub(crate) fn wait_os_thread_blocked(what: &str, tid: i32) {
    let path = format!("/proc/self/task/{tid}/stat");
    wait_until(what, || {
        let Ok(stat) = std::fs::read_to_string(&path) else {
            return false; // the thread has ended: it never blocked
        };
        // "tid (comm) S ...": the command may hold spaces and parentheses.
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('S'))
    });
}

//! The helpers the runtime's integration tests share (see `dhaga-testutil`).
#![allow(unused_imports, dead_code)]

pub(crate) use dhaga_testutil::{
    CTX_PAIRS, CTXS, Ctx, HANG_LIMIT, JoinWithin, PATIENCE, RecvWithin, Task, child_role, current_tid, describe,
    os_thread_sleeps, panic_text, run_child, run_in, start, wait_os_thread_blocked, wait_until, within_limit,
};

pub(crate) mod log_capture;

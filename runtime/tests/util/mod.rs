//! The helpers the runtime's integration tests share (see `dhaga-testutil`).
#![allow(unused_imports)]

pub(crate) use dhaga_testutil::{
    CTX_PAIRS, CTXS, Ctx, HANG_LIMIT, JoinWithin, PATIENCE, RecvWithin, Task, child_role, describe, panic_text,
    run_child, run_in, start, wait_until, within_limit,
};

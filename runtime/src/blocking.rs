//! Offloading calls that block the OS thread: `spawn_blocking`.
//!
//! Some calls have no non-blocking form — name resolution (`getaddrinfo`),
//! file I/O, CPU-heavy work. Made from a micro-thread they would stall its
//! whole worker. `spawn_blocking` runs them on a separate, bounded pool of OS
//! threads and parks only the calling micro-thread until they return.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use crate::sched::context;
use crate::sync::bounded;

/// The most threads the blocking pool starts.
const MAX_THREADS: usize = 64;

/// How long an idle pool thread waits for work before it exits.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

/// Runs `f` on the blocking pool and parks the calling micro-thread until it
/// returns its value. Outside a micro-thread (and in a micro-thread that is
/// unwinding, which cannot park) it simply calls `f`: blocking the calling
/// OS thread is what `f` would do anyway.
///
/// The pool grows on demand up to 64 threads, which exit after 10 s idle;
/// beyond that, calls wait in line for a free thread.
///
/// # Panics
///
/// Resumes `f`'s panic in the caller.
///
/// # Examples
///
/// ```
/// let addrs = dhaga_runtime::run(|| {
///     dhaga_runtime::spawn_blocking(|| {
///         use std::net::ToSocketAddrs;
///         "localhost:80".to_socket_addrs().map(|a| a.count())
///     })
/// });
/// assert!(addrs.unwrap() >= 1);
/// ```
pub fn spawn_blocking<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if !context::in_micro_thread() || thread::panicking() {
        return f();
    }
    let (tx, rx) = bounded(1);
    pool().execute(Box::new(move || {
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        // The receiver may be gone (its micro-thread was cancelled): then
        // the result is dropped here, and a panic in its destructor must not
        // take the pool thread down.
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(tx.send(result))));
    }));
    match rx.recv() {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => panic::resume_unwind(payload),
        // Only when the caller cannot wait any more (cancelled while
        // unwinding); the job runs on and its result is dropped.
        Err(_) => panic::resume_unwind(Box::new(crate::task::Cancelled)),
    }
}

/// The process-wide blocking pool.
static POOL: OnceLock<Pool> = OnceLock::new();

fn pool() -> &'static Pool {
    POOL.get_or_init(Pool::default)
}

/// The pool's threads running a job and waiting for one (see `Metrics`).
pub(crate) fn threads() -> (usize, usize) {
    POOL.get().map_or((0, 0), |pool| {
        let state = pool.state.lock().unwrap_or_else(|e| e.into_inner());
        (state.threads - state.idle, state.idle)
    })
}

#[derive(Default)]
struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
}

#[derive(Default)]
struct PoolState {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

impl Pool {
    fn execute(&'static self, job: Job) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.jobs.push_back(job);
        // An idle thread takes a job only once it wakes, so compare the jobs
        // not yet taken with the idle threads: a burst must start threads,
        // not queue behind one.
        if state.jobs.len() <= state.idle {
            self.work.notify_one();
        } else if state.threads < MAX_THREADS {
            let started = thread::Builder::new()
                .name("dhaga-blocking".into())
                .spawn(move || self.run());
            // If no thread can be started the job waits for a running one;
            // with none at all it would wait forever, so run it here.
            match started {
                Ok(_) => state.threads += 1,
                Err(_) if state.threads == 0 => {
                    let job = state.jobs.pop_back().expect("just queued");
                    drop(state);
                    job();
                }
                Err(_) => {}
            }
        }
    }

    fn run(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(job) = state.jobs.pop_front() {
                drop(state);
                job();
                state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                continue;
            }
            state.idle += 1;
            let (next, timeout) = self
                .work
                .wait_timeout(state, IDLE_TIMEOUT)
                .unwrap_or_else(|e| e.into_inner());
            state = next;
            state.idle -= 1;
            if timeout.timed_out() && state.jobs.is_empty() {
                state.threads -= 1;
                return;
            }
        }
    }
}

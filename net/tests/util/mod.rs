//! Helpers shared by the integration tests of `dhaga-net`: those of every
//! dhaga crate (`dhaga-testutil`: hang guard, child processes, OS thread or
//! micro-thread contexts), byte patterns, temporary socket directories, and
//! the process-wide limits and counters (open files, CPU time) some tests
//! need.
//!
//! Each test binary uses a different subset of these helpers.
#![allow(dead_code, unused_imports)]

use std::io::{self, ErrorKind};
use std::net::TcpStream as StdTcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dhaga_net::TcpListener;
use dhaga_runtime::Runtime;

// No `run_in`: its join has no deadline; tests write
// `start(rt, ctx, f).join_within("what it does")` instead.
pub(crate) use dhaga_testutil::{
    CTX_PAIRS, CTXS, Ctx, HANG_LIMIT, JoinWithin, PATIENCE, RecvWithin, Task, child_role, describe, highest_open_fd,
    nofile_limit, raise_nofile_limit, run_child, set_nofile_soft_limit, start, wait_until, within_limit,
};

/// Echoes everything read from `stream` until EOF and returns the byte
/// count (any stream: TCP, Unix).
pub(crate) fn echo<S>(mut stream: S) -> u64
where
    S: std::io::Read + std::io::Write,
{
    let mut buf = vec![0u8; 8192];
    let mut total = 0;
    loop {
        let n = stream.read(&mut buf).expect("echo: read");
        if n == 0 {
            return total;
        }
        stream.write_all(&buf[..n]).expect("echo: write");
        total += n as u64;
    }
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

/// A TCP listener's accept queue as the kernel reports it in `TCP_INFO`:
/// (connections waiting to be accepted, the backlog it listens with).
#[cfg(target_os = "linux")]
pub(crate) fn accept_queue(listener: &TcpListener) -> (u32, u32) {
    // SAFETY: an all-zero `tcp_info` is a valid value of this plain C struct.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the listener owns its open descriptor for the whole call, and
    // `info` is writable for the `len` bytes getsockopt may fill.
    let rc = unsafe {
        libc::getsockopt(
            std::os::fd::AsRawFd::as_raw_fd(listener),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt(TCP_INFO): {}", io::Error::last_os_error());
    // For a listener, Linux reports the queue's length in `tcpi_unacked`
    // and its limit in `tcpi_sacked` (tcp_get_info).
    (info.tcpi_unacked, info.tcpi_sacked)
}

/// A listener on 127.0.0.1 whose accept queue is full, so that the kernel
/// drops further SYNs and a connect waits; and the connections filling it.
pub(crate) fn full_backlog_listener() -> (TcpListener, Vec<StdTcpStream>) {
    let l = TcpListener::bind_with_backlog("127.0.0.1:0", 0).unwrap();
    let addr = l.local_addr().unwrap();
    let mut fill = Vec::new();
    // Linux queues backlog + 1 connections; fill until a connect waits.
    for _ in 0..16 {
        match StdTcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            Ok(s) => fill.push(s),
            Err(e) if e.kind() == ErrorKind::TimedOut => return (l, fill),
            Err(e) => panic!("filling the backlog: {e}"),
        }
    }
    panic!("16 connections and the backlog of the listener is not full");
}

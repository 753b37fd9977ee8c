//! Raw system calls the runtime needs that `std` does not offer: memory
//! mappings for stacks, limits for error messages, and `poll(2)` for blocking
//! outside a micro-thread.
//!
//! Every function here is a thin, documented wrapper; callers see `io::Result`.

use std::io;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::OnceLock;
use std::time::Duration;

/// The size of a memory page.
pub(crate) fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf has no preconditions; _SC_PAGESIZE is always supported.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(size)
            .ok()
            .filter(|s| s.is_power_of_two())
            .unwrap_or(4096)
    })
}

/// Access a mapping is created with.
#[derive(Clone, Copy)]
pub(crate) enum Protection {
    /// No access: a guard region.
    None,
    /// Read and write.
    ReadWrite,
}

impl Protection {
    fn bits(self) -> libc::c_int {
        match self {
            Protection::None => libc::PROT_NONE,
            Protection::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
        }
    }
}

/// Maps `len` bytes of private anonymous memory, lazily backed (pages cost
/// memory only once touched).
pub(crate) fn map_anonymous(len: usize, prot: Protection) -> io::Result<NonNull<u8>> {
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | map_noreserve_flag() | map_stack_flag();
    // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing
    // cannot alias any existing Rust object.
    let ptr = unsafe { libc::mmap(std::ptr::null_mut(), len, prot.bits(), flags, -1, 0) };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))
}

/// `MAP_NORESERVE` (no swap reserved for the whole mapping up front) where
/// the system has it; FreeBSD and OpenBSD do not.
#[cfg(not(any(target_os = "freebsd", target_os = "openbsd")))]
fn map_noreserve_flag() -> libc::c_int {
    libc::MAP_NORESERVE
}

#[cfg(any(target_os = "freebsd", target_os = "openbsd"))]
fn map_noreserve_flag() -> libc::c_int {
    0
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "openbsd"))]
fn map_stack_flag() -> libc::c_int {
    libc::MAP_STACK
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "openbsd")))]
fn map_stack_flag() -> libc::c_int {
    0
}

/// Changes the protection of `len` bytes at `addr`.
///
/// # Safety
///
/// `addr..addr + len` must lie inside a mapping owned by the caller, and no
/// live Rust reference may point into a range being made inaccessible.
pub(crate) unsafe fn protect(addr: NonNull<u8>, len: usize, prot: Protection) -> io::Result<()> {
    // SAFETY: the caller owns the range and guarantees nothing borrows it.
    if unsafe { libc::mprotect(addr.as_ptr().cast(), len, prot.bits()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Unmaps `len` bytes at `addr`.
///
/// # Safety
///
/// The range must be a mapping (or part of one) owned by the caller that
/// nothing will touch again.
pub(crate) unsafe fn unmap(addr: NonNull<u8>, len: usize) {
    // SAFETY: the caller owns the range and never touches it again.
    let rc = unsafe { libc::munmap(addr.as_ptr().cast(), len) };
    debug_assert_eq!(rc, 0, "munmap failed: {}", io::Error::last_os_error());
}

/// `vm.max_map_count`: how many memory mappings one process may have, if the
/// platform has such a limit.
pub(crate) fn max_map_count() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// How many memory mappings this process has now (the lines of
/// `/proc/self/maps`), if the platform says.
///
/// The buffer is on the heap: a micro-thread can get here (a spawn that
/// starts an OS thread), and its whole stack may be 64 KiB.
pub(crate) fn mapping_count() -> Option<u64> {
    use std::io::Read;
    let mut maps = std::fs::File::open("/proc/self/maps").ok()?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut lines = 0u64;
    loop {
        match maps.read(&mut buf) {
            Ok(0) => return Some(lines),
            Ok(n) => lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// The soft `RLIMIT_AS` (address space) limit in bytes, `None` if unlimited.
pub(crate) fn address_space_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the valid struct we pass.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) };
    // `rlim_t` is `u64` on Linux but not on every platform.
    #[allow(clippy::unnecessary_cast)]
    let current = lim.rlim_cur as u64;
    (rc == 0 && lim.rlim_cur != libc::RLIM_INFINITY).then_some(current)
}

/// Readiness `wait_fd` waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Readable (or hung up, or in error).
    Read,
    /// Writable (or hung up, or in error).
    Write,
}

/// Blocks the calling OS thread until `fd` is ready in `dir` or `timeout`
/// passes. Returns `Ok(true)` only if it is ready; `Ok(false)` on timeout or
/// when a signal interrupted the wait (callers loop on their deadline).
pub(crate) fn wait_fd(fd: RawFd, dir: Direction, timeout: Option<Duration>) -> io::Result<bool> {
    let events = match dir {
        Direction::Read => libc::POLLIN,
        Direction::Write => libc::POLLOUT,
    };
    let mut pfd = libc::pollfd { fd, events, revents: 0 };
    let ms = match timeout {
        None => -1,
        // Round up so a short timeout does not become a busy loop of zero-waits.
        Some(t) => libc::c_int::try_from(t.as_nanos().div_ceil(1_000_000)).unwrap_or(libc::c_int::MAX),
    };
    // SAFETY: we pass one valid pollfd and its count.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    match rc {
        0 => Ok(false),
        n if n > 0 => Ok(true),
        _ => {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(err)
            }
        }
    }
}

/// Which of `read` and `write` `fd` is ready for now: `poll(2)` with a zero
/// timeout. A hang-up or a pending error counts as both (a read or write
/// would not block: it returns 0 or fails).
pub(crate) fn poll_now(fd: RawFd, read: bool, write: bool) -> io::Result<(bool, bool)> {
    let mut events = 0;
    if read {
        events |= libc::POLLIN;
    }
    if write {
        events |= libc::POLLOUT;
    }
    let mut pfd = libc::pollfd { fd, events, revents: 0 };
    loop {
        // SAFETY: we pass one valid pollfd and its count.
        let rc = unsafe { libc::poll(&mut pfd, 1, 0) };
        if rc >= 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    let revents = pfd.revents;
    if revents & libc::POLLNVAL != 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    let gone = revents & (libc::POLLHUP | libc::POLLERR) != 0;
    Ok((
        read && (revents & libc::POLLIN != 0 || gone),
        write && (revents & libc::POLLOUT != 0 || gone),
    ))
}

/// Puts `fd` into non-blocking mode.
pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL on any fd number is harmless; an invalid fd gives EBADF.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: F_SETFL only changes the file status flags of this fd.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A monotonic clock in nanoseconds, cheap and coarse (a few milliseconds'
/// resolution on Linux): for stamping events on hot paths that only a
/// report reads, such as when a micro-thread parked.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn coarse_now_ns() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid, writable timespec; CLOCK_MONOTONIC_COARSE
    // exists on every Linux since 2.6.32 and is read through the vDSO.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &raw mut now) };
    debug_assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC_COARSE)");
    u64::try_from(now.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(now.tv_nsec).unwrap_or(0)
}

/// [`coarse_now_ns`] where no coarse clock is known: nanoseconds since the
/// first call.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn coarse_now_ns() -> u64 {
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    let start = *START.get_or_init(std::time::Instant::now);
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

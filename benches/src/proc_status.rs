//! The process's own memory and thread count, from `/proc/self/status`,
//! and the CPU time it has used.

use std::time::Duration;
use std::{io, mem};

use procfs::process::Process;

/// What `/proc/self/status` says about this process at one moment (Linux).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcStatus {
    /// Resident set size (`VmRSS`), in bytes: the memory this process has in
    /// RAM. It grows a page at a time, when a page is first touched; kernel
    /// memory such as an OS thread's kernel stack is not in it.
    pub rss_bytes: u64,
    /// Number of OS threads in the process (`Threads`).
    pub os_threads: u64,
}

impl ProcStatus {
    /// Reads `/proc/self/status`.
    ///
    /// # Errors
    ///
    /// Any error reading the file (there is none outside Linux), and
    /// [`io::ErrorKind::InvalidData`] if `VmRSS` is missing.
    pub fn read() -> io::Result<ProcStatus> {
        let status = Process::myself().and_then(|me| me.status()).map_err(io::Error::other)?;
        let rss_kib = status
            .vmrss
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no VmRSS in /proc/self/status"))?;
        Ok(ProcStatus {
            rss_bytes: rss_kib * 1024,
            os_threads: status.threads,
        })
    }
}

/// The CPU time this process has used so far, user and system, summed over
/// all its threads (`getrusage(RUSAGE_SELF)`, to the microsecond).
///
/// # Errors
///
/// The error `getrusage` reports (there is none for `RUSAGE_SELF` on Linux).
pub fn cpu_time() -> io::Result<Duration> {
    // Not procfs: `/proc/self/stat` counts in clock ticks (10 ms), too coarse.
    // SAFETY: `rusage` is plain integers, for which all zeroes is a valid
    // value; getrusage only writes it.
    let mut usage: libc::rusage = unsafe { mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage`; RUSAGE_SELF is a valid
    // `who`.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rusage_cpu_time(&usage))
}

/// The user and system time of `usage`, summed.
pub(crate) fn rusage_cpu_time(usage: &libc::rusage) -> Duration {
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// The size of a memory page, the step in which RSS grows.
pub fn page_size() -> u64 {
    procfs::page_size()
}

#[cfg(test)]
mod tests {
    use super::ProcStatus;

    #[test]
    fn cpu_time_grows_with_work() {
        let before = super::cpu_time().unwrap();
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(20) {
            std::hint::spin_loop();
        }
        assert!(super::cpu_time().unwrap() > before);
    }

    #[test]
    fn reads_this_process() {
        let status = ProcStatus::read().unwrap();
        assert!(status.rss_bytes > 0);
        assert!(status.os_threads >= 1);
    }
}

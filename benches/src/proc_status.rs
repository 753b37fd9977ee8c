//! The process's own memory and thread count, from `/proc/self/status`,
//! and the CPU time it has used.

use std::time::Duration;
use std::{fs, io, mem};

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
    /// [`io::ErrorKind::InvalidData`] if `VmRSS` or `Threads` is missing.
    pub fn read() -> io::Result<ProcStatus> {
        Self::parse(&fs::read_to_string("/proc/self/status")?)
    }

    /// Parses the text of a `/proc/<pid>/status` file.
    fn parse(status: &str) -> io::Result<ProcStatus> {
        // Lines look like "VmRSS:\t    1234 kB" and "Threads:\t3".
        let field = |name: &str| -> io::Result<u64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|value| value.split_whitespace().next()?.parse().ok())
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("no {name} in /proc/self/status")))
        };
        Ok(ProcStatus {
            rss_bytes: field("VmRSS")? * 1024,
            os_threads: field("Threads")?,
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
    // SAFETY: `rusage` is plain integers, for which all zeroes is a valid
    // value; getrusage only writes it.
    let mut usage: libc::rusage = unsafe { mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage`; RUSAGE_SELF is a valid
    // `who`.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Ok(time(usage.ru_utime) + time(usage.ru_stime))
}

/// The size of a memory page, the step in which RSS grows.
pub fn page_size() -> usize {
    // SAFETY: sysconf only reads a system constant; _SC_PAGESIZE is a valid
    // name on every Unix and the call has no other precondition.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::ProcStatus;

    #[test]
    fn parses_rss_and_threads() {
        let text = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    1234 kB\nThreads:\t3\n";
        let status = ProcStatus::parse(text).unwrap();
        assert_eq!(status.rss_bytes, 1234 * 1024);
        assert_eq!(status.os_threads, 3);
    }

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

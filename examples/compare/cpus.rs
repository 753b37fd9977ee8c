//! What `compare` needs from Linux about processes and CPUs: the CPUs this
//! process may run on, starting a child on a given set of them, and a
//! child's CPU time, peak memory and thread count from `/proc`.
//!
//! `allowed` and `spawn_on` are in `benches/src/affinity.rs`, shared with
//! `dhaga-benches` (which this crate cannot depend on) by `#[path]`.

use std::time::Duration;

use procfs::process::{ClearRefs, Process};

#[path = "../../benches/src/affinity.rs"]
#[expect(unreachable_pub, reason = "public in dhaga-benches, whose file it is")]
mod affinity;

pub(crate) use affinity::{allowed_cpus as allowed, spawn_on};

/// CPU time process `pid` has used so far, user and system, all its threads
/// (those that ended included): `utime` and `stime` of `/proc/<pid>/stat`.
pub(crate) fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = process(pid).ok()?.stat().ok()?;
    let ticks_per_second = procfs::ticks_per_second();
    (ticks_per_second > 0).then(|| Duration::from_secs_f64((stat.utime + stat.stime) as f64 / ticks_per_second as f64))
}

/// The most a process used while it was sampled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Peak {
    /// Peak resident memory (`VmHWM`), in KiB: since the process started or
    /// since [`reset_peak_rss`].
    pub(crate) rss_kib: u64,
    /// The most OS threads seen (`Threads`).
    pub(crate) os_threads: u64,
}

impl Peak {
    /// Reads `/proc/<pid>/status` (zeros if it cannot be read).
    pub(crate) fn read(pid: u32) -> Peak {
        let Ok(status) = process(pid).and_then(|process| process.status()) else {
            return Peak::default();
        };
        Peak {
            rss_kib: status.vmhwm.unwrap_or(0),
            os_threads: status.threads,
        }
    }

    /// The larger of each.
    pub(crate) fn max(self, other: Peak) -> Peak {
        Peak {
            rss_kib: self.rss_kib.max(other.rss_kib),
            os_threads: self.os_threads.max(other.os_threads),
        }
    }
}

/// Makes `VmHWM` of process `pid` start again from its current resident
/// memory (writing 5 to `/proc/<pid>/clear_refs`, Linux 4.0 and later), so
/// that each step's peak is its own.
pub(crate) fn reset_peak_rss(pid: u32) -> procfs::ProcResult<()> {
    process(pid)?.clear_refs(ClearRefs::PeakRSS)
}

/// Process `pid` in `/proc`.
fn process(pid: u32) -> procfs::ProcResult<Process> {
    // A pid that does not fit an `i32` names no process.
    let pid = i32::try_from(pid).map_err(|_| procfs::ProcError::NotFound(None))?;
    Process::new(pid)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        let peak = super::Peak::read(pid);
        assert!(peak.rss_kib > 0, "{peak:?}");
        assert!(peak.os_threads >= 1, "{peak:?}");
        assert!(super::cpu_time(pid).is_some());
    }
}

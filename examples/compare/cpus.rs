//! What `compare` needs from Linux about processes and CPUs: the CPUs this
//! process may run on, starting a child on a given set of them, and a
//! child's CPU time, peak memory and thread count from `/proc`.
//!
//! `allowed` and `spawn_on` have a copy in `dhaga-benches`
//! (`benches/src/cpus.rs`, for `compare_mq`): this crate cannot depend on
//! that one. A fix to one belongs in both.

use std::io;
use std::process::{Child, Command};
use std::time::Duration;

use procfs::process::{ClearRefs, Process};

/// The CPUs this process may run on (its affinity mask), in order.
pub(crate) fn allowed() -> io::Result<Vec<usize>> {
    let set = current_set()?;
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, the number of CPUs a
        // `cpu_set_t` holds, and `set` is a valid set.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Starts `command` on the CPUs `cpus` (all of its threads, as they inherit
/// the mask), or where this process may run if `cpus` is empty.
///
/// The mask is set on the calling thread around the spawn, which the child
/// inherits from it; the thread's own mask is restored afterwards.
pub(crate) fn spawn_on(command: &mut Command, cpus: &[usize]) -> io::Result<Child> {
    if cpus.is_empty() {
        return command.spawn();
    }
    let saved = current_set()?;
    // SAFETY: an all-zero `cpu_set_t` is a valid, empty set (it is a plain
    // bit array); `CPU_ZERO` would write the same.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus.iter().filter(|&&cpu| cpu < libc::CPU_SETSIZE as usize) {
        // SAFETY: `cpu` is below CPU_SETSIZE, the number of CPUs a
        // `cpu_set_t` holds, and `set` is a valid set.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    set_current(&set)?;
    let child = command.spawn();
    set_current(&saved)?;
    child
}

/// The calling thread's affinity mask.
fn current_set() -> io::Result<libc::cpu_set_t> {
    // SAFETY: as in `spawn_on`, all zeroes is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable `cpu_set_t` of the size passed; pid
    // 0 is the calling thread.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    if rc == 0 {
        Ok(set)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets the calling thread's affinity mask.
fn set_current(set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed, only read;
    // pid 0 is the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

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

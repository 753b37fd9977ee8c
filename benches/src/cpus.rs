//! Where a comparison's processes run and what CPU time they use: the CPUs
//! this process may run on, two disjoint halves of them, starting a child on
//! a given set, and a child's CPU time when it exits (Linux).
//!
//! `allowed_cpus` and `spawn_on` live in `affinity.rs`, which the `compare`
//! example includes too.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::time::Duration;

use crate::proc_status::rusage_cpu_time;

pub use crate::affinity::{allowed_cpus, spawn_on};

/// Splits `cpus` into two disjoint, non-empty halves: the first half
/// (rounded down) and the rest. With fewer than two CPUs there is nothing to
/// split, and both are empty: run everywhere (see [`spawn_on`]).
///
/// # Examples
///
/// ```
/// assert_eq!(dhaga_benches::halves(&[0, 1, 2]), (vec![0], vec![1, 2]));
/// assert_eq!(dhaga_benches::halves(&[3]), (vec![], vec![]));
/// ```
pub fn halves(cpus: &[usize]) -> (Vec<usize>, Vec<usize>) {
    if cpus.len() < 2 {
        return (Vec::new(), Vec::new());
    }
    let (first, rest) = cpus.split_at(cpus.len() / 2);
    (first.to_vec(), rest.to_vec())
}

/// "CPU 0", "CPUs 0-3" or "CPUs 0,2,5", for a placement's description.
pub fn cpu_list(cpus: &[usize]) -> String {
    match cpus {
        [] => "no CPUs".to_owned(),
        [one] => format!("CPU {one}"),
        [first, .., last] if last - first + 1 == cpus.len() => format!("CPUs {first}-{last}"),
        _ => format!(
            "CPUs {}",
            cpus.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
        ),
    }
}

/// How a child process ended, and the CPU time it used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exited {
    /// Its exit status.
    pub status: ExitStatus,
    /// The CPU time it used over its whole life, user and system, all its
    /// threads (and its own children that it waited for), to the
    /// microsecond.
    pub cpu: Duration,
}

/// Reaps `child` if it has exited, with its CPU time (`wait4` with
/// `WNOHANG`); `None` while it runs.
///
/// Once this returns `Some`, the child is reaped and its pid free for reuse:
/// the caller must not call `child`'s `wait`, `try_wait` or `kill` again.
///
/// # Errors
///
/// The error `wait4` reports, e.g. `ECHILD` if the child was reaped already.
pub fn try_wait_with_cpu(child: &Child) -> io::Result<Option<Exited>> {
    let pid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain integers, for which all zeroes is a valid
    // value; wait4 only writes it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `status` and `usage` are valid and writable; `pid` is our
    // child's, which std has not reaped (it reaps only in wait/try_wait,
    // which the caller no longer calls).
    let rc = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
    match rc {
        0 => Ok(None),
        -1 => Err(io::Error::last_os_error()),
        _ => Ok(Some(Exited {
            status: ExitStatus::from_raw(status),
            cpu: rusage_cpu_time(&usage),
        })),
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::time::{Duration, Instant};

    use super::{allowed_cpus, cpu_list, halves, spawn_on, try_wait_with_cpu};

    #[test]
    fn halves_are_disjoint_and_cover_all() {
        assert_eq!(halves(&[]), (vec![], vec![]));
        assert_eq!(halves(&[0]), (vec![], vec![]));
        assert_eq!(halves(&[0, 1]), (vec![0], vec![1]));
        assert_eq!(halves(&[0, 1, 2, 3]), (vec![0, 1], vec![2, 3]));
        assert_eq!(halves(&[1, 4, 6]), (vec![1], vec![4, 6]));
    }

    #[test]
    fn lists_cpus() {
        assert_eq!(cpu_list(&[]), "no CPUs");
        assert_eq!(cpu_list(&[2]), "CPU 2");
        assert_eq!(cpu_list(&[0, 1, 2, 3]), "CPUs 0-3");
        assert_eq!(cpu_list(&[0, 2, 5]), "CPUs 0,2,5");
    }

    #[test]
    fn this_process_may_run_somewhere() {
        assert!(!allowed_cpus().unwrap().is_empty());
    }

    #[test]
    #[expect(clippy::zombie_processes, reason = "try_wait_with_cpu reaps it, unseen by clippy")]
    fn a_pinned_child_exits_with_its_cpu_time() {
        let cpus = allowed_cpus().unwrap();
        // A child that burns a little CPU on one of our CPUs.
        let child = spawn_on(
            Command::new("sh").args(["-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exit 3"]),
            &cpus[..1],
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let exited = loop {
            if let Some(exited) = try_wait_with_cpu(&child).unwrap() {
                break exited;
            }
            assert!(Instant::now() < deadline, "the child did not exit");
            std::thread::sleep(Duration::from_millis(2));
        };
        assert_eq!(exited.status.code(), Some(3));
        assert!(exited.cpu > Duration::ZERO, "{exited:?}");
        // Reaped: a second wait finds no such child.
        assert!(try_wait_with_cpu(&child).is_err());
        // The calling thread's own mask is back to what it was.
        assert_eq!(allowed_cpus().unwrap(), cpus);
    }
}

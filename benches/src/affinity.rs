//! The CPUs a process may run on, and starting a child on some of them
//! (Linux affinity masks). One file for two crates: `dhaga-benches`
//! (`benches/src/cpus.rs`, for `compare_mq`) and the `compare` example
//! (`examples/compare/cpus.rs`) both include it with `#[path]`, the example
//! belonging to the `dhaga` crate, which does not depend on `dhaga-benches`.

use std::io;
use std::process::{Child, Command};

/// The CPUs this process may run on (its affinity mask), in order.
///
/// # Errors
///
/// The error `sched_getaffinity` reports.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
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
///
/// # Errors
///
/// Those of [`Command::spawn`], and of `sched_setaffinity` (e.g.
/// [`io::ErrorKind::InvalidInput`] if none of `cpus` is allowed).
pub fn spawn_on(command: &mut Command, cpus: &[usize]) -> io::Result<Child> {
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

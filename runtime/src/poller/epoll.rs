//! `epoll(7)`, called directly: the poller on Linux and Android.
//!
//! A wait is one system call: `epoll_pwait2`, whose timeout is in
//! nanoseconds; or `epoll_wait`, whose timeout is rounded up to the next
//! millisecond so that a timer is never seen early (as mio does), on
//! kernels before 5.11, where a seccomp filter refuses `epoll_pwait2` with
//! an error, and on Android, whose apps' seccomp policy kills the process
//! for it. There a deadline less than a millisecond away takes a
//! millisecond. A wake-up is one
//! `write(2)` to an eventfd registered once, edge-triggered, and never
//! read: every write to an eventfd wakes its epoll waiters, so each one is
//! reported as a new edge, whatever the counter holds (it is read only in
//! the unlikely case that it is full). `polling`'s epoll backend, which this
//! replaces here, makes five calls per wait: it arms a timerfd and adds it,
//! waits, then reads and re-arms its eventfd.
//!
//! The surface is the part of `polling`'s that the runtime uses, with the
//! same meaning, so that either can be built (see `poller/mod.rs`). One
//! difference: readable interest includes `EPOLLRDHUP` (the peer shut its
//! side down), as mio's does; a half-close raises `EPOLLIN` as well.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The key of the wake-up eventfd; no registration uses it (they are slab
/// keys, far smaller).
const NOTIFY_KEY: u64 = u64::MAX;

/// Events fetched by one wait at most; more wait for the next.
const CAPACITY: usize = 1024;

/// How a registration reports readiness, as `polling::PollMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PollMode {
    /// Once, then disabled until `modify` re-arms it (`EPOLLONESHOT`).
    Oneshot,
    /// For as long as the descriptor is ready.
    Level,
    /// Each time the descriptor becomes ready (`EPOLLET`).
    Edge,
}

/// Interest in a descriptor, or readiness reported for one, under a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) key: usize,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// Reported only: the peer shut its side down, an error is pending, or
    /// urgent data came (`EPOLLRDHUP`, `EPOLLHUP`, `EPOLLERR`, `EPOLLPRI`).
    pub(crate) exceptional: bool,
}

impl Event {
    /// Readable and writable.
    pub(crate) fn all(key: usize) -> Event {
        Event::new(key, true, true)
    }

    pub(crate) fn new(key: usize, readable: bool, writable: bool) -> Event {
        Event {
            key,
            readable,
            writable,
            exceptional: false,
        }
    }

    /// The `epoll_event` flags for this interest in `mode`. A hang-up or an
    /// error counts as both directions, as `poll(2)` has it: the next read
    /// or write will not block.
    fn flags(self, mode: PollMode) -> u32 {
        let mut flags = 0;
        if self.readable {
            flags |= libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLPRI;
        }
        if self.writable {
            flags |= libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR;
        }
        flags |= match mode {
            PollMode::Oneshot => libc::EPOLLONESHOT,
            PollMode::Level => 0,
            PollMode::Edge => libc::EPOLLET,
        };
        // The flags are bits: `EPOLLET` is the sign bit of a `c_int`.
        flags.cast_unsigned()
    }
}

/// Where one wait puts what it fetched.
pub(crate) struct Events {
    list: Box<[libc::epoll_event]>,
    /// How many of `list` the last wait filled.
    len: usize,
}

impl Events {
    pub(crate) fn new() -> Events {
        let empty = libc::epoll_event { events: 0, u64: 0 };
        Events {
            list: vec![empty; CAPACITY].into_boxed_slice(),
            len: 0,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// The readiness fetched, without the wake-ups.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        self.list[..self.len].iter().filter_map(|event| {
            // Copied out: the struct is packed on x86-64, so no references
            // to its fields.
            let (flags, key) = (event.events.cast_signed(), event.u64);
            if key == NOTIFY_KEY {
                return None;
            }
            let key = usize::try_from(key).expect("keys are usizes");
            let readable =
                flags & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLPRI);
            let writable = flags & (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR);
            let exceptional = flags & (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLPRI);
            Some(Event {
                exceptional: exceptional != 0,
                ..Event::new(key, readable != 0, writable != 0)
            })
        })
    }
}

/// An epoll instance and its wake-up eventfd.
pub(crate) struct Poller {
    epoll: OwnedFd,
    notify: OwnedFd,
}

/// Whether `epoll_pwait2` may be tried: cleared, for the process, the first
/// time the kernel says it has no such call. Never on Android, where a
/// call outside an app's seccomp policy raises `SIGSYS` (Android 16 still
/// leaves `epoll_pwait2` out).
static PWAIT2: AtomicBool = AtomicBool::new(cfg!(not(target_os = "android")));

/// `__kernel_timespec`, what `epoll_pwait2` reads: 64-bit fields on every
/// architecture (unlike `libc::timespec` on 32-bit ones).
#[repr(C)]
struct KernelTimespec {
    tv_sec: i64,
    tv_nsec: i64,
}

impl Poller {
    pub(crate) fn new() -> io::Result<Poller> {
        // SAFETY: no pointers; the result is checked before use.
        let epoll = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `epoll` is a new descriptor that nothing else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
        // SAFETY: no pointers; the result is checked before use.
        let notify = check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: as for `epoll`.
        let notify = unsafe { OwnedFd::from_raw_fd(notify) };
        let poller = Poller { epoll, notify };
        let flags = (libc::EPOLLIN | libc::EPOLLET).cast_unsigned();
        poller.ctl(libc::EPOLL_CTL_ADD, poller.notify.as_raw_fd(), flags, NOTIFY_KEY)?;
        Ok(poller)
    }

    /// Always: epoll has edge mode.
    pub(crate) fn supports_edge(&self) -> bool {
        true
    }

    /// Adds `fd` with `interest` in `mode`.
    ///
    /// # Safety
    ///
    /// As for `polling::Poller::add_with_mode`: `fd` must be deleted from
    /// the poller before it is closed. Otherwise a duplicate of it, if any,
    /// goes on reporting under the key, which by then may mean something
    /// else.
    pub(crate) unsafe fn add_with_mode(&self, fd: RawFd, interest: Event, mode: PollMode) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, interest.flags(mode), key(interest))
    }

    /// Re-arms a oneshot registration of `fd` with `interest`.
    pub(crate) fn modify(&self, fd: BorrowedFd<'_>, interest: Event) -> io::Result<()> {
        let flags = interest.flags(PollMode::Oneshot);
        self.ctl(libc::EPOLL_CTL_MOD, fd.as_raw_fd(), flags, key(interest))
    }

    pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        // The event is ignored, but kernels before 2.6.9 want one.
        self.ctl(libc::EPOLL_CTL_DEL, fd.as_raw_fd(), 0, 0)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, flags: u32, key: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: flags,
            u64: key,
        };
        // SAFETY: `event` is valid for the call (the kernel reads it, and
        // writes nothing); the descriptors are plain numbers to the kernel,
        // which checks them.
        check(unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &raw mut event) }).map(drop)
    }

    /// Waits for readiness or a wake-up, at most `timeout` (`None`: for
    /// ever; zero: a look without blocking). Returns how many readiness
    /// events it fetched into `events` (wake-ups not counted). A signal
    /// that interrupts the wait makes it return early, with what it has.
    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        events.len = 0;
        let capacity = libc::c_int::try_from(events.list.len()).unwrap_or(libc::c_int::MAX);
        let list = events.list.as_mut_ptr();
        let mut fetched = None;
        if PWAIT2.load(Ordering::Relaxed) {
            let timespec = timeout.map(|timeout| KernelTimespec {
                tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(timeout.subsec_nanos()),
            });
            let timespec = timespec.as_ref().map_or(ptr::null(), ptr::from_ref);
            // SAFETY: `list` is valid for writes of `capacity` events, and
            // `timespec` null or valid for reads, for the call; no signal
            // mask (a null one, whose size is then not read).
            let n = unsafe {
                libc::syscall(
                    libc::SYS_epoll_pwait2,
                    libc::c_long::from(self.epoll.as_raw_fd()),
                    list,
                    libc::c_long::from(capacity),
                    timespec,
                    ptr::null::<libc::sigset_t>(),
                    0 as libc::c_long,
                )
            };
            match check_long(n) {
                Ok(n) => fetched = Some(n),
                // No such call: the kernel predates 5.11, or a seccomp
                // filter (an older container runtime's) refuses it.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                    PWAIT2.store(false, Ordering::Relaxed);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => fetched = Some(0),
                Err(e) => return Err(e),
            }
        }
        let n = match fetched {
            Some(n) => n,
            None => self.wait_millis(&mut events.list, timeout)?,
        };
        events.len = n.min(events.list.len());
        Ok(events.iter().count())
    }

    /// `epoll_wait`, `timeout` rounded up to a millisecond: the fallback of
    /// [`Poller::wait`]. Returns how many entries of `list` it filled.
    fn wait_millis(&self, list: &mut [libc::epoll_event], timeout: Option<Duration>) -> io::Result<usize> {
        let capacity = libc::c_int::try_from(list.len()).unwrap_or(libc::c_int::MAX);
        let millis = timeout.map_or(-1, |timeout| {
            let millis = timeout.as_nanos().div_ceil(1_000_000);
            libc::c_int::try_from(millis).unwrap_or(libc::c_int::MAX)
        });
        // SAFETY: `list` is valid for writes of `capacity` events for the
        // call.
        match check(unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), list.as_mut_ptr(), capacity, millis) }) {
            Ok(n) => Ok(usize::try_from(n).expect("checked")),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Wakes the thread waiting in [`Poller::wait`], or makes its next wait
    /// return at once.
    pub(crate) fn notify(&self) -> io::Result<()> {
        let one = 1_u64.to_ne_bytes();
        loop {
            // SAFETY: `one` is valid for reads of its 8 bytes for the call.
            let n = unsafe { libc::write(self.notify.as_raw_fd(), one.as_ptr().cast(), one.len()) };
            if n >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => {}
                // The counter is full (after 2^64 - 2 wake-ups): empty it.
                io::ErrorKind::WouldBlock => {
                    let mut count = [0; 8];
                    // SAFETY: `count` is valid for writes of its 8 bytes for
                    // the call.
                    unsafe { libc::read(self.notify.as_raw_fd(), count.as_mut_ptr().cast(), count.len()) };
                }
                _ => return Err(e),
            }
        }
    }
}

impl fmt::Debug for Poller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poller")
            .field("epoll", &self.epoll)
            .field("notify", &self.notify)
            .finish()
    }
}

/// The registration's key as epoll data.
fn key(event: Event) -> u64 {
    let key = u64::try_from(event.key).expect("keys fit in 64 bits");
    debug_assert_ne!(key, NOTIFY_KEY, "the wake-up's key");
    key
}

/// A `c_int` result: -1 and `errno`, or the value.
fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// A `syscall(2)` result: -1 and `errno`, or a count.
fn check_long(result: libc::c_long) -> io::Result<usize> {
    usize::try_from(result).map_err(|_| io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use dhaga_testutil::PATIENCE;

    use std::sync::atomic::Ordering;

    use super::{Event, Events, PWAIT2, PollMode, Poller};

    fn wait(poller: &Poller, timeout: Option<Duration>) -> Vec<Event> {
        let mut events = Events::new();
        poller.wait(&mut events, timeout).expect("wait");
        events.iter().collect()
    }

    #[test]
    fn edge_mode_reports_each_new_readiness_once() {
        let poller = Poller::new().unwrap();
        let (mut a, b) = UnixStream::pair().unwrap();
        // SAFETY: `b` is deleted below, before it is dropped.
        unsafe { poller.add_with_mode(b.as_raw_fd(), Event::new(7, true, false), PollMode::Edge) }.unwrap();
        assert_eq!(wait(&poller, Some(Duration::ZERO)), [], "nothing to read yet");
        a.write_all(b"x").unwrap();
        assert_eq!(wait(&poller, Some(PATIENCE)), [Event::new(7, true, false)]);
        assert_eq!(wait(&poller, Some(Duration::ZERO)), [], "an edge is reported once");
        a.write_all(b"y").unwrap();
        assert_eq!(
            wait(&poller, Some(PATIENCE)),
            [Event::new(7, true, false)],
            "more data: a new edge"
        );
        drop(a);
        let hung_up = wait(&poller, Some(PATIENCE));
        let both = Event {
            exceptional: true,
            ..Event::new(7, true, true)
        };
        assert_eq!(hung_up, [both], "a hang-up counts as both, and says so");
        poller.delete(std::os::fd::AsFd::as_fd(&b)).unwrap();
    }

    #[test]
    fn oneshot_mode_reports_once_until_modified() {
        let poller = Poller::new().unwrap();
        let (mut a, b) = UnixStream::pair().unwrap();
        // SAFETY: `b` is deleted below, before it is dropped.
        unsafe { poller.add_with_mode(b.as_raw_fd(), Event::new(3, true, false), PollMode::Oneshot) }.unwrap();
        a.write_all(b"x").unwrap();
        assert_eq!(wait(&poller, Some(PATIENCE)), [Event::new(3, true, false)]);
        a.write_all(b"y").unwrap();
        assert_eq!(wait(&poller, Some(Duration::ZERO)), [], "disarmed until modified");
        poller.modify(std::os::fd::AsFd::as_fd(&b), Event::all(4)).unwrap();
        assert_eq!(
            wait(&poller, Some(PATIENCE)),
            [Event::new(4, true, true)],
            "re-armed, new key"
        );
        poller.delete(std::os::fd::AsFd::as_fd(&b)).unwrap();
    }

    #[test]
    fn every_notify_wakes_a_wait_and_none_is_reported_as_readiness() {
        let poller = Arc::new(Poller::new().unwrap());
        for round in 0..3 {
            // Before the wait: its next wait returns at once.
            poller.notify().unwrap();
            let started = Instant::now();
            assert_eq!(
                wait(&poller, Some(PATIENCE)),
                [],
                "round {round}: no readiness, only a wake-up"
            );
            assert!(
                started.elapsed() < PATIENCE,
                "round {round}: the notify did not end the wait"
            );
            // Once seen, the wake-up is gone (edge-triggered, never read).
            assert_eq!(wait(&poller, Some(Duration::ZERO)), []);
        }
        // During the wait, from another thread.
        let (waiting, waits) = std::sync::mpsc::channel();
        let waiter = {
            let poller = Arc::clone(&poller);
            std::thread::spawn(move || {
                waiting.send(()).unwrap();
                let started = Instant::now();
                wait(&poller, None);
                started.elapsed()
            })
        };
        waits.recv_timeout(PATIENCE).expect("the waiter to start");
        poller.notify().unwrap();
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || done.send(waiter.join()));
        let waited = finished.recv_timeout(PATIENCE).expect("the notified waiter to return");
        assert!(waited.is_ok());
    }

    #[test]
    fn a_timeout_is_never_cut_short() {
        let poller = Poller::new().unwrap();
        for timeout in [Duration::from_micros(300), Duration::from_millis(2)] {
            let started = Instant::now();
            assert_eq!(wait(&poller, Some(timeout)), []);
            assert!(started.elapsed() >= timeout, "returned before its {timeout:?} timeout");
        }
    }

    /// The fallback for kernels without `epoll_pwait2`: a millisecond
    /// timeout, rounded up. Called directly, so the other tests, which run
    /// at the same time, keep `epoll_pwait2`.
    #[test]
    fn the_epoll_wait_fallback_works_and_rounds_up() {
        let poller = Poller::new().unwrap();
        let mut events = Events::new();
        let timeout = Duration::from_micros(300);
        let started = Instant::now();
        let n = poller.wait_millis(&mut events.list, Some(timeout)).unwrap();
        let waited = started.elapsed();
        assert_eq!(n, 0);
        assert!(
            waited >= timeout,
            "returned after {waited:?}, before its {timeout:?} timeout"
        );
        poller.notify().unwrap();
        let n = poller.wait_millis(&mut events.list, Some(PATIENCE)).unwrap();
        events.len = n;
        assert_eq!(
            (n, events.iter().count()),
            (1, 0),
            "a wake-up ends the wait, and is no readiness"
        );
    }

    /// Where the kernel has `epoll_pwait2` (5.11 on), it is used.
    #[test]
    fn epoll_pwait2_is_used_where_the_kernel_has_it() {
        let poller = Poller::new().unwrap();
        wait(&poller, Some(Duration::ZERO));
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut numbers = release.split(['.', '-']).map(|n| n.parse::<u32>().unwrap_or(0));
        let version = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
        if version >= (5, 11) && cfg!(not(target_os = "android")) {
            // A seccomp filter that refuses it (an older container
            // runtime's) would fail this, and would cost timers their
            // sub-millisecond precision.
            assert!(PWAIT2.load(Ordering::Relaxed), "kernel {release}: epoll_pwait2 refused");
        }
    }
}

//! Descriptors that park a micro-thread until they are ready: [`Source`],
//! [`FdWatch`], [`fd_ready`], and the system calls they make.
//!
//! [`Source`] wraps a non-blocking I/O object. Its `read_with`/`write_with`
//! run an operation and, when it would block, wait for readiness and retry:
//! the one "try the syscall, on `WouldBlock` park, retry" loop that every
//! `net` method is a line over.
//!
//! How waiting works is the worker's side of the reactor
//! (`sched/reactor.rs`): a micro-thread waits on its own worker's poller,
//! registering the descriptor there the first time, and a readiness count
//! read before each operation makes sure no edge is lost. This module holds
//! that count (a `SourceState`) with the descriptor, and deletes the
//! descriptor from every poller before it closes.
//!
//! Outside a micro-thread the same calls block the OS thread in `poll(2)`,
//! which is what lets one program run on micro-threads or on OS threads.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use slab::Slab;

use crate::park;
use crate::poller::{self, Event, Events, PollMode, Poller};
use crate::sched::SourceState;
use crate::sys::{self, Direction};

/// A non-blocking I/O object whose blocking operations park the calling
/// micro-thread (or block the calling OS thread) until it is ready.
///
/// This is the primitive `dhaga::net` is built on; use it to make any other
/// file-descriptor-based I/O object micro-thread friendly. `T` owns its
/// descriptor (hence `AsFd`, not `AsRawFd`), and `T::as_fd` must return the
/// same descriptor for as long as the `Source` lives: the `Source` removes it
/// from the pollers it was added to before `T` is dropped or handed back.
///
/// # Any descriptor: `Read` and `Write`
///
/// `Source<T>` and `&Source<T>` implement [`Read`](io::Read) and
/// [`Write`](io::Write) for any `T: AsFd` — an [`OwnedFd`](std::os::fd::OwnedFd),
/// a pipe's end, a socket, a terminal, a character device — with
/// `read(2)`/`write(2)` (`readv`/`writev` for the vectored calls) on the
/// descriptor: a call that would block parks the micro-thread until the
/// descriptor is ready (blocks an OS thread in `poll(2)`), and tries again.
/// They wait without a deadline; [`Source::read_with`] and
/// [`Source::write_with`] take one. `flush` does nothing: nothing is
/// buffered. With the `bytes` feature, `Source::read_buf` reads into a
/// `BytesMut`'s spare capacity instead of a slice. This is what `may` calls
/// `CoIo`. To wrap a raw descriptor, take ownership of it first
/// (`OwnedFd::from_raw_fd`) and pass the `OwnedFd` to [`Source::new`].
///
/// Two things of the descriptor are not the `Source`'s to change. Regular
/// files are always ready, so their reads and writes block on the disk
/// as they would anyway (use [`spawn_blocking`](crate::spawn_blocking)
/// for file I/O). And on a socket whose peer has gone, `write(2)` raises
/// `SIGPIPE`, which Rust programs ignore by default (the write then fails
/// with `BrokenPipe`).
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::fd::OwnedFd;
/// use std::os::unix::net::UnixStream;
/// use dhaga_runtime::Source;
///
/// // Any owned descriptor will do; here, the two ends of a socket pair.
/// let (a, b) = UnixStream::pair()?;
/// let (mut a, b) = (Source::new(OwnedFd::from(a))?, Source::new(OwnedFd::from(b))?);
/// let reader = dhaga_runtime::spawn(move || {
///     let mut buf = [0; 5];
///     (&b).read_exact(&mut buf).map(|()| buf) // parks until the bytes come
/// });
/// a.write_all(b"hello")?;
/// assert_eq!(&reader.join().unwrap()?, b"hello");
/// # std::io::Result::Ok(())
/// ```
///
/// `read_with` and `write_with` run any operation of `T` that can fail with
/// `WouldBlock`:
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
/// use dhaga_runtime::Source;
///
/// let (a, b) = UnixStream::pair()?;
/// let (a, b) = (Source::new(a)?, Source::new(b)?);
/// let reader = dhaga_runtime::spawn(move || {
///     let mut buf = [0; 5];
///     b.read_with(None, |mut s| s.read(&mut buf)).map(|n| buf[..n].to_vec())
/// });
/// a.write_with(None, |mut s| s.write(b"hello"))?;
/// assert_eq!(reader.join().unwrap()?, b"hello");
/// # std::io::Result::Ok(())
/// ```
pub struct Source<T: AsFd> {
    state: Arc<SourceState>,
    // Declared after `state` for clarity only: `Drop for Source` deregisters
    // the descriptor explicitly before `io` (and the descriptor) is dropped.
    io: Option<T>,
}

impl<T: AsFd> Source<T> {
    /// Wraps `io`, putting its descriptor into non-blocking mode (if it is
    /// not already). Nothing else changes, and the descriptor is added to a
    /// worker's poller only when a micro-thread first waits on it, so any
    /// descriptor the caller owns will do, wherever it came from.
    ///
    /// Non-blocking mode is a flag of the open file, which every duplicate
    /// of the descriptor shares, in this process and others: wrapping a
    /// terminal that a shell also uses (standard input, say) makes it
    /// non-blocking for the shell too.
    ///
    /// # Errors
    ///
    /// Whatever `fcntl(2)` reports for the descriptor.
    pub fn new(io: T) -> io::Result<Source<T>> {
        sys::set_nonblocking(io.as_fd().as_raw_fd())?;
        Ok(Source {
            state: Arc::new(SourceState::new()),
            io: Some(io),
        })
    }

    /// The descriptor, borrowed from the I/O object (which owns it).
    fn fd(&self) -> BorrowedFd<'_> {
        self.get_ref().as_fd()
    }

    /// The wrapped I/O object.
    pub fn get_ref(&self) -> &T {
        self.io.as_ref().expect("io is present until drop")
    }

    /// Unwraps the I/O object, deregistering it from every poller. It stays
    /// in non-blocking mode.
    pub fn into_inner(mut self) -> T {
        self.state.deregister();
        self.io.take().expect("io is present until drop")
    }

    /// Runs `op` until it does not fail with `WouldBlock`, waiting for the
    /// source to be readable in between.
    ///
    /// # Errors
    ///
    /// What `op` returns, or `ErrorKind::TimedOut` once `deadline` passes.
    /// `op` is tried once more when the deadline has passed: what arrived
    /// before it is returned even if this thread saw the timer first.
    pub fn read_with<R>(&self, deadline: Option<Instant>, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.io_with(Direction::Read, deadline, op)
    }

    /// [`Source::read_with`] for reads of a byte stream (a TCP or Unix
    /// stream socket, a pipe) into `len` bytes of room: when `op` reads
    /// fewer than `len` bytes (and more than none), the stream held no more
    /// at that moment, so the next read waits for readiness that came after
    /// it instead of first trying a read that would fail with `WouldBlock`.
    /// A request-response protocol saves a system call per message (tokio
    /// does the same).
    ///
    /// Only where a short read means an empty stream: not for datagrams
    /// (one per read, whatever the room) nor terminals (a line per read),
    /// whose next read would then wait with data there. A TCP read that
    /// stops at urgent data's mark is caught (the poller reports urgent
    /// data, and the hint is off for the socket from then on). A Unix
    /// stream read also stops short where the peer attached descriptors
    /// or, with `SO_PASSCRED`, where its credentials change; a peer that
    /// sends those expects `recvmsg(2)`, not `read(2)`, which drops them.
    ///
    /// # Errors
    ///
    /// As [`Source::read_with`].
    pub fn read_stream_with(
        &self,
        deadline: Option<Instant>,
        len: usize,
        mut op: impl FnMut(&T) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let state = &self.state;
        let mut first = len > 0;
        self.io_with(Direction::Read, deadline, |io| {
            // Read before the read: readiness counted after it may be for
            // bytes this read takes (a spurious wake-up later), never for
            // bytes it left. And read after `io_with` read the count it
            // will wait on, so that count is no newer than this one: the
            // wait below ends at once if readiness came in between.
            let tick = state.tick(Direction::Read);
            if std::mem::take(&mut first) && state.drained() == tick + 1 && !state.exceptional() {
                // No readiness has come since a short read emptied the
                // stream, nor can an end, an error or urgent data be
                // waiting: wait.
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = op(io)?;
            if n > 0 && n < len {
                state.set_drained(tick);
            }
            Ok(n)
        })
    }

    /// Runs `op` until it does not fail with `WouldBlock`, waiting for the
    /// source to be writable in between.
    ///
    /// # Errors
    ///
    /// What `op` returns, or `ErrorKind::TimedOut` once `deadline` passes
    /// (with one last try of `op`, as for [`Source::read_with`]).
    pub fn write_with<R>(&self, deadline: Option<Instant>, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.io_with(Direction::Write, deadline, op)
    }

    /// Reads into the spare capacity of `buf` (what `buf.capacity()` has
    /// beyond `buf.len()`), without zeroing it first, and appends what came:
    /// [`read`](io::Read::read) for a [`BytesMut`](bytes::BytesMut), parking
    /// until the descriptor is readable, with no deadline ([`try_read_buf`]
    /// in [`Source::read_with`] takes one). One `read(2)` fills as much of
    /// the spare capacity as has arrived, so `buf.reserve(n)` first to take
    /// up to `n` bytes in one call.
    ///
    /// Returns how many bytes were appended: `Ok(0)` at end of file, and at
    /// once, without reading, if `buf` has no spare capacity (as `read` with
    /// an empty slice).
    ///
    /// # Errors
    ///
    /// As [`try_read_buf`], but never `WouldBlock`: that waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use std::os::unix::net::UnixStream;
    /// use bytes::BytesMut;
    /// use dhaga_runtime::Source;
    ///
    /// let (a, b) = UnixStream::pair()?;
    /// let (mut a, b) = (Source::new(a)?, Source::new(b)?);
    /// let reader = dhaga_runtime::spawn(move || {
    ///     let mut buf = BytesMut::with_capacity(64 * 1024);
    ///     b.read_buf(&mut buf).map(|n| (n, buf)) // parks until the bytes come
    /// });
    /// a.write_all(b"hello")?;
    /// let (n, buf) = reader.join().unwrap()?;
    /// assert_eq!((n, &buf[..]), (5, &b"hello"[..]));
    /// # std::io::Result::Ok(())
    /// ```
    #[cfg(feature = "bytes")]
    pub fn read_buf(&self, buf: &mut bytes::BytesMut) -> io::Result<usize> {
        self.read_with(None, |io| try_read_buf(io.as_fd(), buf))
    }

    /// Waits until the source is readable (or `deadline` passes).
    ///
    /// # Errors
    ///
    /// `ErrorKind::TimedOut` once `deadline` passes and a last look then
    /// finds the source still not readable.
    pub fn readable(&self, deadline: Option<Instant>) -> io::Result<()> {
        self.ready(Direction::Read, deadline)
    }

    /// Waits until the source is writable (or `deadline` passes).
    ///
    /// # Errors
    ///
    /// `ErrorKind::TimedOut` once `deadline` passes and a last look then
    /// finds the source still not writable.
    pub fn writable(&self, deadline: Option<Instant>) -> io::Result<()> {
        self.ready(Direction::Write, deadline)
    }

    fn ready(&self, dir: Direction, deadline: Option<Instant>) -> io::Result<()> {
        loop {
            let tick = self.state.tick(dir);
            // Readiness is reported by edges: if the descriptor is ready
            // already (its edge came and went), no new one may ever come. And
            // a wake-up may be spurious, so only this check says "ready".
            if sys::wait_fd(self.fd().as_raw_fd(), dir, Some(Duration::ZERO))? {
                return Ok(());
            }
            if let Err(e) = self.state.wait(self.fd(), dir, tick, deadline) {
                // See `io_with`: readiness that came before the deadline wins.
                let ready_after_all = e.kind() == io::ErrorKind::TimedOut
                    && sys::wait_fd(self.fd().as_raw_fd(), dir, Some(Duration::ZERO))?;
                return if ready_after_all { Ok(()) } else { Err(e) };
            }
        }
    }

    fn io_with<R>(
        &self,
        dir: Direction,
        deadline: Option<Instant>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        let io = self.get_ref();
        loop {
            let tick = self.state.tick(dir);
            match op(io) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(e) = self.state.wait(self.fd(), dir, tick, deadline) {
                        if e.kind() != io::ErrorKind::TimedOut {
                            return Err(e);
                        }
                        // The deadline passed, but what it waited for may have
                        // come before it while this thread was not running (a
                        // loaded machine, the timer seen before the event). One
                        // last try, as a kernel timeout (`SO_RCVTIMEO`) finds the
                        // data that arrived in time.
                        return loop {
                            match op(io) {
                                Err(last) if last.kind() == io::ErrorKind::Interrupted => {}
                                Err(last) if last.kind() == io::ErrorKind::WouldBlock => break Err(e),
                                result => break result,
                            }
                        };
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                result => return result,
            }
        }
    }
}

impl<T: AsFd> Drop for Source<T> {
    fn drop(&mut self) {
        // The contract of `Poller::add`: delete before the descriptor closes.
        if self.io.is_some() {
            self.state.deregister();
        }
    }
}

impl<T: AsFd> AsRawFd for Source<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.fd().as_raw_fd()
    }
}

impl<T: AsFd> AsFd for Source<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd()
    }
}

/// `read(2)` on the descriptor, parking until it is readable; see
/// [`Source`] ("Any descriptor").
impl<T: AsFd> io::Read for &Source<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_with(None, |io| read(io.as_fd(), buf))
    }

    fn read_vectored(&mut self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        self.read_with(None, |io| read_vectored(io.as_fd(), bufs))
    }
}

/// `write(2)` on the descriptor, parking until it is writable; see
/// [`Source`] ("Any descriptor").
impl<T: AsFd> io::Write for &Source<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_with(None, |io| write(io.as_fd(), buf))
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.write_with(None, |io| write_vectored(io.as_fd(), bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// As for `&Source<T>`.
impl<T: AsFd> io::Read for Source<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

/// As for `&Source<T>`.
impl<T: AsFd> io::Write for Source<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The most bytes one `read(2)`/`write(2)` asks for, as std does: macOS
/// refuses counts above `INT_MAX`; elsewhere a slice is never longer than
/// `isize::MAX` anyway.
const MAX_IO: usize = if cfg!(target_vendor = "apple") {
    libc::c_int::MAX as usize - 1
} else {
    isize::MAX as usize
};

/// The most buffers one `readv(2)`/`writev(2)` takes, as std counts them:
/// the kernel's `UIO_MAXIOV` on Linux and Android, `IOV_MAX` on macOS and
/// the BSDs, and elsewhere 16, the least POSIX allows. More fail with
/// `EINVAL`; so later buffers wait for the next call, as a short read or
/// write lets them.
#[cfg(any(target_os = "linux", target_os = "android"))]
const MAX_IOV: usize = libc::UIO_MAXIOV as usize;
#[cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd",
))]
const MAX_IOV: usize = libc::IOV_MAX as usize;
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd",
)))]
const MAX_IOV: usize = 16;

/// `read(2)`.
fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes, at least the
    // count passed, and borrowed mutably for the call; `fd` is open for the
    // call, being borrowed.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len().min(MAX_IO)) };
    byte_count(n)
}

/// One `read(2)` on `fd` into the spare capacity of `buf` (what
/// `buf.capacity()` has beyond `buf.len()`), which is not zeroed first;
/// the bytes read are appended to `buf`. It does not wait: on a
/// non-blocking descriptor (as every [`Source`]'s is) with nothing to read
/// it fails with `WouldBlock`. Run it in [`Source::read_with`] to park
/// until the descriptor is readable, or call [`Source::read_buf`].
///
/// Returns how many bytes were appended: `Ok(0)` at end of file, and at
/// once, without a system call, if `buf` has no spare capacity (as `read`
/// with an empty slice). So reserve first: `buf.reserve(n)` lets one call
/// take up to `n` bytes (or more, if the buffer had more room).
///
/// Available with the `bytes` feature.
///
/// # Errors
///
/// What `read(2)` reports: `WouldBlock` (nothing to read yet),
/// `Interrupted` (a signal came first; [`Source::read_with`] retries it),
/// or the descriptor's error.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsFd;
/// use std::os::unix::net::UnixStream;
/// use std::time::{Duration, Instant};
/// use bytes::BytesMut;
/// use dhaga_runtime::Source;
///
/// let (mut a, b) = UnixStream::pair()?;
/// let b = Source::new(b)?;
/// let mut buf = BytesMut::with_capacity(4096);
/// // Nothing has come yet: no waiting (`b` is non-blocking).
/// let nothing = dhaga_runtime::try_read_buf(b.as_fd(), &mut buf);
/// assert_eq!(nothing.unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
///
/// a.write_all(b"hello")?;
/// // Parks (or blocks this thread) until readable, for at most a second.
/// let deadline = Instant::now() + Duration::from_secs(1);
/// let n = b.read_with(Some(deadline), |s| dhaga_runtime::try_read_buf(s.as_fd(), &mut buf))?;
/// assert_eq!((n, &buf[..]), (5, &b"hello"[..]));
/// # std::io::Result::Ok(())
/// ```
#[cfg(feature = "bytes")]
pub fn try_read_buf(fd: BorrowedFd<'_>, buf: &mut bytes::BytesMut) -> io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    if spare.is_empty() {
        return Ok(0);
    }
    let n = read_uninit(fd, spare)?;
    let len = buf.len() + n;
    // SAFETY: `read_uninit` initialised the first `n` bytes of the spare
    // capacity, which begins at `buf.len()`, and `n` is at most its length:
    // so `len` is at most `buf.capacity()`, and every byte below `len` is
    // initialised (those below `buf.len()` already were).
    unsafe { buf.set_len(len) };
    Ok(n)
}

/// `read(2)` into memory that may be uninitialised: returns `n`, and the
/// first `n` bytes of `buf` (`n <= buf.len()`) are then initialised.
#[cfg(feature = "bytes")]
fn read_uninit(fd: BorrowedFd<'_>, buf: &mut [std::mem::MaybeUninit<u8>]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes, at least the
    // count passed, and borrowed mutably for the call (`MaybeUninit<u8>` has
    // the layout of `u8`; `read(2)` only writes the buffer, so it need not
    // be initialised); `fd` is open for the call, being borrowed.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len().min(MAX_IO)) };
    let n = byte_count(n)?;
    // `read(2)` returns at most the count it was given; `try_read_buf`'s
    // `set_len` relies on it.
    assert!(n <= buf.len(), "read(2) returned more bytes than asked for");
    Ok(n)
}

/// `readv(2)`.
fn read_vectored(fd: BorrowedFd<'_>, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
    let count = libc::c_int::try_from(bufs.len().min(MAX_IOV)).unwrap_or(libc::c_int::MAX);
    // SAFETY: `IoSliceMut` is guaranteed to be ABI-compatible with `iovec`
    // on Unix, and each one describes memory valid for writes of its length,
    // borrowed mutably for the call; `count` is at most `bufs.len()`; `fd` is
    // open for the call, being borrowed.
    let n = unsafe { libc::readv(fd.as_raw_fd(), bufs.as_mut_ptr().cast::<libc::iovec>(), count) };
    byte_count(n)
}

/// `write(2)`.
fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes, at least the
    // count passed; `fd` is open for the call, being borrowed.
    let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len().min(MAX_IO)) };
    byte_count(n)
}

/// `writev(2)`.
fn write_vectored(fd: BorrowedFd<'_>, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    let count = libc::c_int::try_from(bufs.len().min(MAX_IOV)).unwrap_or(libc::c_int::MAX);
    // SAFETY: `IoSlice` is guaranteed to be ABI-compatible with `iovec` on
    // Unix, and each one describes memory valid for reads of its length;
    // `count` is at most `bufs.len()`; `fd` is open for the call, being
    // borrowed.
    let n = unsafe { libc::writev(fd.as_raw_fd(), bufs.as_ptr().cast::<libc::iovec>(), count) };
    byte_count(n)
}

/// A `read`/`write` family return value: the byte count, or -1 and `errno`.
fn byte_count(n: isize) -> io::Result<usize> {
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

impl<T: AsFd + fmt::Debug> fmt::Debug for Source<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source").field("io", &self.io).finish()
    }
}

/// What a descriptor is ready for, or what to wait for on it: readable,
/// writable, both or neither. [`fd_ready`] reports it; [`FdWatch`] waits
/// for it.
///
/// *Readable*: a `read(2)` would not block: data is there, or the peer has
/// closed (a read returns 0), or an error is pending (a read fails).
/// *Writable*: a `write(2)` would not block, or would fail at once (the
/// peer is gone, an error is pending). This is `poll(2)`'s level-triggered
/// view, libzmq's for the descriptors in a `zmq_poll`: `POLLHUP` and
/// `POLLERR` count as both.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FdEvents {
    readable: bool,
    writable: bool,
}

impl FdEvents {
    /// Neither.
    pub const NONE: FdEvents = FdEvents {
        readable: false,
        writable: false,
    };
    /// Readable (`POLLIN`).
    pub const READABLE: FdEvents = FdEvents {
        readable: true,
        writable: false,
    };
    /// Writable (`POLLOUT`).
    pub const WRITABLE: FdEvents = FdEvents {
        readable: false,
        writable: true,
    };
    /// Both.
    pub const BOTH: FdEvents = FdEvents {
        readable: true,
        writable: true,
    };

    /// Readable and/or writable, as the two flags say.
    pub const fn new(readable: bool, writable: bool) -> FdEvents {
        FdEvents { readable, writable }
    }

    /// Whether readable is set.
    pub const fn is_readable(self) -> bool {
        self.readable
    }

    /// Whether writable is set.
    pub const fn is_writable(self) -> bool {
        self.writable
    }

    /// Whether neither is set.
    pub const fn is_empty(self) -> bool {
        !self.readable && !self.writable
    }
}

impl fmt::Debug for FdEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.readable, self.writable) {
            (false, false) => f.write_str("NONE"),
            (true, false) => f.write_str("READABLE"),
            (false, true) => f.write_str("WRITABLE"),
            (true, true) => f.write_str("BOTH"),
        }
    }
}

/// What `fd` is ready for now, among `interest`: `poll(2)` with a zero
/// timeout, so level-triggered, and nothing is read or written.
///
/// # Errors
///
/// What `poll(2)` reports; `EBADF` (`POLLNVAL`) if `fd` is not open.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsFd;
/// use std::os::unix::net::UnixStream;
/// use dhaga_runtime::{FdEvents, fd_ready};
///
/// let (mut a, b) = UnixStream::pair()?;
/// assert_eq!(fd_ready(b.as_fd(), FdEvents::BOTH)?, FdEvents::WRITABLE);
/// a.write_all(b"x")?;
/// assert_eq!(fd_ready(b.as_fd(), FdEvents::BOTH)?, FdEvents::BOTH);
/// # std::io::Result::Ok(())
/// ```
pub fn fd_ready(fd: BorrowedFd<'_>, interest: FdEvents) -> io::Result<FdEvents> {
    let (readable, writable) = sys::poll_now(fd.as_raw_fd(), interest.readable, interest.writable)?;
    Ok(FdEvents { readable, writable })
}

/// A watcher of a descriptor's readiness: until it is dropped, the
/// descriptor becoming ready for what was asked unparks the watcher. It
/// reads and writes nothing, and takes nothing from other waiters on the
/// descriptor (a `TcpStream`'s own `read` still wakes).
///
/// This is the descriptor's part of a poller that waits on descriptors,
/// channels ([`Receiver::watch`](crate::sync::Receiver::watch)) and other
/// things at once (`dhaga-mq`'s `Poller`): watch everything, look at
/// everything ([`fd_ready`]), park until unparked or a deadline, and look
/// again after every wake-up. Wake-ups may be spurious.
///
/// # How it works
///
/// The watch registers a duplicate of the descriptor (`dup(2)`: the same
/// open file, another number, so the original may be registered elsewhere
/// already, by its own `Source`), edge-triggered: the pollers report each
/// time it *becomes* ready, which is when the watcher must look. Its mode
/// (blocking or not) is left alone. A micro-thread registers it with its
/// own worker's poller, as its own reads do; an OS thread (or a thread-mode
/// thread), which has no poller to sleep in, with the poller of one helper
/// thread (`dhaga-fd-watch`, started by the first such watch), whose only
/// work is to unpark the watchers of the events it gets. Dropping the watch
/// deletes the duplicate from the poller and closes it.
///
/// # Errors
///
/// From `dup(2)` (`EMFILE`), or from adding the descriptor to the poller
/// (a regular file cannot be: `EPERM`; it is always ready anyway, which
/// [`fd_ready`] says).
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsFd;
/// use std::os::unix::net::UnixStream;
/// use dhaga_runtime::{FdEvents, FdWatch, current_unparker, fd_ready, park};
///
/// let (mut a, b) = UnixStream::pair()?;
/// let _watch = FdWatch::new(b.as_fd(), FdEvents::READABLE, current_unparker())?;
/// let writer = std::thread::spawn(move || a.write_all(b"x"));
/// while fd_ready(b.as_fd(), FdEvents::READABLE)?.is_empty() {
///     park(); // the watch unparks us
/// }
/// # writer.join().unwrap()?;
/// # std::io::Result::Ok(())
/// ```
pub struct FdWatch {
    state: Arc<SourceState>,
    /// The duplicate, registered; `Some` until dropped.
    fd: Option<OwnedFd>,
    /// The helper's key, if registered there rather than with a worker.
    helper: Option<usize>,
}

impl FdWatch {
    /// Watches `fd` for `interest` on behalf of `unparker`.
    ///
    /// # Errors
    ///
    /// See [`FdWatch`].
    pub fn new(fd: BorrowedFd<'_>, interest: FdEvents, unparker: park::Unparker) -> io::Result<FdWatch> {
        let dup = fd.try_clone_to_owned()?;
        let state = Arc::new(SourceState::new());
        state.set_watcher(unparker.into_inner(), [interest.readable, interest.writable]);
        let mut watch = FdWatch {
            state,
            fd: None,
            helper: None,
        };
        let on_worker = watch.state.arm_here(dup.as_fd());
        match on_worker {
            Some(armed) => {
                // Dropped on failure with nothing registered: `arm` records
                // a registration only once made.
                watch.fd = Some(dup);
                armed?;
            }
            None => {
                let key = helper()?.add(&watch.state, dup.as_fd(), interest)?;
                watch.fd = Some(dup);
                watch.helper = Some(key);
            }
        }
        Ok(watch)
    }
}

impl Drop for FdWatch {
    fn drop(&mut self) {
        // The contract of `Poller::add`: delete before the descriptor closes.
        let Some(fd) = self.fd.take() else { return };
        match self.helper {
            Some(key) => {
                if let Ok(helper) = helper() {
                    helper.remove(key, fd.as_fd());
                }
            }
            None => self.state.deregister(),
        }
        drop(fd);
    }
}

impl fmt::Debug for FdWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FdWatch").field("fd", &self.fd).finish_non_exhaustive()
    }
}

/// The poller of the `dhaga-fd-watch` thread, for [`FdWatch`]es made outside
/// micro-threads, and what its keys stand for.
struct Helper {
    poller: Poller,
    watches: Mutex<Slab<Arc<SourceState>>>,
}

/// The helper, started on first use; never stopped (like the default
/// runtime). The one place it is reached from.
fn helper() -> io::Result<&'static Helper> {
    static HELPER: OnceLock<Result<Helper, io::ErrorKind>> = OnceLock::new();
    let helper = HELPER.get_or_init(|| {
        let helper = Helper {
            poller: Poller::new().map_err(|e| e.kind())?,
            watches: Mutex::new(Slab::new()),
        };
        Ok(helper)
    });
    let helper = helper
        .as_ref()
        .map_err(|&kind| io::Error::new(kind, "dhaga: cannot start the fd-watch poller"))?;
    static STARTED: OnceLock<io::Result<()>> = OnceLock::new();
    match STARTED.get_or_init(|| {
        std::thread::Builder::new()
            .name("dhaga-fd-watch".into())
            .spawn(move || helper.run())
            .map(drop)
    }) {
        Ok(()) => Ok(helper),
        Err(e) => Err(io::Error::new(e.kind(), "dhaga: cannot start the fd-watch thread")),
    }
}

impl Helper {
    fn run(&self) -> ! {
        let mut events = Events::new();
        loop {
            events.clear();
            if let Err(e) = self.poller.wait(&mut events, None)
                && e.kind() != io::ErrorKind::Interrupted
            {
                log::error!(target: "dhaga", "the fd-watch thread failed to poll: {e}");
            }
            // A key removed after its event was fetched may name another
            // watch by now: a spurious wake-up for it, which watchers allow.
            let watches = self.watches.lock().unwrap_or_else(|e| e.into_inner());
            for event in events.iter() {
                if let Some(state) = watches.get(event.key) {
                    state.ready(event.readable, event.writable, poller::exceptional(&event));
                }
            }
        }
    }

    fn add(&self, state: &Arc<SourceState>, fd: BorrowedFd<'_>, interest: FdEvents) -> io::Result<usize> {
        let mut watches = self.watches.lock().unwrap_or_else(|e| e.into_inner());
        let key = watches.insert(Arc::clone(state));
        let event = Event::new(key, interest.readable, interest.writable);
        // Without edge mode the helper would wake again and again while the
        // descriptor stays ready: spurious wake-ups until the watch goes.
        let mode = if self.poller.supports_edge() {
            PollMode::Edge
        } else {
            PollMode::Level
        };
        // SAFETY: `Poller::add` requires the descriptor to be deleted from
        // the poller before it is closed. It is an `FdWatch`'s duplicate,
        // which the watch owns and whose `Drop` calls `Helper::remove`
        // (deleting it) before closing it.
        let added = unsafe { self.poller.add_with_mode(fd.as_raw_fd(), event, mode) };
        if let Err(e) = added {
            watches.remove(key);
            return Err(e);
        }
        Ok(key)
    }

    fn remove(&self, key: usize, fd: BorrowedFd<'_>) {
        let _ = self.poller.delete(fd);
        self.watches.lock().unwrap_or_else(|e| e.into_inner()).try_remove(key);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    use std::sync::Arc;

    use dhaga_testutil::{PATIENCE, wait_until};

    use super::Source;
    use crate::RuntimeBuilder;
    use crate::sys::Direction;
    use crate::task::Cancelled;

    /// A micro-thread parked for readability and then cancelled unwinds out
    /// of its park; its entry on the descriptor's list of readers must go
    /// with it, not wait there (holding its finished micro-thread) for a
    /// readiness event that may never come.
    #[test]
    fn a_cancelled_reader_leaves_no_entry_on_the_list() {
        let rt = RuntimeBuilder::new().workers(1).build().unwrap();
        let (ours, peer) = UnixStream::pair().unwrap();
        let source = Arc::new(Source::new(ours).unwrap());
        let readers = |source: &Source<UnixStream>| source.state.waiters(Direction::Read);
        let reader = {
            let source = Arc::clone(&source);
            rt.spawn(move || {
                let mut buf = [0u8; 1];
                // Its first park: nothing is written to `peer`.
                let _ = source.read_with(None, |mut s| s.read(&mut buf));
            })
        };
        wait_until("the reader parked, waiting for readability", || reader.is_parked());
        assert_eq!(readers(&source), 1, "the parked reader is listed");
        reader.cancel();
        match reader.join_timeout(PATIENCE) {
            Ok(Err(payload)) => assert!(payload.is::<Cancelled>(), "unwound by the cancellation"),
            Ok(Ok(())) => panic!("the cancelled reader returned"),
            Err(_) => panic!("waited {PATIENCE:?} for the cancelled reader to end"),
        }
        assert_eq!(readers(&source), 0, "the cancelled reader left its entry behind");
        drop(peer);
    }

    /// `try_read_buf`'s unsafe part (reading into uninitialised memory and
    /// `set_len`), on a plain blocking pipe: no reactor, so Miri can run
    /// them (`cargo +nightly miri test -p dhaga-runtime --lib try_read_buf`).
    #[cfg(feature = "bytes")]
    mod try_read_buf {
        use std::io::{Write, pipe};
        use std::os::fd::AsFd;

        use bytes::BytesMut;

        use crate::io::try_read_buf;

        #[test]
        fn try_read_buf_appends_in_the_spare_capacity() {
            let (b, mut a) = pipe().unwrap();
            a.write_all(b"hello, world").unwrap();
            let mut buf = BytesMut::with_capacity(64);
            buf.extend_from_slice(b">> ");
            let (at, capacity) = (buf.as_ptr(), buf.capacity());
            assert_eq!(try_read_buf(b.as_fd(), &mut buf).unwrap(), 12);
            assert_eq!(&buf[..], b">> hello, world");
            assert_eq!((buf.as_ptr(), buf.capacity()), (at, capacity), "not read in place");
        }

        #[test]
        fn try_read_buf_takes_at_most_the_spare_capacity() {
            let (b, mut a) = pipe().unwrap();
            a.write_all(&[7; 100]).unwrap();
            let mut buf = BytesMut::with_capacity(40);
            let spare = buf.capacity();
            assert!(spare < 100, "BytesMut::with_capacity(40) gave {spare} bytes");
            assert_eq!(try_read_buf(b.as_fd(), &mut buf).unwrap(), spare);
            buf.reserve(100 - spare);
            assert_eq!(try_read_buf(b.as_fd(), &mut buf).unwrap(), 100 - spare);
            assert_eq!(&buf[..], [7; 100]);
        }

        #[test]
        fn try_read_buf_without_spare_capacity_reads_nothing() {
            let (b, mut a) = pipe().unwrap();
            a.write_all(b"x").unwrap();
            let mut buf = BytesMut::from(&b"full"[..]);
            assert_eq!(buf.len(), buf.capacity(), "the buffer has room");
            assert_eq!(try_read_buf(b.as_fd(), &mut buf).unwrap(), 0);
            assert_eq!(&buf[..], b"full");
            // The byte is still there for the next read.
            buf.reserve(1);
            assert_eq!(try_read_buf(b.as_fd(), &mut buf).unwrap(), 1);
            assert_eq!(&buf[..], b"fullx");
        }

        #[test]
        fn try_read_buf_at_end_of_file_is_zero() {
            let (b, a) = pipe().unwrap();
            drop(a);
            let mut buf = BytesMut::with_capacity(16);
            assert_eq!(try_read_buf(b.as_fd(), &mut buf).unwrap(), 0);
            assert!(buf.is_empty());
        }
    }
}

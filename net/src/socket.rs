//! The one helper every socket method goes through: try the call, and when it
//! would block, wait for readiness (parking the micro-thread, or blocking the
//! OS thread in `poll(2)`) and retry — honouring the socket's timeouts and
//! non-blocking mode the way std does.

use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dhaga_runtime::Source;

/// Backoff of `accept` while the process is out of file descriptors.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(5), Duration::from_millis(500));

/// Settings that std keeps in the kernel, shared by a socket and its
/// `try_clone`s, as the kernel shares them.
#[derive(Default)]
pub(crate) struct Options {
    /// Read timeout in nanoseconds; 0 is none (std refuses zero timeouts).
    read_timeout: AtomicU64,
    write_timeout: AtomicU64,
    nonblocking: AtomicBool,
}

/// A socket of type `T` (a std socket; for `TcpSocket`, a `socket2::Socket`
/// that has yet to connect or listen) registered with dhaga's reactor.
pub(crate) struct Socket<T: AsFd> {
    source: Source<T>,
    options: Arc<Options>,
}

impl<T: AsFd> Socket<T> {
    /// Wraps a std socket (switching it to non-blocking mode underneath).
    pub(crate) fn new(io: T) -> io::Result<Socket<T>> {
        Ok(Socket {
            source: Source::new(io)?,
            options: Arc::default(),
        })
    }

    /// [`Socket::new`] for the conversions that cannot fail (`From`,
    /// `FromRawFd`).
    ///
    /// # Panics
    ///
    /// If the descriptor cannot be switched to non-blocking mode, which does
    /// not happen to an open socket: `fcntl`'s `F_GETFL` and `F_SETFL` fail
    /// only for a descriptor that is not open, or to clear `O_APPEND` of an
    /// append-only file, which setting `O_NONBLOCK` does not do.
    pub(crate) fn from_owned(io: T) -> Socket<T> {
        Socket::new(io).unwrap_or_else(|e| panic!("dhaga: cannot switch a socket to non-blocking mode: {e}"))
    }

    pub(crate) fn get_ref(&self) -> &T {
        self.source.get_ref()
    }

    /// A second handle to the same socket (`dup` made by `clone`), sharing
    /// its timeouts.
    pub(crate) fn try_clone(&self, clone: impl FnOnce(&T) -> io::Result<T>) -> io::Result<Socket<T>> {
        Ok(Socket {
            source: Source::new(clone(self.get_ref())?)?,
            options: Arc::clone(&self.options),
        })
    }

    /// The std socket, out of the reactor and back in blocking mode.
    ///
    /// Blocking mode is a flag of the open socket, shared by every
    /// descriptor duplicated from it: clearing it under clones still in use
    /// by dhaga would make their calls block their worker. So this fails
    /// while clones made by `try_clone` exist. Duplicates made otherwise
    /// (`dup`, std's `try_clone`) cannot be seen here; the public docs warn
    /// of them.
    pub(crate) fn into_inner(self, set_blocking: impl FnOnce(&T) -> io::Result<()>) -> io::Result<T> {
        if Arc::strong_count(&self.options) > 1 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "into_std: clones of this socket (try_clone) are still in use, and blocking mode \
                 is shared by all of them; drop them first",
            ));
        }
        let io = self.source.into_inner();
        set_blocking(&io)?;
        Ok(io)
    }

    /// The std socket, out of the reactor, for the conversions that cannot
    /// fail (`IntoRawFd`, `Into<OwnedFd>`). Nothing is closed.
    ///
    /// It stays in non-blocking mode, as tokio and async-io hand
    /// descriptors out: the flag is shared by every descriptor duplicated
    /// from the socket, and another dhaga socket may be one of them (a
    /// `try_clone` clone, or one made from a `dup` this one cannot know
    /// of). Clearing the flag would make that socket's calls block its
    /// worker's OS thread.
    pub(crate) fn into_owned(self) -> T {
        self.source.into_inner()
    }

    /// Runs `op` until it does not block, waiting for readability in between.
    pub(crate) fn read<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        if self.options.nonblocking.load(Ordering::Relaxed) {
            let mut op = op;
            return op(self.get_ref());
        }
        let deadline = deadline(&self.options.read_timeout);
        self.source.read_with(deadline, op).map_err(timed_out)
    }

    /// [`Socket::read`] for a stream read into `len` bytes of room: after
    /// a short read, the next one waits for readiness before it tries (see
    /// `Source::read_stream_with`).
    pub(crate) fn read_stream(&self, len: usize, op: impl FnMut(&T) -> io::Result<usize>) -> io::Result<usize> {
        if self.options.nonblocking.load(Ordering::Relaxed) {
            let mut op = op;
            return op(self.get_ref());
        }
        let deadline = deadline(&self.options.read_timeout);
        self.source.read_stream_with(deadline, len, op).map_err(timed_out)
    }

    /// Runs `op` until it does not block, waiting for writability in between.
    pub(crate) fn write<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        if self.options.nonblocking.load(Ordering::Relaxed) {
            let mut op = op;
            return op(self.get_ref());
        }
        let deadline = deadline(&self.options.write_timeout);
        self.source.write_with(deadline, op).map_err(timed_out)
    }

    /// `accept`: like [`Socket::read`], but when the process (or system) is
    /// out of file descriptors it backs off (5 ms, doubling up to 500 ms,
    /// parking a micro-thread or sleeping a thread) and tries again, so a
    /// server under fd exhaustion neither spins nor gives up, and serves again
    /// as soon as descriptors are free. In non-blocking mode the error is
    /// returned, as std does.
    pub(crate) fn accept<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        let (mut backoff, max) = ACCEPT_BACKOFF;
        loop {
            match self.read(&mut op) {
                Err(e) if is_out_of_descriptors(&e) && !self.options.nonblocking.load(Ordering::Relaxed) => {
                    dhaga_runtime::sleep(backoff);
                    backoff = (backoff * 2).min(max);
                }
                result => return result,
            }
        }
    }

    /// Waits until the socket is writable (a connect in progress finished),
    /// at most `timeout`.
    pub(crate) fn writable(&self, timeout: Option<Duration>) -> io::Result<()> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        self.source.writable(deadline)
    }

    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        set_timeout(&self.options.read_timeout, timeout)
    }

    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        set_timeout(&self.options.write_timeout, timeout)
    }

    pub(crate) fn read_timeout(&self) -> Option<Duration> {
        get_timeout(&self.options.read_timeout)
    }

    pub(crate) fn write_timeout(&self) -> Option<Duration> {
        get_timeout(&self.options.write_timeout)
    }

    /// std's `set_nonblocking`: calls return `WouldBlock` instead of waiting.
    pub(crate) fn set_nonblocking(&self, nonblocking: bool) {
        self.options.nonblocking.store(nonblocking, Ordering::Relaxed);
    }
}

fn deadline(timeout: &AtomicU64) -> Option<Instant> {
    get_timeout(timeout).and_then(|t| Instant::now().checked_add(t))
}

fn get_timeout(timeout: &AtomicU64) -> Option<Duration> {
    match timeout.load(Ordering::Relaxed) {
        0 => None,
        nanos => Some(Duration::from_nanos(nanos)),
    }
}

fn set_timeout(slot: &AtomicU64, timeout: Option<Duration>) -> io::Result<()> {
    let nanos = match timeout {
        None => 0,
        Some(t) if t.is_zero() => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        Some(t) => u64::try_from(t.as_nanos()).unwrap_or(u64::MAX),
    };
    slot.store(nanos, Ordering::Relaxed);
    Ok(())
}

/// A socket timeout surfaces as `EAGAIN` (`WouldBlock`), exactly as std's
/// does on Unix.
fn timed_out(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::TimedOut && e.raw_os_error().is_none() {
        io::Error::from_raw_os_error(libc::EAGAIN)
    } else {
        e
    }
}

fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Whether a non-blocking `connect` returned "in progress". (`EAGAIN` is not:
/// for TCP it means no local port is free, for Unix sockets a full backlog.)
pub(crate) fn is_connect_in_progress(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINPROGRESS)
}

/// `Read` and `Write` for a stream type and for shared references to it (so
/// one micro-thread can read while another writes), each call one line over
/// [`Socket::read`] / [`Socket::write`].
macro_rules! stream_io {
    ($($t:ty),*) => {$(
        impl std::io::Read for &$t {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.inner.read_stream(buf.len(), |mut s| std::io::Read::read(&mut s, buf))
            }

            fn read_vectored(&mut self, bufs: &mut [std::io::IoSliceMut<'_>]) -> std::io::Result<usize> {
                // std reads into at most `IOV_MAX` buffers at once (16 at
                // the least), and a read that filled those would look short
                // against the rest: past 16 buffers, no hint (0).
                let len = if bufs.len() <= 16 { bufs.iter().map(|b| b.len()).sum() } else { 0 };
                self.inner.read_stream(len, |mut s| std::io::Read::read_vectored(&mut s, bufs))
            }
        }

        impl std::io::Write for &$t {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.inner.write(|mut s| std::io::Write::write(&mut s, buf))
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.inner.write(|mut s| std::io::Write::write_vectored(&mut s, bufs))
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Read for $t {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                (&*self).read(buf)
            }

            fn read_vectored(&mut self, bufs: &mut [std::io::IoSliceMut<'_>]) -> std::io::Result<usize> {
                (&*self).read_vectored(bufs)
            }
        }

        impl std::io::Write for $t {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                (&*self).write(buf)
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                (&*self).write_vectored(bufs)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    )*};
}

/// The timeout methods of every socket type but the listeners, alike.
/// Expanded inside each type's `impl` block.
macro_rules! timeout_methods {
    () => {
        /// Sets the read timeout (`None`: wait forever). A read that runs
        /// past it fails with `WouldBlock`, as std's do on Unix.
        ///
        /// # Errors
        ///
        /// `InvalidInput` for a zero duration, as std.
        pub fn set_read_timeout(&self, timeout: Option<std::time::Duration>) -> std::io::Result<()> {
            self.inner.set_read_timeout(timeout)
        }

        /// Sets the write timeout (`None`: wait forever). A write that runs
        /// past it fails with `WouldBlock`, as std's do on Unix.
        ///
        /// # Errors
        ///
        /// `InvalidInput` for a zero duration, as std.
        pub fn set_write_timeout(&self, timeout: Option<std::time::Duration>) -> std::io::Result<()> {
            self.inner.set_write_timeout(timeout)
        }

        /// The read timeout.
        ///
        /// # Errors
        ///
        /// Never; the `Result` mirrors std.
        pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
            Ok(self.inner.read_timeout())
        }

        /// The write timeout.
        ///
        /// # Errors
        ///
        /// Never; the `Result` mirrors std.
        pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
            Ok(self.inner.write_timeout())
        }
    };
}

/// `read_buf`, of the stream types. Expanded inside each type's `impl`
/// block.
#[cfg(feature = "bytes")]
macro_rules! read_buf_method {
    () => {
        /// Reads into the spare capacity of `buf` (what `buf.capacity()` has
        /// beyond `buf.len()`), without zeroing it first, and appends what
        /// came: [`read`](std::io::Read::read) for a
        /// [`BytesMut`](bytes::BytesMut), with the same parking, read timeout
        /// and non-blocking mode. One call takes as much of the spare
        /// capacity as has arrived, so `buf.reserve(n)` first to take up to
        /// `n` bytes in one read.
        ///
        /// Returns how many bytes were appended: `Ok(0)` at end of file, and
        /// at once, without reading, if `buf` has no spare capacity (as
        /// `read` with an empty slice).
        ///
        /// Available with the `bytes` feature.
        ///
        /// # Errors
        ///
        /// As `read`: `WouldBlock` once the read timeout passes (or at once
        /// in non-blocking mode), or the socket's error.
        pub fn read_buf(&self, buf: &mut bytes::BytesMut) -> std::io::Result<usize> {
            let len = buf.capacity() - buf.len();
            self.inner.read_stream(len, |s| {
                dhaga_runtime::try_read_buf(std::os::fd::AsFd::as_fd(s), buf)
            })
        }
    };
}

/// The methods every socket type has alike: non-blocking mode and the
/// pending error. Expanded inside each type's `impl` block.
macro_rules! mode_methods {
    () => {
        /// Takes the pending socket error (`SO_ERROR`).
        ///
        /// # Errors
        ///
        /// If the option cannot be read.
        pub fn take_error(&self) -> std::io::Result<Option<std::io::Error>> {
            self.inner.get_ref().take_error()
        }

        /// In non-blocking mode calls return `WouldBlock` instead of parking.
        ///
        /// # Errors
        ///
        /// Never; the `Result` mirrors std.
        pub fn set_nonblocking(&self, nonblocking: bool) -> std::io::Result<()> {
            self.inner.set_nonblocking(nonblocking);
            Ok(())
        }
    };
}

#[cfg(feature = "bytes")]
pub(crate) use read_buf_method;
pub(crate) use {mode_methods, stream_io, timeout_methods};

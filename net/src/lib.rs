//! `dhaga::net`: `std::net` (and `std::os::unix::net`) for micro-threads.
//!
//! Every type mirrors its std counterpart method for method, so a threaded
//! server is ported by changing its `use` lines. The difference is what
//! blocking means: in a micro-thread, a call that would block parks only the
//! micro-thread, and its worker runs others until the socket is ready; on a
//! plain OS thread the same call blocks the thread, exactly like std. That is
//! what lets one program run on micro-threads or, with the runtime in thread
//! mode, on OS threads.
//!
//! # How it works
//!
//! Each socket is non-blocking underneath and registered with the reactor of
//! the worker that waits on it ([`dhaga_runtime::Source`]). Every method is
//! one line over one helper: try the system call; on `WouldBlock`, wait for
//! readiness (or the socket's timeout) and try again. Host names resolve on
//! the blocking pool ([`dhaga_runtime::spawn_blocking`]), and `accept` waits
//! out file-descriptor exhaustion instead of failing or spinning. Listeners
//! queue as many unaccepted connections as the system allows, where std
//! queues 128 ([`TcpListener::bind_with_backlog`] sets the length).
//!
//! One type has no std counterpart: [`TcpSocket`], tokio's type of that
//! name, sets the options that must be set before a socket connects or
//! listens (the local address to connect from, `SO_REUSEADDR`, buffer
//! sizes, [`Keepalive`] timing, the type of service...).
//!
//! # Addresses
//!
//! `bind`, `connect` and `send_to` take std's own [`ToSocketAddrs`]
//! (re-exported here), so code generic over it ports unchanged. What
//! differs is where a host name is looked up, since `getaddrinfo` blocks
//! its OS thread:
//!
//! - **Text** — `"host:port"` as `&str` or `String`, `(host, port)` with a
//!   `&str` or `String` host, or a reference to one of these up to three
//!   deep (`&&String`, as generic code passing a borrowed address on makes
//!   it): a numeric address is parsed in place; a name is looked up on the
//!   blocking pool, parking only the calling micro-thread.
//! - **Numbers** — `SocketAddr`, `SocketAddrV4`/`V6`, `(IpAddr, u16)` and
//!   the like, `&[SocketAddr]`: nothing to look up, nothing blocks.
//! - **Any other type implementing the trait** (of another crate or of the
//!   program), and text under more than three references: its
//!   `to_socket_addrs` runs in place, on the worker. If it looks a name up,
//!   the worker and its other micro-threads wait for that lookup, as they
//!   would in `may`. Resolve such names with [`lookup_host`] on their text,
//!   then pass the addresses.
//!
//! Why not always on the blocking pool: a generic `A: ToSocketAddrs` may be
//! a borrow that is neither `Send` nor `Sync`, so its `to_socket_addrs`
//! cannot soundly be called from another thread. The textual forms are
//! recognised by type and their text copied, which is sound for any of
//! them; other types cannot be copied without knowing them.
//!
//! # File descriptors
//!
//! Every socket type has std's descriptor conversions: [`AsFd`],
//! [`AsRawFd`], [`FromRawFd`], [`IntoRawFd`], `From<OwnedFd>`, `Into<OwnedFd>`
//! and `From` its std counterpart (as [`TcpStream::from_std`] does). A
//! descriptor coming in is switched to non-blocking mode, as dhaga needs.
//! One going out (`IntoRawFd`, `Into<OwnedFd>`) is removed from the reactor
//! first, is not closed, and stays in non-blocking mode, as tokio and
//! async-io hand theirs out: call `set_nonblocking(false)` on the std
//! socket if you need blocking mode. The mode is one flag of the open
//! socket, shared by every duplicate of the descriptor, and another dhaga
//! socket may still use one — a `try_clone` clone, or a socket made from a
//! `dup` (std's `try_clone` with `From` each copy, `try_clone_to_owned`,
//! `FromRawFd` of a `dup(2)`) — whose calls would block its worker in
//! blocking mode. `into_std` does switch to blocking mode, refusing while
//! `try_clone` clones live; it cannot see other duplicates.
//!
//! [`AsFd`]: std::os::fd::AsFd
//! [`AsRawFd`]: std::os::fd::AsRawFd
//! [`FromRawFd`]: std::os::fd::FromRawFd
//! [`IntoRawFd`]: std::os::fd::IntoRawFd
//!
//! # Unsafe code
//!
//! The system calls and the unsafe code under them live in the runtime
//! (`Source`, `try_read_buf`). The crate denies `unsafe_code`, and allows it
//! in two places only, each with its `SAFETY` comment:
//!
//! - the [`FromRawFd`] impls, whose method is unsafe by std's contract and
//!   which only this crate may write (the orphan rule);
//! - `addr.rs`'s recognition of the textual address forms: the cast from a
//!   generic reference to the form its type id matched, for types that
//!   need not be `'static`.
//!
//! That is why it is `deny`, not `forbid`, which no `allow` could lift.
//!
//! # Features
//!
//! - `bytes` (off by default): `TcpStream::read_buf` and
//!   `UnixStream::read_buf`, which read into the uninitialised spare
//!   capacity of a `bytes::BytesMut`, so a reader neither zeroes nor copies
//!   what it reads.
//!
//! # Examples
//!
//! An echo server, one micro-thread per connection:
//!
//! ```
//! use std::io::{Read, Write};
//! use dhaga_net::{TcpListener, TcpStream};
//!
//! fn handle(mut stream: TcpStream) -> std::io::Result<()> {
//!     let mut buf = [0; 4096];
//!     loop {
//!         let n = stream.read(&mut buf)?; // parks until data arrives
//!         if n == 0 {
//!             return Ok(());
//!         }
//!         stream.write_all(&buf[..n])?;
//!     }
//! }
//!
//! let reply = dhaga_runtime::run(|| {
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     dhaga_runtime::spawn(move || {
//!         for stream in listener.incoming() {
//!             dhaga_runtime::spawn(move || handle(stream?));
//!         }
//!         std::io::Result::Ok(())
//!     });
//!     let mut client = TcpStream::connect(addr)?;
//!     client.write_all(b"hello")?;
//!     let mut reply = [0; 5];
//!     client.read_exact(&mut reply)?;
//!     std::io::Result::Ok(reply)
//! })?;
//! assert_eq!(&reply, b"hello");
//! # std::io::Result::Ok(())
//! ```

#![deny(unsafe_code)]

mod addr;
mod listen;
mod socket;
mod tcp;
mod tcp_socket;
mod udp;
#[cfg(unix)]
mod unix;

pub use addr::lookup_host;
pub use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6, ToSocketAddrs};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use tcp_socket::{Keepalive, TcpSocket};
pub use udp::UdpSocket;
#[cfg(unix)]
pub use unix::{Incoming as UnixIncoming, UnixDatagram, UnixListener, UnixStream};

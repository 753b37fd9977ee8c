//! The listen backlog: how many connections the kernel completes and keeps
//! for a listener before it `accept`s them.
//!
//! std listens with a fixed 128 and has no way to ask for more. A server
//! that stops accepting for a moment under a burst of thousands of connects
//! then overflows its queue: the kernel drops SYNs, and each dropped connect
//! waits a second or more for its retransmission. So dhaga's `bind` listens
//! with the system's own limit, as Go does: `net.core.somaxconn` on Linux
//! (read at each bind, so a changed sysctl applies to later listeners), and
//! 1024 elsewhere, as mio and tokio use. Whatever is asked, the kernel caps
//! the backlog at its limit.

use std::io;

/// The backlog where the system's limit cannot be read (mio's and tokio's).
const FALLBACK_BACKLOG: u32 = 1024;

/// The kernel's cap on listen backlogs, which `listen` applies to anything
/// larger (Linux).
#[cfg(any(target_os = "linux", target_os = "android"))]
const SOMAXCONN_PATH: &str = "/proc/sys/net/core/somaxconn";

/// The backlog `bind` listens with: the system's limit.
pub(crate) fn system_backlog() -> u32 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(limit) = std::fs::read_to_string(SOMAXCONN_PATH)
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
        .filter(|&limit| limit > 0)
    {
        return limit;
    }
    FALLBACK_BACKLOG
}

/// Makes a bound `socket` listen, asking for `backlog` waiting connections.
///
/// `listen(2)` takes a C `int`; a larger request asks for `c_int::MAX`,
/// which the kernel lowers to its limit as it does any request above it
/// (passing it through would wrap to a negative number, whose meaning
/// differs between systems).
pub(crate) fn listen(socket: &socket2::Socket, backlog: u32) -> io::Result<()> {
    socket.listen(libc::c_int::try_from(backlog).unwrap_or(libc::c_int::MAX))
}

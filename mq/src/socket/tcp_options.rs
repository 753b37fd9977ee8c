//! Options of `tcp://` sockets, named after libzmq's: `ZMQ_SNDBUF`,
//! `ZMQ_RCVBUF`, `ZMQ_TCP_KEEPALIVE` (with `_IDLE`, `_INTVL` and `_CNT`),
//! `ZMQ_TCP_MAXRT`, `ZMQ_TOS`, `ZMQ_BINDTODEVICE` and
//! `ZMQ_CONNECT_TIMEOUT`.
//!
//! As in libzmq, each applies to the sockets made after it is set: the
//! listener of a later `bind` (its accepted connections inherit it) and
//! each later connection attempt of a `connect`, earlier ones included
//! when they reconnect. `None` leaves the system's default.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::options::TcpOptions;
use crate::socket::Socket;

impl Socket {
    /// `ZMQ_SNDBUF`: the kernel's send buffer of each TCP connection
    /// (`SO_SNDBUF`), in bytes. Linux doubles what is asked, for its own
    /// bookkeeping.
    pub fn set_send_buffer_size(&self, bytes: Option<u32>) {
        self.with_tcp(|tcp| tcp.send_buffer = bytes);
    }

    /// What [`set_send_buffer_size`](Socket::set_send_buffer_size) set.
    pub fn send_buffer_size(&self) -> Option<u32> {
        self.with_tcp(|tcp| tcp.send_buffer)
    }

    /// `ZMQ_RCVBUF`: the kernel's receive buffer of each TCP connection
    /// (`SO_RCVBUF`), in bytes.
    pub fn set_recv_buffer_size(&self, bytes: Option<u32>) {
        self.with_tcp(|tcp| tcp.recv_buffer = bytes);
    }

    /// What [`set_recv_buffer_size`](Socket::set_recv_buffer_size) set.
    pub fn recv_buffer_size(&self) -> Option<u32> {
        self.with_tcp(|tcp| tcp.recv_buffer)
    }

    /// `ZMQ_TCP_KEEPALIVE`: TCP keepalive probes on (`Some(true)`) or off
    /// for each connection (`SO_KEEPALIVE`). The probes' timing, set with
    /// [`set_tcp_keepalive_idle`](Socket::set_tcp_keepalive_idle) and the
    /// like, applies only with them on.
    pub fn set_tcp_keepalive(&self, on: Option<bool>) {
        self.with_tcp(|tcp| tcp.keepalive = on);
    }

    /// What [`set_tcp_keepalive`](Socket::set_tcp_keepalive) set.
    pub fn tcp_keepalive(&self) -> Option<bool> {
        self.with_tcp(|tcp| tcp.keepalive)
    }

    /// `ZMQ_TCP_KEEPALIVE_IDLE`: how long a connection is idle before the
    /// first keepalive probe (`TCP_KEEPIDLE`), in whole seconds.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for less than a second or a fraction of one.
    pub fn set_tcp_keepalive_idle(&self, idle: Option<Duration>) -> Result<()> {
        let idle = whole_seconds(idle, "tcp_keepalive_idle")?;
        self.with_tcp(|tcp| tcp.keepalive_idle = idle);
        Ok(())
    }

    /// What [`set_tcp_keepalive_idle`](Socket::set_tcp_keepalive_idle) set.
    pub fn tcp_keepalive_idle(&self) -> Option<Duration> {
        self.with_tcp(|tcp| tcp.keepalive_idle)
    }

    /// `ZMQ_TCP_KEEPALIVE_INTVL`: the time between keepalive probes
    /// (`TCP_KEEPINTVL`), in whole seconds.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for less than a second or a fraction of one.
    pub fn set_tcp_keepalive_interval(&self, interval: Option<Duration>) -> Result<()> {
        let interval = whole_seconds(interval, "tcp_keepalive_interval")?;
        self.with_tcp(|tcp| tcp.keepalive_interval = interval);
        Ok(())
    }

    /// What [`set_tcp_keepalive_interval`](Socket::set_tcp_keepalive_interval) set.
    pub fn tcp_keepalive_interval(&self) -> Option<Duration> {
        self.with_tcp(|tcp| tcp.keepalive_interval)
    }

    /// `ZMQ_TCP_KEEPALIVE_CNT`: how many keepalive probes go unanswered
    /// before the connection is dropped (`TCP_KEEPCNT`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for zero.
    pub fn set_tcp_keepalive_count(&self, count: Option<u32>) -> Result<()> {
        if count == Some(0) {
            return Err(Error::InvalidOption {
                option: "tcp_keepalive_count",
                reason: "at least one probe",
            });
        }
        self.with_tcp(|tcp| tcp.keepalive_count = count);
        Ok(())
    }

    /// What [`set_tcp_keepalive_count`](Socket::set_tcp_keepalive_count) set.
    pub fn tcp_keepalive_count(&self) -> Option<u32> {
        self.with_tcp(|tcp| tcp.keepalive_count)
    }

    /// `ZMQ_TCP_MAXRT`: how long data sent on a connection may go
    /// unacknowledged before the connection is dropped, instead of the
    /// system's retransmission limit (many minutes). On Linux it is
    /// `TCP_USER_TIMEOUT`, as libzmq sets it there; systems without it
    /// ignore it, as libzmq does. A dropped connection is reconnected.
    pub fn set_tcp_maxrt(&self, timeout: Option<Duration>) {
        self.with_tcp(|tcp| tcp.max_retransmit = timeout.filter(|t| !t.is_zero()));
    }

    /// What [`set_tcp_maxrt`](Socket::set_tcp_maxrt) set.
    pub fn tcp_maxrt(&self) -> Option<Duration> {
        self.with_tcp(|tcp| tcp.max_retransmit)
    }

    /// `ZMQ_TOS`: the type of service of each connection's packets
    /// (`IP_TOS`; for IPv6 the traffic class), e.g. a DSCP value shifted
    /// left by two; 0 (the default) leaves the system's.
    pub fn set_tos(&self, tos: u8) {
        self.with_tcp(|tcp| tcp.tos = u32::from(tos));
    }

    /// What [`set_tos`](Socket::set_tos) set.
    pub fn tos(&self) -> u8 {
        u8::try_from(self.with_tcp(|tcp| tcp.tos)).unwrap_or(u8::MAX)
    }

    /// `ZMQ_BINDTODEVICE`: the network interface (`"eth0"`, a VRF) every
    /// TCP socket is bound to (`SO_BINDTODEVICE`): traffic leaves and
    /// arrives through it only. Linux only; binding needs the
    /// `CAP_NET_RAW` capability on older kernels. A `bind` to a device that
    /// cannot be used fails, and a `connect` keeps retrying (the monitor's
    /// `ConnectDelayed` says why).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for a name longer than an interface name
    /// can be (15 bytes) or holding a NUL byte, and
    /// [`Error::NotSupported`] on a system without `SO_BINDTODEVICE`.
    pub fn set_bind_to_device(&self, device: Option<&str>) -> Result<()> {
        if !cfg!(any(target_os = "android", target_os = "fuchsia", target_os = "linux")) {
            return Err(Error::NotSupported {
                socket_type: self.socket_type(),
                operation: "bind_to_device (SO_BINDTODEVICE is Linux's)",
            });
        }
        if device.is_some_and(|d| d.is_empty() || d.len() > MAX_DEVICE_NAME || d.contains('\0')) {
            return Err(Error::InvalidOption {
                option: "bind_to_device",
                reason: "an interface name is 1 to 15 bytes, without NUL",
            });
        }
        self.with_tcp(|tcp| tcp.device = device.map(str::to_owned));
        Ok(())
    }

    /// What [`set_bind_to_device`](Socket::set_bind_to_device) set.
    pub fn bind_to_device(&self) -> Option<String> {
        self.with_tcp(|tcp| tcp.device.clone())
    }

    /// `ZMQ_CONNECT_TIMEOUT`: how long a TCP connection attempt may take
    /// before it is given up (and tried again after the reconnect
    /// interval), instead of the system's limit (about two minutes on
    /// Linux).
    pub fn set_connect_timeout(&self, timeout: Option<Duration>) {
        self.with_tcp(|tcp| tcp.connect_timeout = timeout.filter(|t| !t.is_zero()));
    }

    /// What [`set_connect_timeout`](Socket::set_connect_timeout) set.
    pub fn connect_timeout(&self) -> Option<Duration> {
        self.with_tcp(|tcp| tcp.connect_timeout)
    }

    fn with_tcp<R>(&self, f: impl FnOnce(&mut TcpOptions) -> R) -> R {
        f(&mut self.core().options().tcp)
    }
}

/// The longest interface name (`IFNAMSIZ` less its NUL).
const MAX_DEVICE_NAME: usize = 15;

/// `duration`, if it is whole seconds, at least one.
fn whole_seconds(duration: Option<Duration>, option: &'static str) -> Result<Option<Duration>> {
    match duration {
        Some(d) if d.as_secs() == 0 || d.subsec_nanos() != 0 => Err(Error::InvalidOption {
            option,
            reason: "whole seconds, at least one",
        }),
        _ => Ok(duration),
    }
}

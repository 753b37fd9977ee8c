//! What a socket counts: messages and bytes through it, drops at the
//! high-water mark, reconnects, failed handshakes.

use std::sync::atomic::{AtomicU64, Ordering};

/// A socket's counters, bumped by its callers and its connections.
#[derive(Default)]
pub(crate) struct Counters {
    msgs_in: AtomicU64,
    bytes_in: AtomicU64,
    msgs_out: AtomicU64,
    bytes_out: AtomicU64,
    pub(crate) reconnects: Counter,
    pub(crate) handshakes_failed: Counter,
}

/// One count.
#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Counters {
    /// A message of `bytes` was received by the application.
    pub(crate) fn received(&self, bytes: usize) {
        self.msgs_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// A message of `bytes` was sent by the application (queued, or dropped
    /// as the pattern says).
    pub(crate) fn sent(&self, bytes: usize) {
        self.msgs_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// The counts, with `hwm_drops` (counted under the socket's lock).
    pub(crate) fn snapshot(&self, hwm_drops: u64) -> SocketMetrics {
        SocketMetrics {
            msgs_in: self.msgs_in.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            msgs_out: self.msgs_out.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            hwm_drops,
            reconnects: self.reconnects.get(),
            handshakes_failed: self.handshakes_failed.get(),
        }
    }
}

/// A snapshot of a socket's counters, from
/// [`Socket::metrics`](crate::Socket::metrics), counted since the socket
/// was made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SocketMetrics {
    /// Messages the application received.
    pub msgs_in: u64,
    /// Bytes of their frames.
    pub bytes_in: u64,
    /// Messages the application sent (queued for a peer, or dropped as the
    /// pattern says: a PUB with no subscriber).
    pub msgs_out: u64,
    /// Bytes of their frames.
    pub bytes_out: u64,
    /// Copies of messages a peer missed because its queue was at the
    /// high-water mark (PUB, XPUB, and ROUTER without
    /// `router_mandatory`): one per message per peer.
    pub hwm_drops: u64,
    /// Connection attempts made again after a failure or a disconnection.
    pub reconnects: u64,
    /// Connections whose handshake failed (bad greeting, wrong mechanism,
    /// authentication refused, timed out).
    pub handshakes_failed: u64,
}

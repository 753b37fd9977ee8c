//! The poller a worker sleeps in, and the one the fd-watch thread waits in.
//!
//! On Linux and Android it is `epoll`, called directly ([`epoll`]): each
//! descriptor registered once, edge-triggered, and one system call per
//! wait. Everywhere else it is the `polling` crate's, which also builds on
//! Linux with the `portable-poller` feature, so that the portable path is
//! compiled and tested where CI runs.
//!
//! Both offer the same small surface, `polling`'s own: [`Poller`],
//! [`Event`], [`Events`] and [`PollMode`], with `add_with_mode`, `modify`,
//! `delete`, `wait`, `notify` and `supports_edge`. Nothing else of
//! `polling` is used, so the reactor names one type whichever is built.

#[cfg(all(any(target_os = "linux", target_os = "android"), not(feature = "portable-poller")))]
mod epoll;

#[cfg(all(any(target_os = "linux", target_os = "android"), not(feature = "portable-poller")))]
pub(crate) use epoll::{Event, Events, PollMode, Poller};
#[cfg(not(all(any(target_os = "linux", target_os = "android"), not(feature = "portable-poller"))))]
pub(crate) use polling::{Event, Events, PollMode, Poller};

/// Whether `event` says the peer shut its side down, an error is pending,
/// or urgent data came: what `Source::read_stream_with` must know, as after
/// that a short read no longer means an empty stream with a new edge to
/// come (the end of the stream, the error, and a TCP read that stops at the
/// urgent mark stay there). Where the poller does not say, always.
#[cfg(all(any(target_os = "linux", target_os = "android"), not(feature = "portable-poller")))]
pub(crate) fn exceptional(event: &Event) -> bool {
    event.exceptional
}

#[cfg(not(all(any(target_os = "linux", target_os = "android"), not(feature = "portable-poller"))))]
pub(crate) fn exceptional(_event: &Event) -> bool {
    true
}

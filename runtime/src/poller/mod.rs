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

/// Whether `event` says the peer shut its side down or an error is pending
/// (which `Source::read_stream_with` must know: after that, no new edge
/// comes for the end of the stream). Where the poller does not say, always.
#[cfg(all(any(target_os = "linux", target_os = "android"), not(feature = "portable-poller")))]
pub(crate) fn hung_up(event: &Event) -> bool {
    event.hung_up
}

#[cfg(not(all(any(target_os = "linux", target_os = "android"), not(feature = "portable-poller"))))]
pub(crate) fn hung_up(_event: &Event) -> bool {
    true
}

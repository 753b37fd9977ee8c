//! When a socket is ready: what a [`Poller`](crate::Poller) and the proxy
//! ask before they `recv` or `send` without waiting.
//!
//! Both predicates are computed under the socket's lock, from the same
//! state `recv` and `send` look at, so they say what those calls would do at
//! that moment (another thread may act before the caller does: readiness is
//! a hint to try, not a reservation).
//!
//! A poller that finds a socket not ready waits on its `readable` or
//! `writable` [`Notify`](crate::wait::Notify), so every change that can make
//! a predicate true must notify the matching one:
//!
//! - *readable* turns true when a reader queues a message (`deliver`), when
//!   a REP sends its reply (a queued request becomes receivable: `send`),
//!   when the socket closes (`close`), when the runtime serving it shuts
//!   down (`runtime_ended`) and when its context does (`terminate`);
//! - *send room* appears when a writer empties a full outbox (the
//!   outbox shares `writable`: `Outbox::take_until`), when a pipe joins the round-robin (`add_pipe`,
//!   `attach`), when a REQ receives its reply or a REP a request (either may
//!   send next: `recv`), and when the socket closes (`close`), its runtime
//!   shuts down (`runtime_ended`) or its context does (`terminate`). Pipes leaving
//!   (`detach`) notify too, for senders waiting on that very peer.

use dhaga_runtime::Unparker;

use crate::SocketType;
use crate::socket::core::{Core, State};
use crate::socket::pattern::{Pattern, is_request};
use crate::wait::Watch;

impl Core {
    /// Whether `recv` would return at once: a message the pattern lets
    /// through is queued, or the socket is closed or its runtime has shut
    /// down (`recv` fails at once).
    ///
    /// Never for a type that cannot receive (PUSH), a REQ that has not sent
    /// its request or a REP that owes a reply: libzmq does not set
    /// `ZMQ_POLLIN` for them either, and a poll loop around a REQ waiting to
    /// send must not spin on an error it would only get from `recv`.
    pub(crate) fn is_readable(&self) -> bool {
        self.lock().is_readable(self.socket_type)
    }

    /// How many messages `send` would take now without waiting, counted up
    /// to `up_to` (more is never needed: the caller sends at most that
    /// many). Writable means at least one.
    pub(crate) fn send_room(&self, up_to: usize) -> usize {
        let (mandatory, nodrop) = {
            let options = self.options();
            (options.router_mandatory, options.xpub_nodrop)
        };
        self.lock().send_room(self.socket_type, mandatory, nodrop, up_to)
    }

    /// Registers `unparker` to be woken by every change of readability
    /// until the guard is dropped (see [`Notify::watch`](crate::wait::Notify::watch)).
    pub(crate) fn watch_readable(&self, unparker: Unparker) -> Watch<'_> {
        self.readable.watch(unparker)
    }

    /// Registers `unparker` to be woken by every change of send room until
    /// the guard is dropped.
    pub(crate) fn watch_writable(&self, unparker: Unparker) -> Watch<'_> {
        self.writable.watch(unparker)
    }
}

impl State {
    fn is_readable(&self, socket_type: SocketType) -> bool {
        if self.closed || self.runtime_ended || self.terminated {
            return true;
        }
        if self.pattern.can_recv(socket_type).is_err() {
            return false;
        }
        match &self.pattern {
            // A REP drops a request without its delimiter when it comes to
            // it; one with a delimiter, anywhere, is what `recv` returns.
            Pattern::Rep(_) => self
                .active
                .iter()
                .any(|pipe| self.pipes[pipe].inbound.iter().any(is_request)),
            // A REQ queues only replies to its request (and drops them when
            // it sends the next); the others return whatever is queued.
            // What SUB queues is what it returns (see `drop_unwanted`).
            Pattern::Req(_) | Pattern::Subscriber(_) | Pattern::Stateless => !self.active.is_empty(),
            // XPUB's user receives from its own queue (PUB cannot receive).
            Pattern::Publisher(publisher) => publisher.has_pending(),
        }
    }

    /// The one function that says when a socket is writable, type by type
    /// (see [`Core::send_room`]).
    ///
    /// Exact except for a ROUTER with `router_mandatory` and a STREAM, whose next peer is
    /// unknown: it counts the room of the peer with the most, so it is
    /// writable when some peer has room, as with libzmq's `ZMQ_POLLOUT`; a
    /// send to a fuller peer may still wait. A closed socket, or one whose
    /// runtime has shut down, has room: its sends fail at once.
    fn send_room(&self, socket_type: SocketType, router_mandatory: bool, xpub_nodrop: bool, up_to: usize) -> usize {
        if self.closed || self.runtime_ended || self.terminated {
            return up_to;
        }
        let room = match (socket_type, &self.pattern) {
            // One request at a time.
            (SocketType::Req, Pattern::Req(req)) if req.may_send() => self.round_robin_room(1).min(1),
            (SocketType::Rep, Pattern::Rep(rep)) if rep.owes_reply() => 1,
            (SocketType::Req | SocketType::Rep, _) => 0,
            (SocketType::Dealer | SocketType::Push | SocketType::Pair, _) => self.round_robin_room(up_to),
            // STREAM waits for a full peer, as a mandatory ROUTER does.
            (SocketType::Router, _) if router_mandatory => self.most_room_of_one_peer(up_to),
            (SocketType::Stream, _) => self.most_room_of_one_peer(up_to),
            // Routing patterns drop what a full or unknown peer cannot take.
            (SocketType::Router, _) => up_to,
            (SocketType::Pull | SocketType::Sub, _) => 0,
            // With XPUB_NODROP a publisher waits for its fullest
            // subscriber (libzmq's POLLOUT checks them all too).
            (SocketType::Pub | SocketType::XPub, _) if xpub_nodrop => self
                .pipes
                .values()
                .filter(|p| p.connected)
                .map(|p| p.outbox.room())
                .min()
                .unwrap_or(up_to),
            // Publishers drop for slow subscribers, and XSUB's subscriptions
            // never wait either.
            (SocketType::Pub | SocketType::XPub | SocketType::XSub, _) => up_to,
        };
        room.min(up_to)
    }

    /// The room of the round-robin's pipes together, counted up to `up_to`.
    fn round_robin_room(&self, up_to: usize) -> usize {
        let mut room = 0;
        for pipe in &self.outs {
            room += self.pipes[pipe].outbox.room();
            if room >= up_to {
                break;
            }
        }
        room
    }

    /// The room of the connected peer with the most, counted up to `up_to`.
    fn most_room_of_one_peer(&self, up_to: usize) -> usize {
        let mut most = 0;
        for pipe in self.routing.values() {
            most = most.max(self.pipes[pipe].outbox.room());
            if most >= up_to {
                break;
            }
        }
        most
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Arc;

    use super::*;
    use crate::socket::core::Delivered;
    use crate::{Context, Msg};

    /// A socket core with one attached (accepted-side) pipe.
    fn core_with_pipe(socket_type: SocketType) -> (Arc<Core>, u64) {
        let core = Core::new(socket_type, Context::new());
        let (pipe, _) = core.add_pipe(false);
        core.attach(pipe, Some(bytes::Bytes::from_static(b"peer")), None)
            .unwrap();
        (core, pipe)
    }

    fn deliver(core: &Core, pipe: u64, frames: &[&'static [u8]]) {
        let msg: Msg = frames.iter().copied().collect();
        let mut msgs = VecDeque::from([msg]);
        assert!(matches!(core.deliver(pipe, &mut msgs), Delivered::All));
    }

    #[test]
    fn req_alternates_between_writable_and_readable() {
        let (core, pipe) = core_with_pipe(SocketType::Req);
        assert!(!core.is_readable());
        assert_eq!(core.send_room(10), 1, "a REQ sends one request at a time");
        core.send(Msg::from("request"), true).unwrap();
        assert_eq!(core.send_room(10), 0, "a REQ waits for its reply");
        assert!(!core.is_readable());
        deliver(&core, pipe, &[b"", b"reply"]);
        assert!(core.is_readable());
        core.recv(true).unwrap();
        assert!(!core.is_readable());
        assert_eq!(core.send_room(10), 1);
    }

    #[test]
    fn rep_is_writable_only_while_it_owes_a_reply() {
        let (core, pipe) = core_with_pipe(SocketType::Rep);
        assert_eq!(core.send_room(10), 0);
        // A request without the empty delimiter is dropped by `recv`: it
        // does not make the socket readable.
        deliver(&core, pipe, &[b"malformed"]);
        assert!(!core.is_readable());
        deliver(&core, pipe, &[b"", b"first"]);
        deliver(&core, pipe, &[b"", b"second"]);
        assert!(core.is_readable());
        assert_eq!(core.recv(true).unwrap(), Msg::from("first"));
        assert!(!core.is_readable(), "a REP that owes a reply cannot receive");
        assert_eq!(core.send_room(10), 1);
        core.send(Msg::from("reply"), true).unwrap();
        assert_eq!(core.send_room(10), 0);
        assert!(core.is_readable(), "the second request is next");
    }

    #[test]
    fn round_robin_room_is_the_room_of_all_peers() {
        let core = Core::new(SocketType::Push, Context::new());
        core.options().send_hwm = 3;
        assert_eq!(core.send_room(100), 0, "no peer yet");
        for _ in 0..2 {
            let (pipe, _) = core.add_pipe(false);
            core.attach(pipe, None, None).unwrap();
        }
        assert_eq!(core.send_room(100), 6);
        assert_eq!(core.send_room(4), 4, "counted up to what is asked");
        for i in 0..5 {
            core.send(Msg::from(format!("{i}")), true).unwrap();
        }
        assert_eq!(core.send_room(100), 1);
        core.send(Msg::from("last"), true).unwrap();
        assert_eq!(core.send_room(100), 0);
        assert!(!core.is_readable(), "a PUSH never receives");
    }

    #[test]
    fn router_is_writable_unless_mandatory_and_every_peer_is_full() {
        let (core, _) = core_with_pipe(SocketType::Router);
        core.options().send_hwm = 1;
        assert_eq!(core.send_room(7), 7, "a ROUTER drops what it cannot route");
        core.options().router_mandatory = true;
        // The pipe was made with the default high-water mark.
        let room = core.send_room(usize::MAX);
        assert!(room > 1);
        for _ in 0..room {
            core.send(["peer", "x"].into_iter().collect(), true).unwrap();
        }
        assert_eq!(core.send_room(7), 0);
    }

    #[test]
    fn pull_is_never_writable() {
        let (core, pipe) = core_with_pipe(SocketType::Pull);
        assert_eq!(core.send_room(10), 0);
        assert!(!core.is_readable());
        deliver(&core, pipe, &[b"x"]);
        assert!(core.is_readable());
    }
}

//! Where each socket type sends, and what it lets through when receiving.
//!
//! The socket core does the queueing; a [`Pattern`] decides routing and
//! envelopes (rfc.zeromq.org 28/REQREP, 30/PIPELINE, 31/EXPAIR):
//!
//! | type   | send                                | receive                     |
//! |--------|-------------------------------------|-----------------------------|
//! | REQ    | round-robin, adds an empty delimiter, then waits for the reply | only from the peer it sent to, strips the delimiter |
//! | REP    | to the peer the request came from, with its envelope | fair-queued, keeps the envelope |
//! | DEALER | round-robin                         | fair-queued                 |
//! | ROUTER | to the peer the first frame names   | fair-queued, prefixed with the peer's routing id |
//! | PUSH   | round-robin                         | —                           |
//! | PULL   | —                                   | fair-queued                 |
//! | PAIR   | to its one peer                     | from its one peer           |
//! | PUB    | to every subscribed peer with room  | —                           |
//! | XPUB   | as PUB                              | subscriptions, and what subscribers send |
//! | SUB    | subscriptions only                  | fair-queued, what matches a subscription |
//! | XSUB   | subscriptions, and messages to every peer | fair-queued           |
//! | STREAM | bytes to the peer the first frame names | each read, prefixed with the peer's routing id |
//!
//! DEALER, PUSH, PULL and PAIR need no state of their own and live here;
//! REQ, REP, ROUTER, STREAM and the publish-subscribe types have their
//! files. A pattern knows pipes only by their [`PipeId`]s, and the
//! socket's routing table only through the lookup the socket hands to
//! [`Pattern::prepare_send`].

mod pubsub;
mod rep;
mod req;
mod route;
mod router;
mod stream;

use bytes::Bytes;

pub(crate) use self::pubsub::subscription_msg;
use self::pubsub::{Publisher, Subscriber};
use self::rep::Rep;
pub(crate) use self::rep::is_request;
pub(crate) use self::req::Req;
pub(crate) use self::route::{Route, Undo};
use crate::error::{Error, Result, SendError};
use crate::socket::pipe::PipeId;
use crate::{Msg, SocketType};

/// Per-type state.
pub(crate) enum Pattern {
    Req(Req),
    Rep(Rep),
    /// PUB, XPUB (boxed: the largest state by far).
    Publisher(Box<Publisher>),
    /// SUB, XSUB.
    Subscriber(Subscriber),
    /// DEALER, ROUTER, PUSH, PULL, PAIR, STREAM: no state.
    Stateless,
}

impl Pattern {
    pub(crate) fn new(socket_type: SocketType) -> Pattern {
        match socket_type {
            SocketType::Req => Pattern::Req(Req::default()),
            SocketType::Rep => Pattern::Rep(Rep::default()),
            SocketType::Pub => Pattern::Publisher(Box::new(Publisher::new(false))),
            SocketType::XPub => Pattern::Publisher(Box::new(Publisher::new(true))),
            SocketType::Sub => Pattern::Subscriber(Subscriber::new(true)),
            SocketType::XSub => Pattern::Subscriber(Subscriber::new(false)),
            _ => Pattern::Stateless,
        }
    }

    /// Filters a message as it arrives from `pipe` (before it is queued),
    /// whose queue holds `hwm` messages.
    pub(crate) fn on_arrival(&mut self, pipe: PipeId, msg: Msg, hwm: usize) -> Option<Msg> {
        match self {
            Pattern::Req(req) => req.on_arrival(pipe, msg),
            // What an XPUB's user sees goes to the publisher's own queue.
            Pattern::Publisher(publisher) => {
                publisher.on_arrival(pipe, msg, hwm);
                None
            }
            Pattern::Subscriber(subscriber) => subscriber.on_arrival(msg),
            _ => Some(msg),
        }
    }

    /// Whether `recv` is allowed now.
    pub(crate) fn can_recv(&self, socket_type: SocketType) -> Result<()> {
        match (self, socket_type) {
            (Pattern::Req(req), _) => req.can_recv(),
            (Pattern::Rep(rep), _) => rep.can_recv(),
            (_, SocketType::Push | SocketType::Pub) => Err(Error::NotSupported {
                socket_type,
                operation: "receive",
            }),
            _ => Ok(()),
        }
    }

    /// Turns a message taken from `pipe`'s queue into what `recv` returns
    /// (`None`: discard it and take the next).
    pub(crate) fn on_recv(&mut self, pipe: PipeId, msg: Msg, routing_id: Option<Bytes>) -> Option<Msg> {
        match self {
            Pattern::Req(req) => req.on_recv(pipe, msg),
            Pattern::Rep(rep) => rep.on_recv(pipe, msg),
            Pattern::Publisher(_) | Pattern::Subscriber(_) => Some(msg),
            Pattern::Stateless => Some(router::on_recv(msg, routing_id)),
        }
    }

    /// A message of the pattern's own queue, for `recv` before any peer's
    /// (XPUB's: see `pubsub::Publisher`).
    pub(crate) fn take_pending(&mut self) -> Option<Msg> {
        match self {
            Pattern::Publisher(publisher) => publisher.take_pending(),
            _ => None,
        }
    }

    /// How many messages the pattern's own queue holds.
    pub(crate) fn pending_len(&self) -> usize {
        match self {
            Pattern::Publisher(publisher) => publisher.pending_len(),
            _ => 0,
        }
    }

    /// How many messages of the pattern's own queue count against the
    /// receive high-water mark (see `pubsub::Publisher::held_len`).
    pub(crate) fn held_len(&self) -> usize {
        match self {
            Pattern::Publisher(publisher) => publisher.held_len(),
            _ => 0,
        }
    }

    /// A message went to `pipe`. Returns whether queued inbound messages
    /// are stale now and must be dropped (REQ's new request).
    pub(crate) fn sent(&mut self, pipe: PipeId) -> bool {
        match self {
            Pattern::Req(req) => {
                req.sent(pipe);
                true
            }
            _ => false,
        }
    }

    /// A send that [`prepare_send`](Pattern::prepare_send) admitted failed.
    pub(crate) fn send_failed(&mut self) {
        if let Pattern::Req(req) = self {
            req.send_failed();
        }
    }

    /// XSUB: the subscriptions in a message (see
    /// [`pubsub::split_subscriptions`]) change the subscriptions and go to
    /// every peer as such; its other frames go to every peer as a message.
    /// The socket applies them: they change its peers' queues too.
    fn xsub_send(&self, msg: Msg) -> Route {
        let Pattern::Subscriber(subscriber) = self else {
            unreachable!("an XSUB socket has subscriber state")
        };
        let (changes, rest) = pubsub::split_subscriptions(msg, subscriber.only_first_subscribe);
        Route::Subscriptions { changes, rest }
    }

    /// Decides where `msg` goes (and changes it as the pattern says).
    /// `routed` looks up the connected peer a routing id names (ROUTER,
    /// STREAM).
    pub(crate) fn prepare_send(
        &mut self,
        socket_type: SocketType,
        mut msg: Msg,
        router_mandatory: bool,
        routed: impl Fn(&[u8]) -> Option<PipeId>,
    ) -> Result<(Route, Undo), SendError> {
        match socket_type {
            SocketType::Req => {
                let Pattern::Req(req) = self else {
                    unreachable!("a REQ socket has REQ state")
                };
                if let Err(e) = req.start_send() {
                    return Err(SendError::new(e, msg));
                }
                let envelope = req.envelope();
                let added = envelope.len();
                msg.prepend(Msg::from(envelope));
                Ok((Route::RoundRobin(msg), Undo::PopFront(added)))
            }
            SocketType::Rep => {
                let Pattern::Rep(rep) = self else {
                    unreachable!("a REP socket has REP state")
                };
                match rep.take_reply_route() {
                    Ok((pipe, envelope)) => {
                        msg.prepend(envelope);
                        Ok((
                            Route::To {
                                pipe,
                                msg,
                                block: false,
                            },
                            Undo::Nothing,
                        ))
                    }
                    Err(e) => Err(SendError::new(e, msg)),
                }
            }
            SocketType::Router => router::route(msg, router_mandatory, routed),
            SocketType::Stream => stream::route(msg, routed),
            SocketType::Dealer | SocketType::Push | SocketType::Pair => Ok((Route::RoundRobin(msg), Undo::Nothing)),
            // SUB subscribes with `Socket::subscribe`.
            SocketType::Pull | SocketType::Sub => Err(SendError::new(
                Error::NotSupported {
                    socket_type,
                    operation: "send",
                },
                msg,
            )),
            SocketType::Pub | SocketType::XPub => Ok((Route::FanOut(msg), Undo::Nothing)),
            SocketType::XSub => Ok((self.xsub_send(msg), Undo::Nothing)),
        }
    }
}

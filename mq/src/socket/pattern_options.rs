//! Options that change a pattern's rules, named after libzmq's:
//! `ZMQ_REQ_CORRELATE`, `ZMQ_REQ_RELAXED`, `ZMQ_ROUTER_HANDOVER`,
//! `ZMQ_ROUTER_NOTIFY`, `ZMQ_STREAM_NOTIFY`, `ZMQ_XPUB_MANUAL`,
//! `ZMQ_ONLY_FIRST_SUBSCRIBE`,
//! `ZMQ_IMMEDIATE`, `ZMQ_INVERT_MATCHING`, `ZMQ_XPUB_NODROP`, `ZMQ_CONFLATE`,
//! `ZMQ_XSUB_VERBOSE_UNSUBSCRIBE`, and the
//! publish-subscribe getters
//! (`ZMQ_XPUB_VERBOSE(R)`, `ZMQ_TOPICS_COUNT`).

use crate::SocketType;
use crate::error::{Error, Result};
use crate::options::RouterNotify;
use crate::socket::Socket;
use crate::socket::pattern::{Pattern, Req};

impl Socket {
    /// `ZMQ_REQ_CORRELATE`: a REQ puts a request id frame (4 bytes) before
    /// each request's delimiter, and takes only a reply that repeats the
    /// last request's id (default off). With
    /// [`set_req_relaxed`](Socket::set_req_relaxed) it keeps a late reply
    /// to an abandoned request from passing for the reply to the next.
    ///
    /// # Errors
    ///
    /// [`Error::NotSupported`] on a socket that is not a REQ.
    pub fn set_req_correlate(&self, on: bool) -> Result<()> {
        self.with_req("set req_correlate", |req| req.correlate = on)
    }

    /// `ZMQ_REQ_RELAXED`: a REQ may send a new request before the reply to
    /// the last one came (default off: that send fails); the awaited reply
    /// is abandoned and the new request goes to the next peer in turn.
    /// Turn on [`set_req_correlate`](Socket::set_req_correlate) too, or a
    /// late reply to the abandoned request may be received as the reply to
    /// the new one.
    ///
    /// # Errors
    ///
    /// [`Error::NotSupported`] on a socket that is not a REQ.
    pub fn set_req_relaxed(&self, on: bool) -> Result<()> {
        self.with_req("set req_relaxed", |req| req.relaxed = on)
    }

    fn with_req(&self, operation: &'static str, change: impl FnOnce(&mut Req)) -> Result<()> {
        let mut state = self.core().lock();
        match &mut state.pattern {
            Pattern::Req(req) => {
                change(req);
                Ok(())
            }
            _ => Err(Error::NotSupported {
                socket_type: self.socket_type(),
                operation,
            }),
        }
    }

    /// `ZMQ_ROUTER_HANDOVER`: when a peer comes with a routing id that a
    /// connected peer has, the newcomer takes it over and the other is
    /// disconnected (default off: the newcomer is refused). Messages to
    /// that id go to the newcomer from then on.
    ///
    /// # Errors
    ///
    /// [`Error::NotSupported`] on a socket that is not a ROUTER.
    pub fn set_router_handover(&self, on: bool) -> Result<()> {
        if self.socket_type() != SocketType::Router {
            return Err(Error::NotSupported {
                socket_type: self.socket_type(),
                operation: "set router_handover",
            });
        }
        self.core().options().router_handover = on;
        Ok(())
    }

    /// `ZMQ_ROUTER_NOTIFY`: which of its peers' arrivals and departures a
    /// ROUTER reports (default none). Each arrives as `[routing id, ""]`:
    /// [`RouterNotify::CONNECT`] when a peer's handshake completes, before
    /// anything it sends; [`RouterNotify::DISCONNECT`] when its connection
    /// is lost, after everything it sent, but not when this socket ends it
    /// (`disconnect`, `unbind`, close). Applies to connections made
    /// afterwards.
    ///
    /// # Errors
    ///
    /// [`Error::NotSupported`] on a socket that is not a ROUTER.
    ///
    /// # Examples
    ///
    /// ```
    /// use dhaga_mq::{RouterNotify, Socket, SocketType};
    ///
    /// let router = Socket::new(SocketType::Router);
    /// router.set_router_notify(RouterNotify::CONNECT | RouterNotify::DISCONNECT).unwrap();
    /// router.bind("tcp://127.0.0.1:*").unwrap();
    ///
    /// let dealer = Socket::new(SocketType::Dealer);
    /// dealer.set_routing_id("d1").unwrap();
    /// dealer.connect(&router.last_endpoint().unwrap()).unwrap();
    /// let arrived = router.recv().unwrap();
    /// assert_eq!(arrived.iter().map(|f| &f[..]).collect::<Vec<_>>(), [&b"d1"[..], b""]);
    ///
    /// drop(dealer);
    /// let left = router.recv().unwrap();
    /// assert_eq!(left.iter().map(|f| &f[..]).collect::<Vec<_>>(), [&b"d1"[..], b""]);
    /// ```
    pub fn set_router_notify(&self, notify: RouterNotify) -> Result<()> {
        if self.socket_type() != SocketType::Router {
            return Err(Error::NotSupported {
                socket_type: self.socket_type(),
                operation: "set router_notify",
            });
        }
        self.core().options().router_notify = notify;
        Ok(())
    }

    /// What [`set_router_notify`](Socket::set_router_notify) set.
    pub fn router_notify(&self) -> RouterNotify {
        self.core().options().router_notify
    }

    /// `ZMQ_STREAM_NOTIFY`: whether a STREAM reports its peers' arrivals
    /// and departures as `[routing id, ""]` (default on; see
    /// [`SocketType::Stream`]). Applies to connections made afterwards.
    ///
    /// # Errors
    ///
    /// [`Error::NotSupported`] on a socket that is not a STREAM.
    pub fn set_stream_notify(&self, on: bool) -> Result<()> {
        if self.socket_type() != SocketType::Stream {
            return Err(Error::NotSupported {
                socket_type: self.socket_type(),
                operation: "set stream_notify",
            });
        }
        self.core().options().stream_notify = on;
        Ok(())
    }

    /// Whether [`set_stream_notify`](Socket::set_stream_notify) is on.
    pub fn stream_notify(&self) -> bool {
        self.core().options().stream_notify
    }

    /// `ZMQ_IMMEDIATE`: messages go only to peers whose connection is up
    /// (default off: a `connect`'s peer takes messages from the start, held
    /// until it connects). With no peer connected, `send` waits (or times
    /// out, or fails with `WouldBlock` for `try_send`), as with no peer at
    /// all; a peer whose connection is lost gets no new messages until it
    /// is back (those it had are kept for it, where libzmq drops them).
    /// For the round-robin types (REQ, DEALER, PUSH, PAIR); applies to
    /// connections made afterwards.
    pub fn set_immediate(&self, on: bool) {
        self.core().options().immediate = on;
    }

    /// Whether [`set_immediate`](Socket::set_immediate) is on.
    pub fn immediate(&self) -> bool {
        self.core().options().immediate
    }

    /// `ZMQ_INVERT_MATCHING`: a PUB or XPUB sends each message to the
    /// subscribers none of whose prefixes match it, and a SUB receives the
    /// messages none of its prefixes match (default off). Set it on both
    /// sides, as libzmq requires: a SUB that inverts receives nothing from
    /// a PUB that does not.
    ///
    /// # Errors
    ///
    /// [`Error::NotSupported`] on a socket that is not a PUB, XPUB or SUB.
    pub fn set_invert_matching(&self, on: bool) -> Result<()> {
        let mut state = self.core().lock();
        match (&mut state.pattern, self.socket_type()) {
            (Pattern::Publisher(publisher), _) => publisher.invert = on,
            (Pattern::Subscriber(subscriber), SocketType::Sub) => subscriber.invert = on,
            _ => {
                return Err(Error::NotSupported {
                    socket_type: self.socket_type(),
                    operation: "set invert_matching",
                });
            }
        }
        Ok(())
    }

    /// Whether [`set_invert_matching`](Socket::set_invert_matching) is on.
    pub fn invert_matching(&self) -> bool {
        match &self.core().lock().pattern {
            Pattern::Publisher(publisher) => publisher.invert,
            Pattern::Subscriber(subscriber) => subscriber.invert,
            _ => false,
        }
    }

    /// `ZMQ_XPUB_VERBOSE`, as [`set_xpub_verbose`](Socket::set_xpub_verbose)
    /// left it (false on other types).
    pub fn xpub_verbose(&self) -> bool {
        match &self.core().lock().pattern {
            Pattern::Publisher(publisher) if self.socket_type() == SocketType::XPub => publisher.verbosity().0,
            _ => false,
        }
    }

    /// `ZMQ_XPUB_VERBOSER`, as
    /// [`set_xpub_verboser`](Socket::set_xpub_verboser) left it (false on
    /// other types).
    pub fn xpub_verboser(&self) -> bool {
        match &self.core().lock().pattern {
            Pattern::Publisher(publisher) if self.socket_type() == SocketType::XPub => publisher.verbosity().1,
            _ => false,
        }
    }

    /// `ZMQ_TOPICS_COUNT`: how many distinct prefixes a PUB's or XPUB's
    /// peers subscribe to, or a SUB or XSUB subscribed to itself (0 on
    /// other types).
    pub fn topics_count(&self) -> usize {
        match &self.core().lock().pattern {
            Pattern::Publisher(publisher) => publisher.topics(),
            Pattern::Subscriber(subscriber) => subscriber.topics(),
            _ => 0,
        }
    }

    /// `ZMQ_XPUB_NODROP`: a PUB or XPUB whose subscriber is at its
    /// high-water mark waits for room there (or times out, or `try_send`
    /// fails with `WouldBlock`) instead of dropping the message for that
    /// subscriber (default off). A subscriber that stops reading then
    /// holds back every send.
    ///
    /// # Errors
    ///
    /// [`Error::NotSupported`] on a socket that is not a PUB or XPUB.
    pub fn set_xpub_nodrop(&self, on: bool) -> Result<()> {
        if !matches!(self.socket_type(), SocketType::Pub | SocketType::XPub) {
            return Err(Error::NotSupported {
                socket_type: self.socket_type(),
                operation: "set xpub_nodrop",
            });
        }
        self.core().options().xpub_nodrop = on;
        Ok(())
    }

    /// `ZMQ_CONFLATE`: keep only the newest message: each peer's inbound
    /// queue holds at most one (a new arrival replaces it, and the peer is
    /// never held back), and so does its outbound queue (a send replaces
    /// what its writer has not taken yet, and never waits for room). The
    /// high-water marks no longer apply. For PUSH, PULL, PUB, SUB and
    /// DEALER, as in libzmq, and for whole messages (libzmq's does not
    /// support multipart messages); applies to connections made afterwards.
    ///
    /// # Errors
    ///
    /// [`Error::NotSupported`] on the other socket types.
    pub fn set_conflate(&self, on: bool) -> Result<()> {
        use SocketType::{Dealer, Pub, Pull, Push, Sub};
        if !matches!(self.socket_type(), Push | Pull | Pub | Sub | Dealer) {
            return Err(Error::NotSupported {
                socket_type: self.socket_type(),
                operation: "set conflate",
            });
        }
        self.core().options().conflate = on;
        Ok(())
    }

    /// Whether [`set_conflate`](Socket::set_conflate) is on.
    pub fn conflate(&self) -> bool {
        self.core().options().conflate
    }

    /// `ZMQ_XPUB_MANUAL`: an XPUB applies no subscription by itself. Its
    /// user receives every subscription and cancel its peers send (repeats
    /// included), and decides: [`subscribe`](Socket::subscribe) and
    /// [`unsubscribe`](Socket::unsubscribe) on the XPUB apply to the peer
    /// whose subscription it received last (nothing if that peer left).
    /// When a peer leaves, the user receives a cancel for each prefix it
    /// had asked for and not cancelled. Default off.
    ///
    /// # Errors
    ///
    /// [`Error::NotSupported`] on a socket that is not an XPUB.
    ///
    /// # Examples
    ///
    /// An XPUB that grants each subscriber a narrower subscription than it
    /// asks for:
    ///
    /// ```
    /// use dhaga_mq::{Socket, SocketType};
    ///
    /// let xpub = Socket::new(SocketType::XPub);
    /// xpub.set_xpub_manual(true).unwrap();
    /// xpub.bind("tcp://127.0.0.1:*").unwrap();
    /// let sub = Socket::new(SocketType::Sub);
    /// sub.connect(&xpub.last_endpoint().unwrap()).unwrap();
    /// sub.subscribe("weather").unwrap();
    ///
    /// assert_eq!(&xpub.recv().unwrap()[0][..], b"\x01weather");
    /// xpub.subscribe("weather/paris").unwrap(); // for that subscriber
    /// xpub.send("weather/london rain").unwrap();
    /// xpub.send("weather/paris sun").unwrap();
    /// assert_eq!(sub.recv().unwrap(), "weather/paris sun".into());
    /// ```
    pub fn set_xpub_manual(&self, on: bool) -> Result<()> {
        let mut state = self.core().lock();
        match (&mut state.pattern, self.socket_type()) {
            (Pattern::Publisher(publisher), SocketType::XPub) => {
                publisher.set_manual(on);
                Ok(())
            }
            _ => Err(Error::NotSupported {
                socket_type: self.socket_type(),
                operation: "set xpub_manual",
            }),
        }
    }

    /// Whether [`set_xpub_manual`](Socket::set_xpub_manual) is on.
    pub fn xpub_manual(&self) -> bool {
        matches!(&self.core().lock().pattern, Pattern::Publisher(publisher) if publisher.is_manual())
    }

    /// `ZMQ_ONLY_FIRST_SUBSCRIBE`: an XPUB (of what arrives) or an XSUB (of
    /// what its user sends) looks only at a message's first frame to tell
    /// a subscription from an ordinary message. By default, as in libzmq,
    /// every frame that starts with 1 or 0 is a subscription or a cancel,
    /// and the others make the ordinary message; with this on, a message
    /// whose first frame is ordinary is ordinary through and through, so
    /// binary frames after it are never taken for subscriptions.
    ///
    /// # Errors
    ///
    /// [`Error::NotSupported`] on a socket that is not an XPUB or XSUB.
    pub fn set_only_first_subscribe(&self, on: bool) -> Result<()> {
        let mut state = self.core().lock();
        match (&mut state.pattern, self.socket_type()) {
            (Pattern::Publisher(publisher), SocketType::XPub) => publisher.only_first_subscribe = on,
            (Pattern::Subscriber(subscriber), SocketType::XSub) => subscriber.only_first_subscribe = on,
            _ => {
                return Err(Error::NotSupported {
                    socket_type: self.socket_type(),
                    operation: "set only_first_subscribe",
                });
            }
        }
        Ok(())
    }

    /// Whether [`set_only_first_subscribe`](Socket::set_only_first_subscribe) is on.
    pub fn only_first_subscribe(&self) -> bool {
        match &self.core().lock().pattern {
            Pattern::Publisher(publisher) => publisher.only_first_subscribe,
            Pattern::Subscriber(subscriber) => subscriber.only_first_subscribe,
            _ => false,
        }
    }

    /// `ZMQ_XSUB_VERBOSE_UNSUBSCRIBE`: an XSUB passes every unsubscribe
    /// upstream (default off: only the one that undoes the last
    /// subscription to its prefix).
    ///
    /// # Errors
    ///
    /// [`Error::NotSupported`] on a socket that is not an XSUB.
    pub fn set_xsub_verbose_unsubscribe(&self, on: bool) -> Result<()> {
        let mut state = self.core().lock();
        match (&mut state.pattern, self.socket_type()) {
            (Pattern::Subscriber(subscriber), SocketType::XSub) => {
                subscriber.verbose_unsubscribe = on;
                Ok(())
            }
            _ => Err(Error::NotSupported {
                socket_type: self.socket_type(),
                operation: "set xsub_verbose_unsubscribe",
            }),
        }
    }
}

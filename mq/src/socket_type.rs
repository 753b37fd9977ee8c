//! The ZeroMQ socket types and which of them may talk to each other.
//!
//! A socket type names a messaging pattern's role (REQ asks, REP answers, PUB
//! publishes …). Peers announce theirs in the `Socket-Type` property of the
//! READY command (RFC 23 §"The Socket-Type Property") and refuse a peer whose
//! type does not belong to the same pattern: a PUB must never receive requests
//! from a REQ.

use std::fmt;

use dhaga_runtime::WaitReason;

/// The ZeroMQ socket patterns.
///
/// The semantics of each type are those of libzmq and of the ZeroMQ RFCs:
/// 28/REQREP (REQ, REP, DEALER, ROUTER), 29/PUBSUB (PUB, SUB, XPUB, XSUB),
/// 30/PIPELINE (PUSH, PULL) and 31/EXPAIR (PAIR); and libzmq's STREAM, which
/// speaks no ZMTP at all but raw bytes, to peers that are not ZeroMQ
/// programs (a web browser, a telnet session).
///
/// # Examples
///
/// ```
/// use dhaga_mq::SocketType;
///
/// assert_eq!(SocketType::Req.name(), "REQ");
/// assert!(SocketType::Req.is_compatible(SocketType::Router));
/// assert!(!SocketType::Pub.is_compatible(SocketType::Req));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocketType {
    /// Exclusive pair: one peer, messages both ways (31/EXPAIR).
    Pair,
    /// Publisher: sends every message to the subscribers whose prefix matches (29/PUBSUB).
    Pub,
    /// Subscriber: receives the messages matching its subscriptions (29/PUBSUB).
    Sub,
    /// Requester: strictly alternates sending a request and receiving its reply (28/REQREP).
    Req,
    /// Replier: strictly alternates receiving a request and sending its reply (28/REQREP).
    Rep,
    /// Asynchronous requester: round-robins outgoing messages, fair-queues incoming ones (28/REQREP).
    Dealer,
    /// Asynchronous replier: prefixes each incoming message with its peer's routing id and routes
    /// outgoing messages by theirs (28/REQREP).
    Router,
    /// Pipeline sink: fair-queues messages from its pushers (30/PIPELINE).
    Pull,
    /// Pipeline source: round-robins messages to its pullers (30/PIPELINE).
    Push,
    /// Publisher that also delivers its subscribers' subscriptions to the application (29/PUBSUB).
    XPub,
    /// Subscriber whose subscriptions are messages the application sends (29/PUBSUB).
    XSub,
    /// Raw TCP (or ipc) peers, no ZMTP: each message is `[routing id, bytes]`, what one read
    /// took or what to write, and an empty message marks a peer's arrival and departure
    /// (libzmq's `ZMQ_STREAM`; see [`Socket`](crate::Socket) for its rules).
    Stream,
}

impl SocketType {
    /// Every socket type that speaks ZMTP, in declaration order (all but
    /// [`Stream`](SocketType::Stream)).
    pub(crate) const ALL: [SocketType; 11] = [
        SocketType::Pair,
        SocketType::Pub,
        SocketType::Sub,
        SocketType::Req,
        SocketType::Rep,
        SocketType::Dealer,
        SocketType::Router,
        SocketType::Pull,
        SocketType::Push,
        SocketType::XPub,
        SocketType::XSub,
    ];

    /// What a micro-thread blocked in `recv` on a socket of this type waits
    /// for, as a dump of the runtime shows it.
    pub(crate) fn recv_reason(self) -> &'static WaitReason {
        &RECV_REASONS[self as usize]
    }

    /// As [`recv_reason`](Self::recv_reason), for `send`.
    pub(crate) fn send_reason(self) -> &'static WaitReason {
        &SEND_REASONS[self as usize]
    }

    /// The type's name as it travels in the `Socket-Type` property: `"REQ"`, `"XPUB"`, …
    /// (RFC 23 §"The Socket-Type Property"; the same names libzmq uses).
    pub fn name(self) -> &'static str {
        match self {
            SocketType::Pair => "PAIR",
            SocketType::Pub => "PUB",
            SocketType::Sub => "SUB",
            SocketType::Req => "REQ",
            SocketType::Rep => "REP",
            SocketType::Dealer => "DEALER",
            SocketType::Router => "ROUTER",
            SocketType::Pull => "PULL",
            SocketType::Push => "PUSH",
            SocketType::XPub => "XPUB",
            SocketType::XSub => "XSUB",
            SocketType::Stream => "STREAM",
        }
    }

    /// The socket type a `Socket-Type` property value names, or `None` for a name this crate
    /// does not implement (`"CLIENT"`, `"RADIO"`, … from the draft RFC 37 types, or garbage),
    /// and for `"STREAM"`, which never travels in a handshake.
    ///
    /// The comparison ignores ASCII case: RFC 23 gives the names as ABNF string literals,
    /// which are case-insensitive (RFC 5234 §2.3). libzmq only ever sends upper case.
    pub(crate) fn from_name(name: &[u8]) -> Option<SocketType> {
        SocketType::ALL
            .into_iter()
            .find(|ty| ty.name().as_bytes().eq_ignore_ascii_case(name))
    }

    /// Whether a socket of this type may talk to a peer of type `peer`.
    ///
    /// This is the table of RFC 23 §"The Socket-Type Property" (repeated by RFC 37):
    /// REQ talks to REP and ROUTER; REP to REQ and DEALER; DEALER to REP, DEALER and ROUTER;
    /// ROUTER to REQ, DEALER and ROUTER; PUB and XPUB to SUB and XSUB; SUB and XSUB to PUB and
    /// XPUB; PUSH to PULL; PULL to PUSH; PAIR to PAIR. The relation is symmetric. A connection
    /// between incompatible types is refused during the handshake. STREAM, which has no
    /// handshake, talks to none of them.
    ///
    /// The `match` below spells out every pair, without a wildcard, so that adding a socket
    /// type does not compile until its row of the table is written.
    pub fn is_compatible(self, peer: SocketType) -> bool {
        use SocketType::{Dealer, Pair, Pub, Pull, Push, Rep, Req, Router, Stream, Sub, XPub, XSub};
        match (self, peer) {
            (Stream, _) | (_, Stream) => false,
            (Req, Rep | Router) => true,
            (Req, Pair | Pub | Sub | Req | Dealer | Pull | Push | XPub | XSub) => false,
            (Rep, Req | Dealer) => true,
            (Rep, Pair | Pub | Sub | Rep | Router | Pull | Push | XPub | XSub) => false,
            (Dealer, Rep | Dealer | Router) => true,
            (Dealer, Pair | Pub | Sub | Req | Pull | Push | XPub | XSub) => false,
            (Router, Req | Dealer | Router) => true,
            (Router, Pair | Pub | Sub | Rep | Pull | Push | XPub | XSub) => false,
            (Pub | XPub, Sub | XSub) => true,
            (Pub | XPub, Pair | Pub | Req | Rep | Dealer | Router | Pull | Push | XPub) => false,
            (Sub | XSub, Pub | XPub) => true,
            (Sub | XSub, Pair | Sub | Req | Rep | Dealer | Router | Pull | Push | XSub) => false,
            (Push, Pull) => true,
            (Push, Pair | Pub | Sub | Req | Rep | Dealer | Router | Push | XPub | XSub) => false,
            (Pull, Push) => true,
            (Pull, Pair | Pub | Sub | Req | Rep | Dealer | Router | Pull | XPub | XSub) => false,
            (Pair, Pair) => true,
            (Pair, Pub | Sub | Req | Rep | Dealer | Router | Pull | Push | XPub | XSub) => false,
        }
    }
}

impl fmt::Display for SocketType {
    /// Writes the type's wire [name](SocketType::name), e.g. `REQ`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Wait reasons by socket type, in declaration order (see
/// [`SocketType::recv_reason`]).
macro_rules! reasons {
    ($op:literal) => {
        [
            WaitReason::at_address(concat!($op, " on mq PAIR socket")),
            WaitReason::at_address(concat!($op, " on mq PUB socket")),
            WaitReason::at_address(concat!($op, " on mq SUB socket")),
            WaitReason::at_address(concat!($op, " on mq REQ socket")),
            WaitReason::at_address(concat!($op, " on mq REP socket")),
            WaitReason::at_address(concat!($op, " on mq DEALER socket")),
            WaitReason::at_address(concat!($op, " on mq ROUTER socket")),
            WaitReason::at_address(concat!($op, " on mq PULL socket")),
            WaitReason::at_address(concat!($op, " on mq PUSH socket")),
            WaitReason::at_address(concat!($op, " on mq XPUB socket")),
            WaitReason::at_address(concat!($op, " on mq XSUB socket")),
            WaitReason::at_address(concat!($op, " on mq STREAM socket")),
        ]
    };
}

static RECV_REASONS: [WaitReason; 12] = reasons!("recv");
static SEND_REASONS: [WaitReason; 12] = reasons!("send");

#[cfg(test)]
mod tests {
    use super::SocketType::{self, *};

    /// The legal combinations, transcribed independently from the RFC 23 table (one row per
    /// socket type, listing the columns marked "*").
    const RFC_TABLE: [(SocketType, &[SocketType]); 11] = [
        (Req, &[Rep, Router]),
        (Rep, &[Req, Dealer]),
        (Dealer, &[Rep, Dealer, Router]),
        (Router, &[Req, Dealer, Router]),
        (Pub, &[Sub, XSub]),
        (XPub, &[Sub, XSub]),
        (Sub, &[Pub, XPub]),
        (XSub, &[Pub, XPub]),
        (Push, &[Pull]),
        (Pull, &[Push]),
        (Pair, &[Pair]),
    ];

    #[test]
    fn compatibility_matches_the_rfc_table_for_every_pair() {
        for (ours, legal) in RFC_TABLE {
            for peer in SocketType::ALL {
                assert_eq!(ours.is_compatible(peer), legal.contains(&peer), "{ours} with {peer}");
            }
        }
        // The table has a row for every type.
        for ty in SocketType::ALL {
            assert!(RFC_TABLE.iter().any(|(row, _)| *row == ty), "{ty} has no row");
        }
        // STREAM speaks no ZMTP: no type talks to it, not even STREAM.
        for ty in SocketType::ALL.into_iter().chain([Stream]) {
            assert!(
                !Stream.is_compatible(ty) && !ty.is_compatible(Stream),
                "STREAM with {ty}"
            );
        }
    }

    #[test]
    fn compatibility_is_symmetric() {
        for a in SocketType::ALL {
            for b in SocketType::ALL {
                assert_eq!(a.is_compatible(b), b.is_compatible(a), "{a} / {b}");
            }
        }
    }

    #[test]
    fn each_type_has_its_own_wait_reasons() {
        for socket_type in SocketType::ALL {
            let name = socket_type.name();
            assert_eq!(socket_type.recv_reason().words(), format!("recv on mq {name} socket"));
            assert_eq!(socket_type.send_reason().words(), format!("send on mq {name} socket"));
        }
    }

    #[test]
    fn names_round_trip_and_ignore_case() {
        for ty in SocketType::ALL {
            assert_eq!(SocketType::from_name(ty.name().as_bytes()), Some(ty));
            let lower = ty.name().to_ascii_lowercase();
            assert_eq!(SocketType::from_name(lower.as_bytes()), Some(ty));
            assert_eq!(ty.to_string(), ty.name());
        }
        let distinct: std::collections::HashSet<_> = SocketType::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(distinct.len(), SocketType::ALL.len());
    }

    #[test]
    fn unknown_names_are_none() {
        for name in [&b""[..], b"CLIENT", b"RADIO", b"REQ ", b"RE", b"STREAM", b"\xffREQ"] {
            assert_eq!(SocketType::from_name(name), None, "{name:?}");
        }
    }
}

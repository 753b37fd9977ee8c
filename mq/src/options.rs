//! Socket options: libzmq's, with libzmq's defaults.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::SocketType;
use crate::error::{Error, Result};
use crate::zmtp::{ClientKeys, Mechanism, PlainCredentials, PublicKey, SecretKey, Security};
use zeroize::Zeroizing;

/// The options one socket was configured with. Options that shape a
/// connection (high-water marks, maximum message size, routing id) apply to
/// connections made after they are set, as in libzmq.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    /// `ZMQ_SNDHWM`: messages queued per peer for sending.
    pub(crate) send_hwm: usize,
    /// `ZMQ_RCVHWM`: messages queued per peer before reading from it stops.
    pub(crate) recv_hwm: usize,
    /// `ZMQ_SNDTIMEO`: `None` waits forever.
    pub(crate) send_timeout: Option<Duration>,
    /// `ZMQ_RCVTIMEO`: `None` waits forever.
    pub(crate) recv_timeout: Option<Duration>,
    /// `ZMQ_LINGER`: how long queued messages may still be sent after the
    /// socket is closed. `None`: until they are.
    pub(crate) linger: Option<Duration>,
    /// `ZMQ_MAXMSGSIZE`: the largest message accepted from a peer, all its
    /// frames counted.
    pub(crate) max_msg_size: Option<u64>,
    /// The most memory received messages may hold, queued for `recv`
    /// across all peers (dhaga's own; libzmq has none).
    pub(crate) memory_limit: Option<u64>,
    /// `ZMQ_ROUTING_ID`: the Identity property sent to peers.
    pub(crate) routing_id: Option<Bytes>,
    /// `ZMQ_RECONNECT_IVL`: the first wait before reconnecting.
    pub(crate) reconnect_ivl: Duration,
    /// `ZMQ_RECONNECT_IVL_MAX`: the wait doubles up to this; zero keeps it
    /// at `reconnect_ivl`.
    pub(crate) reconnect_ivl_max: Duration,
    /// `ZMQ_HANDSHAKE_IVL`: a peer that has not completed the handshake by
    /// then is dropped.
    pub(crate) handshake_ivl: Duration,
    /// `ZMQ_ROUTER_MANDATORY`: a ROUTER reports unroutable messages
    /// instead of dropping them.
    pub(crate) router_mandatory: bool,
    /// `ZMQ_HEARTBEAT_IVL`: how often each connection sends a PING; `None`:
    /// no heartbeats.
    pub(crate) heartbeat_ivl: Option<Duration>,
    /// `ZMQ_HEARTBEAT_TIMEOUT`: a peer silent this long after a PING is
    /// dropped; `None`: the interval, as libzmq; zero: never.
    pub(crate) heartbeat_timeout: Option<Duration>,
    /// `ZMQ_HEARTBEAT_TTL`: the TTL our PINGs carry, in tenths of a second
    /// as on the wire (RFC 37 `ping-ttl`); 0: none.
    pub(crate) heartbeat_ttl_deciseconds: u16,
    /// `ZMQ_BACKLOG`: the `listen(2)` backlog of `tcp` and `ipc` endpoints
    /// bound afterwards.
    pub(crate) backlog: u32,
    /// `ZMQ_MECHANISM`: the security mechanism, as the last security option
    /// set chose it (libzmq's rules, see `socket/security.rs`).
    pub(crate) mechanism: Mechanism,
    /// Whether this socket is the mechanism's server (`ZMQ_CURVE_SERVER`,
    /// `ZMQ_PLAIN_SERVER`).
    pub(crate) as_server: bool,
    /// `ZMQ_CURVE_PUBLICKEY`: C, a client's long-term public key.
    pub(crate) curve_public: Option<PublicKey>,
    /// `ZMQ_CURVE_SECRETKEY`: c or s, the long-term secret key.
    pub(crate) curve_secret: Option<Arc<SecretKey>>,
    /// `ZMQ_CURVE_SERVERKEY`: S, the server a client trusts.
    pub(crate) curve_server_key: Option<PublicKey>,
    /// `ZMQ_PLAIN_USERNAME`: a PLAIN client's user name.
    pub(crate) plain_username: Bytes,
    /// `ZMQ_PLAIN_PASSWORD`: a PLAIN client's password.
    pub(crate) plain_password: Password,
    /// `ZMQ_ZAP_DOMAIN`: the domain ZAP requests name; with NULL, a domain
    /// makes the connection ask the ZAP handler too.
    pub(crate) zap_domain: Bytes,
    /// `ZMQ_ZAP_ENFORCE_DOMAIN`: a handshake that must ask ZAP and finds no
    /// handler refuses the peer (by default CURVE and NULL admit it).
    pub(crate) zap_enforce_domain: bool,
    /// `ZMQ_METADATA`: application properties (`X-` names) sent in the
    /// handshake, in the order set.
    pub(crate) metadata: Vec<(String, Bytes)>,
    /// `ZMQ_PROBE_ROUTER`: a REQ, DEALER or ROUTER sends an empty message
    /// first on every new connection.
    pub(crate) probe_router: bool,
    /// `ZMQ_XPUB_WELCOME_MSG`: what an XPUB sends first to each new
    /// subscriber.
    pub(crate) xpub_welcome_msg: Option<Bytes>,
    /// `ZMQ_CONNECT_ROUTING_ID`: the routing id a ROUTER gives the peer of
    /// its next `connect`, taken by that call.
    pub(crate) connect_routing_id: Option<Bytes>,
    /// `ZMQ_ROUTER_HANDOVER`: a ROUTER peer that comes with a routing id
    /// another peer has takes it over (that one is disconnected) instead
    /// of being refused.
    pub(crate) router_handover: bool,
    /// `ZMQ_IMMEDIATE`: a pipe joins the round robin only while its
    /// connection is up, so nothing is queued for a peer not (yet) there.
    pub(crate) immediate: bool,
    /// `ZMQ_XPUB_NODROP`: a PUB or XPUB waits for room at a full
    /// subscriber instead of dropping the message for it.
    pub(crate) xpub_nodrop: bool,
    /// `ZMQ_CONFLATE`: each peer's inbound and outbound queues keep only
    /// the newest message.
    pub(crate) conflate: bool,
    /// `ZMQ_RECONNECT_STOP`: when a `connect` gives up instead of trying
    /// again.
    pub(crate) reconnect_stop: ReconnectStop,
    /// `ZMQ_ROUTER_NOTIFY`: which peer arrivals and departures a ROUTER
    /// reports as empty messages.
    pub(crate) router_notify: RouterNotify,
    /// `ZMQ_STREAM_NOTIFY`: whether a STREAM reports peer arrivals and
    /// departures as empty messages (default on).
    pub(crate) stream_notify: bool,
    /// The options of `tcp://` sockets.
    pub(crate) tcp: TcpOptions,
}

/// What a `tcp://` endpoint's sockets are set up with as they are made, as
/// libzmq sets its options on them: the listening socket of a `bind` (whose
/// accepted connections inherit them) and the socket of each `connect`
/// attempt. `None` leaves the system's default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TcpOptions {
    /// `ZMQ_SNDBUF`: `SO_SNDBUF`, in bytes.
    pub(crate) send_buffer: Option<u32>,
    /// `ZMQ_RCVBUF`: `SO_RCVBUF`, in bytes.
    pub(crate) recv_buffer: Option<u32>,
    /// `ZMQ_TCP_KEEPALIVE`: `SO_KEEPALIVE` on or off.
    pub(crate) keepalive: Option<bool>,
    /// `ZMQ_TCP_KEEPALIVE_IDLE`: idle time before the first probe
    /// (`TCP_KEEPIDLE`), whole seconds; with keepalive on only.
    pub(crate) keepalive_idle: Option<Duration>,
    /// `ZMQ_TCP_KEEPALIVE_INTVL`: time between probes (`TCP_KEEPINTVL`),
    /// whole seconds; with keepalive on only.
    pub(crate) keepalive_interval: Option<Duration>,
    /// `ZMQ_TCP_KEEPALIVE_CNT`: probes unanswered before the connection is
    /// dropped (`TCP_KEEPCNT`); with keepalive on only.
    pub(crate) keepalive_count: Option<u32>,
    /// `ZMQ_TCP_MAXRT`: how long sent data may stay unacknowledged before
    /// the connection is dropped (`TCP_USER_TIMEOUT` on Linux, as libzmq
    /// sets it there).
    pub(crate) max_retransmit: Option<Duration>,
    /// `ZMQ_TOS`: the type of service (`IP_TOS`, IPv6's traffic class); 0
    /// leaves it.
    pub(crate) tos: u32,
    /// `ZMQ_BINDTODEVICE`: the network interface sockets are bound to
    /// (`SO_BINDTODEVICE`, Linux).
    pub(crate) device: Option<String>,
    /// `ZMQ_CONNECT_TIMEOUT`: how long a `connect` attempt may take before
    /// it gives up (and tries again after the reconnect interval).
    pub(crate) connect_timeout: Option<Duration>,
}

/// When a connecting socket stops reconnecting (libzmq's
/// `ZMQ_RECONNECT_STOP`, with its values): set with
/// [`Socket::set_reconnect_stop`](crate::Socket::set_reconnect_stop). By
/// default, none: a `connect` tries again for ever.
///
/// Once it stops, the endpoint is as if disconnected: what was queued for
/// its peer is dropped, and the socket no longer counts it for sending.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ReconnectStop(u8);

impl ReconnectStop {
    /// `ZMQ_RECONNECT_STOP_CONN_REFUSED`: the peer's host refused the
    /// connection (nothing listens there).
    pub const CONN_REFUSED: ReconnectStop = ReconnectStop(0x1);
    /// `ZMQ_RECONNECT_STOP_HANDSHAKE_FAILED`: the ZMTP handshake failed
    /// (a peer of the wrong type, refused credentials, ...).
    pub const HANDSHAKE_FAILED: ReconnectStop = ReconnectStop(0x2);
    /// `ZMQ_RECONNECT_STOP_AFTER_DISCONNECT`: an established connection
    /// was lost.
    pub const AFTER_DISCONNECT: ReconnectStop = ReconnectStop(0x4);
    /// Never stop (the default).
    pub const NEVER: ReconnectStop = ReconnectStop(0);

    /// Whether every condition of `other` is in the set.
    pub const fn contains(self, other: ReconnectStop) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// The set as libzmq's bit mask.
    pub const fn bits(self) -> u8 {
        self.0
    }
}

impl std::ops::BitOr for ReconnectStop {
    type Output = ReconnectStop;

    fn bitor(self, other: ReconnectStop) -> ReconnectStop {
        ReconnectStop(self.0 | other.0)
    }
}

impl std::fmt::Debug for ReconnectStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReconnectStop({:#x})", self.0)
    }
}

/// Which peer events a ROUTER reports to its user (libzmq's
/// `ZMQ_ROUTER_NOTIFY`, with its values): set with
/// [`Socket::set_router_notify`](crate::Socket::set_router_notify). By
/// default, none.
///
/// Each event arrives as a message of two frames, the peer's routing id
/// and an empty frame: on `CONNECT` when the peer's handshake completes,
/// before anything it sends; on `DISCONNECT` when its connection is lost,
/// after everything it sent (not when this socket ends the connection).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RouterNotify(u8);

impl RouterNotify {
    /// `ZMQ_NOTIFY_CONNECT`: a peer connected.
    pub const CONNECT: RouterNotify = RouterNotify(0x1);
    /// `ZMQ_NOTIFY_DISCONNECT`: a peer's connection was lost.
    pub const DISCONNECT: RouterNotify = RouterNotify(0x2);
    /// No notifications (the default).
    pub const NONE: RouterNotify = RouterNotify(0);

    /// Whether every event of `other` is in the set.
    pub const fn contains(self, other: RouterNotify) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// The set as libzmq's bit mask.
    pub const fn bits(self) -> u8 {
        self.0
    }
}

impl std::ops::BitOr for RouterNotify {
    type Output = RouterNotify;

    fn bitor(self, other: RouterNotify) -> RouterNotify {
        RouterNotify(self.0 | other.0)
    }
}

impl std::fmt::Debug for RouterNotify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RouterNotify({:#x})", self.0)
    }
}

/// A PLAIN password: zeroed when dropped, never shown.
#[derive(Clone, Default)]
pub(crate) struct Password(pub(crate) Arc<Zeroizing<Vec<u8>>>);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

impl Options {
    /// libzmq's defaults for a socket of `socket_type`: SUB and XSUB do not
    /// linger (what they queue is subscriptions, not worth waiting for).
    pub(crate) fn for_type(socket_type: SocketType) -> Options {
        let mut options = Options::default();
        if matches!(socket_type, SocketType::Sub | SocketType::XSub) {
            options.linger = Some(Duration::ZERO);
        }
        options
    }
}

impl Options {
    /// The largest message a connection's decoder accepts: the maximum
    /// message size and the memory limit, whichever is set and smaller.
    pub(crate) fn message_limit(&self) -> Option<u64> {
        match (self.max_msg_size, self.memory_limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Options {
    /// The security a connection's handshake runs with.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] when the keys the mechanism and role need
    /// are not set, or do not belong together.
    pub(crate) fn security(&self) -> Result<Security> {
        let invalid = |option, reason| Err(Error::InvalidOption { option, reason });
        match (self.mechanism, self.as_server) {
            (Mechanism::Curve, true) => match &self.curve_secret {
                Some(secret) => Ok(Security::CurveServer(Arc::clone(secret))),
                None => invalid("curve_secretkey", "a CURVE server needs its secret key"),
            },
            (Mechanism::Curve, false) => {
                let Some(server) = self.curve_server_key else {
                    return invalid(
                        "curve_serverkey",
                        "a CURVE client needs the server's public key (or set curve_server for a server)",
                    );
                };
                let Some(secret) = &self.curve_secret else {
                    return invalid("curve_secretkey", "a CURVE client needs its own secret key");
                };
                let public = secret.public_key();
                if self.curve_public.is_some_and(|given| given != public) {
                    return invalid("curve_publickey", "it is not the public half of curve_secretkey");
                }
                Ok(Security::CurveClient(Arc::new(ClientKeys {
                    public,
                    secret: SecretKey::clone(secret),
                    server,
                })))
            }
            (Mechanism::Plain, true) => Ok(Security::PlainServer),
            (Mechanism::Plain, false) => Ok(Security::PlainClient(Arc::new(PlainCredentials {
                username: self.plain_username.clone(),
                password: Zeroizing::new(self.plain_password.0.to_vec()),
            }))),
            (Mechanism::Null, _) => Ok(Security::Null {
                zap: !self.zap_domain.is_empty(),
            }),
        }
    }
}

impl Default for Options {
    fn default() -> Options {
        Options {
            send_hwm: 1000,
            recv_hwm: 1000,
            send_timeout: None,
            recv_timeout: None,
            linger: None,
            max_msg_size: None,
            memory_limit: None,
            routing_id: None,
            reconnect_ivl: Duration::from_millis(100),
            reconnect_ivl_max: Duration::ZERO,
            handshake_ivl: Duration::from_secs(30),
            router_mandatory: false,
            heartbeat_ivl: None,
            heartbeat_timeout: None,
            heartbeat_ttl_deciseconds: 0,
            backlog: 100,
            mechanism: Mechanism::Null,
            as_server: false,
            curve_public: None,
            curve_secret: None,
            curve_server_key: None,
            plain_username: Bytes::new(),
            plain_password: Password::default(),
            zap_domain: Bytes::new(),
            zap_enforce_domain: false,
            metadata: Vec::new(),
            probe_router: false,
            xpub_welcome_msg: None,
            connect_routing_id: None,
            router_handover: false,
            immediate: false,
            xpub_nodrop: false,
            conflate: false,
            reconnect_stop: ReconnectStop::NEVER,
            router_notify: RouterNotify::NONE,
            stream_notify: true,
            tcp: TcpOptions::default(),
        }
    }
}

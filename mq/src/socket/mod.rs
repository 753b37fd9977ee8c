//! The socket: one type for every pattern, as in libzmq.
//!
//! # Layers
//!
//! The files of this folder import one way, from the top down:
//!
//! - `mod.rs` ([`Socket`]) and the option files (`pattern_options.rs`,
//!   `peer_options.rs`, `tcp_options.rs`, `security.rs`: more of
//!   `impl Socket`): the API. A socket makes its core and starts the peers
//!   that serve its endpoints.
//! - `peer/`: the micro-threads that serve the socket's connections (tcp,
//!   ipc, inproc). They drive the core: they attach and detach pipes,
//!   deliver what they read and write what the pipes' outboxes hold.
//! - `core.rs` (with `core/readiness.rs`): the state a socket shares with
//!   its peers (its pipes and their queues, under one lock), where `send`
//!   and `recv` carry out what the pattern decides. It never calls into
//!   `peer/`.
//! - `pattern/`: each socket type's rules (routing, envelopes,
//!   subscriptions), which know pipes only by their ids and the routing
//!   table only through a lookup the core hands them.
//! - `pipe.rs` (pipe ids, and the outbox: what is queued for one peer)
//!   and `metrics.rs`: used by the layers above, using none of them. An
//!   outbox wakes blocked senders through the `Notify` the core hands it.
//!
//! Below them all, `crate::transport` carries bytes and knows nothing of
//! sockets.

mod core;
mod metrics;
mod pattern;
mod pattern_options;
mod peer;
mod peer_options;
mod pipe;
mod security;
mod tcp_options;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dhaga_runtime::JoinHandle;
use dhaga_runtime::sync::Receiver;

pub(crate) use self::core::Core;
pub use self::metrics::SocketMetrics;
pub(crate) use self::peer::Registry;
use self::peer::{
    AcceptStop, accept_loop, connect_loop, connection_stack, spawn_colocated, ttl_from_wire, ttl_to_wire,
};
use self::pipe::PipeId;
use crate::endpoint::{Endpoint, ToEndpoint};
use crate::error::{Error, Result, SendError};
use crate::monitor::{MonitorEvent, MonitorEvents, copy_error};
use crate::transport::Listener;
use crate::{Context, Msg, SocketType};

/// A ZeroMQ socket: one end of a messaging pattern, connected to any number
/// of peers over any number of endpoints.
///
/// `send` and `recv` block the way everything in dhaga does: a micro-thread
/// parks, an OS thread blocks. Each connection is served by micro-threads of
/// the runtime (the one the socket is used from, or dhaga's default
/// runtime). A socket may be shared between micro-threads and threads
/// (it is `Sync`); messages are delivered whole or not at all.
///
/// Dropping the socket closes it: its connections send what is already
/// queued (for at most the linger time, by default until done) and end.
/// [`close`](Socket::close) does the same and waits for them.
///
/// # Examples
///
/// ```
/// use dhaga_mq::{Socket, SocketType};
///
/// let server = Socket::new(SocketType::Rep);
/// server.bind("tcp://127.0.0.1:*").unwrap();
/// let endpoint = server.last_endpoint().unwrap();
///
/// let client = Socket::new(SocketType::Req);
/// client.connect(&endpoint).unwrap();
/// client.send("Hello").unwrap();
/// assert_eq!(server.recv().unwrap(), "Hello".into());
/// server.send("World").unwrap();
/// assert_eq!(client.recv().unwrap(), "World".into());
/// ```
pub struct Socket {
    core: Arc<Core>,
    endpoints: Mutex<Endpoints>,
}

#[derive(Default)]
struct Endpoints {
    bound: Vec<Bound>,
    connected: Vec<Connected>,
    last: Option<Endpoint>,
}

struct Bound {
    /// As the user named it, and as bound (the picked port).
    asked: Endpoint,
    actual: Endpoint,
    /// The accepting micro-thread (tcp, ipc) and how to stop it; inproc
    /// has none.
    acceptor: Option<(JoinHandle<()>, Arc<AcceptStop>)>,
}

struct Connected {
    endpoint: Endpoint,
    pipe: PipeId,
}

impl Socket {
    /// A socket of type `socket_type` in the shared [`Context`].
    pub fn new(socket_type: SocketType) -> Socket {
        Socket::with_context(&Context::shared(), socket_type)
    }

    pub(crate) fn with_context(context: &Context, socket_type: SocketType) -> Socket {
        let core = Core::new(socket_type, context.clone());
        context.register(&core);
        Socket {
            core,
            endpoints: Mutex::new(Endpoints::default()),
        }
    }

    /// The socket's type.
    pub fn socket_type(&self) -> SocketType {
        self.core.socket_type
    }

    /// The shared state, for the poller and the proxy.
    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    fn endpoints(&self) -> MutexGuard<'_, Endpoints> {
        self.endpoints.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Accepts peers on `endpoint`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEndpoint`] for a malformed endpoint,
    /// [`Error::AddrInUse`] for an `inproc` name bound already, and
    /// [`Error::Io`] when the listener cannot be made (the address is in
    /// use, the path is not writable, the name does not resolve).
    pub fn bind(&self, endpoint: impl ToEndpoint) -> Result<()> {
        let asked = endpoint.to_endpoint()?;
        self.check_open()?;
        self.check_transport(&asked)?;
        let (actual, acceptor) = match &asked {
            Endpoint::Inproc(name) => {
                self.core.context.inproc().bind(name, &self.core)?;
                (asked.clone(), None)
            }
            _ => {
                self.check_security()?;
                let (backlog, tcp) = {
                    let options = self.core.options();
                    (options.backlog, options.tcp.clone())
                };
                let (listener, actual) = Listener::bind(&asked, backlog, &tcp).inspect_err(|e| {
                    self.core.monitor.emit(|| MonitorEvent::BindFailed {
                        endpoint: asked.clone(),
                        error: copy_error(e),
                    });
                })?;
                self.core.monitor.emit(|| MonitorEvent::Listening {
                    endpoint: actual.clone(),
                });
                let core = Arc::clone(&self.core);
                let shown = actual.clone();
                let stop = Arc::new(AcceptStop::new());
                let acceptor = {
                    let stop = Arc::clone(&stop);
                    let service = self.core.service();
                    dhaga_runtime::spawn(move || {
                        let _service = service.started();
                        accept_loop(core, listener, shown, stop);
                    })
                };
                (actual, Some((acceptor, stop)))
            }
        };
        let mut endpoints = self.endpoints();
        endpoints.last = Some(actual.clone());
        endpoints.bound.push(Bound {
            asked,
            actual,
            acceptor,
        });
        Ok(())
    }

    /// Connects to a peer at `endpoint`, now and whenever the connection is
    /// lost (after the reconnect interval). Messages sent before the peer
    /// is reachable wait in this connection's queue, as with libzmq.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEndpoint`] for a malformed endpoint (or a wildcard
    /// host), [`Error::IncompatibleSocketType`] for an `inproc` peer
    /// that cannot talk to this socket, and [`Error::InvalidOption`] for a
    /// [`set_connect_routing_id`](Socket::set_connect_routing_id) that
    /// another peer of this socket has. Network errors are not returned:
    /// the socket keeps retrying.
    pub fn connect(&self, endpoint: impl ToEndpoint) -> Result<()> {
        let endpoint = endpoint.to_endpoint()?;
        self.check_open()?;
        if let Endpoint::Tcp { host, port } = &endpoint
            && (*host == crate::endpoint::Host::Any || *port == 0)
        {
            return Err(Error::InvalidEndpoint {
                endpoint: endpoint.to_string(),
                reason: "connect needs a host and a port, not a wildcard",
            });
        }
        self.check_transport(&endpoint)?;
        if !matches!(endpoint, Endpoint::Inproc(_)) {
            self.check_security()?;
        }
        let (pipe, _) = self.core.add_pipe(true);
        let assigned = self.core.options().connect_routing_id.take();
        if let Some(id) = assigned.filter(|_| matches!(self.core.socket_type, SocketType::Router | SocketType::Stream))
            && !self.core.assign_routing_id(pipe, id)
        {
            self.core.remove_pipe(pipe);
            return Err(Error::InvalidOption {
                option: "connect_routing_id",
                reason: "another peer of this socket has that routing id",
            });
        }
        match &endpoint {
            Endpoint::Inproc(name) => {
                if let Err(e) = self.core.context.inproc().connect(name, &self.core, pipe) {
                    self.core.remove_pipe(pipe);
                    return Err(e);
                }
            }
            _ => {
                let core = Arc::clone(&self.core);
                let target = endpoint.clone();
                // The connector ends by itself once the socket closes or the
                // pipe is disconnected; nobody needs to join it. It reads the
                // connection too, so it starts beside the caller, who is
                // likely the one to receive what it reads.
                let service = self.core.service();
                let stack = connection_stack(self.core.options().mechanism);
                drop(spawn_colocated(stack, move || {
                    let _service = service.started();
                    connect_loop(core, target, pipe);
                }));
            }
        }
        let mut endpoints = self.endpoints();
        endpoints.last = Some(endpoint.clone());
        endpoints.connected.push(Connected { endpoint, pipe });
        Ok(())
    }

    /// Stops accepting on an endpoint given to [`bind`](Socket::bind) (as
    /// given, or as [`last_endpoint`](Socket::last_endpoint) reported it),
    /// and, as libzmq does, ends the connections accepted there (`tcp`,
    /// `ipc`): what was queued for their peers is dropped, and so is what
    /// they sent that was not received yet (libzmq may still deliver some
    /// of that).
    ///
    /// # Errors
    ///
    /// [`Error::EndpointNotFound`] if this socket did not bind it.
    pub fn unbind(&self, endpoint: impl ToEndpoint) -> Result<()> {
        let endpoint = endpoint.to_endpoint()?;
        let bound = {
            let mut endpoints = self.endpoints();
            let index = endpoints
                .bound
                .iter()
                .position(|b| b.asked == endpoint || b.actual == endpoint)
                .ok_or_else(|| Error::EndpointNotFound(endpoint.to_string()))?;
            endpoints.bound.remove(index)
        };
        let listener = bound.acceptor.as_ref().map(|(_, stop)| stop.id);
        self.stop_bound(bound);
        if let Some(listener) = listener {
            self.core.end_accepted_by(listener);
        }
        Ok(())
    }

    /// Ends the connection made by [`connect`](Socket::connect) to
    /// `endpoint`; messages still queued for it are dropped.
    ///
    /// # Errors
    ///
    /// [`Error::EndpointNotFound`] if this socket did not connect it.
    pub fn disconnect(&self, endpoint: impl ToEndpoint) -> Result<()> {
        let endpoint = endpoint.to_endpoint()?;
        let connected = {
            let mut endpoints = self.endpoints();
            let index = endpoints
                .connected
                .iter()
                .position(|c| c.endpoint == endpoint)
                .ok_or_else(|| Error::EndpointNotFound(endpoint.to_string()))?;
            endpoints.connected.remove(index)
        };
        self.core.disconnect_pipe(connected.pipe);
        Ok(())
    }

    /// Starts monitoring the socket: what happens to its endpoints and
    /// connections from now on arrives on the returned channel, as
    /// libzmq's `zmq_socket_monitor` reports it (see [`MonitorEvent`]).
    ///
    /// The channel is the runtime's, so events are read with `recv`,
    /// `recv_timeout`, `try_recv` or an iterator, from a micro-thread or an
    /// OS thread. When the socket closes (after the `Closed` events of its
    /// listeners), or when `monitor` is called again — a socket has one
    /// monitor, as in libzmq — the last event is `MonitorStopped`
    /// (`ZMQ_EVENT_MONITOR_STOPPED`), and the channel ends (`recv` fails).
    /// The socket never waits for the reader: events beyond a thousand
    /// unread ones are dropped. Without a monitor, events cost nothing.
    /// [`monitor_events`](Socket::monitor_events) reports only the events
    /// asked for.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use dhaga_mq::{MonitorEvent, Socket, SocketType};
    ///
    /// let server = Socket::new(SocketType::Rep);
    /// let events = server.monitor();
    /// server.bind("tcp://127.0.0.1:*").unwrap();
    /// let client = Socket::new(SocketType::Req);
    /// client.connect(&server.last_endpoint().unwrap()).unwrap();
    ///
    /// let wait = Duration::from_secs(10);
    /// assert!(matches!(events.recv_timeout(wait), Ok(MonitorEvent::Listening { .. })));
    /// assert!(matches!(events.recv_timeout(wait), Ok(MonitorEvent::Accepted { .. })));
    /// assert!(matches!(events.recv_timeout(wait), Ok(MonitorEvent::HandshakeSucceeded { .. })));
    /// drop(server);
    /// assert!(matches!(events.recv_timeout(wait), Ok(MonitorEvent::Closed { .. })));
    /// assert!(matches!(events.recv_timeout(wait), Ok(MonitorEvent::MonitorStopped)));
    /// assert!(events.recv_timeout(wait).is_err(), "the socket closed: the channel ended");
    /// ```
    pub fn monitor(&self) -> Receiver<MonitorEvent> {
        self.core.monitor.start(MonitorEvents::ALL)
    }

    /// As [`monitor`](Socket::monitor), reporting only the events in
    /// `events` (libzmq's `events` mask of `zmq_socket_monitor`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use dhaga_mq::{MonitorEvent, MonitorEvents, Socket, SocketType};
    ///
    /// let server = Socket::new(SocketType::Rep);
    /// let events = server.monitor_events(MonitorEvents::ACCEPTED);
    /// server.bind("tcp://127.0.0.1:*").unwrap();
    /// let client = Socket::new(SocketType::Req);
    /// client.connect(&server.last_endpoint().unwrap()).unwrap();
    ///
    /// // No Listening before it, no handshake after it.
    /// let accepted = events.recv_timeout(Duration::from_secs(10)).unwrap();
    /// assert!(matches!(accepted, MonitorEvent::Accepted { peer: Some(_), .. }));
    /// ```
    pub fn monitor_events(&self, events: MonitorEvents) -> Receiver<MonitorEvent> {
        self.core.monitor.start(events)
    }

    /// The endpoint last bound or connected, as libzmq's `ZMQ_LAST_ENDPOINT`
    /// reports it: with the port the system picked for `tcp://host:*`.
    pub fn last_endpoint(&self) -> Option<String> {
        self.endpoints().last.as_ref().map(Endpoint::to_string)
    }

    /// Sends a message, waiting while the pattern's peers have no room (up
    /// to the send timeout).
    ///
    /// # Errors
    ///
    /// The message comes back inside the error: [`Error::TimedOut`] after
    /// the send timeout, [`Error::InvalidState`] out of REQ/REP order,
    /// [`Error::NotSupported`] on PULL, [`Error::HostUnreachable`] from a
    /// ROUTER with `router_mandatory`, [`Error::EmptyMessage`],
    /// [`Error::Closed`], [`Error::Terminated`] once the runtime serving the
    /// socket has shut down.
    pub fn send(&self, msg: impl Into<Msg>) -> Result<(), SendError> {
        self.send_counted(msg.into(), false)
    }

    /// Sends a message if that is possible without waiting.
    ///
    /// # Errors
    ///
    /// As [`send`](Socket::send), with [`Error::WouldBlock`] where it would
    /// wait.
    pub fn try_send(&self, msg: impl Into<Msg>) -> Result<(), SendError> {
        self.send_counted(msg.into(), true)
    }

    fn send_counted(&self, msg: Msg, nonblocking: bool) -> Result<(), SendError> {
        let bytes = msg.size();
        self.core.send(msg, nonblocking)?;
        self.core.counters.sent(bytes);
        Ok(())
    }

    fn recv_counted(&self, nonblocking: bool) -> Result<Msg> {
        let msg = self.core.recv(nonblocking)?;
        self.core.counters.received(msg.size());
        Ok(msg)
    }

    /// What the socket has counted since it was made: messages and bytes
    /// in and out, drops at the high-water mark, reconnects, failed
    /// handshakes.
    pub fn metrics(&self) -> SocketMetrics {
        let hwm_drops = self.core.lock().hwm_drops;
        self.core.counters.snapshot(hwm_drops)
    }

    /// Receives the next message, waiting for one (up to the receive
    /// timeout).
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] after the receive timeout, [`Error::InvalidState`]
    /// out of REQ/REP order, [`Error::NotSupported`] on PUSH,
    /// [`Error::Closed`], [`Error::Terminated`] once the runtime serving the
    /// socket has shut down and what had arrived is received.
    pub fn recv(&self) -> Result<Msg> {
        self.recv_counted(false)
    }

    /// Receives a message of text, as [`recv`](Socket::recv) does: pyzmq's
    /// `recv_string`.
    ///
    /// # Errors
    ///
    /// [`recv`](Socket::recv)'s, and [`Error::NotText`] (with the message)
    /// for a message that is not one frame of UTF-8.
    pub fn recv_string(&self) -> Result<String> {
        let msg = self.recv()?;
        match msg.as_str() {
            Some(text) => Ok(text.to_owned()),
            None => Err(Error::NotText(msg)),
        }
    }

    /// Receives a message if one is waiting.
    ///
    /// # Errors
    ///
    /// As [`recv`](Socket::recv), with [`Error::WouldBlock`] if none is.
    pub fn try_recv(&self) -> Result<Msg> {
        self.recv_counted(true)
    }

    /// Closes the socket and waits until its connections have delivered
    /// what was queued for them, for at most the linger time (by default,
    /// as long as it takes), as libzmq's `zmq_ctx_term` does. A program that
    /// sends and then ends calls this, so that its last messages are not
    /// lost with the runtime's micro-threads.
    ///
    /// Each connection ends in order: once its writer has written
    /// everything it half-closes, and the connection ends when the peer has
    /// read the rest and closed its side (hanging up at once would make a
    /// libzmq peer whose input is paused at its high-water mark drop what
    /// it had not read). So `close` waits for peers to read; a peer that
    /// does not is cut off at the linger deadline. Peers owed nothing (no
    /// message was queued for them, nor written on their connection) are
    /// not waited for: with nothing to deliver, `close` returns at once,
    /// whatever the peers do.
    ///
    /// Messages queued for a peer that is not connected yet still wait for
    /// it (the socket keeps connecting), so with the default linger this
    /// waits for that peer to appear; set a linger time to bound it.
    /// Dropping the socket closes it the same way without waiting: the
    /// connections finish on their own while the program goes on.
    ///
    /// `close` takes `&self`, so a socket shared through an `Arc` can be
    /// closed by any of its holders: calls blocked in `send` or `recv` on
    /// it then return [`Error::Closed`], and every later call too. Closing
    /// twice does nothing more.
    pub fn close(&self) {
        let linger = self.core.options().linger;
        let deadline = deadline(linger);
        self.shut();
        self.core.wait_detached(deadline);
    }

    /// Closes the socket without waiting: its listeners stop, its
    /// connections deliver what is queued within the linger time, blocked
    /// calls wake. Idempotent.
    fn shut(&self) {
        let endpoints = std::mem::take(&mut *self.endpoints());
        self.core.close();
        self.core.context.inproc().forget(&self.core);
        for bound in endpoints.bound {
            self.stop_bound(bound);
        }
        self.core.monitor.stop();
    }

    /// A STREAM talks to raw byte streams, which `inproc` does not carry.
    fn check_transport(&self, endpoint: &Endpoint) -> Result<()> {
        if self.socket_type() == SocketType::Stream && matches!(endpoint, Endpoint::Inproc(_)) {
            return Err(Error::NotSupported {
                socket_type: SocketType::Stream,
                operation: "inproc (a STREAM serves tcp and ipc peers)",
            });
        }
        Ok(())
    }

    fn check_open(&self) -> Result<()> {
        self.core.check_open()
    }

    fn stop_bound(&self, bound: Bound) {
        match &bound.asked {
            Endpoint::Inproc(name) => {
                self.core.context.inproc().unbind(name, &self.core);
            }
            _ => {
                if let Some((acceptor, stop)) = bound.acceptor {
                    stop.stop(acceptor, &bound.actual);
                }
                self.core.monitor.emit(|| MonitorEvent::Closed {
                    endpoint: bound.actual.clone(),
                });
            }
        }
    }
}

fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// Option setters and getters, named after libzmq's options.
impl Socket {
    /// `ZMQ_SNDHWM`: how many messages may wait for each peer (default
    /// 1000). Applies to connections made afterwards.
    pub fn set_send_hwm(&self, hwm: usize) {
        self.core.options().send_hwm = hwm;
    }

    /// The send high-water mark.
    pub fn send_hwm(&self) -> usize {
        self.core.options().send_hwm
    }

    /// `ZMQ_RCVHWM`: how many messages from each peer may wait to be
    /// received before reading from it pauses (default 1000). Applies to
    /// connections made afterwards.
    pub fn set_recv_hwm(&self, hwm: usize) {
        self.core.options().recv_hwm = hwm;
    }

    /// The receive high-water mark.
    pub fn recv_hwm(&self) -> usize {
        self.core.options().recv_hwm
    }

    /// `ZMQ_SNDTIMEO`: how long `send` waits (`None`, the default: forever).
    pub fn set_send_timeout(&self, timeout: Option<Duration>) {
        self.core.options().send_timeout = timeout;
    }

    /// The send timeout.
    pub fn send_timeout(&self) -> Option<Duration> {
        self.core.options().send_timeout
    }

    /// `ZMQ_RCVTIMEO`: how long `recv` waits (`None`, the default: forever).
    pub fn set_recv_timeout(&self, timeout: Option<Duration>) {
        self.core.options().recv_timeout = timeout;
    }

    /// The receive timeout.
    pub fn recv_timeout(&self) -> Option<Duration> {
        self.core.options().recv_timeout
    }

    /// `ZMQ_LINGER`: how long queued messages may still be sent after the
    /// socket is closed (`None`, the default: until they are; zero: drop
    /// them; SUB and XSUB default to zero, as in libzmq). Dropping the
    /// socket never waits for it: connections flush on their own.
    pub fn set_linger(&self, linger: Option<Duration>) {
        self.core.options().linger = linger;
    }

    /// The linger time.
    pub fn linger(&self) -> Option<Duration> {
        self.core.options().linger
    }

    /// `ZMQ_MAXMSGSIZE`: a peer sending a larger message is disconnected,
    /// as soon as the header of the frame that would take it past `size`
    /// arrives (`None`, the default: no limit but this machine's memory,
    /// RAM and swap, past which any message is refused).
    ///
    /// Unlike libzmq, which checks each frame alone, a multipart message
    /// counts whole while it arrives: its frames' bytes, and 32 bytes (what
    /// holding a frame costs) for each frame after the eighth, so that a
    /// message of endless empty frames is cut off too while envelopes
    /// (REQ's delimiter, ROUTER's routing ids) cost only their bytes.
    /// Applies to connections made afterwards.
    pub fn set_max_msg_size(&self, size: Option<u64>) {
        self.core.options().max_msg_size = size;
    }

    /// The maximum message size.
    pub fn max_msg_size(&self) -> Option<u64> {
        self.core.options().max_msg_size
    }

    /// The most memory, in bytes, that messages received from peers may
    /// hold while they wait for `recv`, all peers together (`None`, the
    /// default: no limit beyond the high-water mark, which counts
    /// messages, not bytes). A message counts as
    /// [`set_max_msg_size`](Socket::set_max_msg_size) counts it.
    ///
    /// At the limit, the connections stop reading from their peers (as
    /// when the receive high-water mark is reached) until `recv` makes
    /// room, and the kernel's flow control holds the peers back. Below it,
    /// one more message is let in whatever its size, as below the
    /// high-water mark, so a large message never waits for ever behind a
    /// stream of small ones: what waits for `recv` stays under the limit
    /// plus one message. A peer sending a message larger than the limit is
    /// disconnected, as for the maximum message size. Beyond that, each
    /// connection holds only the message it is reading (at most the limit)
    /// and its read buffer. Messages an XPUB receives (subscriptions) are
    /// not counted. libzmq has no such option. The limit on what waits for
    /// `recv` applies at once; the message size it implies, to connections
    /// made afterwards.
    pub fn set_memory_limit(&self, bytes: Option<u64>) {
        self.core.set_memory_limit(bytes);
    }

    /// The memory limit for received messages.
    pub fn memory_limit(&self) -> Option<u64> {
        self.core.options().memory_limit
    }

    /// `ZMQ_ROUTING_ID`: the identity a ROUTER peer sees for this socket
    /// (1 to 255 bytes, not starting with a zero byte). Applies to
    /// connections made afterwards.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] for an empty, too long or zero-led id.
    pub fn set_routing_id(&self, id: impl Into<Bytes>) -> Result<()> {
        let id = id.into();
        if id.is_empty() || id.len() > 255 || id[0] == 0 {
            return Err(Error::InvalidState(
                "a routing id is 1 to 255 bytes and does not start with a zero byte",
            ));
        }
        self.core.options().routing_id = Some(id);
        Ok(())
    }

    /// The routing id set with [`set_routing_id`](Socket::set_routing_id).
    pub fn routing_id(&self) -> Option<Bytes> {
        self.core.options().routing_id.clone()
    }

    /// `ZMQ_BACKLOG`: how many connections a `tcp` or `ipc` endpoint keeps
    /// waiting for this socket to accept them (default 100, as libzmq; the
    /// system caps it, at `net.core.somaxconn` on Linux). Beyond that, new
    /// peers wait to connect. Applies to endpoints bound afterwards.
    pub fn set_backlog(&self, backlog: u32) {
        self.core.options().backlog = backlog;
    }

    /// The listen backlog.
    pub fn backlog(&self) -> u32 {
        self.core.options().backlog
    }

    /// `ZMQ_RECONNECT_IVL`: the wait before reconnecting (default 100 ms).
    pub fn set_reconnect_ivl(&self, ivl: Duration) {
        self.core.options().reconnect_ivl = ivl;
    }

    /// The reconnect interval.
    pub fn reconnect_ivl(&self) -> Duration {
        self.core.options().reconnect_ivl
    }

    /// `ZMQ_RECONNECT_IVL_MAX`: each failed attempt doubles the wait up to
    /// this (default zero: the wait stays at the reconnect interval).
    pub fn set_reconnect_ivl_max(&self, max: Duration) {
        self.core.options().reconnect_ivl_max = max;
    }

    /// The longest reconnect interval (zero: the interval does not grow).
    pub fn reconnect_ivl_max(&self) -> Duration {
        self.core.options().reconnect_ivl_max
    }

    /// `ZMQ_HANDSHAKE_IVL`: a peer that has not completed the whole ZMTP
    /// handshake (greeting, mechanism, READY) this long after its
    /// connection opened is dropped, however slowly its bytes keep coming
    /// (default 30 s; zero: no limit, as libzmq's 0).
    pub fn set_handshake_ivl(&self, ivl: Duration) {
        self.core.options().handshake_ivl = ivl;
    }

    /// The handshake interval (zero: no limit).
    pub fn handshake_ivl(&self) -> Duration {
        self.core.options().handshake_ivl
    }

    /// `ZMQ_ROUTER_MANDATORY`: a ROUTER returns [`Error::HostUnreachable`]
    /// for a routing id that is not connected, and waits when the peer is
    /// full, instead of dropping the message (default off).
    pub fn set_router_mandatory(&self, on: bool) {
        self.core.options().router_mandatory = on;
    }

    /// Whether a ROUTER reports unroutable messages.
    pub fn router_mandatory(&self) -> bool {
        self.core.options().router_mandatory
    }

    /// `ZMQ_HEARTBEAT_IVL`: each connection sends the peer a ZMTP PING
    /// this often (RFC 37 §"Connection Heartbeating"), and drops a peer
    /// from which nothing at all arrives within the
    /// [heartbeat timeout](Socket::set_heartbeat_timeout) after one.
    /// `None` (the default) or zero: no PINGs. Applies to `tcp` and `ipc`
    /// connections made afterwards, to ZMTP 3.1 peers (3.0 has no PING).
    ///
    /// Whatever this says, PINGs from the peer are answered, by the
    /// connection's own micro-threads, whether or not the application is
    /// calling `send` or `recv`.
    pub fn set_heartbeat_ivl(&self, ivl: Option<Duration>) {
        self.core.options().heartbeat_ivl = ivl.filter(|ivl| !ivl.is_zero());
    }

    /// The heartbeat interval (`None`: off).
    pub fn heartbeat_ivl(&self) -> Option<Duration> {
        self.core.options().heartbeat_ivl
    }

    /// `ZMQ_HEARTBEAT_TIMEOUT`: how long a peer may stay silent after one of
    /// our PINGs before its connection is dropped (and, where this socket
    /// connected, made again). Anything from the peer counts, not only a
    /// PONG. `None` (the default): the heartbeat interval, as libzmq; zero:
    /// never drop (libzmq's 0). Applies to connections made afterwards.
    pub fn set_heartbeat_timeout(&self, timeout: Option<Duration>) {
        self.core.options().heartbeat_timeout = timeout;
    }

    /// The heartbeat timeout as set (`None`: the heartbeat interval).
    pub fn heartbeat_timeout(&self) -> Option<Duration> {
        self.core.options().heartbeat_timeout
    }

    /// `ZMQ_HEARTBEAT_TTL`: the time-to-live our PINGs carry, asking the
    /// peer to drop the connection if nothing arrives from us within it
    /// (libzmq peers do). It travels in tenths of a second: it is rounded
    /// down to one, so under 100 ms is no TTL, as `None` (the default) is.
    /// Applies to connections made afterwards. (libzmq 4.3 turns a received
    /// TTL into milliseconds in 16 bits, so to a libzmq peer a TTL over
    /// 65.5 s wraps around to a shorter one.)
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for a TTL over 6553.5 s, the most the
    /// 16-bit field holds (libzmq's `EINVAL`).
    pub fn set_heartbeat_ttl(&self, ttl: Option<Duration>) -> Result<()> {
        let deciseconds = ttl_to_wire(ttl).ok_or(Error::InvalidOption {
            option: "heartbeat_ttl",
            reason: "at most 6553.5 s (65535 tenths of a second)",
        })?;
        self.core.options().heartbeat_ttl_deciseconds = deciseconds;
        Ok(())
    }

    /// The heartbeat TTL, in whole tenths of a second (`None`: no TTL).
    pub fn heartbeat_ttl(&self) -> Option<Duration> {
        ttl_from_wire(self.core.options().heartbeat_ttl_deciseconds)
    }
}

/// Publish-subscribe (rfc.zeromq.org 29/PUBSUB).
impl Socket {
    /// `ZMQ_SUBSCRIBE`: a SUB receives messages whose first frame starts
    /// with `prefix` (the empty prefix: every message). Subscriptions add
    /// up: subscribing twice to a prefix takes two
    /// [`unsubscribe`](Socket::unsubscribe)s to undo. Peers that connect
    /// later learn every subscription.
    ///
    /// An XSUB subscribes by sending a message `[1, prefix...]` instead, as
    /// in libzmq. On an XPUB with
    /// [`set_xpub_manual`](Socket::set_xpub_manual), subscribes the peer
    /// whose subscription was received last.
    ///
    /// # Errors
    ///
    /// [`Error::NotSupported`] on a socket that is not a SUB or a manual
    /// XPUB.
    pub fn subscribe(&self, prefix: impl AsRef<[u8]>) -> Result<()> {
        self.core.subscribe(true, Bytes::copy_from_slice(prefix.as_ref()))
    }

    /// `ZMQ_UNSUBSCRIBE`: undoes one [`subscribe`](Socket::subscribe) to
    /// `prefix` (nothing if there is none). An XSUB sends `[0, prefix...]`.
    pub fn unsubscribe(&self, prefix: impl AsRef<[u8]>) -> Result<()> {
        self.core.subscribe(false, Bytes::copy_from_slice(prefix.as_ref()))
    }

    /// `ZMQ_XPUB_VERBOSE`: an XPUB receives every subscribe message, not
    /// only the ones for prefixes no peer subscribed to yet (default off).
    pub fn set_xpub_verbose(&self, on: bool) -> Result<()> {
        self.core.set_xpub_verbosity(false, on)
    }

    /// `ZMQ_XPUB_VERBOSER`: as [`set_xpub_verbose`](Socket::set_xpub_verbose),
    /// and every cancel too, not only the last one for a prefix (default
    /// off).
    pub fn set_xpub_verboser(&self, on: bool) -> Result<()> {
        self.core.set_xpub_verbosity(true, on)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.shut();
    }
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("type", &self.core.socket_type)
            .field("last_endpoint", &self.last_endpoint())
            .finish_non_exhaustive()
    }
}

//! Moving messages between two sockets: libzmq's `zmq_proxy` and
//! `zmq_proxy_steerable`, the heart of the Guide's brokers (ROUTER
//! frontend, DEALER backend), streamers (PULL, PUSH) and forwarders.
//!
//! # How it works
//!
//! A proxy has two *flows*, frontend to backend and backend to frontend
//! (one when both are the same socket). Each flow waits for its source to
//! be readable; then it forwards a burst, as many messages as the source
//! holds, the destination has room for and [`BURST`] allows, with
//! `try_recv` and `try_send`, so one wake-up moves many messages and a busy
//! proxy seldom parks. When the destination has no room the flow waits for
//! room instead, leaving the messages in the source, whose high-water mark
//! then holds back its peers: back-pressure passes through the proxy, as it
//! does through libzmq's (src/proxy.cpp in libzmq 4.3, which polls
//! `ZMQ_POLLIN` on the sources and forwards when the destination has
//! `ZMQ_POLLOUT`). A flow whose source cannot receive (a PUSH) or whose
//! destination cannot send (a PULL) never forwards anything.
//!
//! One [`Poller`] waits for all of it, and for commands on the control
//! socket of a steerable proxy.
//!
//! A message is delivered with `send` if `try_send` finds no room after
//! all; that happens only when another thread sends on the destination too,
//! or when the destination is a ROUTER with `router_mandatory` whose
//! message goes to a full peer. The proxy waits for that peer then, as
//! libzmq's does.

use crate::error::{Error, Result};
use crate::poll::{Interest, Poller};
use crate::{Msg, Socket, SocketType};

/// The most messages a flow forwards per wake-up before the proxy looks at
/// its other flow and its control socket again (libzmq's
/// `proxy_burst_size`).
pub(crate) const BURST: usize = 1000;

/// Moves messages between `frontend` and `backend` in both directions, each
/// whole (all its frames), until a socket fails; sends a copy of each to
/// `capture` if given.
///
/// A direction forwards only what its source can receive and its
/// destination can send: a PULL frontend with a PUSH backend streams one
/// way, a ROUTER frontend with a DEALER backend carries requests and
/// replies. `frontend` and `backend` may be the same socket: it then
/// forwards to itself (a ROUTER returning messages to their senders).
///
/// The copy sent to `capture` never holds the proxy up: if the capture
/// socket has no room, the copy is dropped (libzmq's proxy waits instead).
///
/// # Errors
///
/// The error of a `recv` or `send` that failed on the frontend or the
/// backend, such as [`Error::HostUnreachable`] from a ROUTER with
/// `router_mandatory` asked to reach a peer that left, or
/// [`Error::TimedOut`] after a destination's send timeout. It returns
/// nothing else: a proxy runs as long as its sockets do.
///
/// # Examples
///
/// A queue between REQ clients and REP workers, as the Guide's `msgqueue`:
///
/// ```
/// use dhaga_mq::{Context, SocketType, proxy};
///
/// let ctx = Context::new();
/// let frontend = ctx.socket(SocketType::Router);
/// frontend.bind("inproc://clients").unwrap();
/// let backend = ctx.socket(SocketType::Dealer);
/// backend.bind("inproc://workers").unwrap();
/// // The proxy runs as long as the program does.
/// dhaga_runtime::spawn(move || proxy(&frontend, &backend, None));
///
/// let worker = ctx.socket(SocketType::Rep);
/// worker.connect("inproc://workers").unwrap();
/// dhaga_runtime::spawn(move || {
///     let request = worker.recv().unwrap();
///     worker.send(request).unwrap();
/// });
///
/// let client = ctx.socket(SocketType::Req);
/// client.connect("inproc://clients").unwrap();
/// client.send("echo").unwrap();
/// assert_eq!(client.recv().unwrap(), "echo".into());
/// ```
pub fn proxy(frontend: &Socket, backend: &Socket, capture: Option<&Socket>) -> Result<()> {
    Proxy::new(frontend, backend, capture, None).run()
}

/// [`proxy`], steered through `control`: it takes one-frame commands, as
/// libzmq 4.3's `zmq_proxy_steerable` does.
///
/// - `PAUSE`: stop forwarding (messages wait in the sockets);
/// - `RESUME`: forward again;
/// - `TERMINATE`: return `Ok(())`; the sockets are left as they are, with
///   the messages not forwarded yet still in them;
/// - `STATISTICS`: reply on `control` with eight frames, each a `u64` in
///   native byte order: for the frontend, messages received, bytes
///   received, messages sent, bytes sent; then the same for the backend. A
///   multipart message counts as one message, its bytes are those of all
///   its frames, and a message counts once forwarded. If `control` has no
///   room for the reply, the reply is dropped.
///
/// The control socket is usually a PAIR (libzmq's documentation says PAIR
/// or REP). A REP control socket gets an empty reply to each command other
/// than `STATISTICS`, so that it can take the next one (libzmq 4.3.4 sends
/// none, which leaves its REP control socket unable to take a second
/// command). Commands are copied to `capture` too, as with libzmq.
///
/// # Errors
///
/// As [`proxy`]; also [`Error::InvalidArgument`] for a control message that
/// is not one of the four commands, or has more than one frame (libzmq
/// 4.3 stops the process there), and the error of a `recv` or `send` that
/// failed on `control`.
///
/// # Examples
///
/// ```
/// use dhaga_mq::{Context, SocketType, proxy_steerable};
///
/// let ctx = Context::new();
/// let frontend = ctx.socket(SocketType::Pull);
/// frontend.bind("inproc://in").unwrap();
/// let backend = ctx.socket(SocketType::Push);
/// backend.bind("inproc://out").unwrap();
/// let control = ctx.socket(SocketType::Pair);
/// control.bind("inproc://control").unwrap();
/// let proxy = dhaga_runtime::spawn(move || proxy_steerable(&frontend, &backend, None, &control));
///
/// let (source, sink, steer) = (
///     ctx.socket(SocketType::Push),
///     ctx.socket(SocketType::Pull),
///     ctx.socket(SocketType::Pair),
/// );
/// source.connect("inproc://in").unwrap();
/// sink.connect("inproc://out").unwrap();
/// steer.connect("inproc://control").unwrap();
///
/// source.send("job").unwrap();
/// assert_eq!(sink.recv().unwrap(), "job".into());
/// steer.send("STATISTICS").unwrap();
/// let stats = steer.recv().unwrap();
/// let frontend_in = u64::from_ne_bytes(stats[0][..].try_into().unwrap());
/// assert_eq!(frontend_in, 1);
/// steer.send("TERMINATE").unwrap();
/// proxy.join().unwrap().unwrap();
/// ```
pub fn proxy_steerable(frontend: &Socket, backend: &Socket, capture: Option<&Socket>, control: &Socket) -> Result<()> {
    Proxy::new(frontend, backend, capture, Some(control)).run()
}

/// A running proxy.
struct Proxy<'a> {
    flows: Vec<Flow<'a>>,
    capture: Option<&'a Socket>,
    control: Option<&'a Socket>,
    poller: Poller<'a>,
    /// The poller's index of the control socket.
    control_index: Option<usize>,
    /// What went through the frontend and the backend (indexed by [`Side`]).
    stats: [Counts; 2],
    paused: bool,
}

/// One direction of a proxy.
struct Flow<'a> {
    from: End<'a>,
    to: End<'a>,
    /// `from` had messages but `to` had no room: wait for room, not for
    /// messages (which are there already).
    blocked: bool,
}

/// A socket at one end of a flow.
#[derive(Clone, Copy)]
struct End<'a> {
    socket: &'a Socket,
    /// Its index in the proxy's poller.
    index: usize,
    side: Side,
}

#[derive(Clone, Copy)]
enum Side {
    Frontend = 0,
    Backend = 1,
}

/// What went through one socket (the `STATISTICS` reply).
#[derive(Default)]
struct Counts {
    msgs_in: u64,
    bytes_in: u64,
    msgs_out: u64,
    bytes_out: u64,
}

/// What a control command asks of the proxy loop.
enum Steer {
    Continue,
    Terminate,
}

impl<'a> Proxy<'a> {
    fn new(
        frontend: &'a Socket,
        backend: &'a Socket,
        capture: Option<&'a Socket>,
        control: Option<&'a Socket>,
    ) -> Proxy<'a> {
        let mut poller = Poller::new();
        let front = End {
            socket: frontend,
            index: poller.add(frontend, Interest::NONE),
            side: Side::Frontend,
        };
        let flows = if std::ptr::eq(frontend, backend) {
            // One socket forwarding to itself: one flow (libzmq's too).
            let back = End {
                side: Side::Backend,
                ..front
            };
            vec![Flow::new(front, back)]
        } else {
            let back = End {
                socket: backend,
                index: poller.add(backend, Interest::NONE),
                side: Side::Backend,
            };
            vec![Flow::new(front, back), Flow::new(back, front)]
        };
        let control_index = control.map(|control| poller.add(control, Interest::READABLE));
        Proxy {
            flows,
            capture,
            control,
            poller,
            control_index,
            stats: Default::default(),
            paused: false,
        }
    }

    fn run(mut self) -> Result<()> {
        loop {
            self.set_interests();
            self.poller.poll(None)?;
            if let (Some(control), Some(index)) = (self.control, self.control_index)
                && self.poller.readiness(index).is_readable()
                && let Steer::Terminate = self.steer(control)?
            {
                return Ok(());
            }
            if !self.paused {
                for flow in &mut self.flows {
                    flow.forward(self.capture, &mut self.stats)?;
                }
            }
        }
    }

    /// Says what the poller waits for: for each flow, its source's messages
    /// or its destination's room (nothing while paused); and commands.
    fn set_interests(&mut self) {
        for flow in &self.flows {
            self.poller.set_interest(flow.from.index, Interest::NONE);
        }
        if self.paused {
            return;
        }
        for flow in &self.flows {
            let (index, interest) = if flow.blocked {
                (flow.to.index, Interest::WRITABLE)
            } else {
                (flow.from.index, Interest::READABLE)
            };
            let before = self.poller.items()[index].interest();
            self.poller.set_interest(index, before | interest);
        }
    }

    /// Takes a command from `control` and carries it out.
    fn steer(&mut self, control: &Socket) -> Result<Steer> {
        let command = match control.try_recv() {
            Ok(command) => command,
            // Someone else took it.
            Err(Error::WouldBlock) => return Ok(Steer::Continue),
            Err(e) => return Err(e),
        };
        if let Some(capture) = self.capture {
            // A copy that does not fit is dropped (see `proxy`).
            let _ = capture.try_send(command.clone());
        }
        let steer = match command.frames() {
            [word] if &word[..] == b"PAUSE" => {
                self.paused = true;
                Steer::Continue
            }
            [word] if &word[..] == b"RESUME" => {
                self.paused = false;
                Steer::Continue
            }
            [word] if &word[..] == b"TERMINATE" => Steer::Terminate,
            [word] if &word[..] == b"STATISTICS" => {
                reply(control, self.statistics())?;
                return Ok(Steer::Continue);
            }
            _ => {
                return Err(Error::InvalidArgument(
                    "a proxy's control socket takes PAUSE, RESUME, TERMINATE or STATISTICS, in one frame",
                ));
            }
        };
        if control.socket_type() == SocketType::Rep {
            reply(control, Msg::from(""))?;
        }
        Ok(steer)
    }

    /// The `STATISTICS` reply: eight frames, each a `u64` in native byte
    /// order (zmq_proxy_steerable(3)).
    fn statistics(&self) -> Msg {
        self.stats
            .iter()
            .flat_map(|c| [c.msgs_in, c.bytes_in, c.msgs_out, c.bytes_out])
            .map(|n| n.to_ne_bytes().to_vec())
            .collect()
    }
}

/// Answers on the control socket; a reply it has no room for is dropped.
fn reply(control: &Socket, msg: Msg) -> Result<()> {
    match control.try_send(msg) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.error(), Error::WouldBlock) => {
            log::warn!("proxy: the control socket has no room for a reply; dropped");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

impl<'a> Flow<'a> {
    fn new(from: End<'a>, to: End<'a>) -> Flow<'a> {
        Flow {
            from,
            to,
            blocked: false,
        }
    }

    /// Forwards a burst: what `from` holds, up to the room `to` has and
    /// [`BURST`].
    fn forward(&mut self, capture: Option<&Socket>, stats: &mut [Counts; 2]) -> Result<()> {
        let (from, to) = (self.from.socket, self.to.socket);
        let room = to.core().send_room(BURST);
        if room == 0 {
            self.blocked = from.core().is_readable();
            return Ok(());
        }
        self.blocked = false;
        for _ in 0..room {
            let msg = match from.try_recv() {
                Ok(msg) => msg,
                // Nothing (more) to receive now: a REQ or REP source moved
                // on to sending, or a source that cannot receive at all.
                Err(Error::WouldBlock | Error::InvalidState(_) | Error::NotSupported { .. }) => break,
                Err(e) => return Err(e),
            };
            if let Some(capture) = capture {
                // A copy that does not fit is dropped (see `proxy`).
                let _ = capture.try_send(msg.clone());
            }
            let size = msg.size() as u64;
            deliver(to, msg)?;
            let source = &mut stats[self.from.side as usize];
            source.msgs_in += 1;
            source.bytes_in += size;
            let destination = &mut stats[self.to.side as usize];
            destination.msgs_out += 1;
            destination.bytes_out += size;
        }
        Ok(())
    }
}

/// Sends `msg` on `to`, waiting for room only when the room counted before
/// the burst was taken by another thread or is another peer's (see the
/// module documentation).
fn deliver(to: &Socket, msg: Msg) -> Result<()> {
    match to.try_send(msg) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.error(), Error::WouldBlock) => Ok(to.send(e.into_msg())?),
        Err(e) => Err(e.into()),
    }
}

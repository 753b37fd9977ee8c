//! The state one socket shares with its connections: the pipes to its
//! peers, fair-queueing in, round-robin and routing out.
//!
//! A *pipe* is the socket's side of one peer: an inbound queue (filled by
//! the peer's reader, emptied by `recv`) and an [`Outbox`] (filled by
//! `send`, emptied by the peer's writer). A pipe made by `connect` lives
//! across reconnections, so messages sent before the peer is reachable wait
//! for it (as libzmq's do); a pipe made by an accepted connection ends with
//! it. Both queues are bounded by the high-water marks: a full inbound queue
//! stops its reader (back-pressure into TCP), a full outbox blocks senders
//! or, for the routing patterns, drops.
//!
//! One lock guards the state; nobody holds it across a wait. Senders wait on
//! `writable`, receivers on `readable`, readers on their pipe's `room`.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::Bytes;

use crate::error::{Error, Result, SendError};
use crate::monitor::Monitor;
use crate::options::Options;
use crate::socket::metrics::Counters;
use crate::socket::pattern::{Pattern, Route, Undo};
use crate::socket::pipe::{Outbox, PipeId, Pushed};
use crate::transport::Stream;
use crate::wait::{Gave, Notify, Why, reason};
use crate::zmtp::message_cost;
use crate::{Context, Msg, SocketType};

mod readiness;

/// Identifies a listener (a `bind` to tcp or ipc) within its process.
pub(crate) type ListenerId = u64;

/// The shared heart of a socket.
pub(crate) struct Core {
    pub(crate) socket_type: SocketType,
    pub(crate) context: Context,
    options: Mutex<Options>,
    state: Mutex<State>,
    /// `recv` callers wait here for a message.
    readable: Notify,
    /// `send` callers wait here for room (or for a first peer). Shared
    /// with the pipes' outboxes, whose writers wake it when a full outbox
    /// has room again.
    writable: Arc<Notify>,
    /// Connectors waiting to retry wait here, so that closing wakes them.
    pub(crate) closed_notify: Notify,
    /// `Socket::close` waits here for the connections to end.
    detached: Notify,
    /// Where connection events go (`Socket::monitor`).
    pub(crate) monitor: Monitor,
    /// What `Socket::metrics` reports.
    pub(crate) counters: Counters,
}

pub(crate) struct State {
    pub(crate) closed: bool,
    /// Copies of messages dropped at a peer's high-water mark (see
    /// `SocketMetrics::hwm_drops`).
    pub(crate) hwm_drops: u64,
    pipes: HashMap<PipeId, Pipe>,
    next_pipe: PipeId,
    /// Pipes holding inbound messages, each once, in fair-queueing order.
    active: VecDeque<PipeId>,
    /// Pipes that take outbound messages, in round-robin order.
    outs: Vec<PipeId>,
    next_out: usize,
    /// ROUTER: routing id → pipe.
    routing: HashMap<Bytes, PipeId>,
    next_routing_id: u32,
    pub(crate) pattern: Pattern,
    /// What the messages in the pipes' inbound queues cost
    /// ([`memory_cost`]), against the memory limit.
    queued_bytes: u64,
    /// The memory limit (`Socket::set_memory_limit`), kept here to be read
    /// under this lock.
    memory_limit: Option<u64>,
    /// A reader waits for room that the pipes share (the memory limit was
    /// reached, or XPUB's own queue is full): taking a message wakes every
    /// pipe's reader.
    waiting_for_room: bool,
    /// A push found a peer's writer behind ([`Pushed::WriterBehind`]): the
    /// sender lets it run once the lock is released ([`let_writers_run`]).
    writer_behind: bool,
    /// The runtime that ran one of the socket's services has shut down
    /// (see [`Service`]): `send`, `recv` and the like fail with
    /// [`Error::Terminated`].
    runtime_ended: bool,
    /// Its context was shut down (`Context::shutdown`): everything but
    /// closing fails with [`Error::Terminated`], even `recv` with messages
    /// queued, as after libzmq's `zmq_ctx_shutdown`.
    terminated: bool,
    /// When [`Core::close`] ran: the end of the linger time (`None`: none).
    close_deadline: Option<Instant>,
}

/// Held by each micro-thread that serves a socket (a listener, a connector,
/// an accepted connection), created where it is spawned and
/// [`started`](Service::started) first thing in it. When the runtime it runs
/// on shuts down, the micro-thread is unwound, or dropped before it started,
/// and with it this guard, which tells the socket: its callers, who may wait
/// on other threads or runtimes, would otherwise wait for messages and room
/// that no longer come. A service that ends on its own (thread mode leaves
/// started threads to finish) tells nothing.
pub(crate) struct Service {
    core: std::sync::Weak<Core>,
    runtime: dhaga_runtime::Handle,
    started: bool,
}

impl Service {
    /// Marks the service as running: from now on only its unwinding by
    /// the shutdown counts.
    pub(crate) fn started(mut self) -> Service {
        self.started = true;
        self
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let killed = !self.started || std::thread::panicking();
        if killed
            && self.runtime.is_shut_down()
            && let Some(core) = self.core.upgrade()
        {
            core.runtime_ended();
        }
    }
}

/// The socket's side of one peer.
pub(crate) struct Pipe {
    inbound: VecDeque<Msg>,
    recv_hwm: usize,
    /// `ZMQ_CONFLATE`, as the socket had it when the pipe was made: a new
    /// arrival replaces what waits, and `recv_hwm` does not apply.
    conflate: bool,
    /// The reader of this pipe waits here when `inbound` is full.
    room: Arc<Notify>,
    pub(crate) outbox: Arc<Outbox>,
    /// The connection, while there is one: closing the socket shuts it
    /// down to wake its reader.
    stream: Option<Arc<Stream>>,
    /// The peer's routing id (ROUTER), peer-chosen or generated.
    pub(crate) routing_id: Option<Bytes>,
    /// A peer is connected through this pipe now.
    connected: bool,
    /// Made by `connect`: it outlives its connections.
    persistent: bool,
    /// The pipe's connection ended for good; it lingers until `inbound` is
    /// read, then goes.
    finished: bool,
    /// The routing id a ROUTER gives this pipe's peer whatever the peer
    /// announces (`ZMQ_CONNECT_ROUTING_ID` at `connect`).
    assigned_id: Option<Bytes>,
    /// The listener that accepted the pipe's connection: `unbind` ends it.
    listener: Option<ListenerId>,
    /// STREAM: the application ended the connection (`[id, ""]`): what
    /// arrives from it is dropped, and it is not reconnected.
    hung_up: bool,
}

/// What a reader (or `inproc` pump) hands to [`Core::deliver`].
pub(crate) enum Delivered {
    /// Every message was queued.
    All,
    /// The socket closed or the pipe is gone: stop reading.
    Closed,
}

impl Core {
    /// What a blocked `send` on this socket waits for, for dumps.
    fn why_send(&self) -> Why {
        Why::on(self.socket_type.send_reason(), self)
    }

    pub(crate) fn new(socket_type: SocketType, context: Context) -> Arc<Core> {
        Arc::new(Core {
            socket_type,
            context,
            options: Mutex::new(Options::for_type(socket_type)),
            state: Mutex::new(State {
                closed: false,
                hwm_drops: 0,
                writer_behind: false,
                pipes: HashMap::new(),
                next_pipe: 1,
                active: VecDeque::new(),
                outs: Vec::new(),
                next_out: 0,
                routing: HashMap::new(),
                // libzmq starts generated ids at a random value; any start works.
                next_routing_id: 0x6b8b_4567,
                pattern: Pattern::new(socket_type),
                queued_bytes: 0,
                memory_limit: None,
                waiting_for_room: false,
                runtime_ended: false,
                terminated: false,
                close_deadline: None,
            }),
            readable: Notify::new(),
            writable: Arc::new(Notify::new()),
            closed_notify: Notify::new(),
            detached: Notify::new(),
            monitor: Monitor::default(),
            counters: Counters::default(),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn options(&self) -> MutexGuard<'_, Options> {
        self.options.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Fails with [`Error::Closed`] or [`Error::Terminated`] if the socket
    /// cannot be used any more.
    pub(crate) fn check_open(&self) -> Result<()> {
        self.lock().check_open()
    }

    /// The guard a micro-thread serving this socket holds (see [`Service`]),
    /// made where it is spawned: it belongs to the caller's runtime.
    pub(crate) fn service(self: &Arc<Core>) -> Service {
        Service {
            core: Arc::downgrade(self),
            runtime: dhaga_runtime::Handle::current(),
            started: false,
        }
    }

    /// Sets the memory limit for received messages; readers waiting for
    /// memory look again.
    pub(crate) fn set_memory_limit(&self, limit: Option<u64>) {
        self.options().memory_limit = limit;
        let mut state = self.lock();
        state.memory_limit = limit;
        state.waiting_for_room = true;
        state.room_freed();
    }

    /// The runtime running (some of) this socket's services has shut down:
    /// everybody waiting on the socket is told.
    fn runtime_ended(&self) {
        {
            let mut state = self.lock();
            if std::mem::replace(&mut state.runtime_ended, true) {
                return;
            }
        }
        log::warn!(
            "a {} socket's runtime shut down under it: its operations fail from now on",
            self.socket_type
        );
        self.readable.notify_all();
        self.writable.notify_all();
        self.closed_notify.notify_all();
        self.detached.notify_all();
    }

    /// Its context shut down: every blocked call returns
    /// [`Error::Terminated`], and every later one but closing. The
    /// connections go on until the socket is closed, which delivers what
    /// is queued within the linger time.
    pub(crate) fn terminate(&self) {
        if std::mem::replace(&mut self.lock().terminated, true) {
            return;
        }
        self.readable.notify_all();
        self.writable.notify_all();
    }

    /// The end of the linger time that [`close`](Core::close) set (`None`
    /// if there is none, or the socket is open).
    pub(crate) fn close_deadline(&self) -> Option<Instant> {
        self.lock().close_deadline
    }

    /// Makes a pipe. `persistent` for `connect`: it is in the round-robin
    /// at once, so messages wait in it for the connection.
    pub(crate) fn add_pipe(&self, persistent: bool) -> (PipeId, Arc<Outbox>) {
        let options = self.options().clone();
        let outbox = Arc::new(Outbox::new(
            options.send_hwm,
            options.conflate,
            Arc::clone(&self.writable),
        ));
        let mut state = self.lock();
        let id = state.next_pipe;
        state.next_pipe += 1;
        state.pipes.insert(
            id,
            Pipe {
                inbound: VecDeque::new(),
                recv_hwm: options.recv_hwm.max(1),
                conflate: options.conflate,
                room: Arc::new(Notify::new()),
                outbox: Arc::clone(&outbox),
                stream: None,
                routing_id: None,
                connected: false,
                persistent,
                finished: false,
                assigned_id: None,
                listener: None,
                hung_up: false,
            },
        );
        // A `connect`'s pipe takes messages at once, to send once its
        // connection is up; with IMMEDIATE only from then on (`attach`).
        if persistent && !options.immediate {
            state.outs.push(id);
            drop(state);
            self.writable.notify_all();
        }
        (id, outbox)
    }

    /// Gives the peer of `pipe` the routing id `id`, whatever it announces
    /// (a ROUTER's `ZMQ_CONNECT_ROUTING_ID`).
    /// `false` if another pipe has or was given that id: each connection
    /// would be refused at its handshake, and reconnect without end.
    pub(crate) fn assign_routing_id(&self, pipe: PipeId, id: Bytes) -> bool {
        let mut state = self.lock();
        let taken = state.routing.contains_key(&id)
            || state
                .pipes
                .iter()
                .any(|(&other, p)| other != pipe && p.assigned_id.as_ref() == Some(&id));
        if taken {
            return false;
        }
        if let Some(entry) = state.pipes.get_mut(&pipe) {
            entry.assigned_id = Some(id);
        }
        true
    }

    /// Records that `listener` accepted the connection of `pipe`; `false`
    /// if that listener was `stopped` meanwhile (the connection must end:
    /// its endpoint was unbound). `stopped` is asked under the lock that
    /// [`end_accepted_by`](Core::end_accepted_by) takes once the listener
    /// stopped, so a connection accepted as its listener stops is either
    /// refused here or ended there.
    pub(crate) fn set_listener(&self, pipe: PipeId, listener: ListenerId, stopped: impl FnOnce() -> bool) -> bool {
        let mut state = self.lock();
        match state.pipes.get_mut(&pipe) {
            Some(entry) if !stopped() => {
                entry.listener = Some(listener);
                true
            }
            _ => false,
        }
    }

    /// `unbind`: ends the connections `listener` accepted, dropping what
    /// they queued for the application and what it queued for them. Their
    /// ends are this socket's doing: no `Disconnected` event, no notice.
    pub(crate) fn end_accepted_by(&self, listener: ListenerId) {
        let accepted: Vec<PipeId> = self
            .lock()
            .pipes
            .iter()
            .filter(|(_, p)| p.listener == Some(listener))
            .map(|(&id, _)| id)
            .collect();
        // Finished first, so that no reader adds to them; then emptied.
        for &pipe in &accepted {
            self.disconnect_pipe(pipe);
        }
        let mut state = self.lock();
        let state = &mut *state;
        for pipe in &accepted {
            if let Some(entry) = state.pipes.remove(pipe) {
                state.queued_bytes -= entry.inbound.iter().map(memory_cost).sum::<u64>();
                entry.room.notify_all();
            }
        }
        state.active.retain(|pipe| !accepted.contains(pipe));
        state.room_freed();
    }

    /// A peer completed its handshake on `pipe`. Refuses it if the pattern
    /// cannot take another peer (PAIR) or its routing id is taken (ROUTER).
    /// Queues what the new peer gets first: the probe of
    /// `ZMQ_PROBE_ROUTER`, an XPUB's welcome message.
    pub(crate) fn attach(
        &self,
        pipe: PipeId,
        identity: Option<Bytes>,
        stream: Option<Arc<Stream>>,
    ) -> Result<(), &'static str> {
        let (first, handover) = {
            let options = self.options();
            (self.first_message(&options), options.router_handover)
        };
        let mut state = self.lock();
        match state.pipes.get(&pipe) {
            None => return Err("the pipe is gone"),
            Some(p) if p.finished => return Err("the pipe was disconnected"),
            // A closed socket still connects a pipe with messages to deliver
            // within the linger time.
            Some(p) if state.closed && !(p.persistent && p.outbox.lingering()) => return Err("the socket is closed"),
            Some(_) => {}
        }
        if self.socket_type == SocketType::Pair && state.pipes.iter().any(|(&id, p)| id != pipe && p.connected) {
            return Err("a PAIR socket takes one peer and has one");
        }
        let routing_id = if matches!(self.socket_type, SocketType::Router | SocketType::Stream) {
            let assigned = state.pipes.get(&pipe).and_then(|p| p.assigned_id.clone());
            let id = match assigned.or(identity.filter(|id| !id.is_empty())) {
                Some(id) if state.routing.contains_key(&id) && !handover => {
                    return Err("the peer's routing id is already in use");
                }
                Some(id) => {
                    // ROUTER_HANDOVER: the peer that had the id loses its
                    // connection, and the id routes to the newcomer (the
                    // `insert` below). What it sent before is still
                    // received under the id; its detach leaves the new
                    // route alone.
                    if let Some(old) = state.routing.remove(&id)
                        && let Some(entry) = state.pipes.get_mut(&old)
                        && let Some(stream) = entry.stream.take()
                    {
                        let _ = stream.shutdown(std::net::Shutdown::Both);
                    }
                    id
                }
                // A `connect`'s pipe keeps the id it generated across
                // reconnections, as libzmq's pipe does: what arrived from
                // the last connection and what the next one brings are
                // told under one id.
                None => match state.pipes.get(&pipe).and_then(|p| p.routing_id.clone()) {
                    Some(id) if id.first() == Some(&0) && !state.routing.contains_key(&id) => id,
                    _ => state.generate_routing_id(),
                },
            };
            state.routing.insert(id.clone(), pipe);
            Some(id)
        } else {
            None
        };
        let outs_has = state.outs.contains(&pipe);
        let fields = &mut *state;
        let entry = fields.pipes.get_mut(&pipe).expect("checked above, under the same lock");
        entry.connected = true;
        entry.routing_id = routing_id;
        entry.stream = stream;
        entry.outbox.restart();
        if let Some(first) = first {
            entry.outbox.push_first(first);
        }
        if let Pattern::Subscriber(subscriber) = &fields.pattern {
            // Under the lock that subscription changes take: the new peer
            // gets every subscription exactly once.
            subscriber.on_attach(&entry.outbox);
        }
        if !outs_has {
            state.outs.push(pipe);
        }
        drop(state);
        self.writable.notify_all();
        Ok(())
    }

    /// What a new peer gets before anything else, if anything: an empty
    /// message from a REQ, DEALER or ROUTER with `ZMQ_PROBE_ROUTER` (so that
    /// a ROUTER peer learns its routing id at once), an XPUB's welcome
    /// message.
    fn first_message(&self, options: &Options) -> Option<Msg> {
        match self.socket_type {
            SocketType::Req | SocketType::Dealer | SocketType::Router if options.probe_router => {
                Some(Msg::from(Bytes::new()))
            }
            SocketType::XPub => options.xpub_welcome_msg.clone().map(Msg::from),
            _ => None,
        }
    }

    /// The connection on `pipe` ended. A persistent pipe waits for the next
    /// one; any other is gone once its inbound messages are read.
    pub(crate) fn detach(&self, pipe: PipeId) {
        let immediate = self.options().immediate;
        let mut state = self.lock();
        let Some(entry) = state.pipes.get_mut(&pipe) else {
            return;
        };
        entry.connected = false;
        entry.stream = None;
        if let Some(id) = entry.routing_id.clone()
            && state.routing.get(&id) == Some(&pipe)
        {
            state.routing.remove(&id);
        }
        let left_pending = match &mut state.pattern {
            Pattern::Publisher(publisher) => {
                publisher.on_detach(pipe);
                publisher.has_pending()
            }
            _ => false,
        };
        let closed = state.closed;
        let entry = state.pipes.get_mut(&pipe).expect("present above");
        let keep = entry.persistent && !closed;
        let room = Arc::clone(&entry.room);
        if keep && self.socket_type == SocketType::Stream {
            // The next connection is another byte stream: nothing sent to
            // this one is for it.
            entry.outbox.discard();
        }
        if !keep {
            entry.finished = true;
            entry.outbox.discard();
            entry.outbox.stop_writer();
            state.leave_round_robin(pipe);
            if state.pipes[&pipe].inbound.is_empty() {
                state.pipes.remove(&pipe);
            }
        } else if immediate {
            // IMMEDIATE: no new messages for a peer that is not there; what
            // it was given already waits in its outbox for the reconnection.
            state.leave_round_robin(pipe);
        }
        drop(state);
        // A reader waiting for room in this pipe, and senders waiting for
        // this peer, must look again: the pipe is gone or going.
        room.notify_all();
        if left_pending {
            self.readable.notify_all();
        }
        self.writable.notify_all();
        self.detached.notify_all();
    }

    /// Reports the arrival of `pipe`'s peer, as a STREAM
    /// (`ZMQ_STREAM_NOTIFY`) or a ROUTER (`ZMQ_ROUTER_NOTIFY`) does: an
    /// empty message from it (`recv` puts its routing id in front), beyond
    /// the high-water mark if need be.
    pub(crate) fn push_arrival(&self, pipe: PipeId) {
        self.push_peer_event(pipe, false);
    }

    /// Reports the departure of `pipe`'s peer (see
    /// [`push_arrival`](Core::push_arrival)). Its routing id goes with the
    /// report: once the application has it, sends to the peer fail.
    pub(crate) fn push_departure(&self, pipe: PipeId) {
        self.push_peer_event(pipe, true);
    }

    fn push_peer_event(&self, pipe: PipeId, departing: bool) {
        let mut state = self.lock();
        let state = &mut *state;
        let Some(entry) = state.pipes.get_mut(&pipe) else {
            return;
        };
        // A peer whose id another took over (ROUTER_HANDOVER), or that the
        // application let go (STREAM), is nobody's to report.
        if let Some(id) = &entry.routing_id {
            if state.routing.get(id) != Some(&pipe) {
                return;
            }
            if departing {
                state.routing.remove(id);
            }
        }
        let event = Msg::from(Bytes::new());
        state.queued_bytes += memory_cost(&event);
        if entry.inbound.is_empty() {
            state.active.push_back(pipe);
        }
        entry.inbound.push_back(event);
        self.readable.notify_one();
    }

    /// Waits (until `deadline`) until every peer that was owed messages when
    /// the socket closed has them, and none is still wanted for messages a
    /// closed socket left queued: after [`close`](Core::close), each such
    /// connection ends once its writer has sent what was queued and the
    /// peer has read it (or the linger time passed). Peers owed nothing are
    /// not waited for, whatever they do.
    pub(crate) fn wait_detached(&self, deadline: Option<Instant>) {
        let _ = self
            .detached
            .wait_until(Why::on(&reason::DETACHED, self), deadline, || {
                let state = self.lock();
                // Nobody is left to deliver anything.
                if state.runtime_ended {
                    return Some(());
                }
                let busy = state.pipes.values().any(|p| {
                    (p.connected && p.outbox.owed_at_close()) || (p.persistent && !p.finished && p.outbox.lingering())
                });
                (!busy).then_some(())
            });
    }

    /// Removes `pipe` if an accepted connection made it (a refused peer).
    pub(crate) fn remove_pipe_if_transient(&self, pipe: PipeId) {
        let persistent = self.lock().pipes.get(&pipe).is_some_and(|p| p.persistent);
        if !persistent {
            self.detach(pipe);
        }
    }

    /// Removes a persistent pipe for good (`disconnect`, close).
    pub(crate) fn remove_pipe(&self, pipe: PipeId) {
        let mut state = self.lock();
        if let Some(entry) = state.pipes.get_mut(&pipe) {
            entry.persistent = false;
        }
        drop(state);
        self.detach(pipe);
    }

    /// Queues messages from a peer's reader, waiting while the pipe's
    /// inbound queue is full (that stops the reader: back-pressure).
    pub(crate) fn deliver(&self, pipe: PipeId, msgs: &mut VecDeque<Msg>) -> Delivered {
        self.deliver_from(pipe, msgs, None)
    }

    /// As [`deliver`](Core::deliver), for an `inproc` pump taking from the
    /// peer socket's outbox `from`: a wait for room ends when that writer
    /// is told to stop (the peer socket's linger time ran out).
    pub(crate) fn deliver_from(&self, pipe: PipeId, msgs: &mut VecDeque<Msg>, from: Option<&Outbox>) -> Delivered {
        let room = match self.lock().pipes.get(&pipe) {
            Some(entry) => Arc::clone(&entry.room),
            None => return Delivered::Closed,
        };
        if let Some(from) = from {
            from.pump_waits_on(&room);
        }
        while !msgs.is_empty() {
            let step = room.wait_until(Why::on(&reason::ROOM, &*room), None, || {
                if from.is_some_and(Outbox::is_stopped) {
                    return Some(Delivered::Closed);
                }
                let mut state = self.lock();
                let state = &mut *state;
                if state.closed {
                    return Some(Delivered::Closed);
                }
                let Some(entry) = state.pipes.get_mut(&pipe).filter(|p| !p.finished) else {
                    return Some(Delivered::Closed);
                };
                if entry.hung_up {
                    // Read on (and dropped) until the connection ends.
                    msgs.clear();
                    return Some(Delivered::All);
                }
                let was_empty = entry.inbound.is_empty();
                let pending_before = state.pattern.pending_len();
                let mut pushed = 0;
                let conflate = entry.conflate;
                while (conflate || entry.inbound.len() < entry.recv_hwm) && !msgs.is_empty() {
                    // XPUB's own queue holds a high-water mark's worth too
                    // (beside the notices of changes, bounded by the
                    // subscriptions): a peer that sends faster than the
                    // user reads is held back, not buffered without end.
                    if state.pattern.held_len() >= entry.recv_hwm {
                        state.waiting_for_room = true;
                        break;
                    }
                    // At the memory limit, messages wait for room. Below
                    // it, one more goes in whatever its size, as one more
                    // goes into a queue below its high-water mark: that
                    // bounds what the queues hold by the limit and one
                    // message, and a large message is never held back for
                    // ever behind a stream of small ones.
                    if let Some(limit) = state.memory_limit
                        && state.queued_bytes >= limit
                    {
                        state.waiting_for_room = true;
                        break;
                    }
                    let msg = msgs.pop_front().expect("looked at above");
                    if let Some(msg) = state.pattern.on_arrival(pipe, msg, entry.recv_hwm) {
                        // CONFLATE: the newest replaces what waits.
                        if conflate && let Some(old) = entry.inbound.pop_front() {
                            state.queued_bytes -= memory_cost(&old);
                        }
                        state.queued_bytes += memory_cost(&msg);
                        entry.inbound.push_back(msg);
                        pushed += 1;
                    }
                }
                // What went to the pattern's own queue (XPUB) is receivable
                // too.
                // (Notices that undo each other leave it shorter.)
                if state.pattern.pending_len() > pending_before {
                    self.readable.notify_all();
                }
                if pushed > 0 {
                    if was_empty {
                        state.active.push_back(pipe);
                    }
                    if pushed == 1 {
                        self.readable.notify_one();
                    } else {
                        self.readable.notify_all();
                    }
                }
                // Progress, or nothing left: go on; a full queue: wait.
                (pushed > 0 || msgs.is_empty()).then_some(Delivered::All)
            });
            match step {
                Ok(Delivered::All) => {}
                Ok(Delivered::Closed) | Err(_) => return Delivered::Closed,
            }
        }
        Delivered::All
    }

    /// Sends `msg` as the pattern routes it, waiting (until `deadline`) for
    /// room where the pattern blocks.
    pub(crate) fn send(&self, msg: Msg, nonblocking: bool) -> Result<(), SendError> {
        if msg.is_empty() {
            return Err(SendError::new(Error::EmptyMessage, msg));
        }
        let (timeout, mandatory, nodrop, linger) = {
            let options = self.options();
            (
                options.send_timeout,
                options.router_mandatory,
                options.xpub_nodrop,
                options.linger,
            )
        };
        let mut state = self.lock();
        if let Err(error) = state.check_open() {
            return Err(SendError::new(error, msg));
        }
        let (route, undo) = state.prepare_send(self.socket_type, msg, mandatory)?;
        let (mut slot, target) = match route {
            Route::Dropped => return Ok(()),
            Route::HangUp(pipe) => {
                let deadline = deadline(linger);
                let stream = state.hang_up(pipe, deadline);
                drop(state);
                // A writer already waiting in a `write` to a peer that does
                // not read is cut off at the deadline.
                if let (Some(deadline), Some(stream)) = (deadline, stream) {
                    shutdown_at(deadline, vec![stream]);
                }
                return Ok(());
            }
            Route::FanOut(msg) if nodrop && !state.fan_out_room(&msg) => {
                // XPUB_NODROP: wait until every subscriber it goes to has
                // room, as libzmq's EAGAIN and blocking send do.
                drop(state);
                if nonblocking {
                    return Err(SendError::new(Error::WouldBlock, msg));
                }
                let outcome = self.writable.wait_until(self.why_send(), deadline(timeout), || {
                    let mut state = self.lock();
                    if let Err(error) = state.check_open() {
                        return Some(Err(error));
                    }
                    state.fan_out_room(&msg).then(|| {
                        state.fan_out(&msg);
                        Ok(std::mem::take(&mut state.writer_behind))
                    })
                });
                return match outcome {
                    Ok(Ok(behind)) => {
                        if behind {
                            let_writers_run();
                        }
                        Ok(())
                    }
                    Ok(Err(error)) => Err(SendError::new(error, msg)),
                    Err(Gave::TimedOut) => Err(SendError::new(Error::TimedOut, msg)),
                    Err(Gave::Unwinding) => Err(SendError::new(Error::Closed, msg)),
                };
            }
            Route::FanOut(msg) => {
                let dropped = state.fan_out(&msg);
                let behind = std::mem::take(&mut state.writer_behind);
                drop(state);
                // A peer that missed the message has its writer behind too:
                // a publishing loop that never parks would starve it (and
                // drop everything past the high-water mark).
                if dropped || behind {
                    let_writers_run();
                }
                return Ok(());
            }
            Route::RoundRobin(msg) => (Some(msg), None),
            Route::To { pipe, msg, block } => (Some(msg), Some((pipe, block))),
            Route::Subscriptions { .. } => unreachable!("State::prepare_send applies subscriptions"),
        };
        // The first try under the lock taken for routing: a send that finds
        // room (the common case) locks the socket once.
        let first = state.push_routed(&mut slot, target);
        let behind = Cell::new(std::mem::take(&mut state.writer_behind));
        drop(state);
        let outcome = match first {
            Some(result) => Ok(result),
            None if nonblocking => Err(Error::WouldBlock),
            None => self
                .writable
                .wait_until(self.why_send(), deadline(timeout), || {
                    let mut state = self.lock();
                    let pushed = match state.check_open() {
                        Ok(()) => state.push_routed(&mut slot, target),
                        Err(error) => Some(Err(error)),
                    };
                    behind.set(std::mem::take(&mut state.writer_behind));
                    pushed
                })
                .map_err(|gave| match gave {
                    Gave::TimedOut => Error::TimedOut,
                    Gave::Unwinding => Error::Closed,
                }),
        };
        match outcome {
            Ok(Ok(())) => {
                if behind.get() {
                    let_writers_run();
                }
                // A REP that replied may receive its next request: pollers
                // wait for that.
                if self.socket_type == SocketType::Rep {
                    self.readable.notify_all();
                }
                Ok(())
            }
            Ok(Err(error)) | Err(error) => {
                self.lock().pattern.send_failed();
                let msg = slot.expect("an unsent message is still in its slot");
                Err(SendError::new(error, undo.apply(msg)))
            }
        }
    }

    /// Receives the next message the pattern lets through, waiting (until
    /// `deadline`) for one.
    pub(crate) fn recv(&self, nonblocking: bool) -> Result<Msg> {
        let timeout = self.options().recv_timeout;
        let attempt = || {
            let mut state = self.lock();
            if state.closed {
                return Some(Err(Error::Closed));
            }
            if state.terminated {
                return Some(Err(Error::Terminated));
            }
            // Under the lock: another thread's `recv` may move a REQ or REP
            // on at any time.
            if let Err(e) = state.pattern.can_recv(self.socket_type) {
                return Some(Err(e));
            }
            // What arrived before the runtime ended is still received.
            match state.pop_fair() {
                Some(msg) => Some(Ok(msg)),
                None => state.runtime_ended.then_some(Err(Error::Terminated)),
            }
        };
        let outcome = if nonblocking {
            attempt().ok_or(Error::WouldBlock)
        } else {
            self.readable
                .wait_until(
                    Why::on(self.socket_type.recv_reason(), self),
                    deadline(timeout),
                    attempt,
                )
                .map_err(|gave| match gave {
                    Gave::TimedOut => Error::TimedOut,
                    Gave::Unwinding => Error::Closed,
                })
        };
        let msg = outcome??;
        // A REQ that got its reply, or a REP its request, may send now:
        // pollers wait for that.
        if matches!(self.socket_type, SocketType::Req | SocketType::Rep) {
            self.writable.notify_all();
        }
        Ok(msg)
    }

    /// SUB: subscribes to messages starting with `prefix`, or undoes one
    /// such subscription.
    pub(crate) fn subscribe(&self, subscribe: bool, prefix: Bytes) -> Result<()> {
        let mut state = self.lock();
        match (&mut state.pattern, self.socket_type) {
            (_, SocketType::Sub) => {
                state.check_open()?;
                state.change_subscription(subscribe, prefix);
            }
            (Pattern::Publisher(publisher), _) if publisher.is_manual() => {
                publisher.manual_change(subscribe, prefix);
                state.check_open()?;
            }
            _ => {
                return Err(Error::NotSupported {
                    socket_type: self.socket_type,
                    operation: if subscribe { "subscribe" } else { "unsubscribe" },
                });
            }
        }
        Ok(())
    }

    /// XPUB: sets `ZMQ_XPUB_VERBOSE` or `ZMQ_XPUB_VERBOSER`.
    pub(crate) fn set_xpub_verbosity(&self, verboser: bool, on: bool) -> Result<()> {
        let mut state = self.lock();
        match &mut state.pattern {
            Pattern::Publisher(publisher) if self.socket_type == SocketType::XPub => {
                if verboser {
                    publisher.set_verboser(on);
                } else {
                    publisher.set_verbose(on);
                }
                Ok(())
            }
            _ => Err(Error::NotSupported {
                socket_type: self.socket_type,
                operation: if verboser { "xpub_verboser" } else { "xpub_verbose" },
            }),
        }
    }

    /// The outbox of `pipe`, unless the pipe is gone or going.
    pub(crate) fn outbox(&self, pipe: PipeId) -> Option<Arc<Outbox>> {
        let state = self.lock();
        state
            .pipes
            .get(&pipe)
            .filter(|p| !p.finished)
            .map(|p| Arc::clone(&p.outbox))
    }

    /// Whether a connector should (still) try to connect `pipe`: the socket
    /// is open and the pipe is wanted, or it closed with messages for the
    /// peer and linger time left.
    pub(crate) fn wants_connection(&self, pipe: PipeId) -> bool {
        let state = self.lock();
        match state.pipes.get(&pipe) {
            Some(p) if !p.finished && !p.hung_up => !state.closed || p.outbox.lingering(),
            _ => false,
        }
    }

    /// `disconnect`: removes the persistent `pipe` and ends its connection.
    /// The pipe goes first, so that the connection's end is seen as ours (no
    /// `Disconnected` event, no reconnect).
    pub(crate) fn disconnect_pipe(&self, pipe: PipeId) {
        let stream = self.lock().pipes.get(&pipe).and_then(|p| p.stream.clone());
        self.remove_pipe(pipe);
        if let Some(stream) = stream {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        self.closed_notify.notify_all();
    }

    /// Closes the socket: no more sends or receives; writers send what is
    /// queued until `linger` passes; readers stop.
    pub(crate) fn close(self: &Arc<Core>) {
        let linger = self.options().linger;
        let deadline = linger.and_then(|l| Instant::now().checked_add(l));
        let outboxes: Vec<Arc<Outbox>> = {
            let mut state = self.lock();
            if state.closed {
                return;
            }
            state.closed = true;
            state.close_deadline = deadline;
            state.pipes.values().map(|p| Arc::clone(&p.outbox)).collect()
        };
        for outbox in outboxes {
            outbox.close(deadline);
        }
        let rooms: Vec<_> = self.lock().pipes.values().map(|p| Arc::clone(&p.room)).collect();
        for room in rooms {
            room.notify_all();
        }
        // Each connection's writer sends what was queued and then shuts the
        // connection down, which ends its reader too.
        self.readable.notify_all();
        self.writable.notify_all();
        self.closed_notify.notify_all();
        self.context.socket_closed();
        if let Some(deadline) = deadline {
            self.end_connections_at(deadline);
        }
    }

    /// At the linger deadline, ends the connections still open, writers
    /// blocked in a `write` included (the ones that take their next batch
    /// after the close see the deadline themselves), and `inproc` pumps
    /// waiting for room at the peer.
    fn end_connections_at(self: &Arc<Core>, deadline: Instant) {
        let end = |core: &Core| {
            let (streams, pumped): (Vec<_>, Vec<_>) = {
                let state = core.lock();
                let streams = state.pipes.values().filter_map(|p| p.stream.clone()).collect();
                let pumped = state
                    .pipes
                    .values()
                    .filter(|p| p.connected && p.stream.is_none())
                    .map(|p| Arc::clone(&p.outbox))
                    .collect();
                (streams, pumped)
            };
            for stream in streams {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
            for outbox in pumped {
                outbox.stop_writer();
            }
        };
        if deadline <= Instant::now() {
            return end(self);
        }
        let core = Arc::downgrade(self);
        drop(dhaga_runtime::spawn(move || {
            dhaga_runtime::sleep(deadline.saturating_duration_since(Instant::now()));
            if let Some(core) = core.upgrade() {
                end(&core);
            }
        }));
    }
}

/// Shuts `streams` down at `deadline`, from a micro-thread of its own.
fn shutdown_at(deadline: Instant, streams: Vec<Arc<Stream>>) {
    drop(dhaga_runtime::spawn(move || {
        dhaga_runtime::sleep(deadline.saturating_duration_since(Instant::now()));
        for stream in streams {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }));
}

/// Lets the writers of peers that a send found behind run
/// ([`Pushed::WriterBehind`]): one may be a micro-thread of this very
/// worker, which runs only when the sender parks or yields. (On a plain OS
/// thread the writers run on a runtime's workers, and nothing is needed.)
fn let_writers_run() {
    if dhaga_runtime::in_micro_thread() {
        dhaga_runtime::yield_now();
    }
}
/// The deadline `timeout` from now (`None`: no deadline).
fn deadline(timeout: Option<std::time::Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

impl State {
    /// Takes `pipe` out of the round robin, which goes on with the pipe
    /// that was next.
    fn leave_round_robin(&mut self, pipe: PipeId) {
        if let Some(index) = self.outs.iter().position(|&id| id == pipe) {
            self.outs.remove(index);
            // The ones after the removed pipe moved down one place.
            if index < self.next_out {
                self.next_out -= 1;
            }
            if self.next_out >= self.outs.len() {
                self.next_out = 0;
            }
        }
    }

    /// STREAM's `[id, ""]`: ends the connection of `pipe` once what was
    /// sent to it is written (until `deadline`). Its routing id goes at
    /// once (sends to it fail with `HostUnreachable`), and so does what it
    /// sent that was not received; what it sends from now on is dropped,
    /// and a `connect` does not reconnect. Returns its connection.
    fn hang_up(&mut self, pipe: PipeId, deadline: Option<Instant>) -> Option<Arc<Stream>> {
        let entry = self.pipes.get_mut(&pipe)?;
        entry.hung_up = true;
        entry.persistent = false;
        entry.outbox.close(deadline);
        self.queued_bytes -= entry.inbound.drain(..).map(|msg| memory_cost(&msg)).sum::<u64>();
        entry.room.notify_all();
        let (id, stream) = (entry.routing_id.clone(), entry.stream.clone());
        self.active.retain(|&active| active != pipe);
        if let Some(id) = id
            && self.routing.get(&id) == Some(&pipe)
        {
            self.routing.remove(&id);
        }
        self.room_freed();
        stream
    }

    fn generate_routing_id(&mut self) -> Bytes {
        // libzmq's generated ids: a zero byte, then a 32-bit counter, so they
        // never collide with peer-chosen ids (which may not start with 0).
        loop {
            let n = self.next_routing_id;
            self.next_routing_id = n.wrapping_add(1);
            let mut id = vec![0u8];
            id.extend_from_slice(&n.to_be_bytes());
            let id = Bytes::from(id);
            if !self.routing.contains_key(&id) {
                return id;
            }
        }
    }

    /// Decides where `msg` goes, as the pattern says (which looks routing
    /// ids up in `routing`), and applies an XSUB's subscription changes
    /// here, where the peers' outboxes are: what is left of its message
    /// fans out.
    fn prepare_send(
        &mut self,
        socket_type: SocketType,
        msg: Msg,
        router_mandatory: bool,
    ) -> Result<(Route, Undo), SendError> {
        let routing = &self.routing;
        let (route, undo) = self
            .pattern
            .prepare_send(socket_type, msg, router_mandatory, |id| routing.get(id).copied())?;
        let Route::Subscriptions { changes, rest } = route else {
            return Ok((route, undo));
        };
        for (subscribe, prefix) in changes {
            self.change_subscription(subscribe, prefix);
        }
        Ok((rest.map_or(Route::Dropped, Route::FanOut), undo))
    }

    /// Puts the message in `slot` where [`prepare_send`](State::prepare_send) routed it
    /// (`target`: a pipe and whether to wait for it, or round robin).
    /// `None`: no room yet, try again later; `Some(Ok)`: sent or dropped as
    /// the pattern says (the slot is empty then); `Some(Err)`: give up.
    fn push_routed(&mut self, slot: &mut Option<Msg>, target: Option<(PipeId, bool)>) -> Option<Result<(), Error>> {
        if self.closed {
            return Some(Err(Error::Closed));
        }
        let sent = match target {
            None => self.push_round_robin(slot),
            Some((pipe, block)) => match self.pipes.get(&pipe) {
                Some(entry) if !entry.finished => {
                    let pushed = entry.outbox.try_push(slot);
                    self.writer_behind |= pushed == Pushed::WriterBehind;
                    if pushed.queued() {
                        Some(pipe)
                    } else if block {
                        None
                    } else {
                        // A routing pattern drops what a full peer cannot take.
                        self.hwm_drops += 1;
                        *slot = None;
                        return Some(Ok(()));
                    }
                }
                // The peer left meanwhile: unroutable, reported where the
                // send would have waited (ROUTER_MANDATORY).
                _ if block => return Some(Err(Error::HostUnreachable)),
                _ => {
                    *slot = None;
                    return Some(Ok(()));
                }
            },
        };
        let pipe = sent?;
        if self.pattern.sent(pipe) {
            self.discard_inbound();
        }
        Some(Ok(()))
    }

    /// Queues `msg` for every connected peer that wants it; a peer without
    /// room misses it (then this returns `true`). The frames are shared,
    /// not copied.
    fn fan_out(&mut self, msg: &Msg) -> bool {
        let mut drops = 0;
        let mut behind = false;
        for pipe in self.fan_out_targets(msg) {
            match self.pipes[&pipe].outbox.try_push(&mut Some(msg.clone())) {
                Pushed::Full => drops += 1,
                Pushed::Queued => {}
                Pushed::WriterBehind => behind = true,
            }
        }
        self.writer_behind |= behind;
        self.hwm_drops += drops;
        drops > 0
    }

    /// The pipes a fanned-out `msg` goes to: connected peers that want it.
    fn fan_out_targets<'a>(&'a self, msg: &'a Msg) -> impl Iterator<Item = PipeId> + 'a {
        self.outs.iter().copied().filter(move |pipe| {
            self.pipes[pipe].connected
                && match &self.pattern {
                    Pattern::Publisher(publisher) => publisher.wants(*pipe, msg),
                    _ => true,
                }
        })
    }

    /// `ZMQ_XPUB_NODROP`: whether every peer `msg` goes to has room for it.
    fn fan_out_room(&self, msg: &Msg) -> bool {
        self.fan_out_targets(msg)
            .all(|pipe| self.pipes[&pipe].outbox.room() > 0)
    }

    /// SUB, XSUB: applies a subscription change and tells every connected
    /// peer (the ones that connect later learn all of them in `attach`).
    pub(crate) fn change_subscription(&mut self, subscribe: bool, prefix: Bytes) {
        let Pattern::Subscriber(subscriber) = &mut self.pattern else {
            unreachable!("only subscribers change subscriptions")
        };
        if let Some(command) = subscriber.change(subscribe, prefix) {
            for entry in self.pipes.values().filter(|p| p.connected && !p.finished) {
                entry.outbox.push_command(command.clone());
            }
        }
        if !subscribe {
            self.drop_unwanted();
        }
    }

    /// SUB: drops queued messages that no subscription matches any more (an
    /// unsubscribe came after them), so that what is queued is what `recv`
    /// returns, and a queue full of them does not hold back what is wanted
    /// (libzmq's SUB drops them when it looks for input).
    fn drop_unwanted(&mut self) {
        let Pattern::Subscriber(subscriber) = &self.pattern else {
            return;
        };
        let pipes = &mut self.pipes;
        let queued_bytes = &mut self.queued_bytes;
        self.active.retain(|pipe| {
            let entry = pipes.get_mut(pipe).expect("active pipes exist");
            let was_full = entry.inbound.len() >= entry.recv_hwm;
            entry.inbound.retain(|msg| {
                let wanted = subscriber.accepts(msg);
                if !wanted {
                    *queued_bytes -= memory_cost(msg);
                }
                wanted
            });
            if was_full && entry.inbound.len() < entry.recv_hwm {
                entry.room.notify_all();
            }
            !entry.inbound.is_empty()
        });
        let gone: Vec<PipeId> = pipes
            .iter()
            .filter(|(_, p)| p.finished && p.inbound.is_empty())
            .map(|(&id, _)| id)
            .collect();
        for pipe in gone {
            pipes.remove(&pipe);
        }
        self.room_freed();
    }

    /// Fails with [`Error::Closed`] or [`Error::Terminated`] if the socket
    /// cannot be used any more.
    fn check_open(&self) -> Result<()> {
        if self.closed {
            Err(Error::Closed)
        } else if self.runtime_ended || self.terminated {
            Err(Error::Terminated)
        } else {
            Ok(())
        }
    }

    /// Wakes the readers if one waits for shared room: messages were taken.
    fn room_freed(&mut self) {
        if std::mem::take(&mut self.waiting_for_room) {
            for entry in self.pipes.values() {
                entry.room.notify_all();
            }
        }
    }

    /// Round-robin: the next pipe with room takes the message.
    fn push_round_robin(&mut self, slot: &mut Option<Msg>) -> Option<PipeId> {
        let n = self.outs.len();
        for i in 0..n {
            let index = (self.next_out + i) % n;
            let pipe = self.outs[index];
            let pushed = self.pipes[&pipe].outbox.try_push(slot);
            self.writer_behind |= pushed == Pushed::WriterBehind;
            if pushed.queued() {
                self.next_out = (index + 1) % n;
                return Some(pipe);
            }
        }
        None
    }

    /// Drops every queued inbound message (REQ starting a new request:
    /// replies still queued answer an earlier one).
    fn discard_inbound(&mut self) {
        while let Some(pipe) = self.active.pop_front() {
            let entry = self.pipes.get_mut(&pipe).expect("active pipes exist");
            let was_full = entry.inbound.len() >= entry.recv_hwm;
            self.queued_bytes -= entry.inbound.drain(..).map(|msg| memory_cost(&msg)).sum::<u64>();
            if was_full {
                entry.room.notify_all();
            }
            if entry.finished {
                self.pipes.remove(&pipe);
            }
        }
        self.room_freed();
    }

    /// Fair-queueing: one message from the pipe whose turn it is.
    fn pop_fair(&mut self) -> Option<Msg> {
        if let Some(msg) = self.pattern.take_pending() {
            self.room_freed();
            return Some(msg);
        }
        loop {
            let pipe = *self.active.front()?;
            let entry = self.pipes.get_mut(&pipe).expect("active pipes exist");
            let was_full = entry.inbound.len() >= entry.recv_hwm;
            let msg = entry.inbound.pop_front().expect("active pipes hold messages");
            self.queued_bytes -= memory_cost(&msg);
            let now_empty = entry.inbound.is_empty();
            let room = was_full.then(|| Arc::clone(&entry.room));
            let routing_id = entry.routing_id.clone();
            self.active.pop_front();
            if !now_empty {
                self.active.push_back(pipe);
            } else if entry.finished {
                self.pipes.remove(&pipe);
            }
            if let Some(room) = room {
                room.notify_all();
            }
            self.room_freed();
            if let Some(msg) = self.pattern.on_recv(pipe, msg, routing_id) {
                return Some(msg);
            }
        }
    }
}

/// What a queued message costs against the memory limit: as the decoder
/// counts it ([`message_cost`]).
fn memory_cost(msg: &Msg) -> u64 {
    message_cost(msg.size() as u64, msg.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket core with `n` attached (accepted-side) pipes.
    fn core_with_pipes(socket_type: SocketType, n: usize) -> (Arc<Core>, Vec<PipeId>) {
        let core = Core::new(socket_type, Context::new());
        let pipes = (0..n)
            .map(|_| {
                let (pipe, _) = core.add_pipe(false);
                core.attach(pipe, None, None).unwrap();
                pipe
            })
            .collect();
        (core, pipes)
    }

    #[test]
    fn a_peer_that_lost_its_routing_id_is_not_reported_as_leaving() {
        let core = Core::new(SocketType::Router, Context::new());
        core.options().router_handover = true;
        let (first, _) = core.add_pipe(false);
        core.attach(first, Some(Bytes::from_static(b"X")), None).unwrap();
        let (second, _) = core.add_pipe(false);
        core.attach(second, Some(Bytes::from_static(b"X")), None).unwrap();
        // The first connection ends after the second took its id over:
        // X is still connected, nobody left.
        core.push_departure(first);
        assert!(matches!(core.recv(true), Err(Error::WouldBlock)));
        core.push_departure(second);
        let notice = core.recv(true).unwrap();
        assert_eq!(notice.iter().map(|f| &f[..]).collect::<Vec<_>>(), [&b"X"[..], b""]);
    }

    #[test]
    fn a_connects_generated_routing_id_lasts_across_reconnections() {
        let core = Core::new(SocketType::Router, Context::new());
        let (pipe, _) = core.add_pipe(true);
        core.attach(pipe, None, None).unwrap();
        let first = core.lock().pipes[&pipe].routing_id.clone().unwrap();
        core.detach(pipe);
        core.attach(pipe, None, None).unwrap();
        assert_eq!(core.lock().pipes[&pipe].routing_id, Some(first));
    }

    #[test]
    fn fair_queueing_takes_turns_between_peers() {
        let (core, pipes) = core_with_pipes(SocketType::Pull, 3);
        // Peer 0 has queued 6 messages before peers 1 and 2 queue 2 each.
        let batch =
            |peer: usize, n: usize| -> VecDeque<Msg> { (0..n).map(|i| Msg::from(format!("{peer}.{i}"))).collect() };
        for (peer, n) in [(0, 6), (1, 2), (2, 2)] {
            assert!(matches!(core.deliver(pipes[peer], &mut batch(peer, n)), Delivered::All));
        }
        let order: Vec<String> = (0..10)
            .map(|_| String::from_utf8(core.recv(true).unwrap()[0].to_vec()).unwrap())
            .collect();
        assert_eq!(
            order,
            ["0.0", "1.0", "2.0", "0.1", "1.1", "2.1", "0.2", "0.3", "0.4", "0.5"]
        );
        assert!(matches!(core.recv(true), Err(Error::WouldBlock)));
    }

    #[test]
    fn round_robin_spreads_sends_evenly() {
        let (core, pipes) = core_with_pipes(SocketType::Push, 3);
        for i in 0..9 {
            core.send(Msg::from(format!("{i}")), true).unwrap();
        }
        for (k, &pipe) in pipes.iter().enumerate() {
            let Some(outbox) = core.outbox(pipe) else {
                panic!("pipe {k} is gone")
            };
            let crate::socket::pipe::Take::Msgs(batch) = outbox.take() else {
                panic!("no messages for pipe {k}")
            };
            let got: Vec<_> = batch.msgs.iter().map(|m| m[0].clone()).collect();
            let want: Vec<_> = (0..3).map(|j| Bytes::from(format!("{}", k + 3 * j))).collect();
            assert_eq!(got, want, "pipe {k}");
        }
    }

    #[test]
    fn round_robin_goes_on_in_order_when_a_pipe_before_it_leaves() {
        let (core, pipes) = core_with_pipes(SocketType::Dealer, 3);
        // The first two pipes have had their turn: the third is next.
        core.send(Msg::from("to 0"), true).unwrap();
        core.send(Msg::from("to 1"), true).unwrap();
        core.detach(pipes[0]);
        core.send(Msg::from("to 2"), true).unwrap();
        let taken = |k: usize| match core.outbox(pipes[k]).map(|outbox| outbox.take()) {
            Some(crate::socket::pipe::Take::Msgs(batch)) => batch.msgs.iter().map(|m| m[0].clone()).collect(),
            _ => Vec::new(),
        };
        assert_eq!(taken(1), [Bytes::from_static(b"to 1")], "pipe 1 had its turn already");
        assert_eq!(taken(2), [Bytes::from_static(b"to 2")], "pipe 2 was next");
    }

    #[test]
    fn round_robin_skips_a_full_peer() {
        let core = Core::new(SocketType::Dealer, Context::new());
        core.options().send_hwm = 1;
        let (a, _) = core.add_pipe(false);
        let (b, _) = core.add_pipe(false);
        core.attach(a, None, None).unwrap();
        core.attach(b, None, None).unwrap();
        core.send(Msg::from("1"), true).unwrap();
        core.send(Msg::from("2"), true).unwrap();
        // Both full now: a non-blocking send fails and gives the message back.
        let err = core.send(Msg::from("3"), true).unwrap_err();
        assert!(matches!(err.error(), Error::WouldBlock));
        assert_eq!(err.into_msg(), Msg::from("3"));
    }

    #[test]
    fn an_unsubscribe_drops_what_it_left_unwanted_and_lets_the_reader_on() {
        let (core, pipes) = core_with_pipes(SocketType::Sub, 1);
        core.lock().pipes.get_mut(&pipes[0]).unwrap().recv_hwm = 2;
        core.subscribe(true, Bytes::from_static(b"A")).unwrap();
        core.subscribe(true, Bytes::from_static(b"B")).unwrap();
        // The reader fills the queue with B's and waits with the rest.
        let reader = {
            let core = Arc::clone(&core);
            let pipe = pipes[0];
            std::thread::spawn(move || {
                let mut msgs: VecDeque<Msg> = ["B0", "B1", "B2", "B3", "A1"].into_iter().map(Msg::from).collect();
                matches!(core.deliver(pipe, &mut msgs), Delivered::All)
            })
        };
        // Until the unsubscribe, B's are what `recv` returns...
        assert_eq!(core.recv(false).unwrap(), Msg::from("B0"));
        // (The reader has filled the queue again and waits.)
        while core.lock().pipes[&pipes[0]].inbound.len() < 2 {
            std::thread::yield_now();
        }
        core.subscribe(false, Bytes::from_static(b"B")).unwrap();
        // ...then none: the queued ones are dropped, the reader goes on,
        // and the A behind them comes through, which a poller sees (it asks
        // `is_readable`, which a queue of stale B's would never make true).
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while !core.is_readable() {
            assert!(Instant::now() < deadline, "never readable");
            std::thread::yield_now();
        }
        assert_eq!(core.recv(false).unwrap(), Msg::from("A1"));
        assert!(reader.join().unwrap());
        assert!(!core.is_readable());
        assert_eq!(core.lock().queued_bytes, 0, "what was dropped is no longer counted");
    }

    #[test]
    fn a_full_inbound_queue_holds_back_the_rest() {
        let (core, pipes) = core_with_pipes(SocketType::Pull, 1);
        core.lock().pipes.get_mut(&pipes[0]).unwrap().recv_hwm = 2;
        let reader = {
            let core = Arc::clone(&core);
            let pipe = pipes[0];
            std::thread::spawn(move || {
                let mut msgs: VecDeque<Msg> = (0..5).map(|i| Msg::from(format!("{i}"))).collect();
                matches!(core.deliver(pipe, &mut msgs), Delivered::All)
            })
        };
        // The reader blocks at two queued messages until we take some.
        let got: Vec<_> = (0..5).map(|_| core.recv(false).unwrap()).collect();
        assert!(reader.join().unwrap());
        assert_eq!(got, (0..5).map(|i| Msg::from(format!("{i}"))).collect::<Vec<_>>());
    }

    #[test]
    fn a_message_costs_its_bytes_and_a_handle_per_frame_past_the_eighth() {
        assert_eq!(memory_cost(&Msg::from("0123456789")), 10);
        let eight: Msg = ["0123456789"; 8].into_iter().collect();
        assert_eq!(memory_cost(&eight), 80);
        let ten: Msg = ["0123456789"; 10].into_iter().collect();
        assert_eq!(memory_cost(&ten), 100 + 2 * 32);
    }

    #[test]
    fn the_memory_limit_holds_back_what_does_not_fit() {
        let (core, pipes) = core_with_pipes(SocketType::Pull, 1);
        core.set_memory_limit(Some(1000));
        let sent: Vec<Msg> = (0..10).map(|i| Msg::from(vec![i; 300])).collect();
        let reader = {
            let (core, pipe, mut msgs) = (Arc::clone(&core), pipes[0], sent.iter().cloned().collect());
            std::thread::spawn(move || matches!(core.deliver(pipe, &mut msgs), Delivered::All))
        };
        let deadline = Instant::now() + std::time::Duration::from_secs(30);
        let wait_for_memory = || {
            while !core.lock().waiting_for_room {
                assert!(Instant::now() < deadline, "the reader never waited for memory");
                std::thread::yield_now();
            }
            let state = core.lock();
            (state.pipes[&pipes[0]].inbound.len(), state.queued_bytes)
        };
        // Messages go in while less than 1,000 bytes are queued: four.
        assert_eq!(wait_for_memory(), (4, 1200));
        // Taking one lets one more in, not more.
        assert_eq!(core.recv(false).unwrap(), sent[0]);
        assert_eq!(wait_for_memory(), (4, 1200));
        let mut got = vec![sent[0].clone()];
        while got.len() < sent.len() {
            match core.recv(true) {
                Ok(msg) => got.push(msg),
                Err(_) => {
                    assert!(Instant::now() < deadline, "the rest never came");
                    std::thread::yield_now();
                }
            }
        }
        assert!(reader.join().unwrap());
        assert_eq!(got, sent);
        assert_eq!(core.lock().queued_bytes, 0);
    }

    #[test]
    fn raising_the_memory_limit_lets_a_waiting_reader_on() {
        let (core, pipes) = core_with_pipes(SocketType::Pull, 1);
        core.set_memory_limit(Some(100));
        let reader = {
            let (core, pipe) = (Arc::clone(&core), pipes[0]);
            std::thread::spawn(move || {
                let mut msgs: VecDeque<Msg> = (0..3).map(|_| Msg::from(vec![1; 100])).collect();
                matches!(core.deliver(pipe, &mut msgs), Delivered::All)
            })
        };
        let deadline = Instant::now() + std::time::Duration::from_secs(30);
        while !core.lock().waiting_for_room {
            assert!(Instant::now() < deadline, "the reader never waited for memory");
            std::thread::yield_now();
        }
        // Nothing is received: only the new limit lets the reader on.
        core.set_memory_limit(None);
        assert!(reader.join().unwrap());
        assert_eq!(core.lock().queued_bytes, 300);
    }
}

//! STREAM: raw peers, no ZMTP (libzmq's `ZMQ_STREAM`), for talking to
//! programs that are not ZeroMQ peers: a web browser, `curl`, a telnet
//! session, a line protocol.
//!
//! A STREAM connection has no greeting and no handshake: bytes go out as
//! the application gives them and come in as they arrive. The socket
//! routes as a ROUTER does:
//!
//! - each `read` becomes a message `[routing id, bytes]` (a message is
//!   whatever one read took, not a unit the peer meant: the application
//!   finds its own boundaries);
//! - `send` takes `[routing id, bytes…]` and writes the bytes to that peer
//!   (its frames one after the other); an unknown routing id fails with
//!   [`Error::HostUnreachable`], and a full peer makes `send` wait;
//! - `[routing id, ""]` (no bytes) ends that connection: its routing id
//!   goes at once (sends to it fail), and so does what it sent that was not
//!   received; what was sent to it before is written first, within the
//!   socket's linger time (libzmq drops it), and a `connect` does not
//!   reconnect;
//! - with `ZMQ_STREAM_NOTIFY` (on by default), `[routing id, ""]` arrives
//!   when a peer connects, before its bytes, and when its connection is
//!   lost, after them; not when the application ended it.
//!
//! Routing ids are the socket's own (libzmq's form: a zero byte and a
//! counter), or the one `ZMQ_CONNECT_ROUTING_ID` gives a `connect`; a
//! `connect` keeps its id across reconnections, as in libzmq.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::net::Shutdown;
use std::sync::Arc;

use bytes::Bytes;

use crate::Msg;
use crate::endpoint::Endpoint;
use crate::error::{Error, SendError};
use crate::monitor::MonitorEvent;
use crate::socket::connection::{self, End, FIRST_READ, MAX_IOVECS, MAX_READ, Origin, PEER_ADDRESS, TURN, Turn};
use crate::socket::core::{Core, Delivered, State};
use crate::socket::pattern::{Route, Undo};
use crate::socket::pipe::{Outbox, PipeId, Take};
use crate::socket::router;
use crate::transport::Stream;
use crate::zmtp::Metadata;

/// The first frame names the peer, the rest are the bytes to write to it
/// (none: close the connection).
pub(crate) fn route(state: &State, msg: Msg) -> Result<(Route, Undo), SendError> {
    let (id, mut msg) = router::split_routing_id(msg)?;
    match state.routed(&id) {
        Some(pipe) if msg.size() == 0 => Ok((Route::HangUp(pipe), Undo::Nothing)),
        Some(pipe) => Ok((Route::To { pipe, msg, block: true }, Undo::PushFront(id))),
        None => {
            msg.push_front(id);
            Err(SendError::new(Error::HostUnreachable, msg))
        }
    }
}

/// Serves one raw connection to `endpoint`: attaches it, then reads, with
/// a writer beside.
pub(crate) fn serve(core: &Arc<Core>, stream: Arc<Stream>, origin: Origin, endpoint: &Endpoint) -> End {
    let peer_addr = stream.peer_socket_addr();
    // Nothing to agree on: the connection is ready at once (libzmq reports
    // a raw connection's start as a handshake that succeeded).
    core.monitor.emit(|| MonitorEvent::HandshakeSucceeded {
        endpoint: endpoint.clone(),
        peer: peer_addr,
    });
    let (pipe, outbox) = match connection::attach(core, &stream, origin, None) {
        Ok(attached) => attached,
        Err(end) => return end,
    };
    let notify = core.options().stream_notify;
    if notify {
        core.push_arrival(pipe);
    }
    let writer = {
        let (stream, outbox) = (Arc::clone(&stream), Arc::clone(&outbox));
        connection::spawn_colocated(None, move || write_loop(&stream, &outbox))
    };
    let end = read_loop(core, &stream, pipe);
    connection::finish(core, &stream, pipe, &outbox, writer, end, notify)
}

/// Hands every read to the socket as a message, until the connection ends.
fn read_loop(core: &Core, stream: &Stream, pipe: PipeId) -> End {
    let address = stream.peer_address();
    let properties = Arc::new(if address.is_empty() {
        Metadata::new()
    } else {
        Metadata::new().with(PEER_ADDRESS, &address)
    });
    let mut scratch = vec![0u8; FIRST_READ];
    let mut batch = VecDeque::with_capacity(1);
    let mut turn = Turn::default();
    loop {
        let n = match stream.read(&mut scratch) {
            Ok(0) => return End::Lost("the peer closed the connection".to_owned()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return End::Lost(e.to_string()),
        };
        let mut msg = Msg::from(Bytes::copy_from_slice(&scratch[..n]));
        msg.set_properties(&properties);
        batch.push_back(msg);
        if matches!(core.deliver(pipe, &mut batch), Delivered::Closed) {
            if !core.is_closed() {
                // The pipe is gone (unbound).
                return End::Closed;
            }
            // The socket closed: read on (and drop) until the peer closes,
            // as a ZMTP connection does.
            batch.clear();
        }
        if n == scratch.len() && n < MAX_READ {
            scratch.resize(n * 2, 0);
        }
        turn.did(1);
    }
}

/// Writes the bytes of what the socket queues for this peer, until told
/// to stop, or until the socket closed (or the application ended the
/// connection) and everything queued is written: then it shuts the
/// connection down at once, both ways. A raw peer needs no half-close to
/// read what was sent: the system delivers it before the end, and the
/// reader, which sees that end, stops the connection.
fn write_loop(stream: &Stream, outbox: &Outbox) {
    let mut turn = Turn::default();
    loop {
        // A STREAM queues no commands: its batches are messages.
        let msgs = match outbox.take() {
            Take::Msgs(batch) => batch.msgs,
            Take::Idle => continue,
            Take::Stop => return,
            Take::Drained => {
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
        };
        let frames: Vec<&Bytes> = msgs
            .iter()
            .flat_map(Msg::iter)
            .filter(|frame| !frame.is_empty())
            .collect();
        for chunk in frames.chunks(MAX_IOVECS) {
            let mut slices: Vec<IoSlice<'_>> = chunk.iter().map(|frame| IoSlice::new(frame)).collect();
            if let Err(e) = stream.write_all_vectored(&mut slices, || outbox.linger_deadline()) {
                log::debug!("{}: write failed: {e}", stream.peer());
                // Wake the reader so the connection ends.
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
        }
        turn.did(1 + u32::try_from(msgs.len()).unwrap_or(TURN));
    }
}

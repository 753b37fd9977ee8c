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

use super::route::{Route, Undo};
use super::router;
use crate::Msg;
use crate::error::{Error, SendError};
use crate::socket::pipe::PipeId;

/// The first frame names the peer (`routed` finds its pipe, if it is
/// connected), the rest are the bytes to write to it (none: close the
/// connection).
pub(crate) fn route(msg: Msg, routed: impl Fn(&[u8]) -> Option<PipeId>) -> Result<(Route, Undo), SendError> {
    let (id, mut msg) = router::split_routing_id(msg)?;
    match routed(&id) {
        Some(pipe) if msg.size() == 0 => Ok((Route::HangUp(pipe), Undo::Nothing)),
        Some(pipe) => Ok((Route::To { pipe, msg, block: true }, Undo::PushFront(id))),
        None => {
            msg.push_front(id);
            Err(SendError::new(Error::HostUnreachable, msg))
        }
    }
}

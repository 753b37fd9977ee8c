//! ROUTER: messages carry the routing id of their peer in front
//! (rfc.zeromq.org 28/REQREP).

use bytes::Bytes;

use super::route::{Route, Undo};
use crate::Msg;
use crate::error::{Error, SendError};
use crate::socket::pipe::PipeId;

/// A received message gets its peer's routing id in front (only ROUTER
/// pipes have one).
pub(crate) fn on_recv(mut msg: Msg, routing_id: Option<Bytes>) -> Msg {
    if let Some(id) = routing_id {
        msg.push_front(id);
    }
    msg
}

/// Splits `msg` into the routing id in front and the rest, which must be
/// one frame at least (ROUTER, STREAM); or gives it back whole.
pub(crate) fn split_routing_id(mut msg: Msg) -> Result<(Bytes, Msg), SendError> {
    let Some(id) = msg.pop_front() else {
        return Err(SendError::new(Error::EmptyMessage, msg));
    };
    if msg.is_empty() {
        msg.push_front(id);
        return Err(SendError::new(Error::EmptyMessage, msg));
    }
    Ok((id, msg))
}

/// The first frame names the peer (`routed` finds its pipe, if it is
/// connected). An unknown one is dropped, or reported with
/// `router_mandatory`; a full peer is dropped too, unless mandatory, when
/// the send waits (as libzmq's does).
pub(crate) fn route(
    msg: Msg,
    mandatory: bool,
    routed: impl Fn(&[u8]) -> Option<PipeId>,
) -> Result<(Route, Undo), SendError> {
    let (id, mut msg) = split_routing_id(msg)?;
    match routed(&id) {
        Some(pipe) => Ok((
            Route::To {
                pipe,
                msg,
                block: mandatory,
            },
            Undo::PushFront(id),
        )),
        None if mandatory => {
            msg.push_front(id);
            Err(SendError::new(Error::HostUnreachable, msg))
        }
        None => Ok((Route::Dropped, Undo::Nothing)),
    }
}

//! What a pattern decides about a message the user sends: where it goes
//! ([`Route`]), and how to give it back unchanged if it cannot go
//! ([`Undo`]). The socket core carries the decision out.

use bytes::Bytes;

use crate::Msg;
use crate::socket::pipe::PipeId;

/// Where a message goes.
pub(crate) enum Route {
    /// To the next peer with room, waiting for one.
    RoundRobin(Msg),
    /// To one peer; `block`: wait while it is full (otherwise drop).
    To { pipe: PipeId, msg: Msg, block: bool },
    /// To every connected peer that wants it (PUB, XPUB: whose
    /// subscriptions match; XSUB: all), dropped where there is no room.
    FanOut(Msg),
    /// Nowhere (unroutable, silently dropped as libzmq does).
    Dropped,
    /// STREAM's `[id, ""]`: end the connection of this pipe.
    HangUp(PipeId),
    /// XSUB: subscription changes (`(subscribe, prefix)`, in order), which
    /// the socket applies and sends to every peer as such, and the
    /// ordinary message the other frames make, if any, which then fans out
    /// (see `pubsub::split_subscriptions`).
    Subscriptions {
        changes: Vec<(bool, Bytes)>,
        rest: Option<Msg>,
    },
}

/// How to give a message back as the caller sent it, if sending fails
/// after the pattern changed it.
pub(crate) enum Undo {
    Nothing,
    /// Takes off the frames the pattern put in front.
    PopFront(usize),
    PushFront(Bytes),
}

impl Undo {
    pub(crate) fn apply(self, mut msg: Msg) -> Msg {
        match self {
            Undo::Nothing => {}
            Undo::PopFront(frames) => {
                for _ in 0..frames {
                    msg.pop_front();
                }
            }
            Undo::PushFront(frame) => msg.push_front(frame),
        }
        msg
    }
}

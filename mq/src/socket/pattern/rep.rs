//! REP: a server that receives a request and sends back its reply
//! (rfc.zeromq.org 28/REQREP).

use crate::Msg;
use crate::error::{Error, Result};
use crate::socket::pipe::PipeId;

/// The request a REP socket owes a reply to.
#[derive(Default)]
pub(crate) struct Rep {
    /// The peer and the envelope (routing frames up to and including the
    /// empty delimiter) of the request being answered.
    pending: Option<(PipeId, Msg)>,
}

impl Rep {
    pub(crate) fn can_recv(&self) -> Result<()> {
        match self.pending {
            None => Ok(()),
            Some(_) => Err(Error::InvalidState(
                "a REP socket must send the reply before it receives again",
            )),
        }
    }

    /// Whether a reply is owed (so `send` may be called).
    pub(crate) fn owes_reply(&self) -> bool {
        self.pending.is_some()
    }

    /// Splits off the envelope and remembers it; a request without the
    /// empty delimiter is malformed and discarded (see [`is_request`]).
    pub(crate) fn on_recv(&mut self, pipe: PipeId, mut msg: Msg) -> Option<Msg> {
        let delimiter = msg.iter().position(|frame| frame.is_empty())?;
        let envelope = msg.split_front(delimiter + 1);
        self.pending = Some((pipe, envelope));
        Some(msg)
    }

    /// The peer and envelope the reply goes to; the cycle starts again.
    pub(crate) fn take_reply_route(&mut self) -> Result<(PipeId, Msg)> {
        self.pending.take().ok_or(Error::InvalidState(
            "a REP socket must receive a request before it sends",
        ))
    }
}

/// Whether `msg` is a request [`Rep::on_recv`] keeps: its envelope ends with
/// the empty delimiter.
pub(crate) fn is_request(msg: &Msg) -> bool {
    msg.iter().any(|frame| frame.is_empty())
}

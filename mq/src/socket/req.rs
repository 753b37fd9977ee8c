//! REQ: a client that sends a request and then receives its reply, strictly
//! alternating (rfc.zeromq.org 28/REQREP).

use crate::Msg;
use crate::error::{Error, Result};
use crate::socket::core::PipeId;

/// Where a REQ socket is in its send/receive cycle.
#[derive(Default)]
pub(crate) struct Req {
    /// After a send: the peer whose reply we wait for.
    awaiting: Option<PipeId>,
}

impl Req {
    pub(crate) fn can_send(&self) -> Result<()> {
        match self.awaiting {
            None => Ok(()),
            Some(_) => Err(Error::InvalidState(
                "a REQ socket must receive the reply before it sends again",
            )),
        }
    }

    pub(crate) fn sent(&mut self, pipe: PipeId) {
        self.awaiting = Some(pipe);
    }

    pub(crate) fn can_recv(&self) -> Result<()> {
        match self.awaiting {
            Some(_) => Ok(()),
            None => Err(Error::InvalidState(
                "a REQ socket must send a request before it receives",
            )),
        }
    }

    /// Only a reply from the peer we asked, with the empty delimiter first,
    /// is kept (28/REQREP: other messages are discarded).
    pub(crate) fn on_arrival(&self, pipe: PipeId, msg: Msg) -> Option<Msg> {
        let delimited = msg.first().is_some_and(|f| f.is_empty()) && msg.len() > 1;
        (self.awaiting == Some(pipe) && delimited).then_some(msg)
    }

    /// Strips the delimiter; the cycle starts again.
    pub(crate) fn on_recv(&mut self, mut msg: Msg) -> Option<Msg> {
        self.awaiting?;
        self.awaiting = None;
        msg.pop_front();
        Some(msg)
    }
}

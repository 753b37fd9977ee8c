//! REQ: a client that sends a request and then receives its reply, strictly
//! alternating (rfc.zeromq.org 28/REQREP).

use crate::Msg;
use crate::error::{Error, Result};
use crate::socket::core::PipeId;

/// Where a REQ socket is in its send/receive cycle.
#[derive(Default)]
pub(crate) struct Req {
    /// A request is being sent (perhaps waiting for room), so a second one
    /// from another thread is refused.
    sending: bool,
    /// After a send: the peer whose reply we wait for.
    awaiting: Option<PipeId>,
}

impl Req {
    /// Admits one request at a time, and only after the previous reply.
    pub(crate) fn start_send(&mut self) -> Result<()> {
        if self.sending || self.awaiting.is_some() {
            return Err(Error::InvalidState(
                "a REQ socket must receive the reply before it sends again",
            ));
        }
        self.sending = true;
        Ok(())
    }

    /// Whether a request may be sent now (the previous reply came, and no
    /// other request is being sent).
    pub(crate) fn may_send(&self) -> bool {
        !self.sending && self.awaiting.is_none()
    }

    /// The admitted request was not sent after all.
    pub(crate) fn send_failed(&mut self) {
        self.sending = false;
    }

    /// The request went to `pipe`; its reply is awaited from there.
    pub(crate) fn sent(&mut self, pipe: PipeId) {
        self.sending = false;
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

    /// Strips the delimiter; the cycle starts again. (Only replies from the
    /// awaited peer are queued, and a new request drops any left over.)
    pub(crate) fn on_recv(&mut self, pipe: PipeId, mut msg: Msg) -> Option<Msg> {
        if self.awaiting != Some(pipe) {
            return None;
        }
        self.awaiting = None;
        msg.pop_front();
        Some(msg)
    }
}

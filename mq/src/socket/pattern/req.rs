//! REQ: a client that sends a request and then receives its reply, strictly
//! alternating (rfc.zeromq.org 28/REQREP), unless relaxed; with
//! `ZMQ_REQ_CORRELATE` each request carries an id its reply must repeat.

use bytes::Bytes;

use crate::Msg;
use crate::error::{Error, Result};
use crate::socket::pipe::PipeId;

/// Where a REQ socket is in its send/receive cycle.
pub(crate) struct Req {
    /// A request is being sent (perhaps waiting for room), so a second one
    /// from another thread is refused.
    sending: bool,
    /// After a send: the peer whose reply we wait for.
    awaiting: Option<PipeId>,
    /// `ZMQ_REQ_RELAXED`: a new request may be sent before the reply to
    /// the last one came; that reply is then abandoned.
    pub(crate) relaxed: bool,
    /// `ZMQ_REQ_CORRELATE`: each request starts with a request id frame,
    /// and only a reply that repeats the last one's is taken.
    pub(crate) correlate: bool,
    /// The id of the last request sent (with `correlate`); the next one is
    /// one more. libzmq starts at a random value, and so does this.
    request_id: u32,
}

impl Default for Req {
    fn default() -> Req {
        let mut seed = [0u8; 4];
        // A fixed start would do too: ids only tell this socket's requests apart.
        let _ = getrandom::getrandom(&mut seed);
        Req {
            sending: false,
            awaiting: None,
            relaxed: false,
            correlate: false,
            request_id: u32::from_ne_bytes(seed),
        }
    }
}

impl Req {
    /// Admits one request at a time, and only after the previous reply
    /// (unless relaxed: then a new request abandons the awaited reply).
    pub(crate) fn start_send(&mut self) -> Result<()> {
        if self.sending || (self.awaiting.is_some() && !self.relaxed) {
            return Err(Error::InvalidState(
                "a REQ socket must receive the reply before it sends again",
            ));
        }
        self.sending = true;
        Ok(())
    }

    /// The frames that go before a request's body: the request id (with
    /// `correlate`) and the empty delimiter.
    pub(crate) fn envelope(&mut self) -> Vec<Bytes> {
        if self.correlate {
            self.request_id = self.request_id.wrapping_add(1);
            vec![Bytes::copy_from_slice(&self.request_id.to_be_bytes()), Bytes::new()]
        } else {
            vec![Bytes::new()]
        }
    }

    /// Whether a request may be sent now (the previous reply came, or the
    /// socket is relaxed; and no other request is being sent).
    pub(crate) fn may_send(&self) -> bool {
        !self.sending && (self.awaiting.is_none() || self.relaxed)
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

    /// Only a reply from the peer we asked, with the empty delimiter first
    /// (after the last request's id, when correlating), is kept
    /// (28/REQREP: other messages are discarded).
    pub(crate) fn on_arrival(&self, pipe: PipeId, msg: Msg) -> Option<Msg> {
        let frames = msg.frames();
        let body_at = if self.correlate {
            let ours = self.request_id.to_be_bytes();
            if frames.first().is_none_or(|id| id[..] != ours[..]) {
                return None;
            }
            1
        } else {
            0
        };
        let delimited = frames.get(body_at).is_some_and(|f| f.is_empty()) && frames.len() > body_at + 1;
        (self.awaiting == Some(pipe) && delimited).then_some(msg)
    }

    /// Strips the envelope; the cycle starts again. (Only replies from the
    /// awaited peer are queued, and a new request drops any left over.)
    pub(crate) fn on_recv(&mut self, pipe: PipeId, mut msg: Msg) -> Option<Msg> {
        if self.awaiting != Some(pipe) {
            return None;
        }
        self.awaiting = None;
        if self.correlate {
            msg.pop_front();
        }
        msg.pop_front();
        Some(msg)
    }
}

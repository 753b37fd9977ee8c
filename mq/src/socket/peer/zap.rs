//! The ZAP client: asks the application's ZAP handler (RFC 27) about a
//! peer during its handshake.
//!
//! Each question goes over a DEALER of the socket's context, connected to
//! `inproc://zeromq.zap.01` for that one handshake (handshakes are rare;
//! messages are not), and waits for the answer no longer than the
//! handshake may last.

use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::error::Error;
use crate::socket::core::Core;
use crate::zmtp::{ProtocolError, ZAP_ENDPOINT, ZapReply, ZapRequest};
use crate::{Msg, SocketType};

/// Why no answer came.
pub(crate) enum ZapFailure {
    /// The handler broke RFC 27.
    Protocol(ProtocolError),
    /// It did not answer by the deadline, or the socket failed.
    Io(io::Error),
}

/// Asks the handler bound in `core`'s context about a peer at `address`
/// (see [`ZapRequest::frames`]), waiting until `deadline`. `None` if no
/// handler is bound.
pub(crate) fn ask(
    core: &Core,
    request: &ZapRequest,
    address: &str,
    deadline: Option<Instant>,
) -> Option<Result<ZapReply, ZapFailure>> {
    if !core.context.inproc().is_bound(ZAP_ENDPOINT) {
        return None;
    }
    let (domain, routing_id) = {
        let options = core.options();
        (
            options.zap_domain.clone(),
            options.routing_id.clone().unwrap_or_default(),
        )
    };
    let dealer = core.context.socket(SocketType::Dealer);
    dealer.set_linger(Some(Duration::ZERO));
    let left = deadline.map(|deadline| {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    });
    dealer.set_send_timeout(left);
    dealer.set_recv_timeout(left);
    let answer = (|| {
        dealer.connect(format!("inproc://{ZAP_ENDPOINT}"))?;
        let mut msg: Msg = request.frames(&domain, address.as_bytes(), &routing_id).into();
        msg.push_front(Bytes::new());
        dealer.send(msg).map_err(|e| e.into_parts().0)?;
        dealer.recv()
    })();
    dealer.close();
    Some(match answer {
        Ok(mut reply) => match reply.pop_front() {
            Some(delimiter) if delimiter.is_empty() => ZapReply::parse(reply.frames()).map_err(ZapFailure::Protocol),
            _ => Err(ZapFailure::Protocol(ProtocolError::MalformedZapReply(
                "no empty delimiter frame first",
            ))),
        },
        Err(Error::TimedOut) => Err(ZapFailure::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            "the ZAP handler did not answer within the handshake interval",
        ))),
        Err(e) => Err(ZapFailure::Io(io::Error::other(format!("asking the ZAP handler: {e}")))),
    })
}

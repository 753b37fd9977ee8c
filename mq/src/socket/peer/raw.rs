//! A STREAM socket's connections: no greeting and no handshake, bytes out
//! as the application gives them and in as they arrive (what the socket
//! makes of them: `pattern/stream.rs`).

use std::collections::VecDeque;
use std::io::IoSlice;
use std::net::Shutdown;
use std::sync::Arc;

use bytes::Bytes;

use super::session::{
    End, FIRST_READ, MAX_IOVECS, MAX_READ, Origin, PEER_ADDRESS, TURN, Turn, attach, spawn_colocated,
};
use crate::Msg;
use crate::endpoint::Endpoint;
use crate::monitor::MonitorEvent;
use crate::socket::core::{Core, Delivered};
use crate::socket::pipe::{Outbox, PipeId, Take};
use crate::transport::Stream;
use crate::zmtp::Metadata;

/// Serves one raw connection to `endpoint`: attaches it, then reads, with
/// a writer beside.
pub(super) fn serve(core: &Arc<Core>, stream: Arc<Stream>, origin: Origin, endpoint: &Endpoint) -> End {
    let peer_addr = stream.peer_socket_addr();
    // Nothing to agree on: the connection is ready at once (libzmq reports
    // a raw connection's start as a handshake that succeeded).
    core.monitor.emit(|| MonitorEvent::HandshakeSucceeded {
        endpoint: endpoint.clone(),
        peer: peer_addr,
    });
    let attached = match attach(core, &stream, origin, None) {
        Ok(attached) => attached,
        Err(end) => return end,
    };
    let notify = core.options().stream_notify;
    if notify {
        core.push_arrival(attached.pipe);
    }
    let writer = {
        let (stream, outbox) = (Arc::clone(&stream), Arc::clone(&attached.outbox));
        spawn_colocated(None, move || write_loop(&stream, &outbox))
    };
    let end = read_loop(core, &stream, attached.pipe);
    attached.finish(writer, end, notify)
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

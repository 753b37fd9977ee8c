//! How a socket's connections come and go: accepted on a bound endpoint,
//! or made by a `connect` and made again whenever they end.
//!
//! A peer that breaks the protocol, stalls its handshake or disconnects is
//! dropped (the reason is logged at `info`); nothing else is affected.
//! Where the socket connected, the connector then reconnects after the
//! reconnect interval, doubling it up to the maximum. Each connection is
//! served as the socket's type speaks: ZMTP (`zmtp.rs`), or raw bytes for
//! a STREAM (`raw.rs`).
//!
//! Each step a monitor can see (connected, accepted, handshake, lost) is
//! reported to the socket's [`Monitor`](crate::monitor::Monitor) where it
//! happens; with no monitor that costs one load.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use super::session::{AcceptStop, End, Origin, connection_stack, spawn_colocated};
use super::{raw, zmtp};
use crate::SocketType;
use crate::endpoint::Endpoint;
use crate::monitor::MonitorEvent;
use crate::options::ReconnectStop;
use crate::socket::core::Core;
use crate::socket::pipe::PipeId;
use crate::transport::{self, Listener, Stream};
use crate::wait::{Why, reason};

/// Accepts connections on `listener` until stopped.
pub(crate) fn accept_loop(core: Arc<Core>, listener: Listener, endpoint: Endpoint, stop: Arc<AcceptStop>) {
    stop.loop_starts_here();
    while !stop.is_stopped() {
        match listener.accept() {
            Ok(_) if stop.is_stopped() => return,
            Ok(stream) => {
                let peer = stream.peer_socket_addr();
                core.monitor.emit(|| MonitorEvent::Accepted {
                    endpoint: endpoint.clone(),
                    peer,
                });
                let core = Arc::clone(&core);
                let endpoint = endpoint.clone();
                let origin = Origin::Accepted(Arc::clone(&stop));
                let service = core.service();
                let stack = connection_stack(core.options().mechanism);
                spawn_colocated(stack, move || {
                    let _service = service.started();
                    if let End::Lost(reason) | End::HandshakeFailed(reason) =
                        serve(&core, Arc::new(stream), origin, &endpoint)
                    {
                        log::info!("{endpoint}: connection dropped: {reason}");
                        core.monitor.emit(|| MonitorEvent::Disconnected { endpoint, peer });
                    }
                });
            }
            // `accept` backs off by itself on descriptor exhaustion; anything
            // else is the peer's (a reset before accept).
            Err(e) => {
                log::debug!("{endpoint}: accept failed: {e}");
                core.monitor.emit(|| MonitorEvent::AcceptFailed {
                    endpoint: endpoint.clone(),
                    error: e,
                });
            }
        }
    }
}

/// Connects `pipe` to `endpoint`, and again whenever the connection ends,
/// until the socket closes or the pipe is disconnected.
pub(crate) fn connect_loop(core: Arc<Core>, endpoint: Endpoint, pipe: PipeId) {
    let mut backoff = core.options().reconnect_ivl;
    loop {
        if !core.wants_connection(pipe) {
            return;
        }
        let tcp = core.options().tcp.clone();
        match transport::connect(&endpoint, &tcp) {
            Ok(stream) => {
                let peer = stream.peer_socket_addr();
                core.monitor.emit(|| MonitorEvent::Connected {
                    endpoint: endpoint.clone(),
                    peer,
                });
                backoff = core.options().reconnect_ivl;
                let end = serve(&core, Arc::new(stream), Origin::Connected(pipe), &endpoint);
                let (reason, stop_flag) = match end {
                    End::Closed => return,
                    End::Lost(reason) => (reason, ReconnectStop::AFTER_DISCONNECT),
                    End::HandshakeFailed(reason) => (reason, ReconnectStop::HANDSHAKE_FAILED),
                };
                core.monitor.emit(|| MonitorEvent::Disconnected {
                    endpoint: endpoint.clone(),
                    peer,
                });
                if core.options().reconnect_stop.contains(stop_flag) {
                    log::info!("{endpoint}: connection lost: {reason}; not reconnecting (reconnect_stop)");
                    core.remove_pipe(pipe);
                    return;
                }
                log::info!("{endpoint}: connection lost: {reason}; reconnecting");
            }
            Err(e)
                if e.kind() == io::ErrorKind::ConnectionRefused
                    && core.options().reconnect_stop.contains(ReconnectStop::CONN_REFUSED) =>
            {
                log::info!("{endpoint}: connect refused; not retrying (reconnect_stop)");
                core.monitor.emit(|| MonitorEvent::ConnectDelayed {
                    endpoint: endpoint.clone(),
                    error: e,
                });
                core.remove_pipe(pipe);
                return;
            }
            Err(e) => {
                log::debug!("{endpoint}: connect failed: {e}; retrying in {backoff:?}");
                core.monitor.emit(|| MonitorEvent::ConnectDelayed {
                    endpoint: endpoint.clone(),
                    error: e,
                });
            }
        }
        let deadline = Instant::now().checked_add(backoff);
        // Sleeps the interval, or less if the pipe stops being wanted.
        // (A socket that closed with messages to deliver keeps its pace.)
        let wanted = core.wants_connection(pipe);
        if wanted {
            core.counters.reconnects.add(1);
            core.monitor.emit(|| MonitorEvent::ConnectRetried {
                endpoint: endpoint.clone(),
                interval: backoff,
            });
        }
        let _ = core
            .closed_notify
            .wait_until(Why::on(&reason::RECONNECT, &*core), deadline, || {
                (core.wants_connection(pipe) != wanted).then_some(())
            });
        let max = core.options().reconnect_ivl_max;
        if max > backoff {
            backoff = (backoff * 2).min(max);
        }
    }
}

/// Serves one connection to `endpoint` as the socket's type speaks: ZMTP,
/// or raw bytes (STREAM).
fn serve(core: &Arc<Core>, stream: Arc<Stream>, origin: Origin, endpoint: &Endpoint) -> End {
    if core.socket_type == SocketType::Stream {
        raw::serve(core, stream, origin, endpoint)
    } else {
        zmtp::serve(core, stream, origin, endpoint)
    }
}

//! `dhaga::mq`: ZeroMQ's socket patterns for dhaga micro-threads, speaking
//! ZeroMQ's wire protocol (ZMTP 3.1), so a dhaga program talks to libzmq,
//! pyzmq and every other ZeroMQ peer.
//!
//! # How it works
//!
//! A [`Socket`] has a type ([`SocketType`]: REQ, REP, DEALER, ROUTER, PUB,
//! SUB, XPUB, XSUB, PUSH, PULL, PAIR, and STREAM for raw TCP peers) and any
//! number of endpoints it binds or connects (`tcp://`, `ipc://`,
//! `inproc://`, see [`Endpoint`]). Each connection is
//! served by micro-threads of the runtime, written as sequential code: one
//! performs the ZMTP handshake and then reads, decoding many frames per
//! `read`; another writes everything queued for that peer in one `write`.
//! `send` and `recv` park the calling micro-thread (or block the calling OS
//! thread) while the pattern has no room or no message, as blocking calls
//! do everywhere in dhaga. Messages ([`Msg`]) are one or more frames of
//! shared bytes, delivered whole.
//!
//! What happens to a socket's connections (connected, accepted, handshake,
//! lost) can be watched with [`Socket::monitor`]; heartbeats
//! ([`Socket::set_heartbeat_ivl`]) find peers that went away silently.
//!
//! A program that serves several sockets from one micro-thread or thread
//! waits on them together with a [`Poller`] (or [`poll`](fn@poll)), libzmq's
//! `zmq_poll`; [`proxy`] and [`proxy_steerable`] move messages between two
//! sockets, as libzmq's `zmq_proxy` does for the Guide's brokers.
//!
//! The codec (`zmtp`) is pure: bytes in, frames and commands out, so a
//! peer that sends garbage is disconnected with a reason and harms nobody
//! else.
//!
//! # Security
//!
//! Sockets speak NULL by default (no authentication, no encryption), as in
//! libzmq. CURVE ([`Socket::set_curve_server`],
//! [`Socket::set_curve_serverkey`], keys from [`curve_keypair`]) encrypts
//! and authenticates; PLAIN ([`Socket::set_plain_server`],
//! [`Socket::set_plain_username`]) sends a password in clear. Who may
//! connect is decided by a ZAP handler bound at `inproc://zeromq.zap.01`,
//! such as [`Authenticator`]; what it says of a peer comes with each
//! message from it ([`Msg::gets`]). With the `libsodium` feature CURVE's
//! encryption is libsodium's, about three times faster than the default
//! pure-Rust one.
//!
//! # Examples
//!
//! A REQ/REP round trip over TCP:
//!
//! ```
//! use dhaga_mq::{Socket, SocketType};
//!
//! dhaga_runtime::run(|| {
//!     let server = Socket::new(SocketType::Rep);
//!     server.bind("tcp://127.0.0.1:0").unwrap();
//!     let endpoint = server.last_endpoint().unwrap();
//!     dhaga_runtime::spawn(move || {
//!         let request = server.recv().unwrap();
//!         assert_eq!(request, "Hello".into());
//!         server.send("World").unwrap();
//!     });
//!
//!     let client = Socket::new(SocketType::Req);
//!     client.connect(&endpoint).unwrap();
//!     client.send("Hello").unwrap();
//!     assert_eq!(client.recv().unwrap(), "World".into());
//! });
//! ```
// Without the `libsodium` feature no line of this crate is unsafe; with it,
// only the calls into libsodium (zmtp/nacl.rs) are.
#![cfg_attr(not(feature = "libsodium"), forbid(unsafe_code))]
#![cfg_attr(feature = "libsodium", deny(unsafe_code))]

mod auth;
mod context;
mod endpoint;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
mod monitor;
mod msg;
mod options;
mod poll;
mod proxy;
mod security;
mod socket;
mod socket_type;
mod transport;
mod wait;
mod zmtp;

pub use auth::Authenticator;
pub use context::Context;
pub use endpoint::{Endpoint, Host, IpcAddr, ToEndpoint};
pub use error::{Error, Result, SendError};
pub use monitor::{HandshakeFailure, MonitorEvent, MonitorEvents};
pub use msg::Msg;
pub use options::{ReconnectStop, RouterNotify};
pub use poll::{Interest, PollItem, Poller, Readiness, poll};
pub use proxy::{proxy, proxy_steerable};
pub use security::{CurveKeyPair, Mechanism, curve_keypair, curve_public, z85_decode, z85_encode};
pub use socket::{Socket, SocketMetrics};
pub use socket_type::SocketType;
pub use zmtp::ProtocolError;

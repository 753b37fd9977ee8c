//! A socket's peers: the micro-threads that serve its connections and
//! move messages between its pipes and the world.
//!
//! Over `tcp` and `ipc`, connections are accepted, or made and made again,
//! by `connection.rs`. Each is served by two micro-threads of sequential
//! code (`zmtp.rs`): one performs the ZMTP handshake (asking the ZAP
//! handler, `zap.rs`, when the mechanism says so) and then reads
//! (`reader.rs`), the other writes what the socket queued (`writer.rs`),
//! with heartbeats shared out between them (`heartbeat.rs`). A STREAM
//! socket's connections skip ZMTP and carry raw bytes (`raw.rs`). What
//! every connection shares (how its peer is attached to a pipe of the
//! socket and detached at the end) is `session.rs`. Between sockets of one
//! process, `inproc` connections move messages from one socket's pipe to
//! the other's without any bytes (`inproc.rs`).
//!
//! The files import one way: `connection` uses `zmtp` and `raw`; `zmtp`
//! uses `reader`, `writer` and `zap`; those and `raw` use `session`, the
//! ZMTP ones `heartbeat` too, and these two use no other file of the
//! folder; `inproc` stands alone.
//!
//! This layer drives the socket core (`core.rs`), which never calls back
//! into it: it attaches and detaches pipes, hands the core what it reads,
//! and takes from the pipes' outboxes what it writes. The byte streams
//! below it are `crate::transport`'s.

mod connection;
mod heartbeat;
mod inproc;
mod raw;
mod reader;
mod session;
mod writer;
mod zap;
mod zmtp;

pub(crate) use self::connection::{accept_loop, connect_loop};
pub(crate) use self::heartbeat::{ttl_from_wire, ttl_to_wire};
pub(crate) use self::inproc::Registry;
pub(crate) use self::session::{AcceptStop, connection_stack, spawn_colocated};

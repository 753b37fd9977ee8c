//! A socket's peers: the micro-threads that serve its connections and
//! move messages between its pipes and the world.
//!
//! Over `tcp` and `ipc` a connection is served by two micro-threads of
//! sequential code (`connection.rs`): one performs the ZMTP handshake
//! (asking the ZAP handler, `zap.rs`, when the mechanism says so) and then
//! reads, the other writes what the socket queued, with heartbeats shared
//! out between them (`heartbeat.rs`). A STREAM socket's connections skip
//! ZMTP and carry raw bytes (`raw.rs`). Between sockets of one process,
//! `inproc` connections move messages from one socket's pipe to the
//! other's without any bytes (`inproc.rs`).
//!
//! This layer drives the socket core (`core.rs`), which never calls back
//! into it: it attaches and detaches pipes, hands the core what it reads,
//! and takes from the pipes' outboxes what it writes. The byte streams
//! below it are `crate::transport`'s.

mod connection;
mod heartbeat;
mod inproc;
mod raw;
mod zap;

pub(crate) use self::connection::{AcceptStop, accept_loop, connect_loop, connection_stack, spawn_colocated};
pub(crate) use self::heartbeat::{ttl_from_wire, ttl_to_wire};
pub(crate) use self::inproc::Registry;

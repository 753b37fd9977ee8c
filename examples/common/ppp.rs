//! The Paranoid Pirate Protocol of the ZeroMQ Guide (chapter 4, "Robust
//! Reliable Queuing (Paranoid Pirate Pattern)"), which `ppqueue` and
//! `ppworker` speak: the two one-byte control messages and the heartbeat
//! settings both ends must agree on. Each includes this file with
//! `#[path]`; `common/` holds no example of its own.
//!
//! A worker is a DEALER connected to the queue's backend ROUTER. It sends
//! [`READY`] once, on a new socket; after that each message it sends is a
//! reply (`[client id, "", reply]`, the request's envelope) or a
//! [`HEARTBEAT`]. The queue sends a worker requests
//! (`[client id, "", request]`, three frames) and, while the worker is
//! idle, a [`HEARTBEAT`] every interval. Each side counts the other dead
//! after `liveness` intervals without a word from it: the queue forgets the
//! worker, the worker closes its socket and connects a new one, waiting
//! longer each time (exponential backoff).

#![allow(dead_code, reason = "each example uses a part")]

use std::time::Duration;

/// A worker's first message: it is ready for work (the Guide's `"\001"`).
pub(crate) const READY: &[u8] = b"\x01";
/// A heartbeat, either way (the Guide's `"\002"`).
pub(crate) const HEARTBEAT: &[u8] = b"\x02";

/// How often each side sends a heartbeat (the Guide's 1000 ms).
pub(crate) const INTERVAL: Duration = Duration::from_secs(1);
/// Intervals without a word after which a peer counts as dead (the
/// Guide's 3; "3-5 is reasonable").
pub(crate) const LIVENESS: u32 = 3;

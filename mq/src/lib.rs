//! `dhaga::mq`: ZeroMQ socket patterns over ZMTP 3.1 (being built; see the
//! issue tracker).
#![forbid(unsafe_code)]

mod socket_type;
mod zmtp;

pub use socket_type::SocketType;

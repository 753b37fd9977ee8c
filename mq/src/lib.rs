//! `dhaga::mq`: ZeroMQ socket patterns over ZMTP 3.1 (being built; see the
//! issue tracker).
#![forbid(unsafe_code)]

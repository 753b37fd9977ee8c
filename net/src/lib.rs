//! `dhaga::net`: `std::net` for micro-threads (being built; see the issue
//! tracker). Sockets will park the calling micro-thread on readiness through
//! [`dhaga_runtime::Source`].

//! Fuzz target `handshake`: everything a peer sends from its greeting on, through the NULL handshake of every socket type.
//!
//! The invariants are `dhaga_mq::fuzz::handshake`'s; `dhaga_fuzz::run` also bounds every allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dhaga_fuzz::run(data, dhaga_mq::fuzz::handshake));

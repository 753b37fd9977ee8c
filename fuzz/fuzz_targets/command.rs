//! Fuzz target `command`: a command frame's body, any name: READY, ERROR, SUBSCRIBE, CANCEL, PING, PONG or unknown.
//!
//! The invariants are `dhaga_mq::fuzz::command`'s; `dhaga_fuzz::run` also bounds every allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dhaga_fuzz::run(data, dhaga_mq::fuzz::command));

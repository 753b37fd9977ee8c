//! Fuzz target `decoder`: zMTP traffic after the handshake: frames and commands, however the bytes are split into reads.
//!
//! The invariants are `dhaga_mq::fuzz::decoder`'s; `dhaga_fuzz::run` also bounds every allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dhaga_fuzz::run(data, dhaga_mq::fuzz::decoder));

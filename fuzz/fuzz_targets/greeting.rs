//! Fuzz target `greeting`: the 64-byte greeting: signature, version, mechanism.
//!
//! The invariants are `dhaga_mq::fuzz::greeting`'s; `dhaga_fuzz::run` also bounds every allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dhaga_fuzz::run(data, dhaga_mq::fuzz::greeting));

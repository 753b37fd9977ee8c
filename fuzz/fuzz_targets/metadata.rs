//! Fuzz target `metadata`: the metadata properties of a READY command.
//!
//! The invariants are `dhaga_mq::fuzz::metadata`'s; `dhaga_fuzz::run` also bounds every allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dhaga_fuzz::run(data, dhaga_mq::fuzz::metadata));

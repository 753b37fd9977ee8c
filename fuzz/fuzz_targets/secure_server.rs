//! Fuzz target `secure_server`: see `dhaga_mq::fuzz::secure_server`, where its invariants are written down.
//!
//! `dhaga_fuzz::run` also bounds every allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dhaga_fuzz::run(data, dhaga_mq::fuzz::secure_server));

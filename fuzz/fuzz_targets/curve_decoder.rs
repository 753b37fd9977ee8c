//! Fuzz target `curve_decoder`: see `dhaga_mq::fuzz::curve_decoder`, where its invariants are written down.
//!
//! `dhaga_fuzz::run` also bounds every allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dhaga_fuzz::run(data, dhaga_mq::fuzz::curve_decoder));

//! Fuzz target `endpoint`: endpoint strings (`tcp://`, `ipc://`, `inproc://`).
//!
//! The invariants are `dhaga_mq::fuzz::endpoint`'s; `dhaga_fuzz::run` also bounds every allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dhaga_fuzz::run(data, dhaga_mq::fuzz::endpoint));

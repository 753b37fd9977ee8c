//! Fuzz target `command_subscribe`: the data of a SUBSCRIBE and of a CANCEL command.
//!
//! The invariants are `dhaga_mq::fuzz::command_subscribe`'s; `dhaga_fuzz::run` also bounds every allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dhaga_fuzz::run(data, dhaga_mq::fuzz::command_subscribe));

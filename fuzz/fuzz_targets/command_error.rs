//! Fuzz target `command_error`: the data of an ERROR command.
//!
//! The invariants are `dhaga_mq::fuzz::command_error`'s; `dhaga_fuzz::run` also bounds every allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dhaga_fuzz::run(data, dhaga_mq::fuzz::command_error));

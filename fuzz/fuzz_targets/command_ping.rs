//! Fuzz target `command_ping`: the data of a PING and of a PONG command.
//!
//! The invariants are `dhaga_mq::fuzz::command_ping`'s; `dhaga_fuzz::run` also bounds every allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dhaga_fuzz::run(data, dhaga_mq::fuzz::command_ping));

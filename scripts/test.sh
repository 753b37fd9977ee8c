#!/usr/bin/env bash
# The whole test suite: `scripts/test.sh` on a fresh clone installs what the
# tests need, then runs every test of the workspace (unit, integration, doc).
#
# The suite is built with the `ci` profile: optimised like a release build
# (the thread-local test must see what LLVM does to thread-local addresses
# there), with debug assertions and overflow checks kept on.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

cargo test --workspace --profile ci "$@"

# The runtime on `polling`'s poller, the one every platform but Linux and
# Android builds, so that path is tested here too (src/poller/mod.rs).
cargo test -p dhaga-runtime --profile ci --features portable-poller

# The fuzz targets' seed corpus and every reproducer kept in it, replayed on
# stable against the fuzz targets' invariants (fuzzing itself is
# scripts/fuzz.sh, not part of the suite).
cargo test -p dhaga-mq --profile ci --features fuzzing --lib fuzz

# CURVE with the `libsodium` feature (libsodium's XSalsa20-Poly1305 in place
# of RustCrypto's): the NaCl vectors, the codec, the wire captures and the
# libzmq interop again.
cargo test -p dhaga-mq --profile ci --features libsodium --lib zmtp
cargo test -p dhaga-mq --profile ci --features libsodium --test interop_secure --test interop_zap

# The comparison programs that link libzmq (built only with dhaga-benches'
# `libzmq` feature): their own unit tests, e.g. compare_mq's parsing and
# medians.
cargo test -p dhaga-benches --profile ci --features libzmq --bins

#!/usr/bin/env bash
# dhaga::mq against libzmq, side by side: builds libzmq's perf tools on both
# libraries (dhaga's examples local_thr, remote_thr, local_lat, remote_lat;
# libzmq's ports zmq_local_thr etc. in dhaga-benches) and runs
# benches/src/bin/compare_mq.rs, which prints the table: throughput and
# latency, each beside the CPU time per message or round trip of both
# processes (local+remote). The two processes of a pair run on disjoint
# halves of the CPUs this script may use. About two minutes.
# Arguments go to compare_mq (e.g. `--rounds 5`, `--only CURVE`, or
# `--no-pin` to let both sides share every CPU).
#
# dhaga's tools are built with the `libsodium` feature, so that the CURVE
# rows compare the same cryptography (libzmq uses libsodium too); without
# it, dhaga's CURVE is pure Rust and about a third as fast. Set
# DHAGA_FEATURES= (empty) to measure that build.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

features=${DHAGA_FEATURES-libsodium}
cargo build --release -p dhaga --features "$features" \
    --example local_thr --example remote_thr --example local_lat --example remote_lat
cargo build --release -p dhaga-benches --features libzmq --bin compare_mq \
    --bin zmq_local_thr --bin zmq_remote_thr --bin zmq_local_lat --bin zmq_remote_lat
target/release/compare_mq "$@"

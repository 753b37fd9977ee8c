#!/usr/bin/env bash
# dhaga::mq's publish-subscribe fan-out against libzmq's, side by side: one
# PUB to 1, 10 and 100 SUBs over tcp loopback, 64 B messages. Builds and runs
# benches/src/bin/compare_pubsub.rs, which prints the table (about 40 s).
# Arguments go to compare_pubsub (e.g. `--rounds 5`, `--seconds 3`).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

cargo build --release -p dhaga-benches --features libzmq --bin compare_pubsub
target/release/compare_pubsub "$@"

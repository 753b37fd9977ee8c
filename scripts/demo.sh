#!/usr/bin/env bash
# The main demonstration: the same echo server on micro-threads and on OS
# threads, side by side under the same load, measured as DESIGN.md's
# "Measuring" says (examples/compare/main.rs: server and load generator on
# separate CPUs, interleaved rounds, medians, CPU per round trip). Then the
# runtime's own side-by-side table against may, tokio and OS threads
# (benches/src/bin/compare_runtime.rs).
#
# Extra arguments go to `compare` (e.g. `scripts/demo.sh --peers` adds the
# same server on tokio and may). The table and chart are also written to
# target/demo/ (compare.csv, compare.svg).
set -euo pipefail
cd "$(dirname "$0")/.."

# It needs the Rust toolchain and nothing else: no libzmq, no pyzmq.

cargo build --release --examples
cargo build --release -p dhaga-benches --bins
mkdir -p target/demo
target/release/examples/compare --csv target/demo/compare.csv --chart target/demo/compare.svg "$@"
target/release/compare_runtime

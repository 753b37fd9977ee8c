#!/usr/bin/env bash
# The main demonstration: the same echo server on micro-threads and on OS
# threads, side by side under the same load, with the numbers
# (examples/compare.rs). Then the runtime's own side-by-side table against
# may, tokio and OS threads (benches/src/bin/compare_runtime.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

cargo build --release --examples
cargo build --release -p dhaga-benches --bins
target/release/examples/compare
target/release/compare_runtime

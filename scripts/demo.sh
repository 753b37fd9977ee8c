#!/usr/bin/env bash
# The main demonstration: dhaga side by side with OS threads, may and tokio,
# measured in one run on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

cargo run --release -p dhaga-benches --bin compare_runtime "$@"

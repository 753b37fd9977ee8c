#!/usr/bin/env bash
# Installs what the test suite and the demonstration need beyond the Rust
# toolchain. Idempotent: it skips what is already there.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo is required (install Rust with rustup)" >&2
    exit 1
fi

# Nothing else yet: the runtime needs only crates from crates.io. The mq
# interop tests will install libzmq (Debian's libzmq3-dev) and pyzmq here.

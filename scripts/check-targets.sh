#!/usr/bin/env bash
# Checks that the libraries compile for the other Unix systems dhaga
# supports (kqueue through `polling`): FreeBSD and macOS. Only `cargo
# check`: nothing runs there. Not part of CI (the targets' standard
# libraries are a download).
#
# Needs rustup to add the targets; says what to do when it cannot.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(x86_64-unknown-freebsd x86_64-apple-darwin)
if ! command -v rustup >/dev/null 2>&1; then
    echo "check-targets.sh: needs rustup to add ${targets[*]}; install the targets' standard" >&2
    echo "libraries by other means, or skip this check." >&2
    exit 2
fi
if ! rustup target add "${targets[@]}"; then
    echo "check-targets.sh: rustup could not add ${targets[*]} (is static.rust-lang.org" >&2
    echo "reachable?). Add them by hand with: rustup target add ${targets[*]}" >&2
    exit 2
fi
for target in "${targets[@]}"; do
    echo "== cargo check --target $target"
    CARGO_TARGET_DIR=target/check-targets cargo check --locked --lib --target "$target" \
        -p dhaga -p dhaga-runtime -p dhaga-net -p dhaga-mq
done

#!/usr/bin/env bash
# Checks that the published crates build with the minimum Rust version
# their manifests declare (`rust-version` in Cargo.toml's
# [workspace.package]): the libraries as a user's build compiles them, all
# their features but `libsodium` (a C build that adds nothing to check).
#
# Installs that toolchain with rustup (minimal profile) if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml | head -1)
if [[ -z $msrv ]]; then
    echo "msrv.sh: no rust-version in Cargo.toml's [workspace.package]" >&2
    exit 2
fi
if ! cargo "+$msrv" --version >/dev/null 2>&1; then
    if ! command -v rustup >/dev/null 2>&1; then
        echo "msrv.sh: Rust $msrv is not installed and there is no rustup to install it;" >&2
        echo "install Rust $msrv by other means, or skip this check." >&2
        exit 2
    fi
    echo "== installing Rust $msrv (rustup, minimal profile)"
    if ! rustup toolchain install "$msrv" --profile minimal; then
        echo "msrv.sh: rustup could not install Rust $msrv (is static.rust-lang.org" >&2
        echo "reachable?). Install it by hand with" >&2
        echo "    rustup toolchain install $msrv --profile minimal" >&2
        exit 2
    fi
fi
echo "== cargo +$msrv check (the published crates, Rust $msrv)"
CARGO_TARGET_DIR=target/msrv cargo "+$msrv" check --locked --lib \
    -p dhaga -p dhaga-runtime -p dhaga-net -p dhaga-mq --features dhaga/mq

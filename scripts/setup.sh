#!/usr/bin/env bash
# Installs what the test suite and the demonstration need beyond the Rust
# toolchain. Idempotent: it skips what is already there.
#
# - libzmq (Debian's libzmq3-dev, found through pkg-config): the real ZeroMQ
#   peer that dhaga-mq's interop tests and the mq benchmarks talk to, through
#   the `zmq` crate (a dev-dependency; it links the system library).
# - pyzmq (from PyPI; its wheel carries its own libzmq build): the second
#   real peer, run as separate processes by the interop tests.
# - a C compiler and make: the suite also runs CURVE with dhaga-mq's
#   `libsodium` feature, which builds libsodium from the source its crate
#   carries (and so do the mq benchmarks).
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo is required (install Rust with rustup)" >&2
    exit 1
fi

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! pkg-config --exists libzmq 2>/dev/null; then
    echo "setup: installing libzmq3-dev and pkg-config (Debian)"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -q libzmq3-dev pkg-config >/dev/null ||
        { as_root apt-get update -q >/dev/null && as_root apt-get install -y -q libzmq3-dev pkg-config >/dev/null; }
fi
echo "setup: libzmq $(pkg-config --modversion libzmq)"

if ! command -v cc >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
    echo "setup: installing a C compiler and make (Debian's build-essential)"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -q build-essential >/dev/null ||
        { as_root apt-get update -q >/dev/null && as_root apt-get install -y -q build-essential >/dev/null; }
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import zmq' 2>/dev/null; then
    echo "setup: installing pyzmq (PyPI)"
    "$PYTHON" -m pip install -q --disable-pip-version-check pyzmq 2>&1 | grep -v "Running pip as the 'root' user" || true
fi
"$PYTHON" -c 'import zmq; print("setup: pyzmq", zmq.__version__, "with libzmq", zmq.zmq_version())'

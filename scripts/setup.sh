#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain, and only
# what is missing (run it again: it changes nothing). The demonstration
# (scripts/demo.sh) needs none of it.
#
# - libzmq with its headers, found through pkg-config (Debian's
#   libzmq3-dev): the real ZeroMQ peer that dhaga-mq's interop tests and the
#   mq benchmarks talk to, through the `zmq` crate, which links it.
# - a C compiler and make: the suite also runs CURVE with dhaga-mq's
#   `libsodium` feature, which builds libsodium from the source its crate
#   carries (and so do the mq benchmarks).
# - pyzmq: the second real peer, run as separate processes by the interop
#   tests; from PyPI (its wheel carries its own libzmq), or Debian's
#   python3-zmq where pip may not install.
# - curl: the HTTP client the `stream_http` example's test serves.
#
# System packages come from apt-get, run directly as root or through sudo
# otherwise. Without apt-get (or without root and sudo) it says what to
# install and stops.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo is required: install Rust with rustup (https://rustup.rs)" >&2
    exit 1
fi

PYTHON=${PYTHON:-python3}

# The Debian packages that provide what is missing.
packages=()
if ! command -v pkg-config >/dev/null 2>&1; then
    packages+=(pkg-config)
fi
if ! pkg-config --exists libzmq 2>/dev/null; then
    packages+=(libzmq3-dev)
fi
if ! command -v cc >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
    packages+=(build-essential)
fi
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    packages+=(python3 python3-pip)
fi
if ! command -v curl >/dev/null 2>&1; then
    packages+=(curl)
fi

# Runs a command as root: directly, through sudo, or not at all (status 1).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        return 1
    fi
}

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -q "$@" >/dev/null ||
        { as_root apt-get update -q >/dev/null && as_root apt-get install -y -q "$@" >/dev/null; }
}

cannot_install() {
    local why=$1
    shift
    echo "setup: missing: $*" >&2
    echo "setup: this script installs them with apt-get as root or through sudo," >&2
    echo "       and $why. Install them with your system's package manager, e.g." >&2
    echo "         Debian/Ubuntu: apt-get install libzmq3-dev pkg-config build-essential python3-pip curl" >&2
    echo "         Fedora:        dnf install zeromq-devel pkgconf gcc make python3-pip curl" >&2
    echo "         Arch:          pacman -S zeromq pkgconf base-devel python-pip curl" >&2
    echo "         macOS:         brew install zeromq pkg-config curl" >&2
    echo "       then pyzmq: $PYTHON -m pip install pyzmq; and run this script again." >&2
    exit 1
}

if ((${#packages[@]} > 0)); then
    if ! command -v apt-get >/dev/null 2>&1; then
        cannot_install "there is no apt-get here" "${packages[@]}"
    fi
    if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
        cannot_install "you are not root and there is no sudo" "${packages[@]}"
    fi
    echo "setup: installing ${packages[*]} (apt-get)"
    apt_install "${packages[@]}"
fi
echo "setup: libzmq $(pkg-config --modversion libzmq)"

if ! "$PYTHON" -c 'import zmq' 2>/dev/null; then
    echo "setup: installing pyzmq (PyPI)"
    user=()
    if [ "$(id -u)" -ne 0 ]; then
        user=(--user)
    fi
    "$PYTHON" -m pip install -q --disable-pip-version-check "${user[@]}" pyzmq 2>&1 |
        grep -v "Running pip as the 'root' user" || true
    if ! "$PYTHON" -c 'import zmq' 2>/dev/null; then
        # pip refuses a system Python managed by the distribution (PEP 668):
        # Debian packages pyzmq itself.
        if command -v apt-get >/dev/null 2>&1 && as_root true 2>/dev/null; then
            echo "setup: pip could not install pyzmq; installing Debian's python3-zmq"
            apt_install python3-zmq
        else
            echo "setup: could not install pyzmq for $PYTHON; install it (e.g." >&2
            echo "       $PYTHON -m pip install pyzmq, in a virtual environment whose" >&2
            echo "       python PYTHON=... names) and run this script again." >&2
            exit 1
        fi
    fi
fi
"$PYTHON" -c 'import zmq; print("setup: pyzmq", zmq.__version__, "with libzmq", zmq.zmq_version())'

#!/usr/bin/env bash
# Hostile peers, by hand: an operator's (or an attacker's) probes rerun
# against a dhaga server and, as the control, the same server on libzmq
# (pyzmq), one after the other, and a table of what each server did.
#
#   scripts/hostile-probes.sh [probe ...]      (default: all, ~5 minutes)
#
# The server is the Lazy Pirate REP echo server: examples/lpserver.rs on
# dhaga and its twin scripts/netns/lpserver.py on pyzmq, each run with
# `tcp://127.0.0.1:<port> --reliable` (it answers at once and never fails)
# in its own process, started before and killed after each probe. Neither
# sets heartbeats; both answer a PING with a PONG anyway (RFC 37; libzmq
# always does). The attacker is scripts/probes/attack.py: raw TCP speaking
# ZMTP 3.1 by hand, with the measurements. Probes (a name or its number):
#   1 ping-flood         after a NULL handshake as a DEALER, 1 GiB of PING
#                        commands as fast as the server takes them, never
#                        reading its PONGs (gives up after 20 s)
#   2 ping-slow          the same, reading 4 KiB every 10 ms
#   3 huge-frame         a frame header announcing 2^62 bytes, then data;
#                        then one announcing 2^63-1
#   4 endless-multipart  16.7 million (2^24) empty frames with MORE set,
#                        then the attacker leaves
#   5 drip-greeting      20 connections sending their greeting one byte
#                        every 10 s (both stacks' handshake interval: 30 s)
#   6 fd-exhaust         140 connections dripping so, the server started
#                        under `ulimit -n 128`; when is a new client served?
# For each probe and server the table gives the server's VmRSS
# (/proc/<pid>/status) before the attack, at its peak and 2 s after the
# attacker left; whether a well-behaved pyzmq REQ client, connecting once
# the attacker is in, was served during the attack and its worst round trip
# (an unanswered request counts with its age); how and when the attacker's
# connection ended (times from the attack's start); and the CPU time the
# server used meanwhile (/proc/<pid>/stat: from before the attack to the
# "after" sample). What dhaga
# is expected to do: owe at most one PONG however many PINGs come (bounded
# memory), end a handshake that has not finished within its interval
# however slowly its bytes come, refuse at the header a frame larger than
# the machine's memory (RAM and swap), and, like libzmq, hold a multipart
# message of any length (no max_msg_size is set).
#
# The table goes to stdout and, with the servers' output and the results as
# JSON lines, to target/hostile-probes/<date-time>/. PYTHON (default
# python3) is the Python with pyzmq (scripts/setup.sh); PROBE_PORT (default
# 27100) the first of the ports used, one more for each server started.
#
# NOT part of the test suite or of CI: it floods and starves servers for
# minutes, needs a quiet machine for its times to mean anything, and its
# verdicts are read by a person, side by side with libzmq's.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
port=${PROBE_PORT:-27100}
all=(ping-flood ping-slow huge-frame endless-multipart drip-greeting fd-exhaust)

usage() {
    echo "usage: scripts/hostile-probes.sh [probe ...]" >&2
    echo "  probes: $(for i in "${!all[@]}"; do printf '%s %s  ' $((i + 1)) "${all[$i]}"; done)" >&2
    exit 2
}

probes=()
for arg in "$@"; do
    case $arg in
        -h | --help) usage ;;
        [1-6]) probes+=("${all[$((arg - 1))]}") ;;
        *)
            found=
            for name in "${all[@]}"; do [ "$name" = "$arg" ] && found=$name; done
            [ -n "$found" ] || usage
            probes+=("$found")
            ;;
    esac
done
[ ${#probes[@]} -gt 0 ] || probes=("${all[@]}")

"$PYTHON" -c 'import zmq' 2>/dev/null || {
    echo "hostile-probes: $PYTHON cannot import zmq (pyzmq): run scripts/setup.sh" >&2
    exit 1
}
echo "hostile-probes: building the dhaga lpserver (cargo build --release --example lpserver)"
cargo build --release -q --example lpserver
dhaga_server=target/release/examples/lpserver

out=target/hostile-probes/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
results=$out/results.jsonl
: >"$results"

server_pid=
stop_server() {
    [ -n "$server_pid" ] || return 0
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts server $1 (dhaga or libzmq) for probe $2 on $port, in the
# background; sets server_pid. Under `ulimit -n 128` for fd-exhaust: bash
# execs the server, so the pid is the server's.
start_server() {
    local server=$1 probe=$2 cmd
    local endpoint=tcp://127.0.0.1:$port
    case $server in
        dhaga) cmd=("$dhaga_server" "$endpoint" --reliable) ;;
        libzmq) cmd=("$PYTHON" -u scripts/netns/lpserver.py "$endpoint" --reliable) ;;
    esac
    local limit=unlimited
    [ "$probe" = fd-exhaust ] && limit=128
    if [ "$limit" = unlimited ]; then
        "${cmd[@]}" >"$out/$probe-$server.log" 2>&1 &
    else
        bash -c 'ulimit -n "$0"; exec "$@"' "$limit" "${cmd[@]}" >"$out/$probe-$server.log" 2>&1 &
    fi
    server_pid=$!
}

if rev=$(git rev-parse --short HEAD 2>/dev/null); then
    changed=$(git diff --name-only HEAD -- . | tr '\n' ' ')
    echo "hostile-probes: dhaga at $rev${changed:+, with uncommitted changes to: $changed}"
fi
echo "hostile-probes: ${probes[*]}; output in $out"
started=$SECONDS
for probe in "${probes[@]}"; do
    for server in dhaga libzmq; do
        port=$((port + 1))
        start_server "$server" "$probe"
        "$PYTHON" scripts/probes/attack.py run "$probe" --server "$server" --port "$port" \
            --pid "$server_pid" --results "$results" ||
            echo "hostile-probes: $probe on $server: the harness failed (see above)" >&2
        stop_server
    done
done

echo
echo "hostile-probes: $((SECONDS - started)) s; RSS in MiB (VmRSS); times from the attack's start"
echo
"$PYTHON" scripts/probes/attack.py table "$results" | tee "$out/table.md"

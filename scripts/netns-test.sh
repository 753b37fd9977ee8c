#!/usr/bin/env bash
# Across hosts, on one machine: dhaga's sockets and libzmq's (pyzmq) talking
# between two network namespaces over a link that delays, drops and then
# partitions their packets, in the same run, side by side.
#
# NOT part of the test suite or of CI: it needs root (network namespaces and
# TAP devices) and takes about a minute. Run it by hand:
#
#     sudo scripts/netns-test.sh [--seed N]
#
# The network: three namespaces the script makes and removes. A (10.77.0.1)
# holds the binding side of each pattern, B (10.77.0.2) the connecting side,
# and W the wire: scripts/netns/wire.py, a user-space process that owns one
# TAP device in A and one in B and carries Ethernet frames between them,
# delaying, dropping and partitioning them (no sch_netem or iptables needed;
# the kernel only needs TUN/TAP). The namespaces see nothing but each other.
#
# The traffic, each pattern once on dhaga (examples/) and once on pyzmq
# (scripts/netns/*.py, the same programs with the same command lines and
# output), all at once over the same wire:
#   REQ/REP    lpclient (B) -> lpserver --reliable (A): the Guide's Lazy
#              Pirate, a client that times out, closes its REQ, opens a new
#              one and retries, a bounded number of times
#   PUSH/PULL  seqsend push (B, connects) -> seqrecv pull (A, binds)
#   PUB/SUB    seqsend pub (A, binds) -> seqrecv sub (B, connects)
# seqsend numbers its messages, so seqrecv counts the lost, duplicated and
# reordered ones. Every socket on both stacks has the same heartbeats
# (1 s interval, 3 s timeout) and reconnect interval (100 ms, up to 2 s).
#
# The run: 3 s on a clean link; 10 s with 50 ms delay and 5 % loss each way;
# a 10 s partition; then the link heals (50 ms, 5 % again) for 15 s. Then the
# senders send END and stop. It asserts, for each stream, that traffic came
# back without restarting anything, within reconnect_ivl_max + the heartbeat
# timeout (5 s) of the heal; that nothing arrived twice or out of order; and
# that the Lazy Pirate client never abandoned. Loss is counted, not judged:
# ZeroMQ may lose messages when a connection breaks. Lost messages are
# counted against the sender's own count (a subscriber's from its first).
# Each dhaga receiver must also get the sender's closing END: dhaga closes a
# connection with TCP's orderly release, so its linger delivers everything.
# libzmq closes its TCP socket as soon as its queue is written, and a
# heartbeat arriving after that makes the kernel reset the connection and
# drop what it was still retransmitting; the wire logs every FIN and RST,
# and a libzmq END lost that way is noted and counted as lost, not failed.
# It prints a table and exits 1 if an assertion failed. Logs (every line
# time-stamped) are kept in target/netns-test/.
#
# One kernel setting is changed, inside the namespaces only: TCP's SYN
# retransmissions are made linear (net.ipv4.tcp_syn_linear_timeouts, Linux
# 6.7 and later), one a second, instead of doubling after the first four. A
# connect started during the partition otherwise sends its next SYN up to
# 8 s after the heal, and neither libzmq (whose ZMQ_CONNECT_TIMEOUT is off by
# default) nor dhaga control that: the run would time the kernel's backoff.
#
# Everything it made (namespaces, TAP devices, processes) is removed on every
# exit path, by an EXIT/INT/TERM trap.
#
# Environment: NETNS_TEST_BIN=<dir> runs dhaga examples built already (e.g.
# target/release/examples, when cargo is not on root's PATH) instead of
# building them; PYTHON (default python3) is the Python with pyzmq.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# --- settings ---------------------------------------------------------------
HB_IVL=1000 HB_TIMEOUT=3000          # heartbeats, ms
RECONNECT_IVL=100 RECONNECT_MAX=2000 # reconnect interval and its maximum, ms
DELAY=50 LOSS=5                      # the impairment, each way: ms and %
WARMUP=3 IMPAIRED=10 PARTITION=10 AFTER=15 # the phases, s
INTERVAL=20                          # ms between two numbered messages
LP_TIMEOUT=2000 LP_RETRIES=12        # Lazy Pirate: reply timeout (ms), tries
BOUND_MS=$((RECONNECT_MAX + HB_TIMEOUT))
SEND_SECONDS=$((WARMUP + IMPAIRED + PARTITION + AFTER))
RECV_SECONDS=$((SEND_SECONDS + 20))
ADDR_A=10.77.0.1 ADDR_B=10.77.0.2
PYTHON=${PYTHON:-python3}
SEED=

die() { echo "netns-test: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case $1 in
        --seed) SEED=${2:?--seed needs a number}; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) die "unknown argument $1 (usage: scripts/netns-test.sh [--seed N])" ;;
    esac
done

# --- what it needs ------------------------------------------------------------
[ -n "${EPOCHREALTIME:-}" ] || die "needs bash 5 or later (for \$EPOCHREALTIME)"
[ "$(id -u)" -eq 0 ] ||
    die "must run as root (network namespaces and TAP devices need CAP_NET_ADMIN): sudo $0"
for tool in ip sysctl mkfifo awk sed "$PYTHON"; do
    command -v "$tool" >/dev/null 2>&1 || die "needs '$tool', which is not on PATH"
done
[ -c /dev/net/tun ] || die "no /dev/net/tun: the kernel needs TUN/TAP (CONFIG_TUN, 'modprobe tun')"
"$PYTHON" -c 'import zmq' 2>/dev/null ||
    die "$PYTHON cannot import zmq (pyzmq): run scripts/setup.sh"

# --- cleanup, on every exit path ----------------------------------------------
TAG=dhaga-nt$$
NS_A=$TAG-a NS_B=$TAG-b NS_W=$TAG-w
NAMESPACES=()  # those made so far, in the order to empty them
LOGS=$ROOT/target/netns-test/$(date +%Y%m%d-%H%M%S)-$$
mkdir -p "$LOGS"
CTL=$LOGS/wire.ctl
PAUSE_PID=     # a pending pause's sleep

ns_pids() { ip netns pids "$1" 2>/dev/null || true; }

cleanup() {
    local status=$? ns pids
    trap - EXIT INT TERM
    set +e
    exec 9>&-
    [ -n "$PAUSE_PID" ] && kill "$PAUSE_PID" 2>/dev/null
    # Every process in our namespaces is ours: the programs, then the wire
    # (its TAP devices vanish with it).
    for ns in "${NAMESPACES[@]}"; do
        pids=$(ns_pids "$ns")
        # shellcheck disable=SC2086 # one word per process id
        [ -n "$pids" ] && kill -TERM $pids 2>/dev/null
    done
    for _ in $(seq 30); do
        pids=
        for ns in "${NAMESPACES[@]}"; do pids+=$(ns_pids "$ns"); done
        [ -z "$pids" ] && break
        sleep 0.1
    done
    for ns in "${NAMESPACES[@]}"; do
        pids=$(ns_pids "$ns")
        # shellcheck disable=SC2086 # one word per process id
        [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
    done
    # Each program's launcher now reaps it, logs its exit and ends, and its
    # time-stamper sees the end of its output: wait for them all.
    wait 2>/dev/null
    for ns in "${NAMESPACES[@]}"; do
        ip netns del "$ns" 2>/dev/null || echo "netns-test: could not delete namespace $ns" >&2
    done
    if ip netns list 2>/dev/null | grep -q "^$TAG-"; then
        echo "netns-test: namespaces left behind: $(ip netns list | grep "^$TAG-" | tr '\n' ' ')" >&2
        [ "$status" -eq 0 ] && status=1
    fi
    rm -f "$CTL"
    echo "netns-test: logs in ${LOGS#"$ROOT"/}"
    exit "$status"
}
trap cleanup EXIT
trap 'echo "netns-test: interrupted" >&2; exit 130' INT
trap 'echo "netns-test: terminated" >&2; exit 143' TERM

# --- the examples --------------------------------------------------------------
EXAMPLES=(lpclient lpserver seqsend seqrecv)
if [ -n "${NETNS_TEST_BIN:-}" ]; then
    BIN=$(cd "$NETNS_TEST_BIN" && pwd)
else
    command -v cargo >/dev/null 2>&1 ||
        die "needs cargo to build the examples (under sudo, build them first as yourself with" \
            "'cargo build --release --examples' and pass NETNS_TEST_BIN=target/release/examples)"
    echo "netns-test: building the examples (cargo build --release)"
    build=()
    for example in "${EXAMPLES[@]}"; do build+=(--example "$example"); done
    cargo build --release -q "${build[@]}"
    BIN=$ROOT/target/release/examples
fi
for example in "${EXAMPLES[@]}"; do
    [ -x "$BIN/$example" ] || die "no $BIN/$example (build the examples)"
done

# Sleeps in a way a signal interrupts at once.
pause() {
    sleep "$1" &
    PAUSE_PID=$!
    wait "$PAUSE_PID"
    PAUSE_PID=
}

# Prefixes each line read with the time it was read (Unix seconds).
# (Launchers and stampers outlive a TERM sent to the whole process group, as
# `timeout` sends, to reap their program and log its end; a handler, unlike
# an ignored signal, is not inherited by the program.)
stamp() {
    local line status
    trap true TERM
    while :; do
        IFS= read -r line && status=0 || status=$?
        [ "$status" -gt 128 ] && continue # a signal interrupted the read
        [ "$status" -eq 0 ] || [ -n "$line" ] || break
        printf '%s %s\n' "$EPOCHREALTIME" "$line"
        [ "$status" -eq 0 ] || break
    done
}

# launch <log-name> <namespace> <command...>: runs the command in the
# namespace, its output time-stamped into the log, then "exit <status>".
launch() {
    local name=$1 ns=$2
    shift 2
    {
        trap true TERM
        ip netns exec "$ns" "$@" </dev/null 9>&- && status=0 || status=$?
        echo "exit $status"
    } 9>&- 2>&1 | stamp >"$LOGS/$name.log" &
}

# ctl <command>: tells the wire.
ctl() { printf '%s\n' "$*" >&9; }

# --- the network ----------------------------------------------------------------
LC_ALL=C
export LC_ALL
echo "netns-test: namespaces $NS_A ($ADDR_A), $NS_B ($ADDR_B), $NS_W (the wire)"
for ns in "$NS_A" "$NS_B" "$NS_W"; do
    ip netns add "$ns" || die "cannot create network namespace $ns ('ip netns add' failed)"
    NAMESPACES=("$ns" "${NAMESPACES[@]}")
done
mkfifo "$CTL"
exec 9<>"$CTL"
ip netns exec "$NS_W" "$PYTHON" scripts/netns/wire.py tap-a tap-b "$CTL" ${SEED:+--seed "$SEED"} \
    </dev/null >"$LOGS/wire.log" 2>&1 9>&- &
for _ in $(seq 50); do
    grep -q ready "$LOGS/wire.log" 2>/dev/null && break
    [ -n "$(ns_pids "$NS_W")" ] || die "wire.py ended at start: $(cat "$LOGS/wire.log")"
    pause 0.1
done
grep -q ready "$LOGS/wire.log" || die "wire.py did not start in 5 s: $(cat "$LOGS/wire.log")"
echo "netns-test: the wire's $(grep -o 'seed [0-9]*' "$LOGS/wire.log") (--seed repeats its drops)"
configure() { # <namespace> <tap> <address>
    ip -n "$NS_W" link set "$2" netns "$1"
    ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1"
    ip -n "$1" addr add "$3/24" dev "$2"
    ip -n "$1" link set lo up
    ip -n "$1" link set "$2" up
    if ip netns exec "$1" sysctl -q net.ipv4.tcp_syn_linear_timeouts >/dev/null 2>&1; then
        ip netns exec "$1" sysctl -qw net.ipv4.tcp_syn_linear_timeouts=6
    fi
}
configure "$NS_A" tap-a "$ADDR_A"
configure "$NS_B" tap-b "$ADDR_B"

# --- the traffic ----------------------------------------------------------------
HB=$HB_IVL:$HB_TIMEOUT
RC=$RECONNECT_IVL:$RECONNECT_MAX
PY=("$PYTHON" -u)
# Binding side, in A.
launch lpserver-dhaga "$NS_A" "$BIN/lpserver" "tcp://$ADDR_A:5555" --reliable --heartbeat "$HB"
launch lpserver-libzmq "$NS_A" "${PY[@]}" scripts/netns/lpserver.py "tcp://$ADDR_A:6555" --reliable --heartbeat "$HB"
launch pull-dhaga "$NS_A" "$BIN/seqrecv" pull "@tcp://$ADDR_A:5557" "$RECV_SECONDS" --heartbeat "$HB" --reconnect "$RC"
launch pull-libzmq "$NS_A" "${PY[@]}" scripts/netns/seqrecv.py pull "@tcp://$ADDR_A:6557" "$RECV_SECONDS" --heartbeat "$HB" --reconnect "$RC"
launch pub-dhaga "$NS_A" "$BIN/seqsend" pub "@tcp://$ADDR_A:5556" "$SEND_SECONDS" "$INTERVAL" --heartbeat "$HB" --reconnect "$RC"
launch pub-libzmq "$NS_A" "${PY[@]}" scripts/netns/seqsend.py pub "@tcp://$ADDR_A:6556" "$SEND_SECONDS" "$INTERVAL" --heartbeat "$HB" --reconnect "$RC"
pause 0.3
# Connecting side, in B.
LP=(--timeout "$LP_TIMEOUT" --retries "$LP_RETRIES" --seconds "$SEND_SECONDS" --heartbeat "$HB")
launch lpclient-dhaga "$NS_B" "$BIN/lpclient" "tcp://$ADDR_A:5555" "${LP[@]}"
launch lpclient-libzmq "$NS_B" "${PY[@]}" scripts/netns/lpclient.py "tcp://$ADDR_A:6555" "${LP[@]}"
launch push-dhaga "$NS_B" "$BIN/seqsend" push ">tcp://$ADDR_A:5557" "$SEND_SECONDS" "$INTERVAL" --heartbeat "$HB" --reconnect "$RC"
launch push-libzmq "$NS_B" "${PY[@]}" scripts/netns/seqsend.py push ">tcp://$ADDR_A:6557" "$SEND_SECONDS" "$INTERVAL" --heartbeat "$HB" --reconnect "$RC"
launch sub-dhaga "$NS_B" "$BIN/seqrecv" sub ">tcp://$ADDR_A:5556" "$RECV_SECONDS" --heartbeat "$HB" --reconnect "$RC"
launch sub-libzmq "$NS_B" "${PY[@]}" scripts/netns/seqrecv.py sub ">tcp://$ADDR_A:6556" "$RECV_SECONDS" --heartbeat "$HB" --reconnect "$RC"

STACKS=(dhaga libzmq)
RECEIVERS=(lpclient pull sub) # the logs that show traffic arriving

# --- the phases -----------------------------------------------------------------
echo "netns-test: ${WARMUP} s clean"
pause "$WARMUP"
for who in "${RECEIVERS[@]}"; do
    for stack in "${STACKS[@]}"; do
        grep -Eq ' (first [0-9]|I: server replied OK)' "$LOGS/$who-$stack.log" ||
            die "over a clean link, $who-$stack received nothing in ${WARMUP} s (the setup is broken):" \
                "$(tail -5 "$LOGS/$who-$stack.log")"
    done
done
echo "netns-test: ${IMPAIRED} s with ${DELAY} ms delay and ${LOSS} % loss each way"
ctl delay "$DELAY"
ctl loss "$LOSS"
pause "$IMPAIRED"
echo "netns-test: ${PARTITION} s partitioned"
ctl partition
pause "$PARTITION"
ctl heal
HEAL=$EPOCHREALTIME
echo "netns-test: healed (${DELAY} ms, ${LOSS} %); ${AFTER} s more, then END"
pause 0.5
HEAL=$(awk '$2 == "heal" { print $1; exit }' "$LOGS/wire.log" | grep . || echo "$HEAL")
[ -n "$(ns_pids "$NS_W")" ] || die "the wire died: $(tail -5 "$LOGS/wire.log")"

# Wait for every finite program (all but the servers) to print its exit.
FINITE=(lpclient-dhaga lpclient-libzmq push-dhaga push-libzmq pub-dhaga pub-libzmq
        pull-dhaga pull-libzmq sub-dhaga sub-libzmq)
deadline=$((SECONDS + AFTER + RECV_SECONDS - SEND_SECONDS + 15))
while [ $SECONDS -lt $deadline ]; do
    left=0
    for name in "${FINITE[@]}"; do grep -q ' exit [0-9]' "$LOGS/$name.log" || left=1; done
    [ $left -eq 0 ] && break
    pause 0.5
done
ctl stats
pause 0.2

# --- the verdict ----------------------------------------------------------------
FAILURES=()
fail() { FAILURES+=("$*"); }

# The seconds from the heal to the first line of <log> matching <regex>
# stamped after it; empty if there is none.
recovered() {
    awk -v heal="$HEAL" -v re="$2" '$1 >= heal && $0 ~ re { printf "%.2f", $1 - heal; exit }' "$LOGS/$1.log"
}
field() { # <log> <name>: the summary's name=value
    sed -n "s/.* summary .*\b$2=\([^ ]*\).*/\1/p" "$LOGS/$1.log" | tail -1
}
exit_status() { sed -n 's/^[0-9.]* exit \([0-9]*\)$/\1/p' "$LOGS/$1.log" | tail -1; }

check_recovery() { # <stream> <seconds>
    if [ -z "$2" ]; then
        fail "$1: no traffic after the heal"
    elif awk -v r="$2" -v b="$BOUND_MS" 'BEGIN { exit !(r * 1000 > b) }'; then
        fail "$1: traffic came back $2 s after the heal, later than reconnect_ivl_max + heartbeat timeout ($((BOUND_MS / 1000)) s)"
    fi
}

ROWS=()
row() { ROWS+=("$(printf '%-10s %-7s %9s %7s %8s %6s %10s %9s' "$@")"); }
row pattern stack recovery sent received lost duplicated reordered

for stack in "${STACKS[@]}"; do
    log=lpclient-$stack
    rec=$(recovered "$log" 'I: server replied OK')
    tally=$(sed -n 's/.*I: \([0-9]*\) requests, \([0-9]*\) replies, \([0-9]*\) retries, \([0-9]*\) malformed/\1 \2 \3 \4/p' "$LOGS/$log.log" | tail -1)
    read -r requests replies retries malformed <<<"${tally:-- - - -}"
    row REQ/REP "$stack" "${rec:+$rec s}" "$requests" "$replies" "$retries" "$malformed" -
    check_recovery "REQ/REP $stack" "$rec"
    grep -q 'abandoning' "$LOGS/$log.log" && fail "REQ/REP $stack: the Lazy Pirate client abandoned"
    [ "$malformed" = 0 ] || fail "REQ/REP $stack: $malformed malformed replies"
    [ "$(exit_status "$log")" = 0 ] || fail "REQ/REP $stack: lpclient exited with $(exit_status "$log")"
done
# reset_at_close <sender-side address:port> <receiver-side address:port>:
# whether the wire saw the sender's side of that connection send a RST after
# its last FIN (an application that closes its TCP socket while the peer's
# segments still arrive has the kernel reset the connection, discarding
# what it had not yet delivered). An empty address matches any.
reset_at_close() {
    awk -v src="$1" -v dst="$2" '
        function mine() { return (src == "" || $4 == src || index($4, src ":") == 1) &&
                                 (dst == "" || $6 == dst) }
        $3 == "FIN" && mine() { flow = $4 " " $6; reset = 0 }
        $3 == "RST" && flow != "" && $4 " " $6 == flow { reset = 1 }
        END { exit !reset }' "$LOGS/wire.log"
}

NOTES=()
for pattern in PUSH/PULL PUB/SUB; do
    case $pattern in
        PUSH/PULL) sender=push receiver=pull ;;
        PUB/SUB) sender=pub receiver=sub ;;
    esac
    for stack in "${STACKS[@]}"; do
        log=$receiver-$stack
        case $stack/$pattern in
            dhaga/PUSH/PULL) flow=("$ADDR_B" "$ADDR_A:5557") ;;
            libzmq/PUSH/PULL) flow=("$ADDR_B" "$ADDR_A:6557") ;;
            dhaga/PUB/SUB) flow=("$ADDR_A:5556" "") ;;
            libzmq/PUB/SUB) flow=("$ADDR_A:6556" "") ;;
        esac
        rec=$(recovered "$log" ' (resume after|first) ')
        sent=$(sed -n 's/^[0-9.]* sent \([0-9]*\)$/\1/p' "$LOGS/$sender-$stack.log" | tail -1)
        first=$(field "$log" first) distinct=$(field "$log" distinct)
        dup=$(field "$log" duplicated) reord=$(field "$log" reordered)
        # Lost: counted against the sender's own count, so that messages
        # lost with a missing END count too. A PUSH queues from the start,
        # so all of its numbers count; a subscriber's from its first.
        lost=
        if [ -n "$sent" ] && [ -n "$distinct" ]; then
            from=0
            [ "$pattern" = PUB/SUB ] && [ "$first" != - ] && from=${first:-0}
            lost=$((sent - from - distinct))
            [ "$lost" -ge 0 ] || lost=0
        fi
        row "$pattern" "$stack" "${rec:+$rec s}" "${sent:--}" "${distinct:--}" "${lost:--}" "${dup:--}" "${reord:--}"
        check_recovery "$pattern $stack" "$rec"
        [ "$dup" = 0 ] || fail "$pattern $stack: ${dup:-?} messages duplicated"
        [ "$reord" = 0 ] || fail "$pattern $stack: ${reord:-?} messages reordered"
        if [ "$(field "$log" end)" != yes ]; then
            last=$(field "$log" last)
            if [ -n "$sent" ] && [ -n "$last" ] && [ "$last" != - ] && [ "$((sent - 1 - last))" -gt 0 ]; then
                missing="END and the last $((sent - 1 - last)) messages"
            else
                missing="END"
            fi
            if [ "$stack" = libzmq ] && reset_at_close "${flow[@]}"; then
                # libzmq closes its TCP socket once its queue is written;
                # a heartbeat arriving afterwards makes the kernel reset the
                # connection and drop what was still being retransmitted.
                # The control's own behaviour: noted and counted as lost.
                NOTES+=("$pattern $stack: $missing never arrived: $sender's close reset the connection (a RST after its FIN) before delivery; counted as lost")
            elif reset_at_close "${flow[@]}"; then
                fail "$pattern $stack: the receiver never got END ($missing lost): $sender's close reset the connection (a RST after its FIN)"
            else
                fail "$pattern $stack: the receiver never got END ($missing lost)"
            fi
        fi
        [ "$(exit_status "$sender-$stack")" = 0 ] || fail "$pattern $stack: $sender exited with $(exit_status "$sender-$stack")"
        [ "$(exit_status "$log")" = 0 ] || fail "$pattern $stack: $receiver exited with $(exit_status "$log")"
    done
done

echo
printf '%s\n' "${ROWS[@]}"
echo "(recovery: from the heal to the first reply or message after it, bound $((BOUND_MS / 1000)) s;"
echo " REQ/REP: sent = requests, received = replies, lost = requests retried after a timeout,"
echo " duplicated = malformed replies; PUSH/PULL, PUB/SUB: lost = numbers sent that never came,"
echo " a subscriber's counted from the first it received)"
echo "wire: $(awk '/ carried [0-9]/ && n++ < 2 { $1 = ""; printf "%s;", $0 }' "$LOGS/wire.log" | tail -c +2)"
[ ${#NOTES[@]} -eq 0 ] || printf 'note: %s\n' "${NOTES[@]}"
echo
if [ ${#FAILURES[@]} -gt 0 ]; then
    printf 'netns-test: FAILED: %s\n' "${FAILURES[@]}" >&2
    exit 1
fi
echo "netns-test: passed: every stream came back within $((BOUND_MS / 1000)) s of the heal, nothing duplicated or reordered"

#!/usr/bin/env bash
# Soak: runs two servers under steady load for a long time and watches
# whether their memory or file descriptors grow.
#
#   scripts/soak.sh [minutes]        (default 30)
#
# For the given minutes, at the same time:
#  1. the `echo` example (a micro-thread per connection) under SOAK_CONNECTIONS
#     (1,000) connections from `echo_load`, each doing SOAK_SIZE-byte (64)
#     round trips as fast as the server answers. `echo_load` keeps every
#     latency in memory, so it runs in rounds of SOAK_ROUND seconds (60): the
#     server also sees 1,000 connections close and 1,000 open every round.
#  2. `router_soak --role server`, a ROUTER sending every message back to its
#     sender, and `router_soak --role clients`: SOAK_DEALERS (1,000) DEALERs
#     in one process doing SOAK_SIZE-byte round trips, each DEALER replacing
#     its socket (a new connection, a new peer for the ROUTER) every
#     SOAK_ROUND seconds, spread evenly: about 17 new peers a second.
# The servers run on the first half of the CPUs and the load on the other
# half (taskset; unpinned, with a note, where taskset is missing or there is
# one CPU). Every 10 s it samples VmRSS (/proc/<pid>/status) and the open
# descriptors (/proc/<pid>/fd) of the three long-lived processes: the echo
# server, the ROUTER server and the DEALERs' process (echo_load restarts every
# round, so it is not watched). The samples go to
# target/soak/<date-time>/samples.csv, the programs' output beside them; at
# the end a table gives each measure's first, min, max and last sample and its
# drift: the median of the last quarter of the samples minus the median of
# the first quarter, once warm: the samples of the first SOAK_WARM_ROUNDS (4)
# rounds are left out when at least 12 remain (quarters of three, see below
# on medians). The DEALERs' process grows by about 4 MiB once, while its
# DEALERs replace their sockets for the first time (between 140 and 230 s
# into the runs of Dec 5, flat after); with that step inside the first
# quarter, a 10-minute run's drift came within 2 % of the tolerance without
# any leak.
#
# Exits 1 if a watched process died, or if a drift is over its tolerance:
#  - RSS: 10 % of the first quarter's median, and at least 4 MiB. Once warm,
#    these processes do the same work all the time with the same number of
#    connections, so what they allocate is freed; what can still move RSS
#    without a leak is bounded by a peak, not by time (malloc's per-thread
#    arenas keep their high-water mark, the stack pool keeps as many stacks
#    as were once in use at the same time). A leak grows with time: in 30
#    minutes the two quarters' medians are 22½ minutes apart, over which a
#    leak of one byte per round trip (~20,000/s per server on a small
#    machine) or 1 KiB per connection (~30,000 connections) is over 20 MiB.
#  - fds: 2 % of the first quarter's median, and at least 10. The counts
#    move only while connections come and go (a sample can fall between a
#    close and an open); a descriptor leak grows with every connection.
# The median of a quarter, not one sample, so that a sample taken between two
# echo_load rounds (when the echo server has no connections) does not count.
# Two minutes is enough to check that the whole thing works; only a long run
# says much about leaks.
#
# Not part of the test suite or CI: it takes half an hour, and its verdict
# is about the product's behaviour over time, not about a change.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${1:-30}
if ! [[ $minutes =~ ^[0-9]+$ && $minutes -gt 0 ]]; then
    echo "usage: scripts/soak.sh [minutes]   (default 30)" >&2
    exit 2
fi
connections=${SOAK_CONNECTIONS:-1000}
dealers=${SOAK_DEALERS:-1000}
size=${SOAK_SIZE:-64}
round=${SOAK_ROUND:-60}
interval=10
duration=$((minutes * 60))

# A descriptor per connection in each process, and some to spare. echo_load
# and router_soak's clients raise their own limit; the servers (echo,
# router_soak --role server) have this shell's.
need=$(((connections > dealers ? connections : dealers) + 256))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fi
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    echo "soak: $need file descriptors are needed per process and the limit is $(ulimit -n)" >&2
    exit 1
fi

cargo build --release --example echo --example echo_load --example router_soak
out=target/soak/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out/bin"
# Run copies: a rebuild during the soak must not change what runs.
for program in echo echo_load router_soak; do
    cp "target/release/examples/$program" "$out/bin/"
done

# CPU placement: servers on the first half, load on the rest.
cpus=$(nproc)
if command -v taskset >/dev/null 2>&1 && [ "$cpus" -ge 2 ]; then
    half=$((cpus / 2))
    server_cpus=0
    [ "$half" -eq 1 ] || server_cpus="0-$((half - 1))"
    load_cpus=$half
    [ $((cpus - half)) -eq 1 ] || load_cpus="$half-$((cpus - 1))"
    on_servers=(taskset -c "$server_cpus")
    on_load=(taskset -c "$load_cpus")
    placement="servers on CPUs $server_cpus, load on CPUs $load_cpus"
else
    on_servers=()
    on_load=()
    placement="unpinned (taskset missing or a single CPU): servers and load share the CPUs"
fi

pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 0.5
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts a server in the background, waits for its "listening on <address>"
# line, and sets the variable named first to the address, `server_pid` to
# its process id.
start_server() {
    local var=$1 log=$2
    shift 2
    "$@" >"$log" 2>&1 &
    server_pid=$!
    pids+=("$server_pid")
    local pid=$server_pid tries=0
    until grep -q '^listening on ' "$log"; do
        if ! kill -0 "$pid" 2>/dev/null || [ $tries -ge 100 ]; then
            echo "soak: $* did not start:" >&2
            cat "$log" >&2
            exit 1
        fi
        sleep 0.1
        tries=$((tries + 1))
    done
    printf -v "$var" '%s' "$(sed -n 's/^listening on \([^ ]*\).*/\1/p' "$log" | head -1)"
}

{
    echo "soak: $minutes min, started $(date -Is)"
    echo "commit: $(git rev-parse --short HEAD)"
    git status --short -- runtime net mq src examples | sed 's/^/  uncommitted: /'

    echo "machine: $cpus CPUs, $(uptime | sed 's/.*load average/load average/')"
    echo "placement: $placement"
    echo "echo: $connections connections from echo_load, $size-byte round trips, rounds of $round s"
    echo "router_soak: $dealers DEALERs, $size-byte round trips, each reconnecting every $round s"
} | tee "$out/run.txt"

start_server echo_addr "$out/echo.log" "${on_servers[@]}" "$out/bin/echo" 127.0.0.1:0
echo_pid=$server_pid
start_server router_endpoint "$out/router.log" "${on_servers[@]}" "$out/bin/router_soak" --role server 'tcp://127.0.0.1:*'
router_pid=$server_pid

start=$(date +%s)
end=$((start + duration))
# The DEALERs run a little past the last sample, which must find them.
"${on_load[@]}" "$out/bin/router_soak" --role clients "$router_endpoint" "$dealers" $((duration + 15)) "$size" \
    --reconnect "$round" >"$out/dealers.log" 2>&1 &
pids+=($!)
dealers_pid=$!

# Starts an echo_load round of at most $round seconds, if time is left.
load_pid=
next_round() {
    local left=$((end - $(date +%s)))
    [ "$left" -ge 2 ] || return 0
    "${on_load[@]}" "$out/bin/echo_load" "$echo_addr" "$connections" $((left < round ? left : round)) "$size" \
        >>"$out/echo_load.log" 2>&1 &
    load_pid=$!
    pids+=("$load_pid")
}
next_round

echo "elapsed_s,echo_rss_kib,echo_fds,router_rss_kib,router_fds,dealers_rss_kib,dealers_fds" >"$out/samples.csv"
# Prints "<rss KiB>,<fds>" for a process, or fails if it is gone.
sample() {
    local rss fds
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
    [ -n "$rss" ] || return 1
    fds=$(ls "/proc/$1/fd" 2>/dev/null | wc -l) || return 1
    echo "$rss,$fds"
}

died=
next_sample=$((start + interval))
echo "soak: sampling every $interval s until $(date -d "@$end" +%T); samples in $out/samples.csv"
while [ "$(date +%s)" -lt "$end" ] || [ "$next_sample" -le "$end" ]; do
    sleep 1
    now=$(date +%s)
    if [ -n "$load_pid" ] && ! kill -0 "$load_pid" 2>/dev/null; then
        wait "$load_pid" || echo "soak: an echo_load round failed (see $out/echo_load.log)"
        load_pid=
        next_round
    fi
    if [ "$now" -ge "$next_sample" ]; then
        row=$((next_sample - start))
        for name in echo router dealers; do
            pid_var=${name}_pid
            if ! s=$(sample "${!pid_var}"); then
                died="$name (pid ${!pid_var}) exited after $((now - start)) s"
                break 2
            fi
            row="$row,$s"
        done
        echo "$row" >>"$out/samples.csv"
        if [ $(((next_sample - start) % 300)) -eq 0 ]; then
            echo "soak: $(((next_sample - start) / 60)) min: $row"
        fi
        next_sample=$((next_sample + interval))
    fi
done

# Let the last rounds print their results, then stop everything.
for pid in "$dealers_pid" $load_pid; do
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
done
echo "machine at the end: $(uptime | sed 's/.*load average/load average/')" | tee -a "$out/run.txt"
cleanup
pids=()

echo
echo "load, as the load generators saw it:"
echo "  echo_load rounds: $(grep -c '^round_trips_per_sec=' "$out/echo_load.log" || true)," \
    "round trips/s per round: $(sed -n 's/^round_trips_per_sec=\([0-9]*\).*/\1/p' "$out/echo_load.log" | tr '\n' ' ')"
echo "  echo_load errors per round: $(sed -n 's/.* errors=\([0-9]*\).*/\1/p' "$out/echo_load.log" | tr '\n' ' ')"
echo "  DEALERs: $(grep '^round_trips_per_sec=' "$out/dealers.log" || echo "no summary (see $out/dealers.log)")"
echo

status=0
python3 - "$out/samples.csv" "$((round * ${SOAK_WARM_ROUNDS:-4}))" <<'EOF' || status=1
import csv, statistics, sys

rows = list(csv.DictReader(open(sys.argv[1])))
sampled = len(rows)
warm_s = int(sys.argv[2])
warm = [row for row in rows if int(row["elapsed_s"]) > warm_s]
# Quarters of at least three samples (see the medians above).
if len(warm) >= 12:
    rows = warm
    judged = f"the {len(warm)} after the first {warm_s} s (warm-up)"
else:
    judged = f"all of them (too few after a warm-up of {warm_s} s to leave it out)"
if len(rows) < 4:
    print(f"only {len(rows)} samples: too few to judge a drift")
    sys.exit(1)
quarter = len(rows) // 4
MIB = 1024
failed = False
print(f"{sampled} samples, every 10 s; judged: {judged}")
print(f"drift = median of the last {quarter} minus median of the first {quarter}")
print(f"{'process':8} {'measure':8} {'first':>9} {'min':>9} {'max':>9} {'last':>9} {'drift':>17} {'tolerance':>10}")
for process in ("echo", "router", "dealers"):
    for measure, unit in (("rss_kib", "RSS KiB"), ("fds", "fds")):
        values = [int(row[f"{process}_{measure}"]) for row in rows]
        early = statistics.median(values[:quarter])
        late = statistics.median(values[-quarter:])
        drift = late - early
        if measure == "rss_kib":
            tolerance = max(0.10 * early, 4 * MIB)
        else:
            tolerance = max(0.02 * early, 10)
        over = drift > tolerance
        failed |= over
        percent = f"{100 * drift / early:+.1f}%" if early else "n/a"
        print(
            f"{process:8} {unit:8} {values[0]:>9} {min(values):>9} {max(values):>9} {values[-1]:>9}"
            f" {drift:>+9.0f} ({percent:>6}) {tolerance:>10.0f}" + ("  GREW" if over else "")
        )
sys.exit(1 if failed else 0)
EOF
if [ -n "$died" ]; then
    echo "soak: $died; its output is in $out" >&2
    status=1
fi
if [ "$status" -ne 0 ]; then
    echo "soak: FAILED (samples and logs in $out)"
else
    echo "soak: no growth beyond the tolerances (samples and logs in $out)"
fi
exit "$status"

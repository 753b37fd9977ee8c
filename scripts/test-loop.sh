#!/usr/bin/env bash
# Runs the whole test suite N times in a row and prints which tests failed
# and how often: the way to find a test that fails one run in ten.
#
#   scripts/test-loop.sh N [--load] [-- extra `cargo test` arguments]
#
# --load   runs a CPU hog on every core beside the suite (at the same
#          priority), so that timing assumptions in tests show up.
#
# Each run is `cargo test --workspace --profile ci --no-fail-fast`, the same
# build `scripts/test.sh` runs, built once before the first run. A run that
# has not ended after $RUN_LIMIT seconds (default 1800) is killed and counted
# as hung in the test binary it was running. The log of every failed run is
# kept in target/test-loop/. Exits 1 if any run failed.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    echo "usage: scripts/test-loop.sh N [--load] [-- cargo test arguments]" >&2
    exit 2
}

[ $# -ge 1 ] || usage
runs=$1
shift
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || usage
load=0
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --load) load=1 ;;
        --) shift; extra=("$@"); break ;;
        *) usage ;;
    esac
    shift
done
run_limit=${RUN_LIMIT:-1800}

scripts/setup.sh

out=target/test-loop
rm -rf "$out"
mkdir -p "$out"

# Which package each test binary belongs to (several packages have a
# tests/<name>.rs of the same name), read from cargo's build messages.
echo "test-loop: building the suite"
cargo test --workspace --profile ci --no-run --message-format=json "${extra[@]}" >"$out/build.json"
python3 - "$out/build.json" >"$out/binaries" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        package = m["package_id"].split("#")[-1].split("@")[0].split("/")[-1]
        kind = m["target"]["kind"][0]
        name = m["target"]["name"] if kind != "lib" else "lib"
        print(m["executable"].rsplit("/", 1)[-1], f"{package}/{kind}/{name}")
EOF

hogs=()
stop_hogs() {
    for pid in "${hogs[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_hogs EXIT
if [ "$load" = 1 ]; then
    for _ in $(seq "$(nproc)"); do
        (while :; do :; done) &
        hogs+=($!)
    done
    echo "test-loop: $runs runs, with a CPU hog on each of $(nproc) CPUs"
else
    echo "test-loop: $runs runs"
fi

# Reads one run's log and prints one line per failure: "<binary> <test>".
failures_of() {
    awk -v binaries="$out/binaries" '
        BEGIN {
            while ((getline line < binaries) > 0) {
                split(line, f, " ")
                name[f[1]] = f[2]
            }
        }
        # "     Running tests/tcp.rs (target/ci/deps/tcp-0123abcd)"
        /^ +Running / {
            bin = $NF
            gsub(/[()]/, "", bin)
            sub(/.*\//, "", bin)
            current = (bin in name) ? name[bin] : bin
            reported[current] = 0
            next
        }
        /^ +Doc-tests / { current = "doc/" $2; reported[current] = 0; next }
        /^test .* \.\.\. FAILED$/ {
            sub(/^test /, ""); sub(/ \.\.\. FAILED$/, "")
            print current, $0
            reported[current]++
            next
        }
        /has been running for over 60 seconds/ { slow[current] = slow[current] " " $2 }
        # A binary that died without reporting a failed test (a signal, an
        # abort): cargo names it after the fact.
        /^error: test failed, to rerun pass/ || /process didn.t exit successfully/ {
            if (current != "" && reported[current] == 0) {
                print current, "(the test binary itself failed: see the log)"
                reported[current] = 1
            }
        }
        END {
            if (ENVIRON["RUN_HUNG"] == "1") print current, "(hung: the run was killed;" (slow[current] ? " running:" slow[current] : "") ")"
        }
    ' "$1"
}

total_failed=0
: >"$out/failures"
for i in $(seq "$runs"); do
    log=$(printf '%s/run-%02d.log' "$out" "$i")
    start=$(date +%s)
    rc=0
    timeout --kill-after=10 "$run_limit" \
        cargo test --workspace --profile ci --no-fail-fast "${extra[@]}" >"$log" 2>&1 || rc=$?
    took=$(( $(date +%s) - start ))
    hung=0
    [ "$rc" = 124 ] || [ "$rc" = 137 ] && hung=1
    passed=$(awk '/^test result:/ { n += $4 } END { print n + 0 }' "$log")
    if [ "$rc" = 0 ]; then
        printf 'run %2d/%d: ok      %4d s  %d tests passed\n' "$i" "$runs" "$took" "$passed"
        rm -f "$log"
        continue
    fi
    total_failed=$((total_failed + 1))
    found=$(RUN_HUNG=$hung failures_of "$log" | sort -u)
    [ -n "$found" ] || found="(unknown) (cargo exited with $rc: see the log)"
    printf '%s\n' "$found" | sed "s/^/$i /" >>"$out/failures"
    printf 'run %2d/%d: FAILED  %4d s  %s\n' "$i" "$runs" "$took" "$log"
    printf '%s\n' "$found" | sed 's/^/          /'
done

echo
if [ "$total_failed" = 0 ]; then
    echo "test-loop: $runs of $runs runs passed$([ "$load" = 1 ] && echo ", under load")"
    exit 0
fi
echo "test-loop: $total_failed of $runs runs failed$([ "$load" = 1 ] && echo ", under load")"
echo
printf '%-6s  %-40s  %s\n' "failed" "test binary" "test"
cut -d' ' -f2- "$out/failures" | sort | uniq -c | sort -rn |
    awk -v runs="$runs" '{ n = $1; bin = $2; $1 = ""; $2 = ""; sub(/^  /, ""); printf "%2d/%-3d  %-40s  %s\n", n, runs, bin, $0 }'
exit 1

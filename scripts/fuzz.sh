#!/usr/bin/env bash
# Fuzzes the ZMTP codec (frame decoder, greeting, commands, metadata, NULL
# handshake) and endpoint parsing with cargo-fuzz (libFuzzer):
#
#   scripts/fuzz.sh [seconds-per-target] [target ...]
#
# Runs every target (or the ones named) for the given seconds, default 60,
# FUZZ_JOBS at a time (default 1; one per CPU at most is useful), and prints
# per target the runs, libFuzzer's final coverage (cov: edges, ft: features)
# and the crashes found. Exits non-zero if any target crashed, printing the
# reproducer's path and the commands to replay and minimise it.
#
# Not part of the test suite or CI: cargo-fuzz needs the nightly toolchain,
# and a useful run takes minutes. The targets are fuzz/fuzz_targets/*.rs (one
# line each over `dhaga_mq::fuzz`, where the invariants are written down); the
# seeds are fuzz/corpus/<target>/ and stay untouched: what a run discovers
# goes to fuzz/work/corpus/<target>/ (kept between runs, ignored by git),
# logs to fuzz/work/logs/, crashes to fuzz/artifacts/<target>/. The seeds and
# any reproducer added to them replay on stable, without fuzzing:
# `cargo test -p dhaga-mq --features fuzzing --lib fuzz`.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift $(($# > 0 ? 1 : 0))
jobs=${FUZZ_JOBS:-1}
if ! [[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 && $jobs =~ ^[0-9]+$ && $jobs -gt 0 ]]; then
    echo "usage: [FUZZ_JOBS=n] scripts/fuzz.sh [seconds-per-target] [target ...]" >&2
    exit 2
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz needs the nightly toolchain (sanitizers, libFuzzer's" >&2
    echo "coverage instrumentation), and it is not installed. Install it with" >&2
    echo "    rustup toolchain install nightly" >&2
    echo "and run this script again; the rest of the project stays on stable." >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

cd fuzz
echo "== building the fuzz targets (nightly, release with debug assertions, AddressSanitizer)"
cargo +nightly fuzz build
if (($# > 0)); then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

mkdir -p work/logs
# Runs one target: its new inputs go to work/corpus/<target>, the seeds are
# read from corpus/<target>; the log and exit status go to work/logs.
fuzz_one() {
    local target=$1
    mkdir -p "work/corpus/$target"
    rm -f "work/logs/$target.status"
    local status=0
    cargo +nightly fuzz run "$target" "work/corpus/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=25 -print_final_stats=1 \
        >"work/logs/$target.log" 2>&1 || status=$?
    echo "$status" >"work/logs/$target.status"
}

echo "== fuzzing ${#targets[@]} targets, ${seconds} s each, $jobs at a time"
running=0
for target in "${targets[@]}"; do
    if ((running >= jobs)); then
        wait -n || true
        running=$((running - 1))
    fi
    echo "   $target"
    fuzz_one "$target" &
    running=$((running + 1))
done
wait

printf '\n%-18s %8s %12s %8s %8s %8s\n' target seconds runs cov ft crashes
crashed=()
for target in "${targets[@]}"; do
    log=work/logs/$target.log
    status=$(cat "work/logs/$target.status" 2>/dev/null || echo "?")
    runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
    crashes=$(grep -c 'Test unit written to' "$log" || true)
    if [[ $status != 0 ]] && ((crashes == 0)); then
        crashes="failed"
    fi
    printf '%-18s %8s %12s %8s %8s %8s\n' "$target" "$seconds" "${runs:--}" "${cov:--}" "${ft:--}" "$crashes"
    if [[ $status != 0 ]]; then
        crashed+=("$target")
    fi
done

if ((${#crashed[@]} > 0)); then
    echo
    for target in "${crashed[@]}"; do
        log=work/logs/$target.log
        echo "== $target failed (log: fuzz/$log)"
        grep -m1 -A1 'panicked at' "$log" || grep -m3 'ERROR:' "$log" || true
        for input in $(grep -o 'Test unit written to .*' "$log" | sed 's/Test unit written to //'); do
            echo "   reproducer: $input"
            echo "   replay:     (cd fuzz && cargo +nightly fuzz run $target $input)"
            echo "   minimise:   (cd fuzz && cargo +nightly fuzz tmin $target $input)"
        done
    done
    exit 1
fi
echo
echo "no crashes"

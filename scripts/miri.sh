#!/usr/bin/env bash
# Miri on the runtime's hand-written lock and wake-up state machines, the
# parts that run without coroutines (a micro-thread's context switch is
# inline assembly, which Miri cannot run): Miri checks every access for
# undefined behaviour and data races, explores weak-memory outcomes of the
# atomics, and reports a lost wake-up as a deadlock.
#
# What runs (a couple of minutes; the lists are explicit so that it stays
# so):
#
# - LIB_FILTERS, unit tests of dhaga-runtime's library by path: SpinLock
#   (spin), and a channel's wait-list order, its unbounded tail, the
#   model of the tail's wake-up protocol that loom also runs
#   (sync/channel/model.rs, here on OS threads) and unbounded channels
#   between OS threads (sync::channel);
# - TESTS, integration tests that need no runtime: the locks and
#   coordination primitives between plain OS threads (tests/sync_os_threads.rs:
#   the mutex's state word and bounded barging, the waiter nodes' signals).
#
# Needs the nightly toolchain (MIRI_TOOLCHAIN, `nightly` by default) with
# its miri and rust-src components. If one is missing this tries `rustup
# component add`; if that fails it says what is missing and what to run,
# prints a "SKIPPED: ..." line and exits 0, so that CI says so and goes on.
# A test that fails fails the script.
#
# MIRIFLAGS: each test runs under eight seeds (-Zmiri-many-seeds=0..8), each
# a different schedule of the threads and different weak-memory outcomes:
# the model without its second look at the tail (a lost wake-up) deadlocks
# under one seed in eight, and passes under the default single seed. The
# preemption rate stays Miri's default (a switch at one basic block in a
# hundred): 0.1 cost 15 % more here and caught that no sooner. MIRI_SEEDS sets
# the number of seeds (32 take about six times as long), MIRIFLAGS
# overrides both.
set -euo pipefail
cd "$(dirname "$0")/.."

# Unit tests of the library, by path (cargo test's filters).
LIB_FILTERS=(
    spin::
    sync::channel::
    task::state::
)

# Integration tests (tests/*.rs) that run without a runtime.
TESTS=(
    sync_os_threads
)

# Seeds per test: each run of a test under a new schedule.
SEEDS=${MIRI_SEEDS:-8}
export MIRIFLAGS=${MIRIFLAGS:-"-Zmiri-many-seeds=0..$SEEDS"}

toolchain=${MIRI_TOOLCHAIN:-nightly}

skip() {
    echo "miri.sh: $1" >&2
    echo "SKIPPED: Miri ($1)"
    exit 0
}

if ! command -v rustup >/dev/null 2>&1; then
    skip "no rustup to find the $toolchain toolchain with; install rustup, then: rustup toolchain install $toolchain --component miri,rust-src"
fi
if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
    skip "no $toolchain toolchain; run: rustup toolchain install $toolchain --component miri,rust-src"
fi
installed=$(rustup component list --toolchain "$toolchain" --installed 2>/dev/null || true)
missing=()
grep -q '^miri' <<<"$installed" || missing+=(miri)
grep -q '^rust-src' <<<"$installed" || missing+=(rust-src)
if ((${#missing[@]})); then
    echo "== rustup component add --toolchain $toolchain ${missing[*]}"
    if ! rustup component add --toolchain "$toolchain" "${missing[@]}"; then
        skip "the $toolchain toolchain lacks ${missing[*]} and rustup could not add them; run: rustup component add --toolchain $toolchain miri rust-src"
    fi
fi
if ! cargo "+$toolchain" miri setup >/dev/null 2>&1; then
    # Building Miri's sysroot needs rust-src's crates from crates.io.
    skip "cargo +$toolchain miri setup failed (it builds Miri's standard library); run it by hand to see why"
fi

echo "== Miri: dhaga-runtime --lib ${LIB_FILTERS[*]} (MIRIFLAGS=$MIRIFLAGS)"
cargo "+$toolchain" miri test -p dhaga-runtime --lib -- "${LIB_FILTERS[@]}"

for test in "${TESTS[@]}"; do
    echo "== Miri: dhaga-runtime --test $test (MIRIFLAGS=$MIRIFLAGS)"
    cargo "+$toolchain" miri test -p dhaga-runtime --test "$test"
done

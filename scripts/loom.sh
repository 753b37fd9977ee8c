#!/usr/bin/env bash
# loom's models of the runtime's hand-written wake-up protocols
# (runtime/src/sync/channel/model.rs, runtime/src/task/state.rs): every
# interleaving of a few threads, and every outcome the memory model allows
# of their atomics, of
#
# - a micro-thread's wake-up state (runtime/src/task/state.rs): a park
#   racing two wake-ups sees its token or is scheduled, exactly once;
# - SpinLock (runtime/src/spin.rs): it excludes, and orders the
#   accesses it guards;
# - an unbounded channel's senders off the receivers' lock
#   (runtime/src/sync/channel/tail.rs): one or two senders and a receiver
#   lose no message and no wake-up (a receiver parked forever with a
#   message in the tail is a deadlock to loom);
# - the same receiver without its second look at the tail: loom must find
#   the lost wake-up (a #[should_panic] model), which shows the models can
#   fail;
# - a send racing the last receiver's leaving.
#
# The models run the real State, SpinLock and Tail: with `--cfg loom` their
# atomics and spin hints are loom's (runtime/src/primitive.rs). Only the models
# run in such a build, in a target directory of their own so that normal
# builds are not invalidated. Fails if a model fails.
#
# Each model bounds its preemptions where it must (model.rs says why):
# the one-sender model to seven (about 200,000 executions; unbounded it
# passes too, in some seven million), the two-sender model to one (past
# which loom's exploration livelocks on the spinlock). LOOM_MAX_PREEMPTIONS
# overrides those bounds; it and the other LOOM_* variables are passed on
# to loom.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== loom models (runtime/src/task/state.rs, runtime/src/sync/channel/model.rs)"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    cargo test --locked -p dhaga-runtime --release --lib loom -- --test-threads=1 "$@"

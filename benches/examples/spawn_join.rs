//! `compare_runtime`'s spawn+join on dhaga alone (spawn 10,000 micro-threads
//! that return at once, join them all, repeat: the same loop, timed the same
//! way), for profilers.
//!
//! Run: `cargo run --release -p dhaga-benches --example spawn_join -- [BATCHES] [WORKERS]`
//!
//! Instructions and allocations per spawn+join: run it under callgrind with
//! two batch counts and divide the difference by 10,000 per batch, which
//! leaves out the start-up and the first batches:
//! `valgrind --tool=callgrind target/release/examples/spawn_join 20 1` and
//! `... spawn_join 40 1`.

use dhaga_benches::{Workload, contender};

fn main() {
    let mut args = std::env::args().skip(1);
    let batches: u64 = args.next().map_or(100, |a| a.parse().expect("BATCHES is a number"));
    let workers: usize = args.next().map_or(2, |a| a.parse().expect("WORKERS is a number"));
    let dhaga = contender("dhaga", workers).expect("dhaga is a contender");
    let spawn_join = Workload::SpawnJoin;
    spawn_join.run(&*dhaga, 2); // warm-up: stacks and headers pooled, workers started
    let elapsed = spawn_join.run(&*dhaga, batches);
    let units = batches * spawn_join.units_per_op();
    let ns = elapsed.as_nanos() as f64 / units as f64;
    println!(
        "{ns:.1} ns per spawn+join ({batches} batches of {}, {workers} workers)",
        spawn_join.units_per_op()
    );
}

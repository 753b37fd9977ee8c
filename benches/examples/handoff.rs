//! `compare_runtime`'s handoff on dhaga alone (two micro-threads playing
//! ping-pong over two `bounded(1)` channels: the same loop, timed the same
//! way), for profilers.
//!
//! Run: `cargo run --release -p dhaga-benches --example handoff -- [ROUND_TRIPS] [WORKERS]`
//!
//! Instructions per one-way handoff: run it under callgrind with two
//! round-trip counts and divide the difference by twice the difference of
//! the counts: `valgrind --tool=callgrind target/release/examples/handoff
//! 200000 1` and `... handoff 400000 1`.

use dhaga_benches::{Workload, contender};

fn main() {
    let mut args = std::env::args().skip(1);
    let round_trips: u64 = args
        .next()
        .map_or(2_000_000, |a| a.parse().expect("ROUND_TRIPS is a number"));
    let workers: usize = args.next().map_or(2, |a| a.parse().expect("WORKERS is a number"));
    let dhaga = contender("dhaga", workers).expect("dhaga is a contender");
    let handoff = Workload::Handoff;
    handoff.run(&*dhaga, 1_000); // warm-up
    let elapsed = handoff.run(&*dhaga, round_trips);
    let ns = elapsed.as_nanos() as f64 / (round_trips * handoff.units_per_op()) as f64;
    println!("{ns:.1} ns per one-way handoff ({round_trips} round trips, {workers} workers)");
}

//! The spawn+join loop of `compare_runtime` alone (spawn 10,000 micro-threads
//! that return at once, join them all, repeat), for profilers.
//!
//! Run: `cargo run --release -p dhaga-runtime --example spawn_join -- [BATCHES] [WORKERS]`
//!
//! Instructions and allocations per spawn+join: run it under callgrind with
//! two batch counts and divide the difference by 10,000 per batch, which
//! leaves out the start-up and the first batches:
//! `valgrind --tool=callgrind target/release/examples/spawn_join 20 1` and
//! `... spawn_join 40 1`.

use std::hint::black_box;
use std::time::Instant;

/// Micro-threads alive at a time, as in `compare_runtime`.
const BATCH: u64 = 10_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let batches: u64 = args.next().map_or(100, |a| a.parse().expect("BATCHES is a number"));
    let workers: usize = args.next().map_or(2, |a| a.parse().expect("WORKERS is a number"));
    let runtime = dhaga_runtime::Runtime::builder()
        .workers(workers)
        .build()
        .expect("build the runtime");
    let per_unit = |batches: u64| {
        runtime.block_on(move || {
            let mut units = Vec::with_capacity(BATCH as usize);
            let start = Instant::now();
            for _ in 0..batches {
                units.extend((0..BATCH).map(|i| dhaga_runtime::spawn(move || black_box(i))));
                for unit in units.drain(..) {
                    unit.join().expect("the unit returns");
                }
            }
            start.elapsed().as_nanos() as f64 / (batches * BATCH) as f64
        })
    };
    per_unit(2); // warm-up: stacks and headers pooled, workers started
    let ns = per_unit(batches);
    println!("{ns:.1} ns per spawn+join ({batches} batches of {BATCH}, {workers} workers)");
}

//! The handoff loop of `compare_runtime` alone (two micro-threads play
//! ping-pong over two `bounded(1)` channels), for profilers.
//!
//! Run: `cargo run --release -p dhaga-runtime --example handoff -- [ROUND_TRIPS] [WORKERS]`
//!
//! Instructions per one-way handoff: run it under callgrind with two
//! round-trip counts and divide the difference by twice the difference of
//! the counts: `valgrind --tool=callgrind target/release/examples/handoff
//! 200000 1` and `... handoff 400000 1`.

use std::hint::black_box;
use std::time::Instant;

use dhaga_runtime::sync;

fn main() {
    let mut args = std::env::args().skip(1);
    let round_trips: u64 = args
        .next()
        .map_or(2_000_000, |a| a.parse().expect("ROUND_TRIPS is a number"));
    let workers: usize = args.next().map_or(2, |a| a.parse().expect("WORKERS is a number"));
    let runtime = dhaga_runtime::Runtime::builder()
        .workers(workers)
        .build()
        .expect("build the runtime");
    let ns = runtime.block_on(move || {
        let (ping_tx, ping_rx) = sync::bounded::<u64>(1);
        let (pong_tx, pong_rx) = sync::bounded::<u64>(1);
        let echo = dhaga_runtime::spawn(move || {
            while let Ok(n) = ping_rx.recv() {
                if pong_tx.send(n).is_err() {
                    break;
                }
            }
        });
        let round_trip = |n| {
            ping_tx.send(n).expect("the echo micro-thread is alive");
            black_box(pong_rx.recv().expect("the echo micro-thread is alive"));
        };
        (0..1000).for_each(round_trip); // warm-up
        let start = Instant::now();
        (0..round_trips).for_each(round_trip);
        let elapsed = start.elapsed();
        drop(ping_tx);
        echo.join().expect("the echo micro-thread returns");
        elapsed.as_nanos() as f64 / (2 * round_trips) as f64
    });
    println!("{ns:.1} ns per one-way handoff ({round_trips} round trips, {workers} workers)");
}

//! `spawn_blocking`: a closure runs on the blocking pool's OS threads while
//! the calling micro-thread parks, and calls made together run together (a
//! burst starts threads rather than queueing behind the idle ones).

mod util;

use std::sync::{Arc, Barrier};

use dhaga_runtime::{RuntimeBuilder, spawn, spawn_blocking};

use util::JoinWithin;

/// `spawn_blocking` calls made together run together: a burst must start
/// threads, not queue behind one idle thread (before the fix these jobs,
/// which need each other, deadlocked). (A regression test: a review found
/// it.)
#[test]
fn spawn_blocking_runs_a_burst_concurrently() {
    util::within_limit(|| {
        // Warm the pool so that one idle thread exists.
        dhaga_runtime::run(|| spawn_blocking(|| ()));
        let rt = RuntimeBuilder::new().workers(1).build().unwrap();
        rt.block_on(|| {
            let barrier = Arc::new(Barrier::new(4));
            let jobs: Vec<_> = (0..4)
                .map(|_| {
                    let barrier = Arc::clone(&barrier);
                    spawn(move || spawn_blocking(move || barrier.wait().is_leader()))
                })
                .collect();
            let leaders = jobs
                .into_iter()
                .enumerate()
                .map(|(i, job)| {
                    job.join_within(&format!(
                        "blocking job {i} (its barrier needs all four running at once)"
                    ))
                    .unwrap()
                })
                .filter(|&leader| leader)
                .count();
            assert_eq!(leaders, 1);
        });
    });
}

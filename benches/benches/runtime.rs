//! Criterion benches of dhaga's runtime against `may`, `tokio` and OS threads.
//!
//! Run: `cargo bench -p dhaga-benches --bench runtime` (add `-- --quick` for
//! a fast pass, or a filter such as `-- handoff`).
//!
//! Groups, each with one bench per contender (`dhaga`, `may`, `tokio`,
//! `threads`), every time reported **per unit**:
//!
//! - `spawn_join`: spawn 10,000 units that return at once, then join them
//!   all; time per spawn + join.
//! - `handoff`: two units play ping-pong over two bounded(1) channels; time
//!   per one-way handoff (half a round trip).
//! - `yield`: one unit yields in a loop; time per yield.
//!
//! Every runtime is built once, before the first bench, and runs with
//! [`WORKERS`] worker threads. For the side-by-side table with ratios and
//! idle memory, run the `compare_runtime` program instead.

use std::time::Duration;

use criterion::{Criterion, SamplingMode};
use dhaga_benches::{Contender, Workload, contenders};

/// Worker threads for dhaga, may and tokio: the CPUs of the reference
/// machines.
const WORKERS: usize = 2;

/// Benches `workload` on every contender, in a criterion group of the
/// workload's name.
fn bench_workload(c: &mut Criterion, workload: Workload, contenders: &[Box<dyn Contender>]) {
    let mut group = c.benchmark_group(workload.name());
    if workload == Workload::SpawnJoin {
        // One operation is 10,000 units, over half a second for OS threads:
        // a fixed count per sample, and few samples, keep the group short.
        // OS threads still overrun the 3 s budget; criterion says so in a
        // warning and carries on.
        group.sampling_mode(SamplingMode::Flat).sample_size(10);
    }
    for contender in contenders {
        group.bench_function(contender.name(), |b| {
            b.iter_custom(|units| workload.time_units(&**contender, units));
        });
    }
    group.finish();
}

fn main() {
    let contenders = contenders(WORKERS);
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .configure_from_args();
    for workload in Workload::ALL {
        bench_workload(&mut criterion, workload, &contenders);
    }
    criterion.final_summary();
}

//! One million idle micro-threads in one process.
//!
//! Run: `cargo run --release --example million -- [count] [--guarded]`
//!
//! Each micro-thread parks on a channel until the end, so all of them are
//! alive at once. By default the runtime uses unguarded slab stacks (see
//! `RuntimeBuilder::unguarded_stacks` for what that trades away); with
//! `--guarded` it keeps a guard page per stack, which needs
//! `sysctl -w vm.max_map_count=2200000` for a million (two mappings each).

use std::time::Instant;

use dhaga::sync::bounded;

fn main() {
    let mut count = 1_000_000usize;
    let mut guarded = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--guarded" => guarded = true,
            n => count = n.parse().expect("usage: million [count] [--guarded]"),
        }
    }
    let builder = dhaga::Runtime::builder();
    let builder = if guarded {
        builder
    } else {
        // SAFETY: the micro-threads below only park on a channel; their
        // stack use is a few hundred bytes, far below the 64 KiB stacks.
        unsafe { builder.unguarded_stacks() }
    };
    let runtime = builder.build().expect("runtime");
    let before = rss_kib();
    let started = Instant::now();
    let (handles, release) = runtime.block_on(move || {
        let (parked_tx, parked_rx) = bounded::<()>(1024);
        let (release_tx, release_rx) = bounded::<()>(0);
        let mut handles = Vec::with_capacity(count);
        for _ in 0..count {
            let parked = parked_tx.clone();
            let release = release_rx.clone();
            let spawned = dhaga::Builder::new().spawn(move || {
                parked.send(()).unwrap();
                drop(parked);
                release.recv().is_err() // parks until the sender is dropped
            });
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(e) => {
                    eprintln!("spawn {} failed: {e}", handles.len());
                    std::process::exit(1);
                }
            }
            while parked_rx.try_recv().is_ok() {}
        }
        // Wait until every micro-thread has run and is about to park.
        drop(parked_tx);
        while parked_rx.recv().is_ok() {}
        (handles, release_tx)
    });
    let spawn_time = started.elapsed();
    let after = rss_kib();
    let per_thread = (after - before) as f64 * 1024.0 / count as f64;
    println!(
        "{count} micro-threads parked in {:.2} s ({} stacks): RSS {} MiB -> {} MiB, {:.0} bytes each",
        spawn_time.as_secs_f64(),
        if guarded { "guarded" } else { "unguarded slab" },
        before / 1024,
        after / 1024,
        per_thread
    );
    let started = Instant::now();
    drop(release);
    let all_released = runtime.block_on(move || handles.into_iter().all(|h| h.join().unwrap()));
    assert!(all_released);
    println!("released and joined in {:.2} s", started.elapsed().as_secs_f64());
}

/// Resident set size of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

//! dhaga: micro-threads on a [`Runtime`] of its own, default stacks.

use std::{
    hint::black_box,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use dhaga_runtime::{Runtime, sync};

use super::{Contender, Parked, wait_until_parked};
use crate::SPAWN_BATCH;

/// dhaga's micro-threads, on a runtime built with the default settings
/// (64 KiB guarded stacks) and a chosen number of workers.
pub struct Dhaga {
    runtime: Runtime,
}

impl Dhaga {
    /// Builds the runtime with `workers` worker threads.
    ///
    /// # Panics
    ///
    /// If the runtime cannot be built.
    pub fn new(workers: usize) -> Dhaga {
        let runtime = Runtime::builder()
            .workers(workers)
            .build()
            .expect("build the dhaga runtime");
        Dhaga { runtime }
    }
}

impl Contender for Dhaga {
    fn name(&self) -> &'static str {
        "dhaga"
    }

    fn spawn_join(&self, batches: u64) -> Duration {
        self.runtime.block_on(move || {
            let mut units = Vec::with_capacity(SPAWN_BATCH);
            let start = Instant::now();
            for _ in 0..batches {
                units.extend((0..SPAWN_BATCH).map(|i| dhaga_runtime::spawn(move || black_box(i))));
                for unit in units.drain(..) {
                    unit.join().expect("a dhaga unit panicked");
                }
            }
            start.elapsed()
        })
    }

    fn ping_pong(&self, round_trips: u64) -> Duration {
        self.runtime.block_on(move || {
            let (ping_tx, ping_rx) = sync::bounded::<u64>(1);
            let (pong_tx, pong_rx) = sync::bounded::<u64>(1);
            let echo = dhaga_runtime::spawn(move || {
                while let Ok(n) = ping_rx.recv() {
                    if pong_tx.send(n).is_err() {
                        break;
                    }
                }
            });
            let mut round_trip = |n| {
                ping_tx.send(n).expect("echo unit gone");
                black_box(pong_rx.recv().expect("echo unit gone"));
            };
            round_trip(0); // Untimed: the echo unit is running from here on.
            let start = Instant::now();
            (0..round_trips).for_each(&mut round_trip);
            let elapsed = start.elapsed();
            drop(ping_tx);
            echo.join().expect("echo unit panicked");
            elapsed
        })
    }

    fn yield_loop(&self, yields: u64) -> Duration {
        self.runtime.block_on(move || {
            let start = Instant::now();
            for _ in 0..yields {
                dhaga_runtime::yield_now();
            }
            start.elapsed()
        })
    }

    fn park_idle(&self, units: usize) -> Parked {
        let parked = Arc::new(AtomicUsize::new(0));
        let (senders, handles): (Vec<_>, Vec<_>) = (0..units)
            .map(|_| {
                let (tx, rx) = sync::bounded::<()>(1);
                let parked = Arc::clone(&parked);
                let handle = self.runtime.spawn(move || {
                    parked.fetch_add(1, Ordering::Release);
                    let _closed = rx.recv();
                });
                (tx, handle)
            })
            .unzip();
        wait_until_parked(&parked, units);
        Parked::new(move || {
            drop(senders);
            for handle in handles {
                handle.join().expect("a parked dhaga unit panicked");
            }
        })
    }
}

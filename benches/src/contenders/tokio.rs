//! `tokio`: async tasks on a multi-thread runtime.

use std::{
    future::Future,
    hint::black_box,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::{runtime::Runtime, sync::mpsc, task};

use super::{Contender, Parked, wait_until_parked};
use crate::SPAWN_BATCH;

/// `tokio`'s tasks on a multi-thread runtime, with tokio's own spawn,
/// bounded `mpsc` channel and `yield_now`.
pub struct Tokio {
    runtime: Runtime,
}

impl Tokio {
    /// Builds a multi-thread runtime with `workers` worker threads.
    ///
    /// # Panics
    ///
    /// If the runtime cannot be built.
    pub fn new(workers: usize) -> Tokio {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_time()
            .build()
            .expect("build the tokio runtime");
        Tokio { runtime }
    }

    /// Runs `driver` as a task on a worker, as the other contenders run
    /// their loops inside their runtimes, and waits for its output.
    fn drive<T: Send + 'static>(&self, driver: impl Future<Output = T> + Send + 'static) -> T {
        let task = self.runtime.spawn(driver);
        self.runtime.block_on(task).expect("tokio driver panicked")
    }
}

impl Contender for Tokio {
    fn name(&self) -> &'static str {
        "tokio"
    }

    fn spawn_join(&self, batches: u64) -> Duration {
        self.drive(async move {
            let mut units = Vec::with_capacity(SPAWN_BATCH);
            let start = Instant::now();
            for _ in 0..batches {
                units.extend((0..SPAWN_BATCH).map(|i| tokio::spawn(async move { black_box(i) })));
                for unit in units.drain(..) {
                    unit.await.expect("a tokio unit panicked");
                }
            }
            start.elapsed()
        })
    }

    fn ping_pong(&self, round_trips: u64) -> Duration {
        self.drive(async move {
            let (ping_tx, mut ping_rx) = mpsc::channel::<u64>(1);
            let (pong_tx, mut pong_rx) = mpsc::channel::<u64>(1);
            let echo = tokio::spawn(async move {
                while let Some(n) = ping_rx.recv().await {
                    if pong_tx.send(n).await.is_err() {
                        break;
                    }
                }
            });
            // Untimed: the echo unit is running from here on.
            ping_tx.send(0).await.expect("echo unit gone");
            pong_rx.recv().await.expect("echo unit gone");
            let start = Instant::now();
            for n in 0..round_trips {
                ping_tx.send(n).await.expect("echo unit gone");
                black_box(pong_rx.recv().await.expect("echo unit gone"));
            }
            let elapsed = start.elapsed();
            drop(ping_tx);
            echo.await.expect("echo unit panicked");
            elapsed
        })
    }

    fn yield_loop(&self, yields: u64) -> Duration {
        self.drive(async move {
            let start = Instant::now();
            for _ in 0..yields {
                task::yield_now().await;
            }
            start.elapsed()
        })
    }

    fn park_idle(&self, units: usize) -> Parked {
        let parked = Arc::new(AtomicUsize::new(0));
        let (senders, handles): (Vec<_>, Vec<_>) = (0..units)
            .map(|_| {
                let (tx, mut rx) = mpsc::channel::<()>(1);
                let parked = Arc::clone(&parked);
                let handle = self.runtime.spawn(async move {
                    parked.fetch_add(1, Ordering::Release);
                    let _closed = rx.recv().await;
                });
                (tx, handle)
            })
            .unzip();
        wait_until_parked(&parked, units);
        let runtime = self.runtime.handle().clone();
        Parked::new(move || {
            drop(senders);
            for handle in handles {
                runtime.block_on(handle).expect("a parked tokio unit panicked");
            }
        })
    }
}

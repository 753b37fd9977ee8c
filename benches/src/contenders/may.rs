//! `may`: stackful coroutines on may's global scheduler, default stacks.

use std::{
    hint::black_box,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use may::{coroutine, sync::mpsc};

use super::{Contender, Parked, wait_until_parked};
use crate::SPAWN_BATCH;

/// `may`'s coroutines with its default 32 KiB (0x1000 words) stacks.
///
/// may's configuration is global and is read when its scheduler first
/// starts, so only the first `May` built in a process sets the worker count.
/// may has no bounded channel; with one message in flight at a time, as in
/// ping-pong, its `mpsc` channel does the same work.
pub struct May {
    _private: (),
}

impl May {
    /// Sets may's global worker count to `workers`, if its scheduler has not
    /// started yet.
    pub fn new(workers: usize) -> May {
        may::config().set_workers(workers);
        May { _private: () }
    }
}

/// Spawns a may coroutine: `may::coroutine::spawn` (which `go!` wraps) in
/// the one place that needs its `unsafe`.
fn go<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> coroutine::JoinHandle<T> {
    // SAFETY: may makes spawning unsafe because a coroutine may move between
    // OS threads while it uses thread-locals, and because a stack overflow is
    // not caught. The closures spawned here use no thread-locals across a
    // yield and need a few hundred bytes of their 32 KiB stack.
    unsafe { coroutine::spawn(f) }
}

impl Contender for May {
    fn name(&self) -> &'static str {
        "may"
    }

    fn spawn_join(&self, batches: u64) -> Duration {
        go(move || {
            let mut units = Vec::with_capacity(SPAWN_BATCH);
            let start = Instant::now();
            for _ in 0..batches {
                units.extend((0..SPAWN_BATCH).map(|i| go(move || black_box(i))));
                for unit in units.drain(..) {
                    unit.join().expect("a may unit panicked");
                }
            }
            start.elapsed()
        })
        .join()
        .expect("may driver panicked")
    }

    fn ping_pong(&self, round_trips: u64) -> Duration {
        go(move || {
            let (ping_tx, ping_rx) = mpsc::channel::<u64>();
            let (pong_tx, pong_rx) = mpsc::channel::<u64>();
            let echo = go(move || {
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
        .join()
        .expect("may driver panicked")
    }

    fn yield_loop(&self, yields: u64) -> Duration {
        go(move || {
            let start = Instant::now();
            for _ in 0..yields {
                coroutine::yield_now();
            }
            start.elapsed()
        })
        .join()
        .expect("may driver panicked")
    }

    fn park_idle(&self, units: usize) -> Parked {
        let parked = Arc::new(AtomicUsize::new(0));
        let (senders, handles): (Vec<_>, Vec<_>) = (0..units)
            .map(|_| {
                let (tx, rx) = mpsc::channel::<()>();
                let parked = Arc::clone(&parked);
                let handle = go(move || {
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
                handle.join().expect("a parked may unit panicked");
            }
        })
    }
}

//! OS threads: `std::thread` with std's default stack size, and std's
//! channels.

use std::{
    hint::black_box,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use super::{Contender, Parked, wait_until_parked};
use crate::SPAWN_BATCH;

/// One OS thread per unit: `std::thread::spawn`, `std::sync::mpsc::sync_channel`
/// and `std::thread::yield_now`. The loops run on the calling thread.
pub struct Threads;

impl Contender for Threads {
    fn name(&self) -> &'static str {
        "threads"
    }

    fn spawn_join(&self, batches: u64) -> Duration {
        let mut units = Vec::with_capacity(SPAWN_BATCH);
        let start = Instant::now();
        for _ in 0..batches {
            units.extend((0..SPAWN_BATCH).map(|i| thread::spawn(move || black_box(i))));
            for unit in units.drain(..) {
                unit.join().expect("a unit thread panicked");
            }
        }
        start.elapsed()
    }

    fn ping_pong(&self, round_trips: u64) -> Duration {
        let (ping_tx, ping_rx) = mpsc::sync_channel::<u64>(1);
        let (pong_tx, pong_rx) = mpsc::sync_channel::<u64>(1);
        let echo = thread::spawn(move || {
            while let Ok(n) = ping_rx.recv() {
                if pong_tx.send(n).is_err() {
                    break;
                }
            }
        });
        let mut round_trip = |n| {
            ping_tx.send(n).expect("echo thread gone");
            black_box(pong_rx.recv().expect("echo thread gone"));
        };
        round_trip(0); // Untimed: the echo thread is running from here on.
        let start = Instant::now();
        (0..round_trips).for_each(&mut round_trip);
        let elapsed = start.elapsed();
        drop(ping_tx);
        echo.join().expect("echo thread panicked");
        elapsed
    }

    fn yield_loop(&self, yields: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..yields {
            thread::yield_now();
        }
        start.elapsed()
    }

    fn park_idle(&self, units: usize) -> Parked {
        let parked = Arc::new(AtomicUsize::new(0));
        let (senders, handles): (Vec<_>, Vec<_>) = (0..units)
            .map(|_| {
                let (tx, rx) = mpsc::sync_channel::<()>(1);
                let parked = Arc::clone(&parked);
                let handle = thread::spawn(move || {
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
                handle.join().expect("a parked thread panicked");
            }
        })
    }
}

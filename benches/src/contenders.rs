//! The implementations under comparison, behind one trait.
//!
//! Each file holds one contender and uses only that contender's primitives,
//! written the way its users would write them.

mod dhaga;
mod may;
mod threads;
mod tokio;

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    thread,
    time::Duration,
};

pub use self::{dhaga::Dhaga, may::May, threads::Threads, tokio::Tokio};

/// The contenders' names, dhaga first, as [`Contender::name`] gives them.
pub const CONTENDER_NAMES: [&str; 4] = ["dhaga", "may", "tokio", "threads"];

/// One implementation of "spawn a unit of work that can block": dhaga's
/// micro-threads, `may`'s coroutines, `tokio`'s tasks or std's OS threads.
///
/// Every timed method runs its loop *inside* the implementation (in a
/// micro-thread, coroutine, task or thread of it) and returns the time the
/// loop took, so that entering the runtime is not measured.
pub trait Contender {
    /// Short name: one of [`CONTENDER_NAMES`].
    fn name(&self) -> &'static str;

    /// Spawns [`SPAWN_BATCH`](crate::SPAWN_BATCH) units that return at once,
    /// then joins them all; does this `batches` times.
    fn spawn_join(&self, batches: u64) -> Duration;

    /// Sends a number to an echoing unit and receives it back,
    /// `round_trips` times, over two bounded channels of capacity 1.
    fn ping_pong(&self, round_trips: u64) -> Duration;

    /// Yields `yields` times in a loop.
    fn yield_loop(&self, yields: u64) -> Duration;

    /// Spawns `units` units that each block receiving on a channel of their
    /// own, and returns once every unit has reached its receive.
    fn park_idle(&self, units: usize) -> Parked;
}

/// Units parked by [`Contender::park_idle`]; [`Parked::release`] lets them
/// finish.
#[must_use = "dropping `Parked` leaves its units blocked forever"]
pub struct Parked {
    release: Box<dyn FnOnce()>,
}

impl Parked {
    /// Wraps the closure that closes the units' channels and joins them.
    fn new(release: impl FnOnce() + 'static) -> Parked {
        Parked {
            release: Box::new(release),
        }
    }

    /// Closes every parked unit's channel, so its receive fails and it
    /// returns, and joins all the units.
    ///
    /// # Panics
    ///
    /// If a unit panicked.
    pub fn release(self) {
        (self.release)();
    }
}

/// Builds every contender, dhaga first; the runtimes get `workers` worker
/// threads each.
///
/// # Panics
///
/// If a runtime cannot be built.
pub fn contenders(workers: usize) -> Vec<Box<dyn Contender>> {
    CONTENDER_NAMES
        .iter()
        .filter_map(|name| contender(name, workers))
        .collect()
}

/// Builds the contender called `name` (one of [`CONTENDER_NAMES`]) with
/// `workers` worker threads, or returns `None` for an unknown name.
///
/// # Panics
///
/// If its runtime cannot be built.
pub fn contender(name: &str, workers: usize) -> Option<Box<dyn Contender>> {
    Some(match name {
        "dhaga" => Box::new(Dhaga::new(workers)),
        "may" => Box::new(May::new(workers)),
        "tokio" => Box::new(Tokio::new(workers)),
        "threads" => Box::new(Threads),
        _ => return None,
    })
}

/// Waits, from outside the runtime, until `parked` reaches `units`.
///
/// Each unit counts itself just before it blocks; the short pause afterwards
/// lets the last few get from the count into their receive.
fn wait_until_parked(parked: &AtomicUsize, units: usize) {
    while parked.load(Ordering::Acquire) < units {
        thread::sleep(Duration::from_millis(1));
    }
    thread::sleep(Duration::from_millis(50));
}

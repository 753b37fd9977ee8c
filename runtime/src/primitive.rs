//! The atomics and the waiting hints that [`SpinLock`](crate::spin::SpinLock)
//! and an unbounded channel's tail (`channel/tail.rs`) are built on: std's,
//! or [loom]'s when the crate is built with `--cfg loom`.
//!
//! Under loom, the channel's wake-up protocol runs in loom's models (see
//! `sync/channel/model.rs` and `scripts/loom.sh`): loom runs the real
//! lock and the real protocol code, every interleaving of a few threads and
//! every outcome the memory model allows of their atomic operations, and
//! reports a lost wake-up as a deadlock. Only those models run in such a
//! build; nothing else of the runtime works in it.
//!
//! The items keep std's names and signatures, `const` constructors
//! included, so the code using them reads as if it used std.
//!
//! [loom]: https://docs.rs/loom

#[cfg(not(loom))]
pub(crate) use std::hint::spin_loop;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
#[cfg(not(loom))]
pub(crate) use std::thread::yield_now;

#[cfg(loom)]
pub(crate) use loom::hint::spin_loop;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, Ordering};
#[cfg(loom)]
pub(crate) use loom::thread::yield_now;

/// loom's `AtomicBool` behind std's `const` constructor.
///
/// A loom atomic can only be made inside a model, by a function that is not
/// `const`, but `SpinLock::new` is `const` (the runtime's `Mutex::new` and
/// others are, after std's). So the loom atomic is made later, with the
/// value it was given: by [`AtomicBool::made`], which a model calls (through
/// `SpinLock::made`, `Tail::made`) before it shares the object, as the
/// thread that builds an atomic makes it in a real program; or else at its
/// first use. loom counts the making as a write, so an atomic first made
/// by one of the threads that share it is a causality violation to loom: a
/// model that forgets `made` fails, it does not pass unchecked.
#[cfg(loom)]
pub(crate) struct AtomicBool {
    /// The value it was made with.
    init: bool,
    /// The loom atomic, once made.
    atomic: std::sync::OnceLock<loom::sync::atomic::AtomicBool>,
}

#[cfg(loom)]
impl AtomicBool {
    /// An atomic holding `value`.
    pub(crate) const fn new(value: bool) -> AtomicBool {
        AtomicBool {
            init: value,
            atomic: std::sync::OnceLock::new(),
        }
    }

    /// Makes the loom atomic now, in the calling thread, if it is not yet.
    #[cfg(test)]
    pub(crate) fn made(&self) {
        self.atomic();
    }

    /// The loom atomic, made now if it is not yet.
    fn atomic(&self) -> &loom::sync::atomic::AtomicBool {
        self.atomic
            .get_or_init(|| loom::sync::atomic::AtomicBool::new(self.init))
    }

    /// As `std::sync::atomic::AtomicBool::load`.
    pub(crate) fn load(&self, order: Ordering) -> bool {
        self.atomic().load(order)
    }

    /// As `std::sync::atomic::AtomicBool::store`.
    pub(crate) fn store(&self, value: bool, order: Ordering) {
        self.atomic().store(value, order);
    }

    /// As `std::sync::atomic::AtomicBool::compare_exchange`.
    pub(crate) fn compare_exchange(
        &self,
        current: bool,
        new: bool,
        success: Ordering,
        failure: Ordering,
    ) -> Result<bool, bool> {
        self.atomic().compare_exchange(current, new, success, failure)
    }
}
